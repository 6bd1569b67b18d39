//! `power` and `boot set --reboot` end to end: each host's BMC is OpenIPMI's simulator
//! (`ipmi_sim`) and its "machine" is a real QEMU guest that the simulator starts and stops.
//!
//! Setup, per host: an `ipmi_sim` listening for IPMI over LAN on 127.0.0.N (one BMC address
//! per host) at a port of its own (the host's `ipmi_port` attribute), with a `startcmd` that is a QEMU command line
//! (TCG, 128 MiB, no disk, no network, no display). QEMU writes its pid to a file
//! (`-pidfile`) and connects back to the simulator's VM serial interface (`ipmi-bmc-extern`
//! with an `isa-ipmi-bt` device on a chardev socket to the simulator's `serial ... codec VM`
//! port): `power on` runs the start command, while `power off` and `power cycle` go through
//! that connection, so they need the guest connected. The test then runs the binary's
//! `power` (the real `ipmitool`, password in `IPMI_PASSWORD`) and checks, by the pid file and
//! `/proc`, that the QEMU process really appears, goes away and is replaced; and that
//! `boot set HOST install --reboot` leaves the host's PXE file on install in a built tree
//! and starts a new QEMU process.
//!
//! Not covered here: the serial console through the generated `conman.conf`. The
//! simulator's serial-over-LAN (`sol "telnet:..."` bridged to QEMU's serial port) crashed
//! `ipmi_sim` 1.0.13 as soon as a SOL session was activated, and FreeIPMI's console needs
//! the `opensesspriv` workaround for this simulator, which the generated file does not hold.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const PASSWORD: &str = "pw-E2e-41";
const HOSTS: [&str; 2] = ["compute-0-0", "compute-0-1"];

use common::rc_in as run;

/// Standard output and error together.
fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Run and require success; the standard output.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    assert!(!text(&out).contains(PASSWORD), "{args:?} printed the password: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn free_tcp() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Whether process `pid` runs (exists and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).is_some_and(|state| state != "Z"))
}

/// Wait up to `secs` for `cond`; fail naming `what`.
fn wait_for<T>(secs: u64, what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One host's simulated BMC and the QEMU guest it powers.
struct Bmc {
    sim: Child,
    /// QEMU's pid file.
    pidfile: PathBuf,
    /// The IPMI-over-LAN port.
    port: u16,
}

impl Bmc {
    fn start(ipmi_sim: &Path, qemu: &Path, dir: &Path, addr: &str) -> Bmc {
        let port = free_udp();
        let serial = free_tcp();
        let pidfile = dir.join("qemu.pid");
        let qemu_cmd = format!(
            "{qemu} -nodefaults -display none -machine accel=tcg -m 128 -pidfile {pidfile} -serial null \
             -chardev socket,id=ipmi0,host=127.0.0.1,port={serial},reconnect=1 \
             -device ipmi-bmc-extern,chardev=ipmi0,id=bmc0 -device isa-ipmi-bt,bmc=bmc0",
            qemu = qemu.display(),
            pidfile = pidfile.display()
        );
        let sim = common::ipmi::start_sim(ipmi_sim, dir, (addr, port), serial, &qemu_cmd, PASSWORD);
        Bmc { sim, pidfile, port }
    }

    /// The pid of this BMC's running QEMU, if any.
    fn qemu(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(&self.pidfile).ok()?.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let ours = String::from_utf8_lossy(&cmdline).contains(&*self.pidfile.to_string_lossy());
        (ours && alive(pid)).then_some(pid)
    }

    /// Wait for a running QEMU other than `old`.
    fn new_qemu(&self, host: &str, old: Option<u32>) -> u32 {
        wait_for(20, &format!("a new QEMU of {host} (old {old:?})"), || self.qemu().filter(|p| Some(*p) != old))
    }
}

impl Drop for Bmc {
    fn drop(&mut self) {
        let _ = self.sim.kill();
        let _ = self.sim.wait();
        // The guest outlives its simulator: stop it by its own pid.
        if let Some(pid) = self.qemu() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

/// The BMC address of host `i`: an address may be used once on a network.
fn bmc_addr(i: usize) -> String {
    format!("127.0.0.{}", i + 1)
}

/// The two hosts, each with a MAC and a BMC on an address and a port of its own.
fn cluster(dir: &Path, bmcs: &[Bmc]) {
    for (i, host) in HOSTS.iter().enumerate() {
        ok(dir, &["host", "add", host, "--appliance", "compute", "--mac", &format!("52:54:00:e2:e0:0{i}")]);
    }
    ok(dir, &["network", "add", "mgmt", "127.0.0.0/8"]);
    for (i, (host, bmc)) in HOSTS.iter().zip(bmcs).enumerate() {
        ok(dir, &["interface", "add", host, "bmc", "--ip", &bmc_addr(i), "--network", "mgmt"]);
        ok(dir, &["attr", "set", "ipmi_port", &bmc.port.to_string(), "--host", host]);
    }
    ok(dir, &["attr", "set", "ipmi_user", "admin"]);
    common::set_secret(&dir.join("cluster.db"), "ipmi_password", PASSWORD);
}

/// The PXE file of host `i` in a freshly built tree.
fn pxe_file(dir: &Path, i: usize) -> String {
    let _ = std::fs::remove_dir_all(dir.join("out"));
    ok(dir, &["build", "--out", "out", "--allow-default-password"]);
    std::fs::read_to_string(dir.join(format!("out/tftp/pxelinux.cfg/01-52-54-00-e2-e0-0{i}"))).unwrap()
}

#[test]
fn power_starts_stops_and_cycles_real_guests() {
    let (Some(ipmi_sim), Some(_), Some(qemu)) = (common::tool("ipmi_sim"), common::tool("ipmitool"), common::tool("qemu-system-x86_64"))
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bmcs: Vec<Bmc> = HOSTS
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let d = dir.join(h);
            Bmc::start(&ipmi_sim, &qemu, &d, &bmc_addr(i))
        })
        .collect();
    cluster(dir, &bmcs);
    let hosts = "compute-0-[0-1]";

    // The simulators need a moment to listen; `status` answers once they do.
    let status = wait_for(20, "the simulated BMCs", || {
        let out = run(dir, &["power", "status", hosts, "--timeout", "3"]);
        out.status.success().then_some(out)
    });
    assert_eq!(String::from_utf8_lossy(&status.stdout), "compute-0-0: off\ncompute-0-1: off\n", "{}", text(&status));
    assert!(bmcs.iter().all(|b| b.qemu().is_none()));

    // on: both guests start.
    assert_eq!(ok(dir, &["power", "on", hosts]), "compute-0-0: on\ncompute-0-1: on\n");
    let first: Vec<u32> = HOSTS.iter().zip(&bmcs).map(|(h, b)| b.new_qemu(h, None)).collect();
    assert_ne!(first[0], first[1]);
    assert_eq!(ok(dir, &["power", "status", hosts]), "compute-0-0: on\ncompute-0-1: on\n");

    // off: the first guest's process goes away (once its IPMI link is up), the other stays.
    wait_for(30, "compute-0-0's QEMU to stop", || {
        let out = run(dir, &["power", "off", "compute-0-0", "--timeout", "3"]);
        let gone = || !alive(first[0]);
        (out.status.success() && {
            let t = Instant::now();
            while !gone() && t.elapsed() < Duration::from_secs(3) {
                std::thread::sleep(Duration::from_millis(100));
            }
            gone()
        })
        .then_some(())
    });
    assert_eq!(ok(dir, &["power", "status", hosts]), "compute-0-0: off\ncompute-0-1: on\n");
    assert_eq!(bmcs[1].qemu(), Some(first[1]));

    // cycle: the second guest is replaced by a new process.
    assert_eq!(ok(dir, &["power", "cycle", "compute-0-1"]), "compute-0-1: cycled\n");
    let second = bmcs[1].new_qemu("compute-0-1", Some(first[1]));
    assert!(!alive(first[1]));
    assert_eq!(ok(dir, &["power", "status", "compute-0-1"]), "compute-0-1: on\n");

    // boot set --reboot: the PXE file says install, and the host is power-cycled.
    ok(dir, &["boot", "set", "compute-0-1", "os"]);
    let before = pxe_file(dir, 1);
    assert!(!before.contains("inst.ks="), "{before}");
    let out = ok(dir, &["boot", "set", "compute-0-1", "install", "--reboot"]);
    assert_eq!(out, "set boot compute-0-1 action=install\ncompute-0-1: cycled\n");
    let third = bmcs[1].new_qemu("compute-0-1", Some(second));
    assert!(!alive(second));
    let after = pxe_file(dir, 1);
    assert!(after.contains("inst.ks="), "{after}");
    assert_eq!(ok(dir, &["power", "status", hosts]), "compute-0-0: off\ncompute-0-1: on\n");
    assert_eq!(bmcs[1].qemu(), Some(third));
    assert_eq!(bmcs[0].qemu(), None);
}
