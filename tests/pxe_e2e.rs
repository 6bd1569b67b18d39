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
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::lab::{DEBIAN_INSTALLER, Firmware, LDLINUX, Lab, Milestone, Netns, Outcome, PXELINUX, follow, read_lossy, skip_or_panic};
use rocks_compile::facts::{BootAction, Db, HostField, HostSpec, NetworkSpec, Target};
use rocks_compile::plan::Kind;

/// Longest a boot may take to reach its kickstart (they take 75 to 85 s on an idle core).
const BOOT_TIMEOUT: Duration = Duration::from_secs(420);
/// The install server: the bridge's address inside the namespace.
const SERVER: &str = "10.99.0.1";
/// nginx's port inside the namespace (nothing else listens there).
const HTTP_PORT: u16 = 8080;
/// Namespaces are named `rocks-pxe-<pid>-<host>`.
const NETNS_PREFIX: &str = "rocks-pxe-";

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
        .args(["--subdir=grub", "-d", common::lab::GRUB_EFI_MODULES])
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

    let Some(ns) = Netns::create(&tools.ip, NETNS_PREFIX, guest.host, "br0", &format!("{SERVER}/24")) else { return };
    ns.add_tap("tap0", "br0");
    let mut lab = Lab { procs: Vec::new(), ns, run: run.clone() };
    start_servers(&mut lab, &tools, &tree);
    let logs = Logs { run: run.clone(), tftp_root: tree.join("tftp") };
    let t0 = Instant::now();
    lab.start_guest(&tools.qemu, "qemu", "tap0", guest.mac, guest.firmware, Logs::CONSOLE);
    let outcome = watch(&mut lab, &logs, guest, t0);
    let timeline: String = outcome.timeline.iter().map(|(what, at)| format!("  {:>6.1}s  {what}\n", at.as_secs_f64())).collect();
    eprintln!("{} ({:?}) timeline:\n{timeline}", guest.host, guest.firmware);
    let failure = outcome.failure.or_else(|| check_logs(&logs, guest).err());
    drop(lab);
    if let Some(why) = failure {
        panic!("{} ({:?}) did not boot to its kickstart: {why}\n--- timeline\n{timeline}{}", guest.host, guest.firmware, logs.report());
    }
}

/// Follow the logs until the guest fetched a kickstart, failed fast (QEMU exited, kernel
/// panic) or ran out of time.
fn watch(lab: &mut Lab, logs: &Logs, guest: &Guest, t0: Instant) -> Outcome {
    let fw = guest.firmware;
    // DHCPACKs up to the kernel's start: the firmware's; any later one is the installer's.
    let acks_before_kernel = std::cell::Cell::new(None);
    let milestones: Vec<(String, Milestone<'_, Snapshot>)> = vec![
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
    follow(milestones, t0, BOOT_TIMEOUT, "kickstart request", || logs.snapshot(guest), |s| &s.console, || lab.exited("qemu"))
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
        read_lossy(&self.run.join(name))
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
        format!(
            "--- dhcpd\n{}--- TFTP\n{}--- HTTP access\n{}--- nginx\n{}--- console (tail)\n{}\n",
            pick(Self::DHCP, &|l| l.starts_with("DHCP") || l.contains("rror") || l.contains("arning")),
            pick(Self::TFTP, &|l| !l.contains(".mod to ")),
            pick(Self::ACCESS, &|_| true),
            pick(Self::NGINX, &|_| true),
            common::lab::console_tail(&self.read(Self::CONSOLE), 3000),
        )
    }
}

impl Snapshot {
    fn sent(&self, path: &str) -> bool {
        self.tftp_sent.iter().any(|p| p == path)
    }
}

// ---------------------------------------------------------------------------------------------
// The servers
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
        for f in common::lab::boot_files() {
            if !f.exists() {
                skip_or_panic(&format!("{} is missing (see .ci/run)", f.display()), "the PXE boot")?;
            }
        }
        Some(tools)
    }
}

/// dhcpd, dnsmasq (TFTP only) and nginx in `lab`, each running and ready.
fn start_servers(lab: &mut Lab, tools: &Tools, tree: &Path) {
    let run = lab.run.clone();
    fs::write(run.join("dhcpd.leases"), "").unwrap();
    let mut dhcpd = lab.ns.command(&tools.dhcpd);
    dhcpd.args(["-4", "-f", "-d", "-cf"]).arg(tree.join("dhcp/dhcpd.conf"));
    dhcpd.arg("-lf").arg(run.join("dhcpd.leases")).arg("-pf").arg(run.join("dhcpd.pid")).arg("br0");
    lab.spawn("dhcpd", dhcpd, Logs::DHCP);

    let mut dnsmasq = lab.ns.command(&tools.dnsmasq);
    dnsmasq.args(["--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--interface=br0", "--bind-interfaces"]);
    dnsmasq.arg("--enable-tftp").arg(format!("--tftp-root={}", tree.join("tftp").display()));
    dnsmasq.arg("--log-facility=-").arg(format!("--pid-file={}", run.join("dnsmasq.pid").display()));
    lab.spawn("dnsmasq", dnsmasq, Logs::TFTP);

    fs::write(run.join("nginx.conf"), nginx_conf(&run, tree)).unwrap();
    let mut nginx = lab.ns.command(&tools.nginx);
    nginx.arg("-p").arg(&run).arg("-e").arg("stderr").arg("-c").arg(run.join("nginx.conf"));
    lab.spawn("nginx", nginx, Logs::NGINX);

    let logs = [Logs::DHCP, Logs::TFTP, Logs::NGINX];
    lab.wait_until("dhcpd to serve br0", &logs, |l| l.read(Logs::DHCP).contains("Server starting service"));
    lab.wait_until("dnsmasq to serve TFTP", &logs, |l| l.read(Logs::TFTP).contains("TFTP root is"));
    lab.wait_until("nginx to listen", &logs, |l| l.listens(&format!("{SERVER}:{HTTP_PORT}")));
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
