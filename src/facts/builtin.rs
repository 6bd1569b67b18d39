//! Built-in attributes: the ones derived from a host's facts rather than stored. [`BUILTINS`]
//! is the one list of them (with where each comes from and how to change it);
//! [`crate::attrs::HOST_BUILTIN`] and [`crate::attrs::NETWORK_BUILTIN`] name the per-host and
//! per-network ones among them.
//!
//! `hostname`, `rack`, `rank`, `appliance`, `membership` (`Compute`), `arch`, `os`,
//! `distribution`, `cpus`, `graph` and `root` (from the appliance), `hostaddr` and `ksmac`
//! (the primary interface), `cluster_files_url` and `cluster_files_fallback_url` (the host's
//! install servers' base URLs, where it fetches the cluster-wide files of the build), and
//! from the network named `private`:
//! `Kickstart_PrivateAddress` (the frontend's address on it, else its gateway),
//! `Kickstart_PrivateHostname` (the frontend's name),
//! `Kickstart_PrivateNetwork`, `…Netmask`, `…NetmaskCIDR`, `…Broadcast`, `…Gateway`,
//! `…DNSDomain`, `…DNSServers` (comma-separated), `…MTU`.

use rusqlite::Connection;

use crate::model::{Cluster, HostFacts, Iface};

/// A built-in attribute: where its value comes from and how an operator changes that fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    pub key: &'static str,
    /// The fact it is derived from.
    pub from: &'static str,
    /// The command that changes the fact.
    pub fix: &'static str,
}

const fn host(key: &'static str, from: &'static str, fix: &'static str) -> Builtin {
    Builtin { key, from, fix }
}

/// Every built-in attribute, by name.
pub const BUILTINS: &[Builtin] = &[
    host("Kickstart_PrivateAddress", "the frontend's address on the network `private` (else its gateway)", "`host set FRONTEND --ip IP`"),
    host("Kickstart_PrivateBroadcast", "the network `private`", "`network add` a network with another CIDR"),
    host("Kickstart_PrivateDNSDomain", "the DNS zone of the network `private`", "`network set private --zone ZONE`"),
    host("Kickstart_PrivateDNSServers", "the DNS servers of the network `private`", "`network set private --dns IP,...`"),
    host("Kickstart_PrivateGateway", "the gateway of the network `private`", "`network set private --gateway IP`"),
    host("Kickstart_PrivateHostname", "the name of the frontend host", "`host rename FRONTEND NAME`"),
    host("Kickstart_PrivateMTU", "the MTU of the network `private`", "`network set private --mtu N`"),
    host("Kickstart_PrivateNetmask", "the CIDR of the network `private`", "`network add` a network with another CIDR"),
    host("Kickstart_PrivateNetmaskCIDR", "the CIDR of the network `private`", "`network add` a network with another CIDR"),
    host("Kickstart_PrivateNetwork", "the CIDR of the network `private`", "`network add` a network with another CIDR"),
    host("appliance", "the host's appliance", "`host set NAME --appliance A`"),
    host("arch", "the host's architecture", "`host set NAME --arch ARCH`"),
    host("cluster_files_fallback_url", "the host's fallback install server", "`server add NAME IP --url BASE`"),
    host("cluster_files_url", "the host's primary install server", "`server add NAME IP --url BASE`"),
    host("cpus", "the host's CPUs", "`host set NAME --cpus N`"),
    host("distribution", "the host's distribution", "`host set NAME --distribution D`"),
    host("graph", "the appliance's graph", "`appliance add NAME --graph G`"),
    host("hostaddr", "the host's primary interface", "`host set NAME --ip IP`"),
    host("hostname", "the host's name", "`host rename OLD NEW`"),
    host("ksmac", "the host's primary interface", "`host set NAME --mac MAC`"),
    host("membership", "the host's appliance", "`host set NAME --appliance A`"),
    host("os", "the host's OS", "`host set NAME --os OS`"),
    host("rack", "the host's rack", "`host set NAME --rack R`"),
    host("rank", "the host's rank", "`host set NAME --rank N`"),
    host("root", "the appliance's root node", "`appliance add NAME --root NODE`"),
];

/// The built-in called `key`, if any.
pub fn builtin(key: &str) -> Option<&'static Builtin> {
    BUILTINS.binary_search_by(|b| b.key.cmp(key)).ok().map(|i| &BUILTINS[i])
}

/// Whether built-in `b` is derived from the facts of this database (the `private` network's
/// values only when it exists, the frontend's only when there is one).
pub(crate) fn derived(conn: &Connection, b: &Builtin) -> Result<bool> {
    if !b.key.starts_with("Kickstart_Private") {
        return Ok(true);
    }
    Ok(crate::resolver::network_builtins(&private_snapshot(conn)?).iter().any(|(k, _)| *k == b.key))
}

use super::error::{FactsError, Result};
use super::network::load_network;

/// The part of the cluster the `private` network's built-ins come from: that network and
/// the frontend hosts with their interfaces on it.
fn private_snapshot(conn: &Connection) -> Result<Cluster> {
    let mut cluster = Cluster::default();
    let net_id = match load_network(conn, "private") {
        Ok((id, net)) => {
            cluster.networks.push(net);
            id
        }
        Err(FactsError::UnknownNetwork(_)) => return Ok(cluster),
        Err(e) => return Err(e),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT h.name, i.device, i.ip FROM appliances a JOIN hosts h ON h.appliance_id = a.id JOIN interfaces i ON i.host_id = h.id
         WHERE a.name = 'frontend' AND i.network_id = ?1 ORDER BY h.name, i.device",
    )?;
    let mut rows = stmt.query([net_id])?;
    while let Some(r) = rows.next()? {
        let name: String = r.get(0)?;
        if cluster.hosts.last().is_none_or(|h| h.name != name) {
            cluster.hosts.push(HostFacts::new(name, "frontend"));
        }
        let iface = Iface { device: r.get(1)?, mac: None, ip: r.get(2)?, network: Some("private".into()), primary: false };
        cluster.hosts.last_mut().expect("pushed above").interfaces.push(iface);
    }
    Ok(cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_sorted_and_found() {
        assert!(BUILTINS.windows(2).all(|w| w[0].key < w[1].key), "BUILTINS must stay sorted for the binary search");
        assert_eq!(builtin("hostname").unwrap().fix, "`host rename OLD NEW`");
        assert!(builtin("Kickstart_Timezone").is_none());
        for name in crate::attrs::HOST_BUILTIN.iter().chain(crate::attrs::NETWORK_BUILTIN).chain(crate::attrs::SERVER_BUILTIN) {
            assert!(builtin(name).is_some(), "`{name}` is missing from BUILTINS, the one list");
        }
    }
}
