//! Typed errors of the facts database, each with a stable code and a help text.

use rusqlite::ErrorCode;

use crate::diag::Diagnostic;

/// Everything that can go wrong reading or changing the facts database.
///
/// Every variant has a stable [`code`](FactsError::code) such as `facts::duplicate-mac` and a
/// [`help`](FactsError::help) text; [`to_diagnostic`](FactsError::to_diagnostic) turns it into
/// the crate's [`Diagnostic`]. A failed call leaves the database unchanged: every write runs in
/// one transaction that is rolled back on error.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("MAC address `{mac}` is already used by host `{owner}`")]
    DuplicateMac { mac: String, owner: String },
    #[error("IP address `{ip}` is already used on network `{network}` by host `{owner}`")]
    DuplicateIp { ip: String, network: String, owner: String },
    /// A name that must be unique is taken: `kind` is `host`, `appliance`, `network`,
    /// `DNS zone`, `alias`, `interface` or `distribution`.
    #[error("{kind} `{name}` already exists")]
    DuplicateName { kind: &'static str, name: String },
    /// The name differs from a host name or alias only in case (DNS ignores case).
    #[error("{kind} `{name}` is taken: `{existing}` exists, and names are unique ignoring case")]
    NameTakenIgnoringCase { kind: &'static str, name: String, existing: String },
    #[error("IP address `{ip}` is outside network `{network}` ({cidr})")]
    IpOutsideNetwork { ip: String, network: String, cidr: String },
    #[error("malformed MAC address `{0}`")]
    BadMac(String),
    #[error("malformed IP address `{value}`: {reason}")]
    BadIp { value: String, reason: String },
    /// `suggestion`: the closest appliance name, for a typo.
    #[error("unknown appliance `{name}`")]
    UnknownAppliance { name: String, suggestion: Option<String> },
    #[error("unknown network `{0}`")]
    UnknownNetwork(String),
    #[error("unknown host `{0}`")]
    UnknownHost(String),
    /// Any other name that does not exist: an interface, a distribution, a boot action.
    #[error("unknown {kind} `{name}`")]
    UnknownName { kind: &'static str, name: String },
    #[error("bad SQL `{sql}`: {message}")]
    /// `at`: the byte range in `sql` (the user's text) that SQLite points at, when it does.
    BadSql { sql: String, message: String, at: Option<(usize, usize)> },
    #[error("CSV line {line}: {reason}")]
    Csv {
        line: usize,
        reason: String,
        #[source]
        source: Option<Box<FactsError>>,
    },
    /// Several errors of one call (every bad row of a CSV import); nothing was changed.
    #[error("{} errors; nothing was changed", .0.len())]
    Many(Vec<FactsError>),
    #[error("query rejected: {reason}: `{sql}`")]
    ReadonlyQuery { sql: String, reason: String },
    /// A value of the wrong shape: a rack that is not a number, an empty attribute name, ...
    #[error("invalid {what} `{value}`: {reason}")]
    BadValue { what: &'static str, value: String, reason: String },
    #[error("no free IP address left in network `{0}`")]
    NoFreeAddress(String),
    /// `network set --cidr`: addresses that have no place in the new CIDR.
    #[error("network `{network}` cannot move to {cidr}: {} address(es) cannot move: {}", blocked.len(), blocked.join("; "))]
    CannotRenumber { network: String, cidr: String, blocked: Vec<String> },
    /// Two networks would share addresses (one address could belong to two hosts).
    #[error("network `{network}` ({cidr}) would overlap network `{other}` ({other_cidr})")]
    NetworksOverlap { network: String, cidr: String, other: String, other_cidr: String },
    /// `network remove` of a network still in use.
    #[error("network `{network}` is in use by {}", users.join(", "))]
    NetworkInUse { network: String, users: Vec<String> },
    /// `attr set` of a key that a built-in derived from the facts always overrides there.
    #[error("attribute `{key}` set at the {scope} scope would never take effect: the built-in `{key}` ({from}) always wins")]
    ShadowedByBuiltin { key: String, scope: &'static str, from: &'static str, fix: &'static str },
    /// A command that only reads (or changes existing facts) found no database file.
    #[error("no cluster database at `{0}`")]
    NoDatabase(String),
    #[error("database `{db}` has schema version {found}, this build knows versions up to {supported}")]
    SchemaVersion { db: String, found: i64, supported: i64 },
    #[error("database `{db}`: {op}: {source}")]
    Sqlite {
        db: String,
        op: String,
        #[source]
        source: rusqlite::Error,
    },
}

/// Shorthand used throughout the facts module.
pub type Result<T, E = FactsError> = std::result::Result<T, E>;

impl FactsError {
    /// The stable code, e.g. `facts::duplicate-mac`.
    pub fn code(&self) -> &'static str {
        match self {
            FactsError::DuplicateMac { .. } => "facts::duplicate-mac",
            FactsError::DuplicateIp { .. } => "facts::duplicate-ip",
            FactsError::DuplicateName { .. } | FactsError::NameTakenIgnoringCase { .. } => "facts::duplicate-name",
            FactsError::IpOutsideNetwork { .. } => "facts::ip-outside-network",
            FactsError::BadMac(_) => "facts::bad-mac",
            FactsError::BadIp { .. } => "facts::bad-ip",
            FactsError::UnknownAppliance { .. } => "facts::unknown-appliance",
            FactsError::UnknownNetwork(_) => "facts::unknown-network",
            FactsError::UnknownHost(_) => "facts::unknown-host",
            FactsError::UnknownName { .. } => "facts::unknown-name",
            FactsError::BadSql { .. } => "facts::bad-sql",
            FactsError::Csv { .. } => "facts::csv",
            FactsError::Many(all) => all.first().map_or("facts::csv", FactsError::code),
            FactsError::ReadonlyQuery { .. } => "facts::readonly-query",
            FactsError::BadValue { .. } => "facts::bad-value",
            FactsError::NoFreeAddress(_) => "facts::no-free-address",
            FactsError::CannotRenumber { .. } => "facts::cannot-renumber",
            FactsError::NetworksOverlap { .. } => "facts::networks-overlap",
            FactsError::NetworkInUse { .. } => "facts::network-in-use",
            FactsError::NoDatabase(_) => "facts::no-database",
            FactsError::ShadowedByBuiltin { .. } => "facts::shadowed-by-builtin",
            FactsError::SchemaVersion { .. } => "facts::schema-version",
            FactsError::Sqlite { .. } => "facts::sqlite",
        }
    }

    /// How to fix it, in one sentence.
    pub fn help(&self) -> String {
        match self {
            FactsError::DuplicateMac { .. } => "each MAC address belongs to one interface; remove the old interface first".into(),
            FactsError::DuplicateIp { .. } => "pick a free address, or leave the IP empty where an address is allocated for you".into(),
            FactsError::DuplicateName { kind, .. } | FactsError::NameTakenIgnoringCase { kind, .. } => {
                format!("choose another {kind} name or remove the existing one")
            }
            FactsError::IpOutsideNetwork { cidr, .. } => format!("use a host address inside `{cidr}` (not its network or broadcast address)"),
            FactsError::BadMac(_) => "write six hex bytes such as `52:54:00:12:34:56`".into(),
            FactsError::BadIp { .. } => "write an address such as `10.1.255.254` or a network such as `10.1.0.0/16`".into(),
            FactsError::UnknownAppliance { suggestion: Some(s), .. } => format!("did you mean `{s}`? (`appliance list` lists them)"),
            FactsError::UnknownAppliance { .. } => "list appliances with `appliance list` or add one with `appliance add`".into(),
            FactsError::UnknownNetwork(_) => "list networks with `network list` or add one with `network add`".into(),
            FactsError::UnknownHost(_) => "list hosts with `host list`".into(),
            FactsError::UnknownName { kind, .. } => format!("check the {kind} name for typos"),
            FactsError::BadSql { .. } => "the expression is SQL over the view `host_view` (columns name, appliance, rack, rank, cpus, arch, os, distribution, boot, ip, mac, network, device, zone, comment)".into(),
            FactsError::Csv { source: Some(inner), .. } => inner.help(),
            FactsError::Many(_) => "fix every row listed and import the file again: the import is all or nothing".into(),
            FactsError::Csv { .. } => "the header is `name,appliance,rack,rank,mac,ip,network,interface,cpus`; quote fields containing commas with \"".into(),
            FactsError::ReadonlyQuery { .. } => "pass one `SELECT` or `WITH` statement whose first column is a host name".into(),
            FactsError::BadValue { .. } => "check the value's spelling and range".into(),
            FactsError::NoFreeAddress(_) => "add a larger network or free some addresses".into(),
            FactsError::CannotRenumber { .. } => "give the new places with `--gateway IP` and `--dns IP,...`, choose a larger network, or move the listed hosts off it first (`host set NAME --network OTHER`, `host remove NAME`); nothing was changed".into(),
            FactsError::NetworksOverlap { .. } => "networks must not share addresses: pick a CIDR outside the other network, or renumber or remove that one first".into(),
            FactsError::NetworkInUse { network, .. } if network == "private" => "renumber the cluster's network instead: `network set private --cidr CIDR --gateway IP`".into(),
            FactsError::NetworkInUse { .. } => "remove or move what uses it first (`interface remove`, `host set NAME --network OTHER`, `server remove`)".into(),
            FactsError::ShadowedByBuiltin { fix, .. } => format!("change the fact instead: {fix}"),
            FactsError::NoDatabase(_) => "create it with `rocks-compile init` (or `host import`, `host add`), or point at the database with `--db PATH` or the environment variable `ROCKS_COMPILE_DB`".into(),
            FactsError::SchemaVersion { .. } => "use a newer rocks-compile, or point at another database file".into(),
            FactsError::Sqlite { .. } => "check that the database file is readable and writable and not corrupt".into(),
        }
    }

    /// The error as a crate [`Diagnostic`] (no spans: facts errors have no source file).
    pub fn to_diagnostic(&self) -> Diagnostic {
        Diagnostic::error(self.code(), self.to_string()).help(self.help())
    }

    /// Fill in which database and operation a low-level SQLite error came from.
    pub(crate) fn in_context(self, db_path: &str, operation: &str) -> FactsError {
        match self {
            FactsError::Sqlite { db, op, source } => FactsError::Sqlite {
                db: if db.is_empty() { db_path.to_string() } else { db },
                op: if op.is_empty() { operation.to_string() } else { op },
                source,
            },
            other => other,
        }
    }

    pub(crate) fn bad_value(what: &'static str, value: impl Into<String>, reason: impl Into<String>) -> FactsError {
        FactsError::BadValue { what, value: value.into(), reason: reason.into() }
    }
}

impl FactsError {
    /// The database is locked or busy (another writer held it past the busy timeout): worth
    /// retrying later, unlike every other failure.
    pub fn is_busy(&self) -> bool {
        matches!(self, FactsError::Sqlite { source, .. }
            if matches!(source.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)))
    }
}

/// SQLite errors map to [`FactsError::Sqlite`], except constraint failures, which are the
/// backstop behind the checks done in Rust and map to the matching typed error.
impl From<rusqlite::Error> for FactsError {
    fn from(e: rusqlite::Error) -> FactsError {
        if let rusqlite::Error::SqliteFailure(f, Some(msg)) = &e
            && f.code == ErrorCode::ConstraintViolation
            && let Some(typed) = constraint_error(msg)
        {
            return typed;
        }
        FactsError::Sqlite { db: String::new(), op: String::new(), source: e }
    }
}

fn constraint_error(msg: &str) -> Option<FactsError> {
    let other = || "another host".to_string();
    let unknown = || "?".to_string();
    if msg.contains("interfaces.mac") {
        Some(FactsError::DuplicateMac { mac: unknown(), owner: other() })
    } else if msg.contains("interfaces.network_id, interfaces.ip") {
        Some(FactsError::DuplicateIp { ip: unknown(), network: unknown(), owner: other() })
    } else if msg.contains("hosts.name") {
        Some(FactsError::DuplicateName { kind: "host", name: unknown() })
    } else if msg.contains("ip-outside-network") {
        Some(FactsError::IpOutsideNetwork { ip: unknown(), network: unknown(), cidr: unknown() })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_help_is_present() {
        let e = FactsError::DuplicateMac { mac: "52:54:00:00:00:01".into(), owner: "compute-0-0".into() };
        assert_eq!(e.code(), "facts::duplicate-mac");
        assert_eq!(e.to_string(), "MAC address `52:54:00:00:00:01` is already used by host `compute-0-0`");
        let d = e.to_diagnostic();
        assert_eq!(d.code, "facts::duplicate-mac");
        assert!(d.help.is_some());
    }

    #[test]
    fn constraint_messages_map_to_typed_errors() {
        assert_eq!(constraint_error("UNIQUE constraint failed: interfaces.mac").unwrap().code(), "facts::duplicate-mac");
        assert_eq!(
            constraint_error("UNIQUE constraint failed: interfaces.network_id, interfaces.ip").unwrap().code(),
            "facts::duplicate-ip"
        );
        assert_eq!(constraint_error("ip-outside-network").unwrap().code(), "facts::ip-outside-network");
        assert!(constraint_error("CHECK constraint failed: mtu").is_none());
    }
}

#[cfg(test)]
mod busy_tests {
    use super::*;

    #[test]
    fn busy_and_locked_are_told_apart_from_other_failures() {
        let sqlite = |code| FactsError::from(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None));
        assert!(sqlite(rusqlite::ffi::SQLITE_BUSY).is_busy());
        assert!(sqlite(rusqlite::ffi::SQLITE_LOCKED).is_busy());
        assert!(!sqlite(rusqlite::ffi::SQLITE_CORRUPT).is_busy());
        assert!(!FactsError::NoFreeAddress("private".into()).is_busy());
    }
}
