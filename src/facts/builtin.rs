//! Built-in attributes: the ones derived from a host's facts rather than stored. [`BUILTINS`]
//! is the one list of them (with where each comes from and how to change it);
//! [`crate::attrs::HOST_BUILTIN`] and [`crate::attrs::NETWORK_BUILTIN`] name the per-host and
//! per-network ones among them.
//!
//! `hostname`, `rack`, `rank`, `appliance`, `membership` (`Compute`), `arch`, `os`,
//! `distribution`, `cpus`, `graph` and `root` (from the appliance), `hostaddr` and `ksmac`
//! (the primary interface), and from the network named `private`:
//! `Kickstart_PrivateAddress` (the frontend's address on it, else its gateway),
//! `Kickstart_PrivateHostname` (the frontend's name),
//! `Kickstart_PrivateNetwork`, `…Netmask`, `…NetmaskCIDR`, `…Broadcast`, `…Gateway`,
//! `…DNSDomain`, `…DNSServers` (comma-separated), `…MTU`.

use rusqlite::{Connection, OptionalExtension};

/// A built-in attribute: where its value comes from and how an operator changes that fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    pub key: &'static str,
    /// The fact it is derived from.
    pub from: &'static str,
    /// The command that changes the fact.
    pub fix: &'static str,
    /// Whether a host-scope attribute may override it for one host (the escape hatch);
    /// cluster-wide lists cannot be overridden at all.
    pub host_scope_wins: bool,
}

const fn host(key: &'static str, from: &'static str, fix: &'static str) -> Builtin {
    Builtin { key, from, fix, host_scope_wins: true }
}

const fn list(key: &'static str, from: &'static str, fix: &'static str) -> Builtin {
    Builtin { key, from, fix, host_scope_wins: false }
}

/// Every built-in attribute, by name.
pub const BUILTINS: &[Builtin] = &[
    list("Cluster_HostsFile", "every address of the cluster's hosts", "`host add`, `host set NAME --ip IP`, `alias add`"),
    list("Cluster_Networks", "the networks of the kickstartable hosts", "`interface set HOST DEV --network NET`"),
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
    list("Slurm_ComputeNodes", "the hosts in the scheduler lists", "`host add`, `host remove`, `host set NAME --appliance A`"),
    list(
        "Slurm_NodesConf",
        "the hosts in the scheduler lists, their CPUs and `memory`",
        "`host set NAME --cpus N`, `attr set memory MIB --host NAME`",
    ),
    host("appliance", "the host's appliance", "`host set NAME --appliance A`"),
    host("arch", "the host's architecture", "`host set NAME --arch ARCH`"),
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
    Ok(network_builtins(conn)?.iter().any(|(k, _)| *k == b.key))
}

use super::appliance::load_appliance;
use super::error::{FactsError, Result};
use super::hosts::Host;
use super::network::load_network;

/// The attributes derived from the facts of host `h`.
pub(crate) fn builtins(conn: &Connection, h: &Host) -> Result<Vec<(&'static str, String)>> {
    let appliance = load_appliance(conn, &h.appliance)?.1;
    let mut out = host_builtins(h, &appliance);
    out.extend(network_builtins(conn)?);
    Ok(out)
}

/// The built-ins that come from the host row and its appliance (named in
/// [`crate::attrs::HOST_BUILTIN`]).
pub(crate) fn host_builtins(h: &Host, appliance: &super::Appliance) -> Vec<(&'static str, String)> {
    crate::cluster::HostFacts::from_row(h).builtins(Some(appliance)).all()
}

/// The built-ins every host shares: the `private` network's `Kickstart_Private*` values.
pub(crate) fn network_builtins(conn: &Connection) -> Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    let (net_id, net) = match load_network(conn, "private") {
        Ok(found) => found,
        Err(FactsError::UnknownNetwork(_)) => return Ok(out),
        Err(e) => return Err(e),
    };
    let frontend: Option<(String, String)> = conn
        .prepare_cached(
            // Join order forced (CROSS JOIN, unary +) so the lookup walks the few frontend
            // hosts, not every interface of the network: this runs once per compiled host.
            "SELECT h.name, i.ip FROM appliances a CROSS JOIN hosts h ON h.appliance_id = a.id CROSS JOIN interfaces i ON i.host_id = h.id
             WHERE a.name = 'frontend' AND +i.network_id = ?1 AND i.ip IS NOT NULL ORDER BY h.name, i.device LIMIT 1",
        )?
        .query_row([net_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (name, frontend) = frontend.unzip();
    out.extend(name.map(|n| ("Kickstart_PrivateHostname", n)));
    let address = frontend.or(net.gateway.map(|g| g.to_string()));
    out.extend(address.map(|a| ("Kickstart_PrivateAddress", a)));
    out.push(("Kickstart_PrivateNetwork", net.cidr.network().to_string()));
    out.push(("Kickstart_PrivateNetmask", net.netmask().to_string()));
    out.push(("Kickstart_PrivateNetmaskCIDR", net.cidr.prefix_len().to_string()));
    out.push(("Kickstart_PrivateBroadcast", net.broadcast().to_string()));
    out.extend(net.gateway.map(|g| ("Kickstart_PrivateGateway", g.to_string())));
    out.push(("Kickstart_PrivateDNSDomain", net.zone.clone()));
    let dns: Vec<String> = net.dns_servers.iter().map(|d| d.to_string()).collect();
    out.push(("Kickstart_PrivateDNSServers", dns.join(",")));
    out.push(("Kickstart_PrivateMTU", net.mtu.to_string()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_sorted_and_found() {
        assert!(BUILTINS.windows(2).all(|w| w[0].key < w[1].key), "BUILTINS must stay sorted for the binary search");
        assert_eq!(builtin("hostname").unwrap().fix, "`host rename OLD NEW`");
        assert!(builtin("Kickstart_Timezone").is_none());
        for name in crate::attrs::HOST_BUILTIN.iter().chain(crate::attrs::NETWORK_BUILTIN) {
            assert!(builtin(name).is_some(), "`{name}` is missing from BUILTINS, the one list");
        }
    }
}
