//! A build as plain data: every file of the output tree ([`Artifact`]: relative path, bytes,
//! mode, the [`Kind`] that made it, whether it holds a secret), computed by [`crate::build`]
//! and written by [`crate::generation`]. Emitters under [`crate::emit`] read a [`Site`] (the
//! cluster plus everything derived from it once: install servers per host, URLs, which hosts
//! the scheduler lists name) and return artifacts; none of them touches the filesystem.
//!
//! The layout of the tree, served as it is by a web server (the tree at the servers' base
//! URL) and a TFTP server (rooted at `tftp/`):
//!
//! ```text
//! MANIFEST                           every file: sha256, size, mode, kind, path (a file
//!                                    holding a secret: `-  -` for sha256 and size)
//! MANIFEST.private                   the files holding a secret: sha256, size, mode, kind, path
//! kickstart/<host>.ks                per-host kickstarts (kickstartable appliances)
//! dhcp/dhcpd.conf  dhcp/kea-dhcp4.json
//! hosts  cluster/networks          fetched by the hosts (see the framework's node cluster-files)
//! dns/named.conf  dns/db.<zone>  dns/db.<reverse zone>
//! tftp/pxelinux.cfg/01-<mac>  tftp/grub/grub.cfg-01-<mac>  tftp/boot.ipxe
//! ipxe/<mac>.ipxe  ipxe/boot.ipxe   (MAC as 52-54-00-12-34-56)
//! scheduler/slurm-nodes.conf  scheduler/clustershell.yaml  scheduler/pbs-nodes
//! scheduler/sge/@<group>  scheduler/genders
//! monitoring/prometheus/nodes.json  monitoring/prometheus/bmcs.json
//! monitoring/nagios/hosts.cfg  monitoring/ganglia/gmond.conf  monitoring/ganglia/gmetad.conf
//! console/conman.conf  console/conserver.cf  power/powerman.conf  power/ipmipower-ipmiN.conf
//!                                    (hosts with a BMC)
//! ```

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::facts::InstallServer;
use crate::model::{Cluster, HostFacts, rendezvous};

/// Mode of an ordinary output file.
pub const PUBLIC_MODE: u32 = 0o644;
/// Mode of an output file that contains the value of a secret attribute.
pub const SECRET_MODE: u32 = 0o640;

/// The kinds of output a build makes (`--only` takes these names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Kickstart,
    Dhcpd,
    Kea,
    Hosts,
    Dns,
    Pxe,
    Slurm,
    Pbs,
    Sge,
    Genders,
    Prometheus,
    Nagios,
    Ganglia,
    Conman,
    Conserver,
    Powerman,
}

impl Kind {
    /// Every kind, in the order builds list them.
    pub const ALL: [Kind; 16] = [
        Kind::Kickstart,
        Kind::Dhcpd,
        Kind::Kea,
        Kind::Hosts,
        Kind::Dns,
        Kind::Pxe,
        Kind::Slurm,
        Kind::Pbs,
        Kind::Sge,
        Kind::Genders,
        Kind::Prometheus,
        Kind::Nagios,
        Kind::Ganglia,
        Kind::Conman,
        Kind::Conserver,
        Kind::Powerman,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Kickstart => "kickstart",
            Kind::Dhcpd => "dhcpd",
            Kind::Kea => "kea",
            Kind::Hosts => "hosts",
            Kind::Dns => "dns",
            Kind::Pxe => "pxe",
            Kind::Slurm => "slurm",
            Kind::Pbs => "pbs",
            Kind::Sge => "sge",
            Kind::Genders => "genders",
            Kind::Prometheus => "prometheus",
            Kind::Nagios => "nagios",
            Kind::Ganglia => "ganglia",
            Kind::Conman => "conman",
            Kind::Conserver => "conserver",
            Kind::Powerman => "powerman",
        }
    }

    /// Parse one `--only` word: a kind, or the groups `dhcp` (dhcpd, kea), `scheduler`
    /// (slurm, pbs, sge, genders), `monitoring` (prometheus, nagios, ganglia) and `console`
    /// (conman, conserver).
    pub fn parse_group(word: &str) -> Result<Vec<Kind>, String> {
        match word.trim() {
            "dhcp" => Ok(vec![Kind::Dhcpd, Kind::Kea]),
            "scheduler" => Ok(vec![Kind::Slurm, Kind::Pbs, Kind::Sge, Kind::Genders]),
            "monitoring" => Ok(vec![Kind::Prometheus, Kind::Nagios, Kind::Ganglia]),
            "console" => Ok(vec![Kind::Conman, Kind::Conserver]),
            w => w.parse().map(|k| vec![k]),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown output kind `{s}` (kinds: {}, dhcp, scheduler, monitoring, console)", names.join(", "))
        })
    }
}

/// One file of the output tree.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Relative to the tree, `/`-separated, no `..`.
    pub path: String,
    pub bytes: Vec<u8>,
    /// [`PUBLIC_MODE`] or [`SECRET_MODE`] (a secret artifact must not be readable by others:
    /// [`crate::generation`] refuses one that is).
    pub mode: u32,
    pub kind: Kind,
    /// The bytes contain the value of a secret attribute.
    pub secret: bool,
    /// How the file follows the one it replaces, when the tree has one at the same path
    /// ([`FollowsPrevious`]; e.g. a DNS zone's serial only ever increases).
    pub follows: Option<FollowsPrevious>,
}

/// `(previous bytes, new bytes) -> the bytes to write instead`, or `None` to write the new
/// ones. Called when a generation stages the file and the tree it replaces has one at the
/// same path; it must give the previous bytes back when the new ones mean the same.
pub type FollowsPrevious = fn(&[u8], &[u8]) -> Option<Vec<u8>>;

impl Artifact {
    /// A public artifact.
    pub fn new(kind: Kind, path: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Artifact {
        Artifact { path: path.into(), bytes: bytes.into(), mode: PUBLIC_MODE, kind, secret: false, follows: None }
    }

    /// The artifact, made to follow the file it replaces by `f` ([`FollowsPrevious`]).
    pub fn following(mut self, f: FollowsPrevious) -> Artifact {
        self.follows = Some(f);
        self
    }

    /// The artifact marked secret (mode [`SECRET_MODE`]): a file that holds a secret whatever
    /// its bytes look like (a password in a form [`Artifact::with_secrets`] may not find).
    pub fn secret(mut self) -> Artifact {
        self.secret = true;
        self.mode = SECRET_MODE;
        self
    }

    /// Mark the artifact secret (mode [`SECRET_MODE`]) when its bytes contain any of `secrets`.
    pub fn with_secrets(self, secrets: &[&str]) -> Artifact {
        // Runs once per file of the tree (300,000 at 100k hosts): no copy, no work without
        // secrets, and a substring search rather than a comparison at every offset.
        let holds = |s: &str| !s.is_empty() && memchr::memmem::find(&self.bytes, s.as_bytes()).is_some();
        if secrets.iter().any(|s| holds(s)) { self.secret() } else { self }
    }
}

/// Every artifact of a build, sorted by path, with what the build reports about it.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub artifacts: Vec<Artifact>,
    /// Files of the previous generation that go over as they are, without being made again
    /// or read (their inputs did not change; see [`crate::generation::Previous`]).
    pub kept: Vec<crate::generation::ManifestEntry>,
    /// Kickstarts already staged into the generation being written, not held here (see
    /// [`crate::build::Target::stage`]).
    pub staged: usize,
    /// Install server name -> how many hosts have it as primary.
    pub server_load: Vec<(String, usize)>,
    /// The plan makes only these kinds (`build --only`): the files of every other kind in
    /// the previous generation go over unchanged. `None`: every kind, and files the plan
    /// does not make are removed.
    pub only: Option<BTreeSet<Kind>>,
}

impl Plan {
    /// Sort by path (the order every consumer relies on).
    pub fn sort(&mut self) {
        self.artifacts.sort_by(|a, b| a.path.cmp(&b.path));
        self.kept.sort_by(|a, b| a.path.cmp(&b.path));
    }

    /// How many files the tree of this plan has (made and kept).
    pub fn files(&self) -> usize {
        self.artifacts.len() + self.kept.len() + self.staged
    }
}

/// Which hosts a scheduler list names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSelection {
    /// Hosts of these appliances.
    Appliances(Vec<String>),
    /// Exactly these hosts (e.g. what an SQL query selected).
    Names(BTreeSet<String>),
}

impl Default for HostSelection {
    fn default() -> HostSelection {
        HostSelection::Appliances(vec!["compute".into()])
    }
}

/// What a build makes, besides the facts.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The kinds to make (default: all).
    pub kinds: BTreeSet<Kind>,
    /// Hosts in the scheduler lists (Slurm, PBS, SGE; genders lists every host).
    pub scheduler_hosts: HostSelection,
    /// Group Slurm partitions / SGE host groups by this attribute instead of the appliance.
    pub partition_by: Option<String>,
    /// URL of a host's kickstart; `{base}` (the server's base URL), `{server}` (its address),
    /// `{host}`, `{mac}` (52:54:..) and `{ip}` are replaced.
    pub kickstart_url: String,
    /// DHCP boot file of BIOS PXE clients (relative to the TFTP root).
    pub bios_boot_file: String,
    /// DHCP boot file of UEFI x86-64 PXE clients (relative to the TFTP root).
    pub uefi_boot_file: String,
}

impl Default for BuildOptions {
    fn default() -> BuildOptions {
        BuildOptions {
            kinds: Kind::ALL.into_iter().collect(),
            scheduler_hosts: HostSelection::default(),
            partition_by: None,
            kickstart_url: "{base}/kickstart/{host}.ks".into(),
            bios_boot_file: "pxelinux.0".into(),
            uefi_boot_file: "grub/x86_64-efi/core.efi".into(),
        }
    }
}

/// What every emitter reads: the facts plus what is derived from them once per build.
#[derive(Debug)]
pub struct Site<'a> {
    pub cluster: &'a Cluster,
    pub options: &'a BuildOptions,
    /// The install servers hosts are spread over (configured, or the default one).
    pub servers: Cow<'a, [InstallServer]>,
    /// Per host (same index as `cluster.hosts`): primary and fallback server indices.
    pub assignment: Cow<'a, [Option<(usize, usize)>]>,
    /// Per host: named in the scheduler lists.
    pub scheduled: Cow<'a, [bool]>,
    /// Every secret attribute value (for [`Artifact::with_secrets`]).
    pub secrets: Vec<&'a str>,
}

/// What a [`Site`] derives from the facts in O(hosts), kept by a resident responder so
/// that answering one host does not derive it again ([`Site::with`]).
#[derive(Debug, Clone)]
pub struct Derived {
    servers: Vec<InstallServer>,
    assignment: Vec<Option<(usize, usize)>>,
    scheduled: Vec<bool>,
}

impl Derived {
    /// Install servers, each host's assignment and the scheduler selection.
    pub fn new(cluster: &Cluster, options: &BuildOptions) -> Derived {
        let servers = cluster.install_servers();
        let assignment = cluster.hosts.iter().map(|h| rendezvous(&servers, &h.name)).collect();
        let scheduled = cluster
            .hosts
            .iter()
            .map(|h| match &options.scheduler_hosts {
                HostSelection::Appliances(a) => a.contains(&h.appliance),
                HostSelection::Names(n) => n.contains(&h.name),
            })
            .collect();
        Derived { servers, assignment, scheduled }
    }
}

impl<'a> Site<'a> {
    /// Derive servers, assignments and the scheduler selection.
    pub fn new(cluster: &'a Cluster, options: &'a BuildOptions) -> Site<'a> {
        let Derived { servers, assignment, scheduled } = Derived::new(cluster, options);
        Site {
            cluster,
            options,
            servers: Cow::Owned(servers),
            assignment: Cow::Owned(assignment),
            scheduled: Cow::Owned(scheduled),
            secrets: cluster.secret_values(),
        }
    }

    /// A site over what was derived before (for `cluster` and `options`): nothing per host
    /// is computed. Secret values are not collected (emitters that mark secret files need
    /// [`Site::new`]).
    pub fn with(cluster: &'a Cluster, options: &'a BuildOptions, derived: &'a Derived) -> Site<'a> {
        Site {
            cluster,
            options,
            servers: Cow::Borrowed(&derived.servers),
            assignment: Cow::Borrowed(&derived.assignment),
            scheduled: Cow::Borrowed(&derived.scheduled),
            secrets: Vec::new(),
        }
    }

    pub fn wants(&self, kind: Kind) -> bool {
        self.options.kinds.contains(&kind)
    }

    /// The primary install server of host number `i`.
    pub fn server(&self, i: usize) -> Option<&InstallServer> {
        self.assignment[i].map(|(p, _)| &self.servers[p])
    }

    /// The fallback install server of host number `i` (the primary when there is one server).
    pub fn fallback(&self, i: usize) -> Option<&InstallServer> {
        self.assignment[i].map(|(_, f)| &self.servers[f])
    }

    /// The URL host number `i` fetches its kickstart from (its primary server).
    pub fn kickstart_url(&self, i: usize) -> Option<String> {
        let s = self.server(i)?;
        let h = &self.cluster.hosts[i];
        Some(fill(&self.options.kickstart_url, s, h))
    }

    /// The URL of host `i`'s iPXE script for the interface with `mac`.
    pub fn ipxe_url(&self, i: usize, mac: &str) -> Option<String> {
        Some(format!("{}/{}", self.server(i)?.url, ipxe_path(mac)))
    }

    /// The DNS domain of a host: the zone of its primary interface's network.
    pub fn domain(&self, h: &HostFacts) -> Option<&str> {
        let net = h.primary()?.network.as_deref()?;
        self.cluster.network(net).map(|n| n.zone.as_str())
    }
}

/// `52:54:00:12:34:56` -> `52-54-00-12-34-56` (pxelinux, GRUB and iPXE's `hexhyp`).
pub fn mac_hyphen(mac: &str) -> String {
    mac.to_ascii_lowercase().replace(':', "-")
}

/// Path of the iPXE script of the interface with `mac`.
pub fn ipxe_path(mac: &str) -> String {
    format!("ipxe/{}.ipxe", mac_hyphen(mac))
}

/// Replace `{base}`, `{server}`, `{host}`, `{mac}`, `{ip}` in a URL template.
fn fill(template: &str, s: &InstallServer, h: &HostFacts) -> String {
    let p = h.primary();
    template
        .replace("{base}", &s.url)
        .replace("{server}", &s.ip)
        .replace("{host}", &h.name)
        .replace("{mac}", p.and_then(|i| i.mac.as_deref()).unwrap_or(""))
        .replace("{ip}", p.and_then(|i| i.ip.as_deref()).unwrap_or(""))
}
