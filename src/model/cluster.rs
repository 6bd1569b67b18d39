//! The cluster as one value: every fact the non-kickstart outputs need (networks, hosts with
//! their interfaces and aliases, appliances, distributions, boot actions, install servers and
//! stored attributes), read from the database in a few bulk queries by
//! [`crate::facts::Db::cluster`]. Everything here is pure: emitters and the model check read
//! it, nothing writes it.
//!
//! Hosts are sorted by name, interfaces by device; every list iterates in a defined order, so
//! the outputs built from it are byte-for-byte reproducible.

use std::collections::BTreeMap;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::{Appliance, Boot, BootAction, Distribution, InstallServer, Network};

/// Every fact of the cluster that the build needs.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// By name.
    pub networks: Vec<Network>,
    /// By name.
    pub hosts: Vec<HostFacts>,
    pub appliances: BTreeMap<String, Appliance>,
    pub distributions: BTreeMap<String, Distribution>,
    pub boot_actions: BTreeMap<String, BootAction>,
    /// By name. Empty: every host uses [`Cluster::default_server`].
    pub servers: Vec<InstallServer>,
    /// Stored attributes: (scope, target) -> key -> (value, secret).
    pub attributes: BTreeMap<(String, String), BTreeMap<String, (String, bool)>>,
}

/// One host with everything about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
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
    /// By device name; the primary one has `primary`.
    pub interfaces: Vec<Iface>,
    /// Sorted.
    pub aliases: Vec<String>,
}

/// One network interface of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub device: String,
    /// Lower-case, colon-separated (as stored).
    pub mac: Option<String>,
    /// As stored; see [`Iface::addr`] for the parsed form.
    pub ip: Option<String>,
    pub network: Option<String>,
    pub primary: bool,
}

/// The device name of a host's management controller (BMC): the interface through which
/// its power and serial console are reached over IPMI, on a management network. It is not
/// an interface of the host's operating system.
pub const BMC_DEVICE: &str = "bmc";

impl Iface {
    /// Whether this is the host's management controller ([`BMC_DEVICE`]).
    pub fn is_bmc(&self) -> bool {
        self.device == BMC_DEVICE
    }

    /// A primary interface.
    pub fn primary(device: &str, mac: Option<String>, ip: Option<String>, network: Option<&str>) -> Iface {
        Iface { device: device.into(), mac, ip, network: network.map(str::to_string), primary: true }
    }

    /// The parsed address (`None` when absent or malformed; the model check reports the latter).
    pub fn addr(&self) -> Option<IpAddr> {
        self.ip.as_deref().and_then(|ip| ip.parse().ok())
    }
}

impl HostFacts {
    /// A host of `appliance` with what a new database host gets by default (rack 0, rank 0,
    /// one CPU, x86_64, linux, rocky-9, booting its `install` action; `os` to run) and no
    /// interfaces: the base of synthetic clusters in tests and benchmarks.
    pub fn new(name: impl Into<String>, appliance: impl Into<String>) -> HostFacts {
        HostFacts {
            name: name.into(),
            appliance: appliance.into(),
            rack: 0,
            rank: 0,
            cpus: 1,
            arch: "x86_64".into(),
            os: "linux".into(),
            distribution: "rocky-9".into(),
            boot: Boot::Install,
            install_action: "install".into(),
            run_action: "os".into(),
            interfaces: Vec::new(),
            aliases: Vec::new(),
        }
    }

    /// The host's management controller, if it has one.
    pub fn bmc(&self) -> Option<&Iface> {
        self.interfaces.iter().find(|f| f.is_bmc())
    }

    /// The MACs the host may PXE boot from: those of its interfaces but the BMC.
    pub fn boot_macs(&self) -> impl Iterator<Item = &str> {
        self.interfaces.iter().filter(|f| !f.is_bmc()).filter_map(|f| f.mac.as_deref())
    }

    /// The primary interface, else the first one that is not the BMC (never the BMC).
    pub fn primary(&self) -> Option<&Iface> {
        self.interfaces.iter().filter(|i| !i.is_bmc()).find(|i| i.primary).or_else(|| self.interfaces.iter().find(|i| !i.is_bmc()))
    }

    /// The interface on the network `private`, else the primary one: the one the kickstart's
    /// `network` command configures (`Kickstart_PrivateInterface`). Never the BMC.
    pub fn private_iface(&self) -> Option<&Iface> {
        self.interfaces.iter().find(|f| !f.is_bmc() && f.network.as_deref() == Some("private")).or_else(|| self.primary())
    }

    /// The address of the primary interface.
    pub fn primary_ip(&self) -> Option<IpAddr> {
        self.primary().and_then(Iface::addr)
    }

    /// The boot action this host boots next: its install action or its run action.
    pub fn next_action(&self) -> &str {
        match self.boot {
            Boot::Install => &self.install_action,
            Boot::Os => &self.run_action,
        }
    }
}

impl Cluster {
    /// The network called `name`.
    pub fn network(&self, name: &str) -> Option<&Network> {
        self.networks.binary_search_by(|n| n.name.as_str().cmp(name)).ok().map(|i| &self.networks[i])
    }

    /// The host called `name`.
    pub fn host(&self, name: &str) -> Option<&HostFacts> {
        self.hosts.binary_search_by(|h| h.name.as_str().cmp(name)).ok().map(|i| &self.hosts[i])
    }

    /// Every secret attribute value stored at any scope (non-empty), sorted and unique.
    pub fn secret_values(&self) -> Vec<&str> {
        let mut out: Vec<&str> =
            self.attributes.values().flat_map(|m| m.values()).filter(|(v, s)| *s && !v.is_empty()).map(|(v, _)| v.as_str()).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The server hosts use when no install server is configured: the first frontend host's
    /// address on the `private` network (else its primary address), named after that host;
    /// else the `private` network's gateway.
    pub fn default_server(&self) -> Option<InstallServer> {
        let frontend = self.hosts.iter().filter(|h| h.appliance == "frontend").find_map(|h| {
            let on_private = h.interfaces.iter().filter(|i| !i.is_bmc() && i.network.as_deref() == Some("private")).find_map(Iface::addr);
            on_private.or_else(|| h.primary_ip()).map(|ip| (h.name.clone(), ip))
        });
        let (name, ip) = frontend.or_else(|| self.network("private").and_then(|n| n.gateway).map(|g| ("frontend".to_string(), g)))?;
        let ip = ip.to_string();
        Some(InstallServer { name, url: InstallServer::default_url(&ip), ip })
    }

    /// The install servers hosts are spread over: the configured ones, or the default one.
    pub fn install_servers(&self) -> Vec<InstallServer> {
        if self.servers.is_empty() { self.default_server().into_iter().collect() } else { self.servers.clone() }
    }
}

/// A host's primary and fallback install servers (indices into the server list), chosen by
/// rendezvous (highest-random-weight) hashing of the host name: each server scores the host
/// by `sha256(server \0 host)`; the two best scores win. A contiguous rack spreads over every
/// server, and removing a server moves only the hosts for which it was primary or fallback.
/// `None` when there is no server; the fallback is the primary when there is only one.
pub fn rendezvous(servers: &[InstallServer], host: &str) -> Option<(usize, usize)> {
    let score = |s: &InstallServer| {
        let mut h = Sha256::new();
        h.update(s.name.as_bytes());
        h.update([0]);
        h.update(host.as_bytes());
        let d = h.finalize();
        u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
    };
    let mut best: Option<(u64, usize)> = None;
    let mut second: Option<(u64, usize)> = None;
    for (i, s) in servers.iter().enumerate() {
        let k = (score(s), i);
        // Ties (astronomically unlikely) go to the lower index: compare (score, reversed index).
        let better = |o: Option<(u64, usize)>| o.is_none_or(|(sc, j)| k.0 > sc || (k.0 == sc && i < j));
        if better(best) {
            second = best;
            best = Some(k);
        } else if better(second) {
            second = Some(k);
        }
    }
    let (_, p) = best?;
    Some((p, second.map_or(p, |(_, j)| j)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(names: &[&str]) -> Vec<InstallServer> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| InstallServer { name: n.to_string(), ip: format!("10.1.1.{}", i + 2), url: String::new() })
            .collect()
    }

    #[test]
    fn a_rack_spreads_over_every_server() {
        let s = servers(&["is-0", "is-1", "is-2", "is-3"]);
        let mut count = [0usize; 4];
        for rank in 0..64 {
            let (p, f) = rendezvous(&s, &format!("compute-3-{rank}")).unwrap();
            assert_ne!(p, f);
            count[p] += 1;
        }
        assert!(count.iter().all(|&c| c >= 6), "one rack of 64 hosts spreads over all four servers: {count:?}");
    }

    #[test]
    fn removing_a_server_moves_only_its_hosts() {
        let all = servers(&["is-0", "is-1", "is-2", "is-3"]);
        let fewer: Vec<InstallServer> = all.iter().filter(|s| s.name != "is-2").cloned().collect();
        for i in 0..2000 {
            let host = format!("c-{i}");
            let (p, _) = rendezvous(&all, &host).unwrap();
            let (q, _) = rendezvous(&fewer, &host).unwrap();
            if all[p].name != "is-2" {
                assert_eq!(all[p].name, fewer[q].name, "{host} moved although its server stayed");
            }
        }
        assert_eq!(rendezvous(&[], "x"), None);
        assert_eq!(rendezvous(&all[..1], "x"), Some((0, 0)));
    }
}
