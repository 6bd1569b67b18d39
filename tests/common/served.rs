//! A cluster for the web responder's tests: the example cluster plus hosts `n2` (127.0.0.2)
//! and `n3` (127.0.0.3) on a network `lo` (127.0.0.0/24) that its DHCP serves, its built
//! tree, and the resident responder run on it as a process of the built binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_rocks-compile");

/// The IPMI password of the cluster's BMCs (long enough to be looked for in any answer).
pub const IPMI_PASSWORD: &str = "ipmi-Web-Guarded-4417";

/// The files of [`Cluster::guarded`], relative to the tree.
pub const GUARDED: [&str; 6] =
    ["KEYS", "MANIFEST.private", "console/conman.conf", "console/ipmi-password-0", "power/powerman.conf", "power/ipmipower-ipmi0.conf"];

/// A child process stopped with `SIGTERM` (killed when that takes over 5 s) and reaped when
/// dropped.
pub struct Proc(pub Child);

impl Proc {
    /// Send `SIGTERM`.
    pub fn terminate(&self) {
        // SAFETY: kill(2) on the pid of our own child, which is not reaped before the drop.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
    }

    /// Whether the process exits within `limit` (it is reaped then).
    pub fn exits_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.terminate();
        if !self.exits_within(Duration::from_secs(5)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Wait up to 30 s for `ready`; a test failure naming `what` when it never is.
pub fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not come up");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A path in the source tree.
pub fn manifest(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p).to_str().unwrap().to_string()
}

/// The example cluster plus `n2`/`n3` on loopback, and its built tree.
pub struct Cluster {
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub fn new() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let c = Cluster { dir };
        c.rc(&["host", "import", &manifest("examples/cluster.csv")]);
        c.rc(&["network", "add", "lo", "127.0.0.0/24", "--zone", "lo.test", "--dhcp"]);
        for n in [2, 3] {
            c.rc(&[
                "host",
                "add",
                &format!("n{n}"),
                "--appliance",
                "compute",
                "--mac",
                &format!("52:54:00:aa:00:0{n}"),
                "--ip",
                &format!("127.0.0.{n}"),
                "--network",
                "lo",
            ]);
        }
        // BMCs for n2 and n3, so that the tree holds the console and power daemons' files
        // (console/, power/), which hold the IPMI password and are never served.
        c.rc(&["network", "add", "mgmt", "10.250.0.0/24"]);
        for n in [2, 3] {
            c.rc(&["interface", "add", &format!("n{n}"), "bmc", "--ip", &format!("10.250.0.{n}"), "--network", "mgmt"]);
        }
        c.rc(&["attr", "set", "ipmi_user", "admin"]);
        super::set_secret(&c.db(), "ipmi_password", IPMI_PASSWORD);
        c.rc(&["build", "--allow-default-password", "--out", c.tree().to_str().unwrap()]);
        std::fs::create_dir_all(c.path("run")).unwrap();
        c
    }

    /// The tree's files that no web server may serve, with a name for messages: the build's
    /// keys, the private manifest, and the console and power daemons' files (each holds the
    /// IPMI password or is a file of it).
    pub fn guarded(&self) -> Vec<(&'static str, Vec<u8>)> {
        GUARDED.iter().map(|f| (*f, std::fs::read(self.tree().join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))).collect()
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn db(&self) -> PathBuf {
        self.path("cluster.db")
    }

    pub fn tree(&self) -> PathBuf {
        self.path("tree")
    }

    /// Run rocks-compile on this cluster's database; it must succeed.
    pub fn rc(&self, args: &[&str]) -> String {
        let out = Command::new(BIN).arg("--db").arg(self.db()).args(args).output().unwrap();
        assert!(out.status.success(), "rocks-compile {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `kickstart --host NAME`: what the responder must answer byte for byte.
    pub fn kickstart(&self, host: &str, extra: &[&str]) -> Vec<u8> {
        let mut args = vec!["kickstart", "--host", host];
        args.extend_from_slice(extra);
        self.rc(&args).into_bytes()
    }

    /// The resident responder on `run/fastcgi.sock` with the example's settings, checking
    /// for changes every 0.2 s, its log in `fastcgi.log`; it is listening when this returns.
    pub fn fastcgi(&self, extra: &[&str]) -> (Proc, PathBuf) {
        let sock = self.path("run/fastcgi.sock");
        let proc = self.responder(&sock, "fastcgi.log", &[&["--reload-interval", "0.2"], extra].concat());
        wait_for(|| sock.exists(), "the FastCGI socket");
        (proc, sock)
    }

    /// The resident responder on the Unix socket `sock` with the example's settings (prefix
    /// `/install/rocks`, the tree, 127.0.0.1 as the admin network), its log in `log`; started,
    /// not waited for.
    pub fn responder(&self, sock: &Path, log: &str, extra: &[&str]) -> Proc {
        let child = Command::new(BIN)
            .arg("--db")
            .arg(self.db())
            .args(["fastcgi", "--socket", sock.to_str().unwrap(), "--socket-mode", "666", "--prefix", "/install/rocks"])
            .args(["--tree", self.tree().to_str().unwrap(), "--admin", "127.0.0.1/32"])
            .args(extra)
            .stderr(Stdio::from(std::fs::File::create(self.path(log)).unwrap()))
            .spawn()
            .unwrap();
        Proc(child)
    }

    /// What a log file in the cluster's directory says so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}
