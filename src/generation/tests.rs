use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::*;
use crate::plan::{Artifact, Kind, Plan, SECRET_MODE};

fn plan(files: &[(&str, &str)]) -> Plan {
    let artifacts = files.iter().map(|(p, t)| Artifact::new(Kind::Kickstart, *p, t.as_bytes())).collect();
    Plan { artifacts, ..Plan::default() }
}

/// A fresh parent directory and the tree path inside it.
fn place() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    (d, out)
}

fn meta(p: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(p).unwrap()
}

/// Every non-directory of a tree, by relative path.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| (e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap_or_default()))
        .collect()
}

/// The names beside the tree (its siblings).
fn siblings(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn stats(written: usize, unchanged: usize, removed: usize) -> WriteStats {
    WriteStats { written, unchanged, removed }
}

const A: &[(&str, &str)] = &[("hosts", "h1\n"), ("kickstart/a.ks", "a1\n"), ("kickstart/b.ks", "b1\n"), ("tftp/x/y.cfg", "y1\n")];

#[test]
fn first_write_makes_the_tree_and_its_manifest() {
    let (_d, out) = place();
    assert_eq!(write(&out, &plan(A), true).unwrap(), stats(4, 0, 0));
    let mut expected: BTreeMap<String, Vec<u8>> = A.iter().map(|(p, t)| (p.to_string(), t.as_bytes().to_vec())).collect();
    let m = read_manifest(&out).unwrap();
    assert_eq!(m.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["hosts", "kickstart/a.ks", "kickstart/b.ks", "tftp/x/y.cfg"]);
    assert_eq!(
        m[1],
        ManifestEntry {
            path: "kickstart/a.ks".into(),
            size: 3,
            sha256: manifest::sha256_hex(b"a1\n"),
            mode: 0o644,
            kind: Some(Kind::Kickstart)
        }
    );
    expected.insert(MANIFEST.into(), std::fs::read(out.join(MANIFEST)).unwrap());
    assert_eq!(files(&out), expected);
    assert_eq!(verify(&out).unwrap(), vec![]);
    assert_eq!(siblings(&out), [".out.lock", "out"]);
    for d in ["", "kickstart", "tftp", "tftp/x"] {
        assert_eq!(meta(&out.join(d)).permissions().mode() & 0o7777, 0o755, "{d}");
    }
    assert_eq!(meta(&out.join("hosts")).permissions().mode() & 0o7777, 0o644);
}

#[test]
fn a_second_identical_write_touches_nothing() {
    let (_d, out) = place();
    write(&out, &plan(A), true).unwrap();
    let before: Vec<(u64, i64, i64)> = ["out", "out/MANIFEST", "out/hosts", "out/kickstart/a.ks"]
        .iter()
        .map(|p| meta(&out.parent().unwrap().join(p)))
        .map(|m| (m.ino(), m.mtime(), m.mtime_nsec()))
        .collect();
    assert_eq!(write(&out, &plan(A), true).unwrap(), stats(0, 4, 0));
    let after: Vec<(u64, i64, i64)> = ["out", "out/MANIFEST", "out/hosts", "out/kickstart/a.ks"]
        .iter()
        .map(|p| meta(&out.parent().unwrap().join(p)))
        .map(|m| (m.ino(), m.mtime(), m.mtime_nsec()))
        .collect();
    assert_eq!(before, after, "not even the tree's directory was swapped");
    assert_eq!(siblings(&out), [".out.lock", "out"]);
}

#[test]
fn unchanged_files_keep_inode_and_mtime_changed_files_get_new_ones() {
    let (_d, out) = place();
    write(&out, &plan(A), true).unwrap();
    let a = meta(&out.join("kickstart/a.ks"));
    let b = meta(&out.join("kickstart/b.ks"));
    let top = meta(&out);
    let changed = [("hosts", "h1\n"), ("kickstart/a.ks", "a1\n"), ("kickstart/b.ks", "b2\n"), ("tftp/x/y.cfg", "y1\n")];
    assert_eq!(write(&out, &plan(&changed), true).unwrap(), stats(1, 3, 0));
    let a2 = meta(&out.join("kickstart/a.ks"));
    assert_eq!((a.ino(), a.mtime(), a.mtime_nsec()), (a2.ino(), a2.mtime(), a2.mtime_nsec()));
    assert_ne!(b.ino(), meta(&out.join("kickstart/b.ks")).ino());
    assert_ne!(top.ino(), meta(&out).ino(), "a new generation is a new directory");
    assert_eq!(std::fs::read_to_string(out.join("kickstart/b.ks")).unwrap(), "b2\n");
    assert_eq!(verify(&out).unwrap(), vec![]);
    assert_eq!(siblings(&out), [".out.lock", "out"]);
}

#[test]
fn pruning_decides_whether_files_no_longer_made_stay() {
    let (_d, out) = place();
    write(&out, &plan(A), true).unwrap();
    let fewer = &A[1..3];
    assert_eq!(write(&out, &plan(fewer), false).unwrap(), stats(0, 2, 0));
    assert!(out.join("hosts").exists() && out.join("tftp/x/y.cfg").exists());
    let listed: Vec<String> = read_manifest(&out).unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(listed, ["hosts", "kickstart/a.ks", "kickstart/b.ks", "tftp/x/y.cfg"], "kept files stay listed");
    assert_eq!(verify(&out).unwrap(), vec![]);
    assert_eq!(write(&out, &plan(fewer), true).unwrap(), stats(0, 2, 2));
    assert!(!out.join("hosts").exists() && !out.join("tftp").exists(), "a directory left empty by pruning goes too");
    let listed: Vec<String> = read_manifest(&out).unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(listed, ["kickstart/a.ks", "kickstart/b.ks"]);
}

#[test]
fn foreign_files_are_carried_and_not_listed() {
    let (_d, out) = place();
    write(&out, &plan(A), true).unwrap();
    std::fs::create_dir_all(out.join("tftp/images/empty")).unwrap();
    std::fs::write(out.join("tftp/pxelinux.0"), "boot").unwrap();
    std::fs::write(out.join("tftp/images/vmlinuz"), "kernel").unwrap();
    std::os::unix::fs::symlink("pxelinux.0", out.join("tftp/link")).unwrap();
    std::fs::write(out.join("kickstart/SHA256SUMS"), "not the top one").unwrap();
    let pxe = meta(&out.join("tftp/pxelinux.0"));
    let fewer = [("kickstart/a.ks", "a2\n")];
    assert_eq!(write(&out, &plan(&fewer), true).unwrap(), stats(1, 0, 3));
    assert_eq!(meta(&out.join("tftp/pxelinux.0")).ino(), pxe.ino());
    assert_eq!(std::fs::read_link(out.join("tftp/link")).unwrap(), Path::new("pxelinux.0"));
    assert!(out.join("tftp/images/empty").is_dir());
    let mut names: Vec<String> = files(&out).into_keys().collect();
    names.sort();
    assert_eq!(names, ["MANIFEST", "kickstart/SHA256SUMS", "kickstart/a.ks", "tftp/images/vmlinuz", "tftp/link", "tftp/pxelinux.0"]);
    assert_eq!(read_manifest(&out).unwrap().len(), 1);
    assert_eq!(verify(&out).unwrap(), vec![]);
    // A plan file replaces a foreign file at its path.
    let takeover = [("kickstart/a.ks", "a2\n"), ("tftp/pxelinux.0", "ours")];
    assert_eq!(write(&out, &plan(&takeover), true).unwrap(), stats(1, 1, 0));
    assert_eq!(std::fs::read_to_string(out.join("tftp/pxelinux.0")).unwrap(), "ours");
}

#[test]
fn a_foreign_file_in_the_way_is_an_error_and_leaves_the_tree() {
    let (_d, out) = place();
    write(&out, &plan(A), true).unwrap();
    std::fs::write(out.join("extra"), "operator's").unwrap();
    let before = files(&out);
    let e = write(&out, &plan(&[("extra/inside", "x")]), true).unwrap_err();
    assert!(e.to_string().contains("extra"), "{e}");
    assert_eq!(files(&out), before);
    assert_eq!(siblings(&out), [".out.lock", "out"], "the staged generation is removed");
}

#[test]
fn secret_files_are_0640_and_a_mode_change_never_touches_the_previous_generation() {
    let (_d, out) = place();
    write(&out, &plan(A), true).unwrap();
    let old = meta(&out.join("hosts"));
    let held = std::fs::File::open(out.join("hosts")).unwrap();
    let mut p = plan(A);
    p.artifacts[0] = Artifact::new(Kind::Hosts, "hosts", "h1\n").with_secrets(&["h1"]);
    assert_eq!(p.artifacts[0].mode, SECRET_MODE);
    assert_eq!(write(&out, &p, true).unwrap(), stats(1, 3, 0));
    assert_eq!(meta(&out.join("hosts")).permissions().mode() & 0o7777, 0o640);
    assert_ne!(meta(&out.join("hosts")).ino(), old.ino());
    assert_eq!(held.metadata().unwrap().permissions().mode() & 0o7777, 0o644, "the previous generation's file kept its mode");
    let e = read_manifest(&out).unwrap().into_iter().find(|e| e.path == "hosts").unwrap();
    assert_eq!((e.mode, e.kind), (0o640, Some(Kind::Hosts)));
    assert_eq!(verify(&out).unwrap(), vec![]);
}

#[test]
fn files_changed_behind_our_back_are_rewritten() {
    let (_d, out) = place();
    write(&out, &plan(A), true).unwrap();
    // Same size, same mode, in place: only the status-change time tells.
    std::fs::write(out.join("kickstart/a.ks"), "zz\n").unwrap();
    std::fs::set_permissions(out.join("kickstart/b.ks"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(out.join("hosts")).unwrap();
    let problems = verify(&out).unwrap();
    assert_eq!(problems.len(), 3, "{problems:?}");
    let c = changes(&out, &plan(A)).unwrap();
    let changed: Vec<&str> = c.iter().map(|(_, _, p)| p.as_str()).collect();
    assert_eq!(changed, ["hosts", "kickstart/a.ks", "kickstart/b.ks"]);
    assert!(c.iter().all(|(c, _, _)| *c == Change::Changed));
    assert_eq!(write(&out, &plan(A), true).unwrap(), stats(3, 1, 0));
    assert_eq!(std::fs::read_to_string(out.join("kickstart/a.ks")).unwrap(), "a1\n");
    assert_eq!(verify(&out).unwrap(), vec![]);
}

#[test]
fn verify_names_every_kind_of_damage() {
    let (_d, out) = place();
    write(&out, &plan(A), true).unwrap();
    std::fs::remove_file(out.join("hosts")).unwrap();
    std::fs::write(out.join("kickstart/a.ks"), "a1 and more\n").unwrap();
    std::fs::write(out.join("kickstart/b.ks"), "XX\n").unwrap();
    std::fs::set_permissions(out.join("tftp/x/y.cfg"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(out.join("foreign"), "not a problem").unwrap();
    let got: Vec<(String, String)> = verify(&out).unwrap().into_iter().map(|p| (p.path, p.what)).collect();
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        got,
        vec![
            s("hosts", "missing"),
            s("kickstart/a.ks", "size 12 != 3"),
            s("kickstart/b.ks", "sha256 differs"),
            s("tftp/x/y.cfg", "mode 0640 != 0644")
        ]
    );
    std::fs::remove_dir_all(out.join("tftp")).unwrap();
    std::fs::write(out.join("tftp"), "").unwrap();
    assert!(verify(&out).unwrap().iter().any(|p| p.path == "tftp/x/y.cfg" && p.what == "missing"));
    std::fs::write(out.join(MANIFEST), "garbage\n").unwrap();
    let got = verify(&out).unwrap();
    assert_eq!(got.len(), 1);
    assert!(got[0].path == MANIFEST && got[0].what.contains("line 1"), "{got:?}");
    std::fs::remove_file(out.join(MANIFEST)).unwrap();
    assert_eq!(verify(&out).unwrap(), vec![Problem { path: MANIFEST.into(), what: "missing".into() }]);
    assert!(verify(&out.join("nope")).is_err());
}

#[test]
fn an_old_style_tree_is_taken_over() {
    let (_d, out) = place();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("a.ks"), "a\n").unwrap();
    std::fs::write(out.join("gone.ks"), "old\n").unwrap();
    std::fs::write(out.join("pxelinux.0"), "foreign").unwrap();
    let sums = format!(
        "{}  a.ks\n{}  gone.ks\n{}  missing.ks\n",
        manifest::sha256_hex(b"a\n"),
        manifest::sha256_hex(b"old\n"),
        manifest::sha256_hex(b"m")
    );
    std::fs::write(out.join(OLD_MANIFEST), sums).unwrap();
    let m = read_manifest(&out).unwrap();
    assert_eq!(
        m.iter().map(|e| (e.path.as_str(), e.size, e.mode, e.kind)).collect::<Vec<_>>(),
        [("a.ks", 2, 0o644, None), ("gone.ks", 4, 0o644, None)]
    );
    let c = changes(&out, &plan(&[("a.ks", "a\n"), ("b.ks", "b\n")])).unwrap();
    assert_eq!(c, vec![(Change::Added, Some(Kind::Kickstart), "b.ks".into()), (Change::Removed, None, "gone.ks".into())]);
    let a = meta(&out.join("a.ks")).ino();
    assert_eq!(write(&out, &plan(&[("a.ks", "a\n"), ("b.ks", "b\n")]), true).unwrap(), stats(1, 1, 1));
    assert_eq!(meta(&out.join("a.ks")).ino(), a);
    let names: Vec<String> = files(&out).into_keys().collect();
    assert_eq!(names, ["MANIFEST", "a.ks", "b.ks", "pxelinux.0"], "SHA256SUMS is replaced by the manifest");
    assert_eq!(verify(&out).unwrap(), vec![]);
}

#[test]
fn changes_lists_what_a_build_would_do() {
    let (_d, out) = place();
    assert_eq!(changes(&out, &plan(&A[..1])).unwrap(), vec![(Change::Added, Some(Kind::Kickstart), "hosts".into())]);
    write(&out, &plan(A), true).unwrap();
    assert_eq!(changes(&out, &plan(A)).unwrap(), vec![]);
    let mut p = plan(&[("hosts", "h2\n"), ("kickstart/a.ks", "a1\n"), ("new", "n")]);
    p.artifacts[1].mode = SECRET_MODE;
    let c = changes(&out, &p).unwrap();
    let k = Some(Kind::Kickstart);
    assert_eq!(
        c,
        vec![
            (Change::Changed, k, "hosts".into()),
            (Change::Changed, k, "kickstart/a.ks".into()),
            (Change::Removed, k, "kickstart/b.ks".into()),
            (Change::Added, k, "new".into()),
            (Change::Removed, k, "tftp/x/y.cfg".into())
        ]
    );
    assert_eq!(changes(Path::new("/nonexistent/dir/out"), &plan(&A[..1])).unwrap().len(), 1);
}

#[test]
fn bad_plans_are_refused() {
    let (_d, out) = place();
    write(&out, &plan(A), true).unwrap();
    let before = files(&out);
    let bad_plans = [&[("a", "1"), ("a", "2")][..], &[("../x", "1")], &[(MANIFEST, "1")], &[(PRIVATE_MANIFEST, "1")], &[("a/", "1")], &[
        ("f", ""),
        ("f/g", ""),
    ]];
    for bad in bad_plans {
        assert!(write(&out, &plan(bad), true).is_err(), "{bad:?}");
        assert_eq!(files(&out), before);
        assert_eq!(siblings(&out), [".out.lock", "out"]);
    }
    // A file holding a secret is never written readable by others.
    let mut p = plan(A);
    p.artifacts[0].secret = true;
    let e = write(&out, &p, true).unwrap_err();
    assert!(e.to_string().contains("holds a secret, but its mode lets others read it"), "{e}");
    assert_eq!(files(&out), before);
}

/// [`A`] with `kickstart/a.ks` holding the secret `$6$hash` (so 0640).
fn with_secret() -> Plan {
    let mut p = plan(A);
    p.artifacts[1] = Artifact::new(Kind::Kickstart, "kickstart/a.ks", "a1 $6$hash\n").with_secrets(&["$6$hash"]);
    p
}

#[test]
fn private_files_are_listed_whole_only_in_the_private_manifest() {
    let (_d, out) = place();
    write(&out, &with_secret(), true).unwrap();
    let sha = manifest::sha256_hex(b"a1 $6$hash\n");
    let public = std::fs::read_to_string(out.join(MANIFEST)).unwrap();
    assert!(public.contains("\n-  -  0640  kickstart  kickstart/a.ks\n") && !public.contains(&sha), "{public}");
    assert_eq!(public.lines().count(), 4, "every file is listed: {public}");
    let private = std::fs::read_to_string(out.join(PRIVATE_MANIFEST)).unwrap();
    assert_eq!(private, format!("{sha}  11  0640  kickstart  kickstart/a.ks\n"));
    let (pm, ks) = (meta(&out.join(PRIVATE_MANIFEST)), meta(&out.join("kickstart/a.ks")));
    assert_eq!((pm.permissions().mode() & 0o7777, pm.gid()), (0o640, ks.gid()), "readable as the secret files are");
    let m = read_manifest(&out).unwrap();
    assert_eq!(m.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["hosts", "kickstart/a.ks", "kickstart/b.ks", "tftp/x/y.cfg"]);
    assert_eq!((m[1].sha256.as_str(), m[1].size, m[1].mode), (sha.as_str(), 11, 0o640));
    assert_eq!(verify(&out).unwrap(), vec![]);

    // Nothing changed: no new generation.
    let dir = meta(&out).ino();
    assert_eq!(write(&out, &with_secret(), true).unwrap(), stats(0, 4, 0));
    assert_eq!(meta(&out).ino(), dir);
    // A build of other kinds carries the private file over, still listed privately.
    let mut hosts = plan(&A[..1]);
    hosts.artifacts[0].kind = Kind::Hosts;
    hosts.only = Some([Kind::Hosts].into());
    assert_eq!(write(&out, &hosts, true).unwrap(), stats(0, 4, 0));
    assert_eq!(std::fs::read_to_string(out.join(PRIVATE_MANIFEST)).unwrap(), private);
    assert_eq!(verify(&out).unwrap(), vec![]);

    // Tampering (same size, so only the hash tells) is caught, and undone by the next write.
    std::fs::write(out.join("kickstart/a.ks"), "a1 $6$HASH\n").unwrap();
    assert_eq!(verify(&out).unwrap(), vec![Problem { path: "kickstart/a.ks".into(), what: "sha256 differs".into() }]);
    assert_eq!(write(&out, &with_secret(), true).unwrap(), stats(1, 3, 0));
    assert_eq!(verify(&out).unwrap(), vec![]);

    // Manifests that do not agree: named, and the public files still checked.
    std::fs::write(out.join("hosts"), "h2\n").unwrap();
    std::fs::rename(out.join(PRIVATE_MANIFEST), out.join("saved")).unwrap();
    let got = verify(&out).unwrap();
    assert_eq!(got.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(), [PRIVATE_MANIFEST, "hosts"], "{got:?}");
    assert!(got[0].what.contains("there is no MANIFEST.private"), "{got:?}");
    assert!(read_manifest(&out).unwrap_err().to_string().contains("there is no MANIFEST.private"));
    std::fs::rename(out.join("saved"), out.join(PRIVATE_MANIFEST)).unwrap();
    std::fs::write(out.join("hosts"), "h1\n").unwrap();

    // Without a private file there is no private manifest.
    write(&out, &plan(A), true).unwrap();
    assert!(!out.join(PRIVATE_MANIFEST).exists());
    assert_eq!(verify(&out).unwrap(), vec![]);
}

#[test]
fn a_tree_with_one_manifest_for_every_file_is_read_and_split() {
    let (_d, out) = place();
    write(&out, &with_secret(), true).unwrap();
    // As an earlier version left it: one manifest, the private file's line whole.
    let all = read_manifest(&out).unwrap();
    let mut one = String::new();
    for e in &all {
        manifest::render_line(&mut one, e, false);
    }
    std::fs::write(out.join(MANIFEST), &one).unwrap();
    std::fs::remove_file(out.join(PRIVATE_MANIFEST)).unwrap();
    assert_eq!(read_manifest(&out).unwrap(), all);
    assert_eq!(verify(&out).unwrap(), vec![]);
    let secret = meta(&out.join("kickstart/a.ks")).ino();
    assert_eq!(write(&out, &with_secret(), true).unwrap(), stats(0, 4, 0));
    assert_eq!(meta(&out.join("kickstart/a.ks")).ino(), secret, "unchanged: carried over");
    let public = std::fs::read_to_string(out.join(MANIFEST)).unwrap();
    assert!(!public.contains(&all[1].sha256), "{public}");
    assert!(std::fs::read_to_string(out.join(PRIVATE_MANIFEST)).unwrap().contains(&all[1].sha256));
    assert_eq!(read_manifest(&out).unwrap(), all);
}

#[test]
fn a_dropped_generation_leaves_nothing() {
    let (_d, out) = place();
    write(&out, &plan(A), true).unwrap();
    let g = Generation::begin(&out, true).unwrap();
    g.add(&Artifact::new(Kind::Hosts, "hosts", "other")).unwrap();
    assert!(out.with_file_name(".out.new").join("hosts").exists());
    drop(g);
    assert_eq!(siblings(&out), [".out.lock", "out"]);
    assert_eq!(std::fs::read_to_string(out.join("hosts")).unwrap(), "h1\n");
}

#[test]
fn leftovers_of_a_killed_run_are_removed() {
    let (_d, out) = place();
    write(&out, &plan(A), true).unwrap();
    for s in [".out.new/kickstart", ".out.old/x/y"] {
        std::fs::create_dir_all(out.with_file_name(s)).unwrap();
        std::fs::write(out.with_file_name(s).join("f"), "left").unwrap();
    }
    assert_eq!(write(&out, &plan(A), true).unwrap(), stats(0, 4, 0));
    assert_eq!(siblings(&out), [".out.lock", "out"]);
    // Killed between the two renames of the fallback: the previous generation comes back.
    std::fs::rename(&out, out.with_file_name(".out.old")).unwrap();
    std::fs::create_dir_all(out.with_file_name(".out.new")).unwrap();
    assert_eq!(write(&out, &plan(A), true).unwrap(), stats(0, 4, 0));
    assert_eq!(siblings(&out), [".out.lock", "out"]);
}

#[test]
fn generations_can_be_staged_from_several_threads() {
    let (_d, out) = place();
    let arts: Vec<Artifact> = (0..500).map(|i| Artifact::new(Kind::Kickstart, format!("d{}/f{i}", i % 7), format!("{i}\n"))).collect();
    let g = Generation::begin(&out, true).unwrap();
    std::thread::scope(|s| {
        for part in arts.chunks(100) {
            let g = &g;
            s.spawn(move || part.iter().for_each(|a| g.add(a).unwrap()));
        }
    });
    assert_eq!(g.commit().unwrap(), stats(500, 0, 0));
    assert_eq!(read_manifest(&out).unwrap().len(), 500);
    assert_eq!(verify(&out).unwrap(), vec![]);
}

#[test]
fn the_tree_may_be_named_through_a_symlink() {
    let (d, out) = place();
    write(&out, &plan(A), true).unwrap();
    let link = d.path().join("current");
    std::os::unix::fs::symlink("out", &link).unwrap();
    write(&link, &plan(&A[..2]), true).unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(read_manifest(&link).unwrap().len(), 2);
    assert!(Generation::begin(Path::new("/"), true).is_err());
    std::fs::write(d.path().join("file"), "").unwrap();
    assert!(Generation::begin(&d.path().join("file"), true).is_err());
}

#[test]
fn the_stamp_only_vouches_for_the_tree_it_completed() {
    use std::os::fd::AsFd;
    let (_d, out) = place();
    write(&out, &plan(A), true).unwrap();
    let place = baseline::Place::new(&out, false).unwrap();
    let lock = sys::openat(place.parent.as_fd(), &place.lock, libc::O_RDONLY, 0).unwrap();
    let stamp = || baseline::Baseline::read(&place, Some(lock.as_fd())).unwrap().stamp;
    let s = stamp().expect("a completed generation is stamped");
    let st = meta(&out.join("hosts"));
    assert!((st.ctime(), st.ctime_nsec()) < s || (st.ctime(), st.ctime_nsec()) == s, "files are older than the stamp");
    // The same bytes under another inode: not the tree the stamp describes.
    let m = std::fs::read(out.join(MANIFEST)).unwrap();
    std::fs::write(out.join("copy"), &m).unwrap();
    std::fs::rename(out.join("copy"), out.join(MANIFEST)).unwrap();
    assert_eq!(stamp(), None);
    write(&out, &plan(A), true).unwrap();
    assert!(stamp().is_some(), "a run that changed nothing stamps the tree again");
    // A file touched after the stamp is read, and still found unchanged when it is.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::set_permissions(out.join("hosts"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let base = baseline::Baseline::read(&place, Some(lock.as_fd())).unwrap();
    assert!(base.unchanged("hosts", &manifest::sha256_hex(b"h1\n"), b"h1\n", 0o644).unwrap());
    assert!(!base.unchanged("hosts", &manifest::sha256_hex(b"h1\n"), b"h1\n", 0o640).unwrap());
    assert!(!base.unchanged("nope", &manifest::sha256_hex(b""), b"", 0o644).unwrap());
}

#[test]
fn a_commit_names_the_files_it_added_changed_restored_and_removed() {
    let (_d, out) = place();
    let first = write_reporting(&out, &plan(A), true, &|_| {}, &mut |_| {}).unwrap();
    let added: Vec<&str> = first.changes.iter().map(|(c, _, p)| {
        assert_eq!(*c, Change::Added);
        p.as_str()
    }).collect();
    assert_eq!(added, ["hosts", "kickstart/a.ks", "kickstart/b.ks", "tftp/x/y.cfg"]);

    let same = write_reporting(&out, &plan(A), true, &|_| {}, &mut |_| {}).unwrap();
    assert_eq!(same.changes, vec![], "nothing changed");

    // b.ks changes, y.cfg goes, z.cfg comes, and hosts was edited in place (restored).
    std::fs::write(out.join("hosts"), "edited\n").unwrap();
    let next = plan(&[("hosts", "h1\n"), ("kickstart/a.ks", "a1\n"), ("kickstart/b.ks", "b2\n"), ("tftp/z.cfg", "z\n")]);
    let c = write_reporting(&out, &next, true, &|_| {}, &mut |_| {}).unwrap();
    let k = Some(Kind::Kickstart);
    assert_eq!(
        c.changes,
        vec![
            (Change::Changed, k, "hosts".to_string()),
            (Change::Changed, k, "kickstart/b.ks".to_string()),
            (Change::Removed, k, "tftp/x/y.cfg".to_string()),
            (Change::Added, k, "tftp/z.cfg".to_string()),
        ]
    );
    assert_eq!(c.stats, stats(3, 1, 1));
}

#[test]
fn beside_names_a_sibling_of_the_tree() {
    let (_d, out) = place();
    std::fs::create_dir(&out).unwrap();
    assert_eq!(beside(&out, "reload").unwrap(), out.with_file_name(".out.reload"));
}
