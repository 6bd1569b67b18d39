//! `monitoring/prometheus/nodes.json` and `monitoring/prometheus/bmcs.json`: Prometheus
//! file-based service discovery (`file_sd_configs`), one target group per host in natural
//! name order, each labelled `cluster`, `host`, `appliance` and `rack`.
//!
//! `nodes.json` names each host's node_exporter at its monitoring address
//! ([`monitoring::address`]) and the port of the global attribute [`PORT_ATTR`] (default
//! [`DEFAULT_PORT`]); `bmcs.json` names each management controller's address, for an IPMI
//! exporter that takes it as its `target` parameter. A host without such an address is not
//! in the list; a list without hosts is `[]`, so a Prometheus configuration naming it
//! stays valid.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use crate::model::HostFacts;
use crate::plan::{Artifact, Kind, Site};

use super::monitoring;

/// The node_exporter targets.
pub const NODES_PATH: &str = "monitoring/prometheus/nodes.json";
/// The management controllers, for an IPMI exporter.
pub const BMCS_PATH: &str = "monitoring/prometheus/bmcs.json";
/// Global attribute with the port node_exporter listens on.
pub const PORT_ATTR: &str = "node_exporter_port";
/// node_exporter's own port.
pub const DEFAULT_PORT: u16 = 9100;

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    if !site.wants(Kind::Prometheus) {
        return Ok(Vec::new());
    }
    let (port, _) = monitoring::port(site, PORT_ATTR, DEFAULT_PORT);
    let name = monitoring::cluster_name(site);
    let nodes = groups(site, &name, |h| monitoring::address(h).map(|ip| SocketAddr::new(ip, port).to_string()));
    let bmcs = groups(site, &name, |h| monitoring::bmc_address(h).map(|ip: IpAddr| ip.to_string()));
    Ok(vec![
        Artifact::new(Kind::Prometheus, NODES_PATH, json(&nodes)?).with_secrets(&site.secrets),
        Artifact::new(Kind::Prometheus, BMCS_PATH, json(&bmcs)?).with_secrets(&site.secrets),
    ])
}


/// Facts the target lists cannot use as they are: a [`PORT_ATTR`] that is not a port.
pub fn check(site: &Site<'_>) -> Vec<crate::diag::Diagnostic> {
    monitoring::port(site, PORT_ATTR, DEFAULT_PORT).1.into_iter().collect()
}

/// One target group of a `file_sd_configs` file.
#[derive(Debug, Serialize)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    /// Sorted by name.
    pub labels: BTreeMap<&'static str, String>,
}

/// A target group per host that `target` gives a target for, in natural name order.
fn groups(site: &Site<'_>, cluster: &str, target: impl Fn(&HostFacts) -> Option<String>) -> Vec<TargetGroup> {
    monitoring::hosts(site)
        .into_iter()
        .filter_map(|h| {
            let labels = BTreeMap::from([
                ("cluster", cluster.to_string()),
                ("host", h.name.clone()),
                ("appliance", h.appliance.clone()),
                ("rack", h.rack.to_string()),
            ]);
            target(h).map(|t| TargetGroup { targets: vec![t], labels })
        })
        .collect()
}

/// Pretty JSON with a final newline.
fn json(groups: &[TargetGroup]) -> Result<String, minijinja::Error> {
    let mut text = serde_json::to_string_pretty(groups)
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::BadSerialization, "target groups as JSON").with_source(e))?;
    text.push('\n');
    Ok(text)
}
