//! `dhcp/kea-dhcp4.json` for Kea (2.2 syntax): the same subnets, reservations and client
//! classes as [`super::dhcpd`].
//!
//! Kea has no `group`, and a reservation's `boot-file-name` beats every class's, so the boot
//! file is chosen by classes: `ipxe` (user-class `iPXE`), `uefi-x86-64` (arch 7 or 9),
//! `bios` (arch 0). Only a host whose `pxe_loader` attribute forces a loader
//! ([`super::dhcpd::PxeLoader`]) gets a reservation `boot-file-name`, beating them all. A
//! reservation sets `next-server` to the host's primary install server and puts the client in
//! that server's class `server-<name>`; the class `ipxe-<name>` (iPXE clients of that server,
//! evaluated after the reservation lookup because it depends on `KNOWN`) gives the server's
//! `ipxe/boot.ipxe` URL. A BMC's reservation has no server, no class and no boot file: a
//! management controller does not boot.

use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use super::dhcpd::{BootFiles, DEFAULT_LEASE_TIME, Dhcp, MAX_LEASE_TIME, next_server};
use crate::plan::{Artifact, Kind, Site};

/// Path of the file in the output tree.
pub const PATH: &str = "dhcp/kea-dhcp4.json";

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    if !site.wants(Kind::Kea) {
        return Ok(Vec::new());
    }
    let dhcp = Dhcp::new(site);
    let conf = KeaConfig::new(site, &dhcp);
    let mut text = serde_json::to_string_pretty(&conf)
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::BadSerialization, "kea-dhcp4.json").with_source(e))?;
    text.push('\n');
    Ok(vec![Artifact::new(Kind::Kea, PATH, text).with_secrets(&site.secrets)])
}

/// The whole file: `{"Dhcp4": ...}`.
#[derive(Debug, Serialize)]
pub struct KeaConfig<'a> {
    #[serde(rename = "Dhcp4")]
    pub dhcp4: Dhcp4<'a>,
}

/// The `Dhcp4` map (keys in this order).
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Dhcp4<'a> {
    /// `["*"]`: every interface (a name that does not exist fails `kea-dhcp4 -t`).
    pub interfaces_config: InterfacesConfig,
    pub lease_database: LeaseDatabase,
    pub authoritative: bool,
    pub valid_lifetime: u32,
    pub max_valid_lifetime: u32,
    /// `false`: leases follow the MAC, as ISC dhcpd's fixed addresses do (PXE firmware,
    /// iPXE, the installer and the OS may each send a different client identifier).
    pub match_client_id: bool,
    /// `["hw-address"]`: reservations are by MAC only.
    pub host_reservation_identifiers: Vec<&'static str>,
    /// Evaluated in this order; a class's `member()` names only earlier classes.
    pub client_classes: Vec<ClientClass>,
    /// One per DHCP network, ids from 1 by network name.
    pub subnet4: Vec<Subnet4<'a>>,
}

/// `interfaces-config`.
#[derive(Debug, Serialize)]
pub struct InterfacesConfig {
    pub interfaces: Vec<String>,
}

/// `lease-database`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LeaseDatabase {
    /// `memfile`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Seconds between lease file clean-ups.
    pub lfc_interval: u32,
}

/// One entry of `client-classes`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ClientClass {
    pub name: String,
    /// Kea expression; `None` for classes assigned by reservations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_file_name: Option<String>,
}

/// One entry of `subnet4`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Subnet4<'a> {
    pub id: u32,
    /// `10.1.0.0/16`.
    pub subnet: String,
    pub option_data: Vec<OptionData>,
    /// By host name, then device.
    pub reservations: Vec<KeaReservation<'a>>,
}

/// One entry of `option-data` (a standard option, by name).
#[derive(Debug, Serialize)]
pub struct OptionData {
    pub name: &'static str,
    pub data: String,
}

/// One entry of `reservations`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct KeaReservation<'a> {
    pub hw_address: &'a str,
    pub ip_address: Ipv4Addr,
    /// The host's name, or its BMC's (sent as option 12).
    pub hostname: &'a str,
    /// The primary install server's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_server: Option<Ipv4Addr>,
    /// `["server-<name>"]` of the primary install server.
    #[serde(skip_serializing_if = "ServerClass::is_none")]
    pub client_classes: ServerClass<'a>,
    /// The boot file forced by the host's `pxe_loader` attribute (beats every class's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_file_name: Option<&'a str>,
}

/// The classes of a reservation: `["server-<name>"]` for the install server called `name`
/// (serialised without building the string).
#[derive(Debug, Clone, Copy)]
pub struct ServerClass<'a>(pub Option<&'a str>);

/// The test of the `ipxe` class: iPXE sends user-class (77) `iPXE`.
const IPXE_TEST: &str = "substring(option[77].hex,0,4) == 'iPXE'";
/// The test of the `uefi-x86-64` class (option 93 is known to Kea as the client architecture).
const UEFI_TEST: &str = "not member('ipxe') and (option[93].hex == 0x0007 or option[93].hex == 0x0009)";
/// The test of the `bios` class.
const BIOS_TEST: &str = "not member('ipxe') and option[93].hex == 0x0000";

impl<'a> KeaConfig<'a> {
    /// The configuration for `site` and its DHCP facts.
    pub(crate) fn new(site: &'a Site<'_>, dhcp: &'a Dhcp<'_>) -> KeaConfig<'a> {
        let generic = BootFiles::new(site, None);
        let mut classes = vec![
            ClientClass { name: "ipxe".into(), test: Some(IPXE_TEST.into()), boot_file_name: None },
            ClientClass { name: "uefi-x86-64".into(), test: Some(UEFI_TEST.into()), boot_file_name: generic.uefi.clone() },
            ClientClass { name: "bios".into(), test: Some(BIOS_TEST.into()), boot_file_name: generic.bios.clone() },
        ];
        // Per server with hosts: the class reservations assign, and its iPXE class.
        let mut has_hosts = vec![false; site.servers.len()];
        for r in dhcp.reservations.iter().filter(|r| r.bmc.is_none()) {
            if let Some((p, _)) = site.assignment[r.host] {
                has_hosts[p] = true;
            }
        }
        for (server, _) in site.servers.iter().zip(has_hosts).filter(|(_, has)| *has) {
            let member = server_class(&server.name);
            let ipxe = BootFiles::new(site, Some(server)).ipxe;
            classes.push(ClientClass { name: member.clone(), test: None, boot_file_name: None });
            classes.push(ClientClass {
                name: format!("ipxe-{}", server.name),
                test: Some(format!("member('KNOWN') and member('ipxe') and member('{member}')")),
                boot_file_name: ipxe,
            });
        }
        let mut subnet4: Vec<Subnet4> = dhcp
            .subnets
            .iter()
            .zip(1..)
            .map(|(s, id)| {
                let n = s.network;
                let mut option_data = Vec::new();
                if let Some(IpAddr::V4(g)) = n.gateway {
                    option_data.push(OptionData { name: "routers", data: g.to_string() });
                }
                let dns: Vec<String> = n.dns_servers.iter().filter(|d| d.is_ipv4()).map(ToString::to_string).collect();
                if !dns.is_empty() {
                    option_data.push(OptionData { name: "domain-name-servers", data: dns.join(", ") });
                }
                option_data.push(OptionData { name: "domain-name", data: n.zone.clone() });
                option_data.push(OptionData { name: "interface-mtu", data: n.mtu.to_string() });
                Subnet4 { id, subnet: s.cidr.to_string(), option_data, reservations: Vec::new() }
            })
            .collect();
        for r in &dhcp.reservations {
            // A BMC boots from no server.
            let server = if r.bmc.is_some() { None } else { site.server(r.host) };
            subnet4[r.subnet].reservations.push(KeaReservation {
                hw_address: r.mac,
                ip_address: r.ip,
                hostname: r.bmc.as_deref().unwrap_or(&site.cluster.hosts[r.host].name),
                next_server: server.and_then(next_server),
                client_classes: ServerClass(server.map(|s| s.name.as_str())),
                boot_file_name: r.boot_file.as_deref(),
            });
        }
        KeaConfig {
            dhcp4: Dhcp4 {
                interfaces_config: InterfacesConfig { interfaces: vec!["*".into()] },
                lease_database: LeaseDatabase { kind: "memfile", lfc_interval: 3600 },
                authoritative: true,
                valid_lifetime: DEFAULT_LEASE_TIME,
                max_valid_lifetime: MAX_LEASE_TIME,
                match_client_id: false,
                host_reservation_identifiers: vec!["hw-address"],
                client_classes: classes,
                subnet4,
            },
        }
    }
}

/// The class a reservation puts the hosts of install server `name` in.
fn server_class(name: &str) -> String {
    format!("server-{name}")
}

impl ServerClass<'_> {
    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl Serialize for ServerClass<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(usize::from(self.0.is_some())))?;
        if let Some(name) = self.0 {
            seq.serialize_element(&format_args!("server-{name}"))?;
        }
        seq.end()
    }
}
