//! What the monitoring outputs ([`super::prometheus`], [`super::nagios`], [`super::ganglia`])
//! share: which hosts they name and in which order, the address each host is watched at,
//! the cluster's name and the global attributes that tune them.
//!
//! Every host is named, in natural name order (`c-0-2` before `c-0-10`). A host is watched
//! at an address of its operating system, never at its management controller
//! ([`HostFacts::bmc`]), which only the IPMI exporter's list names.

use std::net::IpAddr;

use crate::diag::Diagnostic;
use crate::model::{HostFacts, Iface};
use crate::plan::Site;
use crate::resolver::stored_global;

use super::slurm;

/// Global attribute naming the cluster in the monitoring outputs.
pub const CLUSTER_NAME_ATTR: &str = "Info_ClusterName";

/// The cluster's name when [`CLUSTER_NAME_ATTR`] is not stored (the framework's default).
pub const DEFAULT_CLUSTER_NAME: &str = "Cluster";

/// Every host, in natural name order.
pub fn hosts<'s>(site: &'s Site<'_>) -> Vec<&'s HostFacts> {
    slurm::by_name(site.cluster.hosts.iter().collect())
}

/// The address host `h` is watched at: that of its private interface
/// ([`HostFacts::private_iface`]: on the `private` network, else the primary one), else the
/// first of its own interfaces (never its management controller) with an address.
pub fn address(h: &HostFacts) -> Option<IpAddr> {
    h.private_iface().and_then(Iface::addr).or_else(|| h.interfaces.iter().filter(|f| !f.is_bmc()).find_map(Iface::addr))
}

/// The address of host `h`'s management controller, when it has one with an address.
pub fn bmc_address(h: &HostFacts) -> Option<IpAddr> {
    h.bmc().and_then(Iface::addr)
}

/// The cluster's name: the global attribute [`CLUSTER_NAME_ATTR`], else
/// [`DEFAULT_CLUSTER_NAME`].
pub fn cluster_name(site: &Site<'_>) -> String {
    stored_global(site.cluster, CLUSTER_NAME_ATTR).unwrap_or(DEFAULT_CLUSTER_NAME).to_string()
}

/// A TCP port from the global attribute `key`, else `default`; a value that is not a port
/// number (1-65535) gives `default` and the warning `monitoring::bad-port`.
pub fn port(site: &Site<'_>, key: &str, default: u16) -> (u16, Option<Diagnostic>) {
    let Some(v) = stored_global(site.cluster, key) else { return (default, None) };
    match v.parse::<u16>() {
        Ok(p) if p > 0 => (p, None),
        _ => {
            let d = Diagnostic::warning("monitoring::bad-port", format!("global attribute `{key}` is `{v}`: not a port number"))
                .help(format!("set it to a number from 1 to 65535 (`rocks-compile attr set {key} PORT --global`)"))
                .note(format!("the monitoring outputs use port {default}"));
            (default, Some(d))
        }
    }
}

/// `s` without the characters that would end or escape a double-quoted string (`"`, `\`)
/// or a line, for the quoted names of Ganglia's files.
pub fn quotable(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '"' | '\\') && !c.is_control()).collect()
}
