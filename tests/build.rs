//! End-to-end tests of `build` and `verify` through the real binary: every output kind of the
//! bundled example cluster, reruns that rewrite nothing, `--dry-run` and `--diff` (with secrets
//! redacted), modes of secret files, scheduler selection, install servers, and the tree a
//! second tool sees (every file listed in the manifest, nothing else of ours).

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

fn rc(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("rocks-compile").unwrap();
    c.env("NO_COLOR", "1").env_remove("ROCKS_COMPILE_DB").arg("--db").arg(dir.join("cluster.db"));
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    let out = rc(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The bundled example cluster in a fresh database, with a root password of its own (`build`
/// refuses the framework's public default).
fn example(dir: &Path) {
    run(dir, &["host", "import", concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cluster.csv")]);
    run(dir, &["attr", "set", "Kickstart_PrivateRootPassword", EXAMPLE_ROOT_HASH]);
}

/// SHA-512 crypt hash of `example-root`.
const EXAMPLE_ROOT_HASH: &str =
    "$6$rounds=5000$exampleexample$FYz6AwWaJzo6I4HdX0VVjzin7KY7J.YGedL4ZLVJWP.ZG4pPUKTEm8DifZPeRnCDKyJZBHy9AZr5FNdJjFe11.";

/// Every regular file under `dir`: relative path -> bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            out.insert(e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn inode(p: &Path) -> (u64, i64) {
    let m = std::fs::metadata(p).unwrap();
    (m.ino(), m.mtime_nsec() + m.mtime() * 1_000_000_000)
}

fn tree(dir: &Path) -> PathBuf {
    dir.join("tree")
}

#[test]
fn build_writes_every_kind_and_a_manifest_that_verifies() {
    let d = tempfile::tempdir().unwrap();
    example(d.path());
    let out = run(d.path(), &["build", "--out", tree(d.path()).to_str().unwrap()]);
    let report = stderr(&out);
    assert!(report.contains("hosts per install server: cluster 6"), "{report}");
    let f = files(&tree(d.path()));
    for want in [
        "MANIFEST",
        "kickstart/compute-0-0.ks",
        "kickstart/cluster.ks",
        "dhcp/dhcpd.conf",
        "dhcp/kea-dhcp4.json",
        "hosts",
        "dns/named.conf",
        "dns/db.local",
        "tftp/pxelinux.cfg/01-52-54-00-00-00-01",
        "tftp/grub/grub.cfg-01-52-54-00-00-00-01",
        "ipxe/52-54-00-00-00-01.ipxe",
        "ipxe/boot.ipxe",
        "scheduler/slurm-nodes.conf",
        "scheduler/pbs-nodes",
        "scheduler/genders",
        "monitoring/prometheus/nodes.json",
        "monitoring/prometheus/bmcs.json",
        "monitoring/nagios/hosts.cfg",
        "monitoring/ganglia/gmond.conf",
        "monitoring/ganglia/gmetad.conf",
    ] {
        assert!(f.contains_key(want), "{want} is missing from the tree: {:?}", f.keys().collect::<Vec<_>>());
    }
    let manifest = String::from_utf8(f["MANIFEST"].clone()).unwrap();
    assert!(f.contains_key("MANIFEST.private"), "the kickstarts hold root's password hash: {:?}", f.keys().collect::<Vec<_>>());
    assert_eq!(manifest.lines().count(), f.len() - 2, "the manifest lists every file but the manifests:\n{manifest}");
    for ks in f.keys().filter(|k| k.starts_with("kickstart/")) {
        common::validate(&tree(d.path()).join(ks));
    }
    let v = run(d.path(), &["verify", tree(d.path()).to_str().unwrap()]);
    assert!(stderr(&v).contains(&format!("{} files match the manifest", f.len() - 2)), "{}", stderr(&v));

    // Damage is found and named.
    let hosts = tree(d.path()).join("hosts");
    std::fs::write(&hosts, "10.1.1.1 evil\n").unwrap();
    std::fs::remove_file(tree(d.path()).join("dhcp/dhcpd.conf")).unwrap();
    let bad = rc(d.path()).args(["verify", tree(d.path()).to_str().unwrap()]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let e = stderr(&bad);
    assert!(e.contains("/hosts: ") && e.contains("dhcp/dhcpd.conf: missing"), "{e}");
    let json: Value =
        serde_json::from_slice(&rc(d.path()).args(["verify", "--json", tree(d.path()).to_str().unwrap()]).output().unwrap().stdout)
            .unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["problems"].as_array().unwrap().len(), 2, "{json}");
}

#[test]
fn a_second_build_rewrites_nothing_and_one_change_rewrites_only_what_mentions_it() {
    let d = tempfile::tempdir().unwrap();
    example(d.path());
    let t = tree(d.path());
    run(d.path(), &["build", "--out", t.to_str().unwrap()]);
    let before = files(&t);
    let inodes: BTreeMap<String, (u64, i64)> = before.keys().map(|k| (k.clone(), inode(&t.join(k)))).collect();
    let again = run(d.path(), &["build", "--out", t.to_str().unwrap(), "--json"]);
    let j: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(j["written"], 0, "{j}");
    assert_eq!(j["removed"], 0, "{j}");
    assert_eq!(files(&t), before);
    for (k, i) in &inodes {
        assert_eq!(inode(&t.join(k)), *i, "{k} kept its inode and mtime");
    }

    // One host's CPU count changes: the scheduler files mention it; its PXE files do not.
    run(d.path(), &["host", "set", "compute-0-1", "--cpus", "96"]);
    let dry = run(d.path(), &["build", "--out", t.to_str().unwrap(), "--dry-run", "--json"]);
    let j: Value = serde_json::from_slice(&dry.stdout).unwrap();
    let changed: Vec<&str> = j["changes"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert!(changed.contains(&"scheduler/slurm-nodes.conf"), "{j}");
    assert!(!changed.iter().any(|p| p.contains("01-52-54-00-00-00-02")), "{j}");
    assert!(j["changes"].as_array().unwrap().iter().all(|c| c["change"] == "changed"), "{j}");
    assert_eq!(files(&t), before, "--dry-run wrote nothing");
    let built = run(d.path(), &["build", "--out", t.to_str().unwrap(), "--json"]);
    let j: Value = serde_json::from_slice(&built.stdout).unwrap();
    assert_eq!(j["written"].as_u64().unwrap() as usize, changed.len(), "{j}");
    let after = files(&t);
    for (k, i) in &inodes {
        if !changed.contains(&k.as_str()) && !k.starts_with("MANIFEST") {
            assert_eq!(inode(&t.join(k)), *i, "{k} did not change and kept its inode");
            assert_eq!(after[k], before[k]);
        }
    }
}

/// A generated cluster of `n` compute hosts and a frontend, built into `tree`.
fn generated(dir: &Path, n: usize) -> PathBuf {
    run(dir, &["host", "add", "frontend", "--appliance", "frontend", "--ip", "10.1.1.1", "--mac", "52:54:00:ff:ff:01"]);
    run(dir, &["host", "generate", "--hosts", &n.to_string(), "--racks", "4", "--appliances", "compute"]);
    run(dir, &["attr", "set", "Kickstart_PrivateRootPassword", EXAMPLE_ROOT_HASH]);
    let t = tree(dir);
    run(dir, &["build", "--out", t.to_str().unwrap()]);
    t
}

#[test]
fn a_kickstart_does_not_grow_with_the_cluster_and_a_new_host_rewrites_only_its_files_and_the_aggregates() {
    let (small, large) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ts, tl) = (generated(small.path(), 8), generated(large.path(), 400));
    let ks = |t: &Path| std::fs::read(t.join("kickstart/compute-0-0.ks")).unwrap();
    assert_eq!(ks(&ts), ks(&tl), "compute-0-0's kickstart is the same in a cluster of 9 and of 401 hosts");
    assert!(
        std::fs::metadata(tl.join("hosts")).unwrap().len() > 20 * std::fs::metadata(ts.join("hosts")).unwrap().len(),
        "the aggregates do grow"
    );

    // One more host: its own files and the files that list every host change, nothing else.
    let before = files(&tl);
    let inodes: BTreeMap<String, (u64, i64)> = before.keys().map(|k| (k.clone(), inode(&tl.join(k)))).collect();
    run(large.path(), &["host", "add", "compute-9-0", "--appliance", "compute", "--rack", "9", "--mac", "52:54:00:99:00:00"]);
    let out = run(large.path(), &["build", "--out", tl.to_str().unwrap(), "--json"]);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["kickstarts"], serde_json::json!({"compiled": 1, "kept": 401}), "only the new host's kickstart is made: {j}");
    let after = files(&tl);
    let new: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert_eq!(
        new,
        [
            "ipxe/52-54-00-99-00-00.ipxe",
            "kickstart/compute-9-0.ks",
            "tftp/grub/grub.cfg-01-52-54-00-99-00-00",
            "tftp/pxelinux.cfg/01-52-54-00-99-00-00"
        ]
    );
    let rewritten: Vec<&str> = inodes.iter().filter(|(k, i)| inode(&tl.join(k)) != **i).map(|(k, _)| k.as_str()).collect();
    let aggregates = [
        "KEYS",
        "MANIFEST",
        "MANIFEST.private",
        "dhcp/dhcpd.conf",
        "dhcp/kea-dhcp4.json",
        "dns/db.1.10.in-addr.arpa",
        "dns/db.local",
        "hosts",
        "monitoring/nagios/hosts.cfg",
        "monitoring/prometheus/nodes.json",
        "scheduler/clustershell.yaml",
        "scheduler/genders",
        "scheduler/pbs-nodes",
        "scheduler/sge/@allhosts",
        "scheduler/sge/@compute",
        "scheduler/slurm-nodes.conf",
    ];
    assert!(rewritten.iter().all(|k| aggregates.contains(k)), "only aggregates were rewritten: {rewritten:?}");
    assert!(rewritten.contains(&"scheduler/slurm-nodes.conf") && rewritten.contains(&"hosts"), "{rewritten:?}");
    let kept = inodes.keys().filter(|k| k.starts_with("kickstart/") && !rewritten.contains(&k.as_str())).count();
    assert_eq!(kept, 401, "every other kickstart kept its inode");

    // A value every host reads, or a framework file, changes: every kickstart is made again.
    run(large.path(), &["attr", "set", "Kickstart_Timezone", "Europe/Berlin"]);
    let out = run(large.path(), &["build", "--out", tl.to_str().unwrap(), "--json"]);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["kickstarts"], serde_json::json!({"compiled": 402, "kept": 0}), "{j}");
    assert!(String::from_utf8(ks(&tl)).unwrap().contains("timezone Europe/Berlin"));
    let site = large.path().join("site");
    std::fs::create_dir_all(site.join("nodes")).unwrap();
    std::fs::write(site.join("nodes/extend-compute.xml"), "<kickstart><post>echo site</post></kickstart>\n").unwrap();
    let out = run(
        large.path(),
        &[
            "build",
            "--framework",
            env!("CARGO_MANIFEST_DIR"),
            "--framework",
            site.to_str().unwrap(),
            "--out",
            tl.to_str().unwrap(),
            "--json",
        ],
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["kickstarts"], serde_json::json!({"compiled": 402, "kept": 0}), "{j}");
    assert!(String::from_utf8(ks(&tl)).unwrap().contains("echo site"));
}

#[test]
fn dry_run_lists_added_changed_removed_per_kind() {
    let d = tempfile::tempdir().unwrap();
    example(d.path());
    let t = tree(d.path());
    let first = run(d.path(), &["build", "--out", t.to_str().unwrap(), "--dry-run"]);
    let s = stdout(&first);
    assert!(s.contains("dhcpd: 1 added, 0 changed, 0 removed"), "{s}");
    assert!(s.contains("  + dhcp/dhcpd.conf"), "{s}");
    assert!(!t.exists(), "--dry-run created nothing");
    run(d.path(), &["build", "--out", t.to_str().unwrap()]);
    run(d.path(), &["host", "remove", "login-0-0"]);
    let s = stdout(&run(d.path(), &["build", "--out", t.to_str().unwrap(), "--dry-run"]));
    assert!(s.contains("  - kickstart/login-0-0.ks"), "{s}");
    assert!(s.contains("  ~ hosts"), "{s}");
    assert!(s.contains("  - tftp/pxelinux.cfg/01-52-54-00-00-02-01"), "{s}");
    // --only rebuilds its kinds and carries the others over: nothing else is removed.
    let s = stdout(&run(d.path(), &["build", "--out", t.to_str().unwrap(), "--dry-run", "--only", "dhcp"]));
    assert!(s.contains("~ dhcp/dhcpd.conf") && !s.contains("  - hosts") && !s.contains("kickstart:"), "{s}");
    let before = files(&t);
    run(d.path(), &["build", "--out", t.to_str().unwrap(), "--only", "dhcp"]);
    let after = files(&t);
    let other = |m: &BTreeMap<String, Vec<u8>>| {
        m.iter()
            .filter(|(p, _)| !p.starts_with("dhcp/") && *p != "MANIFEST")
            .map(|(p, b)| (p.clone(), b.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(other(&after), other(&before), "--only dhcp left every other file as it was");
    assert_ne!(after["dhcp/dhcpd.conf"], before["dhcp/dhcpd.conf"], "and rebuilt dhcpd.conf");
    let v = rc(d.path()).args(["verify", t.to_str().unwrap()]).output().unwrap();
    assert!(v.status.success(), "{}", stderr(&v));
    // --diff while writing, with --json: one document with the report and the changes.
    run(d.path(), &["host", "set", "compute-0-0", "--cpus", "8"]);
    let out = run(d.path(), &["build", "--out", t.to_str().unwrap(), "--diff", "--json"]);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert!(j["written"].as_u64().unwrap() > 0, "{j}");
    let changes = j["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["path"] == "scheduler/slurm-nodes.conf" && c["diff"].as_str().unwrap().contains("+++ b/")), "{j}");
}

#[test]
fn secrets_are_0640_and_never_shown_in_diffs() {
    let d = tempfile::tempdir().unwrap();
    example(d.path());
    let t = tree(d.path());
    let secret = "$6$saltsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghi";
    run(d.path(), &["attr", "set", "Kickstart_PrivateRootPassword", secret, "--secret"]);
    run(d.path(), &["build", "--out", t.to_str().unwrap()]);
    let mode = |p: &str| std::fs::metadata(t.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("kickstart/compute-0-0.ks"), 0o640);
    assert_eq!(mode("dhcp/dhcpd.conf"), 0o644);
    assert!(String::from_utf8(std::fs::read(t.join("kickstart/compute-0-0.ks")).unwrap()).unwrap().contains(secret));
    let other = "$6$saltsalt$ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba9876543210ZYXWVUTSRQPONMLKJIHG";
    run(d.path(), &["attr", "set", "Kickstart_PrivateRootPassword", other, "--secret"]);
    let diff = run(d.path(), &["build", "--out", t.to_str().unwrap(), "--diff", "--dry-run"]);
    let s = stdout(&diff);
    assert!(s.contains("--- a/kickstart/compute-0-0.ks") && s.contains("+++ b/kickstart/compute-0-0.ks"), "{s}");
    assert!(s.contains("********"), "{s}");
    assert!(!s.contains(secret) && !s.contains(other), "a secret leaked into the diff:\n{s}");
    let j: Value =
        serde_json::from_slice(&run(d.path(), &["build", "--out", t.to_str().unwrap(), "--diff", "--dry-run", "--json"]).stdout).unwrap();
    let text = j.to_string();
    assert!(!text.contains(&secret[..30]) && !text.contains(&other[..30]) && text.contains("********"), "{text}");
}

/// The security review's finding: the public `MANIFEST` gave the size and sha256 of every
/// file holding a secret, so a host that knows its own kickstart learnt the exact length of
/// another host's secret and could test guesses offline. Now those are only in
/// `MANIFEST.private` (0640, like the secret files).
#[test]
fn the_public_manifest_told_the_size_and_hash_of_secret_files() {
    let d = tempfile::tempdir().unwrap();
    example(d.path());
    let t = tree(d.path());
    let out = t.to_str().unwrap();
    let secret = "$6$saltsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghi";
    run(d.path(), &["attr", "set", "Kickstart_PrivateRootPassword", secret, "--secret"]);
    run(d.path(), &["build", "--out", out]);
    let f = files(&t);
    let mode = |p: &str| std::fs::metadata(t.join(p)).unwrap().mode() & 0o7777;
    let private_files: Vec<&String> = f.keys().filter(|p| mode(p) == 0o640 && *p != "MANIFEST.private").collect();
    assert!(
        private_files.iter().any(|p| *p == "kickstart/compute-0-0.ks") && private_files.iter().any(|p| *p == "KEYS"),
        "{private_files:?}"
    );
    let public = String::from_utf8(f["MANIFEST"].clone()).unwrap();
    let private = String::from_utf8(f["MANIFEST.private"].clone()).unwrap();
    let line = |text: &str, p: &str| text.lines().find(|l| l.ends_with(&format!("  {p}"))).map(str::to_string);
    for p in &private_files {
        let sha = rocks_compile::generation::sha256_hex(&f[*p]);
        let listed = line(&public, p).unwrap_or_else(|| panic!("{p} is not listed:\n{public}"));
        assert!(listed.starts_with("-  -  0640  "), "{p}: {listed}");
        assert!(!public.contains(&sha), "the public manifest mentions the sha256 of {p}:\n{public}");
        assert_eq!(line(&private, p), Some(format!("{sha}  {}  0640  {}", f[*p].len(), &listed[12..])));
    }
    assert_eq!(private.lines().count(), private_files.len(), "the private manifest lists the private files only:\n{private}");
    assert_eq!(mode("MANIFEST.private"), 0o640);
    assert_eq!(mode("MANIFEST"), 0o644);
    let group = |p: &str| std::fs::metadata(t.join(p)).unwrap().gid();
    assert_eq!(group("MANIFEST.private"), group("kickstart/compute-0-0.ks"), "the group of the secret files reads it");
    let v = run(d.path(), &["verify", out]);
    assert!(stderr(&v).contains(&format!("{} files match the manifest", f.len() - 2)), "{}", stderr(&v));

    // One host changes: only its kickstart and the keys are written, and the public manifest,
    // which tells nothing of either, stays as it was.
    let inodes: BTreeMap<String, (u64, i64)> = f.keys().map(|k| (k.clone(), inode(&t.join(k)))).collect();
    run(d.path(), &["attr", "set", "Kickstart_Timezone", "Europe/Berlin", "--host", "compute-0-1"]);
    let j: Value = serde_json::from_slice(&run(d.path(), &["build", "--out", out, "--json"]).stdout).unwrap();
    assert_eq!((j["written"].as_u64(), j["removed"].as_u64()), (Some(2), Some(0)), "{j}");
    let after = files(&t);
    assert_eq!(after["MANIFEST"], f["MANIFEST"]);
    assert_ne!(after["MANIFEST.private"], f["MANIFEST.private"]);
    for (k, i) in inodes.iter().filter(|(k, _)| !["KEYS", "kickstart/compute-0-1.ks", "MANIFEST", "MANIFEST.private"].contains(&k.as_str()))
    {
        assert_eq!(inode(&t.join(k)), *i, "{k} did not change and kept its inode");
    }
    // A build of other kinds carries the secret files over, still listed privately.
    run(d.path(), &["build", "--out", out, "--only", "dhcp"]);
    assert_eq!(files(&t)["MANIFEST.private"], after["MANIFEST.private"]);
    run(d.path(), &["verify", out]);

    // Tampering with a secret file (same size: only its hash tells) is caught.
    let ks = t.join("kickstart/compute-0-0.ks");
    let mut bytes = std::fs::read(&ks).unwrap();
    let at = bytes.windows(secret.len()).position(|w| w == secret.as_bytes()).unwrap();
    bytes[at + 20] ^= 1;
    std::fs::write(&ks, &bytes).unwrap();
    let bad = rc(d.path()).args(["verify", out]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("kickstart/compute-0-0.ks: sha256 differs"), "{}", stderr(&bad));
    run(d.path(), &["build", "--out", out]);
    run(d.path(), &["verify", out]);

    // A tree an earlier version wrote (one manifest listing every file whole) is verified and
    // taken over: the next build splits the manifest and writes no file again.
    let (public, private) =
        (std::fs::read_to_string(t.join("MANIFEST")).unwrap(), std::fs::read_to_string(t.join("MANIFEST.private")).unwrap());
    let old: String = public
        .lines()
        .map(|l| if l.starts_with("-  -  ") { line(&private, l.rsplit("  ").next().unwrap()).unwrap() } else { l.to_string() } + "\n")
        .collect();
    std::fs::write(t.join("MANIFEST"), &old).unwrap();
    std::fs::remove_file(t.join("MANIFEST.private")).unwrap();
    run(d.path(), &["verify", out]);
    let ks_inode = inode(&ks);
    let j: Value = serde_json::from_slice(&run(d.path(), &["build", "--out", out, "--json"]).stdout).unwrap();
    assert_eq!(j["written"], 0, "{j}");
    assert_eq!(inode(&ks), ks_inode);
    assert_eq!(
        (std::fs::read_to_string(t.join("MANIFEST")).unwrap(), std::fs::read_to_string(t.join("MANIFEST.private")).unwrap()),
        (public, private)
    );
}

#[test]
fn scheduler_lists_take_appliances_or_a_query_and_servers_share_the_hosts() {
    let d = tempfile::tempdir().unwrap();
    example(d.path());
    let t = tree(d.path());
    run(d.path(), &["server", "add", "is-a", "10.1.1.2"]);
    run(d.path(), &["server", "add", "is-b", "10.1.1.3"]);
    let out = run(
        d.path(),
        &[
            "build",
            "--out",
            t.to_str().unwrap(),
            "--scheduler-query",
            "SELECT name FROM host_view WHERE rack = 0 AND appliance <> 'frontend'",
        ],
    );
    let e = stderr(&out);
    let line = e.lines().find(|l| l.starts_with("hosts per install server:")).unwrap_or_else(|| panic!("{e}"));
    let counts: Vec<usize> = line.split(", ").map(|p| p.rsplit(' ').next().unwrap().parse().unwrap()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 6, "{line}");
    let pbs = std::fs::read_to_string(t.join("scheduler/pbs-nodes")).unwrap();
    for h in ["compute-0-0", "compute-0-1", "login-0-0", "nas-0-0"] {
        assert!(pbs.contains(h), "{h} is selected:\n{pbs}");
    }
    assert!(!pbs.contains("compute-1-0") && !pbs.lines().any(|l| l.starts_with("cluster ")), "{pbs}");
    let dhcp = std::fs::read_to_string(t.join("dhcp/dhcpd.conf")).unwrap();
    assert!(dhcp.contains("10.1.1.2") && dhcp.contains("10.1.1.3"), "both servers are next-servers:\n{dhcp}");
    run(d.path(), &["build", "--out", t.to_str().unwrap(), "--scheduler-appliance", "login"]);
    let pbs = std::fs::read_to_string(t.join("scheduler/pbs-nodes")).unwrap();
    assert!(pbs.contains("login-0-0") && !pbs.contains("compute-0-0"), "{pbs}");
}

/// Copy a tree (files, modes) to a fresh `to`.
fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(st.success());
}

/// Everything beside `tree` in its parent that is not one of `allowed`.
fn strays(dir: &Path, allowed: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !allowed.contains(&n.as_str()))
        .collect()
}

#[test]
fn build_killed_at_every_step_leaves_the_old_or_the_new_tree_and_the_next_run_cleans_up() {
    let d = tempfile::tempdir().unwrap();
    example(d.path());
    let refs = d.path().join("refs");
    std::fs::create_dir(&refs).unwrap();
    // Generation A, then facts that change, add and remove files of every kind: B.
    run(d.path(), &["build", "--out", refs.join("a").to_str().unwrap()]);
    run(d.path(), &["host", "set", "compute-0-1", "--cpus", "96"]);
    run(d.path(), &["host", "remove", "login-0-0"]);
    run(
        d.path(),
        &["host", "add", "compute-2-0", "--appliance", "compute", "--rack", "2", "--mac", "52:54:00:00:00:09", "--ip", "10.1.255.240"],
    );
    run(d.path(), &["server", "add", "is-b", "10.1.1.3"]);
    // B is built over A: a zone's serial follows the one it replaces.
    copy_tree(&refs.join("a"), &refs.join("b"));
    run(d.path(), &["build", "--out", refs.join("b").to_str().unwrap()]);
    let (a, b) = (files(&refs.join("a")), files(&refs.join("b")));
    assert_ne!(a, b);

    let work = d.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let t = work.join("tree");
    let build = |crash: Option<String>| {
        let mut c = rc(d.path());
        c.args(["build", "--out", t.to_str().unwrap()]);
        if let Some(n) = crash {
            c.env("ROCKS_COMPILE_CRASH_AT", n);
        }
        c.output().unwrap()
    };
    copy_tree(&refs.join("a"), &t);
    let counted = build(Some("count".into()));
    assert!(counted.status.success(), "{}", stderr(&counted));
    let steps: u64 = stderr(&counted)
        .lines()
        .find_map(|l| l.strip_prefix("ROCKS_COMPILE_CRASH_AT: ")?.strip_suffix(" steps")?.parse().ok())
        .unwrap_or_else(|| panic!("no step count:\n{}", stderr(&counted)));
    assert!(steps >= 30, "{steps} steps");
    let (mut saw_a, mut saw_b) = (0, 0);
    for n in 1..=steps {
        std::fs::remove_dir_all(&work).unwrap();
        std::fs::create_dir(&work).unwrap();
        copy_tree(&refs.join("a"), &t);
        let killed = build(Some(n.to_string()));
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(killed.status.signal(), Some(9), "step {n} of {steps}: the build was not killed: {}", stderr(&killed));
        let v = rc(d.path()).args(["verify", t.to_str().unwrap()]).output().unwrap();
        assert!(v.status.success(), "step {n}: verify failed after the kill:\n{}", stderr(&v));
        let now = files(&t);
        if now == a {
            saw_a += 1;
        } else if now == b {
            saw_b += 1;
        } else {
            panic!("step {n}: the tree is neither the old nor the new generation");
        }
        let done = build(None);
        assert!(done.status.success(), "step {n}: the next run failed: {}", stderr(&done));
        assert_eq!(files(&t), b, "step {n}: the next run gives the new generation");
        assert_eq!(strays(&work, &["tree", ".tree.lock"]), Vec::<String>::new(), "step {n}: leftovers beside the tree");
    }
    assert!(saw_a > 0 && saw_b > 0, "kills fell before and after the swap: {saw_a} old, {saw_b} new");
    eprintln!("{steps} kill points: {saw_a} left the old tree, {saw_b} the new one");
}

#[test]
fn a_build_that_waits_for_the_lock_says_so() {
    let Some(flock) = common::tool("flock") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    example(d);
    std::fs::write(d.join(".tree.lock"), "").unwrap();
    // Another run holds the tree's lock for a while.
    let mut holder = Command::new(flock).arg(d.join(".tree.lock")).args(["sleep", "3"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let t = std::time::Instant::now();
    let out = rc(d).args(["build", "--only", "hosts", "--out"]).arg(tree(d)).output().unwrap();
    holder.wait().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(t.elapsed() >= std::time::Duration::from_secs(1), "the build did not wait");
    assert!(stderr(&out).starts_with("waiting for another run that holds "), "{}", stderr(&out));
    // Without anyone holding it, nothing is said about waiting.
    let out = rc(d).args(["build", "--only", "hosts", "--out"]).arg(tree(d)).output().unwrap();
    assert!(!stderr(&out).contains("waiting"), "{}", stderr(&out));
}
