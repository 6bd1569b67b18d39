//! Kickstart compile benchmarks (divan, in-process).
//!
//! - `corpus_compute_end_to_end`: what one CLI run does minus process start and the output
//!   write: read the seven corpus rolls from disk, build the framework, parse the attrs file,
//!   compile the `compute` kickstart and render it.
//! - `corpus_compute_compile_only`: the framework is loaded once, outside the timed loop;
//!   each iteration runs `effective_attrs` + `kickstart` + `render`. `Framework` caches parsed
//!   node files after their first use, so this is the *warm* per-request cost of a
//!   long-running responder (graph walk, ordering, emit, render; no XML parsing of nodes).
//! - `corpus_compute_first_compile`: a fresh framework per iteration (built outside the
//!   timing), so the node files are parsed inside the timed call: the *cold* first request.
//!   end_to_end ≈ open (read + graph parse) + first_compile.
//! - `builtin_compute_end_to_end`: the same as end_to_end on `Layer::Embedded`, no attrs.
//!
//! The corpus is `../shared/rocks-corpus` next to the crate; without it the corpus benches
//! are skipped with a loud message and only the builtin bench runs.

use std::path::PathBuf;

use rocks_compile::attrs::{Attrs, parse_python_dict};
use rocks_compile::graph::Framework;
use rocks_compile::kickstart::KickstartOptions;
use rocks_compile::load::Layer;

const ROLLS: [&str; 7] = ["core", "base", "hpc", "sge", "kvm", "ganglia", "area51"];
const APPLIANCE: &str = "compute";

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/rocks-corpus")
}

fn corpus_present() -> bool {
    let c = corpus();
    ROLLS.iter().all(|r| c.join("rocks").join(r).is_dir()) && c.join("generated/rocks7/compute.attrs.py").is_file()
}

fn corpus_layers() -> Vec<Layer> {
    ROLLS.iter().map(|r| Layer::Dir(corpus().join("rocks").join(r))).collect()
}

fn corpus_attrs_text() -> String {
    std::fs::read_to_string(corpus().join("generated/rocks7/compute.attrs.py")).expect("read compute.attrs.py")
}

/// `--rocks7 --eval-as-text`, as the CLI sets them.
fn rocks7_opts() -> KickstartOptions<'static> {
    KickstartOptions { rcs: true, post_log: true, var_rocks_copy: true, eval: None, eval_as_text: true, origins: None }
}

fn builtin_opts() -> KickstartOptions<'static> {
    KickstartOptions::default()
}

fn open(layers: &[Layer]) -> Framework {
    rocks_compile::open(layers, "default").expect("open framework").0
}

fn compile(fw: &Framework, given: &Attrs, opts: &KickstartOptions<'_>) -> String {
    let attrs = rocks_compile::effective_attrs(fw, APPLIANCE, given);
    let (ks, diags) = rocks_compile::kickstart(fw, APPLIANCE, &attrs, opts);
    match ks {
        Some(ks) => ks.render().expect("the kickstart renders"),
        None => panic!("kickstart failed: {diags:?}"),
    }
}

#[divan::bench]
fn corpus_compute_end_to_end() -> String {
    let fw = open(&corpus_layers());
    let given = parse_python_dict(&corpus_attrs_text()).expect("parse attrs");
    compile(&fw, &given, &rocks7_opts())
}

#[divan::bench]
fn corpus_compute_compile_only(bencher: divan::Bencher) {
    let fw = open(&corpus_layers());
    let given = parse_python_dict(&corpus_attrs_text()).expect("parse attrs");
    let opts = rocks7_opts();
    bencher.bench_local(|| compile(divan::black_box(&fw), &given, &opts));
}

#[divan::bench(sample_count = 30, sample_size = 1)]
fn corpus_compute_first_compile(bencher: divan::Bencher) {
    let layers = corpus_layers();
    let given = parse_python_dict(&corpus_attrs_text()).expect("parse attrs");
    let opts = rocks7_opts();
    bencher.with_inputs(|| open(&layers)).bench_local_values(|fw| {
        let out = compile(&fw, &given, &opts);
        (fw, out) // dropped outside the timing
    });
}

#[divan::bench]
fn builtin_compute_end_to_end() -> String {
    let fw = open(&[Layer::Embedded]);
    compile(&fw, &Attrs::new(), &builtin_opts())
}

fn main() {
    let mut divan = divan::Divan::from_args();
    if corpus_present() {
        // Sanity check once, so a broken compile fails loudly instead of being timed.
        let fw = open(&corpus_layers());
        let given = parse_python_dict(&corpus_attrs_text()).expect("parse attrs");
        let ks = compile(&fw, &given, &rocks7_opts());
        eprintln!("corpus compute kickstart: {} bytes, {} lines", ks.len(), ks.lines().count());
    } else {
        eprintln!("{}", "!".repeat(78));
        eprintln!("!! rocks corpus not found at {}", corpus().display());
        eprintln!("!! SKIPPING corpus_* benches; only the builtin-framework bench runs.");
        eprintln!("{}", "!".repeat(78));
        divan = divan.skip_regex("corpus_");
    }
    divan.main();
}
