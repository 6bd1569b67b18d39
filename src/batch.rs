//! Kickstarts for many hosts at once. Work shared by hosts is done once: hosts that agree on
//! every attribute a condition reads share one traversal and one symbolic expansion
//! ([`crate::emit::template`]); each host then only substitutes its own values.

use std::collections::HashMap;

use crate::attrs::{Attrs, Origins};
use crate::diag::Diagnostic;
use crate::emit::kickstart::{self, KickstartOptions};
use crate::emit::template::{Instance, Template};
use crate::graph::Framework;

/// One host to compile: its appliance and its attributes (already merged; see
/// [`crate::effective_attrs`]).
#[derive(Debug, Clone)]
pub struct HostJob {
    pub host: String,
    pub appliance: String,
    pub attrs: Attrs,
    /// Where attribute values came from, named in messages (may be empty; see
    /// [`crate::attrs::Origins`]).
    pub origins: Origins,
}

/// The kickstart of one host, or `None` with error diagnostics.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub host: String,
    pub text: Option<String>,
    pub diags: Vec<Diagnostic>,
}

/// Statistics of a batch: how much work was shared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub hosts: usize,
    /// Distinct (appliance, condition-relevant attributes) groups, each traversed once.
    pub groups: usize,
    /// Hosts compiled alone (their profile used `<var>` or a running `<eval>`).
    pub unshared: usize,
}

/// Compile every job, in the order given. Uses up to `threads` threads.
pub fn kickstarts(fw: &Framework, jobs: &[HostJob], opts: &KickstartOptions<'_>, threads: usize) -> (Vec<Compiled>, Stats) {
    let slots: Vec<std::sync::Mutex<Option<Compiled>>> = jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let stats = kickstarts_with(fw, jobs, opts, threads, |i, c| {
        *slots[i].lock().expect("no thread panics while holding a slot") = Some(c);
    });
    let out = slots.into_iter().map(|m| m.into_inner().expect("slot").expect("every job was compiled")).collect();
    (out, stats)
}

/// Compile every job and hand each result to `sink` (with the job's index) as soon as it is
/// ready, from up to `threads` threads: a large cluster's kickstarts never have to be in
/// memory all at once.
pub fn kickstarts_with<F>(fw: &Framework, jobs: &[HostJob], opts: &KickstartOptions<'_>, threads: usize, sink: F) -> Stats
where
    F: Fn(usize, Compiled) + Sync,
{
    let names = fw.cond_names();
    // Group hosts by what their conditions can see.
    let mut groups: HashMap<(&str, Vec<Option<&str>>), usize> = HashMap::new();
    let mut group_of = Vec::with_capacity(jobs.len());
    let mut leaders: Vec<usize> = Vec::new();
    for (i, j) in jobs.iter().enumerate() {
        // The root node is part of the key: a caller may give hosts of one appliance other roots.
        let root = j.attrs.get("root").map(String::as_str);
        let key = (j.appliance.as_str(), std::iter::once(root).chain(names.iter().map(|n| j.attrs.get(n).map(String::as_str))).collect());
        let g = *groups.entry(key).or_insert_with(|| {
            leaders.push(i);
            leaders.len() - 1
        });
        group_of.push(g);
    }
    // One symbolic kickstart per group.
    let templates: Vec<GroupTemplate> = leaders.iter().map(|&i| group_template(fw, &jobs[i], opts)).collect();
    let unshared = group_of.iter().filter(|&&g| matches!(&templates[g], Err(d) if d.is_empty())).count();
    let threads = threads.clamp(1, 64).min(jobs.len().max(1));
    let chunk = jobs.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (n, (js, gs)) in jobs.chunks(chunk).zip(group_of.chunks(chunk)).enumerate() {
            let (templates, sink) = (&templates, &sink);
            s.spawn(move || {
                for (k, (j, &g)) in js.iter().zip(gs).enumerate() {
                    sink(n * chunk + k, one(fw, j, &templates[g], opts));
                }
            });
        }
    });
    Stats { hosts: jobs.len(), groups: leaders.len(), unshared }
}

/// What one group of hosts shares: see [`group_template`].
type GroupTemplate = Result<(Template, Vec<Diagnostic>), Vec<Diagnostic>>;

/// `Ok(template, group diagnostics)`, `Err(errors)` when the group cannot compile, or
/// `Err(empty)` when its hosts must be compiled one by one.
fn group_template(fw: &Framework, job: &HostJob, opts: &KickstartOptions<'_>) -> GroupTemplate {
    let root = job.attrs.get("root").cloned().unwrap_or_else(|| fw.root_of(&job.appliance));
    let (profile, mut diags) = crate::resolve::profile(fw, &root, &job.attrs);
    let Some(profile) = profile else { return Err(diags) };
    let Some((ks, d, uses)) = kickstart::build_symbolic(fw, &job.appliance, &profile, &job.attrs, opts) else {
        return Err(Vec::new());
    };
    diags.extend(d);
    if crate::diag::has_errors(&diags) {
        return Err(diags);
    }
    let text = ks.render().map_err(|e| vec![render_failed(&e)])?;
    Ok((Template { text, uses }, diags))
}

fn one(fw: &Framework, job: &HostJob, t: &GroupTemplate, opts: &KickstartOptions<'_>) -> Compiled {
    let alone = || {
        let opts = KickstartOptions { origins: Some(&job.origins), ..*opts };
        let (ks, mut diags) = crate::kickstart(fw, &job.appliance, &job.attrs, &opts);
        let text = ks.and_then(|k| k.render().map_err(|e| diags.push(render_failed(&e))).ok());
        Compiled { host: job.host.clone(), text, diags }
    };
    match t {
        Ok((t, group)) => match t.instantiate(&job.attrs) {
            Instance::Text(text, mut diags) => {
                diags.extend(group.iter().cloned());
                Compiled { host: job.host.clone(), text, diags }
            }
            Instance::Alone => alone(),
        },
        Err(errors) if !errors.is_empty() => Compiled { host: job.host.clone(), text: None, diags: errors.clone() },
        Err(_) => alone(),
    }
}

/// The code of a kickstart the built-in template failed to render: a bug in rocks-compile,
/// never caused by input, so no golden case shows it.
const RENDER_FAILED: &str = "internal::render";

fn render_failed(e: &minijinja::Error) -> Diagnostic {
    Diagnostic::error(RENDER_FAILED, format!("internal error rendering the kickstart template: {e}"))
        .help("this is a bug in rocks-compile; please report it with the command line and framework")
}
