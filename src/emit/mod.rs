//! The file emitters: one file per output kind (the BMC-driven ones share [`bmcs`]), each `&Site -> Vec<Artifact>`. Each computes
//! a typed context from the [`crate::plan::Site`] and renders it with the shared minijinja
//! environment of [`crate::render`]; none of them writes files. Kickstarts are
//! [`crate::kickstart`]'s.

pub mod bmcs;
pub mod conman;
pub mod conserver;
pub mod dhcpd;
pub mod dns;
pub mod genders;
pub mod hosts;
pub mod kea;
pub mod pbs;
pub mod powerman;
pub mod pxe;
pub mod sge;
pub mod slurm;
