//! End-to-end tests of the `rocks-compile` binary: real validators, exit codes, atomic output,
//! determinism.

mod common;
use common::validate;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

const APPLIANCES: &[&str] = &["frontend", "compute", "login", "nas"];

fn bin() -> Command {
    let mut c = Command::cargo_bin("rocks-compile").unwrap();
    c.env("NO_COLOR", "1");
    c
}

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn builtin_appliances_pass_ksvalidator() {
    let dir = tmpdir();
    for a in APPLIANCES {
        let out = bin().args(["kickstart", "--appliance", a, "--allow-default-password"]).output().unwrap();
        assert!(out.status.success(), "{a}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{a}: the built-in framework compiles without warnings:\n{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(&format!("appliance `{a}`")));
        assert!(text.contains("%packages") && text.contains("rootpw --iscrypted"));
        let path = dir.path().join(format!("{a}.ks"));
        std::fs::write(&path, &text).unwrap();
        validate(&path);
    }
}

#[test]
fn output_is_deterministic_and_written_atomically() {
    let dir = tmpdir();
    let p = dir.path().join("compute.ks");
    let a = bin().args(["kickstart", "--appliance", "compute", "-o"]).arg(&p).output().unwrap();
    assert!(a.status.success());
    let first = std::fs::read(&p).unwrap();
    let b = bin().args(["kickstart", "--appliance", "compute"]).output().unwrap();
    assert_eq!(first, b.stdout, "same inputs, same bytes");
    // A failing run must leave the previous output untouched and add no stray files.
    let bad = bin().args(["kickstart", "--appliance", "no-such-appliance", "-o"]).arg(&p).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("graph::missing-root"));
    assert_eq!(std::fs::read(&p).unwrap(), first);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn attributes_change_the_kickstart() {
    let dir = tmpdir();
    let attrs = dir.path().join("site.json");
    std::fs::write(&attrs, r#"{"Kickstart_Timezone": "Europe/Paris", "slurm": "no"}"#).unwrap();
    let out = bin()
        .args(["kickstart", "--appliance", "compute", "--attrs"])
        .arg(&attrs)
        .args(["--attr", "hostname=compute-0-3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ks = String::from_utf8(out.stdout).unwrap();
    assert!(ks.contains("timezone Europe/Paris"), "{ks}");
    assert!(ks.contains("--hostname=compute-0-3"));
    assert!(!ks.contains("slurm-slurmd"), "slurm=no drops the Slurm client");
    let p = dir.path().join("compute.ks");
    std::fs::write(&p, &ks).unwrap();
    validate(&p);
}

#[test]
fn bad_attr_argument_is_a_diagnostic() {
    let out = bin().args(["kickstart", "--appliance", "compute", "--attr", "novalue"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME=VALUE"));
}

#[test]
fn missing_framework_directory_is_an_io_failure() {
    let out = bin().args(["check", "--framework", "/nonexistent/framework"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A framework with a broken file, an order cycle and a dangling edge: one run reports all
/// three, with file:line:column, and exits 1.
#[test]
fn check_reports_every_problem_in_one_run() {
    let dir = tmpdir();
    let fw = dir.path();
    std::fs::create_dir_all(fw.join("nodes")).unwrap();
    std::fs::create_dir_all(fw.join("graphs/default")).unwrap();
    std::fs::write(fw.join("nodes/a.xml"), "<kickstart>\n<package>vim</package>\n</kickstart>\n").unwrap();
    std::fs::write(fw.join("nodes/b.xml"), "<kickstart>\n<post>\necho hi\n</pots>\n</kickstart>\n").unwrap();
    std::fs::write(
        fw.join("graphs/default/g.xml"),
        "<graph>\n<edge from=\"a\" to=\"b\"/>\n<edge from=\"a\" to=\"ghost\"/>\n<order head=\"a\" tail=\"b\"/>\n<order head=\"b\" tail=\"a\"/>\n</graph>\n",
    )
    .unwrap();
    let out = bin().args(["check", "--framework"]).arg(fw).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for code in ["xml::syntax", "order::cycle", "graph::missing-node"] {
        assert!(err.contains(code), "missing {code} in:\n{err}");
    }
    assert!(err.contains("b.xml:4:"), "the XML error points at its line:\n{err}");
    assert!(err.contains("g.xml:3:"), "the dangling edge points at its line:\n{err}");

    let json = bin().args(["check", "--json", "--framework"]).arg(fw).output().unwrap();
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"], 3, "{v}");
}

#[test]
fn check_passes_on_the_builtin_framework() {
    let out = bin().args(["check", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["errors"], 0);
    assert!(v["node_files"].as_u64().unwrap() >= 20, "at least 20 node files");
    assert_eq!(v["undefined_attributes"].as_array().unwrap().len(), 0, "{v}");
}

#[test]
fn graph_is_dot_with_order_edges() {
    let out = bin().args(["graph", "--appliance", "compute"]).output().unwrap();
    assert!(out.status.success());
    let dot = String::from_utf8(out.stdout).unwrap();
    assert!(dot.starts_with("digraph \"compute\" {"));
    assert!(dot.contains("\"compute\" -> \"client\""), "{dot}");
    assert!(dot.contains("style=dashed"), "order constraints are drawn");
    if let Ok(o) = Command::new("dot").args(["-Tsvg", "-o", "/dev/null"]).stdin(std::process::Stdio::piped()).spawn() {
        use std::io::Write;
        let mut o = o;
        o.stdin.take().unwrap().write_all(dot.as_bytes()).unwrap();
        assert!(o.wait().unwrap().success(), "graphviz accepts the DOT");
    }
}

#[test]
fn numeric_options_out_of_range_are_usage_errors() {
    let dir = tmpdir();
    let db = dir.path().join("cluster.db");
    let cases: &[&[&str]] = &[
        &["fastcgi", "--socket", "s", "--reload-interval", "1e20"],
        &["fastcgi", "--socket", "s", "--reload-interval", "1e-12"],
        &["fastcgi", "--socket", "s", "--reload-interval", "NaN"],
        &["fastcgi", "--socket", "s", "--reload-interval", "-1"],
        &["fastcgi", "--socket", "s", "--jobs", "0"],
        &["fastcgi", "--socket", "s", "--cache-mb", "18446744073709551615"],
        &["fastcgi", "--socket", "s", "--socket-mode", "7777"],
        &["build", "--out", "t", "--jobs", "0"],
        &["build", "--out", "t", "--jobs", "99999999999"],
        &["kickstart", "--query", "SELECT name FROM host_view", "-o", "o", "--jobs", "0"],
        &["explain", "--appliance", "compute", "--line", "0"],
        &["host", "generate", "--hosts", "0"],
        &["host", "generate", "--hosts", "5", "--racks", "0"],
    ];
    for args in cases {
        let out = bin().args(*args).env("ROCKS_COMPILE_DB", &db).current_dir(dir.path()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {:?}\n{stderr}", out.status);
        assert!(stderr.starts_with("cli::usage") && !stderr.contains("panicked"), "{args:?}:\n{stderr}");
        assert!(!db.exists(), "{args:?} created the database");
    }
}
