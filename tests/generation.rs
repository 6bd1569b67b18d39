//! Output trees as atomic generations: killed runs, concurrent readers, timing.
//!
//! The crash tests run this very test binary again as the child (`--exact crash_child`),
//! which writes generation B and is killed by `ROCKS_COMPILE_CRASH_AT=N` at step N.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rocks_compile::generation::{self, CRASH_AT_ENV, MANIFEST, NO_EXCHANGE_ENV, PRIVATE_MANIFEST, WriteStats};
use rocks_compile::plan::{Artifact, Kind, Plan, SECRET_MODE};
use sha2::{Digest, Sha256};

/// Tells the child test which tree to write generation B into.
const CHILD_DIR: &str = "GENERATION_TEST_CHILD_DIR";
/// Tells the child test to write with this umask (octal).
const CHILD_UMASK: &str = "GENERATION_TEST_CHILD_UMASK";

fn plan(files: &[(String, String, u32)]) -> Plan {
    let artifacts = files
        .iter()
        .map(|(p, t, mode)| {
            let mut a = Artifact::new(Kind::Kickstart, p.clone(), t.as_bytes());
            a.mode = *mode;
            a
        })
        .collect();
    Plan { artifacts, ..Plan::default() }
}

/// Generation A: 14 files in four directories.
fn plan_a() -> Plan {
    let mut f: Vec<(String, String, u32)> = (0..12).map(|i| (format!("kickstart/h{i}.ks"), format!("host {i} A\n"), 0o644)).collect();
    f.push(("dhcp/dhcpd.conf".into(), "subnet A\n".into(), 0o644));
    f.push(("tftp/pxelinux.cfg/01-aa".into(), "label A\n".into(), 0o644));
    plan(&f)
}

/// Generation B: four kickstarts changed (one now secret), two gone, three new files (one
/// in a new directory), the rest unchanged.
fn plan_b() -> Plan {
    let mut f: Vec<(String, String, u32)> = Vec::new();
    for i in 0..10 {
        let (text, mode) = match i {
            0..4 => (format!("host {i} B, longer\n"), if i == 0 { SECRET_MODE } else { 0o644 }),
            _ => (format!("host {i} A\n"), 0o644),
        };
        f.push((format!("kickstart/h{i}.ks"), text, mode));
    }
    f.push(("kickstart/h12.ks".into(), "host 12 B\n".into(), 0o644));
    f.push(("dhcp/dhcpd.conf".into(), "subnet A\n".into(), 0o644));
    f.push(("dhcp/kea-dhcp4.json".into(), "{}\n".into(), 0o644));
    f.push(("scheduler/genders".into(), "h0 compute\n".into(), 0o644));
    f.push(("tftp/pxelinux.cfg/01-aa".into(), "label A\n".into(), 0o644));
    plan(&f)
}

/// Extra environment for the child.
type Env<'a> = &'a [(&'a str, String)];

/// Everything in a tree: directories, and files (symlinks: their target) with mode and bytes.
type Snapshot = BTreeMap<String, (u32, Vec<u8>)>;

fn snapshot(dir: &Path) -> Snapshot {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(Result::unwrap)
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let m = e.path().symlink_metadata().unwrap();
            let bytes = if e.file_type().is_file() {
                std::fs::read(e.path()).unwrap()
            } else if e.file_type().is_symlink() {
                std::fs::read_link(e.path()).unwrap().into_os_string().into_encoded_bytes()
            } else {
                Vec::new()
            };
            (rel, (m.mode(), bytes))
        })
        .collect()
}

fn siblings(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// A tree holding generation A plus an operator's foreign files.
fn tree_a(parent: &Path) -> PathBuf {
    let out = parent.join("out");
    generation::write(&out, &plan_a(), true).unwrap();
    std::fs::write(out.join("tftp/pxelinux.0"), "operator's boot loader").unwrap();
    std::fs::create_dir_all(out.join("images/empty")).unwrap();
    out
}

/// Generation A and generation B (each started from A), as trees.
fn expected() -> (tempfile::TempDir, Snapshot, Snapshot) {
    let d = tempfile::tempdir().unwrap();
    let a = tree_a(&d.path().join("a"));
    let b = tree_a(&d.path().join("b"));
    generation::write(&b, &plan_b(), true).unwrap();
    let (sa, sb) = (snapshot(&a), snapshot(&b));
    assert_ne!(sa, sb);
    (d, sa, sb)
}

/// Run the child test: write generation B into `out` with `env`. Its exit status and stderr.
fn child(out: &Path, env: &[(&str, String)]) -> (std::process::ExitStatus, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, out)
        .env_remove(CRASH_AT_ENV)
        .env_remove(NO_EXCHANGE_ENV);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    (o.status, String::from_utf8_lossy(&o.stderr).into_owned())
}

/// The steps of writing B over A.
fn count_steps(env: &[(&str, String)]) -> u64 {
    let d = tempfile::tempdir().unwrap();
    let out = tree_a(d.path());
    let mut env = env.to_vec();
    env.push((CRASH_AT_ENV, "count".into()));
    let (status, stderr) = child(&out, &env);
    assert!(status.success(), "{stderr}");
    let line = stderr.lines().find_map(|l| l.strip_prefix(&format!("{CRASH_AT_ENV}: "))).expect(&stderr);
    line.trim_end_matches(" steps").parse().unwrap()
}

/// Kill the child at step `k`; it must die of SIGKILL, or finish when `k` is past its end.
fn crash(out: &Path, k: u64, steps: u64, env: &[(&str, String)]) {
    let mut env = env.to_vec();
    env.push((CRASH_AT_ENV, k.to_string()));
    let (status, stderr) = child(out, &env);
    if k <= steps {
        assert_eq!(status.signal(), Some(libc::SIGKILL), "step {k} of {steps}: {status:?} {stderr}");
    } else {
        assert!(status.success(), "{stderr}");
    }
}

/// This test is the child of the crash tests; run on its own it does nothing.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    if let Ok(mask) = std::env::var(CHILD_UMASK) {
        // SAFETY: `umask` only sets the process's mask; this process runs one test.
        unsafe { libc::umask(u32::from_str_radix(&mask, 8).unwrap() as libc::mode_t) };
    }
    generation::write(Path::new(&dir), &plan_b(), true).unwrap();
}

/// Which generation the tree at `out` is after a crash (after checking it is intact).
fn which(out: &Path, a: &Snapshot, b: &Snapshot, k: u64) -> char {
    assert_eq!(generation::verify(out).unwrap(), vec![], "step {k}");
    let s = snapshot(out);
    if s == *a {
        'A'
    } else if s == *b {
        'B'
    } else {
        panic!("after step {k} the tree is neither A nor B: {:?}", s.keys().collect::<Vec<_>>())
    }
}

/// A successful run after the crash: the tree is B, nothing is left beside or in it.
fn finish(out: &Path, b: &Snapshot, k: u64) {
    generation::write(out, &plan_b(), true).unwrap();
    assert_eq!(snapshot(out), *b, "after step {k}, the next run makes B");
    assert_eq!(siblings(out), [".out.lock", "out"], "after step {k}");
    assert_eq!(generation::verify(out).unwrap(), vec![]);
}

#[test]
fn killed_at_every_step_the_tree_is_a_or_b_and_the_next_run_cleans_up() {
    let (_e, a, b) = expected();
    let steps = count_steps(&[]);
    assert!(steps >= 30, "only {steps} steps");
    let mut seen = String::new();
    for k in 1..=steps + 1 {
        let d = tempfile::tempdir().unwrap();
        let out = tree_a(d.path());
        crash(&out, k, steps, &[]);
        seen.push(which(&out, &a, &b, k));
        finish(&out, &b, k);
    }
    // Wholly A up to the exchange, wholly B from it on.
    let flip = seen.find('B').unwrap();
    assert!(seen[..flip].chars().all(|c| c == 'A') && seen[flip..].chars().all(|c| c == 'B'), "{seen}");
    assert!(flip >= 20 && seen.len() - flip >= 10, "crash points on both sides of the swap: {seen}");
    eprintln!("{steps} steps: {seen}");
}

#[test]
fn killed_at_every_step_without_exchange_the_next_run_restores_or_finishes() {
    let (_e, a, b) = expected();
    let env = [(NO_EXCHANGE_ENV, "1".to_string())];
    let steps = count_steps(&env);
    assert!(steps >= 30, "only {steps} steps");
    let mut seen = String::new();
    for k in 1..=steps + 1 {
        let d = tempfile::tempdir().unwrap();
        let out = tree_a(d.path());
        crash(&out, k, steps, &env);
        if out.exists() {
            seen.push(which(&out, &a, &b, k));
        } else {
            // Killed between the two renames: the previous generation is whole at `.old`.
            assert_eq!(snapshot(&out.with_file_name(".out.old")), a, "step {k}");
            seen.push('-');
        }
        finish(&out, &b, k);
    }
    assert_eq!(seen.matches('-').count(), 1, "{seen}");
    let flip = seen.find('B').unwrap();
    assert!(seen[..flip].trim_end_matches('-').chars().all(|c| c == 'A') && seen[flip..].chars().all(|c| c == 'B'), "{seen}");
}

#[test]
fn a_run_killed_while_cleaning_up_after_a_killed_run_is_cleaned_up_too() {
    let (_e, a, b) = expected();
    let fallback = [(NO_EXCHANGE_ENV, "1".to_string())];
    let (steps, fallback_steps) = (count_steps(&[]), count_steps(&fallback));
    let swapped = first_b(&b, steps, &[]);
    // Leftovers of three kinds: a half-staged `.new`; the new tree with the previous
    // generation still at `.old`; and (without exchange) no tree, with `.old` and `.new`.
    let leftovers: [(u64, u64, Env<'_>); 3] =
        [(8, steps, &[]), (swapped + 1, steps, &[]), (first_b(&b, fallback_steps, &fallback) - 1, fallback_steps, &fallback)];
    for (at, steps, env) in leftovers {
        let make = || {
            let d = tempfile::tempdir().unwrap();
            let out = tree_a(d.path());
            crash(&out, at, steps, env);
            (d, out)
        };
        let (_d, out) = make();
        let mut count_env = vec![(CRASH_AT_ENV, "count".to_string())];
        count_env.extend(env.iter().cloned());
        let (status, stderr) = child(&out, &count_env);
        assert!(status.success(), "{stderr}");
        let second: u64 =
            stderr.lines().find_map(|l| l.strip_prefix(&format!("{CRASH_AT_ENV}: "))).unwrap().trim_end_matches(" steps").parse().unwrap();
        assert!(second > steps.min(12), "the recovering run also removes the leftovers ({second} steps)");
        for k in 1..=8 {
            let (_d, out) = make();
            crash(&out, k, second, env);
            if out.exists() {
                which(&out, &a, &b, k);
            }
            finish(&out, &b, k);
        }
    }
}

/// The first step at which a killed run leaves generation B (the tree is wholly A before
/// it, wholly B from it on, so a binary search finds it).
fn first_b(b: &Snapshot, steps: u64, env: &[(&str, String)]) -> u64 {
    let (mut lo, mut hi) = (1, steps + 1);
    while lo < hi {
        let k = (lo + hi) / 2;
        let d = tempfile::tempdir().unwrap();
        let out = tree_a(d.path());
        crash(&out, k, steps, env);
        if out.exists() && snapshot(&out) == *b { hi = k } else { lo = k + 1 }
    }
    lo
}

#[test]
fn the_umask_does_not_change_modes() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let (status, stderr) = child(&out, &[(CHILD_UMASK, "077".into())]);
    assert!(status.success(), "{stderr}");
    let mode = |p: &str| std::fs::metadata(out.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        (mode(""), mode("kickstart"), mode("kickstart/h1.ks"), mode("kickstart/h0.ks"), mode(MANIFEST), mode(PRIVATE_MANIFEST)),
        (0o755, 0o755, 0o644, 0o640, 0o644, 0o640)
    );
}

/// Generation `g` of the reader test: a `generation` file, a private file (listed whole in
/// the private manifest only), 20 files that change every time (sizes too), 20 that never
/// change.
fn numbered(g: usize) -> Plan {
    let mut f: Vec<(String, String, u32)> =
        vec![("generation".into(), format!("{g}\n"), 0o644), ("private".into(), format!("{g}\n"), 0o640)];
    for i in 0..40 {
        let text = if i < 20 { format!("gen {g} file {i} {}\n", "x".repeat(g % 7)) } else { format!("stable {i}\n") };
        f.push((format!("d{}/f{i}", i % 4), text, 0o644));
    }
    plan(&f)
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|b| format!("{b:02x}")).collect()
}

fn open_dir(path: &Path) -> OwnedFd {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is NUL-terminated.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    assert!(fd >= 0, "{}", std::io::Error::last_os_error());
    // SAFETY: `fd` was just opened and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Read `rel` through the directory `dir`; `None` when it does not exist (any more).
fn read_at(dir: &OwnedFd, rel: &str) -> Option<Vec<u8>> {
    let c = std::ffi::CString::new(rel).unwrap();
    // SAFETY: `c` is NUL-terminated; `dir` is open.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{rel}: {e}");
        return None;
    }
    // SAFETY: as in `open_dir`.
    let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut v).unwrap();
    Some(v)
}

/// `(path, sha256)` of every manifest line (`-` for a private file in the public manifest).
fn listed(manifest: &[u8]) -> Vec<(String, String)> {
    let text = std::str::from_utf8(manifest).unwrap();
    assert!(text.ends_with('\n'), "a whole manifest: {text:?}");
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(5, "  ").collect();
            assert_eq!(f.len(), 5, "{l}");
            (f[4].to_string(), f[0].to_string())
        })
        .collect()
}

#[test]
fn readers_see_one_whole_generation_while_generations_are_swapped() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    generation::write(&out, &numbered(0), true).unwrap();
    const GENERATIONS: usize = 60;
    let contents: BTreeMap<String, BTreeSet<Vec<u8>>> =
        (0..GENERATIONS).flat_map(|g| numbered(g).artifacts).fold(BTreeMap::new(), |mut m, a| {
            m.entry(a.path).or_default().insert(a.bytes);
            m
        });
    let done = AtomicBool::new(false);
    let (whole, retired, by_path, missing) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|s| {
        // A reader holding the tree's directory: everything it reads is one generation.
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let dir = open_dir(&out);
                let m = read_at(&dir, MANIFEST).expect("a generation always has its manifest");
                // The private manifest is read through the same directory: the same generation.
                let private = read_at(&dir, PRIVATE_MANIFEST).map(|p| listed(&p));
                let mut gone = false;
                let mut gen_of = None;
                for (path, sha) in listed(&m) {
                    let sha = match (sha.as_str(), &private) {
                        ("-", Some(p)) => p.iter().find(|(q, _)| *q == path).expect("the private manifest lists it").1.clone(),
                        _ => sha,
                    };
                    match read_at(&dir, &path).filter(|_| sha != "-") {
                        Some(bytes) => {
                            assert_eq!(sha256_hex(&bytes), sha, "{path} belongs to the generation of the manifest read with it");
                            if path == "generation" {
                                gen_of = Some(bytes);
                            }
                        }
                        None => gone = true,
                    }
                }
                if gone {
                    // Only a generation already swapped out and being removed loses files.
                    let held = std::fs::metadata(format!("/proc/self/fd/{}", dir.as_raw_fd())).unwrap().ino();
                    assert_ne!(held, std::fs::metadata(&out).unwrap().ino(), "files vanished from the current generation");
                    retired.fetch_add(1, Ordering::Relaxed);
                } else {
                    assert!(gen_of.is_some());
                    whole.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        // A reader by path: every file it opens is whole and is some generation's.
        s.spawn(|| {
            let root = open_dir(Path::new("/"));
            let rel = |p: &str| out.join(p).strip_prefix("/").unwrap().to_string_lossy().into_owned();
            while !done.load(Ordering::Relaxed) {
                if let Some(m) = read_at(&root, &rel(MANIFEST)) {
                    listed(&m);
                }
                for p in ["generation", "d1/f5", "d2/f22", "d3/f19"] {
                    match read_at(&root, &rel(p)) {
                        Some(bytes) => assert!(contents[p].contains(&bytes), "{p}: {bytes:?}"),
                        // Resolved `out` just before a swap and `p` just after its removal.
                        None => _ = missing.fetch_add(1, Ordering::Relaxed),
                    }
                    by_path.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        for g in 1..GENERATIONS {
            let stats = generation::write(&out, &numbered(g), true).unwrap();
            assert_eq!(stats, WriteStats { written: 22, unchanged: 20, removed: 0 });
        }
        done.store(true, Ordering::Relaxed);
    });
    let (whole, retired, by_path, missing) = (whole.into_inner(), retired.into_inner(), by_path.into_inner(), missing.into_inner());
    eprintln!("whole reads {whole}, of retired generations {retired}; reads by path {by_path}, not found {missing}");
    assert!(whole > 20 && by_path > 100, "the readers ran");
    assert!(missing * 100 <= by_path, "a path is only missing in a rare race");
    assert_eq!(generation::verify(&out).unwrap(), vec![]);
    assert_eq!(siblings(&out), [".out.lock", "out"]);
}

/// A tree like a cluster's: `hosts` kickstarts of about `ks_size` bytes, three small boot
/// files per host, in one directory per kind.
fn cluster_plan(hosts: usize, ks_size: usize, changed: Option<usize>) -> Plan {
    let mut artifacts = Vec::with_capacity(hosts * 4);
    let pad = "#".repeat(ks_size);
    for h in 0..hosts {
        let tag = if changed == Some(h) { "changed" } else { "" };
        artifacts.push(Artifact::new(Kind::Kickstart, format!("kickstart/compute-{h}.ks"), format!("host {h}{tag}\n{pad}\n")));
        artifacts.push(Artifact::new(Kind::Pxe, format!("tftp/pxelinux.cfg/01-{h:012x}"), format!("label {h}\nkernel vmlinuz\n")));
        artifacts.push(Artifact::new(Kind::Pxe, format!("tftp/grub/grub.cfg-01-{h:012x}"), format!("menuentry {h}\n")));
        artifacts.push(Artifact::new(Kind::Pxe, format!("ipxe/{h:012x}.ipxe"), format!("#!ipxe\nchain {h}\n")));
    }
    Plan { artifacts, ..Plan::default() }
}

/// Many files in a few hundred directories (per-host layouts that shard by directory).
fn sharded_plan(files: usize, dirs: usize, changed: Option<usize>) -> Plan {
    let artifacts = (0..files)
        .map(|i| {
            let tag = if changed == Some(i) { "changed" } else { "" };
            Artifact::new(Kind::Kickstart, format!("d{:03}/f{i}", i % dirs), format!("file {i}{tag}\n{}\n", "x".repeat(200)))
        })
        .collect();
    Plan { artifacts, ..Plan::default() }
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = std::time::Instant::now();
    let r = f();
    eprintln!("{what:<46} {:>8.1} ms", t.elapsed().as_secs_f64() * 1000.0);
    r
}

/// `cargo test --release --test generation -- --ignored --nocapture timing`
#[test]
#[ignore]
fn timing() {
    let d = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    for (name, first, one) in [
        ("10k hosts (40k files, 8 KB kickstarts)", cluster_plan(10_000, 8_000, None), cluster_plan(10_000, 8_000, Some(77))),
        ("100k hosts (400k files, 1 KB kickstarts)", cluster_plan(100_000, 1_000, None), cluster_plan(100_000, 1_000, Some(77))),
        ("300k files in 300 directories", sharded_plan(300_000, 300, None), sharded_plan(300_000, 300, Some(77))),
    ] {
        if std::env::var("GENERATION_TIMING_ONLY").is_ok_and(|only| !name.starts_with(&only)) {
            continue;
        }
        eprintln!("{name}:");
        let out = d.path().join(name.split(' ').next().unwrap());
        let n = first.artifacts.len();
        assert_eq!(timed("  first write", || generation::write(&out, &first, true).unwrap()).written, n);
        assert_eq!(timed("  same plan again (nothing to do)", || generation::write(&out, &first, true).unwrap()).written, 0);
        let s = timed("  one file changed", || generation::write(&out, &one, true).unwrap());
        assert_eq!((s.written, s.unchanged), (1, n - 1));
        let repeat: usize = std::env::var("GENERATION_TIMING_REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        for i in 0..repeat {
            let p = if i % 2 == 0 { &first } else { &one };
            assert_eq!(timed("  one file changed (again)", || generation::write(&out, p, true).unwrap()).written, 1);
        }
        assert_eq!(timed("  changes() with nothing changed", || generation::changes(&out, &one).unwrap()).len(), 0);
        assert_eq!(timed("  verify", || generation::verify(&out).unwrap()), vec![]);
    }
}
