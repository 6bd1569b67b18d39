//! The programs in `examples/` run against real inputs: the same code `cargo run --example`
//! runs, included here as modules.

#[path = "../examples/compile.rs"]
#[allow(dead_code)]
mod compile;
#[path = "../examples/what_if.rs"]
#[allow(dead_code)]
mod what_if;

use std::path::Path;

#[test]
fn compile_example_makes_a_kickstart_from_a_directory_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let attrs = dir.path().join("site.json");
    std::fs::write(&attrs, r#"{"Kickstart_Timezone": "Europe/Berlin"}"#).unwrap();
    let args = |appliance: &str| vec![root.display().to_string(), appliance.to_string(), attrs.display().to_string()];
    let ks = compile::run(&args("compute")).unwrap();
    assert!(ks.contains("\ntimezone Europe/Berlin --utc\n"), "{ks}");
    assert!(ks.contains("%packages"));
    let err = compile::run(&args("no-such-appliance")).unwrap_err();
    assert!(err.contains("graph::missing-root"), "{err}");
}

#[test]
fn what_if_example_names_the_hosts_an_attribute_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("cluster.db");
    let mut db = rocks_compile::open_database(&db_path).unwrap();
    for (name, appliance) in [("compute-0-0", "compute"), ("compute-0-1", "compute"), ("login-0-0", "login")] {
        db.add_host(&rocks_compile::HostSpec::new(name, appliance)).unwrap();
    }
    drop(db);
    let ask = |name: &str, value: &str| what_if::run(&[db_path.display().to_string(), name.into(), value.into()]).unwrap();
    assert_eq!(ask("Kickstart_Timezone", "Asia/Tokyo"), ["compute-0-0", "compute-0-1", "login-0-0"]);
    assert_eq!(ask("no_node_reads_this", "1"), Vec::<String>::new());
}
