//! `rocks-compile check`: every problem of a framework in one run.
//!
//! Every node and graph file parses; every edge names existing nodes; the order graph is
//! acyclic. Also listed: node files no appliance can reach (with every edge taken), and
//! attributes that files reference but that nothing defines.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::attrs::Attrs;
use crate::cond::Cond;
use crate::diag::{self, Diagnostic};
use crate::graph::Framework;
use crate::span::Span;
use crate::syntax::visit::walk_item;
use crate::syntax::{AttrText, Visitor};
use crate::xml::Piece;

/// What `check` found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
    /// The roots the reachability was computed from.
    pub roots: Vec<String>,
    pub unreachable: Vec<String>,
    /// Attribute name -> the first place it is used.
    pub undefined: BTreeMap<String, Span>,
    pub node_files: usize,
    pub graph_edges: usize,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        diag::has_errors(&self.diagnostics)
    }
}

/// Check a framework. `build_diags` are the diagnostics [`Framework::build`] returned;
/// `extra` are attributes the caller will supply (they count as defined).
pub fn check(fw: &Framework, build_diags: Vec<Diagnostic>, extra: &Attrs) -> Report {
    let mut r = Report { diagnostics: build_diags, ..Report::default() };
    let mut used: BTreeMap<String, Span> = BTreeMap::new();
    let names: Vec<String> = fw.node_names().map(str::to_string).collect();
    for name in &names {
        let Some((files, d)) = fw.node(name) else { continue };
        r.diagnostics.extend(d.iter().cloned());
        for item in files.iter().flat_map(|pf| &pf.file.items) {
            walk_item(&mut Used(&mut used), item);
        }
    }
    r.node_files = fw.node_file_count();
    r.graph_edges = fw.edge_decls.len();
    for e in &fw.edge_decls {
        Used(&mut used).cond(&e.cond, e.span);
        if !fw.has_node(&e.to.name) {
            r.diagnostics.push(crate::resolve::missing_node(fw, e));
        }
        if !fw.has_node(&e.from.name) {
            r.diagnostics.push(
                Diagnostic::error("graph::missing-node", format!("edge from `{}`, which has no node file", e.from.name))
                    .label(e.from.span, format!("no `nodes/{}.xml` in any framework layer", e.from.name))
                    .help(format!("create `nodes/{}.xml` or remove the edge", e.from.name)),
            );
        }
    }
    if let Err(d) = crate::resolve::order(fw, &BTreeSet::new()) {
        r.diagnostics.push(d);
    }
    // Reachability with every edge taken, from every appliance root (or every graph root).
    let mut roots: BTreeSet<String> = fw.appliances.keys().map(|a| fw.root_of(a)).collect();
    if roots.is_empty() {
        roots.extend(fw.graph_roots().into_iter().filter(|n| fw.has_node(n)));
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = roots.iter().cloned().collect();
    seen.extend(roots.iter().cloned());
    while let Some(n) = stack.pop() {
        for e in fw.out_edges(&n) {
            if seen.insert(e.to.name.clone()) {
                stack.push(e.to.name.clone());
            }
        }
    }
    if !roots.is_empty() {
        r.unreachable = names.iter().filter(|n| !seen.contains(*n)).cloned().collect();
    }
    r.roots = roots.into_iter().collect();
    let defined = |n: &str| crate::resolver::builtin::is_builtin(n) || fw.defaults.contains_key(n) || extra.contains_key(n);
    r.undefined = used.into_iter().filter(|(n, _)| !defined(n)).collect();
    diag::sort(&mut r.diagnostics);
    r
}

/// Collects every attribute name a node item reads (conditions, `&name;` in text and in
/// attribute values), with the first place it is used.
struct Used<'a>(&'a mut BTreeMap<String, Span>);

impl Visitor for Used<'_> {
    fn cond(&mut self, c: &Cond, span: Span) {
        for n in c.names() {
            self.0.entry(n).or_insert(span);
        }
    }

    fn entity(&mut self, name: &str, span: Span) {
        self.0.entry(name.to_string()).or_insert(span);
    }

    fn attr(&mut self, a: &AttrText) {
        for p in &a.pieces {
            if let Piece::Entity(n) = p {
                self.0.entry(n.clone()).or_insert(a.span);
            }
        }
    }
}

/// The `--json` form of a report.
#[derive(Debug, Serialize)]
pub struct JsonReport {
    pub ok: bool,
    pub errors: usize,
    pub warnings: usize,
    pub node_files: usize,
    pub graph_edges: usize,
    pub roots: Vec<String>,
    pub unreachable: Vec<String>,
    pub undefined_attributes: Vec<JsonUse>,
    pub diagnostics: Vec<diag::JsonDiagnostic>,
}

#[derive(Debug, Serialize)]
pub struct JsonUse {
    pub name: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl Report {
    pub fn to_json(&self, fw: &Framework) -> JsonReport {
        let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
        JsonReport {
            ok: errors == 0,
            errors,
            warnings: self.diagnostics.len() - errors,
            node_files: self.node_files,
            graph_edges: self.graph_edges,
            roots: self.roots.clone(),
            unreachable: self.unreachable.clone(),
            undefined_attributes: self
                .undefined
                .iter()
                .map(|(n, s)| {
                    let loc = fw.sources.location(*s);
                    JsonUse { name: n.clone(), file: loc.file.to_string(), line: loc.line, column: loc.column }
                })
                .collect(),
            diagnostics: self.diagnostics.iter().map(|d| d.to_json(&fw.sources)).collect(),
        }
    }

    /// The plain-text summary printed after the diagnostics.
    pub fn summary(&self, fw: &Framework) -> String {
        let mut s = String::new();
        if self.roots.is_empty() {
            s.push_str(
                "no appliance roots: name them under `[appliances]` in `graphs/<graph>/attributes.toml` to list unreachable nodes\n",
            );
        }
        if !self.unreachable.is_empty() {
            s.push_str(&format!("unreachable nodes ({}), from roots {}:\n", self.unreachable.len(), self.roots.join(", ")));
            for n in &self.unreachable {
                s.push_str(&format!("  {n}\n"));
            }
        }
        if !self.undefined.is_empty() {
            s.push_str(&format!("attributes used but never defined ({}):\n", self.undefined.len()));
            for (n, span) in &self.undefined {
                s.push_str(&format!("  {n}  (first used at {})\n", fw.sources.location(*span)));
            }
        }
        let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
        s.push_str(&format!(
            "checked {} node files and {} edges: {} error{}, {} warning{}\n",
            self.node_files,
            self.graph_edges,
            errors,
            if errors == 1 { "" } else { "s" },
            self.diagnostics.len() - errors,
            if self.diagnostics.len() - errors == 1 { "" } else { "s" },
        ));
        s
    }
}
