//! The name a host's BMC is published under in DNS, `hosts` and DHCP: by default
//! `<host>-bmc`, else what the attribute [`BMC_NAME_ATTR`] (any scope, e.g. global
//! `bmc_name_pattern = "{host}-ipmi"`) makes of the host's name: `{host}` is replaced by it,
//! and every character of the result that is not a letter, digit or `-` becomes `-`.

use crate::model::{Cluster, HostFacts};

/// The attribute that names BMCs.
pub const BMC_NAME_ATTR: &str = "bmc_name_pattern";

/// The pattern when no scope sets [`BMC_NAME_ATTR`].
pub const DEFAULT_BMC_NAME: &str = "{host}-bmc";

/// The placeholder of the pattern.
pub const HOST_PLACEHOLDER: &str = "{host}";

/// The name of `host`'s BMC (whether or not it has one).
pub fn bmc_name(cluster: &Cluster, host: &HostFacts) -> String {
    let pattern = crate::resolver::stored_attr(cluster, host, BMC_NAME_ATTR).map_or(DEFAULT_BMC_NAME, |(v, _)| v);
    pattern.replace(HOST_PLACEHOLDER, &host.name).chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_pattern() {
        let mut c = Cluster::default();
        let h = HostFacts::new("compute-0-0", "compute");
        assert_eq!(bmc_name(&c, &h), "compute-0-0-bmc");
        c.attributes.entry(("global".into(), String::new())).or_default().insert(BMC_NAME_ATTR.into(), ("ipmi.{host}".into(), false));
        assert_eq!(bmc_name(&c, &h), "ipmi-compute-0-0");
    }
}
