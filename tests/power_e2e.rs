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
//! The console: a third guest boots the Debian installer's kernel with the kernel arguments
//! of its host's generated PXE file (as pxelinux would), its second serial port (`ttyS1`,
//! the host's `console_serial`) bridged to its simulated BMC's serial-over-LAN
//! (`sol "tcp:..."`). conserver runs as the built-in frontend's unit runs it (node
//! console-server), on the generated `console/conserver.cf` as it is (its `ipmitool ... -f
//! FILE sol activate` reads the password from the file build wrote into the tree), and a
//! `console -s` client run by root must see the kernel print its version and command line,
//! while another user is refused (the console users are root only). ConMan's
//! SOL engine (FreeIPMI) is not used here: it needs the `opensesspriv` workaround with this
//! simulator, and `ipmi_sim` 1.0.13 crashes when a FreeIPMI SOL session starts.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
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

/// A guest that boots `kernel` with the kernel arguments of its host's PXE file.
struct Guest {
    kernel: PathBuf,
    pxe_file: PathBuf,
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
    /// A BMC on `addr` whose machine is a bare QEMU guest (no disk, no kernel).
    fn start(ipmi_sim: &Path, qemu: &Path, dir: &Path, addr: &str) -> Bmc {
        Bmc::with_guest(ipmi_sim, qemu, dir, addr, None)
    }

    /// A BMC on `addr` whose machine is QEMU: bare, or (`guest` set) booting a kernel from
    /// its host's PXE file, with its second serial port (`ttyS1`) on the simulator's
    /// serial-over-LAN.
    fn with_guest(ipmi_sim: &Path, qemu: &Path, dir: &Path, addr: &str, guest: Option<&Guest>) -> Bmc {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_udp();
        let serial = free_tcp();
        let pidfile = dir.join("qemu.pid");
        let mut qemu_cmd = format!(
            "{qemu} -nodefaults -display none -machine accel=tcg -m 128 -pidfile {pidfile} -serial null \
             -chardev socket,id=ipmi0,host=127.0.0.1,port={serial},reconnect=1 \
             -device ipmi-bmc-extern,chardev=ipmi0,id=bmc0 -device isa-ipmi-bt,bmc=bmc0",
            qemu = qemu.display(),
            pidfile = pidfile.display()
        );
        let sol = guest.map(|_| free_tcp());
        if let (Some(g), Some(sol)) = (guest, sol) {
            // Power-on runs a script that boots the kernel with the APPEND line the host's
            // PXE file has at that moment, as pxelinux would. QEMU holds the guest until the
            // simulator has connected to its serial port (`wait=on`), as a BMC is wired to
            // it: the simulator retries its connection at intervals, and a kernel that
            // printed before then would be lost.
            let script = dir.join("start.sh");
            qemu_cmd = format!(
                "#!/bin/sh\nexec {qemu_cmd} -serial tcp:127.0.0.1:{sol},server=on,wait=on -kernel {kernel} \
                 -append \"$(sed -n 's/^ *APPEND //p' {pxe})\"\n",
                kernel = g.kernel.display(),
                pxe = g.pxe_file.display()
            );
            std::fs::write(&script, qemu_cmd).unwrap();
            std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
            qemu_cmd = script.display().to_string();
        }
        let sim = common::ipmi::start_sim(ipmi_sim, dir, (addr, port), serial, sol, &qemu_cmd, PASSWORD);
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

/// The words of conserver's `ExecStart` in the built-in frontend's kickstart (its unit's
/// drop-in, node console-server) for a frontend whose tree is `tree`.
fn frontend_conserver(tree: &Path) -> Vec<String> {
    use rocks_compile::{Attrs, KickstartOptions, Layer};
    let (fw, diags) = rocks_compile::open(&[Layer::Embedded], "default").unwrap();
    assert!(diags.is_empty(), "{}", rocks_compile::render_diagnostics(&diags, &fw.sources));
    let given = Attrs::from([("RocksCompile_TreeDir".to_string(), tree.display().to_string())]);
    let (ks, diags) = rocks_compile::compile_appliance(&fw, "frontend", &given, &KickstartOptions::default());
    let ks = rocks_compile::render(&ks.unwrap_or_else(|| panic!("{diags:?}"))).unwrap();
    let unit = common::file_body(&ks, "/etc/systemd/system/conserver.service.d/50-rocks-compile.conf");
    let line = unit.lines().filter_map(|l| l.strip_prefix("ExecStart=")).rfind(|c| !c.trim().is_empty());
    line.unwrap_or_else(|| panic!("no ExecStart in\n{unit}")).split_whitespace().map(str::to_string).collect()
}

/// Read `reader` in the background; what it has read so far.
fn collect(mut reader: impl std::io::Read + Send + 'static) -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    seen
}

/// A child process that leads a process group of its own (`Command::process_group(0)`),
/// the whole group stopped when dropped (conserver forks a process per console group, and
/// each runs its consoles' commands).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let group = -i32::try_from(self.0.id()).unwrap();
        // SAFETY: kill(2) on a process group this test started.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let _ = self.0.wait();
        std::thread::sleep(Duration::from_millis(200));
        // SAFETY: as above; whatever ignored SIGTERM.
        unsafe { libc::kill(group, libc::SIGKILL) };
    }
}

#[test]
fn the_console_of_a_guest_is_read_through_the_generated_conserver_cf() {
    let tools = ["ipmi_sim", "ipmitool", "qemu-system-x86_64", "conserver", "console"].map(common::tool);
    let [Some(ipmi_sim), Some(_), Some(qemu), Some(conserver), Some(console)] = tools else { return };
    let kernel = Path::new(common::lab::DEBIAN_INSTALLER).join("linux");
    if !kernel.is_file() {
        let _: Option<()> = common::lab::skip_or_panic(&format!("{} is missing (see .ci/run)", kernel.display()), "the console end to end");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let host = HOSTS[0];
    let guest = Guest { kernel, pxe_file: dir.join("out/tftp/pxelinux.cfg/01-52-54-00-e2-e0-00") };
    let bmc = Bmc::with_guest(&ipmi_sim, &qemu, &dir.join(host), &bmc_addr(0), Some(&guest));

    // The host, its BMC and credentials; its console on ttyS1, which its BMC's
    // serial-over-LAN carries; the consoles' logs in `dir`.
    ok(dir, &["host", "add", host, "--appliance", "compute", "--mac", "52:54:00:e2:e0:00"]);
    ok(dir, &["network", "add", "mgmt", "127.0.0.0/8"]);
    ok(dir, &["interface", "add", host, "bmc", "--ip", &bmc_addr(0), "--network", "mgmt"]);
    ok(dir, &["attr", "set", "ipmi_port", &bmc.port.to_string(), "--host", host]);
    ok(dir, &["attr", "set", "ipmi_user", "admin"]);
    common::set_secret(&dir.join("cluster.db"), "ipmi_password", PASSWORD);
    // conserver's ipmitool reads the password from the file build writes into the tree.
    ok(dir, &["attr", "set", "console_config_dir", &dir.join("out/console").display().to_string()]);
    let logs = dir.join("consoles");
    std::fs::create_dir(&logs).unwrap();
    ok(dir, &["attr", "set", "console_log_dir", &logs.display().to_string()]);
    ok(dir, &["attr", "set", "console_serial", "ttyS1,115200"]);
    ok(dir, &["boot", "set", host, "install"]);
    let pxe = pxe_file(dir, 0);
    assert!(pxe.contains("SERIAL 1 115200") && pxe.contains(" console=ttyS1,115200\n"), "{pxe}");
    let cf = dir.join("out/console/conserver.cf");
    let text = std::fs::read_to_string(&cf).unwrap();
    assert!(!text.contains(PASSWORD), "{text}");

    // conserver as the frontend's unit runs it (node console-server, its tree here), on
    // the generated file as is, on a port and address of its own.
    let exec = frontend_conserver(&dir.join("out"));
    assert_eq!(exec[..2], ["/usr/sbin/conserver".to_string(), "-C".into()], "{exec:?}");
    assert_eq!(Path::new(&exec[2]), cf);
    let port = free_tcp().to_string();
    let passwd = dir.join("conserver.passwd");
    std::fs::write(&passwd, "").unwrap();
    let log = std::fs::File::create(dir.join("conserver.log")).unwrap();
    let _server = Killed(
        Command::new(conserver)
            .args(&exec[1..])
            .args(["-p", &port, "-M", "127.0.0.1", "-P"])
            .arg(&passwd)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let server_log = || std::fs::read_to_string(dir.join("conserver.log")).unwrap_or_default();
    let console_log = || String::from_utf8_lossy(&std::fs::read(logs.join(host)).unwrap_or_default()).into_owned();
    // The console comes up: ipmitool's SOL session with the simulated BMC is open.
    wait_for(30, "the console to come up", || console_log().contains("SOL Session operational").then_some(()));
    // conserver's master process listens after it started the consoles' processes.
    wait_for(20, "conserver to listen", || std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).ok());

    // A client watching the console (read-only), then power on: the guest's kernel
    // prints on ttyS1 and the text arrives through the BMC, ipmitool and conserver.
    let mut client = Command::new(&console);
    client.args(["-M", "127.0.0.1", "-p", &port, "-s", host]).stdin(std::process::Stdio::null());
    let mut client = client.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).process_group(0).spawn().unwrap();
    let seen = collect(client.stdout.take().unwrap());
    let errors = collect(client.stderr.take().unwrap());
    let _client = Killed(client);
    let shown = || {
        format!(
            "client: {}\nclient errors: {}\nconsole log: {}\nconserver: {}",
            String::from_utf8_lossy(&seen.lock().unwrap()),
            String::from_utf8_lossy(&errors.lock().unwrap()),
            console_log(),
            server_log()
        )
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&seen.lock().unwrap()).contains("[spying]") {
        assert!(Instant::now() < deadline, "timed out waiting for the client to attach; {}", shown());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Only the console users (`console_users`, default root) may: another user is refused.
    if let Some(setpriv) = common::tool("setpriv") {
        let other = Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&console)
            .args(["-M", "127.0.0.1", "-p", &port, "-s", host])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&other.stdout).into_owned() + &String::from_utf8_lossy(&other.stderr);
        assert!(said.contains("permission denied") && !said.contains("[spying]"), "another user: {said}");
    }
    assert_eq!(ok(dir, &["power", "on", host]), format!("{host}: on\n"));
    bmc.new_qemu(host, None);
    let what = "the guest kernel's command line on the console";
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
        // The kernel's first lines: its version, then the command line the PXE file gave.
        if text.contains("Linux version") && text.contains("Command line:") && text.contains("inst.ks=http://") {
            assert!(text.contains("console=ttyS1,115200"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; {}", shown());
        std::thread::sleep(Duration::from_millis(200));
    }
    // conserver logged the same text to the console's log file.
    wait_for(10, "the console's log file", || console_log().contains("Linux version").then_some(()));
    assert!(!console_log().contains(PASSWORD) && !server_log().contains(PASSWORD));
}
