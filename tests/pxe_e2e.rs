//! End to end: a QEMU guest network-boots from the files of a build, inside a private network
//! namespace, and asks for its own kickstart.
//!
//! The namespace holds a bridge `br0` (10.99.0.1/24, the install server) and a tap for the
//! guest; in it run ISC dhcpd with the generated `dhcp/dhcpd.conf`, dnsmasq as a TFTP server
//! only (rooted at the tree's `tftp/`), nginx serving the whole tree over HTTP, and QEMU (TCG;
//! one boot keeps a core busy for about 80 s). The boot loaders come from the distribution
//! (pxelinux, GRUB's `grub-mknetdir`), and Debian's netboot installer stands in for anaconda:
//! the boot action passes it `url=<the host's kickstart URL>`, which it fetches with wget after
//! its own DHCP. A boot passes when
//!
//! - dhcpd acknowledged the host's fixed address to its MAC,
//! - dnsmasq sent the boot loader, the host's own config file, the kernel and the initrd,
//! - nginx saw the host's fixed address fetch exactly its own kickstart path.
//!
//! Two hosts: `node-bios` boots SeaBIOS with QEMU's default NIC ROM, which is iPXE: only its
//! `pxe_loader=pxelinux` attribute (a host-scope `filename`) makes it load pxelinux instead of
//! the iPXE script. `node-uefi` boots OVMF's own PXE (no NIC ROM), which DHCP sends to GRUB by
//! its architecture. The two boots run one after the other (a lock), each within
//! [`BOOT_TIMEOUT`]. They need root (network namespaces) and the tools `.ci/run` installs;
//! without them they fail, unless `ROCKS_SKIP_VALIDATORS=1` says to skip.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rocks_compile::facts::{BootAction, Db, HostField, HostSpec, NetworkSpec, Target};
use rocks_compile::plan::{Kind, mac_hyphen};

/// Longest a boot may take to reach its kickstart (they take 75 to 85 s on an idle core).
const BOOT_TIMEOUT: Duration = Duration::from_secs(420);
/// The install server: the bridge's address inside the namespace.
const SERVER: &str = "10.99.0.1";
/// nginx's port inside the namespace (nothing else listens there).
const HTTP_PORT: u16 = 8080;
/// Debian's netboot installer (package debian-installer-12-netboot-amd64).
const DEBIAN_INSTALLER: &str = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64";
const PXELINUX: &str = "/usr/lib/PXELINUX/pxelinux.0";
const LDLINUX: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";
const GRUB_EFI_MODULES: &str = "/usr/lib/grub/x86_64-efi";
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS.fd";

/// One boot at a time: each keeps a core busy, and both would race for the same timeouts.
static ONE_BOOT_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn bios_guest_boots_pxelinux_and_fetches_its_own_kickstart() {
    boot_and_check(&Guest { host: "node-bios", mac: "52:54:00:12:34:02", ip: "10.99.0.12", firmware: Firmware::Bios });
}

#[test]
fn uefi_guest_boots_grub_and_fetches_its_own_kickstart() {
    boot_and_check(&Guest { host: "node-uefi", mac: "52:54:00:12:34:03", ip: "10.99.0.13", firmware: Firmware::Uefi });
}

// ---------------------------------------------------------------------------------------------
// The cluster and its tree
// ---------------------------------------------------------------------------------------------

/// The guest that boots.
struct Guest {
    host: &'static str,
    mac: &'static str,
    ip: &'static str,
    firmware: Firmware,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Firmware {
    /// SeaBIOS with the NIC's iPXE ROM, forced to pxelinux by `pxe_loader`.
    Bios,
    /// OVMF's own PXE, sent to GRUB by its architecture.
    Uefi,
}

impl Firmware {
    /// The boot file DHCP must send, relative to the TFTP root.
    fn boot_file(self) -> &'static str {
        match self {
            Firmware::Bios => "pxelinux.0",
            Firmware::Uefi => "grub/x86_64-efi/core.efi",
        }
    }

    /// The per-interface config file the boot loader must fetch, relative to the TFTP root.
    fn config(self, mac: &str) -> String {
        match self {
            Firmware::Bios => format!("pxelinux.cfg/01-{}", mac_hyphen(mac)),
            Firmware::Uefi => format!("grub/grub.cfg-01-{}", mac_hyphen(mac)),
        }
    }
}

/// The cluster: network `boot` (10.99.0.0/24, DHCP on, gateway and DNS 10.99.0.1), install
/// server `is-0` at 10.99.0.1 serving the tree at `/`, boot action `d-i` (Debian's installer
/// told to fetch the kickstart URL) as the install action of two compute hosts: `node-bios`,
/// forced to pxelinux, and `node-uefi`, left to the DHCP server's choice.
fn cluster_db(dir: &Path) -> Db {
    let mut db = Db::open(dir.join("cluster.db")).unwrap();
    db.add_network(&NetworkSpec {
        name: "boot".into(),
        cidr: "10.99.0.0/24".into(),
        zone: "boot.test".into(),
        mtu: 1500,
        gateway: Some(SERVER.into()),
        // The installer stops at a prompt without a name server; nothing has to answer.
        dns_servers: vec![SERVER.into()],
        dhcp: true,
    })
    .unwrap();
    db.add_server("is-0", SERVER, Some(&format!("http://{SERVER}:{HTTP_PORT}"))).unwrap();
    db.set_boot_action(&BootAction {
        name: "d-i".into(),
        kernel: "d-i/linux".into(),
        initrd: "d-i/initrd.gz".into(),
        args: "auto=true priority=critical console=ttyS0 url={ks_url} DEBIAN_FRONTEND=text".into(),
    })
    .unwrap();
    for (host, mac, ip) in [("node-bios", "52:54:00:12:34:02", "10.99.0.12"), ("node-uefi", "52:54:00:12:34:03", "10.99.0.13")] {
        db.add_host(&HostSpec {
            mac: Some(mac.into()),
            ip: Some(ip.into()),
            network: Some("boot".into()),
            device: Some("eth0".into()),
            ..HostSpec::new(host, "compute")
        })
        .unwrap();
        db.set_host(host, HostField::InstallAction, "d-i").unwrap();
    }
    db.set_attr(&Target::Host("node-bios".into()), "pxe_loader", "pxelinux", false).unwrap();
    db
}

/// The kinds the boot needs.
const KINDS: [Kind; 3] = [Kind::Kickstart, Kind::Dhcpd, Kind::Pxe];

/// Build the tree of `db` at `out`. `rocks-compile build --out` does not write its tree yet,
/// so the library's plan is written here; once it does, this body becomes
/// `build_with_cli(db.path(), out)`.
/// `rocks-compile build` of the boot kinds into `out`.
fn build_tree(db: &Db, out: &Path) {
    build_with_cli(db.path(), out)
}

/// `rocks-compile --db DB build --only ... --out OUT`.
fn build_with_cli(db: &Path, out: &Path) {
    use assert_cmd::cargo::CommandCargoExt;
    let only = KINDS.map(|k| k.as_str()).join(",");
    let run = Command::cargo_bin("rocks-compile")
        .unwrap()
        .env_remove("ROCKS_COMPILE_DB")
        .arg("--db")
        .arg(db)
        .args(["build", "--allow-default-password", "--only", &only, "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(run.status.success(), "build failed:\n{}", String::from_utf8_lossy(&run.stderr));
}

/// Add the files the build does not make to `<tree>/tftp/`: pxelinux, GRUB's network tree
/// and the installer's kernel and initrd.
fn add_boot_loaders(tree: &Path, grub_mknetdir: &Path) {
    let tftp = tree.join("tftp");
    fs::create_dir_all(tftp.join("d-i")).unwrap();
    let di = Path::new(DEBIAN_INSTALLER);
    for (from, to) in [
        (PathBuf::from(PXELINUX), "pxelinux.0"),
        (PathBuf::from(LDLINUX), "ldlinux.c32"),
        (di.join("linux"), "d-i/linux"),
        (di.join("initrd.gz"), "d-i/initrd.gz"),
    ] {
        let to = tftp.join(to);
        if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        }
    }
    let out = Command::new(grub_mknetdir)
        .arg(format!("--net-directory={}", tftp.display()))
        .args(["--subdir=grub", "-d", GRUB_EFI_MODULES])
        .output()
        .unwrap();
    assert!(out.status.success(), "grub-mknetdir: {}", String::from_utf8_lossy(&out.stderr));
}

// ---------------------------------------------------------------------------------------------
// The boot
// ---------------------------------------------------------------------------------------------

/// Build, boot `guest` and check what the servers saw.
fn boot_and_check(guest: &Guest) {
    let Some(tools) = Tools::find() else { return };
    let _one = ONE_BOOT_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // dnsmasq serves TFTP as an unprivileged user: the tree must be readable by everyone.
    fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let tree = dir.path().join("tree");
    let run = dir.path().join("run");
    fs::create_dir_all(&run).unwrap();

    let db = cluster_db(dir.path());
    let t = Instant::now();
    build_tree(&db, &tree);
    add_boot_loaders(&tree, &tools.grub_mknetdir);
    // The operator's boot loaders and installer images are not the build's: a rebuild keeps them.
    build_tree(&db, &tree);
    assert!(tree.join("tftp/pxelinux.0").is_file() && tree.join("tftp/d-i/linux").is_file(), "a rebuild kept the boot files");
    eprintln!("{}: tree built in {:.1?}", guest.host, t.elapsed());
    let conf = fs::read_to_string(tree.join("dhcp/dhcpd.conf")).unwrap();
    let forced = conf.contains(&format!("fixed-address {};\n    option host-name \"{}\";\n    filename ", guest.ip, guest.host));
    assert_eq!(forced, guest.firmware == Firmware::Bios, "only node-bios has a host-scope filename:\n{conf}");
    for f in [format!("kickstart/{}.ks", guest.host), format!("tftp/{}", guest.firmware.config(guest.mac))] {
        assert!(tree.join(&f).is_file(), "{f} is missing from the tree");
    }

    let Some(ns) = Netns::create(&tools.ip, guest.host) else { return };
    let mut lab = Lab { procs: Vec::new(), ns, run: run.clone() };
    lab.start_servers(&tools, &tree);
    let logs = Logs { run: run.clone(), tftp_root: tree.join("tftp") };
    let t0 = Instant::now();
    lab.start_guest(&tools, guest);
    let outcome = watch(&mut lab, &logs, guest, t0);
    let timeline: String = outcome.timeline.iter().map(|(what, at)| format!("  {:>6.1}s  {what}\n", at.as_secs_f64())).collect();
    eprintln!("{} ({:?}) timeline:\n{timeline}", guest.host, guest.firmware);
    let failure = outcome.failure.or_else(|| check_logs(&logs, guest).err());
    drop(lab);
    if let Some(why) = failure {
        panic!("{} ({:?}) did not boot to its kickstart: {why}\n--- timeline\n{timeline}{}", guest.host, guest.firmware, logs.report());
    }
}

/// What a boot did: milestones with the time since QEMU started, and why it failed.
struct Outcome {
    timeline: Vec<(String, Duration)>,
    failure: Option<String>,
}

/// Whether the logs show that a boot got somewhere.
type Milestone<'a> = Box<dyn Fn(&Snapshot) -> bool + 'a>;

/// Follow the logs until the guest fetched a kickstart, failed fast (QEMU exited, kernel
/// panic) or ran out of time.
fn watch(lab: &mut Lab, logs: &Logs, guest: &Guest, t0: Instant) -> Outcome {
    let fw = guest.firmware;
    // DHCPACKs up to the kernel's start: the firmware's; any later one is the installer's.
    let acks_before_kernel = std::cell::Cell::new(None);
    let milestones: Vec<(String, Milestone<'_>)> = vec![
        ("firmware got its fixed address".into(), Box::new(|s: &Snapshot| s.acks >= 1)),
        (format!("TFTP sent {}", fw.boot_file()), Box::new(move |s: &Snapshot| s.sent(fw.boot_file()))),
        (format!("TFTP sent {}", fw.config(guest.mac)), Box::new(move |s: &Snapshot| s.sent(&fw.config(guest.mac)))),
        ("TFTP sent d-i/linux".into(), Box::new(|s: &Snapshot| s.sent("d-i/linux"))),
        ("TFTP sent d-i/initrd.gz".into(), Box::new(|s: &Snapshot| s.sent("d-i/initrd.gz"))),
        (
            "kernel started".into(),
            Box::new(|s: &Snapshot| {
                let started = s.console.contains("Linux version");
                if started {
                    acks_before_kernel.set(Some(s.acks));
                }
                started
            }),
        ),
        ("installer got its fixed address".into(), Box::new(|s: &Snapshot| acks_before_kernel.get().is_some_and(|n| s.acks > n))),
        ("installer asked for its kickstart".into(), Box::new(|s: &Snapshot| s.kickstart_gets > 0)),
    ];
    let mut seen: Vec<Option<Duration>> = vec![None; milestones.len()];
    let mut failure = None;
    loop {
        let s = logs.snapshot(guest);
        for (i, (_, reached)) in milestones.iter().enumerate() {
            if seen[i].is_none() && reached(&s) {
                seen[i] = Some(t0.elapsed());
            }
        }
        if seen.last().unwrap().is_some() {
            break;
        }
        if s.console.contains("end Kernel panic") {
            failure = Some("kernel panic".to_string());
            break;
        }
        if let Some(status) = lab.guest_exited() {
            failure = Some(format!("QEMU exited ({status})"));
            break;
        }
        if t0.elapsed() > BOOT_TIMEOUT {
            failure = Some(format!("no kickstart request within {BOOT_TIMEOUT:?}"));
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut timeline: Vec<(String, Duration)> = milestones.into_iter().zip(seen).filter_map(|((what, _), at)| Some((what, at?))).collect();
    timeline.sort_by_key(|(_, at)| *at);
    Outcome { timeline, failure }
}

/// The final checks, once the kickstart was asked for.
fn check_logs(logs: &Logs, guest: &Guest) -> Result<(), String> {
    let s = logs.snapshot(guest);
    let own = format!("\"GET /kickstart/{}.ks HTTP/1.", guest.host);
    let requests: Vec<&str> = s.access.lines().filter(|l| l.contains(" /kickstart/")).collect();
    if !requests.iter().any(|l| l.starts_with(&format!("{} {own}", guest.ip)) && l.contains("\" 200 ")) {
        return Err(format!("no `{own}` from {} answered 200: {requests:?}", guest.ip));
    }
    if let Some(other) = requests.iter().find(|l| !(l.starts_with(&format!("{} ", guest.ip)) && l.contains(&own))) {
        return Err(format!("a kickstart request that is not the host's own from its fixed address: {other}"));
    }
    if s.acks == 0 {
        return Err(format!("dhcpd never sent DHCPACK on {} to {}", guest.ip, guest.mac));
    }
    for f in [guest.firmware.boot_file().to_string(), guest.firmware.config(guest.mac), "d-i/linux".into(), "d-i/initrd.gz".into()] {
        if !s.sent(&f) {
            return Err(format!("dnsmasq did not send {f} to {}", guest.ip));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

/// Where the servers and the guest log.
struct Logs {
    run: PathBuf,
    tftp_root: PathBuf,
}

/// The logs at one moment, as far as one guest is concerned.
struct Snapshot {
    /// DHCPACKs of the guest's fixed address to its MAC.
    acks: usize,
    /// TFTP files sent to the guest's address, relative to the TFTP root.
    tftp_sent: Vec<String>,
    access: String,
    /// Requests of the guest's own kickstart from its fixed address.
    kickstart_gets: usize,
    console: String,
}

impl Logs {
    const DHCP: &'static str = "dhcpd.log";
    const TFTP: &'static str = "dnsmasq.log";
    const ACCESS: &'static str = "access.log";
    const NGINX: &'static str = "nginx.log";
    const CONSOLE: &'static str = "console.log";

    fn read(&self, name: &str) -> String {
        let mut bytes = Vec::new();
        if let Ok(mut f) = fs::File::open(self.run.join(name)) {
            let _ = f.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn snapshot(&self, guest: &Guest) -> Snapshot {
        let ack = format!("DHCPACK on {} to {} ", guest.ip, guest.mac);
        let to = format!(" to {}", guest.ip);
        let root = format!("sent {}/", self.tftp_root.display());
        let access = self.read(Self::ACCESS);
        let own = format!("{} \"GET /kickstart/{}.ks HTTP/1.", guest.ip, guest.host);
        Snapshot {
            acks: self.read(Self::DHCP).lines().filter(|l| l.contains(&ack)).count(),
            tftp_sent: self
                .read(Self::TFTP)
                .lines()
                .filter_map(|l| l.split_once(&root).map(|(_, rest)| rest))
                .filter_map(|rest| rest.strip_suffix(&to).map(str::to_string))
                .collect(),
            kickstart_gets: access.lines().filter(|l| l.starts_with(&own)).count(),
            access,
            console: self.read(Self::CONSOLE),
        }
    }

    /// Every log, shortened, for a failure message.
    fn report(&self) -> String {
        let pick = |name: &str, keep: &dyn Fn(&str) -> bool| -> String {
            let text = self.read(name);
            let lines: Vec<&str> = text.lines().filter(|l| keep(l)).collect();
            let from = lines.len().saturating_sub(40);
            lines[from..].iter().map(|l| format!("{l}\n")).collect()
        };
        let console = self.read(Self::CONSOLE);
        let mut tail_from = console.len().saturating_sub(3000);
        while !console.is_char_boundary(tail_from) {
            tail_from += 1;
        }
        format!(
            "--- dhcpd\n{}--- TFTP\n{}--- HTTP access\n{}--- nginx\n{}--- console (tail)\n{}\n",
            pick(Self::DHCP, &|l| l.starts_with("DHCP") || l.contains("rror") || l.contains("arning")),
            pick(Self::TFTP, &|l| !l.contains(".mod to ")),
            pick(Self::ACCESS, &|_| true),
            pick(Self::NGINX, &|_| true),
            without_escapes(&console[tail_from..]),
        )
    }
}

/// `text` without terminal escape sequences (`ESC [ ... letter`) and other control
/// characters but line breaks and tabs.
fn without_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

impl Snapshot {
    fn sent(&self, path: &str) -> bool {
        self.tftp_sent.iter().any(|p| p == path)
    }
}

// ---------------------------------------------------------------------------------------------
// The network namespace and its processes
// ---------------------------------------------------------------------------------------------

/// The programs the boot needs.
struct Tools {
    ip: PathBuf,
    dhcpd: PathBuf,
    dnsmasq: PathBuf,
    nginx: PathBuf,
    qemu: PathBuf,
    grub_mknetdir: PathBuf,
}

impl Tools {
    /// Every program and file, or `None` (after saying so) when one is missing and
    /// `ROCKS_SKIP_VALIDATORS=1`.
    fn find() -> Option<Tools> {
        let tools = Tools {
            ip: common::tool("ip")?,
            dhcpd: common::tool("dhcpd")?,
            dnsmasq: common::tool("dnsmasq")?,
            nginx: common::tool("nginx")?,
            qemu: common::tool("qemu-system-x86_64")?,
            grub_mknetdir: common::tool("grub-mknetdir")?,
        };
        let di = Path::new(DEBIAN_INSTALLER);
        for f in [
            di.join("linux"),
            di.join("initrd.gz"),
            PXELINUX.into(),
            LDLINUX.into(),
            GRUB_EFI_MODULES.into(),
            OVMF_CODE.into(),
            OVMF_VARS.into(),
        ] {
            if !f.exists() {
                skip_or_panic(&format!("{} is missing (see .ci/run)", f.display()))?;
            }
        }
        Some(tools)
    }
}

/// Fail with `why`, or (with `ROCKS_SKIP_VALIDATORS=1`) say that the boot did not run.
fn skip_or_panic<T>(why: &str) -> Option<T> {
    let msg = format!("*** {why}: the PXE boot was NOT tested ***");
    if std::env::var("ROCKS_SKIP_VALIDATORS").as_deref() == Ok("1") {
        eprintln!("{msg}");
        None
    } else {
        panic!("{msg} (set ROCKS_SKIP_VALIDATORS=1 to skip)");
    }
}

/// A network namespace of this test process, deleted when dropped.
struct Netns {
    name: String,
    /// The `ip` program.
    ip: PathBuf,
}

impl Netns {
    /// Namespaces are named `rocks-pxe-<pid>-<host>`; those of test processes that died
    /// without cleaning up are deleted first.
    const PREFIX: &'static str = "rocks-pxe-";

    /// `rocks-pxe-<pid>-<tag>` with a bridge `br0` at 10.99.0.1/24 and a tap `tap0` on it;
    /// `None` (after saying so) when it cannot be made and `ROCKS_SKIP_VALIDATORS=1`.
    fn create(ip: &Path, tag: &str) -> Option<Netns> {
        Netns::remove_stale(ip);
        let name = format!("{}{}-{tag}", Netns::PREFIX, std::process::id());
        let add = Command::new(ip).args(["netns", "add", &name]).output();
        match add {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return skip_or_panic(&format!(
                    "cannot create a network namespace (needs root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
            }
            Err(e) => return skip_or_panic(&format!("cannot run `ip netns add`: {e}")),
        }
        let ns = Netns { name, ip: ip.to_path_buf() };
        for args in [
            &["link", "set", "lo", "up"][..],
            &["link", "add", "br0", "type", "bridge"],
            &["addr", "add", &format!("{SERVER}/24"), "dev", "br0"],
            &["link", "set", "br0", "up"],
            &["tuntap", "add", "dev", "tap0", "mode", "tap"],
            &["link", "set", "tap0", "master", "br0", "up"],
        ] {
            let out = Command::new(ip).arg("-n").arg(&ns.name).args(args).output().unwrap();
            assert!(out.status.success(), "ip -n {} {args:?}: {}", ns.name, String::from_utf8_lossy(&out.stderr));
        }
        Some(ns)
    }

    /// Delete the namespaces of test processes that no longer run.
    fn remove_stale(ip: &Path) {
        let Ok(out) = Command::new(ip).args(["netns", "list"]).output() else { return };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            let Some(pid) = name.strip_prefix(Netns::PREFIX).and_then(|r| r.split('-').next()) else { continue };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = Command::new(ip).args(["netns", "del", name]).status();
            }
        }
    }

    /// A command that runs `program` inside the namespace (`ip netns exec` execs it: the
    /// child is the program itself).
    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(&self.ip);
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new(&self.ip).args(["netns", "del", &self.name]).status();
    }
}

/// A process of the test, killed and reaped when dropped.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The namespace with its processes. Fields drop in declaration order: every process is
/// killed before the namespace is deleted, also when the test panics.
struct Lab {
    /// Servers, then the guest.
    procs: Vec<Proc>,
    ns: Netns,
    /// Logs, leases, pid files, the guest's UEFI variables.
    run: PathBuf,
}

impl Lab {
    /// Start `program` in the namespace with its output to `run/<log>`.
    fn spawn(&mut self, name: &'static str, mut cmd: Command, log: &str) {
        let out = fs::File::create(self.run.join(log)).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.procs.push(Proc { name, child });
    }

    /// dhcpd, dnsmasq (TFTP only) and nginx, each running and ready.
    fn start_servers(&mut self, tools: &Tools, tree: &Path) {
        let run = self.run.clone();
        fs::write(run.join("dhcpd.leases"), "").unwrap();
        let mut dhcpd = self.ns.command(&tools.dhcpd);
        dhcpd.args(["-4", "-f", "-d", "-cf"]).arg(tree.join("dhcp/dhcpd.conf"));
        dhcpd.arg("-lf").arg(run.join("dhcpd.leases")).arg("-pf").arg(run.join("dhcpd.pid")).arg("br0");
        self.spawn("dhcpd", dhcpd, Logs::DHCP);

        let mut dnsmasq = self.ns.command(&tools.dnsmasq);
        dnsmasq.args(["--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--interface=br0", "--bind-interfaces"]);
        dnsmasq.arg("--enable-tftp").arg(format!("--tftp-root={}", tree.join("tftp").display()));
        dnsmasq.arg("--log-facility=-").arg(format!("--pid-file={}", run.join("dnsmasq.pid").display()));
        self.spawn("dnsmasq", dnsmasq, Logs::TFTP);

        fs::write(run.join("nginx.conf"), nginx_conf(&run, tree)).unwrap();
        let mut nginx = self.ns.command(&tools.nginx);
        nginx.arg("-p").arg(&run).arg("-e").arg("stderr").arg("-c").arg(run.join("nginx.conf"));
        self.spawn("nginx", nginx, Logs::NGINX);

        let logs = Logs { run: run.clone(), tftp_root: tree.join("tftp") };
        self.wait_until("dhcpd to serve br0", || logs.read(Logs::DHCP).contains("Server starting service"));
        self.wait_until("dnsmasq to serve TFTP", || logs.read(Logs::TFTP).contains("TFTP root is"));
        let (ip, ns) = (self.ns.ip.clone(), self.ns.name.clone());
        self.wait_until("nginx to listen", || {
            let ss = Command::new(&ip).args(["netns", "exec", &ns, "ss", "-Hltn"]).output();
            ss.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&format!("{SERVER}:{HTTP_PORT}")))
        });
    }

    /// Wait up to 20 s for `ready`; fail with the logs when a server exited or never got ready.
    fn wait_until(&mut self, what: &str, ready: impl Fn() -> bool) {
        let t = Instant::now();
        while !ready() {
            let exited = self.procs.iter_mut().find_map(|p| Some((p.name, p.child.try_wait().ok().flatten()?)));
            if let Some((name, status)) = exited {
                panic!("{name} exited ({status}) while waiting for {what}\n{}", self.logs_so_far());
            }
            assert!(t.elapsed() < Duration::from_secs(20), "timed out waiting for {what}\n{}", self.logs_so_far());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs_so_far(&self) -> String {
        [Logs::DHCP, Logs::TFTP, Logs::NGINX]
            .iter()
            .map(|f| format!("--- {f}\n{}", fs::read_to_string(self.run.join(f)).unwrap_or_default()))
            .collect()
    }

    /// QEMU (TCG, no disk, network boot only) on `tap0` with `guest`'s MAC and firmware.
    fn start_guest(&mut self, tools: &Tools, guest: &Guest) {
        let mut qemu = self.ns.command(&tools.qemu);
        // KVM: the iPXE ROM resets the guest and the kernel hangs under it on these hosts.
        qemu.args(["-machine", "accel=tcg", "-m", "1024", "-smp", "1", "-nographic", "-no-reboot", "-boot", "n"]);
        qemu.args(["-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no"]);
        let mut nic = format!("virtio-net-pci,netdev=n0,mac={}", guest.mac);
        if guest.firmware == Firmware::Uefi {
            let vars = self.run.join("OVMF_VARS.fd");
            fs::copy(OVMF_VARS, &vars).unwrap();
            qemu.args(["-drive", &format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}")]);
            qemu.arg("-drive").arg(format!("if=pflash,format=raw,file={}", vars.display()));
            // No NIC ROM: OVMF's own PXE (with the default ROM, iPXE would boot instead).
            nic.push_str(",romfile=");
        }
        qemu.args(["-device", &nic]);
        self.spawn("qemu", qemu, Logs::CONSOLE);
    }

    /// The guest's exit status, when it has exited.
    fn guest_exited(&mut self) -> Option<std::process::ExitStatus> {
        self.procs.iter_mut().find(|p| p.name == "qemu").and_then(|p| p.child.try_wait().ok().flatten())
    }
}

/// nginx in the foreground as one process, serving `tree` at `/` on the server's address and
/// logging each request as `<client> "<request>" <status> <bytes> "<user agent>"`.
fn nginx_conf(run: &Path, tree: &Path) -> String {
    let run = run.display();
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {run}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
    log_format boot '$remote_addr \"$request\" $status $body_bytes_sent \"$http_user_agent\"';
    access_log {run}/{access} boot;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    types {{ text/plain ks ipxe cfg; }}
    default_type application/octet-stream;
    server {{
        listen {SERVER}:{HTTP_PORT};
        root {tree};
    }}
}}
",
        access = Logs::ACCESS,
        tree = tree.display(),
    )
}
