//! Interfaces: a host's devices with MAC, IP and network; one of them is primary.

use std::net::IpAddr;

use rusqlite::{Connection, OptionalExtension, params};

use super::Db;
use super::addr::{ip_key, parse_ip, parse_mac};
use super::error::{FactsError, Result};
use super::hosts::host_id;
use super::network::{Network, check_name, load_network};

/// What `interface add` is given. With an IP and no network, the network is `private`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceSpec {
    pub host: String,
    pub device: String,
    pub mac: Option<String>,
    pub ip: Option<String>,
    pub network: Option<String>,
    /// Make this the host's primary interface (the first interface always is).
    pub primary: bool,
}

/// A stored interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub host: String,
    pub device: String,
    /// Lower-case, colon-separated.
    pub mac: Option<String>,
    pub ip: Option<String>,
    pub network: Option<String>,
    pub primary: bool,
}

/// What `host set --ip/--mac/--network` and `interface set` change; `None` keeps a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceChange {
    pub host: String,
    /// `None`: the host's primary interface (created as `eth0` when it has none).
    pub device: Option<String>,
    pub mac: Option<String>,
    pub ip: Option<String>,
    /// Without it, the interface keeps its network; an interface without one that gets an
    /// address joins the host's appliance's network.
    pub network: Option<String>,
    /// Make the interface the host's primary one.
    pub primary: bool,
}

impl Db {
    /// Change an existing interface (or give a host without one its primary interface), in
    /// one transaction: the MAC and the address stay unique, the address inside its network.
    pub fn set_interface(&mut self, c: &InterfaceChange) -> Result<()> {
        self.write("set interface", |tx| update_interface(tx, c))
    }

    /// Add an interface to an existing host.
    pub fn add_interface(&mut self, spec: &InterfaceSpec) -> Result<()> {
        self.write("add interface", |tx| {
            let id = host_id(tx, &spec.host)?;
            insert_interface(tx, id, spec)
        })
    }

    /// Remove interface `device` of `host`. When it was primary, no interface is primary
    /// until one is added with `primary`.
    pub fn remove_interface(&mut self, host: &str, device: &str) -> Result<()> {
        self.write("remove interface", |tx| {
            let id = host_id(tx, host)?;
            let n = tx.execute("DELETE FROM interfaces WHERE host_id = ?1 AND device = ?2", params![id, device])?;
            if n == 0 {
                return Err(FactsError::UnknownName { kind: "interface", name: format!("{host} {device}") });
            }
            Ok(())
        })
    }

    /// The interfaces of `host` (all hosts when `None`), by host name, primary first, device.
    pub fn interfaces(&self, host: Option<&str>) -> Result<Vec<Interface>> {
        self.read("list interfaces", |c| {
            if let Some(h) = host {
                host_id(c, h)?;
            }
            let mut stmt = c.prepare(
                "SELECT h.name, i.device, i.mac, i.ip, n.name, i.is_primary
                 FROM interfaces i JOIN hosts h ON h.id = i.host_id LEFT JOIN networks n ON n.id = i.network_id
                 WHERE ?1 IS NULL OR h.name = ?1
                 ORDER BY h.name, i.is_primary DESC, i.device",
            )?;
            let rows = stmt
                .query_map([host], |r| {
                    Ok(Interface {
                        host: r.get(0)?,
                        device: r.get(1)?,
                        mac: r.get(2)?,
                        ip: r.get(3)?,
                        network: r.get(4)?,
                        primary: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }
}

/// The host that owns `mac`, if any.
pub(crate) fn mac_owner(conn: &Connection, mac: &str) -> Result<Option<String>> {
    let sql = "SELECT h.name FROM interfaces i JOIN hosts h ON h.id = i.host_id WHERE i.mac = ?1";
    Ok(conn.query_row(sql, [mac], |r| r.get(0)).optional()?)
}

/// The host that has `ip` on network `network_id`, if any.
pub(crate) fn ip_owner(conn: &Connection, network_id: i64, ip: IpAddr) -> Result<Option<String>> {
    let sql = "SELECT h.name FROM interfaces i JOIN hosts h ON h.id = i.host_id WHERE i.network_id = ?1 AND i.ip = ?2";
    Ok(conn.query_row(sql, params![network_id, ip.to_string()], |r| r.get(0)).optional()?)
}

/// Check that `ip` may be given out on `network`: inside it and not used.
pub(crate) fn check_ip(conn: &Connection, network_id: i64, network: &Network, ip: IpAddr) -> Result<()> {
    if !network.contains(ip) {
        return Err(network.outside(ip));
    }
    if let Some(owner) = ip_owner(conn, network_id, ip)? {
        return Err(FactsError::DuplicateIp { ip: ip.to_string(), network: network.name.clone(), owner });
    }
    Ok(())
}

pub(crate) fn update_interface(conn: &Connection, c: &InterfaceChange) -> Result<()> {
    let host_id = host_id(conn, &c.host)?;
    let by = |sql: &str, arg: &dyn rusqlite::ToSql| {
        conn.query_row(sql, params![host_id, arg], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?))).optional()
    };
    const COLS: &str = "SELECT id, network_id FROM interfaces WHERE host_id = ?1";
    let found = match &c.device {
        Some(d) => Some(
            by(&format!("{COLS} AND device = ?2"), d)?
                .ok_or_else(|| FactsError::UnknownName { kind: "interface", name: format!("{} {d}", c.host) })?,
        ),
        None => by(&format!("{COLS} AND is_primary = ?2"), &1)?,
    };
    let appliance_network = || -> Result<String> {
        let sql = "SELECT a.network FROM hosts h JOIN appliances a ON a.id = h.appliance_id WHERE h.id = ?1";
        Ok(conn.query_row(sql, [host_id], |r| r.get(0))?)
    };
    let Some((iface_id, network_id)) = found else {
        // A host without a primary interface gets one.
        let network = match (&c.network, &c.ip) {
            (Some(n), _) => Some(n.clone()),
            (None, Some(_)) => Some(appliance_network()?),
            (None, None) => None,
        };
        let spec =
            InterfaceSpec { host: c.host.clone(), device: "eth0".into(), mac: c.mac.clone(), ip: c.ip.clone(), network, primary: true };
        return insert_interface(conn, host_id, &spec);
    };
    if let Some(mac) = &c.mac {
        let mac = parse_mac(mac)?;
        let sql = "SELECT h.name FROM interfaces i JOIN hosts h ON h.id = i.host_id WHERE i.mac = ?1 AND i.id <> ?2";
        if let Some(owner) = conn.query_row(sql, params![mac, iface_id], |r| r.get(0)).optional()? {
            return Err(FactsError::DuplicateMac { mac, owner });
        }
        conn.execute("UPDATE interfaces SET mac = ?1 WHERE id = ?2", params![mac, iface_id])?;
    }
    let network = match (&c.network, network_id) {
        (Some(n), _) => Some(load_network(conn, n)?),
        (None, Some(id)) => {
            let name: String = conn.query_row("SELECT name FROM networks WHERE id = ?1", [id], |r| r.get(0))?;
            Some(load_network(conn, &name)?)
        }
        (None, None) if c.ip.is_some() => Some(load_network(conn, &appliance_network()?)?),
        (None, None) => None,
    };
    let current: Option<String> = conn.query_row("SELECT ip FROM interfaces WHERE id = ?1", [iface_id], |r| r.get(0))?;
    let ip = c.ip.as_deref().or(current.as_deref()).filter(|i| !i.trim().is_empty()).map(parse_ip).transpose()?;
    if let (Some(ip), Some((net_id, net))) = (ip, &network) {
        if !net.contains(ip) {
            return Err(net.outside(ip));
        }
        let sql = "SELECT h.name FROM interfaces i JOIN hosts h ON h.id = i.host_id WHERE i.network_id = ?1 AND i.ip = ?2 AND i.id <> ?3";
        if let Some(owner) = conn.query_row(sql, params![net_id, ip.to_string(), iface_id], |r| r.get(0)).optional()? {
            return Err(FactsError::DuplicateIp { ip: ip.to_string(), network: net.name.clone(), owner });
        }
    }
    conn.execute(
        "UPDATE interfaces SET ip = ?1, ip_key = ?2, network_id = ?3 WHERE id = ?4",
        params![ip.map(|i| i.to_string()), ip.map(ip_key), network.as_ref().map(|(id, _)| *id), iface_id],
    )?;
    if c.primary {
        if c.device.as_deref() == Some(super::bmc::BMC_DEVICE) {
            return Err(super::bmc::bmc_not_primary());
        }
        conn.execute("UPDATE interfaces SET is_primary = 0 WHERE host_id = ?1 AND id <> ?2", params![host_id, iface_id])?;
        conn.execute("UPDATE interfaces SET is_primary = 1 WHERE id = ?1", [iface_id])?;
    }
    Ok(())
}

/// Validate and insert an interface of host `host_id`.
pub(crate) fn insert_interface(conn: &Connection, host_id: i64, spec: &InterfaceSpec) -> Result<()> {
    check_name("device", &spec.device)?;
    let bmc = spec.device == super::bmc::BMC_DEVICE;
    if bmc && spec.primary {
        return Err(super::bmc::bmc_not_primary());
    }
    let mac = spec.mac.as_deref().filter(|m| !m.trim().is_empty()).map(parse_mac).transpose()?;
    let ip = spec.ip.as_deref().filter(|i| !i.trim().is_empty()).map(parse_ip).transpose()?;
    if let Some(mac) = &mac
        && let Some(owner) = mac_owner(conn, mac)?
    {
        return Err(FactsError::DuplicateMac { mac: mac.clone(), owner });
    }
    let network_name = spec.network.as_deref().filter(|n| !n.is_empty()).or(ip.map(|_| "private"));
    let network = network_name.map(|n| load_network(conn, n)).transpose()?;
    if let (Some(ip), Some((id, net))) = (ip, &network) {
        check_ip(conn, *id, net, ip)?;
    }
    let taken = conn
        .query_row("SELECT 1 FROM interfaces WHERE host_id = ?1 AND device = ?2", params![host_id, spec.device], |_| Ok(()))
        .optional()?;
    if taken.is_some() {
        return Err(FactsError::DuplicateName { kind: "interface", name: format!("{} {}", spec.host, spec.device) });
    }
    let has_primary =
        conn.query_row("SELECT 1 FROM interfaces WHERE host_id = ?1 AND is_primary = 1", [host_id], |_| Ok(())).optional()?.is_some();
    // A BMC is never primary: the host's first own interface becomes primary instead.
    let primary = !bmc && (spec.primary || !has_primary);
    if primary && has_primary {
        conn.execute("UPDATE interfaces SET is_primary = 0 WHERE host_id = ?1", [host_id])?;
    }
    conn.execute(
        "INSERT INTO interfaces (host_id, device, mac, ip, ip_key, network_id, is_primary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![host_id, spec.device, mac, ip.map(|i| i.to_string()), ip.map(ip_key), network.map(|(id, _)| id), primary],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::hosts::HostSpec;
    use crate::facts::testutil::{assert_unchanged, temp_db};

    fn iface(device: &str, mac: Option<&str>, ip: Option<&str>, primary: bool) -> InterfaceSpec {
        InterfaceSpec {
            host: "nas-0-0".into(),
            device: device.into(),
            mac: mac.map(Into::into),
            ip: ip.map(Into::into),
            network: None,
            primary,
        }
    }

    #[test]
    fn add_list_remove_and_primary() {
        let (_dir, mut db) = temp_db();
        db.add_host(&HostSpec::new("nas-0-0", "nas")).unwrap();
        db.add_interface(&iface("eth0", Some("52:54:00:00:00:01"), Some("10.1.255.254"), false)).unwrap();
        db.add_interface(&iface("eth1", Some("52:54:00:00:00:02"), None, false)).unwrap();
        let list = db.interfaces(Some("nas-0-0")).unwrap();
        assert_eq!(list.iter().map(|i| (i.device.as_str(), i.primary)).collect::<Vec<_>>(), [("eth0", true), ("eth1", false)]);
        db.add_interface(&iface("ib0", None, Some("10.1.200.1"), true)).unwrap();
        assert_eq!(db.host("nas-0-0").unwrap().device.as_deref(), Some("ib0"));
        db.remove_interface("nas-0-0", "ib0").unwrap();
        assert_eq!(db.interfaces(None).unwrap().len(), 2);
        assert_eq!(db.host("nas-0-0").unwrap().ip, None, "no primary until one is chosen");
    }

    #[test]
    fn bad_interfaces_change_nothing() {
        let (_dir, mut db) = temp_db();
        db.add_host(&HostSpec::new("nas-0-0", "nas")).unwrap();
        db.add_interface(&iface("eth0", Some("52:54:00:00:00:01"), Some("10.1.255.254"), false)).unwrap();
        let cases = [
            (iface("eth0", None, None, false), "facts::duplicate-name"),
            (iface("eth1", Some("52:54:00:00:00:01"), None, false), "facts::duplicate-mac"),
            (iface("eth1", None, Some("10.1.255.254"), false), "facts::duplicate-ip"),
            (iface("eth1", None, Some("192.168.1.1"), false), "facts::ip-outside-network"),
            (InterfaceSpec { host: "nope".into(), ..iface("eth1", None, None, false) }, "facts::unknown-host"),
        ];
        for (s, code) in cases {
            let e = assert_unchanged(&mut db, |db| db.add_interface(&s));
            assert_eq!(e.code(), code, "{s:?}: {e}");
        }
        let e = assert_unchanged(&mut db, |db| db.remove_interface("nas-0-0", "eth9"));
        assert_eq!(e.code(), "facts::unknown-name");
    }
}
