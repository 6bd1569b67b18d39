//! Which services a new generation calls for ([`Target`], [`due`]) and what to run for each
//! ([`Reload`], [`reloads`]). Pure: nothing here runs anything.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::{Services, ZONE_PLACEHOLDER};
use crate::emit;
use crate::generation::Change;
use crate::plan::Kind;

/// What reads a file of the tree, in the order reloads run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// ISC dhcpd: `dhcp/dhcpd.conf`.
    Dhcp,
    /// Kea: `dhcp/kea-dhcp4.json`.
    Kea,
    /// named's configuration, `dns/named.conf` (zones added or removed).
    Named,
    /// One zone of named, `dns/db.<zone>`.
    Zone(String),
    /// Slurm: `scheduler/slurm-nodes.conf`.
    Slurm,
    /// ConMan: `console/conman.conf`.
    Conman,
    /// conserver: `console/conserver.cf`.
    Conserver,
    /// PowerMan: `power/powerman.conf` and the `ipmipower` files it names.
    Powerman,
}

/// Why a target is due when its files did not change in this build.
pub const DUE_EARLIER: &str = "its reload failed in an earlier build";

impl Target {
    /// What reads the file `path` (made by `kind`), if it is a service this module knows.
    pub fn of(kind: Option<Kind>, path: &str) -> Option<Target> {
        match kind? {
            Kind::Dhcpd if path == emit::dhcpd::PATH => Some(Target::Dhcp),
            Kind::Kea if path == emit::kea::PATH => Some(Target::Kea),
            Kind::Dns if path == emit::dns::NAMED_CONF => Some(Target::Named),
            Kind::Dns => emit::dns::zone_of(path).map(|z| Target::Zone(z.to_string())),
            Kind::Slurm if path == emit::slurm::PATH => Some(Target::Slurm),
            Kind::Conman if path == emit::conman::PATH => Some(Target::Conman),
            Kind::Conserver if path == emit::conserver::PATH => Some(Target::Conserver),
            Kind::Powerman => Some(Target::Powerman),
            _ => None,
        }
    }

    /// The section of the services file that says what to run.
    pub fn service(&self) -> &'static str {
        match self {
            Target::Dhcp => "dhcp",
            Target::Kea => "kea",
            Target::Named | Target::Zone(_) => "dns",
            Target::Slurm => "slurm",
            Target::Conman => "conman",
            Target::Conserver => "conserver",
            Target::Powerman => "powerman",
        }
    }

    /// The target's line in the file of reloads still due (see [`super::run::write_due`]).
    pub fn key(&self) -> String {
        match self {
            Target::Zone(z) => format!("zone {z}"),
            Target::Named => "named".into(),
            t => t.service().into(),
        }
    }

    /// The target a line of the file of reloads still due names.
    pub fn from_key(line: &str) -> Option<Target> {
        match line.trim() {
            "dhcp" => Some(Target::Dhcp),
            "kea" => Some(Target::Kea),
            "named" => Some(Target::Named),
            "slurm" => Some(Target::Slurm),
            "conman" => Some(Target::Conman),
            "conserver" => Some(Target::Conserver),
            "powerman" => Some(Target::Powerman),
            l => l.strip_prefix("zone ").map(str::trim).filter(|z| !z.is_empty()).map(|z| Target::Zone(z.to_string())),
        }
    }
}

/// The targets a commit calls for, each with why: the files `changes` added or changed (a
/// removed file calls for nothing), plus the targets `earlier` builds left due.
pub fn due<'a>(changes: impl IntoIterator<Item = (Change, Option<Kind>, &'a str)>, earlier: &[Target]) -> BTreeMap<Target, Vec<String>> {
    let mut out: BTreeMap<Target, Vec<String>> = BTreeMap::new();
    for (change, kind, path) in changes {
        if change == Change::Removed {
            continue;
        }
        if let Some(t) = Target::of(kind, path) {
            out.entry(t).or_default().push(path.to_string());
        }
    }
    for t in earlier {
        out.entry(t.clone()).or_insert_with(|| vec![DUE_EARLIER.to_string()]);
    }
    out
}

/// One reload to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reload {
    /// The section of the services file: `dhcp`, `kea`, `dns`, `slurm`, `conman`,
    /// `conserver`, `powerman`.
    pub service: &'static str,
    /// The zone a per-zone dns reload is for.
    pub zone: Option<String>,
    pub action: Action,
    /// What it reloads (several zones when the dns command is not per zone).
    pub targets: Vec<Target>,
    /// The changed files that call for it (or [`DUE_EARLIER`]).
    pub because: Vec<String>,
}

/// How to reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run this program with these arguments (no shell).
    Command(Vec<String>),
    /// Send Kea `{"command": "config-reload"}` over this control socket.
    Kea { socket: PathBuf },
}

/// The reloads for `due` that `services` configures, in the order of [`Target`]; a target
/// whose service is not configured calls for none. named's `reconfig` runs before the zones.
pub fn reloads(services: &Services, due: &BTreeMap<Target, Vec<String>>) -> Vec<Reload> {
    let mut out = Vec::new();
    let mut zones: Vec<(&str, &Vec<String>)> = Vec::new();
    for (target, because) in due {
        let one = |action: Action| Reload {
            service: target.service(),
            zone: None,
            action,
            targets: vec![target.clone()],
            because: because.clone(),
        };
        match (target, services) {
            (Target::Dhcp, Services { dhcp: Some(c), .. })
            | (Target::Slurm, Services { slurm: Some(c), .. })
            | (Target::Conman, Services { conman: Some(c), .. })
            | (Target::Conserver, Services { conserver: Some(c), .. })
            | (Target::Powerman, Services { powerman: Some(c), .. }) => {
                out.push(one(Action::Command(c.clone())));
            }
            (Target::Kea, Services { kea: Some(socket), .. }) => out.push(one(Action::Kea { socket: socket.clone() })),
            (Target::Named, Services { dns: Some(dns), .. }) => {
                if let Some(c) = &dns.reconfig {
                    out.push(one(Action::Command(c.clone())));
                }
            }
            (Target::Zone(z), Services { dns: Some(_), .. }) => zones.push((z, because)),
            _ => {}
        }
    }
    // The zones go after named's reconfig and before what follows them (Slurm, the consoles,
    // power).
    let at = out.iter().position(|r| r.targets.iter().any(|t| *t > Target::Named && !matches!(t, Target::Zone(_)))).unwrap_or(out.len());
    let Some(dns) = services.dns.as_ref().filter(|_| !zones.is_empty()) else { return out };
    let per_zone = dns.command.iter().any(|w| w.contains(ZONE_PLACEHOLDER));
    let zone_reloads: Vec<Reload> = if per_zone {
        zones
            .iter()
            .map(|(z, because)| Reload {
                service: "dns",
                zone: Some(z.to_string()),
                action: Action::Command(dns.command.iter().map(|w| w.replace(ZONE_PLACEHOLDER, z)).collect()),
                targets: vec![Target::Zone(z.to_string())],
                because: (*because).clone(),
            })
            .collect()
    } else {
        vec![Reload {
            service: "dns",
            zone: None,
            action: Action::Command(dns.command.clone()),
            targets: zones.iter().map(|(z, _)| Target::Zone(z.to_string())).collect(),
            because: zones.iter().flat_map(|(_, b)| b.iter().cloned()).collect(),
        }]
    };
    out.splice(at..at, zone_reloads);
    out
}

impl Reload {
    /// `dns` or `dns (zone local)`: what is reloaded, for messages.
    pub fn what(&self) -> String {
        match &self.zone {
            Some(z) => format!("{} (zone {z})", self.service),
            None => self.service.to_string(),
        }
    }
}

impl fmt::Display for Action {
    /// A command as a shell would take it back (words quoted where needed); Kea's command
    /// and socket.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Command(words) => {
                for (i, w) in words.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    f.write_str(&quote(w))?;
                }
                Ok(())
            }
            Action::Kea { socket } => write!(f, "config-reload over {}", quote(&socket.display().to_string())),
        }
    }
}

/// `word`, single-quoted when a shell would split or expand it.
fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,{}".contains(c);
    if !word.is_empty() && word.chars().all(plain) { word.to_string() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Dns;

    fn services() -> Services {
        Services {
            dhcp: Some(vec!["systemctl".into(), "restart".into(), "dhcpd".into()]),
            kea: Some("/run/kea.sock".into()),
            dns: Some(Dns {
                command: vec!["rndc".into(), "reload".into(), "{zone}".into()],
                reconfig: Some(vec!["rndc".into(), "reconfig".into()]),
            }),
            slurm: Some(vec!["scontrol".into(), "reconfigure".into()]),
            conman: Some(vec!["systemctl".into(), "restart".into(), "conman".into()]),
            conserver: Some(vec!["systemctl".into(), "reload-or-restart".into(), "conserver".into()]),
            powerman: Some(vec!["systemctl".into(), "restart".into(), "powerman".into()]),
            ..Services::none()
        }
    }

    fn shown(rs: &[Reload]) -> String {
        rs.iter().map(|r| format!("{}: {} <- {}\n", r.what(), r.action, r.because.join(", "))).collect()
    }

    #[test]
    fn each_changed_file_calls_for_what_reads_it_in_order() {
        let changes = [
            (Change::Changed, Some(Kind::Dhcpd), "dhcp/dhcpd.conf"),
            (Change::Added, Some(Kind::Dns), "dns/db.2.10.in-addr.arpa"),
            (Change::Changed, Some(Kind::Dns), "dns/db.local"),
            (Change::Changed, Some(Kind::Dns), "dns/named.conf"),
            (Change::Removed, Some(Kind::Dns), "dns/db.1.10.in-addr.arpa"),
            (Change::Changed, Some(Kind::Kea), "dhcp/kea-dhcp4.json"),
            (Change::Changed, Some(Kind::Kickstart), "kickstart/a.ks"),
            (Change::Changed, Some(Kind::Slurm), "scheduler/clustershell.yaml"),
            (Change::Changed, Some(Kind::Slurm), "scheduler/slurm-nodes.conf"),
            (Change::Changed, None, "dns/db.foreign"),
            (Change::Changed, Some(Kind::Powerman), "power/ipmipower-ipmi0.conf"),
            (Change::Changed, Some(Kind::Conserver), "console/conserver.cf"),
            (Change::Added, Some(Kind::Powerman), "power/powerman.conf"),
            (Change::Changed, Some(Kind::Conman), "console/conman.conf"),
        ];
        expect_test::expect![[r#"
            dhcp: systemctl restart dhcpd <- dhcp/dhcpd.conf
            kea: config-reload over /run/kea.sock <- dhcp/kea-dhcp4.json
            dns: rndc reconfig <- dns/named.conf
            dns (zone 2.10.in-addr.arpa): rndc reload 2.10.in-addr.arpa <- dns/db.2.10.in-addr.arpa
            dns (zone local): rndc reload local <- dns/db.local
            slurm: scontrol reconfigure <- scheduler/slurm-nodes.conf
            conman: systemctl restart conman <- console/conman.conf
            conserver: systemctl reload-or-restart conserver <- console/conserver.cf
            powerman: systemctl restart powerman <- power/ipmipower-ipmi0.conf, power/powerman.conf
        "#]]
        .assert_eq(&shown(&reloads(&services(), &due(changes, &[]))));
    }

    #[test]
    fn unconfigured_services_and_unchanged_files_call_for_nothing() {
        let changes = [(Change::Changed, Some(Kind::Dhcpd), "dhcp/dhcpd.conf"), (Change::Changed, Some(Kind::Dns), "dns/named.conf")];
        let only_dns = Services { dns: Some(Dns { command: vec!["rndc".into(), "reload".into()], reconfig: None }), ..Services::none() };
        assert_eq!(reloads(&only_dns, &due(changes, &[])), vec![]);
        assert_eq!(reloads(&services(), &due([], &[])), vec![]);
    }

    #[test]
    fn a_dns_command_without_a_zone_runs_once_and_earlier_failures_are_due_again() {
        let dns = Services { dns: Some(Dns { command: vec!["rndc".into(), "reload".into()], reconfig: None }), ..services() };
        let changes = [(Change::Changed, Some(Kind::Dns), "dns/db.a"), (Change::Added, Some(Kind::Dns), "dns/db.b")];
        let rs = reloads(&dns, &due(changes, &[Target::Slurm, Target::Zone("a".into())]));
        expect_test::expect![[r#"
            dns: rndc reload <- dns/db.a, dns/db.b
            slurm: scontrol reconfigure <- its reload failed in an earlier build
        "#]]
        .assert_eq(&shown(&rs));
        assert_eq!(rs[0].targets, [Target::Zone("a".into()), Target::Zone("b".into())]);
    }

    #[test]
    fn keys_and_quoting_round_trip() {
        for t in [
            Target::Dhcp,
            Target::Kea,
            Target::Named,
            Target::Zone("1.10.in-addr.arpa".into()),
            Target::Slurm,
            Target::Conman,
            Target::Conserver,
            Target::Powerman,
        ] {
            assert_eq!(Target::from_key(&t.key()), Some(t));
        }
        assert_eq!(Target::from_key("zone "), None);
        assert_eq!(Action::Command(vec!["sh".into(), "-c".into(), "echo 'hi' >&2".into()]).to_string(), r#"sh -c 'echo '\''hi'\'' >&2'"#);
        assert_eq!(emit::dns::zone_of("dns/db.local"), Some("local"));
        assert_eq!(emit::dns::zone_of("dns/named.conf"), None);
    }

    #[test]
    fn zones_go_before_the_console_and_power_reloads_without_slurm() {
        let no_slurm = Services { slurm: None, ..services() };
        let changes = [(Change::Changed, Some(Kind::Conserver), "console/conserver.cf"), (Change::Changed, Some(Kind::Dns), "dns/db.local")];
        expect_test::expect![[r#"
            dns (zone local): rndc reload local <- dns/db.local
            conserver: systemctl reload-or-restart conserver <- console/conserver.cf
        "#]]
        .assert_eq(&shown(&reloads(&no_slurm, &due(changes, &[]))));
    }
}
