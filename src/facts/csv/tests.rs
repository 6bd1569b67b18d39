use super::*;
use crate::facts::testutil::{assert_unchanged, temp_db};

const GOOD: &str = "name,appliance,rack,rank,mac,ip,network,interface,cpus
compute-0-0,compute,0,0,52:54:00:00:00:01,10.1.255.254,private,eth0,16
compute-0-0,compute,0,0,52:54:00:00:00:11,,,eth1,16
\"login-0-0\",login,,,\"52:54:00:00:00:02\",10.1.255.253,,,
nas-0-0,nas,0,,,,,,
";

#[test]
fn reader_handles_quotes_escapes_and_line_breaks() {
    let recs = parse_csv("a,\"b,c\",\"say \"\"hi\"\"\"\r\n\n\"multi\nline\",x\nlast,").unwrap();
    assert_eq!(recs[0], Record { line: 1, fields: vec!["a".into(), "b,c".into(), "say \"hi\"".into()] });
    assert_eq!(recs[1], Record { line: 3, fields: vec!["multi\nline".into(), "x".into()] });
    assert_eq!(recs[2], Record { line: 5, fields: vec!["last".into(), "".into()] });
    assert_eq!(parse_csv("a,\"open\nb").unwrap_err().to_string(), "CSV line 1: unterminated quoted field");
    assert!(matches!(parse_csv("a\nb\"c").unwrap_err(), FactsError::Csv { line: 2, .. }));
    assert_eq!(quote("a,b"), "\"a,b\"");
    assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
}

#[test]
fn round_trip() {
    let (_dir, mut db) = temp_db();
    assert_eq!(db.import_csv(GOOD).unwrap(), 3);
    let login = db.host("login-0-0").unwrap();
    assert_eq!((login.rank, login.cpus, login.device.as_deref(), login.network.as_deref()), (0, 1, Some("eth0"), Some("private")));
    assert_eq!(db.interfaces(Some("compute-0-0")).unwrap().len(), 2);
    let exported = db.export_csv().unwrap();
    assert_eq!(
        exported,
        "name,appliance,rack,rank,mac,ip,network,interface,cpus,bmc_mac,bmc_ip,bmc_network
compute-0-0,compute,0,0,52:54:00:00:00:01,10.1.255.254,private,eth0,16,,,
compute-0-0,compute,0,0,52:54:00:00:00:11,,,eth1,16,,,
login-0-0,login,0,0,52:54:00:00:00:02,10.1.255.253,private,eth0,1,,,
nas-0-0,nas,0,0,,10.1.255.252,private,eth0,1,,,
"
    );
    let (_dir2, mut other) = temp_db();
    other.import_csv(&exported).unwrap();
    assert_eq!(other.export_csv().unwrap(), exported);
    assert_eq!(other.dump().unwrap(), db.dump().unwrap());
}

#[test]
fn one_bad_row_rejects_the_whole_file() {
    let (_dir, mut db) = temp_db();
    let cases = [
        (format!("{GOOD}compute-0-9,compute,0,9,52:54:00:00:00:01,,,,\n"), 6, "facts::duplicate-mac"),
        (format!("{GOOD}compute-0-9,compute,0,9,52:54:00:00:00:09,10.9.0.1,,,\n"), 6, "facts::ip-outside-network"),
        (format!("{GOOD}compute-0-9,compute,zero,9,,,,,\n"), 6, "facts::bad-value"),
        ("name,appliance\ncompute-0-0,compute\nx,gpu\n".to_string(), 3, "facts::unknown-appliance"),
        ("name,appliance,mac\nx,compute,52:54\n".to_string(), 2, "facts::bad-mac"),
        ("name,appliance,colour\n".to_string(), 1, ""),
        ("name,rack\n".to_string(), 1, ""),
        (String::new(), 1, ""),
    ];
    for (text, line, inner) in cases {
        let e = assert_unchanged(&mut db, |db| db.import_csv(&text));
        assert_eq!(e.code(), "facts::csv");
        let FactsError::Csv { line: got, source, .. } = &e else { unreachable!() };
        assert_eq!(*got, line, "{text}: {e}");
        assert_eq!(source.as_ref().map_or("", |s| s.code()), inner, "{e}");
        assert!(e.to_string().starts_with(&format!("CSV line {line}: ")), "{e}");
    }
    assert!(db.hosts(&Default::default()).unwrap().is_empty());
}

#[test]
fn hosts_without_an_address_get_one_unless_the_file_says_none() {
    let (_dir, mut db) = temp_db();
    let text = "name,appliance,rack,rank,mac,ip,network,interface,cpus
c-a,compute,0,0,52:54:00:00:00:01,,private,eth0,4
c-b,compute,0,1,52:54:00:00:00:02,10.1.255.254,private,eth0,4
c-c,compute,0,2,52:54:00:00:00:03,none,,,4
c-d,compute,0,3,,,,,4
";
    assert_eq!(db.import_csv(text).unwrap(), 4);
    let ip = |h: &str| db.host(h).unwrap().ip;
    // Allocated as `host add` does (counting down), after every address the file names.
    assert_eq!(ip("c-a").as_deref(), Some("10.1.255.253"));
    assert_eq!(ip("c-b").as_deref(), Some("10.1.255.254"));
    assert_eq!(ip("c-c"), None);
    assert_eq!(ip("c-d").as_deref(), Some("10.1.255.252"));
    // The export says `none` for the host without one, so a round trip keeps it so.
    let exported = db.export_csv().unwrap();
    assert!(exported.contains("\nc-c,compute,0,2,52:54:00:00:00:03,none,,eth0,4,,,\n"), "{exported}");
    let (_dir2, mut other) = temp_db();
    other.import_csv(&exported).unwrap();
    assert_eq!(other.export_csv().unwrap(), exported);
}

#[test]
fn bmcs_round_trip_in_their_own_columns() {
    let (_dir, mut db) = temp_db();
    db.import_csv("name,appliance,rack,rank,mac,ip,network,interface,cpus\nold-0-0,compute,0,0,52:54:00:00:00:09,,,,1\n")
        .expect("a file without the BMC columns still imports");
    bmc_networks(&mut db);
    let text = "name,appliance,mac,ip,interface,bmc_mac,bmc_ip,bmc_network
c-a,compute,52:54:00:00:00:01,10.1.0.1,eth0,52:54:00:BB:00:01,,
c-a,compute,52:54:00:00:00:11,10.1.0.11,eth1,,,
c-b,compute,52:54:00:00:00:02,10.1.0.2,eth0,52:54:00:bb:00:02,10.3.0.7,oob
c-c,compute,52:54:00:00:00:03,10.1.0.3,eth0,,none,
c-d,compute,52:54:00:00:00:04,10.1.0.4,eth0,,,
c-d,compute,,,,52:54:00:bb:00:04,10.2.255.254,
c-e,compute,52:54:00:00:00:05,10.1.0.5,eth0,52:54:00:bb:00:05,,
";
    assert_eq!(db.import_csv(text).unwrap(), 5);
    let bmc = |h: &str| db.interfaces(Some(h)).unwrap().into_iter().find(|i| i.device == "bmc").map(|i| (i.mac, i.ip, i.network, i.primary));
    let some = |s: &str| Some(s.to_string());
    // Allocated counting down on `mgmt` once the file's own addresses are taken.
    assert_eq!(bmc("c-a"), Some((some("52:54:00:bb:00:01"), some("10.2.255.253"), some("mgmt"), false)));
    assert_eq!(bmc("c-b"), Some((some("52:54:00:bb:00:02"), some("10.3.0.7"), some("oob"), false)));
    assert_eq!(bmc("c-c"), Some((None, None, some("mgmt"), false)));
    assert_eq!(bmc("c-d").unwrap().1, some("10.2.255.254"), "a later row of BMC cells only gives the host its BMC");
    assert_eq!(bmc("c-e").unwrap().1, some("10.2.255.252"), "the next address down");
    assert_eq!(db.interfaces(Some("c-d")).unwrap().len(), 2);
    let exported = db.export_csv().unwrap();
    let lines: Vec<&str> = exported.lines().collect();
    assert_eq!(
        lines[..6],
        [
            "name,appliance,rack,rank,mac,ip,network,interface,cpus,bmc_mac,bmc_ip,bmc_network",
            "c-a,compute,0,1,52:54:00:00:00:01,10.1.0.1,private,eth0,1,52:54:00:bb:00:01,10.2.255.253,mgmt",
            "c-a,compute,0,1,52:54:00:00:00:11,10.1.0.11,private,eth1,1,,,",
            "c-b,compute,0,2,52:54:00:00:00:02,10.1.0.2,private,eth0,1,52:54:00:bb:00:02,10.3.0.7,oob",
            "c-c,compute,0,3,52:54:00:00:00:03,10.1.0.3,private,eth0,1,,none,mgmt",
            "c-d,compute,0,4,52:54:00:00:00:04,10.1.0.4,private,eth0,1,52:54:00:bb:00:04,10.2.255.254,mgmt",
        ]
    );
    let (_dir2, mut other) = temp_db();
    bmc_networks(&mut other);
    other.import_csv(&exported).unwrap();
    assert_eq!(other.export_csv().unwrap(), exported);
}

/// Networks `mgmt` (10.2.0.0/16, DHCP) and `oob` (10.3.0.0/24).
fn bmc_networks(db: &mut crate::facts::Db) {
    for (name, cidr, dhcp) in [("mgmt", "10.2.0.0/16", true), ("oob", "10.3.0.0/24", false)] {
        let spec = crate::facts::NetworkSpec {
            name: name.into(),
            cidr: cidr.into(),
            zone: name.into(),
            mtu: 1500,
            gateway: None,
            dns_servers: vec![],
            dhcp,
        };
        db.add_network(&spec).unwrap();
    }
}
