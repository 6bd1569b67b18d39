//! Reading commands open the database read-only: they never create a missing one, never
//! migrate an old one, and a user who may only read the file can run them.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ok, text};

fn bin(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rocks-compile"));
    c.env("ROCKS_COMPILE_DB", db).env("NO_COLOR", "1");
    c
}

/// Every command that only reads the database.
const READERS: &[&[&str]] = &[
    &["host", "list"],
    &["host", "export"],
    &["attr", "list"],
    &["network", "list"],
    &["appliance", "list"],
    &["interface", "list"],
    &["alias", "list"],
    &["server", "list"],
    &["explain", "--host", "compute-0-0", "--grep", "hostname"],
    &["kickstart", "--host", "compute-0-0", "--allow-default-password"],
];

#[test]
fn reading_commands_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    for args in READERS {
        let out = bin(&db).args(*args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains("facts::no-database"), "{args:?}: {}", text(&out.stderr));
        assert!(!db.exists(), "{args:?} created the database");
    }
}

#[test]
fn reading_commands_never_migrate_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    ok(bin(&db).args(["host", "add", "compute-0-0", "--appliance", "compute"]));
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "user_version", 2).unwrap();
    drop(conn);
    let out = bin(&db).args(["host", "list"]).output().unwrap();
    assert!(text(&out.stderr).contains("facts::schema-version"), "{}", text(&out.stderr));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 2, "a reading command migrated the database");
}

#[test]
fn a_user_who_may_only_read_the_database_can_run_every_reading_command() {
    if !nix_root() {
        eprintln!("*** not root: cannot run a command as another user; this check did NOT run ***");
        return;
    }
    let Some(setpriv) = common::tool("setpriv") else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let db = dir.path().join("cluster.db");
    ok(bin(&db).args(["host", "add", "compute-0-0", "--appliance", "compute"]));
    std::fs::set_permissions(&db, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let before = std::fs::read(&db).unwrap();
    for args in READERS {
        let out = Command::new(&setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_rocks-compile"))
            .args(*args)
            .env("ROCKS_COMPILE_DB", &db)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?} as a user who may only read the database:\n{}", text(&out.stderr));
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database changed");
}

fn nix_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn the_database_and_written_kickstarts_are_never_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    ok(bin(&db).args(["host", "add", "compute-0-0", "--appliance", "compute"]));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db) & 0o007, 0, "cluster.db is {:o}", mode(&db));
    // A kickstart holds root's password hash: -o writes it 0640 at most, even over a file
    // that was more open.
    let ks = dir.path().join("c.ks");
    std::fs::write(&ks, "old").unwrap();
    std::fs::set_permissions(&ks, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(bin(&db).args(["kickstart", "--host", "compute-0-0", "--allow-default-password", "-o"]).arg(&ks));
    assert_eq!(mode(&ks), 0o640);
    ok(bin(&db).args(["kickstart", "--appliance", "compute", "-o"]).arg(dir.path().join("a.ks")));
    assert_eq!(mode(&dir.path().join("a.ks")), 0o640);
    let out = dir.path().join("q");
    ok(bin(&db).args(["kickstart", "--query", "SELECT name FROM host_view", "--allow-default-password", "-o"]).arg(&out));
    assert_eq!(mode(&out.join("compute-0-0.ks")), 0o640);
}
