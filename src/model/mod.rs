//! The cluster as plain values, with no storage in them: hosts with their interfaces
//! ([`HostFacts`], [`Iface`]), networks, appliances, boot actions, distributions, install
//! servers, and the whole [`Cluster`] snapshot that `build`, the resolver and the
//! responders read. [`crate::facts`] is the SQLite store behind them: it reads a snapshot
//! ([`crate::facts::Db::cluster`]) and changes the facts one transaction at a time.

pub mod addr;
mod cluster;
mod facts;

pub use cluster::{Cluster, HostFacts, Iface, rendezvous};
pub use facts::{Appliance, ApplianceSpec, Boot, BootAction, Distribution, InstallServer, Network};
