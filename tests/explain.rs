//! `explain` answers for every line: each names an existing file and line, and a line of node
//! text is found on the line it names. Walks every line of the built-in framework's
//! kickstarts and, when `../shared/rocks-corpus/` is present, of the Rocks corpus compute
//! kickstart (`--rocks7 --eval-as-text`; absent: fails loudly unless `ROCKS_CORPUS_OPTIONAL=1`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rocks_compile::attrs::{Attrs, parse_python_dict};
use rocks_compile::explain::{Explanation, Origin, TEMPLATE_FILE, explain};
use rocks_compile::graph::Framework;
use rocks_compile::kickstart::{KickstartOptions, build_traced};
use rocks_compile::load::Layer;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Compile traced, check the traced text is the normal text, and explain it.
fn explained(fw: &Framework, appliance: &str, given: &Attrs, opts: &KickstartOptions<'_>) -> Explanation {
    let attrs = rocks_compile::effective_attrs(fw, appliance, given);
    let (plain, diags) = rocks_compile::kickstart(fw, appliance, &attrs, opts);
    let plain = plain.unwrap_or_else(|| panic!("{appliance}: {diags:?}"));
    let (profile, _) = rocks_compile::resolve::profile(fw, &fw.root_of(appliance), &attrs);
    let (ks, _) = build_traced(fw, appliance, &profile.unwrap(), &attrs, opts);
    assert_eq!(ks.render().unwrap(), plain.render().unwrap(), "{appliance}: tracing changed the kickstart");
    let ex = explain(fw, &ks, &attrs, &BTreeMap::new()).unwrap_or_else(|e| panic!("{appliance}: {e}"));
    assert_eq!(ex.lines.len(), plain.render().unwrap().lines().count());
    ex
}

/// The file an origin names, on disk.
fn file_of(o: &Origin) -> PathBuf {
    if o.file == TEMPLATE_FILE {
        return manifest().join(TEMPLATE_FILE);
    }
    match o.file.strip_prefix("<builtin>/") {
        Some(rel) => manifest().join(rel),
        None => PathBuf::from(&o.file),
    }
}

/// XML text as it appears after parsing (the escapes node files use for shell).
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// Check every answer; returns (lines of node text checked, lines found on the named line).
fn check_all(ex: &Explanation, what: &str) -> (usize, usize) {
    let mut texts: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    let mut lines_of = |p: &Path| -> Vec<String> {
        texts
            .entry(p.to_path_buf())
            .or_insert_with(|| {
                std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{what}: {}: {e}", p.display())).lines().map(unescape).collect()
            })
            .clone()
    };
    let (mut checked, mut found) = (0, 0);
    for l in &ex.lines {
        let mut origins = vec![&l.origin];
        origins.extend(&l.also);
        for o in origins {
            let path = file_of(o);
            let src = lines_of(&path);
            assert!(o.line >= 1 && o.line as usize <= src.len(), "{what} line {}: {}:{} does not exist", l.number, o.file, o.line);
            if o.what == "text" && l.attributes.is_empty() && !l.text.trim().is_empty() {
                checked += 1;
                if src[o.line as usize - 1].contains(l.text.trim()) {
                    found += 1;
                } else {
                    eprintln!("{what} line {}: `{}` is not on {}:{}", l.number, l.text, o.file, o.line);
                }
            }
        }
        for s in &l.path {
            let src = lines_of(&file_of(&Origin { file: s.file.clone(), line: s.line, node: None, what: String::new() }));
            assert!(s.line >= 1 && s.line as usize <= src.len(), "{what} line {}: edge {}:{} does not exist", l.number, s.file, s.line);
        }
        if let Some(n) = &l.origin.node
            && n != &ex.root
        {
            assert!(!l.path.is_empty(), "{what} line {}: no edge path to `{n}`", l.number);
            assert_eq!(l.path.last().map(|s| s.to.as_str()), Some(n.as_str()));
        }
    }
    (checked, found)
}

#[test]
fn every_line_of_the_builtin_kickstarts() {
    let (fw, _) = rocks_compile::open(&[Layer::Embedded], "default").unwrap();
    for appliance in ["compute", "frontend", "login", "nas"] {
        for opts in
            [KickstartOptions::default(), KickstartOptions { rcs: true, post_log: true, var_rocks_copy: true, ..Default::default() }]
        {
            let ex = explained(&fw, appliance, &Attrs::new(), &opts);
            let (checked, found) = check_all(&ex, appliance);
            assert!(checked > 20, "{appliance}: only {checked} text lines");
            assert_eq!(found, checked, "{appliance}: a line of node text is not on the line its answer names");
        }
    }
}

#[test]
fn every_line_of_the_corpus_compute_kickstart() {
    let c = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/rocks-corpus");
    if !c.join("rocks").is_dir() {
        let msg = format!("*** THE ROCKS CORPUS IS MISSING at {}: explain was NOT checked on it ***", c.display());
        assert!(std::env::var("ROCKS_CORPUS_OPTIONAL").as_deref() == Ok("1"), "{msg} (set ROCKS_CORPUS_OPTIONAL=1 to skip)");
        eprintln!("{msg}");
        return;
    }
    let layers: Vec<Layer> =
        ["core", "base", "hpc", "sge", "kvm", "ganglia", "area51"].iter().map(|r| Layer::Dir(c.join("rocks").join(r))).collect();
    let (fw, _) = rocks_compile::open(&layers, "default").unwrap();
    let given = parse_python_dict(&std::fs::read_to_string(c.join("generated/rocks7/compute.attrs.py")).unwrap()).unwrap();
    let opts = KickstartOptions { rcs: true, post_log: true, var_rocks_copy: true, eval: None, eval_as_text: true, ..Default::default() };
    let ex = explained(&fw, "compute", &given, &opts);
    let (checked, found) = check_all(&ex, "corpus compute");
    assert!(checked > 400, "only {checked} text lines");
    eprintln!("corpus compute: {found} of {checked} lines of node text found on the line named");
    assert_eq!(found, checked, "a line of node text is not on the line its answer names");
}
