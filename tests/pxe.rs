//! PXE boot files: pxelinux, GRUB and iPXE per interface, and the generic iPXE entry points.
//!
//! Every GRUB file made by any test goes through `grub-script-check`; every iPXE script must
//! start with `#!ipxe`. The example cluster's files are compared byte for byte with
//! `tests/expected/pxe/` (`BLESS=1 cargo test --test pxe` rewrites them).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rocks_compile::emit::pxe;
use rocks_compile::facts::{ApplianceSpec, Boot, BootAction, Db, Distribution, HostField, HostSpec, InstallServer, InterfaceSpec, Network};
use rocks_compile::model::{Cluster, HostFacts, Iface};
use rocks_compile::plan::{BuildOptions, Kind, Site};

/// Path -> text of every PXE artifact, after checking each one.
fn files(c: &Cluster, o: &BuildOptions) -> BTreeMap<String, String> {
    let site = Site::new(c, o);
    let out: BTreeMap<String, String> =
        pxe::artifacts(&site).unwrap().into_iter().map(|a| (a.path, String::from_utf8(a.bytes).unwrap())).collect();
    check(&out);
    out
}

fn example() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = common::example_db(dir.path());
    (dir, db)
}

fn of(db: &Db) -> BTreeMap<String, String> {
    files(&db.cluster().unwrap(), &BuildOptions::default())
}

/// Every GRUB file passes `grub-script-check`; every iPXE script starts with `#!ipxe`.
fn check(files: &BTreeMap<String, String>) {
    for (path, text) in files {
        if path.ends_with(".ipxe") {
            assert!(text.starts_with("#!ipxe\n"), "{path} is not an iPXE script:\n{text}");
        }
    }
    let Some(checker) = common::tool("grub-script-check") else { return };
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files.iter().filter(|(p, _)| p.starts_with("tftp/grub/")) {
        let f = dir.path().join("grub.cfg");
        std::fs::write(&f, text).unwrap();
        let out = Command::new(&checker).arg(&f).output().unwrap();
        assert!(out.status.success(), "grub-script-check rejected {path}:\n{text}\n{}", String::from_utf8_lossy(&out.stdout));
    }
}

/// The three per-interface files of `mac`: (pxelinux, GRUB, iPXE).
fn of_mac<'a>(files: &'a BTreeMap<String, String>, mac: &str) -> (&'a str, &'a str, &'a str) {
    let hy = mac.replace(':', "-");
    let get = |p: String| files.get(&p).unwrap_or_else(|| panic!("no {p}")).as_str();
    (get(format!("tftp/pxelinux.cfg/01-{hy}")), get(format!("tftp/grub/grub.cfg-01-{hy}")), get(format!("ipxe/{hy}.ipxe")))
}

fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines().map(str::trim_start).find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no `{prefix}` line in:\n{text}"))
}

const C00: &str = "52:54:00:00:00:01";
const C01: &str = "52:54:00:00:00:02";

#[test]
fn example_cluster_matches_the_expected_files() {
    let (_dir, db) = example();
    let got = of(&db);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected/pxe");
    if std::env::var("BLESS").as_deref() == Ok("1") {
        let _ = std::fs::remove_dir_all(&root);
        for (path, text) in &got {
            let f = root.join(path);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, text).unwrap();
        }
        return;
    }
    let mut expected = BTreeMap::new();
    for f in walk(&root) {
        let rel = f.strip_prefix(&root).unwrap().to_str().unwrap().replace('\\', "/");
        expected.insert(rel, std::fs::read_to_string(&f).unwrap());
    }
    for (path, text) in &expected {
        match got.get(path) {
            None => panic!("{path} is expected but was not made (BLESS=1 accepts the new output)"),
            Some(g) => assert_eq!(g, text, "{path} differs from tests/expected/pxe (BLESS=1 accepts the new output)"),
        }
    }
    let extra: Vec<&String> = got.keys().filter(|p| !expected.contains_key(*p)).collect();
    assert!(extra.is_empty(), "made but not expected: {extra:?} (BLESS=1 accepts the new output)");
    // Six hosts with one MAC each: three files per host plus the two entry points.
    assert_eq!(got.len(), 6 * 3 + 2);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e} (BLESS=1 creates it)", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn install_boots_the_installer_with_the_hosts_kickstart() {
    let (_dir, db) = example();
    let f = of(&db);
    let (pxelinux, grub, ipxe) = of_mac(&f, C00);
    let ks = "inst.ks=http://10.1.1.1/install/rocks/kickstart/compute-0-0.ks";
    assert_eq!(line(pxelinux, "KERNEL"), "KERNEL images/rocky-9/vmlinuz");
    assert_eq!(
        line(pxelinux, "APPEND"),
        format!(
            "APPEND initrd=images/rocky-9/initrd.img inst.repo=http://10.1.1.1/install/distributions/rocky-9 inst.ks.sendmac ip=dhcp {ks}"
        )
    );
    assert!(pxelinux.contains("SERIAL 0 115200\n") && pxelinux.contains("TIMEOUT 1\n") && pxelinux.contains("PROMPT 0\n"));
    assert!(pxelinux.starts_with("# compute-0-0 52:54:00:00:00:01 boot=install action=install\n"));
    assert_eq!(
        line(grub, "linux"),
        format!("linux /images/rocky-9/vmlinuz inst.repo=http://10.1.1.1/install/distributions/rocky-9 inst.ks.sendmac ip=dhcp {ks}")
    );
    assert_eq!(line(grub, "initrd"), "initrd /images/rocky-9/initrd.img");
    assert!(grub.contains("set timeout=1\n") && grub.contains("serial --unit=0 --speed=115200\n"));
    let base = "http://10.1.1.1/install/rocks/tftp";
    assert_eq!(
        line(ipxe, "kernel"),
        format!(
            "kernel {base}/images/rocky-9/vmlinuz initrd=initrd.img inst.repo=http://10.1.1.1/install/distributions/rocky-9 inst.ks.sendmac ip=dhcp {ks}"
        )
    );
    assert_eq!(line(ipxe, "initrd"), format!("initrd {base}/images/rocky-9/initrd.img"));
    assert!(ipxe.ends_with("boot\n"));
    // The stored action's own `inst.ks=` (Rocks' CGI) is replaced, not kept beside ours.
    assert_eq!(pxelinux.matches("inst.ks=").count(), 1);
}

#[test]
fn os_boots_the_local_disk() {
    let (_dir, mut db) = example();
    db.set_boot("compute-0-0", Boot::Os).unwrap();
    let f = of(&db);
    let (pxelinux, grub, ipxe) = of_mac(&f, C00);
    assert!(pxelinux.contains("LABEL os\n  LOCALBOOT 0\n") && !pxelinux.contains("KERNEL"), "{pxelinux}");
    assert!(pxelinux.starts_with("# compute-0-0 52:54:00:00:00:01 boot=os action=os\n"));
    assert!(grub.contains("{\n  exit\n}\n") && !grub.contains("linux"), "{grub}");
    assert!(ipxe.ends_with("exit\n") && !ipxe.contains("kernel"), "{ipxe}");
    // Other hosts still install.
    let (pxelinux, _, _) = of_mac(&f, C01);
    assert!(pxelinux.contains("KERNEL images/rocky-9/vmlinuz"));
}

#[test]
fn placeholders_of_a_custom_install_action_are_replaced() {
    let (_dir, mut db) = example();
    db.add_distribution(&Distribution { name: "alma-9".into(), os_release: "9.4".into(), url: "http://{server}/dist/alma-9".into() })
        .unwrap();
    db.set_host("compute-0-0", HostField::Distribution, "alma-9").unwrap();
    db.set_host("compute-0-0", HostField::Arch, "aarch64").unwrap();
    db.set_boot_action(&BootAction {
        name: "install".into(),
        kernel: "/{distribution}/{release}/{arch}/vmlinuz".into(),
        initrd: "{distribution}/{arch}/initrd.img".into(),
        args: "inst.repo={distribution_url} inst.ks=http://old/ks console=ttyS0,115200n8 rd.host={host} srv={server} \
               ks={ks_url} keep={unknown} {brace inst.ks.sendmac"
            .into(),
    })
    .unwrap();
    let f = of(&db);
    let (pxelinux, grub, ipxe) = of_mac(&f, C00);
    let ks = "http://10.1.1.1/install/rocks/kickstart/compute-0-0.ks";
    let args = format!(
        "inst.repo=http://10.1.1.1/dist/alma-9 console=ttyS0,115200n8 rd.host=compute-0-0 srv=10.1.1.1 ks={ks} keep={{unknown}} \
         {{brace inst.ks.sendmac inst.ks={ks}"
    );
    assert_eq!(line(pxelinux, "KERNEL"), "KERNEL alma-9/9.4/aarch64/vmlinuz");
    assert_eq!(line(pxelinux, "APPEND"), format!("APPEND initrd=alma-9/aarch64/initrd.img {args}"));
    assert_eq!(line(grub, "linux"), format!("linux /alma-9/9.4/aarch64/vmlinuz {}", grub_quoted(&args)));
    assert_eq!(line(grub, "initrd"), "initrd /alma-9/aarch64/initrd.img");
    let base = "http://10.1.1.1/install/rocks/tftp";
    assert_eq!(line(ipxe, "kernel"), format!("kernel {base}/alma-9/9.4/aarch64/vmlinuz initrd=initrd.img {args}"));
    assert_eq!(line(ipxe, "initrd"), format!("initrd {base}/alma-9/aarch64/initrd.img"));
    // Other hosts keep rocky-9 and x86_64.
    let (pxelinux, _, _) = of_mac(&f, C01);
    assert_eq!(line(pxelinux, "KERNEL"), "KERNEL rocky-9/9/x86_64/vmlinuz");
}

/// The GRUB form of a command line as the tests write it: words with `{` quoted.
fn grub_quoted(args: &str) -> String {
    args.split(' ').map(|w| if w.contains('{') { format!("'{w}'") } else { w.to_string() }).collect::<Vec<_>>().join(" ")
}

#[test]
fn a_hosts_own_install_action_is_used() {
    // No database call sets `hosts.install_action` yet: change the snapshot.
    let (_dir, mut db) = example();
    db.set_boot_action(&BootAction {
        name: "rescue".into(),
        kernel: "rescue/vmlinuz".into(),
        initrd: String::new(),
        args: "rescue".into(),
    })
    .unwrap();
    let mut c = db.cluster().unwrap();
    host_mut(&mut c, "compute-0-1").install_action = "rescue".into();
    let f = files(&c, &BuildOptions::default());
    let (pxelinux, grub, ipxe) = of_mac(&f, C01);
    let ks = "inst.ks=http://10.1.1.1/install/rocks/kickstart/compute-0-1.ks";
    assert!(pxelinux.starts_with("# compute-0-1 52:54:00:00:00:02 boot=install action=rescue\n"), "{pxelinux}");
    assert!(pxelinux.contains("DEFAULT rescue\n") && pxelinux.contains("LABEL rescue\n"));
    // No initrd: no `initrd=` anywhere, no GRUB or iPXE `initrd` line.
    assert_eq!(line(pxelinux, "APPEND"), format!("APPEND rescue {ks}"));
    assert_eq!(line(grub, "linux"), format!("linux /rescue/vmlinuz rescue {ks}"));
    assert!(!grub.contains("initrd"), "{grub}");
    assert_eq!(line(ipxe, "kernel"), format!("kernel http://10.1.1.1/install/rocks/tftp/rescue/vmlinuz rescue {ks}"));
    assert!(!ipxe.contains("initrd"), "{ipxe}");
    // An action without a kernel, or one that does not exist, is an error naming the host.
    db.set_boot_action(&BootAction { name: "rescue".into(), kernel: " ".into(), initrd: String::new(), args: String::new() }).unwrap();
    let mut c2 = db.cluster().unwrap();
    host_mut(&mut c2, "compute-0-1").install_action = "rescue".into();
    let o = BuildOptions::default();
    let e = pxe::artifacts(&Site::new(&c2, &o)).unwrap_err();
    assert!(e.to_string().contains("host `compute-0-1`: boot action `rescue` has no kernel"), "{e}");
    host_mut(&mut c, "compute-0-1").install_action = "gone".into();
    let e = pxe::artifacts(&Site::new(&c, &o)).unwrap_err();
    assert!(e.to_string().contains("host `compute-0-1`: boot action `gone` is not defined"), "{e}");
}

#[test]
fn a_run_action_with_a_kernel_gets_no_kickstart() {
    let (_dir, mut db) = example();
    db.set_boot_action(&BootAction {
        name: "diskless".into(),
        kernel: "diskless/vmlinuz".into(),
        initrd: "diskless/initrd".into(),
        args: "root=nfs:{server}:/export/{host} inst.ks=keep".into(),
    })
    .unwrap();
    db.set_boot("compute-0-1", Boot::Os).unwrap();
    let mut c = db.cluster().unwrap();
    host_mut(&mut c, "compute-0-1").run_action = "diskless".into();
    let f = files(&c, &BuildOptions::default());
    let (pxelinux, _, ipxe) = of_mac(&f, C01);
    assert_eq!(line(pxelinux, "APPEND"), "APPEND initrd=diskless/initrd root=nfs:10.1.1.1:/export/compute-0-1 inst.ks=keep");
    assert!(line(ipxe, "kernel").ends_with(" initrd=initrd root=nfs:10.1.1.1:/export/compute-0-1 inst.ks=keep"));
}

#[test]
fn localboot_actions_boot_the_local_disk() {
    let (_dir, mut db) = example();
    // An install action may itself be `localboot` (e.g. to park hosts).
    db.set_boot_action(&BootAction { name: "install".into(), kernel: "localboot -1".into(), initrd: String::new(), args: "x".into() })
        .unwrap();
    let f = of(&db);
    for mac in [C00, C01] {
        let (pxelinux, grub, ipxe) = of_mac(&f, mac);
        assert!(pxelinux.contains("LABEL install\n  LOCALBOOT 0\n") && !pxelinux.contains("APPEND"), "{pxelinux}");
        assert!(grub.contains("\n  exit\n") && !grub.contains("linux"), "{grub}");
        assert!(ipxe.ends_with("exit\n") && !ipxe.contains("kernel"), "{ipxe}");
    }
}

#[test]
fn every_mac_of_a_host_gets_its_files() {
    let (_dir, mut db) = example();
    let mac = "52:54:00:AA:00:01";
    db.add_interface(&InterfaceSpec { host: "compute-0-0".into(), device: "eth1".into(), mac: Some(mac.into()), ..Default::default() })
        .unwrap();
    db.add_interface(&InterfaceSpec { host: "compute-0-0".into(), device: "ib0".into(), ..Default::default() }).unwrap();
    let f = of(&db);
    let (p0, g0, i0) = of_mac(&f, C00);
    let (p1, g1, i1) = of_mac(&f, "52:54:00:aa:00:01");
    // The same boot entry; only the comment names the other interface.
    let body = |t: &str| t.lines().filter(|l| !l.starts_with("# ")).collect::<Vec<_>>().join("\n");
    assert_eq!((body(p0), body(g0), body(i0)), (body(p1), body(g1), body(i1)));
    assert!(p1.starts_with("# compute-0-0 52:54:00:aa:00:01 "));
    assert_eq!(f.len(), 7 * 3 + 2);
}

#[test]
fn hosts_without_a_mac_or_a_kickstart_boot_accordingly() {
    let (_dir, mut db) = example();
    db.add_host(&HostSpec { ip: Some("10.1.255.1".into()), ..HostSpec::new("compute-9-0", "compute") }).unwrap();
    db.add_host(&HostSpec::new("compute-9-1", "compute")).unwrap();
    let mut switch = ApplianceSpec::rocks("switch");
    switch.kickstartable = false;
    db.add_appliance(&switch).unwrap();
    let sw_mac = "52:54:00:00:09:01";
    db.add_host(&HostSpec { mac: Some(sw_mac.into()), ip: Some("10.1.255.2".into()), ..HostSpec::new("switch-0-0", "switch") }).unwrap();
    let f = of(&db);
    assert!(!f.keys().any(|p| p.contains("compute-9")), "hosts without a MAC get nothing");
    assert_eq!(f.len(), 7 * 3 + 2);
    let (pxelinux, grub, ipxe) = of_mac(&f, sw_mac);
    assert!(pxelinux.starts_with("# switch-0-0 52:54:00:00:09:01 boot=install action=install (appliance switch is not kickstartable"));
    assert!(pxelinux.contains("LOCALBOOT 0") && grub.contains("  exit\n") && ipxe.ends_with("exit\n"));
}

#[test]
fn hosts_use_their_own_install_server() {
    let (_dir, mut db) = example();
    db.add_server("is-a", "10.1.1.2", None).unwrap();
    db.add_server("is-b", "10.1.1.3", Some("https://is-b.local:8443/tree")).unwrap();
    db.add_server("is-c", "10.1.1.4", None).unwrap();
    let c = db.cluster().unwrap();
    let o = BuildOptions::default();
    let site = Site::new(&c, &o);
    let f = files(&c, &o);
    let mut used = std::collections::BTreeSet::new();
    for (i, h) in c.hosts.iter().enumerate() {
        let s = site.server(i).unwrap();
        used.insert(s.name.clone());
        let mac = h.primary().unwrap().mac.as_deref().unwrap();
        let (pxelinux, grub, ipxe) = of_mac(&f, mac);
        let ks = format!("inst.ks={}/kickstart/{}.ks", s.url, h.name);
        assert!(line(pxelinux, "APPEND").ends_with(&ks), "{pxelinux}");
        assert!(line(grub, "linux").ends_with(&ks), "{grub}");
        assert!(line(ipxe, "kernel").starts_with(&format!("kernel {}/tftp/images/rocky-9/vmlinuz ", s.url)), "{ipxe}");
        assert_eq!(line(ipxe, "initrd"), format!("initrd {}/tftp/images/rocky-9/initrd.img", s.url));
    }
    assert!(used.len() >= 2, "six hosts over three servers use more than one: {used:?}");
    // Over TFTP, the entry point chains to the server that answered; over HTTP, to its neighbour.
    let tftp = &f["tftp/boot.ipxe"];
    for (ip, url) in [
        ("10.1.1.2", "http://10.1.1.2/install/rocks"),
        ("10.1.1.3", "https://is-b.local:8443/tree"),
        ("10.1.1.4", "http://10.1.1.4/install/rocks"),
    ] {
        assert!(tftp.contains(&format!("iseq ${{next-server}} {ip} && chain {url}/ipxe/${{netX/mac:hexhyp}}.ipxe && exit ||\n")), "{tftp}");
    }
    assert!(!tftp.contains("10.1.1.1"), "the default server is not used once servers are configured");
    assert!(f["ipxe/boot.ipxe"].contains("\nchain ${netX/mac:hexhyp}.ipxe && exit ||\n"));
}

#[test]
fn without_an_install_server_only_the_entry_points_are_made() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path().join("c.db")).unwrap();
    db.add_host(&HostSpec { mac: Some(C00.into()), ..HostSpec::new("compute-0-0", "compute") }).unwrap();
    let mut c = db.cluster().unwrap();
    c.networks.iter_mut().for_each(|n: &mut Network| n.gateway = None);
    let f = files(&c, &BuildOptions::default());
    assert_eq!(f.keys().collect::<Vec<_>>(), ["ipxe/boot.ipxe", "tftp/boot.ipxe"]);
}

#[test]
fn nothing_when_not_wanted() {
    let (_dir, db) = example();
    let c = db.cluster().unwrap();
    let o = BuildOptions { kinds: [Kind::Dhcpd].into_iter().collect(), ..BuildOptions::default() };
    assert!(pxe::artifacts(&Site::new(&c, &o)).unwrap().is_empty());
}

#[test]
fn odd_arguments_stay_valid_grub() {
    let (_dir, mut db) = example();
    db.set_boot_action(&BootAction {
        name: "install".into(),
        kernel: "vmlinuz".into(),
        initrd: "initrd.img".into(),
        args: r#"a=$x b=1;reboot c=it's d="q r" e=x|y f=(g) h=#i j=&k {l} m=\n"#.into(),
    })
    .unwrap();
    // `check` runs grub-script-check on the result.
    let f = of(&db);
    let (_, grub, _) = of_mac(&f, C00);
    assert!(line(grub, "linux").starts_with(r#"linux /vmlinuz 'a=$x' 'b=1;reboot' 'c=it'\''s' 'd="q' 'r"' 'e=x|y'"#), "{grub}");
}

#[test]
fn secrets_mark_the_files_that_hold_them() {
    let (_dir, mut db) = example();
    db.set_boot_action(&BootAction { name: "install".into(), kernel: "vmlinuz".into(), initrd: String::new(), args: "pw=s3cr3t".into() })
        .unwrap();
    let mut c = db.cluster().unwrap();
    c.attributes.entry(("global".into(), String::new())).or_default().insert("pw".into(), ("s3cr3t".into(), true));
    let o = BuildOptions::default();
    let a = pxe::artifacts(&Site::new(&c, &o)).unwrap();
    assert!(a.iter().filter(|a| a.path != "ipxe/boot.ipxe" && a.path != "tftp/boot.ipxe").all(|a| a.secret && a.mode == 0o640));
    assert!(a.iter().filter(|a| a.path.ends_with("boot.ipxe")).all(|a| !a.secret));
}

fn host_mut<'a>(c: &'a mut Cluster, name: &str) -> &'a mut HostFacts {
    c.hosts.iter_mut().find(|h| h.name == name).unwrap()
}

/// 100,000 hosts with one MAC each, over four install servers: 300,002 files.
#[test]
fn a_hundred_thousand_hosts() {
    let (_dir, db) = example();
    let mut c = db.cluster().unwrap();
    let template = c.host("compute-0-0").unwrap().clone();
    c.hosts = (0..100_000u32)
        .map(|n| HostFacts {
            name: format!("compute-{}-{}", n / 1000, n % 1000),
            interfaces: vec![Iface {
                device: "eth0".into(),
                mac: Some(format!("52:54:00:{:02x}:{:02x}:{:02x}", n >> 16, (n >> 8) & 0xff, n & 0xff)),
                ip: Some(format!("10.1.{}.{}", n / 250, n % 250 + 1)),
                network: Some("private".into()),
                primary: true,
            }],
            ..template.clone()
        })
        .collect();
    c.hosts.sort_by(|a, b| a.name.cmp(&b.name));
    c.servers = (0..4)
        .map(|i| InstallServer { name: format!("is-{i}"), ip: format!("10.1.1.{}", i + 2), url: format!("http://10.1.1.{}/rocks", i + 2) })
        .collect();
    let o = BuildOptions::default();
    let site = Site::new(&c, &o);
    let (t, cpu) = (Instant::now(), thread_cpu());
    let a = pxe::artifacts(&site).unwrap();
    let (took, cpu) = (t.elapsed(), thread_cpu() - cpu);
    let bytes: usize = a.iter().map(|a| a.bytes.len()).sum();
    eprintln!("pxe: 100000 hosts -> {} files, {bytes} bytes in {took:.2?} ({cpu:.2?} CPU)", a.len());
    assert_eq!(a.len(), 300_002);
}

/// CPU time of the calling thread (wall time is unreliable on a shared machine).
fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
