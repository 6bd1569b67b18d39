//! `power/powerman.conf`: the PowerMan daemon's configuration, driving the BMCs of the
//! hosts with a usable BMC ([`super::bmcs`]) through FreeIPMI's `ipmipower` and the device
//! script PowerMan ships (`/etc/powerman/ipmipower.dev`). Hosts sharing credentials and
//! cipher suite share one `ipmipower` device (`ipmi0`, `ipmi1`, ... in file order); each
//! host is a `node` whose plug is its BMC's address (`ADDR:PORT` when the port is not 623).
//! `ipmipower` takes the password as an argument here, so the file is secret (mode 0640)
//! and the password is visible in `powermand`'s children's arguments on the power server.
//! A host whose user name or password has a blank, `"`, `'` or `\` is left out with a
//! comment saying why.

use serde::Serialize;

use crate::plan::{Artifact, Kind, Site};
use crate::power::DEFAULT_PORT;

use super::bmcs::{self, Bmcs};

/// Where the file goes in the tree.
pub const PATH: &str = "power/powerman.conf";

/// The artifacts of this kind (none when the kind is not wanted or no host has a BMC).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    bmcs::artifact(site, (Kind::Powerman, PATH, "powerman.conf.j2"), true, Powerman::new)
}

/// The context of `powerman.conf.j2`.
#[derive(Debug, Serialize)]
pub struct Powerman {
    pub devices: Vec<PowermanDevice>,
    pub racks: Vec<PowermanRack>,
}

/// One `ipmipower` device: its name and command.
#[derive(Debug, Serialize)]
pub struct PowermanDevice {
    pub name: String,
    pub command: String,
}

/// The hosts of one rack.
#[derive(Debug, Serialize)]
pub struct PowermanRack {
    pub rack: u32,
    pub nodes: Vec<PowermanNode>,
}

/// One `node` line, or (`skipped` set) a comment saying why the host has none.
#[derive(Debug, Serialize)]
pub struct PowermanNode {
    pub name: String,
    pub device: String,
    pub plug: String,
    pub skipped: Option<String>,
}

impl Powerman {
    pub fn new(bmcs: &Bmcs) -> Powerman {
        // One device per (user, password, cipher), with its plugs, in order of first use.
        let mut groups: Vec<(Credentials<'_>, Vec<String>)> = Vec::new();
        let mut racks = Vec::new();
        for (rack, list) in &bmcs.racks {
            let mut nodes = Vec::new();
            for b in list {
                let name = b.host.clone();
                if !fits(&b.user) || !fits(b.password()) {
                    let skipped = Some("its IPMI user name or password has a blank, `\"`, `'` or `\\`".to_string());
                    nodes.push(PowermanNode { name, device: String::new(), plug: String::new(), skipped });
                    continue;
                }
                let plug = if b.port == DEFAULT_PORT { b.addr.clone() } else { format!("{}:{}", b.addr, b.port) };
                let key = (b.user.as_str(), b.password(), b.cipher);
                let i = groups.iter().position(|(k, _)| *k == key).unwrap_or_else(|| {
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                });
                groups[i].1.push(plug.clone());
                nodes.push(PowermanNode { name, device: format!("ipmi{i}"), plug, skipped: None });
            }
            racks.push(PowermanRack { rack: *rack, nodes });
        }
        let devices = groups
            .iter()
            .enumerate()
            .map(|(i, ((user, password, cipher), plugs))| PowermanDevice {
                name: format!("ipmi{i}"),
                command: format!(
                    "/usr/sbin/ipmipower -D LAN_2_0 -I {cipher} -u {user} -p {password} -h {} --wait-until-on --wait-until-off |&",
                    plugs.join(",")
                ),
            })
            .collect();
        Powerman { devices, racks }
    }
}

/// What hosts sharing one `ipmipower` device have in common: user, password, cipher suite.
type Credentials<'a> = (&'a str, &'a str, u8);

/// Fits in the device command as one word.
fn fits(s: &str) -> bool {
    !s.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\'))
}
