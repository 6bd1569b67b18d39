//! Golden cases: every directory under `tests/cases/` runs the `rocks-compile` binary once and
//! compares what it printed and wrote with the expectations stored beside it.
//!
//! ```text
//! tests/cases/<name>/
//!   case.toml        about = "why this case exists" (required), args = [...] (the command line
//!                    after the program name; the case directory is the current directory),
//!                    exit = N (default 0)
//!   nodes/ graphs/   the case's own framework (cases pass `--framework .` themselves)
//!   facts.sql        optional: run against a fresh cluster database (`init`, then this SQL)
//!                    that the command sees as `ROCKS_COMPILE_DB`; in what the run prints, the
//!                    database's folder reads `$SCRATCH`. `db_mode = "0644"` in case.toml
//!                    gives the database file that mode before the run
//!   expected/stdout  standard output, byte for byte (absent: stdout must be empty)
//!   expected.stderr  standard error, byte for byte (absent: stderr must be empty)
//!   expected/out/    every file the run wrote under `out/` (`-o out/NAME`); missing or extra
//!                    files fail (the lock file `out/.NAME.lock` beside a tree is not compared)
//! ```
//!
//! `BLESS=1 cargo test --test golden` rewrites the expectations from what the binary does now.
//! Adding a case needs no Rust. A second test makes sure every diagnostic code the sources can
//! emit is triggered by at least one case.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[test]
fn golden_cases() {
    let bless = bless();
    let cases = case_dirs();
    assert!(!cases.is_empty(), "no cases under {}", cases_root().display());
    let mut failures = Vec::new();
    for dir in &cases {
        if let Err(msg) = check(dir, bless) {
            failures.push(format!("--- case `{}` ---\n{msg}", case_name(dir)));
        }
    }
    if !failures.is_empty() {
        panic!(
            "{} of {} golden cases failed (run `BLESS=1 cargo test --test golden` to accept the new output):\n\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }
}

#[test]
fn every_diagnostic_code_has_a_case() {
    if bless() {
        // `golden_cases` is rewriting the expectations in parallel; check them on the next run.
        eprintln!("BLESS is set: diagnostic-code coverage is checked on the next run without BLESS");
        return;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut in_src: BTreeMap<String, String> = BTreeMap::new();
    for file in files_under(&src) {
        if file.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for code in diagnostic_codes(&text) {
            in_src.entry(code).or_insert_with(|| file.strip_prefix(&src).unwrap().display().to_string());
        }
    }
    assert!(in_src.len() >= 10, "found only {} diagnostic codes in src/: is the scan broken?", in_src.len());

    let mut expected_text = String::new();
    for dir in case_dirs() {
        for f in [dir.join("expected.stderr"), dir.join("expected/stdout")] {
            if let Ok(t) = std::fs::read_to_string(&f) {
                expected_text.push_str(&t);
                expected_text.push('\n');
            }
        }
    }
    let missing: Vec<String> =
        in_src.iter().filter(|(code, _)| !mentions_code(&expected_text, code)).map(|(c, f)| format!("  {c}  (src/{f})")).collect();
    assert!(
        missing.is_empty(),
        "these diagnostic codes are not triggered by any case under tests/cases/ (add one whose expected.stderr shows it):\n{}",
        missing.join("\n")
    );
    eprintln!(
        "{} diagnostic codes in src/, each triggered by a case: {}",
        in_src.len(),
        in_src.keys().cloned().collect::<Vec<_>>().join(" ")
    );
}

/// Run one case and compare (or, with `bless`, store) its results.
fn check(dir: &Path, bless: bool) -> Result<(), String> {
    let case = read_case(dir)?;
    let out_dir = dir.join("out");
    remove_dir(&out_dir)?;
    // `-o out/NAME` needs the folder; the binary does not create parent folders.
    std::fs::create_dir(&out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let scratch = tempfile::tempdir().map_err(|e| format!("cannot make a scratch directory: {e}"))?;
    let db = scratch.path().join("cluster.db");
    if let Ok(sql) = std::fs::read_to_string(dir.join("facts.sql")) {
        let init = Command::new(env!("CARGO_BIN_EXE_rocks-compile"))
            .args(["--db".as_ref(), db.as_os_str(), "init".as_ref()])
            .output()
            .map_err(|e| format!("cannot run rocks-compile init: {e}"))?;
        if !init.status.success() {
            return Err(format!("init failed: {}", String::from_utf8_lossy(&init.stderr)));
        }
        let conn = rusqlite::Connection::open(&db).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
        conn.execute_batch(&sql).map_err(|e| format!("facts.sql: {e}"))?;
    }
    if let Some(mode) = case.db_mode {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(mode)).map_err(|e| format!("db_mode (needs facts.sql): {e}"))?;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_rocks-compile"))
        .args(&case.args)
        .env("ROCKS_COMPILE_DB", &db)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run rocks-compile: {e}"))?;
    let written = read_tree(&out_dir);
    remove_dir(&out_dir)?;
    let written = written?;
    let scratch_name = scratch.path().to_string_lossy().into_owned();
    let shown = |bytes: &[u8]| String::from_utf8_lossy(bytes).replace(&scratch_name, "$SCRATCH").into_bytes();
    let (stdout, stderr) = (shown(&output.stdout), shown(&output.stderr));

    let stdout_path = dir.join("expected/stdout");
    let stderr_path = dir.join("expected.stderr");
    let expected_out = dir.join("expected/out");
    if bless {
        store(&stdout_path, &stdout)?;
        store(&stderr_path, &stderr)?;
        remove_dir(&expected_out)?;
        for (rel, bytes) in &written {
            store(&expected_out.join(rel), bytes)?;
        }
        let expected = dir.join("expected");
        if expected.is_dir() && files_under(&expected).is_empty() {
            remove_dir(&expected)?;
        }
    }

    let mut problems = Vec::new();
    let code = output.status.code();
    if code != Some(case.exit) {
        problems.push(format!("exit status: expected {}, got {}", case.exit, code.map_or("a signal".to_string(), |c| c.to_string())));
    }
    compare("stdout", &stdout_path, &stdout, &mut problems);
    compare("stderr", &stderr_path, &stderr, &mut problems);
    let expected_files = read_tree(&expected_out)?;
    for (rel, want) in &expected_files {
        match written.get(rel) {
            Some(got) => compare_bytes(&format!("out/{rel}"), want, got, &mut problems),
            None => problems.push(format!("out/{rel}: expected the run to write it, but it did not")),
        }
    }
    for rel in written.keys().filter(|r| !expected_files.contains_key(*r)) {
        problems.push(format!("out/{rel}: written by the run but not expected (no expected/out/{rel})"));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

/// `case.toml`, validated.
struct Case {
    args: Vec<String>,
    exit: i32,
    /// The mode the database file is given before the run.
    db_mode: Option<u32>,
}

fn read_case(dir: &Path) -> Result<Case, String> {
    let path = dir.join("case.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e| format!("case.toml is not valid TOML: {e}"))?;
    for key in table.keys() {
        if !["about", "args", "exit", "db_mode"].contains(&key.as_str()) {
            return Err(format!("case.toml: unknown key `{key}` (known: about, args, exit, db_mode)"));
        }
    }
    match table.get("about") {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => {}
        _ => return Err("case.toml: `about = \"why this case exists\"` is required and must not be empty".into()),
    }
    let args = match table.get("args") {
        Some(toml::Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| "case.toml: every `args` entry must be a string".to_string()))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("case.toml: `args = [...]` is required".into()),
    };
    let exit = match table.get("exit") {
        None => 0,
        Some(toml::Value::Integer(i)) => i32::try_from(*i).map_err(|_| "case.toml: `exit` is out of range".to_string())?,
        Some(_) => return Err("case.toml: `exit` must be an integer".into()),
    };
    let db_mode = match table.get("db_mode") {
        None => None,
        Some(v) => Some(
            v.as_str().and_then(|m| u32::from_str_radix(m, 8).ok()).ok_or("case.toml: `db_mode` must be an octal mode such as \"0644\"")?,
        ),
    };
    // Written files must land in `out/`, which the harness compares and cleans up.
    for w in args.windows(2) {
        if (w[0] == "-o" || w[0] == "--output" || w[0] == "--out") && !w[1].starts_with("out/") {
            return Err(format!("case.toml: `{} {}` must write under `out/`", w[0], w[1]));
        }
    }
    if let Some(a) = args.iter().find(|a| a.starts_with("--output=") || (a.starts_with("-o") && a.len() > 2)) {
        return Err(format!("case.toml: write `-o out/NAME` as two arguments, not `{a}`"));
    }
    Ok(Case { args, exit, db_mode })
}

/// Compare output with an expectation file; an absent file means "empty".
fn compare(what: &str, expected_path: &Path, got: &[u8], problems: &mut Vec<String>) {
    match std::fs::read(expected_path) {
        Ok(want) => compare_bytes(what, &want, got, problems),
        Err(_) if got.is_empty() => {}
        Err(_) => problems.push(format!(
            "{what}: no expectation file {} but the run printed:\n{}",
            short(expected_path),
            indent(&String::from_utf8_lossy(got))
        )),
    }
}

fn compare_bytes(what: &str, want: &[u8], got: &[u8], problems: &mut Vec<String>) {
    if want == got {
        return;
    }
    let (w, g) = (String::from_utf8_lossy(want), String::from_utf8_lossy(got));
    problems.push(format!("{what} differs (--- expected, +++ actual):\n{}", unified_diff(&w, &g)));
}

/// A unified-style line diff with three lines of context (LCS; outputs are small).
fn unified_diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.split_inclusive('\n').collect();
    let b: Vec<&str> = b.split_inclusive('\n').collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    // (tag, line, line number in a, line number in b)
    let mut ops: Vec<(char, &str, usize, usize)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i], i, j));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i], i, j));
            i += 1;
        } else {
            ops.push(('+', b[j], i, j));
            j += 1;
        }
    }
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = ops.iter().enumerate().filter(|(_, o)| o.0 != ' ').map(|(k, _)| k).collect();
    let mut out = String::new();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k] + CONTEXT + 1;
        while k + 1 < changed.len() && changed[k + 1] <= end + CONTEXT {
            k += 1;
            end = changed[k] + CONTEXT + 1;
        }
        let end = end.min(ops.len());
        let (la, lb) = (ops[start].2 + 1, ops[start].3 + 1);
        let ca = ops[start..end].iter().filter(|o| o.0 != '+').count();
        let cb = ops[start..end].iter().filter(|o| o.0 != '-').count();
        let _ = writeln!(out, "@@ -{la},{ca} +{lb},{cb} @@");
        for (tag, line, _, _) in &ops[start..end] {
            out.push(*tag);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
        k += 1;
    }
    out
}

/// Every `Diagnostic::error("code"` / `Diagnostic::warning("code"` in a source file, also when
/// the code is on the next line.
fn diagnostic_codes(text: &str) -> Vec<String> {
    let mut codes = Vec::new();
    for ctor in ["Diagnostic::error(", "Diagnostic::warning("] {
        for (at, _) in text.match_indices(ctor) {
            let rest = text[at + ctor.len()..].trim_start();
            if let Some(lit) = rest.strip_prefix('"')
                && let Some(end) = lit.find('"')
            {
                codes.push(lit[..end].to_string());
            }
        }
    }
    codes
}

/// Does `text` mention `code` as a whole token (so `graph::unknown` is not found inside
/// `graph::unknown-element`)?
fn mentions_code(text: &str, code: &str) -> bool {
    let part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '-';
    text.match_indices(code).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + code.len()..].chars().next();
        !before.is_some_and(part) && !after.is_some_and(part)
    })
}

fn bless() -> bool {
    std::env::var_os("BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

fn cases_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// Case directories, sorted by name.
fn case_dirs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(cases_root()).map(|rd| rd.map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect()).unwrap_or_default();
    v.sort();
    v
}

fn case_name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// Every file under `dir` (recursively, sorted); empty when `dir` does not exist.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() { stack.push(p) } else { out.push(p) }
        }
    }
    out.sort();
    out
}

/// Relative path (with `/`) -> contents of every file under `dir`.
fn read_tree(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    // A build's lock file beside its tree records inode numbers: bookkeeping, not output.
    for f in files_under(dir).into_iter().filter(|f| !f.ends_with(".tree.lock")) {
        let rel = f.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
        // The lock file beside a tree `build` wrote records inode numbers: not compared.
        if rel.rsplit('/').next().is_some_and(|n| n.starts_with('.') && n.ends_with(".lock")) {
            continue;
        }
        let bytes = std::fs::read(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        out.insert(rel, bytes);
    }
    Ok(out)
}

/// Write an expectation, or remove it when the output is empty (absent means empty).
fn store(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() && !is_under_out(path) {
        return match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
        };
    }
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Files under `expected/out/` are kept even when empty: the run wrote them.
fn is_under_out(path: &Path) -> bool {
    path.components().collect::<Vec<_>>().windows(2).any(|w| w[0].as_os_str() == "expected" && w[1].as_os_str() == "out")
}

fn remove_dir(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", dir.display())),
    }
}

fn short(p: &Path) -> String {
    p.strip_prefix(cases_root()).unwrap_or(p).display().to_string()
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}
