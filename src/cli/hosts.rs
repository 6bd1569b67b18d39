//! `kickstart --host H` and `kickstart --query SQL -o DIR`: hosts of the cluster database
//! compiled in one batch and written as one atomic output tree. [I/O]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::cluster::{facts_error, open_db};
use super::{EXIT_DIAGNOSTICS, EXIT_OK, FrameworkArgs, Ui};
use crate::facts::{self, Db};

/// `kickstart --host H` and `kickstart --query SQL -o DIR`: hosts from the database, compiled
/// in one batch (shared work per group of alike hosts). Nothing is written unless every
/// host compiled.
pub(super) fn host_kickstarts(ui: &mut Ui, path: &Path, a: super::KickstartArgs) -> i32 {
    let db = match open_db(ui, path, &a.framework) {
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
    // Facts of every host, grouped by the graph its appliance uses.
    // Host name, appliance and attributes, grouped by the graph the appliance uses.
    type Host = (String, facts::Appliance, BTreeMap<String, String>);
    let mut by_graph: BTreeMap<String, Vec<Host>> = BTreeMap::new();
    let inputs = match db.compile_inputs(&names) {
        Ok(v) => v,
        Err(e) => return facts_error(ui, &e),
    };
    for (host, app, mut attrs) in inputs {
        if !app.kickstartable {
            if a.host.is_some() {
                let _ = writeln!(std::io::stderr(), "error: host `{}` is a `{}`, which is not kickstartable", host.name, app.name);
                return EXIT_DIAGNOSTICS;
            }
            continue;
        }
        attrs.insert("root".into(), app.root.clone());
        // A host without an address has none: no framework default may stand in for it.
        for k in ["hostaddr", "ksmac"] {
            attrs.entry(k.to_string()).or_default();
        }
        attrs.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
        by_graph.entry(app.graph.clone()).or_default().push((host.name, app, attrs));
    }
    let runner = super::ShellEval;
    let opts = super::kickstart_options(&a, &runner);
    let threads = a.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // With --query, kickstarts are staged in the output tree as they are made (nothing
    // appears there unless every host compiled); with --host the one text is kept.
    let tree = match (&a.query, a.output.as_deref()) {
        (Some(_), Some(dir)) => match crate::write::TreeWriter::new(dir) {
            Ok(w) => Some(w),
            Err(e) => return ui.fail(&format!("cannot write to `{}`: {e}", dir.display())),
        },
        _ => None,
    };
    let single: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let io_error: std::sync::Mutex<Option<std::io::Error>> = std::sync::Mutex::new(None);
    let mut failed = false;
    let mut failed_hosts: Vec<String> = Vec::new();
    let mut groups = 0;
    let mut count = 0;
    for (graph, hosts) in by_graph {
        let fa = FrameworkArgs { frameworks: a.framework.frameworks.clone(), graph };
        let (fw, mut diags) = match super::open(ui, &fa) {
            Ok(v) => v,
            Err(c) => return c,
        };
        let jobs: Vec<crate::batch::HostJob> = hosts
            .into_iter()
            .map(|(host, app, attrs)| crate::batch::HostJob {
                attrs: crate::effective_attrs(&fw, &app.name, &attrs),
                host,
                appliance: app.name,
            })
            .collect();
        let found: std::sync::Mutex<Vec<crate::diag::Diagnostic>> = std::sync::Mutex::new(Vec::new());
        let broken: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let stats = crate::batch::kickstarts_with(&fw, &jobs, &opts, threads, |_, c| {
            {
                let mut f = found.lock().expect("no panic while holding the lock");
                // Hosts of one group report the same problems: keep each once.
                for d in c.diags {
                    if !f.contains(&d) {
                        f.push(d);
                    }
                }
            }
            let Some(text) = c.text else {
                broken.lock().expect("no panic while holding the lock").push(c.host.clone());
                return;
            };
            match &tree {
                Some(w) => {
                    if let Err(e) = w.add(&format!("{}.ks", c.host), text.as_bytes()) {
                        io_error.lock().expect("no panic while holding the lock").get_or_insert(e);
                    }
                }
                None => *single.lock().expect("no panic while holding the lock") = Some(text),
            }
        });
        groups += stats.groups;
        count += stats.hosts;
        diags.extend(found.into_inner().expect("no panic while holding the lock"));
        ui.report(&fw, &diags);
        let mut broken = broken.into_inner().expect("no panic while holding the lock");
        broken.sort();
        failed_hosts.extend(broken);
        failed |= !failed_hosts.is_empty() || crate::diag::has_errors(&diags);
    }
    if let Some(e) = io_error.into_inner().expect("no panic while holding the lock") {
        return ui.fail(&format!("cannot write kickstarts: {e}"));
    }
    if failed {
        let shown: Vec<&str> = failed_hosts.iter().take(10).map(String::as_str).collect();
        let more = failed_hosts.len().saturating_sub(shown.len());
        let _ = writeln!(
            std::io::stderr(),
            "error: no kickstart was written: {} host{} failed ({}{})",
            failed_hosts.len(),
            if failed_hosts.len() == 1 { "" } else { "s" },
            shown.join(", "),
            if more > 0 { format!(", and {more} more") } else { String::new() }
        );
        return EXIT_DIAGNOSTICS;
    }
    let Some(tree) = tree else {
        let text = single.into_inner().expect("no panic while holding the lock").unwrap_or_default();
        return super::emit_text(ui, a.output.as_deref(), &text);
    };
    let dir = a.output.as_deref().expect("clap requires -o with --query");
    match tree.commit(a.prune) {
        Ok(s) => {
            let _ = writeln!(
                std::io::stderr(),
                "{count} kickstarts in {} ({} written, {} unchanged, {} removed; {groups} shared profile{})",
                dir.display(),
                s.written,
                s.unchanged,
                s.removed,
                if groups == 1 { "" } else { "s" }
            );
            EXIT_OK
        }
        Err(e) => ui.fail(&format!("cannot write to `{}`: {e}", dir.display())),
    }
}
