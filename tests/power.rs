//! `power` and `boot set --reboot`: the real `ipmitool` against OpenIPMI's simulated BMC
//! (`ipmi_sim`) on 127.0.0.1, next to a BMC that does not answer; and a stand-in `ipmitool`
//! on `PATH` that records its arguments and environment, to show that the password reaches
//! it only through `IPMI_PASSWORD` and never appears in what is printed.

mod common;

use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const PASSWORD: &str = "pw-Zq81-never-shown";

/// Run the binary on the database `db` with `PATH` starting at `path_first` (if any).
fn run(db: &Path, path_first: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rocks-compile"));
    cmd.env("ROCKS_COMPILE_DB", db).env("NO_COLOR", "1").args(args);
    if let Some(dir) = path_first {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let joined = std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path))).unwrap();
        cmd.env("PATH", joined);
    }
    cmd.output().unwrap()
}

/// Run and require success.
fn ok(db: &Path, args: &[&str]) {
    let out = run(db, None, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A cluster of three hosts: `compute-0-0` with a BMC at 127.0.0.1, `compute-0-1` at
/// 127.0.0.2 (both on `port`), `compute-0-2` without one; credentials set globally.
fn cluster(dir: &Path, port: u16) -> PathBuf {
    let db = dir.join("cluster.db");
    for i in 0..3 {
        ok(&db, &["host", "add", &format!("compute-0-{i}"), "--appliance", "compute", "--mac", &format!("52:54:00:00:00:0{i}")]);
    }
    ok(&db, &["network", "add", "mgmt", "127.0.0.0/8"]);
    ok(&db, &["interface", "add", "compute-0-0", "bmc", "--ip", "127.0.0.1", "--network", "mgmt"]);
    ok(&db, &["interface", "add", "compute-0-1", "bmc", "--ip", "127.0.0.2", "--network", "mgmt"]);
    ok(&db, &["attr", "set", "ipmi_user", "admin"]);
    ok(&db, &["attr", "set", "ipmi_port", &port.to_string()]);
    common::set_secret(&db, "ipmi_password", PASSWORD);
    db
}

/// A free UDP port on 127.0.0.1 (and, being the same number, unused on 127.0.0.2 too).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Standard output and error together.
fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A stand-in `ipmitool` in `dir` that appends its arguments and `$IPMI_PASSWORD` to `log`
/// and answers as a BMC that is on.
fn fake_ipmitool(dir: &Path, log: &Path) {
    let script = format!(
        "#!/bin/sh\nprintf 'args=%s\\n' \"$*\" >> '{log}'\nprintf 'env=%s\\n' \"$IPMI_PASSWORD\" >> '{log}'\necho 'Chassis Power is on'\n",
        log = log.display()
    );
    let path = dir.join("ipmitool");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The cluster of [`cluster`] (BMCs on port 623) with a stand-in `ipmitool` in `bin`.
struct Faked {
    dir: tempfile::TempDir,
    db: PathBuf,
    bin: PathBuf,
    /// What the stand-in was called with.
    log: PathBuf,
}

impl Faked {
    fn new() -> Faked {
        let dir = tempfile::tempdir().unwrap();
        let db = cluster(dir.path(), 623);
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = dir.path().join("calls.log");
        fake_ipmitool(&bin, &log);
        Faked { dir, db, bin, log }
    }
}

#[test]
fn the_password_travels_only_in_the_environment() {
    let Faked { dir: _dir, db, bin, log } = Faked::new();

    let out = run(&db, Some(&bin), &["power", "status", "compute-0-[0-1]"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "compute-0-0: on\ncompute-0-1: on\n");
    let calls = std::fs::read_to_string(&log).unwrap();
    let args: Vec<&str> = calls.lines().filter(|l| l.starts_with("args=")).collect();
    assert_eq!(args.len(), 2, "{calls}");
    assert!(args.contains(&"args=-I lanplus -C 3 -H 127.0.0.1 -p 623 -U admin -E chassis power status"), "{calls}");
    assert!(args.iter().all(|a| !a.contains(PASSWORD)), "the password is in the arguments: {calls}");
    assert_eq!(calls.lines().filter(|l| *l == format!("env={PASSWORD}")).count(), 2, "{calls}");

    let dry = run(&db, Some(&bin), &["power", "off", "compute-0-0", "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert_eq!(
        String::from_utf8_lossy(&dry.stdout),
        "compute-0-0: IPMI_PASSWORD=<ipmi_password> ipmitool -I lanplus -C 3 -H 127.0.0.1 -p 623 -U admin -E chassis power off\n"
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), calls, "--dry-run ran ipmitool");
    assert!(!text(&dry).contains(PASSWORD));

    // The hosts any SQL selects, after the names given, each once.
    let sql = "SELECT h.name FROM hosts h JOIN interfaces i ON i.host_id = h.id WHERE i.device = 'bmc' ORDER BY i.ip";
    let query = run(&db, Some(&bin), &["power", "status", "compute-0-1", "--query", sql, "--dry-run"]);
    assert!(query.status.success(), "{}", text(&query));
    let line = |host: &str, ip: &str| {
        format!("{host}: IPMI_PASSWORD=<ipmi_password> ipmitool -I lanplus -C 3 -H {ip} -p 623 -U admin -E chassis power status\n")
    };
    assert_eq!(String::from_utf8_lossy(&query.stdout), line("compute-0-1", "127.0.0.2") + &line("compute-0-0", "127.0.0.1"));
}

#[test]
fn hosts_without_a_bmc_or_credentials_fail_by_name() {
    let Faked { dir: _dir, db, bin, .. } = Faked::new();
    ok(&db, &["attr", "set", "ipmi_user", "", "--host", "compute-0-1"]);

    let out = run(&db, Some(&bin), &["power", "on", "--where", "rack = 0", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0], serde_json::json!({"host": "compute-0-0", "state": "on"}));
    assert!(json[1]["error"].as_str().unwrap().contains("`ipmi_user`"), "{json}");
    assert!(json[2]["error"].as_str().unwrap().contains("has no BMC"), "{json}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("power::failed") && stderr.contains("`compute-0-[1-2]`"), "{stderr}");
}

#[test]
fn boot_set_reboot_power_cycles_the_host() {
    let Faked { dir: _dir, db, bin, log } = Faked::new();

    let out = run(&db, Some(&bin), &["boot", "set", "compute-0-0", "install", "--reboot"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "set boot compute-0-0 action=install\ncompute-0-0: cycled\n");
    assert!(std::fs::read_to_string(&log).unwrap().contains("-E chassis power cycle\n"));
}

/// One simulated BMC on 127.0.0.1:`port` whose power-on command creates `started`.
struct Sim {
    child: Child,
}

impl Sim {
    fn start(ipmi_sim: &Path, dir: &Path, port: u16, started: &Path) -> Sim {
        let serial = free_port();
        let startcmd = format!("touch {}", started.display());
        let child = common::ipmi::start_sim(ipmi_sim, dir, ("127.0.0.1", port), serial, None, &startcmd, PASSWORD);
        Sim { child }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ipmi_sim_answers_while_an_unreachable_bmc_times_out() {
    let (Some(ipmi_sim), Some(_)) = (common::tool("ipmi_sim"), common::tool("ipmitool")) else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let db = cluster(dir.path(), port);
    let started = dir.path().join("started");
    let _sim = Sim::start(&ipmi_sim, dir.path(), port, &started);

    // The simulator needs a moment to listen; `status` answers once it does.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let out = run(&db, None, &["power", "status", "compute-0-0", "--timeout", "3"]);
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(String::from_utf8_lossy(&status.stdout), "compute-0-0: off\n", "{}", text(&status));

    let t = Instant::now();
    let on = run(&db, None, &["power", "on", "compute-0-0", "compute-0-1", "--timeout", "2", "--fanout", "2"]);
    assert_eq!(on.status.code(), Some(1), "{}", text(&on));
    assert_eq!(
        String::from_utf8_lossy(&on.stdout),
        format!("compute-0-0: on\ncompute-0-1: failed: no answer from 127.0.0.2:{port} within 2s\n")
    );
    assert!(t.elapsed() < Duration::from_secs(8), "the hosts were not acted on in parallel: {:?}", t.elapsed());
    assert!(String::from_utf8_lossy(&on.stderr).contains("`compute-0-1`"), "{}", text(&on));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !started.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(started.exists(), "`power on` did not run the BMC's start command");
    assert!(!text(&on).contains(PASSWORD) && !text(&status).contains(PASSWORD));
}

/// PowerMan end to end: `powermand` on the generated `power/powerman.conf`, whose `ipmipower`
/// device reads the generated settings file (user, password, cipher suite and the FreeIPMI
/// workaround this simulator needs, from `ipmi_workarounds`), drives the simulated BMC:
/// `status` says off, `on` runs the BMC's start command, and `status` then says on.
#[test]
fn powermand_drives_a_simulated_bmc_through_the_generated_files() {
    use std::io::{Read, Write};
    let tools = ["ipmi_sim", "powermand", "ipmipower"].map(common::tool);
    let [Some(ipmi_sim), Some(powermand), Some(_)] = tools else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let db = cluster(dir.path(), port);
    ok(&db, &["attr", "set", "ipmi_user", "", "--host", "compute-0-1"]);
    ok(&db, &["attr", "set", "ipmi_workarounds", "opensesspriv"]);
    let out = dir.path().join("out");
    ok(&db, &["attr", "set", "ipmi_config_dir", &out.join("power").display().to_string()]);
    ok(&db, &["build", "--out", &out.display().to_string(), "--only", "powerman"]);
    // The machine "runs" while the start command does.
    let started = dir.path().join("started");
    let script = dir.path().join("start.sh");
    std::fs::write(&script, format!("#!/bin/sh\ntouch {}\nexec sleep 60\n", started.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sim = common::ipmi::start_sim(
        &ipmi_sim,
        &dir.path().join("sim"),
        ("127.0.0.1", port),
        free_port(),
        None,
        &script.display().to_string(),
        PASSWORD,
    );
    let _sim = Sim { child: sim };

    let mut daemon = Command::new(powermand)
        .args(["-f", "-s", "-1", "-c"])
        .arg(out.join("power/powerman.conf"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (sink, mut stdout) = (seen.clone(), daemon.stdout.take().unwrap());
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut stdin = daemon.stdin.take().unwrap();
    // Send `command` until the daemon's output (after what it had said) holds `want`.
    let mut ask = |command: &str, want: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let from = seen.lock().unwrap().len();
            stdin.write_all(format!("{command}\r\n").as_bytes()).unwrap();
            let asked = Instant::now();
            while asked.elapsed() < Duration::from_secs(8) {
                let said = seen.lock().unwrap()[from..].to_string();
                if said.contains(want) {
                    return;
                }
                if said.contains("103 Query complete") || said.contains("102 Command completed") {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            assert!(Instant::now() < deadline, "`{command}` never answered `{want}`: {}", seen.lock().unwrap());
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    // The simulator needs a moment to listen; until then the node's state is unknown.
    ask("status compute-0-0", "302 off:     compute-0-0\r\n");
    ask("on compute-0-0", "102 Command completed successfully");
    assert!(started.exists(), "`on` did not run the BMC's start command: {}", seen.lock().unwrap());
    ask("status compute-0-0", "302 on:      compute-0-0\r\n");
    stdin.write_all(b"quit\r\n").unwrap();
    drop(stdin);
    let mut errors = String::new();
    daemon.stderr.take().unwrap().read_to_string(&mut errors).unwrap();
    assert!(daemon.wait().unwrap().success(), "{errors}");
    let said = seen.lock().unwrap().clone();
    assert!(!said.contains(PASSWORD) && !errors.contains(PASSWORD), "{said}{errors}");
}
