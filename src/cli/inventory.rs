//! The inventory subcommands: `appliance`, `network`, `interface`, `boot`, `server`,
//! `distribution` and `bootaction`, and the table
//! and JSON output every cluster-database subcommand prints with. [I/O]

use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::cluster::{
    Access, AliasCmd, ApplianceCmd, BootCmd, BootactionCmd, Change, DistributionCmd, InterfaceArgs, InterfaceCmd, JsonArg, NetworkCmd,
    ServerCmd, facts_error, said,
};
use super::{EXIT_OK, Ui};
use crate::facts::{self, ApplianceSpec, Boot, FactsError, InterfaceSpec, NetworkSpec, Target};

pub(super) fn appliance(ui: &mut Ui, path: &Path, cmd: ApplianceCmd) -> i32 {
    let mut db = open_db_or_return!(ui, path, Access::of(matches!(cmd, ApplianceCmd::Add { .. }), matches!(cmd, ApplianceCmd::List(_))));
    match cmd {
        ApplianceCmd::Add { name, graph, root, name_policy, ip_policy, network, first_rank, not_kickstartable, said: s } => {
            let first_rank = first_rank.unwrap_or(if ip_policy == facts::appliance::COUNTDOWN { 0 } else { 1 });
            let spec = ApplianceSpec {
                root: root.unwrap_or_else(|| name.clone()),
                name,
                graph,
                kickstartable: !not_kickstartable,
                name_policy,
                ip_policy,
                first_rank,
                network,
            };
            let r = db.add_appliance(&spec).map(|()| {
                Change::new("added", "appliance", &spec.name).with("root", Some(&spec.root)).with("network", Some(&spec.network))
            });
            said(ui, &s, r)
        }
        ApplianceCmd::List(JsonArg { json }) => match db.appliances() {
            Ok(list) => listing(
                json,
                &list,
                |a| json!({"name": a.name, "graph": a.graph, "root": a.root, "kickstartable": a.kickstartable, "name_policy": a.name_policy, "ip_policy": a.ip_policy, "network": a.network, "first_rank": a.first_rank}),
                &["NAME", "GRAPH", "ROOT", "KICKSTART", "NAMES", "IPS", "NETWORK"],
                |a| {
                    let yes = if a.kickstartable { "yes" } else { "no" };
                    vec![
                        a.name.clone(),
                        a.graph.clone(),
                        a.root.clone(),
                        yes.into(),
                        a.name_policy.clone(),
                        a.ip_policy.clone(),
                        a.network.clone(),
                    ]
                },
            ),
            Err(e) => facts_error(ui, &e),
        },
    }
}

pub(super) fn network(ui: &mut Ui, path: &Path, cmd: NetworkCmd) -> i32 {
    let mut db = open_db_or_return!(ui, path, Access::of(matches!(cmd, NetworkCmd::Add { .. }), matches!(cmd, NetworkCmd::List(_))));
    match cmd {
        NetworkCmd::Add { name, cidr, zone, mtu, gateway, dns, dhcp, said: s } => {
            let spec = NetworkSpec { zone: zone.unwrap_or_else(|| name.clone()), name, cidr, mtu, gateway, dns_servers: dns, dhcp };
            let r = db.add_network(&spec).and_then(|()| db.network(&spec.name)).map(|n| network_change("added", &n));
            said(ui, &s, r)
        }
        NetworkCmd::Set { name, cidr, zone, mtu, gateway, dns, dhcp, said: s } => {
            if cidr.is_none() && zone.is_none() && mtu.is_none() && gateway.is_none() && dns.is_none() && dhcp.is_none() {
                return super::cluster::nothing_to_set(ui, &format!("network set {name}"), "`--cidr 10.77.0.0/24` or `--mtu 9000`");
            }
            let change = facts::NetworkChange { zone, mtu, gateway: gateway.clone(), dns_servers: dns.clone(), dhcp };
            let Some(cidr) = cidr else {
                let r = db.set_network(&name, &change).and_then(|()| db.network(&name)).map(|n| network_change("changed", &n));
                return said(ui, &s, r);
            };
            match db.renumber_network(&name, &facts::Renumber { cidr, gateway, dns_servers: dns }, &change) {
                Ok(moved) => {
                    let mut out = std::io::stdout().lock();
                    for m in moved.iter().filter(|m| m.old != m.new) {
                        if writeln!(out, "moved {} {} -> {}", m.owner, m.old, m.new).is_err() {
                            break;
                        }
                    }
                    EXIT_OK
                }
                Err(e) => facts_error(ui, &e),
            }
        }
        NetworkCmd::Remove { name, said: s } => said(ui, &s, db.remove_network(&name).map(|()| Change::new("removed", "network", name))),
        NetworkCmd::List(JsonArg { json }) => match db.networks() {
            Ok(list) => {
                let ips = |ips: &[std::net::IpAddr]| ips.iter().map(|i| i.to_string()).collect::<Vec<_>>();
                listing(
                    json,
                    &list,
                    |n| json!({"name": n.name, "cidr": n.cidr.to_string(), "zone": n.zone, "mtu": n.mtu, "gateway": n.gateway.map(|g| g.to_string()), "dns_servers": ips(&n.dns_servers), "dhcp": n.dhcp}),
                    &["NAME", "CIDR", "ZONE", "MTU", "GATEWAY", "DNS", "DHCP"],
                    |n| {
                        let gateway = n.gateway.map(|g| g.to_string()).unwrap_or_default();
                        let dhcp = if n.dhcp { "yes" } else { "no" };
                        vec![
                            n.name.clone(),
                            n.cidr.to_string(),
                            n.zone.clone(),
                            n.mtu.to_string(),
                            gateway,
                            ips(&n.dns_servers).join(","),
                            dhcp.into(),
                        ]
                    },
                )
            }
            Err(e) => facts_error(ui, &e),
        },
    }
}

pub(super) fn interface(ui: &mut Ui, path: &Path, cmd: InterfaceCmd) -> i32 {
    let mut db = open_db_or_return!(ui, path, Access::of(false, matches!(cmd, InterfaceCmd::List { .. })));
    match cmd {
        InterfaceCmd::Add(InterfaceArgs { host, device, mac, ip, network, primary, said: s }) => {
            let spec = InterfaceSpec { host, device, mac, ip, network, primary };
            let r = db.add_interface(&spec).and_then(|()| interface_change(&db, "added", &spec.host, &spec.device));
            said(ui, &s, r)
        }
        InterfaceCmd::Set(InterfaceArgs { host, device, mac, ip, network, primary, said: s }) => {
            if mac.is_none() && ip.is_none() && network.is_none() && !primary {
                return super::cluster::nothing_to_set(ui, &format!("interface set {host} {device}"), "`--ip 10.1.255.250` or `--primary`");
            }
            let r = db
                .set_interface(&facts::InterfaceChange { host: host.clone(), device: Some(device.clone()), mac, ip, network, primary })
                .and_then(|()| interface_change(&db, "changed", &host, &device));
            said(ui, &s, r)
        }
        InterfaceCmd::Remove { host, device, said: s } => {
            said(ui, &s, db.remove_interface(&host, &device).map(|()| Change::new("removed", "interface", format!("{host} {device}"))))
        }
        InterfaceCmd::List { host, json } => match db.interfaces(host.as_deref()) {
            Ok(list) => listing(
                json,
                &list,
                |i| json!({"host": i.host, "device": i.device, "mac": i.mac, "ip": i.ip, "network": i.network, "primary": i.primary}),
                &["HOST", "DEVICE", "MAC", "IP", "NETWORK", "PRIMARY"],
                |i| {
                    let or_empty = |v: &Option<String>| v.clone().unwrap_or_default();
                    let primary = if i.primary { "yes" } else { "" };
                    vec![i.host.clone(), i.device.clone(), or_empty(&i.mac), or_empty(&i.ip), or_empty(&i.network), primary.into()]
                },
            ),
            Err(e) => facts_error(ui, &e),
        },
    }
}

pub(super) fn alias(ui: &mut Ui, path: &Path, cmd: AliasCmd) -> i32 {
    let mut db = open_db_or_return!(ui, path, Access::of(false, matches!(cmd, AliasCmd::List { .. })));
    match cmd {
        AliasCmd::Add { host, alias, said: s } => {
            said(ui, &s, db.add_alias(&host, &alias).map(|()| Change::new("added", "alias", alias).with("host", Some(host))))
        }
        AliasCmd::Remove { host, alias, said: s } => {
            said(ui, &s, db.remove_alias(&host, &alias).map(|()| Change::new("removed", "alias", alias).with("host", Some(host))))
        }
        AliasCmd::List { host, json } => {
            let list = match &host {
                Some(h) => db.aliases(h).map(|a| a.into_iter().map(|a| (h.clone(), a)).collect()),
                None => db.all_aliases(),
            };
            match list {
                Ok(list) => {
                    listing(json, &list, |(h, a)| json!({"host": h, "alias": a}), &["HOST", "ALIAS"], |(h, a)| vec![h.clone(), a.clone()])
                }
                Err(e) => facts_error(ui, &e),
            }
        }
    }
}

pub(super) fn boot(ui: &mut Ui, path: &Path, cmd: BootCmd) -> i32 {
    let mut db = open_db_or_return!(ui, path, Access::Write);
    match cmd {
        BootCmd::Set { host, action, reboot, run, said: s } => {
            let b = match action.as_str() {
                "install" => Boot::Install,
                "os" => Boot::Os,
                other => {
                    return facts_error(ui, &FactsError::bad_value("boot action", other, "use `install` or `os`"));
                }
            };
            let set = said(ui, &s, db.set_boot(&host, b).map(|()| Change::new("set", "boot", &host).with("action", Some(action))));
            if set != EXIT_OK || !reboot {
                return set;
            }
            super::power::act(ui, &db, &[host], &run.options(crate::power::Operation::Cycle), s.json, false)
        }
    }
}

pub(super) fn server(ui: &mut Ui, path: &Path, cmd: ServerCmd) -> i32 {
    let mut db = open_db_or_return!(ui, path, Access::of(matches!(cmd, ServerCmd::Add { .. }), matches!(cmd, ServerCmd::List(_))));
    match cmd {
        ServerCmd::Add { name, ip, url, said: s } => {
            let r = db.add_server(&name, &ip, url.as_deref()).and_then(|()| db.servers()).map(|all| {
                let url = all.into_iter().find(|v| v.name == name).map(|v| v.url);
                Change::new("added", "server", name).with("ip", Some(ip)).with("url", url)
            });
            said(ui, &s, r)
        }
        ServerCmd::Remove { name, said: s } => said(ui, &s, db.remove_server(&name).map(|()| Change::new("removed", "server", name))),
        ServerCmd::List(JsonArg { json }) => match db.servers() {
            Ok(list) => listing(
                json,
                &list,
                |s| json!({"name": s.name, "ip": s.ip, "url": s.url}),
                &["NAME", "IP", "URL"],
                |s| vec![s.name.clone(), s.ip.clone(), s.url.clone()],
            ),
            Err(e) => facts_error(ui, &e),
        },
    }
}

pub(super) fn distribution(ui: &mut Ui, path: &Path, cmd: DistributionCmd) -> i32 {
    let mut db =
        open_db_or_return!(ui, path, Access::of(matches!(cmd, DistributionCmd::Add { .. }), matches!(cmd, DistributionCmd::List(_))));
    match cmd {
        DistributionCmd::Add { name, release, url, said: s } => {
            let d = facts::Distribution { name, os_release: release, url };
            let r = db
                .add_distribution(&d)
                .map(|()| Change::new("added", "distribution", &d.name).with("release", Some(&d.os_release)).with("url", Some(&d.url)));
            said(ui, &s, r)
        }
        DistributionCmd::List(JsonArg { json }) => match db.distributions() {
            Ok(list) => listing(
                json,
                &list,
                |d| json!({"name": d.name, "release": d.os_release, "url": d.url}),
                &["NAME", "RELEASE", "URL"],
                |d| vec![d.name.clone(), d.os_release.clone(), d.url.clone()],
            ),
            Err(e) => facts_error(ui, &e),
        },
    }
}

pub(super) fn bootaction(ui: &mut Ui, path: &Path, cmd: BootactionCmd) -> i32 {
    let mut db = open_db_or_return!(ui, path, Access::of(matches!(cmd, BootactionCmd::Add { .. }), matches!(cmd, BootactionCmd::List(_))));
    match cmd {
        BootactionCmd::Add { name, kernel, initrd, args, said: s } => {
            if kernel.trim().is_empty() {
                return facts_error(ui, &FactsError::bad_value("kernel", kernel, "name a kernel path, or `localboot 0`"));
            }
            let b = facts::BootAction { name, kernel, initrd, args };
            let r = db.set_boot_action(&b).map(|()| Change::new("set", "bootaction", &b.name).with("kernel", Some(&b.kernel)));
            said(ui, &s, r)
        }
        BootactionCmd::List(JsonArg { json }) => match db.boot_actions() {
            Ok(list) => listing(
                json,
                &list,
                |b| json!({"name": b.name, "kernel": b.kernel, "initrd": b.initrd, "args": b.args}),
                &["NAME", "KERNEL", "INITRD", "ARGS"],
                |b| vec![b.name.clone(), b.kernel.clone(), b.initrd.clone(), b.args.clone()],
            ),
            Err(e) => facts_error(ui, &e),
        },
    }
}

/// A network as a [`Change`].
fn network_change(action: &'static str, n: &facts::Network) -> Change {
    Change::new(action, "network", &n.name)
        .with("cidr", Some(n.cidr))
        .with("zone", Some(&n.zone))
        .with("mtu", Some(n.mtu))
        .with("gateway", n.gateway)
        .with("dhcp", Some(n.dhcp))
}

/// Interface `device` of `host` as a [`Change`].
fn interface_change(db: &facts::Db, action: &'static str, host: &str, device: &str) -> facts::Result<Change> {
    let all = db.interfaces(Some(host))?;
    let i = all.iter().find(|i| i.device == device);
    Ok(Change::new(action, "interface", format!("{host} {device}"))
        .with("ip", i.and_then(|i| i.ip.as_ref()))
        .with("mac", i.and_then(|i| i.mac.as_ref()))
        .with("network", i.and_then(|i| i.network.as_ref())))
}

pub(super) fn print_hosts(hosts: &[facts::Host], json: bool) -> i32 {
    listing(
        json,
        hosts,
        |h| {
            json!({
                "name": h.name, "appliance": h.appliance, "rack": h.rack, "rank": h.rank, "cpus": h.cpus,
                "arch": h.arch, "os": h.os, "distribution": h.distribution, "boot": h.boot.as_str(),
                "ip": h.ip, "mac": h.mac, "network": h.network, "interface": h.device, "comment": h.comment,
            })
        },
        &["NAME", "APPLIANCE", "RACK", "RANK", "CPUS", "IP", "MAC", "BOOT"],
        |h| {
            let or_empty = |v: &Option<String>| v.clone().unwrap_or_default();
            vec![
                h.name.clone(),
                h.appliance.clone(),
                h.rack.to_string(),
                h.rank.to_string(),
                h.cpus.to_string(),
                or_empty(&h.ip),
                or_empty(&h.mac),
                h.boot.as_str().to_string(),
            ]
        },
    )
}

/// What every `list` command prints: a JSON array (`--json`), or a table with a header.
pub(super) fn listing<T>(
    json: bool,
    items: &[T],
    to_json: impl Fn(&T) -> serde_json::Value,
    header: &[&str],
    to_row: impl Fn(&T) -> Vec<String>,
) -> i32 {
    if json {
        print_json(&items.iter().map(to_json).collect::<Vec<_>>());
    } else {
        table(header, &items.iter().map(to_row).collect::<Vec<_>>());
    }
    EXIT_OK
}

pub(super) fn target_name(t: &Target) -> String {
    match t {
        Target::Global => String::new(),
        Target::Os(s) | Target::Appliance(s) | Target::Host(s) => s.clone(),
        Target::Rack(r) => r.to_string(),
    }
}

/// Print JSON on standard output (a closed pipe, as in `| head`, just ends the output).
pub(super) fn print_json<T: serde::Serialize>(v: &T) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", serde_json::to_string_pretty(v).expect("JSON of strings"));
}

/// Print rows under a header, columns padded to their widest cell.
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        s.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for r in rows {
        let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
    }
}
