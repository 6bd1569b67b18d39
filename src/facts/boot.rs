//! Boot actions (PXE kernel, initrd, args) and what each host boots next.

use std::str::FromStr;

use rusqlite::params;

use super::Db;
use super::error::{FactsError, Result};
use super::hosts::host_id;
pub use crate::model::{Boot, BootAction};

impl FromStr for Boot {
    type Err = FactsError;

    fn from_str(s: &str) -> Result<Boot> {
        match s {
            "install" => Ok(Boot::Install),
            "os" => Ok(Boot::Os),
            other => Err(FactsError::bad_value("boot action", other, "must be `install` or `os`")),
        }
    }
}

impl Db {
    /// `boot set HOST install|os`.
    pub fn set_boot(&mut self, host: &str, boot: Boot) -> Result<()> {
        self.write("set boot", |tx| {
            let id = host_id(tx, host)?;
            tx.execute("UPDATE hosts SET boot = ?1 WHERE id = ?2", params![boot.as_str(), id])?;
            Ok(())
        })
    }

    /// Every boot action, by name.
    pub fn boot_actions(&self) -> Result<Vec<BootAction>> {
        self.read("list boot actions", |c| {
            let mut stmt = c.prepare("SELECT name, kernel, initrd, args FROM bootactions ORDER BY name")?;
            let rows = stmt
                .query_map([], |r| Ok(BootAction { name: r.get(0)?, kernel: r.get(1)?, initrd: r.get(2)?, args: r.get(3)? }))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// Add or replace a boot action.
    pub fn set_boot_action(&mut self, action: &BootAction) -> Result<()> {
        super::network::check_name("boot action", &action.name)?;
        self.write("set boot action", |tx| {
            tx.execute(
                "INSERT INTO bootactions (name, kernel, initrd, args) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET kernel = excluded.kernel, initrd = excluded.initrd, args = excluded.args",
                params![action.name, action.kernel, action.initrd, action.args],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::hosts::HostSpec;
    use crate::facts::testutil::{assert_unchanged, temp_db};

    #[test]
    fn default_actions_and_set_boot() {
        let (_dir, mut db) = temp_db();
        let actions = db.boot_actions().unwrap();
        assert_eq!(actions.len(), 2);
        assert_eq!(actions[0].kernel, "images/{distribution}/vmlinuz");
        assert_eq!(actions[0].args, "inst.repo={distribution_url} inst.ks.sendmac ip=dhcp");
        assert_eq!(actions[1].kernel, "localboot 0");
        db.add_host(&HostSpec::new("compute-0-0", "compute")).unwrap();
        assert_eq!(db.host("compute-0-0").unwrap().boot, Boot::Install);
        db.set_boot("compute-0-0", Boot::Os).unwrap();
        assert_eq!(db.host("compute-0-0").unwrap().boot, Boot::Os);
        let e = assert_unchanged(&mut db, |db| db.set_boot("nope", Boot::Os));
        assert_eq!(e.code(), "facts::unknown-host");
        assert_eq!("reboot".parse::<Boot>().unwrap_err().code(), "facts::bad-value");
    }
}
