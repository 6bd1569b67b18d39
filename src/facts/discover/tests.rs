use std::collections::HashSet;

use super::*;
use crate::facts::appliance::ApplianceSpec;
use crate::facts::network::NetworkSpec;
use crate::facts::testutil::{assert_unchanged, temp_db};

fn line(mac: &str) -> String {
    format!("Nov 23 10:00:01 fe dhcpd[123]: DHCPDISCOVER from {mac} via eth0")
}

fn summary(hosts: &[NewHost]) -> Vec<(String, String)> {
    hosts.iter().map(|h| (h.name.clone(), h.ip.clone())).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn parses_syslog_debug_and_bootrequest_lines() {
    let r = parse_dhcpd_line("Nov 23 10:00:01 fe dhcpd[123]: DHCPDISCOVER from 52:54:00:12:34:56 via eth0").unwrap();
    assert_eq!(r, DhcpRequest { kind: DhcpKind::Discover, mac: "52:54:00:12:34:56".into(), via: Some("eth0".into()) });
    let r = parse_dhcpd_line("DHCPDISCOVER from 52:54:00:AB:CD:EF (node) via eth1: network 10.1.0.0/16: no free leases").unwrap();
    assert_eq!((r.mac.as_str(), r.via.as_deref()), ("52:54:00:ab:cd:ef", Some("eth1")));
    let r = parse_dhcpd_line("Nov 23 10:00:02 fe dhcpd: BOOTREQUEST from 52:54:0:a:b:c via eth0").unwrap();
    assert_eq!((r.kind, r.mac.as_str()), (DhcpKind::BootRequest, "52:54:00:0a:0b:0c"));
    for other in [
        "Nov 23 10:00:01 fe dhcpd[123]: DHCPOFFER on 10.1.255.254 to 52:54:00:12:34:56 via eth0",
        "Nov 23 10:00:01 fe dhcpd[123]: DHCPREQUEST for 10.1.255.254 from 52:54:00:12:34:56 via eth0",
        "DHCPDISCOVER from not-a-mac via eth0",
        "",
    ] {
        assert_eq!(parse_dhcpd_line(other), None, "{other}");
    }
}

#[test]
fn rocks_naming_counts_ranks_up_and_ips_down() {
    let (_dir, mut db) = temp_db();
    // 10.1.255.253 is taken by hand: discovery must skip it.
    let manual = HostSpec { rank: Some(7), ip: Some("10.1.255.253".into()), ..HostSpec::new("login-0-7", "login") };
    db.add_host(&manual).unwrap();
    let log = [line("52:54:00:00:00:01"), line("52:54:00:00:00:02"), line("52:54:00:00:00:01"), "noise".into(), line("52:54:00:00:00:03")];
    let got = db.discover("compute", 0, &log).unwrap();
    assert_eq!(summary(&got), pairs(&[("compute-0-0", "10.1.255.254"), ("compute-0-1", "10.1.255.252"), ("compute-0-2", "10.1.255.251")]));
    assert_eq!(got[0].mac, "52:54:00:00:00:01");
    let host = db.host("compute-0-1").unwrap();
    assert_eq!((host.device.as_deref(), host.network.as_deref(), host.boot), (Some("eth0"), Some("private"), crate::facts::Boot::Install));

    // Running again changes nothing; a new MAC continues the ranks.
    let before = db.dump().unwrap();
    assert!(db.discover("compute", 0, &log).unwrap().is_empty());
    assert_eq!(before, db.dump().unwrap());
    let more = db.discover("compute", 0, [line("52:54:00:00:00:04"), line("52:54:00:00:00:01")]).unwrap();
    assert_eq!(summary(&more), pairs(&[("compute-0-3", "10.1.255.250")]));
    let rack1 = db.discover("compute", 1, [line("52:54:00:00:01:01")]).unwrap();
    assert_eq!(summary(&rack1), pairs(&[("compute-1-0", "10.1.255.249")]));
}

#[test]
fn template_naming_fellowship_style() {
    let (_dir, mut db) = temp_db();
    let net = NetworkSpec {
        name: "fellowship".into(),
        cidr: "10.5.0.0/16".into(),
        zone: "fellowship".into(),
        mtu: 1500,
        gateway: None,
        dns_servers: vec![],
        dhcp: true,
    };
    db.add_network(&net).unwrap();
    db.add_appliance(&ApplianceSpec::templated("node", "r{rack:02}n{rank:02}", "10.5.{rack}.{rank}", "fellowship")).unwrap();
    let got = db.discover("node", 3, [line("52:54:00:00:00:01"), line("52:54:00:00:00:02")]).unwrap();
    assert_eq!(summary(&got), pairs(&[("r03n01", "10.5.3.1"), ("r03n02", "10.5.3.2")]));
    assert_eq!(got[1].rank, 2, "template ranks start at 1");
    assert!(db.discover("node", 3, [line("52:54:00:00:00:02")]).unwrap().is_empty());
}

#[test]
fn failed_discovery_changes_nothing() {
    let (_dir, mut db) = temp_db();
    let e = assert_unchanged(&mut db, |db| db.discover("gpu", 0, [line("52:54:00:00:00:01")]));
    assert_eq!(e.code(), "facts::unknown-appliance");
    // A template that runs past the network's end fails as a whole.
    let net = NetworkSpec {
        name: "tiny".into(),
        cidr: "10.6.0.0/24".into(),
        zone: "tiny".into(),
        mtu: 1500,
        gateway: None,
        dns_servers: vec![],
        dhcp: true,
    };
    db.add_network(&net).unwrap();
    db.add_appliance(&ApplianceSpec::templated("node", "n{rank}", "10.6.{rack}.{rank}", "tiny")).unwrap();
    let e = assert_unchanged(&mut db, |db| db.discover("node", 1, [line("52:54:00:00:00:01")]));
    assert_eq!(e.code(), "facts::ip-outside-network", "{e}");
}

#[test]
fn eight_concurrent_discoverers_never_share_a_name_or_ip() {
    let (dir, db) = temp_db();
    drop(db);
    let path = dir.path().join("facts.db");
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut db = Db::open(&path).unwrap();
                let mut added = Vec::new();
                for batch in 0..5u8 {
                    let lines: Vec<String> = (0..4u8).map(|i| line(&format!("52:54:00:{t:02x}:{batch:02x}:{i:02x}"))).collect();
                    added.extend(db.discover("compute", 0, &lines).unwrap());
                }
                added
            })
        })
        .collect();
    let all: Vec<NewHost> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(all.len(), 8 * 5 * 4);
    let names: HashSet<&str> = all.iter().map(|h| h.name.as_str()).collect();
    let ips: HashSet<&str> = all.iter().map(|h| h.ip.as_str()).collect();
    assert_eq!((names.len(), ips.len()), (160, 160));
    let ranks: HashSet<u32> = all.iter().map(|h| h.rank).collect();
    assert_eq!(ranks, (0..160).collect(), "ranks are dense");
    let db = Db::open(&path).unwrap();
    assert_eq!(db.interfaces(None).unwrap().len(), 160);
}
