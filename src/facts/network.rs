//! Networks: a name, a CIDR, a DNS zone, MTU, gateway and DNS servers.

use std::net::IpAddr;

use ipnet::IpNet;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::Db;
use super::addr::{ip_from_num, ip_key, is_usable, parse_cidr, parse_ip, usable_range};
use super::error::{FactsError, Result};
pub use crate::model::Network;

/// What `network add` is given, as text; validated by [`Db::add_network`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    /// `10.1.0.0/16`; host bits must be zero.
    pub cidr: String,
    /// DNS zone, e.g. `local`; unique across networks.
    pub zone: String,
    pub mtu: u32,
    /// Must be a usable address inside the network.
    pub gateway: Option<String>,
    pub dns_servers: Vec<String>,
    /// The cluster's DHCP server answers on this network (fixed addresses, PXE).
    pub dhcp: bool,
}

/// What `network set` changes; `None` keeps a value. A new CIDR is a renumber
/// ([`Db::renumber_network`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkChange {
    pub zone: Option<String>,
    pub mtu: Option<u32>,
    /// `Some("")` removes the gateway.
    pub gateway: Option<String>,
    pub dns_servers: Option<Vec<String>>,
    pub dhcp: Option<bool>,
}

impl Db {
    /// Change network `name`, with the same checks as [`Db::add_network`], in one transaction.
    pub fn set_network(&mut self, name: &str, c: &NetworkChange) -> Result<()> {
        self.write("set network", |tx| set_network(tx, name, c))
    }

    /// Add a network after checking the CIDR, zone, MTU and that the gateway is inside it.
    pub fn add_network(&mut self, spec: &NetworkSpec) -> Result<()> {
        self.write("add network", |tx| insert_network(tx, spec).map(|_| ()))
    }

    /// Every network, by name.
    pub fn networks(&self) -> Result<Vec<Network>> {
        self.read("list networks", |c| {
            let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM networks ORDER BY name"))?;
            let rows = stmt.query_map([], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// One network by name.
    pub fn network(&self, name: &str) -> Result<Network> {
        self.read("show network", |c| Ok(load_network(c, name)?.1))
    }
}

impl Network {
    /// Addresses that allocation must skip: the gateway and DNS servers in this network.
    pub(crate) fn reserved(&self) -> Vec<IpAddr> {
        self.gateway.iter().chain(&self.dns_servers).copied().filter(|ip| self.contains(*ip)).collect()
    }

    pub(crate) fn outside(&self, ip: impl ToString) -> FactsError {
        FactsError::IpOutsideNetwork { ip: ip.to_string(), network: self.name.clone(), cidr: self.cidr.to_string() }
    }
}

const COLUMNS: &str = "name, cidr, zone, mtu, gateway, dns_servers, dhcp";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Network> {
    let cidr: String = r.get(1)?;
    let gateway: Option<String> = r.get(4)?;
    let dns: String = r.get(5)?;
    Ok(Network {
        name: r.get(0)?,
        cidr: cidr.parse().unwrap_or_else(|_| IpNet::V4(Default::default())),
        zone: r.get(2)?,
        mtu: r.get(3)?,
        gateway: gateway.and_then(|g| g.parse().ok()),
        dns_servers: dns.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        dhcp: r.get(6)?,
    })
}

/// The row id and contents of network `name`, or [`FactsError::UnknownNetwork`].
pub(crate) fn load_network(conn: &Connection, name: &str) -> Result<(i64, Network)> {
    let sql = format!("SELECT {COLUMNS}, id FROM networks WHERE name = ?1");
    conn.prepare_cached(&sql)?
        .query_row([name], |r| Ok((r.get(7)?, from_row(r)?)))
        .optional()?
        .ok_or_else(|| FactsError::UnknownNetwork(name.to_string()))
}

/// Validate and insert; returns the new row id.
pub(crate) fn insert_network(conn: &Connection, spec: &NetworkSpec) -> Result<i64> {
    check_name("network name", &spec.name)?;
    check_zone(&spec.zone)?;
    let cidr = parse_cidr(&spec.cidr)?;
    check_mtu(spec.mtu)?;
    let gateway = spec.gateway.as_deref().filter(|g| !g.trim().is_empty()).map(parse_ip).transpose()?;
    if let Some(gw) = gateway
        && !is_usable(&cidr, gw)
    {
        return Err(FactsError::IpOutsideNetwork { ip: gw.to_string(), network: spec.name.clone(), cidr: cidr.to_string() });
    }
    let dns = spec.dns_servers.iter().map(|s| parse_ip(s)).collect::<Result<Vec<_>>>()?;
    if let Some((other, other_cidr)) = super::renumber::overlapping(conn, &cidr, None)? {
        return Err(FactsError::NetworksOverlap { network: spec.name.clone(), cidr: cidr.to_string(), other, other_cidr });
    }
    let exists = |sql: &str, v: &str| conn.query_row(sql, [v], |_| Ok(())).optional();
    if exists("SELECT 1 FROM networks WHERE name = ?1", &spec.name)?.is_some() {
        return Err(FactsError::DuplicateName { kind: "network", name: spec.name.clone() });
    }
    if exists("SELECT 1 FROM networks WHERE zone = ?1", &spec.zone)?.is_some() {
        return Err(FactsError::DuplicateName { kind: "DNS zone", name: spec.zone.clone() });
    }
    let (first, last) = usable_range(&cidr);
    let key = |n: u128| ip_key(ip_from_num(cidr.addr(), n));
    conn.execute(
        "INSERT INTO networks (name, cidr, zone, mtu, gateway, dns_servers, first_key, last_key, dhcp)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            spec.name,
            cidr.to_string(),
            spec.zone,
            spec.mtu,
            gateway.map(|g| g.to_string()),
            dns.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","),
            key(first),
            key(last),
            spec.dhcp,
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Change network `name` (the body of [`Db::set_network`]).
pub(crate) fn set_network(tx: &Connection, name: &str, c: &NetworkChange) -> Result<()> {
    let (id, old) = load_network(tx, name)?;
    let zone = c.zone.clone().unwrap_or(old.zone.clone());
    check_zone(&zone)?;
    let mtu = c.mtu.unwrap_or(old.mtu);
    check_mtu(mtu)?;
    let gateway = match &c.gateway {
        Some(g) if g.trim().is_empty() => None,
        Some(g) => Some(parse_ip(g)?),
        None => old.gateway,
    };
    if let Some(gw) = gateway.filter(|gw| !is_usable(&old.cidr, *gw)) {
        return Err(old.outside(gw));
    }
    let dns = match &c.dns_servers {
        Some(list) => list.iter().map(|s| parse_ip(s)).collect::<Result<Vec<_>>>()?,
        None => old.dns_servers.clone(),
    };
    let taken = tx.query_row("SELECT 1 FROM networks WHERE zone = ?1 AND id <> ?2", params![zone, id], |_| Ok(())).optional()?;
    if taken.is_some() {
        return Err(FactsError::DuplicateName { kind: "DNS zone", name: zone });
    }
    tx.execute(
        "UPDATE networks SET zone = ?1, mtu = ?2, gateway = ?3, dns_servers = ?4, dhcp = ?5 WHERE id = ?6",
        params![
            zone,
            mtu,
            gateway.map(|g| g.to_string()),
            dns.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","),
            c.dhcp.unwrap_or(old.dhcp),
            id
        ],
    )?;
    Ok(())
}

/// Names of hosts, appliances, networks, devices: letters, digits, `-`, `_`, `.`.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(FactsError::bad_value(what, name, "must not be empty"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))) {
        return Err(FactsError::bad_value(what, name, format!("character `{c}` is not allowed (use letters, digits, `-`, `_`, `.`)")));
    }
    Ok(())
}

fn check_mtu(mtu: u32) -> Result<()> {
    if !(68..=65535).contains(&mtu) {
        return Err(FactsError::bad_value("MTU", mtu.to_string(), "must be between 68 and 65535"));
    }
    Ok(())
}

fn check_zone(zone: &str) -> Result<()> {
    let ok = !zone.is_empty()
        && zone.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
        });
    if ok { Ok(()) } else { Err(FactsError::bad_value("DNS zone", zone, "must be dot-separated labels of letters, digits and `-`")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::testutil::{assert_unchanged, temp_db};

    fn spec(name: &str, cidr: &str, zone: &str, gw: Option<&str>) -> NetworkSpec {
        NetworkSpec {
            name: name.into(),
            cidr: cidr.into(),
            zone: zone.into(),
            mtu: 9000,
            gateway: gw.map(Into::into),
            dns_servers: vec![],
            dhcp: false,
        }
    }

    #[test]
    fn add_and_list() {
        let (_dir, mut db) = temp_db();
        db.add_network(&spec("ib", "10.2.0.0/16", "ib", Some("10.2.0.1"))).unwrap();
        let nets = db.networks().unwrap();
        assert_eq!(nets.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["ib", "private"]);
        let private = db.network("private").unwrap();
        assert_eq!(private.netmask().to_string(), "255.255.0.0");
        assert_eq!(private.broadcast().to_string(), "10.1.255.255");
        assert_eq!(private.dns_servers, ["10.1.1.1".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn bad_networks_are_rejected_and_change_nothing() {
        let (_dir, mut db) = temp_db();
        let cases = [
            (spec("ib", "10.2.0.0/16", "ib", Some("10.3.0.1")), "facts::ip-outside-network"),
            (spec("ib", "10.2.0.0/16", "ib", Some("10.2.255.255")), "facts::ip-outside-network"),
            (spec("ib", "10.2.1.0/16", "ib", None), "facts::bad-ip"),
            (spec("ib", "not-a-net", "ib", None), "facts::bad-ip"),
            (spec("ib", "10.2.0.0/16", "bad zone", None), "facts::bad-value"),
            (spec("private", "10.2.0.0/16", "ib", None), "facts::duplicate-name"),
            (spec("ib", "10.2.0.0/16", "local", None), "facts::duplicate-name"),
        ];
        for (s, code) in cases {
            let e = assert_unchanged(&mut db, |db| db.add_network(&s));
            assert_eq!(e.code(), code, "{s:?}: {e}");
        }
        assert_eq!(db.network("nope").unwrap_err().code(), "facts::unknown-network");
    }
}
