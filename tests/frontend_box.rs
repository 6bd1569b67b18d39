//! A frontend in a box: the services of the built-in frontend, run for real from exactly the
//! files its kickstart writes, install compute hosts in a private network namespace.
//!
//! The cluster is made with the command line as an operator makes it: `init --network
//! 10.77.0.0/24`, the frontend `cluster` at 10.77.0.1, compute hosts with the addresses `host
//! add` allocates, and a boot action `d-i` that boots the distribution's installer where
//! the default `install` action does (Debian's netboot installer stands in for anaconda: its
//! `url=` is the host's kickstart URL, which it fetches after its own DHCP). Every path of
//! the frontend's files lies under a temporary root: the attributes `RocksCompile_TreeDir`,
//! `RocksCompile_DB` and `Kickstart_InstallTreeDir` point there, and the distribution's
//! paths (`/etc`, `/run`, `/var/named`, `/var/spool`, `/var/log`, `/tftpboot`) are moved
//! there when a file is taken from the frontend's kickstart (`kickstart/cluster.ks` of the
//! built tree). In a namespace with the frontend's private interface `eth0` (a bridge at
//! 10.77.0.1/24), each service runs as its unit says:
//!
//! - dhcpd: the drop-in's `ExecStart`, with `-d` (its log on standard error, as there is no
//!   syslog), `-lf` (the distribution's lease file, under the root) and the user `nobody`
//!   for Rocky's `dhcpd`, which Debian does not have;
//! - named: `named -g -c` on the frontend's `/etc/named.conf` after its `forwarders` line,
//!   plus a control channel with a key of the test (Rocky's named listens with its default
//!   `/etc/rndc.key`; Debian's compiled-in key is not the test's to read);
//! - TFTP: the drop-in's `ExecStart` on a UDP socket passed as standard input (Rocky's
//!   `tftp.socket`), by `systemd-socket-activate --datagram --inetd`;
//! - the FastCGI responder: the service unit's `ExecStart` (this build's binary) on the
//!   socket unit's `ListenStream`, by `systemd-socket-activate`;
//! - nginx: the frontend's site in the `http` block of a main `nginx.conf` (Rocky's includes
//!   `conf.d/*.conf` there), in one process;
//! - boot loaders and installer images: the kickstart's own `cluster-boot-files`, from
//!   `ROOT/tftpboot` (Rocky's `syslinux-tftpboot`) and the distribution's `images/pxeboot/`;
//! - slurmctld: the frontend's `slurm.conf` with the tree's node lines as its `nodes.conf`
//!   (what `cluster-files` installs) and munged with a new key, under the frontend's host
//!   name in their own mount and UTS namespaces.
//!
//! `ROOT/bin` holds the box's `systemctl` (it starts, restarts and stops the namespace's
//! dhcpd), `rndc` (the namespace's named, with the test's key) and Rocky's `grub2-mknetdir`;
//! `build --services` runs the frontend's own `services.toml` with them on its `PATH`.
//!
//! Two tests: compute hosts boot (BIOS through pxelinux, UEFI through GRUB; one after the
//! other, about 80 s each on an idle core), `dig` answers every host and slurmctld knows
//! every compute host; and a host added and built is served by dhcpd, named, TFTP and the
//! responder without anything restarted by hand. They need root and the tools `.ci/run`
//! installs; without them they fail, unless `ROCKS_SKIP_VALIDATORS=1` says to skip.

#[path = "frontend_box/boot.rs"]
mod boot;
mod common;
#[path = "frontend_box/root.rs"]
mod root;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use boot::Logs;
use common::lab::{Firmware, Lab, Netns, skip_or_panic};
use common::{ok, text};
use root::{Root, exec_start, id, nginx_main_conf, written_files};

/// The frontend's address, the install server of every host (no `server add`: the implied one).
const FRONTEND: &str = "10.77.0.1";
/// The frontend's name (`host add cluster --appliance frontend`).
const FRONTEND_NAME: &str = "cluster";
/// The DNS zone of the `private` network `init` makes.
const ZONE: &str = "local";
/// Longest a boot may take to reach its kickstart (they take 75 to 85 s on an idle core).
const BOOT_TIMEOUT: Duration = Duration::from_secs(420);
/// The database and the tree, as the frontend lays them out (under the root).
const DB: &str = "/var/lib/rocks-compile/cluster.db";
const TREE: &str = "/var/lib/rocks-compile/tree";
/// Where the distributions' trees are (`Kickstart_InstallTreeDir`, under the root).
const INSTALL_TREE: &str = "/export/rocks/install";

#[test]
fn compute_hosts_boot_and_fetch_their_kickstarts_from_a_frontend_in_a_box() {
    let computes = [("node-bios", "52:54:00:77:00:12", Some(Firmware::Bios)), ("node-uefi", "52:54:00:77:00:13", Some(Firmware::Uefi))];
    let t = Instant::now();
    let Some(mut b) = FrontendBox::start("boot", &computes) else { return };
    eprintln!("frontend in a box up in {:.1?}", t.elapsed());

    // named answers every host of the database, forward and reverse.
    let mut every = vec![b.frontend.clone()];
    every.extend(b.computes.iter().cloned());
    b.check_dns(&every);
    // slurmctld, from the frontend's slurm.conf and the tree's node lines, knows every
    // compute host at its address.
    let t = Instant::now();
    b.check_slurmctld();
    eprintln!("slurmctld checked in {:.1?}", t.elapsed());

    // Each compute host boots to its own kickstart, one after the other.
    let mut failures = Vec::new();
    for (i, host) in b.computes.clone().iter().enumerate() {
        let firmware = host.firmware.expect("a compute host that boots");
        let tap = format!("tap{i}");
        b.lab.ns.add_tap(&tap, "eth0");
        let t0 = Instant::now();
        b.lab.start_guest(&b.tools.qemu, &host.name, &tap, &host.mac, firmware, &host.console());
        let outcome = b.watch(host, t0);
        b.lab.stop(&host.name);
        let timeline: String = outcome.timeline.iter().map(|(what, at)| format!("  {:>6.1}s  {what}\n", at.as_secs_f64())).collect();
        eprintln!("{} ({firmware:?}) timeline:\n{timeline}", host.name);
        if let Some(why) = outcome.failure.or_else(|| b.check_boot(host).err()) {
            failures.push(format!(
                "{} ({firmware:?}) did not boot to its kickstart: {why}\n--- timeline\n{timeline}{}",
                host.name,
                b.report(host)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_host_added_and_built_is_served_without_a_restart_by_hand() {
    let Some(mut b) = FrontendBox::start("reload", &[("node-a", "52:54:00:77:00:21", None)]) else { return };
    let new = "node-new";
    let fqdn = format!("{new}.{ZONE}.");
    assert_eq!(b.dig(&[&fqdn, "A"]), "", "named does not know {new} before it is added");
    // TFTP has served a file before the build (a host booted): its server keeps running.
    let a = b.computes[0].clone();
    b.check_tftp(&Firmware::Bios.config(&a.mac));

    let added: serde_json::Value =
        serde_json::from_str(&b.root.rc(&["host", "add", new, "--appliance", "compute", "--mac", "52:54:00:77:00:30", "--json"])).unwrap();
    let host = Host { name: new.into(), mac: "52:54:00:77:00:30".into(), ip: added["ip"].as_str().unwrap().into(), firmware: None };

    // `build` runs the reloads of the frontend's services.toml: the box's systemctl and rndc.
    let t = Instant::now();
    let services = b.root.path("/etc/rocks-compile/services.toml");
    let out = b.root.build(&["--services", &services.display().to_string(), "--json"], true);
    assert!(out.status.success(), "build failed:\n{}{}", text(&out.stdout), text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reloads = report["reloads"].as_array().unwrap_or_else(|| panic!("no reloads in {report}"));
    let mut ran: Vec<String> = reloads.iter().map(|r| r["command"].as_str().unwrap().to_string()).collect();
    ran.sort();
    assert_eq!(ran, ["rndc reload", "systemctl restart dhcpd", "systemctl start cluster-files.service"], "{report}");
    assert!(reloads.iter().all(|r| r["ok"] == true), "a reload failed: {report}");
    eprintln!("build with its reloads took {:.1?}", t.elapsed());

    // dhcpd, restarted by the build, gives the new host's MAC its fixed address.
    b.lab.wait_until("the restarted dhcpd to serve", &[Logs::DHCP], |l| l.read(Logs::DHCP).matches("Server starting service").count() == 2);
    b.lab.ns.ip(&["link", "add", "vnew", "address", &host.mac, "type", "veth", "peer", "name", "vnew-br"]);
    b.lab.ns.ip(&["link", "set", "vnew-br", "master", "eth0", "up"]);
    b.lab.ns.ip(&["link", "set", "vnew", "up"]);
    let mut dhclient = b.lab.ns.command(&b.tools.dhclient);
    dhclient.args(["-d", "-1", "-v", "-sf", "/bin/true", "-lf"]).arg(b.root.path("/run/dhclient.leases"));
    dhclient.arg("-pf").arg(b.root.path("/run/dhclient.pid")).arg("vnew");
    b.lab.spawn("dhclient", dhclient, "dhclient.log");
    let t = Instant::now();
    let bound = format!("bound to {} ", host.ip);
    while !b.lab.read("dhclient.log").contains(&bound) {
        let done = b.lab.exited("dhclient");
        assert!(
            done.is_none() && t.elapsed() < Duration::from_secs(90),
            "no lease of {} for {} ({done:?}):\n--- dhclient\n{}--- dhcpd\n{}",
            host.ip,
            host.mac,
            b.lab.read("dhclient.log"),
            b.lab.read(Logs::DHCP)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    b.lab.stop("dhclient");
    eprintln!("the new host got {} after {:.1?}", host.ip, t.elapsed());
    assert!(b.lab.read(Logs::DHCP).contains(&format!("DHCPACK on {} to {} ", host.ip, host.mac)));

    // named, told by `rndc reload`, answers the new name and address.
    b.check_dns(std::slice::from_ref(&host));
    // The same TFTP server serves the new host's PXE file from the new tree.
    b.check_tftp(&Firmware::Bios.config(&host.mac));
    // The responder (which reloads by itself) answers the new host its own kickstart.
    b.check_kickstart_served(&host, None);
    let calls = fs::read_to_string(b.root.path("/run/systemctl.calls")).unwrap();
    assert_eq!(calls, "start dhcpd\nrestart dhcpd\nstart cluster-files.service\n", "only the build restarted dhcpd");
}

// ---------------------------------------------------------------------------------------------
// The box
// ---------------------------------------------------------------------------------------------

/// A host of the cluster.
#[derive(Debug, Clone)]
struct Host {
    name: String,
    mac: String,
    /// The address the database gave it.
    ip: String,
    /// How it network-boots, for hosts that boot.
    firmware: Option<Firmware>,
}

impl Host {
    /// Its console log (in the run directory).
    fn console(&self) -> String {
        format!("{}.console", self.name)
    }
}

/// The frontend's services running in a namespace, from the files its kickstart writes.
/// Fields drop in order: dhcpd (the box's systemctl stops it), the other processes and the
/// namespace, then the root.
struct FrontendBox {
    _dhcpd: Stopped,
    lab: Lab,
    tools: Tools,
    frontend: Host,
    computes: Vec<Host>,
    root: Root,
}

/// Runs `systemctl stop UNIT` of the box when dropped.
struct Stopped {
    systemctl: PathBuf,
    unit: &'static str,
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new(&self.systemctl).args(["stop", self.unit]).status();
    }
}

impl FrontendBox {
    /// The cluster with `computes` (name, MAC, firmware of those that boot), built; the
    /// frontend's files under the root; its services running in namespace `rocks-box-PID-tag`.
    /// `None` (after saying so) when a tool is missing and `ROCKS_SKIP_VALIDATORS=1`.
    fn start(tag: &str, computes: &[(&str, &str, Option<Firmware>)]) -> Option<FrontendBox> {
        let tools = Tools::find()?;
        let root = Root::new();
        let frontend = Host { name: FRONTEND_NAME.into(), mac: "52:54:00:77:00:01".into(), ip: FRONTEND.into(), firmware: None };
        let computes = root.make_cluster(&frontend, computes);
        root.write_file(
            &root.path("/etc/rocks-compile/no-reloads.toml"),
            &format!("# the box's services are not running yet\ntree = \"{}\"\n", root.tree().display()),
        );
        let first = root.build(&["--services", &root.path("/etc/rocks-compile/no-reloads.toml").display().to_string()], false);
        assert!(first.status.success(), "build failed:\n{}", text(&first.stderr));

        let ks = fs::read_to_string(root.tree().join(format!("kickstart/{FRONTEND_NAME}.ks"))).unwrap();
        let files = written_files(&ks);
        root.install_frontend_files(&files, &ks, &tools);
        root.add_boot_files(&tools);

        let ns = Netns::create(&tools.ip, "rocks-box-", tag, "eth0", &format!("{FRONTEND}/24"))?;
        let lab = Lab { procs: Vec::new(), ns, run: root.path("/log") };
        fs::create_dir_all(&lab.run).unwrap();
        root.write_shims(&tools, &lab.ns, &files);
        let dhcpd = Stopped { systemctl: root.path("/bin/systemctl"), unit: "dhcpd" };
        let mut b = FrontendBox { _dhcpd: dhcpd, lab, tools, frontend, computes, root };
        b.start_services(&files);
        Some(b)
    }

    /// named, dhcpd (by the box's systemctl), TFTP (and a capture of its requests), the
    /// FastCGI responder and nginx, each running and ready.
    fn start_services(&mut self, files: &BTreeMap<String, String>) {
        let (root, tools) = (&self.root, &self.tools);
        let logs = [Logs::NAMED, Logs::DHCP, Logs::TFTP, Logs::FASTCGI, Logs::NGINX];

        let mut named = self.lab.ns.command(&tools.named);
        named.arg("-g").arg("-c").arg(root.path("/etc/named.conf"));
        self.lab.spawn("named", named, Logs::NAMED);

        ok(Command::new(root.path("/bin/systemctl")).args(["start", "dhcpd"]));

        // Rocky's tftp.socket: UDP port 69, the socket as the service's standard input.
        let tftp = exec_start(&files["/etc/systemd/system/tftp.service.d/50-rocks-compile.conf"]);
        assert!(Path::new(&tftp[0]).is_file(), "the TFTP unit runs {}, which is not installed", tftp[0]);
        let mut activate = self.lab.ns.command(&tools.socket_activate);
        activate.args(["--datagram", "--inetd", "-l", "69"]).args(root.under_all(&tftp));
        self.lab.spawn("tftp", activate, Logs::TFTP);
        let mut tcpdump = self.lab.ns.command(&tools.tcpdump);
        tcpdump.args(["-i", "eth0", "-n", "-l", "-t", "udp", "dst", "port", "69"]);
        self.lab.spawn("tcpdump", tcpdump, Logs::TFTP_REQUESTS);

        // The responder as its service runs it, on its socket unit's path.
        let socket = files["/etc/systemd/system/rocks-compile-fastcgi.socket"]
            .lines()
            .find_map(|l| l.strip_prefix("ListenStream="))
            .expect("the socket unit's ListenStream")
            .to_string();
        let socket = root.under(&socket);
        fs::create_dir_all(Path::new(&socket).parent().unwrap()).unwrap();
        let mut service = exec_start(&files["/etc/systemd/system/rocks-compile-fastcgi.service"]);
        assert_eq!(service[0], "/usr/local/bin/rocks-compile", "the unit runs the installed binary");
        service[0] = env!("CARGO_BIN_EXE_rocks-compile").into();
        let mut fastcgi = self.lab.ns.command(&tools.socket_activate);
        fastcgi.arg("-l").arg(&socket).args(root.under_all(&service));
        self.lab.spawn("fastcgi", fastcgi, Logs::FASTCGI);

        // The distribution's main configuration and the fastcgi_params the site includes.
        let main = root.path("/etc/nginx/nginx.conf");
        root.write_file(&main, &nginx_main_conf(root));
        fs::copy("/etc/nginx/fastcgi_params", root.path("/etc/nginx/fastcgi_params")).expect("nginx's fastcgi_params");
        let mut nginx = self.lab.ns.command(&tools.nginx);
        nginx.arg("-c").arg(&main);
        self.lab.spawn("nginx", nginx, Logs::NGINX);

        self.lab
            .wait_until("named to run", &logs, |l| l.read(Logs::NAMED).contains("\nrunning") || l.read(Logs::NAMED).contains(" running\n"));
        self.lab.wait_until("dhcpd to serve eth0", &logs, |l| l.read(Logs::DHCP).contains("Server starting service"));
        self.lab.wait_until("the TFTP socket", &logs, |l| l.read(Logs::TFTP).contains("Listening on"));
        self.lab.wait_until("tcpdump to capture", &logs, |l| l.read(Logs::TFTP_REQUESTS).contains("listening on eth0"));
        self.lab.wait_until("the FastCGI socket", &logs, |l| l.read(Logs::FASTCGI).contains("Listening on"));
        self.lab.wait_until("nginx to listen", &logs, |l| l.listens("0.0.0.0:80"));
        let health = self.curl(&["-sS", "-w", "\n%{http_code}", &format!("http://{FRONTEND}/install/rocks/health")]);
        assert!(text(&health.stdout).ends_with("\n200"), "nginx and the responder: {}{}", text(&health.stdout), text(&health.stderr));
    }

    /// `curl ARGS` in the namespace (its output, whatever its status).
    fn curl(&self, args: &[&str]) -> Output {
        self.lab.ns.command(&self.tools.curl).args(["-sS", "--max-time", "20"]).args(args).output().unwrap()
    }

    /// TFTP serves `file` of the tree's tftp/ folder.
    fn check_tftp(&self, file: &str) {
        let got = self.curl(&[&format!("tftp://{FRONTEND}/{file}")]);
        assert!(got.status.success(), "TFTP did not serve {file}: {}", text(&got.stderr));
        assert_eq!(text(&got.stdout), fs::read_to_string(self.root.tree().join("tftp").join(file)).unwrap(), "{file} over TFTP");
    }

    /// `dig +short @FRONTEND ARGS` in the namespace, which must answer.
    fn dig(&self, args: &[&str]) -> String {
        let out = ok(self.lab.ns.command(&self.tools.dig).args(["+short", "+time=5", "+tries=2", &format!("@{FRONTEND}")]).args(args));
        text(&out.stdout).trim().to_string()
    }

    /// named answers each of `hosts`: its name with its address and its address with its name.
    fn check_dns(&self, hosts: &[Host]) {
        for h in hosts {
            let fqdn = format!("{}.{ZONE}.", h.name);
            assert_eq!(self.dig(&[&fqdn, "A"]), h.ip, "A of {fqdn}\n{}", self.lab.read(Logs::NAMED));
            assert_eq!(self.dig(&["-x", &h.ip]), fqdn, "PTR of {}", h.ip);
        }
    }

    /// slurmctld started from the frontend's slurm.conf (paths under the root) and the tree's
    /// node lines as its nodes.conf, with munged, under the frontend's host name (its
    /// `SlurmctldHost`): `scontrol show nodes` lists every compute host at its address.
    fn check_slurmctld(&self) {
        let root = &self.root;
        // What the frontend's cluster-files installs, and what its slurm-server %post makes.
        fs::copy(root.tree().join("scheduler/slurm-nodes.conf"), root.path("/etc/slurm/nodes.conf")).unwrap();
        for d in ["/etc/munge", "/var/lib/munge", "/var/log/munge", "/var/spool/slurm/ctld", "/var/log/slurm"] {
            fs::create_dir_all(root.path(d)).unwrap();
        }
        let mut key = vec![0u8; 1024];
        std::io::Read::read_exact(&mut fs::File::open("/dev/urandom").unwrap(), &mut key).unwrap();
        fs::write(root.path("/etc/munge/munge.key"), key).unwrap();
        fs::set_permissions(root.path("/etc/munge/munge.key"), fs::Permissions::from_mode(0o400)).unwrap();
        let slurm = id("slurm").or_else(|| skip_or_panic("there is no user `slurm` (package slurmctld)", "slurmctld"));
        let Some((uid, gid)) = slurm else { return };
        for d in ["/var/spool/slurm/ctld", "/var/log/slurm"] {
            std::os::unix::fs::chown(root.path(d), Some(uid), Some(gid)).unwrap();
        }
        let script = r#"
            r=$1
            mount -t tmpfs -o mode=0755 tmpfs /run
            mkdir -p /run/munge
            hostname "$2"
            munged --force --key-file="$r/etc/munge/munge.key" --log-file="$r/var/log/munge/munged.log" \
                --seed-file="$r/var/lib/munge/munged.seed"
            export SLURM_CONF="$r/etc/slurm/slurm.conf"
            slurmctld -D -i -f "$SLURM_CONF" >"$r/var/log/slurm/slurmctld.out" 2>&1 &
            up=no
            for i in $(seq 300); do
                kill -0 $! 2>/dev/null || break
                if timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; then up=yes; break; fi
                sleep 0.1
            done
            [ $up = yes ] || { cat "$r/var/log/slurm/slurmctld.out" >&2; exit 1; }
            scontrol show nodes --oneliner
        "#;
        // Its own mount (a /run of its own: munged's socket, slurmctld's pid file), UTS (the
        // frontend's name) and pid namespace (nothing outlives the script).
        let mut cmd = self.lab.ns.command(&self.tools.timeout);
        cmd.args(["-s", "KILL", "120", "unshare", "--mount", "--propagation", "private", "--uts", "--pid", "--fork", "--kill-child"]);
        cmd.args(["sh", "-euc", script, "sh"]).arg(root.path("/")).arg(FRONTEND_NAME);
        let out = cmd.output().unwrap();
        let log = fs::read_to_string(root.path("/var/log/slurm/slurmctld.log")).unwrap_or_default();
        assert!(out.status.success(), "slurmctld did not come up ({}):\n{}\n--- slurmctld.log\n{log}", out.status, text(&out.stderr));
        let nodes = text(&out.stdout);
        assert_eq!(nodes.lines().filter(|l| l.starts_with("NodeName=")).count(), self.computes.len(), "{nodes}");
        for h in &self.computes {
            let line = nodes.lines().find(|l| l.starts_with(&format!("NodeName={} ", h.name)));
            let line = line.unwrap_or_else(|| panic!("slurmctld does not know {}:\n{nodes}", h.name));
            assert!(line.contains(&format!(" NodeAddr={} ", h.ip)), "{line}");
        }
        // It took the box for the controller its slurm.conf names.
        assert!(log.contains("Running as primary controller"), "{log}");
    }

    /// The responder, through nginx, answers `host` (asking from its address) exactly what
    /// `kickstart --host` prints (`bytes_to_guest`: the size nginx logged for the guest's
    /// own request), and every URL in it names the install server.
    fn check_kickstart_served(&self, host: &Host, bytes_to_guest: Option<usize>) {
        let expected = ok(&mut self.root.command(&["kickstart", "--host", &host.name, "--allow-default-password"])).stdout;
        if let Some(n) = bytes_to_guest {
            assert_eq!(n, expected.len(), "the guest got {n} bytes, `kickstart --host {}` prints {}", host.name, expected.len());
        }
        // The host's address on the namespace's loopback: nginx sees the request come from it.
        let own = format!("{}/32", host.ip);
        self.lab.ns.ip(&["addr", "add", &own, "dev", "lo"]);
        let url = format!("http://{FRONTEND}/install/rocks/kickstart/{}.ks", host.name);
        // A host added since the responder loaded is known after its next look at the
        // database (every 2 s by default).
        let t = Instant::now();
        let got = loop {
            let got = self.curl(&["--interface", &host.ip, "-w", "%{http_code}", "-o", "-", &url]);
            if !got.stdout.ends_with(b"404") || t.elapsed() > Duration::from_secs(15) {
                break got;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        self.lab.ns.ip(&["addr", "del", &own, "dev", "lo"]);
        let body = got.stdout.strip_suffix(b"200").unwrap_or_else(|| panic!("{url}: not 200: {}{}", text(&got.stdout), text(&got.stderr)));
        assert!(body == expected.as_slice(), "{url} differs from `kickstart --host {}`", host.name);
        let ks = text(body);
        let urls = urls(&ks);
        assert!(urls.len() > 5, "{urls:?}");
        for u in urls {
            let server = u.split("://").nth(1).unwrap().split(['/', ':']).next().unwrap();
            assert!(
                server == FRONTEND || (u.starts_with("file:///") && server.is_empty()),
                "{} names {u}, not its install server",
                host.name
            );
        }
        for gone in ["10.1.", "kickstart.cgi"] {
            assert!(!ks.contains(gone), "{}'s kickstart names {gone}", host.name);
        }
    }
}

/// The URLs in a kickstart (`scheme://...` up to a space, quote or bracket).
fn urls(ks: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in ks.match_indices("://") {
        let start = ks[..i].rfind(|c: char| !c.is_ascii_alphanumeric()).map_or(0, |p| p + 1);
        let end = ks[i..].find(|c: char| c.is_whitespace() || "\"'<>)]".contains(c)).map_or(ks.len(), |p| i + p);
        if start < i {
            found.push(ks[start..end].to_string());
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------------

/// The programs the box needs.
struct Tools {
    ip: PathBuf,
    dhclient: PathBuf,
    named: PathBuf,
    rndc: PathBuf,
    rndc_confgen: PathBuf,
    dig: PathBuf,
    tcpdump: PathBuf,
    socket_activate: PathBuf,
    nginx: PathBuf,
    curl: PathBuf,
    qemu: PathBuf,
    grub_mknetdir: PathBuf,
    timeout: PathBuf,
}

impl Tools {
    /// Every program and file, or `None` (after saying so) when one is missing and
    /// `ROCKS_SKIP_VALIDATORS=1`.
    fn find() -> Option<Tools> {
        let tools = Tools {
            ip: common::tool("ip")?,
            dhclient: common::tool("dhclient")?,
            named: common::tool("named")?,
            rndc: common::tool("rndc")?,
            rndc_confgen: common::tool("rndc-confgen")?,
            dig: common::tool("dig")?,
            tcpdump: common::tool("tcpdump")?,
            socket_activate: common::tool("systemd-socket-activate")?,
            nginx: common::tool("nginx")?,
            curl: common::tool("curl")?,
            qemu: common::tool("qemu-system-x86_64")?,
            grub_mknetdir: common::tool("grub-mknetdir")?,
            timeout: common::tool("timeout")?,
        };
        for t in ["dhcpd", "in.tftpd", "munged", "slurmctld", "scontrol", "unshare"] {
            common::tool(t)?;
        }
        for f in common::lab::boot_files() {
            if !f.exists() {
                skip_or_panic::<()>(&format!("{} is missing (see .ci/run)", f.display()), "the frontend in a box")?;
            }
        }
        Some(tools)
    }
}
