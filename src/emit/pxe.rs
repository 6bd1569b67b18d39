//! PXE boot files per interface with a MAC: `tftp/pxelinux.cfg/01-<mac>`,
//! `tftp/grub/grub.cfg-01-<mac>` and `ipxe/<mac>.ipxe`, from the host's boot action.

use crate::plan::{Artifact, Site};

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    let _ = site;
    Ok(Vec::new())
}
