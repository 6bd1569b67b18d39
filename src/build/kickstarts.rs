//! Kickstarts of database hosts: the one code path behind `kickstart --host`, `kickstart
//! --query -o DIR`, `build` and the web responder. Hosts are grouped by the graph their
//! appliance uses; each group is compiled in one batch ([`crate::batch`]), so hosts that agree
//! on every attribute a condition reads share one traversal.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::attrs::{Attrs, Origins, has_default_password};
use crate::batch::HostJob;
use crate::diag::Diagnostic;
use crate::emit::kickstart::KickstartOptions;
use crate::facts::builtin::builtin;
use crate::facts::{self, Db, FactsError, InstallServer};
use crate::graph::Framework;
use crate::load::{Layer, LoadError};
use crate::plan::{BuildOptions, Site};

/// How the database's facts meet the command line's attributes in [`host_kickstarts_with`].
#[derive(Debug, Clone, Default)]
pub struct FactOptions {
    /// Let `--attrs`/`--attr` override attributes derived from the facts (`hostname`,
    /// `hostaddr`, ...; see [`crate::facts::builtin::BUILTINS`]). Either way a warning names
    /// each attribute and both values.
    pub override_facts: bool,
    /// The cluster-wide built-ins ([`super::lists::cluster_attrs`]) when the caller has them
    /// already (`build`, with its scheduler selection); `None`: computed with the defaults.
    pub lists: Option<Vec<(&'static str, String)>>,
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
    /// Distinct shared profiles (see [`crate::batch::Stats::groups`]).
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
    #[error("internal error rendering the cluster's lists: {0}")]
    Render(#[from] minijinja::Error),
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
/// appliances that are not kickstartable are skipped and listed.
///
/// When install servers are configured, each host's attributes say which ones it uses:
/// `install_server` and `install_server_fallback` (addresses, chosen by
/// [`crate::cluster::rendezvous`]), `Kickstart_PrivateKickstartHost` becomes the primary
/// server, and every `http(s)://` attribute value that pointed at the previous kickstart host
/// (the package URLs) points at the primary server instead.
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
    let inputs = jobs(db, names, layers, given, facts)?;
    let mut report = KickstartReport {
        not_kickstartable: inputs.not_kickstartable,
        warnings: inputs.warnings,
        default_password: inputs.default_password,
        ..KickstartReport::default()
    };
    for GraphJobs { fw, mut diags, jobs } in inputs.graphs {
        let found: Mutex<Vec<Diagnostic>> = Mutex::new(Vec::new());
        let broken: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let stats = crate::batch::kickstarts_with(&fw, &jobs, opts, threads, |_, c| {
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
        diags.extend(found.into_inner().expect("no panic while holding the lock"));
        let mut broken = broken.into_inner().expect("no panic while holding the lock");
        broken.sort();
        report.failed.extend(broken);
        report.frameworks.push((fw, diags));
    }
    Ok(report)
}

/// The hosts of one graph, ready for [`crate::batch`].
#[derive(Debug)]
pub struct GraphJobs {
    /// The framework opened for the graph, and its diagnostics.
    pub fw: Framework,
    pub diags: Vec<Diagnostic>,
    /// One job per host, with the host's effective attributes, in the order asked for.
    pub jobs: Vec<HostJob>,
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

/// The compile jobs of the database hosts in `names`, grouped by graph, with the attributes
/// [`host_kickstarts_with`] describes. Opens one framework per graph.
pub fn jobs(db: &Db, names: &[String], layers: &[Layer], given: &Attrs, facts: &FactOptions) -> Result<Jobs, KickstartError> {
    let lists = match &facts.lists {
        Some(l) => l.clone(),
        None => {
            let cluster = db.cluster()?;
            let options = BuildOptions::default();
            super::lists::cluster_attrs(&Site::new(&cluster, &options))?
        }
    };
    // Attribute -> (hosts whose derived value differs from the command line's, with it).
    let mut conflicts: BTreeMap<&'static str, Vec<(String, String)>> = BTreeMap::new();
    let servers = db.servers()?;
    type Host = (String, facts::Appliance, BTreeMap<String, String>, Origins);
    let mut by_graph: BTreeMap<String, Vec<Host>> = BTreeMap::new();
    let mut out = Jobs::default();
    for (host, app, mut attrs) in db.compile_inputs(names)? {
        if !app.kickstartable {
            out.not_kickstartable.push(host.name);
            continue;
        }
        attrs.insert("root".into(), app.root.clone());
        // A host without an address has none: no framework default may stand in for it.
        for k in ["hostaddr", "ksmac"] {
            attrs.entry(k.to_string()).or_default();
        }
        if let Some((p, f)) = crate::cluster::rendezvous(&servers, &host.name) {
            server_attrs(&mut attrs, &servers[p], &servers[f]);
        }
        attrs.extend(lists.iter().map(|(k, v)| (k.to_string(), v.clone())));
        for (k, v) in given {
            if let Some(b) = builtin(k)
                && let Some(fact) = attrs.get(k).filter(|f| *f != v)
            {
                conflicts.entry(b.key).or_default().push((host.name.clone(), fact.clone()));
                if !facts.override_facts {
                    continue;
                }
            }
            attrs.insert(k.clone(), v.clone());
        }
        let origins = multi_line_origins(db, &host.name, &attrs, given)?;
        by_graph.entry(app.graph.clone()).or_default().push((host.name, app, attrs, origins));
    }
    out.not_kickstartable.sort();
    out.warnings = conflicts.into_iter().map(|(key, hosts)| conflict_warning(key, &given[key], &hosts, facts.override_facts)).collect();
    for (graph, hosts) in by_graph {
        let (fw, diags) = crate::open(layers, &graph)?;
        let jobs: Vec<HostJob> = hosts
            .into_iter()
            .map(|(host, app, attrs, origins)| HostJob {
                attrs: crate::effective_attrs(&fw, &app.name, &attrs),
                host,
                appliance: app.name,
                origins,
            })
            .collect();
        out.default_password.extend(jobs.iter().filter(|j| has_default_password(&j.attrs)).map(|j| j.host.clone()));
        out.graphs.push(GraphJobs { fw, diags, jobs });
    }
    out.default_password.sort();
    Ok(out)
}

/// The warning about attribute `key` = `given` from the command line that differs from what
/// the database derives for `hosts` (name, derived value).
fn conflict_warning(key: &str, given: &str, hosts: &[(String, String)], overridden: bool) -> Diagnostic {
    let n = hosts.len();
    let plural = if n == 1 { "" } else { "s" };
    let b = builtin(key).expect("conflicts are about built-ins");
    let given = short(given);
    let (message, help) = if overridden {
        (
            format!("`{key}` = `{given}` from `--attrs`/`--attr` overrides the database's value for {n} host{plural} (`--override-facts`)"),
            format!("drop `--override-facts` to use the facts; change them with {}", b.fix),
        )
    } else {
        (
            format!("`{key}` = `{given}` from `--attrs`/`--attr` is ignored: the database derives it from {} for {n} host{plural}", b.from),
            format!("remove `{key}` from the attributes given, change the fact with {}, or pass `--override-facts`", b.fix),
        )
    };
    const SHOWN: usize = 5;
    let mut d = Diagnostic::warning("attrs::overrides-fact", message).help(help);
    for (host, fact) in hosts.iter().take(SHOWN) {
        d = d.note(format!("host `{host}`: `{key}` = `{}` in the database, `{}` given", short(fact), given));
    }
    if n > SHOWN {
        d = d.note(format!("and {} more host{}", n - SHOWN, if n - SHOWN == 1 { "" } else { "s" }));
    }
    d
}

/// A value as a warning shows it: its first line, at most 60 characters.
fn short(value: &str) -> String {
    let line = value.lines().next().unwrap_or("");
    let cut: String = line.chars().take(60).collect();
    if cut.len() < value.len() { format!("{cut}...") } else { cut }
}

/// Where the values with a line break came from (the only ones a message may need to name):
/// the command line, or the database scope that won. Most hosts have none, and cost no query.
fn multi_line_origins(db: &Db, host: &str, attrs: &Attrs, given: &Attrs) -> Result<Origins, FactsError> {
    let mut origins = Origins::new();
    if !attrs.values().any(|v| v.contains(['\n', '\r'])) {
        return Ok(origins);
    }
    for a in db.host_attrs(host)? {
        let origin = if given.contains_key(&a.key) {
            "the command line".to_string()
        } else if a.scope == facts::Scope::Host {
            format!("the `host` scope of `{host}`")
        } else {
            format!("the `{}` scope", a.scope)
        };
        origins.insert(a.key, origin);
    }
    for k in given.keys() {
        origins.entry(k.clone()).or_insert_with(|| "the command line".to_string());
    }
    Ok(origins)
}

/// The attributes that point a host at its install servers.
fn server_attrs(attrs: &mut BTreeMap<String, String>, primary: &InstallServer, fallback: &InstallServer) {
    let old = attrs.get("Kickstart_PrivateKickstartHost").cloned();
    if let Some(old) = old.filter(|o| !o.is_empty() && *o != primary.ip) {
        for v in attrs.values_mut() {
            for scheme in ["http://", "https://"] {
                if let Some(rest) = v.strip_prefix(scheme).and_then(|r| r.strip_prefix(old.as_str()))
                    && (rest.is_empty() || rest.starts_with('/') || rest.starts_with(':'))
                {
                    *v = format!("{scheme}{}{rest}", primary.ip);
                }
            }
        }
    }
    attrs.insert("Kickstart_PrivateKickstartHost".into(), primary.ip.clone());
    attrs.insert("install_server".into(), primary.ip.clone());
    attrs.insert("install_server_fallback".into(), fallback.ip.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_urls_follow_the_primary_server() {
        let s = |ip: &str| InstallServer { name: ip.into(), ip: ip.into(), url: String::new() };
        let mut a: BTreeMap<String, String> = [
            ("Kickstart_PrivateKickstartHost", "10.1.1.1"),
            ("Kickstart_InstallURL", "http://10.1.1.1/install/rocky"),
            ("Kickstart_EPELURL", "https://10.1.1.1:8443/epel"),
            ("Other", "http://10.1.1.10/x"),
            ("Text", "see http://10.1.1.1/"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        server_attrs(&mut a, &s("10.1.1.3"), &s("10.1.1.2"));
        assert_eq!(a["Kickstart_InstallURL"], "http://10.1.1.3/install/rocky");
        assert_eq!(a["Kickstart_EPELURL"], "https://10.1.1.3:8443/epel");
        assert_eq!(a["Other"], "http://10.1.1.10/x", "another host that merely shares a prefix is left alone");
        assert_eq!(a["Text"], "see http://10.1.1.1/");
        assert_eq!(a["Kickstart_PrivateKickstartHost"], "10.1.1.3");
        assert_eq!(a["install_server_fallback"], "10.1.1.2");
    }
}
