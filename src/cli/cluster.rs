//! The cluster-database subcommands: their clap arguments, and `init`, `host`, `attr`,
//! `discover`. Each maps clap arguments onto [`crate::facts::Db`] calls and prints tables or
//! JSON; `appliance`, `network`, `interface` and `boot` live in [`super::inventory`]. [I/O]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;

use super::inventory::{listing, print_hosts, target_name};
use super::{EXIT_DIAGNOSTICS, EXIT_FAILURE, EXIT_OK, FrameworkArgs, Ui};
use crate::facts::{self, Db, FactsError, HostField, HostFilter, HostSpec, Target};

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub framework: FrameworkArgs,
}

#[derive(Debug, Subcommand)]
pub enum HostCmd {
    /// Add a host (and its primary interface when --mac, --ip or --network is given).
    Add(HostAddArgs),
    /// List hosts.
    List(HostListArgs),
    /// Remove a host and its interfaces, aliases and attributes.
    Remove { name: String },
    /// Change fields of a host: --rack 2 --rank 5 --cpus 64 ...
    Set(HostSetArgs),
    /// Add hosts from a CSV spreadsheet (all rows or none).
    Import { file: PathBuf },
    /// Print every host as CSV (the import format).
    Export {
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Add N synthetic hosts (for benchmarks and tests).
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct HostAddArgs {
    pub name: String,
    #[arg(long)]
    pub appliance: String,
    #[arg(long, default_value_t = 0)]
    pub rack: u32,
    /// Default: the next free rank in the appliance and rack.
    #[arg(long)]
    pub rank: Option<u32>,
    #[arg(long)]
    pub mac: Option<String>,
    #[arg(long)]
    pub ip: Option<String>,
    /// Network of the primary interface (default `private`).
    #[arg(long)]
    pub network: Option<String>,
    /// Device of the primary interface (default `eth0`).
    #[arg(long = "interface", value_name = "DEVICE")]
    pub device: Option<String>,
    #[arg(long)]
    pub cpus: Option<u32>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("select").args(["where_sql", "query"])))]
pub struct HostListArgs {
    #[arg(long)]
    pub appliance: Option<String>,
    /// A SQL expression over the view `host_view`, e.g. `rack = 2 AND cpus >= 32`.
    #[arg(long = "where", value_name = "SQL_EXPR")]
    pub where_sql: Option<String>,
    /// Any read-only SQL whose first column is a host name (joins allowed).
    #[arg(long, value_name = "SQL")]
    pub query: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HostSetArgs {
    pub name: String,
    #[arg(long)]
    pub appliance: Option<String>,
    #[arg(long)]
    pub rack: Option<u32>,
    #[arg(long)]
    pub rank: Option<u32>,
    #[arg(long)]
    pub cpus: Option<u32>,
    #[arg(long)]
    pub comment: Option<String>,
    #[arg(long)]
    pub os: Option<String>,
    #[arg(long)]
    pub arch: Option<String>,
    #[arg(long)]
    pub distribution: Option<String>,
    /// The boot action the host runs when its boot is `install` (see `bootaction list`).
    #[arg(long, value_name = "ACTION")]
    pub install_action: Option<String>,
    /// The boot action the host runs when its boot is `os`.
    #[arg(long, value_name = "ACTION")]
    pub run_action: Option<String>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many hosts to add.
    #[arg(long)]
    pub hosts: usize,
    #[arg(long, default_value_t = 40)]
    pub racks: u32,
    /// Appliances to spread the hosts over (comma-separated).
    #[arg(long, default_value = "compute,login,nas", value_delimiter = ',')]
    pub appliances: Vec<String>,
}

/// Where an attribute lives: exactly one of these, `--global` by default.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").args(["global", "os", "appliance", "rack", "host"])))]
pub struct ScopeArgs {
    #[arg(long)]
    pub global: bool,
    #[arg(long)]
    pub os: Option<String>,
    #[arg(long)]
    pub appliance: Option<String>,
    #[arg(long)]
    pub rack: Option<u32>,
    #[arg(long)]
    pub host: Option<String>,
}

impl ScopeArgs {
    fn target(&self) -> Option<Target> {
        if let Some(o) = &self.os {
            Some(Target::Os(o.clone()))
        } else if let Some(a) = &self.appliance {
            Some(Target::Appliance(a.clone()))
        } else if let Some(r) = self.rack {
            Some(Target::Rack(r))
        } else if let Some(h) = &self.host {
            Some(Target::Host(h.clone()))
        } else if self.global {
            Some(Target::Global)
        } else {
            None
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AttrCmd {
    /// Set an attribute at a scope (default --global).
    Set {
        key: String,
        value: String,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Redact the value in every listing.
        #[arg(long)]
        secret: bool,
    },
    /// Remove an attribute from a scope (default --global).
    Unset {
        key: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// List stored attributes; with --host, the host's resolved attributes and the scope each
    /// value came from.
    List {
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApplianceCmd {
    /// Add an appliance (a host type).
    Add {
        name: String,
        #[arg(long, default_value = "default")]
        graph: String,
        /// Root node file (default: the appliance's name).
        #[arg(long)]
        root: Option<String>,
        /// Host name template for discovery, e.g. `r{rack:02}n{rank:02}`.
        #[arg(long, default_value = facts::appliance::ROCKS_NAME_POLICY)]
        name_policy: String,
        /// `countdown` (Rocks: from the top of the network down) or a template such as
        /// `10.5.{rack}.{rank}`.
        #[arg(long, default_value = "countdown")]
        ip_policy: String,
        /// Network that discovered hosts join.
        #[arg(long, default_value = "private")]
        network: String,
        /// Rank of the first host of a rack (default: 0 with `countdown` addresses, as in
        /// Rocks; 1 with an address template, where rank 0 would be the network address).
        #[arg(long)]
        first_rank: Option<u32>,
        /// Hosts of this appliance get no kickstart (switches, PDUs).
        #[arg(long)]
        not_kickstartable: bool,
    },
    /// List appliances.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Add a network.
    Add {
        name: String,
        /// e.g. `10.5.0.0/16`.
        cidr: String,
        /// DNS zone (default: the network's name).
        #[arg(long)]
        zone: Option<String>,
        #[arg(long, default_value_t = 1500)]
        mtu: u32,
        #[arg(long)]
        gateway: Option<String>,
        /// DNS servers (comma-separated).
        #[arg(long, value_delimiter = ',')]
        dns: Vec<String>,
        /// The cluster's DHCP server answers on this network: its hosts get fixed addresses
        /// and PXE boot files in `dhcpd.conf` and `kea-dhcp4.json`.
        #[arg(long)]
        dhcp: bool,
    },
    /// List networks.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum InterfaceCmd {
    /// Add an interface to a host.
    Add {
        host: String,
        device: String,
        #[arg(long)]
        mac: Option<String>,
        #[arg(long)]
        ip: Option<String>,
        #[arg(long)]
        network: Option<String>,
        /// Make it the host's primary interface.
        #[arg(long)]
        primary: bool,
    },
    /// List interfaces (of one host, or all).
    List {
        host: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove an interface.
    Remove { host: String, device: String },
}

#[derive(Debug, Subcommand)]
pub enum BootCmd {
    /// What the host does at its next network boot: `install` or `os`.
    Set { host: String, action: String },
}

#[derive(Debug, Subcommand)]
pub enum ServerCmd {
    /// Add an install server.
    Add {
        name: String,
        /// The address hosts reach it at (DHCP next-server, TFTP, HTTP).
        ip: String,
        /// Base URL under which it serves the build tree (default `http://IP/install/rocks`).
        #[arg(long)]
        url: Option<String>,
    },
    /// Remove an install server: its hosts move to the others at the next build.
    Remove { name: String },
    /// List install servers.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DistributionCmd {
    /// Add a distribution.
    Add {
        name: String,
        /// The OS release, e.g. `9`.
        #[arg(long)]
        release: String,
        /// Where installers fetch the tree; `{server}` is replaced by the host's install server.
        #[arg(long)]
        url: String,
    },
    /// List distributions.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BootactionCmd {
    /// Add or replace a boot action.
    Add {
        name: String,
        /// Kernel path relative to the TFTP root (`tftp/` of the build tree), or `localboot 0`
        /// to boot the local disk. `{distribution}`, `{release}` and `{arch}` are replaced.
        #[arg(long)]
        kernel: String,
        /// Initrd path relative to the TFTP root.
        #[arg(long, default_value = "")]
        initrd: String,
        /// Kernel arguments; `inst.ks=` is added for install actions. `{distribution_url}`,
        /// `{server}`, `{host}`, `{ks_url}` are replaced.
        #[arg(long, default_value = "", allow_hyphen_values = true)]
        args: String,
    },
    /// List boot actions.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Appliance of the hosts discovered.
    #[arg(long)]
    pub appliance: String,
    #[arg(long, default_value_t = 0)]
    pub rack: u32,
    /// ISC dhcpd log to read (`-` for standard input, the default).
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    pub from_log: String,
}

/// Open the database, creating it (with the framework's default site attributes) when it
/// does not exist yet.
pub(super) fn open_db(ui: &mut Ui, path: &Path, fw: &FrameworkArgs) -> Result<Db, i32> {
    if path.exists() {
        return Db::open(path).map_err(|e| facts_error(ui, &e));
    }
    let (framework, _) = super::open(ui, fw)?;
    let defaults: BTreeMap<String, String> = framework
        .defaults
        .iter()
        .filter(|(k, _)| !crate::attrs::HOST_BUILTIN.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut db = Db::init(path, &defaults).map_err(|e| facts_error(ui, &e))?;
    // Credentials among the defaults are stored as secrets, so listings never show them.
    for (k, v) in defaults.iter().filter(|(k, _)| is_credential(k)) {
        db.set_attr(&Target::Global, k, v, true).map_err(|e| facts_error(ui, &e))?;
    }
    Ok(db)
}

/// Attribute names that hold credentials (`...Password`, `...MungeKey`, `...Secret`), not
/// switches about them such as `Kickstart_SSHPasswordAuth`.
fn is_credential(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "mungekey", "secret"].iter().any(|s| k.ends_with(s))
}

/// Report a facts error; database and I/O failures are exit 2, bad input exit 1.
pub(super) fn facts_error(ui: &mut Ui, e: &FactsError) -> i32 {
    let _ = write!(std::io::stderr(), "{}", e.to_diagnostic().render(&crate::span::Sources::new(), ui.color));
    match e {
        FactsError::Sqlite { .. } | FactsError::SchemaVersion { .. } => EXIT_FAILURE,
        _ => EXIT_DIAGNOSTICS,
    }
}

pub(super) fn done(ui: &mut Ui, r: facts::Result<()>) -> i32 {
    match r {
        Ok(()) => EXIT_OK,
        Err(e) => facts_error(ui, &e),
    }
}

pub(super) fn no_framework() -> FrameworkArgs {
    FrameworkArgs { frameworks: Vec::new(), graph: "default".into() }
}

pub(super) fn init(ui: &mut Ui, db: &Path, a: InitArgs) -> i32 {
    let existed = db.exists();
    match open_db(ui, db, &a.framework) {
        Ok(_) => {
            let _ = writeln!(std::io::stderr(), "{} {}", if existed { "database already exists:" } else { "created" }, db.display());
            EXIT_OK
        }
        Err(code) => code,
    }
}

pub(super) fn host(ui: &mut Ui, path: &Path, cmd: HostCmd) -> i32 {
    if let HostCmd::List(a) = &cmd
        && let Some(sql) = &a.query
    {
        // `--query` runs on a read-only connection.
        let db = match open_db(ui, path, &no_framework()).and_then(|_| Db::open_readonly(path).map_err(|e| facts_error(ui, &e))) {
            Ok(db) => db,
            Err(c) => return c,
        };
        return match db.query_hosts(sql).and_then(|names| names.iter().map(|n| db.host(n)).collect::<facts::Result<Vec<_>>>()) {
            Ok(hosts) => print_hosts(&hosts, a.json),
            Err(e) => facts_error(ui, &e),
        };
    }
    let mut db = open_db_or_return!(ui, path);
    match cmd {
        HostCmd::Add(a) => done(
            ui,
            db.add_host(&HostSpec {
                name: a.name,
                appliance: a.appliance,
                rack: a.rack,
                rank: a.rank,
                cpus: a.cpus,
                mac: a.mac,
                ip: a.ip,
                network: a.network,
                device: a.device,
            }),
        ),
        HostCmd::List(a) => match db.hosts(&HostFilter { appliance: a.appliance, where_sql: a.where_sql }) {
            Ok(hosts) => print_hosts(&hosts, a.json),
            Err(e) => facts_error(ui, &e),
        },
        HostCmd::Remove { name } => done(ui, db.remove_host(&name)),
        HostCmd::Set(a) => {
            let fields: Vec<(HostField, String)> = [
                (HostField::Appliance, a.appliance),
                (HostField::Rack, a.rack.map(|v| v.to_string())),
                (HostField::Rank, a.rank.map(|v| v.to_string())),
                (HostField::Cpus, a.cpus.map(|v| v.to_string())),
                (HostField::Comment, a.comment),
                (HostField::Os, a.os),
                (HostField::Arch, a.arch),
                (HostField::Distribution, a.distribution),
                (HostField::InstallAction, a.install_action),
                (HostField::RunAction, a.run_action),
            ]
            .into_iter()
            .filter_map(|(f, v)| v.map(|v| (f, v)))
            .collect();
            if fields.is_empty() {
                let _ = writeln!(std::io::stderr(), "error: nothing to set; give e.g. `--rack 2` or `--cpus 64`");
                return EXIT_DIAGNOSTICS;
            }
            done(ui, db.set_host_fields(&a.name, &fields))
        }
        HostCmd::Import { file } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => return ui.fail(&format!("cannot read `{}`: {e}", file.display())),
            };
            match db.import_csv(&text) {
                Ok(n) => {
                    let _ = writeln!(std::io::stderr(), "imported {n} host{}", if n == 1 { "" } else { "s" });
                    EXIT_OK
                }
                Err(e) => facts_error(ui, &e),
            }
        }
        HostCmd::Export { output } => match db.export_csv() {
            Ok(csv) => super::emit_text(ui, output.as_deref(), &csv),
            Err(e) => facts_error(ui, &e),
        },
        HostCmd::Generate(a) => {
            let apps: Vec<&str> = a.appliances.iter().map(String::as_str).collect();
            match facts::generate(&mut db, a.hosts, a.racks, &apps) {
                Ok(g) => {
                    let _ = writeln!(std::io::stderr(), "added {} hosts on network `{}`", g.hosts, g.network);
                    EXIT_OK
                }
                Err(e) => facts_error(ui, &e),
            }
        }
    }
}

pub(super) fn attr(ui: &mut Ui, path: &Path, cmd: AttrCmd) -> i32 {
    let mut db = open_db_or_return!(ui, path);
    match cmd {
        AttrCmd::Set { key, value, scope, secret } => {
            done(ui, db.set_attr(&scope.target().unwrap_or(Target::Global), &key, &value, secret))
        }
        AttrCmd::Unset { key, scope } => match db.unset_attr(&scope.target().unwrap_or(Target::Global), &key) {
            Ok(true) => EXIT_OK,
            Ok(false) => {
                let _ = writeln!(std::io::stderr(), "warning: attribute `{key}` was not set at that scope");
                EXIT_OK
            }
            Err(e) => facts_error(ui, &e),
        },
        AttrCmd::List { scope, json } => {
            if let Some(h) = &scope.host {
                return match db.host_attrs(h) {
                    Ok(list) => listing(
                        json,
                        &list,
                        |a| json!({"key": a.key, "value": a.redacted(), "scope": a.scope.as_str(), "secret": a.secret}),
                        &["ATTRIBUTE", "SCOPE", "VALUE"],
                        |a| vec![a.key.clone(), a.scope.as_str().to_string(), a.redacted().to_string()],
                    ),
                    Err(e) => facts_error(ui, &e),
                };
            }
            match db.attrs(scope.target().as_ref()) {
                Ok(list) => listing(
                    json,
                    &list,
                    |a| json!({"key": a.key, "value": a.redacted(), "scope": a.target.scope().as_str(), "target": target_name(&a.target), "secret": a.secret}),
                    &["ATTRIBUTE", "SCOPE", "TARGET", "VALUE"],
                    |a| vec![a.key.clone(), a.target.scope().as_str().to_string(), target_name(&a.target), a.redacted().to_string()],
                ),
                Err(e) => facts_error(ui, &e),
            }
        }
    }
}

pub(super) fn discover(ui: &mut Ui, path: &Path, a: DiscoverArgs) -> i32 {
    let mut db = open_db_or_return!(ui, path);
    let mut text = String::new();
    let read = if a.from_log == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(&a.from_log).and_then(|mut f| f.read_to_string(&mut text))
    };
    if let Err(e) = read {
        return ui.fail(&format!("cannot read `{}`: {e}", a.from_log));
    }
    match db.discover(&a.appliance, a.rack, text.lines()) {
        Ok(new) => {
            let mut out = std::io::stdout().lock();
            for h in &new {
                let _ = writeln!(out, "added {} {} {} ({})", h.name, h.mac, h.ip, h.network);
            }
            let _ = writeln!(std::io::stderr(), "discovered {} new host{}", new.len(), if new.len() == 1 { "" } else { "s" });
            EXIT_OK
        }
        Err(e) => facts_error(ui, &e),
    }
}
