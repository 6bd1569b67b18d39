//! Address allocation by an appliance's IP policy: the one allocator behind `discover` and
//! `host add` without `--ip`.
//!
//! `countdown` hands out the highest free usable address of the network, skipping the
//! gateway, the DNS servers and every address in use; a template such as `10.5.{rack}.{rank}`
//! gives the host's own address, which must be inside the network and free.

use std::net::IpAddr;

use rusqlite::Connection;

use super::addr::{Countdown, parse_ip};
use super::appliance::IpPolicy;
use super::error::{FactsError, Result};
use super::interface::check_ip;
use super::network::Network;
use super::template::{Template, TemplateVars};

/// Hands out addresses of one network in one transaction.
pub(crate) struct Allocator {
    network_id: i64,
    network: Network,
    policy: Policy,
}

enum Policy {
    Countdown(Countdown),
    Template(Template),
}

impl Allocator {
    /// An allocator for `network` (row `network_id`) by `policy`, seeing the addresses in use.
    pub(crate) fn new(conn: &Connection, network_id: i64, network: Network, policy: IpPolicy) -> Result<Allocator> {
        let policy = match policy {
            IpPolicy::Countdown => {
                let taken = used_ips(conn, network_id)?.into_iter().chain(network.reserved());
                Policy::Countdown(Countdown::new(&network.cidr, taken))
            }
            IpPolicy::Template(t) => Policy::Template(t),
        };
        Ok(Allocator { network_id, network, policy })
    }

    /// The network addresses come from.
    pub(crate) fn network(&self) -> &Network {
        &self.network
    }

    /// The row of that network.
    pub(crate) fn network_id(&self) -> i64 {
        self.network_id
    }

    /// The address of the host `vars` describes.
    pub(crate) fn next(&mut self, conn: &Connection, vars: &TemplateVars<'_>) -> Result<IpAddr> {
        match &mut self.policy {
            Policy::Template(t) => {
                let ip = parse_ip(&t.render(vars))?;
                check_ip(conn, self.network_id, &self.network, ip)?;
                Ok(ip)
            }
            Policy::Countdown(c) => c.next().ok_or_else(|| FactsError::NoFreeAddress(self.network.name.clone())),
        }
    }
}

/// Addresses in use on a network.
pub(crate) fn used_ips(conn: &Connection, network_id: i64) -> Result<Vec<IpAddr>> {
    let mut stmt = conn.prepare("SELECT ip FROM interfaces WHERE network_id = ?1 AND ip IS NOT NULL")?;
    let ips = stmt.query_map([network_id], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ips.iter().filter_map(|s| s.parse().ok()).collect())
}
