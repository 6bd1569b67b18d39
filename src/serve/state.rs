//! [`State`]: the facts and compiled framework a responder answers from, and
//! [`State::answer`], the rules every request goes through.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

use super::{Config, Request, Response, SendFile};
use crate::build::KickstartError;
use crate::build::kickstarts::{GraphJobs, compile, jobs};
use crate::facts::{Boot, Db, FactsError};
use crate::kickstart::batch::{JobSource, Shared};
use crate::load::Layer;
use crate::model::Cluster;
use crate::plan::{Derived, Kind, Plan, Site};
use crate::resolver::Given;

/// Why a [`State`] could not be loaded: one message, and the rendered diagnostics (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub message: String,
    /// Diagnostics rendered against their sources, ready to print.
    pub details: String,
    /// How to fix it.
    pub help: String,
    /// The database was busy: worth retrying (a CGI answers 503).
    pub busy: bool,
}

impl LoadError {
    fn new(message: impl Into<String>, details: String, help: &str) -> LoadError {
        LoadError { message: message.into(), details, help: help.to_string(), busy: false }
    }
}

const FIX_ABOVE: &str = "fix what is reported above; a running responder keeps answering from its last good state until then";

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<FactsError> for LoadError {
    fn from(e: FactsError) -> LoadError {
        LoadError { busy: e.is_busy(), ..LoadError::new(e.to_string(), String::new(), FIX_ABOVE) }
    }
}

impl From<KickstartError> for LoadError {
    fn from(e: KickstartError) -> LoadError {
        LoadError::new(e.to_string(), String::new(), FIX_ABOVE)
    }
}

/// What the inputs look like, to notice when they change: the database's inode and SQLite's
/// `data_version` (which changes whenever another connection commits; a checkpoint does not
/// change it), and the size, modification time and inode of every framework file.
pub struct Watch {
    db: Option<(u64, Db)>,
    last: Look,
}

/// What [`Watch`] saw: (database inode, `data_version`), and each framework file's (size,
/// mtime seconds, mtime nanoseconds, inode).
type Look = (Option<(u64, i64)>, Vec<(PathBuf, Option<(u64, i64, i64, u64)>)>);

impl Watch {
    /// Start watching what `cfg` names, as it is now.
    pub fn new(cfg: &Config) -> Watch {
        let mut w = Watch { db: None, last: (None, Vec::new()) };
        w.last = w.look(cfg);
        w
    }

    /// Whether anything changed since the last call (or [`Watch::new`]).
    pub fn changed(&mut self, cfg: &Config) -> bool {
        let now = self.look(cfg);
        let changed = now != self.last;
        self.last = now;
        changed
    }

    fn look(&mut self, cfg: &Config) -> Look {
        use std::os::unix::fs::MetadataExt;
        let meta = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.len(), m.mtime(), m.mtime_nsec(), m.ino()));
        let ino = std::fs::metadata(&cfg.db).ok().map(|m| m.ino());
        if self.db.as_ref().map(|(i, _)| *i) != ino {
            // A new file at the path (or none): open it afresh.
            self.db = ino.and_then(|i| Db::open_readonly(&cfg.db).ok().map(|db| (i, db)));
        }
        let version = self.db.as_ref().and_then(|(i, db)| {
            db.read("read data version", |c| Ok(c.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))?)).ok().map(|v| (*i, v))
        });
        let mut files = Vec::new();
        for layer in &cfg.layers {
            if let Layer::Dir(dir) = layer {
                files.push((dir.clone(), meta(dir)));
                for e in walkdir::WalkDir::new(dir).sort_by_file_name().into_iter().filter_map(Result::ok) {
                    files.push((e.path().to_path_buf(), meta(e.path())));
                }
            }
        }
        (version, files)
    }
}

/// Kickstarts compiled at load, by host.
type Cache = HashMap<String, Arc<[u8]>>;

/// How kickstarts are made.
enum Kickstarts {
    /// Resident: the resolver (one snapshot of the facts, each shared layer once) and each
    /// group's shared work, made at load, and as many finished kickstarts as
    /// [`Config::cache_bytes`] holds. A request is answered from the cache, or else its
    /// host's attributes are resolved and its kickstart compiled from the shared work (for
    /// most frameworks a substitution of the host's values).
    /// `keys`: per graph and job, the host's input key: a reload takes the cached kickstart
    /// of a host whose key did not change from the previous state instead of compiling it.
    Resident { graphs: Vec<(GraphJobs, Shared)>, index: HashMap<String, (usize, usize)>, keys: Vec<Vec<[u8; 32]>>, cache: Cache },
    /// One request per process (CGI): compile just the one host, as `kickstart --host`.
    OnDemand,
    /// The web server sends the built tree's file ([`SendFile`] other than `Body`): nothing
    /// is compiled or held, a request is answered with a header naming the file.
    Tree,
}

/// The facts and framework a responder answers from. Loaded whole or not at all.
pub struct State {
    cluster: Arc<Cluster>,
    /// Install servers per host and the scheduler selection, derived once per load.
    derived: Derived,
    /// Interface address -> host number.
    by_addr: HashMap<IpAddr, usize>,
    /// MAC -> host number.
    by_mac: HashMap<String, usize>,
    /// Where requests may come from.
    allowed: Vec<IpNet>,
    kickstarts: Kickstarts,
    /// What the operator should hear about once per load.
    pub warnings: Vec<String>,
}

/// The result of [`State::answer`].
#[derive(Debug)]
pub struct Answer {
    pub response: Response,
    /// What to log (refusals and failures, with their reasons).
    pub log: Option<String>,
    /// The request changed the database (the state is stale).
    pub changed: bool,
}

/// A request turned down: the status, the one line the client sees, and what the log gets.
#[derive(Debug)]
struct Refusal {
    status: u16,
    public: String,
    log: String,
}

fn refuse(status: u16, public: impl Into<String>) -> Refusal {
    let public = public.into();
    Refusal { status, log: public.clone(), public }
}

fn refuse_logged(status: u16, public: impl Into<String>, log: impl Into<String>) -> Refusal {
    Refusal { status, public: public.into(), log: log.into() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Kickstart,
    Ipxe,
    BootDone,
    Reinstall,
    Health,
}

impl State {
    /// Load the facts and the framework. `resident`: compile every host's shared work now (a
    /// long-running responder); otherwise kickstarts are compiled per request.
    pub fn load(cfg: &Config, resident: bool) -> Result<State, LoadError> {
        State::reload(cfg, resident, None)
    }

    /// [`State::load`], taking from `previous` the cached kickstarts of hosts whose inputs
    /// did not change: a reload costs one state plus what changed.
    pub fn reload(cfg: &Config, resident: bool, previous: Option<&State>) -> Result<State, LoadError> {
        if !cfg.db.is_file() {
            return Err(LoadError::new(
                format!("no cluster database at `{}`", cfg.db.display()),
                String::new(),
                "point at the cluster's database with `--db PATH` (or `ROCKS_COMPILE_DB`), or create one with `init`",
            ));
        }
        let db = Db::open_readonly(&cfg.db)?;
        let cluster = Arc::new(db.cluster()?);
        let mut warnings = Vec::new();
        let kickstarts = if cfg.send_file != SendFile::Body {
            Kickstarts::Tree
        } else if resident {
            let names: Vec<String> = cluster.hosts.iter().map(|h| h.name.clone()).collect();
            let found = jobs(cluster.clone(), &names, &cfg.layers, Given { attrs: cfg.given.clone(), override_facts: false })?;
            warnings.extend(found.warnings.iter().map(|d| d.message.clone()));
            if !found.default_password.is_empty() {
                warnings.push(format!(
                    "{} hosts get the framework's public default root password; set a real one with `attr set Kickstart_PrivateRootPassword --secret`",
                    found.default_password.len()
                ));
            }
            let mut details = String::new();
            let mut graphs = Vec::new();
            let mut index = HashMap::new();
            for gj in found.graphs {
                if crate::diag::has_errors(&gj.diags) {
                    details.push_str(&errors_text(&gj.fw, &gj.diags));
                    continue;
                }
                let shared = Shared::prepare(&gj.fw, &gj, &cfg.options);
                // All or nothing: a state in which some host cannot compile is not used.
                details.extend(shared.errors().map(|d| d.render(&gj.fw.sources, false)));
                for (j, &i) in gj.hosts.iter().enumerate() {
                    index.insert(cluster.hosts[i].name.clone(), (graphs.len(), j));
                }
                graphs.push((gj, shared));
            }
            if !details.is_empty() {
                return Err(LoadError::new("the framework has errors (a kickstart would not compile)", details, FIX_ABOVE));
            }
            let keys: Vec<Vec<[u8; 32]>> = graphs.iter().map(|(gj, _)| gj.keys(&cfg.options)).collect();
            let reuse = |g: usize, j: usize| -> Option<Arc<[u8]>> {
                let Some(Kickstarts::Resident { index, keys: old_keys, cache, .. }) = previous.map(|p| &p.kickstarts) else { return None };
                let name = &cluster.hosts[graphs[g].0.hosts[j]].name;
                let &(og, oj) = index.get(name)?;
                (cfg.options.eval.is_none() && old_keys[og][oj] == keys[g][j]).then(|| cache.get(name).cloned()).flatten()
            };
            let cache = warm(&graphs, cfg, &reuse)?;
            Kickstarts::Resident { graphs, index, keys, cache }
        } else {
            Kickstarts::OnDemand
        };
        let mut by_addr = HashMap::new();
        let mut by_mac = HashMap::new();
        for (i, h) in cluster.hosts.iter().enumerate() {
            // A request from a BMC's address or MAC is not one of its host's: BMCs do not boot.
            for f in h.interfaces.iter().filter(|f| !f.is_bmc()) {
                if let Some(ip) = f.addr() {
                    by_addr.insert(ip, i);
                }
                if let Some(mac) = &f.mac {
                    by_mac.insert(mac.clone(), i);
                }
            }
        }
        let allowed = match &cfg.allowed {
            Some(a) => a.clone(),
            None => cluster.networks.iter().filter(|n| n.dhcp).map(|n| n.cidr).collect(),
        };
        let derived = Derived::new(&cluster, &cfg.build);
        Ok(State { cluster, derived, by_addr, by_mac, allowed, kickstarts, warnings })
    }

    /// How many hosts the state knows.
    pub fn hosts(&self) -> usize {
        self.cluster.hosts.len()
    }

    /// How many kickstarts are held ready, and their bytes.
    pub fn cached(&self) -> (usize, usize) {
        match &self.kickstarts {
            Kickstarts::Resident { cache, .. } => (cache.len(), cache.values().map(|k| k.len()).sum()),
            Kickstarts::OnDemand | Kickstarts::Tree => (0, 0),
        }
    }

    /// Answer one request.
    pub fn answer(&self, cfg: &Config, req: &Request) -> Answer {
        let mut changed = false;
        match self.route(cfg, req, &mut changed) {
            Ok(mut response) => {
                response.head = req.is_head();
                Answer { response, log: None, changed }
            }
            Err(r) => {
                let mut response = Response::error(r.status, &r.public);
                if r.status == 405 {
                    let allow = if matches!(self.endpoint_of(cfg, req), Some((Endpoint::BootDone | Endpoint::Reinstall, _))) {
                        "POST"
                    } else {
                        "GET, HEAD"
                    };
                    response = response.with("Allow", allow);
                }
                if r.status == 503 {
                    response = response.with("Retry-After", "5");
                }
                response.head = req.is_head();
                // What a client sent is quoted escaped: a line break in a path cannot forge a
                // log line.
                let log = format!(
                    "{} {} {}: {} {}",
                    req.remote_addr.escape_debug(),
                    req.method.escape_debug(),
                    req.path.escape_debug(),
                    r.status,
                    r.log.escape_debug()
                );
                Answer { response, log: Some(log), changed }
            }
        }
    }

    /// Which endpoint `path` names, and the host a `/kickstart/NAME.ks` path names.
    /// The endpoint `req` asks for: by its path, else by the whole path when the server split
    /// it (see [`Request::full_path`]).
    fn endpoint_of<'r>(&self, cfg: &Config, req: &'r Request) -> Option<(Endpoint, Option<&'r str>)> {
        self.endpoint(cfg, &req.path).or_else(|| self.endpoint(cfg, req.full_path.as_deref()?))
    }

    fn endpoint<'p>(&self, cfg: &Config, path: &'p str) -> Option<(Endpoint, Option<&'p str>)> {
        let rest = path.strip_prefix(cfg.prefix.as_str())?;
        let rest = if rest.is_empty() { "/" } else { rest };
        let p = &cfg.paths;
        let fixed = [
            (&p.kickstart, Endpoint::Kickstart),
            (&p.ipxe, Endpoint::Ipxe),
            (&p.boot_done, Endpoint::BootDone),
            (&p.reinstall, Endpoint::Reinstall),
            (&p.health, Endpoint::Health),
        ];
        if let Some((_, e)) = fixed.iter().find(|(path, _)| path.as_str() == rest) {
            return Some((*e, None));
        }
        let name = rest.strip_prefix(p.kickstart.as_str())?.strip_prefix('/')?.strip_suffix(".ks")?;
        Some((Endpoint::Kickstart, Some(name)))
    }

    /// Whether answering `req` may block (write the database or the tree, wait for a lock,
    /// compile a kickstart): boot-done and reinstall, and a kickstart that is not in memory.
    /// Everything else (`/health`, a cached kickstart, iPXE scripts, refusals) is answered
    /// from memory in microseconds, so a responder answers it without queueing behind work
    /// that waits.
    pub fn may_block(&self, cfg: &Config, req: &Request) -> bool {
        let Some((endpoint, named)) = self.endpoint_of(cfg, req) else { return false };
        match endpoint {
            Endpoint::Health | Endpoint::Ipxe => false,
            Endpoint::BootDone | Endpoint::Reinstall => true,
            Endpoint::Kickstart => {
                let cache = match &self.kickstarts {
                    Kickstarts::Resident { cache, .. } => cache,
                    Kickstarts::Tree => return false,
                    Kickstarts::OnDemand => return true,
                };
                let by_addr = || {
                    let ip = req.remote_addr.parse::<IpAddr>().ok()?.to_canonical();
                    self.by_addr.get(&ip).map(|&i| self.cluster.hosts[i].name.as_str())
                };
                named.or_else(by_addr).is_none_or(|name| cache.get(name).is_none())
            }
        }
    }

    fn route(&self, cfg: &Config, req: &Request, changed: &mut bool) -> Result<Response, Refusal> {
        let Some((endpoint, named)) = self.endpoint_of(cfg, req) else {
            return Err(refuse(404, format!("no endpoint at `{}`", printable(&req.path))));
        };
        let post = matches!(endpoint, Endpoint::BootDone | Endpoint::Reinstall);
        let method_ok = if post { req.method == "POST" } else { matches!(req.method.as_str(), "GET" | "HEAD") };
        if !method_ok {
            return Err(refuse(405, format!("method `{}` is not allowed here", printable(&req.method))));
        }
        let keys: &[&str] = match endpoint {
            Endpoint::Health => &[],
            Endpoint::Ipxe => &["host", "mac"],
            _ => &["host"],
        };
        let query = parse_query(&req.query, keys)?;
        if endpoint == Endpoint::Health {
            return Ok(Response::ok(format!("ok: {} hosts\n", self.hosts())));
        }
        let ip: IpAddr = req.remote_addr.parse::<IpAddr>().map(|ip| ip.to_canonical()).map_err(|_| {
            refuse_logged(500, "the web server gave no client address", format!("REMOTE_ADDR {:?} is not an address", req.remote_addr))
        })?;
        let admin = cfg.is_admin(ip);
        if !admin && !self.allowed.iter().any(|n| n.contains(&ip)) {
            return Err(refuse(403, format!("{ip} is outside the networks allowed to ask")));
        }
        let requester = self.by_addr.get(&ip).copied();
        let asked = match (named, query.get("host").map(String::as_str)) {
            (Some(_), Some(_)) => return Err(refuse(400, "name the host in the path or in `host=`, not both")),
            (Some(n), None) | (None, Some(n)) => Some(valid_host(n)?),
            (None, None) => None,
        };
        let host = match (asked, requester) {
            (None, Some(r)) => r,
            (None, None) => return Err(refuse(404, format!("no host has the address {ip}"))),
            (Some(name), _) if admin => self.index_of(name).ok_or_else(|| refuse(404, format!("no host is named `{name}`")))?,
            (Some(name), Some(r)) if self.cluster.hosts[r].name == name => r,
            (Some(name), Some(r)) => {
                return Err(refuse_logged(
                    403,
                    "a host may ask only for its own files",
                    format!("{} asked for the files of `{name}`", self.cluster.hosts[r].name),
                ));
            }
            (Some(_), None) => return Err(refuse(404, format!("no host has the address {ip}"))),
        };
        self.check_macs(req, host)?;
        if cfg.privileged_port && !self.needs_no_privileged_port(endpoint, host, requester) {
            let port: Option<u16> = req.remote_port.parse().ok();
            if port.is_none_or(|p| p >= 1024) {
                return Err(refuse(
                    403,
                    format!("requests must come from a privileged source port (below 1024), not {}", printable(&req.remote_port)),
                ));
            }
        }
        let name = self.cluster.hosts[host].name.clone();
        match endpoint {
            Endpoint::Kickstart => self.kickstart(cfg, &name),
            Endpoint::Ipxe => self.ipxe(cfg, host, ip, query.get("mac").map(String::as_str)),
            Endpoint::BootDone | Endpoint::Reinstall => {
                let boot = if endpoint == Endpoint::BootDone { Boot::Os } else { Boot::Install };
                let r = set_boot(cfg, &name, boot);
                *changed = true;
                r
            }
            Endpoint::Health => unreachable!("answered above"),
        }
    }

    /// The requests the privileged-port rule lets through from any port: iPXE firmware's
    /// (an iPXE script holds no secret), and a host's own installer fetching its kickstart
    /// while its next boot is `install` (the installer picks its own port, and nothing else
    /// runs on the host then).
    fn needs_no_privileged_port(&self, endpoint: Endpoint, host: usize, requester: Option<usize>) -> bool {
        match endpoint {
            Endpoint::Ipxe | Endpoint::Health => true,
            Endpoint::Kickstart => requester == Some(host) && self.cluster.hosts[host].boot == Boot::Install,
            Endpoint::BootDone | Endpoint::Reinstall => false,
        }
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.cluster.hosts.binary_search_by(|h| h.name.as_str().cmp(name)).ok()
    }

    /// The `X-RHN-Provisioning-MAC-N` headers (`eth0 52:54:00:12:34:56`): none may be another
    /// host's MAC, and when the host has known MACs one of them must be sent.
    fn check_macs(&self, req: &Request, host: usize) -> Result<(), Refusal> {
        if req.provisioning_macs.is_empty() {
            return Ok(());
        }
        let name = &self.cluster.hosts[host].name;
        let mut matched = false;
        for (_, value) in &req.provisioning_macs {
            let mac = value.split_whitespace().nth(1).unwrap_or(value.trim());
            let mac = crate::facts::addr::parse_mac(mac)
                .map_err(|_| refuse(400, format!("X-RHN-Provisioning-MAC header `{}` holds no MAC address", printable(value))))?;
            match self.by_mac.get(&mac) {
                Some(&h) if h == host => matched = true,
                Some(&h) => {
                    return Err(refuse_logged(
                        403,
                        "the provisioning MAC addresses do not match the requesting host",
                        format!("{name} sent the MAC {mac} of `{}`", self.cluster.hosts[h].name),
                    ));
                }
                None => {}
            }
        }
        let known = self.cluster.hosts[host].boot_macs().next().is_some();
        if known && !matched {
            return Err(refuse_logged(
                403,
                "the provisioning MAC addresses do not match the requesting host",
                format!("none of the MACs sent is one of `{name}`'s"),
            ));
        }
        Ok(())
    }

    fn kickstart(&self, cfg: &Config, name: &str) -> Result<Response, Refusal> {
        let text = match &self.kickstarts {
            Kickstarts::Tree => return self.kickstart_file(cfg, name),
            Kickstarts::Resident { graphs, index, cache, .. } => {
                if let Some(text) = cache.get(name) {
                    return Ok(Response::shared(text.clone()).with("Cache-Control", "no-store"));
                }
                let Some(&(g, j)) = index.get(name) else { return Err(self.not_kickstartable(name)) };
                let (gj, shared) = &graphs[g];
                let c = shared.compile(&gj.fw, j, &gj.job(j), &cfg.options);
                match c.text {
                    Some(t) => t,
                    None => return Err(compile_failed(name, &gj.fw, &c.diags)),
                }
            }
            Kickstarts::OnDemand => {
                // The snapshot read at load: one host's attributes are resolved, one kickstart compiled.
                let given = Given { attrs: cfg.given.clone(), override_facts: false };
                let inputs = jobs(self.cluster.clone(), &[name.to_string()], &cfg.layers, given)
                    .map_err(|e| refuse_logged(500, "the kickstart could not be compiled", e.to_string()))?;
                let out: Mutex<Option<String>> = Mutex::new(None);
                let report = compile(inputs, &cfg.options, 1, |_, t| {
                    *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
                });
                if !report.not_kickstartable.is_empty() {
                    return Err(self.not_kickstartable(name));
                }
                if report.failed() {
                    let log: String = report.frameworks.iter().map(|(fw, diags)| errors_text(fw, diags)).collect();
                    return Err(refuse_logged(500, format!("the kickstart of `{name}` did not compile"), log));
                }
                out.into_inner().unwrap_or_else(|p| p.into_inner()).unwrap_or_default()
            }
        };
        Ok(Response::ok(text).with("Cache-Control", "no-store"))
    }

    /// The answer that has the web server send `name`'s kickstart from the built tree: a
    /// header and no body. One `stat` checks that the tree has the file, so a host that is
    /// missing from it gets this responder's 404 and its reason, not the web server's page.
    fn kickstart_file(&self, cfg: &Config, name: &str) -> Result<Response, Refusal> {
        let Some(tree) = &cfg.tree else {
            return Err(refuse_logged(500, "the kickstart could not be sent", "sending files needs the tree (`--tree DIR`)"));
        };
        let rel = format!("kickstart/{name}.ks");
        let file = tree.join(&rel);
        if !file.is_file() {
            return Err(refuse_logged(
                404,
                format!("the built tree holds no kickstart of `{name}`"),
                format!("no `{}`: `{name}` is not kickstartable, or `build` has not run since it was added", file.display()),
            ));
        }
        let Some((header, value)) = cfg.send_file.header(tree, &rel) else {
            return Err(refuse_logged(500, "the kickstart could not be sent", "the responder is not set up to send files"));
        };
        Ok(Response::ok(Vec::new()).with("Cache-Control", "no-store").with(header, value))
    }

    fn not_kickstartable(&self, name: &str) -> Refusal {
        let app = self.index_of(name).map(|i| self.cluster.hosts[i].appliance.as_str()).unwrap_or("");
        refuse(404, format!("`{name}` is a `{app}`, which is not kickstartable"))
    }

    /// The iPXE script of `host`'s interface: the one with `mac=`, else the one the request
    /// came from, else the primary one.
    fn ipxe(&self, cfg: &Config, host: usize, ip: IpAddr, mac: Option<&str>) -> Result<Response, Refusal> {
        let h = &self.cluster.hosts[host];
        let mac = match mac {
            Some(m) => {
                let m =
                    crate::facts::addr::parse_mac(m).map_err(|_| refuse(400, format!("`mac={}` is not a MAC address", printable(m))))?;
                if !h.boot_macs().any(|f| f == m) {
                    return Err(refuse(403, format!("{m} is not an interface of `{}`", h.name)));
                }
                m
            }
            None => h
                .interfaces
                .iter()
                .find(|f| !f.is_bmc() && f.addr() == Some(ip) && f.mac.is_some())
                .or_else(|| h.primary().filter(|f| f.mac.is_some()))
                .and_then(|f| f.mac.as_deref())
                .or_else(|| h.boot_macs().next())
                .map(str::to_string)
                .ok_or_else(|| refuse(404, format!("`{}` has no interface with a MAC address", h.name)))?,
        };
        let site = Site::with(&self.cluster, &cfg.build, &self.derived);
        match crate::emit::pxe::ipxe_script(&site, host, &mac) {
            Ok(Some(text)) => Ok(Response::ok(text).with("Cache-Control", "no-store")),
            Ok(None) => Err(refuse(404, format!("`{}` has no install server to boot from", h.name))),
            Err(e) => Err(refuse_logged(500, "the iPXE script could not be made", format!("{}: {e:#}", h.name))),
        }
    }
}

/// Compile kickstarts (on every core) until they hold [`Config::cache_bytes`]: hosts in name
/// order within each graph, each taken from `reuse(graph, job)` (the previous state's, not
/// copied) when it has it. A host that does not compile makes the whole load fail.
fn warm(
    graphs: &[(GraphJobs, Shared)],
    cfg: &Config,
    reuse: &(dyn Fn(usize, usize) -> Option<Arc<[u8]>> + Sync),
) -> Result<Cache, LoadError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let all: Vec<(usize, usize)> = graphs.iter().enumerate().flat_map(|(g, (gj, _))| (0..gj.hosts.len()).map(move |j| (g, j))).collect();
    let used = AtomicUsize::new(0);
    let out: Mutex<(Cache, String)> = Mutex::new((Cache::new(), String::new()));
    // In host order on rayon's pool, until the cache is full.
    let next = AtomicUsize::new(0);
    rayon::broadcast(|_| {
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= all.len() || used.load(Ordering::Relaxed) >= cfg.cache_bytes {
                return;
            }
            let (g, j) = all[k];
            let (gj, shared) = &graphs[g];
            if let Some(text) = reuse(g, j) {
                used.fetch_add(text.len(), Ordering::Relaxed);
                let name = gj.resolver.cluster().hosts[gj.hosts[j]].name.clone();
                out.lock().unwrap_or_else(|p| p.into_inner()).0.insert(name, text);
                continue;
            }
            let c = shared.compile(&gj.fw, j, &gj.job(j), &cfg.options);
            let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
            match c.text {
                Some(t) if used.fetch_add(t.len(), Ordering::Relaxed) + t.len() <= cfg.cache_bytes => {
                    o.0.insert(c.host, Arc::from(t.into_bytes()));
                }
                Some(_) => {}
                None => {
                    o.1.push_str(&errors_text(&gj.fw, &c.diags));
                    used.store(usize::MAX / 2, Ordering::Relaxed);
                }
            }
        }
    });
    let (cache, details) = out.into_inner().unwrap_or_else(|p| p.into_inner());
    if details.is_empty() { Ok(cache) } else { Err(LoadError::new("a host's kickstart does not compile", details, FIX_ABOVE)) }
}

/// How long a boot-done or reinstall waits for the tree's lock (a build holds it) before it
/// answers 503 with `Retry-After`.
const TREE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Set `name`'s next boot and rewrite its PXE files in the tree (when one is configured and
/// holds PXE files). The tree's lock is held from the database change to the new PXE files,
/// so requests for one host, however many at once, leave the database and the files in
/// agreement: the last to take the lock writes both last.
fn set_boot(cfg: &Config, name: &str, boot: Boot) -> Result<Response, Refusal> {
    let what = if boot == Boot::Os { "os" } else { "install" };
    let busy = |e: FactsError| {
        let status = if e.is_busy() { 503 } else { 500 };
        refuse_logged(status, "the boot action could not be set", format!("{name}: {e}"))
    };
    if !cfg.db.is_file() {
        return Err(refuse_logged(500, "the boot action could not be set", format!("no cluster database at `{}`", cfg.db.display())));
    }
    // The tree's lock first, then its manifests (read by the new generation under the lock:
    // every swap of the tree holds it, so they are of one whole generation).
    let generation = match cfg.tree.as_deref().filter(|t| t.is_dir()) {
        Some(tree) => {
            let g = crate::generation::Generation::begin_within(tree, false, TREE_PATIENCE).map_err(|e| {
                let status = if e.kind() == std::io::ErrorKind::WouldBlock { 503 } else { 500 };
                refuse_logged(status, "the boot action could not be set now", format!("{name}: {e}"))
            })?;
            // A tree without PXE files has none to rewrite (the new generation is dropped).
            g.has_kind(Kind::Pxe).then_some(g)
        }
        None => None,
    };
    let mut db = Db::open(&cfg.db).map_err(busy)?;
    for e in db.exposed() {
        eprintln!("rocks-compile: warning: the cluster database was open to every user: {e}");
    }
    db.set_boot(name, boot).map_err(busy)?;
    if let Some(g) = generation {
        rewrite_pxe(cfg, &db, g, name).map_err(|e| {
            refuse_logged(500, format!("next boot of `{name}` set to {what}, but its PXE files were not rewritten"), format!("{name}: {e}"))
        })?;
    }
    Ok(Response::ok(format!("{name}: next boot {what}\n")))
}

/// Rewrite `name`'s PXE files as generation `g` of the tree (other files stay as they are).
fn rewrite_pxe(cfg: &Config, db: &Db, g: crate::generation::Generation, name: &str) -> Result<(), String> {
    let cluster = db.cluster().map_err(|e| e.to_string())?;
    let site = Site::new(&cluster, &cfg.build);
    let i = cluster.hosts.iter().position(|h| h.name == name).ok_or_else(|| format!("`{name}` is gone"))?;
    let artifacts = crate::emit::pxe::host_artifacts(&site, i).map_err(|e| format!("{e:#}"))?;
    let mut plan = Plan { artifacts, ..Plan::default() };
    plan.sort();
    crate::generation::finish(g, &plan, &|_| {}).map(|_| ()).map_err(|e| e.to_string())
}

fn compile_failed(name: &str, fw: &crate::graph::Framework, diags: &[crate::diag::Diagnostic]) -> Refusal {
    refuse_logged(500, format!("the kickstart of `{name}` did not compile"), errors_text(fw, diags))
}

/// The error diagnostics among `diags`, rendered against `fw`'s sources (for the log).
fn errors_text(fw: &crate::graph::Framework, diags: &[crate::diag::Diagnostic]) -> String {
    diags.iter().filter(|d| d.is_error()).map(|d| d.render(&fw.sources, false)).collect()
}

/// The query's parameters: only `keys`, each at most once, printable ASCII.
fn parse_query(query: &str, keys: &[&str]) -> Result<BTreeMap<String, String>, Refusal> {
    if !query.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refuse(400, "the query holds characters a URL may not"));
    }
    let mut out = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if !keys.contains(&k.as_ref()) {
            let known = if keys.is_empty() { "none".to_string() } else { keys.join(", ") };
            return Err(refuse(400, format!("unknown query parameter `{}` (known: {known})", printable(&k))));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(refuse(400, format!("query parameter `{k}` is given twice")));
        }
    }
    Ok(out)
}

/// A host name as the database allows it: letters, digits, `-`, `_` and `.`, starting with a
/// letter or digit, at most 253 characters.
fn valid_host(name: &str) -> Result<&str, Refusal> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok { Ok(name) } else { Err(refuse(400, format!("`{}` is not a host name", printable(name)))) }
}

/// `s` with anything but printable ASCII escaped, at most 80 characters (for messages).
fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_default).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_checked() {
        assert_eq!(parse_query("host=a-1", &["host"]).unwrap()["host"], "a-1");
        assert_eq!(parse_query("", &[]).unwrap().len(), 0);
        for bad in ["x=1", "host=a&host=b", "host=a b", "host=\u{7f}"] {
            assert_eq!(parse_query(bad, &["host"]).err().map(|r| r.status), Some(400), "{bad}");
        }
    }

    #[test]
    fn a_reload_keeps_the_kickstarts_of_unchanged_hosts_without_copying_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.db");
        let mut db = Db::open(&path).unwrap();
        for (name, mac) in [("compute-0-0", "52:54:00:00:00:01"), ("compute-0-1", "52:54:00:00:00:02")] {
            db.add_host(&crate::facts::HostSpec { mac: Some(mac.into()), ..crate::facts::HostSpec::new(name, "compute") }).unwrap();
        }
        let cfg = Config { layers: vec![Layer::Embedded], ..Config::new(&path) };
        let cached = |s: &State, h: &str| match &s.kickstarts {
            Kickstarts::Resident { cache, .. } => cache[h].clone(),
            Kickstarts::OnDemand | Kickstarts::Tree => unreachable!("resident"),
        };
        let old = State::load(&cfg, true).unwrap();
        db.set_host("compute-0-1", crate::facts::HostField::Cpus, "64").unwrap();
        let new = State::reload(&cfg, true, Some(&old)).unwrap();
        assert!(Arc::ptr_eq(&cached(&old, "compute-0-0"), &cached(&new, "compute-0-0")), "unchanged: the same bytes, not a copy");
        assert!(!Arc::ptr_eq(&cached(&old, "compute-0-1"), &cached(&new, "compute-0-1")), "changed: compiled again");
        let fresh = State::load(&cfg, true).unwrap();
        for h in ["compute-0-0", "compute-0-1"] {
            assert_eq!(cached(&new, h), cached(&fresh, h), "{h}: a reload answers what a fresh load does");
        }
    }

    #[test]
    fn host_names_are_checked() {
        assert!(valid_host("compute-0-1.local").is_ok());
        for bad in ["", "-a", "a/b", "../etc", "a;b", "a\u{e9}", &"a".repeat(254)] {
            assert!(valid_host(bad).is_err(), "{bad}");
        }
    }
}
