//! A private network namespace with a bridge, the test's servers in it and QEMU guests that
//! network-boot there (the PXE boots of `pxe_e2e` and the frontend in a box of
//! `frontend_box`). Everything started is killed, and the namespace deleted, when the [`Lab`]
//! is dropped, also when the test panics.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Debian's netboot installer (package debian-installer-12-netboot-amd64): it stands in for
/// anaconda, told by `url=` to fetch the kickstart URL (with wget, after its own DHCP).
pub const DEBIAN_INSTALLER: &str = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64";
pub const PXELINUX: &str = "/usr/lib/PXELINUX/pxelinux.0";
pub const LDLINUX: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";
pub const GRUB_EFI_MODULES: &str = "/usr/lib/grub/x86_64-efi";
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS.fd";

/// The boot loaders, firmware and installer files the boots need (`.ci/run` installs them).
pub fn boot_files() -> [PathBuf; 7] {
    let di = Path::new(DEBIAN_INSTALLER);
    [di.join("linux"), di.join("initrd.gz"), PXELINUX.into(), LDLINUX.into(), GRUB_EFI_MODULES.into(), OVMF_CODE.into(), OVMF_VARS.into()]
}

/// Fail with `why`, or (with `ROCKS_SKIP_VALIDATORS=1`) say that `what` did not run.
pub fn skip_or_panic<T>(why: &str, what: &str) -> Option<T> {
    let msg = format!("*** {why}: {what} was NOT tested ***");
    if std::env::var("ROCKS_SKIP_VALIDATORS").as_deref() == Ok("1") {
        eprintln!("{msg}");
        None
    } else {
        panic!("{msg} (set ROCKS_SKIP_VALIDATORS=1 to skip)");
    }
}

/// How a guest starts its network boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS with the NIC's iPXE ROM (forced to pxelinux by the host's `pxe_loader`).
    Bios,
    /// OVMF's own PXE, sent to GRUB by its architecture.
    Uefi,
}

impl Firmware {
    /// The boot file DHCP must send, relative to the TFTP root.
    pub fn boot_file(self) -> &'static str {
        match self {
            Firmware::Bios => "pxelinux.0",
            Firmware::Uefi => "grub/x86_64-efi/core.efi",
        }
    }

    /// The per-interface config file the boot loader must fetch, relative to the TFTP root.
    pub fn config(self, mac: &str) -> String {
        let mac = rocks_compile::plan::mac_hyphen(mac);
        match self {
            Firmware::Bios => format!("pxelinux.cfg/01-{mac}"),
            Firmware::Uefi => format!("grub/grub.cfg-01-{mac}"),
        }
    }
}

/// A network namespace of this test process, deleted when dropped.
pub struct Netns {
    pub name: String,
    /// The `ip` program.
    pub ip: PathBuf,
}

impl Netns {
    /// `<prefix><pid>-<tag>` with loopback up and a bridge `bridge` holding `address` (CIDR
    /// notation); `None` (after saying so) when it cannot be made and
    /// `ROCKS_SKIP_VALIDATORS=1`. Namespaces with `prefix` of test processes that died
    /// without cleaning up are deleted first.
    pub fn create(ip: &Path, prefix: &str, tag: &str, bridge: &str, address: &str) -> Option<Netns> {
        Netns::remove_stale(ip, prefix);
        let name = format!("{prefix}{}-{tag}", std::process::id());
        match Command::new(ip).args(["netns", "add", &name]).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                let why = format!("cannot create a network namespace (needs root): {}", String::from_utf8_lossy(&o.stderr).trim());
                return skip_or_panic(&why, "the network boot");
            }
            Err(e) => return skip_or_panic(&format!("cannot run `ip netns add`: {e}"), "the network boot"),
        }
        let ns = Netns { name, ip: ip.to_path_buf() };
        ns.ip(&["link", "set", "lo", "up"]);
        ns.ip(&["link", "add", bridge, "type", "bridge"]);
        ns.ip(&["addr", "add", address, "dev", bridge]);
        ns.ip(&["link", "set", bridge, "up"]);
        Some(ns)
    }

    /// Add a tap device for a guest to `bridge`.
    pub fn add_tap(&self, tap: &str, bridge: &str) {
        self.ip(&["tuntap", "add", "dev", tap, "mode", "tap"]);
        self.ip(&["link", "set", tap, "master", bridge, "up"]);
    }

    /// `ip -n NAME ARGS`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let out = Command::new(&self.ip).arg("-n").arg(&self.name).args(args).output().unwrap();
        assert!(out.status.success(), "ip -n {} {args:?}: {}", self.name, String::from_utf8_lossy(&out.stderr));
    }

    /// Delete the namespaces named `<prefix><pid>-...` of test processes that no longer run.
    fn remove_stale(ip: &Path, prefix: &str) {
        let Ok(out) = Command::new(ip).args(["netns", "list"]).output() else { return };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            let Some(pid) = name.strip_prefix(prefix).and_then(|r| r.split('-').next()) else { continue };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = Command::new(ip).args(["netns", "del", name]).status();
            }
        }
    }

    /// A command that runs `program` inside the namespace (`ip netns exec` execs it: the
    /// child is the program itself).
    pub fn command(&self, program: &Path) -> Command {
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
pub struct Proc {
    pub name: String,
    pub child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The namespace with its processes. Fields drop in declaration order: every process is
/// killed before the namespace is deleted.
pub struct Lab {
    /// Servers, then guests.
    pub procs: Vec<Proc>,
    pub ns: Netns,
    /// Logs, leases, pid files, the guests' UEFI variables.
    pub run: PathBuf,
}

impl Lab {
    /// Start `cmd` with its output to `run/<log>` (appended to).
    pub fn spawn(&mut self, name: &str, mut cmd: Command, log: &str) {
        let out = fs::OpenOptions::new().create(true).append(true).open(self.run.join(log)).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.procs.push(Proc { name: name.to_string(), child });
    }

    /// The text of `run/<name>` so far (lossy; empty when there is none).
    pub fn read(&self, name: &str) -> String {
        read_lossy(&self.run.join(name))
    }

    /// Wait up to 20 s for `ready`; fail, with `logs` named and shown, when a process exited
    /// or it never got ready.
    pub fn wait_until(&mut self, what: &str, logs: &[&str], ready: impl Fn(&Lab) -> bool) {
        let t = Instant::now();
        while !ready(self) {
            let exited = self.procs.iter_mut().find_map(|p| Some((p.name.clone(), p.child.try_wait().ok().flatten()?)));
            let shown = || logs.iter().map(|f| format!("--- {f}\n{}", self.read(f))).collect::<String>();
            if let Some((name, status)) = exited {
                panic!("{name} exited ({status}) while waiting for {what}\n{}", shown());
            }
            assert!(t.elapsed() < Duration::from_secs(20), "timed out waiting for {what}\n{}", shown());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether something listens on TCP `addr` (`IP:PORT` as `ss` prints it) in the namespace.
    pub fn listens(&self, addr: &str) -> bool {
        let ss = Command::new(&self.ns.ip).args(["netns", "exec", &self.ns.name, "ss", "-Hltn"]).output();
        ss.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().any(|w| w == addr))
    }

    /// QEMU (TCG, no disk, network boot only) named `name` on `tap`, with `mac` and
    /// `firmware`, its console in `run/<log>`.
    pub fn start_guest(&mut self, qemu: &Path, name: &str, tap: &str, mac: &str, firmware: Firmware, log: &str) {
        let mut cmd = self.ns.command(qemu);
        // KVM: the iPXE ROM resets the guest and the kernel hangs under it on these hosts.
        cmd.args(["-machine", "accel=tcg", "-m", "1024", "-smp", "1", "-nographic", "-no-reboot", "-boot", "n"]);
        cmd.args(["-netdev", &format!("tap,id=n0,ifname={tap},script=no,downscript=no")]);
        let mut nic = format!("virtio-net-pci,netdev=n0,mac={mac}");
        if firmware == Firmware::Uefi {
            let vars = self.run.join(format!("{name}-OVMF_VARS.fd"));
            fs::copy(OVMF_VARS, &vars).unwrap();
            cmd.args(["-drive", &format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}")]);
            cmd.arg("-drive").arg(format!("if=pflash,format=raw,file={}", vars.display()));
            // No NIC ROM: OVMF's own PXE (with the default ROM, iPXE would boot instead).
            nic.push_str(",romfile=");
        }
        cmd.args(["-device", &nic]);
        self.spawn(name, cmd, log);
    }

    /// The exit status of the process `name`, when it has exited.
    pub fn exited(&mut self, name: &str) -> Option<ExitStatus> {
        self.procs.iter_mut().find(|p| p.name == name).and_then(|p| p.child.try_wait().ok().flatten())
    }

    /// Kill and reap the process `name` (a guest whose boot is over).
    pub fn stop(&mut self, name: &str) {
        self.procs.retain(|p| p.name != name);
    }
}

/// The text of `path` so far (lossy; empty when there is none).
pub fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The last `bytes` bytes of a console log, without terminal escapes.
pub fn console_tail(console: &str, bytes: usize) -> String {
    let mut from = console.len().saturating_sub(bytes);
    while !console.is_char_boundary(from) {
        from += 1;
    }
    without_escapes(&console[from..])
}

/// `text` without terminal escape sequences (`ESC [ ... letter`) and other control
/// characters but line breaks and tabs.
pub fn without_escapes(text: &str) -> String {
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

/// What a boot did: milestones with the time since QEMU started, and why it failed.
pub struct Outcome {
    pub timeline: Vec<(String, Duration)>,
    pub failure: Option<String>,
}

/// Whether a snapshot of a boot's logs shows that it got somewhere.
pub type Milestone<'a, S> = Box<dyn Fn(&S) -> bool + 'a>;

/// Follow a boot: every 500 ms take a `snapshot` of its logs and note when each milestone is
/// first reached, until the last one is (success), the guest's `console` shows a kernel
/// panic, QEMU `exited`, or `timeout` passes (`goal` names the last milestone in that
/// message). The timeline comes back sorted by time.
pub fn follow<S>(
    milestones: Vec<(String, Milestone<'_, S>)>,
    t0: Instant,
    timeout: Duration,
    goal: &str,
    mut snapshot: impl FnMut() -> S,
    console: impl Fn(&S) -> &str,
    mut exited: impl FnMut() -> Option<ExitStatus>,
) -> Outcome {
    let mut seen: Vec<Option<Duration>> = vec![None; milestones.len()];
    let mut failure = None;
    loop {
        let s = snapshot();
        for (i, (_, reached)) in milestones.iter().enumerate() {
            if seen[i].is_none() && reached(&s) {
                seen[i] = Some(t0.elapsed());
            }
        }
        if seen.last().is_some_and(Option::is_some) {
            break;
        }
        if console(&s).contains("end Kernel panic") {
            failure = Some("kernel panic".to_string());
            break;
        }
        if let Some(status) = exited() {
            failure = Some(format!("QEMU exited ({status})"));
            break;
        }
        if t0.elapsed() > timeout {
            failure = Some(format!("no {goal} within {timeout:?}"));
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let missed: Vec<&str> = milestones.iter().zip(&seen).filter(|(_, at)| at.is_none()).map(|((what, _), _)| what.as_str()).collect();
    if failure.is_none() && !missed.is_empty() {
        failure = Some(format!("it reached its {goal}, but the logs do not show: {missed:?}"));
    }
    let mut timeline: Vec<(String, Duration)> = milestones.into_iter().zip(seen).filter_map(|((what, _), at)| Some((what, at?))).collect();
    timeline.sort_by_key(|(_, at)| *at);
    Outcome { timeline, failure }
}
