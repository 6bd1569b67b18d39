//! `dhcp/dhcpd.conf` for ISC dhcpd: a subnet per DHCP-serving network (routers, DNS servers,
//! domain, MTU), PXE boot files by client architecture (option 93), iPXE clients (user-class
//! `iPXE`) sent to their own iPXE script, and one `host` block per interface with a MAC
//! (fixed address, host name, `next-server` = the host's primary install server).
//!
//! Hosts are grouped by primary install server. Each `group` sets `next-server` and chooses
//! the boot file by client: iPXE gets the server's `ipxe/boot.ipxe` over HTTP (which chains
//! to the booting interface's own `ipxe/<mac>.ipxe` beside it), UEFI x86-64 (arch 7 and 9)
//! gets the UEFI boot file, BIOS (arch 0) the BIOS one. A `host` block sets a `filename` only
//! when the host's `pxe_loader` attribute forces one ([`PxeLoader`]): a host-scope `filename`
//! beats the group's choice for every client type, which is the point for NICs whose firmware
//! (or the iPXE ROM QEMU gives its NICs) would otherwise be sent elsewhere.
//!
//! A host's BMC gets its fixed address too, under its BMC name ([`super::bmc`]), in a group
//! of its own with no `next-server` and no boot file: a management controller does not boot.
//!
//! `Dhcp` (the subnets and reservations both servers serve) is computed here and shared with
//! [`super::kea`].

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use serde::Serialize;

use super::bmc::bmc_name;
use crate::facts::{InstallServer, Network};
use crate::plan::{Artifact, Kind, Site, mac_hyphen};

/// Path of the file in the output tree.
pub const PATH: &str = "dhcp/dhcpd.conf";
/// Lease time (seconds) when the client asks for none: a day.
pub(crate) const DEFAULT_LEASE_TIME: u32 = 86_400;
/// Longest lease time (seconds) a client may get: two days.
pub(crate) const MAX_LEASE_TIME: u32 = 172_800;

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    if !site.wants(Kind::Dhcpd) {
        return Ok(Vec::new());
    }
    let dhcp = Dhcp::new(site);
    let conf = DhcpdConf::new(site, &dhcp);
    let text = crate::render::render("dhcpd.conf.j2", &conf)?;
    Ok(vec![Artifact::new(Kind::Dhcpd, PATH, text).with_secrets(&site.secrets)])
}

/// What both DHCP servers serve: the DHCP networks and one reservation per interface with a
/// MAC and an address on one of them (a few lookups per interface, no quadratic step).
#[derive(Debug)]
pub(crate) struct Dhcp<'a> {
    /// IPv4 networks with `dhcp` on, by name.
    pub subnets: Vec<Subnet<'a>>,
    /// By host name, then device.
    pub reservations: Vec<Reservation<'a>>,
}

/// One DHCP-serving network.
#[derive(Debug)]
pub(crate) struct Subnet<'a> {
    pub network: &'a Network,
    pub cidr: Ipv4Net,
}

/// One interface with a fixed address.
#[derive(Debug)]
pub(crate) struct Reservation<'a> {
    /// Index of the host in `cluster.hosts` (and `site.assignment`).
    pub host: usize,
    /// The dhcpd `host` declaration name, unique among reservations: the host name for the
    /// host's primary interface, `<host>-<device>` for the others (see [`declaration_name`];
    /// `-<mac>` is appended on a clash).
    pub name: Cow<'a, str>,
    /// Lower-case, colon-separated.
    pub mac: &'a str,
    pub ip: Ipv4Addr,
    /// Index into [`Dhcp::subnets`].
    pub subnet: usize,
    /// The boot file the host's `pxe_loader` attribute forces on this interface (unescaped).
    pub boot_file: Option<String>,
    /// The host's BMC: its name ([`super::bmc::bmc_name`]); it gets no boot options.
    pub bmc: Option<String>,
}

/// Name of the attribute that forces the boot loader a host's interfaces get from DHCP.
pub const PXE_LOADER_ATTR: &str = "pxe_loader";

/// The values of the `pxe_loader` attribute (any scope). Absent or `auto`: the DHCP server
/// chooses by client (user-class, then architecture). Any other value forces one boot file on
/// every interface of the host, whatever its firmware says: `pxelinux` the BIOS boot file,
/// `grub` the UEFI one, `ipxe` the interface's own iPXE script URL. A value not in
/// [`PxeLoader::NAMES`] forces nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PxeLoader {
    Auto,
    Pxelinux,
    Grub,
    Ipxe,
}

/// The boot file each kind of PXE client gets from one install server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BootFiles {
    /// HTTP URL of the server's generic iPXE script (`None` without a server).
    pub ipxe: Option<String>,
    /// UEFI x86-64 clients (arch 7 and 9), relative to the TFTP root.
    pub uefi: Option<String>,
    /// BIOS clients (arch 0), relative to the TFTP root.
    pub bios: Option<String>,
}

/// The context of `dhcpd.conf.j2`. Fields documented as "escaped" go inside a dhcpd string
/// literal (the template adds the quotes); everything else is a bare token (address, number,
/// MAC, declaration name).
#[derive(Debug, Serialize)]
pub struct DhcpdConf<'a> {
    pub default_lease_time: u32,
    pub max_lease_time: u32,
    /// One per DHCP network, by network name.
    pub subnets: Vec<SubnetDecl<'a>>,
    /// One per install server with hosts (by server name), then hosts without a server, then
    /// the BMCs.
    pub groups: Vec<GroupDecl<'a>>,
}

/// A `subnet` declaration.
#[derive(Debug, Serialize)]
pub struct SubnetDecl<'a> {
    /// Network name (for a comment).
    pub network: &'a str,
    pub address: Ipv4Addr,
    pub netmask: Ipv4Addr,
    pub routers: Option<Ipv4Addr>,
    /// Comma-separated, `None` when the network has no IPv4 DNS server.
    pub domain_name_servers: Option<String>,
    /// Escaped.
    pub domain_name: Cow<'a, str>,
    pub mtu: u32,
}

/// A `group` of hosts sharing a primary install server.
#[derive(Debug, Serialize)]
pub struct GroupDecl<'a> {
    /// Install server name (for a comment); `None` for hosts without a server and BMCs.
    pub server: Option<&'a str>,
    /// The group of the BMCs (no server, no boot files).
    pub bmcs: bool,
    /// The server's address (`None` when it has no IPv4 address).
    pub next_server: Option<Ipv4Addr>,
    /// The boot file by kind of client, tested in this order (first match wins).
    pub boot: Vec<BootBranch>,
    pub hosts: Vec<HostDecl<'a>>,
}

/// One branch of a group's boot-file choice.
#[derive(Debug, Serialize)]
pub struct BootBranch {
    /// `ipxe` (user-class `iPXE`), `uefi` (arch 7 or 9) or `bios` (arch 0).
    pub client: &'static str,
    /// Escaped.
    pub file: String,
}

/// A `host` declaration.
#[derive(Debug, Serialize)]
pub struct HostDecl<'a> {
    /// Unique; a bare declaration name ([`declaration_name`]).
    pub name: &'a str,
    pub mac: &'a str,
    pub ip: Ipv4Addr,
    /// Escaped: the host's name.
    pub host_name: Cow<'a, str>,
    /// Escaped: the boot file forced by `pxe_loader` (beats the group's choice).
    pub filename: Option<Cow<'a, str>>,
}

impl<'a> Dhcp<'a> {
    /// The DHCP networks and reservations of `site`. Interfaces with a MAC but no usable
    /// address on a DHCP network are left out (the model check reports them).
    pub fn new(site: &Site<'a>) -> Dhcp<'a> {
        let cluster = site.cluster;
        let subnets: Vec<Subnet<'a>> = cluster
            .networks
            .iter()
            .filter(|n| n.dhcp)
            .filter_map(|n| match n.cidr {
                IpNet::V4(cidr) => Some(Subnet { network: n, cidr }),
                IpNet::V6(_) => None,
            })
            .collect();
        // A host's primary interface is declared under the host's name when dhcpd can take it
        // as is: host names are unique, so nothing to check. Every other declaration name (a
        // secondary interface, a rewritten name) must not be any host's name nor an earlier
        // declaration's; those are few, and only they are remembered.
        let mut special: HashSet<String> = HashSet::new();
        let mut reservations = Vec::with_capacity(cluster.hosts.len());
        // Attribute lookups only when some scope sets the attribute at all.
        let loaders = cluster.attributes.values().any(|m| m.contains_key(PXE_LOADER_ATTR));
        for (i, h) in cluster.hosts.iter().enumerate() {
            let primary = h.primary().map(|p| p.device.as_str());
            let loader = if loaders { PxeLoader::of(site, i) } else { None };
            for iface in &h.interfaces {
                let (Some(mac), Some(IpAddr::V4(ip)), Some(net)) = (iface.mac.as_deref(), iface.addr(), iface.network.as_deref()) else {
                    continue;
                };
                let Some(subnet) = subnets.iter().position(|s| s.network.name == net) else { continue };
                if !subnets[subnet].network.contains(IpAddr::V4(ip)) {
                    continue;
                }
                let bmc = iface.is_bmc().then(|| bmc_name(cluster, h));
                let wanted = if let Some(b) = &bmc {
                    Cow::Owned(declaration_name(b).into_owned())
                } else if primary == Some(iface.device.as_str()) {
                    declaration_name(&h.name)
                } else {
                    Cow::Owned(declaration_name(&format!("{}-{}", h.name, iface.device)).into_owned())
                };
                let name = match wanted {
                    Cow::Borrowed(n) if n == h.name => Cow::Borrowed(n),
                    wanted => {
                        let taken = |n: &str| special.contains(n) || cluster.host(n).is_some();
                        let mut name = wanted.to_string();
                        let mut k = 1;
                        while taken(&name) {
                            name =
                                if k == 1 { format!("{wanted}-{}", mac_hyphen(mac)) } else { format!("{wanted}-{}-{k}", mac_hyphen(mac)) };
                            k += 1;
                        }
                        special.insert(name.clone());
                        Cow::Owned(name)
                    }
                };
                let boot_file = if bmc.is_some() { None } else { loader.and_then(|l| l.boot_file(site, i, mac)) };
                reservations.push(Reservation { host: i, name, mac, ip, subnet, boot_file, bmc });
            }
        }
        Dhcp { subnets, reservations }
    }
}

impl BootFiles {
    /// What PXE clients whose primary server is `server` boot.
    pub fn new(site: &Site<'_>, server: Option<&InstallServer>) -> BootFiles {
        let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.to_string());
        BootFiles {
            ipxe: server.map(|s| format!("{}/ipxe/boot.ipxe", s.url)),
            uefi: nonempty(&site.options.uefi_boot_file),
            bios: nonempty(&site.options.bios_boot_file),
        }
    }
}

impl BootFiles {
    /// `(client, file)` in the order clients are tested: iPXE first (it also sends an arch),
    /// then UEFI, then BIOS.
    pub fn branches(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [("ipxe", &self.ipxe), ("uefi", &self.uefi), ("bios", &self.bios)].into_iter().filter_map(|(c, f)| Some((c, f.as_deref()?)))
    }
}

impl PxeLoader {
    /// Every accepted value of the attribute, as written (lower case).
    pub const NAMES: [&'static str; 4] = ["auto", "pxelinux", "grub", "ipxe"];

    /// The loader an attribute value names (exactly one of [`PxeLoader::NAMES`]).
    pub fn parse(value: &str) -> Option<PxeLoader> {
        match value {
            "auto" => Some(PxeLoader::Auto),
            "pxelinux" => Some(PxeLoader::Pxelinux),
            "grub" => Some(PxeLoader::Grub),
            "ipxe" => Some(PxeLoader::Ipxe),
            _ => None,
        }
    }

    /// The loader of host number `i` (by attribute precedence); `None` when the attribute is
    /// absent or not an accepted value.
    pub fn of(site: &Site<'_>, i: usize) -> Option<PxeLoader> {
        crate::resolver::stored_attr(site.cluster, &site.cluster.hosts[i], PXE_LOADER_ATTR).and_then(|(v, _)| PxeLoader::parse(v))
    }

    /// The boot file this loader forces on the interface `mac` of host number `i`; `None` for
    /// `auto`, or when there is nothing to force (an empty boot file option, no install server
    /// for an iPXE URL).
    pub fn boot_file(self, site: &Site<'_>, i: usize, mac: &str) -> Option<String> {
        let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.to_string());
        match self {
            PxeLoader::Auto => None,
            PxeLoader::Pxelinux => nonempty(&site.options.bios_boot_file),
            PxeLoader::Grub => nonempty(&site.options.uefi_boot_file),
            PxeLoader::Ipxe => site.ipxe_url(i, mac),
        }
    }
}

/// The IPv4 address of `server` (a DHCP `next-server` must be one).
pub(crate) fn next_server(server: &InstallServer) -> Option<Ipv4Addr> {
    server.ip.parse().ok()
}

impl<'a> DhcpdConf<'a> {
    /// The context for `site` and its DHCP facts.
    pub(crate) fn new(site: &'a Site<'_>, dhcp: &'a Dhcp<'_>) -> DhcpdConf<'a> {
        let subnets = dhcp
            .subnets
            .iter()
            .map(|s| {
                let dns: Vec<String> = s.network.dns_servers.iter().filter(|d| d.is_ipv4()).map(ToString::to_string).collect();
                SubnetDecl {
                    network: &s.network.name,
                    address: s.cidr.network(),
                    netmask: s.cidr.netmask(),
                    routers: s.network.gateway.and_then(|g| match g {
                        IpAddr::V4(g) => Some(g),
                        IpAddr::V6(_) => None,
                    }),
                    domain_name_servers: (!dns.is_empty()).then(|| dns.join(", ")),
                    domain_name: escape(&s.network.zone),
                    mtu: s.network.mtu,
                }
            })
            .collect();
        // Bucket by primary server; the next bucket holds hosts without one, the last the BMCs.
        let (none, bmcs) = (site.servers.len(), site.servers.len() + 1);
        let mut buckets: Vec<Vec<HostDecl>> = (0..=bmcs).map(|_| Vec::new()).collect();
        for r in &dhcp.reservations {
            let h = &site.cluster.hosts[r.host];
            let b = if r.bmc.is_some() { bmcs } else { site.assignment[r.host].map_or(none, |(p, _)| p) };
            buckets[b].push(HostDecl {
                name: &r.name,
                mac: r.mac,
                ip: r.ip,
                host_name: escape(r.bmc.as_deref().unwrap_or(&h.name)),
                filename: r.boot_file.as_deref().map(escape),
            });
        }
        let groups = buckets
            .into_iter()
            .enumerate()
            .filter(|(_, hosts)| !hosts.is_empty())
            .map(|(b, hosts)| {
                let server = site.servers.get(b);
                let files = BootFiles::new(site, server);
                let boot = files.branches().filter(|_| b != bmcs);
                GroupDecl {
                    server: server.map(|s| s.name.as_str()),
                    bmcs: b == bmcs,
                    next_server: server.and_then(next_server),
                    boot: boot.map(|(client, file)| BootBranch { client, file: escape(file).into_owned() }).collect(),
                    hosts,
                }
            })
            .collect();
        DhcpdConf { default_lease_time: DEFAULT_LEASE_TIME, max_lease_time: MAX_LEASE_TIME, subnets, groups }
    }
}

/// `name` as a dhcpd `host` declaration name, which must be dot-separated labels of letters,
/// digits, `-` and `_` (`_` not first; no `:`, no quotes): `name` itself when it is one, else
/// `name` with every character but letters, digits and `-` replaced by `-`.
pub fn declaration_name(name: &str) -> Cow<'_, str> {
    let label_ok = |l: &str| !l.is_empty() && !l.starts_with('_') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if name.split('.').all(label_ok) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect())
    }
}

/// `s` escaped for the inside of a dhcpd string literal (`"` and `\\` escaped, control
/// characters as octal escapes); borrowed when nothing needs escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c == '"' || c == '\\' || c.is_ascii_control()) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_control() => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cluster, HostFacts, Iface};
    use crate::plan::BuildOptions;

    /// `n` hosts on one /8 DHCP network, three install servers.
    fn synthetic(n: u32) -> Cluster {
        let network = Network {
            name: "private".into(),
            cidr: "10.0.0.0/8".parse().unwrap(),
            zone: "local".into(),
            mtu: 1500,
            gateway: Some("10.0.0.1".parse().unwrap()),
            dns_servers: vec!["10.0.0.1".parse().unwrap()],
            dhcp: true,
        };
        let servers = (0..3)
            .map(|s| InstallServer {
                name: format!("is-{s}"),
                ip: format!("10.0.0.{}", s + 2),
                url: format!("http://10.0.0.{}/install/rocks", s + 2),
            })
            .collect();
        let mut hosts: Vec<HostFacts> = (0..n)
            .map(|i| {
                let [_, a, b, c] = (0x0a01_0000 + i).to_be_bytes();
                let (mac, ip) = (format!("52:54:00:{a:02x}:{b:02x}:{c:02x}"), format!("10.{a}.{b}.{c}"));
                HostFacts {
                    rack: i / 1000,
                    rank: i % 1000,
                    cpus: 64,
                    interfaces: vec![Iface::primary("eth0", Some(mac), Some(ip), Some("private"))],
                    ..HostFacts::new(format!("compute-{}-{}", i / 1000, i % 1000), "compute")
                }
            })
            .collect();
        hosts.sort_by(|x, y| x.name.cmp(&y.name));
        Cluster { networks: vec![network], hosts, servers, ..Cluster::default() }
    }

    /// 100,000 hosts: both files render (times printed; run with `--nocapture` to see them).
    #[test]
    fn hundred_thousand_hosts() {
        let cluster = synthetic(100_000);
        let options = BuildOptions::default();
        let site = Site::new(&cluster, &options);
        let t = std::time::Instant::now();
        let isc = artifacts(&site).unwrap();
        let isc_time = t.elapsed();
        let t = std::time::Instant::now();
        let kea = super::super::kea::artifacts(&site).unwrap();
        let kea_time = t.elapsed();
        eprintln!(
            "100000 hosts: dhcpd.conf {} bytes in {isc_time:?}, kea-dhcp4.json {} bytes in {kea_time:?}",
            isc[0].bytes.len(),
            kea[0].bytes.len()
        );
        let text = String::from_utf8_lossy(&isc[0].bytes);
        assert_eq!(text.matches("\n  host ").count(), 100_000);
        assert_eq!(text.matches("\ngroup {").count(), 3);
    }

    /// 100,000 hosts with `pxe_loader` set globally and overridden per rack: every host's
    /// attribute is looked up, and every reservation gets its forced file.
    #[test]
    fn hundred_thousand_hosts_with_forced_loaders() {
        let mut cluster = synthetic(100_000);
        let attr = |v: &str| [(PXE_LOADER_ATTR.to_string(), (v.to_string(), false))].into_iter().collect();
        cluster.attributes.insert(("global".into(), String::new()), attr("ipxe"));
        cluster.attributes.insert(("rack".into(), "7".into()), attr("grub"));
        let options = BuildOptions::default();
        let site = Site::new(&cluster, &options);
        let t = std::time::Instant::now();
        let isc = artifacts(&site).unwrap();
        let kea = super::super::kea::artifacts(&site).unwrap();
        eprintln!("100000 hosts with forced loaders: both DHCP files in {:?}", t.elapsed());
        let text = String::from_utf8_lossy(&isc[0].bytes);
        // Host blocks end with the forced file; the groups' branches go on with `} elsif`.
        assert_eq!(text.matches("    filename \"grub/x86_64-efi/core.efi\";\n  }\n").count(), 1000);
        assert_eq!(text.matches(".ipxe\";\n  }\n").count(), 99_000);
        // Plus the classes `uefi-x86-64`, `bios` and one `ipxe-<server>` per server.
        assert_eq!(String::from_utf8_lossy(&kea[0].bytes).matches("\"boot-file-name\": ").count(), 100_000 + 5);
    }

    #[test]
    fn loader_names() {
        for name in PxeLoader::NAMES {
            assert_eq!(PxeLoader::parse(name).map(|l| format!("{l:?}").to_ascii_lowercase()).as_deref(), Some(name));
        }
        assert_eq!(PxeLoader::parse("Grub"), None);
    }

    #[test]
    fn quoting() {
        assert!(matches!(escape("compute-0-0"), Cow::Borrowed("compute-0-0")));
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
        assert_eq!(escape("a\nb"), "a\\012b");
    }

    #[test]
    fn declaration_names() {
        for ok in ["compute-0-0", "a_b", "0-1", "compute-0-0.local", "a.-b", "ab_"] {
            assert_eq!(declaration_name(ok), ok);
        }
        for (bad, fixed) in [("a:b", "a-b"), ("_a", "-a"), ("a..b", "a--b"), (".a", "-a"), ("a._b", "a--b"), ("x-eth0:1", "x-eth0-1")] {
            assert_eq!(declaration_name(bad), fixed);
        }
    }
}
