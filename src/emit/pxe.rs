//! PXE boot files. For every interface with a MAC of every host that has an install server:
//!
//! - `tftp/pxelinux.cfg/01-<mac>`: BIOS clients running pxelinux (`pxelinux.0` at the TFTP
//!   root, so relative paths in it are relative to the TFTP root);
//! - `tftp/grub/grub.cfg-01-<mac>`: UEFI clients running GRUB from `tftp/grub/` (GRUB's
//!   `$root` is the TFTP server, so paths start with `/`);
//! - `ipxe/<mac>.ipxe`: iPXE clients, which fetch kernel and initrd over HTTP from the host's
//!   install server (`<server url>/tftp/<path>`: the tree is served over HTTP, `tftp/` too).
//!
//! plus two generic iPXE entry points that find the per-interface script by the booting
//! interface's MAC (`${netX/mac:hexhyp}`, the most recently opened interface):
//!
//! - `ipxe/boot.ipxe`, fetched over HTTP (DHCP hands iPXE clients `<server url>/ipxe/boot.ipxe`):
//!   chains to `<mac>.ipxe` relative to itself, so the same bytes work on every server;
//! - `tftp/boot.ipxe`, for iPXE clients given a TFTP file name: the servers' base URLs differ,
//!   so it compares `${next-server}` with each server's address and chains to the script on
//!   the matching server.
//!
//! What a host boots is its next boot action ([`crate::model::HostFacts::next_action`]), a
//! row of `bootactions`. A kernel starting with `localboot` boots the local disk: pxelinux
//! `LOCALBOOT 0`, GRUB and iPXE `exit` (the firmware goes on to its next boot entry).
//! Otherwise kernel and initrd are paths relative to the TFTP root; in them and in the
//! arguments `{distribution}`, `{release}` (the distribution's `os_release`) and `{arch}` are
//! replaced, and in the arguments also `{distribution_url}` (the distribution's URL with
//! `{server}` replaced), `{server}` (the host's install server address), `{host}` and
//! `{ks_url}` (the host's kickstart URL). Unknown `{words}` stay as they are. When the host
//! boots its install action, any `inst.ks=` argument is replaced by `inst.ks=<kickstart URL>`
//! at the end. Hosts of appliances that are not kickstartable always boot the local disk.
//!
//! Hosts without an install server get no files (nothing could serve them). Arguments are
//! written as they are: `${...}` in them is expanded by iPXE, and GRUB gets every word that is
//! not plain quoted.

use std::borrow::Cow;

use minijinja::{Error, ErrorKind, Value};
use serde::Serialize;

use crate::facts::{Boot, BootAction};
use crate::model::HostFacts;
use crate::plan::{Artifact, Kind, Site, ipxe_path, mac_hyphen};

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, Error> {
    if !site.wants(Kind::Pxe) {
        return Ok(Vec::new());
    }
    let env = crate::render::env();
    let mut out = Vec::new();
    for i in 0..site.cluster.hosts.len() {
        out.extend(host_files(env, site, i)?);
    }
    let servers: Vec<ChainServer<'_>> = site.servers.iter().map(|s| ChainServer { name: &s.name, ip: &s.ip, url: &s.url }).collect();
    let http = crate::render::render("boot.ipxe.j2", &BootChain { tftp: false, servers: &servers })?;
    let tftp = crate::render::render("boot.ipxe.j2", &BootChain { tftp: true, servers: &servers })?;
    out.push(Artifact::new(Kind::Pxe, "ipxe/boot.ipxe", http));
    out.push(Artifact::new(Kind::Pxe, "tftp/boot.ipxe", tftp));
    Ok(out)
}

/// The PXE files of host number `i` alone (what changes when its boot action does): for each
/// interface with a MAC, its pxelinux, GRUB and iPXE files.
pub fn host_artifacts(site: &Site<'_>, i: usize) -> Result<Vec<Artifact>, Error> {
    host_files(crate::render::env(), site, i)
}

/// The iPXE script of host number `i`'s interface with `mac` (the bytes of its
/// `ipxe/<mac>.ipxe`), or `None` when the host has no install server to boot from.
pub fn ipxe_script(site: &Site<'_>, i: usize, mac: &str) -> Result<Option<String>, Error> {
    let Some(entry) = BootEntry::new(site, i)? else { return Ok(None) };
    let ctx = entry.context(&site.cluster.hosts[i].name, mac);
    crate::render::render("host.ipxe.j2", &ctx).map(Some)
}

fn host_files(env: &minijinja::Environment<'_>, site: &Site<'_>, i: usize) -> Result<Vec<Artifact>, Error> {
    let host = &site.cluster.hosts[i];
    let mut out = Vec::new();
    if host.boot_macs().next().is_none() {
        return Ok(out);
    }
    let Some(entry) = BootEntry::new(site, i)? else { return Ok(out) };
    let (pxelinux, grub, ipxe) =
        (env.get_template("pxelinux.cfg.j2")?, env.get_template("grub.cfg.j2")?, env.get_template("host.ipxe.j2")?);
    // Never for the BMC's MAC: a management controller does not boot.
    for mac in host.boot_macs() {
        // One context value, rendered by three templates.
        let ctx = Value::from(minijinja::value::Serde(entry.context(&host.name, mac)));
        let hy = mac_hyphen(mac);
        let mut push = |path: String, text: String| {
            let a = Artifact::new(Kind::Pxe, path, text);
            out.push(if site.secrets.is_empty() { a } else { a.with_secrets(&site.secrets) });
        };
        push(format!("tftp/pxelinux.cfg/01-{hy}"), pxelinux.render(&ctx)?);
        push(format!("tftp/grub/grub.cfg-01-{hy}"), grub.render(&ctx)?);
        push(ipxe_path(mac), ipxe.render(&ctx)?);
    }
    Ok(out)
}

/// The context of the per-interface templates (`pxelinux.cfg.j2`, `grub.cfg.j2`,
/// `host.ipxe.j2`): one interface of a host and the host's [`BootEntry`].
#[derive(Debug, Serialize)]
pub struct InterfaceBoot<'a> {
    /// The host's name.
    pub host: &'a str,
    /// The interface's MAC, `52:54:00:12:34:56`.
    pub mac: &'a str,
    /// [`BootEntry::action`].
    pub action: &'a str,
    /// [`BootEntry::boot`].
    pub boot: &'a str,
    /// [`BootEntry::note`].
    pub note: Option<&'a str>,
    /// [`BootEntry::linux`].
    pub linux: Option<&'a Linux>,
    /// [`BootEntry::serial`].
    pub serial: Serial,
}

/// What one host boots next (the same on each of its interfaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    /// The boot action's name (`install`, `os`, ...).
    pub action: String,
    /// Whether the host installs or runs its OS next (`install` or `os`).
    pub boot: &'static str,
    /// Why the action was overridden, if it was (e.g. `appliance nas is not kickstartable`).
    pub note: Option<String>,
    /// The kernel to boot; `None`: boot the local disk.
    pub linux: Option<Linux>,
    /// The serial port the boot loader's menu and messages go to.
    pub serial: Serial,
}

/// A boot loader's serial port: `ttyS<unit>` at `speed` baud. It follows the host's
/// [`CONSOLE_ATTR`] when that names one of the four standard ports `ttyS0`-`ttyS3`
/// (`ttyS1,115200`: unit 1 at 115200; no speed: 115200; pxelinux takes a higher number for an
/// I/O address), so that the boot menu shows on the console serial-over-LAN carries;
/// otherwise unit 0 at 115200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Serial {
    pub unit: u32,
    pub speed: u32,
}

impl Serial {
    /// The port of a `console=` value (`ttyS1,115200n8`), when it is a `ttyS` port.
    pub fn of_console(value: &str) -> Option<Serial> {
        let (port, options) = value.trim().split_once(',').unwrap_or((value.trim(), ""));
        let unit = port.strip_prefix("ttyS")?.parse().ok().filter(|u| *u <= 3)?;
        let digits: String = options.chars().take_while(char::is_ascii_digit).collect();
        let speed = if digits.is_empty() { Serial::default().speed } else { digits.parse().ok()? };
        Some(Serial { unit, speed })
    }
}

impl Default for Serial {
    fn default() -> Serial {
        Serial { unit: 0, speed: 115200 }
    }
}

/// A Linux kernel to boot over the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Linux {
    /// Path relative to the TFTP root, e.g. `rocky-9/x86_64/vmlinuz`.
    pub kernel: String,
    /// Path relative to the TFTP root; empty: no initrd.
    pub initrd: String,
    /// The initrd's file name (iPXE under UEFI hands the initrd to the kernel only when the
    /// command line names it: `initrd=<name>`).
    pub initrd_name: String,
    /// The kernel command line, words separated by one space.
    pub args: String,
    /// `/<kernel>`, quoted for GRUB's script parser where needed.
    pub grub_kernel: String,
    /// `/<initrd>`, quoted for GRUB where needed (empty: no initrd).
    pub grub_initrd: String,
    /// The command line with each word quoted for GRUB where needed.
    pub grub_args: String,
    /// The TFTP root over HTTP on the host's install server (`<server url>/tftp`), for iPXE.
    pub http_root: String,
}

/// The context of `boot.ipxe.j2`.
#[derive(Debug, Serialize)]
pub struct BootChain<'a> {
    /// `false`: the HTTP copy (chains relative to itself); `true`: the TFTP copy (chains to
    /// the server whose address is `${next-server}`).
    pub tftp: bool,
    /// Every install server, by name.
    pub servers: &'a [ChainServer<'a>],
}

/// One install server in `tftp/boot.ipxe`.
#[derive(Debug, Serialize)]
pub struct ChainServer<'a> {
    pub name: &'a str,
    pub ip: &'a str,
    /// Base URL of the tree on the server.
    pub url: &'a str,
}

/// The attribute naming the serial port a host's BMC reads for serial-over-LAN (e.g.
/// `ttyS1,115200`): the installer's kernel command line gets `console=` it, last.
pub const CONSOLE_ATTR: &str = "console_serial";

impl BootEntry {
    /// What host number `i` boots next; `None` when it has no install server.
    pub fn new(site: &Site<'_>, i: usize) -> Result<Option<BootEntry>, Error> {
        let host = &site.cluster.hosts[i];
        let Some(server) = site.server(i) else { return Ok(None) };
        let name = host.next_action();
        let action =
            site.cluster.boot_actions.get(name).ok_or_else(|| {
                Error::new(ErrorKind::InvalidOperation, format!("host `{}`: boot action `{name}` is not defined", host.name))
            })?;
        let console = crate::resolver::stored_attr(site.cluster, host, CONSOLE_ATTR).map(|(p, _)| p.trim()).filter(|p| !p.is_empty());
        let serial = console.and_then(Serial::of_console).unwrap_or_default();
        let mut entry = BootEntry { action: name.to_string(), boot: host.boot.as_str(), note: None, linux: None, serial };
        if is_localboot(action) {
            return Ok(Some(entry));
        }
        if host.boot == Boot::Install && site.cluster.appliances.get(&host.appliance).is_some_and(|a| !a.kickstartable) {
            entry.note = Some(format!("appliance {} is not kickstartable: local disk", host.appliance));
            return Ok(Some(entry));
        }
        if action.kernel.trim().is_empty() {
            return Err(Error::new(ErrorKind::InvalidOperation, format!("host `{}`: boot action `{name}` has no kernel", host.name)));
        }
        let ks_url = site.kickstart_url(i).unwrap_or_default();
        let vars = Vars { site, host, server_ip: &server.ip, ks_url: &ks_url };
        let path = |p: &str| vars.fill(p).map(|p| p.trim_start_matches('/').to_string());
        let (kernel, initrd) = (path(&action.kernel)?, path(&action.initrd)?);
        let filled = vars.fill(&action.args)?;
        let install = (host.boot == Boot::Install).then_some(ks_url.as_str());
        let mut args = command_line(&filled, install);
        // The serial port the BMC's serial-over-LAN reads, as the last console.
        if let Some(port) = console {
            let console = format!("console={port}");
            if !args.split(' ').any(|w| w == console) {
                args = if args.is_empty() { console } else { format!("{args} {console}") };
            }
        }
        let initrd_name = initrd.rsplit('/').next().unwrap_or_default().to_string();
        entry.linux = Some(Linux {
            grub_kernel: grub_word(&format!("/{kernel}")).into_owned(),
            grub_initrd: if initrd.is_empty() { String::new() } else { grub_word(&format!("/{initrd}")).into_owned() },
            grub_args: args.split(' ').filter(|w| !w.is_empty()).map(grub_word).collect::<Vec<_>>().join(" "),
            http_root: format!("{}/tftp", server.url),
            kernel,
            initrd,
            initrd_name,
            args,
        });
        Ok(Some(entry))
    }

    /// The template context for the interface `mac` of host `host`.
    pub fn context<'a>(&'a self, host: &'a str, mac: &'a str) -> InterfaceBoot<'a> {
        InterfaceBoot { host, mac, action: &self.action, boot: self.boot, note: self.note.as_deref(), linux: self.linux.as_ref(), serial: self.serial }
    }
}

/// A boot action whose kernel is `localboot ...` boots the local disk.
fn is_localboot(action: &BootAction) -> bool {
    action.kernel.trim_start().starts_with("localboot")
}

/// The values of a host's `{placeholders}`.
struct Vars<'a> {
    site: &'a Site<'a>,
    host: &'a HostFacts,
    server_ip: &'a str,
    ks_url: &'a str,
}

impl Vars<'_> {
    /// `text` with every known `{name}` replaced (one pass; replaced text is not rescanned).
    fn fill(&self, text: &str) -> Result<String, Error> {
        let mut out = String::with_capacity(text.len() + 32);
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}').map(|close| (&after[..close], close)) {
                Some((name, close)) if !name.contains('{') => match self.value(name)? {
                    Some(v) => {
                        out.push_str(&v);
                        rest = &after[close + 1..];
                    }
                    None => {
                        out.push('{');
                        rest = after;
                    }
                },
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn value(&self, name: &str) -> Result<Option<Cow<'_, str>>, Error> {
        let h = self.host;
        let distribution = || {
            self.site.cluster.distributions.get(&h.distribution).ok_or_else(|| {
                Error::new(ErrorKind::InvalidOperation, format!("host `{}`: distribution `{}` is not defined", h.name, h.distribution))
            })
        };
        Ok(Some(match name {
            "distribution" => Cow::Borrowed(h.distribution.as_str()),
            "release" => Cow::Borrowed(distribution()?.os_release.as_str()),
            "arch" => Cow::Borrowed(h.arch.as_str()),
            "distribution_url" => Cow::Owned(distribution()?.url.replace("{server}", self.server_ip)),
            "server" => Cow::Borrowed(self.server_ip),
            "host" => Cow::Borrowed(h.name.as_str()),
            "ks_url" => Cow::Borrowed(self.ks_url),
            _ => return Ok(None),
        }))
    }
}

/// The kernel command line: `args` split on white space, re-joined with one space; with
/// `ks_url` (the host installs), every `inst.ks=` word is dropped and `inst.ks=<ks_url>`
/// appended.
fn command_line(args: &str, ks_url: Option<&str>) -> String {
    let mut words: Vec<&str> = args.split_whitespace().filter(|w| ks_url.is_none() || !w.starts_with("inst.ks=")).collect();
    let ks = ks_url.map(|u| format!("inst.ks={u}"));
    words.extend(ks.as_deref());
    words.join(" ")
}

/// One word for GRUB's script parser: as it is when it holds only plain characters, else in
/// single quotes (which keep everything literal; a `'` becomes `'\''`).
fn grub_word(word: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) { Cow::Borrowed(word) } else { Cow::Owned(format!("'{}'", word.replace('\'', r"'\''"))) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cluster, Iface};
    use crate::facts::{Distribution, InstallServer};

    #[test]
    fn command_line_replaces_the_kickstart_url() {
        let args = "inst.ks=http://10.1.1.1/install/sbin/kickstart.cgi  inst.ks.sendmac\nip=dhcp";
        assert_eq!(command_line(args, Some("http://s/ks/a.ks")), "inst.ks.sendmac ip=dhcp inst.ks=http://s/ks/a.ks");
        assert_eq!(command_line(args, None), "inst.ks=http://10.1.1.1/install/sbin/kickstart.cgi inst.ks.sendmac ip=dhcp");
        assert_eq!(command_line("", Some("u")), "inst.ks=u");
        assert_eq!(command_line("  ", None), "");
    }

    #[test]
    fn the_boot_loaders_serial_port_follows_the_console() {
        assert_eq!(Serial::of_console("ttyS1,115200"), Some(Serial { unit: 1, speed: 115200 }));
        assert_eq!(Serial::of_console(" ttyS0,9600n8 "), Some(Serial { unit: 0, speed: 9600 }));
        assert_eq!(Serial::of_console("ttyS2"), Some(Serial { unit: 2, speed: 115200 }));
        assert_eq!(Serial::of_console("ttyAMA0,115200"), None);
        assert_eq!(Serial::of_console("tty0"), None);
        assert_eq!(Serial::of_console("ttyS4,115200"), None);
        assert_eq!(Serial::of_console("ttyS1,fast"), Some(Serial { unit: 1, speed: 115200 }));
    }

    #[test]
    fn grub_words_are_quoted_only_when_needed() {
        assert_eq!(grub_word("inst.ks=http://10.1.1.1:8080/ks/a.ks"), "inst.ks=http://10.1.1.1:8080/ks/a.ks");
        assert_eq!(grub_word("url=http://x/ks.cgi?a=1&b=$c"), "'url=http://x/ks.cgi?a=1&b=$c'");
        assert_eq!(grub_word("it's"), r"'it'\''s'");
        assert_eq!(grub_word("a;b"), "'a;b'");
    }

    fn cluster() -> Cluster {
        let host = HostFacts {
            distribution: "alma-9".into(),
            interfaces: vec![Iface::primary("eth0", Some("52:54:00:00:00:01".into()), None, None)],
            ..HostFacts::new("c-0-0", "compute")
        };
        let alma = Distribution { name: "alma-9".into(), os_release: "9.4".into(), url: "http://{server}/alma/{host}".into() };
        let server = InstallServer { name: "is-0".into(), ip: "10.1.1.2".into(), url: "http://10.1.1.2/t".into() };
        Cluster { hosts: vec![host], distributions: [("alma-9".to_string(), alma)].into(), servers: vec![server], ..Cluster::default() }
    }

    #[test]
    fn placeholders_are_filled_in_one_pass() {
        let c = cluster();
        let o = crate::plan::BuildOptions::default();
        let site = Site::new(&c, &o);
        let ks = site.kickstart_url(0).unwrap();
        let vars = Vars { site: &site, host: &c.hosts[0], server_ip: "10.1.1.2", ks_url: &ks };
        let fill = |t: &str| vars.fill(t).unwrap();
        assert_eq!(fill("{distribution}/{release}/{arch}/vmlinuz"), "alma-9/9.4/x86_64/vmlinuz");
        // `{host}` inside a replaced value stays: replaced text is not scanned again.
        assert_eq!(fill("repo={distribution_url}"), "repo=http://10.1.1.2/alma/{host}");
        assert_eq!(fill("{host} {server} {ks_url}"), "c-0-0 10.1.1.2 http://10.1.1.2/t/kickstart/c-0-0.ks");
        assert_eq!(fill("{nope} {{host}} {host {} }{"), "{nope} {c-0-0} {host {} }{");
        assert_eq!(fill("no placeholders"), "no placeholders");
        let mut c = c;
        c.distributions.clear();
        let site = Site::new(&c, &o);
        let vars = Vars { site: &site, host: &c.hosts[0], server_ip: "10.1.1.2", ks_url: &ks };
        assert_eq!(vars.fill("{arch}").unwrap(), "x86_64");
        assert!(vars.fill("{release}").unwrap_err().to_string().contains("host `c-0-0`: distribution `alma-9` is not defined"));
    }

    #[test]
    fn localboot_is_recognised() {
        let a = |k: &str| BootAction { name: "x".into(), kernel: k.into(), initrd: String::new(), args: String::new() };
        assert!(is_localboot(&a("localboot 0")));
        assert!(is_localboot(&a("localboot")));
        assert!(!is_localboot(&a("vmlinuz")));
        assert!(!is_localboot(&a("boot/localboot.c32x")));
    }
}
