//! Graphviz DOT of the graph an appliance reaches, with order constraints shown.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::attrs::Attrs;
use crate::graph::Framework;

/// DOT text for the nodes reachable from `root` with `attrs`: solid edges are taken edges
/// (labelled with their condition when they have one), dashed blue edges are `<order>`
/// constraints between reachable nodes.
pub fn reachable_dot(fw: &Framework, appliance: &str, root: &str, attrs: &Attrs, reachable: &BTreeSet<String>) -> String {
    let lookup = |n: &str| attrs.get(n).map(String::as_str);
    let mut s = String::new();
    let _ = writeln!(s, "digraph {} {{", quote(appliance));
    let _ = writeln!(s, "\tgraph [rankdir=LR, label={}];", quote(&format!("appliance {appliance}, graph {}", fw.graph)));
    let _ = writeln!(s, "\tnode [shape=box, fontname=\"Helvetica\"];");
    for n in reachable {
        let extra = if n == root { ", style=bold, shape=doubleoctagon" } else { "" };
        let _ = writeln!(s, "\t{} [label={}{extra}];", quote(n), quote(n));
    }
    for n in reachable {
        for e in fw.out_edges(n) {
            if !reachable.contains(&e.to.name) || !e.cond.eval(&lookup) {
                continue;
            }
            if e.cond.is_always() {
                let _ = writeln!(s, "\t{} -> {};", quote(n), quote(&e.to.name));
            } else {
                let _ = writeln!(s, "\t{} -> {} [label={}];", quote(n), quote(&e.to.name), quote(&e.cond.to_string()));
            }
        }
    }
    let mut orders: BTreeSet<(&str, &str)> = BTreeSet::new();
    for o in &fw.order_decls {
        let known = |n: &str| reachable.contains(n) || n == crate::graph::HEAD || n == crate::graph::TAIL;
        if known(&o.head.name) && known(&o.tail.name) {
            orders.insert((&o.head.name, &o.tail.name));
        }
    }
    for pseudo in [crate::graph::HEAD, crate::graph::TAIL] {
        if orders.iter().any(|(h, t)| *h == pseudo || *t == pseudo) {
            let _ = writeln!(s, "\t{} [shape=plaintext, fontcolor=blue];", quote(pseudo));
        }
    }
    for (h, t) in orders {
        let _ = writeln!(s, "\t{} -> {} [style=dashed, color=blue, constraint=false];", quote(h), quote(t));
    }
    s.push_str("}\n");
    s
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
