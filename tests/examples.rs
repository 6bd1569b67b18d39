//! The programs in `examples/` run against real inputs: the same code `cargo run --example`
//! runs, included here as modules.

#[path = "../examples/compile.rs"]
#[allow(dead_code)]
mod compile;
#[path = "../examples/what_if.rs"]
#[allow(dead_code)]
mod what_if;

use std::path::Path;

#[test]
fn compile_example_makes_a_kickstart_from_a_directory_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let attrs = dir.path().join("site.json");
    std::fs::write(&attrs, r#"{"Kickstart_Timezone": "Europe/Berlin"}"#).unwrap();
    let args = |appliance: &str| vec![root.display().to_string(), appliance.to_string(), attrs.display().to_string()];
    let ks = compile::run(&args("compute")).unwrap();
    assert!(ks.contains("\ntimezone Europe/Berlin --utc\n"), "{ks}");
    assert!(ks.contains("%packages"));
    let err = compile::run(&args("no-such-appliance")).unwrap_err();
    assert!(err.contains("graph::missing-root"), "{err}");
}

#[test]
fn what_if_example_names_the_hosts_an_attribute_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("cluster.db");
    let mut db = rocks_compile::open_database(&db_path).unwrap();
    for (name, appliance) in [("compute-0-0", "compute"), ("compute-0-1", "compute"), ("login-0-0", "login")] {
        db.add_host(&rocks_compile::HostSpec::new(name, appliance)).unwrap();
    }
    drop(db);
    let ask = |name: &str, value: &str| what_if::run(&[db_path.display().to_string(), name.into(), value.into()]).unwrap();
    assert_eq!(ask("Kickstart_Timezone", "Asia/Tokyo"), ["compute-0-0", "compute-0-1", "login-0-0"]);
    assert_eq!(ask("no_node_reads_this", "1"), Vec::<String>::new());
}

/// The README's install section: `cargo install` uses the lock file and puts the binary where
/// the shipped systemd unit runs it, and the completion lines work in an empty home.
#[test]
fn readme_install_lines_work() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = &readme[readme.find("## Install").unwrap()..readme.find("## Quick start").unwrap()];
    let install = section.lines().find(|l| l.starts_with("cargo install")).unwrap();
    assert!(install.contains("--locked"), "{install}");
    let service = std::fs::read_to_string(root.join("examples/systemd/rocks-compile-fastcgi.service")).unwrap();
    let exec = service.lines().find_map(|l| l.strip_prefix("ExecStart=")).unwrap();
    let binary = exec.split(' ').next().unwrap();
    let prefix = install.split("--root ").nth(1).map(|r| r.split(' ').next().unwrap()).unwrap_or("~/.cargo");
    assert_eq!(format!("{prefix}/bin/rocks-compile"), binary, "the unit runs what `cargo install` installs");
    // The bash lines of the block, run in an empty home with the binary on PATH.
    let block = &section[section.find("```sh\nmkdir").unwrap() + 6..];
    let block = &block[..block.find("```").unwrap()];
    let lines: Vec<&str> = block.lines().filter(|l| !l.starts_with('#') && !l.starts_with("rocks-compile man")).collect();
    let home = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_rocks-compile")).parent().unwrap();
    let out = std::process::Command::new("bash")
        .args(["-euc", &lines.join("\n")])
        .env("HOME", home.path())
        .env("PATH", format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let installed = home.path().join(".local/share/bash-completion/completions/rocks-compile");
    assert!(std::fs::read_to_string(installed).unwrap().contains("complete -F"));
}

/// `examples/bmc/site.sh` as its header says to run it: the example cluster with BMCs gets
/// consoles, power and monitoring from the same facts, and the IPMI password reaches only
/// the files that must hold it.
#[test]
fn bmc_example_site_builds_power_consoles_and_monitoring() {
    use std::io::Write;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bmc.db");
    let tree = dir.path().join("tree");
    let bin = env!("CARGO_BIN_EXE_rocks-compile");
    let mut site = std::process::Command::new("sh")
        .arg("examples/bmc/site.sh")
        .arg(&tree)
        .current_dir(root)
        .env("ROCKS_COMPILE", bin)
        .env("ROCKS_COMPILE_DB", &db)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    site.stdin.take().unwrap().write_all(b"ipmi-Example-9\n").unwrap();
    let out = site.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read = |p: &str| std::fs::read_to_string(tree.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert!(read("console/conman.conf").contains("dev=\"ipmi:10.2.0.10\""));
    assert!(read("console/conserver.cf").contains("console compute-1-0 {"));
    // Rack 1: another port, and a FreeIPMI workaround, so an ipmipower device of its own.
    assert!(read("power/powerman.conf").contains("-h 10.2.0.20:6230 "), "{}", read("power/powerman.conf"));
    assert!(read("power/powerman.conf").contains("node \"compute-1-0\" \"ipmi1\" \"10.2.0.20\"\n"));
    assert!(read("power/ipmipower-ipmi1.conf").contains("\nworkaround-flags opensesspriv\n"));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning") && !String::from_utf8_lossy(&out.stderr).contains('⚠'),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(read("power/ipmipower-ipmi0.conf").contains("password ipmi-Example-9"));
    assert!(read("monitoring/prometheus/bmcs.json").contains("10.2.0.40"));
    assert!(read("dns/db.mgmt.local").contains("compute-0-0-bmc"));
    assert!(read("dhcp/dhcpd.conf").contains("52:54:00:10:00:01"));
    assert!(read("kickstart/compute-0-0.ks").contains("console=ttyS1,115200\""));
    for p in ["console/conserver.cf", "power/powerman.conf", "MANIFEST", "dhcp/dhcpd.conf", "hosts"] {
        assert!(!read(p).contains("ipmi-Example-9"), "{p} holds the password");
    }
    let dry = std::process::Command::new(bin)
        .args(["--db", db.to_str().unwrap(), "power", "status", "compute-[0-1]-0", "--dry-run"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success() && said.contains("-H 10.2.0.20 -p 6230") && !said.contains("ipmi-Example-9"), "{said}");
}
