//! `kickstart --host H` and `kickstart --query SQL -o DIR`: hosts of the cluster database
//! compiled by [`crate::build::host_kickstarts`] and, with `--query`, written as one atomic
//! generation of the output tree. [I/O]

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use super::cluster::{facts_error, open_readonly};
use super::{EXIT_DIAGNOSTICS, EXIT_OK, Ui};
use crate::build::{FactOptions, KickstartError, KickstartReport, host_kickstarts_with};
use crate::diag::Diagnostic;
use crate::facts::Db;
use crate::plan::{Artifact, Kind};

/// `kickstart --host H` and `kickstart --query SQL -o DIR`: hosts from the database, compiled
/// in one batch (shared work per group of alike hosts). Nothing is written unless every
/// host compiled.
pub(super) fn host_kickstarts_cmd(ui: &mut Ui, path: &Path, a: super::KickstartArgs) -> i32 {
    let db = match open_readonly(ui, path) {
        Ok(db) => db,
        Err(c) => return c,
    };
    let names = match (&a.host, &a.query) {
        (Some(h), _) => vec![h.clone()],
        (None, Some(sql)) => match Db::open_readonly(path).and_then(|ro| ro.query_hosts(sql)) {
            Ok(n) => {
                // A join may name a host once per matching row: keep the first of each.
                let mut seen = std::collections::HashSet::new();
                n.into_iter().filter(|h| seen.insert(h.clone())).collect()
            }
            Err(e) => return facts_error(ui, &e),
        },
        (None, None) => unreachable!("clap requires --appliance, --host or --query"),
    };
    let given = match super::given_attrs(ui, &a.attrs) {
        Ok(v) => v,
        Err(c) => return c,
    };
    let runner = super::ShellEval;
    let opts = a.flags.options(&runner);
    let threads = super::threads(a.jobs);
    let layers = super::layers(&a.framework);
    // With --query, kickstarts are staged in a new generation of the output tree as they are
    // made (the tree changes only if every host compiled); with --host the one text is kept.
    let generation = match (&a.query, a.output.as_deref()) {
        (Some(_), Some(dir)) => match crate::generation::Generation::begin_waiting(dir, a.prune, &mut super::build::say_waiting) {
            Ok(g) => Some(g),
            Err(e) => return ui.write_error(dir, &e),
        },
        _ => None,
    };
    let single: Mutex<Option<String>> = Mutex::new(None);
    let io_error: Mutex<Option<std::io::Error>> = Mutex::new(None);
    if names.is_empty() {
        let _ = writeln!(std::io::stderr(), "the query selects no host: no kickstart was written");
        return EXIT_OK;
    }
    let facts = FactOptions { override_facts: a.flags.override_facts };
    let result = host_kickstarts_with(&db, &names, &layers, &given, &facts, &opts, threads, |host, text| match &generation {
        Some(g) => {
            // A kickstart holds root's password hash and the site's keys: 0640.
            let artifact = Artifact::new(Kind::Kickstart, format!("{host}.ks"), text).secret();
            if let Err(e) = g.add(&artifact) {
                io_error.lock().expect("no panic while holding the lock").get_or_insert(e);
            }
        }
        None => *single.lock().expect("no panic while holding the lock") = Some(text),
    });
    let report = match result {
        Ok(r) => r,
        Err(e) => return kickstart_error(ui, e),
    };
    if a.host.is_some()
        && let Some(h) = report.not_kickstartable.first()
    {
        let app = db.host(h).map(|h| h.appliance).unwrap_or_default();
        let d = Diagnostic::error("kickstart::not-kickstartable", format!("host `{h}` is a `{app}`, which is not kickstartable"))
            .help("only hosts of kickstartable appliances get a kickstart (see `appliance list`)");
        return ui.say(d, EXIT_DIAGNOSTICS);
    }
    for (fw, diags) in &report.frameworks {
        ui.report(fw, diags);
    }
    for d in &report.warnings {
        ui.say(d.clone(), EXIT_OK);
    }
    if !report.default_password.is_empty() && !a.flags.allow_default_password {
        ui.say(super::default_password(&report.default_password, false), EXIT_OK);
    }
    if report.failed() {
        return report_failures(&report);
    }
    if let Some(e) = io_error.into_inner().expect("no panic while holding the lock") {
        return ui.write_error(a.output.as_deref().unwrap_or(Path::new(".")), &e);
    }
    let Some(generation) = generation else {
        let text = single.into_inner().expect("no panic while holding the lock").unwrap_or_default();
        return super::emit_secret_text(ui, a.output.as_deref(), &text);
    };
    let dir = a.output.as_deref().expect("clap requires -o with --query");
    match generation.commit() {
        Ok(s) => {
            let groups = report.groups;
            let _ = writeln!(
                std::io::stderr(),
                "{} kickstarts in {} ({} written, {} unchanged, {} removed; {groups} shared profile{})",
                report.hosts,
                dir.display(),
                s.written,
                s.unchanged,
                s.removed,
                if groups == 1 { "" } else { "s" }
            );
            EXIT_OK
        }
        Err(e) => ui.write_error(dir, &e),
    }
}

/// Name the hosts that failed (the diagnostics were printed already).
pub(super) fn report_failures(report: &KickstartReport) -> i32 {
    let failed = &report.failed;
    let shown: Vec<&str> = failed.iter().take(10).map(String::as_str).collect();
    let more = failed.len().saturating_sub(shown.len());
    let _ = writeln!(
        std::io::stderr(),
        "error: no kickstart was written: {} host{} failed ({}{})",
        failed.len(),
        if failed.len() == 1 { "" } else { "s" },
        shown.join(", "),
        if more > 0 { format!(", and {more} more") } else { String::new() }
    );
    EXIT_DIAGNOSTICS
}

/// Report why no kickstart could be compiled.
pub(super) fn kickstart_error(ui: &mut Ui, e: KickstartError) -> i32 {
    match e {
        KickstartError::Facts(e) => facts_error(ui, &e),
        KickstartError::Load(e) => ui.load_error(&e),
    }
}
