//! The cluster-database subcommands: their clap arguments, and `init`, `host`, `attr`,
//! `discover`. Each maps clap arguments onto [`crate::facts::Db`] calls and prints tables or
//! JSON; `appliance`, `network`, `interface` and `boot` live in [`super::inventory`]. [I/O]

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;

use super::inventory::{listing, print_hosts, target_name};
use super::{EXIT_DIAGNOSTICS, EXIT_FAILURE, EXIT_OK, FrameworkArgs, Ui};
use crate::diag::Diagnostic;
use crate::facts::{self, Db, FactsError, HostField, HostFilter, HostSpec, Target};

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub framework: FrameworkArgs,
    /// The cluster's own network (`private`) for a new database, e.g. `10.77.0.0/24`
    /// (default 10.1.0.0/16).
    #[arg(long, value_name = "CIDR")]
    pub network: Option<String>,
    /// The frontend's address on it: the network's gateway and DNS server (default: its
    /// first address, e.g. 10.77.0.1).
    #[arg(long, value_name = "IP", requires = "network")]
    pub gateway: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum HostCmd {
    /// Add a host with its primary interface; without `--ip` it gets the next free address
    /// of its appliance's network by the appliance's address policy (`--no-ip`: none).
    Add(HostAddArgs),
    /// List hosts.
    List(HostListArgs),
    /// Remove a host and its interfaces, aliases and attributes.
    Remove {
        /// The host to remove.
        #[arg(value_hint = clap::ValueHint::Hostname)]
        name: String,
        #[command(flatten)]
        said: SaidArg,
    },
    /// Change a host: --rack 2 --rank 5 --cpus 64, or its primary interface: --ip, --mac,
    /// --network (all in one transaction).
    Set(HostSetArgs),
    /// Give a host another name; its interfaces, aliases and attributes follow.
    Rename {
        /// The host's current name.
        #[arg(value_hint = clap::ValueHint::Hostname)]
        old: String,
        /// Its new name (not taken by a host or an alias).
        new: String,
        #[command(flatten)]
        said: SaidArg,
    },
    /// Add hosts from a CSV spreadsheet (all rows or none).
    Import {
        /// The CSV file: `name,appliance,rack,rank,mac,ip,network,interface,cpus`.
        file: PathBuf,
    },
    /// Print every host as CSV (the import format).
    Export {
        /// Write the CSV here (atomically) instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Add N synthetic hosts (for benchmarks and tests).
    Generate(GenerateArgs),
    /// Give hosts without an address on any network one, as `host add` would (the
    /// appliance's network and address policy), in one transaction: the hosts named, those
    /// `--where` selects, or every such host.
    Allocate {
        /// Only these hosts.
        #[arg(value_hint = clap::ValueHint::Hostname)]
        names: Vec<String>,
        /// Only the hosts this SQL expression over `host_view` selects, e.g. `rack = 3`.
        #[arg(long = "where", value_name = "SQL_EXPR", conflicts_with = "names")]
        where_sql: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct HostAddArgs {
    /// The host's name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// Its appliance (host type), e.g. `compute` (see `appliance list`).
    #[arg(long)]
    pub appliance: String,
    /// Its rack.
    #[arg(long, default_value_t = 0)]
    pub rack: u32,
    /// Its rank in the rack. Default: the next free rank in the appliance and rack.
    #[arg(long)]
    pub rank: Option<u32>,
    /// MAC address of the primary interface, e.g. `52:54:00:12:34:56`.
    #[arg(long)]
    pub mac: Option<String>,
    /// Address of the primary interface. Default: the next free one of the network by the
    /// appliance's address policy (`countdown` from the top, or its template).
    #[arg(long, conflicts_with = "no_ip")]
    pub ip: Option<String>,
    /// Give the host no address.
    #[arg(long)]
    pub no_ip: bool,
    /// Network of the primary interface (default: the appliance's network, `private`).
    #[arg(long)]
    pub network: Option<String>,
    /// Device of the primary interface (default `eth0`).
    #[arg(long = "interface", value_name = "DEVICE")]
    pub device: Option<String>,
    /// Number of CPUs (Slurm's `CPUs=`; default 1).
    #[arg(long)]
    pub cpus: Option<u32>,
    /// MAC address of the host's BMC (management controller): an interface `bmc` on the
    /// BMC's network, never the primary one.
    #[arg(long, value_name = "MAC")]
    pub bmc_mac: Option<String>,
    /// Address of the BMC. Default: the highest free one of its network.
    #[arg(long, value_name = "IP")]
    pub bmc_ip: Option<String>,
    /// Network of the BMC (default `mgmt`).
    #[arg(long, value_name = "NETWORK")]
    pub bmc_network: Option<String>,
    #[command(flatten)]
    pub said: SaidArg,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("select").args(["where_sql", "query"])))]
pub struct HostListArgs {
    /// Only hosts of this appliance.
    #[arg(long)]
    pub appliance: Option<String>,
    /// A SQL expression over the view `host_view`, e.g. `rack = 2 AND cpus >= 32`.
    #[arg(long = "where", value_name = "SQL_EXPR")]
    pub where_sql: Option<String>,
    /// Any read-only SQL whose first column is a host name (joins allowed).
    #[arg(long, value_name = "SQL")]
    pub query: Option<String>,
    /// Print the hosts as a JSON array.
    #[arg(long, conflicts_with = "names")]
    pub json: bool,
    /// Print only the names, one per line (for scripts and shell completion).
    #[arg(long)]
    pub names: bool,
}

#[derive(Debug, Args)]
pub struct HostSetArgs {
    /// The host to change.
    #[arg(value_hint = clap::ValueHint::Hostname)]
    pub name: String,
    /// Its appliance (host type).
    #[arg(long)]
    pub appliance: Option<String>,
    /// Its rack.
    #[arg(long)]
    pub rack: Option<u32>,
    /// Its rank in the rack.
    #[arg(long)]
    pub rank: Option<u32>,
    /// Its number of CPUs.
    #[arg(long)]
    pub cpus: Option<u32>,
    /// A free-form comment.
    #[arg(long)]
    pub comment: Option<String>,
    /// Its OS (the `os` attribute, e.g. `linux`).
    #[arg(long)]
    pub os: Option<String>,
    /// Its architecture (the `arch` attribute, e.g. `x86_64`).
    #[arg(long)]
    pub arch: Option<String>,
    /// The distribution it installs (see `distribution list`).
    #[arg(long)]
    pub distribution: Option<String>,
    /// The boot action the host runs when its boot is `install` (see `bootaction list`).
    #[arg(long, value_name = "ACTION")]
    pub install_action: Option<String>,
    /// The boot action the host runs when its boot is `os`.
    #[arg(long, value_name = "ACTION")]
    pub run_action: Option<String>,
    /// Address of the primary interface (inside its network and free); a host without an
    /// interface gets `eth0`.
    #[arg(long)]
    pub ip: Option<String>,
    /// MAC address of the primary interface.
    #[arg(long)]
    pub mac: Option<String>,
    /// Network of the primary interface (its address must lie inside it).
    #[arg(long)]
    pub network: Option<String>,
    #[command(flatten)]
    pub said: SaidArg,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many hosts to add (1 to 10,000,000).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    pub hosts: usize,
    /// How many racks to spread them over (1 to 1,000,000).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub racks: u32,
    /// Appliances to spread the hosts over (comma-separated).
    #[arg(long, default_value = "compute,login,nas", value_delimiter = ',')]
    pub appliances: Vec<String>,
}

/// Where an attribute lives: exactly one of these, `--global` by default.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").args(["global", "os", "appliance", "rack", "host"])))]
pub struct ScopeArgs {
    /// Every host (the lowest precedence; the default scope).
    #[arg(long)]
    pub global: bool,
    /// Hosts of this OS (e.g. `linux`).
    #[arg(long)]
    pub os: Option<String>,
    /// Hosts of this appliance.
    #[arg(long)]
    pub appliance: Option<String>,
    /// Hosts in this rack.
    #[arg(long)]
    pub rack: Option<u32>,
    /// One host (wins over everything, built-ins included).
    #[arg(long, value_hint = clap::ValueHint::Hostname)]
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
    /// Set an attribute at a scope (default --global). Keys that a built-in derives from
    /// the facts at that scope are refused, with the command that changes the fact.
    Set {
        /// The attribute's name, e.g. `Kickstart_Timezone`.
        key: String,
        /// Its value. With `--secret` and no value, the value is read from standard input
        /// (without echo on a terminal); root's password (`Kickstart_PrivateRootPassword`)
        /// is stored as its SHA-512 crypt hash, and given here it must be a crypt hash.
        value: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Redact the value in every listing (and read it from standard input when no value
        /// is given).
        #[arg(long)]
        secret: bool,
        #[command(flatten)]
        said: SaidArg,
    },
    /// Remove an attribute from a scope (default --global).
    Unset {
        /// The attribute's name.
        key: String,
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        said: SaidArg,
    },
    /// List stored attributes (values that a built-in shadows are marked); with --host, the
    /// host's resolved attributes and the scope each value came from.
    List {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Print the attributes as a JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// `--json` of every command that changes the facts: what it did as one JSON object instead
/// of one line.
#[derive(Debug, Args)]
pub struct SaidArg {
    /// Say what was done as a JSON object (one line of text without it).
    #[arg(long)]
    pub json: bool,
}

/// `--json` of every `list` subcommand.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print the list as a JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ApplianceCmd {
    /// Add an appliance (a host type).
    Add {
        /// The appliance's name, e.g. `gpu`.
        name: String,
        /// The graph its hosts are compiled with (`graphs/<GRAPH>/`).
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
        /// Network that discovered and added hosts join.
        #[arg(long, default_value = "private")]
        network: String,
        /// Rank of the first host of a rack (default: 0 with `countdown` addresses, as in
        /// Rocks; 1 with an address template, where rank 0 would be the network address).
        #[arg(long)]
        first_rank: Option<u32>,
        /// Hosts of this appliance get no kickstart (switches, PDUs).
        #[arg(long)]
        not_kickstartable: bool,
        #[command(flatten)]
        said: SaidArg,
    },
    /// List appliances.
    List(JsonArg),
}

#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Add a network.
    Add {
        /// The network's name, e.g. `ib`.
        name: String,
        /// Its addresses, e.g. `10.5.0.0/16`.
        cidr: String,
        /// DNS zone (default: the network's name).
        #[arg(long)]
        zone: Option<String>,
        /// MTU of its interfaces.
        #[arg(long, default_value_t = 1500)]
        mtu: u32,
        /// Default gateway (an address inside the network).
        #[arg(long)]
        gateway: Option<String>,
        /// DNS servers (comma-separated).
        #[arg(long, value_delimiter = ',')]
        dns: Vec<String>,
        /// The cluster's DHCP server answers on this network: its hosts get fixed addresses
        /// and PXE boot files in `dhcpd.conf` and `kea-dhcp4.json`.
        #[arg(long)]
        dhcp: bool,
        #[command(flatten)]
        said: SaidArg,
    },
    /// Change a network: its CIDR (every address on it moves), DNS zone, MTU, gateway, DNS
    /// servers or DHCP (the built-in `Kickstart_Private*` attributes come from the network
    /// `private`).
    Set {
        /// The network to change.
        name: String,
        /// Renumber it to this CIDR, e.g. `10.77.0.0/24`, in one transaction: the gateway
        /// and DNS servers take `--gateway`/`--dns` or keep their place (`.1` stays first),
        /// hosts at those addresses follow them, every other address is allocated again by
        /// its appliance's policy. When an address cannot move, all such are listed and
        /// nothing changes.
        #[arg(long, value_name = "CIDR")]
        cidr: Option<String>,
        /// DNS zone (`Kickstart_PrivateDNSDomain` for `private`).
        #[arg(long)]
        zone: Option<String>,
        /// MTU of its interfaces.
        #[arg(long)]
        mtu: Option<u32>,
        /// Default gateway (inside the network; empty removes it).
        #[arg(long)]
        gateway: Option<String>,
        /// DNS servers (comma-separated; replaces the list).
        #[arg(long, value_delimiter = ',')]
        dns: Option<Vec<String>>,
        /// Whether the cluster's DHCP server answers on it (`true` or `false`).
        #[arg(long, value_name = "BOOL")]
        dhcp: Option<bool>,
        #[command(flatten)]
        said: SaidArg,
    },
    /// Remove a network that no interface, appliance or install server uses (not
    /// `private`: renumber it with `network set private --cidr`).
    Remove {
        /// The network to remove.
        name: String,
        #[command(flatten)]
        said: SaidArg,
    },
    /// List networks.
    List(JsonArg),
}

#[derive(Debug, Subcommand)]
pub enum InterfaceCmd {
    /// Add an interface to a host (without `--network`, an address joins `private`).
    Add(InterfaceArgs),
    /// Change an interface of a host: its MAC, address, network, or make it primary (one
    /// transaction; the address must lie inside its network).
    Set(InterfaceArgs),
    /// List interfaces (of one host, or all).
    List {
        /// Only this host's interfaces.
        host: Option<String>,
        /// Print the interfaces as a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Remove an interface.
    Remove {
        /// The host.
        #[arg(value_hint = clap::ValueHint::Hostname)]
        host: String,
        /// The device to remove.
        device: String,
        #[command(flatten)]
        said: SaidArg,
    },
}

/// An interface of a host and its values.
#[derive(Debug, Args)]
pub struct InterfaceArgs {
    /// The host.
    #[arg(value_hint = clap::ValueHint::Hostname)]
    pub host: String,
    /// The device, e.g. `eth0` or `ib0`.
    pub device: String,
    /// Its MAC address.
    #[arg(long)]
    pub mac: Option<String>,
    /// Its address (inside its network and free).
    #[arg(long)]
    pub ip: Option<String>,
    /// Its network.
    #[arg(long)]
    pub network: Option<String>,
    /// Make it the host's primary interface.
    #[arg(long)]
    pub primary: bool,
    #[command(flatten)]
    pub said: SaidArg,
}

#[derive(Debug, Subcommand)]
pub enum AliasCmd {
    /// Give a host another name (a CNAME in DNS, an extra name in /etc/hosts).
    Add {
        /// The host.
        #[arg(value_hint = clap::ValueHint::Hostname)]
        host: String,
        /// The other name (not taken by a host or an alias).
        alias: String,
        #[command(flatten)]
        said: SaidArg,
    },
    /// Remove an alias of a host.
    Remove {
        /// The host.
        #[arg(value_hint = clap::ValueHint::Hostname)]
        host: String,
        /// The alias to remove.
        alias: String,
        #[command(flatten)]
        said: SaidArg,
    },
    /// List aliases (of one host, or all).
    List {
        /// Only this host's aliases.
        #[arg(value_hint = clap::ValueHint::Hostname)]
        host: Option<String>,
        /// Print the aliases as a JSON array.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BootCmd {
    /// What the host does at its next network boot: `install` or `os`.
    Set {
        /// The host.
        #[arg(value_hint = clap::ValueHint::Hostname)]
        host: String,
        /// `install` or `os`.
        action: String,
        /// Then power-cycle the host through its BMC (as `power cycle HOST`).
        #[arg(long)]
        reboot: bool,
        #[command(flatten)]
        run: super::power::RunArgs,
        #[command(flatten)]
        said: SaidArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServerCmd {
    /// Add an install server.
    Add {
        /// The server's name.
        name: String,
        /// The address hosts reach it at (DHCP next-server, TFTP, HTTP).
        ip: String,
        /// Base URL under which it serves the build tree (default `http://IP/install/rocks`).
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        said: SaidArg,
    },
    /// Remove an install server: its hosts move to the others at the next build.
    Remove {
        /// The server to remove.
        name: String,
        #[command(flatten)]
        said: SaidArg,
    },
    /// List install servers.
    List(JsonArg),
}

#[derive(Debug, Subcommand)]
pub enum DistributionCmd {
    /// Add a distribution.
    Add {
        /// The distribution's name, e.g. `alma-9`.
        name: String,
        /// The OS release, e.g. `9`.
        #[arg(long)]
        release: String,
        /// Where installers fetch the tree; `{server}` is replaced by the host's install server.
        #[arg(long)]
        url: String,
        #[command(flatten)]
        said: SaidArg,
    },
    /// List distributions.
    List(JsonArg),
}

#[derive(Debug, Subcommand)]
pub enum BootactionCmd {
    /// Add or replace a boot action.
    Add {
        /// The boot action's name, e.g. `rescue`.
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
        #[command(flatten)]
        said: SaidArg,
    },
    /// List boot actions.
    List(JsonArg),
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Appliance of the hosts discovered.
    #[arg(long)]
    pub appliance: String,
    /// Rack of the hosts discovered.
    #[arg(long, default_value_t = 0)]
    pub rack: u32,
    /// ISC dhcpd log to read (`-` for standard input, the default), e.g. `tail -f
    /// /var/log/messages | rocks-compile discover ...`: each host is added as its line
    /// arrives.
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    pub from_log: String,
    /// Only requests that arrived on this interface of the DHCP server (`via DEV` in the
    /// log), e.g. the private one, so that machines on the public side are never added.
    #[arg(long, value_name = "DEV")]
    pub interface: Option<String>,
}

/// Open the database, creating it (with the framework's default site attributes) when it
/// does not exist yet. Defaults of built-ins (derived from the facts, so a stored value would
/// never take effect) are not copied.
pub(super) fn open_db(ui: &mut Ui, path: &Path, fw: &FrameworkArgs) -> Result<Db, i32> {
    if path.exists() {
        return open_writable(ui, path);
    }
    let (framework, _) = super::open(ui, fw)?;
    let defaults: BTreeMap<String, String> = framework
        .defaults
        .iter()
        // Built-in and derived values come from the facts: a stored copy would stand still.
        .filter(|(k, _)| crate::resolver::builtin::builtin(k).is_none() && !crate::resolver::builtin::is_derived(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut db = Db::init(path, &defaults).map_err(|e| facts_error(ui, &e))?;
    // Credentials among the defaults are stored as secrets, so listings never show them.
    for (k, v) in defaults.iter().filter(|(k, _)| is_credential(k)) {
        db.set_attr(&Target::Global, k, v, true).map_err(|e| facts_error(ui, &e))?;
    }
    Ok(db)
}

/// How a command uses the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Adds facts: a missing database is created with the built-in framework's defaults.
    Create,
    /// Changes existing facts: the database must exist (an older schema is migrated).
    Write,
    /// Only reads: the database must exist and is opened read-only, never created or
    /// migrated (a user who may only read it can run the command).
    Read,
}

impl Access {
    /// `Create` when `adds`, else `Read` when `reads`, else `Write`.
    pub(super) fn of(adds: bool, reads: bool) -> Access {
        if adds {
            Access::Create
        } else if reads {
            Access::Read
        } else {
            Access::Write
        }
    }
}

/// Open the database for a command that uses it as `access` says.
pub(super) fn open_for(ui: &mut Ui, path: &Path, access: Access) -> Result<Db, i32> {
    match access {
        Access::Create => open_db(ui, path, &no_framework()),
        Access::Write => open_existing(ui, path),
        Access::Read => open_readonly(ui, path),
    }
}

/// Open a database that must exist: reading commands never create an empty one.
pub(super) fn open_existing(ui: &mut Ui, path: &Path) -> Result<Db, i32> {
    if !path.exists() {
        return Err(facts_error(ui, &FactsError::NoDatabase(path.display().to_string())));
    }
    open_writable(ui, path)
}

/// Open an existing database for writing, warning when other users could open any of its
/// files (closed to them now, or why not: see [`Db::exposed`]).
fn open_writable(ui: &mut Ui, path: &Path) -> Result<Db, i32> {
    let db = Db::open(path).map_err(|e| facts_error(ui, &e))?;
    let (closed, open): (Vec<&facts::Exposed>, Vec<&facts::Exposed>) = db.exposed().iter().partition(|e| e.error.is_none());
    let warn = |message: &str, files: Vec<&facts::Exposed>, help: &str| {
        let d = Diagnostic::warning("facts::open-to-others", message).help(help);
        files.into_iter().fold(d, |d, e| d.note(e.to_string()))
    };
    if !closed.is_empty() {
        let help = "it holds password hashes and keys: keep it readable by its owner and group only";
        ui.say(warn("the cluster database was open to every user; it no longer is", closed, help), EXIT_OK);
    }
    if !open.is_empty() {
        let help = "it holds password hashes and keys: as its owner, `chmod o-rwx` it and its `-wal` and `-shm` files";
        ui.say(warn("the cluster database is open to every user", open, help), EXIT_OK);
    }
    Ok(db)
}

/// Open a database that must exist, read-only.
pub(super) fn open_readonly(ui: &mut Ui, path: &Path) -> Result<Db, i32> {
    if !path.exists() {
        return Err(facts_error(ui, &FactsError::NoDatabase(path.display().to_string())));
    }
    Db::open_readonly(path).map_err(|e| facts_error(ui, &e))
}

/// The value of a secret attribute from standard input: typed without echo on a terminal,
/// else the first line. Root's password ([`crate::attrs::ROOT_PASSWORD`]) is stored as its
/// SHA-512 crypt hash, the form kickstart's `rootpw --iscrypted` and `/etc/shadow` take; a
/// value that already is a crypt hash is kept. Other credentials (e.g. a site's BMC password
/// that a script uses as it is) are stored as typed.
fn read_secret(key: &str) -> Result<String, Diagnostic> {
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        rpassword::prompt_password(format!("{key}: "))
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).map(|_| line)
    };
    let value = line
        .map_err(|e| {
            Diagnostic::error("io::read", format!("cannot read the value of `{key}` from standard input: {e}"))
                .help("pipe the value in, or type it at the prompt")
        })?
        .trim_end_matches(['\n', '\r'])
        .to_string();
    if value.is_empty() {
        return Err(Diagnostic::error("cli::missing-value", format!("no value for `{key}` on standard input"))
            .help("type the value at the prompt, or pipe it in: `printf '%s\\n' VALUE | rocks-compile attr set KEY --secret`"));
    }
    if key != crate::attrs::ROOT_PASSWORD || is_crypt_hash(&value) {
        return Ok(value);
    }
    use sha_crypt::PasswordHasher;
    sha_crypt::ShaCrypt::default().hash_password(value.as_bytes()).map(|h| h.to_string()).map_err(|e| {
        Diagnostic::error("io::read", format!("cannot hash the password: {e}")).help("the system's random number generator is unavailable")
    })
}

/// Whether `value` has the form of a crypt(3) hash: `$ID$...$HASH` (`$6$` SHA-512, `$5$`,
/// `$y$` yescrypt, ...).
fn is_crypt_hash(value: &str) -> bool {
    let mut parts = value.split('$');
    parts.next() == Some("")
        && parts.next().is_some_and(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
        && parts.filter(|p| !p.is_empty()).count() >= 2
}

/// Root's password given on the command line must already be a crypt hash: a plain password
/// would be compiled into `rootpw --iscrypted` as it is (and stay in the shell's history).
fn check_root_password(key: &str, value: &str) -> Result<(), Diagnostic> {
    if key != crate::attrs::ROOT_PASSWORD || is_crypt_hash(value) {
        return Ok(());
    }
    Err(Diagnostic::error("attrs::plain-password", format!("`{key}` must be a crypt hash (`$6$...`), not a plain password"))
        .help(format!(
            "leave the value out: `rocks-compile attr set {key} --secret` reads the password from standard input and stores its SHA-512 crypt hash (or give a hash, e.g. from `openssl passwd -6`)"
        )))
}

/// A value for one table cell: its first line (tabs as spaces), and how many more there are.
fn first_line(value: &str) -> String {
    let cell = |s: &str| s.replace('\t', " ");
    match value.split_once('\n') {
        Some((first, rest)) => format!("{} … (+{} lines)", cell(first), rest.lines().count()),
        None => cell(value),
    }
}

/// Attribute names that hold credentials (`...Password`, `...MungeKey`, `...Secret`), not
/// switches about them such as `Kickstart_SSHPasswordAuth`.
fn is_credential(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "mungekey", "secret"].iter().any(|s| k.ends_with(s))
}

/// Report a facts error; database and I/O failures are exit 2, bad input exit 1.
pub(super) fn facts_error(ui: &mut Ui, e: &FactsError) -> i32 {
    if let FactsError::Many(all) = e {
        for one in all {
            facts_error(ui, one);
        }
        let _ = writeln!(std::io::stderr(), "error: {e}");
        return EXIT_DIAGNOSTICS;
    }
    let mut sources = crate::span::Sources::new();
    let mut d = e.to_diagnostic();
    // A `--where`/`--query` that SQLite rejected: point into the user's own text.
    if let FactsError::BadSql { sql, at: Some((start, end)), .. } = e {
        let id = sources.add("the SQL given".to_string(), sql.clone());
        d = d.label(crate::span::Span::new(id, *start, *end), "here");
    }
    let _ = write!(std::io::stderr(), "{}", d.render(&sources, ui.color));
    match e {
        FactsError::Sqlite { .. } | FactsError::SchemaVersion { .. } => EXIT_FAILURE,
        _ => EXIT_DIAGNOSTICS,
    }
}

/// Hosts a query or filter selected; when none, also one line on standard error saying so.
/// `host list --names`: one name per line.
fn print_names(hosts: &[facts::Host]) -> i32 {
    let mut out = std::io::stdout().lock();
    let _ = hosts.iter().try_for_each(|h| writeln!(out, "{}", h.name));
    EXIT_OK
}

fn print_selected(hosts: &[facts::Host], json: bool) -> i32 {
    if hosts.is_empty() {
        let _ = writeln!(std::io::stderr(), "the query selects no host");
    }
    print_hosts(hosts, json)
}

/// A `set` command given nothing to change.
pub(super) fn nothing_to_set(ui: &mut Ui, command: &str, example: &str) -> i32 {
    let d = Diagnostic::error("cli::nothing-to-set", format!("`{command}` names nothing to change")).help(format!("give e.g. {example}"));
    ui.say(d, EXIT_DIAGNOSTICS)
}

/// What a command that changes the facts did: `added host compute-0-0 ip=10.1.255.254`.
pub(super) struct Change {
    pub action: &'static str,
    pub kind: &'static str,
    pub name: String,
    pub details: Vec<(&'static str, String)>,
}

impl Change {
    pub(super) fn new(action: &'static str, kind: &'static str, name: impl Into<String>) -> Change {
        Change { action, kind, name: name.into(), details: Vec::new() }
    }

    /// With `key=value` (left out when `value` is `None`).
    pub(super) fn with(mut self, key: &'static str, value: Option<impl ToString>) -> Change {
        self.details.extend(value.map(|v| (key, v.to_string())));
        self
    }
}

/// After a change: say what was done (one line, or a JSON object with `--json`), or report
/// the error.
pub(super) fn said(ui: &mut Ui, a: &SaidArg, r: facts::Result<Change>) -> i32 {
    let c = match r {
        Ok(c) => c,
        Err(e) => return facts_error(ui, &e),
    };
    let mut out = std::io::stdout().lock();
    if a.json {
        let mut o = serde_json::Map::new();
        o.insert("action".into(), c.action.into());
        o.insert("kind".into(), c.kind.into());
        o.insert("name".into(), c.name.into());
        for (k, v) in c.details {
            o.insert(k.into(), v.into());
        }
        let _ = writeln!(out, "{}", serde_json::Value::Object(o));
    } else {
        let details: String = c.details.iter().map(|(k, v)| format!(" {k}={v}")).collect();
        let _ = writeln!(out, "{} {} {}{details}", c.action, c.kind, c.name);
    }
    EXIT_OK
}

pub(super) fn no_framework() -> FrameworkArgs {
    FrameworkArgs { frameworks: Vec::new(), graph: "default".into() }
}

pub(super) fn init(ui: &mut Ui, db: &Path, a: InitArgs) -> i32 {
    let existed = db.exists();
    // The plan is checked before anything is created.
    let plan = match a.network.as_deref().map(|n| init_plan(n, a.gateway.as_deref())).transpose() {
        Ok(p) => p,
        Err(e) => return facts_error(ui, &e),
    };
    match open_db(ui, db, &a.framework) {
        Ok(mut d) => {
            if let Some(plan) = plan {
                let current = d.network("private").map(|n| n.cidr.to_string());
                let result = match current {
                    Ok(c) if c == plan.cidr => Ok(()),
                    Ok(c) if existed => Err(FactsError::bad_value(
                        "network",
                        plan.cidr.clone(),
                        format!(
                            "the database exists with `private` at {c}: renumber it with `network set private --cidr {} --gateway IP`",
                            plan.cidr
                        ),
                    )),
                    Ok(_) => d.renumber_network("private", &plan, &facts::NetworkChange::default()).map(|_| ()),
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    return facts_error(ui, &e);
                }
            }
            let _ = writeln!(std::io::stderr(), "{} {}", if existed { "database already exists:" } else { "created" }, db.display());
            EXIT_OK
        }
        Err(code) => code,
    }
}

/// The `private` network `init --network CIDR [--gateway IP]` starts with.
fn init_plan(cidr: &str, gateway: Option<&str>) -> facts::Result<facts::Renumber> {
    let net = facts::addr::parse_cidr(cidr)?;
    let gw = match gateway {
        Some(g) => facts::addr::parse_ip(g)?,
        None => crate::model::addr::first_usable(&net).ok_or_else(|| FactsError::bad_value("network", cidr, "has no usable address"))?,
    };
    if !crate::model::addr::is_usable(&net, gw) {
        return Err(FactsError::IpOutsideNetwork { ip: gw.to_string(), network: "private".into(), cidr: net.to_string() });
    }
    Ok(facts::Renumber { cidr: net.to_string(), gateway: Some(gw.to_string()), dns_servers: Some(vec![gw.to_string()]) })
}

pub(super) fn host(ui: &mut Ui, path: &Path, cmd: HostCmd) -> i32 {
    if let HostCmd::List(a) = &cmd
        && let Some(sql) = &a.query
    {
        // `--query` runs on a read-only connection.
        let db = match open_readonly(ui, path) {
            Ok(db) => db,
            Err(c) => return c,
        };
        return match db.query_hosts(sql).and_then(|names| names.iter().map(|n| db.host(n)).collect::<facts::Result<Vec<_>>>()) {
            Ok(hosts) if a.names => print_names(&hosts),
            Ok(hosts) => print_selected(&hosts, a.json),
            Err(e) => facts_error(ui, &e),
        };
    }
    let adds = matches!(cmd, HostCmd::Add(_) | HostCmd::Import { .. } | HostCmd::Generate(_));
    let reads = matches!(cmd, HostCmd::List(_) | HostCmd::Export { .. });
    let mut db = open_db_or_return!(ui, path, Access::of(adds, reads));
    match cmd {
        HostCmd::Add(a) => {
            let name = a.name.clone();
            let spec = HostSpec {
                name: a.name,
                appliance: a.appliance,
                rack: a.rack,
                rank: a.rank,
                cpus: a.cpus,
                mac: a.mac,
                ip: a.ip,
                network: a.network,
                device: a.device,
                allocate_ip: !a.no_ip,
                bmc: facts::BmcSpec::of(a.bmc_mac, a.bmc_ip, a.bmc_network),
            };
            let r = db.add_host(&spec).and_then(|()| db.host(&name)).map(|h| {
                Change::new("added", "host", &h.name)
                    .with("appliance", Some(&h.appliance))
                    .with("rack", Some(h.rack))
                    .with("rank", Some(h.rank))
                    .with("ip", h.ip.as_ref())
                    .with("network", h.network.as_ref())
                    .with("mac", h.mac.as_ref())
            });
            said(ui, &a.said, r)
        }
        HostCmd::List(a) => match db.hosts(&HostFilter { appliance: a.appliance.clone(), where_sql: a.where_sql.clone() }) {
            Ok(hosts) if a.names => print_names(&hosts),
            Ok(hosts) if a.where_sql.is_some() || a.appliance.is_some() => print_selected(&hosts, a.json),
            Ok(hosts) => print_hosts(&hosts, a.json),
            Err(e) => facts_error(ui, &e),
        },
        HostCmd::Remove { name, said: s } => said(ui, &s, db.remove_host(&name).map(|()| Change::new("removed", "host", name))),
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
            let iface = (a.ip.is_some() || a.mac.is_some() || a.network.is_some()).then(|| facts::InterfaceChange {
                ip: a.ip,
                mac: a.mac,
                network: a.network,
                ..facts::InterfaceChange::default()
            });
            if fields.is_empty() && iface.is_none() {
                return nothing_to_set(ui, &format!("host set {}", a.name), "`--rack 2`, `--cpus 64` or `--ip 10.1.255.250`");
            }
            let r = db.update_host(&a.name, &fields, iface.as_ref()).and_then(|()| db.host(&a.name)).map(|h| {
                let mut c = Change::new("changed", "host", &h.name);
                for (f, v) in &fields {
                    c = c.with(f.as_str(), Some(v));
                }
                match &iface {
                    Some(_) => c.with("ip", h.ip.as_ref()).with("mac", h.mac.as_ref()).with("network", h.network.as_ref()),
                    None => c,
                }
            });
            said(ui, &a.said, r)
        }
        HostCmd::Rename { old, new, said: s } => {
            said(ui, &s, db.rename_host(&old, &new).map(|()| Change::new("renamed", "host", old).with("to", Some(new))))
        }
        HostCmd::Import { file } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => return ui.read_error(&file, &e),
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
        HostCmd::Allocate { names, where_sql } => {
            let selected = match where_sql {
                Some(w) => match db.hosts(&HostFilter { appliance: None, where_sql: Some(w) }) {
                    Ok(hosts) => Some(hosts.into_iter().map(|h| h.name).collect::<Vec<_>>()),
                    Err(e) => return facts_error(ui, &e),
                },
                None if names.is_empty() => None,
                None => Some(names),
            };
            match db.allocate_addresses(selected.as_deref()) {
                Ok(done) => {
                    let mut out = std::io::stdout().lock();
                    for (host, ip, network) in &done {
                        let _ = writeln!(out, "allocated {host} {ip} ({network})");
                    }
                    if done.is_empty() {
                        let _ = writeln!(std::io::stderr(), "every selected host has an address");
                    }
                    EXIT_OK
                }
                Err(e) => facts_error(ui, &e),
            }
        }
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
    // Refused before the database is opened (or created).
    if let AttrCmd::Set { key, value: Some(v), .. } = &cmd
        && let Err(d) = check_root_password(key, v)
    {
        return ui.say(d, EXIT_DIAGNOSTICS);
    }
    let mut db = open_db_or_return!(ui, path, Access::of(matches!(cmd, AttrCmd::Set { .. }), matches!(cmd, AttrCmd::List { .. })));
    match cmd {
        AttrCmd::Set { key, value, scope, secret, said: s } => {
            let value = match value {
                Some(v) => v,
                None if secret => match read_secret(&key) {
                    Ok(v) => v,
                    Err(d) => return ui.say(d, EXIT_DIAGNOSTICS),
                },
                None => {
                    let d = Diagnostic::error("cli::missing-value", format!("`attr set {key}` needs a value"))
                        .help("give it after the key, or use `--secret` to type it on standard input");
                    return ui.say(d, EXIT_DIAGNOSTICS);
                }
            };
            // A credential is redacted in every listing whether or not `--secret` was given.
            let secret = secret || is_credential(&key);
            let target = scope.target().unwrap_or(Target::Global);
            let shown = if secret { facts::REDACTED.to_string() } else { value.clone() };
            let r = db.set_attr(&target, &key, &value, secret).map(|()| {
                Change::new("set", "attribute", &key)
                    .with("value", Some(shown))
                    .with("scope", Some(target.scope()))
                    .with("target", target.name())
            });
            said(ui, &s, r)
        }
        AttrCmd::Unset { key, scope, said: s } => match db.unset_attr(&scope.target().unwrap_or(Target::Global), &key) {
            Ok(true) => {
                let target = scope.target().unwrap_or(Target::Global);
                said(ui, &s, Ok(Change::new("unset", "attribute", &key).with("scope", Some(target.scope())).with("target", target.name())))
            }
            Ok(false) => {
                let d = Diagnostic::warning("attrs::not-set", format!("attribute `{key}` was not set at that scope"))
                    .help("`attr list` shows where each attribute is stored");
                ui.say(d, EXIT_OK)
            }
            Err(e) => facts_error(ui, &e),
        },
        AttrCmd::List { scope, json } => {
            if let Some(h) = &scope.host {
                let list = match db.host_attrs(h) {
                    Ok(list) => list,
                    Err(e) => return facts_error(ui, &e),
                };
                return listing(
                    json,
                    &list,
                    |a| json!({"key": a.key, "value": a.redacted(), "scope": a.scope.as_str(), "secret": a.secret}),
                    &["ATTRIBUTE", "SCOPE", "VALUE"],
                    |a| vec![a.key.clone(), a.scope.as_str().to_string(), first_line(a.redacted())],
                );
            }
            let list = db.attrs(scope.target().as_ref()).and_then(|list| {
                list.into_iter()
                    .map(|a| Ok((db.shadowing_builtin(&a.target, &a.key)?.map(|b| b.from), a)))
                    .collect::<facts::Result<Vec<_>>>()
            });
            match list {
                Ok(list) => listing(
                    json,
                    &list,
                    |(shadow, a)| json!({"key": a.key, "value": a.redacted(), "scope": a.target.scope().as_str(), "target": target_name(&a.target), "secret": a.secret, "shadowed_by": shadow.map(|_| "builtin")}),
                    &["ATTRIBUTE", "SCOPE", "TARGET", "VALUE", "NOTE"],
                    |(shadow, a)| {
                        let note = shadow.map(|from| format!("shadowed: the built-in from {from} wins")).unwrap_or_default();
                        vec![a.key.clone(), a.target.scope().as_str().to_string(), target_name(&a.target), a.redacted().to_string(), note]
                    },
                ),
                Err(e) => facts_error(ui, &e),
            }
        }
    }
}

pub(super) fn discover(ui: &mut Ui, path: &Path, a: DiscoverArgs) -> i32 {
    let mut db = open_db_or_return!(ui, path, Access::Create);
    // A typo in the appliance is said before any input is read.
    if let Err(e) = db.appliance(&a.appliance) {
        return facts_error(ui, &e);
    }
    let input: Box<dyn BufRead> = if a.from_log == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(&a.from_log) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => return ui.read_error(Path::new(&a.from_log), &e),
        }
    };
    let mut seen = std::collections::HashSet::new();
    let mut added = 0usize;
    // Line by line, as the log grows: each host is added, and said, as its request arrives.
    for line in input.split(b'\n') {
        let line = match line {
            Ok(l) => l,
            Err(e) => return ui.read_error(Path::new(&a.from_log), &e),
        };
        let Some(r) = facts::parse_dhcpd_line(&String::from_utf8_lossy(&line)) else { continue };
        if a.interface.as_ref().is_some_and(|dev| r.via.as_ref() != Some(dev)) || !seen.insert(r.mac.clone()) {
            continue;
        }
        match db.discover_one(&a.appliance, a.rack, &r.mac) {
            Ok(Some(h)) => {
                added += 1;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "added {} {} {} ({})", h.name, h.mac, h.ip, h.network).and_then(|()| out.flush());
            }
            Ok(None) => {}
            Err(e) => return facts_error(ui, &e),
        }
    }
    let _ = writeln!(std::io::stderr(), "discovered {added} new host{}", if added == 1 { "" } else { "s" });
    EXIT_OK
}
