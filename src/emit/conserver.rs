//! `console/conserver.cf`: the conserver daemon's configuration, one console per host with
//! a usable BMC ([`super::ipmi`]), rack by rack, each running `ipmitool ... sol activate`.
//! The IPMI password is not in the file nor in `ipmitool`'s arguments: `ipmitool -f FILE`
//! reads it from the file named by the attribute [`PASSWORD_FILE_ATTR`] (default
//! [`DEFAULT_PASSWORD_FILE`]), which the operator creates on the console server, readable
//! by the user conserver runs as only. A host whose user name or password file has a
//! character the shell would read (anything but letters, digits and `._-@+:/=`) is left out
//! with a comment saying why.

use serde::Serialize;

use crate::plan::{Artifact, Kind, Site};
use crate::power::Bmc;

use super::ipmi::{self, Bmcs, plain};

/// Where the file goes in the tree.
pub const PATH: &str = "console/conserver.cf";
/// The attribute naming the file `ipmitool` reads a host's IPMI password from.
pub const PASSWORD_FILE_ATTR: &str = "ipmi_password_file";
/// The password file unless [`PASSWORD_FILE_ATTR`] says otherwise.
pub const DEFAULT_PASSWORD_FILE: &str = "/etc/rocks-compile/ipmi-password";
/// Where each console's log goes unless [`ipmi::LOG_DIR_ATTR`] says otherwise.
pub const DEFAULT_LOG_DIR: &str = "/var/log/conserver";

/// The artifacts of this kind (none when the kind is not wanted or no host has a BMC).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    ipmi::artifact(site, (Kind::Conserver, PATH, "conserver.cf.j2"), false, |b| Conserver::new(site, b))
}

/// The context of `conserver.cf.j2`.
#[derive(Debug, Serialize)]
pub struct Conserver {
    /// The directory of the consoles' logs (one file per console, named after it).
    pub log_dir: String,
    pub racks: Vec<ConserverRack>,
}

/// The consoles of one rack.
#[derive(Debug, Serialize)]
pub struct ConserverRack {
    pub rack: u32,
    pub consoles: Vec<ConserverConsole>,
}

/// One `console` block, or (`skipped` set) a comment saying why the host has none.
#[derive(Debug, Serialize)]
pub struct ConserverConsole {
    pub name: String,
    /// The command conserver runs.
    pub exec: String,
    pub skipped: Option<String>,
}

impl Conserver {
    pub fn new(site: &Site<'_>, bmcs: &Bmcs) -> Conserver {
        let c = site.cluster;
        let hosts: std::collections::HashMap<&str, &crate::model::HostFacts> = c.hosts.iter().map(|h| (h.name.as_str(), h)).collect();
        let racks = bmcs
            .racks
            .iter()
            .map(|(rack, list)| {
                let consoles = list
                    .iter()
                    .map(|b| {
                        let file = hosts
                            .get(b.host.as_str())
                            .and_then(|h| crate::resolver::stored_attr(c, h, PASSWORD_FILE_ATTR))
                            .map(|(v, _)| v.to_string())
                            .filter(|v| !v.is_empty())
                            .unwrap_or_else(|| DEFAULT_PASSWORD_FILE.to_string());
                        console(b, &file)
                    })
                    .collect();
                ConserverRack { rack: *rack, consoles }
            })
            .collect();
        Conserver { log_dir: ipmi::log_dir(site, DEFAULT_LOG_DIR).to_string(), racks }
    }
}

/// The console of one BMC whose password is in `file`.
fn console(b: &Bmc, file: &str) -> ConserverConsole {
    let skipped = if !plain(&b.user) {
        Some("its IPMI user name has characters a shell would read".to_string())
    } else if !plain(file) {
        Some(format!("its `{PASSWORD_FILE_ATTR}` has characters a shell would read"))
    } else {
        None
    };
    let exec = format!("ipmitool -I lanplus -C {} -H {} -p {} -U {} -f {file} sol activate", b.cipher, b.addr, b.port, b.user);
    ConserverConsole { name: b.host.clone(), exec: if skipped.is_some() { String::new() } else { exec }, skipped }
}

