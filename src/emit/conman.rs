//! `console/conman.conf`: the ConMan daemon's configuration, one IPMI serial-over-LAN
//! console per host with a usable BMC ([`super::ipmi`]), rack by rack. ConMan reads the IPMI
//! credentials from this file (`ipmiopts`), so it is always secret (mode 0640): install it
//! readable by `conmand` only. A password `ipmiopts` cannot hold as it is (a `,` or `"`) is
//! written in the hexadecimal form ConMan takes (`P:0x...`). ConMan's `ipmi:HOST` device
//! takes no port: a host whose BMC is not on port 623, or whose user name has a `,` or `"`,
//! is left out with a comment saying why.

use serde::Serialize;

use crate::plan::{Artifact, Kind, Site};
use crate::power::{Bmc, DEFAULT_PORT};

use super::ipmi::{self, Bmcs};

/// Where the file goes in the tree.
pub const PATH: &str = "console/conman.conf";
/// Where each console's log goes unless [`ipmi::LOG_DIR_ATTR`] says otherwise.
pub const DEFAULT_LOG_DIR: &str = "/var/log/conman";

/// The artifacts of this kind (none when the kind is not wanted or no host has a BMC).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    ipmi::artifact(site, (Kind::Conman, PATH, "conman.conf.j2"), true, |b| Conman::new(site, b))
}

/// The context of `conman.conf.j2`.
#[derive(Debug, Serialize)]
pub struct Conman {
    /// The directory of the consoles' logs (one file per console, named after it).
    pub log_dir: String,
    pub racks: Vec<ConmanRack>,
}

/// The consoles of one rack.
#[derive(Debug, Serialize)]
pub struct ConmanRack {
    pub rack: u32,
    pub consoles: Vec<ConmanConsole>,
}

/// One `console` line, or (`skipped` set) a comment saying why the host has none.
#[derive(Debug, Serialize)]
pub struct ConmanConsole {
    pub name: String,
    pub addr: String,
    /// `U:user,P:password,C:cipher`, then `W:flag` per FreeIPMI workaround.
    pub ipmiopts: String,
    pub skipped: Option<String>,
}

impl Conman {
    pub fn new(site: &Site<'_>, bmcs: &Bmcs) -> Conman {
        let racks = bmcs.racks.iter().map(|(rack, list)| ConmanRack { rack: *rack, consoles: list.iter().map(console).collect() }).collect();
        Conman { log_dir: ipmi::log_dir(site, DEFAULT_LOG_DIR).to_string(), racks }
    }
}

/// The console of one BMC.
fn console(b: &Bmc) -> ConmanConsole {
    let skipped = if b.port != DEFAULT_PORT {
        Some(format!("its BMC listens on port {}; conman's `ipmi:` devices use port {DEFAULT_PORT} only", b.port))
    } else if !fits(&b.user) {
        Some("its IPMI user name has a `,` or `\"`, which conman's `ipmiopts` cannot hold".to_string())
    } else {
        None
    };
    let password = if fits(b.password()) && !b.password().starts_with("0x") {
        b.password().to_string()
    } else {
        format!("0x{}", b.password().bytes().map(|c| format!("{c:02x}")).collect::<String>())
    };
    let workarounds: String = b.workarounds.iter().map(|w| format!(",W:{w}")).collect();
    let ipmiopts = if skipped.is_some() { String::new() } else { format!("U:{},P:{password},C:{}{workarounds}", b.user, b.cipher) };
    ConmanConsole { name: b.host.clone(), addr: b.addr.clone(), ipmiopts, skipped }
}

/// Fits in an `ipmiopts` value as it is.
fn fits(s: &str) -> bool {
    !s.contains([',', '"', '\\'])
}
