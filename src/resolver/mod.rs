//! The resolver: the one place that knows how a host's attributes are made.
//!
//! A host's attributes are a stack of layers, lowest first ([`Scope`]):
//!
//! ```text
//! default    the framework's attributes.toml
//! derived    derived from the facts, but a site may choose otherwise: the NTP, syslog and
//!            NFS home servers (the frontend), the install URLs (the host's install server
//!            and distribution), the frontend's public side (its interface off `private`)
//! global     stored for the whole cluster
//! os         stored for the host's OS
//! appliance  stored for the host's appliance
//! rack       stored for the host's rack
//! builtin    derived from the facts: the host's row, appliance and primary interface, the
//!            network `private`, the install servers
//! host       stored for the host (the escape hatch for one odd host)
//! given      `--attrs`/`--attr` (a built-in value only with `--override-facts`)
//! ```
//!
//! A [`Resolver`] is made once from one [`Cluster`] snapshot; the shared layers stay in the
//! snapshot and are borrowed, never copied per host. [`Resolver::host`] stacks the layers of
//! one host ([`Layers`]): look one attribute up ([`Layers::get`]), flatten them for the
//! compiler ([`Layers::attrs`]), list them with the scope of each value
//! ([`Layers::resolved`]), or hash them ([`Resolver::key`]) to tell whether a host's files
//! must be made again.
//!
//! Cluster-wide content (the Slurm node lines, the hosts file, the networks of the cluster)
//! is not an attribute: it is a file of the build's generation that hosts fetch by URL.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::attrs::{Attrs, Origins};
use crate::diag::Diagnostic;
use crate::model::{Cluster, HostFacts, Iface, InstallServer, rendezvous};
use builtin::builtin;

pub mod builtin;

/// Where an attribute's value came from, in precedence order (later wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// The framework's `attributes.toml`.
    Default,
    /// Derived from the facts, below every stored scope (see
    /// [`crate::resolver::builtin::DERIVED`]).
    Derived,
    Global,
    Os,
    Appliance,
    Rack,
    /// Derived from the facts (see [`crate::resolver::builtin::BUILTINS`]).
    Builtin,
    Host,
    /// `--attrs`/`--attr`.
    Given,
}

impl Scope {
    /// The scope's name in listings: `default`, `global`, ..., `builtin`, `host`, `given`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Default => "default",
            Scope::Derived => "derived",
            Scope::Global => "global",
            Scope::Os => "os",
            Scope::Appliance => "appliance",
            Scope::Rack => "rack",
            Scope::Builtin => "builtin",
            Scope::Host => "host",
            Scope::Given => "given",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attribute of a host after resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAttr {
    pub key: String,
    pub value: String,
    /// The scope whose value won.
    pub scope: Scope,
    pub secret: bool,
}

/// The stored attributes of one (scope, target): key -> (value, secret).
type Stored = BTreeMap<String, (String, bool)>;

/// One layer's values.
#[derive(Debug, Clone)]
enum Values<'a> {
    /// Plain values (framework defaults, the command line).
    Plain(Cow<'a, Attrs>),
    /// Stored values, with their secret flag.
    Stored(&'a Stored),
    /// Derived values.
    Derived(Vec<(&'static str, String)>),
}

/// One layer of a host's attributes.
#[derive(Debug, Clone)]
pub struct Layer<'a> {
    pub scope: Scope,
    values: Values<'a>,
}

impl Layer<'_> {
    /// The value of `key` in this layer alone, with its secret flag.
    fn get(&self, key: &str) -> Option<(&str, bool)> {
        match &self.values {
            Values::Plain(m) => m.get(key).map(|v| (v.as_str(), false)),
            Values::Stored(m) => m.get(key).map(|(v, s)| (v.as_str(), *s)),
            Values::Derived(l) => l.iter().find(|(k, _)| *k == key).map(|(_, v)| (v.as_str(), false)),
        }
    }

    /// Every (key, value, secret) of the layer.
    fn each(&self, f: &mut dyn FnMut(&str, &str, bool)) {
        match &self.values {
            Values::Plain(m) => m.iter().for_each(|(k, v)| f(k, v, false)),
            Values::Stored(m) => m.iter().for_each(|(k, (v, s))| f(k, v, *s)),
            Values::Derived(l) => l.iter().for_each(|(k, v)| f(k, v, false)),
        }
    }
}

/// `(old, new)`: stored `http(s)://OLD...` values point at the primary install server NEW.
type Rewrite = (String, String);

/// The layers of one host, lowest first, and how install-server URLs are rewritten.
#[derive(Debug, Clone)]
pub struct Layers<'a> {
    layers: Vec<Layer<'a>>,
    rewrite: Option<Rewrite>,
}

/// A value as [`Layers::get`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    pub value: Cow<'a, str>,
    pub scope: Scope,
    pub secret: bool,
}

impl<'a> Layers<'a> {
    /// The layers, lowest first.
    pub fn layers(&self) -> &[Layer<'a>] {
        &self.layers
    }

    /// The value of `key`: the highest layer that has it (with the install-server rewrite and
    /// Rocks' derived `version`/`rocks_version_major`/`release` applied).
    pub fn get(&self, key: &str) -> Option<Found<'_>> {
        for l in self.layers.iter().rev() {
            if let Some((v, secret)) = l.get(key) {
                return Some(match self.rewritten(l.scope, v) {
                    Some(new) => Found { value: Cow::Owned(new), scope: Scope::Builtin, secret },
                    None => Found { value: Cow::Borrowed(v), scope: l.scope, secret },
                });
            }
        }
        let derived = |from: &str, f: fn(&str) -> String| {
            self.get(from).map(|v| Found { value: Cow::Owned(f(&v.value)), scope: Scope::Builtin, secret: v.secret })
        };
        match key {
            "version" => derived("rocks_version", str::to_string),
            "rocks_version_major" => derived("rocks_version", |v| v.split('.').next().unwrap_or("").to_string()),
            "release" => derived("rocks_release", str::to_string),
            _ => None,
        }
    }

    /// Every attribute with the scope that won, sorted by key (what `attr list --host` and
    /// `explain` show). Framework defaults are left out unless `defaults`.
    pub fn resolved(&self, defaults: bool) -> Vec<ResolvedAttr> {
        let mut out: BTreeMap<String, ResolvedAttr> = BTreeMap::new();
        for l in self.layers.iter().filter(|l| defaults || l.scope != Scope::Default) {
            l.each(&mut |k, v, secret| {
                let (value, scope) = match self.rewritten(l.scope, v) {
                    Some(new) => (new, Scope::Builtin),
                    None => (v.to_string(), l.scope),
                };
                out.insert(k.to_string(), ResolvedAttr { key: k.to_string(), value, scope, secret });
            });
        }
        for (key, from) in [("version", "rocks_version"), ("rocks_version_major", "rocks_version"), ("release", "rocks_release")] {
            if !out.contains_key(key)
                && out.contains_key(from)
                && let Some(f) = self.get(key)
            {
                out.insert(key.into(), ResolvedAttr { key: key.into(), value: f.value.into_owned(), scope: f.scope, secret: f.secret });
            }
        }
        out.into_values().collect()
    }

    /// The attributes a compile sees: every layer flattened, highest wins.
    pub fn attrs(&self) -> Attrs {
        let mut out = Attrs::new();
        for l in &self.layers {
            l.each(&mut |k, v, _| {
                let v = self.rewritten(l.scope, v).unwrap_or_else(|| v.to_string());
                // Most keys are set once: insert without a second lookup when new.
                match out.get_mut(k) {
                    Some(old) => *old = v,
                    None => {
                        out.insert(k.to_string(), v);
                    }
                }
            });
        }
        if let Some(v) = out.get("rocks_version").cloned() {
            let major = v.split('.').next().unwrap_or("").to_string();
            out.entry("version".into()).or_insert(v);
            out.entry("rocks_version_major".into()).or_insert(major);
        }
        if let Some(r) = out.get("rocks_release").cloned() {
            out.entry("release".into()).or_insert(r);
        }
        out
    }

    /// Where the values with a line break came from (the only ones a message may need to
    /// name): the command line, or the scope that won.
    pub fn origins(&self, host: &str) -> Origins {
        let mut origins = Origins::new();
        for l in &self.layers {
            l.each(&mut |k, v, _| {
                if v.contains(['\n', '\r']) {
                    origins.insert(k.to_string(), origin_text(l.scope, host));
                } else {
                    origins.remove(k);
                }
            });
        }
        origins
    }

    /// `v` (from a layer of `scope`) pointed at the primary install server, if it pointed at
    /// the previous kickstart host.
    fn rewritten(&self, scope: Scope, v: &str) -> Option<String> {
        let (old, new) = self.rewrite.as_ref()?;
        if matches!(scope, Scope::Default | Scope::Derived | Scope::Builtin | Scope::Given) {
            return None;
        }
        for scheme in ["http://", "https://"] {
            if let Some(rest) = v.strip_prefix(scheme).and_then(|r| r.strip_prefix(old.as_str()))
                && (rest.is_empty() || rest.starts_with('/') || rest.starts_with(':'))
            {
                return Some(format!("{scheme}{new}{rest}"));
            }
        }
        None
    }
}

/// How a message names the origin of a value of `scope` for `host`.
fn origin_text(scope: Scope, host: &str) -> String {
    match scope {
        Scope::Given => "the command line".to_string(),
        Scope::Host => format!("the `host` scope of `{host}`"),
        Scope::Default => "the framework's attributes".to_string(),
        s => format!("the `{s}` scope"),
    }
}

/// A host's layers as a compile of an appliance without a database sees them: the
/// framework's `defaults`, the appliance's built-ins (`appliance`, `membership`, `graph`,
/// `root`), then the caller's `given` attributes.
pub fn appliance_layers<'a>(defaults: &'a Attrs, graph: &str, root: String, appliance: &str, given: &'a Attrs) -> Layers<'a> {
    let builtins = vec![
        ("appliance", appliance.to_string()),
        ("membership", crate::attrs::capitalised(appliance)),
        ("graph", graph.to_string()),
        ("root", root),
    ];
    Layers {
        layers: vec![
            Layer { scope: Scope::Default, values: Values::Plain(Cow::Borrowed(defaults)) },
            Layer { scope: Scope::Builtin, values: Values::Derived(builtins) },
            Layer { scope: Scope::Given, values: Values::Plain(Cow::Borrowed(given)) },
        ],
        rewrite: None,
    }
}

/// The attributes of a compile of `appliance` without a database ([`appliance_layers`]
/// flattened).
pub fn appliance_attrs(fw: &crate::graph::Framework, appliance: &str, given: &Attrs) -> Attrs {
    appliance_layers(&fw.defaults, &fw.graph, fw.root_of(appliance), appliance, given).attrs()
}

/// The command line's attributes and whether they may override the facts.
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub attrs: Attrs,
    /// `--override-facts`: let `attrs` win over built-ins derived from the facts.
    pub override_facts: bool,
}

/// Makes the layers of any host of one [`Cluster`] snapshot.
#[derive(Debug)]
pub struct Resolver {
    cluster: Arc<Cluster>,
    /// The built-ins every host shares (the network `private`).
    network: Vec<(&'static str, String)>,
    /// The install servers hosts are spread over (configured, or the default one).
    servers: Vec<InstallServer>,
    given: Given,
    /// Digest of each stored (scope, target)'s attributes, and of everything shared.
    stored_digest: HashMap<(String, String), [u8; 32]>,
    shared_digest: [u8; 32],
    empty: Stored,
}

impl Resolver {
    /// A resolver over `cluster` with the command line's attributes.
    pub fn new(cluster: Arc<Cluster>, given: Given) -> Resolver {
        let network = network_builtins(&cluster);
        let servers = cluster.install_servers();
        let stored_digest = cluster
            .attributes
            .iter()
            .map(|(st, m)| {
                let mut h = Sha256::new();
                for (k, (v, s)) in m {
                    field(&mut h, k);
                    field(&mut h, v);
                    h.update([u8::from(*s)]);
                }
                (st.clone(), h.finalize().into())
            })
            .collect();
        let mut h = Sha256::new();
        for (k, v) in &network {
            field(&mut h, k);
            field(&mut h, v);
        }
        for s in &servers {
            field(&mut h, &s.name);
            field(&mut h, &s.ip);
            field(&mut h, &s.url);
        }
        h.update([u8::from(!cluster.servers.is_empty()), u8::from(given.override_facts)]);
        // Every secret value of the cluster: whether a host's file holds one decides its mode.
        for s in cluster.secret_values() {
            field(&mut h, s);
        }
        for (k, v) in &given.attrs {
            field(&mut h, k);
            field(&mut h, v);
        }
        let shared_digest = h.finalize().into();
        Resolver { cluster, network, servers, given, stored_digest, shared_digest, empty: Stored::new() }
    }

    /// The snapshot.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// The command line's attributes.
    pub fn given(&self) -> &Given {
        &self.given
    }

    /// The layers of host number `i` of the snapshot, over the framework's `defaults`.
    pub fn host<'a>(&'a self, i: usize, defaults: &'a Attrs) -> Layers<'a> {
        let [global, os, appliance, rack, host] = stored_scopes(&self.cluster.hosts[i]);
        let mut layers = vec![Layer { scope: Scope::Default, values: Values::Plain(Cow::Borrowed(defaults)) }];
        layers.extend([global, os, appliance, rack].map(|(scope, target)| self.stored_layer(scope, &target)));
        let below = Layers { layers, rewrite: None };
        let Made { builtins, derived, rewrite } = self.builtins(i, &below);
        let mut layers = below.layers;
        layers.insert(1, Layer { scope: Scope::Derived, values: Values::Derived(derived) });
        layers.push(Layer { scope: Scope::Builtin, values: Values::Derived(builtins) });
        layers.push(self.stored_layer(host.0, &host.1));
        let mut stack = Layers { layers, rewrite };
        let given = self.admitted(&stack);
        stack.layers.push(Layer { scope: Scope::Given, values: Values::Plain(given) });
        stack
    }

    /// The built-in values of host `i` that `--attrs`/`--attr` contradicts: (key, the
    /// database's value). Unless `--override-facts`, the command line's value is ignored.
    pub fn conflicts(&self, i: usize, defaults: &Attrs) -> Vec<(&'static str, String)> {
        if self.given.attrs.keys().all(|k| builtin(k).is_none()) {
            return Vec::new();
        }
        let stack = self.host(i, defaults);
        let below = Layers { layers: stack.layers[..stack.layers.len() - 1].to_vec(), rewrite: stack.rewrite.clone() };
        self.given
            .attrs
            .iter()
            .filter_map(|(k, v)| {
                let b = builtin(k)?;
                let fact = below.get(k).filter(|f| f.scope != Scope::Default)?;
                (fact.value != v.as_str()).then(|| (b.key, fact.value.into_owned()))
            })
            .collect()
    }

    /// A key that changes whenever anything host `i`'s attributes are made from changes
    /// (its layers, the shared facts, the command line), combined with `extra` (the
    /// framework's and the options' digest). Cheap: the shared layers are hashed once.
    pub fn key(&self, i: usize, extra: &[u8]) -> [u8; 32] {
        let mut d = Sha256::new();
        d.update(extra);
        d.update(self.shared_digest);
        let scopes = stored_scopes(&self.cluster.hosts[i]);
        for (scope, target) in &scopes {
            d.update(self.stored_digest.get(&(scope.as_str().to_string(), target.clone())).copied().unwrap_or([0; 32]));
        }
        let below_builtins = scopes[..4].iter().map(|(scope, target)| self.stored_layer(*scope, target)).collect();
        let stored = Layers { layers: below_builtins, rewrite: None };
        let made = self.builtins(i, &stored);
        for (k, v) in made.builtins.iter().chain(&made.derived) {
            field(&mut d, k);
            field(&mut d, v);
        }
        d.finalize().into()
    }

    /// The layer of the attributes stored at (`scope`, `target`).
    fn stored_layer(&self, scope: Scope, target: &str) -> Layer<'_> {
        let stored = self.cluster.attributes.get(&(scope.as_str().to_string(), target.to_string())).unwrap_or(&self.empty);
        Layer { scope, values: Values::Stored(stored) }
    }

    /// The built-ins and derived values of host `i` (`below`: its layers under the
    /// built-ins), and the install-server rewrite.
    fn builtins(&self, i: usize, below: &Layers<'_>) -> Made {
        let h = &self.cluster.hosts[i];
        let mut out = builtin::of_host(h, self.cluster.appliances.get(&h.appliance)).all();
        // A host without an address has none: no framework default may stand in for it.
        for k in ["hostaddr", "ksmac"] {
            if !out.iter().any(|(n, _)| *n == k) {
                out.push((k, String::new()));
            }
        }
        out.extend(self.network.iter().cloned());
        let private = h.private_iface();
        let frontend_address = self.network.iter().find(|(k, _)| *k == "Kickstart_PrivateAddress").map(|(_, v)| v.clone());
        let mut derived: Vec<(&'static str, String)> = Vec::new();
        if let Some(a) = &frontend_address {
            derived.extend(["Kickstart_PrivateNTPHost", "Kickstart_PrivateSyslogHost", "Info_HomeDirSrv"].map(|k| (k, a.clone())));
        }
        let frontend = h.appliance == "frontend";
        let public = frontend.then(|| self.public_side(h)).flatten().unwrap_or_default();
        // The frontend's public interface has a `network` command of its own.
        let skip = public
            .first()
            .map(|(_, dev)| dev.clone())
            .or_else(|| frontend.then(|| below.get("Kickstart_PublicInterface").map(|f| f.value.into_owned())).flatten());
        derived.extend(public);
        derived.push(("Kickstart_Interfaces", self.interface_lines(h, private, skip.as_deref())));
        let mut rewrite = None;
        if let Some((p, f)) = rendezvous(&self.servers, &h.name) {
            let (primary, fallback) = (&self.servers[p], &self.servers[f]);
            out.push(("cluster_files_url", primary.url.clone()));
            out.push(("cluster_files_fallback_url", fallback.url.clone()));
            let old = below.get("Kickstart_PrivateKickstartHost").map(|f| f.value.into_owned());
            rewrite = old.filter(|o| !o.is_empty() && *o != primary.ip).map(|o| (o, primary.ip.clone()));
            out.push(("Kickstart_PrivateKickstartHost", primary.ip.clone()));
            out.push(("install_server", primary.ip.clone()));
            out.push(("install_server_fallback", fallback.ip.clone()));
            derived.extend(install_urls(primary, self.cluster.distributions.get(&h.distribution), &h.arch));
        }
        Made { builtins: out, derived, rewrite }
    }

    /// The frontend `h`'s public side from its first addressed interface off `private` (not
    /// its BMC): `Kickstart_Public{Interface,Address,Netmask,Gateway,DNSServers}`.
    fn public_side(&self, h: &HostFacts) -> Option<Vec<(&'static str, String)>> {
        let f = h
            .interfaces
            .iter()
            .filter(|f| !f.is_bmc() && f.network.as_deref().is_some_and(|n| n != "private") && f.addr().is_some())
            .min_by(|a, b| a.device.cmp(&b.device))?;
        let net = self.cluster.network(f.network.as_deref()?)?;
        let mut out = vec![
            ("Kickstart_PublicInterface", f.device.clone()),
            ("Kickstart_PublicAddress", f.ip.clone()?),
            ("Kickstart_PublicNetmask", net.netmask().to_string()),
        ];
        out.extend(net.gateway.map(|g| ("Kickstart_PublicGateway", g.to_string())));
        if !net.dns_servers.is_empty() {
            out.push(("Kickstart_PublicDNSServers", net.dns_servers.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")));
        }
        Some(out)
    }

    /// `Kickstart_Interfaces`: one line per interface of `h` that the kickstart's `network`
    /// commands do not configure (not `private`, not the frontend's public `skip`, not the
    /// BMC, which is no interface of the host's operating system):
    /// `DEVICE METHOD ADDRESS/PREFIX MTU GATEWAY MAC`, `-` for an empty field. METHOD is
    /// `dhcp` on a network the cluster's DHCP server answers, else `static`; an interface
    /// with neither is left out.
    fn interface_lines(&self, h: &HostFacts, private: Option<&Iface>, skip: Option<&str>) -> String {
        let mut lines = Vec::new();
        for f in &h.interfaces {
            if f.is_bmc() || private.is_some_and(|p| p.device == f.device) || skip == Some(f.device.as_str()) {
                continue;
            }
            let net = f.network.as_deref().and_then(|n| self.cluster.network(n));
            let (method, address) = match (net, f.addr()) {
                (Some(n), _) if n.dhcp => ("dhcp", "-".to_string()),
                (Some(n), Some(ip)) => ("static", format!("{ip}/{}", n.cidr.prefix_len())),
                _ => continue,
            };
            let mtu = net.map_or("-".to_string(), |n| n.mtu.to_string());
            let gateway = net.and_then(|n| n.gateway).map_or("-".to_string(), |g| g.to_string());
            let mac = f.mac.clone().unwrap_or_else(|| "-".to_string());
            lines.push(format!("{} {method} {address} {mtu} {gateway} {mac}", f.device));
        }
        lines.join("\n")
    }

    /// The command line's attributes that may stand over `stack`: all with
    /// `--override-facts`, else those that do not contradict a built-in.
    fn admitted<'a>(&'a self, stack: &Layers<'_>) -> Cow<'a, Attrs> {
        let given = &self.given.attrs;
        if self.given.override_facts || given.keys().all(|k| builtin(k).is_none()) {
            return Cow::Borrowed(given);
        }
        Cow::Owned(
            given
                .iter()
                .filter(|(k, v)| {
                    builtin(k).is_none() || stack.get(k).is_none_or(|f| f.scope == Scope::Default || f.value == v.as_str())
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}

/// What [`Resolver::builtins`] makes for one host.
struct Made {
    builtins: Vec<(&'static str, String)>,
    derived: Vec<(&'static str, String)>,
    rewrite: Option<Rewrite>,
}

/// The install URLs of a host whose primary install server is `server` and whose
/// distribution is `dist`: the distribution's tree (`Kickstart_InstallURL`, with its
/// `AppStream` and `CRB` repositories), EPEL and its key under the server's `/install/epel`,
/// and the boot-done URL under the server's base URL.
fn install_urls(server: &InstallServer, dist: Option<&crate::model::Distribution>, arch: &str) -> Vec<(&'static str, String)> {
    let root = format!("http://{}/install", server.ip);
    let mut out = vec![("Kickstart_BootDoneURL", format!("{}/boot-done", server.url.trim_end_matches('/')))];
    if let Some(d) = dist {
        let tree = d.url.replace("{server}", &server.ip);
        let tree = tree.trim_end_matches('/');
        out.push(("Kickstart_InstallURL", tree.to_string()));
        out.push(("Kickstart_BaseOSURL", format!("{tree}/BaseOS")));
        out.push(("Kickstart_AppStreamURL", format!("{tree}/AppStream")));
        out.push(("Kickstart_CRBURL", format!("{tree}/CRB")));
        let release = d.os_release.split('.').next().unwrap_or(&d.os_release);
        out.push(("Kickstart_EPELURL", format!("{root}/epel/{release}/Everything/{arch}")));
        out.push(("Kickstart_EPELGPGKey", format!("{root}/epel/RPM-GPG-KEY-EPEL-{release}")));
    }
    out
}

/// The built-ins every host of `cluster` shares, from the network named `private`:
/// `Kickstart_PrivateAddress` (the first frontend's address on it, else its gateway),
/// `Kickstart_PrivateHostname` (that frontend's name), and the network's address, netmask,
/// broadcast, gateway, DNS domain and servers and MTU. None without a `private` network.
pub fn network_builtins(cluster: &Cluster) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let Some(net) = cluster.network("private") else { return out };
    let frontend = cluster.hosts.iter().filter(|h| h.appliance == "frontend").find_map(|h| {
        let mut on: Vec<&Iface> =
            h.interfaces.iter().filter(|i| !i.is_bmc() && i.network.as_deref() == Some("private") && i.ip.is_some()).collect();
        on.sort_by(|a, b| a.device.cmp(&b.device));
        on.first().map(|i| (h.name.clone(), i.ip.clone().unwrap_or_default()))
    });
    let (name, address) = frontend.unzip();
    out.extend(name.map(|n| ("Kickstart_PrivateHostname", n)));
    out.extend(address.or(net.gateway.map(|g| g.to_string())).map(|a| ("Kickstart_PrivateAddress", a)));
    out.push(("Kickstart_PrivateNetwork", net.cidr.network().to_string()));
    out.push(("Kickstart_PrivateNetmask", net.netmask().to_string()));
    out.push(("Kickstart_PrivateNetmaskCIDR", net.cidr.prefix_len().to_string()));
    out.push(("Kickstart_PrivateBroadcast", net.broadcast().to_string()));
    out.extend(net.gateway.map(|g| ("Kickstart_PrivateGateway", g.to_string())));
    out.push(("Kickstart_PrivateDNSDomain", net.zone.clone()));
    let dns: Vec<String> = net.dns_servers.iter().map(|d| d.to_string()).collect();
    out.push(("Kickstart_PrivateDNSServers", dns.join(",")));
    out.push(("Kickstart_PrivateMTU", net.mtu.to_string()));
    out
}

/// The value of stored attribute `key` for `host` (global to host scope, built-ins not
/// included), with whether it is secret: what an emitter reads of a host's settings.
pub fn stored_attr<'c>(cluster: &'c Cluster, host: &HostFacts, key: &str) -> Option<(&'c str, bool)> {
    stored_scopes(host).into_iter().rev().find_map(|(scope, target)| stored_in(cluster, (scope.as_str().to_string(), target), key))
}

/// The value of attribute `key` stored at one scope and target, with whether it is secret.
pub fn stored_at<'c>(cluster: &'c Cluster, scope: Scope, target: &str, key: &str) -> Option<(&'c str, bool)> {
    stored_in(cluster, (scope.as_str().to_string(), target.to_string()), key)
}

/// The value of attribute `key` stored at `(scope, target)` (the map's own key, moved in).
fn stored_in<'c>(cluster: &'c Cluster, at: (String, String), key: &str) -> Option<(&'c str, bool)> {
    cluster.attributes.get(&at).and_then(|m| m.get(key)).map(|(v, s)| (v.as_str(), *s))
}

/// The value of attribute `key` stored at the global scope, trimmed: what the cluster-wide
/// outputs read of a setting (monitoring ports, directories on the servers). An empty value
/// is no value (the output's default applies).
pub fn stored_global<'c>(cluster: &'c Cluster, key: &str) -> Option<&'c str> {
    stored_at(cluster, Scope::Global, "", key).map(|(v, _)| v.trim()).filter(|v| !v.is_empty())
}

/// The scopes a host's stored attributes come from, lowest precedence first, each with its
/// target: global, the host's OS, appliance and rack, the host itself.
fn stored_scopes(h: &HostFacts) -> [(Scope, String); 5] {
    [
        (Scope::Global, String::new()),
        (Scope::Os, h.os.clone()),
        (Scope::Appliance, h.appliance.clone()),
        (Scope::Rack, h.rack.to_string()),
        (Scope::Host, h.name.clone()),
    ]
}

/// The value of attribute `key` for `host` as the emitters read a host's settings (without
/// framework defaults, shared built-ins or the command line): host scope, else the host's
/// own built-in ([`crate::resolver::builtin::HostBuiltins`]), else the stored value by precedence.
pub fn host_value(cluster: &Cluster, host: &HostFacts, key: &str) -> Option<String> {
    if let Some((v, _)) = stored_at(cluster, Scope::Host, &host.name, key) {
        return Some(v.to_string());
    }
    builtin::of_host(host, cluster.appliances.get(&host.appliance)).get(key).or_else(|| stored_attr(cluster, host, key).map(|(v, _)| v.to_string()))
}

/// The warning about attribute `key` = `given` from the command line that differs from what
/// the database derives for `hosts` (name, derived value).
pub fn conflict_warning(key: &str, given: &str, hosts: &[(String, String)], overridden: bool) -> Diagnostic {
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

/// Hash one length-prefixed field (so `ab`+`c` and `a`+`bc` differ).
fn field(h: &mut Sha256, s: &str) {
    h.update((s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InstallServer;

    fn cluster() -> Cluster {
        let mut c = Cluster::default();
        let mut h = HostFacts::new("compute-0-0", "compute");
        h.interfaces.push(Iface::primary("eth0", Some("52:54:00:00:00:01".into()), Some("10.1.255.254".into()), Some("private")));
        c.hosts.push(h);
        let put = |c: &mut Cluster, scope: &str, target: &str, k: &str, v: &str| {
            c.attributes.entry((scope.into(), target.into())).or_default().insert(k.into(), (v.into(), false));
        };
        put(&mut c, "global", "", "x", "global");
        put(&mut c, "global", "", "Kickstart_PrivateKickstartHost", "10.1.1.1");
        put(&mut c, "global", "", "Kickstart_InstallURL", "http://10.1.1.1/install/rocky");
        put(&mut c, "os", "linux", "x", "os");
        put(&mut c, "appliance", "compute", "x", "appliance");
        put(&mut c, "rack", "0", "x", "rack");
        put(&mut c, "host", "compute-0-0", "y", "host");
        put(&mut c, "global", "", "arch", "stale");
        c
    }

    #[test]
    fn layers_win_in_order_and_remember_their_scope() {
        let r = Resolver::new(Arc::new(cluster()), Given::default());
        let defaults = Attrs::from([("x".to_string(), "default".to_string()), ("z".to_string(), "default".to_string())]);
        let l = r.host(0, &defaults);
        let scopes: Vec<Scope> = l.layers().iter().map(|l| l.scope).collect();
        assert_eq!(
            scopes,
            [Scope::Default, Scope::Derived, Scope::Global, Scope::Os, Scope::Appliance, Scope::Rack, Scope::Builtin, Scope::Host, Scope::Given]
        );
        assert_eq!(l.get("x").map(|f| (f.value.into_owned(), f.scope)), Some(("rack".into(), Scope::Rack)));
        assert_eq!(l.get("z").unwrap().scope, Scope::Default);
        assert_eq!(l.get("y").unwrap().scope, Scope::Host);
        assert_eq!(l.get("arch").map(|f| (f.value.into_owned(), f.scope)), Some(("x86_64".into(), Scope::Builtin)), "built-ins beat stale stored values");
        let flat = l.attrs();
        assert_eq!(flat["x"], "rack");
        assert_eq!(flat["hostaddr"], "10.1.255.254");
        let resolved = l.resolved(false);
        assert!(resolved.iter().all(|a| a.scope != Scope::Default));
    }

    #[test]
    fn the_command_line_wins_but_not_over_facts() {
        let given = Attrs::from([("x".to_string(), "cli".to_string()), ("hostname".to_string(), "other".to_string())]);
        let r = Resolver::new(Arc::new(cluster()), Given { attrs: given.clone(), override_facts: false });
        let none = Attrs::new();
        let l = r.host(0, &none);
        assert_eq!(l.get("x").unwrap().scope, Scope::Given);
        assert_eq!(l.get("hostname").unwrap().value, "compute-0-0");
        assert_eq!(r.conflicts(0, &Attrs::new()), vec![("hostname", "compute-0-0".to_string())]);
        let r = Resolver::new(Arc::new(cluster()), Given { attrs: given, override_facts: true });
        assert_eq!(r.host(0, &none).get("hostname").unwrap().value, "other");
    }

    #[test]
    fn derived_values_follow_the_frontend_and_a_site_may_choose_otherwise() {
        let mut c = Cluster::default();
        c.networks.push(crate::model::Network {
            name: "private".into(),
            cidr: "10.77.0.0/24".parse().unwrap(),
            zone: "local".into(),
            mtu: 9000,
            gateway: Some("10.77.0.1".parse().unwrap()),
            dns_servers: vec!["10.77.0.1".parse().unwrap()],
            dhcp: true,
        });
        c.networks.insert(0, crate::model::Network { name: "ib".into(), cidr: "10.78.0.0/16".parse().unwrap(), zone: "ib".into(), mtu: 2044, gateway: None, dns_servers: vec![], dhcp: false });
        c.distributions.insert("rocky-9".into(), crate::model::Distribution { name: "rocky-9".into(), os_release: "9".into(), url: "http://{server}/install/distributions/rocky-9".into() });
        let mut fe = HostFacts::new("cluster", "frontend");
        fe.distribution = "rocky-9".into();
        fe.interfaces.push(Iface::primary("eno1", None, Some("10.77.0.1".into()), Some("private")));
        let mut h = HostFacts::new("compute-0-0", "compute");
        h.distribution = "rocky-9".into();
        h.interfaces.push(Iface::primary("eno1", Some("52:54:00:00:00:01".into()), Some("10.77.0.254".into()), Some("private")));
        h.interfaces.push(Iface { device: "ib0".into(), mac: None, ip: Some("10.78.0.254".into()), network: Some("ib".into()), primary: false });
        // The BMC is no interface of the host's system: it has no line, on whatever network.
        let bmc = Iface { device: "bmc".into(), mac: Some("52:54:00:bb:00:01".into()), ip: Some("10.78.0.9".into()), network: Some("ib".into()), primary: false };
        h.interfaces.insert(0, bmc);
        c.hosts = vec![fe, h];
        c.attributes.entry(("global".into(), String::new())).or_default().insert("Kickstart_PrivateSyslogHost".into(), ("10.77.0.9".into(), false));
        let r = Resolver::new(Arc::new(c), Given::default());
        let defaults = Attrs::from([("Info_HomeDirSrv".to_string(), "10.1.1.1".to_string())]);
        let l = r.host(1, &defaults);
        let get = |k: &str| l.get(k).map(|f| (f.value.into_owned(), f.scope)).unwrap();
        assert_eq!(get("Info_HomeDirSrv"), ("10.77.0.1".into(), Scope::Derived));
        assert_eq!(get("Kickstart_PrivateNTPHost"), ("10.77.0.1".into(), Scope::Derived));
        assert_eq!(get("Kickstart_PrivateSyslogHost"), ("10.77.0.9".into(), Scope::Global), "a stored value beats a derived one");
        assert_eq!(get("Kickstart_PrivateKickstartHost"), ("10.77.0.1".into(), Scope::Builtin), "the implied install server");
        assert_eq!(get("Kickstart_InstallURL").0, "http://10.77.0.1/install/distributions/rocky-9");
        assert_eq!(get("Kickstart_BootDoneURL").0, "http://10.77.0.1/install/rocks/boot-done");
        assert_eq!(get("Kickstart_PrivateInterface"), ("eno1".into(), Scope::Builtin));
        assert_eq!(get("Kickstart_PrivateMTU").0, "9000");
        assert_eq!(get("Kickstart_Interfaces").0, "ib0 static 10.78.0.254/16 2044 - -");
    }

    #[test]
    fn install_servers_rewrite_stored_urls_and_change_the_key() {
        let plain = Resolver::new(Arc::new(cluster()), Given::default());
        let before = plain.key(0, b"");
        let mut c = cluster();
        c.servers.push(InstallServer { name: "is-0".into(), ip: "10.1.1.3".into(), url: "http://10.1.1.3/install/rocks".into() });
        let r = Resolver::new(Arc::new(c), Given::default());
        let none = Attrs::new();
        let l = r.host(0, &none);
        let url = l.get("Kickstart_InstallURL").unwrap();
        assert_eq!((url.value.as_ref(), url.scope), ("http://10.1.1.3/install/rocky", Scope::Builtin));
        assert_eq!(l.attrs()["install_server"], "10.1.1.3");
        assert_eq!(l.attrs()["cluster_files_url"], "http://10.1.1.3/install/rocks");
        assert_ne!(r.key(0, b""), before);
        assert_eq!(plain.key(0, b""), before, "the key is a function of the inputs");
        assert_ne!(plain.key(0, b"other framework"), before);
    }
}
