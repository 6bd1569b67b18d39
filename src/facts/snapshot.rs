//! [`Db::cluster`]: the whole cluster in a few bulk queries, for `build`.

use std::collections::{BTreeMap, HashMap};

use super::Db;
use super::error::Result;
use crate::model::{Cluster, HostFacts, Iface};

impl Db {
    /// Every fact `build` needs, read in one transaction (a consistent snapshot even while
    /// another process writes).
    pub fn cluster(&self) -> Result<Cluster> {
        let networks = self.networks()?;
        let appliances = self.appliances()?.into_iter().map(|a| (a.name.clone(), a)).collect();
        let distributions = self.distributions()?.into_iter().map(|d| (d.name.clone(), d)).collect();
        let boot_actions = self.boot_actions()?.into_iter().map(|b| (b.name.clone(), b)).collect();
        let servers = self.servers()?;
        self.read("read the cluster", |c| {
            let tx = c.unchecked_transaction()?;
            let mut hosts: Vec<HostFacts> = Vec::new();
            let mut by_id: HashMap<i64, usize> = HashMap::new();
            {
                let mut stmt = tx.prepare(
                    // Outer joins: a dangling reference is the model check's to report, not a
                    // reason for a host to vanish from the outputs.
                    "SELECT h.id, h.name, coalesce(a.name, ''), h.rack, h.rank, h.cpus, h.arch, h.os, coalesce(d.name, ''), h.boot,
                            h.install_action, h.run_action
                     FROM hosts h LEFT JOIN appliances a ON a.id = h.appliance_id LEFT JOIN distributions d ON d.id = h.distribution_id
                     ORDER BY h.name",
                )?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    let boot: String = r.get(9)?;
                    by_id.insert(r.get(0)?, hosts.len());
                    hosts.push(HostFacts {
                        name: r.get(1)?,
                        appliance: r.get(2)?,
                        rack: r.get(3)?,
                        rank: r.get(4)?,
                        cpus: r.get(5)?,
                        arch: r.get(6)?,
                        os: r.get(7)?,
                        distribution: r.get(8)?,
                        boot: boot.parse().unwrap_or(super::Boot::Install),
                        install_action: r.get(10)?,
                        run_action: r.get(11)?,
                        interfaces: Vec::new(),
                        aliases: Vec::new(),
                    });
                }
            }
            {
                let mut stmt = tx.prepare(
                    "SELECT i.host_id, i.device, i.mac, i.ip, n.name, i.is_primary
                     FROM interfaces i LEFT JOIN networks n ON n.id = i.network_id ORDER BY i.host_id, i.device",
                )?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    if let Some(&h) = by_id.get(&r.get::<_, i64>(0)?) {
                        hosts[h].interfaces.push(Iface {
                            device: r.get(1)?,
                            mac: r.get(2)?,
                            ip: r.get(3)?,
                            network: r.get(4)?,
                            primary: r.get(5)?,
                        });
                    }
                }
            }
            {
                let mut stmt = tx.prepare("SELECT host_id, name FROM aliases ORDER BY name")?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    if let Some(&h) = by_id.get(&r.get::<_, i64>(0)?) {
                        hosts[h].aliases.push(r.get(1)?);
                    }
                }
            }
            let mut attributes: BTreeMap<(String, String), BTreeMap<String, (String, bool)>> = BTreeMap::new();
            {
                let mut stmt = tx.prepare("SELECT scope, target, key, value, secret FROM attributes")?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    attributes.entry((r.get(0)?, r.get(1)?)).or_default().insert(r.get(2)?, (r.get(3)?, r.get(4)?));
                }
            }
            tx.commit()?;
            Ok(Cluster { networks, hosts, appliances, distributions, boot_actions, servers, attributes })
        })
    }
}
