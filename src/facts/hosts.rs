//! Hosts: add, remove, set a field, show; aliases.

use std::str::FromStr;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::Db;
use super::allocate::Allocator;
use super::appliance::load_appliance;
use super::bmc::{BmcSpec, allocate_bmc, insert_bmc};
use super::boot::Boot;
use super::error::{FactsError, Result};
use super::interface::{InterfaceChange, InterfaceSpec, insert_interface, update_interface};
use super::network::{check_name, load_network};
use super::template::TemplateVars;

/// What `host add` is given. `mac`, `ip`, `network` or `device` create the host's primary
/// interface (device `eth0` and network `private` unless given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSpec {
    pub name: String,
    pub appliance: String,
    pub rack: u32,
    /// `None`: the next rank in the appliance and rack (max + 1, or the appliance's first rank).
    pub rank: Option<u32>,
    /// `None`: 1.
    pub cpus: Option<u32>,
    pub mac: Option<String>,
    pub ip: Option<String>,
    pub network: Option<String>,
    pub device: Option<String>,
    /// Without `ip`: give the host the next free address of `network` (default: the
    /// appliance's network) by the appliance's IP policy, as discovery does.
    pub allocate_ip: bool,
    /// The host's BMC (`host add --bmc-mac/--bmc-ip/--bmc-network`); without an address it
    /// gets one ([`super::bmc`]).
    pub bmc: Option<BmcSpec>,
}

/// A host with its primary interface: one row of the view `host_view`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub appliance: String,
    pub rack: u32,
    pub rank: u32,
    pub cpus: u32,
    pub arch: String,
    pub os: String,
    pub distribution: String,
    pub boot: Boot,
    pub install_action: String,
    pub run_action: String,
    pub comment: String,
    pub ip: Option<String>,
    pub mac: Option<String>,
    pub network: Option<String>,
    pub device: Option<String>,
    pub zone: Option<String>,
}

/// A field `host set` can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostField {
    Appliance,
    Rack,
    Rank,
    Cpus,
    Comment,
    Os,
    Arch,
    Distribution,
    /// The boot action of `boot install` (default `install`).
    InstallAction,
    /// The boot action of `boot os` (default `os`).
    RunAction,
}

impl HostSpec {
    /// A host of `appliance` in rack 0 with the next free rank and no interface.
    pub fn new(name: &str, appliance: &str) -> HostSpec {
        HostSpec { name: name.to_string(), appliance: appliance.to_string(), ..HostSpec::default() }
    }
}

impl HostField {
    /// The field's name, as [`HostField::from_str`] reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            HostField::Appliance => "appliance",
            HostField::Rack => "rack",
            HostField::Rank => "rank",
            HostField::Cpus => "cpus",
            HostField::Comment => "comment",
            HostField::Os => "os",
            HostField::Arch => "arch",
            HostField::Distribution => "distribution",
            HostField::InstallAction => "install_action",
            HostField::RunAction => "run_action",
        }
    }
}

impl FromStr for HostField {
    type Err = FactsError;

    fn from_str(s: &str) -> Result<HostField> {
        Ok(match s {
            "appliance" => HostField::Appliance,
            "rack" => HostField::Rack,
            "rank" => HostField::Rank,
            "cpus" => HostField::Cpus,
            "comment" => HostField::Comment,
            "os" => HostField::Os,
            "arch" => HostField::Arch,
            "distribution" => HostField::Distribution,
            "install_action" => HostField::InstallAction,
            "run_action" => HostField::RunAction,
            other => {
                return Err(FactsError::bad_value(
                    "host field",
                    other,
                    "use appliance, rack, rank, cpus, comment, os, arch, distribution, install_action or run_action",
                ));
            }
        })
    }
}

impl Db {
    /// Add a host (and its primary interface when the spec has one).
    pub fn add_host(&mut self, spec: &HostSpec) -> Result<()> {
        self.write("add host", |tx| insert_host(tx, spec).map(|_| ()))
    }

    /// Remove a host with its interfaces, aliases and host-scope attributes.
    pub fn remove_host(&mut self, name: &str) -> Result<()> {
        self.write("remove host", |tx| {
            let id = host_id(tx, name)?;
            tx.execute("DELETE FROM hosts WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    /// `host set NAME field=value`.
    pub fn set_host(&mut self, name: &str, field: HostField, value: &str) -> Result<()> {
        self.set_host_fields(name, &[(field, value.to_string())])
    }

    /// Change several fields of a host in one transaction: all of them or none.
    pub fn set_host_fields(&mut self, name: &str, fields: &[(HostField, String)]) -> Result<()> {
        self.update_host(name, fields, None)
    }

    /// Change fields of a host and its primary interface (`iface`, whose `host` and `device`
    /// are ignored) in one transaction: all of them or none.
    pub fn update_host(&mut self, name: &str, fields: &[(HostField, String)], iface: Option<&InterfaceChange>) -> Result<()> {
        self.write("set host", |tx| {
            let id = host_id(tx, name)?;
            for (field, value) in fields {
                set_field(tx, id, *field, value)?;
            }
            if let Some(c) = iface {
                update_interface(tx, &InterfaceChange { host: name.to_string(), device: None, ..c.clone() })?;
            }
            Ok(())
        })
    }
}

fn set_field(tx: &rusqlite::Transaction<'_>, id: i64, field: HostField, value: &str) -> Result<()> {
    let number = |what| value.trim().parse::<u32>().map_err(|_| FactsError::bad_value(what, value, "must be a non-negative integer"));
    let (column, v): (&str, rusqlite::types::Value) = match field {
        HostField::Appliance => ("appliance_id", load_appliance(tx, value)?.0.into()),
        HostField::Rack => ("rack", number("rack")?.into()),
        HostField::Rank => ("rank", number("rank")?.into()),
        HostField::Cpus => ("cpus", number("cpus")?.into()),
        HostField::Comment => ("comment", value.to_string().into()),
        HostField::Os => ("os", checked("os", value)?.into()),
        HostField::Arch => ("arch", checked("arch", value)?.into()),
        HostField::Distribution => ("distribution_id", super::distribution::distribution_id(tx, value)?.into()),
        HostField::InstallAction => ("install_action", boot_action(tx, value)?.into()),
        HostField::RunAction => ("run_action", boot_action(tx, value)?.into()),
    };
    tx.execute(&format!("UPDATE hosts SET {column} = ?1 WHERE id = ?2"), params![v, id])?;
    Ok(())
}

/// `name` if it is a stored boot action.
fn boot_action(tx: &rusqlite::Transaction<'_>, name: &str) -> Result<String> {
    tx.query_row("SELECT name FROM bootactions WHERE name = ?1", [name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| FactsError::UnknownName { kind: "boot action", name: name.to_string() })
}

impl Db {
    /// One host with its primary interface.
    pub fn host(&self, name: &str) -> Result<Host> {
        self.read("show host", |c| {
            let sql = format!("SELECT {HOST_COLUMNS} FROM host_view WHERE name = ?1");
            c.query_row(&sql, [name], host_from_row).optional()?.ok_or_else(|| FactsError::UnknownHost(name.to_string()))
        })
    }

    /// Give `host` another name (a CNAME in the private zone).
    pub fn add_alias(&mut self, host: &str, alias: &str) -> Result<()> {
        self.write("add alias", |tx| {
            check_host_name("alias", alias)?;
            let id = host_id(tx, host)?;
            if let Some(existing) = taken_as(tx, alias)? {
                return Err(duplicate("alias", alias, existing));
            }
            tx.execute("INSERT INTO aliases (host_id, name) VALUES (?1, ?2)", params![id, alias])?;
            Ok(())
        })
    }

    /// Remove alias `alias` of `host`.
    pub fn remove_alias(&mut self, host: &str, alias: &str) -> Result<()> {
        self.write("remove alias", |tx| {
            let id = host_id(tx, host)?;
            if tx.execute("DELETE FROM aliases WHERE host_id = ?1 AND name = ?2", params![id, alias])? == 0 {
                return Err(FactsError::UnknownName { kind: "alias", name: format!("{alias} of {host}") });
            }
            Ok(())
        })
    }

    /// Every alias as `(host, alias)`, by host and alias.
    pub fn all_aliases(&self) -> Result<Vec<(String, String)>> {
        self.read("list aliases", |c| {
            let mut stmt = c.prepare("SELECT h.name, a.name FROM aliases a JOIN hosts h ON h.id = a.host_id ORDER BY h.name, a.name")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// Give host `old` the name `new`; its interfaces, aliases and host attributes follow.
    pub fn rename_host(&mut self, old: &str, new: &str) -> Result<()> {
        self.write("rename host", |tx| {
            check_host_name("host name", new)?;
            let id = host_id(tx, old)?;
            // A change of case only is this host's own name.
            if let Some(existing) = taken_as(tx, new)?.filter(|_| !new.eq_ignore_ascii_case(old)) {
                return Err(duplicate("host", new, existing));
            }
            tx.execute("UPDATE hosts SET name = ?1 WHERE id = ?2", params![new, id])?;
            tx.execute("UPDATE attributes SET target = ?1 WHERE scope = 'host' AND target = ?2", params![new, old])?;
            Ok(())
        })
    }

    /// The aliases of `host`, sorted.
    pub fn aliases(&self, host: &str) -> Result<Vec<String>> {
        self.read("list aliases", |c| {
            let id = host_id(c, host)?;
            let mut stmt = c.prepare("SELECT name FROM aliases WHERE host_id = ?1 ORDER BY name")?;
            let names = stmt.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(names)
        })
    }
}

/// The columns of `host_view` in [`Host`] field order.
pub(crate) const HOST_COLUMNS: &str =
    "name, appliance, rack, rank, cpus, arch, os, distribution, boot, install_action, run_action, comment, ip, mac, network, device, zone";

pub(crate) fn host_from_row(r: &Row<'_>) -> rusqlite::Result<Host> {
    let boot: String = r.get(8)?;
    Ok(Host {
        name: r.get(0)?,
        appliance: r.get(1)?,
        rack: r.get(2)?,
        rank: r.get(3)?,
        cpus: r.get(4)?,
        arch: r.get(5)?,
        os: r.get(6)?,
        distribution: r.get(7)?,
        boot: if boot == "os" { Boot::Os } else { Boot::Install },
        install_action: r.get(9)?,
        run_action: r.get(10)?,
        comment: r.get(11)?,
        ip: r.get(12)?,
        mac: r.get(13)?,
        network: r.get(14)?,
        device: r.get(15)?,
        zone: r.get(16)?,
    })
}

/// The row id of host `name`, or [`FactsError::UnknownHost`].
pub(crate) fn host_id(conn: &Connection, name: &str) -> Result<i64> {
    conn.query_row("SELECT id FROM hosts WHERE name = ?1", [name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| FactsError::UnknownHost(name.to_string()))
}

/// The next rank in an appliance and rack: max + 1, or `first` when the rack is empty.
pub(crate) fn next_rank(conn: &Connection, appliance_id: i64, rack: u32, first: u32) -> Result<u32> {
    let max: Option<u32> =
        conn.query_row("SELECT max(rank) FROM hosts WHERE appliance_id = ?1 AND rack = ?2", params![appliance_id, rack], |r| r.get(0))?;
    Ok(max.map_or(first, |m| m + 1).max(first))
}

/// Whether a host or alias is called `name`, ignoring case (DNS names are
/// case-insensitive: `Compute-0-0` is `compute-0-0`).
pub(crate) fn name_taken(conn: &Connection, name: &str) -> Result<bool> {
    Ok(taken_as(conn, name)?.is_some())
}

/// The host name or alias that `name` is, ignoring case, if any.
fn taken_as(conn: &Connection, name: &str) -> Result<Option<String>> {
    let sql = "SELECT name FROM hosts WHERE name = ?1 COLLATE NOCASE UNION ALL SELECT name FROM aliases WHERE name = ?1 COLLATE NOCASE";
    Ok(conn.query_row(sql, [name], |r| r.get(0)).optional()?)
}

/// The error for `name`, which is taken (as `existing`).
fn duplicate(kind: &'static str, name: &str, existing: String) -> FactsError {
    if existing == name {
        FactsError::DuplicateName { kind, name: existing }
    } else {
        FactsError::NameTakenIgnoringCase { kind, name: name.to_string(), existing }
    }
}

/// A host name or alias entering the database: a DNS label (RFC 1123).
pub(crate) fn check_host_name(what: &'static str, name: &str) -> Result<()> {
    check_name(what, name)?;
    if !crate::model::is_dns_label(name) {
        return Err(FactsError::bad_value(what, name, "must be a DNS label: letters, digits and `-` (not first or last), at most 63 characters"));
    }
    Ok(())
}

/// Validate and insert a host (and its interface); returns the row id.
pub(crate) fn insert_host(conn: &Connection, spec: &HostSpec) -> Result<i64> {
    check_host_name("host name", &spec.name)?;
    let (appliance_id, appliance) = load_appliance(conn, &spec.appliance)?;
    if let Some(existing) = taken_as(conn, &spec.name)? {
        return Err(duplicate("host", &spec.name, existing));
    }
    let rank = match spec.rank {
        Some(r) => r,
        None => next_rank(conn, appliance_id, spec.rack, appliance.first_rank)?,
    };
    let distribution = super::distribution::default_distribution_id(conn)?;
    conn.execute(
        "INSERT INTO hosts (name, appliance_id, rack, rank, cpus, distribution_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![spec.name, appliance_id, spec.rack, rank, spec.cpus.unwrap_or(1), distribution],
    )?;
    let id = conn.last_insert_rowid();
    let given_ip = spec.ip.clone().filter(|i| !i.trim().is_empty());
    let (ip, network) = match given_ip {
        None if spec.allocate_ip => {
            let (_, ip_policy) = appliance.policies()?;
            let (network_id, network) = load_network(conn, spec.network.as_deref().unwrap_or(&appliance.network))?;
            let mut ips = Allocator::new(conn, network_id, network, ip_policy)?;
            let ip = ips.next(conn, &TemplateVars { appliance: &spec.appliance, rack: spec.rack, rank })?;
            (Some(ip.to_string()), Some(ips.network().name.clone()))
        }
        ip => (ip, spec.network.clone()),
    };
    if spec.mac.is_some() || ip.is_some() || network.is_some() || spec.device.is_some() {
        let iface = InterfaceSpec {
            host: spec.name.clone(),
            device: spec.device.clone().unwrap_or_else(|| "eth0".into()),
            mac: spec.mac.clone(),
            ip,
            network,
            primary: true,
        };
        insert_interface(conn, id, &iface)?;
    }
    if let Some(bmc) = &spec.bmc {
        insert_bmc(conn, id, &spec.name, bmc)?;
        allocate_bmc(conn, &spec.name, &mut std::collections::HashMap::new())?;
    }
    Ok(id)
}

impl Db {
    /// Give every host of `names` (all hosts when `None`) that has no address on any network
    /// (its BMC's aside) one, as `host add` would (its appliance's network and address policy), in one
    /// transaction; returns (host, address, network) of each, by name.
    pub fn allocate_addresses(&mut self, names: Option<&[String]>) -> Result<Vec<(String, String, String)>> {
        self.write("allocate addresses", |tx| {
            let mut stmt = tx.prepare(
                "SELECT h.name FROM hosts h WHERE NOT EXISTS
                 (SELECT 1 FROM interfaces i WHERE i.host_id = h.id AND i.ip IS NOT NULL AND i.device <> 'bmc') ORDER BY h.name",
            )?;
            let without: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            if let Some(names) = names {
                for n in names {
                    host_id(tx, n)?;
                }
            }
            let mut out = Vec::new();
            for name in without.iter().filter(|n| names.is_none_or(|list| list.contains(n))) {
                allocate_primary(tx, name, None)?;
                let (ip, network): (String, String) = tx.query_row(
                    "SELECT i.ip, n.name FROM interfaces i JOIN hosts h ON h.id = i.host_id JOIN networks n ON n.id = i.network_id
                     WHERE h.name = ?1 AND i.is_primary = 1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                out.push((name.clone(), ip, network));
            }
            Ok(out)
        })
    }
}

/// Give host `name` (already inserted) the next free address of `network` (default: its
/// appliance's network) by its appliance's IP policy, on its primary interface (made when it
/// has none): what `host add` does without `--ip`, for hosts inserted before their
/// addresses could be chosen (`host import`).
pub(crate) fn allocate_primary(conn: &Connection, name: &str, network: Option<&str>) -> Result<()> {
    let (appliance, rack, rank): (String, u32, u32) = conn.query_row(
        "SELECT a.name, h.rack, h.rank FROM hosts h JOIN appliances a ON a.id = h.appliance_id WHERE h.name = ?1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let (_, app) = load_appliance(conn, &appliance)?;
    let (_, ip_policy) = app.policies()?;
    let (network_id, net) = load_network(conn, network.unwrap_or(&app.network))?;
    let mut ips = Allocator::new(conn, network_id, net, ip_policy)?;
    let ip = ips.next(conn, &TemplateVars { appliance: &appliance, rack, rank })?;
    let change = InterfaceChange {
        host: name.to_string(),
        device: None,
        mac: None,
        ip: Some(ip.to_string()),
        network: Some(ips.network().name.clone()),
        primary: false,
    };
    update_interface(conn, &change)
}

fn checked(what: &'static str, value: &str) -> Result<String> {
    check_name(what, value)?;
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::testutil::{assert_unchanged, temp_db};

    fn spec(name: &str, mac: &str, ip: &str) -> HostSpec {
        HostSpec { mac: Some(mac.into()), ip: Some(ip.into()), ..HostSpec::new(name, "compute") }
    }

    #[test]
    fn add_set_show_remove() {
        let (_dir, mut db) = temp_db();
        db.add_host(&spec("compute-0-0", "52:54:00:AA:00:01", "10.1.255.254")).unwrap();
        db.add_host(&HostSpec::new("compute-0-1", "compute")).unwrap();
        let h = db.host("compute-0-0").unwrap();
        assert_eq!((h.rank, h.cpus, h.mac.as_deref(), h.device.as_deref()), (0, 1, Some("52:54:00:aa:00:01"), Some("eth0")));
        assert_eq!(h.network.as_deref(), Some("private"));
        assert_eq!(db.host("compute-0-1").unwrap().rank, 1, "next rank in the rack");
        for (field, value) in [
            ("rack", "2"),
            ("cpus", "64"),
            ("comment", "gpu box"),
            ("os", "linux"),
            ("arch", "aarch64"),
            ("appliance", "login"),
            ("distribution", "rocky-9"),
        ] {
            db.set_host("compute-0-1", field.parse().unwrap(), value).unwrap();
        }
        let h = db.host("compute-0-1").unwrap();
        assert_eq!((h.rack, h.cpus, h.comment.as_str(), h.arch.as_str(), h.appliance.as_str()), (2, 64, "gpu box", "aarch64", "login"));
        db.add_alias("compute-0-0", "storage").unwrap();
        assert_eq!(db.aliases("compute-0-0").unwrap(), ["storage"]);
        db.remove_host("compute-0-0").unwrap();
        assert_eq!(db.host("compute-0-0").unwrap_err().code(), "facts::unknown-host");
        db.add_host(&spec("compute-0-0", "52:54:00:aa:00:01", "10.1.255.254")).unwrap();
    }

    #[test]
    fn bad_hosts_change_nothing() {
        let (_dir, mut db) = temp_db();
        db.add_host(&spec("compute-0-0", "52:54:00:aa:00:01", "10.1.255.254")).unwrap();
        let cases = [
            (spec("compute-0-0", "52:54:00:aa:00:02", "10.1.255.253"), "facts::duplicate-name"),
            (spec("compute-0-1", "52:54:00:AA:00:01", "10.1.255.253"), "facts::duplicate-mac"),
            (spec("compute-0-1", "52:54:00:aa:00:02", "10.1.255.254"), "facts::duplicate-ip"),
            (spec("compute-0-1", "52:54:00:aa:00:02", "10.2.0.1"), "facts::ip-outside-network"),
            (spec("compute-0-1", "52:54:00:aa:00:02", "10.1.255.255"), "facts::ip-outside-network"),
            (spec("compute-0-1", "52:54:00:aa:00", "10.1.255.253"), "facts::bad-mac"),
            (spec("compute-0-1", "52:54:00:aa:00:02", "10.1.255.256"), "facts::bad-ip"),
            (HostSpec { network: Some("ib".into()), ..spec("compute-0-1", "52:54:00:aa:00:02", "10.1.255.253") }, "facts::unknown-network"),
            (HostSpec::new("compute-0-1", "gpu"), "facts::unknown-appliance"),
            (HostSpec::new("bad name", "compute"), "facts::bad-value"),
        ];
        for (s, code) in cases {
            let e = assert_unchanged(&mut db, |db| db.add_host(&s));
            assert_eq!(e.code(), code, "{s:?}: {e}");
        }
        let e = assert_unchanged(&mut db, |db| db.set_host("compute-0-0", HostField::Rack, "-1"));
        assert_eq!(e.code(), "facts::bad-value");
        let e = assert_unchanged(&mut db, |db| db.set_host("compute-0-0", HostField::Appliance, "gpu"));
        assert_eq!(e.code(), "facts::unknown-appliance");
        let e = assert_unchanged(&mut db, |db| db.set_host("compute-0-0", HostField::Distribution, "centos-7"));
        assert_eq!(e.code(), "facts::unknown-name");
        let e = assert_unchanged(&mut db, |db| db.remove_host("compute-9-9"));
        assert_eq!(e.code(), "facts::unknown-host");
        let e = assert_unchanged(&mut db, |db| db.add_alias("compute-0-0", "compute-0-0"));
        assert_eq!(e.code(), "facts::duplicate-name");
        let e = assert_unchanged(&mut db, |db| db.add_host(&HostSpec::new("Compute-0-0", "compute")));
        assert_eq!(e.code(), "facts::duplicate-name", "names are unique ignoring case: {e}");
        for bad in ["gpu_node1", "-x", "a.b", &"x".repeat(64)] {
            let e = assert_unchanged(&mut db, |db| db.add_host(&HostSpec::new(bad, "compute")));
            assert_eq!(e.code(), "facts::bad-value", "{bad}: {e}");
            let e = assert_unchanged(&mut db, |db| db.rename_host("compute-0-0", bad));
            assert_eq!(e.code(), "facts::bad-value", "{bad}: {e}");
        }
        let e = assert_unchanged(&mut db, |db| db.add_alias("compute-0-0", "COMPUTE-0-0"));
        assert_eq!(e.code(), "facts::duplicate-name");
        assert_eq!("colour".parse::<HostField>().unwrap_err().code(), "facts::bad-value");
    }
}
