//! A host's management controller (BMC) as a fact: the interface with device
//! [`BMC_DEVICE`] on a management network, with a MAC and an address, never the host's
//! primary interface.
//!
//! `host add --bmc-mac/--bmc-ip/--bmc-network` and the `bmc_*` columns of `host import` give a
//! host its BMC here; `interface add HOST bmc` makes the same interface. Without an address
//! the BMC gets the highest free one of its network (`countdown`, whatever the appliance's
//! policy: the policy numbers the host's own interfaces, not its controller's).

use rusqlite::{Connection, OptionalExtension, params};

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::addr::ip_key;
use super::allocate::Allocator;
use super::appliance::IpPolicy;
use super::template::TemplateVars;
use super::error::{FactsError, Result};
use super::interface::{InterfaceSpec, insert_interface};
use super::network::load_network;
pub use crate::model::BMC_DEVICE;

/// The network a BMC is put on when none is named.
pub const DEFAULT_BMC_NETWORK: &str = "mgmt";

/// What `host add --bmc-*` (or a CSV row's `bmc_*` cells) says about a host's BMC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BmcSpec {
    pub mac: Option<String>,
    /// `None`: the highest free address of the network is allocated.
    pub ip: Option<String>,
    /// `None`: [`DEFAULT_BMC_NETWORK`].
    pub network: Option<String>,
}

impl BmcSpec {
    /// The spec when any of the three is given, else `None` (no BMC).
    pub fn of(mac: Option<String>, ip: Option<String>, network: Option<String>) -> Option<BmcSpec> {
        (mac.is_some() || ip.is_some() || network.is_some()).then_some(BmcSpec { mac, ip, network })
    }
}

/// Give host `host` (row `host_id`) its BMC with the MAC and address of `spec` (an address
/// is not allocated here; see [`allocate_bmc`]).
pub(crate) fn insert_bmc(conn: &Connection, host_id: i64, host: &str, spec: &BmcSpec) -> Result<()> {
    let iface = InterfaceSpec {
        host: host.to_string(),
        device: BMC_DEVICE.to_string(),
        mac: spec.mac.clone(),
        ip: spec.ip.clone(),
        network: Some(spec.network.clone().unwrap_or_else(|| DEFAULT_BMC_NETWORK.to_string())),
        primary: false,
    };
    insert_interface(conn, host_id, &iface)
}

/// Give the BMC of `host`, when it has no address, the highest free address of its network,
/// from the countdown `allocators` keeps per network (made on first use, then handing out
/// address after address: an import of many BMCs reads each network's addresses once).
pub(crate) fn allocate_bmc(conn: &Connection, host: &str, allocators: &mut HashMap<String, Allocator>) -> Result<()> {
    let sql = "SELECT i.id, n.name, i.ip FROM interfaces i JOIN hosts h ON h.id = i.host_id LEFT JOIN networks n ON n.id = i.network_id
               WHERE h.name = ?1 AND i.device = ?2";
    let found: Option<(i64, Option<String>, Option<String>)> =
        conn.query_row(sql, params![host, BMC_DEVICE], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
    let Some((iface_id, network, None)) = found else { return Ok(()) };
    let network = network.unwrap_or_else(|| DEFAULT_BMC_NETWORK.to_string());
    let ips = match allocators.entry(network) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => {
            let (network_id, net) = load_network(conn, e.key())?;
            e.insert(Allocator::new(conn, network_id, net, IpPolicy::Countdown)?)
        }
    };
    // A countdown takes no template values.
    let ip = ips.next(conn, &TemplateVars { appliance: "", rack: 0, rank: 0 })?;
    conn.execute(
        "UPDATE interfaces SET ip = ?1, ip_key = ?2, network_id = ?3 WHERE id = ?4",
        params![ip.to_string(), ip_key(ip), ips.network_id(), iface_id],
    )?;
    Ok(())
}

/// The error for making a BMC a host's primary interface.
pub(crate) fn bmc_not_primary() -> FactsError {
    FactsError::bad_value("primary interface", BMC_DEVICE, "a host's BMC is never its primary interface; make another device primary")
}

#[cfg(test)]
mod tests {
    use crate::facts::hosts::HostSpec;
    use crate::facts::testutil::{assert_unchanged, temp_db};
    use crate::facts::{BmcSpec, InterfaceSpec, NetworkSpec};

    fn mgmt(db: &mut crate::facts::Db) {
        let spec = NetworkSpec {
            name: "mgmt".into(),
            cidr: "10.2.0.0/16".into(),
            zone: "mgmt".into(),
            mtu: 1500,
            gateway: None,
            dns_servers: vec![],
            dhcp: true,
        };
        db.add_network(&spec).unwrap();
    }

    #[test]
    fn host_add_gives_a_bmc_that_is_never_primary() {
        let (_dir, mut db) = temp_db();
        mgmt(&mut db);
        let bmc = BmcSpec::of(Some("52:54:00:BB:00:01".into()), None, None);
        db.add_host(&HostSpec { bmc, allocate_ip: true, ..HostSpec::new("compute-0-0", "compute") }).unwrap();
        let list = db.interfaces(Some("compute-0-0")).unwrap();
        let b = list.iter().find(|i| i.device == "bmc").unwrap();
        assert_eq!((b.mac.as_deref(), b.ip.as_deref(), b.network.as_deref(), b.primary), (Some("52:54:00:bb:00:01"), Some("10.2.255.254"), Some("mgmt"), false));
        assert_eq!(db.host("compute-0-0").unwrap().device.as_deref(), Some("eth0"), "the primary interface is the host's own");
        let bmc = BmcSpec::of(None, Some("10.2.0.9".into()), None);
        db.add_host(&HostSpec { bmc, allocate_ip: false, ..HostSpec::new("nas-0-0", "nas") }).unwrap();
        let only = db.interfaces(Some("nas-0-0")).unwrap();
        assert_eq!((only.len(), only[0].primary, only[0].ip.as_deref()), (1, false, Some("10.2.0.9")), "a lone BMC is not primary either");
        db.add_interface(&InterfaceSpec { host: "nas-0-0".into(), device: "eth0".into(), ip: Some("10.1.0.9".into()), ..InterfaceSpec::default() }).unwrap();
        assert_eq!(db.host("nas-0-0").unwrap().device.as_deref(), Some("eth0"), "the first own interface becomes primary");
    }

    #[test]
    fn bad_bmcs_change_nothing() {
        let (_dir, mut db) = temp_db();
        mgmt(&mut db);
        db.add_host(&HostSpec::new("compute-0-0", "compute")).unwrap();
        let cases = [
            (HostSpec { bmc: BmcSpec::of(Some("52:54".into()), None, None), ..HostSpec::new("a", "compute") }, "facts::bad-mac"),
            (HostSpec { bmc: BmcSpec::of(None, Some("10.9.0.1".into()), None), ..HostSpec::new("a", "compute") }, "facts::ip-outside-network"),
            (HostSpec { bmc: BmcSpec::of(None, None, Some("oob".into())), ..HostSpec::new("a", "compute") }, "facts::unknown-network"),
        ];
        for (spec, code) in cases {
            assert_eq!(assert_unchanged(&mut db, |db| db.add_host(&spec)).code(), code);
        }
        let primary = InterfaceSpec { host: "compute-0-0".into(), device: "bmc".into(), network: Some("mgmt".into()), primary: true, ..InterfaceSpec::default() };
        assert_eq!(assert_unchanged(&mut db, |db| db.add_interface(&primary)).code(), "facts::bad-value");
    }
}
