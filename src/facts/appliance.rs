//! Appliances (host types) and their naming policies.
//!
//! A naming policy is two [`Template`]s: one for the host name and one for the IP address,
//! where the IP policy may instead be `countdown` (Rocks: the highest free address of the
//! appliance's network, counting down). Ranks start at `first_rank`: 0 for Rocks-style
//! appliances (`compute-0-0`), 1 for appliances with an IP template, because rank 0 would
//! give the network address in templates such as `10.5.{rack}.{rank}`.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::Db;
use super::error::{FactsError, Result};
use super::network::{check_name, load_network};
use super::template::Template;
pub use crate::model::{Appliance, ApplianceSpec};

/// The IP policy value meaning "count down from the top of the network".
pub const COUNTDOWN: &str = "countdown";

/// The Rocks naming policy.
pub const ROCKS_NAME_POLICY: &str = "{appliance}-{rack}-{rank}";

/// An appliance's IP policy, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpPolicy {
    Countdown,
    Template(Template),
}

impl ApplianceSpec {
    /// A Rocks-style appliance: graph `default`, root node = name, kickstartable, names
    /// `{appliance}-{rack}-{rank}` from rank 0, IPs counting down on `private`.
    pub fn rocks(name: &str) -> ApplianceSpec {
        ApplianceSpec {
            name: name.to_string(),
            graph: "default".into(),
            root: name.to_string(),
            kickstartable: true,
            name_policy: ROCKS_NAME_POLICY.into(),
            ip_policy: COUNTDOWN.into(),
            first_rank: 0,
            network: "private".into(),
        }
    }

    /// An appliance with template policies (e.g. `r{rack:02}n{rank:02}` and
    /// `10.5.{rack}.{rank}` on `network`); ranks start at 1.
    pub fn templated(name: &str, name_policy: &str, ip_policy: &str, network: &str) -> ApplianceSpec {
        ApplianceSpec {
            name_policy: name_policy.into(),
            ip_policy: ip_policy.into(),
            first_rank: 1,
            network: network.into(),
            ..ApplianceSpec::rocks(name)
        }
    }

    /// The parsed name and IP policies.
    pub fn policies(&self) -> Result<(Template, IpPolicy)> {
        let bad = |what, value: &str, reason: String| FactsError::bad_value(what, value, reason);
        let name = Template::parse(&self.name_policy).map_err(|e| bad("naming policy", &self.name_policy, e))?;
        if !name.uses_rank() {
            return Err(bad("naming policy", &self.name_policy, "must contain `{rank}` so that host names differ".into()));
        }
        let ip = if self.ip_policy == COUNTDOWN {
            IpPolicy::Countdown
        } else {
            let t = Template::parse(&self.ip_policy).map_err(|e| bad("IP policy", &self.ip_policy, e))?;
            if !t.uses_rank() {
                return Err(bad("IP policy", &self.ip_policy, "must be `countdown` or contain `{rank}`".into()));
            }
            IpPolicy::Template(t)
        };
        Ok((name, ip))
    }
}

impl Db {
    /// Add an appliance; its policies are parsed and its network must exist.
    pub fn add_appliance(&mut self, spec: &ApplianceSpec) -> Result<()> {
        self.write("add appliance", |tx| insert_appliance(tx, spec).map(|_| ()))
    }

    /// Every appliance, by name.
    pub fn appliances(&self) -> Result<Vec<Appliance>> {
        self.read("list appliances", |c| {
            let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM appliances ORDER BY name"))?;
            let rows = stmt.query_map([], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// One appliance by name.
    pub fn appliance(&self, name: &str) -> Result<Appliance> {
        self.read("show appliance", |c| Ok(load_appliance(c, name)?.1))
    }
}

const COLUMNS: &str = "name, graph, root_node, kickstartable, name_policy, ip_policy, first_rank, network";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Appliance> {
    Ok(ApplianceSpec {
        name: r.get(0)?,
        graph: r.get(1)?,
        root: r.get(2)?,
        kickstartable: r.get(3)?,
        name_policy: r.get(4)?,
        ip_policy: r.get(5)?,
        first_rank: r.get(6)?,
        network: r.get(7)?,
    })
}

/// The row id and contents of appliance `name`, or [`FactsError::UnknownAppliance`].
pub(crate) fn load_appliance(conn: &Connection, name: &str) -> Result<(i64, Appliance)> {
    let sql = format!("SELECT {COLUMNS}, id FROM appliances WHERE name = ?1");
    conn.prepare_cached(&sql)?
        .query_row([name], |r| Ok((r.get(8)?, from_row(r)?)))
        .optional()?
        .map_or_else(|| Err(unknown_appliance(conn, name)), Ok)
}

/// The error for appliance `name`, which does not exist, with the closest existing name.
pub(crate) fn unknown_appliance(conn: &Connection, name: &str) -> FactsError {
    let names: Vec<String> = conn
        .prepare_cached("SELECT name FROM appliances ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_default();
    let suggestion = crate::diag::did_you_mean(name, names.iter().map(String::as_str)).map(str::to_string);
    FactsError::UnknownAppliance { name: name.to_string(), suggestion }
}

pub(crate) fn insert_appliance(conn: &Connection, spec: &ApplianceSpec) -> Result<i64> {
    check_name("appliance name", &spec.name)?;
    check_name("graph name", &spec.graph)?;
    check_name("root node", &spec.root)?;
    spec.policies()?;
    load_network(conn, &spec.network)?;
    if conn.query_row("SELECT 1 FROM appliances WHERE name = ?1", [&spec.name], |_| Ok(())).optional()?.is_some() {
        return Err(FactsError::DuplicateName { kind: "appliance", name: spec.name.clone() });
    }
    conn.execute(
        "INSERT INTO appliances (name, graph, root_node, kickstartable, name_policy, ip_policy, first_rank, network)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![spec.name, spec.graph, spec.root, spec.kickstartable, spec.name_policy, spec.ip_policy, spec.first_rank, spec.network],
    )?;
    Ok(conn.last_insert_rowid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::testutil::{assert_unchanged, temp_db};

    #[test]
    fn defaults_and_add() {
        let (_dir, mut db) = temp_db();
        let names: Vec<String> = db.appliances().unwrap().into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["compute", "frontend", "login", "nas"]);
        assert_eq!(db.appliance("compute").unwrap(), ApplianceSpec::rocks("compute"));
        let gpu = ApplianceSpec::templated("gpu", "g{rack:02}n{rank:02}", "10.1.{rack}.{rank}", "private");
        db.add_appliance(&gpu).unwrap();
        assert_eq!(db.appliance("gpu").unwrap(), gpu);
    }

    #[test]
    fn bad_appliances_change_nothing() {
        let (_dir, mut db) = temp_db();
        let cases = [
            (ApplianceSpec::rocks("compute"), "facts::duplicate-name"),
            (ApplianceSpec { network: "ib".into(), ..ApplianceSpec::rocks("gpu") }, "facts::unknown-network"),
            (ApplianceSpec { name_policy: "gpu-{rack}".into(), ..ApplianceSpec::rocks("gpu") }, "facts::bad-value"),
            (ApplianceSpec::templated("gpu", "g{rank}", "10.1.{host}.{rank}", "private"), "facts::bad-value"),
            (ApplianceSpec::rocks("bad name"), "facts::bad-value"),
        ];
        for (spec, code) in cases {
            let e = assert_unchanged(&mut db, |db| db.add_appliance(&spec));
            assert_eq!(e.code(), code, "{spec:?}: {e}");
        }
        assert_eq!(db.appliance("gpu").unwrap_err().code(), "facts::unknown-appliance");
    }
}
