//! Kickstarts for many hosts at once. Work shared by hosts is done once: hosts that agree on
//! every attribute a condition reads share one traversal and one symbolic expansion
//! ([`crate::kickstart::template`]); each host then only substitutes its own values.

use std::borrow::Cow;
use std::collections::HashMap;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::attrs::{Attrs, Origins};
use crate::diag::Diagnostic;
use crate::graph::Framework;
use crate::kickstart::{self, KickstartOptions};
use crate::kickstart::template::{Instance, Template};

/// One host to compile: its appliance and its attributes (already merged; see
/// [`crate::resolver`]).
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

/// Where a batch's jobs come from. A source may make each job when it is asked for (see
/// [`crate::build::kickstarts::GraphJobs`]), so a large cluster's attributes never have to be
/// in memory all at once.
pub trait JobSource: Sync {
    /// How many jobs there are.
    fn len(&self) -> usize;
    /// Job number `i`.
    fn job(&self, i: usize) -> Cow<'_, HostJob>;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl JobSource for [HostJob] {
    fn len(&self) -> usize {
        <[HostJob]>::len(self)
    }

    fn job(&self, i: usize) -> Cow<'_, HostJob> {
        Cow::Borrowed(&self[i])
    }
}

impl JobSource for Vec<HostJob> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn job(&self, i: usize) -> Cow<'_, HostJob> {
        Cow::Borrowed(&self[i])
    }
}

/// Compile every job, in the order given. Uses up to `threads` threads.
pub fn kickstarts<J: JobSource + ?Sized>(fw: &Framework, jobs: &J, opts: &KickstartOptions<'_>, threads: usize) -> (Vec<Compiled>, Stats) {
    let slots: Vec<std::sync::Mutex<Option<Compiled>>> = (0..jobs.len()).map(|_| std::sync::Mutex::new(None)).collect();
    let stats = kickstarts_with(fw, jobs, opts, threads, |i, c| {
        *slots[i].lock().expect("no thread panics while holding a slot") = Some(c);
    });
    let out = slots.into_iter().map(|m| m.into_inner().expect("slot").expect("every job was compiled")).collect();
    (out, stats)
}

/// Compile every job and hand each result to `sink` (with the job's index) as soon as it is
/// ready, from up to `threads` threads: a large cluster's kickstarts never have to be in
/// memory all at once.
pub fn kickstarts_with<J, F>(fw: &Framework, jobs: &J, opts: &KickstartOptions<'_>, threads: usize, sink: F) -> Stats
where
    J: JobSource + ?Sized,
    F: Fn(usize, Compiled) + Sync,
{
    kickstarts_reporting(fw, jobs, opts, threads, &|_| {}, sink)
}

/// [`kickstarts_with`], calling `grouped(n)` as `n` more jobs are grouped (the first pass
/// over every host, before any is compiled: for a progress bar).
pub fn kickstarts_reporting<J, F>(
    fw: &Framework,
    jobs: &J,
    opts: &KickstartOptions<'_>,
    threads: usize,
    grouped: &(dyn Fn(u64) + Sync),
    sink: F,
) -> Stats
where
    J: JobSource + ?Sized,
    F: Fn(usize, Compiled) + Sync,
{
    in_pool(threads, || {
        let shared = Shared::prepare_reporting(fw, jobs, opts, grouped);
        (0..jobs.len()).into_par_iter().for_each(|i| sink(i, shared.compile(fw, i, &jobs.job(i), opts)));
        shared.stats()
    })
}

/// Run `f` on a pool of `threads` threads (rayon's global pool when that is its size).
pub fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    let threads = threads.clamp(1, 64);
    if threads == rayon::current_num_threads() {
        return f();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

/// The work a batch of hosts shares, done once: which group each host is in and each group's
/// symbolic kickstart. [`Shared::compile`] then gives any host's kickstart by substitution
/// alone, so a resident responder can keep this and answer each request in microseconds.
#[derive(Debug)]
pub struct Shared {
    /// Per job: its group.
    group_of: Vec<usize>,
    /// Per group.
    templates: Vec<GroupTemplate>,
}

impl Shared {
    /// Group `jobs` by what their conditions can see and compile one symbolic kickstart per
    /// group.
    pub fn prepare<J: JobSource + ?Sized>(fw: &Framework, jobs: &J, opts: &KickstartOptions<'_>) -> Shared {
        Shared::prepare_reporting(fw, jobs, opts, &|_| {})
    }

    /// [`Shared::prepare`], calling `grouped(n)` as `n` more jobs are grouped.
    pub fn prepare_reporting<J: JobSource + ?Sized>(
        fw: &Framework,
        jobs: &J,
        opts: &KickstartOptions<'_>,
        grouped: &(dyn Fn(u64) + Sync),
    ) -> Shared {
        let names = fw.cond_names();
        // Each job's group key (its appliance, root node and the value of every attribute a
        // condition reads), hashed on every core; then groups numbered in job order.
        let keys: Vec<[u8; 32]> = (0..jobs.len())
            .into_par_iter()
            .map(|i| {
                let j = jobs.job(i);
                let mut h = Sha256::new();
                let mut put = |v: Option<&str>| match v {
                    Some(v) => {
                        h.update([1]);
                        h.update((v.len() as u64).to_le_bytes());
                        h.update(v.as_bytes());
                    }
                    None => h.update([0]),
                };
                // The root node is part of the key: a caller may give hosts of one appliance other roots.
                put(Some(&j.appliance));
                put(j.attrs.get("root").map(String::as_str));
                for n in names.iter() {
                    put(j.attrs.get(n).map(String::as_str));
                }
                grouped(1);
                h.finalize().into()
            })
            .collect();
        let mut groups: HashMap<[u8; 32], usize> = HashMap::new();
        let mut group_of = Vec::with_capacity(jobs.len());
        let mut leaders: Vec<usize> = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let g = *groups.entry(*k).or_insert_with(|| {
                leaders.push(i);
                leaders.len() - 1
            });
            group_of.push(g);
        }
        let templates = leaders.par_iter().map(|&i| group_template(fw, &jobs.job(i), opts)).collect();
        Shared { group_of, templates }
    }

    /// The kickstart of job number `i` (`job` is that job, as given to [`Shared::prepare`]).
    pub fn compile(&self, fw: &Framework, i: usize, job: &HostJob, opts: &KickstartOptions<'_>) -> Compiled {
        one(fw, job, &self.templates[self.group_of[i]], opts)
    }

    /// The errors of the groups that cannot compile (each group's once).
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.templates.iter().filter_map(|t| t.as_ref().err()).flatten().filter(|d| d.is_error())
    }

    /// How much work is shared.
    pub fn stats(&self) -> Stats {
        let unshared = self.group_of.iter().filter(|&&g| matches!(&self.templates[g], Err(d) if d.is_empty())).count();
        Stats { hosts: self.group_of.len(), groups: self.templates.len(), unshared }
    }
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
        let (ks, mut diags) = crate::kickstart::compile(fw, &job.appliance, &job.attrs, &opts);
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
