//! The cluster as plain values, with no storage in them: hosts with their interfaces
//! ([`HostFacts`], [`Iface`]), networks, appliances, boot actions, distributions, install
//! servers, and the whole [`Cluster`] snapshot that `build`, the resolver and the
//! responders read. [`crate::facts`] is the SQLite store behind them: it reads a snapshot
//! ([`crate::facts::Db::cluster`]) and changes the facts one transaction at a time.

pub mod addr;
mod cluster;
mod facts;

pub use cluster::{BMC_DEVICE, Cluster, HostFacts, Iface, rendezvous};
pub use facts::{Appliance, ApplianceSpec, Boot, BootAction, Distribution, InstallServer, Network};

/// Whether `s` is a DNS label (RFC 1123): 1 to 63 letters, digits and `-`, not first or
/// last. Host names and aliases must be: DNS, the hosts file and DHCP name hosts by them.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !s.starts_with('-') && !s.ends_with('-')
}
