//! `build` tells the services: after the new generation is swapped in, it runs the reload of
//! each service whose files changed (and only those), from a services file. The commands
//! here are small scripts that log their arguments; Kea is a control-socket server in the
//! test, and the real `kea-dhcp4` when it is installed.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

fn rc(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("rocks-compile").unwrap();
    c.env("NO_COLOR", "1").env("COLUMNS", "100").env_remove("ROCKS_COMPILE_DB").arg("--db").arg(dir.join("cluster.db"));
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    let out = rc(dir).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?} failed ({}):\n{}{}", out.status, text(&out.stdout), text(&out.stderr));
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Does the report `err` say `what`, however it was wrapped? (Whitespace and the
/// renderer's margin are left out of both.)
fn says(err: &str, what: &str) -> bool {
    let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace() && *c != '│').collect::<String>();
    squash(err).contains(&squash(what))
}

/// The bundled example cluster, with a root password of its own.
fn example(dir: &Path) {
    run(dir, &["host", "import", concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cluster.csv")]);
    let hash = "$6$rounds=5000$exampleexample$FYz6AwWaJzo6I4HdX0VVjzin7KY7J.YGedL4ZLVJWP.ZG4pPUKTEm8DifZPeRnCDKyJZBHy9AZr5FNdJjFe11.";
    run(dir, &["attr", "set", "Kickstart_PrivateRootPassword", hash]);
}

/// A test's directory: the database, the tree, the scripts and their log.
struct Site {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Site {
    fn new() -> Site {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        example(&dir);
        script(&dir.join("log"), &format!("#!/bin/sh\necho \"$*\" >> {}\n", dir.join("reloads.log").display()));
        script(&dir.join("fail"), &format!("#!/bin/sh\necho \"$*\" >> {}\necho boom >&2\nexit 3\n", dir.join("reloads.log").display()));
        Site { _tmp: tmp, dir }
    }

    fn tree(&self) -> String {
        self.dir.join("tree").display().to_string()
    }

    /// A services file where every service runs `log` (`dhcp_program` for dhcp).
    fn services(&self, dhcp_program: &str) -> String {
        let p = |name: &str| self.dir.join(name).display().to_string();
        let toml = format!(
            "timeout = 20\n\
             [dhcp]\ncommand = [\"{dhcp}\", \"dhcp\", \"restart\"]\n\
             [dns]\nreconfig = [\"{log}\", \"rndc\", \"reconfig\"]\ncommand = [\"{log}\", \"rndc\", \"reload\", \"{{zone}}\"]\n\
             [slurm]\ncommand = [\"{log}\", \"scontrol\", \"reconfigure\"]\n",
            dhcp = p(dhcp_program),
            log = p("log"),
        );
        let path = self.dir.join("services.toml");
        std::fs::write(&path, toml).unwrap();
        path.display().to_string()
    }

    /// Build with `services` (and `extra` arguments); the output.
    fn build(&self, services: &str, extra: &[&str]) -> Output {
        let tree = self.tree();
        let mut args = vec!["build", "--out", &tree, "--services", services];
        args.extend_from_slice(extra);
        rc(&self.dir).args(&args).output().unwrap()
    }

    /// The reloads run since the last call, one line each.
    fn reloads(&self) -> Vec<String> {
        let path = self.dir.join("reloads.log");
        let t = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        t.lines().map(str::to_string).collect()
    }
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn ok(out: &Output) {
    assert!(out.status.success(), "build failed ({}):\n{}{}", out.status, text(&out.stdout), text(&out.stderr));
}

const ALL: [&str; 5] = ["dhcp restart", "rndc reconfig", "rndc reload 1.10.in-addr.arpa", "rndc reload local", "scontrol reconfigure"];

#[test]
fn the_first_build_reloads_everything_an_unchanged_one_nothing_and_a_new_host_what_lists_it() {
    let s = Site::new();
    let services = s.services("log");
    let first = s.build(&services, &[]);
    ok(&first);
    assert_eq!(s.reloads(), ALL, "the first build: every service");
    assert!(text(&first.stderr).contains(&format!("reloaded dns (zone local): {} rndc reload local", s.dir.join("log").display())));

    ok(&s.build(&services, &[]));
    assert_eq!(s.reloads(), Vec::<String>::new(), "nothing changed: no reload");

    // A compute host: DHCP, its forward and reverse zones (named.conf stays) and Slurm's
    // node list.
    run(&s.dir, &["host", "add", "compute-0-2", "--appliance", "compute", "--mac", "52:54:00:00:00:09", "--cpus", "8"]);
    ok(&s.build(&services, &[]));
    assert_eq!(s.reloads(), ["dhcp restart", "rndc reload 1.10.in-addr.arpa", "rndc reload local", "scontrol reconfigure"]);

    // A login host is in no scheduler list: Slurm is left alone.
    run(&s.dir, &["host", "add", "login-0-1", "--appliance", "login", "--mac", "52:54:00:00:02:02"]);
    ok(&s.build(&services, &[]));
    assert_eq!(s.reloads(), ["dhcp restart", "rndc reload 1.10.in-addr.arpa", "rndc reload local"]);

    // Only an alias: the forward zone and nothing else (hosts changes, which no service reads).
    run(&s.dir, &["alias", "add", "compute-0-0", "c0"]);
    ok(&s.build(&services, &[]));
    assert_eq!(s.reloads(), ["rndc reload local"]);

    // A new network with a host on it: named.conf gains a reverse zone (reconfig first).
    run(&s.dir, &["network", "add", "ib", "10.2.0.0/16", "--zone", "ib.local"]);
    run(&s.dir, &["interface", "add", "compute-0-0", "ib0", "--network", "ib", "--ip", "10.2.0.10"]);
    ok(&s.build(&services, &[]));
    let got = s.reloads();
    assert_eq!(got.first().map(String::as_str), Some("rndc reconfig"), "{got:?}");
    assert!(got.contains(&"rndc reload 2.10.in-addr.arpa".to_string()) && got.contains(&"rndc reload ib.local".to_string()), "{got:?}");
}

#[test]
fn a_failed_reload_exits_1_with_its_command_and_output_keeps_the_tree_and_runs_again_next_time() {
    let s = Site::new();
    let failing = s.services("fail");
    let out = s.build(&failing, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let fail = s.dir.join("fail").display().to_string();
    assert!(err.contains("build::reload-failed"), "{err}");
    assert!(says(&err, &format!("reloading dhcp failed: `{fail} dhcp restart` exited with status 3")), "{err}");
    assert!(err.contains("boom"), "{err}");
    // The other reloads ran all the same, after the failed one.
    assert_eq!(
        s.reloads(),
        ["dhcp restart", "rndc reconfig", "rndc reload 1.10.in-addr.arpa", "rndc reload local", "scontrol reconfigure"]
    );
    // The new tree is in place, whole.
    assert!(Path::new(&s.tree()).join("kickstart/compute-0-0.ks").is_file());
    let v = run(&s.dir, &["verify", &s.tree()]);
    assert!(text(&v.stderr).contains("files match the manifest"), "{}", text(&v.stderr));
    // JSON says the same.
    let out = s.build(&failing, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["diagnostics"][0]["code"], "build::reload-failed");
    let dhcp = &report["reloads"][0];
    assert_eq!((dhcp["service"].as_str(), dhcp["ok"].as_bool(), dhcp["output"].as_str()), (Some("dhcp"), Some(false), Some("boom")));
    assert_eq!(dhcp["because"][0], "its reload failed in an earlier build");
    assert_eq!(dhcp["argv"], serde_json::json!([fail, "dhcp", "restart"]));
    assert_eq!(report["reloads"].as_array().unwrap().len(), 1, "only the failed reload was due again: {report}");
    s.reloads();

    // Fixed: the next build runs the reload still due although nothing changed, then none.
    let fixed = s.services("log");
    ok(&s.build(&fixed, &[]));
    assert_eq!(s.reloads(), ["dhcp restart"]);
    ok(&s.build(&fixed, &[]));
    assert_eq!(s.reloads(), Vec::<String>::new());
}

#[test]
fn dry_run_lists_the_reloads_and_runs_none_and_no_reload_leaves_them_due() {
    let s = Site::new();
    let services = s.services("log");
    let out = s.build(&services, &["--dry-run"]);
    ok(&out);
    let stdout = text(&out.stdout);
    let log = s.dir.join("log").display().to_string();
    assert!(stdout.contains(&format!("reloads:\n  dhcp: {log} dhcp restart\n  dns: {log} rndc reconfig\n")), "{stdout}");
    assert!(stdout.contains(&format!("  dns (zone local): {log} rndc reload local\n  slurm: {log} scontrol reconfigure\n")), "{stdout}");
    assert_eq!(s.reloads(), Vec::<String>::new(), "--dry-run runs nothing");
    assert!(!Path::new(&s.tree()).exists());

    let out = s.build(&services, &["--dry-run", "--json"]);
    ok(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed: Vec<&str> = v["reloads"].as_array().unwrap().iter().map(|r| r["command"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 5, "{listed:?}");
    assert_eq!(v["reloads"][3]["zone"], "local");
    assert_eq!(s.reloads(), Vec::<String>::new());

    // --no-reload: the tree is written, nothing runs; the next build runs what was due.
    let out = s.build(&services, &["--no-reload"]);
    ok(&out);
    assert!(text(&out.stderr).contains("not reloaded (--no-reload; due at the next build): dhcp:"), "{}", text(&out.stderr));
    assert_eq!(s.reloads(), Vec::<String>::new());
    let out = s.build(&services, &["--dry-run"]);
    assert!(text(&out.stdout).contains("no changes\nreloads:\n  dhcp:"), "{}", text(&out.stdout));
    ok(&s.build(&services, &[]));
    assert_eq!(s.reloads(), ALL);
    let out = s.build(&services, &["--dry-run"]);
    assert!(text(&out.stdout).ends_with("no changes\nno reloads\n"), "{}", text(&out.stdout));
}

#[test]
fn a_services_file_for_another_tree_reloads_nothing() {
    let s = Site::new();
    let services = s.services("log");
    let other = s.dir.join("elsewhere");
    let text_of = std::fs::read_to_string(&services).unwrap();
    std::fs::write(&services, format!("tree = \"{}\"\n{text_of}", other.display())).unwrap();
    let out = s.build(&services, &[]);
    ok(&out);
    assert_eq!(s.reloads(), Vec::<String>::new());
    assert!(says(&text(&out.stderr), &format!("no reloads: the services in `{services}` reload for the tree `{}` only", other.display())));
    let out = s.build(&services, &["--dry-run"]);
    assert!(text(&out.stdout).contains("no reloads: the services in"), "{}", text(&out.stdout));

    // The same tree, named through a symlink: it reloads.
    std::os::unix::fs::symlink(s.dir.join("tree"), &other).unwrap();
    run(&s.dir, &["host", "add", "compute-0-2", "--appliance", "compute", "--mac", "52:54:00:00:00:09"]);
    ok(&s.build(&services, &[]));
    assert_eq!(s.reloads(), ["dhcp restart", "rndc reload 1.10.in-addr.arpa", "rndc reload local", "scontrol reconfigure"]);
}

#[test]
fn a_bad_or_missing_services_file_stops_the_build_before_anything_is_written() {
    let s = Site::new();
    let missing = s.dir.join("nope.toml").display().to_string();
    let out = s.build(&missing, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("services::read") && says(&err, &format!("cannot read the services file `{missing}`")), "{err}");

    let bad = s.dir.join("bad.toml");
    std::fs::write(&bad, "[dhcp]\ncommand = \"systemctl restart dhcpd\"\n").unwrap();
    let out = s.build(&bad.display().to_string(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("services::syntax") && says(&err, "bad.toml:2:11"), "{err}");
    assert!(!Path::new(&s.tree()).exists(), "nothing was written");
}

/// A Kea control socket in a thread: answers each connection's command with `answer`; the
/// commands it got.
fn fake_kea(socket: &Path, answer: &'static str) -> std::thread::JoinHandle<Vec<String>> {
    let listener = UnixListener::bind(socket).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut got = Vec::new();
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            match listener.accept() {
                Ok((mut conn, _)) => {
                    conn.set_nonblocking(false).unwrap();
                    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while serde_json::from_slice::<Value>(&buf).is_err() {
                        let n = conn.read(&mut chunk).unwrap();
                        assert!(n > 0, "the client closed before a whole command");
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    got.push(text(&buf));
                    conn.write_all(answer.as_bytes()).unwrap();
                    if got.len() == 2 {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("{e}"),
            }
        }
        got
    })
}

fn kea_services(s: &Site, socket: &Path) -> String {
    let path = s.dir.join("kea.toml");
    std::fs::write(&path, format!("timeout = 20\n[kea]\nsocket = \"{}\"\n", socket.display())).unwrap();
    path.display().to_string()
}

#[test]
fn kea_is_sent_config_reload_over_its_control_socket() {
    let s = Site::new();
    let socket = s.dir.join("kea.sock");
    let services = kea_services(&s, &socket);
    let kea = fake_kea(&socket, r#"{ "result": 0, "text": "Configuration successful." }"#);
    let out = s.build(&services, &[]);
    ok(&out);
    assert!(text(&out.stderr).contains(&format!("reloaded kea: config-reload over {}", socket.display())), "{}", text(&out.stderr));
    ok(&s.build(&services, &[]));
    run(&s.dir, &["host", "add", "compute-0-2", "--appliance", "compute", "--mac", "52:54:00:00:00:09"]);
    let out = s.build(&services, &["--json"]);
    ok(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reloads"][0]["socket"], socket.display().to_string());
    assert_eq!(v["reloads"][0]["output"], r#"{ "result": 0, "text": "Configuration successful." }"#);
    let got = kea.join().unwrap();
    assert_eq!(got.len(), 2, "one reload per changed build: {got:?}");
    for c in &got {
        let c: Value = serde_json::from_str(c).unwrap();
        assert_eq!(c, serde_json::json!({"command": "config-reload"}));
    }
}

#[test]
fn a_kea_answer_other_than_result_0_fails_with_the_answer() {
    let s = Site::new();
    let socket = s.dir.join("kea.sock");
    let services = kea_services(&s, &socket);
    let _kea = fake_kea(&socket, r#"{"result":1,"text":"bad"}"#);
    let out = s.build(&services, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(says(&err, &format!("reloading kea failed: `config-reload over {}` answered with result 1", socket.display())), "{err}");
    assert!(says(&err, r#"it printed: {"result":1,"text":"bad"}"#), "{err}");

    // Nobody listening: a failure too, naming the socket.
    let gone = s.dir.join("gone.sock");
    let services = kea_services(&s, &gone);
    let out = s.build(&services, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(says(&err, &format!("`config-reload over {}` could not connect: No such file", gone.display())), "{err}");
}

/// The real Kea, serving the built configuration (with a control socket of its own and no
/// interface): reloads answer `result 0`, and a configuration Kea refuses is a failure with
/// Kea's own reason.
#[test]
fn the_real_kea_reloads_and_its_refusal_is_reported() {
    let Some(kea) = common::tool("kea-dhcp4") else { return };
    let s = Site::new();
    ok(&s.build(&s.services("log"), &[]));
    let run_dir = s.dir.join("kea");
    std::fs::create_dir(&run_dir).unwrap();
    let socket = run_dir.join("ctrl.sock");
    let config = run_dir.join("kea.json");
    let mut c: Value = serde_json::from_slice(&std::fs::read(Path::new(&s.tree()).join("dhcp/kea-dhcp4.json")).unwrap()).unwrap();
    c["Dhcp4"]["interfaces-config"] = serde_json::json!({"interfaces": []});
    c["Dhcp4"]["lease-database"] = serde_json::json!({"type": "memfile", "persist": false});
    c["Dhcp4"]["control-socket"] = serde_json::json!({"socket-type": "unix", "socket-name": socket});
    std::fs::write(&config, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Stop(
        Command::new(kea)
            .arg("-c")
            .arg(&config)
            .env("KEA_LOCKFILE_DIR", &run_dir)
            .env("KEA_PIDFILE_DIR", &run_dir)
            .stdout(std::fs::File::create(run_dir.join("kea.log")).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let until = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < until, "kea-dhcp4 did not open its control socket");
        std::thread::sleep(Duration::from_millis(50));
    }

    let services = kea_services(&s, &socket);
    run(&s.dir, &["host", "add", "compute-0-2", "--appliance", "compute", "--mac", "52:54:00:00:00:09"]);
    let out = s.build(&services, &["--json"]);
    ok(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["reloads"][0]["ok"].as_bool(), v["reloads"][0]["status"].as_str()), (Some(true), Some("answered with result 0")), "{v}");

    // Kea's configuration now names a subnet twice: Kea refuses it and says why.
    let mut broken = c.clone();
    let first = broken["Dhcp4"]["subnet4"][0].clone();
    broken["Dhcp4"]["subnet4"].as_array_mut().unwrap().push(first);
    std::fs::write(&config, serde_json::to_vec_pretty(&broken).unwrap()).unwrap();
    run(&s.dir, &["host", "add", "compute-0-3", "--appliance", "compute", "--mac", "52:54:00:00:00:0a"]);
    let out = s.build(&services, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(says(&err, "reloading kea failed") && says(&err, "answered with result 1"), "{err}");
    assert!(says(&err, r#"it printed: { "result": 1, "text": "Config reload failed"#), "Kea's answer is shown: {err}");
}

/// The frontend's `/etc/rocks-compile/services.toml` (written by the built-in framework,
/// the Slurm, console and power sections appended as `slurm`, `console_server` and `powerman` say) is a valid services file for the tree its
/// web server publishes.
#[test]
fn the_frontend_writes_a_valid_services_file() {
    use rocks_compile::{Attrs, KickstartOptions, Layer};
    let (fw, diags) = rocks_compile::open(&[Layer::Embedded], "default").unwrap();
    assert!(diags.is_empty(), "{}", rocks_compile::render_diagnostics(&diags, &fw.sources));
    let cases = [("yes", "conserver", "no"), ("no", "conman", "yes"), ("yes", "none", "yes"), ("no", "conserver", "yes")];
    for (slurm, console, powerman) in cases {
        let given = Attrs::from([
            ("slurm".to_string(), slurm.to_string()),
            ("console_server".to_string(), console.to_string()),
            ("powerman".to_string(), powerman.to_string()),
        ]);
        let (ks, diags) = rocks_compile::compile_appliance(&fw, "frontend", &given, &KickstartOptions::default());
        let ks = rocks_compile::render(&ks.unwrap_or_else(|| panic!("{diags:?}"))).unwrap();
        let name = "/etc/rocks-compile/services.toml";
        let mut body = common::file_body(&ks, name);
        let lines: Vec<&str> = ks.lines().collect();
        for (start, _) in lines.iter().enumerate().filter(|(_, l)| l.starts_with(&format!("cat >> {name} << "))) {
            body.extend(lines[start + 1..].iter().take_while(|l| **l != "EOF").map(|l| format!("{l}\n")));
        }
        let mut sources = rocks_compile::Sources::new();
        let id = sources.add(name, body.clone());
        let s = rocks_compile::services::Services::parse(&body, id)
            .unwrap_or_else(|d| panic!("{}", rocks_compile::render_diagnostics(&d, &sources)));
        assert_eq!(s.tree.as_deref(), Some(Path::new("/var/lib/rocks-compile/tree")));
        assert_eq!(s.dhcp.as_deref(), Some(&["systemctl".to_string(), "restart".into(), "dhcpd".into()][..]));
        let dns = s.dns.unwrap();
        assert_eq!(
            (dns.command.join(" "), dns.reconfig.unwrap().join(" ")),
            // Not `rndc reload {zone}`: named's directory is the tree's dns/ of the generation
            // it last read its configuration in, so it must read it again.
            ("rndc reload".into(), "systemctl reload-or-restart named".into())
        );
        assert_eq!(s.kea, None);
        assert_eq!(s.slurm.is_some(), slurm == "yes", "{body}");
        let command = |c: Option<Vec<String>>| c.map(|c| c.join(" "));
        assert_eq!(command(s.conserver), (console == "conserver").then(|| "systemctl reload-or-restart conserver".to_string()), "{body}");
        assert_eq!(command(s.conman), (console == "conman").then(|| "systemctl restart conman".to_string()), "{body}");
        assert_eq!(command(s.powerman), (powerman == "yes").then(|| "systemctl restart powerman".to_string()), "{body}");
        // Each daemon is installed and reads the tree's file exactly when it is reloaded.
        for (daemon, on) in [("conserver", console == "conserver"), ("conmand", console == "conman"), ("powermand", powerman == "yes")] {
            let start = format!("ExecStart=/usr/sbin/{daemon} ");
            let line = ks.lines().find(|l| l.starts_with(&start));
            assert_eq!(line.is_some(), on, "{daemon}: {line:?}");
            if let Some(l) = line {
                assert!(l.contains("/var/lib/rocks-compile/tree/"), "{l}");
            }
        }
    }
}
