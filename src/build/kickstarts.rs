//! Kickstarts of database hosts: the one code path behind `kickstart --host`, `kickstart
//! --query -o DIR`, `build` and the web responder. Hosts are grouped by the graph their
//! appliance uses; each group is compiled in one batch ([`crate::batch`]), so hosts that agree
//! on every attribute a condition reads share one traversal.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::attrs::Attrs;
use crate::batch::HostJob;
use crate::diag::Diagnostic;
use crate::emit::kickstart::KickstartOptions;
use crate::facts::{self, Db, FactsError, InstallServer};
use crate::graph::Framework;
use crate::load::{Layer, LoadError};

/// What [`host_kickstarts`] reports besides the texts it handed to the sink.
#[derive(Debug, Default)]
pub struct KickstartReport {
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
}

/// Compile the kickstart of every host in `names` (database hosts), handing each text to
/// `sink(host, text)` as soon as it is ready, from up to `threads` threads. `given` (the
/// command line's attributes) wins over the database. Hosts of appliances that are not
/// kickstartable are skipped and listed.
///
/// When install servers are configured, each host's attributes say which ones it uses:
/// `install_server` and `install_server_fallback` (addresses, chosen by
/// [`crate::cluster::rendezvous`]), `Kickstart_PrivateKickstartHost` becomes the primary
/// server, and every `http(s)://` attribute value that pointed at the previous kickstart host
/// (the package URLs) points at the primary server instead.
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
    let servers = db.servers()?;
    type Host = (String, facts::Appliance, BTreeMap<String, String>);
    let mut by_graph: BTreeMap<String, Vec<Host>> = BTreeMap::new();
    let mut report = KickstartReport::default();
    for (host, app, mut attrs) in db.compile_inputs(names)? {
        if !app.kickstartable {
            report.not_kickstartable.push(host.name);
            continue;
        }
        complete_host_attrs(&mut attrs, &host.name, &app, &servers, given);
        by_graph.entry(app.graph.clone()).or_default().push((host.name, app, attrs));
    }
    report.not_kickstartable.sort();
    for (graph, hosts) in by_graph {
        let (fw, mut diags) = crate::open(layers, &graph)?;
        let jobs: Vec<HostJob> = hosts
            .into_iter()
            .map(|(host, app, attrs)| HostJob { attrs: crate::effective_attrs(&fw, &app.name, &attrs), host, appliance: app.name })
            .collect();
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

/// The attributes one database host is compiled with (before
/// [`effective_attrs`](crate::effective_attrs)), as [`host_kickstarts`] computes them.
pub fn host_compile_attrs(db: &Db, host: &str, given: &Attrs) -> Result<(facts::Appliance, Attrs), facts::FactsError> {
    let servers = db.servers()?;
    let (h, app, mut attrs) =
        db.compile_inputs(&[host.to_string()])?.pop().ok_or_else(|| facts::FactsError::UnknownHost(host.to_string()))?;
    complete_host_attrs(&mut attrs, &h.name, &app, &servers, given);
    Ok((app, attrs))
}

/// The root node, empty addresses when a host has none, install servers, then `given`.
fn complete_host_attrs(attrs: &mut Attrs, host: &str, app: &facts::Appliance, servers: &[InstallServer], given: &Attrs) {
    attrs.insert("root".into(), app.root.clone());
    // A host without an address has none: no framework default may stand in for it.
    for k in ["hostaddr", "ksmac"] {
        attrs.entry(k.to_string()).or_default();
    }
    if let Some((p, f)) = crate::cluster::rendezvous(servers, host) {
        server_attrs(attrs, &servers[p], &servers[f]);
    }
    attrs.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
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
