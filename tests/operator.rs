//! The cluster database as an operator meets it: no silent new databases, addresses that are
//! allocated, facts that beat files, attributes that cannot win refused, lists generated from
//! the facts, safe defaults and a complete command line. Each test drives the real binary
//! with its own temporary database.

mod common;
use common::{ok, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// The binary, without colours and without a database taken from the environment.
fn bin() -> Command {
    let mut c = Command::cargo_bin("rocks-compile").unwrap();
    c.env("NO_COLOR", "1").env_remove("ROCKS_COMPILE_DB").stdin(Stdio::null());
    c
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("cluster.db")
}

/// The binary with `--db <dir>/cluster.db` and `args`.
fn run(dir: &Path, args: &[&str]) -> Command {
    let mut c = bin();
    c.arg("--db").arg(db_path(dir)).args(args);
    c
}

/// Run `cmd`, which must fail with `exit` and print `code`; its stderr.
fn fails(cmd: &mut Command, exit: i32, code: &str) -> String {
    let out = cmd.output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(exit), "{cmd:?}:\n{}{err}", text(&out.stdout));
    assert!(err.contains(code), "{cmd:?}: `{code}` missing from stderr:\n{err}");
    err
}

fn json(cmd: &mut Command) -> Value {
    let out = ok(cmd);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{cmd:?}: not JSON ({e}):\n{}", text(&out.stdout)))
}

/// Every table of the database as text.
fn dump(dir: &Path) -> String {
    rocks_compile::facts::Db::open(db_path(dir)).unwrap().dump().unwrap()
}

/// The example cluster of the README (`examples/cluster.csv`) in a fresh database.
fn example(dir: &Path) {
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster.csv");
    ok(run(dir, &["host", "import"]).arg(csv));
}

// ---------------------------------------------------------------------------------------------
// No silent new databases
// ---------------------------------------------------------------------------------------------

#[test]
fn reading_commands_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let readers: &[&[&str]] = &[
        &["host", "list"],
        &["host", "export"],
        &["host", "remove", "c1"],
        &["host", "set", "c1", "--rack", "2"],
        &["attr", "list"],
        &["attr", "unset", "x"],
        &["appliance", "list"],
        &["network", "list"],
        &["interface", "list"],
        &["interface", "add", "c1", "eth1"],
        &["boot", "set", "c1", "os"],
        &["server", "list"],
        &["kickstart", "--host", "c1"],
        &["build", "--out", "tree"],
    ];
    for args in readers {
        let err = fails(&mut run(d, args), 1, "facts::no-database");
        assert!(err.contains(&db_path(d).display().to_string()), "{args:?}: the path is named:\n{err}");
        assert!(err.contains("--db") && err.contains("ROCKS_COMPILE_DB"), "{args:?}: how to point elsewhere:\n{err}");
        assert!(!db_path(d).exists(), "{args:?} created a database");
    }
    // Without --db, in the wrong directory: the default `./cluster.db` is named, not made.
    let out = bin().current_dir(d).args(["host", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).is_empty(), "no empty table: {}", text(&out.stdout));
    assert!(text(&out.stderr).contains("facts::no-database") && text(&out.stderr).contains("cluster.db"), "{}", text(&out.stderr));
    assert!(!db_path(d).exists(), "`host list` created ./cluster.db");
    // Commands that add facts create it.
    ok(&mut run(d, &["attr", "set", "Kickstart_Timezone", "Europe/Paris"]));
    assert!(db_path(d).exists());
}

#[test]
fn framework_paths_that_are_missing_or_files_are_coded_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compute.xml");
    std::fs::write(&file, "<kickstart/>").unwrap();
    let err = fails(bin().args(["check", "--framework"]).arg(&file), 2, "load::not-a-directory");
    assert!(err.contains("help:"), "{err}");
    let err = fails(bin().args(["check", "--framework"]).arg(dir.path().join("nope")), 2, "load::missing-framework");
    assert!(err.contains("help:"), "{err}");
    let err = fails(bin().args(["check", "--framework"]).arg(dir.path()), 2, "load::not-framework");
    assert!(err.contains("help:"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Addresses are allocated, not forgotten
// ---------------------------------------------------------------------------------------------

/// `host list --json` as (name, ip, network) rows.
fn addresses(dir: &Path) -> Vec<(String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    json(&mut run(dir, &["host", "list", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (s(&h["name"]), s(&h["ip"]), s(&h["network"])))
        .collect()
}

/// Run `cmd`, which must fail with exit 1 and `code` without changing the database.
fn rejected(dir: &Path, cmd: &mut Command, code: &str) {
    let before = dump(dir);
    fails(cmd, 1, code);
    assert_eq!(dump(dir), before, "{cmd:?} failed but changed the database");
}

#[test]
fn host_add_allocates_addresses_by_the_appliance_policy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&mut run(d, &["host", "add", "c1", "--appliance", "compute", "--mac", "52:54:00:00:00:01"]));
    ok(&mut run(d, &["host", "add", "c2", "--appliance", "compute"]));
    ok(&mut run(d, &["host", "add", "c3", "--appliance", "compute", "--no-ip"]));
    // A discovered host continues the countdown.
    let log = d.join("dhcpd.log");
    std::fs::write(&log, "DHCPDISCOVER from 52:54:00:00:00:04 via eth0\n").unwrap();
    ok(run(d, &["discover", "--appliance", "compute", "--from-log"]).arg(&log));
    // A template policy gives the template's address.
    ok(&mut run(d, &["network", "add", "gpu", "10.5.0.0/16"]));
    ok(&mut run(
        d,
        &["appliance", "add", "gpu", "--name-policy", "g{rack}n{rank}", "--ip-policy", "10.5.{rack}.{rank}", "--network", "gpu"],
    ));
    ok(&mut run(d, &["host", "add", "g2n1", "--appliance", "gpu", "--rack", "2"]));
    let got = addresses(d);
    let want = [
        ("c1", "10.1.255.254", "private"),
        ("c2", "10.1.255.253", "private"),
        ("c3", "", ""),
        ("compute-0-3", "10.1.255.252", "private"),
        ("g2n1", "10.5.2.1", "gpu"),
    ];
    assert_eq!(got, want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())));
    // The kickstart of an allocated host has its address in /etc/hosts (then the frontend's,
    // here the framework's default); one without an address (`--no-ip`) writes no line with
    // an empty address.
    let hosts = |host: &str| {
        let ks = text(&ok(&mut run(d, &["kickstart", "--host", host, "--allow-default-password"])).stdout);
        etc_hosts_lines(&ks, d)
    };
    let frontend = "10.1.1.1\tcluster.local cluster\n";
    assert_eq!(hosts("c2"), format!("10.1.255.253\tc2.local c2\n{frontend}"));
    assert_eq!(hosts("c3"), frontend, "no address, no line of its own");
    // A template address that is taken is refused.
    rejected(d, &mut run(d, &["host", "add", "other", "--appliance", "gpu", "--rack", "2", "--rank", "1"]), "facts::duplicate-ip");
}

/// What the kickstart's shell appends to `/etc/hosts` (its own line and the frontend's),
/// run by `sh` into a file in `dir`.
fn etc_hosts_lines(ks: &str, dir: &Path) -> String {
    let lines: Vec<&str> = ks.lines().collect();
    let start = lines.iter().position(|l| l.starts_with("if [ -n ") && l.contains("!= \"localhost\"")).unwrap_or_else(|| panic!("{ks}"));
    // The lines go to /etc/hosts.local, which is then copied to /etc/hosts.
    let script: String = lines[start..]
        .iter()
        .take_while(|l| !l.is_empty() && !l.starts_with('%'))
        .filter(|l| !l.starts_with("cp /etc/hosts.local "))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = dir.join("etc-hosts");
    std::fs::write(&file, "").unwrap();
    let script = script.replace("/etc/hosts.local", file.to_str().unwrap());
    ok(Command::new("sh").arg("-c").arg(&script));
    std::fs::read_to_string(&file).unwrap()
}

#[test]
fn host_set_interface_set_rename_and_aliases_change_existing_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&mut run(d, &["host", "add", "c1", "--appliance", "compute", "--no-ip"]));
    ok(&mut run(d, &["host", "add", "c2", "--appliance", "compute", "--ip", "10.1.0.2", "--mac", "52:54:00:00:00:02"]));
    // A host without an interface gets one.
    ok(&mut run(d, &["host", "set", "c1", "--ip", "10.1.0.1", "--mac", "52:54:00:00:00:01", "--rack", "1"]));
    assert_eq!(addresses(d)[0], ("c1".into(), "10.1.0.1".into(), "private".into()));
    // Uniqueness and the network's range hold; a rejected change changes nothing, not even
    // the fields given with it.
    rejected(d, &mut run(d, &["host", "set", "c1", "--ip", "10.1.0.2", "--rack", "3"]), "facts::duplicate-ip");
    rejected(d, &mut run(d, &["host", "set", "c1", "--mac", "52:54:00:00:00:02"]), "facts::duplicate-mac");
    rejected(d, &mut run(d, &["host", "set", "c1", "--ip", "10.2.0.1"]), "facts::ip-outside-network");
    rejected(d, &mut run(d, &["host", "set", "c9", "--ip", "10.1.0.9"]), "facts::unknown-host");
    rejected(d, &mut run(d, &["host", "set", "c1"]), "cli::nothing-to-set");
    // Another network: the address must lie inside it.
    ok(&mut run(d, &["network", "add", "ib", "10.2.0.0/16"]));
    rejected(d, &mut run(d, &["interface", "set", "c1", "eth0", "--network", "ib"]), "facts::ip-outside-network");
    ok(&mut run(d, &["interface", "set", "c1", "eth0", "--network", "ib", "--ip", "10.2.0.1"]));
    ok(&mut run(d, &["interface", "add", "c1", "eth1", "--ip", "10.1.0.11"]));
    ok(&mut run(d, &["interface", "set", "c1", "eth1", "--primary"]));
    assert_eq!(addresses(d)[0], ("c1".into(), "10.1.0.11".into(), "private".into()));
    rejected(d, &mut run(d, &["interface", "set", "c1", "eth9", "--primary"]), "facts::unknown-name");
    // Rename: interfaces, aliases and attributes follow.
    ok(&mut run(d, &["alias", "add", "c1", "storage"]));
    ok(&mut run(d, &["attr", "set", "site_role", "io", "--host", "c1"]));
    rejected(d, &mut run(d, &["host", "rename", "c1", "c2"]), "facts::duplicate-name");
    rejected(d, &mut run(d, &["host", "rename", "c1", "storage"]), "facts::duplicate-name");
    ok(&mut run(d, &["host", "rename", "c1", "io-0-0"]));
    assert_eq!(addresses(d)[1], ("io-0-0".into(), "10.1.0.11".into(), "private".into()));
    let aliases = json(&mut run(d, &["alias", "list", "--json"]));
    assert_eq!(aliases, serde_json::json!([{"host": "io-0-0", "alias": "storage"}]));
    let attrs = json(&mut run(d, &["attr", "list", "--host", "io-0-0", "--json"]));
    assert!(attrs.as_array().unwrap().iter().any(|a| a["key"] == "site_role" && a["value"] == "io"), "{attrs}");
    rejected(d, &mut run(d, &["alias", "add", "c2", "storage"]), "facts::duplicate-name");
    rejected(d, &mut run(d, &["alias", "remove", "c2", "storage"]), "facts::unknown-name");
    ok(&mut run(d, &["alias", "remove", "io-0-0", "storage"]));
    assert_eq!(json(&mut run(d, &["alias", "list", "--json"])), serde_json::json!([]));
}

// ---------------------------------------------------------------------------------------------
// Facts beat files, loudly
// ---------------------------------------------------------------------------------------------

/// `kickstart --query` of every host into `<dir>/<out>`; (stderr, kickstart of each host).
fn all_kickstarts(dir: &Path, out: &str, extra: &[&str]) -> (String, std::collections::BTreeMap<String, String>) {
    let o = ok(run(dir, &["kickstart", "--query", "SELECT name FROM host_view", "--allow-default-password", "-o"])
        .arg(dir.join(out))
        .args(extra));
    let mut ks = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(dir.join(out)).unwrap() {
        let p = e.unwrap().path();
        if let Some(host) = p.file_name().unwrap().to_str().unwrap().strip_suffix(".ks") {
            ks.insert(host.to_string(), std::fs::read_to_string(&p).unwrap());
        }
    }
    (text(&o.stderr), ks)
}

#[test]
fn attribute_files_do_not_override_database_facts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    example(d);
    // The bundled site file holds no per-host fact.
    let site = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/site/attrs.toml");
    let table: toml::Table = std::fs::read_to_string(&site).unwrap().parse().unwrap();
    for key in table["attributes"].as_table().unwrap().keys() {
        assert!(rocks_compile::resolver::builtin::builtin(key).is_none(), "examples/site/attrs.toml sets the built-in `{key}`");
    }
    // A file that does: the database wins, and a warning names the attribute and both values.
    let file = d.join("host.toml");
    std::fs::write(&file, "hostname = \"compute-0-0\"\nksmac = \"52:54:00:00:00:01\"\nInfo_ClusterName = \"Example\"\n").unwrap();
    let (err, ks) = all_kickstarts(d, "ks", &["--attrs", file.to_str().unwrap()]);
    assert_eq!(ks.len(), 6);
    for (host, text) in &ks {
        assert!(text.contains(&format!("--hostname={host}")), "{host} keeps its name:\n{text}");
    }
    let distinct: std::collections::BTreeSet<&String> = ks.values().collect();
    assert_eq!(distinct.len(), 6, "every host has its own kickstart");
    assert!(err.contains("attrs::overrides-fact"), "{err}");
    assert!(err.contains("`hostname` = `compute-0-0`") && err.contains("is ignored"), "{err}");
    assert!(err.contains("host `cluster`: `hostname` = `cluster` in the database, `compute-0-0` given"), "{err}");
    assert!(err.contains("`ksmac`"), "{err}");
    assert!(ks["login-0-0"].contains("Example"), "other attributes of the file apply");
    // With --override-facts the file wins, still with a warning.
    let (err, ks) = all_kickstarts(d, "ks2", &["--attrs", file.to_str().unwrap(), "--override-facts"]);
    assert!(ks["login-0-0"].contains("--hostname=compute-0-0"), "{}", ks["login-0-0"]);
    assert!(err.contains("attrs::overrides-fact") && err.contains("overrides the database"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Attributes that cannot win are refused or flagged
// ---------------------------------------------------------------------------------------------

#[test]
fn attributes_a_builtin_shadows_are_refused_and_marked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    example(d);
    // init seeded no attribute that a built-in always overrides.
    let stored = json(&mut run(d, &["attr", "list", "--json"]));
    for a in stored.as_array().unwrap() {
        let key = a["key"].as_str().unwrap();
        assert!(rocks_compile::resolver::builtin::builtin(key).is_none(), "`{key}` was seeded but can never take effect");
        assert!(a["shadowed_by"].is_null(), "{a}");
    }
    let err = fails(&mut run(d, &["attr", "set", "Kickstart_PrivateDNSDomain", "cluster.lan"]), 1, "facts::shadowed-by-builtin");
    assert!(err.contains("network set private --zone"), "{err}");
    fails(&mut run(d, &["attr", "set", "rack", "3", "--appliance", "compute"]), 1, "facts::shadowed-by-builtin");
    // The fact changes through the command the help names.
    ok(&mut run(d, &["network", "set", "private", "--zone", "cluster.lan"]));
    let ks = text(&ok(&mut run(d, &["kickstart", "--host", "compute-0-0", "--allow-default-password"])).stdout);
    assert!(ks.contains("\"cluster.lan\""), "{ks}");
    // A host-scope value is the escape hatch for one host.
    ok(&mut run(d, &["attr", "set", "rack", "7", "--host", "compute-0-0"]));
    // A value stored anyway (by an older version) is marked in the listing.
    let conn = rusqlite::Connection::open(db_path(d)).unwrap();
    conn.execute("INSERT INTO attributes (scope, target, key, value) VALUES ('global', '', 'Kickstart_PrivateDNSDomain', 'old')", [])
        .unwrap();
    drop(conn);
    let stored = json(&mut run(d, &["attr", "list", "--json"]));
    let old = stored.as_array().unwrap().iter().find(|a| a["key"] == "Kickstart_PrivateDNSDomain").unwrap();
    assert_eq!(old["shadowed_by"], "builtin");
    let table = text(&ok(&mut run(d, &["attr", "list"])).stdout);
    assert!(table.lines().any(|l| l.starts_with("Kickstart_PrivateDNSDomain") && l.contains("shadowed")), "{table}");
}

// ---------------------------------------------------------------------------------------------
// Lists from facts
// ---------------------------------------------------------------------------------------------

#[test]
fn the_cluster_lists_are_files_of_the_build_that_kickstarts_only_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    example(d);
    let frontend = |d: &Path| text(&ok(&mut run(d, &["kickstart", "--host", "cluster", "--allow-default-password"])).stdout);
    let ks = frontend(d);
    // The kickstart names each cluster file, where it goes and how it is reloaded ...
    for (list, line) in [
        ("slurm", "scheduler/slurm-nodes.conf /etc/slurm/nodes.conf 0644 scontrol reconfigure"),
        ("hosts", "hosts /etc/hosts.cluster 0644 /usr/local/sbin/cluster-hosts"),
        ("nfs-home", "cluster/networks /etc/rocks-compile/cluster-networks 0644 /usr/local/sbin/cluster-home-exports"),
        ("clush", "scheduler/clustershell.yaml /etc/clustershell/groups.d/cluster.yaml 0644"),
    ] {
        assert_eq!(common::file_body(&ks, &format!("/etc/rocks-compile/cluster-files.d/{list}")), format!("{line}\n"));
    }
    assert!(common::file_body(&ks, "/etc/rocks-compile/cluster-files.conf").contains("primary=http://10.1.1.1/install/rocks\n"), "{ks}");
    // ... and holds none of their content.
    assert!(!ks.contains("NodeName=") && !ks.contains("10.1.255.252") && !ks.contains("compute-1-0"), "no list in the kickstart");
    // The build writes them.
    ok(run(d, &["build", "--only", "slurm,hosts", "--allow-default-password", "--out"]).arg(d.join("tree")));
    let read = |p: &str| std::fs::read_to_string(d.join("tree").join(p)).unwrap();
    assert!(read("scheduler/slurm-nodes.conf").contains("NodeName=compute-1-0 NodeAddr=10.1.255.252 CPUs=128"));
    assert!(read("hosts").contains("10.1.255.252\tcompute-1-0.local compute-1-0\n"));
    assert_eq!(read("cluster/networks"), "10.1.0.0/16\n");
    assert!(read("scheduler/clustershell.yaml").contains("    compute: 'compute-0-[0-1],compute-1-0'\n"));
    // `attr list --host` shows where the host fetches them from.
    let attrs = json(&mut run(d, &["attr", "list", "--host", "cluster", "--json"]));
    let listed =
        |key: &str| attrs.as_array().unwrap().iter().find(|a| a["key"] == key).unwrap_or_else(|| panic!("no {key}: {attrs}")).clone();
    assert_eq!(listed("cluster_files_url")["scope"], "builtin");
    assert_eq!(listed("cluster_files_url")["value"], "http://10.1.1.1/install/rocks");
    // Change the cluster: the files follow, the frontend's kickstart does not change at all.
    ok(&mut run(d, &["host", "add", "compute-1-1", "--appliance", "compute", "--rack", "1", "--cpus", "128"]));
    ok(&mut run(d, &["network", "add", "ib", "10.2.0.0/16"]));
    ok(&mut run(d, &["interface", "set", "nas-0-0", "eth0", "--network", "ib", "--ip", "10.2.0.1"]));
    assert_eq!(frontend(d), ks, "adding a host changes no other host's kickstart");
    ok(run(d, &["build", "--only", "slurm,hosts", "--allow-default-password", "--out"]).arg(d.join("tree")));
    let nodes = read("scheduler/slurm-nodes.conf");
    assert!(nodes.contains("NodeName=compute-1-[0-1] NodeAddr=10.1.255.[252,251] CPUs=128"), "{nodes}");
    assert!(nodes.contains("PartitionName=compute Nodes=compute-0-[0-1],compute-1-[0-1]"), "{nodes}");
    assert!(read("hosts").contains("10.1.255.251\tcompute-1-1.local compute-1-1"));
    assert_eq!(read("cluster/networks"), "10.1.0.0/16\n10.2.0.0/16\n", "the NAS's network is exported to");
    // Another scheduler selection changes the files, not the kickstarts.
    let sel = ["--scheduler-appliance", "compute,login", "--partition-by", "rack"];
    ok(run(d, &["build", "--only", "slurm", "--out"]).arg(d.join("tree")).args(sel));
    let nodes = read("scheduler/slurm-nodes.conf");
    assert!(nodes.contains("login-0-0") && nodes.contains("PartitionName=1 Nodes=compute-1-[0-1]"), "{nodes}");
    assert!(read("scheduler/clustershell.yaml").contains("    1: 'compute-1-[0-1]'\n"));
}

// ---------------------------------------------------------------------------------------------
// Safe defaults
// ---------------------------------------------------------------------------------------------

#[test]
fn the_default_root_password_is_refused_until_a_real_one_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    example(d);
    let tree = d.join("tree");
    let err = fails(run(d, &["build", "--out"]).arg(&tree), 1, "security::default-password");
    assert!(err.contains("attr set Kickstart_PrivateRootPassword --secret") && err.contains("--allow-default-password"), "{err}");
    assert!(!tree.exists(), "nothing was written");
    let out = ok(&mut run(d, &["kickstart", "--host", "compute-0-0"]));
    assert!(text(&out.stderr).contains("security::default-password"), "a warning for kickstart");
    let out = ok(&mut run(d, &["kickstart", "--host", "compute-0-0", "--allow-default-password"]));
    assert!(!text(&out.stderr).contains("security::default-password"));
    // A plain password on standard input is stored as its SHA-512 crypt hash, never shown.
    let mut child = run(d, &["attr", "set", "Kickstart_PrivateRootPassword", "--secret"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"correct horse battery staple\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("correct horse") && !text(&out.stderr).contains("correct horse"));
    let conn = rusqlite::Connection::open(db_path(d)).unwrap();
    let hash: String = conn
        .query_row("SELECT value FROM attributes WHERE key = 'Kickstart_PrivateRootPassword' AND scope = 'global'", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    assert!(hash.starts_with("$6$"), "{hash}");
    use sha_crypt::PasswordVerifier;
    let parsed = sha_crypt::PasswordHash::new(hash.as_str()).unwrap();
    sha_crypt::ShaCrypt::default().verify_password(b"correct horse battery staple", &parsed).expect("the hash is of the password typed");
    ok(run(d, &["build", "--out"]).arg(&tree));
    let ks = std::fs::read_to_string(tree.join("kickstart/compute-0-0.ks")).unwrap();
    assert!(ks.contains(&format!("rootpw --iscrypted {hash}")), "{ks}");
    // A plain root password on the command line would be compiled as a "hash": refused.
    let err = fails(&mut run(d, &["attr", "set", "Kickstart_PrivateRootPassword", "hunter2"]), 1, "attrs::plain-password");
    assert!(err.contains("--secret"), "{err}");
    rejected(d, &mut run(d, &["attr", "set", "Kickstart_PrivateRootPassword", "hunter2", "--host", "cluster"]), "attrs::plain-password");
    ok(&mut run(d, &["attr", "set", "Kickstart_PrivateRootPassword", "$y$j9T$salt$hash", "--host", "cluster"]));
    // Other credentials are stored as typed (a script may need them so), always redacted.
    let mut child = run(d, &["attr", "set", "Site_BMCPassword", "--secret"]).stdin(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"bmc-pw\n").unwrap();
    assert!(child.wait().unwrap().success());
    ok(&mut run(d, &["attr", "set", "Site_SwitchPassword", "sw-pw", "--host", "cluster"]));
    let conn = rusqlite::Connection::open(db_path(d)).unwrap();
    let stored: Vec<(String, bool)> = conn
        .prepare("SELECT value, secret FROM attributes WHERE key IN ('Site_BMCPassword', 'Site_SwitchPassword') ORDER BY key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored, [("bmc-pw".to_string(), true), ("sw-pw".to_string(), true)]);
    let listing = text(&ok(&mut run(d, &["attr", "list", "--host", "cluster"])).stdout);
    assert!(!listing.contains("sw-pw") && !listing.contains("bmc-pw"), "{listing}");
}

#[test]
fn a_query_that_selects_no_host_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    example(d);
    let none = "SELECT name FROM host_view WHERE rack = 99";
    let out = ok(run(d, &["kickstart", "--query", none, "-o"]).arg(d.join("ks")));
    assert_eq!(text(&out.stderr).lines().count(), 1, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("selects no host"));
    let out = ok(&mut run(d, &["host", "list", "--where", "rack = 99"]));
    assert_eq!(text(&out.stderr), "the query selects no host\n");
    let out = ok(&mut run(d, &["host", "list", "--query", none]));
    assert_eq!(text(&out.stderr), "the query selects no host\n");
}

// ---------------------------------------------------------------------------------------------
// The CLI of a well-kept tool
// ---------------------------------------------------------------------------------------------

/// Every argument of every subcommand, as `path: --arg` for those without help.
fn args_without_help(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
    for a in cmd.get_arguments() {
        let id = a.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        if a.get_help().is_none() && a.get_long_help().is_none() {
            out.push(format!("{path}: {id}"));
        }
    }
    for sub in cmd.get_subcommands() {
        if sub.get_about().is_none() {
            out.push(format!("{path} {}: (no about)", sub.get_name()));
        }
        args_without_help(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

/// The names of every subcommand, nested ones as `host add`.
fn subcommands(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
    for sub in cmd.get_subcommands() {
        let name = format!("{prefix}{}", sub.get_name());
        out.push(name.clone());
        subcommands(sub, &format!("{name} "), out);
    }
}

/// The long option names of `cmd` and its subcommands.
fn long_options(cmd: &clap::Command, out: &mut Vec<String>) {
    out.extend(cmd.get_arguments().filter_map(|a| a.get_long()).map(str::to_string));
    for sub in cmd.get_subcommands() {
        long_options(sub, out);
    }
}

#[test]
fn every_argument_of_every_subcommand_has_help() {
    use clap::CommandFactory;
    let mut cmd = rocks_compile::cli::Cli::command();
    cmd.build();
    let mut missing = Vec::new();
    args_without_help(&cmd, "rocks-compile", &mut missing);
    assert!(missing.is_empty(), "arguments without help text:\n{}", missing.join("\n"));
}

#[test]
fn completions_and_man_pages_mention_every_subcommand() {
    use clap::CommandFactory;
    let mut names = Vec::new();
    subcommands(&rocks_compile::cli::Cli::command(), "", &mut names);
    let top: Vec<&String> = names.iter().filter(|n| !n.contains(' ')).collect();
    assert!(top.len() >= 18, "{top:?}");
    for shell in ["bash", "zsh", "fish"] {
        let script = text(&ok(bin().args(["completions", shell])).stdout);
        assert!(script.len() > 1000, "{shell}: {script}");
        for n in &names {
            let last = n.rsplit(' ').next().unwrap();
            assert!(script.contains(last), "{shell} completions do not mention `{n}`");
            // Each (nested) subcommand has its own state with its own options.
            let state = match shell {
                "bash" => format!("rocks__compile__subcmd__{}", n.replace('-', "__").replace(' ', "__subcmd__")),
                "fish" => format!("-a \"{last}\""),
                _ => format!("({last})"),
            };
            assert!(script.contains(&state), "{shell} completions have no `{state}` for `{n}`");
        }
    }
    // Every option of every subcommand is completed.
    let bash = text(&ok(bin().args(["completions", "bash"])).stdout);
    let mut longs = Vec::new();
    long_options(&rocks_compile::cli::Cli::command(), &mut longs);
    for long in &longs {
        assert!(bash.contains(&format!("--{long}")), "bash completions lack `--{long}`");
    }
    let page = text(&ok(bin().arg("man")).stdout);
    assert!(page.starts_with(".ie") || page.contains(".TH rocks-compile 1"), "{page}");
    for n in &top {
        assert!(page.contains(&n.replace('-', "\\\\-")), "the man page does not mention `{n}`");
    }
    let dir = tempfile::tempdir().unwrap();
    ok(bin().args(["man", "--out"]).arg(dir.path()));
    for n in &names {
        let file = dir.path().join(format!("rocks-compile-{}.1", n.replace(' ', "-")));
        let page = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!page.trim().is_empty(), "{}", file.display());
    }
}

#[test]
fn no_color_and_a_pipe_turn_colours_off() {
    use rocks_compile::cli::use_color;
    assert!(use_color(true, None));
    assert!(!use_color(true, Some("1".as_ref())));
    assert!(use_color(true, Some("".as_ref())), "an empty NO_COLOR does not count (no-color.org)");
    assert!(!use_color(false, None));
    // And the binary's diagnostics carry no escape sequences with NO_COLOR.
    let err = text(&bin().args(["--db", "/nonexistent/x.db", "host", "list"]).output().unwrap().stderr);
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

#[test]
fn where_errors_point_into_the_users_expression() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    example(d);
    let err = fails(&mut run(d, &["host", "list", "--where", "rak = 2"]), 1, "facts::bad-sql");
    assert!(err.contains("1 │ rak = 2") && err.contains("─┬─"), "{err}");
    assert!(!err.contains("host_view WHERE"), "no SQL around the expression: {err}");
    let err = fails(&mut run(d, &["host", "list", "--where", "rack ="]), 1, "facts::bad-sql");
    assert!(err.contains("the expression is incomplete") && !err.contains("near \")\""), "{err}");
}

#[test]
fn a_malformed_command_line_is_a_coded_error_with_usage() {
    let err = fails(bin().args(["host", "ad"]), 1, "cli::usage");
    assert!(err.contains("Usage: rocks-compile host"), "{err}");
    let err = fails(bin().args(["kickstart", "--bogus"]), 1, "cli::usage");
    assert!(err.contains("--bogus"), "{err}");
    ok(bin().arg("--version"));
}

/// The commands in a diagnostic's help (between backticks, starting with a subcommand).
fn hinted_commands(stderr: &str) -> Vec<Vec<String>> {
    stderr
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("host ") || c.starts_with("interface "))
        .map(|c| c.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn every_address_hint_of_the_model_check_is_a_command_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&mut run(d, &["host", "add", "c1", "--appliance", "compute", "--mac", "52:54:00:00:00:01", "--no-ip"]));
    ok(&mut run(d, &["host", "add", "c2", "--appliance", "compute", "--mac", "52:54:00:00:00:02", "--no-ip"]));
    ok(&mut run(d, &["network", "add", "lab", "10.9.0.0/24", "--dhcp"]));
    ok(&mut run(d, &["host", "add", "c3", "--appliance", "compute"]));
    ok(&mut run(d, &["interface", "add", "c3", "eth1", "--mac", "52:54:00:00:00:03", "--network", "lab"]));
    let build = |d: &Path| run(d, &["build", "--only", "dhcpd", "--out"]).arg(d.join("tree")).output().unwrap();
    let out = build(d);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("build::mac-without-address").count(), 3, "{stderr}");
    // Run the first command each diagnostic suggests; then the build passes.
    let mut ran = 0;
    for block in stderr.split("build::mac-without-address").skip(1) {
        let hint = hinted_commands(block).into_iter().next().unwrap_or_else(|| panic!("no command in {block}"));
        let args: Vec<String> = hint.iter().map(|w| if w == "IP" { "10.9.0.33".to_string() } else { w.clone() }).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&mut run(d, &args));
        ran += 1;
    }
    assert_eq!(ran, 3);
    let out = build(d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // One command gives every host without an address one.
    ok(&mut run(d, &["host", "add", "c4", "--appliance", "compute", "--no-ip"]));
    ok(&mut run(d, &["host", "add", "c5", "--appliance", "compute", "--no-ip"]));
    let said = text(&ok(&mut run(d, &["host", "allocate"])).stdout);
    assert_eq!(said, "allocated c4 10.1.255.251 (private)\nallocated c5 10.1.255.250 (private)\n");
}

#[test]
fn discover_adds_each_host_as_its_line_arrives() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut child = run(d, &["discover", "--appliance", "compute", "--interface", "eth0"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    // The input stays open (as under `tail -f`): the host is added and said before it ends.
    writeln!(stdin, "Dec  4 10:00:00 fe dhcpd[1]: DHCPDISCOVER from 52:54:00:aa:bb:01 via eth0: network 10.1.0.0/16: no free leases")
        .unwrap();
    stdin.flush().unwrap();
    let first = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("no host added while the input is still open");
    assert_eq!(first, "added compute-0-0 52:54:00:aa:bb:01 10.1.255.254 (private)");
    assert_eq!(addresses(d), [("compute-0-0".to_string(), "10.1.255.254".to_string(), "private".to_string())], "in the database already");
    // A request from the public side is not a cluster host.
    writeln!(stdin, "Dec  4 10:00:01 fe dhcpd[1]: DHCPDISCOVER from 52:54:00:aa:bb:02 via eth1").unwrap();
    writeln!(stdin, "Dec  4 10:00:02 fe dhcpd[1]: DHCPDISCOVER from 52:54:00:aa:bb:03 via eth0").unwrap();
    drop(stdin);
    let second = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
    assert_eq!(second, "added compute-0-1 52:54:00:aa:bb:03 10.1.255.253 (private)");
    assert!(child.wait().unwrap().success());
    assert!(rx.recv_timeout(std::time::Duration::from_secs(5)).is_err(), "nothing else was added");
    // Its CPUs are not known: no `CPUs=` for it.
    let hosts = json(&mut run(d, &["host", "list", "--json"]));
    assert_eq!(hosts[0]["cpus"], 0, "{hosts}");
}

#[test]
fn every_changing_command_says_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let say = |args: &[&str]| text(&ok(&mut run(d, args)).stdout);
    assert_eq!(
        say(&["host", "add", "c1", "--appliance", "compute"]),
        "added host c1 appliance=compute rack=0 rank=0 ip=10.1.255.254 network=private\n"
    );
    assert_eq!(say(&["host", "set", "c1", "--rack", "2"]), "changed host c1 rack=2\n");
    assert_eq!(
        say(&["attr", "set", "Kickstart_Timezone", "Europe/Berlin", "--appliance", "compute"]),
        "set attribute Kickstart_Timezone value=Europe/Berlin scope=appliance target=compute\n"
    );
    assert_eq!(
        say(&["attr", "set", "Slurm_MungeKey", "c2VjcmV0", "--secret"]),
        "set attribute Slurm_MungeKey value=******** scope=global\n",
        "a secret is never printed"
    );
    assert_eq!(
        say(&["network", "add", "ib", "10.2.0.0/16", "--mtu", "2044"]),
        "added network ib cidr=10.2.0.0/16 zone=ib mtu=2044 dhcp=false\n"
    );
    assert_eq!(say(&["network", "set", "ib", "--mtu", "4092"]), "changed network ib cidr=10.2.0.0/16 zone=ib mtu=4092 dhcp=false\n");
    assert_eq!(
        say(&["interface", "add", "c1", "ib0", "--ip", "10.2.0.5", "--network", "ib"]),
        "added interface c1 ib0 ip=10.2.0.5 network=ib\n"
    );
    assert_eq!(say(&["interface", "set", "c1", "ib0", "--ip", "10.2.0.6"]), "changed interface c1 ib0 ip=10.2.0.6 network=ib\n");
    assert_eq!(say(&["alias", "add", "c1", "storage"]), "added alias storage host=c1\n");
    assert_eq!(say(&["boot", "set", "c1", "os"]), "set boot c1 action=os\n");
    assert_eq!(say(&["host", "rename", "c1", "c2"]), "renamed host c1 to=c2\n");
    let j = json(&mut run(d, &["host", "add", "c3", "--appliance", "compute", "--json"]));
    assert_eq!(
        (j["action"].as_str(), j["kind"].as_str(), j["name"].as_str(), j["ip"].as_str()),
        (Some("added"), Some("host"), Some("c3"), Some("10.1.255.253"))
    );
    let j = json(&mut run(d, &["interface", "remove", "c2", "ib0", "--json"]));
    assert_eq!(j, serde_json::json!({"action": "removed", "kind": "interface", "name": "c2 ib0"}));
}

#[test]
fn an_unknown_appliance_is_an_error_with_the_closest_name_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&mut run(d, &["init"]));
    for args in [
        &["host", "list", "--appliance", "computee"][..],
        &["host", "add", "c1", "--appliance", "computee"],
        &["attr", "set", "x", "y", "--appliance", "computee"],
        &["attr", "list", "--appliance", "computee"],
        &["discover", "--appliance", "computee"],
        &["host", "generate", "--hosts", "2", "--appliances", "computee"],
        &["build", "--out", "t", "--scheduler-appliance", "computee"],
        &["kickstart", "--appliance", "computee"],
    ] {
        let out = run(d, args).stdin(std::process::Stdio::null()).output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}:\n{stderr}");
        assert!(stderr.contains("did you mean") && stderr.contains("`compute`"), "{args:?}:\n{stderr}");
    }
}

#[test]
fn sql_that_would_run_forever_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&mut run(d, &["host", "add", "c1", "--appliance", "compute"]));
    let forever = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT x FROM r WHERE x < 0";
    for args in [
        vec!["host", "list", "--where", &*format!("rack IN ({forever})")],
        vec!["host", "list", "--query", &*format!("SELECT name FROM host_view WHERE rack IN ({forever})")],
    ] {
        let args: Vec<&str> = args.to_vec();
        let out = run(d, &args).env("ROCKS_COMPILE_SQL_SECONDS", "0.5").output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("facts::bad-sql") && stderr.contains("stopped after 0.5 s"), "{stderr}");
    }
}
