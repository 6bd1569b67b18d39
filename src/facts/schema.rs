//! The SQLite schema, its migrations (`PRAGMA user_version`) and the default rows.
//!
//! Tables: `appliances`, `hosts`, `networks`, `interfaces`, `aliases`, `attributes`,
//! `distributions`, `bootactions`; view `host_view` (one row per host with its primary
//! interface, the view `host list --where` and `--query` read).
//!
//! IP addresses are stored as text plus an `ip_key` (fixed-width lower-case hex of the
//! address) so that SQL can compare them: `networks.first_key`/`last_key` bound the usable
//! host addresses, and triggers reject an interface whose address is outside its network.

use rusqlite::{Connection, TransactionBehavior, params};

use super::error::{FactsError, Result};

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The address the frontend has on the default private network.
pub const FRONTEND_IP: &str = "10.1.1.1";

const V1: &str = r#"
CREATE TABLE networks (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    cidr        TEXT NOT NULL,
    zone        TEXT NOT NULL UNIQUE,
    mtu         INTEGER NOT NULL DEFAULT 1500 CHECK (mtu BETWEEN 68 AND 65535),
    gateway     TEXT,
    dns_servers TEXT NOT NULL DEFAULT '',
    first_key   TEXT NOT NULL,
    last_key    TEXT NOT NULL CHECK (length(first_key) = length(last_key) AND first_key <= last_key)
);
CREATE TABLE distributions (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    os_release  TEXT NOT NULL,
    url         TEXT NOT NULL
);
CREATE TABLE bootactions (
    name        TEXT PRIMARY KEY,
    kernel      TEXT NOT NULL,
    initrd      TEXT NOT NULL DEFAULT '',
    args        TEXT NOT NULL DEFAULT ''
);
CREATE TABLE appliances (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    graph         TEXT NOT NULL DEFAULT 'default',
    root_node     TEXT NOT NULL,
    kickstartable INTEGER NOT NULL DEFAULT 1 CHECK (kickstartable IN (0, 1)),
    name_policy   TEXT NOT NULL DEFAULT '{appliance}-{rack}-{rank}',
    ip_policy     TEXT NOT NULL DEFAULT 'countdown',
    first_rank    INTEGER NOT NULL DEFAULT 0 CHECK (first_rank >= 0),
    network       TEXT NOT NULL DEFAULT 'private' REFERENCES networks(name)
);
CREATE TABLE hosts (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    appliance_id    INTEGER NOT NULL REFERENCES appliances(id),
    rack            INTEGER NOT NULL DEFAULT 0 CHECK (rack >= 0),
    rank            INTEGER NOT NULL DEFAULT 0 CHECK (rank >= 0),
    cpus            INTEGER NOT NULL DEFAULT 1 CHECK (cpus >= 0),
    arch            TEXT NOT NULL DEFAULT 'x86_64',
    os              TEXT NOT NULL DEFAULT 'linux',
    distribution_id INTEGER NOT NULL REFERENCES distributions(id),
    boot            TEXT NOT NULL DEFAULT 'install' CHECK (boot IN ('install', 'os')),
    install_action  TEXT NOT NULL DEFAULT 'install' REFERENCES bootactions(name),
    run_action      TEXT NOT NULL DEFAULT 'os' REFERENCES bootactions(name),
    comment         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX hosts_appliance_rack ON hosts(appliance_id, rack, rank);
CREATE TABLE interfaces (
    id          INTEGER PRIMARY KEY,
    host_id     INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    device      TEXT NOT NULL,
    mac         TEXT UNIQUE,
    ip          TEXT,
    ip_key      TEXT,
    network_id  INTEGER REFERENCES networks(id),
    is_primary  INTEGER NOT NULL DEFAULT 0 CHECK (is_primary IN (0, 1)),
    UNIQUE (host_id, device),
    UNIQUE (network_id, ip),
    CHECK ((ip IS NULL) = (ip_key IS NULL)),
    CHECK (ip IS NULL OR network_id IS NOT NULL)
);
CREATE UNIQUE INDEX interfaces_one_primary ON interfaces(host_id) WHERE is_primary = 1;
CREATE TRIGGER interfaces_ip_inside_insert BEFORE INSERT ON interfaces
WHEN NEW.ip IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM networks n WHERE n.id = NEW.network_id
      AND length(NEW.ip_key) = length(n.first_key) AND NEW.ip_key BETWEEN n.first_key AND n.last_key)
BEGIN SELECT RAISE(ABORT, 'ip-outside-network'); END;
CREATE TRIGGER interfaces_ip_inside_update BEFORE UPDATE OF ip, ip_key, network_id ON interfaces
WHEN NEW.ip IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM networks n WHERE n.id = NEW.network_id
      AND length(NEW.ip_key) = length(n.first_key) AND NEW.ip_key BETWEEN n.first_key AND n.last_key)
BEGIN SELECT RAISE(ABORT, 'ip-outside-network'); END;
CREATE TABLE aliases (
    id          INTEGER PRIMARY KEY,
    host_id     INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL UNIQUE
);
CREATE TABLE attributes (
    id          INTEGER PRIMARY KEY,
    scope       TEXT NOT NULL CHECK (scope IN ('global', 'os', 'appliance', 'rack', 'host')),
    target      TEXT NOT NULL DEFAULT '',
    key         TEXT NOT NULL CHECK (key <> ''),
    value       TEXT NOT NULL,
    secret      INTEGER NOT NULL DEFAULT 0 CHECK (secret IN (0, 1)),
    UNIQUE (scope, target, key)
);
CREATE TRIGGER hosts_delete_attributes AFTER DELETE ON hosts
BEGIN DELETE FROM attributes WHERE scope = 'host' AND target = OLD.name; END;
CREATE VIEW host_view AS
SELECT h.name AS name, a.name AS appliance, h.rack AS rack, h.rank AS rank, h.cpus AS cpus,
       h.arch AS arch, h.os AS os, d.name AS distribution, h.boot AS boot,
       h.install_action AS install_action, h.run_action AS run_action, h.comment AS comment,
       i.ip AS ip, i.mac AS mac, n.name AS network, i.device AS device, n.zone AS zone
FROM hosts h
JOIN appliances a ON a.id = h.appliance_id
JOIN distributions d ON d.id = h.distribution_id
LEFT JOIN interfaces i ON i.host_id = h.id AND i.is_primary = 1
LEFT JOIN networks n ON n.id = i.network_id;
"#;

/// Install servers (Chiba City's lesson: no host is hard-wired to one management server) and
/// which networks the cluster's DHCP server answers on.
const V2: &str = r#"
CREATE TABLE install_servers (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    ip          TEXT NOT NULL UNIQUE,
    url         TEXT NOT NULL
);
ALTER TABLE networks ADD COLUMN dhcp INTEGER NOT NULL DEFAULT 0 CHECK (dhcp IN (0, 1));
UPDATE networks SET dhcp = 1 WHERE name = 'private';
"#;

/// Values that `init` used to store as global attributes and that now follow the facts
/// (built-in or derived): a copy still holding the old default is dropped, a value a site
/// chose stays.
const V3: &str = r#"
DELETE FROM attributes WHERE scope = 'global' AND target = '' AND (
       (key = 'Kickstart_PrivateInterface' AND value = 'eth0')
    OR (key IN ('Kickstart_PrivateNTPHost', 'Kickstart_PrivateSyslogHost', 'Info_HomeDirSrv', 'Kickstart_PrivateKickstartHost') AND value = '10.1.1.1')
    OR (key = 'Kickstart_InstallURL' AND value = 'http://10.1.1.1/install/rocky/9/BaseOS/x86_64/os')
    OR (key = 'Kickstart_AppStreamURL' AND value = 'http://10.1.1.1/install/rocky/9/AppStream/x86_64/os')
    OR (key = 'Kickstart_CRBURL' AND value = 'http://10.1.1.1/install/rocky/9/CRB/x86_64/os')
    OR (key = 'Kickstart_EPELURL' AND value = 'http://10.1.1.1/install/epel/9/Everything/x86_64')
    OR (key = 'Kickstart_EPELGPGKey' AND value = 'http://10.1.1.1/install/epel/RPM-GPG-KEY-EPEL-9')
    OR (key = 'Kickstart_BootDoneURL' AND value = 'http://10.1.1.1/install/rocks/boot-done')
    OR (key = 'Kickstart_PublicInterface' AND value = 'eth1')
    OR (key = 'Kickstart_PublicAddress' AND value = '192.0.2.10')
    OR (key = 'Kickstart_PublicNetmask' AND value = '255.255.255.0')
    OR (key = 'Kickstart_PublicGateway' AND value = '192.0.2.1')
    OR (key = 'Kickstart_PublicDNSServers' AND value = '192.0.2.53'));
"#;

/// Bring the database up to [`SCHEMA_VERSION`], seeding the defaults when it was empty.
/// Runs in one `BEGIN IMMEDIATE` transaction, so concurrent first opens are safe.
pub(crate) fn migrate(conn: &mut Connection, db_path: &str) -> Result<()> {
    if user_version(conn)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = user_version(&tx)?;
    if !(0..=SCHEMA_VERSION).contains(&found) {
        return Err(FactsError::SchemaVersion { db: db_path.to_string(), found, supported: SCHEMA_VERSION });
    }
    for migration in &MIGRATIONS[found as usize..] {
        tx.execute_batch(migration)?;
    }
    if found == 0 {
        seed(&tx)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

pub(crate) fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// The rows a new database starts with (see [`super::Db::open`]).
fn seed(conn: &Connection) -> Result<()> {
    let private = super::network::NetworkSpec {
        name: "private".into(),
        cidr: "10.1.0.0/16".into(),
        zone: "local".into(),
        mtu: 1500,
        gateway: Some(FRONTEND_IP.into()),
        dns_servers: vec![FRONTEND_IP.into()],
        dhcp: true,
    };
    super::network::insert_network(conn, &private)?;
    // `{server}` is each host's install server; the PXE files add `inst.ks=` (the host's
    // kickstart URL) to the install action's arguments.
    conn.execute(
        "INSERT INTO distributions (name, os_release, url) VALUES ('rocky-9', '9', 'http://{server}/install/distributions/rocky-9')",
        [],
    )?;
    conn.execute(
        "INSERT INTO bootactions (name, kernel, initrd, args) VALUES ('install', 'images/{distribution}/vmlinuz', 'images/{distribution}/initrd.img', ?1)",
        params!["inst.repo={distribution_url} inst.ks.sendmac ip=dhcp"],
    )?;
    conn.execute("INSERT INTO bootactions (name, kernel, initrd, args) VALUES ('os', 'localboot 0', '', '')", [])?;
    for name in ["frontend", "compute", "login", "nas"] {
        super::appliance::insert_appliance(conn, &super::appliance::ApplianceSpec::rocks(name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::facts::FactsError;
    use crate::facts::testutil::temp_db;

    #[test]
    fn triggers_and_constraints_are_the_backstop() {
        let (_dir, mut db) = temp_db();
        db.add_host(&crate::facts::HostSpec::new("compute-0-0", "compute")).unwrap();
        let raw = |db: &mut crate::facts::Db, sql: &'static str| db.write("raw", |tx| Ok(tx.execute(sql, [])?));
        // 10.2.0.1 on `private` (10.1.0.0/16), bypassing the Rust checks.
        let e =
            raw(&mut db, "INSERT INTO interfaces (host_id, device, ip, ip_key, network_id) VALUES (1, 'eth0', '10.2.0.1', '0a020001', 1)")
                .unwrap_err();
        assert_eq!(e.code(), "facts::ip-outside-network", "{e}");
        raw(
            &mut db,
            "INSERT INTO interfaces (host_id, device, mac, ip, ip_key, network_id) VALUES (1, 'eth0', 'aa', '10.1.0.9', '0a010009', 1)",
        )
        .unwrap();
        let e = raw(&mut db, "INSERT INTO interfaces (host_id, device, mac) VALUES (1, 'eth1', 'aa')").unwrap_err();
        assert_eq!(e.code(), "facts::duplicate-mac", "{e}");
        let e =
            raw(&mut db, "INSERT INTO interfaces (host_id, device, ip, ip_key, network_id) VALUES (1, 'eth1', '10.1.0.9', '0a010009', 1)")
                .unwrap_err();
        assert_eq!(e.code(), "facts::duplicate-ip", "{e}");
        let e = raw(&mut db, "UPDATE interfaces SET ip = '10.1.255.255', ip_key = '0a01ffff'").unwrap_err();
        assert_eq!(e.code(), "facts::ip-outside-network", "{e}");
        let e = raw(&mut db, "INSERT INTO hosts (name, appliance_id, distribution_id) VALUES ('x', 99, 1)").unwrap_err();
        assert!(matches!(e, FactsError::Sqlite { .. }), "foreign keys are on: {e}");
    }
}
