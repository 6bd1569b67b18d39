//! `console/conserver.cf`: the conserver daemon's configuration, one console per host with
//! a usable BMC ([`super::ipmi`]), rack by rack, each running `ipmitool ... sol activate`.
//! The IPMI password is not in the file nor in `ipmitool`'s arguments: `ipmitool -f FILE`
//! reads it from a file. By default build writes those files beside `conserver.cf`, one per
//! distinct password (`console/ipmi-password-N`, secret, mode 0640), named by their path
//! under the global attribute [`PASSWORD_DIR_ATTR`] (default [`PASSWORD_DIR`], the tree's
//! `console/` in the frontend's layout); a host whose attribute [`PASSWORD_FILE_ATTR`] is set
//! uses that file of the operator's instead. A host whose user name or password file has a
//! character the shell would read (anything but letters, digits and `._-@+:/=`) is left out
//! with a comment saying why.

use serde::Serialize;

use crate::plan::{Artifact, Kind, Site};
use crate::power::Bmc;

use super::ipmi::{self, Bmcs, plain};

/// Where the file goes in the tree.
pub const PATH: &str = "console/conserver.cf";
/// The attribute naming a file of the operator's that `ipmitool` reads a host's IPMI
/// password from, instead of the one build writes.
pub const PASSWORD_FILE_ATTR: &str = "ipmi_password_file";
/// The global attribute naming the directory where the console server finds the password
/// files build writes (`console/ipmi-password-N` in the tree).
pub const PASSWORD_DIR_ATTR: &str = "console_config_dir";
/// The password files' directory unless [`PASSWORD_DIR_ATTR`] says otherwise: the tree's
/// `console/` in the frontend's layout (`RocksCompile_TreeDir`).
pub const PASSWORD_DIR: &str = "/var/lib/rocks-compile/tree/console";
/// Where each console's log goes unless [`ipmi::LOG_DIR_ATTR`] says otherwise.
pub const DEFAULT_LOG_DIR: &str = "/var/log/conserver";
/// The global attribute listing the users who may use the consoles (conserver's `rw`).
pub const USERS_ATTR: &str = "console_users";
/// The console users unless [`USERS_ATTR`] says otherwise.
pub const DEFAULT_USERS: &str = "root";

/// The user names of a [`USERS_ATTR`] value (separated by commas or blanks), or `None` when
/// there is none or one is not a user name (letters, digits, `._-`, not starting with `-`).
pub fn users(value: &str) -> Option<Vec<&str>> {
    let names: Vec<&str> = crate::attrs::words(value).collect();
    let name = |n: &&str| !n.starts_with('-') && n.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    (!names.is_empty() && names.iter().all(name)).then_some(names)
}

/// The artifacts of this kind (none when the kind is not wanted or no host has a BMC):
/// `conserver.cf` and the password files its consoles read.
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    let dir = crate::resolver::stored_global(site.cluster, PASSWORD_DIR_ATTR).unwrap_or(PASSWORD_DIR);
    let dir = dir.trim_end_matches('/').to_string();
    let mut files = Vec::new();
    let mut out = ipmi::artifact(site, (Kind::Conserver, PATH, "conserver.cf.j2"), false, |b| {
        let c = Conserver::new(site, b, &dir);
        files.clone_from(&c.password_files);
        c
    })?;
    out.extend(files.into_iter().map(|(path, text)| Artifact::new(Kind::Conserver, path, text).secret()));
    Ok(out)
}

/// The context of `conserver.cf.j2`.
#[derive(Debug, Serialize)]
pub struct Conserver {
    /// The directory of the consoles' logs (one file per console, named after it).
    pub log_dir: String,
    /// Who may use the consoles: conserver's `rw` list ([`USERS_ATTR`]).
    pub users: String,
    pub racks: Vec<ConserverRack>,
    /// The password files build writes: (path in the tree, contents), in order of first use.
    #[serde(skip)]
    pub password_files: Vec<(String, String)>,
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
    /// The configuration for `bmcs`, the password files build writes in `dir` on the console
    /// server.
    pub fn new(site: &Site<'_>, bmcs: &Bmcs, dir: &str) -> Conserver {
        let c = site.cluster;
        // The distinct passwords of the hosts without a file of the operator's.
        let mut passwords: Vec<&str> = Vec::new();
        let mut racks = Vec::new();
        for (rack, list) in &bmcs.racks {
            let mut consoles = Vec::new();
            for b in list {
                let own = c
                    .host(&b.host)
                    .and_then(|h| crate::resolver::stored_attr(c, h, PASSWORD_FILE_ATTR))
                    .map(|(v, _)| v.trim().to_string())
                    .filter(|v| !v.is_empty());
                let file = own.unwrap_or_else(|| {
                    let i = passwords.iter().position(|p| *p == b.password()).unwrap_or_else(|| {
                        passwords.push(b.password());
                        passwords.len() - 1
                    });
                    format!("{dir}/ipmi-password-{i}")
                });
                consoles.push(console(b, &file));
            }
            racks.push(ConserverRack { rack: *rack, consoles });
        }
        let password_files = passwords.iter().enumerate().map(|(i, p)| (format!("console/ipmi-password-{i}"), format!("{p}\n"))).collect();
        let users = crate::resolver::stored_global(c, USERS_ATTR).and_then(users).unwrap_or_else(|| vec![DEFAULT_USERS]).join(",");
        Conserver { log_dir: ipmi::log_dir(site, DEFAULT_LOG_DIR).to_string(), users, racks, password_files }
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

