//! `build` and `verify`: the whole output tree of the cluster, planned, checked, previewed
//! and written as one atomic generation; then the services that read it are told
//! ([`super::reload`]). [I/O]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::cluster::{facts_error, open_readonly};
use super::{AttrArgs, EXIT_DIAGNOSTICS, EXIT_OK, FrameworkArgs, KickstartFlags, Ui};
use crate::build::{BuildError, BuildRequest, Progress};
use crate::diag::Diagnostic;
use crate::generation::{self, Change};
use crate::plan::{BuildOptions, HostSelection, Kind, Plan};
use crate::span::Sources;

/// One change of [`generation::changes`]: what, the kind, the path.
type ChangeRow = (Change, Option<Kind>, String);

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The output tree (created when missing); replaced as one atomic generation.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Only these kinds (comma-separated): kickstart, dhcpd, kea, hosts, dns, pxe, slurm, pbs,
    /// sge, genders, prometheus, nagios, ganglia, conman, conserver, powerman; `dhcp`,
    /// `scheduler`, `monitoring` and `console` name groups. The files of the other kinds go
    /// over from the previous generation unchanged.
    #[arg(long, value_name = "KIND,...", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Write nothing; list what would be added, changed and removed, per kind.
    #[arg(long)]
    pub dry_run: bool,
    /// Show what changes as unified diffs (secret values as `********`); with `--dry-run`,
    /// nothing is written.
    #[arg(long)]
    pub diff: bool,
    /// Print the report (or the problems) as JSON on standard output.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub scheduler: SchedulerArgs,
    /// URL of each host's kickstart: `{base}` (its install server's base URL), `{server}`,
    /// `{host}`, `{mac}`, `{ip}` are replaced.
    #[arg(long, value_name = "TEMPLATE", default_value = "{base}/kickstart/{host}.ks")]
    pub kickstart_url: String,
    /// Threads for the kickstarts (default: every core; 1 to 4096).
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub framework: FrameworkArgs,
    #[command(flatten)]
    pub attrs: AttrArgs,
    #[command(flatten)]
    pub flags: KickstartFlags,
    /// What to reload after the new generation is swapped in, each only when files it reads
    /// changed: TOML with the sections `[dhcp]`, `[kea]`, `[dns]`, `[slurm]` (see the
    /// README). Default: /etc/rocks-compile/services.toml when it exists (none: no reloads).
    #[arg(long, value_name = "FILE")]
    pub services: Option<PathBuf>,
    /// Run no reload now: those this build calls for are due at the next build.
    #[arg(long)]
    pub no_reload: bool,
}

/// Which hosts the scheduler lists name and how they are partitioned (the files `build`
/// writes, which the hosts fetch).
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Hosts of these appliances go into the scheduler lists (default: compute).
    #[arg(long, value_name = "APPLIANCE,...", value_delimiter = ',', conflicts_with = "scheduler_query")]
    pub scheduler_appliance: Vec<String>,
    /// The hosts a read-only SQL query selects (first column: host name; e.g. `SELECT name
    /// FROM host_view WHERE rack < 4`) go into the scheduler lists.
    #[arg(long, value_name = "SQL")]
    pub scheduler_query: Option<String>,
    /// Slurm partitions and SGE host groups by this attribute's value instead of the appliance.
    #[arg(long, value_name = "ATTR")]
    pub partition_by: Option<String>,
}

impl SchedulerArgs {
    /// Whether any option was given (else the defaults apply).
    pub fn given(&self) -> bool {
        !self.scheduler_appliance.is_empty() || self.scheduler_query.is_some() || self.partition_by.is_some()
    }

    /// `base` with the scheduler selection of these options (the query runs on a read-only
    /// connection to the database at `path`).
    pub(super) fn apply(&self, ui: &mut Ui, path: &Path, base: BuildOptions) -> Result<BuildOptions, i32> {
        let scheduler_hosts = match &self.scheduler_query {
            Some(sql) => match crate::facts::Db::open_readonly(path).and_then(|ro| ro.query_hosts(sql)) {
                Ok(names) => HostSelection::Names(names.into_iter().collect()),
                Err(e) => return Err(facts_error(ui, &e)),
            },
            None if self.scheduler_appliance.is_empty() => HostSelection::default(),
            None => HostSelection::Appliances(self.scheduler_appliance.clone()),
        };
        Ok(BuildOptions { scheduler_hosts, partition_by: self.partition_by.clone(), ..base })
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The output tree whose `MANIFEST` is checked.
    pub dir: PathBuf,
    /// Print the problems as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn build(ui: &mut Ui, path: &Path, a: BuildArgs) -> i32 {
    let mut kinds: BTreeSet<Kind> = BTreeSet::new();
    for word in &a.only {
        match Kind::parse_group(word) {
            Ok(k) => kinds.extend(k),
            Err(e) => return usage(ui, &e, "e.g. `--only dhcp,dns,pxe`"),
        }
    }
    if kinds.is_empty() {
        kinds = Kind::ALL.into_iter().collect();
    }
    let services = match super::reload::load(ui, a.services.as_deref(), &a.out, a.json) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let db = match open_readonly(ui, path) {
        Ok(db) => db,
        Err(c) => return c,
    };
    let options = BuildOptions { kinds, kickstart_url: a.kickstart_url.clone(), ..BuildOptions::default() };
    let options = match a.scheduler.apply(ui, path, options) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let given = match super::given_attrs(ui, &a.attrs) {
        Ok(v) => v,
        Err(c) => return c,
    };
    let runner = super::ShellEval;
    let layers = super::layers(&a.framework);
    let req = BuildRequest {
        layers: &layers,
        given: &given,
        kickstart: a.flags.options(&runner),
        options,
        threads: super::threads(a.jobs),
        override_facts: a.flags.override_facts,
        allow_default_password: a.flags.allow_default_password,
    };
    let bar = Bar::new(!a.json && std::io::stderr().is_terminal());
    // A build that writes stages each kickstart into the new generation as soon as it is made
    // (the generation, and the tree's lock, are taken just before the first one is compiled,
    // so a build refused before leaves nothing behind, and the previous generation, whose
    // unchanged kickstarts are kept, is read then); --dry-run and --diff compare a plan held
    // whole against the previous generation read here.
    let stage = Staging { dir: &a.out, generation: std::sync::OnceLock::new(), one: std::sync::Mutex::new(()) };
    let streaming = !(a.dry_run || a.diff);
    let previous =
        if streaming { Ok(generation::Previous::none()) } else { generation::Previous::read(&a.out, crate::build::kickstarts::KEYS) };
    let previous = match previous {
        Ok(p) => p,
        Err(e) => return ui.read_error(&a.out, &e),
    };
    let target = crate::build::Target { previous: &previous, stage: streaming.then_some(&stage as &dyn crate::build::Stage) };
    let built = crate::build::plan(&db, &req, &target, &bar);
    let built = match built {
        Ok(b) => b,
        Err(e) => {
            bar.finish();
            return build_error(ui, e, a.json);
        }
    };
    if !a.json {
        let mut err = std::io::stderr().lock();
        for d in &built.warnings {
            let _ = write!(err, "{}", d.render(&Sources::new(), ui.color));
        }
    }
    if let Some(r) = &built.kickstarts {
        for (fw, diags) in &r.frameworks {
            if !a.json {
                ui.report(fw, diags);
            }
        }
    }
    let compiled = built.kickstarts.as_ref().map_or(0, |r| r.hosts);
    let plan = built.plan;
    // With --json, what --dry-run/--diff found goes into the one JSON document printed.
    let mut preview: Option<serde_json::Value> = None;
    if a.dry_run || a.diff {
        let changes = match generation::changes(&a.out, &plan) {
            Ok(c) => c,
            Err(e) => return ui.read_error(&a.out, &e),
        };
        let diffs = if a.diff { diffs(&a.out, &plan, &changes, &db) } else { BTreeMap::new() };
        bar.finish();
        if a.json {
            let mut v = changes_json(&changes, &diffs);
            if a.dry_run {
                match super::reload::preview(ui, &services, &a.out, &changes, true) {
                    Ok(Some(r)) => v["reloads"] = r,
                    Ok(None) => {}
                    Err(c) => return c,
                }
                super::inventory::print_json(&v);
                return EXIT_OK;
            }
            preview = Some(v);
        } else {
            print_changes(&changes, &diffs);
            if a.dry_run {
                return super::reload::preview(ui, &services, &a.out, &changes, false).map_or_else(|c| c, |_| EXIT_OK);
            }
        }
    }
    bar.phase("writing", plan.files() as u64);
    let stats = match stage.generation.into_inner() {
        Some(g) => {
            bar.advance(plan.staged as u64);
            generation::finish(g, &plan, &|n| bar.advance(n as u64))
        }
        None => generation::write_reporting(&a.out, &plan, true, &|n| bar.advance(n as u64), &mut say_waiting),
    };
    bar.finish();
    match stats {
        Ok(committed) => {
            let s = committed.stats;
            let per_kind = kind_counts(&plan);
            if a.json {
                let (reloads, problems, code) = super::reload::tell(ui, &services, &a.out, &committed.changes, a.no_reload, true);
                let mut report = json!({
                    "out": a.out.display().to_string(),
                    "files": plan.files(),
                    "written": s.written,
                    "unchanged": s.unchanged,
                    "removed": s.removed,
                    "kinds": per_kind,
                    "kickstarts": {"compiled": compiled, "kept": plan.kept.len()},
                    "servers": plan.server_load.iter().map(|(n, c)| json!({"name": n, "hosts": c})).collect::<Vec<_>>(),
                });
                if let Some(p) = preview {
                    report["changes"] = p["changes"].clone();
                    report["summary"] = p["summary"].clone();
                }
                if let Some(r) = reloads {
                    report["reloads"] = r;
                }
                if !problems.is_empty() {
                    report["ok"] = json!(false);
                    report["diagnostics"] = json!(problems.iter().map(|d| d.to_json(&Sources::new())).collect::<Vec<_>>());
                }
                super::inventory::print_json(&report);
                code
            } else {
                let mut err = std::io::stderr().lock();
                let kinds: Vec<String> = per_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
                let _ = writeln!(
                    err,
                    "{} files in {} ({} written, {} unchanged, {} removed): {}",
                    plan.files(),
                    a.out.display(),
                    s.written,
                    s.unchanged,
                    s.removed,
                    kinds.join(", ")
                );
                if !plan.kept.is_empty() {
                    let _ = writeln!(err, "kickstarts: {compiled} compiled, {} kept (their inputs did not change)", plan.kept.len());
                }
                let servers: Vec<String> = plan.server_load.iter().map(|(n, c)| format!("{n} {c}")).collect();
                if !servers.is_empty() {
                    let _ = writeln!(err, "hosts per install server: {}", servers.join(", "));
                }
                drop(err);
                super::reload::tell(ui, &services, &a.out, &committed.changes, a.no_reload, false).2
            }
        }
        Err(e) => ui.write_error(&a.out, &e),
    }
}

pub(super) fn verify(ui: &mut Ui, a: VerifyArgs) -> i32 {
    let problems = match generation::verify(&a.dir) {
        Ok(p) => p,
        Err(e) => return ui.read_error(&a.dir, &e),
    };
    if a.json {
        super::inventory::print_json(&json!({
            "dir": a.dir.display().to_string(),
            "ok": problems.is_empty(),
            "problems": problems.iter().map(|p| json!({"path": p.path, "problem": p.what})).collect::<Vec<_>>(),
        }));
    } else {
        let mut err = std::io::stderr().lock();
        for p in &problems {
            let _ = writeln!(err, "{}: {}", a.dir.join(&p.path).display(), p.what);
        }
        if problems.is_empty() {
            let n = generation::read_manifest(&a.dir).map(|m| m.len()).unwrap_or(0);
            let _ = writeln!(err, "{}: {n} files match the manifest", a.dir.display());
        } else {
            drop(err);
            let d = Diagnostic::error(
                "verify::mismatch",
                format!("{} file(s) of `{}` differ from its manifest", problems.len(), a.dir.display()),
            )
            .help("run `build` again to write a complete generation; never edit files of the tree in place");
            return ui.say(d, EXIT_DIAGNOSTICS);
        }
    }
    if problems.is_empty() { EXIT_OK } else { EXIT_DIAGNOSTICS }
}

/// Say why a command waits: another run holds the tree's lock.
pub(super) fn say_waiting(lock: &Path) {
    let _ = writeln!(std::io::stderr(), "waiting for another run that holds {} to finish ...", lock.display());
}

fn usage(ui: &mut Ui, message: &str, help: &str) -> i32 {
    let d = Diagnostic::error("cli::usage", message.to_string()).help(help.to_string());
    let _ = write!(std::io::stderr(), "{}", d.render(&Sources::new(), ui.color));
    EXIT_DIAGNOSTICS
}

/// The new generation of the tree at `dir`, begun just before the build compiles kickstarts.
struct Staging<'a> {
    dir: &'a Path,
    generation: std::sync::OnceLock<generation::Generation>,
    /// One file created at a time: threads creating files in one directory at once contend
    /// for its lock in the kernel (the compile goes on meanwhile on the other threads).
    one: std::sync::Mutex<()>,
}

impl crate::build::Stage for Staging<'_> {
    fn begin(&self) -> std::io::Result<generation::Previous> {
        let g = generation::Generation::begin_waiting(self.dir, true, &mut say_waiting)?;
        let previous = g.previous(crate::build::kickstarts::KEYS)?;
        self.generation.set(g).map_err(|_| std::io::Error::other("internal error: the generation was begun twice"))?;
        Ok(previous)
    }

    fn add(&self, artifact: &crate::plan::Artifact) -> std::io::Result<()> {
        let g = self.generation.get().ok_or_else(|| std::io::Error::other("internal error: no generation was begun"))?;
        let _one = self.one.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        g.add(artifact)
    }
}

fn build_error(ui: &mut Ui, e: BuildError, json: bool) -> i32 {
    match e {
        BuildError::Facts(e) => facts_error(ui, &e),
        BuildError::Load(e) => ui.load_error(&e),
        BuildError::Previous(e) => ui.fail("io::read", e.to_string(), "check the output tree and its permissions"),
        BuildError::DefaultPassword(hosts) => {
            let d = super::default_password(&hosts, true);
            if json {
                super::inventory::print_json(&json!({"ok": false, "diagnostics": [d.to_json(&Sources::new())]}));
                return EXIT_DIAGNOSTICS;
            }
            ui.say(d, EXIT_DIAGNOSTICS)
        }
        BuildError::Write(e) => ui.fail(
            "io::write",
            format!("cannot write the new generation: {e}"),
            "check that the directory is writable and the disk is not full",
        ),
        BuildError::Model(mut problems) => {
            crate::diag::sort(&mut problems);
            let sources = Sources::new();
            if json {
                super::inventory::print_json(&json!({
                    "ok": false,
                    "diagnostics": problems.iter().map(|d| d.to_json(&sources)).collect::<Vec<_>>(),
                }));
            } else {
                let mut err = std::io::stderr().lock();
                for d in &problems {
                    let _ = write!(err, "{}", d.render(&sources, ui.color));
                }
                let _ = writeln!(err, "error: nothing was written: {} problem(s) in the cluster's facts", problems.len());
            }
            EXIT_DIAGNOSTICS
        }
        BuildError::Kickstarts(report) => {
            if json {
                let diags: Vec<_> = report.frameworks.iter().flat_map(|(fw, ds)| ds.iter().map(|d| d.to_json(&fw.sources))).collect();
                super::inventory::print_json(&json!({"ok": false, "failed": report.failed, "diagnostics": diags}));
                return EXIT_DIAGNOSTICS;
            }
            for (fw, diags) in &report.frameworks {
                ui.report(fw, diags);
            }
            super::hosts::report_failures(&report)
        }
        BuildError::Render { .. } => {
            ui.fail("build::render", e.to_string(), "this is a bug in rocks-compile; please report it with the command line")
        }
    }
}

fn kind_counts(plan: &Plan) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for kind in plan.artifacts.iter().map(|a| Some(a.kind)).chain(plan.kept.iter().map(|e| e.kind)) {
        *m.entry(kind.map_or("other", Kind::as_str)).or_default() += 1;
    }
    if plan.staged > 0 {
        *m.entry(Kind::Kickstart.as_str()).or_default() += plan.staged;
    }
    m
}

/// Unified diffs of the changed files, secret values replaced by `********`.
fn diffs(dir: &Path, plan: &Plan, changes: &[ChangeRow], db: &crate::facts::Db) -> BTreeMap<String, String> {
    let cluster = db.cluster().unwrap_or_default();
    let secrets = cluster.secret_values();
    let new: BTreeMap<&str, &[u8]> = plan.artifacts.iter().map(|a| (a.path.as_str(), a.bytes.as_slice())).collect();
    let mut out = BTreeMap::new();
    for (change, _, path) in changes {
        let old = match change {
            Change::Added => String::new(),
            _ => String::from_utf8_lossy(&std::fs::read(dir.join(path)).unwrap_or_default()).into_owned(),
        };
        let now = new.get(path.as_str()).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        out.insert(path.clone(), crate::build::diff::redacted_diff(path, &old, &now, &secrets));
    }
    out
}

/// The name a change is listed under (`other` for files no kind made).
fn kind_name(k: &Option<Kind>) -> &'static str {
    k.map_or("other", Kind::as_str)
}

/// The changes (with their diffs) and a per-kind summary as JSON.
fn changes_json(changes: &[ChangeRow], diffs: &BTreeMap<String, String>) -> serde_json::Value {
    let mut summary: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for (c, k, _) in changes {
        let c = match c {
            Change::Added => "added",
            Change::Changed => "changed",
            Change::Removed => "removed",
        };
        *summary.entry(kind_name(k)).or_default().entry(c).or_default() += 1;
    }
    let list: Vec<_> = changes
        .iter()
        .map(|(c, k, p)| {
            let mut v = json!({"change": c, "kind": kind_name(k), "path": p});
            if let Some(d) = diffs.get(p) {
                v["diff"] = json!(d);
            }
            v
        })
        .collect();
    json!({"changes": list, "summary": summary})
}

/// The changes per kind (`+` added, `~` changed, `-` removed), then the diffs.
fn print_changes(changes: &[ChangeRow], diffs: &BTreeMap<String, String>) {
    let mut out = std::io::stdout().lock();
    let mut by_kind: BTreeMap<&str, Vec<&ChangeRow>> = BTreeMap::new();
    for c in changes {
        by_kind.entry(kind_name(&c.1)).or_default().push(c);
    }
    for (kind, list) in &by_kind {
        let count = |want: Change| list.iter().filter(|(c, _, _)| *c == want).count();
        let _ =
            writeln!(out, "{kind}: {} added, {} changed, {} removed", count(Change::Added), count(Change::Changed), count(Change::Removed));
        for (c, _, p) in list {
            let mark = match c {
                Change::Added => '+',
                Change::Changed => '~',
                Change::Removed => '-',
            };
            let _ = writeln!(out, "  {mark} {p}");
        }
    }
    if changes.is_empty() {
        let _ = writeln!(out, "no changes");
    }
    for d in diffs.values() {
        let _ = write!(out, "{d}");
    }
}

/// A progress bar on standard error, drawn only on a terminal and only after a second.
struct Bar {
    bar: Option<indicatif::ProgressBar>,
    start: std::time::Instant,
    shown: std::sync::atomic::AtomicBool,
}

impl Bar {
    fn new(show: bool) -> Bar {
        let bar = show.then(|| {
            let b = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden());
            b.set_style(
                indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {elapsed}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            b
        });
        Bar { bar, start: std::time::Instant::now(), shown: false.into() }
    }

    /// Start drawing once the work has taken a second: quick builds print nothing extra.
    fn reveal(&self, b: &indicatif::ProgressBar) {
        use std::sync::atomic::Ordering;
        if self.start.elapsed() >= std::time::Duration::from_secs(1) && !self.shown.swap(true, Ordering::Relaxed) {
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(0);
            b.set_message(name.to_string());
            self.reveal(b);
        }
    }

    fn advance(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
            self.reveal(b);
        }
    }
}
