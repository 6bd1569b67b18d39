//! Attributes stored at five scopes (global, os, appliance, rack, host): setting, unsetting
//! and listing them. How a host's attributes are made from them (precedence, built-ins) is
//! [`crate::resolver`]'s alone.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

pub use crate::resolver::{ResolvedAttr, Scope};

use super::Db;
use super::appliance::load_appliance;
use super::error::{FactsError, Result};
use super::hosts::host_id;
use super::network::check_name;

/// What secret values look like in listings.
pub const REDACTED: &str = "********";

/// Where an attribute is stored: a scope and the os, appliance, rack or host it applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Global,
    Os(String),
    Appliance(String),
    Rack(u32),
    Host(String),
}

/// One stored attribute, as `attr list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttr {
    pub target: Target,
    pub key: String,
    pub value: String,
    pub secret: bool,
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

    /// What the target names (`None` for the global scope): the OS, appliance or host name,
    /// the rack number.
    pub fn name(&self) -> Option<String> {
        Some(self.column()).filter(|_| *self != Target::Global)
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
            // A typo in the appliance or host is an error, not an empty list.
            if let Some(t @ (Target::Appliance(_) | Target::Host(_))) = target {
                check_target(c, t)?;
            }
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

    /// A host's resolved attributes (stored and built-in; see [`crate::resolver`]), sorted
    /// by key, each with the scope that won.
    pub fn host_attrs(&self, host: &str) -> Result<Vec<ResolvedAttr>> {
        let cluster = std::sync::Arc::new(self.cluster()?);
        let i = cluster.hosts.binary_search_by(|h| h.name.as_str().cmp(host)).map_err(|_| FactsError::UnknownHost(host.to_string()))?;
        let resolver = crate::resolver::Resolver::new(cluster, crate::resolver::Given::default());
        Ok(resolver.host(i, &BTreeMap::new()).resolved(false))
    }

    /// A host's resolved attributes as a map (what the compiler consumes).
    pub fn attrs_map(&self, host: &str) -> Result<BTreeMap<String, String>> {
        Ok(self.host_attrs(host)?.into_iter().map(|a| (a.key, a.value)).collect())
    }
}

impl Db {
    /// The built-in that always overrides attribute `key` stored at `target`, if any: every
    /// built-in at the global, os, appliance and rack scopes (a host-scope value overrides a
    /// built-in for its host). `attr list` marks such stored values; `attr set` refuses them.
    pub fn shadowing_builtin(&self, target: &Target, key: &str) -> Result<Option<&'static crate::resolver::builtin::Builtin>> {
        self.read("check attribute", |c| shadowing_builtin(c, target, key))
    }
}

fn shadowing_builtin(conn: &Connection, target: &Target, key: &str) -> Result<Option<&'static crate::resolver::builtin::Builtin>> {
    let Some(b) = crate::resolver::builtin::builtin(key) else { return Ok(None) };
    if target.scope() == Scope::Host {
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

#[cfg(test)]
mod tests;
