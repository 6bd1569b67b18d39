//! A compute host's network boot in the box, followed in the servers' logs: DHCP, the TFTP
//! requests (captured), the console, and nginx's access log of the kickstart it fetched.

use std::path::PathBuf;
use std::time::Instant;

use super::common::lab::{Milestone, Outcome, console_tail, follow};
use super::{BOOT_TIMEOUT, FrontendBox, Host};

impl FrontendBox {
    /// Follow the logs until `host` fetched its kickstart, failed fast (QEMU exited, kernel
    /// panic) or ran out of time.
    pub(super) fn watch(&mut self, host: &Host, t0: Instant) -> Outcome {
        let fw = host.firmware.unwrap();
        let logs = Logs { run: self.lab.run.clone() };
        let kernel = "images/rocky-9/vmlinuz".to_string();
        let initrd = "images/rocky-9/initrd.img".to_string();
        // DHCPACKs up to the kernel's start: the firmware's; any later one is the installer's.
        let acks_before_kernel = std::cell::Cell::new(None);
        let milestones: Vec<(String, Milestone<'_, Snapshot>)> = vec![
            ("firmware got its fixed address".into(), Box::new(|s: &Snapshot| s.acks >= 1)),
            (format!("TFTP asked for {}", fw.boot_file()), Box::new(move |s: &Snapshot| s.asked(fw.boot_file()))),
            (format!("TFTP asked for {}", fw.config(&host.mac)), Box::new(move |s: &Snapshot| s.asked(&fw.config(&host.mac)))),
            (format!("TFTP asked for {kernel}"), Box::new(|s: &Snapshot| s.asked(&kernel))),
            (format!("TFTP asked for {initrd}"), Box::new(|s: &Snapshot| s.asked(&initrd))),
            (
                "kernel started".into(),
                Box::new(|s: &Snapshot| {
                    let started = s.console.contains("Linux version");
                    if started && acks_before_kernel.get().is_none() {
                        acks_before_kernel.set(Some(s.acks));
                    }
                    started
                }),
            ),
            ("installer got its fixed address".into(), Box::new(|s: &Snapshot| acks_before_kernel.get().is_some_and(|n| s.acks > n))),
            ("installer fetched its kickstart (200)".into(), Box::new(|s: &Snapshot| s.own_kickstart_200().is_some())),
        ];
        let lab = &mut self.lab;
        follow(milestones, t0, BOOT_TIMEOUT, "kickstart fetched", || logs.snapshot(host), |s| &s.console, || lab.exited(&host.name))
    }

    /// After a boot: the installer asked for its own kickstart only, got it with 200 and as
    /// many bytes as `kickstart --host` prints, and the responder answers those very bytes.
    pub(super) fn check_boot(&self, host: &Host) -> Result<(), String> {
        let s = Logs { run: self.lab.run.clone() }.snapshot(host);
        let served = s.own_kickstart_200().ok_or("no kickstart answered 200")?;
        let others: Vec<&str> = s
            .access
            .lines()
            .filter(|l| l.starts_with(&format!("{} ", host.ip)) && l.contains("/kickstart") && !l.contains(&s.own))
            .collect();
        if !others.is_empty() {
            return Err(format!("it asked for other kickstarts: {others:?}"));
        }
        self.check_kickstart_served(host, Some(served));
        Ok(())
    }

    /// Every log, shortened, for a failure message.
    pub(super) fn report(&self, host: &Host) -> String {
        let pick = |name: &str, keep: &dyn Fn(&str) -> bool| -> String {
            let text = self.lab.read(name);
            let lines: Vec<&str> = text.lines().filter(|l| keep(l)).collect();
            lines[lines.len().saturating_sub(40)..].iter().map(|l| format!("{l}\n")).collect()
        };
        format!(
            "--- dhcpd\n{}--- TFTP requests\n{}--- HTTP access\n{}--- nginx\n{}--- responder\n{}--- console (tail)\n{}\n",
            pick(Logs::DHCP, &|l| l.starts_with("DHCP") || l.contains("rror") || l.contains("arning")),
            pick(Logs::TFTP_REQUESTS, &|l| !l.contains(".mod\"")),
            pick(Logs::ACCESS, &|_| true),
            pick(Logs::NGINX, &|_| true),
            pick(Logs::FASTCGI, &|_| true),
            console_tail(&self.lab.read(&host.console()), 3000),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

/// The logs of the box's services (in the run directory).
pub(super) struct Logs {
    pub(super) run: PathBuf,
}

/// The logs at one moment, as far as one guest is concerned.
struct Snapshot {
    /// DHCPACKs of the guest's fixed address to its MAC.
    acks: usize,
    /// Files the guest asked TFTP for, relative to the TFTP root.
    tftp_asked: Vec<String>,
    access: String,
    /// The guest's own kickstart request (`"GET /install/rocks/kickstart/NAME.ks HTTP/1.`).
    own: String,
    ip: String,
    console: String,
}

impl Logs {
    pub(super) const NAMED: &'static str = "named.log";
    pub(super) const DHCP: &'static str = "dhcpd.log";
    pub(super) const TFTP: &'static str = "tftp.log";
    pub(super) const TFTP_REQUESTS: &'static str = "tftp-requests.log";
    pub(super) const FASTCGI: &'static str = "fastcgi.log";
    pub(super) const NGINX: &'static str = "nginx.log";
    pub(super) const ACCESS: &'static str = "access.log";

    fn snapshot(&self, host: &Host) -> Snapshot {
        let read = |name: &str| super::common::lab::read_lossy(&self.run.join(name));
        let ack = format!("DHCPACK on {} to {} ", host.ip, host.mac);
        let from = format!("IP {}.", host.ip);
        Snapshot {
            acks: read(Self::DHCP).lines().filter(|l| l.contains(&ack)).count(),
            // tcpdump: `IP 10.77.0.254.2070 > 10.77.0.1.69: TFTP, length 27, RRQ "pxelinux.0" octet ...`
            tftp_asked: read(Self::TFTP_REQUESTS)
                .lines()
                .filter(|l| l.starts_with(&from))
                .filter_map(|l| l.split_once("RRQ \"").and_then(|(_, r)| r.split('"').next()))
                .map(|f| f.trim_start_matches('/').to_string())
                .collect(),
            access: read(Self::ACCESS),
            own: format!("\"GET /install/rocks/kickstart/{}.ks HTTP/1.", host.name),
            ip: host.ip.clone(),
            console: read(&host.console()),
        }
    }
}

impl Snapshot {
    fn asked(&self, path: &str) -> bool {
        self.tftp_asked.iter().any(|p| p == path)
    }

    /// The bytes nginx sent for the guest's own kickstart request that was answered 200.
    fn own_kickstart_200(&self) -> Option<usize> {
        let prefix = format!("{} {}", self.ip, self.own);
        self.access.lines().filter(|l| l.starts_with(&prefix)).find_map(|l| {
            let (_, rest) = l.split_once("\" 200 ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
    }
}
