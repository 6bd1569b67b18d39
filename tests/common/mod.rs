#![allow(dead_code)]
//! Helpers shared by the integration tests.

pub mod fastcgi;
pub mod ipmi;
pub mod lab;
pub mod served;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `ksvalidator` from pykickstart; `.ci/run` installs it. Missing means a broken setup, so
/// the tests fail loudly unless `ROCKS_SKIP_VALIDATORS=1` says to skip the validation.
pub fn ksvalidator() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("ksvalidator")).find(|p| p.is_file()));
    if found.is_none() {
        let msg = "*** ksvalidator (pip install pykickstart) is not installed: kickstarts were NOT validated ***";
        if std::env::var("ROCKS_SKIP_VALIDATORS").as_deref() == Ok("1") {
            eprintln!("{msg}");
        } else {
            panic!("{msg} (set ROCKS_SKIP_VALIDATORS=1 to skip)");
        }
    }
    found
}

/// Run `ksvalidator -v RHEL9` strictly: exit 0, nothing on stderr, no message on stdout but
/// the "Checking" line (its exit code alone counts errors modulo 256). `TMPDIR` is a scratch
/// directory because every run leaves a copy of the file there.
pub fn validate(ks: &Path) {
    let Some(v) = ksvalidator() else { return };
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new(v).args(["-v", "RHEL9"]).arg(ks).env("TMPDIR", scratch.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let noise: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("Checking kickstart file")).collect();
    assert!(
        out.status.success() && stderr.trim().is_empty() && noise.is_empty(),
        "ksvalidator rejected {}:\n{stdout}\n{stderr}",
        ks.display()
    );
}

#[allow(dead_code)]
/// An external program the tests need (`.ci/run` installs them all). Missing means a broken
/// setup, so the test fails loudly unless `ROCKS_SKIP_VALIDATORS=1` says to skip it.
pub fn tool(name: &str) -> Option<PathBuf> {
    let dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    let found = dirs.iter().chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")].iter()).map(|d| d.join(name)).find(|p| p.is_file());
    if found.is_none() {
        let msg = format!("*** `{name}` is not installed (see .ci/run): this check did NOT run ***");
        if std::env::var("ROCKS_SKIP_VALIDATORS").as_deref() == Ok("1") {
            eprintln!("{msg}");
        } else {
            panic!("{msg} (set ROCKS_SKIP_VALIDATORS=1 to skip)");
        }
    }
    found
}

/// The bundled example cluster (`examples/cluster.csv`) in a fresh database under `dir`.
#[allow(dead_code)]
pub fn example_db(dir: &Path) -> rocks_compile::facts::Db {
    let mut db = rocks_compile::facts::Db::open(dir.join("cluster.db")).unwrap();
    let csv = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster.csv")).unwrap();
    db.import_csv(&csv).unwrap();
    db
}

/// Bytes as text (lossy).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Run `cmd`, which must succeed; its output.
pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed ({}):\n{}{}", out.status, text(&out.stdout), text(&out.stderr));
    out
}

/// The `<file>` body `name` of a kickstart (between `cat > NAME << 'DELIM'` and `DELIM`).
pub fn file_body(ks: &str, name: &str) -> String {
    let start = ks.lines().position(|l| l.starts_with(&format!("cat > {name} << "))).unwrap_or_else(|| panic!("no {name}:\n{ks}"));
    let delim = ks.lines().nth(start).unwrap().rsplit(' ').next().unwrap().trim_matches('\'').to_string();
    ks.lines().skip(start + 1).take_while(|l| *l != delim).map(|l| format!("{l}\n")).collect()
}

/// Run rocks-compile in `dir` on the database `dir/cluster.db` (no colours).
pub fn rc_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rocks-compile"))
        .current_dir(dir)
        .env("ROCKS_COMPILE_DB", dir.join("cluster.db"))
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

/// `attr set KEY --secret` on the database `db`, the value given on standard input (as an
/// operator types it: never in the arguments).
pub fn set_secret(db: &Path, key: &str, value: &str) {
    use std::io::Write;
    let mut set = Command::new(env!("CARGO_BIN_EXE_rocks-compile"))
        .env("ROCKS_COMPILE_DB", db)
        .args(["attr", "set", key, "--secret"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    set.stdin.take().unwrap().write_all(format!("{value}\n").as_bytes()).unwrap();
    assert!(set.wait().unwrap().success(), "attr set {key} --secret");
}
