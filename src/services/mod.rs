//! The services that read the output tree, and telling them about a new generation: after
//! `build` has swapped a generation in, it reloads what reads a file that changed, and only
//! that. [I/O in [`run`]]
//!
//! Steps: [`Services::parse`] reads the configuration -> [`due`] turns the files a commit
//! changed (plus the reloads an earlier build could not do) into [`Target`]s -> [`reloads`]
//! turns those into [`Reload`]s, in a fixed order (both pure) -> [`run::run`] runs each: a
//! command (no shell) with a timeout, or Kea's `config-reload` over its control socket.
//! Reloads that failed are due again at the next build ([`run::write_due`]).
//!
//! The configuration is TOML, one optional section per service (the built-in framework's
//! frontend writes `/etc/rocks-compile/services.toml`):
//!
//! ```toml
//! timeout = 60                               # seconds each reload may take
//! tree = "/export/rocks/install/rocks"       # only builds of this tree reload (default: any)
//! [dhcp]                                     # dhcp/dhcpd.conf changed (ISC dhcpd: restart)
//! command = ["systemctl", "restart", "dhcpd"]
//! [kea]                                      # dhcp/kea-dhcp4.json changed
//! socket = "/run/kea/kea4-ctrl-socket"       # {"command": "config-reload"} over it
//! [dns]
//! reconfig = ["rndc", "reconfig"]            # dns/named.conf changed (zones added or removed)
//! command = ["rndc", "reload", "{zone}"]     # each added or changed dns/db.<zone>
//! [slurm]                                    # scheduler/slurm-nodes.conf changed
//! command = ["scontrol", "reconfigure"]
//! [conman]                                   # console/conman.conf changed
//! command = ["systemctl", "restart", "conman"]
//! [conserver]                                # console/conserver.cf changed
//! command = ["systemctl", "reload-or-restart", "conserver"]
//! [powerman]                                 # a file under power/ changed
//! command = ["systemctl", "restart", "powerman"]
//! ```
//!
//! A file that was removed calls for no reload: the service would find nothing to read (the
//! configuration that names it changes, and that change calls for one).

mod reload;
pub mod run;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::diag::Diagnostic;
use crate::span::{SourceId, Span};

pub use reload::{Action, DUE_EARLIER, Reload, Target, due, reloads};

/// Where `build` looks for the configuration when it is not named.
pub const DEFAULT_PATH: &str = "/etc/rocks-compile/services.toml";
/// Seconds a reload may take unless the configuration says otherwise.
pub const DEFAULT_TIMEOUT: u64 = 60;
/// The longest `timeout` the configuration may give, in seconds (a day).
pub const MAX_TIMEOUT: u64 = 86_400;
/// What a dns command's words say where the zone's name goes.
pub const ZONE_PLACEHOLDER: &str = "{zone}";

/// The services to reload, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    /// How long each reload may take.
    pub timeout: Duration,
    /// The only tree whose builds reload (`None`: any).
    pub tree: Option<PathBuf>,
    /// Run when `dhcp/dhcpd.conf` changed.
    pub dhcp: Option<Vec<String>>,
    /// Kea's control socket, sent `config-reload` when `dhcp/kea-dhcp4.json` changed.
    pub kea: Option<PathBuf>,
    pub dns: Option<Dns>,
    /// Run when `scheduler/slurm-nodes.conf` changed.
    pub slurm: Option<Vec<String>>,
    /// Run when `console/conman.conf` changed.
    pub conman: Option<Vec<String>>,
    /// Run when `console/conserver.cf` changed.
    pub conserver: Option<Vec<String>>,
    /// Run when a file under `power/` (PowerMan's) changed.
    pub powerman: Option<Vec<String>>,
}

/// named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns {
    /// Run once per added or changed zone file, [`ZONE_PLACEHOLDER`] replaced by the zone's
    /// name; run once for all of them when no word holds the placeholder.
    pub command: Vec<String>,
    /// Run first when `dns/named.conf` changed.
    pub reconfig: Option<Vec<String>>,
}

impl Services {
    /// Parse the configuration `text` (the source `id`, for the spans of problems): every
    /// problem at once.
    pub fn parse(text: &str, id: SourceId) -> Result<Services, Vec<Diagnostic>> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let span = e.span().map_or(Span::new(id, 0, 0), |r| Span::new(id, r.start, r.end));
            vec![
                Diagnostic::error("services::syntax", format!("invalid services file: {}", e.message().trim_end()))
                    .label(span, "here")
                    .help(HELP),
            ]
        })?;
        let mut problems = Vec::new();
        let mut command = |c: Option<Spanned<Vec<String>>>, section: &str, zone: bool| {
            let c = c?;
            let span = Span::new(id, c.span().start, c.span().end);
            let words = c.into_inner();
            if words.first().is_none_or(|w| w.trim().is_empty()) {
                problems.push(
                    Diagnostic::error("services::invalid", format!("the command of `[{section}]` names no program"))
                        .label(span, "an empty command")
                        .help("a command is the program and its arguments, e.g. `[\"systemctl\", \"restart\", \"dhcpd\"]`"),
                );
            } else if !zone && words.iter().any(|w| w.contains(ZONE_PLACEHOLDER)) {
                problems.push(
                    Diagnostic::error("services::invalid", format!("`{ZONE_PLACEHOLDER}` in a command of `[{section}]`"))
                        .label(span, "no zone here")
                        .help("only `[dns]`'s `command` is run per zone"),
                );
            }
            Some(words)
        };
        let dhcp = command(raw.dhcp.map(|s| s.command), "dhcp", false);
        let slurm = command(raw.slurm.map(|s| s.command), "slurm", false);
        let conman = command(raw.conman.map(|s| s.command), "conman", false);
        let conserver = command(raw.conserver.map(|s| s.command), "conserver", false);
        let powerman = command(raw.powerman.map(|s| s.command), "powerman", false);
        let dns = raw.dns.map(|d| Dns {
            command: command(Some(d.command), "dns", true).unwrap_or_default(),
            reconfig: command(d.reconfig, "dns", false),
        });
        let kea = raw.kea.map(|k| {
            if k.socket.get_ref().as_os_str().is_empty() {
                problems.push(
                    Diagnostic::error("services::invalid", "`[kea]` names no control socket")
                        .label(Span::new(id, k.socket.span().start, k.socket.span().end), "an empty path")
                        .help("the `socket-name` of Kea's `control-socket`, e.g. `/run/kea/kea4-ctrl-socket`"),
                );
            }
            k.socket.into_inner()
        });
        let timeout = match raw.timeout {
            Some(t) if !(1..=MAX_TIMEOUT as i64).contains(t.get_ref()) => {
                problems.push(
                    Diagnostic::error("services::invalid", format!("`timeout` must be from 1 to {MAX_TIMEOUT} seconds"))
                        .label(Span::new(id, t.span().start, t.span().end), "out of range"),
                );
                DEFAULT_TIMEOUT
            }
            Some(t) => t.into_inner() as u64,
            None => DEFAULT_TIMEOUT,
        };
        if !problems.is_empty() {
            crate::diag::sort(&mut problems);
            return Err(problems);
        }
        Ok(Services { timeout: Duration::from_secs(timeout), tree: raw.tree, dhcp, kea, dns, slurm, conman, conserver, powerman })
    }

    /// Do builds of the tree `dir` reload? Only those of [`Services::tree`] when it is set
    /// (the same directory, however named).
    pub fn applies_to(&self, dir: &std::path::Path) -> bool {
        let Some(tree) = &self.tree else { return true };
        let real = |p: &std::path::Path| std::fs::canonicalize(p).or_else(|_| std::path::absolute(p));
        match (real(tree), real(dir)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }

    /// No service at all.
    pub fn none() -> Services {
        Services {
            timeout: Duration::from_secs(DEFAULT_TIMEOUT),
            tree: None,
            dhcp: None,
            kea: None,
            dns: None,
            slurm: None,
            conman: None,
            conserver: None,
            powerman: None,
        }
    }
}

const HELP: &str = "the services file holds `timeout = SECONDS`, `tree = \"DIR\"` and the tables `[dhcp]`, `[dns]`, `[slurm]`, \
`[conman]`, `[conserver]`, `[powerman]` \
(`command = [\"program\", \"arg\", ...]`; `[dns]` also `reconfig`) and `[kea]` (`socket = \"PATH\"`)";

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    timeout: Option<Spanned<i64>>,
    tree: Option<PathBuf>,
    dhcp: Option<RawCommand>,
    kea: Option<RawKea>,
    dns: Option<RawDns>,
    slurm: Option<RawCommand>,
    conman: Option<RawCommand>,
    conserver: Option<RawCommand>,
    powerman: Option<RawCommand>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    command: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKea {
    socket: Spanned<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDns {
    command: Spanned<Vec<String>>,
    reconfig: Option<Spanned<Vec<String>>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Sources;

    fn parse(text: &str) -> Result<Services, String> {
        let mut sources = Sources::new();
        let id = sources.add("services.toml", text);
        Services::parse(text, id).map_err(|ds| ds.iter().map(|d| d.short(&sources)).collect::<Vec<_>>().join("\n"))
    }

    #[test]
    fn every_section_is_optional() {
        assert_eq!(parse("").unwrap(), Services::none());
        let s = parse(
            "timeout = 5\ntree = \"/t\"\n[dhcp]\ncommand = [\"systemctl\", \"restart\", \"dhcpd\"]\n[kea]\nsocket = \"/run/k\"\n\
             [dns]\ncommand = [\"rndc\", \"reload\", \"{zone}\"]\n[slurm]\ncommand = [\"scontrol\", \"reconfigure\"]\n",
        )
        .unwrap();
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.tree, Some(PathBuf::from("/t")));
        assert_eq!(s.dhcp.unwrap(), ["systemctl", "restart", "dhcpd"]);
        assert_eq!(s.kea, Some(PathBuf::from("/run/k")));
        assert_eq!(s.dns.unwrap(), Dns { command: vec!["rndc".into(), "reload".into(), "{zone}".into()], reconfig: None });
        assert_eq!(s.slurm.unwrap(), ["scontrol", "reconfigure"]);
    }

    #[test]
    fn problems_point_at_their_place() {
        expect_test::expect!["services.toml:1:2: error[services::syntax]: invalid services file: unknown field `dchp`, expected one of `timeout`, `tree`, `dhcp`, `kea`, `dns`, `slurm`, `conman`, `conserver`, `powerman`"]
        .assert_eq(&parse("[dchp]\ncommand = [\"x\"]\n").unwrap_err());
        expect_test::expect![[r#"
            services.toml:1:11: error[services::invalid]: `timeout` must be from 1 to 86400 seconds
            services.toml:3:11: error[services::invalid]: the command of `[dhcp]` names no program
            services.toml:5:11: error[services::invalid]: `{zone}` in a command of `[slurm]`
            services.toml:7:10: error[services::invalid]: `[kea]` names no control socket"#]]
        .assert_eq(&parse("timeout = 0\n[dhcp]\ncommand = []\n[slurm]\ncommand = [\"x\", \"{zone}\"]\n[kea]\nsocket = \"\"\n").unwrap_err());
    }
}
