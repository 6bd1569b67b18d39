//! The web responder: each host asks for its own kickstart (and iPXE script) at install time
//! and says when it is done. [`cgi`] answers one request per process (CGI/1.1: environment in,
//! standard output out); [`fastcgi`] is resident, answers from a [`State`] loaded once and
//! reloads it when the database or the framework changes.
//!
//! Both turn their request into a [`Request`] and call [`State::answer`], so the rules are the
//! same whichever way a web server runs us:
//!
//! - **Endpoints** (each path configurable, see [`Paths`]): `GET /kickstart` the requester's
//!   kickstart (also `/kickstart/NAME.ks`, the URL `build` writes into PXE files, so a tree's
//!   static kickstarts and the responder are interchangeable); `GET /ipxe` its iPXE script;
//!   `POST /boot-done` sets its boot action from `install` to `os` and rewrites its PXE files
//!   in the built tree; `POST /reinstall` sets it back; `GET /health` for load balancers.
//! - **Who may ask.** The requester is the host whose interface has `REMOTE_ADDR`. Requests
//!   from outside the allowed networks (by default the networks the cluster's DHCP serves)
//!   are refused (403). An unknown address gets 404; asking for another host's file gets
//!   403, unless the requester is in an admin network, where `?host=NAME` (or
//!   `/kickstart/NAME.ks`) picks any host. The `X-RHN-Provisioning-MAC-N` headers anaconda
//!   sends are cross-checked when present: none may name another host's MAC, and one must be
//!   the requester's.
//! - **Privileged ports** ([`Config::privileged_port`]): only root can send from a source
//!   port below 1024, so with this rule an ordinary user on a running node can neither fetch
//!   its kickstart (root's hash, Munge key) nor post `boot-done`/`reinstall`. The built-in
//!   framework posts from a privileged port. Two requests cannot, and need not: the installer
//!   fetching a host's own kickstart while its next boot is `install` (dracut and anaconda
//!   choose their own ports; nothing but the installer runs there then), and iPXE firmware
//!   fetching its script (which holds no secret).
//! - **Sending the bytes** ([`SendFile`]): the responder answers the kickstart itself, or,
//!   behind nginx, Apache with mod_xsendfile or lighttpd, answers only a header naming the
//!   built tree's file, which the web server sends with its own `sendfile`. The identity
//!   rules are the same either way; per request the responder then looks up one address.
//! - **Errors** are a status and a one-line body; the full story goes to the log (standard
//!   error), prefixed with the request's address. A kickstart that does not compile is a 500
//!   with one line, never a partial file.
//!
//! Nothing from a request reaches a shell, a path or SQL: names and MACs are validated and
//! looked up in the loaded facts; the database is written only through [`crate::facts::Db`].

pub mod cgi;
mod coalesce;
pub mod fastcgi;
mod listener;
mod records;
mod request;
mod state;

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

pub use request::{Request, Response};
pub use state::{LoadError, State, Watch};

use crate::attrs::Attrs;
use crate::kickstart::{EvalRunner, KickstartOptions};
use crate::load::Layer;
use crate::plan::BuildOptions;

/// The largest request body either responder takes in (no endpoint reads one): a FastCGI
/// request with more `STDIN` is refused, a CGI reads this much of it and drops it.
pub const MAX_BODY: usize = 64 * 1024;

/// Where each endpoint answers (request paths, after [`Config::prefix`] is taken off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub kickstart: String,
    pub ipxe: String,
    pub boot_done: String,
    pub reinstall: String,
    pub health: String,
}

impl Default for Paths {
    fn default() -> Paths {
        Paths {
            kickstart: "/kickstart".into(),
            ipxe: "/ipxe".into(),
            boot_done: "/boot-done".into(),
            reinstall: "/reinstall".into(),
            health: "/health".into(),
        }
    }
}

/// Everything the responder is configured with.
#[derive(Clone)]
pub struct Config {
    /// The cluster database.
    pub db: PathBuf,
    /// The framework layers (empty: the embedded framework).
    pub layers: Vec<Layer>,
    /// Attributes given on the command line (as `kickstart --attrs/--attr`).
    pub given: Attrs,
    /// As `kickstart`'s flags.
    pub options: KickstartOptions<'static>,
    /// Taken off the front of every request path (e.g. `/install`).
    pub prefix: String,
    pub paths: Paths,
    /// Requests from elsewhere are refused. `None`: the networks the cluster's DHCP serves.
    pub allowed: Option<Vec<IpNet>>,
    /// Requesters here may name any host with `?host=`.
    pub admin: Vec<IpNet>,
    /// Refuse requests whose source port is 1024 or above, except what only an installer can
    /// ask for (see [`Config::privileged_port`]'s rule in the module docs).
    pub privileged_port: bool,
    /// How a kickstart's bytes reach the client.
    pub send_file: SendFile,
    /// The built output tree whose PXE files `boot-done` and `reinstall` rewrite.
    pub tree: Option<PathBuf>,
    /// The build options the tree was built with (kickstart URL, boot files).
    pub build: BuildOptions,
    /// A resident responder compiles kickstarts when it loads until they take this many
    /// bytes, and answers those from memory (the others are compiled per request).
    pub cache_bytes: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("db", &self.db)
            .field("prefix", &self.prefix)
            .field("paths", &self.paths)
            .field("allowed", &self.allowed)
            .field("admin", &self.admin)
            .field("privileged_port", &self.privileged_port)
            .field("send_file", &self.send_file)
            .field("tree", &self.tree)
            .finish_non_exhaustive()
    }
}

/// How a kickstart's bytes reach the client once the responder has decided who may have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFile {
    /// The responder compiles the kickstart (or takes it from memory) and sends it as the
    /// response body: for web servers that cannot send a file on an upstream's word.
    Body,
    /// nginx: the answer is `X-Accel-Redirect: LOCATION/kickstart/NAME.ks` with no body, and
    /// nginx sends the built tree's file from an `internal` location `LOCATION/` aliased to
    /// the tree.
    AccelRedirect(String),
    /// Apache (mod_xsendfile) and lighttpd: the answer is `X-Sendfile: TREE/kickstart/NAME.ks`
    /// with no body, and the web server sends that file.
    XSendfile,
}

impl SendFile {
    /// The header that has the web server send the tree's file `rel` (under `tree`), or
    /// `None` when the responder sends the bytes itself.
    pub fn header(&self, tree: &std::path::Path, rel: &str) -> Option<(&'static str, String)> {
        match self {
            SendFile::Body => None,
            SendFile::AccelRedirect(location) => Some(("X-Accel-Redirect", format!("{location}/{rel}"))),
            SendFile::XSendfile => Some(("X-Sendfile", tree.join(rel).display().to_string())),
        }
    }
}

impl Config {
    /// A configuration with the defaults: embedded framework, no attributes, default paths,
    /// the DHCP networks allowed, no admin network.
    pub fn new(db: impl Into<PathBuf>) -> Config {
        Config {
            db: db.into(),
            layers: Vec::new(),
            given: Attrs::new(),
            options: KickstartOptions::default(),
            prefix: String::new(),
            paths: Paths::default(),
            allowed: None,
            admin: Vec::new(),
            privileged_port: false,
            send_file: SendFile::Body,
            tree: None,
            build: BuildOptions::default(),
            cache_bytes: 256 << 20,
        }
    }

    /// Run `<eval>` through `runner` (as `kickstart --allow-eval`).
    pub fn with_eval(mut self, runner: &'static dyn EvalRunner) -> Config {
        self.options.eval = Some(runner);
        self
    }

    fn is_admin(&self, ip: IpAddr) -> bool {
        self.admin.iter().any(|n| n.contains(&ip))
    }
}
