//! Attributes at five scopes and how a host's attributes are resolved.
//!
//! Precedence, lowest first: `global < os < appliance < rack < builtin < host` (Rocks 6/7's
//! resolve chain, with rack attributes actually selected). Built-ins are derived from the
//! facts (`hostname`, `rack`, `rank`, `appliance`, `membership`, `hostaddr`, `ksmac`, `arch`,
//! `os`, `distribution`, `cpus`, `graph`, `root`, `Kickstart_Private*`): they override stored
//! global/os/appliance/rack values, so a stale `arch` set for a whole appliance cannot
//! contradict the host row, but a host-scope attribute overrides a built-in, which is the
//! escape hatch for one odd host.

use std::collections::BTreeMap;
use std::fmt;

use rusqlite::{Connection, OptionalExtension, params};

use super::Db;
use super::appliance::load_appliance;
use super::error::{FactsError, Result};
use super::hosts::{HOST_COLUMNS, host_from_row, host_id};
use super::network::check_name;

/// What secret values look like in listings.
pub const REDACTED: &str = "********";

/// Where an attribute's value came from, in precedence order (later wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Global,
    Os,
    Appliance,
    Rack,
    Builtin,
    Host,
}

/// Where an attribute is stored: a scope and the os, appliance, rack or host it applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Global,
    Os(String),
    Appliance(String),
    Rack(u32),
    Host(String),
}

/// One attribute of a host after resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAttr {
    pub key: String,
    pub value: String,
    /// The scope whose value won.
    pub scope: Scope,
    pub secret: bool,
}

/// One stored attribute, as `attr list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttr {
    pub target: Target,
    pub key: String,
    pub value: String,
    pub secret: bool,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Os => "os",
            Scope::Appliance => "appliance",
            Scope::Rack => "rack",
            Scope::Builtin => "builtin",
            Scope::Host => "host",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Target {
    /// `("global", None)`, `("os", Some("linux"))`, `("rack", Some("3"))`, ...
    pub fn parse(scope: &str, name: Option<&str>) -> Result<Target> {
        let need = |what: &'static str| {
            name.map(str::to_string).ok_or_else(|| FactsError::bad_value("attribute scope", scope, format!("`{scope}` needs {what}")))
        };
        Ok(match scope {
            "global" => Target::Global,
            "os" => Target::Os(need("an OS name")?),
            "appliance" => Target::Appliance(need("an appliance name")?),
            "rack" => Target::Rack(
                need("a rack number")?
                    .parse()
                    .map_err(|_| FactsError::bad_value("rack", name.unwrap_or(""), "must be a non-negative integer"))?,
            ),
            "host" => Target::Host(need("a host name")?),
            other => return Err(FactsError::bad_value("attribute scope", other, "use global, os, appliance, rack or host")),
        })
    }

    pub fn scope(&self) -> Scope {
        match self {
            Target::Global => Scope::Global,
            Target::Os(_) => Scope::Os,
            Target::Appliance(_) => Scope::Appliance,
            Target::Rack(_) => Scope::Rack,
            Target::Host(_) => Scope::Host,
        }
    }

    /// The `attributes.target` column: `''`, the OS, appliance or host name, the rack number.
    fn column(&self) -> String {
        match self {
            Target::Global => String::new(),
            Target::Os(s) | Target::Appliance(s) | Target::Host(s) => s.clone(),
            Target::Rack(r) => r.to_string(),
        }
    }

    fn from_columns(scope: &str, target: String) -> Target {
        match scope {
            "os" => Target::Os(target),
            "appliance" => Target::Appliance(target),
            "rack" => Target::Rack(target.parse().unwrap_or(0)),
            "host" => Target::Host(target),
            _ => Target::Global,
        }
    }
}

impl ResolvedAttr {
    /// The value, or [`REDACTED`] when secret.
    pub fn redacted(&self) -> &str {
        if self.secret { REDACTED } else { &self.value }
    }
}

impl StoredAttr {
    /// The value, or [`REDACTED`] when secret.
    pub fn redacted(&self) -> &str {
        if self.secret { REDACTED } else { &self.value }
    }
}

impl Db {
    /// Set (or replace) attribute `key` at `target`. A secret stays secret when its value is
    /// replaced without `secret` (unset it to make it public).
    pub fn set_attr(&mut self, target: &Target, key: &str, value: &str, secret: bool) -> Result<()> {
        self.write("set attribute", |tx| {
            check_key(key)?;
            check_target(tx, target)?;
            if let Some(b) = shadowing_builtin(tx, target, key)? {
                return Err(FactsError::ShadowedByBuiltin {
                    key: key.to_string(),
                    scope: target.scope().as_str(),
                    from: b.from,
                    fix: b.fix,
                });
            }
            tx.execute(
                "INSERT INTO attributes (scope, target, key, value, secret) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (scope, target, key) DO UPDATE SET value = excluded.value, secret = secret OR excluded.secret",
                params![target.scope().as_str(), target.column(), key, value, secret],
            )?;
            Ok(())
        })
    }

    /// Remove attribute `key` at `target`; `false` when it was not set.
    pub fn unset_attr(&mut self, target: &Target, key: &str) -> Result<bool> {
        self.write("unset attribute", |tx| {
            check_target(tx, target)?;
            let n = tx.execute(
                "DELETE FROM attributes WHERE scope = ?1 AND target = ?2 AND key = ?3",
                params![target.scope().as_str(), target.column(), key],
            )?;
            Ok(n > 0)
        })
    }

    /// Stored attributes at `target` (all when `None`), by scope, target and key.
    pub fn attrs(&self, target: Option<&Target>) -> Result<Vec<StoredAttr>> {
        self.read("list attributes", |c| {
            let (scope, column) = target.map(|t| (t.scope().as_str(), t.column())).unzip();
            let mut stmt = c.prepare(
                "SELECT scope, target, key, value, secret FROM attributes WHERE ?1 IS NULL OR (scope = ?1 AND target = ?2)
                 ORDER BY CASE scope WHEN 'global' THEN 0 WHEN 'os' THEN 1 WHEN 'appliance' THEN 2 WHEN 'rack' THEN 3 ELSE 4 END, target, key",
            )?;
            let rows = stmt
                .query_map(params![scope, column], |r| {
                    let scope: String = r.get(0)?;
                    Ok(StoredAttr { target: Target::from_columns(&scope, r.get(1)?), key: r.get(2)?, value: r.get(3)?, secret: r.get(4)? })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// A host's resolved attributes, sorted by key, each with the scope that won.
    pub fn host_attrs(&self, host: &str) -> Result<Vec<ResolvedAttr>> {
        self.read("resolve attributes", |c| resolve(c, host))
    }

    /// Every named host with its appliance and resolved attributes: what compiling thousands
    /// of hosts needs. A handful of queries in one transaction, then resolution in memory,
    /// so the cost grows linearly with the number of hosts.
    #[allow(clippy::type_complexity)]
    pub fn compile_inputs(&self, names: &[String]) -> Result<Vec<(super::hosts::Host, super::Appliance, BTreeMap<String, String>)>> {
        self.read("read hosts", |c| {
            let tx = c.unchecked_transaction()?;
            let mut hosts: std::collections::HashMap<String, super::hosts::Host> = std::collections::HashMap::new();
            {
                let mut stmt = tx.prepare(&format!("SELECT {HOST_COLUMNS} FROM host_view"))?;
                for h in stmt.query_map([], host_from_row)? {
                    let h = h?;
                    hosts.insert(h.name.clone(), h);
                }
            }
            // Stored attributes grouped by (scope, target).
            let mut stored: std::collections::HashMap<(String, String), Vec<(String, String)>> = std::collections::HashMap::new();
            {
                let mut stmt = tx.prepare("SELECT scope, target, key, value FROM attributes")?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    stored.entry((r.get(0)?, r.get(1)?)).or_default().push((r.get(2)?, r.get(3)?));
                }
            }
            let shared = super::builtin::network_builtins(&tx)?;
            let mut apps: BTreeMap<String, super::Appliance> = BTreeMap::new();
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                let h = hosts.remove(name).ok_or_else(|| FactsError::UnknownHost(name.clone()))?;
                if !apps.contains_key(&h.appliance) {
                    apps.insert(h.appliance.clone(), load_appliance(&tx, &h.appliance)?.1);
                }
                let app = apps[&h.appliance].clone();
                let mut attrs = BTreeMap::new();
                let rack = h.rack.to_string();
                for key in [("global", ""), ("os", h.os.as_str()), ("appliance", h.appliance.as_str()), ("rack", rack.as_str())] {
                    if let Some(kv) = stored.get(&(key.0.to_string(), key.1.to_string())) {
                        attrs.extend(kv.iter().cloned());
                    }
                }
                attrs.extend(shared.iter().map(|(k, v)| (k.to_string(), v.clone())));
                attrs.extend(super::builtin::host_builtins(&h, &app).into_iter().map(|(k, v)| (k.to_string(), v)));
                if let Some(kv) = stored.get(&("host".to_string(), h.name.clone())) {
                    attrs.extend(kv.iter().cloned());
                }
                out.push((h, app, attrs));
            }
            tx.commit()?;
            Ok(out)
        })
    }

    /// A host's resolved attributes as a map (what the compiler consumes).
    pub fn attrs_map(&self, host: &str) -> Result<BTreeMap<String, String>> {
        Ok(self.host_attrs(host)?.into_iter().map(|a| (a.key, a.value)).collect())
    }
}

impl Db {
    /// The built-in that always overrides attribute `key` stored at `target`, if any: every
    /// built-in at the global, os, appliance and rack scopes, and the cluster-wide lists at
    /// the host scope too. `attr list` marks such stored values; `attr set` refuses them.
    pub fn shadowing_builtin(&self, target: &Target, key: &str) -> Result<Option<&'static super::builtin::Builtin>> {
        self.read("check attribute", |c| shadowing_builtin(c, target, key))
    }
}

fn shadowing_builtin(conn: &Connection, target: &Target, key: &str) -> Result<Option<&'static super::builtin::Builtin>> {
    let Some(b) = super::builtin::builtin(key) else { return Ok(None) };
    if target.scope() == Scope::Host && b.host_scope_wins {
        return Ok(None);
    }
    Ok(super::builtin::derived(conn, b)?.then_some(b))
}

/// Attribute names: non-empty, no whitespace or control characters.
pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control() || c == '=') {
        return Err(FactsError::bad_value("attribute name", key, "must be non-empty without spaces or `=`"));
    }
    Ok(())
}

fn check_target(conn: &Connection, target: &Target) -> Result<()> {
    match target {
        Target::Global | Target::Rack(_) => Ok(()),
        Target::Os(os) => check_name("os", os),
        Target::Appliance(a) => load_appliance(conn, a).map(|_| ()),
        Target::Host(h) => host_id(conn, h).map(|_| ()),
    }
}

fn resolve(conn: &Connection, host: &str) -> Result<Vec<ResolvedAttr>> {
    let sql = format!("SELECT {HOST_COLUMNS} FROM host_view WHERE name = ?1");
    let h =
        conn.prepare_cached(&sql)?.query_row([host], host_from_row).optional()?.ok_or_else(|| FactsError::UnknownHost(host.to_string()))?;
    resolve_host(conn, &h)
}

/// The resolved attributes of a host already read from `host_view`.
pub(crate) fn resolve_host(conn: &Connection, h: &super::hosts::Host) -> Result<Vec<ResolvedAttr>> {
    let mut resolved: BTreeMap<String, ResolvedAttr> = BTreeMap::new();
    let mut put = |key: String, value: String, scope: Scope, secret: bool| {
        if resolved.get(&key).is_none_or(|old| old.scope <= scope) {
            resolved.insert(key.clone(), ResolvedAttr { key, value, scope, secret });
        }
    };
    let mut stmt = conn.prepare_cached(
        "SELECT scope, key, value, secret FROM attributes
         WHERE scope = 'global' OR (scope = 'os' AND target = ?1) OR (scope = 'appliance' AND target = ?2)
            OR (scope = 'rack' AND target = ?3) OR (scope = 'host' AND target = ?4)",
    )?;
    let mut rows = stmt.query(params![h.os, h.appliance, h.rack.to_string(), h.name])?;
    while let Some(r) = rows.next()? {
        let scope: String = r.get(0)?;
        let scope = match scope.as_str() {
            "global" => Scope::Global,
            "os" => Scope::Os,
            "appliance" => Scope::Appliance,
            "rack" => Scope::Rack,
            _ => Scope::Host,
        };
        put(r.get(1)?, r.get(2)?, scope, r.get(3)?);
    }
    for (key, value) in super::builtin::builtins(conn, h)? {
        put(key.to_string(), value, Scope::Builtin, false);
    }
    Ok(resolved.into_values().collect())
}

#[cfg(test)]
mod tests;
