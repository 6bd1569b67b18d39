//! `monitoring/ganglia/gmond.conf` and `monitoring/ganglia/gmetad.conf`: Ganglia's host
//! daemon, the same file for every host of the cluster, and the data sources of the
//! collector that polls it.
//!
//! Every `gmond` reports the cluster's name ([`monitoring::cluster_name`]) and sends its
//! metrics to the frontends' monitoring addresses ([`monitoring::address`]) on the port of
//! the global attribute [`PORT_ATTR`] (default [`DEFAULT_PORT`]); `gmetad` polls those
//! frontends. Without a frontend with an address, the hosts
//! use Ganglia's multicast channel ([`MULTICAST`]) and `gmetad` polls the `gmond` of its own
//! host. Metric modules load from the global attribute [`MODULE_DIR_ATTR`] (default
//! [`DEFAULT_MODULE_DIR`], where EPEL's `ganglia-gmond` installs them).

use serde::Serialize;

use crate::plan::{Artifact, Kind, Site};

use super::monitoring;

/// The host daemon's configuration.
pub const GMOND_PATH: &str = "monitoring/ganglia/gmond.conf";
/// The collector's data sources.
pub const GMETAD_PATH: &str = "monitoring/ganglia/gmetad.conf";
/// Global attribute with the directory of gmond's metric modules.
pub const MODULE_DIR_ATTR: &str = "ganglia_module_dir";
/// Where EPEL's `ganglia-gmond` puts the metric modules.
pub const DEFAULT_MODULE_DIR: &str = "/usr/lib64/ganglia";
/// Global attribute: gmond's port, for metrics (UDP) and its XML report (TCP).
pub const PORT_ATTR: &str = "ganglia_port";
/// gmond's port unless [`PORT_ATTR`] says otherwise (Ganglia's own).
pub const DEFAULT_PORT: u16 = 8649;
/// Ganglia's multicast group.
pub const MULTICAST: &str = "239.2.11.71";

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    if !site.wants(Kind::Ganglia) {
        return Ok(Vec::new());
    }
    let ctx = Ganglia::new(site);
    Ok(vec![
        Artifact::new(Kind::Ganglia, GMOND_PATH, crate::render::render("gmond.conf.j2", &ctx)?).with_secrets(&site.secrets),
        Artifact::new(Kind::Ganglia, GMETAD_PATH, crate::render::render("gmetad.conf.j2", &ctx)?).with_secrets(&site.secrets),
    ])
}

/// Facts the files cannot use as they are: a [`PORT_ATTR`] that is not a port.
pub fn check(site: &Site<'_>) -> Vec<crate::diag::Diagnostic> {
    monitoring::port(site, PORT_ATTR, DEFAULT_PORT).1.into_iter().collect()
}

/// The context of `gmond.conf.j2` and `gmetad.conf.j2`.
#[derive(Debug, Serialize)]
pub struct Ganglia {
    /// The cluster's name, fit for a double-quoted string ([`monitoring::quotable`]).
    pub cluster: String,
    pub module_dir: String,
    /// The frontends' addresses, in natural name order (every gmond sends there and gmetad
    /// polls their gmond); empty: multicast.
    pub collectors: Vec<String>,
    pub port: u16,
    /// Seconds between a gmond's metric descriptions: 30 when it sends to collectors
    /// (which learn a restarted sender's metrics only from them), else 0 (multicast peers
    /// ask for them).
    pub metadata_interval: u32,
    pub multicast: &'static str,
}

impl Ganglia {
    pub fn new(site: &Site<'_>) -> Ganglia {
        let collectors: Vec<String> = monitoring::hosts(site)
            .into_iter()
            .filter(|h| h.appliance == "frontend")
            .filter_map(monitoring::address)
            .map(|ip| ip.to_string())
            .collect();
        let metadata_interval = if collectors.is_empty() { 0 } else { 30 };
        let module_dir = crate::resolver::stored_global(site.cluster, MODULE_DIR_ATTR).unwrap_or(DEFAULT_MODULE_DIR);
        Ganglia {
            cluster: monitoring::quotable(&monitoring::cluster_name(site)),
            module_dir: monitoring::quotable(module_dir),
            collectors,
            port: monitoring::port(site, PORT_ATTR, DEFAULT_PORT).0,
            metadata_interval,
            multicast: MULTICAST,
        }
    }
}
