//! `dhcp/dhcpd.conf` and `dhcp/kea-dhcp4.json`: checked by the real servers (`dhcpd -t -cf`,
//! `kea-dhcp4 -t`), compared byte for byte for the example cluster (`BLESS=1` rewrites
//! `tests/expected/dhcp/`), inspected for concrete content on a richer cluster, and finally
//! served by real dhcpd and Kea processes inside a private network namespace, where a small
//! DHCP client asks as a BIOS, UEFI and iPXE client and checks what each one is told.

mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rocks_compile::facts::{Db, InterfaceSpec, NetworkSpec, Target};
use rocks_compile::plan::{Artifact, BuildOptions, Site};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Building and checking
// ---------------------------------------------------------------------------------------------

/// The two DHCP files of `db`'s cluster: (dhcpd.conf, kea-dhcp4.json).
fn dhcp_files(db: &Db) -> (String, String) {
    let c = db.cluster().unwrap();
    let o = BuildOptions::default();
    let site = Site::new(&c, &o);
    (
        one(rocks_compile::emit::dhcpd::artifacts(&site).unwrap(), "dhcp/dhcpd.conf"),
        one(rocks_compile::emit::kea::artifacts(&site).unwrap(), "dhcp/kea-dhcp4.json"),
    )
}

/// The text of the only artifact, which must be at `path`.
fn one(artifacts: Vec<Artifact>, path: &str) -> String {
    assert_eq!(artifacts.len(), 1, "one artifact expected");
    let a = artifacts.into_iter().next().unwrap();
    assert_eq!(a.path, path);
    assert!(!a.secret);
    String::from_utf8(a.bytes).unwrap()
}

/// Outcome of a validator run.
struct Verdict {
    ok: bool,
    output: String,
}

/// `dhcpd -t -cf FILE` (without `-q`, which would hide the error text).
fn dhcpd_check(file: &Path) -> Option<Verdict> {
    let dhcpd = common::tool("dhcpd")?;
    let out = Command::new(dhcpd).arg("-t").arg("-cf").arg(file).output().unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let clean = !output.to_ascii_lowercase().contains("error") && !output.contains(" line ");
    Some(Verdict { ok: out.status.success() && clean, output })
}

/// `kea-dhcp4 -t FILE`.
fn kea_check(file: &Path) -> Option<Verdict> {
    let kea = common::tool("kea-dhcp4")?;
    let out = Command::new(kea).arg("-t").arg(file).output().unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let clean = !output.contains("ERROR") && !output.contains("Error") && !output.contains("WARN");
    Some(Verdict { ok: out.status.success() && clean, output })
}

/// Write both files under `dir` and assert that both servers accept them.
fn assert_valid(dir: &Path, dhcpd: &str, kea: &str) -> (PathBuf, PathBuf) {
    let (d, k) = (dir.join("dhcpd.conf"), dir.join("kea-dhcp4.json"));
    std::fs::write(&d, dhcpd).unwrap();
    std::fs::write(&k, kea).unwrap();
    if let Some(v) = dhcpd_check(&d) {
        assert!(v.ok, "dhcpd -t rejected the generated file:\n{}\n--- file ---\n{dhcpd}", v.output);
    }
    if let Some(v) = kea_check(&k) {
        assert!(v.ok, "kea-dhcp4 -t rejected the generated file:\n{}\n--- file ---\n{kea}", v.output);
    }
    (d, k)
}

// ---------------------------------------------------------------------------------------------
// Reading the output back
// ---------------------------------------------------------------------------------------------

/// A `host` block of dhcpd.conf with the settings of its group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct IscHost {
    next_server: Option<String>,
    /// The group's `filename`s in order (iPXE, UEFI, BIOS).
    filenames: Vec<String>,
    mac: String,
    ip: String,
    host_name: String,
    /// The host's own `filename` (a forced boot loader).
    filename: Option<String>,
}

/// Every `host` block of a generated dhcpd.conf by declaration name.
fn isc_hosts(conf: &str) -> BTreeMap<String, IscHost> {
    let mut out = BTreeMap::new();
    let mut group = IscHost::default();
    let mut host: Option<(String, IscHost)> = None;
    for line in conf.lines().map(str::trim) {
        let arg = |key: &str| line.strip_prefix(key).map(|r| r.trim_end_matches(';').trim().trim_matches('"').to_string());
        if line == "group {" {
            group = IscHost::default();
        } else if let Some(name) = line.strip_prefix("host ").and_then(|l| l.strip_suffix(" {")) {
            host = Some((name.to_string(), group.clone()));
        } else if let Some((_, h)) = host.as_mut() {
            if let Some(m) = arg("hardware ethernet ") {
                h.mac = m;
            } else if let Some(ip) = arg("fixed-address ") {
                h.ip = ip;
            } else if let Some(n) = arg("option host-name ") {
                h.host_name = n;
            } else if let Some(f) = arg("filename ") {
                h.filename = Some(f);
            } else if line == "}" {
                let (name, h) = host.take().unwrap();
                assert!(out.insert(name.clone(), h).is_none(), "host {name} declared twice");
            }
        } else if let Some(ns) = arg("next-server ") {
            group.next_server = Some(ns);
        } else if let Some(f) = arg("filename ") {
            group.filenames.push(f);
        }
    }
    out
}

/// The Kea reservation with `mac` and the subnet (CIDR) it is in.
fn kea_reservation<'a>(kea: &'a Value, mac: &str) -> Option<(&'a str, &'a Value)> {
    kea["Dhcp4"]["subnet4"].as_array().unwrap().iter().find_map(|s| {
        let r = s["reservations"].as_array().unwrap().iter().find(|r| r["hw-address"] == mac)?;
        Some((s["subnet"].as_str().unwrap(), r))
    })
}

/// The Kea client class called `name`.
fn kea_class<'a>(kea: &'a Value, name: &str) -> &'a Value {
    kea["Dhcp4"]["client-classes"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no class {name}"))
}

// ---------------------------------------------------------------------------------------------
// Clusters
// ---------------------------------------------------------------------------------------------

/// A network whose DNS zone is its name.
fn net(name: &str, cidr: &str, gw: Option<&str>, dns: &[&str], mtu: u32, dhcp: bool) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        cidr: cidr.into(),
        zone: name.into(),
        mtu,
        gateway: gw.map(Into::into),
        dns_servers: dns.iter().map(|d| d.to_string()).collect(),
        dhcp,
    }
}

/// The example cluster plus: a second DHCP network `mgmt` (a /20 with gateway and two DNS
/// servers, MTU 9000), a network `ib` without DHCP, three install servers, a host with
/// interfaces on all three networks, 24 more hosts, a host whose primary interface has no
/// MAC, one with a MAC but no address, one without interfaces, an alias, two host names
/// that map to the same dhcpd declaration name, and forced boot loaders ([`loaders`]).
fn rich_db(dir: &Path) -> Db {
    let mut db = common::example_db(dir);
    db.add_network(&net("mgmt", "10.16.0.0/20", Some("10.16.0.1"), &["10.16.0.2", "10.16.0.3"], 9000, true)).unwrap();
    db.add_network(&net("ib", "10.8.0.0/24", None, &[], 2044, false)).unwrap();
    db.add_server("is-0", "10.1.1.2", None).unwrap();
    db.add_server("is-1", "10.1.1.3", None).unwrap();
    db.add_server("is-2", "10.1.1.4", Some("http://10.1.1.4:8080/rocks")).unwrap();
    let iface = |host: &str, device: &str, mac: Option<&str>, ip: Option<&str>, network: &str| InterfaceSpec {
        host: host.into(),
        device: device.into(),
        mac: mac.map(Into::into),
        ip: ip.map(Into::into),
        network: Some(network.into()),
        primary: false,
    };
    db.add_interface(&iface("compute-0-0", "eth1", Some("52:54:00:10:00:01"), Some("10.16.0.21"), "mgmt")).unwrap();
    db.add_interface(&iface("compute-0-0", "ib0", Some("52:54:00:20:00:01"), Some("10.8.0.21"), "ib")).unwrap();
    db.add_alias("compute-0-0", "c00").unwrap();
    let mut csv = String::from("name,appliance,rack,rank,mac,ip,network,interface,cpus\n");
    for r in 0..24 {
        csv += &format!("compute-2-{r},compute,2,{r},52:54:00:02:00:{r:02x},10.1.2.{},private,eth0,8\n", r + 10);
    }
    csv += "nas-0-1,nas,0,1,,10.1.255.99,private,eth0,4\n";
    csv += "login-0-1,login,0,1,52:54:00:00:02:02,none,private,eth0,4\n";
    csv += "gpu-0-1,compute,0,2,52:54:00:30:00:01,10.1.3.1,private,eth0,8\n";
    db.import_csv(&csv).unwrap();
    // A name no command accepts any more (not a DNS label), as a database of an older release
    // may hold: the emitters still make it declarable and keep it unique.
    let conn = rusqlite::Connection::open(dir.join("cluster.db")).unwrap();
    conn.execute_batch(
        "INSERT INTO hosts (name, appliance_id, distribution_id, rank, cpus) VALUES ('gpu_0:1', (SELECT id FROM appliances WHERE name = 'compute'), (SELECT id FROM distributions WHERE name = 'rocky-9'), 3, 8);
         INSERT INTO interfaces (host_id, device, mac, ip, ip_key, network_id, is_primary) VALUES ((SELECT id FROM hosts WHERE name = 'gpu_0:1'), 'eth0', '52:54:00:30:00:02', '10.1.3.2', '0a010302', (SELECT id FROM networks WHERE name = 'private'), 1);",
    )
    .unwrap();
    db.add_interface(&iface("nas-0-1", "eth1", Some("52:54:00:10:00:99"), Some("10.16.0.99"), "mgmt")).unwrap();
    for (target, value) in loaders() {
        db.set_attr(&target, "pxe_loader", value, false).unwrap();
    }
    db
}

/// `pxe_loader` in the rich cluster, at several scopes: rack 2 is forced to GRUB except
/// compute-2-0 (`auto` at host scope wins), every login host to iPXE, gpu-0-1 to pxelinux,
/// nas-0-1 (whose only interface with a MAC is its secondary one) to iPXE; gpu_0:1's value
/// is not an accepted one and forces nothing.
fn loaders() -> Vec<(Target, &'static str)> {
    let host = |h: &str| Target::Host(h.into());
    vec![
        (Target::Rack(2), "grub"),
        (host("compute-2-0"), "auto"),
        (Target::Appliance("login".into()), "ipxe"),
        (host("gpu-0-1"), "pxelinux"),
        (host("nas-0-1"), "ipxe"),
        (host("gpu_0:1"), "PXELINUX"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// The example cluster: both servers accept the files, which match `tests/expected/dhcp/`
/// byte for byte.
#[test]
fn example_cluster_is_valid_and_matches_the_expected_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::example_db(dir.path());
    let (dhcpd, kea) = dhcp_files(&db);
    assert_valid(dir.path(), &dhcpd, &kea);
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected/dhcp");
    for (name, text) in [("dhcpd.conf", &dhcpd), ("kea-dhcp4.json", &kea)] {
        let path = expected.join(name);
        if std::env::var("BLESS").as_deref() == Ok("1") {
            std::fs::create_dir_all(&expected).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (run with BLESS=1 to write it)", path.display()));
        assert!(want == *text, "{} differs from the generated file (BLESS=1 rewrites it):\n{text}", path.display());
    }
    // The same inputs give the same bytes.
    assert_eq!(dhcp_files(&db), (dhcpd, kea));
}

/// The richer cluster: both servers accept the files, and they say the same concrete things.
#[test]
fn rich_cluster_is_valid_and_both_files_agree() {
    let dir = tempfile::tempdir().unwrap();
    let db = rich_db(dir.path());
    let (dhcpd, kea_text) = dhcp_files(&db);
    assert_valid(dir.path(), &dhcpd, &kea_text);
    let kea: Value = serde_json::from_str(&kea_text).unwrap();
    let hosts = isc_hosts(&dhcpd);
    let c = db.cluster().unwrap();
    let o = BuildOptions::default();
    let site = Site::new(&c, &o);
    let server_of = |host: &str| site.server(c.hosts.iter().position(|h| h.name == host).unwrap()).unwrap().clone();

    // Subnets: only the DHCP networks, by name, ids from 1.
    let subnets: Vec<(u64, &str)> =
        kea["Dhcp4"]["subnet4"].as_array().unwrap().iter().map(|s| (s["id"].as_u64().unwrap(), s["subnet"].as_str().unwrap())).collect();
    assert_eq!(subnets, [(1, "10.16.0.0/20"), (2, "10.1.0.0/16")]);
    let mgmt = &kea["Dhcp4"]["subnet4"][0]["option-data"];
    let opt = |name: &str| mgmt.as_array().unwrap().iter().find(|o| o["name"] == name).map(|o| o["data"].as_str().unwrap().to_string());
    assert_eq!(opt("routers").as_deref(), Some("10.16.0.1"));
    assert_eq!(opt("domain-name-servers").as_deref(), Some("10.16.0.2, 10.16.0.3"));
    assert_eq!(opt("domain-name").as_deref(), Some("mgmt"));
    assert_eq!(opt("interface-mtu").as_deref(), Some("9000"));
    let mgmt_decl = "subnet 10.16.0.0 netmask 255.255.240.0 {\n  option routers 10.16.0.1;\n  option domain-name-servers 10.16.0.2, 10.16.0.3;\n  option domain-name \"mgmt\";\n  option interface-mtu 9000;\n}";
    assert!(dhcpd.contains(mgmt_decl), "mgmt subnet missing:\n{dhcpd}");
    assert!(!dhcpd.contains("10.8.0.") && !kea_text.contains("10.8.0."), "the network without DHCP appears");
    assert!(!dhcpd.contains("52:54:00:20:00:01") && !kea_text.contains("52:54:00:20:00:01"), "an interface on `ib` appears");

    // compute-0-0: its primary interface under its own name, eth1 as compute-0-0-eth1, both
    // telling the host's name and pointing at its primary install server.
    let s = server_of("compute-0-0");
    let ipxe = format!("{}/ipxe/boot.ipxe", s.url);
    let group_files = vec![ipxe.clone(), "grub/x86_64-efi/core.efi".to_string(), "pxelinux.0".to_string()];
    assert_eq!(
        hosts["compute-0-0"],
        IscHost {
            next_server: Some(s.ip.clone()),
            filenames: group_files.clone(),
            mac: "52:54:00:00:00:01".into(),
            ip: "10.1.255.254".into(),
            host_name: "compute-0-0".into(),
            filename: None,
        }
    );
    assert_eq!(
        hosts["compute-0-0-eth1"],
        IscHost {
            next_server: Some(s.ip.clone()),
            filenames: group_files,
            mac: "52:54:00:10:00:01".into(),
            ip: "10.16.0.21".into(),
            host_name: "compute-0-0".into(),
            filename: None,
        }
    );
    for (mac, subnet, ip) in [("52:54:00:00:00:01", "10.1.0.0/16", "10.1.255.254"), ("52:54:00:10:00:01", "10.16.0.0/20", "10.16.0.21")] {
        let (cidr, r) = kea_reservation(&kea, mac).unwrap();
        assert_eq!(cidr, subnet);
        assert_eq!(r["ip-address"], ip);
        assert_eq!(r["hostname"], "compute-0-0");
        assert_eq!(r["next-server"], s.ip.as_str());
        assert_eq!(r["client-classes"], serde_json::json!([format!("server-{}", s.name)]));
        assert!(r.get("boot-file-name").is_none(), "a reservation's boot file would beat every class");
    }
    assert_eq!(kea_class(&kea, &format!("ipxe-{}", s.name))["boot-file-name"], ipxe.as_str());
    assert_eq!(kea_class(&kea, "bios")["boot-file-name"], "pxelinux.0");
    assert_eq!(kea_class(&kea, "uefi-x86-64")["boot-file-name"], "grub/x86_64-efi/core.efi");

    // Every reservation in both files, with the same address and next-server.
    let mut next_servers = std::collections::BTreeSet::new();
    for (name, h) in &hosts {
        let (_, r) = kea_reservation(&kea, &h.mac).unwrap_or_else(|| panic!("{name} ({}) missing from Kea", h.mac));
        assert_eq!(r["ip-address"], h.ip.as_str(), "{name}");
        assert_eq!(r["hostname"], h.host_name.as_str(), "{name}");
        assert_eq!(r["next-server"], h.next_server.as_deref().unwrap(), "{name}");
        assert_eq!(h.next_server.as_deref(), Some(server_of(&h.host_name).ip.as_str()), "{name}");
        next_servers.insert(h.next_server.clone().unwrap());
    }
    let kea_count: usize = kea["Dhcp4"]["subnet4"].as_array().unwrap().iter().map(|s| s["reservations"].as_array().unwrap().len()).sum();
    assert_eq!(kea_count, hosts.len());
    // 6 example hosts + compute-0-0's eth1 + 24 + nas-0-1's eth1 + 2 gpu hosts.
    assert_eq!(hosts.len(), 34);
    assert_eq!(next_servers.into_iter().collect::<Vec<_>>(), ["10.1.1.2", "10.1.1.3", "10.1.1.4"]);

    // The host whose primary interface has no MAC is named after its other interface; the MAC
    // without an address and the host without interfaces are absent; a name dhcpd cannot
    // declare is made declarable and kept unique.
    assert_eq!(hosts["nas-0-1-eth1"].ip, "10.16.0.99");
    assert!(!hosts.contains_key("nas-0-1") && !hosts.contains_key("login-0-1"));
    assert!(!dhcpd.contains("52:54:00:00:02:02") && !kea_text.contains("52:54:00:00:02:02"));
    assert_eq!(hosts["gpu-0-1"].mac, "52:54:00:30:00:01");
    assert_eq!(hosts["gpu-0-1-52-54-00-30-00-02"].host_name, "gpu_0:1");
}

/// What `pxe_loader` ([`loaders`]) must force on the interface `mac` of `host` whose primary
/// install server has base URL `url` (written out here, not asked of the library).
fn forced_file(host: &rocks_compile::model::HostFacts, mac: &str, url: &str) -> Option<String> {
    let own_script = format!("{url}/ipxe/{}.ipxe", mac.replace(':', "-"));
    match host.name.as_str() {
        "compute-2-0" | "gpu_0:1" => None,
        "gpu-0-1" => Some("pxelinux.0".into()),
        "nas-0-1" => Some(own_script),
        _ if host.rack == 2 => Some("grub/x86_64-efi/core.efi".into()),
        _ if host.appliance == "login" => Some(own_script),
        _ => None,
    }
}

/// `pxe_loader` at host, rack and appliance scope: the forced file is the host's own
/// `filename` in dhcpd.conf and its reservation's `boot-file-name` in Kea, on each interface;
/// `auto`, an unknown value and no value force nothing; an empty boot file option or no
/// install server force nothing either. Both servers accept every variant.
#[test]
fn pxe_loader_forces_one_boot_file_per_host() {
    let dir = tempfile::tempdir().unwrap();
    let db = rich_db(dir.path());
    let (dhcpd, kea_text) = dhcp_files(&db);
    assert_valid(dir.path(), &dhcpd, &kea_text);
    let kea: Value = serde_json::from_str(&kea_text).unwrap();
    let hosts = isc_hosts(&dhcpd);
    let c = db.cluster().unwrap();
    let o = BuildOptions::default();
    let site = Site::new(&c, &o);
    let mut forced = 0;
    for (name, h) in &hosts {
        let i = c.hosts.iter().position(|x| x.name == h.host_name).unwrap();
        let want = forced_file(&c.hosts[i], &h.mac, &site.server(i).unwrap().url);
        assert_eq!(h.filename, want, "dhcpd.conf, host {name}");
        let (_, r) = kea_reservation(&kea, &h.mac).unwrap();
        assert_eq!(r.get("boot-file-name").and_then(Value::as_str), want.as_deref(), "Kea, host {name}: {r}");
        forced += usize::from(want.is_some());
    }
    // 23 of rack 2's 24 hosts, gpu-0-1, login-0-0 and nas-0-1's eth1.
    assert_eq!(forced, 26);
    let login = &hosts["login-0-0"];
    assert_eq!(
        login.filename.as_deref(),
        Some(format!("{}/ipxe/52-54-00-00-02-01.ipxe", login.filenames[0].trim_end_matches("/ipxe/boot.ipxe")).as_str())
    );
    assert!(
        dhcpd.contains("    option host-name \"gpu-0-1\";\n    filename \"pxelinux.0\";\n  }\n"),
        "the forced file is the last statement of the host block:\n{dhcpd}"
    );

    // Nothing to force: empty boot file options, and no install server for an iPXE URL.
    let mut c = db.cluster().unwrap();
    c.servers.clear();
    c.hosts.retain(|h| h.appliance != "frontend");
    c.networks.iter_mut().for_each(|n| n.gateway = None);
    let o = BuildOptions { bios_boot_file: " ".into(), uefi_boot_file: String::new(), ..BuildOptions::default() };
    let site = Site::new(&c, &o);
    assert!(site.servers.is_empty());
    let dhcpd = one(rocks_compile::emit::dhcpd::artifacts(&site).unwrap(), "dhcp/dhcpd.conf");
    let kea = one(rocks_compile::emit::kea::artifacts(&site).unwrap(), "dhcp/kea-dhcp4.json");
    assert_valid(dir.path(), &dhcpd, &kea);
    assert!(!dhcpd.contains("filename") && !kea.contains("boot-file-name"), "{dhcpd}\n{kea}");

    // The accepted values, exactly.
    use rocks_compile::emit::dhcpd::PxeLoader;
    assert_eq!(PxeLoader::NAMES, ["auto", "pxelinux", "grub", "ipxe"]);
    for name in PxeLoader::NAMES {
        assert!(PxeLoader::parse(name).is_some(), "{name}");
    }
    for bad in ["", "PXELINUX", " grub", "grub2", "efi", "bios", "uefi", "syslinux"] {
        assert_eq!(PxeLoader::parse(bad), None, "{bad:?}");
    }
}

/// Negative controls: the validators really run and really reject a broken copy of a
/// generated file.
#[test]
fn validators_reject_corrupted_copies() {
    let dir = tempfile::tempdir().unwrap();
    let db = rich_db(dir.path());
    let (dhcpd, kea) = dhcp_files(&db);
    let (d, k) = assert_valid(dir.path(), &dhcpd, &kea);

    let bad_ip = dhcpd.replacen("fixed-address 10.1.255.254;", "fixed-address 10.1.255.300;", 1);
    assert_ne!(bad_ip, dhcpd);
    std::fs::write(&d, bad_ip).unwrap();
    if let Some(v) = dhcpd_check(&d) {
        assert!(!v.ok, "dhcpd accepted an address with an octet of 300:\n{}", v.output);
        assert!(v.output.contains("dhcpd.conf line"), "{}", v.output);
    }
    let no_semicolon = dhcpd.replacen("ddns-update-style none;", "ddns-update-style none", 1);
    std::fs::write(&d, no_semicolon).unwrap();
    if let Some(v) = dhcpd_check(&d) {
        assert!(!v.ok && v.output.contains("semicolon expected"), "{}", v.output);
    }

    // Kea: two reservations with the same MAC, and an address outside its subnet.
    let mut json: Value = serde_json::from_str(&kea).unwrap();
    let rs = json["Dhcp4"]["subnet4"][1]["reservations"].as_array_mut().unwrap();
    let first_mac = rs[0]["hw-address"].clone();
    rs[1]["hw-address"] = first_mac;
    std::fs::write(&k, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    if let Some(v) = kea_check(&k) {
        assert!(!v.ok && v.output.contains("already"), "kea-dhcp4 accepted a duplicate MAC:\n{}", v.output);
    }
    let outside = kea.replacen("\"ip-address\": \"10.1.255.254\"", "\"ip-address\": \"10.99.0.1\"", 1);
    assert_ne!(outside, kea);
    std::fs::write(&k, outside).unwrap();
    if let Some(v) = kea_check(&k) {
        assert!(!v.ok, "kea-dhcp4 accepted a reservation outside its subnet:\n{}", v.output);
    }
}

/// Only the requested kinds are made.
#[test]
fn kinds_not_wanted_make_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::example_db(dir.path());
    let c = db.cluster().unwrap();
    let o = BuildOptions { kinds: [rocks_compile::plan::Kind::Kea].into_iter().collect(), ..BuildOptions::default() };
    let site = Site::new(&c, &o);
    assert!(rocks_compile::emit::dhcpd::artifacts(&site).unwrap().is_empty());
    assert_eq!(rocks_compile::emit::kea::artifacts(&site).unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Real servers in a private network namespace
// ---------------------------------------------------------------------------------------------

/// Real dhcpd and Kea serve the richer cluster's files; a DHCP client asks for several hosts
/// as each kind of PXE client and checks the address, host name, subnet options, next-server
/// and boot file it is offered (the precedence of host, group and class settings is only
/// visible this way: `-t` checks syntax).
#[test]
fn real_servers_give_each_client_type_its_boot_file() {
    if !can_make_network_namespaces() {
        return;
    }
    let (Some(dhcpd), Some(kea)) = (common::tool("dhcpd"), common::tool("kea-dhcp4")) else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = rich_db(dir.path());
    let (dhcpd_conf, kea_conf) = dhcp_files(&db);
    let c = db.cluster().unwrap();
    let o = BuildOptions::default();
    let site = Site::new(&c, &o);
    let server_of = |host: &str| site.server(c.hosts.iter().position(|h| h.name == host).unwrap()).unwrap().clone();

    // One host per install server on `private`, plus compute-0-0's second interface on `mgmt`.
    let mut cases: Vec<Case> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for h in c.hosts.iter().filter(|h| h.name.starts_with("compute-")) {
        let s = server_of(&h.name);
        if seen.insert(s.name.clone()) {
            let p = h.primary().unwrap();
            cases.push(Case::known(&h.name, p.mac.as_deref().unwrap(), p.ip.as_deref().unwrap(), Link::Private, &s.ip, &s.url));
        }
    }
    assert_eq!(cases.len(), 3, "the hosts cover every server");
    let s = server_of("compute-0-0");
    cases.push(Case::known("compute-0-0", "52:54:00:10:00:01", "10.16.0.21", Link::Mgmt, &s.ip, &s.url));
    // Forced loaders (and `auto`), on both networks.
    for (host, link) in [
        ("compute-2-0", Link::Private),
        ("compute-2-1", Link::Private),
        ("gpu-0-1", Link::Private),
        ("login-0-0", Link::Private),
        ("nas-0-1", Link::Mgmt),
    ] {
        let h = c.host(host).unwrap();
        let iface = h.interfaces.iter().find(|i| i.mac.is_some()).unwrap();
        let s = server_of(host);
        cases.push(Case::known(host, iface.mac.as_deref().unwrap(), iface.ip.as_deref().unwrap(), link, &s.ip, &s.url));
    }
    for case in &mut cases {
        case.forced = forced_file(c.host(&case.host).unwrap(), &case.mac, &case.url);
    }
    let forced: std::collections::BTreeSet<&str> = cases.iter().filter(|c| c.forced.is_some()).map(|c| c.host.as_str()).collect();
    assert!(forced.is_superset(&["compute-2-1", "gpu-0-1", "login-0-0", "nas-0-1"].into()), "{forced:?}");

    let dir_path = dir.path().to_path_buf();
    let report = in_network_namespace(move || {
        setup_links();
        let mut failures = Vec::new();
        for server in ["isc", "kea"] {
            let scratch = dir_path.join(server);
            std::fs::create_dir_all(&scratch).unwrap();
            let _guard = match server {
                "isc" => start_dhcpd(&dhcpd, &scratch, &dhcpd_conf),
                _ => start_kea(&kea, &scratch, &kea_conf),
            };
            for case in &cases {
                failures.extend(case.check(server));
            }
            // Unknown MACs and interfaces on a network without DHCP get no answer.
            for mac in ["52:54:00:99:99:99", "52:54:00:20:00:01", "52:54:00:00:02:02"] {
                if let Some(o) = discover(Link::Private, mac, Some(0), None, Duration::from_millis(1500)) {
                    failures.push(format!("{server}: {mac} is unknown but was offered {o:?}"));
                }
            }
            if !failures.is_empty() {
                failures.push(format!("--- {server} log ---\n{}", std::fs::read_to_string(scratch.join("log")).unwrap_or_default()));
            }
        }
        failures
    });
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// Which veth pair a client uses: `c0` faces the server's `s0` on `private`, `c1` faces `s1`
/// on `mgmt`.
#[derive(Debug, Clone, Copy)]
enum Link {
    Private,
    Mgmt,
}

impl Link {
    fn client_device(self) -> &'static str {
        match self {
            Link::Private => "c0",
            Link::Mgmt => "c1",
        }
    }

    /// (router, DNS servers, domain, MTU) of the network.
    fn options(self) -> ([u8; 4], Vec<[u8; 4]>, &'static str, u16) {
        match self {
            Link::Private => ([10, 1, 1, 1], vec![[10, 1, 1, 1]], "local", 1500),
            Link::Mgmt => ([10, 16, 0, 1], vec![[10, 16, 0, 2], [10, 16, 0, 3]], "mgmt", 9000),
        }
    }
}

/// One interface a client asks for, and what it must be told.
struct Case {
    host: String,
    mac: String,
    ip: Ipv4Addr,
    link: Link,
    next_server: Ipv4Addr,
    url: String,
    /// The boot file `pxe_loader` forces: every kind of client gets it.
    forced: Option<String>,
}

impl Case {
    fn known(host: &str, mac: &str, ip: &str, link: Link, next_server: &str, url: &str) -> Case {
        Case {
            host: host.into(),
            mac: mac.into(),
            ip: ip.parse().unwrap(),
            link,
            next_server: next_server.parse().unwrap(),
            url: url.into(),
            forced: None,
        }
    }

    /// Ask as BIOS, UEFI (arch 7 and 9), iPXE (under BIOS and UEFI), ARM64 UEFI (no boot file
    /// is defined for it) and a plain DHCP client; the problems found. A forced boot file is
    /// what every one of them must get.
    fn check(&self, server: &str) -> Vec<String> {
        let ipxe = format!("{}/ipxe/boot.ipxe", self.url);
        let asks: [(&str, Option<u16>, Option<&str>, &str); 7] = [
            ("BIOS", Some(0), None, "pxelinux.0"),
            ("UEFI arch 7", Some(7), None, "grub/x86_64-efi/core.efi"),
            ("UEFI arch 9", Some(9), None, "grub/x86_64-efi/core.efi"),
            ("iPXE on BIOS", Some(0), Some("iPXE"), &ipxe),
            ("iPXE on UEFI", Some(7), Some("iPXE"), &ipxe),
            ("ARM64 UEFI", Some(11), None, ""),
            ("plain DHCP", None, None, ""),
        ];
        let mut problems = Vec::new();
        for (what, arch, user_class, file) in asks {
            let who = format!("{server}: {} {} as {what}", self.host, self.mac);
            let Some(o) = discover(self.link, &self.mac, arch, user_class, Duration::from_secs(10)) else {
                problems.push(format!("{who}: no offer"));
                continue;
            };
            let (router, dns, domain, mtu) = self.link.options();
            let want = Offer {
                yiaddr: self.ip,
                siaddr: self.next_server,
                file: self.forced.as_deref().unwrap_or(file).to_string(),
                host_name: Some(self.host.clone()),
                router: Some(router.into()),
                dns: dns.into_iter().map(Into::into).collect(),
                domain: Some(domain.into()),
                mtu: Some(mtu),
            };
            if o != want {
                problems.push(format!("{who}:\n  got  {o:?}\n  want {want:?}"));
            }
        }
        problems
    }
}

/// What a DHCPOFFER says.
#[derive(Debug, PartialEq, Eq)]
struct Offer {
    yiaddr: Ipv4Addr,
    siaddr: Ipv4Addr,
    file: String,
    host_name: Option<String>,
    router: Option<Ipv4Addr>,
    dns: Vec<Ipv4Addr>,
    domain: Option<String>,
    mtu: Option<u16>,
}

/// Whether this process may create network namespaces (root); when it may not, the test
/// fails unless `ROCKS_SKIP_VALIDATORS=1` says to skip it.
fn can_make_network_namespaces() -> bool {
    let ok = in_network_namespace(|| true);
    if !ok {
        let msg = "*** cannot create a network namespace (needs root): DHCP servers were NOT exercised ***";
        if std::env::var("ROCKS_SKIP_VALIDATORS").as_deref() == Ok("1") {
            eprintln!("{msg}");
        } else {
            panic!("{msg} (set ROCKS_SKIP_VALIDATORS=1 to skip)");
        }
    }
    ok
}

/// Run `f` on a thread of its own in a new, empty network namespace (it and every process it
/// starts; the namespace disappears with them). `T::default()` when the namespace cannot be
/// made.
fn in_network_namespace<T: Default + Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let t = std::thread::spawn(move || {
        // SAFETY: unshare(2) only changes the calling thread's network namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return T::default();
        }
        f()
    });
    t.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Run a setup command, which must succeed.
fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Two veth pairs in the current namespace: server `s0` 10.1.1.1/16 (`private`) and `s1`
/// 10.16.0.10/20 (`mgmt`); the clients' ends `c0`, `c1` get unrelated addresses. Both ends
/// live in one namespace, so replies from a local address must be accepted.
fn setup_links() {
    sh("ip", &["link", "set", "lo", "up"]);
    for (s, c, server_addr, client_addr) in [("s0", "c0", "10.1.1.1/16", "192.0.2.2/24"), ("s1", "c1", "10.16.0.10/20", "198.51.100.2/24")]
    {
        sh("ip", &["link", "add", s, "type", "veth", "peer", "name", c]);
        sh("ip", &["addr", "add", server_addr, "dev", s]);
        sh("ip", &["addr", "add", client_addr, "dev", c]);
        sh("ip", &["link", "set", s, "up"]);
        sh("ip", &["link", "set", c, "up"]);
    }
    for dev in ["all", "c0", "c1"] {
        sh("sysctl", &["-qw", &format!("net.ipv4.conf.{dev}.accept_local=1"), &format!("net.ipv4.conf.{dev}.rp_filter=0")]);
    }
}

/// Kills (and reaps) a server when dropped, also when the test fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// dhcpd in the foreground on `s0` and `s1`, logging to `dir/log`.
fn start_dhcpd(dhcpd: &Path, dir: &Path, conf: &str) -> Server {
    std::fs::write(dir.join("dhcpd.conf"), conf).unwrap();
    std::fs::write(dir.join("leases"), "").unwrap();
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let child = Command::new(dhcpd)
        .args(["-4", "-f", "-d", "-cf"])
        .arg(dir.join("dhcpd.conf"))
        .arg("-lf")
        .arg(dir.join("leases"))
        .arg("-pf")
        .arg(dir.join("pid"))
        .args(["s0", "s1"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Server(child)
}

/// kea-dhcp4 on `s0` and `s1` with leases kept in memory only, logging to `dir/log`.
fn start_kea(kea: &Path, dir: &Path, conf: &str) -> Server {
    let mut json: Value = serde_json::from_str(conf).unwrap();
    json["Dhcp4"]["interfaces-config"]["interfaces"] = serde_json::json!(["s0", "s1"]);
    json["Dhcp4"]["lease-database"] = serde_json::json!({"type": "memfile", "persist": false});
    std::fs::write(dir.join("kea-dhcp4.json"), serde_json::to_string_pretty(&json).unwrap()).unwrap();
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let child = Command::new(kea)
        .arg("-c")
        .arg(dir.join("kea-dhcp4.json"))
        .env("KEA_LOCKFILE_DIR", dir)
        .env("KEA_PIDFILE_DIR", dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Server(child)
}

/// Broadcast a DHCPDISCOVER for `mac` from `link` (re-sent every half second, so a server
/// still starting is waited for) and return the first offer, or `None` after `wait`.
fn discover(link: Link, mac: &str, arch: Option<u16>, user_class: Option<&str>, wait: Duration) -> Option<Offer> {
    static XID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0x5243_0000);
    let xid = XID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let chaddr: Vec<u8> = mac.split(':').map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
    let mut p = vec![0u8; 236];
    p[..4].copy_from_slice(&[1, 1, 6, 0]); // BOOTREQUEST, Ethernet, 6-byte address, 0 hops
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[10..12].copy_from_slice(&0x8000u16.to_be_bytes()); // broadcast the reply
    p[28..34].copy_from_slice(&chaddr);
    p.extend([99, 130, 83, 99, 53, 1, 1]); // magic cookie, DHCPDISCOVER
    if let Some(a) = arch {
        p.extend([93, 2]);
        p.extend(a.to_be_bytes());
    }
    if let Some(uc) = user_class {
        p.extend([77, uc.len() as u8]);
        p.extend(uc.as_bytes());
    }
    p.extend([55, 6, 1, 3, 6, 12, 15, 26, 255]);

    let sock = UdpSocket::bind("0.0.0.0:68").unwrap();
    bind_to_device(&sock, link.client_device());
    sock.set_broadcast(true).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let start = Instant::now();
    let mut last_sent: Option<Instant> = None;
    let mut buf = [0u8; 1500];
    while start.elapsed() < wait {
        if last_sent.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
            sock.send_to(&p, "255.255.255.255:67").unwrap();
            last_sent = Some(Instant::now());
        }
        let Ok(n) = sock.recv(&mut buf) else { continue };
        let r = &buf[..n];
        if n >= 240 && r[0] == 2 && r[4..8] == xid.to_be_bytes() {
            return Some(parse_offer(r));
        }
    }
    None
}

/// SO_BINDTODEVICE: send and receive on `dev` only.
fn bind_to_device(sock: &UdpSocket, dev: &str) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid socket and a buffer of the given length.
    let rc = unsafe {
        libc::setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_BINDTODEVICE, dev.as_ptr().cast(), dev.len() as libc::socklen_t)
    };
    assert_eq!(rc, 0, "SO_BINDTODEVICE {dev}: {}", std::io::Error::last_os_error());
}

/// The fields and options of a DHCP reply that the test looks at.
fn parse_offer(r: &[u8]) -> Offer {
    let ip = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    let text = |b: &[u8]| String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap_or_default()).into_owned();
    let mut opts: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
    let mut i = 240;
    while i < r.len() && r[i] != 255 {
        if r[i] == 0 {
            i += 1;
            continue;
        }
        let (tag, len) = (r[i], r[i + 1] as usize);
        opts.insert(tag, r[i + 2..i + 2 + len].to_vec());
        i += 2 + len;
    }
    Offer {
        yiaddr: ip(&r[16..20]),
        siaddr: ip(&r[20..24]),
        file: text(&r[108..236]),
        host_name: opts.get(&12).map(|b| text(b)),
        router: opts.get(&3).map(|b| ip(b)),
        dns: opts.get(&6).map(|b| b.chunks(4).map(ip).collect()).unwrap_or_default(),
        domain: opts.get(&15).map(|b| text(b)),
        mtu: opts.get(&26).map(|b| u16::from_be_bytes([b[0], b[1]])),
    }
}

/// Without any install server (no frontend, no gateway on `private`), hosts still get their
/// fixed addresses and the UEFI/BIOS files, but no `next-server` and no iPXE URL; an IPv6
/// network with DHCP on is left to a DHCPv6 server. Both servers accept the files.
#[test]
fn cluster_without_install_servers_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::example_db(dir.path());
    let mut c = db.cluster().unwrap();
    c.hosts.retain(|h| h.appliance != "frontend");
    c.networks[0].gateway = None;
    let mut v6 = c.networks[0].clone();
    v6.name = "v6".into();
    v6.cidr = "fd00:1::/64".parse().unwrap();
    v6.zone = "v6".into();
    v6.dns_servers = vec!["fd00:1::1".parse().unwrap()];
    c.networks.push(v6);
    c.hosts[0].interfaces.push(rocks_compile::model::Iface {
        device: "eth1".into(),
        mac: Some("52:54:00:60:00:01".into()),
        ip: Some("fd00:1::10".into()),
        network: Some("v6".into()),
        primary: false,
    });
    let o = BuildOptions::default();
    let site = Site::new(&c, &o);
    assert!(site.servers.is_empty());
    let dhcpd = one(rocks_compile::emit::dhcpd::artifacts(&site).unwrap(), "dhcp/dhcpd.conf");
    let kea = one(rocks_compile::emit::kea::artifacts(&site).unwrap(), "dhcp/kea-dhcp4.json");
    assert_valid(dir.path(), &dhcpd, &kea);
    assert!(dhcpd.contains("# hosts without an install server\ngroup {\n  if option arch = 00:07 or option arch = 00:09 {"), "{dhcpd}");
    assert!(!dhcpd.contains("next-server") && !dhcpd.contains("iPXE\" {"), "{dhcpd}");
    assert!(!dhcpd.contains("subnet 10.1.0.0 netmask 255.255.0.0 {\n  option routers"), "no gateway, no routers option");
    assert_eq!(isc_hosts(&dhcpd).len(), 5);
    let json: Value = serde_json::from_str(&kea).unwrap();
    let classes: Vec<&str> = json["Dhcp4"]["client-classes"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(classes, ["ipxe", "uefi-x86-64", "bios"]);
    assert_eq!(json["Dhcp4"]["subnet4"].as_array().unwrap().len(), 1);
    assert!(!dhcpd.contains("fd00") && !kea.contains("fd00") && !kea.contains("52:54:00:60:00:01"));
    let (_, r) = kea_reservation(&json, "52:54:00:00:00:01").unwrap();
    assert!(r.get("next-server").is_none() && r.get("client-classes").is_none(), "{r}");
}

/// The example cluster with a management network `mgmt` (10.2.0.0/16, DHCP) and a BMC on
/// each of two hosts, given by `host add --bmc-*`'s library call and by `interface add`.
fn bmc_db(dir: &Path) -> Db {
    let mut db = common::example_db(dir);
    db.add_network(&net("mgmt", "10.2.0.0/16", None, &[], 1500, true)).unwrap();
    let bmc = rocks_compile::facts::BmcSpec::of(Some("52:54:00:bb:00:01".into()), None, None);
    db.add_host(&rocks_compile::facts::HostSpec {
        bmc,
        allocate_ip: true,
        ..rocks_compile::facts::HostSpec::new("compute-9-0", "compute")
    })
    .unwrap();
    let spec = InterfaceSpec {
        host: "compute-0-0".into(),
        device: "bmc".into(),
        mac: Some("52:54:00:bb:00:02".into()),
        ip: Some("10.2.0.2".into()),
        network: Some("mgmt".into()),
        primary: false,
    };
    db.add_interface(&spec).unwrap();
    db
}

#[test]
fn bmcs_get_fixed_addresses_and_nothing_to_boot() {
    let dir = tempfile::tempdir().unwrap();
    let db = bmc_db(dir.path());
    let (dhcpd, kea) = dhcp_files(&db);
    assert_valid(dir.path(), &dhcpd, &kea);
    let hosts = isc_hosts(&dhcpd);
    let kea: Value = serde_json::from_str(&kea).unwrap();
    for (name, mac, ip) in [("compute-9-0-bmc", "52:54:00:bb:00:01", "10.2.255.254"), ("compute-0-0-bmc", "52:54:00:bb:00:02", "10.2.0.2")]
    {
        let h = &hosts[name];
        assert_eq!((h.mac.as_str(), h.ip.as_str(), h.host_name.as_str()), (mac, ip, name));
        assert_eq!((&h.next_server, &h.filenames, &h.filename), (&None, &Vec::new(), &None), "{name} boots nothing");
        let (subnet, r) = kea_reservation(&kea, mac).unwrap();
        assert_eq!((subnet, r["ip-address"].as_str(), r["hostname"].as_str()), ("10.2.0.0/16", Some(ip), Some(name)));
        for key in ["next-server", "client-classes", "boot-file-name"] {
            assert!(r.get(key).is_none(), "the BMC reservation of {name} has `{key}`: {r}");
        }
    }
    // The host's own interface is unchanged: primary, booting from its install server.
    let own = &hosts["compute-0-0"];
    assert!(own.next_server.is_some() && !own.filenames.is_empty(), "{own:?}");
}

#[test]
fn no_pxe_file_for_a_bmc_mac() {
    let dir = tempfile::tempdir().unwrap();
    let c = bmc_db(dir.path()).cluster().unwrap();
    let o = BuildOptions::default();
    let site = Site::new(&c, &o);
    let paths: Vec<String> = rocks_compile::emit::pxe::artifacts(&site).unwrap().into_iter().map(|a| a.path).collect();
    assert!(paths.iter().any(|p| p.contains("52-54-00-00-00-") || p.contains("52:54:00")), "the hosts' own MACs boot: {paths:?}");
    assert!(!paths.iter().any(|p| p.contains("bb-00") || p.contains("bb:00")), "a BMC MAC got a PXE file: {paths:?}");
    let i = c.hosts.iter().position(|h| h.name == "compute-9-0").unwrap();
    assert!(rocks_compile::emit::pxe::host_artifacts(&site, i).unwrap().is_empty(), "a host whose only MAC is its BMC's boots nothing");
}
