//! DNS zones: a forward zone per network zone, reverse zones per network, and a `named.conf`
//! fragment that declares them. Serials come from the records, never the clock.
//!
//! Files: `dns/named.conf` (one `zone` statement per zone, file names relative to named's
//! `directory`, which is meant to be the tree's `dns/` folder), `dns/db.<zone>` for every
//! forward zone and `dns/db.<reverse zone>` (e.g. `dns/db.1.10.in-addr.arpa`) for every
//! reverse zone.
//!
//! Records publish the names [`crate::emit::hosts::names`] gives (so DNS and `hosts` agree):
//! an A (AAAA) record for every named address in its zone, a CNAME `alias -> host FQDN` for
//! every alias, and a PTR for every address that falls in one of the reverse zones.
//!
//! **Reverse zones** sit on label boundaries (octets for IPv4, nibbles for IPv6): a network
//! whose prefix is not on a boundary gets every boundary zone that covers it, found by
//! rounding the prefix *up* (to at most /24, or /124 for IPv6). A /20 gets its 16 /24 zones (`16.2.10.in-addr.arpa` ..
//! `31.2.10.in-addr.arpa`), a /16 one /16 zone, a /26 the /24 zone around it (shared with any
//! other network in that /24). Zones without hosts are still written, so adding a host never
//! changes `named.conf`. Rounding down instead (a /16 zone for a /20) would overlap the zones
//! of neighbouring networks; RFC 2317 delegation is not needed for a server that is
//! authoritative for the whole network. An address goes into the most specific zone that
//! contains it.
//!
//! **Name server**: the first install server ([`Site::servers`]). Every zone's SOA and NS name
//! it by the FQDN of its address (the host interface that has it, or the server's own entry,
//! which [`crate::emit::hosts::names`] adds when no interface has the address), so the NS
//! name always has an A record in one of these zones. The SOA contact is `hostmaster` in
//! that name's zone.
//!
//! **Serial**: a zone the tree does not have yet starts at the first 32 bits of the SHA-256
//! of its content (origin, TTL, SOA fields but the serial, every record), mapped into
//! 1..=2^31-1. Afterwards each zone follows the file it replaces ([`next_serial`], applied
//! when the generation is written): the same records keep the previous serial, any change
//! takes the next one in RFC 1982 serial arithmetic, so the serial only ever increases and
//! secondaries that transfer the zone pick up every change. No clock is read: the same
//! facts and the same previous tree give the same files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use minijinja::ErrorKind;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::hosts::{Named, names};
use crate::facts::InstallServer;
use crate::model::Cluster;
use crate::plan::{Artifact, Kind, Site};
use crate::render::render;

/// Default TTL of every record (`$TTL`), seconds.
pub const TTL: u32 = 3600;
/// SOA refresh, seconds.
pub const REFRESH: u32 = 3600;
/// SOA retry, seconds.
pub const RETRY: u32 = 900;
/// SOA expire, seconds.
pub const EXPIRE: u32 = 604_800;
/// SOA minimum (the TTL of negative answers), seconds.
pub const MINIMUM: u32 = 300;

/// Path of named's configuration in the output tree.
pub const NAMED_CONF: &str = "dns/named.conf";
/// What the path of a zone file in the output tree starts with: `dns/db.<zone>`.
const ZONE_PREFIX: &str = "dns/db.";

/// The zone whose file is `path` in the output tree (`dns/db.local` -> `local`), if any.
pub fn zone_of(path: &str) -> Option<&str> {
    path.strip_prefix(ZONE_PREFIX).filter(|z| !z.is_empty() && !z.contains('/'))
}

/// The artifacts of this kind for the whole cluster (none when the kind is not wanted).
pub fn artifacts(site: &Site<'_>) -> Result<Vec<Artifact>, minijinja::Error> {
    if !site.wants(Kind::Dns) {
        return Ok(Vec::new());
    }
    let named = names(site);
    let zones = zones(site.cluster, &named, site.servers.first())?;
    let conf = NamedConfContext { zones: zones.iter().map(|z| ConfZone { name: z.origin.clone(), file: z.file.clone() }).collect() };
    let mut out = Vec::with_capacity(zones.len() + 1);
    out.push(Artifact::new(Kind::Dns, NAMED_CONF, render("named.conf.j2", &conf)?).with_secrets(&site.secrets));
    for z in &zones {
        out.push(
            Artifact::new(Kind::Dns, format!("{ZONE_PREFIX}{}", z.origin), render("zone.j2", z)?)
                .with_secrets(&site.secrets)
                .following(next_serial),
        );
    }
    Ok(out)
}

/// Context of `named.conf.j2`.
#[derive(Debug, Serialize)]
struct NamedConfContext {
    /// Forward zones by name, then reverse zones by address.
    zones: Vec<ConfZone>,
}

/// One `zone` statement.
#[derive(Debug, Serialize)]
struct ConfZone {
    /// Without the final dot.
    name: String,
    /// Relative to named's `directory`.
    file: String,
}

/// Context of `zone.j2`: one zone file.
#[derive(Debug, Serialize)]
struct ZoneContext {
    /// The zone name without the final dot (`local`, `1.10.in-addr.arpa`).
    origin: String,
    /// `db.<origin>`.
    file: String,
    ttl: u32,
    soa: Soa,
    /// NS first, then the zone's records (see [`zones`] for the order).
    records: Vec<Record>,
}

/// The SOA record's fields.
#[derive(Debug, Serialize)]
struct Soa {
    /// The primary name server, absolute (final dot).
    mname: String,
    /// The contact mailbox as a domain name, absolute.
    rname: String,
    serial: u32,
    refresh: u32,
    retry: u32,
    expire: u32,
    minimum: u32,
}

/// One resource record (class IN, the zone's TTL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Record {
    /// Relative to the origin; `@` is the origin itself.
    owner: String,
    /// `NS`, `A`, `AAAA`, `CNAME` or `PTR`.
    kind: &'static str,
    /// Absolute names end with a dot.
    data: String,
}

/// Every zone: forward zones by name (records by owner ignoring case, then type), then reverse zones by
/// address (records by address). No networks: no zones.
fn zones(cluster: &Cluster, named: &[Named<'_>], server: Option<&InstallServer>) -> Result<Vec<ZoneContext>, minijinja::Error> {
    let mut forward: BTreeMap<&str, Vec<Record>> = cluster.networks.iter().map(|n| (n.zone.as_str(), Vec::new())).collect();
    let mut reverse: BTreeMap<IpNet, Vec<(IpAddr, Record)>> =
        cluster.networks.iter().flat_map(|n| reverse_nets(&n.cidr)).map(|z| (z, Vec::new())).collect();
    if forward.is_empty() {
        return Ok(Vec::new());
    }
    let (ns, ns_zone) = name_server(named, server)?;
    for n in named {
        let (Some(zone), Some(fqdn)) = (n.zone, n.fqdn()) else { continue };
        let fqdn = fqdn + ".";
        if let Some(records) = forward.get_mut(zone) {
            let kind = if n.ip.is_ipv4() { "A" } else { "AAAA" };
            records.push(Record { owner: n.name.clone(), kind, data: n.ip.to_string() });
            records.extend(n.aliases.iter().map(|a| Record { owner: a.clone(), kind: "CNAME", data: fqdn.clone() }));
        }
        if let Some(z) = reverse_zone_of(&reverse, n.ip) {
            let ptr = Record { owner: ptr_owner(&z, n.ip), kind: "PTR", data: fqdn };
            reverse.get_mut(&z).expect("the zone exists").push((n.ip, ptr));
        }
    }
    let rname = format!("hostmaster.{ns_zone}.");
    let mut out = Vec::with_capacity(forward.len() + reverse.len());
    for (origin, mut records) in forward {
        // Stable: records of one owner and type keep the order of `named` (by address).
        records.sort_by_cached_key(|r| (r.owner.to_ascii_lowercase(), r.kind));
        out.push(zone(origin.to_string(), &ns, &rname, records));
    }
    for (net, mut records) in reverse {
        records.sort_unstable_by(|a, b| (a.0, &a.1.data).cmp(&(b.0, &b.1.data)));
        out.push(zone(reverse_name(&net), &ns, &rname, records.into_iter().map(|(_, r)| r).collect()));
    }
    Ok(out)
}

/// A zone with its NS record in front and the serial of its content.
fn zone(origin: String, ns: &str, rname: &str, records: Vec<Record>) -> ZoneContext {
    let mut all = Vec::with_capacity(records.len() + 1);
    all.push(Record { owner: "@".into(), kind: "NS", data: ns.to_string() });
    all.extend(records);
    let serial = serial(&origin, ns, rname, &all);
    let soa =
        Soa { mname: ns.to_string(), rname: rname.to_string(), serial, refresh: REFRESH, retry: RETRY, expire: EXPIRE, minimum: MINIMUM };
    ZoneContext { file: format!("db.{origin}"), origin, ttl: TTL, soa, records: all }
}

/// The absolute name of the first install server's address and the zone it is in.
fn name_server(named: &[Named<'_>], server: Option<&InstallServer>) -> Result<(String, String), minijinja::Error> {
    let err = |msg: String| minijinja::Error::new(ErrorKind::InvalidOperation, msg);
    let server = server.ok_or_else(|| err("DNS zones need a name server: add an install server or a frontend host".into()))?;
    let ip: IpAddr =
        server.ip.parse().map_err(|_| err(format!("install server `{}` has no valid address `{}`", server.name, server.ip)))?;
    named
        .iter()
        .filter(|n| n.ip == ip)
        .find_map(|n| Some((n.fqdn()? + ".", n.zone?.to_string())))
        .ok_or_else(|| err(format!("the address {ip} of install server `{}` is on no network, so it has no DNS name", server.name)))
}

/// A zone file that replaces `old`: `new` with `old`'s serial when their records are the
/// same (the bytes of `old` again), else with the serial after `old`'s (RFC 1982: plus one,
/// modulo 2^32, skipping 0). `None` when either has no serial line.
pub fn next_serial(old: &[u8], new: &[u8]) -> Option<Vec<u8>> {
    let (old, new) = (std::str::from_utf8(old).ok()?, std::str::from_utf8(new).ok()?);
    let (previous, old_rest) = split_serial(old)?;
    let (_, new_rest) = split_serial(new)?;
    let serial = if old_rest == new_rest { previous } else { previous.wrapping_add(1).max(1) };
    let (before, after) = new_rest;
    Some(format!("{before}{serial}{after}").into_bytes())
}

/// A zone file split around its serial: (serial, (text before it, text after it)).
fn split_serial(zone: &str) -> Option<(u32, (&str, &str))> {
    const MARK: &str = "\t; serial\n";
    let end = zone.find(MARK)?;
    let start = zone[..end].rfind('\t')? + 1;
    let serial = zone[start..end].parse().ok()?;
    Some((serial, (&zone[..start], &zone[end..])))
}

/// A 32-bit serial from the zone's content (see the module documentation), in 1..=2^31-1.
fn serial(origin: &str, mname: &str, rname: &str, records: &[Record]) -> u32 {
    let mut h = Sha256::new();
    for part in [origin, mname, rname] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for v in [TTL, REFRESH, RETRY, EXPIRE, MINIMUM] {
        h.update(v.to_be_bytes());
    }
    for r in records {
        for part in [r.owner.as_str(), r.kind, r.data.as_str()] {
            h.update(part.as_bytes());
            h.update([0]);
        }
    }
    let d = h.finalize();
    u32::from_be_bytes(d[..4].try_into().expect("4 bytes")) % 0x7FFF_FFFF + 1
}

/// Bits per reverse-zone label: an octet for IPv4, a nibble for IPv6.
fn step(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 8 } else { 4 }
}

/// The boundary-aligned reverse zones that together cover `net`: the prefix rounded up, to
/// at most /24 (IPv4) or /124 (IPv6); a longer prefix gets the one zone that contains it.
fn reverse_nets(net: &IpNet) -> Vec<IpNet> {
    let step = step(net.addr());
    let prefix = (net.prefix_len().div_ceil(step) * step).min(net.max_prefix_len() - step);
    if prefix < net.prefix_len() {
        return vec![IpNet::new(net.addr(), prefix).expect("valid prefix").trunc()];
    }
    net.trunc().subnets(prefix).map(|s| s.collect()).unwrap_or_default()
}

/// The most specific of `zones` that contains `ip`.
fn reverse_zone_of<V>(zones: &BTreeMap<IpNet, V>, ip: IpAddr) -> Option<IpNet> {
    let (step, max) = if ip.is_ipv4() { (8, 32) } else { (4, 128) };
    (0..=max / step).rev().map(|k| IpNet::new(ip, k * step).expect("valid prefix").trunc()).find(|z| zones.contains_key(z))
}

/// The address as reverse-zone labels, most significant first (octets or nibbles).
fn labels(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().iter().flat_map(|b| [b >> 4, b & 0xf]).collect(),
    }
}

/// `labels` in reverse order, dot-separated (decimal octets, hex nibbles).
fn reversed(ip: IpAddr, labels: &[u8]) -> String {
    let mut out = String::with_capacity(labels.len() * 4);
    for (k, l) in labels.iter().rev().enumerate() {
        let sep = if k == 0 { "" } else { "." };
        if ip.is_ipv4() { write!(out, "{sep}{l}") } else { write!(out, "{sep}{l:x}") }.expect("writing to a String");
    }
    out
}

/// `1.10.in-addr.arpa` for 10.1.0.0/16, `0.1.0.0.0.0.0.d.f.ip6.arpa` for fd00:1::/36.
fn reverse_name(zone: &IpNet) -> String {
    let ip = zone.addr();
    let n = usize::from(zone.prefix_len() / step(ip));
    let suffix = if ip.is_ipv4() { "in-addr.arpa" } else { "ip6.arpa" };
    let labels = reversed(ip, &labels(ip)[..n]);
    if labels.is_empty() { suffix.to_string() } else { format!("{labels}.{suffix}") }
}

/// The owner of `ip`'s PTR record relative to `zone` (`@` when the zone is the address).
fn ptr_owner(zone: &IpNet, ip: IpAddr) -> String {
    let n = usize::from(zone.prefix_len() / step(ip));
    let rest = reversed(ip, &labels(ip)[n..]);
    if rest.is_empty() { "@".into() } else { rest }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn names(nets: &[IpNet]) -> Vec<String> {
        nets.iter().map(reverse_name).collect()
    }

    #[test]
    fn reverse_zones_cover_the_network_on_label_boundaries() {
        assert_eq!(names(&reverse_nets(&net("10.1.0.0/16"))), ["1.10.in-addr.arpa"]);
        assert_eq!(names(&reverse_nets(&net("10.0.0.0/8"))), ["10.in-addr.arpa"]);
        assert_eq!(names(&reverse_nets(&net("192.168.7.0/24"))), ["7.168.192.in-addr.arpa"]);
        assert_eq!(names(&reverse_nets(&net("192.168.7.64/26"))), ["7.168.192.in-addr.arpa"]);
        let z20 = names(&reverse_nets(&net("10.2.16.0/20")));
        assert_eq!(z20.len(), 16);
        assert_eq!((z20[0].as_str(), z20[15].as_str()), ("16.2.10.in-addr.arpa", "31.2.10.in-addr.arpa"));
        assert_eq!(reverse_nets(&net("10.128.0.0/9")).len(), 128);
        assert_eq!(names(&reverse_nets(&net("fd00:1::/64"))), ["0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa"]);
        assert_eq!(names(&reverse_nets(&net("fd00:1::/62"))).len(), 4);
        assert_eq!(names(&reverse_nets(&net("10.9.9.9/32"))), ["9.9.10.in-addr.arpa"]);
        assert_eq!(reverse_nets(&net("fd00::/126")).len(), 1);
        assert_eq!(names(&reverse_nets(&net("0.0.0.0/0"))), ["in-addr.arpa"]);
    }

    #[test]
    fn addresses_go_to_the_most_specific_zone() {
        let zones: BTreeMap<IpNet, ()> = [net("10.1.0.0/16"), net("10.1.5.0/24")].into_iter().map(|z| (z, ())).collect();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(reverse_zone_of(&zones, ip("10.1.5.7")), Some(net("10.1.5.0/24")));
        assert_eq!(reverse_zone_of(&zones, ip("10.1.6.7")), Some(net("10.1.0.0/16")));
        assert_eq!(reverse_zone_of(&zones, ip("10.2.0.1")), None);
        assert_eq!(ptr_owner(&net("10.1.0.0/16"), ip("10.1.255.254")), "254.255");
        assert_eq!(ptr_owner(&net("10.1.5.0/24"), ip("10.1.5.7")), "7");
        assert_eq!(ptr_owner(&net("10.1.5.7/32"), ip("10.1.5.7")), "@");
        assert_eq!(ptr_owner(&net("fd00:1::/64"), ip("fd00:1::a:1")), "1.0.0.0.a.0.0.0.0.0.0.0.0.0.0.0");
    }

    #[test]
    fn a_zone_keeps_its_serial_for_the_same_records_and_increases_it_for_others() {
        let zone = |serial: u32, record: &str| format!("; Zone z\n@\tIN\tSOA\tns. h. (\n\t\t{serial}\t; serial\n\t\t3600\t; refresh\n)\n{record}\n");
        let old = zone(1_688_501_808, "a\tIN\tA\t10.1.0.1");
        // The emitter's own serial differs, the records do not: the old file again.
        assert_eq!(next_serial(old.as_bytes(), zone(7, "a\tIN\tA\t10.1.0.1").as_bytes()).unwrap(), old.as_bytes());
        // Other records: the next serial, whatever the emitter's.
        let next = next_serial(old.as_bytes(), zone(1_512_642_381, "a\tIN\tA\t10.1.0.2").as_bytes()).unwrap();
        assert_eq!(String::from_utf8(next).unwrap(), zone(1_688_501_809, "a\tIN\tA\t10.1.0.2"));
        // RFC 1982: the serial wraps past 2^32 - 1, skipping 0.
        let top = zone(u32::MAX, "a\tIN\tA\t10.1.0.1");
        let changed = zone(5, "a\tIN\tA\t10.1.0.2");
        assert_eq!(String::from_utf8(next_serial(top.as_bytes(), changed.as_bytes()).unwrap()).unwrap(), zone(1, "a\tIN\tA\t10.1.0.2"));
        assert!(next_serial(b"no serial", old.as_bytes()).is_none());
    }

    #[test]
    fn serials_follow_the_records_and_stay_in_range() {
        let rec = |data: &str| vec![Record { owner: "a".into(), kind: "A", data: data.into() }];
        let a = serial("local", "ns.local.", "hostmaster.local.", &rec("10.1.0.1"));
        assert_eq!(a, serial("local", "ns.local.", "hostmaster.local.", &rec("10.1.0.1")));
        assert_ne!(a, serial("local", "ns.local.", "hostmaster.local.", &rec("10.1.0.2")));
        assert_ne!(a, serial("ib", "ns.local.", "hostmaster.local.", &rec("10.1.0.1")));
        for i in 0..1000 {
            let s = serial("z", "n.", "h.", &rec(&i.to_string()));
            assert!((1..=0x7FFF_FFFF).contains(&s));
        }
    }
}
