//! # rocks-compile
//!
//! A compiler from NPACI Rocks-style node and graph XML (plus cluster facts) to the files
//! that install and run a cluster, starting with Red Hat kickstart files.
//!
//! ## Steps
//! 1. [`load`] reads framework directories (or the embedded default framework) into
//!    [`span::Sources`]. *I/O.*
//! 2. [`xml`] turns each file into a spanned element tree; [`syntax`] turns that into Rocks
//!    node files and graph files; [`cond`] parses every `cond=`/`arch=`/`os=` once.
//! 3. [`graph::Framework::build`] merges the layers: node lookup (`extend-`/`replace-`), the
//!    edge graph and the order graph.
//! 4. [`resolve::profile`] walks the graph for an appliance and a host's attributes and
//!    orders the reachable node files.
//! 5. [`emit::kickstart::build`] resolves entities, files and scripts into a typed
//!    [`emit::kickstart::Kickstart`], which [`render`] turns into text.
//! 6. [`batch`] compiles many hosts, sharing one traversal per group of hosts that agree on
//!    every attribute a condition reads.
//! 7. [`build::plan`] reads the whole [`cluster::Cluster`] from the facts database, checks it
//!    ([`build::model`]), and runs every output kind's emitter under [`emit`] (DHCP, hosts,
//!    DNS, PXE, scheduler lists) plus the per-host kickstarts into a [`plan::Plan`]: every
//!    file as plain data.
//! 8. [`generation`] writes a plan as one atomic generation of an output tree (with a
//!    manifest; [`generation::verify`] checks it); [`write`] replaces a single file
//!    atomically; [`cli`] (and `main`) parse the command line and print. *I/O.*
//!
//! [`explain`] answers where each line of a kickstart came from, from a kickstart built with
//! [`emit::kickstart::build_traced`] (provenance is collected only there).
//!
//! ## Invariants
//! - Nothing between `load`/`facts` and `generation`/`write` touches the filesystem, the
//!   clock or the network; `<eval>` runs only through an [`emit::kickstart::EvalRunner`] the caller passes.
//! - Same inputs, byte-identical output: sorted maps, name tie-breaks, no random names.
//! - Parsing never stops at the first problem: every stage returns its value plus
//!   [`diag::Diagnostic`]s with stable codes and spans.

pub mod attrs;
pub mod batch;
pub mod build;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod cond;
pub mod diag;
pub mod dot;
pub mod emit;
pub mod explain;
pub mod facts;
pub mod generation;
pub mod graph;
pub mod hostlist;
pub mod load;
pub mod plan;
pub mod render;
pub mod resolve;
pub mod span;
pub mod syntax;
pub mod write;
pub mod xml;

use attrs::Attrs;
use diag::Diagnostic;
use emit::kickstart::{Kickstart, KickstartOptions};
use graph::Framework;

/// Read `layers` and build the framework for `graph`.
pub fn open(layers: &[load::Layer], graph: &str) -> Result<(Framework, Vec<Diagnostic>), load::LoadError> {
    let loaded = load::load(layers)?;
    Ok(Framework::build(loaded, graph))
}

/// The attributes a compile sees: the framework's defaults, then built-ins for the appliance,
/// then the caller's attributes (highest precedence).
pub fn effective_attrs(fw: &Framework, appliance: &str, given: &Attrs) -> Attrs {
    let mut a = fw.defaults.clone();
    a.insert("appliance".into(), appliance.to_string());
    a.insert("membership".into(), capitalised(appliance));
    a.insert("graph".into(), fw.graph.clone());
    a.insert("root".into(), fw.root_of(appliance));
    a.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    rocks_derived(&mut a);
    a
}

/// Rocks' membership name of an appliance: `compute` -> `Compute`.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Attributes Rocks derived from `rocks_version` / `rocks_release` when a host had them:
/// `version`, `rocks_version_major` and `release` (unless given explicitly).
fn rocks_derived(a: &mut Attrs) {
    if let Some(v) = a.get("rocks_version").cloned() {
        let major = v.split('.').next().unwrap_or("").to_string();
        a.entry("version".into()).or_insert(v);
        a.entry("rocks_version_major".into()).or_insert(major);
    }
    if let Some(r) = a.get("rocks_release").cloned() {
        a.entry("release".into()).or_insert(r);
    }
}

/// Compile the kickstart of `appliance` for a host with `attrs` (already merged, see
/// [`effective_attrs`]). `None` when an error diagnostic was produced.
pub fn kickstart(fw: &Framework, appliance: &str, attrs: &Attrs, opts: &KickstartOptions<'_>) -> (Option<Kickstart>, Vec<Diagnostic>) {
    let root = attrs.get("root").cloned().unwrap_or_else(|| fw.root_of(appliance));
    let (profile, mut diags) = resolve::profile(fw, &root, attrs);
    let Some(profile) = profile else { return (None, diags) };
    let (ks, d) = emit::kickstart::build(fw, appliance, &profile, attrs, opts);
    diags.extend(d);
    if diag::has_errors(&diags) {
        return (None, diags);
    }
    (Some(ks), diags)
}
