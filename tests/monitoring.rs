//! The monitoring outputs of the bundled example cluster, checked with their real consumers:
//! `promtool check config` reads the Prometheus target lists through a configuration's
//! `file_sd_configs`, `nagios4 -v` checks a main configuration that includes the hosts,
//! `gmond -b` parses gmond.conf and loads its metric modules, and `gmetad` starts on its
//! data sources (without a network).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

fn run(dir: &Path, args: &[&str]) {
    let mut c = Command::cargo_bin("rocks-compile").unwrap();
    c.env("NO_COLOR", "1").env_remove("ROCKS_COMPILE_DB").arg("--db").arg(dir.join("cluster.db")).args(args);
    common::ok(&mut c);
}

/// The example cluster with `attrs` set globally, compute-0-0 given a management controller
/// when `bmc`, and its monitoring files built: the tree.
fn build(dir: &Path, bmc: bool, attrs: &[(&str, &str)]) -> PathBuf {
    run(dir, &["host", "import", concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cluster.csv")]);
    if bmc {
        run(dir, &["network", "add", "ipmi", "10.2.0.0/16"]);
        run(dir, &["interface", "add", "compute-0-0", "bmc", "--ip", "10.2.0.10", "--network", "ipmi"]);
    }
    for (k, v) in attrs {
        run(dir, &["attr", "set", k, v, "--global"]);
    }
    let tree = dir.join("tree");
    run(dir, &["build", "--only", "monitoring", "--out", tree.to_str().unwrap()]);
    tree.join("monitoring")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `promtool check config` on a configuration whose jobs name the two target lists.
fn promtool_check(dir: &Path, monitoring: &Path) {
    let Some(promtool) = common::tool("promtool") else { return };
    let prom = monitoring.join("prometheus");
    let config = format!(
        "scrape_configs:\n  - job_name: node\n    file_sd_configs:\n      - files: ['{}']\n  - job_name: ipmi\n    metrics_path: /ipmi\n    file_sd_configs:\n      - files: ['{}']\n",
        prom.join("nodes.json").display(),
        prom.join("bmcs.json").display()
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).unwrap();
    let out = common::ok(Command::new(promtool).args(["check", "config"]).arg(&path));
    let said = common::text(&out.stdout) + &common::text(&out.stderr);
    assert!(said.contains("SUCCESS") && !said.contains("FAILED"), "{said}");
}

#[test]
fn prometheus_reads_the_target_lists_and_bmcs_are_only_ipmi_targets() {
    let d = tempfile::tempdir().unwrap();
    let m = build(d.path(), true, &[("Info_ClusterName", "Example"), ("node_exporter_port", "9101")]);
    let nodes: Value = serde_json::from_str(&read(&m.join("prometheus/nodes.json"))).unwrap();
    let bmcs: Value = serde_json::from_str(&read(&m.join("prometheus/bmcs.json"))).unwrap();
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 6, "one group per host: {nodes:?}");
    let c00 = nodes.iter().find(|g| g["labels"]["host"] == "compute-0-0").unwrap();
    assert_eq!(c00["targets"], serde_json::json!(["10.1.255.254:9101"]));
    assert_eq!(c00["labels"], serde_json::json!({"appliance": "compute", "cluster": "Example", "host": "compute-0-0", "rack": "0"}));
    assert!(!nodes.iter().any(|g| g["targets"][0].as_str().unwrap().starts_with("10.2.")), "a BMC is no node_exporter target");
    assert_eq!(bmcs, serde_json::json!([{"targets": ["10.2.0.10"], "labels": c00["labels"]}]));
    promtool_check(d.path(), &m);
}

#[test]
fn a_cluster_without_bmcs_has_an_empty_list_prometheus_accepts() {
    let d = tempfile::tempdir().unwrap();
    let m = build(d.path(), false, &[]);
    assert_eq!(read(&m.join("prometheus/bmcs.json")), "[]\n");
    assert!(read(&m.join("prometheus/nodes.json")).contains("\"cluster\": \"Cluster\""), "the framework's default name");
    promtool_check(d.path(), &m);
}

#[test]
fn nagios_accepts_the_hosts_and_their_groups() {
    let Some(nagios) = common::tool("nagios4") else { return };
    let d = tempfile::tempdir().unwrap();
    let m = build(d.path(), true, &[("nagios_host_template", "cluster-node")]);
    let hosts = read(&m.join("nagios/hosts.cfg"));
    assert!(hosts.contains("use             cluster-node\n") && !hosts.contains("linux-server"), "{hosts}");
    assert!(!hosts.contains("10.2.0.10"), "a host is watched at its own address, not its BMC's:\n{hosts}");
    // What a main configuration must define besides the hosts: a command, a time period, a
    // contact, the host template and one service.
    let objects = "\
define command {\n  command_name check-alive\n  command_line /bin/true\n}\n\
define timeperiod {\n  timeperiod_name always\n  alias always\n  monday 00:00-24:00\n}\n\
define contact {\n  contact_name admin\n  host_notifications_enabled 0\n  service_notifications_enabled 0\n  \
host_notification_period always\n  service_notification_period always\n  host_notification_commands check-alive\n  \
service_notification_commands check-alive\n}\n\
define host {\n  name cluster-node\n  check_command check-alive\n  max_check_attempts 3\n  check_period always\n  \
notification_period always\n  contacts admin\n  register 0\n}\n\
define service {\n  hostgroup_name appliance-compute,rack-1\n  service_description alive\n  check_command check-alive\n  \
max_check_attempts 3\n  check_interval 5\n  retry_interval 1\n  check_period always\n  notification_period always\n  contacts admin\n}\n";
    std::fs::write(d.path().join("objects.cfg"), objects).unwrap();
    let spool = d.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    std::fs::set_permissions(&spool, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let p = |name: &str| d.path().join(name).display().to_string();
    let main = format!(
        "cfg_file={}\ncfg_file={}\ncheck_result_path={}\nlock_file={}\ntemp_file={}\nstatus_file={}\nlog_file={}\nillegal_macro_output_chars=`~$&|'\"<>\n",
        p("objects.cfg"),
        m.join("nagios/hosts.cfg").display(),
        spool.display(),
        p("nagios.lock"),
        p("nagios.tmp"),
        p("status.dat"),
        p("nagios.log"),
    );
    std::fs::write(d.path().join("nagios.cfg"), main).unwrap();
    let out = common::ok(Command::new(nagios).arg("-v").arg(d.path().join("nagios.cfg")));
    let said = common::text(&out.stdout);
    for want in ["Checked 6 hosts.", "Checked 6 host groups.", "Total Warnings: 0", "Total Errors:   0"] {
        assert!(said.contains(want), "no `{want}`:\n{said}");
    }
}

#[test]
fn gmond_parses_its_configuration_and_gmetad_starts_on_the_data_sources() {
    let modules = glob_modules();
    let d = tempfile::tempdir().unwrap();
    let m = build(d.path(), false, &[("Info_ClusterName", "Example"), ("ganglia_module_dir", &modules), ("ganglia_port", "8659")]);
    let gmond_conf = m.join("ganglia/gmond.conf");
    assert!(read(&gmond_conf).contains("name = \"Example\""));
    assert!(read(&gmond_conf).contains("port = 8659") && !read(&gmond_conf).contains("8649"), "{}", read(&gmond_conf));
    if let Some(gmond) = common::tool("gmond") {
        // `-b` parses the file, loads every metric module and reports the bandwidth it needs.
        let out = common::ok(Command::new(gmond).arg("-c").arg(&gmond_conf).arg("-b"));
        let (said, errors) = (common::text(&out.stdout), common::text(&out.stderr));
        assert!(said.contains("bytes/sec") && errors.trim().is_empty(), "{said}{errors}");
    }
    let gmetad_conf = read(&m.join("ganglia/gmetad.conf"));
    assert!(gmetad_conf.contains("data_source \"Example\" 10.1.1.1:8659"), "{gmetad_conf}");
    let Some(gmetad) = common::tool("gmetad") else { return };
    // gmetad has no check mode: it runs in the foreground in a namespace without a network
    // for two seconds, with its own directories and ports; still running means it read the
    // file, and it lists the sources it read.
    let rrd = d.path().join("rrd");
    std::fs::create_dir(&rrd).unwrap();
    let conf = d.path().join("gmetad.conf");
    let local = format!("rrd_rootdir \"{}\"\nsetuid off\nxml_port 18651\ninteractive_port 18652\n", rrd.display());
    std::fs::write(&conf, gmetad_conf + &local).unwrap();
    let out = Command::new("timeout").arg("2").arg("unshare").arg("-n").arg(gmetad).args(["-d", "1", "-c"]).arg(&conf).output().unwrap();
    let said = common::text(&out.stdout) + &common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(124), "gmetad stopped before its time:\n{said}");
    assert!(said.contains("Source: [Example, step 15] has 1 sources"), "{said}");
}

/// The directory of this machine's gmond metric modules (Debian's multiarch path).
fn glob_modules() -> String {
    let lib = Path::new("/usr/lib");
    std::fs::read_dir(lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("ganglia"))
        .find(|d| d.join("modcpu.so").is_file())
        .unwrap_or_else(|| lib.join("ganglia"))
        .display()
        .to_string()
}
