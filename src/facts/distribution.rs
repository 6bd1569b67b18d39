//! Distributions: the OS trees hosts install from. New hosts get the first one (`rocky-9`).

use rusqlite::{Connection, OptionalExtension, params};

use super::Db;
use super::error::{FactsError, Result};
use super::network::check_name;
pub use crate::model::Distribution;

impl Db {
    /// Add a distribution.
    pub fn add_distribution(&mut self, d: &Distribution) -> Result<()> {
        self.write("add distribution", |tx| {
            check_name("distribution name", &d.name)?;
            if tx.query_row("SELECT 1 FROM distributions WHERE name = ?1", [&d.name], |_| Ok(())).optional()?.is_some() {
                return Err(FactsError::DuplicateName { kind: "distribution", name: d.name.clone() });
            }
            tx.execute("INSERT INTO distributions (name, os_release, url) VALUES (?1, ?2, ?3)", params![d.name, d.os_release, d.url])?;
            Ok(())
        })
    }

    /// Every distribution, in the order they were added.
    pub fn distributions(&self) -> Result<Vec<Distribution>> {
        self.read("list distributions", |c| {
            let mut stmt = c.prepare("SELECT name, os_release, url FROM distributions ORDER BY id")?;
            let rows = stmt
                .query_map([], |r| Ok(Distribution { name: r.get(0)?, os_release: r.get(1)?, url: r.get(2)? }))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }
}

/// The row id of distribution `name`.
pub(crate) fn distribution_id(conn: &Connection, name: &str) -> Result<i64> {
    conn.query_row("SELECT id FROM distributions WHERE name = ?1", [name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| FactsError::UnknownName { kind: "distribution", name: name.to_string() })
}

/// The distribution new hosts get: the first one added.
pub(crate) fn default_distribution_id(conn: &Connection) -> Result<i64> {
    conn.query_row("SELECT min(id) FROM distributions", [], |r| r.get::<_, Option<i64>>(0))?
        .ok_or_else(|| FactsError::UnknownName { kind: "distribution", name: "(any)".into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::testutil::{assert_unchanged, temp_db};

    #[test]
    fn default_and_added_distributions() {
        let (_dir, mut db) = temp_db();
        let alma = Distribution { name: "alma-9".into(), os_release: "9".into(), url: "http://10.1.1.1/alma".into() };
        db.add_distribution(&alma).unwrap();
        let names: Vec<String> = db.distributions().unwrap().into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["rocky-9", "alma-9"]);
        let e = assert_unchanged(&mut db, |db| db.add_distribution(&alma));
        assert_eq!(e.code(), "facts::duplicate-name");
    }
}
