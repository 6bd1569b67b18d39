//! Cluster-wide built-in attributes: what the framework's node files say about *other* hosts
//! (the frontend's `slurm.conf` node and partition lines, its `/etc/hosts.cluster`, the NFS
//! exports' client networks, the `clush` groups), generated from the facts by the same code
//! that writes `build`'s files, so a kickstart and the tree always agree.
//!
//! They are built-ins: they win over every stored attribute and over `--attrs`/`--attr`
//! (see [`crate::facts::builtin::BUILTINS`]); the framework's `attributes.toml` only has
//! defaults for compiling an appliance without a database.

use std::collections::BTreeSet;

use crate::emit;
use crate::hostlist;
use crate::plan::Site;

/// `slurm.conf`'s `NodeName=` and `PartitionName=` lines (build's `scheduler/slurm-nodes.conf`).
pub const SLURM_NODES: &str = "Slurm_NodesConf";
/// The scheduled hosts as one hostlist, e.g. `compute-0-[0-1],compute-1-0`.
pub const SLURM_HOSTLIST: &str = "Slurm_ComputeNodes";
/// `ADDRESS<tab>NAMES` lines of every address of the cluster (build's `hosts`).
pub const HOSTS: &str = "Cluster_HostsFile";
/// The networks (CIDR, space-separated) that kickstartable hosts' primary interfaces are on.
pub const NETWORKS: &str = "Cluster_Networks";

/// The cluster-wide built-in attributes of `site`.
pub fn cluster_attrs(site: &Site<'_>) -> Result<Vec<(&'static str, String)>, minijinja::Error> {
    let slurm = crate::render::render("slurm-nodes.conf.j2", &emit::slurm::SlurmNodes::new(site))?;
    let slurm: Vec<&str> = slurm.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    let scheduled: Vec<&str> = emit::slurm::scheduled(site).iter().map(|h| h.name.as_str()).collect();
    let cluster = site.cluster;
    let networks: BTreeSet<String> = cluster
        .hosts
        .iter()
        .filter(|h| cluster.appliances.get(&h.appliance).is_some_and(|a| a.kickstartable))
        .filter_map(|h| h.primary()?.network.as_deref())
        .filter_map(|n| cluster.network(n))
        .map(|n| n.cidr.to_string())
        .collect();
    Ok(vec![
        (SLURM_NODES, slurm.join("\n")),
        (SLURM_HOSTLIST, hostlist::compress_ordered(&scheduled)),
        (HOSTS, emit::hosts::cluster_lines(site).join("\n")),
        (NETWORKS, networks.into_iter().collect::<Vec<_>>().join(" ")),
    ])
}
