//! MAC and IP addresses: parsing, the sortable `ip_key`, usable host ranges and the
//! Rocks "count down from the top of the network" allocator.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use macaddr::MacAddr6;

use super::error::{FactsError, Result};
pub use crate::model::addr::{ip_from_num, ip_num, is_usable, usable_range};

/// Parse a MAC address (`52:54:00:12:34:56`, `52-54-00-12-34-56`, `5254.0012.3456`, any
/// case) into the stored form: lower-case, colon-separated.
pub fn parse_mac(text: &str) -> Result<String> {
    let mac: MacAddr6 = text.trim().parse().map_err(|_| FactsError::BadMac(text.to_string()))?;
    Ok(format_mac(mac.as_bytes()))
}

/// Format six bytes as `52:54:00:12:34:56`.
pub fn format_mac(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Parse an IPv4 or IPv6 address.
pub fn parse_ip(text: &str) -> Result<IpAddr> {
    text.trim().parse().map_err(|e: std::net::AddrParseError| FactsError::BadIp { value: text.to_string(), reason: e.to_string() })
}

/// Parse a network in CIDR form; host bits must be zero (`10.1.0.0/16`, not `10.1.1.1/16`).
pub fn parse_cidr(text: &str) -> Result<IpNet> {
    let bad = |reason: String| FactsError::BadIp { value: text.to_string(), reason };
    let net: IpNet = text.trim().parse().map_err(|e: ipnet::AddrParseError| bad(e.to_string()))?;
    if net.addr() != net.network() {
        return Err(bad(format!("host bits are set; the network is `{}`", net.trunc())));
    }
    Ok(net)
}

/// Fixed-width lower-case hex (8 digits for IPv4, 32 for IPv6): text order = address order,
/// which lets the schema's triggers compare addresses.
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{:08x}", u32::from(v4)),
        IpAddr::V6(v6) => format!("{:032x}", u128::from(v6)),
    }
}

/// Hands out the highest free usable address of a network, then the next lower one, ...
/// (Rocks' `IPGenerator` with increment -1, starting below the broadcast address).
#[derive(Debug)]
pub struct Countdown {
    like: IpAddr,
    first: u128,
    /// The next candidate; `None` once the range is exhausted.
    next: Option<u128>,
    taken: HashSet<u128>,
}

impl Countdown {
    /// `taken`: addresses in use or reserved (gateway, DNS servers) in this network.
    pub fn new(net: &IpNet, taken: impl IntoIterator<Item = IpAddr>) -> Countdown {
        let (first, last) = usable_range(net);
        Countdown { like: net.addr(), first, next: Some(last), taken: taken.into_iter().map(ip_num).collect() }
    }

    /// Mark an address as used (for addresses allocated by other means in the same run).
    pub fn take(&mut self, ip: IpAddr) {
        self.taken.insert(ip_num(ip));
    }
}

impl Iterator for Countdown {
    type Item = IpAddr;

    fn next(&mut self) -> Option<IpAddr> {
        while let Some(n) = self.next {
            self.next = if n > self.first { Some(n - 1) } else { None };
            if self.taken.insert(n) {
                return Some(ip_from_num(self.like, n));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_normalise_to_lower_case_colons() {
        assert_eq!(parse_mac("52:54:00:AB:CD:EF").unwrap(), "52:54:00:ab:cd:ef");
        assert_eq!(parse_mac("52-54-00-ab-cd-ef").unwrap(), "52:54:00:ab:cd:ef");
        assert_eq!(parse_mac("5254.00ab.cdef").unwrap(), "52:54:00:ab:cd:ef");
        assert_eq!(parse_mac("52:54:00:ab:cd").unwrap_err().code(), "facts::bad-mac");
        assert_eq!(parse_mac("zz:54:00:ab:cd:ef").unwrap_err().code(), "facts::bad-mac");
    }

    #[test]
    fn cidr_must_be_a_network() {
        assert_eq!(parse_cidr("10.1.0.0/16").unwrap().to_string(), "10.1.0.0/16");
        let e = parse_cidr("10.1.1.1/16").unwrap_err();
        assert_eq!(e.code(), "facts::bad-ip");
        assert!(e.to_string().contains("10.1.0.0/16"), "{e}");
        assert_eq!(parse_cidr("10.1.0.0/33").unwrap_err().code(), "facts::bad-ip");
    }

    #[test]
    fn keys_sort_like_addresses() {
        let a = ip_key("10.1.2.3".parse().unwrap());
        let b = ip_key("10.1.10.3".parse().unwrap());
        assert_eq!(a, "0a010203");
        assert!(a < b);
    }

    #[test]
    fn usable_excludes_network_and_broadcast() {
        let net: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(!is_usable(&net, "10.1.0.0".parse().unwrap()));
        assert!(!is_usable(&net, "10.1.255.255".parse().unwrap()));
        assert!(is_usable(&net, "10.1.255.254".parse().unwrap()));
        assert!(!is_usable(&net, "10.2.0.1".parse().unwrap()));
        assert!(!is_usable(&net, "::1".parse().unwrap()));
    }

    #[test]
    fn countdown_skips_taken_addresses_and_stops() {
        let net: IpNet = "10.9.0.0/29".parse().unwrap();
        let taken = ["10.9.0.5".parse().unwrap(), "10.9.0.6".parse().unwrap()];
        let got: Vec<String> = Countdown::new(&net, taken).map(|ip| ip.to_string()).collect();
        assert_eq!(got, ["10.9.0.4", "10.9.0.3", "10.9.0.2", "10.9.0.1"]);
    }
}
