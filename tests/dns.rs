//! `hosts` and the DNS zones, checked by the programs that consume them: every zone loads in
//! `named-checkzone` (strict), a real `named` on 127.0.0.1 serves the generated `named.conf`
//! fragment and `dig` finds every host's address and its PTR, and glibc resolves the `hosts`
//! file (bind-mounted over /etc/hosts in a private mount namespace).
//!
//! Two clusters: the bundled example, and a richer one with four networks (a /16, a /20, a
//! /24 and an IPv6 /64), hosts with several interfaces, aliases, a host without an address,
//! a derived name that collides with a host's name, and two install servers that are not
//! hosts.
//!
//! `BLESS=1 cargo test --test dns` rewrites the golden files under `tests/expected/dns/`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rocks_compile::emit::{dns, hosts};
use rocks_compile::facts::{Boot, Db, HostSpec, InterfaceSpec, Network, NetworkSpec};
use rocks_compile::model::{Cluster, HostFacts, Iface};
use rocks_compile::plan::{BuildOptions, Kind, Site};

// ---------------------------------------------------------------------------------------------
// The clusters and what they must publish
// ---------------------------------------------------------------------------------------------

/// One published address: short name, zone, address.
type Entry = (&'static str, &'static str, &'static str);

/// The example cluster: every host on `private` (zone `local`), the frontend serves DNS.
const EXAMPLE: &[Entry] = &[
    ("cluster", "local", "10.1.1.1"),
    ("compute-0-0", "local", "10.1.255.254"),
    ("compute-0-1", "local", "10.1.255.253"),
    ("compute-1-0", "local", "10.1.255.252"),
    ("login-0-0", "local", "10.1.255.200"),
    ("nas-0-0", "local", "10.1.255.100"),
];

/// What the rich cluster publishes (see [`rich_db`]).
const RICH: &[Entry] = &[
    ("fe", "local", "10.1.1.1"),
    ("fe-ib0", "ib.cluster", "10.2.16.1"),
    ("fe-eth1", "mgmt", "192.168.7.1"),
    ("compute-0-0", "local", "10.1.255.254"),
    ("compute-0-0-ib0", "ib.cluster", "10.2.31.254"),
    ("compute-0-0-eth0-100", "mgmt", "192.168.7.100"),
    ("compute-0-1", "local", "10.1.255.253"),
    // `compute-0-1-ib0` is a host, so compute-0-1's ib0 gets the next free name.
    ("compute-0-1-ib0", "local", "10.1.255.100"),
    ("compute-0-1-ib0-2", "ib.cluster", "10.2.17.5"),
    ("login-0-0", "local", "10.1.255.200"),
    ("login-0-0-eth1", "v6.cluster", "fd00:1::10"),
    ("nas-0-0", "mgmt", "192.168.7.10"),
    // Install servers that are not hosts.
    ("is-0", "local", "10.1.1.2"),
    ("is-1", "local", "10.1.1.3"),
];

/// Aliases of the rich cluster: (alias, zone, host).
const RICH_ALIASES: &[Entry] = &[("login", "local", "login-0-0"), ("www", "local", "login-0-0"), ("storage", "mgmt", "nas-0-0")];

/// The name server of the rich cluster (its first install server).
const RICH_NS: (&str, &str) = ("is-0.local", "10.1.1.2");

fn net(name: &str, cidr: &str, zone: &str, gateway: Option<&str>, dhcp: bool) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        cidr: cidr.into(),
        zone: zone.into(),
        mtu: 1500,
        gateway: gateway.map(Into::into),
        dns_servers: vec![],
        dhcp,
    }
}

fn host(name: &str, appliance: &str, mac: Option<&str>, ip: Option<&str>, network: Option<&str>) -> HostSpec {
    HostSpec { mac: mac.map(Into::into), ip: ip.map(Into::into), network: network.map(Into::into), ..HostSpec::new(name, appliance) }
}

fn iface(host: &str, device: &str, ip: &str, network: &str) -> InterfaceSpec {
    InterfaceSpec {
        host: host.into(),
        device: device.into(),
        mac: None,
        ip: Some(ip.into()),
        network: Some(network.into()),
        primary: false,
    }
}

/// Networks `private` 10.1.0.0/16 (`local`), `ib` 10.2.16.0/20 (`ib.cluster`, no DHCP),
/// `mgmt` 192.168.7.0/24 (`mgmt`), `v6` fd00:1::/64 (`v6.cluster`); install servers `is-0`
/// and `is-1`; the hosts of [`RICH`], plus `spare-0-0` without an address.
fn rich_db(dir: &Path) -> Db {
    let mut db = Db::open(dir.join("cluster.db")).unwrap();
    db.add_network(&net("ib", "10.2.16.0/20", "ib.cluster", None, false)).unwrap();
    db.add_network(&net("mgmt", "192.168.7.0/24", "mgmt", Some("192.168.7.254"), true)).unwrap();
    db.add_network(&net("v6", "fd00:1::/64", "v6.cluster", None, false)).unwrap();
    let hosts = [
        host("fe", "frontend", Some("52:54:00:00:01:01"), Some("10.1.1.1"), None),
        host("compute-0-0", "compute", Some("52:54:00:00:00:01"), Some("10.1.255.254"), None),
        host("compute-0-1", "compute", Some("52:54:00:00:00:02"), Some("10.1.255.253"), None),
        host("compute-0-1-ib0", "compute", Some("52:54:00:00:00:03"), Some("10.1.255.100"), None),
        host("login-0-0", "login", Some("52:54:00:00:02:01"), Some("10.1.255.200"), None),
        host("nas-0-0", "nas", None, Some("192.168.7.10"), Some("mgmt")),
        host("spare-0-0", "compute", Some("52:54:00:00:00:09"), None, None),
    ];
    for h in &hosts {
        db.add_host(h).unwrap();
    }
    for i in [
        iface("fe", "ib0", "10.2.16.1", "ib"),
        iface("fe", "eth1", "192.168.7.1", "mgmt"),
        iface("compute-0-0", "ib0", "10.2.31.254", "ib"),
        iface("compute-0-0", "eth0.100", "192.168.7.100", "mgmt"),
        iface("compute-0-1", "ib0", "10.2.17.5", "ib"),
        iface("login-0-0", "eth1", "fd00:1::10", "v6"),
    ] {
        db.add_interface(&i).unwrap();
    }
    for (alias, _, h) in RICH_ALIASES {
        db.add_alias(h, alias).unwrap();
    }
    db.add_server("is-1", "10.1.1.3", None).unwrap();
    db.add_server("is-0", "10.1.1.2", None).unwrap();
    db
}

// ---------------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------------

/// `hosts` and the DNS files of `cluster`: path -> text.
fn build(cluster: &Cluster) -> BTreeMap<String, String> {
    let o = BuildOptions::default();
    let site = Site::new(cluster, &o);
    let mut out = BTreeMap::new();
    for a in hosts::artifacts(&site).unwrap().into_iter().chain(dns::artifacts(&site).unwrap()) {
        assert!(!a.secret, "{} holds no secret", a.path);
        assert_eq!(a.kind, if a.path == "hosts" || a.path == "cluster/networks" { Kind::Hosts } else { Kind::Dns });
        let prev = out.insert(a.path.clone(), String::from_utf8(a.bytes).unwrap());
        assert!(prev.is_none(), "{} made twice", a.path);
    }
    out
}

/// Write `files` under `dir`.
fn write_tree(dir: &Path, files: &BTreeMap<String, String>) {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// (zone, file) of every `zone` statement of the `named.conf` fragment.
fn conf_zones(files: &BTreeMap<String, String>) -> Vec<(String, String)> {
    files["dns/named.conf"]
        .lines()
        .filter_map(|l| l.strip_prefix("zone \""))
        .map(|l| {
            let (zone, rest) = l.split_once('"').unwrap();
            let file = rest.split('"').nth(1).unwrap();
            (zone.to_string(), file.to_string())
        })
        .collect()
}

/// The SOA serial of a zone file.
fn serial(zone_text: &str) -> u32 {
    let line = zone_text.lines().find(|l| l.contains("; serial")).expect("a serial line");
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// The reverse-lookup name of `ip` (absolute).
fn reverse(ip: &str) -> String {
    match ip.parse::<IpAddr>().unwrap() {
        IpAddr::V4(v4) => format!("{}.in-addr.arpa.", v4.octets().iter().rev().map(u8::to_string).collect::<Vec<_>>().join(".")),
        IpAddr::V6(v6) => {
            let nibbles: Vec<String> = v6.octets().iter().flat_map(|b| [b >> 4, b & 0xf]).map(|n| format!("{n:x}")).collect();
            format!("{}.ip6.arpa.", nibbles.into_iter().rev().collect::<Vec<_>>().join("."))
        }
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

// ---------------------------------------------------------------------------------------------
// named-checkzone
// ---------------------------------------------------------------------------------------------

/// Strict `named-checkzone` of one file: check-names, NS, MX and SRV problems fail.
fn checkzone(tool: &Path, zone: &str, file: &Path) -> Output {
    Command::new(tool)
        .args(["-i", "full", "-k", "fail", "-n", "fail", "-m", "fail", "-M", "fail", "-S", "fail", zone])
        .arg(file)
        .output()
        .unwrap()
}

/// Every zone of `files` passes `named-checkzone`, which loads the serial the file states.
fn check_every_zone(files: &BTreeMap<String, String>) {
    let Some(tool) = common::tool("named-checkzone") else { return };
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), files);
    let zones = conf_zones(files);
    assert!(!zones.is_empty());
    let listed: BTreeSet<String> = zones.iter().map(|(_, f)| format!("dns/{f}")).collect();
    let written: BTreeSet<String> = files.keys().filter(|p| p.starts_with("dns/db.")).cloned().collect();
    assert_eq!(listed, written, "named.conf declares exactly the zone files");
    for (zone, file) in zones {
        let out = checkzone(&tool, &zone, &dir.path().join("dns").join(&file));
        let msg = text(&out);
        assert!(out.status.success() && msg.contains("OK"), "named-checkzone {zone} {file}:\n{msg}\n{}", files[&format!("dns/{file}")]);
        let loaded = format!("zone {zone}/IN: loaded serial {}", serial(&files[&format!("dns/{file}")]));
        assert!(msg.contains(&loaded), "{file}: {msg}");
    }
}

#[test]
fn every_zone_of_the_example_passes_named_checkzone() {
    let dir = tempfile::tempdir().unwrap();
    check_every_zone(&build(&common::example_db(dir.path()).cluster().unwrap()));
}

#[test]
fn every_zone_of_the_rich_cluster_passes_named_checkzone() {
    let dir = tempfile::tempdir().unwrap();
    let files = build(&rich_db(dir.path()).cluster().unwrap());
    let zones: Vec<String> = conf_zones(&files).into_iter().map(|(z, _)| z).collect();
    let mut expected: Vec<String> = ["ib.cluster", "local", "mgmt", "v6.cluster", "1.10.in-addr.arpa"].map(String::from).to_vec();
    expected.extend((16..32).map(|o| format!("{o}.2.10.in-addr.arpa")));
    expected.push("7.168.192.in-addr.arpa".into());
    expected.push("0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa".into());
    assert_eq!(zones, expected, "forward zones by name, then a reverse zone per /24 of the /20, by address");
    check_every_zone(&files);
}

#[test]
fn named_checkzone_rejects_corrupted_zones() {
    let Some(tool) = common::tool("named-checkzone") else { return };
    let dir = tempfile::tempdir().unwrap();
    let files = build(&common::example_db(dir.path()).cluster().unwrap());
    let good = &files["dns/db.local"];
    let cases = [
        ("bad address", good.replacen("10.1.255.254", "10.1.255.354", 1), "bad dotted quad"),
        ("CNAME and other data", format!("{good}cluster\tIN\tCNAME\tnas-0-0.local.\n"), "CNAME and other data"),
        ("bad owner", format!("{good}bad_name\tIN\tA\t10.1.9.9\n"), "bad owner name"),
        ("NS without address", good.replace("cluster\tIN\tA\t10.1.1.1\n", ""), "has no address records"),
    ];
    for (what, zone, message) in cases {
        assert_ne!(&zone, good, "{what}: the corruption applies");
        let f = dir.path().join("db.local");
        std::fs::write(&f, &zone).unwrap();
        let out = checkzone(&tool, "local", &f);
        assert!(!out.status.success() && text(&out).contains(message), "{what}: named-checkzone accepted it or said:\n{}", text(&out));
    }
}

// ---------------------------------------------------------------------------------------------
// A real named
// ---------------------------------------------------------------------------------------------

/// A `named` started by a test; killed when dropped, even when the test fails.
struct NamedServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for NamedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP and TCP port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Run `named` in the foreground on `conf`, its messages into `log`.
fn spawn_named(named: &Path, conf: &Path, port: u16, log: PathBuf) -> NamedServer {
    let child = Command::new(named)
        .args(["-g", "-c"])
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    NamedServer { child, port, log }
}

/// Start `named` with the tree's `named.conf` fragment included from a full configuration
/// whose `directory` is the tree's `dns/` folder; wait until it answers for `zone`.
fn start_named(named: &Path, tree: &Path, zone: &str) -> NamedServer {
    let dns = tree.join("dns");
    for _attempt in 0..5 {
        let port = free_port();
        let conf = tree.join(format!("named-{port}.conf"));
        let log = tree.join(format!("named-{port}.log"));
        std::fs::write(
            &conf,
            format!(
                "options {{\n  directory \"{d}\";\n  listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  pid-file none;\n  \
                 session-keyfile none;\n  recursion no;\n  dnssec-validation no;\n}};\ncontrols {{ }};\ninclude \"{d}/named.conf\";\n",
                d = dns.display()
            ),
        )
        .unwrap();
        if let Some(check) = common::tool("named-checkconf") {
            let out = Command::new(check).arg("-z").arg(&conf).output().unwrap();
            assert!(out.status.success(), "named-checkconf -z:\n{}", text(&out));
        }
        let mut server = spawn_named(named, &conf, port, log);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if server.child.try_wait().unwrap().is_some() {
                break;
            }
            if !dig(&server, &[(zone, "SOA")]).is_empty() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(&server.log).unwrap_or_default();
        if !log.contains("address in use") {
            panic!("named did not start:\n{log}");
        }
    }
    panic!("no free port for named");
}

/// Ask `server` every (name, type) in one `dig` batch (`-x` as type: a reverse lookup of the
/// name); the answer sections: (owner, type) -> distinct data, all lower-case.
fn dig(server: &NamedServer, queries: &[(&str, &str)]) -> BTreeMap<(String, String), Vec<String>> {
    let tool = common::tool("dig").expect("dig");
    let mut batch = String::new();
    for (name, kind) in queries {
        if *kind == "-x" {
            writeln!(batch, "-x {name}").unwrap();
        } else {
            writeln!(batch, "{name} {kind}").unwrap();
        }
    }
    let file = server.log.with_extension("queries");
    std::fs::write(&file, batch).unwrap();
    let out = Command::new(tool)
        .args(["+noall", "+answer", "+norecurse", "+time=2", "+tries=2", "-p", &server.port.to_string(), "@127.0.0.1", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    let mut answers: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 5 && f[2] == "IN" {
            answers.entry((f[0].to_lowercase(), f[3].to_string())).or_default().insert(f[4..].join(" ").to_lowercase());
        }
    }
    answers.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect()
}

/// Serve the zones of `files` and check every entry forward and reverse, every alias, the
/// NS of every zone and every served serial; `absent` names must not resolve.
fn serve_and_check(files: &BTreeMap<String, String>, entries: &[Entry], aliases: &[Entry], ns: (&str, &str), absent: &[&str]) {
    let Some(named) = common::tool("named") else { return };
    let _ = common::tool("dig");
    let tree = tempfile::tempdir().unwrap();
    write_tree(tree.path(), files);
    let zones = conf_zones(files);
    let server = start_named(&named, tree.path(), &zones[0].0);

    let fqdn = |name: &str, zone: &str| format!("{name}.{zone}.");
    let a_type = |ip: &str| if ip.contains(':') { "AAAA" } else { "A" };
    let mut queries: Vec<(String, String)> = Vec::new();
    for (name, zone, ip) in entries {
        queries.push((fqdn(name, zone), a_type(ip).into()));
        queries.push((ip.to_string(), "-x".into()));
    }
    for (alias, zone, _) in aliases {
        queries.push((fqdn(alias, zone), "A".into()));
    }
    for (zone, _) in &zones {
        queries.push((format!("{zone}."), "SOA".into()));
        queries.push((format!("{zone}."), "NS".into()));
    }
    for name in absent {
        queries.push((name.to_string(), "A".into()));
    }
    let q: Vec<(&str, &str)> = queries.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let answers = dig(&server, &q);
    let get = |owner: &str, kind: &str| answers.get(&(owner.to_lowercase(), kind.to_string())).cloned().unwrap_or_default();

    let mut failures = Vec::new();
    for (name, zone, ip) in entries {
        let want = ip.parse::<IpAddr>().unwrap().to_string();
        let got = get(&fqdn(name, zone), a_type(ip));
        if got != [want.clone()] {
            failures.push(format!("{name}.{zone} {} -> {got:?}, want {want}", a_type(ip)));
        }
        let back = get(&reverse(ip), "PTR");
        if back != [fqdn(name, zone)] {
            failures.push(format!("PTR {ip} -> {back:?}, want {}", fqdn(name, zone)));
        }
    }
    for (alias, zone, host) in aliases {
        let target = entries.iter().find(|e| e.0 == *host).unwrap();
        let cname = get(&fqdn(alias, zone), "CNAME");
        if cname != [fqdn(target.0, target.1)] {
            failures.push(format!("{alias}.{zone} CNAME -> {cname:?}, want {}", fqdn(target.0, target.1)));
        }
        if get(&fqdn(target.0, target.1), "A").is_empty() {
            failures.push(format!("{alias}.{zone}: the CNAME's target has no A record in the answer"));
        }
    }
    for (zone, file) in &zones {
        let soa = get(&format!("{zone}."), "SOA");
        let want_serial = serial(&files[&format!("dns/{file}")]).to_string();
        if soa.len() != 1 || soa[0].split_whitespace().nth(2) != Some(want_serial.as_str()) {
            failures.push(format!("{zone} SOA {soa:?}, want serial {want_serial}"));
        }
        if get(&format!("{zone}."), "NS") != [format!("{}.", ns.0)] {
            failures.push(format!("{zone} NS {:?}, want {}.", get(&format!("{zone}."), "NS"), ns.0));
        }
    }
    if get(&format!("{}.", ns.0), "A") != [ns.1.to_string()] {
        failures.push(format!("the name server {} has no address {}", ns.0, ns.1));
    }
    for name in absent {
        if !get(name, "A").is_empty() {
            failures.push(format!("{name} resolves, but has no address"));
        }
    }
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(failures.is_empty(), "named on port {}:\n{}\n--- named log ---\n{log}", server.port, failures.join("\n"));
    assert!(!log.contains("not loaded due to errors"), "{log}");
}

#[test]
fn named_serves_the_example_forward_and_reverse() {
    let dir = tempfile::tempdir().unwrap();
    let files = build(&common::example_db(dir.path()).cluster().unwrap());
    serve_and_check(&files, EXAMPLE, &[], ("cluster.local", "10.1.1.1"), &["nohost.local."]);
}

#[test]
fn named_serves_the_rich_cluster_forward_and_reverse() {
    let dir = tempfile::tempdir().unwrap();
    let files = build(&rich_db(dir.path()).cluster().unwrap());
    serve_and_check(&files, RICH, RICH_ALIASES, RICH_NS, &["spare-0-0.local.", "compute-0-1-ib0.ib.cluster."]);
}

// ---------------------------------------------------------------------------------------------
// hosts through glibc
// ---------------------------------------------------------------------------------------------

/// Resolve every name and address through glibc with `hosts` bind-mounted over /etc/hosts in
/// a private mount namespace: name -> first address (asking `getent` database `ahostsv4`,
/// `ahostsv6` or `hosts`, as given), and address -> canonical name.
fn glibc_lookups(hosts: &str, names: &[(String, &str)], ips: &[String]) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let (Some(unshare), Some(_)) = (common::tool("unshare"), common::tool("getent")) else { return Default::default() };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hosts");
    std::fs::write(&file, hosts).unwrap();
    let mut script = format!("set -e\nmount --bind '{}' /etc/hosts\nset +e\n", file.display());
    for (n, database) in names {
        writeln!(script, "printf 'F %s %s\\n' '{n}' \"$(getent -s files {database} '{n}' | awk 'NR==1{{print $1}}')\"").unwrap();
    }
    for ip in ips {
        writeln!(script, "printf 'R %s %s\\n' '{ip}' \"$(getent -s files hosts '{ip}' | awk 'NR==1{{print $2}}')\"").unwrap();
    }
    let out = Command::new(unshare).args(["--mount", "sh", "-c", &script]).output().unwrap();
    assert!(out.status.success(), "unshare --mount: {}", text(&out));
    let (mut forward, mut back) = (BTreeMap::new(), BTreeMap::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let map = if f[0] == "F" { &mut forward } else { &mut back };
        map.insert(f[1].to_string(), f.get(2).unwrap_or(&"").to_string());
    }
    (forward, back)
}

/// glibc resolves every entry's FQDN and short name (and every alias) to its address, and
/// every address back to the FQDN; localhost is loopback; `absent` names do not resolve.
fn check_hosts(hosts: &str, entries: &[Entry], aliases: &[Entry], absent: &[&str]) {
    let mut want: BTreeMap<String, String> = BTreeMap::new();
    for (name, zone, ip) in entries {
        want.insert(format!("{name}.{zone}"), ip.to_string());
        want.insert(name.to_string(), ip.to_string());
    }
    for (alias, zone, host) in aliases {
        let ip = entries.iter().find(|e| e.0 == *host).unwrap().2;
        want.insert(format!("{alias}.{zone}"), ip.to_string());
        want.insert(alias.to_string(), ip.to_string());
    }
    want.insert("localhost".into(), "127.0.0.1".into());
    let mut names: Vec<(String, &str)> =
        want.iter().map(|(n, ip)| (n.clone(), if ip.contains(':') { "ahostsv6" } else { "ahostsv4" })).collect();
    names.extend(absent.iter().map(|s| (s.to_string(), "hosts")));
    let ips: Vec<String> = entries.iter().map(|e| e.2.to_string()).collect();
    let (forward, back) = glibc_lookups(hosts, &names, &ips);
    if forward.is_empty() {
        return; // the tools are missing and ROCKS_SKIP_VALIDATORS=1 said to go on
    }
    let mut failures = Vec::new();
    for (name, ip) in &want {
        if forward.get(name) != Some(ip) {
            failures.push(format!("{name} -> {:?}, want {ip}", forward.get(name)));
        }
    }
    for (name, zone, ip) in entries {
        let fqdn = format!("{name}.{zone}");
        if back.get(*ip) != Some(&fqdn) {
            failures.push(format!("{ip} -> {:?}, want {fqdn}", back.get(*ip)));
        }
    }
    for name in absent {
        if forward.get(*name).is_some_and(|ip| !ip.is_empty()) {
            failures.push(format!("{name} resolves to {}", forward[*name]));
        }
    }
    assert!(failures.is_empty(), "glibc with the generated hosts:\n{}\n--- hosts ---\n{hosts}", failures.join("\n"));
}

#[test]
fn glibc_resolves_the_example_hosts_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = build(&common::example_db(dir.path()).cluster().unwrap());
    check_hosts(&files["hosts"], EXAMPLE, &[], &["nohost"]);
}

#[test]
fn glibc_resolves_the_rich_hosts_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = build(&rich_db(dir.path()).cluster().unwrap());
    check_hosts(&files["hosts"], RICH, RICH_ALIASES, &["spare-0-0", "spare-0-0.local"]);
    let lines: Vec<&str> = files["hosts"].lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 2 + RICH.len(), "loopback, then one line per address:\n{}", files["hosts"]);
    let ips: Vec<IpAddr> = lines[2..].iter().map(|l| l.split('\t').next().unwrap().parse().unwrap()).collect();
    assert!(ips.windows(2).all(|w| w[0] < w[1]), "sorted by address: {ips:?}");
    assert!(lines.contains(&"10.1.255.200\tlogin-0-0.local login-0-0 login.local login www.local www"), "{lines:?}");
}

// ---------------------------------------------------------------------------------------------
// Serials, golden files, scale
// ---------------------------------------------------------------------------------------------

/// Move interface `device` of `host` to `ip`.
fn move_iface(c: &Cluster, host: &str, device: &str, ip: &str) -> Cluster {
    let mut c = c.clone();
    let h = c.hosts.iter_mut().find(|h| h.name == host).unwrap();
    h.interfaces.iter_mut().find(|i| i.device == device).unwrap().ip = Some(ip.into());
    c
}

/// The files that differ between two builds (both must have the same files).
fn changed(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> BTreeSet<String> {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    a.keys().filter(|k| a[*k] != b[*k]).cloned().collect()
}

#[test]
fn serials_change_exactly_with_the_records_of_their_zone() {
    let dir = tempfile::tempdir().unwrap();
    let c = rich_db(dir.path()).cluster().unwrap();
    let before = build(&c);
    assert_eq!(before, build(&c), "the same facts give the same bytes");

    let set = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<BTreeSet<_>>();
    let cases = [
        (
            move_iface(&c, "compute-0-1", "ib0", "10.2.18.5"),
            set(&["hosts", "dns/db.ib.cluster", "dns/db.17.2.10.in-addr.arpa", "dns/db.18.2.10.in-addr.arpa"]),
        ),
        (move_iface(&c, "compute-0-0", "eth0", "10.1.200.1"), set(&["hosts", "dns/db.local", "dns/db.1.10.in-addr.arpa"])),
        (move_iface(&c, "nas-0-0", "eth0", "192.168.7.11"), set(&["hosts", "dns/db.mgmt", "dns/db.7.168.192.in-addr.arpa"])),
    ];
    for (after, want) in cases {
        let after = build(&after);
        assert_eq!(changed(&before, &after), want);
        for path in want.iter().filter(|p| p.starts_with("dns/db.")) {
            assert_ne!(serial(&before[path]), serial(&after[path]), "{path}: new records, new serial");
        }
    }
    // Back to the old facts: back to the old serials.
    let there = move_iface(&c, "compute-0-1", "ib0", "10.2.18.5");
    assert_eq!(build(&move_iface(&there, "compute-0-1", "ib0", "10.2.17.5")), before);
}

#[test]
fn the_example_matches_the_golden_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = build(&common::example_db(dir.path()).cluster().unwrap());
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected/dns");
    if std::env::var_os("BLESS").is_some_and(|v| !v.is_empty() && v != "0") {
        let _ = std::fs::remove_dir_all(&expected);
        write_tree(&expected, &files);
        return;
    }
    let mut on_disk = BTreeMap::new();
    for e in walk(&expected) {
        let rel = e.strip_prefix(&expected).unwrap().to_string_lossy().replace('\\', "/");
        on_disk.insert(rel, std::fs::read_to_string(&e).unwrap());
    }
    assert_eq!(on_disk.keys().collect::<Vec<_>>(), files.keys().collect::<Vec<_>>(), "the same files (BLESS=1 to accept)");
    for (path, text) in &files {
        assert!(on_disk[path] == *text, "{path} differs from tests/expected/dns/{path} (BLESS=1 to accept):\n{text}");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e} (BLESS=1 to create)", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn kinds_not_wanted_make_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = common::example_db(dir.path()).cluster().unwrap();
    let o = BuildOptions { kinds: [Kind::Kickstart].into(), ..BuildOptions::default() };
    let site = Site::new(&c, &o);
    assert!(hosts::artifacts(&site).unwrap().is_empty());
    assert!(dns::artifacts(&site).unwrap().is_empty());
}

#[test]
fn zones_need_a_name_server_and_networks() {
    let network = |gateway: Option<&str>| Network {
        name: "private".into(),
        cidr: "10.1.0.0/16".parse().unwrap(),
        zone: "local".into(),
        mtu: 1500,
        gateway: gateway.map(|g| g.parse().unwrap()),
        dns_servers: vec![],
        dhcp: true,
    };
    let o = BuildOptions::default();
    let none = Cluster { networks: vec![network(None)], ..Cluster::default() };
    let e = dns::artifacts(&Site::new(&none, &o)).unwrap_err();
    assert!(e.to_string().contains("name server"), "{e}");
    // No host, but the gateway is the default install server: it names the zones' server.
    let gw = Cluster { networks: vec![network(Some("10.1.1.1"))], ..Cluster::default() };
    let files = build(&gw);
    assert!(files["dns/db.local"].contains("frontend\tIN\tA\t10.1.1.1\n"), "{}", files["dns/db.local"]);
    check_every_zone(&files);
    // No network: a fragment without zones.
    let empty = build(&Cluster::default());
    assert_eq!(empty.keys().collect::<Vec<_>>(), ["cluster/networks", "dns/named.conf", "hosts"]);
}

/// 100,000 hosts on a /14 (four reverse /16 zones): the hosts file and every zone are built
/// (the time is printed; speed is measured by `benches/build.sh`, not asserted here).
#[test]
fn a_hundred_thousand_hosts_build() {
    let n = 100_000u32;
    let base = u32::from(std::net::Ipv4Addr::new(10, 4, 0, 0));
    let hosts = (0..n)
        .map(|i| HostFacts {
            rack: i / 1000,
            rank: i % 1000,
            cpus: 64,
            boot: Boot::Os,
            interfaces: vec![Iface::primary("eth0", None, Some(std::net::Ipv4Addr::from(base + 10 + i).to_string()), Some("private"))],
            ..HostFacts::new(format!("compute-{}-{}", i / 1000, i % 1000), "compute")
        })
        .collect::<Vec<_>>();
    let mut hosts = hosts;
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    let network = Network {
        name: "private".into(),
        cidr: "10.4.0.0/14".parse().unwrap(),
        zone: "local".into(),
        mtu: 1500,
        gateway: Some("10.4.0.1".parse().unwrap()),
        dns_servers: vec![],
        dhcp: true,
    };
    let c = Cluster { networks: vec![network], hosts, ..Cluster::default() };
    let o = BuildOptions::default();
    let site = Site::new(&c, &o);
    let t = Instant::now();
    let h = hosts::artifacts(&site).unwrap();
    let hosts_time = t.elapsed();
    let t = Instant::now();
    let d = dns::artifacts(&site).unwrap();
    let dns_time = t.elapsed();
    eprintln!("100k hosts: hosts {hosts_time:?}, dns {dns_time:?} ({} files)", d.len());
    assert_eq!(h[0].bytes.iter().filter(|&&b| b == b'\n').count(), 3 + n as usize + 1, "header, loopback, hosts, gateway server");
    assert_eq!(d.len(), 1 + 1 + 4);
}

// ---------------------------------------------------------------------------------------------
// A secondary that transfers from the generated primary
// ---------------------------------------------------------------------------------------------

/// `named` listening on `port` with its `directory` and `rest` (zones, keys, controls), its
/// files in `dir`; returned once it answers `probe`.
fn start_named_with(named: &Path, dir: &Path, port: u16, directory: &Path, zones: &str, probe: &str) -> NamedServer {
    let conf = dir.join(format!("named-{port}.conf"));
    let log = dir.join(format!("named-{port}.log"));
    std::fs::write(
        &conf,
        format!(
            "options {{\n  directory \"{}\";\n  listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  pid-file none;\n  \
             session-keyfile none;\n  recursion no;\n  dnssec-validation no;\n  allow-transfer {{ 127.0.0.1; }};\n  notify no;\n}};\n{zones}",
            directory.display()
        ),
    )
    .unwrap();
    let mut server = spawn_named(named, &conf, port, log);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        assert!(server.child.try_wait().unwrap().is_none(), "named exited:\n{}", std::fs::read_to_string(&server.log).unwrap_or_default());
        if !dig(&server, &[(probe, "A")]).is_empty() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("named on port {port} never answered {probe}:\n{}", std::fs::read_to_string(&server.log).unwrap_or_default());
}

#[test]
fn a_secondary_transferring_from_the_generated_primary_picks_up_an_added_host() {
    let Some(named) = common::tool("named") else { return };
    let _ = common::tool("dig");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("cluster.db");
    let rc = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rocks-compile")).args(args).env("ROCKS_COMPILE_DB", &db).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    };
    let tree = d.join("tree");
    let build = || rc(&["build", "--only", "dns", "--out", tree.to_str().unwrap()]);
    rc(&["host", "add", "cluster", "--appliance", "frontend", "--ip", "10.1.1.1"]);
    rc(&["host", "add", "compute-0-0", "--appliance", "compute"]);
    build();
    let first = serial(&std::fs::read_to_string(tree.join("dns/db.local")).unwrap());
    // An unchanged build keeps the serial (and the file).
    build();
    assert_eq!(serial(&std::fs::read_to_string(tree.join("dns/db.local")).unwrap()), first);

    let (p_port, s_port) = (free_port(), free_port());
    let primary_zones = format!("controls {{ }};\ninclude \"{}\";\n", tree.join("dns/named.conf").display());
    let mut primary = start_named_with(&named, d, p_port, &tree.join("dns"), &primary_zones, "compute-0-0.local.");
    let sec = d.join("secondary");
    std::fs::create_dir(&sec).unwrap();
    // The secondary is told to check its primary with `rndc refresh` (its key and port).
    let key = d.join("rndc.key");
    let keygen = Command::new(common::tool("rndc-confgen").unwrap()).args(["-a", "-k", "rndc-key", "-c"]).arg(&key).output().unwrap();
    assert!(keygen.status.success(), "{}", text(&keygen));
    let c_port = free_port();
    let secondary_zones = format!(
        "include \"{}\";\ncontrols {{ inet 127.0.0.1 port {c_port} allow {{ 127.0.0.1; }} keys {{ \"rndc-key\"; }}; }};\n\
         zone \"local\" {{ type secondary; primaries {{ 127.0.0.1 port {p_port}; }}; file \"local.db\"; }};\n",
        key.display()
    );
    let secondary = start_named_with(&named, d, s_port, &sec, &secondary_zones, "compute-0-0.local.");

    // A host is added and the tree built again: the serial goes up by one.
    rc(&["host", "add", "compute-0-1", "--appliance", "compute"]);
    build();
    let second = serial(&std::fs::read_to_string(tree.join("dns/db.local")).unwrap());
    assert_eq!(second, first.wrapping_add(1).max(1), "the serial increases (RFC 1982)");
    drop(primary);
    primary = start_named_with(&named, d, p_port, &tree.join("dns"), &primary_zones, "compute-0-1.local.");
    // The secondary compares serials: the primary's is higher, so it transfers the zone
    // again and answers for the new host.
    let refresh = Command::new(common::tool("rndc").unwrap())
        .arg("-k")
        .arg(&key)
        .args(["-s", "127.0.0.1", "-p", &c_port.to_string(), "refresh", "local"])
        .output()
        .unwrap();
    assert!(refresh.status.success(), "rndc refresh: {}", text(&refresh));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = BTreeMap::new();
    while Instant::now() < deadline {
        got = dig(&secondary, &[("compute-0-1.local.", "A")]);
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        got.values().next().cloned(),
        Some(vec!["10.1.255.253".to_string()]),
        "the secondary did not pick up the new host:\n{}",
        std::fs::read_to_string(&secondary.log).unwrap_or_default()
    );
    drop(primary);
}

#[test]
fn bmcs_are_named_and_their_zones_pass_named_checkzone() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = common::example_db(dir.path());
    db.add_network(&net("mgmt", "10.2.0.0/16", "mgmt.cluster", None, true)).unwrap();
    let bmc = rocks_compile::facts::BmcSpec::of(Some("52:54:00:bb:00:01".into()), Some("10.2.0.1".into()), None);
    db.add_host(&HostSpec { bmc, ..host("compute-9-0", "compute", Some("52:54:00:09:00:00"), Some("10.1.9.0"), None) }).unwrap();
    let bmc = rocks_compile::facts::BmcSpec::of(None, Some("10.2.0.2".into()), None);
    db.add_host(&HostSpec { bmc, ..host("compute-9-1", "compute", None, Some("10.1.9.1"), None) }).unwrap();
    db.set_attr(&rocks_compile::facts::Target::Host("compute-9-1".into()), "bmc_name_pattern", "ipmi-{host}", false).unwrap();
    let files = build(&db.cluster().unwrap());
    let hosts = &files["hosts"];
    assert!(hosts.contains("\n10.2.0.1\tcompute-9-0-bmc.mgmt.cluster compute-9-0-bmc\n"), "{hosts}");
    assert!(hosts.contains("\n10.2.0.2\tipmi-compute-9-1.mgmt.cluster ipmi-compute-9-1\n"), "{hosts}");
    assert!(hosts.contains("\n10.1.9.0\tcompute-9-0.local compute-9-0\n"), "the host keeps its name: {hosts}");
    let zone = &files["dns/db.mgmt.cluster"];
    assert!(zone.contains("compute-9-0-bmc\tIN\tA\t10.2.0.1\n") && zone.contains("ipmi-compute-9-1\tIN\tA\t10.2.0.2\n"), "{zone}");
    check_every_zone(&files);
}
