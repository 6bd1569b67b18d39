//! Kickstarts for many hosts share work (one traversal per group of hosts that agree on the
//! attributes conditions read) and must equal, byte for byte, compiling each host alone.

use rocks_compile::attrs::Attrs;
use rocks_compile::batch::{self, HostJob};
use rocks_compile::emit::kickstart::KickstartOptions;
use rocks_compile::load::Layer;

fn job(fw: &rocks_compile::graph::Framework, host: &str, appliance: &str, extra: &[(&str, &str)]) -> HostJob {
    let mut given = Attrs::from([("hostname".to_string(), host.to_string())]);
    given.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    HostJob { host: host.into(), appliance: appliance.into(), attrs: rocks_compile::effective_attrs(fw, appliance, &given) }
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
        assert_eq!(c.text.as_deref(), Some(ks.unwrap().render().as_str()), "host {}", j.host);
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
