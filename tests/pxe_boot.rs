//! The generated PXE files, run by real boot loaders (iPXE, pxelinux, GRUB): QEMU (TCG)
//! network-boots from the PXE files of a build, using QEMU's user-mode network (its own DHCP and TFTP server, next-server
//! 10.0.2.2, which reaches the host's 127.0.0.1) and an HTTP server of this test on 127.0.0.1.
//!
//! The install kernel is Debian's netboot kernel with a fake initrd: a boot passes as soon as
//! the kernel prints the command line it was given (`console=ttyS0` is among the arguments),
//! which proves that `kernel`, `initrd` and `boot` of the per-interface script all worked.
//! Each boot takes 5 to 30 s of one core. The pxelinux and GRUB boots are `#[ignore]`d (the
//! GRUB files also pass `grub-script-check` in `tests/pxe.rs`): `-- --ignored` runs them.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocks_compile::emit::pxe;
use rocks_compile::facts::{Boot, BootAction};
use rocks_compile::plan::{BuildOptions, Site, mac_hyphen};

/// A build tree served over HTTP (and TFTP by QEMU) with two hosts on the `slirp` server: one
/// installs, one boots its disk.
struct Tree {
    qemu: PathBuf,
    dir: tempfile::TempDir,
    http: HttpServer,
    /// The `slirp` server's base URL as the guest sees it.
    base: String,
    /// (name, MAC) of the installing host.
    install: (String, String),
    /// (name, MAC) of the host that boots its disk.
    disk: (String, String),
}

impl Tree {
    /// `None` when QEMU or the kernel is missing and `ROCKS_SKIP_VALIDATORS=1`.
    fn new() -> Option<Tree> {
        let qemu = common::tool("qemu-system-x86_64")?;
        let kernel = debian_kernel()?;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        let http = HttpServer::start(&root);
        let base = format!("http://10.0.2.2:{}", http.port);

        let mut db = common::example_db(dir.path());
        // Two servers: the TFTP entry point must skip the one that did not answer.
        db.add_server("other", "10.0.2.99", Some("http://10.0.2.99:9")).unwrap();
        db.add_server("slirp", "10.0.2.2", Some(&base)).unwrap();
        db.set_boot_action(&BootAction {
            name: "install".into(),
            kernel: "{distribution}/vmlinuz".into(),
            initrd: "{distribution}/initrd.img".into(),
            args: "console=ttyS0 inst.ks.sendmac".into(),
        })
        .unwrap();
        let c = db.cluster().unwrap();
        let o = BuildOptions::default();
        let site = Site::new(&c, &o);
        let ours: Vec<(String, String)> = (0..c.hosts.len())
            .filter(|&i| site.server(i).unwrap().name == "slirp")
            .map(|i| (c.hosts[i].name.clone(), c.hosts[i].primary().unwrap().mac.clone().unwrap()))
            .collect();
        assert!(ours.len() >= 2, "need two hosts on `slirp`: {ours:?}");
        let (install, disk) = (ours[0].clone(), ours[1].clone());
        db.set_boot(&disk.0, Boot::Os).unwrap();
        let c = db.cluster().unwrap();
        for a in pxe::artifacts(&Site::new(&c, &o)).unwrap() {
            let f = root.join(&a.path);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, &a.bytes).unwrap();
        }
        std::fs::create_dir_all(root.join("tftp/rocky-9")).unwrap();
        std::fs::copy(&kernel, root.join("tftp/rocky-9/vmlinuz")).unwrap();
        std::fs::write(root.join("tftp/rocky-9/initrd.img"), "not really an initrd\n").unwrap();
        Some(Tree { qemu, dir, http, base, install, disk })
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("tree")
    }

    /// The arguments the installing host's kernel must get (after `initrd=`).
    fn args(&self) -> String {
        format!("console=ttyS0 inst.ks.sendmac inst.ks={}/kickstart/{}.ks", self.base, self.install.0)
    }
}

/// The kernel printed its command line.
fn kernel_started(_: &[String], console: &str) -> bool {
    console.contains("Command line:")
}

#[test]
fn ipxe_boots_the_generated_scripts() {
    let Some(t) = Tree::new() else { return };
    let (install, disk) = (&t.install, &t.disk);
    let hy = mac_hyphen(&install.1);
    let cmdline = format!("initrd=initrd.img {}", t.args());
    let installed = [format!("/ipxe/{hy}.ipxe"), "/tftp/rocky-9/vmlinuz".to_string(), "/tftp/rocky-9/initrd.img".to_string()];

    // 1. DHCP gave a TFTP file name: tftp/boot.ipxe finds the server by ${next-server}.
    let run = boot(&t, Firmware::Bios, "boot.ipxe", &install.1, kernel_started);
    assert_eq!(run.requests, installed, "console:\n{}", run.console);
    assert!(run.console.contains(&cmdline), "the kernel's command line is not `{cmdline}`:\n{}", run.console);

    // 2. DHCP gave the HTTP entry point: ipxe/boot.ipxe chains to its neighbour.
    let run = boot(&t, Firmware::Bios, &format!("{}/ipxe/boot.ipxe", t.base), &install.1, kernel_started);
    let mut want = vec!["/ipxe/boot.ipxe".to_string()];
    want.extend(installed.iter().cloned());
    assert_eq!(run.requests, want, "console:\n{}", run.console);
    assert!(run.console.contains(&cmdline), "the kernel's command line is not `{cmdline}`:\n{}", run.console);

    // 3. A host that boots its disk: iPXE exits, the BIOS goes on to its next boot device.
    let no_boot_device = |_: &[String], console: &str| console.contains("No bootable device");
    let run = boot(&t, Firmware::Bios, "boot.ipxe", &disk.1, no_boot_device);
    assert_eq!(run.requests, [format!("/ipxe/{}.ipxe", mac_hyphen(&disk.1))], "console:\n{}", run.console);
    assert!(run.console.contains(&format!("{}: boot action os", disk.0)), "{}", run.console);

    // 4. An interface the cluster does not know: the entry point says so and exits.
    let run = boot(&t, Firmware::Bios, "boot.ipxe", "52:54:00:ff:ff:ff", no_boot_device);
    assert_eq!(run.requests, ["/ipxe/52-54-00-ff-ff-ff.ipxe"], "console:\n{}", run.console);
    assert!(run.console.contains("no boot script for 52:54:00:ff:ff:ff from 10.0.2.2"), "{}", run.console);
}

#[test]
#[ignore = "boots QEMU for about 20 s; run with `cargo test --test pxe_boot -- --ignored`"]
fn pxelinux_boots_the_generated_config() {
    let Some(t) = Tree::new() else { return };
    let Some(files) = syslinux() else { return };
    for f in files {
        std::fs::copy(&f, t.root().join("tftp").join(f.file_name().unwrap())).unwrap();
    }
    let run = boot(&t, Firmware::Bios, "pxelinux.0", &t.install.1, kernel_started);
    let cmdline = format!("initrd=rocky-9/initrd.img {}", t.args());
    assert!(run.console.contains(&cmdline), "the kernel's command line is not `{cmdline}`:\n{}", run.console);
    assert!(run.requests.is_empty(), "pxelinux uses TFTP only: {:?}", run.requests);
}

#[test]
#[ignore = "boots QEMU (OVMF) for about 30 s; run with `cargo test --test pxe_boot -- --ignored`"]
fn grub_boots_the_generated_config() {
    let Some(t) = Tree::new() else { return };
    let Some(mknetdir) = common::tool("grub-mknetdir") else { return };
    let out = Command::new(mknetdir)
        .arg(format!("--net-directory={}", t.root().join("tftp").display()))
        .args(["--subdir=grub", "-d", "/usr/lib/grub/x86_64-efi"])
        .output()
        .unwrap();
    assert!(out.status.success(), "grub-mknetdir: {}", String::from_utf8_lossy(&out.stderr));
    let run = boot(&t, Firmware::Uefi, "grub/x86_64-efi/core.efi", &t.install.1, kernel_started);
    let cmdline = format!("BOOT_IMAGE=/rocky-9/vmlinuz {}", t.args());
    assert!(run.console.contains(&cmdline), "the kernel's command line is not `{cmdline}`:\n{}", run.console);
    assert!(run.requests.is_empty(), "GRUB uses TFTP only: {:?}", run.requests);
}

/// pxelinux.0 and ldlinux.c32 (Debian packages pxelinux and syslinux-common).
fn syslinux() -> Option<Vec<PathBuf>> {
    let files = [PathBuf::from("/usr/lib/PXELINUX/pxelinux.0"), PathBuf::from("/usr/lib/syslinux/modules/bios/ldlinux.c32")];
    if files.iter().all(|f| f.is_file()) {
        return Some(files.to_vec());
    }
    skip_or_panic("pxelinux.0 or ldlinux.c32 (pxelinux, syslinux-common)")
}

/// Debian's netboot installer kernel (package debian-installer-12-netboot-amd64): any bzImage
/// that prints its command line on the serial console will do.
fn debian_kernel() -> Option<PathBuf> {
    let k = PathBuf::from("/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/linux");
    if k.is_file() {
        return Some(k);
    }
    skip_or_panic(&format!("{} (debian-installer-12-netboot-amd64)", k.display()))
}

/// A missing file means a broken setup: fail, unless `ROCKS_SKIP_VALIDATORS=1`.
fn skip_or_panic<T>(what: &str) -> Option<T> {
    let msg = format!("*** {what} is missing: this boot did NOT run ***");
    if std::env::var("ROCKS_SKIP_VALIDATORS").as_deref() == Ok("1") {
        eprintln!("{msg}");
        return None;
    }
    panic!("{msg} (set ROCKS_SKIP_VALIDATORS=1 to skip)");
}

/// What one boot did: the HTTP paths the guest asked for, in order, and its console.
struct Run {
    requests: Vec<String>,
    console: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Firmware {
    /// SeaBIOS with the NIC's iPXE ROM.
    Bios,
    /// OVMF with its own PXE (no iPXE ROM), as UEFI machines boot GRUB.
    Uefi,
}

/// Boot a guest with `mac` whose DHCP file name is `bootfile` until `done(requests, console)`.
fn boot(t: &Tree, fw: Firmware, bootfile: &str, mac: &str, done: impl Fn(&[String], &str) -> bool) -> Run {
    let http = &t.http;
    http.log.lock().unwrap().clear();
    let scratch = tempfile::tempdir_in(t.dir.path()).unwrap();
    let console_path = scratch.path().join("console.log");
    let console = std::fs::File::create(&console_path).unwrap();
    let mut cmd = Command::new(&t.qemu);
    cmd.args(["-machine", "accel=tcg", "-m", "512", "-nographic", "-no-reboot", "-boot", "n", "-netdev"])
        .arg(format!("user,id=n0,tftp={},bootfile={bootfile}", t.root().join("tftp").display()));
    let mut nic = format!("virtio-net-pci,netdev=n0,mac={mac}");
    if fw == Firmware::Uefi {
        let vars = scratch.path().join("OVMF_VARS.fd");
        std::fs::copy("/usr/share/OVMF/OVMF_VARS.fd", &vars).unwrap();
        cmd.args(["-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd", "-drive"])
            .arg(format!("if=pflash,format=raw,file={}", vars.display()));
        nic.push_str(",romfile=");
    }
    let child = cmd.args(["-device", &nic]).stdin(Stdio::null()).stdout(console.try_clone().unwrap()).stderr(console).spawn().unwrap();
    let mut guest = KillOnDrop(child);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(180);
    loop {
        let text = String::from_utf8_lossy(&std::fs::read(&console_path).unwrap()).into_owned();
        let requests = http.log.lock().unwrap().clone();
        if done(&requests, &text) {
            // Let a request that follows the expected ones show up.
            std::thread::sleep(Duration::from_millis(500));
            let requests = http.log.lock().unwrap().clone();
            eprintln!("booted {mac} from {bootfile} in {:.1?}", started.elapsed());
            return Run { requests, console: text };
        }
        if Instant::now() > deadline || guest.0.try_wait().unwrap().is_some() {
            panic!("the guest did not finish; requests {requests:?}; console:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A static file server on 127.0.0.1 (one connection at a time, `Connection: close`) that
/// records every request path.
struct HttpServer {
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    fn start(root: &Path) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (log, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (root, log2, stop2) = (root.to_path_buf(), log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let _ = serve(conn, &root, &log2);
                }
            }
        });
        HttpServer { port, log, stop, thread: Some(thread) }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut conn: TcpStream, root: &Path, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    log.lock().unwrap().push(path.clone());
    let file: PathBuf = root.join(path.trim_start_matches('/'));
    let body = if path.contains("..") { None } else { std::fs::read(&file).ok() };
    match body {
        Some(b) => {
            write!(conn, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len())?;
            conn.write_all(&b)
        }
        None => write!(conn, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    }
}
