//! (framework, appliance root, attributes) -> [`Profile`]: the reachable node files in their
//! final order. Pure: no I/O.
//!
//! Traversal follows Rocks: depth-first from the root over edges whose condition holds,
//! children in graph-file order, cycles harmless. Ordering: the `<order>` graph with the
//! `HEAD`/`TAIL` pseudo-nodes; reachable nodes that no `<order>` mentions come alphabetically
//! at `TAIL`'s place; ties are broken by name, so the order never depends on file listing order.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::Direction;
use petgraph::graph::DiGraph;
use petgraph::visit::EdgeRef;

use crate::attrs::Attrs;
use crate::diag::Diagnostic;
use crate::graph::{Framework, HEAD, NodeIx, ParsedNode, TAIL};
use crate::syntax::EdgeDecl;

/// The node files one host's kickstart is made of, in order.
#[derive(Debug)]
pub struct Profile<'f> {
    /// The root node the traversal started from.
    pub root: String,
    pub nodes: Vec<ProfileNode<'f>>,
}

/// One node name of a profile with its parsed files (main or replace, then extends).
#[derive(Debug)]
pub struct ProfileNode<'f> {
    pub name: String,
    pub files: &'f [ParsedNode],
}

/// Walk the graph from `root` for a host with `attrs` and order what was reached.
pub fn profile<'f>(fw: &'f Framework, root: &str, attrs: &Attrs) -> (Option<Profile<'f>>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let reachable = traverse(fw, root, attrs, &mut diags);
    let order = match order(fw, &reachable) {
        Ok(o) => o,
        Err(d) => {
            diags.push(d);
            return (None, diags);
        }
    };
    let mut nodes = Vec::new();
    for name in order {
        if let Some((files, d)) = fw.node(&name) {
            diags.extend(d.iter().cloned());
            nodes.push(ProfileNode { name, files });
        }
    }
    if crate::diag::has_errors(&diags) {
        return (None, diags);
    }
    (Some(Profile { root: root.to_string(), nodes }), diags)
}

/// The set of node names reachable from `root` over edges whose condition holds.
pub fn traverse(fw: &Framework, root: &str, attrs: &Attrs, diags: &mut Vec<Diagnostic>) -> BTreeSet<String> {
    walk(fw, root, attrs, diags, |_| {})
}

/// Every node reachable from `root` with the edge that first reached it (the root has none),
/// in the order [`traverse`] takes them.
pub fn reached_by<'f>(fw: &'f Framework, root: &str, attrs: &Attrs) -> BTreeMap<String, &'f EdgeDecl> {
    let mut by = BTreeMap::new();
    walk(fw, root, attrs, &mut Vec::new(), |e| {
        by.insert(e.to.name.clone(), e);
    });
    by
}

fn walk<'f>(
    fw: &'f Framework,
    root: &str,
    attrs: &Attrs,
    diags: &mut Vec<Diagnostic>,
    mut taken: impl FnMut(&'f EdgeDecl),
) -> BTreeSet<String> {
    let lookup = |n: &str| attrs.get(n).map(String::as_str);
    let mut seen = BTreeSet::new();
    if !fw.has_node(root) {
        let known = fw.appliances.keys().map(String::as_str);
        let help = match crate::diag::did_you_mean(root, known) {
            Some(a) => format!("did you mean the appliance `{a}`?"),
            None => format!(
                "add `nodes/{root}.xml`, or map the appliance to an existing root node in `graphs/{}/attributes.toml` under `[appliances]`",
                fw.graph
            ),
        };
        diags.push(Diagnostic::error("graph::missing-root", format!("the root node `{root}` has no node file")).help(help));
        return seen;
    }
    let mut stack = vec![root.to_string()];
    seen.insert(root.to_string());
    // Depth-first, children in graph-file order: push in reverse so the first edge is taken first.
    while let Some(n) = stack.pop() {
        let edges = fw.out_edges(&n);
        for e in edges.into_iter().rev() {
            if seen.contains(&e.to.name) || !e.cond.eval(&lookup) {
                continue;
            }
            if !fw.has_node(&e.to.name) {
                diags.push(missing_node(fw, e));
                seen.insert(e.to.name.clone());
                continue;
            }
            seen.insert(e.to.name.clone());
            taken(e);
            stack.push(e.to.name.clone());
        }
    }
    seen.retain(|n| fw.has_node(n));
    seen
}

/// The diagnostic for an edge that leads to a node with no file.
pub fn missing_node(fw: &Framework, e: &crate::syntax::EdgeDecl) -> Diagnostic {
    let name = &e.to.name;
    let mut d = Diagnostic::error("graph::missing-node", format!("edge to `{name}`, which has no node file"))
        .label(e.to.span, format!("no `nodes/{name}.xml` in any framework layer"));
    d = match crate::diag::did_you_mean(name, fw.node_names()) {
        Some(c) => d.help(format!("did you mean `{c}`?")),
        None => d.help(format!("create `nodes/{name}.xml` or remove the edge")),
    };
    d
}

/// Order the reachable nodes. An order cycle is an error naming the `<order>` elements in it.
pub fn order(fw: &Framework, reachable: &BTreeSet<String>) -> Result<Vec<String>, Diagnostic> {
    let (g, ix, excluded) = order_graph(fw);
    if let Some(d) = find_cycle(fw, &g) {
        return Err(d);
    }
    let topo = topo_sort(&g, &ix);
    let in_order: BTreeSet<&str> = ix.keys().map(String::as_str).collect();
    let mut out = Vec::with_capacity(reachable.len());
    for n in topo {
        if n == HEAD {
            continue;
        }
        if n == TAIL {
            out.extend(reachable.iter().filter(|r| !in_order.contains(r.as_str()) && !excluded.contains(*r)).cloned());
        } else if reachable.contains(&n) && !excluded.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

type OrderGraph = DiGraph<String, Option<usize>>;

/// The order graph with HEAD/TAIL edges added as Rocks did: `HEAD -> n` for every source that
/// is not before HEAD, `n -> TAIL` for every sink that is not after TAIL. Edge weights index
/// `order_decls` (`None` for the added edges).
fn order_graph(fw: &Framework) -> (OrderGraph, BTreeMap<String, NodeIx>, BTreeSet<String>) {
    let mut g: OrderGraph = DiGraph::new();
    let mut ix: BTreeMap<String, NodeIx> = BTreeMap::new();
    let mut node = |g: &mut OrderGraph, n: &str| *ix.entry(n.to_string()).or_insert_with(|| g.add_node(n.to_string()));
    let head = node(&mut g, HEAD);
    let tail = node(&mut g, TAIL);
    let mut excluded = BTreeSet::new();
    for (i, o) in fw.order_decls.iter().enumerate() {
        if o.generator.as_deref().is_some_and(|g| !g.is_empty() && g != "kgen") {
            excluded.insert(o.tail.name.clone());
            continue;
        }
        let a = node(&mut g, &o.head.name);
        let b = node(&mut g, &o.tail.name);
        g.add_edge(a, b, Some(i));
    }
    let before_head = reach(&g, head, Direction::Incoming);
    let sources: Vec<NodeIx> = g
        .node_indices()
        .filter(|&n| n != head && !before_head.contains(&n) && g.neighbors_directed(n, Direction::Incoming).next().is_none())
        .collect();
    for n in sources {
        g.add_edge(head, n, None);
    }
    let after_tail = reach(&g, tail, Direction::Outgoing);
    let sinks: Vec<NodeIx> = g
        .node_indices()
        .filter(|&n| n != tail && !after_tail.contains(&n) && g.neighbors_directed(n, Direction::Outgoing).next().is_none())
        .collect();
    for n in sinks {
        g.add_edge(n, tail, None);
    }
    (g, ix, excluded)
}

fn reach(g: &OrderGraph, from: NodeIx, dir: Direction) -> BTreeSet<NodeIx> {
    let mut seen = BTreeSet::from([from]);
    let mut stack = vec![from];
    while let Some(n) = stack.pop() {
        for m in g.neighbors_directed(n, dir) {
            if seen.insert(m) {
                stack.push(m);
            }
        }
    }
    seen
}

/// Kahn's algorithm, always taking the smallest available name.
fn topo_sort(g: &OrderGraph, ix: &BTreeMap<String, NodeIx>) -> Vec<String> {
    let mut indeg: BTreeMap<NodeIx, usize> = g.node_indices().map(|n| (n, g.neighbors_directed(n, Direction::Incoming).count())).collect();
    // Parallel edges count once per edge on both sides, so the counts stay consistent.
    let mut ready: BTreeSet<&str> = ix.iter().filter(|(_, n)| indeg[n] == 0).map(|(s, _)| s.as_str()).collect();
    let mut out = Vec::with_capacity(ix.len());
    while let Some(&name) = ready.iter().next() {
        ready.remove(name);
        out.push(name.to_string());
        let n = ix[name];
        for m in g.neighbors_directed(n, Direction::Outgoing) {
            let d = indeg.get_mut(&m).expect("every node has a degree");
            *d -= 1;
            if *d == 0 {
                ready.insert(g[m].as_str());
            }
        }
    }
    out
}

/// How many nodes and `<order>` elements a cycle's diagnostic names (a cycle of thousands is
/// said in a few lines, not megabytes).
const CYCLE_SHOWN: usize = 12;

/// A cycle among the `<order>` constraints, reported with the `<order>` elements in it (the
/// first [`CYCLE_SHOWN`], and how many more).
fn find_cycle(fw: &Framework, g: &OrderGraph) -> Option<Diagnostic> {
    // Kosaraju's algorithm runs without recursion: a cycle of any length cannot overflow the
    // stack (Tarjan's recursive one did, at some thousands of nodes).
    let mut sccs = petgraph::algo::kosaraju_scc(g);
    sccs.iter_mut().for_each(|c| c.sort_by(|a, b| g[*a].cmp(&g[*b])));
    sccs.sort_by(|a, b| g[a[0]].cmp(&g[b[0]]));
    for scc in sccs {
        let members: BTreeSet<NodeIx> = scc.iter().copied().collect();
        let self_loop = scc.len() == 1 && g.edges(scc[0]).any(|e| e.target() == scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        let mut decls: Vec<usize> = g
            .edge_references()
            .filter(|e| members.contains(&e.source()) && members.contains(&e.target()))
            .filter_map(|e| *e.weight())
            .collect();
        decls.sort();
        decls.dedup();
        let mut names: Vec<String> = scc.iter().take(CYCLE_SHOWN).map(|n| format!("`{}`", g[*n])).collect();
        if scc.len() > CYCLE_SHOWN {
            names.push(format!("and {} more", scc.len() - CYCLE_SHOWN));
        }
        let mut d = Diagnostic::error("order::cycle", format!("order constraints form a cycle among {}", names.join(", ")))
            .help("the `<order>` elements must form a DAG: remove or reverse one of them");
        if decls.len() > CYCLE_SHOWN {
            d = d.note(format!("{} more `<order>` elements are in the cycle", decls.len() - CYCLE_SHOWN));
        }
        for i in decls.into_iter().take(CYCLE_SHOWN) {
            let o = &fw.order_decls[i];
            d = d.label(o.span, format!("`{}` before `{}`", o.head.name, o.tail.name));
        }
        return Some(d);
    }
    None
}
