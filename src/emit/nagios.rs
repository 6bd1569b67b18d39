//! `monitoring/nagios/hosts.cfg`: Nagios (and Icinga 1) object definitions, to be named by
//! a `cfg_file=` line of the main configuration: a `define hostgroup` per appliance
//! (`appliance-<name>`) and per rack (`rack-<n>`), then a `define host` per host in natural
//! name order, using the host template of the global attribute [`TEMPLATE_ATTR`] (default
//! [`DEFAULT_TEMPLATE`], which the main configuration defines, as Nagios's sample
//! `templates.cfg` does) and naming its two host groups.
//!
//! A host is watched at its monitoring address ([`monitoring::address`]); a host without
//! one has its name as address, for Nagios to resolve.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::hostlist;
use crate::plan::{Artifact, Kind, Site};

use super::monitoring;

/// Where the file goes in the tree.
pub const PATH: &str = "monitoring/nagios/hosts.cfg";

/// Global attribute: the host template every host uses.
pub const TEMPLATE_ATTR: &str = "nagios_host_template";
/// The host template unless [`TEMPLATE_ATTR`] says otherwise.
pub const DEFAULT_TEMPLATE: &str = "linux-server";

/// The host template: [`TEMPLATE_ATTR`], else [`DEFAULT_TEMPLATE`]. The model check refuses
/// a name Nagios would not take ([`template_name`]).
pub fn template(site: &Site<'_>) -> String {
    crate::resolver::stored_global(site.cluster, TEMPLATE_ATTR).unwrap_or(DEFAULT_TEMPLATE).to_string()
}

/// Whether Nagios takes `name` as an object name: no white space, no control character and
/// none of the characters its default `illegal_object_name_chars` lists.
pub fn template_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control() || "`~!$%^&*|'\"<>?,()=;".contains(c))
}

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    if !site.wants(Kind::Nagios) {
        return Ok(Vec::new());
    }
    let text = crate::render::render("nagios-hosts.cfg.j2", &NagiosHosts::new(site))?;
    Ok(vec![Artifact::new(Kind::Nagios, PATH, text).with_secrets(&site.secrets)])
}

/// The context of `nagios-hosts.cfg.j2`.
#[derive(Debug, Serialize)]
pub struct NagiosHosts {
    /// The cluster's name, for the header comment ([`monitoring::quotable`]).
    pub cluster: String,
    pub template: String,
    /// Appliance groups (natural order), then rack groups (by number).
    pub groups: Vec<NagiosGroup>,
    pub hosts: Vec<NagiosHost>,
}

/// One `define hostgroup`.
#[derive(Debug, Serialize)]
pub struct NagiosGroup {
    pub name: String,
    pub alias: String,
}

/// One `define host`.
#[derive(Debug, Serialize)]
pub struct NagiosHost {
    pub name: String,
    pub alias: String,
    pub address: String,
    /// Comma-separated host group names.
    pub groups: String,
}

impl NagiosHosts {
    pub fn new(site: &Site<'_>) -> NagiosHosts {
        let hosts = monitoring::hosts(site);
        let mut appliances: Vec<&str> = hosts.iter().map(|h| h.appliance.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
        appliances.sort_by(|a, b| hostlist::natural_cmp(a, b));
        let racks: BTreeSet<u32> = hosts.iter().map(|h| h.rack).collect();
        let groups = appliances
            .into_iter()
            .map(|a| NagiosGroup { name: appliance_group(a), alias: format!("{a} appliances") })
            .chain(racks.into_iter().map(|r| NagiosGroup { name: rack_group(r), alias: format!("rack {r}") }))
            .collect();
        let hosts = hosts
            .into_iter()
            .map(|h| NagiosHost {
                name: h.name.clone(),
                alias: format!("{} ({}, rack {}, rank {})", h.name, h.appliance, h.rack, h.rank),
                address: monitoring::address(h).map_or_else(|| h.name.clone(), |ip| ip.to_string()),
                groups: format!("{},{}", appliance_group(&h.appliance), rack_group(h.rack)),
            })
            .collect();
        NagiosHosts { cluster: monitoring::quotable(&monitoring::cluster_name(site)), template: template(site), groups, hosts }
    }
}

/// The host group of an appliance's hosts.
fn appliance_group(appliance: &str) -> String {
    format!("appliance-{appliance}")
}

/// The host group of a rack's hosts.
fn rack_group(rack: u32) -> String {
    format!("rack-{rack}")
}
