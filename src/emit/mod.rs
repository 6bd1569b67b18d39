//! The file emitters: one file per output kind (the monitoring outputs share [`monitoring`], the console and power files [`ipmi`]), each `&Site -> Vec<Artifact>`. Each computes
//! a typed context from the [`crate::plan::Site`] and renders it with the shared minijinja
//! environment of [`crate::render`]; none of them writes files. Kickstarts are
//! [`crate::kickstart`]'s.

pub mod bmc;
pub mod ipmi;
pub mod conman;
pub mod conserver;
pub mod dhcpd;
pub mod dns;
pub mod ganglia;
pub mod genders;
pub mod hosts;
pub mod kea;
pub mod monitoring;
pub mod nagios;
pub mod pbs;
pub mod prometheus;
pub mod powerman;
pub mod pxe;
pub mod sge;
pub mod slurm;
