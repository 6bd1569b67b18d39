//! `scheduler/sge/@<group>`: SGE host group files (`qconf -Ahgrp`), one per scheduler group
//! (see [`super::slurm::groups`]) and `@allhosts` naming every group. Load the groups first,
//! `@allhosts` last. Members are written as FQDNs (`name.zone` of the primary interface's
//! network), the names SGE resolves hosts to; a group without members lists `NONE`.

use serde::Serialize;

use crate::model::HostFacts;
use crate::plan::{Artifact, Kind, Site};

use super::slurm;

/// The directory of the host group files in the tree.
pub const DIR: &str = "scheduler/sge";

/// The group naming every other group.
pub const ALL: &str = "allhosts";

/// Longest `hostlist` line before a `\` continuation.
const LINE_WIDTH: usize = 100;

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    if !site.wants(Kind::Sge) {
        return Ok(Vec::new());
    }
    let groups = slurm::groups(site);
    let mut out = Vec::with_capacity(groups.len() + 1);
    let mut names = Vec::with_capacity(groups.len());
    for (name, hosts) in groups {
        let members: Vec<String> = hosts.iter().map(|h| fqdn(site, h)).collect();
        out.push(group_file(site, SgeGroup::new(&name, &members))?);
        names.push(format!("@{name}"));
    }
    out.push(group_file(site, SgeGroup::new(ALL, &names))?);
    Ok(out)
}

/// The context of `sge-hostgroup.j2`: one host group.
#[derive(Debug, Serialize)]
pub struct SgeGroup {
    /// Without the `@`.
    pub name: String,
    /// The members (hosts or `@groups`), a few per line; `NONE` when there are none.
    pub lines: Vec<String>,
}

impl SgeGroup {
    pub fn new(name: &str, members: &[String]) -> SgeGroup {
        let mut lines: Vec<String> = Vec::new();
        for m in members {
            match lines.last_mut() {
                Some(line) if line.len() + 1 + m.len() <= LINE_WIDTH => {
                    line.push(' ');
                    line.push_str(m);
                }
                _ => lines.push(m.clone()),
            }
        }
        if lines.is_empty() {
            lines.push("NONE".into());
        }
        SgeGroup { name: name.to_string(), lines }
    }
}

/// The name SGE knows host `h` by.
pub fn fqdn(site: &Site<'_>, h: &HostFacts) -> String {
    match site.domain(h) {
        Some(d) if !d.is_empty() => format!("{}.{}", h.name, d.trim_end_matches('.')),
        _ => h.name.clone(),
    }
}

fn group_file(site: &Site<'_>, g: SgeGroup) -> Result<Artifact, minijinja::Error> {
    let path = format!("{DIR}/@{}", g.name);
    let text = crate::render::render("sge-hostgroup.j2", &g)?;
    Ok(Artifact::new(Kind::Sge, path, text).with_secrets(&site.secrets))
}
