//! The model check: facts that would make a broken tree are refused before anything is
//! written. Every problem is reported in one run, each with a stable `build::` code.

use crate::model::is_dns_label;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use crate::diag::Diagnostic;
use crate::emit::dhcpd::{PXE_LOADER_ATTR, PxeLoader};
use crate::emit::{conserver, ipmi, nagios};
use crate::power::{FREEIPMI_WORKAROUNDS, WORKAROUNDS_ATTR};
use crate::emit::pxe::CONSOLE_ATTR;
use crate::facts::addr::is_usable;
use crate::model::Cluster;
use crate::plan::{HostSelection, Kind, Site};

/// Attributes the build reads itself: `pxe_loader` (auto, pxelinux, grub, ipxe) and `memory`
/// (MiB, a positive integer), each bad value reported once per host; and, with the Nagios
/// file wanted, the global `nagios_host_template` (a name Nagios takes).
fn attributes(site: &Site<'_>, out: &mut Vec<Diagnostic>) {
    let c = site.cluster;
    if site.wants(Kind::Nagios)
        && let Some(t) = crate::resolver::stored_global(c, nagios::TEMPLATE_ATTR)
        && !nagios::template_name(t)
    {
        out.push(
            Diagnostic::error("build::bad-attribute", format!("global attribute `{}` is `{t}`: not a Nagios object name", nagios::TEMPLATE_ATTR))
                .help(format!("name the host template your Nagios configuration defines, without white space, quotes or any of ~!$%^&*|<>?,()=; (e.g. `attr set {} generic-host`)", nagios::TEMPLATE_ATTR)),
        );
    }
    for h in &c.hosts {
        if let Some((v, _)) = crate::resolver::stored_attr(c, h, PXE_LOADER_ATTR)
            && PxeLoader::parse(v).is_none()
        {
            out.push(
                Diagnostic::error("build::bad-attribute", format!("host `{}` has `{PXE_LOADER_ATTR}` = `{v}`", h.name))
                    .help(format!("use one of {} (`auto`: chosen by the client's firmware)", PxeLoader::NAMES.join(", "))),
            );
        }
        if let Some((v, _)) = crate::resolver::stored_attr(c, h, "memory")
            && !v.trim().parse::<u64>().is_ok_and(|m| m > 0)
        {
            out.push(
                Diagnostic::error("build::bad-attribute", format!("host `{}` has `memory` = `{v}`", h.name))
                    .help("give the memory in MiB as a positive whole number, e.g. `attr set memory 256000 --appliance compute`"),
            );
        }
    }
}

/// Whether the framework of a graph has a node file: `(graph, node) -> bool`.
pub type RootCheck<'a> = &'a dyn Fn(&str, &str) -> bool;

/// Every inconsistency of `site`'s facts. `has_root(graph, root)` tells whether the framework
/// of `graph` has the node file `root` (`None`: the framework is not consulted).
pub fn check(site: &Site<'_>, has_root: Option<RootCheck<'_>>) -> Vec<Diagnostic> {
    let c = site.cluster;
    let mut out = Vec::new();
    addresses(c, &mut out);
    super::bmc::check(c, &mut out);
    names(site, &mut out);
    boot(site, &mut out);
    attributes(site, &mut out);
    roots(c, has_root.unwrap_or(&|_, _| true), &mut out);
    selection(site, &mut out);
    bmcs(site, &mut out);
    out
}

/// The console and power daemons' files leave out a host whose BMC cannot be used (no
/// address, no credentials, a bad `ipmi_port`): each is reported (a warning). With a console
/// file wanted, a log directory ([`ipmi::LOG_DIR_ATTR`]) that is not a plain absolute path is
/// an error, and hosts whose kernel console is on a serial port ([`CONSOLE_ATTR`]) but which
/// have no BMC to carry it are reported together (a warning, `build::console-without-bmc`).
fn bmcs(site: &Site<'_>, out: &mut Vec<Diagnostic>) {
    if [Kind::Conman, Kind::Conserver].iter().any(|k| site.wants(*k)) {
        consoles(site, out);
    }
    if [Kind::Conman, Kind::Powerman].iter().any(|k| site.wants(*k)) {
        workarounds(site, out);
    }
    if site.wants(Kind::Powerman) {
        let settings = (crate::emit::powerman::CONFIG_DIR_ATTR, "the ipmipower settings files on the power server", crate::emit::powerman::CONFIG_DIR);
        server_dir(site, settings, out);
    }
    if ![Kind::Conman, Kind::Conserver, Kind::Powerman].iter().any(|k| site.wants(*k)) {
        return;
    }
    for (host, why) in crate::emit::ipmi::unusable(site) {
        out.push(
            Diagnostic::warning("build::bmc-without-credentials", format!("host `{host}` has a BMC but is left out of the console and power files: {why}"))
                .help("set `ipmi_user` and `ipmi_password` (`attr set ipmi_password --secret`) for the host, its rack, appliance or the cluster"),
        );
    }
}

/// A global attribute naming a directory on the console server (`key`, what it holds) that
/// is set but is not an absolute path of [`ipmi::plain`] characters.
fn server_dir(site: &Site<'_>, (key, what, example): (&str, &str, &str), out: &mut Vec<Diagnostic>) {
    if let Some(dir) = crate::resolver::stored_global(site.cluster, key)
        && !(dir.starts_with('/') && ipmi::plain(dir))
    {
        out.push(
            Diagnostic::error("build::bad-attribute", format!("global attribute `{key}` is `{dir}`"))
                .help(format!("give the directory of {what} as an absolute path of letters, digits and `._-@+:/=`, e.g. `attr set {key} {example}`")),
        );
    }
}

/// The FreeIPMI workaround flags of the hosts with a BMC: a value with a word FreeIPMI does
/// not know would stop ConMan's console or PowerMan's `ipmipower` device; one error per
/// value, naming its hosts.
fn workarounds(site: &Site<'_>, out: &mut Vec<Diagnostic>) {
    let c = site.cluster;
    let mut bad: BTreeMap<(&str, String), Vec<&str>> = BTreeMap::new();
    for h in c.hosts.iter().filter(|h| h.bmc().is_some()) {
        if let Some((v, _)) = crate::resolver::stored_attr(c, h, WORKAROUNDS_ATTR)
            && let Err(word) = crate::power::workarounds(v)
        {
            bad.entry((v, word)).or_default().push(&h.name);
        }
    }
    for ((value, word), hosts) in bad {
        let help = match crate::diag::did_you_mean(&word, FREEIPMI_WORKAROUNDS) {
            Some(s) => format!("did you mean `{s}`? (FreeIPMI's flags are listed in freeipmi.conf(5))"),
            None => format!("give FreeIPMI workaround flags separated by commas or blanks: {}", FREEIPMI_WORKAROUNDS.join(", ")),
        };
        let (which, have) = if hosts.len() == 1 { ("host", "has") } else { ("hosts", "have") };
        out.push(
            Diagnostic::error(
                "build::bad-attribute",
                format!("{which} `{}` {have} `{WORKAROUNDS_ATTR}` = `{value}`: `{word}` is not a FreeIPMI workaround flag", crate::hostlist::compress(&hosts)),
            )
            .help(help),
        );
    }
}

fn consoles(site: &Site<'_>, out: &mut Vec<Diagnostic>) {
    let c = site.cluster;
    server_dir(site, (ipmi::LOG_DIR_ATTR, "the console server's logs", "/var/log/consoles"), out);
    if site.wants(Kind::Conserver) {
        server_dir(site, (conserver::PASSWORD_DIR_ATTR, "the password files on the console server", "/var/lib/rocks-compile/tree/console"), out);
        if let Some(users) = crate::resolver::stored_global(c, conserver::USERS_ATTR)
            && conserver::users(users).is_none()
        {
            out.push(
                Diagnostic::error("build::bad-attribute", format!("global attribute `{}` is `{users}`", conserver::USERS_ATTR))
                    .help(format!(
                        "list the user names that may use the consoles, separated by commas or blanks, e.g. `attr set {} root,admin`",
                        conserver::USERS_ATTR
                    )),
            );
        }
    }
    let serial = |h: &&crate::model::HostFacts| crate::resolver::stored_attr(c, h, CONSOLE_ATTR).is_some_and(|(v, _)| !v.trim().is_empty());
    let without: Vec<&str> = c.hosts.iter().filter(serial).filter(|h| h.bmc().is_none()).map(|h| h.name.as_str()).collect();
    if !without.is_empty() {
        let n = without.len();
        let (hosts, them, have) = if n == 1 { ("host", "it", "has") } else { ("hosts", "them", "have") };
        out.push(
            Diagnostic::warning(
                "build::console-without-bmc",
                format!(
                    "{hosts} `{}` {have} a serial console (`{CONSOLE_ATTR}`) but no BMC: no console file can reach {them}",
                    crate::hostlist::compress(&without)
                ),
            )
            .help(format!(
                "give {them} a BMC (`interface add HOST bmc --ip ADDR --network NET`), or unset `{CONSOLE_ATTR}` where no serial-over-LAN carries the console"
            )),
        );
    }
}

/// The scheduler lists' selection: an appliance that does not exist is a typo (an error with
/// the closest name); a selection that names no host is reported (a warning).
fn selection(site: &Site<'_>, out: &mut Vec<Diagnostic>) {
    if ![Kind::Slurm, Kind::Pbs, Kind::Sge].iter().any(|k| site.wants(*k)) {
        return;
    }
    let known = || site.cluster.appliances.keys().map(String::as_str);
    if let HostSelection::Appliances(list) = &site.options.scheduler_hosts {
        for a in list.iter().filter(|a| !site.cluster.appliances.contains_key(*a)) {
            let help = match crate::diag::did_you_mean(a, known()) {
                Some(s) => format!("did you mean `{s}`? (`appliance list` lists them)"),
                None => format!("the appliances are {}", known().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")),
            };
            out.push(Diagnostic::error("build::unknown-appliance", format!("the scheduler selection names appliance `{a}`, which does not exist")).help(help));
        }
    }
    let explicit = site.options.scheduler_hosts != HostSelection::default();
    let typo = out.iter().any(|d| d.code == "build::unknown-appliance");
    if explicit && !typo && !site.scheduled.iter().any(|s| *s) && !site.cluster.hosts.is_empty() {
        out.push(
            Diagnostic::warning("build::empty-selection", "the scheduler selection names no host: the scheduler lists are empty")
                .help("check `--scheduler-appliance`/`--scheduler-query` against `host list`"),
        );
    }
}

fn addresses(c: &Cluster, out: &mut Vec<Diagnostic>) {
    let mut macs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut ips: BTreeMap<IpAddr, Vec<String>> = BTreeMap::new();
    for h in &c.hosts {
        for i in &h.interfaces {
            let who = format!("{} {}", h.name, i.device);
            // Messages name a BMC as such; `what` leads with it.
            let what = if i.is_bmc() { format!("BMC `{who}`") } else { format!("interface `{who}`") };
            let owner = if i.is_bmc() { what.clone() } else { format!("`{who}`") };
            if let Some(mac) = &i.mac {
                match crate::facts::addr::parse_mac(mac) {
                    Ok(m) => macs.entry(m).or_default().push(owner.clone()),
                    Err(_) => out.push(
                        Diagnostic::error("build::bad-address", format!("{what} has a malformed MAC address `{mac}`"))
                            .help(format!("fix it with `interface remove {}` and `interface add ... --mac`", h.name)),
                    ),
                }
            }
            let net = i.network.as_deref().and_then(|n| c.network(n));
            match (&i.ip, i.addr()) {
                (None, _) => {
                    // A MAC and no address anywhere: the host boots and nothing answers it.
                    // A BMC without an address is the BMC check's (`build::bmc-without-address`).
                    if i.is_bmc() {
                        continue;
                    }
                    if i.mac.is_some() && net.is_none() && h.interfaces.iter().filter(|j| !j.is_bmc()).all(|j| j.ip.is_none()) {
                        out.push(
                            Diagnostic::error(
                                "build::mac-without-address",
                                format!("host `{}` has a MAC (interface `{who}`) but no IP address on any network", h.name),
                            )
                            .help(format!(
                                "give it an address: `host allocate {}` allocates one (`host allocate` alone, every host without one), `host set {} --ip IP` sets one; or remove the MAC",
                                h.name, h.name
                            )),
                        );
                    }
                    if let (Some(_), Some(n)) = (&i.mac, net)
                        && n.dhcp
                    {
                        out.push(
                            Diagnostic::error(
                                "build::mac-without-address",
                                format!("interface `{who}` has a MAC on network `{}`, which serves DHCP, but no IP address", n.name),
                            )
                            .help(format!(
                                "give it a fixed address (`interface set {} {} --ip IP`), or remove its MAC",
                                h.name, i.device
                            )),
                        );
                    }
                }
                (Some(text), None) => out.push(
                    Diagnostic::error("build::bad-address", format!("{what} has a malformed IP address `{text}`"))
                        .help("write an address such as `10.1.255.254`"),
                ),
                (Some(_), Some(ip)) => {
                    ips.entry(ip).or_default().push(owner.clone());
                    match net {
                        Some(n) if is_usable(&n.cidr, ip) => {}
                        Some(n) => out.push(
                            Diagnostic::error(
                                "build::ip-outside-network",
                                format!("{what} has address {ip}, outside its network `{}` ({})", n.name, n.cidr),
                            )
                            .help(format!("use a host address inside {} (not its network or broadcast address)", n.cidr)),
                        ),
                        None => out.push(
                            Diagnostic::error("build::ip-outside-network", format!("{what} has address {ip} but no network"))
                                .help("put the interface on a network (`network list` shows them)"),
                        ),
                    }
                }
            }
        }
    }
    for (mac, users) in macs.into_iter().filter(|(_, u)| u.len() > 1) {
        out.push(
            Diagnostic::error("build::duplicate-mac", format!("MAC address {mac} belongs to {}", list(&users)))
                .help("a MAC address identifies one interface: remove it from all but one"),
        );
    }
    for (ip, users) in ips.into_iter().filter(|(_, u)| u.len() > 1) {
        out.push(
            Diagnostic::error("build::duplicate-ip", format!("IP address {ip} belongs to {}", list(&users)))
                .help("give each interface its own address"),
        );
    }
}

/// Host names and aliases must be DNS labels when DNS, hosts or DHCP files name them.
fn names(site: &Site<'_>, out: &mut Vec<Diagnostic>) {
    if ![Kind::Dns, Kind::Hosts, Kind::Dhcpd, Kind::Kea].iter().any(|k| site.wants(*k)) {
        return;
    }
    let mut seen: HashMap<String, &str> = HashMap::new();
    for h in &site.cluster.hosts {
        for (name, what) in std::iter::once((h.name.as_str(), "host name")).chain(h.aliases.iter().map(|a| (a.as_str(), "alias"))) {
            if !is_dns_label(name) {
                out.push(
                    Diagnostic::error("build::bad-host-name", format!("{what} `{name}` of host `{}` is not a valid DNS label", h.name))
                        .help("use letters, digits and `-` (not first or last), at most 63 characters; rename the host or alias"),
                );
            }
            // DNS names are case-insensitive: `Compute-0-0` and `compute-0-0` are one name.
            if let Some(owner) = seen.insert(name.to_ascii_lowercase(), &h.name)
                && owner != h.name
            {
                out.push(
                    Diagnostic::error("build::bad-host-name", format!("`{name}` names both host `{owner}` and host `{}`", h.name))
                        .help("a name (host name or alias) must name one host"),
                );
            }
        }
    }
}

fn boot(site: &Site<'_>, out: &mut Vec<Diagnostic>) {
    let c = site.cluster;
    let pxe = site.wants(Kind::Pxe) || site.wants(Kind::Dhcpd) || site.wants(Kind::Kea);
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    for (i, h) in c.hosts.iter().enumerate() {
        let has_mac = h.boot_macs().next().is_some();
        if !has_mac || !pxe {
            continue;
        }
        let action = h.next_action();
        match c.boot_actions.get(action) {
            None => out.push(
                Diagnostic::error("build::unknown-boot-action", format!("host `{}` boots `{action}`, which is not a boot action", h.name))
                    .help("list boot actions with `bootaction list`, add one with `bootaction add`"),
            ),
            Some(b) if b.kernel.trim().is_empty() && reported.insert(action) => out.push(
                Diagnostic::error(
                    "build::boot-action-without-kernel",
                    format!("boot action `{action}` has no kernel (used by host `{}`)", h.name),
                )
                .help(format!(
                    "set one: `bootaction add {action} --kernel PATH --initrd PATH --args ...` (or `localboot 0` to boot the local disk)"
                )),
            ),
            Some(_) => {}
        }
        if !c.distributions.contains_key(&h.distribution) {
            out.push(
                Diagnostic::error("build::unknown-distribution", format!("host `{}` has no known distribution to install", h.name)).help(
                    "give it one with `host set HOST --distribution NAME` (`distribution list` shows them, `distribution add` adds one)",
                ),
            );
        }
        if site.server(i).is_none() && reported.insert("") {
            out.push(
                Diagnostic::error("build::no-install-server", format!("host `{}` has no install server to boot from", h.name))
                    .help("add one with `server add NAME IP`, or give the `private` network a gateway or a frontend host an address"),
            );
        }
    }
}

/// Every host's appliance exists and, when kickstarts are built, has its root node.
fn roots(c: &Cluster, has_root: &dyn Fn(&str, &str) -> bool, out: &mut Vec<Diagnostic>) {
    let mut used: BTreeMap<&str, &str> = BTreeMap::new();
    for h in &c.hosts {
        used.entry(h.appliance.as_str()).or_insert(h.name.as_str());
    }
    for (appliance, host) in used {
        let Some(a) = c.appliances.get(appliance) else {
            out.push(
                Diagnostic::error("build::unknown-appliance", format!("host `{host}` has no known appliance"))
                    .help("give it one with `host set HOST --appliance NAME` (`appliance list` shows them)"),
            );
            continue;
        };
        if a.kickstartable && !has_root(&a.graph, &a.root) {
            out.push(
                Diagnostic::error(
                    "build::missing-root",
                    format!(
                        "appliance `{appliance}` (of host `{host}`) has root node `{}`, which graph `{}` does not have",
                        a.root, a.graph
                    ),
                )
                .help(format!("add `nodes/{}.xml` to a framework layer, or point the appliance at an existing root node", a.root)),
            );
        }
    }
}

fn list(users: &[String]) -> String {
    users.join(" and ")
}
