//! `scheduler/pbs-nodes`: a PBS/Torque `server_priv/nodes` file (`name np=N properties`).

use crate::plan::{Artifact, Site};

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    let _ = site;
    Ok(Vec::new())
}
