//! `scheduler/genders`: a genders file (pdsh `-g`, `nodeattr`) naming every host, in natural
//! name order (`c-0-2` before `c-0-10`), with its attributes: the appliance (bare, so
//! `pdsh -g compute` works), `rack=`, `rank=`, `cpus=`, and `<key>=<value>` of the
//! `partition_by` attribute when one is set, is not one of those, and the host has a value
//! genders can hold (no blank, `,`, `=` or `#`).

use serde::Serialize;

use crate::plan::{Artifact, Kind, Site};

use super::slurm;

/// Where the file goes in the tree.
pub const PATH: &str = "scheduler/genders";

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    if !site.wants(Kind::Genders) {
        return Ok(Vec::new());
    }
    let text = crate::render::render("genders.j2", &Genders::new(site))?;
    Ok(vec![Artifact::new(Kind::Genders, PATH, text).with_secrets(&site.secrets)])
}

/// The context of `genders.j2`.
#[derive(Debug, Serialize)]
pub struct Genders {
    pub hosts: Vec<GendersHost>,
}

/// One line: a host and its attributes.
#[derive(Debug, Serialize)]
pub struct GendersHost {
    pub name: String,
    /// Comma-separated `attr` or `attr=value`.
    pub attrs: String,
}

impl Genders {
    pub fn new(site: &Site<'_>) -> Genders {
        let key = site.options.partition_by.as_deref().filter(|k| safe(k) && !matches!(*k, "rack" | "rank" | "cpus" | "appliance"));
        let hosts = slurm::by_name(site.cluster.hosts.iter().collect())
            .into_iter()
            .map(|h| {
                let mut attrs = format!("{},rack={},rank={},cpus={}", h.appliance, h.rack, h.rank, h.cpus);
                if let Some(key) = key
                    && let Some(v) = slurm::attr_value(site, h, key).filter(|v| safe(v))
                {
                    attrs += &format!(",{key}={v}");
                }
                GendersHost { name: h.name.clone(), attrs }
            })
            .collect();
        Genders { hosts }
    }
}

/// Fits in a genders attribute name or value.
fn safe(s: &str) -> bool {
    !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '#')
}
