//! Inputs far larger than any real framework: each is handled in time linear in its size and
//! answered with a diagnostic of a few lines, never a crash. (The times are measured by the
//! benchmarks, not asserted here; before, these inputs overflowed the stack or took minutes.)

use std::path::Path;
use std::process::Command;

fn framework(dir: &Path, nodes: &[(String, String)], graph: &str, appliance_root: &str) {
    std::fs::create_dir_all(dir.join("nodes")).unwrap();
    std::fs::create_dir_all(dir.join("graphs/default")).unwrap();
    for (name, body) in nodes {
        std::fs::write(dir.join(format!("nodes/{name}.xml")), body).unwrap();
    }
    std::fs::write(dir.join("graphs/default/default.xml"), graph).unwrap();
    std::fs::write(dir.join("graphs/default/attributes.toml"), format!("[attributes]\n[appliances]\nc = \"{appliance_root}\"\n")).unwrap();
}

fn kickstart(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rocks-compile"))
        .args(["kickstart", "--appliance", "c", "--framework", "."])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

const NODE: &str = "<?xml version=\"1.0\"?>\n<kickstart><package>p</package></kickstart>\n";

#[test]
fn an_order_cycle_of_twenty_thousand_nodes_is_one_short_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let n = 20_000;
    let nodes: Vec<(String, String)> = (0..n).map(|i| (format!("n{i}"), NODE.to_string())).collect();
    let mut graph = String::from("<?xml version=\"1.0\"?>\n<graph>\n");
    for i in 1..n {
        graph += &format!("<edge from=\"n0\" to=\"n{i}\"/>\n");
    }
    for i in 0..n {
        graph += &format!("<order head=\"n{i}\"><tail>n{}</tail></order>\n", (i + 1) % n);
    }
    graph += "</graph>\n";
    framework(dir.path(), &nodes, &graph, "n0");
    let out = kickstart(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("order::cycle") && stderr.contains("and 19988 more"), "{}", &stderr[..stderr.len().min(2000)]);
    assert!(stderr.len() < 10_000, "the diagnostic is {} bytes", stderr.len());
}

#[test]
fn an_element_with_forty_thousand_attributes_is_read_and_a_duplicate_found() {
    let dir = tempfile::tempdir().unwrap();
    let attrs: String = (0..40_000).map(|i| format!(" a{i}=\"x\"")).collect();
    let node = format!("<?xml version=\"1.0\"?>\n<kickstart><package{attrs} a39999=\"again\">p</package></kickstart>\n");
    framework(dir.path(), &[("c".to_string(), node)], "<?xml version=\"1.0\"?>\n<graph></graph>\n", "c");
    let out = kickstart(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", &stderr[..stderr.len().min(2000)]);
    assert!(stderr.contains("duplicate attribute `a39999`"), "{}", &stderr[..stderr.len().min(2000)]);
}
