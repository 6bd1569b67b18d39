//! `cgi` and `fastcgi`: the web responder ([`crate::serve`]). [I/O]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgGroup, Args};
use ipnet::IpNet;

use super::{AttrArgs, EXIT_DIAGNOSTICS, EXIT_FAILURE, EXIT_OK, FrameworkArgs, KickstartFlags, Ui};
use crate::diag::Diagnostic;
use crate::plan::BuildOptions;
use crate::serve::fastcgi::{Listen, Options, ServeError};
use crate::serve::{Config, Paths, SendFile};

/// What both responders are configured with.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub framework: FrameworkArgs,
    #[command(flatten)]
    pub attrs: AttrArgs,
    #[command(flatten)]
    pub flags: KickstartFlags,
    /// Taken off the front of every request path, e.g. `/install` when the web server passes
    /// `/install/kickstart`.
    #[arg(long, value_name = "PATH", default_value = "")]
    pub prefix: String,
    /// Path of the requester's kickstart (also `PATH/NAME.ks`, the URL `build` writes).
    #[arg(long, value_name = "PATH", default_value = "/kickstart")]
    pub kickstart_path: String,
    /// Path of the requester's iPXE script (`?mac=` picks the interface).
    #[arg(long, value_name = "PATH", default_value = "/ipxe")]
    pub ipxe_path: String,
    /// Path a host POSTs to when its installation is done: its next boot becomes `os`.
    #[arg(long, value_name = "PATH", default_value = "/boot-done")]
    pub boot_done_path: String,
    /// Path to POST to make a host's next boot `install` again.
    #[arg(long, value_name = "PATH", default_value = "/reinstall")]
    pub reinstall_path: String,
    /// Path of the health check (answers anyone: `200 ok: N hosts`).
    #[arg(long, value_name = "PATH", default_value = "/health")]
    pub health_path: String,
    /// Networks requests may come from (repeatable; default: the networks the cluster's
    /// DHCP serves, see `network add --dhcp`).
    #[arg(long = "allow", value_name = "CIDR")]
    pub allow: Vec<IpNet>,
    /// Admin networks (repeatable): requesters there may name any host with `?host=NAME`.
    #[arg(long = "admin", value_name = "CIDR")]
    pub admin: Vec<IpNet>,
    /// Refuse requests whose source port is not privileged (1024 or above), so that only
    /// root on a node may fetch its kickstart or post `boot-done`/`reinstall`. Let through
    /// from any port: a host's installer fetching its own kickstart while its next boot is
    /// `install`, and iPXE scripts.
    #[arg(long)]
    pub privileged_port: bool,
    /// nginx sends each kickstart from the tree: answer `X-Accel-Redirect:
    /// LOCATION/kickstart/NAME.ks`, where LOCATION is an `internal` location aliased to the
    /// `--tree` (e.g. `/install/rocks-internal`). Nothing is compiled by the responder.
    #[arg(long, value_name = "LOCATION", requires = "tree", conflicts_with = "x_sendfile", value_parser = parse_location)]
    pub x_accel_redirect: Option<String>,
    /// Apache (mod_xsendfile) or lighttpd sends each kickstart from the tree: answer
    /// `X-Sendfile: TREE/kickstart/NAME.ks`. Nothing is compiled by the responder.
    #[arg(long, requires = "tree")]
    pub x_sendfile: bool,
    /// The output tree `build` wrote: `boot-done` and `reinstall` rewrite the host's PXE files
    /// in it (as a new generation).
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// The kickstart URL template the tree was built with (as `build --kickstart-url`).
    #[arg(long, value_name = "TEMPLATE", default_value = "{base}/kickstart/{host}.ks")]
    pub kickstart_url: String,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("where").args(["socket", "listen"])))]
pub struct FastcgiArgs {
    /// Listen on this Unix socket (created; a socket already there, stale or still served by
    /// an older instance, is taken over atomically). Without `--socket` and `--listen`, the
    /// listening socket passed by systemd (`LISTEN_FDS`) or on fd 0 is used.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Listen on this TCP address, e.g. `127.0.0.1:9000`; `FCGI_WEB_SERVER_ADDRS` must name
    /// the web servers that may connect (without it `fastcgi` refuses to start).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Mode of the socket file (octal). Whoever can connect can claim any client address:
    /// give it to the web server's group only.
    #[arg(long, value_name = "MODE", default_value = "660", value_parser = parse_mode)]
    pub socket_mode: u32,
    /// Group of the socket file (e.g. `www-data`).
    #[arg(long, value_name = "GROUP")]
    pub socket_group: Option<String>,
    /// Seconds between checks of the database and framework for changes (0.01 to 86400).
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = parse_seconds)]
    pub reload_interval: f64,
    /// Worker threads (default: every core; 1 to 4096).
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub jobs: Option<usize>,
    /// Compile kickstarts at load until they take this many MB, and answer those from memory
    /// (others are compiled per request). While a reload loads, old and new are both held.
    #[arg(long, value_name = "MB", default_value = "256", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1_048_576))]
    pub cache_mb: usize,
    /// Seconds a connection may wait for its next request before it is closed (0.01 to
    /// 86400).
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = parse_seconds)]
    pub idle_timeout: f64,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// A number of seconds from 0.01 to 86400 (a day): reload intervals, idle timeouts, the
/// `power` command's timeout per host.
pub(super) fn parse_seconds(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && (0.01..=86_400.0).contains(v))
        .ok_or_else(|| format!("`{s}` is not a number of seconds from 0.01 to 86400"))
}

/// An nginx location: an absolute URI path (without the final `/`).
fn parse_location(s: &str) -> Result<String, String> {
    let ok = s.starts_with('/') && s.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'%'));
    ok.then(|| s.trim_end_matches('/').to_string())
        .ok_or_else(|| format!("`{s}` is not a location such as `/install/rocks-internal` (a path starting with `/`)"))
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o777).ok_or_else(|| format!("`{s}` is not an octal mode such as 660"))
}

/// The responders run `<eval>` with this (as `kickstart --allow-eval`).
static SHELL: super::ShellEval = super::ShellEval;

fn config(ui: &mut Ui, db: &Path, a: &ServeArgs) -> Result<Config, i32> {
    let given = super::given_attrs(ui, &a.attrs)?;
    let mut cfg = Config::new(db);
    cfg.layers = super::layers(&a.framework);
    cfg.given = given;
    cfg.options = a.flags.options(&SHELL);
    cfg.prefix = a.prefix.trim_end_matches('/').to_string();
    cfg.paths = Paths {
        kickstart: a.kickstart_path.clone(),
        ipxe: a.ipxe_path.clone(),
        boot_done: a.boot_done_path.clone(),
        reinstall: a.reinstall_path.clone(),
        health: a.health_path.clone(),
    };
    cfg.allowed = (!a.allow.is_empty()).then(|| a.allow.clone());
    cfg.admin = a.admin.clone();
    cfg.privileged_port = a.privileged_port;
    cfg.send_file = match (&a.x_accel_redirect, a.x_sendfile) {
        (Some(location), _) => SendFile::AccelRedirect(location.clone()),
        (None, true) => SendFile::XSendfile,
        (None, false) => SendFile::Body,
    };
    // Absolute: `X-Sendfile` names the file to a web server whose directory is not ours.
    // (It fails only for an empty path, which stays as it is.)
    cfg.tree = a.tree.as_deref().map(|t| std::path::absolute(t).unwrap_or_else(|_| t.to_path_buf()));
    cfg.build = BuildOptions { kickstart_url: a.kickstart_url.clone(), ..BuildOptions::default() };
    Ok(cfg)
}

/// `cgi`: answer the one request in the environment.
/// The responders hold every host's secrets in memory: no core dump may write them to disk
/// (core size 0, and not dumpable, which also keeps other users' debuggers out).
fn no_core_dumps() {
    let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain system calls on this process with valid arguments; failure only leaves
    // the limits as they were.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &none);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

pub(super) fn cgi(ui: &mut Ui, db: &Path, a: ServeArgs) -> i32 {
    no_core_dumps();
    let cfg = match config(ui, db, &a) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let vars = crate::serve::cgi::environment();
    let mut out = std::io::stdout().lock();
    let mut log = std::io::stderr().lock();
    match crate::serve::cgi::respond(&cfg, &vars, &mut std::io::stdin().lock(), &mut out, &mut log) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            let _ = writeln!(log, "rocks-compile: cannot answer: {e}");
            EXIT_FAILURE
        }
    }
}

/// `fastcgi`: serve until stopped.
pub(super) fn fastcgi(ui: &mut Ui, db: &Path, a: FastcgiArgs) -> i32 {
    no_core_dumps();
    let mut cfg = match config(ui, db, &a.serve) {
        Ok(c) => c,
        Err(code) => return code,
    };
    cfg.cache_bytes = a.cache_mb.saturating_mul(1 << 20);
    let listen = match (&a.socket, a.listen) {
        (Some(path), _) => Listen::Unix { path: path.clone(), mode: a.socket_mode, group: a.socket_group.clone() },
        (None, Some(addr)) => Listen::Tcp(addr),
        (None, None) => Listen::Inherited,
    };
    let opts = Options {
        reload_interval: Duration::from_secs_f64(a.reload_interval),
        threads: super::threads(a.jobs),
        idle: Duration::from_secs_f64(a.idle_timeout),
    };
    match crate::serve::fastcgi::serve(cfg, listen, opts) {
        Ok(()) => EXIT_OK,
        Err(ServeError::Load(e)) => {
            let _ = write!(std::io::stderr(), "{}", e.details);
            let d = Diagnostic::error("serve::load", format!("cannot load: {e}")).help(e.help.clone());
            ui.say(d, EXIT_DIAGNOSTICS)
        }
        Err(ServeError::OpenTcp(e)) => ui.fail(
            "serve::listen",
            e,
            "set FCGI_WEB_SERVER_ADDRS to the web servers' addresses (comma-separated), or listen on a Unix socket with `--socket PATH`",
        ),
        Err(ServeError::Io(e)) => {
            ui.fail("serve::listen", e, "check the socket path's directory and permissions, or give another `--socket`/`--listen`")
        }
    }
}
