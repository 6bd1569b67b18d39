//! `scheduler/pbs-nodes`: a PBS/Torque `server_priv/nodes` file (`name np=N properties`), one
//! line per scheduled host in natural name order. The properties are the host's scheduler
//! group (see [`super::slurm::groups`]) and, when that is not its appliance, the appliance.

use serde::Serialize;

use crate::plan::{Artifact, Kind, Site};

use super::slurm;

/// Where the file goes in the tree.
pub const PATH: &str = "scheduler/pbs-nodes";

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    if !site.wants(Kind::Pbs) {
        return Ok(Vec::new());
    }
    let text = crate::render::render("pbs-nodes.j2", &PbsNodes::new(site))?;
    Ok(vec![Artifact::new(Kind::Pbs, PATH, text).with_secrets(&site.secrets)])
}

/// The context of `pbs-nodes.j2`.
#[derive(Debug, Serialize)]
pub struct PbsNodes {
    pub hosts: Vec<PbsHost>,
}

/// One line of the nodes file.
#[derive(Debug, Serialize)]
pub struct PbsHost {
    pub name: String,
    /// Processors; `None` when the facts say 0 (PBS's default, 1, applies).
    pub np: Option<u32>,
    /// Space-separated: the group, then the appliance when it differs.
    pub properties: String,
}

impl PbsNodes {
    pub fn new(site: &Site<'_>) -> PbsNodes {
        let hosts = slurm::scheduled(site)
            .into_iter()
            .map(|h| {
                let mut properties = slurm::group(site, h);
                if properties != h.appliance {
                    properties.push(' ');
                    properties.push_str(&h.appliance);
                }
                PbsHost { name: h.name.clone(), np: Some(h.cpus).filter(|&c| c > 0), properties }
            })
            .collect();
        PbsNodes { hosts }
    }
}
