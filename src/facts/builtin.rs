//! Built-in attributes: the ones derived from a host's facts rather than stored.
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
    let mut out = vec![
        ("hostname", h.name.clone()),
        ("rack", h.rack.to_string()),
        ("rank", h.rank.to_string()),
        ("appliance", h.appliance.clone()),
        ("membership", capitalise(&h.appliance)),
        ("arch", h.arch.clone()),
        ("os", h.os.clone()),
        ("distribution", h.distribution.clone()),
        ("cpus", h.cpus.to_string()),
        ("graph", appliance.graph),
        ("root", appliance.root),
    ];
    out.extend(h.ip.clone().map(|ip| ("hostaddr", ip)));
    out.extend(h.mac.clone().map(|mac| ("ksmac", mac)));
    let (net_id, net) = match load_network(conn, "private") {
        Ok(found) => found,
        Err(FactsError::UnknownNetwork(_)) => return Ok(out),
        Err(e) => return Err(e),
    };
    let frontend: Option<String> = conn
        .query_row(
            "SELECT i.ip FROM interfaces i JOIN hosts h ON h.id = i.host_id JOIN appliances a ON a.id = h.appliance_id
             WHERE a.name = 'frontend' AND i.network_id = ?1 AND i.ip IS NOT NULL ORDER BY h.name, i.device LIMIT 1",
            [net_id],
            |r| r.get(0),
        )
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

/// Rocks' membership: the appliance name with a capital first letter (`Compute`).
fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
