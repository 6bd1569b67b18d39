//! The cluster database as an operator meets it: no silent new databases, addresses that are
//! allocated, facts that beat files, attributes that cannot win refused, lists generated from
//! the facts, safe defaults and a complete command line. Each test drives the real binary
//! with its own temporary database.

mod common;
use common::{ok, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// The binary, without colours and without a database taken from the environment.
fn bin() -> Command {
    let mut c = Command::cargo_bin("rocks-compile").unwrap();
    c.env("NO_COLOR", "1").env_remove("ROCKS_COMPILE_DB").stdin(Stdio::null());
    c
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("cluster.db")
}

/// The binary with `--db <dir>/cluster.db` and `args`.
fn run(dir: &Path, args: &[&str]) -> Command {
    let mut c = bin();
    c.arg("--db").arg(db_path(dir)).args(args);
    c
}

/// Run `cmd`, which must fail with `exit` and print `code`; its stderr.
fn fails(cmd: &mut Command, exit: i32, code: &str) -> String {
    let out = cmd.output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(exit), "{cmd:?}:\n{}{err}", text(&out.stdout));
    assert!(err.contains(code), "{cmd:?}: `{code}` missing from stderr:\n{err}");
    err
}

fn json(cmd: &mut Command) -> Value {
    let out = ok(cmd);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{cmd:?}: not JSON ({e}):\n{}", text(&out.stdout)))
}

/// Every table of the database as text.
fn dump(dir: &Path) -> String {
    rocks_compile::facts::Db::open(db_path(dir)).unwrap().dump().unwrap()
}

/// The example cluster of the README (`examples/cluster.csv`) in a fresh database.
#[allow(dead_code)]
fn example(dir: &Path) {
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster.csv");
    ok(run(dir, &["host", "import"]).arg(csv));
}

// ---------------------------------------------------------------------------------------------
// No silent new databases
// ---------------------------------------------------------------------------------------------

#[test]
fn reading_commands_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let readers: &[&[&str]] = &[
        &["host", "list"],
        &["host", "export"],
        &["host", "remove", "c1"],
        &["host", "set", "c1", "--rack", "2"],
        &["attr", "list"],
        &["attr", "unset", "x"],
        &["appliance", "list"],
        &["network", "list"],
        &["interface", "list"],
        &["interface", "add", "c1", "eth1"],
        &["boot", "set", "c1", "os"],
        &["server", "list"],
        &["kickstart", "--host", "c1"],
        &["build", "--out", "tree"],
    ];
    for args in readers {
        let err = fails(&mut run(d, args), 1, "facts::no-database");
        assert!(err.contains(&db_path(d).display().to_string()), "{args:?}: the path is named:\n{err}");
        assert!(err.contains("--db") && err.contains("ROCKS_COMPILE_DB"), "{args:?}: how to point elsewhere:\n{err}");
        assert!(!db_path(d).exists(), "{args:?} created a database");
    }
    // Commands that add facts create it.
    ok(&mut run(d, &["attr", "set", "Kickstart_Timezone", "Europe/Paris"]));
    assert!(db_path(d).exists());
}

#[test]
fn framework_paths_that_are_missing_or_files_are_coded_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compute.xml");
    std::fs::write(&file, "<kickstart/>").unwrap();
    let err = fails(bin().args(["check", "--framework"]).arg(&file), 2, "load::not-a-directory");
    assert!(err.contains("help:"), "{err}");
    let err = fails(bin().args(["check", "--framework"]).arg(dir.path().join("nope")), 2, "load::missing-framework");
    assert!(err.contains("help:"), "{err}");
    let err = fails(bin().args(["check", "--framework"]).arg(dir.path()), 2, "load::not-framework");
    assert!(err.contains("help:"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Addresses are allocated, not forgotten
// ---------------------------------------------------------------------------------------------

/// `host list --json` as (name, ip, network) rows.
fn addresses(dir: &Path) -> Vec<(String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    json(&mut run(dir, &["host", "list", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (s(&h["name"]), s(&h["ip"]), s(&h["network"])))
        .collect()
}

/// Run `cmd`, which must fail with exit 1 and `code` without changing the database.
fn rejected(dir: &Path, cmd: &mut Command, code: &str) {
    let before = dump(dir);
    fails(cmd, 1, code);
    assert_eq!(dump(dir), before, "{cmd:?} failed but changed the database");
}

#[test]
fn host_add_allocates_addresses_by_the_appliance_policy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&mut run(d, &["host", "add", "c1", "--appliance", "compute", "--mac", "52:54:00:00:00:01"]));
    ok(&mut run(d, &["host", "add", "c2", "--appliance", "compute"]));
    ok(&mut run(d, &["host", "add", "c3", "--appliance", "compute", "--no-ip"]));
    // A discovered host continues the countdown.
    let log = d.join("dhcpd.log");
    std::fs::write(&log, "DHCPDISCOVER from 52:54:00:00:00:04 via eth0\n").unwrap();
    ok(run(d, &["discover", "--appliance", "compute", "--from-log"]).arg(&log));
    // A template policy gives the template's address.
    ok(&mut run(d, &["network", "add", "gpu", "10.5.0.0/16"]));
    ok(&mut run(
        d,
        &["appliance", "add", "gpu", "--name-policy", "g{rack}n{rank}", "--ip-policy", "10.5.{rack}.{rank}", "--network", "gpu"],
    ));
    ok(&mut run(d, &["host", "add", "g2n1", "--appliance", "gpu", "--rack", "2"]));
    let got = addresses(d);
    let want = [
        ("c1", "10.1.255.254", "private"),
        ("c2", "10.1.255.253", "private"),
        ("c3", "", ""),
        ("compute-0-3", "10.1.255.252", "private"),
        ("g2n1", "10.5.2.1", "gpu"),
    ];
    assert_eq!(got, want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())));
    // The kickstart of an allocated host has its address in /etc/hosts.
    let ks = text(&ok(&mut run(d, &["kickstart", "--host", "c2", "--allow-default-password"])).stdout);
    assert!(ks.contains("\"10.1.255.253\" \"c2\""), "{ks}");
    // A template address that is taken is refused.
    rejected(d, &mut run(d, &["host", "add", "other", "--appliance", "gpu", "--rack", "2", "--rank", "1"]), "facts::duplicate-ip");
}

#[test]
fn host_set_interface_set_rename_and_aliases_change_existing_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&mut run(d, &["host", "add", "c1", "--appliance", "compute", "--no-ip"]));
    ok(&mut run(d, &["host", "add", "c2", "--appliance", "compute", "--ip", "10.1.0.2", "--mac", "52:54:00:00:00:02"]));
    // A host without an interface gets one.
    ok(&mut run(d, &["host", "set", "c1", "--ip", "10.1.0.1", "--mac", "52:54:00:00:00:01", "--rack", "1"]));
    assert_eq!(addresses(d)[0], ("c1".into(), "10.1.0.1".into(), "private".into()));
    // Uniqueness and the network's range hold; a rejected change changes nothing, not even
    // the fields given with it.
    rejected(d, &mut run(d, &["host", "set", "c1", "--ip", "10.1.0.2", "--rack", "3"]), "facts::duplicate-ip");
    rejected(d, &mut run(d, &["host", "set", "c1", "--mac", "52:54:00:00:00:02"]), "facts::duplicate-mac");
    rejected(d, &mut run(d, &["host", "set", "c1", "--ip", "10.2.0.1"]), "facts::ip-outside-network");
    rejected(d, &mut run(d, &["host", "set", "c9", "--ip", "10.1.0.9"]), "facts::unknown-host");
    rejected(d, &mut run(d, &["host", "set", "c1"]), "cli::nothing-to-set");
    // Another network: the address must lie inside it.
    ok(&mut run(d, &["network", "add", "ib", "10.2.0.0/16"]));
    rejected(d, &mut run(d, &["interface", "set", "c1", "eth0", "--network", "ib"]), "facts::ip-outside-network");
    ok(&mut run(d, &["interface", "set", "c1", "eth0", "--network", "ib", "--ip", "10.2.0.1"]));
    ok(&mut run(d, &["interface", "add", "c1", "eth1", "--ip", "10.1.0.11"]));
    ok(&mut run(d, &["interface", "set", "c1", "eth1", "--primary"]));
    assert_eq!(addresses(d)[0], ("c1".into(), "10.1.0.11".into(), "private".into()));
    rejected(d, &mut run(d, &["interface", "set", "c1", "eth9", "--primary"]), "facts::unknown-name");
    // Rename: interfaces, aliases and attributes follow.
    ok(&mut run(d, &["alias", "add", "c1", "storage"]));
    ok(&mut run(d, &["attr", "set", "site_role", "io", "--host", "c1"]));
    rejected(d, &mut run(d, &["host", "rename", "c1", "c2"]), "facts::duplicate-name");
    rejected(d, &mut run(d, &["host", "rename", "c1", "storage"]), "facts::duplicate-name");
    ok(&mut run(d, &["host", "rename", "c1", "io-0-0"]));
    assert_eq!(addresses(d)[1], ("io-0-0".into(), "10.1.0.11".into(), "private".into()));
    let aliases = json(&mut run(d, &["alias", "list", "--json"]));
    assert_eq!(aliases, serde_json::json!([{"host": "io-0-0", "alias": "storage"}]));
    let attrs = json(&mut run(d, &["attr", "list", "--host", "io-0-0", "--json"]));
    assert!(attrs.as_array().unwrap().iter().any(|a| a["key"] == "site_role" && a["value"] == "io"), "{attrs}");
    rejected(d, &mut run(d, &["alias", "add", "c2", "storage"]), "facts::duplicate-name");
    rejected(d, &mut run(d, &["alias", "remove", "c2", "storage"]), "facts::unknown-name");
    ok(&mut run(d, &["alias", "remove", "io-0-0", "storage"]));
    assert_eq!(json(&mut run(d, &["alias", "list", "--json"])), serde_json::json!([]));
}
