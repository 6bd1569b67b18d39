//! Kickstarts for many hosts share work (one traversal per group of hosts that agree on the
//! attributes conditions read) and must equal, byte for byte, compiling each host alone.

use rocks_compile::attrs::Attrs;
use rocks_compile::kickstart::KickstartOptions;
use rocks_compile::kickstart::batch::{self, HostJob};
use rocks_compile::load::Layer;

fn job(fw: &rocks_compile::graph::Framework, host: &str, appliance: &str, extra: &[(&str, &str)]) -> HostJob {
    let mut given = Attrs::from([("hostname".to_string(), host.to_string())]);
    given.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    HostJob {
        host: host.into(),
        appliance: appliance.into(),
        attrs: rocks_compile::effective_attrs(fw, appliance, &given),
        origins: Default::default(),
    }
}

#[test]
fn shared_work_gives_the_same_bytes_as_one_by_one() {
    let (fw, d) = rocks_compile::open(&[Layer::Embedded], "default").unwrap();
    assert!(d.is_empty());
    let jobs = vec![
        job(&fw, "compute-0-0", "compute", &[("hostaddr", "10.1.255.254")]),
        job(&fw, "compute-0-1", "compute", &[("hostaddr", "10.1.255.253")]),
        job(&fw, "compute-0-2", "compute", &[("slurm", "no")]),
        job(&fw, "login-0-0", "login", &[]),
        job(&fw, "nas-0-0", "nas", &[]),
        job(&fw, "frontend", "frontend", &[]),
    ];
    let opts = KickstartOptions::default();
    let (out, stats) = batch::kickstarts(&fw, &jobs, &opts, 2);
    assert_eq!(stats.hosts, 6);
    assert_eq!(stats.groups, 5, "compute-0-0 and compute-0-1 share one traversal; slurm=no is another");
    assert_eq!(stats.unshared, 0);
    for (j, c) in jobs.iter().zip(&out) {
        assert_eq!(j.host, c.host);
        let (ks, _) = rocks_compile::kickstart(&fw, &j.appliance, &j.attrs, &opts);
        assert_eq!(c.text.as_deref(), Some(ks.unwrap().render().unwrap().as_str()), "host {}", j.host);
    }
    assert!(out[0].text.as_ref().unwrap().contains("--hostname=compute-0-0"));
    assert!(out[1].text.as_ref().unwrap().contains("--hostname=compute-0-1"));
}

#[test]
fn unknown_appliance_fails_only_its_hosts() {
    let (fw, _) = rocks_compile::open(&[Layer::Embedded], "default").unwrap();
    let jobs = vec![job(&fw, "a", "compute", &[]), job(&fw, "b", "toaster", &[])];
    let (out, _) = batch::kickstarts(&fw, &jobs, &KickstartOptions::default(), 1);
    assert!(out[0].text.is_some());
    assert!(out[1].text.is_none());
    assert_eq!(out[1].diags[0].code, "graph::missing-root");
}

/// Values that could change the shape of the text (empty, blank, a heredoc delimiter, a
/// newline, marker characters) must give, in a batch, exactly what compiling alone gives:
/// through the shared path where the framework allows it, one by one where it does not.
#[test]
fn tricky_values_give_the_same_bytes_as_one_by_one() {
    // Entities only where substitution cannot change the text's shape: hosts share.
    let shared = "<kickstart>\n<package>zsh</package>\n<main>\n<timezone>--utc &tz;</timezone>\n</main>\n\
        <post>\necho &v;\n</post>\n<post>&v;</post>\n<post>\n&v;\n\n</post>\n\
        <post>\n<file name=\"/etc/b\">\nline\n&v;\nx=&v;\n</file>\n<file name=\"/etc/x-&v;.conf\" perms=\"0644\">\nok\n</file>\n</post>\n</kickstart>\n";
    // Entities that decide sorting, splitting or trimming: every host compiles alone.
    let alone = "<kickstart>\n<package>&pkg;</package>\n<main>\n<sshpw>&pw;</sshpw>\n</main>\n<debug>&v;</debug>\n\
        <post interpreter=\"&interp;\">\necho\n</post>\n<post>\n<file name=\"/etc/a\">&v;</file>\n\
        <file name=\"&path;\" perms=\"0644\">\nx\n</file>\n</post>\n</kickstart>\n";
    let values = ["", "  ", "EOF", "EOF_1", "a\nEOF\nb", "plain", "tab\t", "\u{E000}x\u{E001}", "a'b\"c"];
    for (node, expect_shared) in [(shared, true), (alone, false)] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("nodes")).unwrap();
        std::fs::create_dir_all(dir.path().join("graphs/default")).unwrap();
        std::fs::write(dir.path().join("graphs/default/g.xml"), "<graph><edge from=\"compute\" to=\"compute\"/></graph>\n").unwrap();
        std::fs::write(dir.path().join("nodes/compute.xml"), node).unwrap();
        let (fw, d) = rocks_compile::open(&[Layer::Dir(dir.path().to_path_buf())], "default").unwrap();
        assert!(d.is_empty(), "{d:?}");
        let jobs: Vec<HostJob> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let extra = [("v", *v), ("pkg", "emacs"), ("tz", *v), ("pw", *v), ("interp", "/bin/sh"), ("path", "/etc/c")];
                job(&fw, &format!("h{i}"), "compute", &extra)
            })
            .collect();
        for rcs in [false, true] {
            let opts = KickstartOptions { rcs, post_log: rcs, ..KickstartOptions::default() };
            let (out, stats) = batch::kickstarts(&fw, &jobs, &opts, 2);
            assert_eq!(stats.groups, 1, "no condition reads these attributes");
            if expect_shared && !rcs {
                assert_eq!(stats.unshared, 0, "this framework is compiled once for all hosts");
            } else if expect_shared {
                assert_eq!(stats.unshared, jobs.len(), "RCS blocks split a file name that holds an entity");
            } else {
                assert_eq!(stats.unshared, jobs.len(), "these entities decide the text's shape");
            }
            for (j, c) in jobs.iter().zip(&out) {
                let (ks, d) = rocks_compile::kickstart(&fw, &j.appliance, &j.attrs, &opts);
                let ks = ks.map(|k| k.render().unwrap());
                assert_eq!(c.text, ks, "host {} (v = {:?}, rcs {rcs})", j.host, j.attrs["v"]);
                // A line break in `<timezone>` or `<sshpw>` could start a new kickstart line.
                let broken = j.attrs["v"].contains('\n');
                assert_eq!(ks.is_none(), broken, "host {}: {d:?}", j.host);
                assert_eq!(c.diags.iter().any(|d| d.code == "entity::line-break"), broken, "host {}", j.host);
            }
        }
    }
}

/// Records what a build reports: each phase with its total and the units done in it.
#[derive(Default)]
struct Recorder {
    phases: std::sync::Mutex<Vec<(String, u64, u64)>>,
}

impl rocks_compile::build::Progress for Recorder {
    fn phase(&self, name: &str, total: u64) {
        self.phases.lock().unwrap().push((name.to_string(), total, 0));
    }

    fn advance(&self, n: u64) {
        if let Some(p) = self.phases.lock().unwrap().last_mut() {
            p.2 += n;
        }
    }
}

#[test]
fn a_builds_progress_counts_the_grouping_pass_and_every_phase_reaches_its_total() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = rocks_compile::facts::Db::open(dir.path().join("cluster.db")).unwrap();
    rocks_compile::facts::generate(&mut db, 50, 2, &["compute", "login"]).unwrap();
    let layers = [Layer::Embedded];
    let req = rocks_compile::BuildRequest {
        layers: &layers,
        given: &Attrs::new(),
        kickstart: KickstartOptions::default(),
        options: rocks_compile::BuildOptions::default(),
        threads: 2,
        override_facts: false,
        allow_default_password: true,
    };
    let progress = Recorder::default();
    rocks_compile::build::plan(&db, &req, &rocks_compile::build::Target::fresh(), &progress).unwrap();
    let phases = progress.phases.into_inner().unwrap();
    let ks = phases.iter().find(|p| p.0 == "kickstarts").expect("a kickstart phase");
    // Every host is grouped (the pass that reads every host's attributes), then compiled.
    assert_eq!((ks.1, ks.2), (100, 100), "{phases:?}");
    assert!(phases.iter().all(|(_, total, done)| done == total), "{phases:?}");
}
