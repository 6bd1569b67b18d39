//! `scheduler/slurm-nodes.conf`: `NodeName=` and `PartitionName=` lines with compressed
//! hostlists, to be included from `slurm.conf` (`Include /path/to/slurm-nodes.conf`).
//!
//! Also the grouping every scheduler list shares ([`groups`]: Slurm partitions, SGE host
//! groups, PBS properties) and [`check`], which reports facts the scheduler lists skip.
//!
//! Hosts with the same CPUs and memory share one `NodeName=` line; `NodeAddr=` lists their
//! primary addresses in the order the names expand to, so that Slurm never has to resolve a
//! name. A host without an address gets no `NodeAddr=` (Slurm then resolves its name).
//! One `PartitionName=` line per group; the first group (natural order) is the default.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use crate::diag::Diagnostic;
use crate::hostlist;
use crate::model::HostFacts;
use crate::plan::{Artifact, Kind, Site};

/// Where the file goes in the tree.
pub const PATH: &str = "scheduler/slurm-nodes.conf";

/// Attribute holding a host's memory in MiB (Slurm's `RealMemory`).
pub const MEMORY_ATTR: &str = "memory";

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    if !site.wants(Kind::Slurm) {
        return Ok(Vec::new());
    }
    let text = crate::render::render("slurm-nodes.conf.j2", &SlurmNodes::new(site))?;
    let mut clush = String::from("# node groups for clush, generated from the cluster database\ncluster:\n");
    let all: Vec<&str> = scheduled(site).iter().map(|h| h.name.as_str()).collect();
    let _ = writeln!(clush, "    all: '{}'", hostlist::compress_ordered(&all));
    for (group, hosts) in groups(site) {
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        let _ = writeln!(clush, "    {group}: '{}'", hostlist::compress_ordered(&names));
    }
    Ok(vec![
        Artifact::new(Kind::Slurm, PATH, text).with_secrets(&site.secrets),
        Artifact::new(Kind::Slurm, CLUSH_PATH, clush).with_secrets(&site.secrets),
    ])
}

/// ClusterShell's node groups of the scheduled hosts: `all` and one per partition.
pub const CLUSH_PATH: &str = "scheduler/clustershell.yaml";

/// Scheduled hosts by group: groups in natural order (`rack-2` before `rack-10`), hosts in
/// hostlist order of their names ([`scheduled`]). A host's group is the value of the
/// attribute named by `partition_by` (see [`attr_value`]) when it has one that is a [valid
/// group name](valid_group), else its appliance.
pub fn groups<'s>(site: &'s Site<'_>) -> Vec<(String, Vec<&'s HostFacts>)> {
    group_hosts(site, &scheduled(site))
}

/// `hosts` by group, groups in natural order, hosts in the order given.
fn group_hosts<'s>(site: &Site<'_>, hosts: &[&'s HostFacts]) -> Vec<(String, Vec<&'s HostFacts>)> {
    let mut by_group: HashMap<String, Vec<&HostFacts>> = HashMap::new();
    for &h in hosts {
        by_group.entry(group(site, h)).or_default().push(h);
    }
    let mut out: Vec<(String, Vec<&HostFacts>)> = by_group.into_iter().collect();
    out.sort_by(|(a, _), (b, _)| hostlist::natural_cmp(a, b));
    out
}

/// The scheduled hosts in the order of their names in a hostlist ([`hostlist::order`]).
pub fn scheduled<'s>(site: &'s Site<'_>) -> Vec<&'s HostFacts> {
    let hosts: Vec<&HostFacts> = site.cluster.hosts.iter().zip(site.scheduled.iter()).filter(|(_, s)| **s).map(|(h, _)| h).collect();
    by_name(hosts)
}

/// Hosts in the order of their names in a hostlist (natural order: `c-0-2` before `c-0-10`).
pub fn by_name(hosts: Vec<&HostFacts>) -> Vec<&HostFacts> {
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    hostlist::order(&names).into_iter().map(|i| hosts[i]).collect()
}

/// The scheduler group of host `h` (see [`groups`]).
pub fn group(site: &Site<'_>, h: &HostFacts) -> String {
    site.options
        .partition_by
        .as_deref()
        .and_then(|key| attr_value(site, h, key))
        .filter(|v| valid_group(v))
        .unwrap_or_else(|| h.appliance.clone())
}

/// The value of attribute `key` for `h` as the grouping sees it: a host-scope attribute,
/// else a per-host built-in ([`crate::resolver::builtin::HostBuiltins`]), else the stored attribute by
/// precedence.
pub fn attr_value(site: &Site<'_>, h: &HostFacts, key: &str) -> Option<String> {
    crate::resolver::host_value(site.cluster, h, key)
}

/// A name every scheduler takes for a partition / host group / property: letters, digits,
/// `_`, `-` and `.`, starting with a letter or digit, at most 64 characters, and none of
/// the words the schedulers reserve (`DEFAULT` in Slurm, `allhosts` and `NONE` in SGE).
pub fn valid_group(name: &str) -> bool {
    let reserved = ["default", "allhosts", "none", "all"].iter().any(|r| name.eq_ignore_ascii_case(r));
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !reserved
}

/// A host's memory in MiB: the attribute [`MEMORY_ATTR`] when it is a positive integer.
pub fn memory(site: &Site<'_>, h: &HostFacts) -> Option<u64> {
    crate::resolver::stored_attr(site.cluster, h, MEMORY_ATTR).and_then(|(v, _)| v.trim().parse().ok()).filter(|&m| m > 0)
}

/// Facts of scheduled hosts that the scheduler lists cannot use, one warning per distinct
/// value: a `partition_by` value that is not a valid group name (`scheduler::bad-group`: the
/// appliance is used). (A `memory` that is not a positive integer is refused by the model
/// check, [`crate::build::model`]; here it would only be left out.)
pub fn check(site: &Site<'_>) -> Vec<Diagnostic> {
    let mut bad_group: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for h in scheduled(site) {
        if let Some(key) = site.options.partition_by.as_deref()
            && let Some(v) = attr_value(site, h, key)
            && !valid_group(&v)
        {
            bad_group.entry(v).or_default().push(&h.name);
        }
    }
    let mut out = Vec::new();
    if let Some(key) = site.options.partition_by.as_deref() {
        for (v, hosts) in bad_group {
            out.push(
                Diagnostic::warning(
                    "scheduler::bad-group",
                    format!(
                        "attribute `{key}` is `{v}` for hosts `{}`: not a valid partition or host group name",
                        hostlist::compress(&hosts)
                    ),
                )
                .help("use letters, digits, `_`, `-` and `.` (not `default`, `all`, `allhosts` or `none`)")
                .note("these hosts are grouped by their appliance instead"),
            );
        }
    }
    out
}

/// The context of `slurm-nodes.conf.j2`.
#[derive(Debug, Serialize)]
pub struct SlurmNodes {
    /// By (CPUs, memory, has addresses).
    pub nodes: Vec<NodeLine>,
    /// One per group, the first one the default partition.
    pub partitions: Vec<PartitionLine>,
}

/// What hosts on one `NodeName=` line share: CPUs, memory, whether they have addresses.
type LineKey = (Option<u32>, Option<u64>, bool);

/// One `NodeName=` line: hosts that share CPUs and memory.
#[derive(Debug, Serialize)]
pub struct NodeLine {
    /// Host names as a hostlist.
    pub names: String,
    /// Their primary addresses, in the order `names` expands to; `None` when they have none.
    pub addrs: Option<String>,
    /// `None` when the facts say 0 (Slurm's default, 1, applies).
    pub cpus: Option<u32>,
    /// MiB; `None` when unknown (Slurm's default applies).
    pub memory: Option<u64>,
}

/// One `PartitionName=` line.
#[derive(Debug, Serialize)]
pub struct PartitionLine {
    pub name: String,
    /// Host names as a hostlist.
    pub nodes: String,
    /// `Default=YES`.
    pub default: bool,
}

impl SlurmNodes {
    /// Every list keeps the hostlist order of all scheduled hosts ([`scheduled`]), sorted once.
    pub fn new(site: &Site<'_>) -> SlurmNodes {
        let hosts = scheduled(site);
        let mut lines: BTreeMap<LineKey, (Vec<&str>, Vec<String>)> = BTreeMap::new();
        for h in &hosts {
            let addr = h.primary_ip().map(|ip| ip.to_string());
            let (names, addrs) = lines.entry((Some(h.cpus).filter(|&c| c > 0), memory(site, h), addr.is_some())).or_default();
            names.push(&h.name);
            addrs.extend(addr);
        }
        let nodes = lines
            .into_iter()
            .map(|((cpus, memory, has_addr), (names, addrs))| NodeLine {
                names: hostlist::compress_ordered(&names),
                addrs: has_addr.then(|| hostlist::compress_ordered(&addrs)),
                cpus,
                memory,
            })
            .collect();
        let partitions = group_hosts(site, &hosts)
            .into_iter()
            .enumerate()
            .map(|(i, (name, hosts))| PartitionLine {
                name,
                nodes: hostlist::compress_ordered(&hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>()),
                default: i == 0,
            })
            .collect();
        SlurmNodes { nodes, partitions }
    }
}
