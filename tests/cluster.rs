//! End-to-end tests of the cluster database commands (`init`, `host`, `attr`, `appliance`,
//! `network`, `interface`, `discover`, `kickstart --host/--query`) through the real binary.
//!
//! Every test has its own temporary directory and database (`--db <dir>/cluster.db`). A failed
//! command must exit 1 with its stable diagnostic code and leave the database exactly as it was,
//! which is proved by comparing [`Db::dump`](rocks_compile::facts::Db::dump) before and after.

mod common;
use common::{ok, text, validate};

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The binary, without colours and without a database taken from the environment.
fn bin() -> Command {
    let mut c = Command::cargo_bin("rocks-compile").unwrap();
    c.env("NO_COLOR", "1").env_remove("ROCKS_COMPILE_DB");
    c
}

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The database of a test directory.
fn db_path(dir: &Path) -> PathBuf {
    dir.join("cluster.db")
}

/// The binary with `--db <dir>/cluster.db`.
fn rc(dir: &Path) -> Command {
    let mut c = bin();
    c.arg("--db").arg(db_path(dir));
    c
}

/// Every table of the database as text.
fn dump(db: &Path) -> String {
    rocks_compile::facts::Db::open(db).unwrap().dump().unwrap()
}

/// Run `cmd`, which must succeed; its standard output as text.
fn stdout(cmd: &mut Command) -> String {
    text(&ok(cmd).stdout)
}

/// Run `cmd`, which must succeed; its standard output as JSON.
fn json(cmd: &mut Command) -> Value {
    let out = ok(cmd);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{cmd:?}: not JSON ({e}):\n{}", text(&out.stdout)))
}

/// `rc(dir)` with `args`.
fn run(dir: &Path, args: &[&str]) -> Command {
    let mut c = rc(dir);
    c.args(args);
    c
}

/// `host list --json` (plus `extra` arguments).
fn hosts(dir: &Path, extra: &[&str]) -> Vec<Value> {
    let mut c = run(dir, &["host", "list", "--json"]);
    c.args(extra);
    json(&mut c).as_array().unwrap().clone()
}

/// The names of `host list --json` (plus `extra` arguments), in listed order.
fn host_names(dir: &Path, extra: &[&str]) -> Vec<String> {
    hosts(dir, extra).iter().map(|h| h["name"].as_str().unwrap().to_string()).collect()
}

/// The host called `name` in `host list --json`.
fn host(dir: &Path, name: &str) -> Value {
    hosts(dir, &[]).into_iter().find(|h| h["name"] == name).unwrap_or_else(|| panic!("no host `{name}`"))
}

/// `host add NAME --appliance A --rack R [--mac M] (--ip I | --no-ip)`.
fn add_host(dir: &Path, name: &str, appliance: &str, rack: u32, mac: Option<&str>, ip: Option<&str>) {
    let rack = rack.to_string();
    let mut c = run(dir, &["host", "add", name, "--appliance", appliance, "--rack", &rack]);
    if let Some(m) = mac {
        c.args(["--mac", m]);
    }
    match ip {
        Some(i) => c.args(["--ip", i]),
        None => c.arg("--no-ip"),
    };
    ok(&mut c);
}

/// Run `cmd`, which must fail with exit 1 and `code` on stderr without changing the database.
fn rejected(dir: &Path, cmd: &mut Command, code: &str) -> String {
    let before = dump(&db_path(dir));
    let out = cmd.output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{cmd:?} must exit 1 (bad input):\n{}{err}", text(&out.stdout));
    assert!(err.contains(code), "{cmd:?}: `{code}` missing from stderr:\n{err}");
    assert_eq!(dump(&db_path(dir)), before, "{cmd:?} failed but changed the database");
    err
}

/// A syslog-form dhcpd line.
fn syslog_discover(mac: &str) -> String {
    format!("Nov 23 10:00:01 fe dhcpd[123]: DHCPDISCOVER from {mac} via eth0\n")
}

/// `discover --appliance A --rack R --from-log FILE`, which must succeed; stdout + stderr.
fn discover(dir: &Path, appliance: &str, rack: u32, log: &Path) -> String {
    let rack = rack.to_string();
    let mut c = run(dir, &["discover", "--appliance", appliance, "--rack", &rack, "--from-log"]);
    c.arg(log);
    let out = ok(&mut c);
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// `(key, scope, value)` of the resolved attribute `key` of `host`.
fn resolved(dir: &Path, host: &str, key: &str) -> Option<(String, String)> {
    let all = json(&mut run(dir, &["attr", "list", "--host", host, "--json"]));
    all.as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| (a["scope"].as_str().unwrap().to_string(), a["value"].as_str().unwrap().to_string()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Every file of `dir` (not recursive) by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            assert!(e.file_type().unwrap().is_file(), "unexpected directory {}", e.path().display());
            (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// A database with `compute-1-0` (rack 1, 52:54:00:00:00:01, 10.1.255.254), `compute-1-1`
/// (rack 1, 52:54:00:00:00:02, 10.1.7.7), `compute-2-0` (rack 2, 52:54:00:00:00:03,
/// 10.1.255.200) and `login-0-0` (no interface).
fn small_cluster(dir: &Path) {
    add_host(dir, "compute-1-0", "compute", 1, Some("52:54:00:00:00:01"), Some("10.1.255.254"));
    add_host(dir, "compute-1-1", "compute", 1, Some("52:54:00:00:00:02"), Some("10.1.7.7"));
    add_host(dir, "compute-2-0", "compute", 2, Some("52:54:00:00:00:03"), Some("10.1.255.200"));
    add_host(dir, "login-0-0", "login", 0, None, None);
}

// ---------------------------------------------------------------------------------------------
// 1. init
// ---------------------------------------------------------------------------------------------

#[test]
fn init_creates_the_database_and_a_second_init_keeps_it() {
    let dir = tmpdir();
    let db = db_path(dir.path());
    assert!(!db.exists());
    ok(&mut run(dir.path(), &["init"]));
    assert!(db.is_file(), "init creates the database file");
    let fresh = dump(&db);
    assert!(fresh.contains("10.1.0.0/16") && fresh.contains("compute"), "defaults are seeded:\n{fresh}");

    ok(&mut run(dir.path(), &["attr", "set", "Kickstart_Timezone", "Europe/Paris"]));
    ok(&mut run(dir.path(), &["attr", "set", "Site_Motd", "hello"]));
    add_host(dir.path(), "compute-0-0", "compute", 0, Some("52:54:00:00:00:01"), None);
    let before = dump(&db);

    ok(&mut run(dir.path(), &["init"]));
    assert_eq!(dump(&db), before, "a second init changes nothing (no reseeding, site values kept)");
    assert_eq!(resolved(dir.path(), "compute-0-0", "Kickstart_Timezone"), Some(("global".into(), "Europe/Paris".into())));
    assert_eq!(resolved(dir.path(), "compute-0-0", "Site_Motd"), Some(("global".into(), "hello".into())));
    assert_eq!(host_names(dir.path(), &[]), ["compute-0-0"]);
}

// ---------------------------------------------------------------------------------------------
// 2. host add / list / set / remove
// ---------------------------------------------------------------------------------------------

#[test]
fn host_add_list_filter_set_remove() {
    let dir = tmpdir();
    let d = dir.path();
    small_cluster(d);

    let all = hosts(d, &[]);
    assert_eq!(all.len(), 4);
    let h = host(d, "compute-1-0");
    assert_eq!(
        (&h["appliance"], &h["rack"], &h["rank"], &h["ip"], &h["mac"], &h["network"], &h["interface"]),
        (
            &Value::from("compute"),
            &Value::from(1),
            &Value::from(0),
            &Value::from("10.1.255.254"),
            &Value::from("52:54:00:00:00:01"),
            &Value::from("private"),
            &Value::from("eth0")
        ),
        "{h}"
    );
    let h = host(d, "compute-1-1");
    assert_eq!((&h["rack"], &h["rank"], &h["ip"]), (&Value::from(1), &Value::from(1), &Value::from("10.1.7.7")), "next free rank: {h}");
    let h = host(d, "login-0-0");
    assert!(h["ip"].is_null() && h["mac"].is_null(), "no interface: {h}");

    // --where: an expression over host_view; --query: any read-only SQL (here a join).
    assert_eq!(host_names(d, &["--where", "rack = 1"]), ["compute-1-0", "compute-1-1"]);
    assert_eq!(host_names(d, &["--where", "rack = 2 OR appliance = 'login'"]), ["compute-2-0", "login-0-0"]);
    let join = "SELECT h.name FROM hosts h JOIN interfaces i ON i.host_id = h.id WHERE i.ip LIKE '10.1.255.%'";
    let mut picked = host_names(d, &["--query", join]);
    picked.sort();
    assert_eq!(picked, ["compute-1-0", "compute-2-0"]);
    assert_eq!(host_names(d, &["--appliance", "login"]), ["login-0-0"]);
    // The table form lists the same hosts.
    let table = stdout(&mut run(d, &["host", "list", "--where", "rack = 1"]));
    assert!(table.contains("compute-1-0") && table.contains("compute-1-1") && !table.contains("compute-2-0"), "{table}");

    // host set changes exactly the fields given.
    let before = host(d, "compute-1-0");
    ok(&mut run(d, &["host", "set", "compute-1-0", "--rack", "3", "--cpus", "64"]));
    let after = host(d, "compute-1-0");
    assert_eq!((&after["rack"], &after["cpus"]), (&Value::from(3), &Value::from(64)), "{after}");
    let mut expected = before.clone();
    expected["rack"] = 3.into();
    expected["cpus"] = 64.into();
    assert_eq!(after, expected, "nothing else changed");
    assert_eq!(host_names(d, &["--where", "rack = 3 AND cpus >= 32"]), ["compute-1-0"]);

    // host remove takes the host and its interfaces; its MAC and IP become free again.
    ok(&mut run(d, &["host", "remove", "compute-1-1"]));
    assert_eq!(host_names(d, &[]), ["compute-1-0", "compute-2-0", "login-0-0"]);
    let ifaces = stdout(&mut run(d, &["interface", "list", "--json"]));
    assert!(!ifaces.contains("52:54:00:00:00:02") && !ifaces.contains("compute-1-1"), "{ifaces}");
    add_host(d, "compute-1-9", "compute", 1, Some("52:54:00:00:00:02"), Some("10.1.7.7"));
    assert_eq!(host(d, "compute-1-9")["ip"], "10.1.7.7");
}

// ---------------------------------------------------------------------------------------------
// 3. Bad input: exit 1, a stable code, the database unchanged
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_host_input_is_rejected_without_changing_the_database() {
    let dir = tmpdir();
    let d = dir.path();
    small_cluster(d);
    let add = |name: &str, extra: &[&str]| {
        let mut c = run(d, &["host", "add", name, "--appliance", "compute", "--rack", "1"]);
        c.args(extra);
        c
    };
    rejected(d, &mut add("new", &["--mac", "52:54:00:00:00:01"]), "facts::duplicate-mac");
    rejected(d, &mut add("new", &["--mac", "52:54:00:00:00:09", "--ip", "10.1.255.254"]), "facts::duplicate-ip");
    rejected(d, &mut add("compute-1-0", &[]), "facts::duplicate-name");
    rejected(d, &mut add("new", &["--ip", "192.168.1.5"]), "facts::ip-outside-network");
    rejected(d, &mut add("new", &["--mac", "52:54:00:zz:00:01"]), "facts::bad-mac");
    rejected(d, &mut add("new", &["--ip", "10.1.300.1"]), "facts::bad-ip");
    rejected(d, &mut add("new", &["--network", "nowhere", "--ip", "10.1.9.9"]), "facts::unknown-network");
    rejected(d, &mut run(d, &["host", "add", "new", "--appliance", "nosuch"]), "facts::unknown-appliance");
    rejected(d, &mut run(d, &["interface", "add", "compute-2-0", "eth1", "--mac", "52:54:00:00:00:01"]), "facts::duplicate-mac");
    assert!(!host_names(d, &[]).contains(&"new".to_string()));
}

#[test]
fn bad_sql_and_writing_queries_are_rejected() {
    let dir = tmpdir();
    let d = dir.path();
    small_cluster(d);
    rejected(d, &mut run(d, &["host", "list", "--where", "rack ==== 1"]), "facts::bad-sql");
    rejected(d, &mut run(d, &["host", "list", "--query", "SELECT nme FROM hosts"]), "facts::bad-sql");
    rejected(d, &mut run(d, &["host", "list", "--query", "SELECT name FROM no_such_table"]), "facts::bad-sql");
    rejected(d, &mut run(d, &["host", "list", "--query", "DELETE FROM hosts"]), "facts::readonly-query");
    rejected(d, &mut run(d, &["host", "list", "--query", "SELECT name FROM hosts; DELETE FROM hosts"]), "facts::readonly-query");
    // A --where expression cannot smuggle in a second statement either.
    let smuggle =
        rejected(d, &mut run(d, &["host", "list", "--where", "1) ORDER BY name; DELETE FROM hosts; SELECT 1 WHERE (1"]), "facts::");
    assert!(smuggle.contains("bad-sql") || smuggle.contains("readonly-query"), "{smuggle}");
    rejected(d, run(d, &["kickstart", "--query", "DELETE FROM hosts", "-o"]).arg(d.join("out")), "facts::readonly-query");
    assert!(!d.join("out").exists(), "a rejected query writes nothing");
    assert_eq!(host_names(d, &[]), ["compute-1-0", "compute-1-1", "compute-2-0", "login-0-0"], "the hosts still exist");
}

#[test]
fn bad_host_set_changes_nothing() {
    let dir = tmpdir();
    let d = dir.path();
    small_cluster(d);
    // All fields or none: the valid --rack must not be applied when --os is bad.
    rejected(d, &mut run(d, &["host", "set", "compute-1-0", "--rack", "3", "--os", "bad name!"]), "facts::bad-value");
    rejected(d, &mut run(d, &["host", "set", "compute-1-0", "--arch", ""]), "facts::bad-value");
    rejected(d, &mut run(d, &["host", "set", "compute-1-0", "--distribution", "nosuch"]), "facts::unknown-name");
    rejected(d, &mut run(d, &["host", "set", "compute-1-0", "--appliance", "nosuch"]), "facts::unknown-appliance");
    rejected(d, &mut run(d, &["host", "set", "nosuch", "--rack", "1"]), "facts::unknown-host");
    assert_eq!(host(d, "compute-1-0")["rack"], 1);

    // A value clap cannot parse is a usage error: refused, database unchanged.
    let before = dump(&db_path(d));
    let out = run(d, &["host", "set", "compute-1-0", "--cpus", "abc"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a malformed command line is bad input");
    assert!(text(&out.stderr).contains("--cpus"), "{}", text(&out.stderr));
    assert_eq!(dump(&db_path(d)), before);
}

#[test]
fn csv_import_is_all_or_nothing_and_names_the_bad_line() {
    let dir = tmpdir();
    let d = dir.path();
    small_cluster(d);
    let header = "name,appliance,rack,rank,mac,ip,network,interface,cpus\n";

    let bad_ip = d.join("bad-ip.csv");
    std::fs::write(
        &bad_ip,
        format!(
            "{header}a1,compute,5,,52:54:00:00:0a:01,10.1.5.1,,,\na2,compute,5,,52:54:00:00:0a:02,10.1.300.1,,,\na3,compute,5,,52:54:00:00:0a:03,,,,\n"
        ),
    )
    .unwrap();
    let err = rejected(d, run(d, &["host", "import"]).arg(&bad_ip), "facts::csv");
    assert!(err.contains("line 3"), "the bad row is line 3 (the header is line 1):\n{err}");

    // The bad row collides with an existing host (its MAC), on line 4.
    let dup = d.join("dup.csv");
    std::fs::write(
        &dup,
        format!(
            "{header}b1,compute,6,,52:54:00:00:0b:01,,,,\nb2,compute,6,,52:54:00:00:0b:02,,,,\nb3,compute,6,,52:54:00:00:00:01,,,,\nb4,compute,6,,,,,,\n"
        ),
    )
    .unwrap();
    let err = rejected(d, run(d, &["host", "import"]).arg(&dup), "facts::csv");
    assert!(err.contains("line 4"), "{err}");

    let names = host_names(d, &[]);
    assert!(names.iter().all(|n| !n.starts_with('a') && !n.starts_with('b')), "no host of a rejected file was added: {names:?}");
}

// ---------------------------------------------------------------------------------------------
// 4. discover
// ---------------------------------------------------------------------------------------------

#[test]
fn discover_adds_unknown_macs_once() {
    let dir = tmpdir();
    let d = dir.path();
    // A known MAC, holding 10.1.255.253 (which countdown must skip).
    add_host(d, "login-0-0", "login", 0, Some("52:54:00:aa:bb:cc"), Some("10.1.255.253"));
    let log = d.join("messages");
    std::fs::write(
        &log,
        [
            syslog_discover("52:54:00:12:34:56"),
            "Nov 23 10:00:02 fe systemd[1]: Started dhcpd.service.\n".into(),
            "DHCPDISCOVER from 52:54:00:12:34:57 (n1) via eth0: network 10.1.0.0/16: no free leases\n".into(),
            "garbage that mentions 52:54:00:99:99:99\n".into(),
            "Nov 23 10:00:03 fe dhcpd[123]: DHCPOFFER on 10.1.255.254 to 52:54:00:99:99:98 via eth0\n".into(),
            syslog_discover("52:54:00:12:34:56"),
            syslog_discover("52:54:00:aa:bb:cc"),
            "\n".into(),
        ]
        .concat(),
    )
    .unwrap();
    discover(d, "compute", 1, &log);

    let list = hosts(d, &[]);
    assert_eq!(list.len(), 3, "{list:?}");
    let got: Vec<(String, i64, i64, String, String)> = ["compute-1-0", "compute-1-1"]
        .iter()
        .map(|n| {
            let h = host(d, n);
            (
                h["name"].as_str().unwrap().into(),
                h["rack"].as_i64().unwrap(),
                h["rank"].as_i64().unwrap(),
                h["ip"].as_str().unwrap().into(),
                h["mac"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("compute-1-0".into(), 1, 0, "10.1.255.254".into(), "52:54:00:12:34:56".into()),
            ("compute-1-1".into(), 1, 1, "10.1.255.252".into(), "52:54:00:12:34:57".into()),
        ]
    );
    assert_eq!(host(d, "login-0-0")["appliance"], "login", "a known MAC is left alone");

    let before = dump(&db_path(d));
    discover(d, "compute", 1, &log);
    assert_eq!(dump(&db_path(d)), before, "a second run changes nothing");

    // Standard input: `--from-log -`.
    let mut child = run(d, &["discover", "--appliance", "compute", "--rack", "1", "--from-log", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = [syslog_discover("52:54:00:12:34:56"), syslog_discover("52:54:00:12:34:58")].concat();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let h = host(d, "compute-1-2");
    assert_eq!((&h["mac"], &h["ip"], &h["rank"]), (&Value::from("52:54:00:12:34:58"), &Value::from("10.1.255.251"), &Value::from(2)));
    assert_eq!(hosts(d, &[]).len(), 4);

    // An unknown appliance is bad input.
    rejected(d, run(d, &["discover", "--appliance", "nosuch", "--from-log"]).arg(&log), "facts::unknown-appliance");
}

/// Fellowship's cluster layout: network `fellowship` 10.5.0.0/16 and an appliance `node`
/// named `r{rack:02}n{rank:02}` with addresses `10.5.{rack}.{rank}`; `extra` goes to
/// `appliance add`.
fn fellowship(d: &Path, extra: &[&str]) {
    ok(&mut run(d, &["network", "add", "fellowship", "10.5.0.0/16", "--zone", "fellowship"]));
    let mut args = vec![
        "appliance",
        "add",
        "node",
        "--name-policy",
        "r{rack:02}n{rank:02}",
        "--ip-policy",
        "10.5.{rack}.{rank}",
        "--network",
        "fellowship",
    ];
    args.extend_from_slice(extra);
    ok(&mut run(d, &args));
}

/// A template naming policy on its own network; `--first-rank 1` given explicitly.
#[test]
fn discover_with_template_policies() {
    let dir = tmpdir();
    let d = dir.path();
    fellowship(d, &["--first-rank", "1"]);
    let log = d.join("log");
    std::fs::write(&log, [syslog_discover("52:54:00:00:05:01"), syslog_discover("52:54:00:00:05:02")].concat()).unwrap();
    discover(d, "node", 3, &log);
    let got: Vec<(String, String, String)> = hosts(d, &[])
        .iter()
        .map(|h| (h["name"].as_str().unwrap().into(), h["ip"].as_str().unwrap().into(), h["network"].as_str().unwrap().into()))
        .collect();
    assert_eq!(got, [("r03n01".into(), "10.5.3.1".into(), "fellowship".into()), ("r03n02".into(), "10.5.3.2".into(), "fellowship".into())]);
    let before = dump(&db_path(d));
    discover(d, "node", 3, &log);
    assert_eq!(dump(&db_path(d)), before);
}

/// As the brief and `ApplianceSpec::templated` say: appliances with an IP template start
/// ranks at 1 (rank 0 would give `10.5.3.0`), without having to pass `--first-rank 1`.
#[test]
fn template_policies_start_ranks_at_one_by_default() {
    let dir = tmpdir();
    let d = dir.path();
    fellowship(d, &[]);
    let log = d.join("log");
    std::fs::write(&log, syslog_discover("52:54:00:00:05:01")).unwrap();
    discover(d, "node", 3, &log);
    let h = hosts(d, &[]);
    assert_eq!(h.len(), 1);
    assert_eq!((&h[0]["name"], &h[0]["ip"]), (&Value::from("r03n01"), &Value::from("10.5.3.1")), "{}", h[0]);
}

// ---------------------------------------------------------------------------------------------
// 5. Concurrent discovery
// ---------------------------------------------------------------------------------------------

#[test]
fn concurrent_discover_processes_never_hand_out_a_name_or_ip_twice() {
    const PROCESSES: usize = 8;
    const MACS: usize = 20;
    for round in 0..3 {
        let dir = tmpdir();
        let d = dir.path();
        let logs: Vec<PathBuf> = (0..PROCESSES)
            .map(|p| {
                let log = d.join(format!("log{p}"));
                let lines: String = (0..MACS).map(|m| syslog_discover(&format!("52:54:01:{p:02x}:{m:02x}:{round:02x}"))).collect();
                std::fs::write(&log, lines).unwrap();
                log
            })
            .collect();
        // The database does not exist yet: the processes also race to create it.
        assert!(!db_path(d).exists());
        let children: Vec<_> = logs
            .iter()
            .map(|log| {
                run(d, &["discover", "--appliance", "compute", "--rack", "1", "--from-log"])
                    .arg(log)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (p, child) in children.into_iter().enumerate() {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}, process {p} failed ({}):\n{}", out.status, text(&out.stderr));
        }
        let list = hosts(d, &[]);
        assert_eq!(list.len(), PROCESSES * MACS, "round {round}");
        let names: BTreeSet<&str> = list.iter().map(|h| h["name"].as_str().unwrap()).collect();
        let ips: BTreeSet<&str> = list.iter().map(|h| h["ip"].as_str().unwrap()).collect();
        let macs: BTreeSet<&str> = list.iter().map(|h| h["mac"].as_str().unwrap()).collect();
        assert_eq!((names.len(), ips.len(), macs.len()), (160, 160, 160), "round {round}: duplicates");
        let expected: BTreeSet<String> = (0..PROCESSES * MACS).map(|r| format!("compute-1-{r}")).collect();
        assert_eq!(names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(), expected, "round {round}: ranks 0..160");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Attribute scopes and secrets
// ---------------------------------------------------------------------------------------------

#[test]
fn attribute_precedence_host_rack_appliance_os_global() {
    let dir = tmpdir();
    let d = dir.path();
    small_cluster(d);
    let key = "Site_Motd";
    for (scope, value) in [
        (vec!["--global"], "g"),
        (vec!["--os", "linux"], "o"),
        (vec!["--appliance", "compute"], "a"),
        (vec!["--rack", "1"], "r"),
        (vec!["--host", "compute-1-0"], "h"),
    ] {
        let mut c = run(d, &["attr", "set", key, value]);
        c.args(&scope);
        ok(&mut c);
    }
    let at = |s: &str, v: &str| Some((s.to_string(), v.to_string()));
    assert_eq!(resolved(d, "compute-1-0", key), at("host", "h"));
    assert_eq!(resolved(d, "compute-1-1", key), at("rack", "r"), "same rack, other host");
    assert_eq!(resolved(d, "compute-2-0", key), at("appliance", "a"), "other rack");
    assert_eq!(resolved(d, "login-0-0", key), at("os", "o"), "other appliance");

    for (scope, next) in [
        (vec!["--host", "compute-1-0"], at("rack", "r")),
        (vec!["--rack", "1"], at("appliance", "a")),
        (vec!["--appliance", "compute"], at("os", "o")),
        (vec!["--os", "linux"], at("global", "g")),
        (vec!["--global"], None),
    ] {
        let mut c = run(d, &["attr", "unset", key]);
        c.args(&scope);
        ok(&mut c);
        assert_eq!(resolved(d, "compute-1-0", key), next, "after unsetting {scope:?}");
    }
}

#[test]
fn secret_attributes_are_redacted_everywhere_but_the_kickstart() {
    let dir = tmpdir();
    let d = dir.path();
    small_cluster(d);
    let hash = "$6$saltsalt$0123456789SecretHashValueAbcdefghijklmnop";
    let host_hash = "$6$hostsalt$HostOnlySecretHashValue9876543210zyxw";
    ok(&mut run(d, &["attr", "set", "Kickstart_PrivateRootPassword", hash, "--secret"]));
    ok(&mut run(d, &["attr", "set", "Kickstart_PrivateRootPassword", host_hash, "--secret", "--host", "compute-2-0"]));

    let listings: Vec<Vec<&str>> = vec![
        vec!["attr", "list"],
        vec!["attr", "list", "--json"],
        vec!["attr", "list", "--global", "--json"],
        vec!["attr", "list", "--host", "compute-2-0"],
        vec!["attr", "list", "--host", "compute-1-0", "--json"],
        vec!["attr", "list", "--host", "compute-2-0", "--json"],
    ];
    for args in &listings {
        let out = ok(&mut run(d, args));
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!all.contains("SecretHash"), "{args:?} shows a secret value:\n{all}");
        assert!(all.contains("********"), "{args:?} does not show the redaction:\n{all}");
    }
    for args in [["attr", "list", "--json"].as_slice(), &["attr", "list", "--host", "compute-1-0", "--json"]] {
        let v = json(&mut run(d, args));
        let pw: Vec<&Value> = v.as_array().unwrap().iter().filter(|a| a["key"] == "Kickstart_PrivateRootPassword").collect();
        assert!(!pw.is_empty());
        for a in pw {
            assert_eq!((&a["value"], &a["secret"]), (&Value::from("********"), &Value::from(true)), "{args:?}: {a}");
        }
    }

    let ks = stdout(&mut run(d, &["kickstart", "--host", "compute-1-0"]));
    assert!(ks.lines().any(|l| l == format!("rootpw --iscrypted {hash}")), "the kickstart has the real value:\n{ks}");
    let ks = stdout(&mut run(d, &["kickstart", "--host", "compute-2-0"]));
    assert!(ks.lines().any(|l| l == format!("rootpw --iscrypted {host_hash}")), "the host-scope secret wins:\n{ks}");
}

// ---------------------------------------------------------------------------------------------
// 7-8. kickstart --host and --query
// ---------------------------------------------------------------------------------------------

#[test]
fn host_kickstart_uses_the_database() {
    let dir = tmpdir();
    let d = dir.path();
    small_cluster(d);
    ok(&mut run(d, &["attr", "set", "Kickstart_Timezone", "Europe/Paris", "--appliance", "compute"]));
    let ks = stdout(&mut run(d, &["kickstart", "--host", "compute-1-0"]));
    assert!(ks.contains("--hostname=compute-1-0"), "{ks}");
    assert!(ks.lines().any(|l| l.starts_with("timezone Europe/Paris")), "appliance-scope attribute:\n{ks}");
    assert!(ks.contains("%packages"));
    let p = d.join("compute-1-0.ks");
    std::fs::write(&p, &ks).unwrap();
    validate(&p);

    // The login appliance does not see the compute value.
    let login = stdout(&mut run(d, &["kickstart", "--host", "login-0-0"]));
    assert!(login.contains("--hostname=login-0-0"));
    assert!(!login.contains("Europe/Paris"), "{login}");
    let p = d.join("login-0-0.ks");
    std::fs::write(&p, &login).unwrap();
    validate(&p);
}

#[test]
fn query_kickstarts_write_one_file_per_host_and_a_manifest() {
    let dir = tmpdir();
    let d = dir.path();
    small_cluster(d);
    let out_dir = d.join("ks");
    let query = "SELECT name FROM hosts WHERE appliance_id = (SELECT id FROM appliances WHERE name='compute')";
    let mut cmd = run(d, &["kickstart", "--query", query, "-o"]);
    cmd.arg(&out_dir);
    ok(&mut cmd);

    let first = files(&out_dir);
    let names: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(names, ["MANIFEST", "MANIFEST.private", "compute-1-0.ks", "compute-1-1.ks", "compute-2-0.ks"], "nothing else");
    // Kickstarts hold secrets (0640): the public manifest lists them without size and sha256,
    // the private one whole.
    let public = text(&first["MANIFEST"]);
    let sums = text(&first["MANIFEST.private"]);
    let mut listed = BTreeMap::new();
    for (manifest, withheld) in [(&public, true), (&sums, false)] {
        for line in manifest.lines() {
            // sha256, size, mode, kind, path
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 5, "not a manifest line: {line:?}");
            assert_eq!((f[2], f[3]), ("0640", "kickstart"), "{line}");
            if withheld {
                assert_eq!((f[0], f[1]), ("-", "-"), "{line}");
            } else {
                listed.insert(f[4].to_string(), (f[0].to_string(), f[1].to_string()));
            }
        }
    }
    assert_eq!((public.lines().count(), listed.len()), (3, 3), "{public}{sums}");
    for (file, bytes) in first.iter().filter(|(f, _)| f.ends_with(".ks")) {
        assert_eq!(listed.get(file), Some(&(sha256_hex(bytes), bytes.len().to_string())), "{file} in MANIFEST.private:\n{sums}");
        // The batch path gives the same bytes as `kickstart --host`.
        let host = file.trim_end_matches(".ks");
        assert_eq!(ok(&mut run(d, &["kickstart", "--host", host])).stdout, *bytes, "{host}");
        assert!(text(bytes).contains(&format!("--hostname={host}")));
    }
    validate(&out_dir.join("compute-2-0.ks"));

    // Again: everything unchanged, byte for byte.
    let again = ok(&mut cmd);
    let report = format!("{}{}", text(&again.stdout), text(&again.stderr));
    assert!(report.contains("0 written, 3 unchanged"), "{report}");
    assert_eq!(files(&out_dir), first);

    let err = rejected(d, &mut run(d, &["kickstart", "--host", "unknown"]), "facts::unknown-host");
    assert!(err.contains("unknown"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// 9. CSV export/import round trip
// ---------------------------------------------------------------------------------------------

#[test]
fn export_then_import_reproduces_the_hosts() {
    let src = tmpdir();
    let s = src.path();
    small_cluster(s);
    ok(&mut run(s, &["host", "set", "compute-2-0", "--cpus", "64", "--rank", "7"]));
    ok(&mut run(
        s,
        &["interface", "add", "compute-1-0", "eth1", "--mac", "52:54:00:00:01:01", "--ip", "10.1.100.1", "--network", "private"],
    ));
    // A second interface made primary: the export must keep it primary.
    ok(&mut run(s, &["interface", "add", "compute-2-0", "ib0", "--mac", "52:54:00:00:02:02", "--ip", "10.1.100.2", "--primary"]));
    let log = s.join("log");
    std::fs::write(&log, [syslog_discover("52:54:00:00:0d:01"), syslog_discover("52:54:00:00:0d:02")].concat()).unwrap();
    discover(s, "compute", 4, &log);

    let csv = stdout(&mut run(s, &["host", "export"]));
    let file = s.join("hosts.csv");
    ok(run(s, &["host", "export", "-o"]).arg(&file));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), csv, "-o writes what stdout shows");

    let dst = tmpdir();
    let t = dst.path();
    ok(run(t, &["host", "import"]).arg(&file));
    assert_eq!(hosts(t, &[]), hosts(s, &[]), "same `host list --json`");
    assert_eq!(json(&mut run(t, &["interface", "list", "--json"])), json(&mut run(s, &["interface", "list", "--json"])));
    assert_eq!(stdout(&mut run(t, &["host", "export"])), csv, "exporting again gives the same CSV");
}

// ---------------------------------------------------------------------------------------------
// 10. ROCKS_COMPILE_DB
// ---------------------------------------------------------------------------------------------

#[test]
fn rocks_compile_db_env_is_used_without_db() {
    let dir = tmpdir();
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let env_db = dir.path().join("from-env.db");
    let with_env = |args: &[&str]| {
        let mut c = bin();
        c.current_dir(&cwd).env("ROCKS_COMPILE_DB", &env_db).args(args);
        c
    };
    ok(&mut with_env(&["host", "add", "compute-0-0", "--appliance", "compute", "--mac", "52:54:00:00:00:01"]));
    assert!(env_db.is_file(), "the database named by ROCKS_COMPILE_DB was created");
    assert!(!cwd.join("cluster.db").exists(), "the default ./cluster.db was not used");
    let listed = json(&mut with_env(&["host", "list", "--json"]));
    assert_eq!(listed[0]["name"], "compute-0-0");
    assert!(dump(&env_db).contains("52:54:00:00:00:01"));

    // --db wins over the environment (and a reading command does not create it).
    let explicit = dir.path().join("explicit.db");
    ok(bin().arg("--db").arg(&explicit).arg("init"));
    let mut c = with_env(&["host", "list", "--json"]);
    c.arg("--db").arg(&explicit);
    assert_eq!(json(&mut c), Value::Array(vec![]));
}

// ---------------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------------

/// `rocks-compile host list | head -1`: a closed standard output ends the listing quietly.
#[test]
fn host_list_into_a_closed_pipe_does_not_panic() {
    let dir = tmpdir();
    let d = dir.path();
    ok(&mut run(d, &["host", "generate", "--hosts", "2000"]));
    let mut child = run(d, &["host", "list", "--json"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // More than a pipe buffer of output: the child is still writing when the reader goes away.
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
}

// ---------------------------------------------------------------------------------------------
// BMCs
// ---------------------------------------------------------------------------------------------

#[test]
fn host_add_and_interface_add_give_hosts_bmcs_whose_credentials_are_never_shown() {
    let dir = tmpdir();
    let d = dir.path();
    ok(&mut run(d, &["network", "add", "mgmt", "10.2.0.0/16", "--dhcp"]));
    let add = ["host", "add", "compute-0-0", "--appliance", "compute", "--mac", "52:54:00:00:00:01", "--bmc-mac", "52:54:00:BB:00:01"];
    ok(&mut run(d, &add));
    ok(&mut run(d, &["host", "add", "compute-0-1", "--appliance", "compute", "--bmc-mac", "52:54:00:bb:00:02", "--bmc-ip", "10.2.0.2"]));
    ok(&mut run(d, &["host", "add", "compute-0-2", "--appliance", "compute"]));
    ok(&mut run(d, &["interface", "add", "compute-0-2", "bmc", "--mac", "52:54:00:bb:00:03", "--ip", "10.2.0.3", "--network", "mgmt"]));
    let bmcs: Vec<(String, String, String, bool)> = json(&mut run(d, &["interface", "list", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["device"] == "bmc")
        .map(|i| {
            (
                i["host"].as_str().unwrap().into(),
                i["mac"].as_str().unwrap().into(),
                i["ip"].as_str().unwrap().into(),
                i["primary"].as_bool().unwrap(),
            )
        })
        .collect();
    let b = |h: &str, m: &str, ip: &str| (h.to_string(), m.to_string(), ip.to_string(), false);
    assert_eq!(
        bmcs,
        [
            b("compute-0-0", "52:54:00:bb:00:01", "10.2.255.254"),
            b("compute-0-1", "52:54:00:bb:00:02", "10.2.0.2"),
            b("compute-0-2", "52:54:00:bb:00:03", "10.2.0.3")
        ],
        "MACs normalised, a missing address allocated from the top of `mgmt`, never primary"
    );
    assert_eq!(host(d, "compute-0-0")["mac"], "52:54:00:00:00:01", "the primary interface stays the host's own");
    rejected(d, &mut run(d, &["interface", "set", "compute-0-0", "bmc", "--primary"]), "facts::bad-value");
    rejected(d, &mut run(d, &["host", "add", "compute-0-3", "--appliance", "compute", "--bmc-network", "oob"]), "facts::unknown-network");

    ok(&mut run(d, &["attr", "set", "ipmi_user", "admin-user-7", "--secret"]));
    ok(&mut run(d, &["attr", "set", "ipmi_password", "ipmi-secret-7", "--secret", "--appliance", "compute"]));
    let out = d.join("tree");
    let runs = [
        vec!["attr", "list"],
        vec!["attr", "list", "--json"],
        vec!["host", "list", "--json"],
        vec!["interface", "list"],
        vec!["host", "export"],
        vec!["build", "--out", out.to_str().unwrap(), "--only", "dhcpd,kea,dns,hosts,pxe"],
    ];
    for args in runs {
        let o = run(d, &args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
        assert!(!all.contains("ipmi-secret-7") && !all.contains("admin-user-7"), "{args:?} shows a credential:\n{all}");
    }
    let found = Command::new("grep").args(["-rl", "-e", "ipmi-secret-7", "-e", "admin-user-7"]).arg(&out).output().unwrap();
    assert_eq!(found.status.code(), Some(1), "files of the tree hold a credential: {}", text(&found.stdout));
    assert!(out.join("dhcp/dhcpd.conf").is_file(), "the tree was written");
}
