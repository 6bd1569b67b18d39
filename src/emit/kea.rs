//! `dhcp/kea-dhcp4.json` for Kea: the same subnets, reservations and client classes as
//! [`super::dhcpd`].

use crate::plan::{Artifact, Site};

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    let _ = site;
    Ok(Vec::new())
}
