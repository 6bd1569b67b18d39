//! Install servers: the machines that hand out kickstarts, boot files and packages. Each host
//! is assigned a primary and a fallback server by rendezvous hashing (see
//! [`crate::model::rendezvous`]).

use rusqlite::{OptionalExtension, params};

use super::Db;
use super::addr::parse_ip;
use super::error::{FactsError, Result};
use super::network::check_name;
pub use crate::model::InstallServer;

impl Db {
    /// Add an install server (`url` `None`: [`InstallServer::default_url`]).
    pub fn add_server(&mut self, name: &str, ip: &str, url: Option<&str>) -> Result<()> {
        check_name("install server name", name)?;
        let ip = parse_ip(ip)?.to_string();
        let url = url.map(str::to_string).unwrap_or_else(|| InstallServer::default_url(&ip));
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(char::is_whitespace) {
            return Err(FactsError::bad_value("server URL", url, "must be an http:// or https:// URL without spaces"));
        }
        let url = url.trim_end_matches('/').to_string();
        self.write("add install server", |tx| {
            for (col, v) in [("name", name), ("ip", ip.as_str())] {
                let sql = format!("SELECT 1 FROM install_servers WHERE {col} = ?1");
                if tx.query_row(&sql, [v], |_| Ok(())).optional()?.is_some() {
                    return Err(FactsError::DuplicateName { kind: "install server", name: v.to_string() });
                }
            }
            tx.execute("INSERT INTO install_servers (name, ip, url) VALUES (?1, ?2, ?3)", params![name, ip, url])?;
            Ok(())
        })
    }

    /// Remove an install server; its hosts move to the remaining servers on the next build.
    pub fn remove_server(&mut self, name: &str) -> Result<()> {
        self.write("remove install server", |tx| {
            if tx.execute("DELETE FROM install_servers WHERE name = ?1", [name])? == 0 {
                return Err(FactsError::UnknownName { kind: "install server", name: name.to_string() });
            }
            Ok(())
        })
    }

    /// Every install server, by name.
    pub fn servers(&self) -> Result<Vec<InstallServer>> {
        self.read("list install servers", |c| {
            let mut stmt = c.prepare("SELECT name, ip, url FROM install_servers ORDER BY name")?;
            let rows = stmt
                .query_map([], |r| Ok(InstallServer { name: r.get(0)?, ip: r.get(1)?, url: r.get(2)? }))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::facts::testutil::{assert_unchanged, temp_db};

    #[test]
    fn add_list_remove() {
        let (_dir, mut db) = temp_db();
        db.add_server("is-b", "10.1.1.3", None).unwrap();
        db.add_server("is-a", "10.1.1.2", Some("http://10.1.1.2:8080/rocks/")).unwrap();
        let s = db.servers().unwrap();
        assert_eq!(s.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["is-a", "is-b"]);
        assert_eq!(s[0].url, "http://10.1.1.2:8080/rocks");
        assert_eq!(s[1].url, "http://10.1.1.3/install/rocks");
        assert_eq!(assert_unchanged(&mut db, |db| db.add_server("is-a", "10.1.1.9", None)).code(), "facts::duplicate-name");
        assert_eq!(assert_unchanged(&mut db, |db| db.add_server("is-c", "10.1.1.2", None)).code(), "facts::duplicate-name");
        assert_eq!(assert_unchanged(&mut db, |db| db.add_server("is-c", "10.1.1.300", None)).code(), "facts::bad-ip");
        assert_eq!(assert_unchanged(&mut db, |db| db.add_server("is-c", "10.1.1.4", Some("ftp://x"))).code(), "facts::bad-value");
        db.remove_server("is-a").unwrap();
        assert_eq!(assert_unchanged(&mut db, |db| db.remove_server("is-a")).code(), "facts::unknown-name");
    }
}
