//! Which hosts' kickstarts would change if attribute `NAME` became `VALUE`? Compiles every
//! host of a cluster database twice through the library's facade — as it is, and with the
//! attribute set for every host — and lists the hosts whose kickstart differs:
//!
//! ```text
//! cargo run --example what_if -- DATABASE NAME VALUE [FRAMEWORK_DIR]...
//! ```
//!
//! Without a framework directory the built-in framework is used. Nothing is written.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(hosts) => hosts.iter().for_each(|h| println!("{h}")),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

/// The hosts whose kickstart would change, sorted.
pub fn run(args: &[String]) -> Result<Vec<String>, String> {
    let [db_path, name, value, dirs @ ..] = args else {
        return Err("usage: what_if DATABASE NAME VALUE [FRAMEWORK_DIR]...".into());
    };
    let db = rocks_compile::open_database(db_path).map_err(|e| e.to_string())?;
    let hosts: Vec<String> = db.hosts(&Default::default()).map_err(|e| e.to_string())?.into_iter().map(|h| h.name).collect();
    let layers: Vec<rocks_compile::Layer> = if dirs.is_empty() {
        vec![rocks_compile::Layer::Embedded]
    } else {
        dirs.iter().map(|d| rocks_compile::Layer::Dir(PathBuf::from(d))).collect()
    };
    let compile = |given: &rocks_compile::Attrs| -> Result<BTreeMap<String, String>, String> {
        let texts = Mutex::new(BTreeMap::new());
        let opts = rocks_compile::KickstartOptions::default();
        rocks_compile::compile_hosts(&db, &hosts, &layers, given, &opts, 2, |host, text| {
            texts.lock().expect("no panic while holding the lock").insert(host.to_string(), text);
        })
        .map_err(|e| e.to_string())?;
        Ok(texts.into_inner().expect("no panic while holding the lock"))
    };
    let before = compile(&rocks_compile::Attrs::new())?;
    let after = compile(&rocks_compile::Attrs::from([(name.clone(), value.clone())]))?;
    Ok(hosts.into_iter().filter(|h| before.get(h) != after.get(h)).collect::<std::collections::BTreeSet<_>>().into_iter().collect())
}
