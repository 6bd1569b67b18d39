//! Address arithmetic on the model's networks (no parsing, no storage).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The address as an integer (IPv4 in the low 32 bits).
pub fn ip_num(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address of the same family as `like` with number `n`.
pub fn ip_from_num(like: IpAddr, n: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// The first and last usable host addresses of `net`: for IPv4 networks larger than /31 the
/// network and broadcast addresses are excluded; for IPv6 the subnet-router address is.
pub fn usable_range(net: &IpNet) -> (u128, u128) {
    let first = ip_num(net.network());
    let last = ip_num(net.broadcast());
    match net {
        IpNet::V4(v4) if v4.prefix_len() < 31 => (first + 1, last - 1),
        IpNet::V6(v6) if v6.prefix_len() < 128 => (first + 1, last),
        _ => (first, last),
    }
}

/// The first usable host address of `net` (where a frontend usually sits).
pub fn first_usable(net: &IpNet) -> Option<IpAddr> {
    let (first, last) = usable_range(net);
    (first <= last).then(|| ip_from_num(net.addr(), first))
}

/// Whether `ip` is a usable host address of `net`.
pub fn is_usable(net: &IpNet, ip: IpAddr) -> bool {
    if ip.is_ipv4() != net.addr().is_ipv4() {
        return false;
    }
    let (first, last) = usable_range(net);
    (first..=last).contains(&ip_num(ip))
}
