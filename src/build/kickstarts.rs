//! Kickstarts of database hosts: the one code path behind `kickstart --host`, `kickstart
//! --query -o DIR`, `build` and the web responder. Hosts are grouped by the graph their
//! appliance uses; each group is compiled in one batch ([`crate::kickstart::batch`]), so
//! hosts that agree on every attribute a condition reads share one traversal. Each host's
//! attributes come from [`crate::resolver`] when its job is asked for.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::attrs::{Attrs, DEFAULT_ROOT_PASSWORD_HASH, Origins, ROOT_PASSWORD};
use crate::diag::Diagnostic;
use crate::facts::{Db, FactsError};
use crate::generation::{ManifestEntry, Previous};
use crate::graph::Framework;
use crate::kickstart::KickstartOptions;
use crate::kickstart::batch::{HostJob, JobSource};
use crate::load::{Layer, LoadError};
use crate::model::Cluster;
use crate::plan::Artifact;
use crate::resolver::{Given, Resolver, conflict_warning};

/// How the database's facts meet the command line's attributes in [`host_kickstarts_with`].
#[derive(Debug, Clone, Default)]
pub struct FactOptions {
    /// Let `--attrs`/`--attr` override attributes derived from the facts (`hostname`,
    /// `hostaddr`, ...; see [`crate::resolver::builtin::BUILTINS`]). Either way a warning names
    /// each attribute and both values.
    pub override_facts: bool,
}

/// What [`host_kickstarts`] reports besides the texts it handed to the sink.
#[derive(Debug, Default)]
pub struct KickstartReport {
    /// Warnings about the command line's attributes against the facts (no source spans).
    pub warnings: Vec<Diagnostic>,
    /// Hosts compiled with the framework's public default root password, sorted.
    pub default_password: Vec<String>,
    /// Each framework that was opened (one per graph) with the diagnostics of its hosts
    /// (each distinct diagnostic once), for rendering against its sources.
    pub frameworks: Vec<(Framework, Vec<Diagnostic>)>,
    /// Hosts that did not compile, sorted.
    pub failed: Vec<String>,
    /// Hosts skipped because their appliance is not kickstartable, sorted.
    pub not_kickstartable: Vec<String>,
    /// Hosts compiled.
    pub hosts: usize,
    /// Distinct shared profiles (see [`crate::kickstart::batch::Stats::groups`]).
    pub groups: usize,
}

impl KickstartReport {
    /// Whether any host failed or any error diagnostic was found.
    pub fn failed(&self) -> bool {
        !self.failed.is_empty() || self.frameworks.iter().any(|(_, d)| crate::diag::has_errors(d))
    }
}

/// Why no kickstart could be compiled at all.
#[derive(Debug, thiserror::Error)]
pub enum KickstartError {
    #[error(transparent)]
    Facts(#[from] FactsError),
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// [`host_kickstarts_with`] with the default [`FactOptions`]: facts win over `given`.
pub fn host_kickstarts<F>(
    db: &Db,
    names: &[String],
    layers: &[Layer],
    given: &Attrs,
    opts: &KickstartOptions<'_>,
    threads: usize,
    sink: F,
) -> Result<KickstartReport, KickstartError>
where
    F: Fn(&str, String) + Sync,
{
    host_kickstarts_with(db, names, layers, given, &FactOptions::default(), opts, threads, sink)
}

/// Compile the kickstart of every host in `names` (database hosts), handing each text to
/// `sink(host, text)` as soon as it is ready, from up to `threads` threads. `given` (the
/// command line's attributes) wins over stored attributes but not over the built-ins derived
/// from the facts, unless `facts.override_facts` (a warning names each conflict). Hosts of
/// appliances that are not kickstartable are skipped and listed. The attributes are made by
/// [`crate::resolver`] from one snapshot of the database.
#[allow(clippy::too_many_arguments)]
pub fn host_kickstarts_with<F>(
    db: &Db,
    names: &[String],
    layers: &[Layer],
    given: &Attrs,
    facts: &FactOptions,
    opts: &KickstartOptions<'_>,
    threads: usize,
    sink: F,
) -> Result<KickstartReport, KickstartError>
where
    F: Fn(&str, String) + Sync,
{
    let given = Given { attrs: given.clone(), override_facts: facts.override_facts };
    let inputs = jobs(Arc::new(db.cluster()?), names, layers, given)?;
    Ok(compile(inputs, opts, threads, sink))
}

/// Compile every job of `inputs` (see [`host_kickstarts_with`]).
pub fn compile<F>(inputs: Jobs, opts: &KickstartOptions<'_>, threads: usize, sink: F) -> KickstartReport
where
    F: Fn(&str, String) + Sync,
{
    compile_reporting(inputs, opts, threads, &|_| {}, sink)
}

/// [`compile`], calling `grouped(n)` as `n` more hosts are grouped, the pass over every host
/// before any is compiled (for a progress bar: two units of work per host).
pub fn compile_reporting<F>(inputs: Jobs, opts: &KickstartOptions<'_>, threads: usize, grouped: &(dyn Fn(u64) + Sync), sink: F) -> KickstartReport
where
    F: Fn(&str, String) + Sync,
{
    let mut report = KickstartReport {
        not_kickstartable: inputs.not_kickstartable,
        warnings: inputs.warnings,
        default_password: inputs.default_password,
        ..KickstartReport::default()
    };
    for gj in inputs.graphs {
        let found: Mutex<Vec<Diagnostic>> = Mutex::new(Vec::new());
        let broken: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let stats = crate::kickstart::batch::kickstarts_reporting(&gj.fw, &gj, opts, threads, grouped, |_, c| {
            {
                let mut f = found.lock().expect("no panic while holding the lock");
                // Hosts of one group report the same problems: keep each once.
                for d in c.diags {
                    if !f.contains(&d) {
                        f.push(d);
                    }
                }
            }
            match c.text {
                Some(text) => sink(&c.host, text),
                None => broken.lock().expect("no panic while holding the lock").push(c.host),
            }
        });
        report.groups += stats.groups;
        report.hosts += stats.hosts;
        let GraphJobs { fw, mut diags, .. } = gj;
        diags.extend(found.into_inner().expect("no panic while holding the lock"));
        let mut broken = broken.into_inner().expect("no panic while holding the lock");
        broken.sort();
        report.failed.extend(broken);
        report.frameworks.push((fw, diags));
    }
    report
}

/// The hosts of one graph, ready for [`crate::kickstart::batch`]: each host's attributes are made by
/// the resolver when its job is asked for, so they are never all in memory at once.
#[derive(Debug)]
pub struct GraphJobs {
    /// The framework opened for the graph, and its diagnostics.
    pub fw: Framework,
    pub diags: Vec<Diagnostic>,
    /// The hosts (numbers in the resolver's cluster), in the order asked for.
    pub hosts: Vec<usize>,
    pub resolver: Arc<Resolver>,
}

impl JobSource for GraphJobs {
    fn len(&self) -> usize {
        self.hosts.len()
    }

    fn job(&self, k: usize) -> Cow<'_, HostJob> {
        let i = self.hosts[k];
        let h = &self.resolver.cluster().hosts[i];
        let layers = self.resolver.host(i, &self.fw.defaults);
        let attrs = layers.attrs();
        // Origins are named only in messages about values with a line break: most hosts have none.
        let origins = if attrs.values().any(|v| v.contains(['\n', '\r'])) { layers.origins(&h.name) } else { Origins::new() };
        Cow::Owned(HostJob { host: h.name.clone(), appliance: h.appliance.clone(), attrs, origins })
    }
}

/// What [`jobs`] found.
#[derive(Debug, Default)]
pub struct Jobs {
    /// By graph name.
    pub graphs: Vec<GraphJobs>,
    /// Hosts skipped because their appliance is not kickstartable, sorted.
    pub not_kickstartable: Vec<String>,
    /// Warnings about the command line's attributes against the facts.
    pub warnings: Vec<Diagnostic>,
    /// Hosts with the framework's public default root password, sorted.
    pub default_password: Vec<String>,
}

/// The compile jobs of the hosts in `names` of `cluster`, grouped by graph, with the
/// attributes [`host_kickstarts_with`] describes. Opens one framework per graph.
pub fn jobs(cluster: Arc<Cluster>, names: &[String], layers: &[Layer], given: Given) -> Result<Jobs, KickstartError> {
    let resolver = Arc::new(Resolver::new(cluster, given));
    let cluster = resolver.cluster();
    // Attribute -> (hosts whose derived value differs from the command line's, with it).
    let mut conflicts: BTreeMap<&'static str, Vec<(String, String)>> = BTreeMap::new();
    let mut by_graph: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut out = Jobs::default();
    for name in names {
        let i = cluster.hosts.binary_search_by(|h| h.name.as_str().cmp(name)).map_err(|_| FactsError::UnknownHost(name.clone()))?;
        let h = &cluster.hosts[i];
        let Some(app) = cluster.appliances.get(&h.appliance).filter(|a| a.kickstartable) else {
            out.not_kickstartable.push(h.name.clone());
            continue;
        };
        for (key, fact) in resolver.conflicts(i, &Attrs::new()) {
            conflicts.entry(key).or_default().push((h.name.clone(), fact));
        }
        by_graph.entry(app.graph.as_str()).or_default().push(i);
    }
    out.not_kickstartable.sort();
    let given = &resolver.given().attrs;
    out.warnings =
        conflicts.into_iter().map(|(key, hosts)| conflict_warning(key, &given[key], &hosts, resolver.given().override_facts)).collect();
    for (graph, hosts) in by_graph {
        let (fw, diags) = crate::graph::Framework::open(layers, graph)?;
        out.default_password.extend(
            hosts
                .iter()
                .filter(|&&i| resolver.host(i, &fw.defaults).get(ROOT_PASSWORD).is_some_and(|f| f.value == DEFAULT_ROOT_PASSWORD_HASH))
                .map(|&i| cluster.hosts[i].name.clone()),
        );
        out.graphs.push(GraphJobs { fw, diags, hosts, resolver: resolver.clone() });
    }
    out.default_password.sort();
    Ok(out)
}

/// The tree file of the input keys of the kickstarts (see [`unchanged`]).
pub const KEYS: &str = "KEYS";

/// What [`unchanged`] decided.
#[derive(Debug)]
pub struct Unchanged {
    /// The kickstarts of the previous generation that go over as they are.
    pub kept: Vec<ManifestEntry>,
    /// The new keys file ([`KEYS`]), for every host of `jobs`.
    pub artifact: Artifact,
}

/// What every kickstart of `fw` is made from besides the host's attributes: this build of
/// rocks-compile (its version and a digest of its sources), the framework's files and the
/// compile options, whether `<eval>` runs included. Output made while `<eval>` runs is not a
/// function of the inputs: callers never reuse it, and its key never matches one made
/// without.
pub fn framework_key(fw: &Framework, opts: &KickstartOptions<'_>) -> [u8; 32] {
    let mut extra = Sha256::new();
    extra.update(env!("CARGO_PKG_VERSION").as_bytes());
    extra.update(env!("ROCKS_COMPILE_BUILD_ID").as_bytes());
    extra.update(fw.sources.digest());
    extra.update(fw.graph.as_bytes());
    extra.update([
        u8::from(opts.rcs),
        u8::from(opts.post_log),
        u8::from(opts.var_rocks_copy),
        u8::from(opts.eval_as_text),
        u8::from(opts.eval.is_some()),
    ]);
    extra.finalize().into()
}

impl GraphJobs {
    /// The input key of every host of the graph ([`Resolver::key`] with [`framework_key`]),
    /// in job order.
    pub fn keys(&self, opts: &KickstartOptions<'_>) -> Vec<[u8; 32]> {
        use rayon::prelude::*;
        let extra = framework_key(&self.fw, opts);
        self.hosts.par_iter().map(|&i| self.resolver.key(i, &extra)).collect()
    }
}

/// Take out of `jobs` every host whose kickstart the previous generation has, made from the
/// same inputs: each host's key hashes its resolved layers ([`Resolver::key`]), the
/// framework's files and the compile options; hosts with the key `previous` recorded and an
/// intact file are kept, without compiling or reading them. A framework that runs `<eval>`
/// is always compiled (its output is not a function of the inputs).
pub fn unchanged(jobs: &mut Jobs, opts: &KickstartOptions<'_>, previous: &Previous) -> std::io::Result<Unchanged> {
    use rayon::prelude::*;
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut kept = Vec::new();
    for gj in &mut jobs.graphs {
        let extra = framework_key(&gj.fw, opts);
        let cluster = gj.resolver.cluster().clone();
        let decided: Vec<std::io::Result<(String, Option<ManifestEntry>)>> = gj
            .hosts
            .par_iter()
            .map(|&i| {
                let name = &cluster.hosts[i].name;
                let key = crate::generation::hex(&gj.resolver.key(i, &extra));
                let keep = if opts.eval.is_none() && previous.key(name) == Some(key.as_str()) {
                    previous.reusable(&format!("kickstart/{name}.ks"))?
                } else {
                    None
                };
                Ok((key, keep))
            })
            .collect();
        let mut compile = Vec::new();
        for (&i, d) in gj.hosts.iter().zip(decided) {
            let (key, keep) = d?;
            keys.push((cluster.hosts[i].name.clone(), key));
            match keep {
                Some(e) => kept.push(e),
                None => compile.push(i),
            }
        }
        gj.hosts = compile;
    }
    let text = Previous::render_keys(keys.iter().map(|(n, k)| (n.as_str(), k.as_str())));
    // The keys are digests of every input, secrets included: readable like the kickstarts.
    let artifact = Artifact::new(crate::plan::Kind::Kickstart, KEYS, text).secret();
    Ok(Unchanged { kept, artifact })
}
