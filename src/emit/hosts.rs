//! `hosts`: loopback lines, then every interface with an address (FQDN, short name, aliases).
//!
//! This file also decides which names the cluster's addresses have ([`names`]); the DNS zones
//! of [`crate::emit::dns`] publish exactly the same names, so `/etc/hosts` and DNS agree.
//!
//! - The primary interface of a host carries the host's name and its aliases.
//! - The host's BMC (interface `bmc`) is `<host>-bmc`, or what the `bmc_name_pattern`
//!   attribute makes of the host name ([`crate::emit::bmc`]).
//! - Any other interface with an address is `<host>-<device>`, with every character of the
//!   device that is not a letter, digit or `-` replaced by `-` (`eth0.100` -> `eth0-100`).
//! - An install server whose address is no interface's is named after the server.
//! - A derived name that is already taken (case-insensitively, by a host, an alias or an
//!   earlier derived name) gets `-2`, `-3`, ... appended, so every name means one address.
//! - The FQDN is `<name>.<zone>`, the zone being that of the interface's network (else of the
//!   network containing the address). An address on no known network has only its short name.
//!
//! Lines are sorted by address (IPv4 before IPv6, numerically), then by name.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;

use super::bmc::bmc_name;
use crate::model::Cluster;
use crate::plan::{Artifact, Kind, Site};
use crate::render::render;

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    if !site.wants(Kind::Hosts) {
        return Ok(Vec::new());
    }
    let lines = names(site).iter().map(Named::hosts_line).collect();
    let text = render("hosts.j2", &HostsContext { lines })?;
    Ok(vec![
        Artifact::new(Kind::Hosts, "hosts", text).with_secrets(&site.secrets),
        Artifact::new(Kind::Hosts, NETWORKS_PATH, networks(site)).with_secrets(&site.secrets),
    ])
}

/// The file of the networks the kickstartable hosts' primary interfaces are on (one CIDR a
/// line, sorted): the clients an NFS server of the cluster exports to.
pub const NETWORKS_PATH: &str = "cluster/networks";

fn networks(site: &Site<'_>) -> String {
    let cluster = site.cluster;
    let nets: std::collections::BTreeSet<String> = cluster
        .hosts
        .iter()
        .filter(|h| cluster.appliances.get(&h.appliance).is_some_and(|a| a.kickstartable))
        .filter_map(|h| h.primary()?.network.as_deref())
        .filter_map(|n| cluster.network(n))
        .map(|n| n.cidr.to_string())
        .collect();
    nets.into_iter().map(|n| n + "\n").collect()
}

/// One address with its names: a line of `hosts`, and the A/AAAA, CNAME and PTR records of
/// the DNS zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named<'a> {
    pub ip: IpAddr,
    /// The short name (one DNS label, unless a host name itself contains dots).
    pub name: String,
    /// The DNS zone the name lives in (`None`: the address is on no known network).
    pub zone: Option<&'a str>,
    /// Other names of the address (a host's aliases, on its primary interface only).
    pub aliases: &'a [String],
}

impl Named<'_> {
    /// `name.zone` (without the final dot), when the address is in a zone.
    pub fn fqdn(&self) -> Option<String> {
        self.zone.map(|z| format!("{}.{z}", self.name))
    }

    fn hosts_line(&self) -> HostsLine {
        let mut names = String::with_capacity(64);
        for n in std::iter::once(&self.name).chain(self.aliases) {
            let sep = if names.is_empty() { "" } else { " " };
            match self.zone {
                Some(z) => write!(names, "{sep}{n}.{z} {n}"),
                None => write!(names, "{sep}{n}"),
            }
            .expect("writing to a String");
        }
        HostsLine { ip: self.ip.to_string(), names }
    }
}

/// Context of `hosts.j2`.
#[derive(Debug, Serialize)]
struct HostsContext {
    /// One line per named address, sorted by address.
    lines: Vec<HostsLine>,
}

/// One line of `hosts`.
#[derive(Debug, Serialize)]
struct HostsLine {
    ip: String,
    /// Space-separated: the canonical name (FQDN when there is a zone), the short name, then
    /// each alias as FQDN and short name.
    names: String,
}

/// Every named address of the cluster (see the module documentation), sorted by address
/// then name.
pub fn names<'a>(site: &Site<'a>) -> Vec<Named<'a>> {
    let cluster: &'a Cluster = site.cluster;
    let mut taken: HashSet<String> = HashSet::with_capacity(cluster.hosts.len() * 2);
    for h in &cluster.hosts {
        taken.insert(h.name.to_ascii_lowercase());
        taken.extend(h.aliases.iter().map(|a| a.to_ascii_lowercase()));
    }
    let mut out = Vec::with_capacity(cluster.hosts.len());
    for h in &cluster.hosts {
        let primary = h.primary().map(|p| p.device.as_str());
        for iface in &h.interfaces {
            let Some(ip) = iface.addr() else { continue };
            let zone = zone_of(cluster, iface.network.as_deref(), ip);
            out.push(if primary == Some(iface.device.as_str()) {
                Named { ip, name: h.name.clone(), zone, aliases: &h.aliases }
            } else {
                let wanted = if iface.is_bmc() { bmc_name(cluster, h) } else { format!("{}-{}", h.name, label(&iface.device)) };
                Named { ip, name: unique(&mut taken, wanted), zone, aliases: &[] }
            });
        }
    }
    let mut named: HashSet<IpAddr> = out.iter().map(|n| n.ip).collect();
    for s in site.servers.iter() {
        let Ok(ip) = s.ip.parse::<IpAddr>() else { continue };
        if named.insert(ip) {
            let zone = zone_of(cluster, None, ip)
                .or_else(|| cluster.network("private").map(|n| n.zone.as_str()))
                .or_else(|| cluster.networks.first().map(|n| n.zone.as_str()));
            out.push(Named { ip, name: unique(&mut taken, label(&s.name)), zone, aliases: &[] });
        }
    }
    out.sort_unstable_by(|a, b| (a.ip, &a.name).cmp(&(b.ip, &b.name)));
    out
}

/// The zone of network `network`, else of the first network (by name) containing `ip`.
fn zone_of<'a>(cluster: &'a Cluster, network: Option<&str>, ip: IpAddr) -> Option<&'a str> {
    network.and_then(|n| cluster.network(n)).or_else(|| cluster.networks.iter().find(|n| n.cidr.contains(&ip))).map(|n| n.zone.as_str())
}

/// `text` as a DNS label: every character but letters, digits and `-` becomes `-`.
fn label(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect()
}

/// `name`, or `name-2`, `name-3`, ... : the first one not in `taken` (which it joins).
fn unique(taken: &mut HashSet<String>, name: String) -> String {
    if taken.insert(name.to_ascii_lowercase()) {
        return name;
    }
    (2u32..).map(|n| format!("{name}-{n}")).find(|c| taken.insert(c.to_ascii_lowercase())).expect("some suffix is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_become_labels() {
        assert_eq!(label("eth0"), "eth0");
        assert_eq!(label("eth0.100"), "eth0-100");
        assert_eq!(label("ib0:1"), "ib0-1");
        assert_eq!(label("en_p1"), "en-p1");
    }

    #[test]
    fn derived_names_never_collide() {
        let mut taken: HashSet<String> = ["a-eth1".to_string(), "a-eth1-2".to_string()].into();
        assert_eq!(unique(&mut taken, "A-ETH1".into()), "A-ETH1-3");
        assert_eq!(unique(&mut taken, "b-eth1".into()), "b-eth1");
        assert_eq!(unique(&mut taken, "b-eth1".into()), "b-eth1-2");
    }
}
