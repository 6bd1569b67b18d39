//! A cluster on its own address plan: renumbered from the default 10.1.0.0/16, built, and
//! every output scanned for IPv4 addresses and networks. Each must belong to a network of
//! the database (or be loopback, a netmask, or `0.0.0.0`): no framework default address may
//! reach a host of the database. The kickstarts are also checked by `ksvalidator`.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use common::{ok, text};

fn bin(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rocks-compile"));
    c.env("ROCKS_COMPILE_DB", db).env("NO_COLOR", "1");
    c
}

fn run(db: &Path, args: &[&str]) -> String {
    text(&ok(bin(db).args(args)).stdout)
}

/// A cluster with a frontend (private and public side), compute hosts, a login host and an
/// InfiniBand network, built on the default plan and then renumbered to `cidr`.
fn cluster(dir: &Path, cidr: &str, gateway: &str) -> std::path::PathBuf {
    let db = dir.join("cluster.db");
    run(&db, &["init"]);
    run(
        &db,
        &["host", "add", "cluster", "--appliance", "frontend", "--ip", "10.1.1.1", "--mac", "52:54:00:aa:00:01", "--interface", "eno1"],
    );
    for n in 0..3 {
        let (name, mac) = (format!("compute-0-{n}"), format!("52:54:00:aa:01:{n:02x}"));
        run(&db, &["host", "add", &name, "--appliance", "compute", "--rank", &n.to_string(), "--mac", &mac, "--interface", "eno1"]);
    }
    run(&db, &["host", "add", "login-0-0", "--appliance", "login", "--mac", "52:54:00:aa:02:00"]);
    run(&db, &["network", "add", "ib", "10.250.0.0/16", "--mtu", "2044"]);
    run(&db, &["interface", "add", "compute-0-0", "ib0", "--ip", "10.250.0.10", "--network", "ib"]);
    run(&db, &["network", "add", "public", "192.0.2.0/24", "--gateway", "192.0.2.1", "--dns", "192.0.2.53"]);
    run(&db, &["interface", "add", "cluster", "eno2", "--ip", "192.0.2.10", "--network", "public"]);
    let moved = run(&db, &["network", "set", "private", "--cidr", cidr, "--gateway", gateway]);
    assert!(moved.contains(&format!("moved cluster eno1 10.1.1.1 -> {gateway}")), "{moved}");
    db
}

/// Every dotted quad of `text`, with its prefix length when written as `A.B.C.D/N`; reverse
/// zone names (`1.0.77.10.in-addr.arpa`) are not addresses.
fn addresses(text: &str) -> Vec<(Ipv4Addr, Option<u8>)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.')) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
            j += 1;
        }
        let word = text[i..j].trim_end_matches('.');
        let after = &text[i + word.len()..];
        if let Ok(ip) = word.parse::<Ipv4Addr>()
            && !after.starts_with(".in-addr.arpa")
            && !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
        {
            let prefix = after.strip_prefix('/').and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()).and_then(|p| p.parse().ok());
            out.push((ip, prefix));
        }
        i = j;
    }
    out
}

fn is_netmask(ip: Ipv4Addr) -> bool {
    let n = u32::from(ip);
    n != 0 && n.leading_ones() + n.trailing_zeros() == 32
}

/// The networks of the database (`network list --json`).
fn networks(db: &Path) -> Vec<ipnet::Ipv4Net> {
    let json: serde_json::Value = serde_json::from_str(&run(db, &["network", "list", "--json"])).unwrap();
    json.as_array().unwrap().iter().map(|n| n["cidr"].as_str().unwrap().parse().unwrap()).collect()
}

fn scan(db: &Path, tree: &Path) -> BTreeSet<String> {
    let nets = networks(db);
    let mut bad = BTreeSet::new();
    let mut files = 0;
    for entry in walkdir::WalkDir::new(tree).sort_by_file_name() {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        files += 1;
        let body = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
        for (ip, prefix) in addresses(&body) {
            let ok = match prefix {
                // A network, or an interface's address with its network's prefix.
                Some(p) => nets.iter().any(|n| n.prefix_len() == p && n.contains(&ip)),
                None => {
                    ip.is_loopback() || ip.is_unspecified() || ip.is_broadcast() || is_netmask(ip) || nets.iter().any(|n| n.contains(&ip))
                }
            };
            if !ok {
                let rel = entry.path().strip_prefix(tree).unwrap().display().to_string();
                bad.insert(format!("{rel}: {ip}{}", prefix.map(|p| format!("/{p}")).unwrap_or_default()));
            }
        }
    }
    assert!(files > 20, "the tree has only {files} files");
    bad
}

fn check_plan(cidr: &str, gateway: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = cluster(dir.path(), cidr, gateway);
    let tree = dir.path().join("tree");
    ok(bin(&db).args(["build", "--allow-default-password", "--out"]).arg(&tree));
    let bad = scan(&db, &tree);
    assert!(
        bad.is_empty(),
        "addresses outside every network of the database on {cidr}:\n{}",
        bad.into_iter().collect::<Vec<_>>().join("\n")
    );
    let ks = std::fs::read_to_string(tree.join("kickstart/compute-0-0.ks")).unwrap();
    assert!(ks.contains("network --device=eno1 --bootproto=dhcp"), "the private device comes from the database");
    assert!(ks.contains("\nib0 static 10.250.0.10/16 2044 - -\n"), "ib0 is configured:\n{ks}");
    let fe = std::fs::read_to_string(tree.join("kickstart/cluster.ks")).unwrap();
    assert!(fe.contains(&format!("--ip={gateway} ")), "the frontend's private address");
    assert!(fe.contains("network --device=eno2 --bootproto=static --ip=192.0.2.10 --netmask=255.255.255.0 --gateway=192.0.2.1"), "{fe}");
    for entry in std::fs::read_dir(tree.join("kickstart")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "ks") {
            common::validate(&p);
        }
    }
}

#[test]
fn a_cluster_renumbered_to_a_slash_24_names_only_its_own_addresses() {
    check_plan("10.77.0.0/24", "10.77.0.1");
}

#[test]
fn a_cluster_renumbered_to_a_slash_20_names_only_its_own_addresses() {
    check_plan("172.20.0.0/20", "172.20.0.1");
}

#[test]
fn the_scanner_finds_addresses_and_networks() {
    let found = addresses("a 10.1.1.1, 10.1.0.0/16; 1.0.77.10.in-addr.arpa v1.2.3.4 x=192.0.2.1.");
    assert_eq!(found, [("10.1.1.1".parse().unwrap(), None), ("10.1.0.0".parse().unwrap(), Some(16)), ("192.0.2.1".parse().unwrap(), None)]);
    assert!(is_netmask("255.255.240.0".parse().unwrap()) && !is_netmask("10.1.1.1".parse().unwrap()));
}
