//! Synthetic clusters for benchmarks: many hosts with MACs and IPs, added fast.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, params};

use super::Db;
use super::addr::{Countdown, format_mac};
use super::allocate::used_ips;
use super::appliance::load_appliance;
use super::distribution::default_distribution_id;
use super::error::{FactsError, Result};
use super::hosts::next_rank;
use super::network::{NetworkSpec, insert_network, load_network};
use super::template::{Template, TemplateVars};

/// Clusters larger than this go on the network [`BIG_NETWORK`] (10.0.0.0/8) instead of
/// `private` (a /16 holds 65534 hosts, minus the frontend's addresses).
pub const BIG_CLUSTER: usize = 60_000;

/// The network created for big generated clusters.
pub const BIG_NETWORK: &str = "generated";

/// What [`generate`] added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub hosts: usize,
    /// The network the hosts' `eth0` interfaces are on.
    pub network: String,
}

/// Add `n_hosts` hosts spread round-robin over `appliances`, then over racks `0..racks`,
/// named by each appliance's naming policy with the next free ranks, with locally
/// administered MACs (`02:…`) and IPs counting down from the top of the network. One
/// transaction with prepared statements: 100k hosts take about a second in release builds.
pub fn generate(db: &mut Db, n_hosts: usize, racks: u32, appliances: &[&str]) -> Result<Generated> {
    if appliances.is_empty() {
        return Err(FactsError::bad_value("appliance list", "", "give at least one appliance"));
    }
    if racks == 0 {
        return Err(FactsError::bad_value("rack count", "0", "give at least one rack"));
    }
    db.write("generate hosts", |tx| add_hosts(tx, n_hosts, racks, appliances))
}

fn add_hosts(conn: &Connection, n_hosts: usize, racks: u32, appliances: &[&str]) -> Result<Generated> {
    let network = if n_hosts > BIG_CLUSTER { big_network(conn)? } else { "private".to_string() };
    let (network_id, net) = load_network(conn, &network)?;
    let mut apps: Vec<(i64, Template, u32)> = Vec::new();
    for name in appliances {
        let (id, app) = load_appliance(conn, name)?;
        apps.push((id, app.policies()?.0, app.first_rank));
    }
    let distribution = default_distribution_id(conn)?;
    let mut ips = Countdown::new(&net.cidr, used_ips(conn, network_id)?.into_iter().chain(net.reserved()));
    let mut names: HashSet<String> = column(conn, "SELECT name FROM hosts UNION ALL SELECT name FROM aliases")?.into_iter().collect();
    let macs: HashSet<String> = column(conn, "SELECT mac FROM interfaces WHERE mac IS NOT NULL")?.into_iter().collect();
    let mut next_mac = 0u64;
    let mut ranks: HashMap<(usize, u32), u32> = HashMap::new();
    let mut insert_host =
        conn.prepare("INSERT INTO hosts (name, appliance_id, rack, rank, cpus, distribution_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    let mut insert_iface = conn.prepare(
        "INSERT INTO interfaces (host_id, device, mac, ip, ip_key, network_id, is_primary) VALUES (?1, 'eth0', ?2, ?3, ?4, ?5, 1)",
    )?;
    for i in 0..n_hosts {
        let a = i % apps.len();
        let rack = ((i / apps.len()) % racks as usize) as u32;
        let (appliance_id, policy, first_rank) = &apps[a];
        let rank = match ranks.entry((a, rack)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(next_rank(conn, *appliance_id, rack, *first_rank)?),
        };
        let name = loop {
            let name = policy.render(&TemplateVars { appliance: appliances[a], rack, rank: *rank });
            *rank += 1;
            if names.insert(name.clone()) {
                break name;
            }
        };
        let mac = loop {
            let bytes = (0x0200_0000_0000u64 | next_mac).to_be_bytes();
            next_mac += 1;
            let mac = format_mac(&bytes[2..]);
            if !macs.contains(&mac) {
                break mac;
            }
        };
        let ip = ips.next().ok_or_else(|| FactsError::NoFreeAddress(net.name.clone()))?;
        let cpus = [8u32, 16, 32, 64][i % 4];
        insert_host.execute(params![name, appliance_id, rack, *rank - 1, cpus, distribution])?;
        let host_id = conn.last_insert_rowid();
        insert_iface.execute(params![host_id, mac, ip.to_string(), super::addr::ip_key(ip), network_id])?;
    }
    Ok(Generated { hosts: n_hosts, network })
}

/// Find or create the 10.0.0.0/8 network for big clusters.
fn big_network(conn: &Connection) -> Result<String> {
    match load_network(conn, BIG_NETWORK) {
        Ok(_) => {}
        Err(FactsError::UnknownNetwork(_)) => {
            let spec = NetworkSpec {
                name: BIG_NETWORK.into(),
                cidr: "10.0.0.0/8".into(),
                zone: "generated.local".into(),
                mtu: 1500,
                gateway: None,
                dns_servers: vec![],
                dhcp: true,
            };
            insert_network(conn, &spec)?;
        }
        Err(e) => return Err(e),
    }
    Ok(BIG_NETWORK.to_string())
}

fn column(conn: &Connection, sql: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let values = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::testutil::{assert_unchanged, temp_db};

    #[test]
    fn ten_thousand_hosts_with_distinct_names_macs_and_ips() {
        let (_dir, mut db) = temp_db();
        let start = std::time::Instant::now();
        let got = generate(&mut db, 10_000, 8, &["compute", "login"]).unwrap();
        let took = start.elapsed();
        assert_eq!(got, Generated { hosts: 10_000, network: "private".into() });
        let ifaces = db.interfaces(None).unwrap();
        assert_eq!(ifaces.len(), 10_000);
        let distinct = |f: fn(&crate::facts::Interface) -> Option<String>| ifaces.iter().filter_map(f).collect::<HashSet<_>>().len();
        assert_eq!(distinct(|i| i.mac.clone()), 10_000);
        assert_eq!(distinct(|i| i.ip.clone()), 10_000);
        let h = db.host("compute-0-0").unwrap();
        assert_eq!((h.ip.as_deref(), h.mac.as_deref()), (Some("10.1.255.254"), Some("02:00:00:00:00:00")));
        assert_eq!(db.host("login-7-624").unwrap().rack, 7);
        assert!(took.as_secs() < 30, "generate took {took:?}");
        // Adding more continues ranks and addresses.
        generate(&mut db, 2, 1, &["compute"]).unwrap();
        let h = db.host("compute-0-625").unwrap();
        assert_eq!(h.ip.as_deref(), Some("10.1.216.238"));
    }

    /// `cargo test --release --lib facts::generate -- --ignored --nocapture`
    #[test]
    #[ignore = "slow in debug builds; a benchmark-sized run"]
    fn hundred_thousand_hosts() {
        let (_dir, mut db) = temp_db();
        let start = std::time::Instant::now();
        let got = generate(&mut db, 100_000, 40, &["compute", "login", "nas"]).unwrap();
        eprintln!("generated 100k hosts in {:?}", start.elapsed());
        assert_eq!(got.network, BIG_NETWORK);
        assert_eq!(db.query_hosts("SELECT count(*) FROM host_view WHERE ip IS NOT NULL").unwrap(), ["100000"]);
    }

    #[test]
    fn bad_arguments_change_nothing() {
        let (_dir, mut db) = temp_db();
        let e = assert_unchanged(&mut db, |db| generate(db, 10, 2, &["compute", "gpu"]));
        assert_eq!(e.code(), "facts::unknown-appliance");
        let e = assert_unchanged(&mut db, |db| generate(db, 10, 0, &["compute"]));
        assert_eq!(e.code(), "facts::bad-value");
    }
}
