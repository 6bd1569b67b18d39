//! Fuzzing on the stable toolchain: proptest drives mutations of real inputs through four
//! targets — the XML reader, the node/graph syntax, the condition parser and whole-framework
//! compiles (kickstarts, `check`, diagnostics rendered) — and checks three things of every
//! input: no panic, no hang (each run may use [`LIMIT`] of CPU time on its thread; a watchdog
//! notices a run that never ends), and determinism (the same input twice gives the same
//! bytes).
//!
//! Seeds are every XML file of the golden cases and, when present, of the Rocks corpus in
//! `../shared/rocks-corpus/` (skipped with a message when absent). Mutations: byte flips,
//! truncation, splicing an element of another seed in, deep nesting, huge attribute values,
//! and insertions of tricky markup (DOCTYPEs, CDATA, character references, entities).
//!
//! `cargo test --test fuzz` runs a short, fixed set of cases per target (the same every run);
//! `benches/fuzz.sh MINUTES` runs each target for that long with fresh cases. A failing
//! input is written to `target/fuzz/<target>-<what>.txt`; turn each into a golden case named
//! after it.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use rocks_compile::attrs::Attrs;
use rocks_compile::cond::Cond;
use rocks_compile::kickstart::{EvalRunner, KickstartOptions};
use rocks_compile::span::Sources;

/// Most CPU time a single run may use before it counts as a hang. It is measured on the
/// thread that runs the target, so the load of other programs on a shared machine does not
/// count. In the short run under `cargo test` (debug build) only a real hang can reach the
/// generous limit.
const LIMIT: Duration = Duration::from_secs(1);
const LIMIT_DEBUG: Duration = Duration::from_secs(20);

/// How long the watchdog waits for a run's answer (wall-clock time) before it gives the run
/// up as stuck.
const WALL: Duration = Duration::from_secs(60);
const WALL_DEBUG: Duration = Duration::from_secs(300);

#[test]
fn fuzz_xml() {
    fuzz("xml", Seeds::xml(), |files| {
        let (text, mut sources) = one(files);
        let id = sources.add("f.xml", text.clone());
        let (root, diags) = rocks_compile::xml::parse(id, &text);
        format!("{root:?}\n{}", render(&sources, &diags))
    });
}

#[test]
fn fuzz_syntax() {
    fuzz("syntax", Seeds::xml(), |files| {
        let (text, mut sources) = one(files);
        let id = sources.add("f.xml", text.clone());
        let (root, mut diags) = rocks_compile::xml::parse(id, &text);
        let out = match root {
            Some(r) if r.name == "graph" => format!("{:?}", rocks_compile::syntax::graph_file(&r, &mut diags)),
            Some(r) => format!("{:?}", rocks_compile::syntax::node_file(&r, &mut diags)),
            None => String::new(),
        };
        format!("{out}\n{}", render(&sources, &diags))
    });
}

#[test]
fn fuzz_cond() {
    fuzz("cond", Seeds::conds(), |files| {
        let (text, _) = one(files);
        match Cond::parse(&text) {
            Ok(c) => {
                let attrs = Attrs::from([("os".into(), "linux".into()), ("x".into(), "yes".into()), ("n".into(), "7".into())]);
                let lookup = |n: &str| attrs.get(n).map(String::as_str);
                format!("{c} {:?} {:?}", c.eval_value(&lookup), c.names())
            }
            Err(e) => format!("{}..{} {}", e.start, e.end, e.message),
        }
    });
}

#[test]
fn fuzz_framework() {
    fuzz("framework", Seeds::frameworks(), |files| {
        let loaded = rocks_compile::load::from_memory("fuzz", files);
        let (fw, diags) = rocks_compile::graph::Framework::build(loaded, "default");
        let mut out = render(&fw.sources, &diags);
        let mut appliances: Vec<String> = fw.appliances.keys().cloned().collect();
        if appliances.is_empty() {
            appliances = fw.graph_roots();
        }
        appliances.push("compute".into());
        for eval in [false, true] {
            let opts = KickstartOptions {
                rcs: eval,
                post_log: eval,
                var_rocks_copy: eval,
                eval: eval.then_some(&Echo as &dyn EvalRunner),
                eval_as_text: !eval,
                origins: None,
            };
            for a in appliances.iter().take(3) {
                let attrs = rocks_compile::effective_attrs(&fw, a, &Attrs::from([("x".into(), "a\nb".into())]));
                let (ks, d) = rocks_compile::kickstart(&fw, a, &attrs, &opts);
                out.push_str(&ks.map(|k| k.render().expect("renders")).unwrap_or_default());
                out.push_str(&render(&fw.sources, &d));
            }
        }
        let report = rocks_compile::check::check(&fw, Vec::new(), &Attrs::new());
        out.push_str(&report.summary(&fw));
        out.push_str(&render(&fw.sources, &report.diagnostics));
        out
    });
}

/// The watchdog itself: a panic, a run over the CPU-time limit and output that differs are
/// each reported as what they are, and the check after a slow run gets its own answers.
#[test]
fn watchdog_reports_what_happened() {
    fn by_name(files: &[(String, String)]) -> String {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let runs = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match files.first().map_or("", |f| f.0.as_str()) {
            "panic" => panic!("asked to panic"),
            "differ" => runs.to_string(),
            name => name.repeat(1000),
        }
    }
    let watchdog = Watchdog::new(by_name, WALL);
    let input = |name: &str| vec![(name.to_string(), String::new())];
    let check = |name: &str, limit: Duration| watchdog.check("watchdog", &input(name), limit);
    assert_eq!(check("same", LIMIT), Ok(()));
    assert!(check("panic", LIMIT).is_err_and(|e| e.starts_with("panicked: asked to panic;")));
    assert!(check("differ", LIMIT).is_err_and(|e| e.starts_with("two runs gave different output;")));
    assert!(check("slow", Duration::ZERO).is_err_and(|e| e.contains("of CPU time (limit 0ns);")));
    assert_eq!(check("same", LIMIT), Ok(()));
}

/// `<eval>` that prints its own script: `mode="xml"` bodies become markup again.
struct Echo;

impl EvalRunner for Echo {
    fn run(&self, _shell: &str, script: &str, _env: &Attrs) -> Result<String, String> {
        if script.contains("fail") { Err("asked to fail".into()) } else { Ok(script.to_string()) }
    }
}

fn one(files: &[(String, String)]) -> (String, Sources) {
    (files.first().map(|f| f.1.clone()).unwrap_or_default(), Sources::new())
}

fn render(sources: &Sources, diags: &[rocks_compile::diag::Diagnostic]) -> String {
    diags.iter().map(|d| d.render(sources, false) + &d.short(sources)).collect()
}

/// One input: a set of files (one for the single-file targets, a framework otherwise).
type Files = Vec<(String, String)>;

/// The seed inputs of a target.
struct Seeds(Vec<Files>);

impl Seeds {
    /// Every XML file of the golden cases and the corpus, one input each.
    fn xml() -> Seeds {
        Seeds(xml_files().into_iter().map(|f| vec![f]).collect())
    }

    /// Every `cond="..."` of the XML seeds, plus a few written here.
    fn conds() -> Seeds {
        let mut conds: Vec<String> =
            ["not x", "os in ['linux', 'sunos'] and n >= 5", "((a or b) and not (c == 'd'))", "x is None", "n < 10 and n != 3"]
                .into_iter()
                .map(str::to_string)
                .collect();
        for (_, text) in xml_files() {
            let mut rest = text.as_str();
            while let Some(i) = rest.find("cond=\"") {
                rest = &rest[i + 6..];
                let end = rest.find('"').unwrap_or(rest.len());
                conds.push(rest[..end].replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&"));
            }
        }
        conds.sort();
        conds.dedup();
        Seeds(conds.into_iter().map(|c| vec![("cond".to_string(), c)]).collect())
    }

    /// Every golden case with a framework, and the merged Rocks corpus framework.
    fn frameworks() -> Seeds {
        let mut out = Vec::new();
        for dir in dirs(&root().join("tests/cases")) {
            let files = framework_files(&dir);
            if files.iter().any(|(p, _)| p.starts_with("nodes/")) {
                out.push(files);
            }
        }
        if let Some(c) = corpus() {
            let mut merged = Vec::new();
            for roll in ["core", "base", "hpc", "sge", "kvm", "ganglia", "area51"] {
                merged.extend(framework_files(&c.join("rocks").join(roll)));
            }
            out.push(merged);
        }
        Seeds(out)
    }
}

/// What one mutation does to one file of an input.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Truncate(Index),
    /// Copy an element (from `<` on) of another seed into this one.
    Splice {
        seed: Index,
        from: Index,
        len: u16,
        at: Index,
    },
    /// Wrap the text at a point in `depth` elements (closed, or left open).
    Nest {
        at: Index,
        depth: u16,
        close: bool,
    },
    /// Make an attribute value very long.
    HugeAttr {
        at: Index,
        len: u32,
    },
    Insert {
        at: Index,
        what: Index,
    },
}

const TRICKY: &[&str] = &[
    "&",
    "&x;",
    "&#0;",
    "&#x10FFFF;",
    "&#xD800;",
    "\0",
    "\u{1b}[31m",
    "\u{E000}",
    "\u{FEFF}",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<!DOCTYPE kickstart [<!ENTITY a \"&a;&a;\">]>",
    "<!DOCTYPE g SYSTEM \"file:///etc/passwd\">",
    "<?xml version=\"1.0\"?>",
    "<eval mode=\"xml\">",
    "</eval>",
    "<include file=\"x\" mode=\"xml\"/>",
    "<file name=\"&x;\" owner=\"&y;\">",
    "</file>",
    "<var name=\"x\" val=\"&x;\"/>",
    " cond=\"(\"",
    " cond=\"x and\"",
    "<main><timezone>&x;</timezone></main>",
    "<package>&x;</package>",
    "<edge from=\"compute\" to=\"compute\"/>",
    "<order head=\"TAIL\" tail=\"HEAD\"/>",
    "\r\n",
    "%end\n%post\n",
    "<post arg=\"&x;\">",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), any::<Index>(), 1u16..4000, any::<Index>()).prop_map(|(seed, from, len, at)| Mutation::Splice { seed, from, len, at }),
        1 => (any::<Index>(), 1u16..3000, any::<bool>()).prop_map(|(at, depth, close)| Mutation::Nest { at, depth, close }),
        1 => (any::<Index>(), 1u32..300_000).prop_map(|(at, len)| Mutation::HugeAttr { at, len }),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(at, what)| Mutation::Insert { at, what }),
    ]
}

/// A seed, the file of it to mutate, and the mutations.
fn input(n_seeds: usize) -> impl Strategy<Value = (usize, Index, Vec<Mutation>)> {
    (0..n_seeds, any::<Index>(), prop::collection::vec(mutation(), 1..5))
}

fn apply(files: &Files, file: &Index, muts: &[Mutation], seeds: &[Files]) -> Files {
    let mut files = files.clone();
    if files.is_empty() {
        return files;
    }
    let k = file.index(files.len());
    let mut b = files[k].1.clone().into_bytes();
    for m in muts {
        let pos = |i: &Index, b: &[u8]| i.index(b.len() + 1);
        match m {
            Mutation::Flip(i, bit) if !b.is_empty() => {
                let p = i.index(b.len());
                b[p] ^= 1 << bit;
            }
            Mutation::Flip(..) => {}
            Mutation::Truncate(i) => b.truncate(pos(i, &b)),
            Mutation::Splice { seed, from, len, at } => {
                let donor = &seeds[seed.index(seeds.len())];
                let Some(d) = donor.get(from.index(donor.len().max(1))).map(|f| f.1.as_bytes()) else { continue };
                let start = d.iter().skip(from.index(d.len() + 1)).position(|&c| c == b'<').map(|p| p + from.index(d.len() + 1));
                if let Some(s) = start {
                    let piece = d[s..(s + *len as usize).min(d.len())].to_vec();
                    let at = pos(at, &b);
                    b.splice(at..at, piece);
                }
            }
            Mutation::Nest { at, depth, close } => {
                let at = pos(at, &b);
                let mut piece = "<post>".repeat(*depth as usize);
                if *close {
                    piece.push_str(&"</post>".repeat(*depth as usize));
                }
                b.splice(at..at, piece.into_bytes());
            }
            Mutation::HugeAttr { at, len } => {
                let from = pos(at, &b).min(b.len());
                let q = b[from..].windows(2).position(|w| w == b"=\"").map(|p| p + from + 2).unwrap_or(from);
                b.splice(q..q, std::iter::repeat_n(b'A', *len as usize));
            }
            Mutation::Insert { at, what } => {
                let at = pos(at, &b);
                b.splice(at..at, TRICKY[what.index(TRICKY.len())].bytes());
            }
        }
    }
    files[k].1 = String::from_utf8_lossy(&b).into_owned();
    files
}

/// Run `target` on mutated seeds: a fixed set of cases, or for `ROCKS_FUZZ_SECONDS` seconds.
fn fuzz(name: &'static str, seeds: Seeds, target: fn(&[(String, String)]) -> String) {
    if let Ok(path) = std::env::var("ROCKS_FUZZ_REPLAY") {
        return replay(name, target, Path::new(&path));
    }
    let seeds = seeds.0;
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let budget = std::env::var("ROCKS_FUZZ_SECONDS").ok().and_then(|s| s.parse::<u64>().ok());
    let limit = if cfg!(debug_assertions) { LIMIT_DEBUG } else { LIMIT };
    let watchdog = Watchdog::new(target, if cfg!(debug_assertions) { WALL_DEBUG } else { WALL });
    let started = Instant::now();
    let execs = std::cell::Cell::new(0u64);
    let mut round = 0u64;
    loop {
        // Each round is reproducible from its number; the short run is always round 0.
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&round.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
        let cases = if budget.is_some() { 256 } else { 24 };
        let config = Config { cases, failure_persistence: None, max_shrink_iters: 200, ..Config::default() };
        let mut runner = TestRunner::new_with_rng(config, rng);
        let result = runner.run(&input(seeds.len()), |(s, file, muts)| {
            let files = apply(&seeds[s], &file, &muts, &seeds);
            execs.set(execs.get() + 2);
            watchdog.check(name, &files, limit).map_err(TestCaseError::fail)
        });
        if let Err(e) = result {
            panic!("fuzz target `{name}` failed (round {round}): {e}");
        }
        round += 1;
        match budget {
            Some(secs) if started.elapsed() < Duration::from_secs(secs) => {}
            _ => break,
        }
    }
    println!(
        "fuzz target {name}: {} execs in {:.0} s ({} seeds, {round} rounds, slowest run {:.0} ms of CPU time), 0 crashes, 0 hangs, 0 nondeterministic outputs",
        execs.get(),
        started.elapsed().as_secs_f64(),
        seeds.len(),
        watchdog.slowest.get().as_secs_f64() * 1000.0
    );
}

/// Runs the target on its own thread, so a hang is noticed instead of waited out.
///
/// Every run is numbered and its answer carries the number, so an answer always belongs to the
/// run that is checked. A run slower than the limit is waited for (drained) and reported with
/// the CPU time it used; a run that has not answered after [`WALL`] cannot be stopped (a
/// thread cannot be killed), so its input is saved and the process ends: measurements made
/// beside a thread that still spins would not be trustworthy.
struct Watchdog {
    send: mpsc::Sender<(u64, Files)>,
    recv: mpsc::Receiver<Answer>,
    runs: std::cell::Cell<u64>,
    wall: Duration,
    /// The most CPU time one run has used.
    slowest: std::cell::Cell<Duration>,
}

/// What the target's thread says about run number `run`: the output or the panic's message,
/// and the CPU time the run used.
struct Answer {
    run: u64,
    output: Result<String, String>,
    cpu: Duration,
}

impl Watchdog {
    fn new(target: fn(&[(String, String)]) -> String, wall: Duration) -> Watchdog {
        let (send, inputs) = mpsc::channel::<(u64, Files)>();
        let (outputs, recv) = mpsc::channel();
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || {
                for (run, files) in inputs {
                    let started = thread_cpu_time();
                    let r = std::panic::catch_unwind(AssertUnwindSafe(|| target(&files)));
                    let cpu = thread_cpu_time().saturating_sub(started);
                    let output = r.map_err(|p| {
                        p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
                    });
                    if outputs.send(Answer { run, output, cpu }).is_err() {
                        break;
                    }
                }
            })
            .expect("a thread for the target");
        Watchdog { send, recv, runs: std::cell::Cell::new(0), wall, slowest: std::cell::Cell::new(Duration::ZERO) }
    }

    /// Run twice: no panic, each within `limit` of CPU time, the same bytes both times.
    fn check(&self, name: &str, files: &Files, limit: Duration) -> Result<(), String> {
        let mut outs = Vec::new();
        for _ in 0..2 {
            let answer = self.run(name, files);
            match answer.output {
                Err(panic) => return Err(save(name, "panic", files, &format!("panicked: {panic}"))),
                Ok(_) if answer.cpu > limit => {
                    return Err(save(name, "hang", files, &format!("used {:?} of CPU time (limit {limit:?})", answer.cpu)));
                }
                Ok(out) => outs.push(out),
            }
        }
        if outs[0] != outs[1] {
            return Err(save(name, "nondeterministic", files, "two runs gave different output"));
        }
        Ok(())
    }

    /// One run of the target on `files`, waited for until it answers (at most [`WALL`]).
    fn run(&self, name: &str, files: &Files) -> Answer {
        let run = self.runs.get() + 1;
        self.runs.set(run);
        self.send.send((run, files.clone())).expect("the target's thread runs as long as the watchdog");
        let started = Instant::now();
        loop {
            let left = self.wall.saturating_sub(started.elapsed());
            match self.recv.recv_timeout(left) {
                Ok(answer) if answer.run == run => {
                    self.slowest.set(self.slowest.get().max(answer.cpu));
                    return answer;
                }
                // An answer of an earlier run cannot come (each run is waited for), but it
                // would be dropped rather than taken for this one.
                Ok(_) => {}
                Err(_) => {
                    let msg = save(name, "hang", files, &format!("no answer after {:?}", self.wall));
                    println!("fuzz target {name}: stuck: {msg}");
                    std::process::exit(1);
                }
            }
        }
    }
}

/// CPU time used so far by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always supported
    // on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Run `target` once on an input [`save`] wrote, if it is this target's, and say how much CPU
/// time it used: `ROCKS_FUZZ_REPLAY=target/fuzz/framework-hang.txt cargo test --release --test fuzz`.
fn replay(name: &str, target: fn(&[(String, String)]) -> String, path: &Path) {
    if !path.file_name().is_some_and(|f| f.to_string_lossy().starts_with(&format!("{name}-"))) {
        return;
    }
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut files: Files = Vec::new();
    for line in text.split_inclusive('\n') {
        match (line.strip_prefix("=== "), files.last_mut()) {
            (Some(p), _) => files.push((p.trim_end_matches('\n').to_string(), String::new())),
            (None, Some(f)) => f.1.push_str(line),
            (None, None) => panic!("{}: no `=== path` line first", path.display()),
        }
    }
    for f in &mut files {
        f.1.pop();
    }
    let started = thread_cpu_time();
    let out = target(&files);
    let took = thread_cpu_time().saturating_sub(started);
    let same = out == target(&files);
    println!("fuzz replay {name}: {} files, {} bytes out in {took:?} of CPU time, the same twice: {same}", files.len(), out.len());
    if let Ok(to) = std::env::var("ROCKS_FUZZ_REPLAY_OUT") {
        std::fs::write(to, &out).expect("writes the output");
    }
}

/// Keep a failing input for reproduction and say where it is.
fn save(name: &str, what: &str, files: &Files, msg: &str) -> String {
    let dir = root().join("target/fuzz");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{name}-{what}.txt"));
    let text: String = files.iter().map(|(p, t)| format!("=== {p}\n{t}\n")).collect();
    let _ = std::fs::write(&path, text);
    format!("{msg}; input written to {}", path.display())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> Option<PathBuf> {
    let c = root().join("../shared/rocks-corpus");
    if c.join("rocks").is_dir() {
        Some(c)
    } else {
        eprintln!("fuzz: the Rocks corpus is not at {}; seeding from the golden cases only", c.display());
        None
    }
}

fn dirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p).map(|r| r.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    v.sort();
    v
}

/// The framework files under `dir` (`nodes/`, `graphs/`, `include/`) with relative paths.
fn framework_files(dir: &Path) -> Files {
    let mut out = Vec::new();
    for sub in ["nodes", "graphs", "include"] {
        let mut stack = vec![dir.join(sub)];
        while let Some(d) = stack.pop() {
            for p in dirs(&d) {
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(text) = std::fs::read_to_string(&p) {
                    let rel = p.strip_prefix(dir).expect("under dir").to_string_lossy().into_owned();
                    out.push((rel, text));
                }
            }
        }
    }
    out.sort();
    out
}

/// Every `.xml` node or graph file of the golden cases and the corpus.
fn xml_files() -> Files {
    let mut roots = dirs(&root().join("tests/cases"));
    if let Some(c) = corpus() {
        roots.extend(dirs(&c.join("rocks")));
    }
    roots.iter().flat_map(|d| framework_files(d)).filter(|(p, _)| p.ends_with(".xml")).collect()
}
