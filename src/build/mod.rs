//! `build`: every provisioning file of the cluster as one [`Plan`], computed from the facts
//! database and the framework, then written by [`crate::generation`] as one atomic
//! generation. Compute, then render, then write: [`plan`] touches no file but the database
//! and framework layers it reads.
//!
//! Steps: read the cluster ([`crate::facts::Db::cluster`]) -> derive the [`Site`] (install
//! servers per host, scheduler selection) -> [`model::check`] (refuse inconsistent facts,
//! every problem at once) -> each output kind's emitter under [`crate::emit`] -> per-host
//! kickstarts ([`kickstarts::host_kickstarts`]) -> a [`Plan`] sorted by path.

mod bmc;
pub mod diff;
pub mod kickstarts;
pub mod model;

use std::collections::BTreeMap;
use std::sync::Mutex;

use rayon::prelude::*;

use crate::attrs::Attrs;
use crate::diag::Diagnostic;
use crate::emit;
use crate::facts::{Db, FactsError};
use crate::generation::Previous;
use crate::kickstart::KickstartOptions;
use crate::load::{Layer, LoadError};
use crate::plan::{Artifact, BuildOptions, Kind, Plan, Site};

pub use kickstarts::{FactOptions, KickstartError, KickstartReport, host_kickstarts, host_kickstarts_with};

/// Everything a build needs besides the database.
pub struct BuildRequest<'a> {
    /// Framework layers for the kickstarts (and the model check of appliance roots).
    pub layers: &'a [Layer],
    /// Attributes given on the command line: they win over the database.
    pub given: &'a Attrs,
    pub kickstart: KickstartOptions<'a>,
    pub options: BuildOptions,
    /// Threads for the kickstarts.
    pub threads: usize,
    /// `given` may override attributes derived from the facts (see [`FactOptions`]).
    pub override_facts: bool,
    /// Kickstarts may carry the framework's public default root password (otherwise the
    /// build is refused with [`BuildError::DefaultPassword`] before any is compiled).
    pub allow_default_password: bool,
}

/// Reports progress of a long build (the CLI draws a bar; the library never prints).
pub trait Progress: Sync {
    /// A new phase with `total` units of work.
    fn phase(&self, name: &str, total: u64);
    /// `n` more units done.
    fn advance(&self, n: u64);
}

/// A [`Progress`] that shows nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// A finished plan and what was learnt making it.
#[derive(Debug)]
pub struct Built {
    pub plan: Plan,
    /// Kickstart compilation (warnings to show), when kickstarts were built.
    pub kickstarts: Option<KickstartReport>,
    /// Warnings about facts the outputs could not use as they are (no source spans).
    pub warnings: Vec<Diagnostic>,
}

/// Why a build produced no plan.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Facts(#[from] FactsError),
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The facts are inconsistent: every problem, each with a `build::` code.
    #[error("the cluster's facts are inconsistent ({} problem(s))", .0.len())]
    Model(Vec<Diagnostic>),
    /// Some kickstarts did not compile.
    #[error("{} host(s) failed to compile", .0.failed.len())]
    Kickstarts(Box<KickstartReport>),
    #[error("internal error rendering `{kind}`: {source}")]
    Render { kind: Kind, source: minijinja::Error },
    /// The previous generation of the tree could not be read.
    #[error("cannot read the previous generation: {0}")]
    Previous(std::io::Error),
    /// These hosts would get the framework's public default root password.
    #[error("{} host(s) would get the public default root password", .0.len())]
    DefaultPassword(Vec<String>),
    /// A kickstart could not be staged ([`Target::stage`]).
    #[error("cannot write: {0}")]
    Write(std::io::Error),
}

impl From<KickstartError> for BuildError {
    fn from(e: KickstartError) -> BuildError {
        match e {
            KickstartError::Facts(e) => BuildError::Facts(e),
            KickstartError::Load(e) => BuildError::Load(e),
        }
    }
}

/// Where a build's kickstarts go, and what it may keep of the previous generation.
pub struct Target<'a> {
    /// Without a stage: the kickstarts of hosts whose inputs are those recorded here are not
    /// made again but kept ([`Plan::kept`]). With one, [`Stage::begin`] gives the previous
    /// generation instead (read once, under the new generation's lock).
    pub previous: &'a Previous,
    /// Hand each kickstart here as soon as it is made (e.g. into a
    /// [`crate::generation::Generation`]), instead of holding every one in the plan: a large
    /// cluster's kickstarts are never all in memory. `None`: they are in [`Plan::artifacts`].
    pub stage: Option<&'a dyn Stage>,
}

/// Where [`Target::stage`] puts kickstarts.
pub trait Stage: Sync {
    /// Called once, before the first [`Stage::add`], on the calling thread (a refused build
    /// never calls it); the generation being replaced, to keep what did not change from.
    fn begin(&self) -> std::io::Result<Previous>;
    /// One kickstart (from any thread).
    fn add(&self, artifact: &Artifact) -> std::io::Result<()>;
}

impl Target<'_> {
    /// No previous generation, every artifact in the plan.
    pub fn fresh() -> Target<'static> {
        static NONE: std::sync::LazyLock<Previous> = std::sync::LazyLock::new(Previous::none);
        Target { previous: &NONE, stage: None }
    }
}

/// Compute every artifact of the cluster's tree. Nothing is written but what `target.stage`
/// writes.
pub fn plan(db: &Db, req: &BuildRequest<'_>, target: &Target<'_>, progress: &dyn Progress) -> Result<Built, BuildError> {
    let cluster = std::sync::Arc::new(db.cluster()?);
    let site = Site::new(&cluster, &req.options);

    // The model check, with the appliance roots checked against the framework.
    let graphs: std::collections::BTreeSet<&str> = cluster.appliances.values().map(|a| a.graph.as_str()).collect();
    let mut frameworks = BTreeMap::new();
    if site.wants(Kind::Kickstart) {
        for g in graphs {
            let (fw, _) = crate::graph::Framework::open(req.layers, g)?;
            frameworks.insert(g.to_string(), fw);
        }
    }
    let has_root = |graph: &str, root: &str| frameworks.get(graph).is_none_or(|fw| fw.has_node(root));
    let problems = model::check(&site, site.wants(Kind::Kickstart).then_some(&has_root as &dyn Fn(&str, &str) -> bool));
    drop(frameworks);
    let (problems, mut warnings): (Vec<Diagnostic>, Vec<Diagnostic>) = problems.into_iter().partition(Diagnostic::is_error);
    if !problems.is_empty() {
        return Err(BuildError::Model(problems));
    }

    if [Kind::Slurm, Kind::Sge, Kind::Pbs].iter().any(|k| site.wants(*k)) {
        warnings.extend(emit::slurm::check(&site));
    }
    if site.wants(Kind::Prometheus) {
        warnings.extend(emit::prometheus::check(&site));
    }
    if site.wants(Kind::Ganglia) {
        warnings.extend(emit::ganglia::check(&site));
    }
    let mut artifacts: Vec<Artifact> = Vec::new();
    type Emitter = fn(&Site<'_>) -> Result<Vec<Artifact>, minijinja::Error>;
    let emitters: [(Kind, Emitter); 15] = [
        (Kind::Dhcpd, emit::dhcpd::artifacts),
        (Kind::Kea, emit::kea::artifacts),
        (Kind::Hosts, emit::hosts::artifacts),
        (Kind::Dns, emit::dns::artifacts),
        (Kind::Pxe, emit::pxe::artifacts),
        (Kind::Slurm, emit::slurm::artifacts),
        (Kind::Pbs, emit::pbs::artifacts),
        (Kind::Sge, emit::sge::artifacts),
        (Kind::Genders, emit::genders::artifacts),
        (Kind::Prometheus, emit::prometheus::artifacts),
        (Kind::Nagios, emit::nagios::artifacts),
        (Kind::Ganglia, emit::ganglia::artifacts),
        (Kind::Conman, emit::conman::artifacts),
        (Kind::Conserver, emit::conserver::artifacts),
        (Kind::Powerman, emit::powerman::artifacts),
    ];
    let wanted: Vec<&(Kind, Emitter)> = emitters.iter().filter(|(k, _)| site.wants(*k)).collect();
    progress.phase("files", wanted.len() as u64);
    // The kinds are independent: they render on rayon's pool, results in a fixed order.
    let made: Vec<Result<Vec<Artifact>, BuildError>> = wanted
        .par_iter()
        .map(|(kind, emitter)| {
            let r = emitter(&site).map_err(|source| BuildError::Render { kind: *kind, source });
            progress.advance(1);
            r
        })
        .collect();
    for m in made {
        artifacts.extend(m?);
    }

    let mut report = None;
    let mut kept = Vec::new();
    let staged: Mutex<usize> = Mutex::new(0);
    if site.wants(Kind::Kickstart) {
        let names: Vec<String> = cluster
            .hosts
            .iter()
            .filter(|h| cluster.appliances.get(&h.appliance).is_some_and(|a| a.kickstartable))
            .map(|h| h.name.clone())
            .collect();
        let made: Mutex<Vec<Artifact>> = Mutex::new(Vec::with_capacity(names.len()));
        let given = crate::resolver::Given { attrs: req.given.clone(), override_facts: req.override_facts };
        let mut inputs = kickstarts::jobs(cluster.clone(), &names, req.layers, given)?;
        if !req.allow_default_password && !inputs.default_password.is_empty() {
            return Err(BuildError::DefaultPassword(std::mem::take(&mut inputs.default_password)));
        }
        let begun = target.stage.map(|stage| stage.begin()).transpose().map_err(BuildError::Write)?;
        let previous = begun.as_ref().unwrap_or(target.previous);
        let keys = kickstarts::unchanged(&mut inputs, &req.kickstart, previous).map_err(BuildError::Previous)?;
        kept = keys.kept;
        artifacts.push(keys.artifact);
        // Two units per host: grouping it with the hosts that share its kickstart, compiling it.
        progress.phase("kickstarts", 2 * inputs.graphs.iter().map(|g| g.hosts.len() as u64).sum::<u64>());
        let failed_write: Mutex<Option<std::io::Error>> = Mutex::new(None);
        let r = kickstarts::compile_reporting(inputs, &req.kickstart, req.threads, &|n| progress.advance(n), |host, text| {
            let a = Artifact::new(Kind::Kickstart, format!("kickstart/{host}.ks"), text).with_secrets(&site.secrets);
            match target.stage {
                Some(stage) => match stage.add(&a) {
                    Ok(()) => *staged.lock().expect("no panic while holding the lock") += 1,
                    Err(e) => {
                        failed_write.lock().expect("no panic while holding the lock").get_or_insert(e);
                    }
                },
                None => made.lock().expect("no panic while holding the lock").push(a),
            }
            progress.advance(1);
        });
        if r.failed() {
            return Err(BuildError::Kickstarts(Box::new(r)));
        }
        if let Some(e) = failed_write.into_inner().expect("no panic while holding the lock") {
            return Err(BuildError::Write(e));
        }
        artifacts.extend(made.into_inner().expect("no panic while holding the lock"));
        warnings.extend(r.warnings.iter().cloned());
        report = Some(r);
    }

    let mut load: BTreeMap<String, usize> = site.servers.iter().map(|s| (s.name.clone(), 0)).collect();
    for i in 0..cluster.hosts.len() {
        if let Some(s) = site.server(i) {
            *load.entry(s.name.clone()).or_default() += 1;
        }
    }
    let staged = staged.into_inner().expect("no panic while holding the lock");
    let only = (site.options.kinds.len() < Kind::ALL.len()).then(|| site.options.kinds.clone());
    let mut plan = Plan { artifacts, kept, staged, server_load: load.into_iter().collect(), only };
    plan.sort();
    Ok(Built { plan, kickstarts: report, warnings })
}
