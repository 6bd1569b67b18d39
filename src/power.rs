//! `power`: switch hosts on and off, or ask their state, through their management
//! controllers (BMCs) over IPMI. [I/O]
//!
//! A host's BMC is its interface [`crate::model::BMC_DEVICE`] ([`HostFacts::bmc`]); the
//! credentials are the attributes [`USER_ATTR`] and [`PASSWORD_ATTR`] (any scope, usually
//! secret), the UDP port [`PORT_ATTR`] (default [`DEFAULT_PORT`]). Each operation runs the
//! maintained client `ipmitool -I lanplus` once per host, at most `fanout` at a time, each
//! killed after its timeout. The password reaches `ipmitool` only in its environment
//! ([`PASSWORD_ENV`], read by `-E`): never in its arguments (which every local user can read
//! in `/proc`), never in what is printed.
//!
//! [`Bmc::of`] says why a host cannot be reached (no BMC, no address, no credentials);
//! [`run`] gives one [`Outcome`] per host, in the order given.

use std::fmt;
use std::process::Command;
use std::time::Duration;

use rayon::prelude::*;

use crate::model::{Cluster, HostFacts};
use crate::resolver::stored_attr;
use crate::services::run::Ended;

/// The attribute naming the IPMI user of a host's BMC.
pub const USER_ATTR: &str = "ipmi_user";
/// The attribute holding the IPMI password of a host's BMC (set it `--secret`).
pub const PASSWORD_ATTR: &str = "ipmi_password";
/// The attribute holding the UDP port of a host's BMC.
pub const PORT_ATTR: &str = "ipmi_port";
/// The attribute holding the RMCP+ cipher suite of a host's BMC.
pub const CIPHER_ATTR: &str = "ipmi_cipher";
/// The attribute holding the FreeIPMI workaround flags a host's BMC needs (e.g.
/// `opensesspriv`, several separated by commas or blanks), for the FreeIPMI tools the console
/// and power daemons run (ConMan's `W:`, `ipmipower`'s `workaround-flags`). `ipmitool` has
/// none, so `power` does not read it; the model check refuses a flag FreeIPMI does not know
/// ([`FREEIPMI_WORKAROUNDS`]), which would stop the tool.
pub const WORKAROUNDS_ATTR: &str = "ipmi_workarounds";
/// The workaround flags FreeIPMI 1.6's configuration files take (`freeipmi.conf(5)`); each
/// tool uses those it knows and refuses any other name.
pub const FREEIPMI_WORKAROUNDS: [&str; 34] = [
    "assumeio",
    "spinpoll",
    "idzero",
    "forcepermsg",
    "unexpectedauth",
    "endianseq",
    "noauthcodecheck",
    "authcap",
    "nochecksumcheck",
    "intel20",
    "supermicro20",
    "sun20",
    "opensesspriv",
    "integritycheckvalue",
    "assumemaxsdrrecordcount",
    "solpayloadsize",
    "solport",
    "solstatus",
    "solchannelsupport",
    "serialalertsdeferred",
    "solpacketseq",
    "skipchecks",
    "assumesystemevent",
    "discretereading",
    "ignorescanningdisabled",
    "assumebmcowner",
    "ignoreauthcode",
    "slowcommit",
    "veryslowcommit",
    "solchannelassumelanchannel",
    "ignorestateflag",
    "malformedack",
    "guidformat",
    "ipmiping",
];
/// The cipher suite used unless [`CIPHER_ATTR`] says otherwise: 3 (HMAC-SHA1, AES-128),
/// which every IPMI 2.0 BMC offers (`ipmitool`'s own default, 17, is not, and asking which
/// suites a BMC offers is not answered by all of them).
pub const DEFAULT_CIPHER: u8 = 3;
/// The IPMI-over-LAN (RMCP+) port a BMC listens on unless [`PORT_ATTR`] says otherwise.
pub const DEFAULT_PORT: u16 = 623;
/// The environment variable `ipmitool -E` reads the password from.
pub const PASSWORD_ENV: &str = "IPMI_PASSWORD";

/// What to do to each host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    On,
    Off,
    Cycle,
    Reset,
    Status,
}

impl Operation {
    /// Every operation, in the order the help lists them.
    pub const ALL: [Operation; 5] = [Operation::On, Operation::Off, Operation::Cycle, Operation::Reset, Operation::Status];

    /// The word of the command line, and of `ipmitool chassis power`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::On => "on",
            Operation::Off => "off",
            Operation::Cycle => "cycle",
            Operation::Reset => "reset",
            Operation::Status => "status",
        }
    }

    /// What a host that did it is reported as (`status`: the state the BMC answered).
    fn done(self) -> &'static str {
        match self {
            Operation::On => "on",
            Operation::Off => "off",
            Operation::Cycle => "cycled",
            Operation::Reset => "reset",
            Operation::Status => "unknown",
        }
    }
}

/// How [`run`] works through the hosts.
#[derive(Debug, Clone)]
pub struct PowerOptions {
    pub operation: Operation,
    /// At most this many `ipmitool`s at once (at least one).
    pub fanout: usize,
    /// A host whose `ipmitool` has not finished after this long fails.
    pub timeout: Duration,
    /// The IPMI client to run (`ipmitool`, found on `PATH`).
    pub program: String,
}

impl Default for PowerOptions {
    fn default() -> PowerOptions {
        PowerOptions { operation: Operation::Status, fanout: 32, timeout: Duration::from_secs(10), program: "ipmitool".into() }
    }
}

/// How to reach one host's BMC. `Debug` and [`Bmc::command_line`] never show the password.
#[derive(Clone)]
pub struct Bmc {
    pub host: String,
    pub addr: String,
    pub port: u16,
    /// The RMCP+ cipher suite ([`CIPHER_ATTR`]).
    pub cipher: u8,
    pub user: String,
    /// The user name is a secret attribute: it is shown as `<ipmi_user>`.
    pub user_secret: bool,
    /// FreeIPMI workaround flags ([`WORKAROUNDS_ATTR`]), in the order given (those FreeIPMI
    /// knows: the model check reports the others).
    pub workarounds: Vec<String>,
    password: String,
}

/// What became of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub host: String,
    /// The state (`on`, `off`, `cycled`, `reset`), or why the host failed.
    pub result: Result<String, String>,
}

/// The flags of a [`WORKAROUNDS_ATTR`] value (separated by commas or blanks): `Ok` with
/// them all, or `Err` with the first word that is not a flag of [`FREEIPMI_WORKAROUNDS`].
pub fn workarounds(value: &str) -> Result<Vec<String>, String> {
    let words: Vec<&str> = crate::attrs::words(value).collect();
    match words.iter().find(|w| !FREEIPMI_WORKAROUNDS.contains(w)) {
        Some(bad) => Err((*bad).to_string()),
        None => Ok(words.into_iter().map(str::to_string).collect()),
    }
}

impl fmt::Debug for Bmc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bmc").field("host", &self.host).field("addr", &self.addr).field("port", &self.port).finish_non_exhaustive()
    }
}

impl Bmc {
    /// The BMC of `host` with its credentials, or why it has none that can be used.
    pub fn of(cluster: &Cluster, host: &HostFacts) -> Result<Bmc, String> {
        let iface = host.bmc().ok_or_else(|| {
            format!("has no BMC (add one: `rocks-compile interface add {} bmc --ip ADDR --network NET`)", host.name)
        })?;
        let addr = iface.addr().ok_or("its BMC interface has no address")?.to_string();
        let wanted = |key: &str| {
            stored_attr(cluster, host, key)
                .filter(|(v, _)| !v.is_empty())
                .ok_or_else(|| format!("has no `{key}` attribute (set it: `rocks-compile attr set {key} --secret`)"))
        };
        let (user, user_secret) = wanted(USER_ATTR)?;
        let (password, _) = wanted(PASSWORD_ATTR)?;
        let port = match stored_attr(cluster, host, PORT_ATTR) {
            None => DEFAULT_PORT,
            Some((p, _)) => p.trim().parse().ok().filter(|&p| p > 0).ok_or_else(|| format!("`{PORT_ATTR}` `{p}` is not a port number"))?,
        };
        let cipher = match stored_attr(cluster, host, CIPHER_ATTR) {
            None => DEFAULT_CIPHER,
            Some((c, _)) => c.trim().parse().ok().filter(|&c| c <= 17).ok_or_else(|| format!("`{CIPHER_ATTR}` `{c}` is not a cipher suite (0 to 17)"))?,
        };
        // `power` reads none; a bad value is the model check's to refuse.
        let workarounds = stored_attr(cluster, host, WORKAROUNDS_ATTR).and_then(|(w, _)| workarounds(w).ok()).unwrap_or_default();
        Ok(Bmc { host: host.name.clone(), addr, port, cipher, user: user.into(), user_secret, workarounds, password: password.into() })
    }

    /// The IPMI password, for the files that must hold it (which are then secret).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The arguments of `ipmitool` for `op` (the password is not among them: `-E`).
    pub fn args(&self, op: Operation) -> Vec<String> {
        let (port, cipher) = (self.port.to_string(), self.cipher.to_string());
        ["-I", "lanplus", "-C", &cipher, "-H", &self.addr, "-p", &port, "-U", &self.user, "-E", "chassis", "power", op.as_str()]
            .map(str::to_string)
            .to_vec()
    }

    /// The command as `--dry-run` shows it: the password stays in the environment variable
    /// named first, a secret user name is shown as `<ipmi_user>`.
    pub fn command_line(&self, program: &str, op: Operation) -> String {
        let mut args = self.args(op);
        if self.user_secret {
            args[9] = format!("<{USER_ATTR}>");
        }
        format!("{PASSWORD_ENV}=<{PASSWORD_ATTR}> {program} {}", args.join(" "))
    }

    /// Run `op` once; the state, or why it failed (never holding the credentials).
    pub fn run(&self, op: Operation, options: &PowerOptions) -> Result<String, String> {
        let mut cmd = Command::new(&options.program);
        cmd.args(self.args(op)).env(PASSWORD_ENV, &self.password);
        let program = &options.program;
        // Standard error, then standard output: its last line or word is ipmitool's last.
        let (ended, output) = crate::services::run::run_program(cmd, options.timeout);
        match ended {
            Ended::Exited(status) if status.success() => Ok(match op {
                // `Chassis Power is on`
                Operation::Status => output.split_whitespace().last().unwrap_or(op.done()).to_ascii_lowercase(),
                _ => op.done().to_string(),
            }),
            Ended::Exited(status) => {
                let last = output.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("no message");
                Err(self.hide(&format!("`{program}` failed ({status}): {last}")))
            }
            Ended::TimedOut => Err(format!("no answer from {}:{} within {}s", self.addr, self.port, options.timeout.as_secs_f64())),
            Ended::NotStarted(e) => Err(format!("cannot run `{program}`: {e}")),
            Ended::NotWaited(e) => Err(format!("cannot wait for `{program}`: {e}")),
        }
    }

    /// `text` with the credentials replaced.
    fn hide(&self, text: &str) -> String {
        let text = text.replace(&self.password, &format!("<{PASSWORD_ATTR}>"));
        if self.user_secret { text.replace(&self.user, &format!("<{USER_ATTR}>")) } else { text }
    }
}

/// Run the operation on every BMC, at most `options.fanout` at once; one outcome per BMC,
/// in the order given.
pub fn run(bmcs: &[Bmc], options: &PowerOptions) -> Vec<Outcome> {
    let threads = options.fanout.clamp(1, bmcs.len().max(1));
    let each = |b: &Bmc| Outcome { host: b.host.clone(), result: b.run(options.operation, options) };
    match rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("power-{i}")).build() {
        Ok(pool) => pool.install(|| bmcs.par_iter().with_max_len(1).map(each).collect()),
        Err(_) => bmcs.iter().map(each).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::workarounds;

    #[test]
    fn workaround_flags_are_words_separated_by_commas_or_blanks() {
        assert_eq!(workarounds("opensesspriv"), Ok(vec!["opensesspriv".to_string()]));
        assert_eq!(workarounds(" opensesspriv, solpayloadsize  intel20 "), Ok(vec!["opensesspriv".into(), "solpayloadsize".into(), "intel20".into()]));
        assert_eq!(workarounds(""), Ok(vec![]));
        assert_eq!(workarounds("opensesspriv;reboot"), Err("opensesspriv;reboot".into()));
        assert_eq!(workarounds("opensesspriv opensespriv"), Err("opensespriv".into()));
    }
}
