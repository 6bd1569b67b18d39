//! The hosts whose BMC the console and power daemons reach ([`crate::emit::conman`],
//! [`crate::emit::conserver`], [`crate::emit::powerman`]): every host with a BMC interface
//! ([`crate::model::HostFacts::bmc`]) whose address and IPMI credentials resolve
//! ([`crate::power::Bmc::of`], the same resolution as the `power` command), by rack and then
//! in natural name order. A host with a BMC that cannot be used is left out; the model check
//! reports it (`build::bmc-without-credentials`).

use serde::Serialize;

use crate::plan::{Artifact, Kind, Site};
use crate::power::Bmc;

use super::slurm;

/// Global attribute: the directory the console daemons write each console's log to.
pub const LOG_DIR_ATTR: &str = "console_log_dir";

/// The directory the console daemons log to: the global attribute [`LOG_DIR_ATTR`], else
/// `default` (each daemon's own). The model check refuses a value that is not a
/// [`plain`] absolute path (`build::bad-attribute`).
pub fn log_dir<'a>(site: &Site<'a>, default: &'a str) -> &'a str {
    crate::resolver::stored_global(site.cluster, LOG_DIR_ATTR).unwrap_or(default)
}

/// Taken as one word by the daemons' files and by a shell: not empty, and only letters,
/// digits and `._-@+:/=`.
pub fn plain(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-@+:/=".contains(c))
}

/// The usable BMCs of the cluster, rack by rack (none: the cluster has no host with a BMC,
/// and the daemons' files are not made).
#[derive(Debug)]
pub struct Bmcs {
    pub racks: Vec<(u32, Vec<Bmc>)>,
    /// Some host has a BMC interface (usable or not).
    pub any: bool,
}

impl Bmcs {
    /// The BMCs of `site`'s hosts.
    pub fn new(site: &Site<'_>) -> Bmcs {
        let c = site.cluster;
        let mut hosts: Vec<_> = slurm::by_name(c.hosts.iter().filter(|h| h.bmc().is_some()).collect());
        hosts.sort_by_key(|h| h.rack);
        let mut racks: Vec<(u32, Vec<Bmc>)> = Vec::new();
        for h in &hosts {
            let Ok(bmc) = Bmc::of(c, h) else { continue };
            match racks.last_mut() {
                Some((rack, list)) if *rack == h.rack => list.push(bmc),
                _ => racks.push((h.rack, vec![bmc])),
            }
        }
        Bmcs { racks, any: !hosts.is_empty() }
    }

    /// Every usable BMC, in file order.
    pub fn all(&self) -> impl Iterator<Item = &Bmc> {
        self.racks.iter().flat_map(|(_, list)| list)
    }
}

/// The unusable BMCs of `site`: `(host, why)` for each host with a BMC interface that has an
/// address (one without is the error `build::bmc-without-address`) and that [`Bmc::of`]
/// refuses.
pub fn unusable(site: &Site<'_>) -> Vec<(String, String)> {
    let c = site.cluster;
    let addressed = |h: &&crate::model::HostFacts| h.bmc().is_some_and(|b| b.ip.is_some());
    c.hosts.iter().filter(addressed).filter_map(|h| Bmc::of(c, h).err().map(|why| (h.name.clone(), why))).collect()
}

/// The one file of `kind` at `path`: `template` rendered with the context `make` computes
/// from the cluster's BMCs; secret when it holds a secret value, always when `password` (it
/// holds the IPMI passwords in a form [`Artifact::with_secrets`] may not find). None when the
/// kind is not wanted or no host has a BMC.
pub fn artifact<T: Serialize>(
    site: &Site<'_>,
    (kind, path, template): (Kind, &str, &str),
    password: bool,
    make: impl FnOnce(&Bmcs) -> T,
) -> Result<Vec<Artifact>, minijinja::Error> {
    if !site.wants(kind) {
        return Ok(Vec::new());
    }
    let bmcs = Bmcs::new(site);
    if !bmcs.any {
        return Ok(Vec::new());
    }
    let text = crate::render::render(template, &make(&bmcs))?;
    let artifact = Artifact::new(kind, path, text);
    Ok(vec![if password { artifact.secret() } else { artifact.with_secrets(&site.secrets) }])
}
