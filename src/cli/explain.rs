//! `explain`: where a line of a compiled kickstart came from, or why a package is in it. [I/O]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use clap::{ArgGroup, Args};

use super::{AttrArgs, EXIT_DIAGNOSTICS, EXIT_OK, FrameworkArgs, KickstartFlags, Ui};
use crate::attrs::Attrs;
use crate::build::kickstarts::{GraphJobs, KickstartError};
use crate::diag::{self, Diagnostic};
use crate::explain::{AttrSource, Explanation, Line, Origin, PackageReport, Step};
use crate::graph::Framework;
use crate::kickstart::batch::JobSource;
use crate::resolver::{Given, Scope};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["appliance", "host"])))]
#[command(group(ArgGroup::new("question").required(true).args(["line", "grep", "package"])))]
pub struct ExplainArgs {
    /// The appliance whose kickstart is explained (attributes from the command line only).
    #[arg(long, value_name = "NAME")]
    pub appliance: Option<String>,
    /// A host of the cluster database (its appliance and attributes come from there).
    #[arg(long, value_name = "NAME", value_hint = clap::ValueHint::Hostname)]
    pub host: Option<String>,
    /// Explain output line N (1-based; repeatable).
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub line: Vec<usize>,
    /// Explain every output line that contains PATTERN (a plain string, like `grep -F`).
    #[arg(long, value_name = "PATTERN")]
    pub grep: Option<String>,
    /// Which reached nodes add or disable package NAME (`@name` for a group), and why.
    #[arg(long, value_name = "NAME")]
    pub package: Option<String>,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub framework: FrameworkArgs,
    #[command(flatten)]
    pub attrs: AttrArgs,
    #[command(flatten)]
    pub flags: KickstartFlags,
}

/// The help of an internal failure.
const BUG: &str = "this is a bug in rocks-compile; please report it with the command line";

/// `rocks-compile explain`.
pub(super) fn explain(ui: &mut Ui, db_path: &Path, a: ExplainArgs) -> i32 {
    let given = match super::given_attrs(ui, &a.attrs) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let mut sources = given_sources(&a.attrs, &given);
    let (appliance, fw, mut diags, attrs) = match &a.host {
        None => {
            let appliance = a.appliance.clone().expect("clap requires --appliance or --host");
            let (fw, diags) = match super::open(ui, &a.framework) {
                Ok(v) => v,
                Err(code) => return code,
            };
            let attrs = crate::resolver::appliance_attrs(&fw, &appliance, &given);
            (appliance, fw, diags, attrs)
        }
        Some(host) => match host_inputs(ui, db_path, &a, host, &given, &mut sources) {
            Ok(v) => v,
            Err(code) => return code,
        },
    };
    for (k, v) in &attrs {
        if !sources.contains_key(k) {
            let scope = if fw.defaults.get(k) == Some(v) { "default" } else { "builtin" };
            sources.insert(k.clone(), AttrSource { scope: scope.into(), secret: false });
        }
    }
    let runner = super::ShellEval;
    let opts = a.flags.options(&runner);
    let root = fw.root_of(&appliance);
    let root = attrs.get("root").cloned().unwrap_or(root);
    let (profile, d) = crate::resolve::profile(&fw, &root, &attrs);
    diags.extend(d);
    let ks = profile.map(|p| {
        let (ks, d) = crate::kickstart::build_traced(&fw, &appliance, &p, &attrs, &opts);
        diags.extend(d);
        ks
    });
    ui.report(&fw, &diags);
    let Some(ks) = ks.filter(|_| !diag::has_errors(&diags)) else { return super::failure_code(&diags) };
    let explained = match crate::explain::explain(&fw, &ks, &attrs, &sources) {
        Ok(e) => e,
        Err(e) => return ui.fail("build::render", format!("internal error explaining the kickstart: {e}"), BUG),
    };
    let code = answer(ui, &fw, &explained, &ks.packages, &a);
    std::mem::forget(fw);
    code
}

/// The host's appliance, framework (with its diagnostics) and attributes as `kickstart --host`
/// compiles it, and where each attribute came from.
fn host_inputs(
    ui: &mut Ui,
    db_path: &Path,
    a: &ExplainArgs,
    host: &str,
    given: &Attrs,
    sources: &mut BTreeMap<String, AttrSource>,
) -> Result<(String, Framework, Vec<Diagnostic>, Attrs), i32> {
    let db = super::cluster::open_readonly(ui, db_path)?;
    let layers = super::layers(&a.framework);
    let cluster = match db.cluster() {
        Ok(c) => std::sync::Arc::new(c),
        Err(e) => return Err(super::cluster::facts_error(ui, &e)),
    };
    let mut jobs = match crate::build::kickstarts::jobs(
        cluster,
        &[host.to_string()],
        &layers,
        Given { attrs: given.clone(), override_facts: false },
    ) {
        Ok(j) => j,
        Err(KickstartError::Facts(e)) => return Err(super::cluster::facts_error(ui, &e)),
        Err(KickstartError::Load(e)) => return Err(ui.load_error(&e)),
    };
    if !jobs.not_kickstartable.is_empty() {
        let app = db.host(host).map(|h| h.appliance).unwrap_or_default();
        let _ = writeln!(std::io::stderr(), "error: host `{host}` is a `{app}`, which is not kickstartable");
        return Err(EXIT_DIAGNOSTICS);
    }
    let warnings = std::mem::take(&mut jobs.warnings);
    let Some(gj) = jobs.graphs.into_iter().next() else {
        return Err(ui.fail("build::render", format!("internal error: no compile job for host `{host}`"), BUG));
    };
    let job = gj.job(0).into_owned();
    // Each value's scope, as the resolver stacked it (the command line's own values keep
    // the source `given_sources` named: command line or attributes file).
    let i = gj.hosts[0];
    for r in gj.resolver.host(i, &BTreeMap::new()).resolved(false) {
        if r.scope == Scope::Given && sources.contains_key(&r.key) {
            continue;
        }
        sources.insert(r.key.clone(), AttrSource { scope: r.scope.as_str().into(), secret: r.secret });
    }
    let GraphJobs { fw, mut diags, .. } = gj;
    diags.extend(warnings);
    Ok((job.appliance, fw, diags, job.attrs))
}

/// `--attr` values come from the command line, the rest of `given` from `--attrs FILE`.
fn given_sources(a: &AttrArgs, given: &Attrs) -> BTreeMap<String, AttrSource> {
    let on_line: Vec<&str> = a.attr.iter().filter_map(|kv| kv.split_once('=').map(|(k, _)| k.trim())).collect();
    given
        .keys()
        .map(|k| {
            let scope = if on_line.contains(&k.as_str()) { "command line" } else { "attributes file" };
            (k.clone(), AttrSource { scope: scope.into(), secret: false })
        })
        .collect()
}

fn answer(ui: &mut Ui, fw: &Framework, ex: &Explanation, packages: &[String], a: &ExplainArgs) -> i32 {
    if let Some(p) = &a.package {
        let report = ex.package(fw, p, packages);
        let text = if a.json { json(&report) } else { package_text(&report) };
        return print(ui, &text);
    }
    let lines: Vec<&Line> = match &a.grep {
        Some(pattern) => ex.grep(|l| l.contains(pattern.as_str())),
        None => {
            let mut out = Vec::new();
            for &n in &a.line {
                match ex.line(n) {
                    Some(l) => out.push(l),
                    None => {
                        let d = Diagnostic::error("explain::no-line", format!("the kickstart has no line {n}")).help(format!(
                            "the kickstart of `{}` has {} lines",
                            ex.appliance,
                            ex.lines.len()
                        ));
                        ui.report(fw, &[d]);
                        return EXIT_DIAGNOSTICS;
                    }
                }
            }
            out
        }
    };
    if lines.is_empty() {
        let pattern = a.grep.as_deref().unwrap_or("");
        let d = Diagnostic::error("explain::no-match", format!("no line of the kickstart contains `{pattern}`"))
            .help("the pattern is a plain string and case-sensitive; compile the kickstart to see its text");
        ui.report(fw, &[d]);
        return EXIT_DIAGNOSTICS;
    }
    let text = if a.json {
        #[derive(serde::Serialize)]
        struct Answer<'a> {
            appliance: &'a str,
            root: &'a str,
            lines: Vec<&'a Line>,
        }
        json(&Answer { appliance: &ex.appliance, root: &ex.root, lines })
    } else {
        let mut s = String::new();
        for (i, l) in lines.iter().enumerate() {
            if i > 0 {
                s.push('\n');
            }
            line_text(&mut s, l, &ex.root);
        }
        s
    };
    print(ui, &text)
}

fn json<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("the answer serialises");
    s.push('\n');
    s
}

fn print(ui: &mut Ui, text: &str) -> i32 {
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_err() {
        return ui.fail("io::write", "cannot write to standard output", "check the pipe or file standard output goes to");
    }
    EXIT_OK
}

fn line_text(s: &mut String, l: &Line, root: &str) {
    let _ = writeln!(s, "line {}: {}", l.number, l.text);
    let _ = writeln!(s, "  from: {}", origin_text(&l.origin));
    for o in &l.also {
        let _ = writeln!(s, "  also: {}", origin_text(o));
    }
    path_text(s, l.origin.node.as_deref(), &l.path, root);
    for a in &l.attributes {
        let value = a.value.as_deref().map_or("undefined".to_string(), |v| format!("`{v}`"));
        let _ = writeln!(s, "  attribute `{}` = {value} ({}{})", a.name, a.scope, if a.secret { ", secret" } else { "" });
    }
}

fn origin_text(o: &Origin) -> String {
    match &o.node {
        Some(n) => format!("{}:{} ({} of node `{n}`)", o.file, o.line, o.what),
        None => format!("{}:{} (rocks-compile's kickstart template)", o.file, o.line),
    }
}

fn path_text(s: &mut String, node: Option<&str>, path: &[Step], root: &str) {
    match (node, path.is_empty()) {
        (None, _) => {}
        (Some(n), true) if n == root => {
            let _ = writeln!(s, "  path: `{root}` is the root node");
        }
        (Some(_), true) => {
            let _ = writeln!(s, "  path: not reached by an edge");
        }
        (Some(_), false) => {
            let _ = writeln!(s, "  path: `{root}`");
            for st in path {
                let _ = writeln!(s, "    -> `{}` by the edge at {}:{} ({})", st.to, st.file, st.line, cond_text(&st.cond));
            }
        }
    }
}

fn cond_text(c: &str) -> String {
    if c == "always" { "unconditional".to_string() } else { format!("`{c}` held") }
}

fn package_text(r: &PackageReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "package `{}`: {}",
        r.package,
        match r.result {
            "installed" => "installed (listed in %packages)",
            "disabled" => "disabled (listed as `-name` in %packages)",
            _ => "not in %packages",
        }
    );
    if r.elements.is_empty() {
        let _ = writeln!(s, "  no reached node mentions it");
    }
    for e in &r.elements {
        let why = match (e.taken, e.cond.as_str()) {
            (true, "always") => "unconditional".to_string(),
            (true, c) => format!("`{c}` held"),
            (false, c) => format!("not taken: `{c}` did not hold"),
        };
        let _ = writeln!(
            s,
            "  {} at {}:{} in node `{}` ({why})",
            e.action,
            e.origin.file,
            e.origin.line,
            e.origin.node.as_deref().unwrap_or("")
        );
        let root = e.path.first().map(|p| p.from.as_str()).unwrap_or(e.origin.node.as_deref().unwrap_or(""));
        let mut p = String::new();
        path_text(&mut p, e.origin.node.as_deref(), &e.path, root);
        for l in p.lines() {
            let _ = writeln!(s, "  {l}");
        }
        for a in &e.attributes {
            let value = a.value.as_deref().map_or("undefined".to_string(), |v| format!("`{v}`"));
            let _ = writeln!(s, "    attribute `{}` = {value} ({})", a.name, a.scope);
        }
    }
    s
}
