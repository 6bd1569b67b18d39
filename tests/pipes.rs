//! A command whose output is closed early (`rocks-compile host list | head`) ends quietly:
//! never a panic, never a backtrace, whatever it was writing.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

fn bin(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rocks-compile"));
    c.env("ROCKS_COMPILE_DB", db).env("NO_COLOR", "1").env("RUST_BACKTRACE", "1");
    c
}

/// Run `args` with standard output a pipe nobody reads (its read end closed before the
/// program starts): the first write fails.
fn closed_output(db: &Path, args: &[&str]) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = bin(db).args(args).stdout(writer).stderr(Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{args:?} panicked:\n{stderr}");
    let quiet = out.status.success() || out.status.signal() == Some(libc::SIGPIPE);
    assert!(quiet, "{args:?}: {:?}\n{stderr}", out.status);
}

#[test]
fn no_command_panics_when_its_output_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster.csv");
    assert!(bin(&db).args(["host", "import"]).arg(&csv).status().unwrap().success());
    let first = String::from_utf8(bin(&db).args(["host", "list", "--json"]).output().unwrap().stdout).unwrap();
    let host: serde_json::Value = serde_json::from_str(&first).unwrap();
    let host = host[0]["name"].as_str().unwrap().to_string();
    for args in [
        &["completions", "bash"][..],
        &["completions", "zsh"],
        &["completions", "fish"],
        &["man"],
        &["--help"],
        &["host", "list"],
        &["host", "list", "--json"],
        &["host", "export"],
        &["network", "list"],
        &["attr", "list"],
        &["kickstart", "--appliance", "compute"],
        &["kickstart", "--host", &host, "--allow-default-password"],
        &["explain", "--host", &host, "--grep", "network"],
        &["graph", "--appliance", "compute"],
        &["check"],
    ] {
        closed_output(&db, args);
    }
}
