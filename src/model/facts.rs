//! The stored facts of a cluster as plain values: networks, appliances, boot actions,
//! distributions and install servers. The SQLite store that keeps them is [`crate::facts`].

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// A stored network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub cidr: IpNet,
    pub zone: String,
    pub mtu: u32,
    pub gateway: Option<IpAddr>,
    pub dns_servers: Vec<IpAddr>,
    /// The cluster's DHCP server answers on this network.
    pub dhcp: bool,
}

impl Network {
    /// The dotted netmask (`255.255.0.0`).
    pub fn netmask(&self) -> IpAddr {
        self.cidr.netmask()
    }

    /// The broadcast address (last address of the network).
    pub fn broadcast(&self) -> IpAddr {
        self.cidr.broadcast()
    }

    /// Whether `ip` is a usable host address of this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        super::addr::is_usable(&self.cidr, ip)
    }

}

/// An appliance as stored (and as given to [`crate::facts::Db::add_appliance`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplianceSpec {
    pub name: String,
    /// Graph the appliance's hosts are compiled with.
    pub graph: String,
    /// Root node file of the appliance in the graph.
    pub root: String,
    pub kickstartable: bool,
    /// Host name template, e.g. `{appliance}-{rack}-{rank}`.
    pub name_policy: String,
    /// [`crate::facts::appliance::COUNTDOWN`] or an IP template such as `10.5.{rack}.{rank}`.
    pub ip_policy: String,
    /// Rank given to the first host discovered in a rack.
    pub first_rank: u32,
    /// Network that discovered hosts are put on.
    pub network: String,
}

/// Stored appliances are listed with the same fields they were added with.
pub type Appliance = ApplianceSpec;

/// What a host boots next: its install action or its run action (Rocks' `boot` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Boot {
    Install,
    Os,
}

/// A stored boot action (`bootactions`): `install` and `os` exist by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootAction {
    pub name: String,
    /// `vmlinuz`, or `localboot 0` for booting the local disk.
    pub kernel: String,
    pub initrd: String,
    pub args: String,
}

impl Boot {
    pub fn as_str(self) -> &'static str {
        match self {
            Boot::Install => "install",
            Boot::Os => "os",
        }
    }
}

impl fmt::Display for Boot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    pub name: String,
    /// e.g. `9`.
    pub os_release: String,
    /// Where installers fetch the tree, e.g. `http://{server}/install/distributions/rocky-9`
    /// (`{server}`: the address of the host's install server).
    pub url: String,
}

/// A stored install server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallServer {
    pub name: String,
    /// The address hosts reach it at (DHCP `next-server`, TFTP, HTTP).
    pub ip: String,
    /// Base URL under which the server publishes the build tree, e.g. `http://10.1.1.1/install/rocks`.
    pub url: String,
}

impl InstallServer {
    /// The default base URL of a server at `ip`: `http://IP/install/rocks`.
    pub fn default_url(ip: &str) -> String {
        if ip.contains(':') { format!("http://[{ip}]/install/rocks") } else { format!("http://{ip}/install/rocks") }
    }
}

