//! Moving a network to another address plan (`network set NAME --cidr`) and removing one
//! (`network remove`).
//!
//! A renumber moves every address of the network in one transaction:
//! - the gateway and DNS servers take the values given with the new CIDR, else keep their
//!   place counted from the nearer end of the network (`.1` stays the first usable address,
//!   `.254` the last); an address that has no such place cannot move;
//! - an interface whose address was the old gateway or a DNS server follows it (the
//!   frontend usually is both);
//! - every other interface is allocated again by its appliance's address policy: a template
//!   renders its address (which must lie in the new network), `countdown` hands out the new
//!   network's addresses from the top in the order of the old ones, highest first;
//! - install servers on the network follow their host's interface (or the gateway), and
//!   their URLs with them.
//!
//! When any address cannot move, the command lists every one of them and changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use rusqlite::{Connection, params};

use super::Db;
use super::addr::{Countdown, ip_key, parse_cidr, parse_ip};
use super::appliance::{IpPolicy, load_appliance};
use super::error::{FactsError, Result};
use super::network::{Network, NetworkChange, load_network, set_network};
use super::template::TemplateVars;
use crate::model::addr::{ip_from_num, ip_num, is_usable, usable_range};

/// How `network set --cidr` renumbers a network: its new CIDR, and optionally the new
/// gateway (`Some("")`: none) and DNS servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renumber {
    pub cidr: String,
    pub gateway: Option<String>,
    pub dns_servers: Option<Vec<String>>,
}

/// One address that moved: (host or what it is, device, old, new).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub owner: String,
    pub old: IpAddr,
    pub new: IpAddr,
}

impl Db {
    /// Renumber network `name` ([`Renumber`]) and apply the rest of `also` (zone, MTU, DHCP)
    /// in the same transaction; returns every address that moved, in the order of the old
    /// addresses.
    pub fn renumber_network(&mut self, name: &str, r: &Renumber, also: &NetworkChange) -> Result<Vec<Moved>> {
        self.write("renumber network", |tx| {
            let moved = renumber(tx, name, r)?;
            let rest = NetworkChange { gateway: None, dns_servers: None, ..also.clone() };
            if rest != NetworkChange::default() {
                set_network(tx, name, &rest)?;
            }
            Ok(moved)
        })
    }

    /// Remove network `name`: refused while an interface, an appliance or an install server
    /// uses it, and for `private`, the cluster's own network.
    pub fn remove_network(&mut self, name: &str) -> Result<()> {
        self.write("remove network", |tx| {
            let (id, net) = load_network(tx, name)?;
            let mut users = Vec::new();
            let mut stmt = tx.prepare(
                "SELECT h.name || ' ' || i.device FROM interfaces i JOIN hosts h ON h.id = i.host_id
                 WHERE i.network_id = ?1 ORDER BY h.name, i.device",
            )?;
            users.extend(stmt.query_map([id], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?.into_iter().map(|u| format!("interface {u}")));
            let mut stmt = tx.prepare("SELECT name FROM appliances WHERE network = ?1 ORDER BY name")?;
            users.extend(stmt.query_map([name], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?.into_iter().map(|a| format!("appliance {a}")));
            let mut stmt = tx.prepare("SELECT name, ip FROM install_servers ORDER BY name")?;
            let servers = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
            users.extend(servers.into_iter().filter(|(_, ip)| ip.parse().is_ok_and(|ip| net.contains(ip))).map(|(s, _)| format!("install server {s}")));
            if name == "private" {
                users.insert(0, "the cluster (its frontend, DHCP and built-in attributes)".to_string());
            }
            if !users.is_empty() {
                return Err(FactsError::NetworkInUse { network: name.to_string(), users });
            }
            tx.execute("DELETE FROM networks WHERE id = ?1", [id])?;
            Ok(())
        })
    }
}

/// Does `cidr` overlap a network other than `except`? Its name and CIDR if so.
pub(crate) fn overlapping(conn: &Connection, cidr: &IpNet, except: Option<i64>) -> Result<Option<(String, String)>> {
    let mut stmt = conn.prepare("SELECT id, name, cidr FROM networks ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
    for row in rows {
        let (id, name, other) = row?;
        if Some(id) == except {
            continue;
        }
        if let Ok(o) = other.parse::<IpNet>()
            && (o.contains(&cidr.network()) || cidr.contains(&o.network()))
        {
            return Ok(Some((name, other)));
        }
    }
    Ok(None)
}

/// `ip`'s place in `new`, counted from the nearer end of `old`'s usable range.
fn same_place(old: &IpNet, new: &IpNet, ip: IpAddr) -> Option<IpAddr> {
    if old.addr().is_ipv4() != new.addr().is_ipv4() {
        return None;
    }
    let (of, ol) = usable_range(old);
    let (nf, nl) = usable_range(new);
    let n = ip_num(ip);
    if !(of..=ol).contains(&n) {
        return None;
    }
    let moved = if n - of <= ol - n { nf.checked_add(n - of)? } else { nl.checked_sub(ol - n)? };
    (nf..=nl).contains(&moved).then(|| ip_from_num(new.addr(), moved))
}

struct Iface {
    id: i64,
    host: String,
    device: String,
    appliance: String,
    app_network: String,
    rack: u32,
    rank: u32,
    ip: IpAddr,
}

fn renumber(tx: &Connection, name: &str, r: &Renumber) -> Result<Vec<Moved>> {
    let (id, old) = load_network(tx, name)?;
    let cidr = parse_cidr(&r.cidr)?;
    if let Some((other, other_cidr)) = overlapping(tx, &cidr, Some(id))? {
        return Err(FactsError::NetworksOverlap { network: name.to_string(), cidr: cidr.to_string(), other, other_cidr });
    }
    let mut blocked = Vec::new();
    // The gateway and DNS servers: given, else at the same place.
    let follow = |ip: IpAddr, what: &str, blocked: &mut Vec<String>| match same_place(&old.cidr, &cidr, ip) {
        Some(n) => Some(n),
        None => {
            blocked.push(format!("{what} {ip} (no place for it in {cidr}: give {})", if what == "gateway" { "--gateway" } else { "--dns" }));
            None
        }
    };
    let gateway = match &r.gateway {
        Some(g) if g.trim().is_empty() => None,
        Some(g) => Some(parse_ip(g)?),
        None => old.gateway.and_then(|g| follow(g, "gateway", &mut blocked)),
    };
    if let Some(gw) = gateway.filter(|gw| !is_usable(&cidr, *gw)) {
        return Err(FactsError::IpOutsideNetwork { ip: gw.to_string(), network: name.to_string(), cidr: cidr.to_string() });
    }
    let dns: Vec<IpAddr> = match &r.dns_servers {
        Some(list) => list.iter().map(|s| parse_ip(s)).collect::<Result<_>>()?,
        None => old
            .dns_servers
            .iter()
            .filter_map(|&d| if !old.contains(d) { Some(d) } else if Some(d) == old.gateway { gateway } else { follow(d, "DNS server", &mut blocked) })
            .collect(),
    };
    // Old address -> new address of the gateway and the DNS servers inside the old network.
    let mut fixed: HashMap<IpAddr, IpAddr> = HashMap::new();
    if let (Some(o), Some(n)) = (old.gateway, gateway) {
        fixed.insert(o, n);
    }
    if r.dns_servers.is_some() || old.dns_servers.iter().all(|d| old.contains(*d)) {
        let inside: Vec<IpAddr> = old.dns_servers.iter().copied().filter(|d| old.contains(*d)).collect();
        for (o, n) in inside.iter().zip(dns.iter().filter(|d| cidr.contains(*d))) {
            fixed.entry(*o).or_insert(*n);
        }
    }

    let ifaces = interfaces_on(tx, id)?;
    let new_net = Network { cidr, gateway, dns_servers: dns.clone(), ..old.clone() };
    let mut taken: Vec<IpAddr> = new_net.reserved();
    let mut plan: BTreeMap<i64, IpAddr> = BTreeMap::new();
    // Followers of the gateway and DNS servers, then templates, then countdown.
    let mut rest = Vec::new();
    for f in &ifaces {
        match fixed.get(&f.ip) {
            Some(&n) => {
                plan.insert(f.id, n);
            }
            None => rest.push(f),
        }
    }
    let mut policies: HashMap<String, IpPolicy> = HashMap::new();
    let mut countdown = Vec::new();
    for f in rest {
        let policy = match policies.get(&f.appliance) {
            Some(p) => p.clone(),
            None => {
                let (_, app) = load_appliance(tx, &f.appliance)?;
                let p = app.policies()?.1;
                policies.insert(f.appliance.clone(), p.clone());
                p
            }
        };
        match policy {
            // A template gives addresses of its appliance's network only.
            IpPolicy::Template(t) if f.app_network == name => {
                let text = t.render(&TemplateVars { appliance: &f.appliance, rack: f.rack, rank: f.rank });
                match parse_ip(&text) {
                    Ok(n) if is_usable(&cidr, n) => {
                        plan.insert(f.id, n);
                    }
                    _ => blocked.push(format!(
                        "{} {} {} (the address template of appliance `{}` gives {text}, outside {cidr})",
                        f.host, f.device, f.ip, f.appliance
                    )),
                }
            }
            _ => countdown.push(f),
        }
    }
    taken.extend(plan.values().copied());
    let mut seen: HashMap<IpAddr, &str> = HashMap::new();
    for (iface, ip) in &plan {
        let owner = ifaces.iter().find(|f| f.id == *iface).map_or("", |f| f.host.as_str());
        if let Some(other) = seen.insert(*ip, owner) {
            blocked.push(format!("{owner} and {other} would both get {ip}"));
        }
    }
    // Highest old address first gets the highest new one.
    countdown.sort_by_key(|f| std::cmp::Reverse(ip_num(f.ip)));
    let mut free = Countdown::new(&cidr, taken);
    for f in countdown {
        match free.next() {
            Some(n) => {
                plan.insert(f.id, n);
            }
            None => blocked.push(format!("{} {} {} (no free address left in {cidr})", f.host, f.device, f.ip)),
        }
    }
    if !blocked.is_empty() {
        return Err(FactsError::CannotRenumber { network: name.to_string(), cidr: cidr.to_string(), blocked });
    }

    let (first, last) = usable_range(&cidr);
    let key = |n: u128| ip_key(ip_from_num(cidr.addr(), n));
    tx.execute(
        "UPDATE networks SET cidr = ?1, first_key = ?2, last_key = ?3, gateway = ?4, dns_servers = ?5 WHERE id = ?6",
        params![
            cidr.to_string(),
            key(first),
            key(last),
            gateway.map(|g| g.to_string()),
            dns.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","),
            id
        ],
    )?;
    // Clear first: an address may pass from one interface to another.
    tx.execute("UPDATE interfaces SET ip = NULL, ip_key = NULL WHERE network_id = ?1", [id])?;
    let mut set = tx.prepare("UPDATE interfaces SET ip = ?1, ip_key = ?2 WHERE id = ?3")?;
    for (iface, ip) in &plan {
        set.execute(params![ip.to_string(), ip_key(*ip), iface])?;
    }
    let mut moved: Vec<Moved> = ifaces
        .iter()
        .filter_map(|f| plan.get(&f.id).map(|&new| Moved { owner: format!("{} {}", f.host, f.device), old: f.ip, new }))
        .collect();
    // Install servers move with the address they had.
    let by_old: HashMap<IpAddr, IpAddr> = moved.iter().map(|m| (m.old, m.new)).chain(fixed.iter().map(|(o, n)| (*o, *n))).collect();
    let mut stmt = tx.prepare("SELECT name, ip, url FROM install_servers ORDER BY name")?;
    let servers = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
    for (server, ip, url) in servers {
        let Some(new) = ip.parse::<IpAddr>().ok().and_then(|o| by_old.get(&o)) else { continue };
        let url = url.replacen(&format!("//{ip}"), &format!("//{new}"), 1);
        tx.execute("UPDATE install_servers SET ip = ?1, url = ?2 WHERE name = ?3", params![new.to_string(), url, server])?;
        moved.push(Moved { owner: format!("install server {server}"), old: ip.parse().expect("parsed above"), new: *new });
    }
    moved.sort_by_key(|m| (ip_num(m.old), m.owner.clone()));
    Ok(moved)
}

fn interfaces_on(tx: &Connection, network_id: i64) -> Result<Vec<Iface>> {
    let mut stmt = tx.prepare(
        "SELECT i.id, h.name, i.device, a.name, a.network, h.rack, h.rank, i.ip
         FROM interfaces i JOIN hosts h ON h.id = i.host_id JOIN appliances a ON a.id = h.appliance_id
         WHERE i.network_id = ?1 AND i.ip IS NOT NULL ORDER BY i.id",
    )?;
    let rows = stmt.query_map([network_id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get::<_, String>(7)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, host, device, appliance, app_network, rack, rank, ip) = row?;
        out.push(Iface { id, host, device, appliance, app_network, rack, rank, ip: parse_ip(&ip)? });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::HostSpec;
    use crate::facts::testutil::{assert_unchanged, temp_db};

    const NC: NetworkChange = NetworkChange { zone: None, mtu: None, gateway: None, dns_servers: None, dhcp: None };

    fn renumber(cidr: &str, gw: Option<&str>) -> Renumber {
        Renumber { cidr: cidr.into(), gateway: gw.map(Into::into), dns_servers: None }
    }

    #[test]
    fn places_are_kept_from_the_nearer_end() {
        let old: IpNet = "10.1.0.0/16".parse().unwrap();
        let new: IpNet = "10.77.0.0/24".parse().unwrap();
        let at = |s: &str| same_place(&old, &new, s.parse().unwrap()).map(|i| i.to_string());
        assert_eq!(at("10.1.0.1").as_deref(), Some("10.77.0.1"));
        assert_eq!(at("10.1.255.254").as_deref(), Some("10.77.0.254"));
        assert_eq!(at("10.1.255.200").as_deref(), Some("10.77.0.200"));
        assert_eq!(at("10.1.1.1"), None, "offset 256 from the bottom has no place in a /24");
    }

    #[test]
    fn a_cluster_moves_with_its_frontend_and_keeps_its_order() {
        let (_dir, mut db) = temp_db();
        db.add_host(&HostSpec { ip: Some("10.1.1.1".into()), ..HostSpec::new("cluster", "frontend") }).unwrap();
        for n in 0..3 {
            db.add_host(&HostSpec { rank: Some(n), allocate_ip: true, ..HostSpec::new(&format!("compute-0-{n}"), "compute") }).unwrap();
        }
        db.add_server("fe", "10.1.1.1", None).unwrap();
        let e = assert_unchanged(&mut db, |db| db.renumber_network("private", &renumber("10.77.0.0/24", None), &NC));
        assert_eq!(e.code(), "facts::cannot-renumber");
        assert!(e.to_string().contains("gateway 10.1.1.1"), "{e}");
        let moved = db.renumber_network("private", &renumber("10.77.0.0/24", Some("10.77.0.1")), &NC).unwrap();
        let got: Vec<String> = moved.iter().map(|m| format!("{} {} {}", m.owner, m.old, m.new)).collect();
        assert_eq!(
            got,
            [
                "cluster eth0 10.1.1.1 10.77.0.1",
                "install server fe 10.1.1.1 10.77.0.1",
                "compute-0-2 eth0 10.1.255.252 10.77.0.252",
                "compute-0-1 eth0 10.1.255.253 10.77.0.253",
                "compute-0-0 eth0 10.1.255.254 10.77.0.254",
            ]
        );
        let net = db.network("private").unwrap();
        assert_eq!(net.cidr.to_string(), "10.77.0.0/24");
        assert_eq!(net.dns_servers, ["10.77.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(db.servers().unwrap()[0].url, "http://10.77.0.1/install/rocks");
        // New hosts are allocated in the new network.
        db.add_host(&HostSpec { rank: Some(3), allocate_ip: true, ..HostSpec::new("compute-0-3", "compute") }).unwrap();
        assert_eq!(db.host("compute-0-3").unwrap().ip.as_deref(), Some("10.77.0.251"));
    }

    #[test]
    fn overlaps_and_users_are_refused() {
        let (_dir, mut db) = temp_db();
        db.add_network(&crate::facts::NetworkSpec {
            name: "ib".into(),
            cidr: "10.2.0.0/16".into(),
            zone: "ib".into(),
            mtu: 2044,
            gateway: None,
            dns_servers: vec![],
            dhcp: false,
        })
        .unwrap();
        let e = assert_unchanged(&mut db, |db| db.renumber_network("private", &renumber("10.2.128.0/24", Some("10.2.128.1")), &NC));
        assert_eq!(e.code(), "facts::networks-overlap", "{e}");
        assert_eq!(assert_unchanged(&mut db, |db| db.remove_network("private")).code(), "facts::network-in-use");
        db.add_host(&HostSpec::new("compute-0-0", "compute")).unwrap();
        db.add_interface(&crate::facts::InterfaceSpec {
            host: "compute-0-0".into(),
            device: "ib0".into(),
            mac: None,
            ip: Some("10.2.0.5".into()),
            network: Some("ib".into()),
            primary: false,
        })
        .unwrap();
        let e = assert_unchanged(&mut db, |db| db.remove_network("ib"));
        assert!(e.to_string().contains("interface compute-0-0 ib0"), "{e}");
        db.remove_interface("compute-0-0", "ib0").unwrap();
        db.remove_network("ib").unwrap();
        assert_eq!(db.network("ib").unwrap_err().code(), "facts::unknown-network");
    }
}
