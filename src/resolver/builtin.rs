//! The built-in attributes: the ones the resolver derives from the facts rather than reads
//! from a stored scope. [`BUILTINS`] is the one list of them (with where each comes from and
//! how to change it); [`HOST_BUILTIN`], [`NETWORK_BUILTIN`] and [`SERVER_BUILTIN`] name the
//! per-host, per-network and install-server ones among them.

use crate::attrs::{Origins, capitalised};
use crate::model::{Appliance, HostFacts};

/// A built-in attribute: where its value comes from and how an operator changes that fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    pub key: &'static str,
    /// The fact it is derived from.
    pub from: &'static str,
    /// The command that changes the fact.
    pub fix: &'static str,
}

const fn host(key: &'static str, from: &'static str, fix: &'static str) -> Builtin {
    Builtin { key, from, fix }
}

/// Every built-in attribute, by name.
pub const BUILTINS: &[Builtin] = &[
    host("Kickstart_PrivateAddress", "the frontend's address on the network `private` (else its gateway)", "`host set FRONTEND --ip IP`"),
    host("Kickstart_PrivateBroadcast", "the network `private`", "`network add` a network with another CIDR"),
    host("Kickstart_PrivateDNSDomain", "the DNS zone of the network `private`", "`network set private --zone ZONE`"),
    host("Kickstart_PrivateDNSServers", "the DNS servers of the network `private`", "`network set private --dns IP,...`"),
    host("Kickstart_PrivateGateway", "the gateway of the network `private`", "`network set private --gateway IP`"),
    host("Kickstart_PrivateHostname", "the name of the frontend host", "`host rename FRONTEND NAME`"),
    host("Kickstart_PrivateInterface", "the host's interface on the network `private` (else its primary one)", "`interface set NAME DEV ...` or `host set NAME --network private`"),
    host("Kickstart_PrivateKickstartHost", "the host's primary install server (the frontend unless `server add`)", "`server add NAME IP`, or `host set FRONTEND --ip IP`"),
    host("Kickstart_PrivateMTU", "the MTU of the network `private`", "`network set private --mtu N`"),
    host("Kickstart_PrivateNetmask", "the CIDR of the network `private`", "`network add` a network with another CIDR"),
    host("Kickstart_PrivateNetmaskCIDR", "the CIDR of the network `private`", "`network add` a network with another CIDR"),
    host("Kickstart_PrivateNetwork", "the CIDR of the network `private`", "`network add` a network with another CIDR"),
    host("appliance", "the host's appliance", "`host set NAME --appliance A`"),
    host("arch", "the host's architecture", "`host set NAME --arch ARCH`"),
    host("cluster_files_fallback_url", "the host's fallback install server", "`server add NAME IP --url BASE`"),
    host("cluster_files_url", "the host's primary install server", "`server add NAME IP --url BASE`"),
    host("cpus", "the host's CPUs", "`host set NAME --cpus N`"),
    host("distribution", "the host's distribution", "`host set NAME --distribution D`"),
    host("graph", "the appliance's graph", "`appliance add NAME --graph G`"),
    host("hostaddr", "the host's primary interface", "`host set NAME --ip IP`"),
    host("hostname", "the host's name", "`host rename OLD NEW`"),
    host("install_server", "the host's primary install server", "`server add NAME IP`"),
    host("install_server_fallback", "the host's fallback install server", "`server add NAME IP`"),
    host("ksmac", "the host's primary interface", "`host set NAME --mac MAC`"),
    host("membership", "the host's appliance", "`host set NAME --appliance A`"),
    host("os", "the host's OS", "`host set NAME --os OS`"),
    host("rack", "the host's rack", "`host set NAME --rack R`"),
    host("rank", "the host's rank", "`host set NAME --rank N`"),
    host("root", "the appliance's root node", "`appliance add NAME --root NODE`"),
];

/// Values derived from the facts that a site may still set at any stored scope (they sit
/// below the global scope): (key, where it comes from).
pub const DERIVED: &[(&str, &str)] = &[
    ("Info_HomeDirSrv", "the frontend's address on `private`"),
    ("Kickstart_AppStreamURL", "the host's distribution tree on its install server, `/AppStream`"),
    ("Kickstart_BaseOSURL", "the host's distribution tree on its install server, `/BaseOS`"),
    ("Kickstart_BootDoneURL", "the host's install server's base URL, `/boot-done`"),
    ("Kickstart_CRBURL", "the host's distribution tree on its install server, `/CRB`"),
    ("Kickstart_EPELGPGKey", "the host's install server, `/install/epel/RPM-GPG-KEY-EPEL-N`"),
    ("Kickstart_EPELURL", "the host's install server, `/install/epel/N/Everything/ARCH`"),
    ("Kickstart_InstallURL", "the host's distribution tree on its install server"),
    ("Kickstart_Interfaces", "the host's interfaces other than its `private` one"),
    ("Kickstart_PrivateNTPHost", "the frontend's address on `private`"),
    ("Kickstart_PrivateSyslogHost", "the frontend's address on `private`"),
    ("Kickstart_PublicAddress", "the frontend's interface off `private`"),
    ("Kickstart_PublicDNSServers", "the DNS servers of the frontend's network off `private`"),
    ("Kickstart_PublicGateway", "the gateway of the frontend's network off `private`"),
    ("Kickstart_PublicInterface", "the frontend's interface off `private`"),
    ("Kickstart_PublicNetmask", "the frontend's network off `private`"),
];

/// Is `key` derived from the facts below the stored scopes ([`DERIVED`])?
pub fn is_derived(key: &str) -> bool {
    DERIVED.binary_search_by(|(k, _)| (*k).cmp(key)).is_ok()
}

/// The built-in called `key`, if any.
pub fn builtin(key: &str) -> Option<&'static Builtin> {
    BUILTINS.binary_search_by(|b| b.key.cmp(key)).ok().map(|i| &BUILTINS[i])
}

/// The built-in attributes of a database host that come from the host itself: its row, its
/// appliance and its primary interface ([`HostBuiltins`]). With [`NETWORK_BUILTIN`] this is
/// the one list of built-ins: what `check` counts as defined, what the facts derive, and
/// what the scheduler grouping reads.
pub const HOST_BUILTIN: &[&str] =
    &["hostname", "rack", "rank", "appliance", "membership", "arch", "os", "distribution", "cpus", "graph", "root", "hostaddr", "ksmac", "Kickstart_PrivateInterface"];

/// The built-in attributes every database host shares, from the network named `private`.
pub const NETWORK_BUILTIN: &[&str] = &[
    "Kickstart_PrivateAddress",
    "Kickstart_PrivateNetwork",
    "Kickstart_PrivateNetmask",
    "Kickstart_PrivateNetmaskCIDR",
    "Kickstart_PrivateBroadcast",
    "Kickstart_PrivateGateway",
    "Kickstart_PrivateDNSDomain",
    "Kickstart_PrivateDNSServers",
    "Kickstart_PrivateMTU",
];

/// The built-in attributes every database host gets from its install servers (the default
/// one, or those of `server add`): the base URLs it fetches the cluster-wide files from.
pub const SERVER_BUILTIN: &[&str] =
    &["cluster_files_url", "cluster_files_fallback_url", "Kickstart_PrivateKickstartHost", "install_server", "install_server_fallback"];

/// Is `name` a built-in attribute? [`BUILTINS`] lists them all, with the fact each comes from ([`HOST_BUILTIN`] and [`NETWORK_BUILTIN`] name the per-host and
/// per-network ones among them, [`SERVER_BUILTIN`] those from the install servers).
pub fn is_builtin(name: &str) -> bool {
    builtin(name).is_some()
}

/// The facts a host's own built-in attributes come from (the `private` network's are shared
/// by every host and derived by the facts).
#[derive(Debug, Clone, Copy)]
pub struct HostBuiltins<'a> {
    pub hostname: &'a str,
    pub rack: u32,
    pub rank: u32,
    pub appliance: &'a str,
    pub arch: &'a str,
    pub os: &'a str,
    pub distribution: &'a str,
    pub cpus: u32,
    /// The appliance's graph and root node, when known.
    pub graph: Option<&'a str>,
    pub root: Option<&'a str>,
    /// The primary interface's address and MAC, when it has them.
    pub hostaddr: Option<&'a str>,
    pub ksmac: Option<&'a str>,
    /// The device of its interface on `private`, else of its primary interface.
    pub private_device: Option<&'a str>,
}

impl HostBuiltins<'_> {
    /// The value of the built-in `name`; `None` for a name that is not a per-host built-in or
    /// has no value for this host.
    pub fn get(&self, name: &str) -> Option<String> {
        let v = match name {
            "hostname" => self.hostname.to_string(),
            "rack" => self.rack.to_string(),
            "rank" => self.rank.to_string(),
            "appliance" => self.appliance.to_string(),
            "membership" => capitalised(self.appliance),
            "arch" => self.arch.to_string(),
            "os" => self.os.to_string(),
            "distribution" => self.distribution.to_string(),
            "cpus" => self.cpus.to_string(),
            "graph" => self.graph?.to_string(),
            "root" => self.root?.to_string(),
            "hostaddr" => self.hostaddr?.to_string(),
            "ksmac" => self.ksmac?.to_string(),
            "Kickstart_PrivateInterface" => self.private_device?.to_string(),
            _ => return None,
        };
        Some(v)
    }

    /// Every per-host built-in that has a value, in [`HOST_BUILTIN`] order.
    pub fn all(&self) -> Vec<(&'static str, String)> {
        HOST_BUILTIN.iter().filter_map(|&n| self.get(n).map(|v| (n, v))).collect()
    }
}

/// The facts host `h`'s own built-in attributes come from; `app` is its appliance (for
/// `graph` and `root`).
pub fn of_host<'a>(h: &'a HostFacts, app: Option<&'a Appliance>) -> HostBuiltins<'a> {
    let primary = h.primary();
    HostBuiltins {
        hostname: &h.name,
        rack: h.rack,
        rank: h.rank,
        appliance: &h.appliance,
        arch: &h.arch,
        os: &h.os,
        distribution: &h.distribution,
        cpus: h.cpus,
        graph: app.map(|a| a.graph.as_str()),
        root: app.map(|a| a.root.as_str()),
        hostaddr: primary.and_then(|i| i.ip.as_deref()),
        ksmac: primary.and_then(|i| i.mac.as_deref()),
        private_device: h.private_iface().map(|f| f.device.as_str()),
    }
}

/// Where the value of `name` came from, for messages: its entry in `origins`, else
/// `built-in` for a built-in name ([`is_builtin`]), else `given by the caller`.
pub fn origin_of(origins: Option<&Origins>, name: &str) -> String {
    match origins.and_then(|o| o.get(name)) {
        Some(o) => o.clone(),
        None if is_builtin(name) => "built-in".to_string(),
        None => "given by the caller".to_string(),
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;

    #[test]
    fn a_host_with_every_fact_has_every_host_builtin() {
        let h = HostBuiltins {
            hostname: "c-0-0",
            rack: 0,
            rank: 0,
            appliance: "compute",
            arch: "x86_64",
            os: "linux",
            distribution: "rocky",
            cpus: 4,
            graph: Some("default"),
            root: Some("compute"),
            hostaddr: Some("10.1.255.254"),
            ksmac: Some("52:54:00:00:00:01"),
            private_device: Some("eno1"),
        };
        let names: Vec<&str> = h.all().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, HOST_BUILTIN);
        assert_eq!(h.get("membership").as_deref(), Some("Compute"));
        assert!(is_builtin("Kickstart_PrivateMTU") && !is_builtin("Kickstart_Timezone"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_sorted_and_found() {
        assert!(BUILTINS.windows(2).all(|w| w[0].key < w[1].key), "BUILTINS must stay sorted for the binary search");
        assert!(DERIVED.windows(2).all(|w| w[0].0 < w[1].0), "DERIVED must stay sorted for the binary search");
        assert!(DERIVED.iter().all(|(k, _)| !is_builtin(k)), "a key is built-in or derived, not both");
        assert_eq!(builtin("hostname").unwrap().fix, "`host rename OLD NEW`");
        assert!(builtin("Kickstart_Timezone").is_none());
        for name in HOST_BUILTIN.iter().chain(NETWORK_BUILTIN).chain(SERVER_BUILTIN) {
            assert!(builtin(name).is_some(), "`{name}` is missing from BUILTINS, the one list");
        }
    }
}
