//! CSV import and export of hosts, one row per interface.
//!
//! Columns (header row required, any order): `name, appliance, rack, rank, mac, ip, network,
//! interface, cpus, bmc_mac, bmc_ip, bmc_network`; `name` and `appliance` are required columns
//! and cells, others may be empty (rack 0, next rank, 1 CPU, no interface; device `eth0`,
//! network `private` when an IP is given). A later row with a name already in the file adds
//! another interface to that host. The `bmc_*` cells give the host its BMC
//! ([`super::bmc`]; network `mgmt` unless given, an empty `bmc_ip` allocates an address,
//! `none` leaves it without one); export writes the BMC there, on the host's first row. Import is all-or-nothing: the first bad row rejects the file with its line number
//! (the header is line 1) and the database is unchanged.

use std::collections::HashMap;

use super::Db;
use super::bmc::{BmcSpec, allocate_bmc, insert_bmc};
use super::error::{FactsError, Result};
use super::hosts::{HostSpec, insert_host};
use super::interface::{InterfaceSpec, insert_interface};

/// The export header, also the column names import accepts.
pub const COLUMNS: [&str; 12] =
    ["name", "appliance", "rack", "rank", "mac", "ip", "network", "interface", "cpus", "bmc_mac", "bmc_ip", "bmc_network"];

/// The `ip` cell of a host that gets no address (an empty cell allocates one, as `host add`
/// does; `none` is `host add --no-ip`).
pub const NO_IP: &str = "none";

/// One parsed CSV record and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

impl Db {
    /// Import hosts from CSV text; returns how many hosts were added. A host whose `ip` cell
    /// is empty gets the next free address of its network by its appliance's IP policy (as
    /// `host add`); `none` leaves it without one ([`NO_IP`]). All or nothing.
    pub fn import_csv(&mut self, text: &str) -> Result<usize> {
        let records = parse_csv(text)?;
        let Some((header, rows)) = records.split_first() else {
            return Err(csv_error(1, "the file is empty; a header row is required"));
        };
        let index = header_index(header)?;
        self.write("import CSV", |tx| {
            let mut seen: HashMap<String, i64> = HashMap::new();
            // Hosts without an address get one as `host add` gives it, once every address the
            // file names is taken (so an allocated address never collides with a later row).
            let mut allocate: Vec<(usize, String, Option<String>)> = Vec::new();
            // Hosts whose BMC gets an address the same way, after that.
            let mut allocate_bmcs: Vec<(usize, String)> = Vec::new();
            // Every bad row is reported in one run; any of them rolls the whole import back.
            let mut bad: Vec<FactsError> = Vec::new();
            for row in rows {
                let cell = |col: &str| index.get(col).and_then(|&i| row.fields.get(i)).map(|s| s.trim()).unwrap_or("");
                let opt = |col: &str| Some(cell(col).to_string()).filter(|s| !s.is_empty());
                let number = |col: &'static str| -> Result<Option<u32>> {
                    opt(col).map(|v| v.parse().map_err(|_| FactsError::bad_value(col, v, "must be a non-negative integer"))).transpose()
                };
                let bmc = BmcSpec::of(opt("bmc_mac"), opt("bmc_ip"), opt("bmc_network"))
                    .map(|b| BmcSpec { ip: b.ip.filter(|ip| ip != NO_IP), ..b });
                let mut add = || -> Result<Option<(String, i64)>> {
                    if cell("name").is_empty() || cell("appliance").is_empty() {
                        return Err(FactsError::bad_value("row", row.fields.join(","), "`name` and `appliance` must not be empty"));
                    }
                    if let Some(&host_id) = seen.get(cell("name")) {
                        if let Some(bmc) = &bmc {
                            insert_bmc(tx, host_id, cell("name"), bmc)?;
                            // A row of BMC cells only adds no other interface.
                            if ["mac", "ip", "network", "interface"].iter().all(|c| opt(c).is_none()) {
                                return Ok(None);
                            }
                        }
                        let iface = InterfaceSpec {
                            host: cell("name").to_string(),
                            device: opt("interface").unwrap_or_else(|| "eth0".into()),
                            mac: opt("mac"),
                            ip: opt("ip"),
                            network: opt("network"),
                            primary: false,
                        };
                        insert_interface(tx, host_id, &iface)?;
                        return Ok(None);
                    }
                    let spec = HostSpec {
                        name: cell("name").to_string(),
                        appliance: cell("appliance").to_string(),
                        rack: number("rack")?.unwrap_or(0),
                        rank: number("rank")?,
                        cpus: number("cpus")?,
                        mac: opt("mac"),
                        ip: opt("ip").filter(|ip| ip != NO_IP),
                        network: opt("network"),
                        device: opt("interface"),
                        allocate_ip: false,
                        bmc: None,
                    };
                    if opt("ip").is_none() {
                        allocate.push((row.line, spec.name.clone(), spec.network.clone()));
                    }
                    let id = insert_host(tx, &spec)?;
                    if let Some(bmc) = &bmc {
                        insert_bmc(tx, id, &spec.name, bmc)?;
                    }
                    Ok(Some((spec.name.clone(), id)))
                };
                if bmc.as_ref().is_some_and(|b| b.ip.is_none()) && opt("bmc_ip").is_none() {
                    allocate_bmcs.push((row.line, cell("name").to_string()));
                }
                match add() {
                    Ok(Some((name, id))) => {
                        seen.insert(name, id);
                    }
                    Ok(None) => {}
                    Err(e) => bad.push(FactsError::Csv { line: row.line, reason: e.to_string(), source: Some(Box::new(e)) }),
                }
            }
            if bad.is_empty() {
                for (line, name, network) in allocate {
                    if let Err(e) = super::hosts::allocate_primary(tx, &name, network.as_deref()) {
                        bad.push(FactsError::Csv { line, reason: e.to_string(), source: Some(Box::new(e)) });
                    }
                }
                let mut allocators = std::collections::HashMap::new();
                for (line, name) in allocate_bmcs {
                    if let Err(e) = allocate_bmc(tx, &name, &mut allocators) {
                        bad.push(FactsError::Csv { line, reason: e.to_string(), source: Some(Box::new(e)) });
                    }
                }
            }
            match bad.len() {
                0 => Ok(seen.len()),
                1 => Err(bad.remove(0)),
                _ => Err(FactsError::Many(bad)),
            }
        })
    }

    /// Every host as CSV: one row per interface (primary first), hosts by name; the host's
    /// BMC in the `bmc_*` cells of its first row.
    pub fn export_csv(&self) -> Result<String> {
        self.read("export CSV", |c| {
            let mut out = COLUMNS.join(",") + "\n";
            let mut stmt = c.prepare(
                "SELECT h.name, a.name, h.rack, h.rank, i.mac, i.ip, n.name, i.device, h.cpus, b.mac, b.ip, bn.name
                 FROM hosts h JOIN appliances a ON a.id = h.appliance_id
                 LEFT JOIN interfaces i ON i.host_id = h.id AND i.device <> 'bmc' LEFT JOIN networks n ON n.id = i.network_id
                 LEFT JOIN interfaces b ON b.host_id = h.id AND b.device = 'bmc' LEFT JOIN networks bn ON bn.id = b.network_id
                 ORDER BY h.name, i.is_primary DESC, i.device",
            )?;
            let mut rows = stmt.query([])?;
            let mut last_host = String::new();
            let (ip, bmc_mac, bmc_ip, bmc_network) = (5, 9, 10, 11);
            while let Some(r) = rows.next()? {
                let mut cells: Vec<String> = (0..COLUMNS.len())
                    .map(|i| match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => Ok(String::new()),
                        rusqlite::types::ValueRef::Integer(n) => Ok(n.to_string()),
                        v => Ok(v.as_str()?.to_string()),
                    })
                    .collect::<rusqlite::Result<_>>()?;
                if cells[0] != last_host {
                    // A host's first row without an address says so: an empty cell would
                    // allocate one. The same for its BMC, when it has one.
                    let has_bmc = !(cells[bmc_mac].is_empty() && cells[bmc_ip].is_empty() && cells[bmc_network].is_empty());
                    for (col, present) in [(ip, true), (bmc_ip, has_bmc)] {
                        if present && cells[col].is_empty() {
                            cells[col] = NO_IP.to_string();
                        }
                    }
                } else {
                    cells[bmc_mac..].iter_mut().for_each(String::clear);
                }
                last_host.clone_from(&cells[0]);
                out.push_str(&cells.iter().map(|c| quote(c)).collect::<Vec<_>>().join(","));
                out.push('\n');
            }
            Ok(out)
        })
    }
}

fn header_index(header: &Record) -> Result<HashMap<String, usize>> {
    let mut index = HashMap::new();
    for (i, name) in header.fields.iter().enumerate() {
        let name = name.trim().to_ascii_lowercase();
        if !COLUMNS.contains(&name.as_str()) {
            return Err(csv_error(1, format!("unknown column `{name}` (expected {})", COLUMNS.join(", "))));
        }
        if index.insert(name.clone(), i).is_some() {
            return Err(csv_error(1, format!("column `{name}` appears twice")));
        }
    }
    for required in ["name", "appliance"] {
        if !index.contains_key(required) {
            return Err(csv_error(1, format!("the header has no `{required}` column")));
        }
    }
    Ok(index)
}

/// Split CSV text into records: `,` separates, `"…"` quotes (with `""` for a quote and
/// line breaks allowed inside), CRLF or LF ends a record, blank lines are skipped.
pub fn parse_csv(text: &str) -> Result<Vec<Record>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let (mut fields, mut field) = (Vec::new(), String::new());
    let (mut line, mut start) = (1, 1);
    let mut chars = text.chars().peekable();
    let mut quoted_field = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() && !quoted_field => {
                quoted_field = true;
                let open_line = line;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            line += usize::from(c == '\n');
                            field.push(c);
                        }
                        None => return Err(csv_error(open_line, "unterminated quoted field")),
                    }
                }
                if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                    return Err(csv_error(line, "text after a closing quote"));
                }
            }
            '"' => return Err(csv_error(line, "a quote inside an unquoted field (quote the whole field and write `\"\"`)")),
            ',' => {
                fields.push(std::mem::take(&mut field));
                quoted_field = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                if !(fields.len() == 1 && fields[0].is_empty() && !quoted_field) {
                    records.push(Record { line: start, fields: std::mem::take(&mut fields) });
                }
                fields.clear();
                quoted_field = false;
                line += 1;
                start = line;
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !fields.is_empty() || quoted_field {
        fields.push(field);
        records.push(Record { line: start, fields });
    }
    Ok(records)
}

/// A field as CSV: quoted when it holds `,`, `"` or a line break.
pub fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) { format!("\"{}\"", field.replace('"', "\"\"")) } else { field.to_string() }
}

fn csv_error(line: usize, reason: impl Into<String>) -> FactsError {
    FactsError::Csv { line, reason: reason.into(), source: None }
}

#[cfg(test)]
mod tests;
