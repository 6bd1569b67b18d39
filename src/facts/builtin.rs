//! Built-in attributes: the ones derived from a host's facts rather than stored. Their names
//! are the one list [`crate::attrs::HOST_BUILTIN`] and [`crate::attrs::NETWORK_BUILTIN`].
//!
//! `hostname`, `rack`, `rank`, `appliance`, `membership` (`Compute`), `arch`, `os`,
//! `distribution`, `cpus`, `graph` and `root` (from the appliance), `hostaddr` and `ksmac`
//! (the primary interface), and from the network named `private`:
//! `Kickstart_PrivateAddress` (the frontend's address on it, else its gateway),
//! `Kickstart_PrivateNetwork`, `…Netmask`, `…NetmaskCIDR`, `…Broadcast`, `…Gateway`,
//! `…DNSDomain`, `…DNSServers` (comma-separated), `…MTU`.

use rusqlite::{Connection, OptionalExtension};

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
    let frontend: Option<String> = conn
        .prepare_cached(
            // Join order forced (CROSS JOIN, unary +) so the lookup walks the few frontend
            // hosts, not every interface of the network: this runs once per compiled host.
            "SELECT i.ip FROM appliances a CROSS JOIN hosts h ON h.appliance_id = a.id CROSS JOIN interfaces i ON i.host_id = h.id
             WHERE a.name = 'frontend' AND +i.network_id = ?1 AND i.ip IS NOT NULL ORDER BY h.name, i.device LIMIT 1",
        )?
        .query_row([net_id], |r| r.get(0))
        .optional()?;
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
