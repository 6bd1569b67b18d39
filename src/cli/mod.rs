//! The command line: clap structs -> library calls. The only module that knows clap. [I/O]
//!
//! Exit codes: 0 success (warnings may have been printed), 1 the input has errors (files,
//! facts or the command line; every diagnostic was printed), 2 an internal, database or I/O
//! failure (unreadable file, unwritable output).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::attrs::{self, Attrs};
use crate::diag::{self, Diagnostic};
use crate::graph::Framework;
use crate::kickstart::{EvalRunner, KickstartOptions};
use crate::load::Layer;

/// Open the cluster database, or return the failure's exit code. With `create`, a missing
/// database is created (commands that add facts); without, it is an error (commands that
/// read or change existing facts never leave an empty database behind).
macro_rules! open_db_or_return {
    ($ui:expr, $path:expr, $create:expr) => {
        match $crate::cli::cluster::open_for($ui, $path, $create) {
            Ok(db) => db,
            Err(code) => return code,
        }
    };
}

mod build;
mod cluster;
mod docs;
mod explain;
mod hosts;
mod inventory;
mod power;
mod reload;
mod serve;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: the input has errors; diagnostics were printed.
pub const EXIT_DIAGNOSTICS: i32 = 1;
/// Exit code: internal or I/O failure.
pub const EXIT_FAILURE: i32 = 2;

#[derive(Debug, Parser)]
#[command(name = "rocks-compile", version, about = "Compile Rocks-style node and graph XML into kickstart files", long_about = None)]
pub struct Cli {
    /// The cluster database (SQLite). Only `init` and the commands that add facts create it
    /// when it is missing.
    #[arg(long, global = true, env = "ROCKS_COMPILE_DB", default_value = "cluster.db", value_name = "PATH")]
    pub db: PathBuf,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Print (or write) the kickstart of an appliance, a host, or every host a query selects.
    Kickstart(KickstartArgs),
    /// Check a framework: parse errors, dangling edges, order cycles, unreachable nodes,
    /// undefined attributes.
    Check(CheckArgs),
    /// Print the graph an appliance reaches as Graphviz DOT.
    Graph(GraphArgs),
    /// Say where lines of a kickstart came from (node file and line, edge path, attributes
    /// and their scopes), or which nodes add or disable a package.
    Explain(explain::ExplainArgs),
    /// Create the cluster database with defaults, optionally on its own address plan
    /// (`--network`); the commands that add facts also create it when missing.
    Init(cluster::InitArgs),
    /// Hosts: add, list, remove, set, import, export, generate.
    #[command(subcommand)]
    Host(cluster::HostCmd),
    /// Attributes at the global, os, appliance, rack or host scope.
    #[command(subcommand)]
    Attr(cluster::AttrCmd),
    /// Appliances (host types).
    #[command(subcommand)]
    Appliance(cluster::ApplianceCmd),
    /// Networks.
    #[command(subcommand)]
    Network(cluster::NetworkCmd),
    /// Network interfaces of hosts.
    #[command(subcommand)]
    Interface(cluster::InterfaceCmd),
    /// Other names of hosts (DNS CNAMEs, extra names in /etc/hosts).
    #[command(subcommand)]
    Alias(cluster::AliasCmd),
    /// Boot actions of hosts.
    #[command(subcommand)]
    Boot(cluster::BootCmd),
    /// Switch hosts on, off, power-cycle or reset them, or ask their power state, through
    /// their BMCs over IPMI (`ipmitool`, many at once).
    Power(power::PowerArgs),
    /// Add hosts for the unknown MACs in an ISC dhcpd log (Rocks' insert-ethers).
    Discover(cluster::DiscoverArgs),
    /// Build every provisioning file of the cluster (kickstarts, DHCP, hosts, DNS, PXE,
    /// scheduler lists) as one atomic generation of an output tree.
    Build(build::BuildArgs),
    /// Check an output tree against its manifest.
    Verify(build::VerifyArgs),
    /// Install servers: the machines hosts boot and install from.
    #[command(subcommand)]
    Server(cluster::ServerCmd),
    /// Distributions: the OS trees hosts install.
    #[command(subcommand)]
    Distribution(cluster::DistributionCmd),
    /// Boot actions: the kernel, initrd and arguments a host's PXE files boot.
    #[command(subcommand)]
    Bootaction(cluster::BootactionCmd),
    /// Answer one web request as a CGI/1.1 script: each host gets its own kickstart and iPXE
    /// script, and says when its installation is done.
    Cgi(serve::ServeArgs),
    /// Serve the same requests as a resident FastCGI responder (reloads when the database or
    /// the framework changes, and on SIGHUP).
    Fastcgi(serve::FastcgiArgs),
    /// Print shell completions (bash, zsh or fish), e.g. `rocks-compile completions bash >
    /// /etc/bash_completion.d/rocks-compile`.
    Completions(docs::CompletionsArgs),
    /// Print the manual page (roff; `rocks-compile man | man -l -`), or write every page
    /// into a directory with `--out`.
    Man(docs::ManArgs),
}

/// Where the framework comes from.
#[derive(Debug, Args)]
pub struct FrameworkArgs {
    /// A framework directory holding `nodes/` and `graphs/` (repeatable; later ones override
    /// earlier ones, like Rocks rolls). Default: the framework built into rocks-compile.
    #[arg(long = "framework", value_name = "DIR")]
    pub frameworks: Vec<PathBuf>,
    /// The graph to use (`graphs/<NAME>/`).
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub graph: String,
}

/// Attributes given on the command line.
#[derive(Debug, Args)]
pub struct AttrArgs {
    /// A file of attributes: JSON (`.json`), a Python dict literal (`.py`, as Rocks'
    /// `*.attrs.py`), or TOML (anything else). Values are strings.
    #[arg(long, value_name = "FILE")]
    pub attrs: Option<PathBuf>,
    /// One attribute, `NAME=VALUE` (repeatable; wins over `--attrs`).
    #[arg(long = "attr", value_name = "NAME=VALUE")]
    pub attr: Vec<String>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["appliance", "host", "query"])))]
pub struct KickstartArgs {
    /// The appliance (host type) to compile, e.g. `compute`, with attributes from the
    /// command line only.
    #[arg(long, value_name = "NAME")]
    pub appliance: Option<String>,
    /// A host of the cluster database: its appliance and attributes come from there.
    #[arg(long, value_name = "NAME", value_hint = clap::ValueHint::Hostname)]
    pub host: Option<String>,
    /// Every host whose name the read-only SQL returns (first column); `-o` names a
    /// directory that receives `<host>.ks` for each.
    #[arg(long, value_name = "SQL", requires = "output")]
    pub query: Option<String>,
    #[command(flatten)]
    pub framework: FrameworkArgs,
    #[command(flatten)]
    pub attrs: AttrArgs,
    /// Write the kickstart here (atomically) instead of standard output; with `--query`, a
    /// directory.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// With `--query`: remove kickstarts an earlier run wrote into the directory (listed in
    /// its `MANIFEST`) for hosts the query no longer selects.
    #[arg(long, requires = "query")]
    pub prune: bool,
    /// Threads for `--query` (default: every core).
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub flags: KickstartFlags,
}

/// How kickstarts are compiled (shared by `kickstart` and `build`).
#[derive(Debug, Args)]
pub struct KickstartFlags {
    /// Wrap every `<file>` in Rocks' RCS check-out/check-in blocks.
    #[arg(long)]
    pub rcs: bool,
    /// Add Rocks' `begin/end post section` log markers around every `<post>`.
    #[arg(long)]
    pub post_log: bool,
    /// Everything Rocks 7 added: `--rcs`, `--post-log` and the `/var/rocks` copy of files.
    #[arg(long)]
    pub rocks7: bool,
    /// Run `<eval>` bodies on this machine (with the attributes as environment variables).
    #[arg(long)]
    pub allow_eval: bool,
    /// Keep each `<eval>`'s body as literal text instead of leaving it out (Rocks' `eval=no`).
    #[arg(long, conflicts_with = "allow_eval")]
    pub eval_as_text: bool,
    /// Compile with the framework's public default root password hash without complaint
    /// (otherwise a warning, and an error for `build`). Set a real one with `attr set
    /// Kickstart_PrivateRootPassword --secret`.
    #[arg(long)]
    pub allow_default_password: bool,
    /// Let `--attrs`/`--attr` override attributes the database derives for a host
    /// (`hostname`, `hostaddr`, `rack`, ...); a warning names each one either way.
    #[arg(long)]
    pub override_facts: bool,
}

/// The kickstarts of `hosts` (empty: the one compiled) set root's password from the
/// framework's public default hash: a warning, or with `error` (`build`) an error.
fn default_password(hosts: &[String], error: bool) -> Diagnostic {
    let whose = match hosts {
        [] => "this kickstart".to_string(),
        [h] => format!("host `{h}`"),
        _ => format!("{} hosts (`{}`)", hosts.len(), crate::hostlist::compress(hosts)),
    };
    let message = format!("root's password of {whose} is the framework's public default (`{}`)", crate::attrs::ROOT_PASSWORD);
    let help = "set a real one with `rocks-compile attr set Kickstart_PrivateRootPassword --secret` (it reads the password \
                and stores its SHA-512 crypt hash), or give a hash with `--attr`; `--allow-default-password` accepts the default";
    if error {
        Diagnostic::error("security::default-password", message)
    } else {
        Diagnostic::warning("security::default-password", message)
    }
    .help(help)
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub framework: FrameworkArgs,
    #[command(flatten)]
    pub attrs: AttrArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The appliance whose reachable graph is drawn.
    #[arg(long, value_name = "NAME")]
    pub appliance: String,
    #[command(flatten)]
    pub framework: FrameworkArgs,
    #[command(flatten)]
    pub attrs: AttrArgs,
    /// Write the DOT here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Run the command line `args` (including the program name); returns the exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    // `--version` alone needs none of the command tree that clap would build first.
    if let [_, v] = args.as_slice()
        && (v == "--version" || v == "-V")
    {
        let _ = std::io::stdout().lock().write_all(version_line().as_bytes());
        return EXIT_OK;
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // `--help` and `--version`.
            let _ = e.print();
            return EXIT_OK;
        }
        Err(e) => {
            // A malformed command line is bad user input, like a malformed file: a coded
            // diagnostic whose help is clap's tip and usage.
            let color = use_color(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
            let text = e.render().to_string();
            let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
            let d =
                Diagnostic::error("cli::usage", first.trim_start_matches("error: ").to_string()).help(rest.trim().replace("\n\n", "\n"));
            return Ui { color }.say(d, EXIT_DIAGNOSTICS);
        }
    };
    if !matches!(cli.command, Cmd::Fastcgi(_)) {
        die_on_closed_output();
    }
    let mut ui = Ui { color: use_color(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref()) };
    let db = cli.db;
    match cli.command {
        Cmd::Kickstart(a) if a.appliance.is_some() => kickstart(&mut ui, a),
        Cmd::Kickstart(a) => hosts::host_kickstarts_cmd(&mut ui, &db, a),
        Cmd::Build(a) => build::build(&mut ui, &db, a),
        Cmd::Verify(a) => build::verify(&mut ui, a),
        Cmd::Server(c) => inventory::server(&mut ui, &db, c),
        Cmd::Distribution(c) => inventory::distribution(&mut ui, &db, c),
        Cmd::Bootaction(c) => inventory::bootaction(&mut ui, &db, c),
        Cmd::Cgi(a) => serve::cgi(&mut ui, &db, a),
        Cmd::Fastcgi(a) => serve::fastcgi(&mut ui, &db, a),
        Cmd::Check(a) => check(&mut ui, a),
        Cmd::Graph(a) => graph(&mut ui, a),
        Cmd::Explain(a) => explain::explain(&mut ui, &db, a),
        Cmd::Init(a) => cluster::init(&mut ui, &db, a),
        Cmd::Host(c) => cluster::host(&mut ui, &db, c),
        Cmd::Attr(c) => cluster::attr(&mut ui, &db, c),
        Cmd::Appliance(c) => inventory::appliance(&mut ui, &db, c),
        Cmd::Network(c) => inventory::network(&mut ui, &db, c),
        Cmd::Interface(c) => inventory::interface(&mut ui, &db, c),
        Cmd::Alias(c) => inventory::alias(&mut ui, &db, c),
        Cmd::Boot(c) => inventory::boot(&mut ui, &db, c),
        Cmd::Power(a) => power::power(&mut ui, &db, a),
        Cmd::Discover(a) => cluster::discover(&mut ui, &db, a),
        Cmd::Completions(a) => docs::completions(a),
        Cmd::Man(a) => docs::man(&mut ui, a),
    }
}

/// A command whose output is closed early (`host list | head`) ends quietly, killed by
/// `SIGPIPE` as every Unix filter is, instead of failing a write (a panic where the write is
/// someone else's, as in clap's completion writer). Not for the resident FastCGI responder,
/// which must outlive any client that hangs up.
fn die_on_closed_output() {
    // SAFETY: setting a signal's disposition to the default action before any thread that
    // could depend on it exists; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// What `--version` prints (as clap would: the program's name and version).
fn version_line() -> String {
    format!("rocks-compile {}\n", env!("CARGO_PKG_VERSION"))
}

struct Ui {
    color: bool,
}

impl Ui {
    fn report(&mut self, fw: &Framework, diags: &[Diagnostic]) {
        let mut sorted = diags.to_vec();
        diag::sort(&mut sorted);
        let mut err = std::io::stderr().lock();
        for d in &sorted {
            let _ = write!(err, "{}", d.render(&fw.sources, self.color));
        }
    }

    /// Print a diagnostic that points into no file; returns `exit`.
    fn say(&mut self, d: Diagnostic, exit: i32) -> i32 {
        let _ = write!(std::io::stderr(), "{}", d.render(&crate::span::Sources::new(), self.color));
        exit
    }

    /// An I/O failure (exit 2) with a stable code such as `io::read` or `io::write`.
    fn fail(&mut self, code: &'static str, message: impl Into<String>, help: &str) -> i32 {
        self.say(Diagnostic::error(code, message).help(help), EXIT_FAILURE)
    }

    /// A framework that could not be opened (exit 2).
    fn load_error(&mut self, e: &crate::load::LoadError) -> i32 {
        self.say(Diagnostic::error(e.code(), e.to_string()).help(e.help()), EXIT_FAILURE)
    }

    /// Cannot read `path`.
    fn read_error(&mut self, path: &Path, e: &std::io::Error) -> i32 {
        self.fail("io::read", format!("cannot read `{}`: {e}", path.display()), "check the path and its permissions")
    }

    /// Cannot write `path`.
    fn write_error(&mut self, path: &Path, e: &dyn std::fmt::Display) -> i32 {
        self.fail(
            "io::write",
            format!("cannot write `{}`: {e}", path.display()),
            "check that the directory exists and is writable, and that the disk is not full",
        )
    }
}

/// Whether to colour diagnostics: only on a terminal, and never when `NO_COLOR` is set to a
/// non-empty value (<https://no-color.org>).
pub fn use_color(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

fn open(ui: &mut Ui, a: &FrameworkArgs) -> Result<(Framework, Vec<Diagnostic>), i32> {
    crate::graph::Framework::open(&layers(a), &a.graph).map_err(|e| ui.load_error(&e))
}

/// Attributes from `--attrs` and `--attr`. Errors are reported and turn into an exit code.
fn given_attrs(ui: &mut Ui, a: &AttrArgs) -> Result<Attrs, i32> {
    given_attrs_with_origins(ui, a).map(|(attrs, _)| attrs)
}

/// [`given_attrs`], and where each came from (`--attrs FILE` or `--attr`), for messages.
fn given_attrs_with_origins(ui: &mut Ui, a: &AttrArgs) -> Result<(Attrs, attrs::Origins), i32> {
    let mut out = Attrs::new();
    let mut origins = attrs::Origins::new();
    if let Some(path) = &a.attrs {
        let text = std::fs::read_to_string(path).map_err(|e| ui.read_error(path, &e))?;
        let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("");
        let parsed = if ext == "py" { attrs::parse_python_dict(&text) } else { attrs::parse_attrs(&text, ext == "json") };
        match parsed {
            Ok(v) => {
                origins.extend(v.keys().map(|k| (k.clone(), format!("`--attrs {}`", path.display()))));
                out.extend(v);
            }
            Err(e) => {
                let mut sources = crate::span::Sources::new();
                let id = sources.add(path.display().to_string(), text);
                let span = e.range.map(|(s, t)| crate::span::Span::new(id, s, t));
                let mut d = Diagnostic::error("attrs::syntax", format!("invalid attributes file: {}", e.message))
                    .help("an attributes file is a JSON object or TOML table of `name = \"value\"` pairs");
                if let Some(span) = span {
                    d = d.label(span, "here");
                }
                let _ = write!(std::io::stderr(), "{}", d.render(&sources, ui.color));
                return Err(EXIT_DIAGNOSTICS);
            }
        }
    }
    for kv in &a.attr {
        match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.insert(k.trim().to_string(), v.to_string());
                origins.insert(k.trim().to_string(), "`--attr`".to_string());
            }
            _ => {
                let d = Diagnostic::error("attrs::syntax", format!("`--attr {kv}` is not `NAME=VALUE`"))
                    .help("write e.g. `--attr Kickstart_Timezone=Europe/Paris`");
                let _ = write!(std::io::stderr(), "{}", d.render(&crate::span::Sources::new(), ui.color));
                return Err(EXIT_DIAGNOSTICS);
            }
        }
    }
    Ok((out, origins))
}

fn kickstart(ui: &mut Ui, a: KickstartArgs) -> i32 {
    let (fw, mut diags) = match open(ui, &a.framework) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let (given, origins) = match given_attrs_with_origins(ui, &a.attrs) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let opts = KickstartOptions { origins: Some(&origins), ..a.flags.options(&ShellEval) };
    let appliance = a.appliance.as_deref().expect("dispatched on --appliance");
    let attrs = crate::resolver::appliance_attrs(&fw, appliance, &given);
    let (ks, d) = crate::kickstart::compile(&fw, appliance, &attrs, &opts);
    diags.extend(d);
    if crate::attrs::has_default_password(&attrs) && !a.flags.allow_default_password {
        diags.push(default_password(&[], false));
    }
    ui.report(&fw, &diags);
    let Some(ks) = ks.filter(|_| !diag::has_errors(&diags)) else { return failure_code(&diags) };
    let text = match ks.render() {
        Ok(t) => t,
        Err(e) => {
            return ui.fail(
                "build::render",
                format!("internal error rendering the kickstart: {e}"),
                "this is a bug in rocks-compile; please report it with the command line",
            );
        }
    };
    let code = emit_secret_text(ui, a.output.as_deref(), &text);
    // The process ends right after this; tearing down thousands of small allocations would
    // cost more than the compile itself (see the benchmark section of the README).
    std::mem::forget(fw);
    code
}

impl KickstartFlags {
    fn options<'a>(&self, runner: &'a ShellEval) -> KickstartOptions<'a> {
        KickstartOptions {
            rcs: self.rcs || self.rocks7,
            post_log: self.post_log || self.rocks7,
            var_rocks_copy: self.rocks7,
            eval: if self.allow_eval { Some(runner as &dyn EvalRunner) } else { None },
            eval_as_text: self.eval_as_text,
            origins: None,
        }
    }
}

/// Worker threads: `--jobs`, or every core.
fn threads(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The framework layers `--framework` names (the embedded framework by default).
fn layers(a: &FrameworkArgs) -> Vec<Layer> {
    if a.frameworks.is_empty() { vec![Layer::Embedded] } else { a.frameworks.iter().cloned().map(Layer::Dir).collect() }
}

fn check(ui: &mut Ui, a: CheckArgs) -> i32 {
    let (fw, diags) = match open(ui, &a.framework) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let given = match given_attrs(ui, &a.attrs) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let report = crate::check::check(&fw, diags, &given);
    if a.json {
        let json = serde_json::to_string_pretty(&report.to_json(&fw)).expect("the report serialises");
        let _ = writeln!(std::io::stdout().lock(), "{json}");
    } else {
        ui.report(&fw, &report.diagnostics);
        let _ = write!(std::io::stderr(), "{}", report.summary(&fw));
    }
    if report.has_errors() { failure_code(&report.diagnostics) } else { EXIT_OK }
}

fn graph(ui: &mut Ui, a: GraphArgs) -> i32 {
    let (fw, mut diags) = match open(ui, &a.framework) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let given = match given_attrs(ui, &a.attrs) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let attrs = crate::resolver::appliance_attrs(&fw, &a.appliance, &given);
    let root = fw.root_of(&a.appliance);
    let reachable = crate::resolve::traverse(&fw, &root, &attrs, &mut diags);
    ui.report(&fw, &diags);
    if diag::has_errors(&diags) {
        return EXIT_DIAGNOSTICS;
    }
    let dot = crate::dot::reachable_dot(&fw, &a.appliance, &root, &attrs, &reachable);
    emit_text(ui, a.output.as_deref(), &dot)
}

/// Exit code for a run whose diagnostics include errors: I/O trouble (a file that could not
/// be read) is 2, anything else 1.
fn failure_code(diags: &[Diagnostic]) -> i32 {
    if diags.iter().any(|d| d.code == "load::io") { EXIT_FAILURE } else { EXIT_DIAGNOSTICS }
}

/// Print to stdout, or replace `path` atomically (a failed run never leaves half a file).
fn emit_text(ui: &mut Ui, path: Option<&Path>, text: &str) -> i32 {
    emit(ui, path, text, crate::write::write_atomic)
}

/// [`emit_text`] for a text that holds secrets (a kickstart): a file gets mode 0640 at most.
fn emit_secret_text(ui: &mut Ui, path: Option<&Path>, text: &str) -> i32 {
    emit(ui, path, text, crate::write::write_secret_atomic)
}

fn emit(ui: &mut Ui, path: Option<&Path>, text: &str, write: fn(&Path, &[u8]) -> std::io::Result<()>) -> i32 {
    match path {
        None => {
            let mut out = std::io::stdout().lock();
            if out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_err() {
                return ui.fail("io::write", "cannot write to standard output", "check the pipe or file standard output goes to");
            }
            EXIT_OK
        }
        Some(p) => match write(p, text.as_bytes()) {
            Ok(()) => EXIT_OK,
            Err(e) => ui.write_error(p, &e),
        },
    }
}

/// Runs `<eval>` bodies with a real shell: the body on standard input, the attributes (and
/// the inherited environment) as environment variables.
pub(crate) struct ShellEval;

impl EvalRunner for ShellEval {
    fn run(&self, shell: &str, script: &str, env: &Attrs) -> Result<String, String> {
        let program = match shell {
            "python" | "/opt/rocks/bin/python" => "python3",
            other => other,
        };
        let mut child = Command::new(program)
            .envs(env.iter().filter(|(k, _)| !k.is_empty() && !k.contains('=')))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start `{program}`: {e}"))?;
        let mut stdin = child.stdin.take().expect("stdin was piped");
        let body = script.to_string();
        let writer = std::thread::spawn(move || stdin.write_all(body.as_bytes()));
        let out = child.wait_with_output().map_err(|e| format!("`{program}` failed: {e}"))?;
        let _ = writer.join();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("`{program}` exited with {}: {}", out.status, err.trim()));
        }
        String::from_utf8(out.stdout).map_err(|_| format!("`{program}` printed bytes that are not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_fast_version_line_is_clap_s() {
        assert_eq!(super::version_line(), super::Cli::command().render_version());
    }
}
