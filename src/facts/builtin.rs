//! Which built-in attributes this database derives (see [`crate::resolver::builtin`], the
//! one list of them): the `private` network's only when it exists, the frontend's only when
//! there is one.

use rusqlite::Connection;

use crate::model::{Cluster, HostFacts, Iface};

/// Whether built-in `b` is derived from the facts of this database (the `private` network's
/// values only when it exists, the frontend's only when there is one).
pub(crate) fn derived(conn: &Connection, b: &Builtin) -> Result<bool> {
    if !b.key.starts_with("Kickstart_Private") {
        return Ok(true);
    }
    Ok(crate::resolver::network_builtins(&private_snapshot(conn)?).iter().any(|(k, _)| *k == b.key))
}

use super::error::{FactsError, Result};
use crate::resolver::builtin::Builtin;
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
         WHERE a.name = 'frontend' AND i.network_id = ?1 AND i.device <> 'bmc' ORDER BY h.name, i.device",
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
