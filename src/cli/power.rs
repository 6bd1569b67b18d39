//! `power on|off|cycle|reset|status HOSTS...`: the command line of [`crate::power`], and the
//! power cycle of `boot set --reboot`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use clap::{ArgGroup, Args};
use serde_json::json;

use super::cluster::{Access, facts_error};
use super::{EXIT_DIAGNOSTICS, EXIT_OK, Ui};
use crate::diag::Diagnostic;
use crate::facts::{Db, HostFilter};
use crate::model::Cluster;
use crate::power::{self, Bmc, Operation, Outcome, PowerOptions};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("hosts_or_where").required(true).multiple(true).args(["hosts", "where_sql", "query"])))]
pub struct PowerArgs {
    /// `on`, `off`, `cycle`, `reset` or `status`.
    #[arg(value_parser = Operation::ALL.map(Operation::as_str))]
    pub operation: String,
    /// Hosts: names or hostlists such as `compute-0-[0-31]`.
    #[arg(value_hint = clap::ValueHint::Hostname)]
    pub hosts: Vec<String>,
    /// Also the hosts this SQL expression over `host_view` selects, e.g. `rack = 3`.
    #[arg(long = "where", value_name = "SQL_EXPR")]
    pub where_sql: Option<String>,
    /// Also the hosts any read-only SQL selects (first column: host name; joins allowed).
    #[arg(long, value_name = "SQL")]
    pub query: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
    /// Print the outcome as a JSON array.
    #[arg(long)]
    pub json: bool,
    /// Print the `ipmitool` command of each host (without the password) and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// How the IPMI client runs (shared by `power` and `boot set --reboot`).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// At most this many BMCs at once.
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub fanout: usize,
    /// A host whose BMC has not answered after this many seconds fails.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = super::serve::parse_seconds)]
    pub timeout: f64,
}

impl RunArgs {
    /// The library options for `operation`.
    pub(super) fn options(&self, operation: Operation) -> PowerOptions {
        PowerOptions { operation, fanout: self.fanout, timeout: Duration::from_secs_f64(self.timeout), ..PowerOptions::default() }
    }
}

pub(super) fn power(ui: &mut Ui, path: &Path, a: PowerArgs) -> i32 {
    let operation = Operation::ALL.into_iter().find(|o| o.as_str() == a.operation).expect("clap checked the operation");
    let db = open_db_or_return!(ui, path, Access::Read);
    let mut names = Vec::new();
    for expr in &a.hosts {
        match crate::hostlist::expand(expr) {
            Ok(n) => names.extend(n),
            Err(e) => {
                let d = Diagnostic::error("power::bad-hostlist", e.to_string())
                    .help("give host names or hostlists such as `compute-0-[0-31]` or `c-[1-3,7]`");
                return ui.say(d, EXIT_DIAGNOSTICS);
            }
        }
    }
    if let Some(w) = &a.where_sql {
        match db.hosts(&HostFilter { appliance: None, where_sql: Some(w.clone()) }) {
            Ok(hosts) => names.extend(hosts.into_iter().map(|h| h.name)),
            Err(e) => return facts_error(ui, &e),
        }
    }
    if let Some(sql) = &a.query {
        match db.query_hosts(sql) {
            Ok(hosts) => names.extend(hosts),
            Err(e) => return facts_error(ui, &e),
        }
    }
    act(ui, &db, &names, &a.run.options(operation), a.json, a.dry_run)
}

/// Run `options.operation` on the BMCs of `names` (unique, in the order given), print one
/// line per host, and fail naming every host that failed.
pub(super) fn act(ui: &mut Ui, db: &Db, names: &[String], options: &PowerOptions, json: bool, dry_run: bool) -> i32 {
    let cluster = match db.cluster() {
        Ok(c) => c,
        Err(e) => return facts_error(ui, &e),
    };
    let mut seen = std::collections::HashSet::new();
    let selected: Vec<(&str, Result<Bmc, String>)> =
        names.iter().filter(|n| seen.insert(n.as_str())).map(|n| (n.as_str(), bmc(&cluster, n))).collect();
    let ready: Vec<Bmc> = selected.iter().filter_map(|(_, b)| b.as_ref().ok().cloned()).collect();
    let done = if dry_run {
        ready.iter().map(|b| Outcome { host: b.host.clone(), result: Ok(b.command_line(&options.program, options.operation)) }).collect()
    } else {
        power::run(&ready, options)
    };
    let mut done = done.into_iter();
    let outcomes: Vec<Outcome> = selected
        .into_iter()
        .map(|(name, b)| match b {
            Ok(_) => done.next().expect("one outcome per BMC"),
            Err(reason) => Outcome { host: name.to_string(), result: Err(reason) },
        })
        .collect();
    print(&outcomes, json, dry_run);
    let failed: Vec<&str> = outcomes.iter().filter(|o| o.result.is_err()).map(|o| o.host.as_str()).collect();
    if failed.is_empty() {
        return EXIT_OK;
    }
    let d = Diagnostic::error(
        "power::failed",
        format!(
            "`{}` failed on {} of {} host(s): `{}`",
            options.operation.as_str(),
            failed.len(),
            outcomes.len(),
            crate::hostlist::compress(&failed)
        ),
    )
    .help(format!(
        "each host needs an interface `bmc` with an address, and the attributes `{}` and `{}` (`{}` if not {})",
        power::USER_ATTR,
        power::PASSWORD_ATTR,
        power::PORT_ATTR,
        power::DEFAULT_PORT
    ));
    ui.say(d, EXIT_DIAGNOSTICS)
}

/// The BMC of host `name`, or why it cannot be used.
fn bmc(cluster: &Cluster, name: &str) -> Result<Bmc, String> {
    let host = cluster.host(name).ok_or("no such host")?;
    Bmc::of(cluster, host)
}

/// One line per host (`compute-0-0: on`, `compute-0-1: failed: ...`), or a JSON array.
fn print(outcomes: &[Outcome], json: bool, dry_run: bool) {
    let mut out = std::io::stdout().lock();
    if json {
        let key = if dry_run { "command" } else { "state" };
        let list: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(s) => json!({"host": o.host, key: s}),
                Err(e) => json!({"host": o.host, "error": e}),
            })
            .collect();
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&list).expect("JSON values serialize"));
        return;
    }
    for o in outcomes {
        let _ = match &o.result {
            Ok(s) => writeln!(out, "{}: {s}", o.host),
            Err(e) => writeln!(out, "{}: failed: {e}", o.host),
        };
    }
}
