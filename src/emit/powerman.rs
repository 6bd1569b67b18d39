//! `power/powerman.conf`: the PowerMan daemon's configuration, driving the BMCs of the
//! hosts with a usable BMC ([`super::ipmi`]) through FreeIPMI's `ipmipower` and the device
//! script PowerMan ships (`/etc/powerman/ipmipower.dev`). Hosts sharing credentials, cipher
//! suite and FreeIPMI workaround flags (`ipmi_workarounds`) share one `ipmipower` device
//! (`ipmi0`, `ipmi1`, ... in file order); each host is a `node` whose plug is its BMC's
//! address (the device's `ipmipower -h` names it `ADDR:PORT` when the port is not 623;
//! ipmipower answers by address alone, so two BMCs of one device on one address are not told
//! apart: the second is left out, saying why).
//!
//! No credential is on a command line: each device's `ipmipower` reads its user name,
//! password, cipher suite and workaround flags from a FreeIPMI configuration file of its own,
//! `power/ipmipower-ipmiN.conf` in the tree (secret, mode 0640), named by its path under the
//! global attribute `ipmi_config_dir` (default [`CONFIG_DIR`], the tree's `power/` in the
//! frontend's layout). `powerman.conf` names user names too, so it is 0640 as well. A host
//! whose user name or password has a blank, `"`, `'`, `\` or `#` is left out with a comment
//! saying why (a FreeIPMI file cannot hold it).

use serde::Serialize;

use crate::plan::{Artifact, Kind, Site};
use crate::power::DEFAULT_PORT;

use super::ipmi::{self, Bmcs};

/// Where the file goes in the tree.
pub const PATH: &str = "power/powerman.conf";

/// The global attribute naming the directory `ipmipower` finds its configuration files in.
pub const CONFIG_DIR_ATTR: &str = "ipmi_config_dir";

/// Where the device configuration files are by default: the tree's `power/` directory in the
/// frontend's layout (`RocksCompile_TreeDir`).
pub const CONFIG_DIR: &str = "/var/lib/rocks-compile/tree/power";

/// The artifacts of this kind (none when the kind is not wanted or no host has a BMC):
/// `powerman.conf` and one FreeIPMI configuration file per device.
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    let dir = crate::resolver::stored_global(site.cluster, CONFIG_DIR_ATTR).unwrap_or(CONFIG_DIR).trim_end_matches('/').to_string();
    let mut files = Vec::new();
    let mut out = ipmi::artifact(site, (Kind::Powerman, PATH, "powerman.conf.j2"), true, |bmcs| {
        let p = Powerman::new(bmcs, &dir);
        files = p.devices.iter().map(|d| (format!("power/ipmipower-{}.conf", d.name), d.settings.clone())).collect();
        p
    })?;
    out.extend(files.into_iter().map(|(path, text)| Artifact::new(Kind::Powerman, path, text).secret()));
    Ok(out)
}

/// The context of `powerman.conf.j2`.
#[derive(Debug, Serialize)]
pub struct Powerman {
    pub devices: Vec<PowermanDevice>,
    pub racks: Vec<PowermanRack>,
}

/// One `ipmipower` device: its name, its command, and the FreeIPMI settings its command
/// reads (user name, password, cipher suite, workaround flags: the file
/// `power/ipmipower-NAME.conf`).
#[derive(Debug, Serialize)]
pub struct PowermanDevice {
    pub name: String,
    pub command: String,
    #[serde(skip)]
    pub settings: String,
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
    /// The configuration for `bmcs`, its devices' settings files in `dir` on the power server.
    pub fn new(bmcs: &Bmcs, dir: &str) -> Powerman {
        // One device per (user, password, cipher, workarounds), with its BMCs, in order of
        // first use.
        // Each device's BMCs: (address, what `ipmipower -h` is given).
        let mut groups: Vec<(Credentials<'_>, Vec<(&str, String)>)> = Vec::new();
        // (device, BMC address) of every plug so far.
        let mut taken: std::collections::HashSet<(usize, &str)> = std::collections::HashSet::new();
        let mut racks = Vec::new();
        for (rack, list) in &bmcs.racks {
            let mut nodes = Vec::new();
            for b in list {
                let name = b.host.clone();
                if !fits(&b.user) || !fits(b.password()) {
                    let skipped = Some("its IPMI user name or password has a blank, `\"`, `'`, `\\` or `#`".to_string());
                    nodes.push(PowermanNode { name, device: String::new(), plug: String::new(), skipped });
                    continue;
                }
                // ipmipower is given `ADDR:PORT` but names each BMC by its address alone in
                // what it answers, which the plug must match.
                let target = if b.port == DEFAULT_PORT { b.addr.clone() } else { format!("{}:{}", b.addr, b.port) };
                let key = (b.user.as_str(), b.password(), b.cipher, b.workarounds.join(" "));
                let i = groups.iter().position(|(k, _)| *k == key).unwrap_or_else(|| {
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                });
                if !taken.insert((i, b.addr.as_str())) {
                    let skipped = Some(format!("its BMC address {} is another host's BMC address on another port, which ipmipower's answers do not tell apart", b.addr));
                    nodes.push(PowermanNode { name, device: String::new(), plug: String::new(), skipped });
                    continue;
                }
                groups[i].1.push((&b.addr, target));
                nodes.push(PowermanNode { name, device: format!("ipmi{i}"), plug: b.addr.clone(), skipped: None });
            }
            racks.push(PowermanRack { rack: *rack, nodes });
        }
        let devices = groups
            .iter()
            .enumerate()
            .map(|(i, ((user, password, cipher, workarounds), bmcs))| PowermanDevice {
                name: format!("ipmi{i}"),
                command: format!(
                    "/usr/sbin/ipmipower --config-file={dir}/ipmipower-ipmi{i}.conf -h {} --wait-until-on --wait-until-off |&",
                    bmcs.iter().map(|(_, target)| target.as_str()).collect::<Vec<_>>().join(",")
                ),
                settings: format!(
                    "# FreeIPMI settings of the PowerMan device ipmi{i}, generated by rocks-compile:\n\
                     # readable by powermand only.\n\
                     driver-type LAN_2_0\ncipher-suite-id {cipher}\nusername {user}\npassword {password}\n{}",
                    if workarounds.is_empty() { String::new() } else { format!("workaround-flags {workarounds}\n") }
                ),
            })
            .collect();
        Powerman { devices, racks }
    }
}

/// What hosts sharing one `ipmipower` device have in common: user, password, cipher suite,
/// FreeIPMI workaround flags (separated by blanks).
type Credentials<'a> = (&'a str, &'a str, u8, String);

/// Fits in a FreeIPMI configuration file as one word.
fn fits(s: &str) -> bool {
    !s.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '#'))
}
