//! Cluster facts: hosts, appliances, networks, interfaces and attributes in an embedded
//! SQLite file, as Rocks kept them in its `cluster` database. *I/O.*
//!
//! - [`Db::open`] / [`Db::init`] create the file with [`schema`] and its default rows on first
//!   use; [`Db::open_readonly`] is for `--query`.
//! - [`attrs`]: attributes stored at five scopes; a host's resolved attributes
//!   ([`Db::host_attrs`], [`Db::attrs_map`]) come from [`crate::resolver`], the one place
//!   that knows the precedence, over a snapshot ([`Db::cluster`]) of the types in
//!   [`crate::model`].
//! - [`hosts`], [`interface`], [`network`], [`appliance`], [`boot`], [`distribution`]: the
//!   management API; [`query`]: `host list --where` and `--query` over the view `host_view`.
//! - [`discover`]: insert-ethers (dhcpd log lines to new hosts); [`csv`]: import/export;
//!   `generate`: synthetic clusters for benchmarks.
//!
//! The database holds secrets: a new one is created [`DB_MODE`] (0640), and opening one for
//! writing first closes it (and its `-wal` and `-shm`) to other users ([`Db::exposed`]).
//!
//! Every write runs in one `BEGIN IMMEDIATE` transaction (busy timeout 10 s), so a failed call
//! leaves the database unchanged and concurrent writers never hand out a name or IP twice.
//! Checks are done in Rust before each insert; unique constraints and triggers are the backstop.

pub mod addr;
mod allocate;
pub mod appliance;
pub mod attrs;
pub mod bmc;
pub mod boot;
pub mod builtin;
pub mod csv;
pub mod discover;
pub mod distribution;
pub mod error;
pub mod generate;
pub mod hosts;
pub mod interface;
pub mod network;
mod private;
pub mod query;
pub mod renumber;
pub mod schema;
pub mod server;
mod snapshot;
pub mod template;
#[cfg(test)]
mod testutil;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior, params};

pub use appliance::{Appliance, ApplianceSpec, IpPolicy};
pub use attrs::{REDACTED, ResolvedAttr, Scope, StoredAttr, Target};
pub use bmc::{BmcSpec, DEFAULT_BMC_NETWORK};
pub use boot::{Boot, BootAction};
pub use discover::{DhcpKind, DhcpRequest, NewHost, parse_dhcpd_line};
pub use distribution::Distribution;
pub use error::{FactsError, Result};
pub use generate::{Generated, generate};
pub use hosts::{Host, HostField, HostSpec};
pub use interface::{Interface, InterfaceChange, InterfaceSpec};
pub use network::{Network, NetworkChange, NetworkSpec};
pub use private::{DB_MODE, Exposed};
pub use query::HostFilter;
pub use renumber::{Moved, Renumber};
pub use server::InstallServer;
pub use template::{Template, TemplateVars};

/// How long a connection waits for another writer before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open facts database.
#[derive(Debug)]
pub struct Db {
    conn: Connection,
    path: PathBuf,
    readonly: bool,
    /// Files of the database that other users could open when it was opened for writing.
    exposed: Vec<Exposed>,
}

impl Db {
    /// Open `path`, creating it when missing with the default rows: network `private`
    /// 10.1.0.0/16 (zone `local`, gateway and DNS 10.1.1.1, MTU 1500), appliances
    /// `frontend`, `compute`, `login`, `nas` (Rocks naming), boot actions `install` and `os`,
    /// distribution `rocky-9`.
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        Db::init(path, &BTreeMap::new())
    }

    /// [`Db::open`], then store `defaults` as global attributes. Attributes already set are
    /// kept (so running `init` again does not undo site changes).
    pub fn init(path: impl AsRef<Path>, defaults: &BTreeMap<String, String>) -> Result<Db> {
        let mut db = Db::connect(path.as_ref(), false)?;
        let name = db.name();
        schema::migrate(&mut db.conn, &name).map_err(|e| e.in_context(&name, "create schema"))?;
        if !defaults.is_empty() {
            db.write("store default attributes", |tx| {
                let mut stmt = tx.prepare("INSERT OR IGNORE INTO attributes (scope, target, key, value) VALUES ('global', '', ?1, ?2)")?;
                for (k, v) in defaults {
                    attrs::check_key(k)?;
                    stmt.execute(params![k, v])?;
                }
                Ok(())
            })?;
        }
        Ok(db)
    }

    /// Open an existing database with `SQLITE_OPEN_READ_ONLY` (for the commands that only
    /// read it). A user who may read the file but not write its folder can: when no writer
    /// has it open (no `-wal`/`-shm` file, so everything is in the database file), it is
    /// read as immutable, since SQLite could not create the shared-memory file it needs.
    pub fn open_readonly(path: impl AsRef<Path>) -> Result<Db> {
        let path = path.as_ref();
        let mut db = Db::connect(path, true)?;
        let found = match schema::user_version(&db.conn) {
            Err(FactsError::Sqlite { source, .. })
                if matches!(source.sqlite_error_code(), Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen))
                    && !sidecar(path, "-wal").exists()
                    && !sidecar(path, "-shm").exists() =>
            {
                db = Db::connect_immutable(path)?;
                schema::user_version(&db.conn)
            }
            other => other,
        };
        let found = found.map_err(|e| e.in_context(&db.name(), "read schema version"))?;
        if found != schema::SCHEMA_VERSION {
            return Err(FactsError::SchemaVersion { db: db.name(), found, supported: schema::SCHEMA_VERSION });
        }
        Ok(db)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Files of the database (it, its `-wal`, its `-shm`) that other users could open when
    /// it was opened for writing, each closed to them since unless its error says why not.
    /// A frontend warns about each; always empty for a read-only database.
    pub fn exposed(&self) -> &[Exposed] {
        &self.exposed
    }

    /// Every table's rows in id order, as text: what `show facts` prints and what tests
    /// compare to prove that a failed call changed nothing.
    pub fn dump(&self) -> Result<String> {
        self.read("dump", |c| {
            let mut out = String::new();
            let tables: Vec<String> = c
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for table in tables {
                let _ = writeln!(out, "[{table}]");
                let mut stmt = c.prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))?;
                let n = stmt.column_count();
                let mut rows = stmt.query([])?;
                while let Some(row) = rows.next()? {
                    let cells: Vec<String> = (0..n).map(|i| row.get_ref(i).map(value_text)).collect::<rusqlite::Result<_>>()?;
                    let _ = writeln!(out, "{}", cells.join("\t"));
                }
            }
            Ok(out)
        })
    }

    fn connect(path: &Path, readonly: bool) -> Result<Db> {
        let name = path.display().to_string();
        let exposed = if readonly {
            Vec::new()
        } else {
            // When this fails (no such folder, no permission), opening fails next and says why.
            let _ = private::create_private(path);
            private::close_to_others(path)
        };
        let flags = if readonly {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let setup = || -> Result<Connection> {
            let conn = Connection::open_with_flags(path, flags)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "foreign_keys", true)?;
            if readonly {
                conn.pragma_update(None, "query_only", true)?;
            } else {
                enable_wal(&conn)?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn.pragma_update(None, "cache_size", -65536)?;
            }
            Ok(conn)
        };
        let conn = setup().map_err(|e| e.in_context(&name, if readonly { "open read-only" } else { "open" }))?;
        Ok(Db { conn, path: path.to_path_buf(), readonly, exposed })
    }

    /// A read-only connection that takes the file as immutable (see [`Db::open_readonly`]).
    fn connect_immutable(path: &Path) -> Result<Db> {
        let name = path.display().to_string();
        // SQLite URI: `%`, `?` and `#` in the path are escaped.
        let escaped = name.replace('%', "%25").replace('?', "%3f").replace('#', "%23");
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let setup = || -> Result<Connection> {
            let conn = Connection::open_with_flags(format!("file:{escaped}?immutable=1"), flags)?;
            conn.pragma_update(None, "query_only", true)?;
            Ok(conn)
        };
        let conn = setup().map_err(|e| e.in_context(&name, "open read-only"))?;
        Ok(Db { conn, path: path.to_path_buf(), readonly: true, exposed: Vec::new() })
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// Run `f` in a `BEGIN IMMEDIATE` transaction; commit on `Ok`, roll back on `Err`.
    pub(crate) fn write<T>(&mut self, op: &str, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let name = self.path.display().to_string();
        let run = |conn: &mut Connection| -> Result<T> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run(&mut self.conn).map_err(|e| e.in_context(&name, op))
    }

    /// Run a read-only `f` on the connection.
    pub(crate) fn read<T>(&self, op: &str, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        f(&self.conn).map_err(|e| e.in_context(&self.name(), op))
    }
}

/// `path` with `suffix` appended (SQLite's `-wal` and `-shm` files).
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Switch to WAL. Changing the journal mode does not wait on the busy handler, so when
/// several processes create the file at once, retry until [`BUSY_TIMEOUT`].
fn enable_wal(conn: &Connection) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) && start.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn value_text(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => format!("<{} bytes>", b.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::testutil::temp_db;

    #[test]
    fn new_database_has_defaults_and_schema_version() {
        let (dir, db) = temp_db();
        let dump = db.dump().unwrap();
        assert!(dump.contains("private\t10.1.0.0/16\tlocal\t1500\t10.1.1.1\t10.1.1.1"), "{dump}");
        assert!(dump.contains("rocky-9"), "{dump}");
        assert_eq!(schema::user_version(&db.conn).unwrap(), schema::SCHEMA_VERSION);
        drop(db);
        // Reopening does not seed twice.
        let again = Db::open(dir.path().join("facts.db")).unwrap();
        assert_eq!(again.appliances().unwrap().len(), 4);
    }

    #[test]
    fn init_stores_defaults_without_overwriting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("facts.db");
        let defaults = BTreeMap::from([("Kickstart_Lang".to_string(), "en_US".to_string())]);
        let mut db = Db::init(&path, &defaults).unwrap();
        db.set_attr(&Target::Global, "Kickstart_Lang", "de_DE", false).unwrap();
        drop(db);
        let db = Db::init(&path, &defaults).unwrap();
        assert_eq!(db.attrs(Some(&Target::Global)).unwrap()[0].value, "de_DE");
    }

    #[test]
    fn concurrent_first_opens_create_one_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("facts.db");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || Db::open(&path).map(|db| db.appliances().unwrap().len()))
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap().unwrap(), 4);
        }
    }

    #[test]
    fn readonly_open_refuses_writes_and_missing_files() {
        let (dir, db) = temp_db();
        drop(db);
        let mut ro = Db::open_readonly(dir.path().join("facts.db")).unwrap();
        let e = ro.add_host(&HostSpec::new("compute-0-0", "compute")).unwrap_err();
        assert_eq!(e.code(), "facts::sqlite", "{e}");
        let e = Db::open_readonly(dir.path().join("missing.db")).unwrap_err();
        assert_eq!(e.code(), "facts::sqlite");
        assert!(e.to_string().contains("missing.db"), "{e}");
    }
}
