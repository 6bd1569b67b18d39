//! # rocks-compile
//!
//! A compiler from NPACI Rocks-style node and graph XML (plus cluster facts) to the files
//! that install and run a cluster, starting with Red Hat kickstart files.
//!
//! ## Library
//!
//! The supported API is this page: open a framework ([`open`]) or a cluster database
//! ([`open_database`]), compile one appliance ([`compile_appliance`]), one database host
//! ([`compile_host`]) or many ([`compile_hosts`]), plan a whole build ([`plan_build`]),
//! turn a [`Kickstart`] into text ([`render`]) and [`Diagnostic`]s into rustc-style reports
//! ([`render_diagnostics`]). The stage modules below are public only so the command line,
//! the tests and the benchmarks share their code; they are hidden and may change.
//!
//! Compile the built-in framework's `compute` kickstart with one attribute of the site:
//!
//! ```
//! use rocks_compile::{Attrs, KickstartOptions, Layer};
//!
//! let (fw, diags) = rocks_compile::open(&[Layer::Embedded], "default")?;
//! assert!(diags.is_empty(), "{}", rocks_compile::render_diagnostics(&diags, &fw.sources));
//! let site = Attrs::from([("Kickstart_Timezone".to_string(), "Europe/Berlin".to_string())]);
//! let (ks, diags) = rocks_compile::compile_appliance(&fw, "compute", &site, &KickstartOptions::default());
//! let text = rocks_compile::render(&ks.expect("the built-in compute appliance compiles"))?;
//! assert!(text.contains("timezone Europe/Berlin --utc"));
//! # assert!(diags.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Bad input gives diagnostics with a stable code, never a panic:
//!
//! ```
//! use rocks_compile::{Attrs, KickstartOptions, Layer};
//!
//! let (fw, _) = rocks_compile::open(&[Layer::Embedded], "default")?;
//! let site = Attrs::from([("Kickstart_Timezone".to_string(), "UTC\n%post\nid\n%end".to_string())]);
//! let (ks, diags) = rocks_compile::compile_appliance(&fw, "compute", &site, &KickstartOptions::default());
//! assert!(ks.is_none());
//! assert_eq!(diags[0].code, "entity::line-break");
//! let report = rocks_compile::render_diagnostics(&diags, &fw.sources);
//! assert!(report.contains("attribute `Kickstart_Timezone`"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A cluster database, one host, and a planned build (nothing is written):
//!
//! ```
//! use rocks_compile::{Attrs, BuildOptions, BuildRequest, HostSpec, KickstartOptions, Layer};
//!
//! let dir = tempfile::tempdir()?;
//! let mut db = rocks_compile::open_database(dir.path().join("cluster.db"))?;
//! let host = HostSpec { mac: Some("52:54:00:00:00:01".into()), ip: Some("10.1.255.254".into()), ..HostSpec::new("compute-0-0", "compute") };
//! db.add_host(&host)?;
//! let layers = [Layer::Embedded];
//! let (text, _report) = rocks_compile::compile_host(&db, &layers, "compute-0-0", &Attrs::new(), &KickstartOptions::default())?;
//! assert!(text.expect("compiles").contains("network"));
//! let req = BuildRequest { layers: &layers, given: &Attrs::new(), kickstart: KickstartOptions::default(), options: BuildOptions::default(), threads: 1, override_facts: false, allow_default_password: true };
//! let built = rocks_compile::plan_build(&db, &req)?;
//! assert!(built.plan.artifacts.iter().any(|a| a.path == "kickstart/compute-0-0.ks"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Steps
//! 1. [`load`] reads framework directories (or the embedded default framework) into
//!    [`span::Sources`]. *I/O.*
//! 2. [`xml`] turns each file into a spanned element tree; [`syntax`] turns that into Rocks
//!    node files and graph files; [`cond`] parses every `cond=`/`arch=`/`os=` once.
//! 3. [`graph::Framework::build`] merges the layers: node lookup (`extend-`/`replace-`), the
//!    edge graph and the order graph.
//! 4. [`resolver`] makes a host's attributes from one [`model::Cluster`] snapshot (the
//!    layers default < global < os < appliance < rack < built-in < host < given, each value
//!    with its scope); [`resolve::profile`] walks the graph for an appliance and those
//!    attributes and orders the reachable node files.
//! 5. [`kickstart::build`] resolves entities, files and scripts into a typed
//!    [`kickstart::Kickstart`], which [`render`] turns into text.
//! 6. [`kickstart::batch`] compiles many hosts, sharing one traversal per group of hosts that agree on
//!    every attribute a condition reads.
//! 7. [`build::plan`] reads the whole [`model::Cluster`] from the facts database, checks it
//!    ([`build::model`]), and runs every output kind's emitter under [`emit`] (DHCP, hosts,
//!    DNS, PXE, scheduler lists, the cluster-wide files hosts fetch) plus the per-host
//!    kickstarts of hosts whose inputs changed into a [`plan::Plan`]: every file as plain
//!    data (kickstarts may be handed to the writer as they are made).
//! 8. [`generation`] writes a plan as one atomic generation of an output tree (with a
//!    public manifest that never tells the size or sha256 of a file holding a secret, and a
//!    0640 private one that does; [`generation::verify`] checks it); [`write`] replaces a
//!    single file atomically; [`cli`] (and `main`) parse the command line and print. *I/O.*
//! 9. [`services`] says which services read the files a new generation changed
//!    ([`services::reloads`]) and reloads them ([`services::run`]). *I/O* (`run` only).
//!
//! [`power`] switches hosts on and off through their BMCs (`ipmitool`, many at once). *I/O.*
//!
//! [`explain`] answers where each line of a kickstart came from, from a kickstart built with
//! [`kickstart::build_traced`] (provenance is collected only there).
//!
//! ## Invariants
//! - Nothing between `load`/`facts` and `generation`/`write`/`services::run` touches the
//!   filesystem, the clock or the network; `<eval>` runs only through an
//!   [`kickstart::EvalRunner`] the caller passes. No service is reloaded before its new
//!   files are swapped in.
//! - Same inputs, byte-identical output: sorted maps, name tie-breaks, no random names.
//! - Parsing never stops at the first problem: every stage returns its value plus
//!   [`diag::Diagnostic`]s with stable codes and spans.

#![warn(missing_docs)]

// The stages. They are public so that the command-line front end (`src/cli`), the tests and
// the benchmarks share one code path with the library, but they are internal: hidden from the
// documentation, with no stability promise. The supported API is the facade above.
/// Declares the hidden stage modules.
macro_rules! internal {
    ($($m:ident),* $(,)?) => { $( #[doc(hidden)] pub mod $m; )* };
}

internal!(
    attrs, build, check, cond, diag, dot, emit, explain, facts, generation, graph, hostlist, kickstart, load, model, plan, power, render,
    resolve, resolver, services, span, syntax, write, xml
);
// The command line (feature `cli`) and the web responder (feature `serve`).
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
#[cfg(feature = "serve")]
#[doc(hidden)]
pub mod serve;

pub use attrs::Attrs;
pub use build::{BuildError, BuildRequest, Built, KickstartError, KickstartReport, host_kickstarts as compile_hosts};
pub use diag::{Diagnostic, Severity};
pub use facts::{Db, FactsError, HostSpec};
pub use graph::Framework;
pub use kickstart::{EvalRunner, Kickstart, KickstartOptions};
pub use load::{Layer, LoadError};
pub use plan::{Artifact, BuildOptions, Kind, Plan};
pub use span::Sources;

/// Open the cluster database at `path`. A new one is created with the default network,
/// appliances and boot actions (like `rocks-compile init`).
pub fn open_database(path: impl AsRef<std::path::Path>) -> Result<Db, FactsError> {
    if path.as_ref().exists() { Db::open(path) } else { Db::init(path, &Attrs::new()) }
}

/// Compile the kickstart of `appliance` with the caller's attributes `given` (over the
/// framework's defaults and the appliance's built-ins). `None` when an error diagnostic was
/// produced; render the diagnostics against [`Framework::sources`].
pub fn compile_appliance(
    fw: &Framework,
    appliance: &str,
    given: &Attrs,
    opts: &KickstartOptions<'_>,
) -> (Option<Kickstart>, Vec<Diagnostic>) {
    kickstart(fw, appliance, &effective_attrs(fw, appliance, given), opts)
}

/// Compile the kickstart of database host `host` with `layers` (its appliance's graph),
/// `given` winning over the database. The text is `None` when the host did not compile;
/// the report holds the framework and every diagnostic.
pub fn compile_host(
    db: &Db,
    layers: &[Layer],
    host: &str,
    given: &Attrs,
    opts: &KickstartOptions<'_>,
) -> Result<(Option<String>, KickstartReport), KickstartError> {
    let text = std::sync::Mutex::new(None);
    let report = build::host_kickstarts(db, &[host.to_string()], layers, given, opts, 1, |_, t| {
        *text.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(t);
    })?;
    Ok((text.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner), report))
}

/// Plan a whole build: every file of the cluster's tree as data ([`Plan`]); nothing is
/// written. Refused facts come back as [`BuildError::Model`].
pub fn plan_build(db: &Db, req: &BuildRequest<'_>) -> Result<Built, BuildError> {
    build::plan(db, req, &build::Target::fresh(), &build::Quiet)
}

/// The text of a compiled kickstart. An error means the built-in template and the
/// [`Kickstart`] disagree: a bug in rocks-compile, returned instead of panicking.
pub fn render(ks: &Kickstart) -> Result<String, minijinja::Error> {
    ks.render()
}

/// Diagnostics as rustc-style text (no colour), each pointing into `sources`.
pub fn render_diagnostics(diags: &[Diagnostic], sources: &Sources) -> String {
    diags.iter().map(|d| d.render(sources, false)).collect()
}

/// Read `layers` and build the framework for `graph`.
pub fn open(layers: &[Layer], graph: &str) -> Result<(Framework, Vec<Diagnostic>), load::LoadError> {
    Framework::open(layers, graph)
}

/// The attributes a compile sees: the framework's defaults, then built-ins for the appliance,
/// then the caller's attributes (highest precedence); see [`resolver::appliance_layers`].
pub fn effective_attrs(fw: &Framework, appliance: &str, given: &Attrs) -> Attrs {
    resolver::appliance_attrs(fw, appliance, given)
}

/// Compile the kickstart of `appliance` for a host with `attrs` (already merged, see
/// [`effective_attrs`]). `None` when an error diagnostic was produced.
pub fn kickstart(fw: &Framework, appliance: &str, attrs: &Attrs, opts: &KickstartOptions<'_>) -> (Option<Kickstart>, Vec<Diagnostic>) {
    kickstart::compile(fw, appliance, attrs, opts)
}
