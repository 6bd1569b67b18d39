//! insert-ethers: turn ISC dhcpd log lines into new hosts.
//!
//! Recognised lines (case-insensitive keywords and MACs, octets may lack leading zeros):
//! - syslog: `Nov 23 10:00:01 fe dhcpd[123]: DHCPDISCOVER from 52:54:00:12:34:56 via eth0`
//! - `dhcpd -d`: `DHCPDISCOVER from 52:54:00:12:34:56 (node) via eth0: network 10.1.0.0/16: no free leases`
//! - `BOOTREQUEST from 52:54:00:12:34:56 via eth0`
//!
//! Each unknown MAC, in the order first seen, becomes a host named by the appliance's naming
//! policy (see [`super::appliance`]) with an interface `eth0` on the appliance's network.
//! Known MACs are skipped, so running discovery twice changes nothing. The whole allocation
//! runs in one `BEGIN IMMEDIATE` transaction: concurrent discoverers queue on the write lock
//! (busy timeout 10 s) and each sees the others' hosts, so no name or IP is handed out twice.

use std::collections::HashSet;

use rusqlite::Connection;

use super::Db;
use super::addr::parse_mac;
use super::allocate::Allocator;
use super::appliance::load_appliance;
use super::error::Result;
use super::hosts::{HostSpec, insert_host, name_taken, next_rank};
use super::interface::mac_owner;
use super::network::load_network;
use super::template::TemplateVars;

/// Which kind of request a log line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpKind {
    Discover,
    BootRequest,
}

/// One request found in a dhcpd log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpRequest {
    pub kind: DhcpKind,
    /// Normalised: lower-case, colon-separated.
    pub mac: String,
    /// The frontend interface it arrived on (`via eth0`), when given.
    pub via: Option<String>,
}

/// A host created by discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHost {
    pub name: String,
    pub appliance: String,
    pub rack: u32,
    pub rank: u32,
    pub mac: String,
    pub ip: String,
    pub network: String,
}

/// The request in a dhcpd log line, or `None` for any other line.
pub fn parse_dhcpd_line(line: &str) -> Option<DhcpRequest> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| w.eq_ignore_ascii_case("DHCPDISCOVER") || w.eq_ignore_ascii_case("BOOTREQUEST"))?;
    let kind = if words[at].eq_ignore_ascii_case("BOOTREQUEST") { DhcpKind::BootRequest } else { DhcpKind::Discover };
    if !words.get(at + 1)?.eq_ignore_ascii_case("from") {
        return None;
    }
    let mac = lenient_mac(words.get(at + 2)?)?;
    let rest = &words[at + 3..];
    let via = rest
        .iter()
        .position(|w| w.eq_ignore_ascii_case("via"))
        .and_then(|i| rest.get(i + 1))
        .map(|w| w.trim_end_matches([':', ',']).to_string());
    Some(DhcpRequest { kind, mac, via })
}

/// dhcpd prints octets with `%x`, so `52:54:0:a:b:c` is a valid MAC in its logs.
fn lenient_mac(word: &str) -> Option<String> {
    let word = word.trim_end_matches([':', ',']);
    let octets: Vec<&str> = word.split(':').collect();
    if octets.len() == 6 && octets.iter().all(|o| (1..=2).contains(&o.len())) {
        let padded: Vec<String> = octets.iter().map(|o| format!("{o:0>2}")).collect();
        return parse_mac(&padded.join(":")).ok();
    }
    parse_mac(word).ok()
}

impl Db {
    /// insert-ethers: add a host of `appliance` in `rack` for every unknown MAC in `lines`.
    /// Returns the new hosts in the order their MACs first appeared.
    pub fn discover<I, S>(&mut self, appliance: &str, rack: u32, lines: I) -> Result<Vec<NewHost>>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut seen = HashSet::new();
        let mut added = Vec::new();
        for r in lines.into_iter().filter_map(|l| parse_dhcpd_line(l.as_ref())) {
            if seen.insert(r.mac.clone()) {
                added.extend(self.discover_one(appliance, rack, &r.mac)?);
            }
        }
        Ok(added)
    }

    /// Add the host whose DHCP request came from `mac`, unless a host has that MAC, in one
    /// transaction (what `discover` does as each log line arrives).
    pub fn discover_one(&mut self, appliance: &str, rack: u32, mac: &str) -> Result<Option<NewHost>> {
        self.write("discover a host", |tx| Ok(allocate(tx, appliance, rack, &[mac.to_string()])?.pop()))
    }
}

fn allocate(conn: &Connection, appliance: &str, rack: u32, macs: &[String]) -> Result<Vec<NewHost>> {
    let (appliance_id, app) = load_appliance(conn, appliance)?;
    let (name_policy, ip_policy) = app.policies()?;
    let (network_id, network) = load_network(conn, &app.network)?;
    let mut ips = Allocator::new(conn, network_id, network, ip_policy)?;
    let mut rank = next_rank(conn, appliance_id, rack, app.first_rank)?;
    let mut added = Vec::new();
    for mac in macs {
        if mac_owner(conn, mac)?.is_some() {
            continue;
        }
        let vars = |rank| TemplateVars { appliance, rack, rank };
        while name_taken(conn, &name_policy.render(&vars(rank)))? {
            rank += 1;
        }
        let name = name_policy.render(&vars(rank));
        let ip = ips.next(conn, &vars(rank))?;
        let network = ips.network().name.clone();
        let spec = HostSpec {
            rack,
            rank: Some(rank),
            mac: Some(mac.clone()),
            ip: Some(ip.to_string()),
            network: Some(network.clone()),
            device: Some("eth0".into()),
            // Its CPUs are not known: 0 leaves them to the scheduler (no `CPUs=` line).
            cpus: Some(0),
            ..HostSpec::new(&name, appliance)
        };
        insert_host(conn, &spec)?;
        added.push(NewHost { name, appliance: appliance.to_string(), rack, rank, mac: mac.clone(), ip: ip.to_string(), network });
        rank += 1;
    }
    Ok(added)
}

#[cfg(test)]
mod tests;
