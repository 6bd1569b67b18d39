//! Selecting hosts: `host list` with filters and a SQL `WHERE` expression over `host_view`,
//! and `--query SQL` (any read-only statement whose first column is a host name).
//!
//! `host_view` has one row per host: `name, appliance, rack, rank, cpus, arch, os,
//! distribution, boot, install_action, run_action, comment` and, from the primary interface,
//! `ip, mac, network, device, zone` (NULL when the host has none).

use std::time::Duration;
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ToSql};

use super::Db;
use super::error::{FactsError, Result};
use super::hosts::{HOST_COLUMNS, Host, host_from_row};

/// Which hosts `host list` shows; empty means all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFilter {
    pub appliance: Option<String>,
    /// A SQL expression over the columns of `host_view`, e.g. `rack = 2 AND cpus >= 32`.
    pub where_sql: Option<String>,
}

impl Db {
    /// Hosts matching `filter`, by name.
    pub fn hosts(&self, filter: &HostFilter) -> Result<Vec<Host>> {
        let mut sql = format!("SELECT {HOST_COLUMNS} FROM host_view WHERE 1 = 1");
        let mut args: Vec<&dyn ToSql> = Vec::new();
        if let Some(a) = &filter.appliance {
            sql.push_str(" AND appliance = ?1");
            args.push(a);
        }
        let mut prefix = 0;
        if let Some(w) = &filter.where_sql {
            // On its own lines, so a trailing `--` comment cannot swallow the rest.
            sql.push_str(" AND (\n");
            prefix = sql.len();
            sql.push_str(&format!("{w}\n)"));
        }
        sql.push_str("\nORDER BY name");
        self.read("list hosts", |c| {
            // A typo in the appliance is an error, not an empty list.
            if let Some(a) = &filter.appliance {
                super::appliance::load_appliance(c, a)?;
            }
            let user = filter.where_sql.clone().unwrap_or_default();
            let bad = |e: &rusqlite::Error| {
                let at = error_at(e, prefix, &user);
                // SQLite complains about the `)` around the expression: it ended too early.
                let message = match at {
                    Some((s, _)) if s + 1 >= user.trim_end().len() && sqlite_message(e).contains("near \")\"") => {
                        "the expression is incomplete".to_string()
                    }
                    _ => sqlite_message(e),
                };
                FactsError::BadSql { sql: user.clone(), message, at }
            };
            let mut stmt = c.prepare(&sql).map_err(|e| bad(&e))?;
            if !stmt.readonly() {
                let message = "the expression must not change the database".into();
                return Err(FactsError::BadSql { sql: user.clone(), message, at: None });
            }
            let _budget = filter.where_sql.is_some().then(|| Budget::start(c));
            let rows = stmt.query_map(args.as_slice(), host_from_row).map_err(|e| bad(&e))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| bad(&e))
        })
    }

    /// `--query SQL`: run one `SELECT`/`WITH` statement on a read-only connection and return
    /// its first column (NULLs skipped), e.g. `SELECT name FROM host_view WHERE rack = 2`.
    pub fn query_hosts(&self, sql: &str) -> Result<Vec<String>> {
        let reject = |reason: &str| FactsError::ReadonlyQuery { sql: sql.to_string(), reason: reason.to_string() };
        let keyword = first_keyword(sql).to_ascii_uppercase();
        if keyword != "SELECT" && keyword != "WITH" {
            return Err(reject("only a single SELECT or WITH statement is allowed"));
        }
        let name = self.path.display().to_string();
        let own;
        let conn = if self.readonly {
            &self.conn
        } else {
            own = open_readonly_conn(&self.path).map_err(|e| e.in_context(&name, "open read-only"))?;
            &own
        };
        run_query(conn, sql).map_err(|e| e.in_context(&name, "query"))
    }
}

fn open_readonly_conn(path: &Path) -> Result<Connection> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

fn run_query(conn: &Connection, sql: &str) -> Result<Vec<String>> {
    let reject = |reason: &str| FactsError::ReadonlyQuery { sql: sql.to_string(), reason: reason.to_string() };
    let mut stmt = match conn.prepare(sql) {
        Ok(s) => s,
        Err(rusqlite::Error::MultipleStatement) => return Err(reject("only a single statement is allowed")),
        Err(e) => return Err(FactsError::BadSql { sql: sql.to_string(), message: sqlite_message(&e), at: error_at(&e, 0, sql) }),
    };
    if !stmt.readonly() {
        return Err(reject("the statement would change the database"));
    }
    if stmt.column_count() == 0 {
        return Err(reject("the statement returns no columns"));
    }
    let bad = |e: rusqlite::Error| FactsError::BadSql { sql: sql.to_string(), message: sqlite_message(&e), at: error_at(&e, 0, sql) };
    let _budget = Budget::start(conn);
    let mut rows = stmt.query([]).map_err(bad)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(bad)? {
        match row.get_ref(0).map_err(bad)? {
            ValueRef::Null => {}
            ValueRef::Integer(i) => out.push(i.to_string()),
            ValueRef::Real(f) => out.push(f.to_string()),
            ValueRef::Text(t) | ValueRef::Blob(t) => out.push(String::from_utf8_lossy(t).into_owned()),
        }
    }
    Ok(out)
}

/// How long SQL a user gives (`--where`, `--query`) may run before it is interrupted
/// (`ROCKS_COMPILE_SQL_SECONDS`, default 10): a recursive CTE could run forever.
fn sql_budget() -> Duration {
    let secs = std::env::var("ROCKS_COMPILE_SQL_SECONDS").ok().and_then(|v| v.parse::<f64>().ok()).filter(|s| s.is_finite() && *s > 0.0);
    Duration::from_secs_f64(secs.unwrap_or(10.0).min(86_400.0))
}

/// Interrupts the connection's statement when the budget runs out, unless dropped first.
struct Budget {
    done: Option<std::sync::mpsc::Sender<()>>,
    watch: Option<std::thread::JoinHandle<()>>,
}

impl Budget {
    fn start(conn: &Connection) -> Budget {
        let handle = conn.get_interrupt_handle();
        let budget = sql_budget();
        let (done, rx) = std::sync::mpsc::channel::<()>();
        let watch = std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(budget) {
                handle.interrupt();
            }
        });
        Budget { done: Some(done), watch: Some(watch) }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(w) = self.watch.take() {
            let _ = w.join();
        }
    }
}

/// The first word of `sql` after whitespace and `--`/`/* */` comments.
fn first_keyword(sql: &str) -> &str {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    let end = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
    &rest[..end]
}

/// SQLite's own message, without rusqlite's wrapping.
fn sqlite_message(e: &rusqlite::Error) -> String {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) {
        return format!(
            "stopped after {} s (ROCKS_COMPILE_SQL_SECONDS): does a recursive query lack a limit?",
            sql_budget().as_secs_f64()
        );
    }
    match e {
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        other => other.to_string(),
    }
}

/// The byte range of `user` (which starts at byte `prefix` of the statement SQLite saw) that
/// error `e` points at: the token at SQLite's offset, or the end of `user` when SQLite points
/// past it (an incomplete expression).
fn error_at(e: &rusqlite::Error, prefix: usize, user: &str) -> Option<(usize, usize)> {
    let rusqlite::Error::SqlInputError { offset, .. } = e else { return None };
    let at = usize::try_from(*offset).ok()?.checked_sub(prefix)?;
    let end = user.trim_end().len();
    if at >= end {
        let last = user[..end].chars().next_back().map_or(0, char::len_utf8);
        return Some((end - last, end));
    }
    let rest = &user[at..];
    let word = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
    let len = if word == 0 { rest.chars().next().map_or(0, char::len_utf8) } else { word };
    Some((at, at + len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::hosts::HostSpec;
    use crate::facts::testutil::{assert_unchanged, temp_db};

    fn cluster() -> (tempfile::TempDir, Db) {
        let (dir, mut db) = temp_db();
        for (name, appliance, rack, ip) in [
            ("compute-0-0", "compute", 0, "10.1.255.254"),
            ("compute-1-0", "compute", 1, "10.1.255.253"),
            ("login-0-0", "login", 0, "10.1.255.252"),
        ] {
            db.add_host(&HostSpec { rack, ip: Some(ip.into()), ..HostSpec::new(name, appliance) }).unwrap();
        }
        (dir, db)
    }

    fn names(hosts: Vec<Host>) -> Vec<String> {
        hosts.into_iter().map(|h| h.name).collect()
    }

    #[test]
    fn filters_and_where_expressions() {
        let (_dir, db) = cluster();
        assert_eq!(names(db.hosts(&HostFilter::default()).unwrap()), ["compute-0-0", "compute-1-0", "login-0-0"]);
        let compute = HostFilter { appliance: Some("compute".into()), ..HostFilter::default() };
        assert_eq!(names(db.hosts(&compute).unwrap()), ["compute-0-0", "compute-1-0"]);
        let rack0 = HostFilter { where_sql: Some("rack = 0 AND ip LIKE '10.1.%' -- comment".into()), ..compute };
        assert_eq!(names(db.hosts(&rack0).unwrap()), ["compute-0-0"]);
        let bad = HostFilter { where_sql: Some("rackk = 0".into()), ..HostFilter::default() };
        let e = db.hosts(&bad).unwrap_err();
        assert_eq!(e.code(), "facts::bad-sql");
        assert!(e.to_string().contains("rackk = 0") && e.to_string().contains("no such column"), "{e}");
        let sneaky = HostFilter { where_sql: Some("1) ; DELETE FROM hosts; SELECT (1".into()), ..HostFilter::default() };
        assert!(db.hosts(&sneaky).is_err());
        assert_eq!(db.hosts(&HostFilter::default()).unwrap().len(), 3);
    }

    #[test]
    fn query_returns_first_column_read_only() {
        let (dir, mut db) = cluster();
        let got = db
            .query_hosts("/* racks */ WITH r AS (SELECT name, rack FROM host_view) SELECT name, rack FROM r WHERE rack = 0 ORDER BY name")
            .unwrap();
        assert_eq!(got, ["compute-0-0", "login-0-0"]);
        for sql in [
            "DELETE FROM hosts",
            "  delete from hosts",
            "SELECT 1; DELETE FROM hosts",
            "WITH x AS (SELECT 1) DELETE FROM hosts",
            "PRAGMA user_version = 7",
        ] {
            let e = assert_unchanged(&mut db, |db| db.query_hosts(sql));
            assert_eq!(e.code(), "facts::readonly-query", "{sql}: {e}");
        }
        let e = db.query_hosts("SELECT nme FROM host_view").unwrap_err();
        assert_eq!(e.code(), "facts::bad-sql");
        assert!(e.to_string().contains("SELECT nme FROM host_view"), "{e}");
        drop(db);
        let ro = Db::open_readonly(dir.path().join("facts.db")).unwrap();
        assert_eq!(ro.query_hosts("SELECT name FROM hosts WHERE name LIKE 'login%'").unwrap(), ["login-0-0"]);
    }
}
