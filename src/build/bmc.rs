//! The model check of BMCs (a host's interface [`crate::model::BMC_DEVICE`]): what power,
//! console and monitoring need to reach one. The generic address checks of
//! [`super::model`] (malformed, outside its network, taken twice) name a BMC as such.

use crate::diag::Diagnostic;
use crate::model::Cluster;

/// Every BMC has an address, a MAC when its network serves DHCP, and is not the host's
/// primary interface.
pub(crate) fn check(c: &Cluster, out: &mut Vec<Diagnostic>) {
    for h in &c.hosts {
        let Some(b) = h.bmc() else { continue };
        if b.primary {
            out.push(
                Diagnostic::error("build::bmc-primary", format!("the BMC of host `{}` is its primary interface", h.name))
                    .help(format!("make the host's own interface primary: `interface set {} DEVICE --primary`", h.name)),
            );
        }
        if b.ip.is_none() {
            out.push(
                Diagnostic::error("build::bmc-without-address", format!("the BMC of host `{}` has no IP address", h.name))
                    .help(format!("give it one: `interface set {} bmc --ip IP`", h.name)),
            );
        }
        let dhcp = b.network.as_deref().and_then(|n| c.network(n)).filter(|n| n.dhcp);
        if let (None, Some(n)) = (&b.mac, dhcp) {
            out.push(
                Diagnostic::warning(
                    "build::bmc-without-mac",
                    format!("the BMC of host `{}` has no MAC: network `{}` serves DHCP but cannot give it its address", h.name, n.name),
                )
                .help(format!("give it its MAC (`interface set {} bmc --mac MAC`), or set its address on the controller itself", h.name)),
            );
        }
    }
}
