//! The framework: node files by name, the edge graph and the order graph (petgraph).
//!
//! Built once from [`Loaded`] files for one graph name; node files are parsed when first
//! needed, so compiling one appliance does not pay for files it never reaches.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::attrs::Attrs;
use crate::diag::Diagnostic;
use crate::load::{FileKind, Loaded};
use crate::span::{SourceId, Sources, Span};
use crate::syntax::{self, EdgeDecl, NodeFile, OrderDecl};
use crate::xml;

/// Index of a node file in the framework's petgraph graphs.
pub type NodeIx = NodeIndex<u32>;

/// Names of the order graph's pseudo-nodes.
pub const HEAD: &str = "HEAD";
pub const TAIL: &str = "TAIL";

/// Everything the compiler knows about one graph of a layered framework.
#[derive(Debug)]
pub struct Framework {
    pub sources: Sources,
    pub layers: Vec<String>,
    pub graph: String,
    nodes: BTreeMap<String, NodeEntry>,
    /// Edges in graph-file order; `edges` is their petgraph view (weights index this).
    pub edge_decls: Vec<EdgeDecl>,
    pub order_decls: Vec<OrderDecl>,
    edges: DiGraph<String, usize>,
    ix: BTreeMap<String, NodeIx>,
    /// `graphs/<graph>/attributes.toml` of every layer, merged (later layers win).
    pub defaults: Attrs,
    /// Appliance name -> root node name, from `[appliances]` tables.
    pub appliances: BTreeMap<String, String>,
    /// `include/` files by name (later layers win).
    pub includes: BTreeMap<String, SourceId>,
    cond_names: OnceLock<Vec<String>>,
}

/// The files that make up one node name: `NAME.xml` (or `replace-NAME.xml`) then every
/// `extend-NAME.xml`, each with the layer it came from.
#[derive(Debug)]
struct NodeEntry {
    files: Vec<(SourceId, usize)>,
    parsed: OnceLock<(Vec<ParsedNode>, Vec<Diagnostic>)>,
}

/// One parsed node file of a node name.
#[derive(Debug)]
pub struct ParsedNode {
    pub source: SourceId,
    pub layer: usize,
    pub file: NodeFile,
}

impl Framework {
    /// Read `layers` and build the framework for `graph`.
    pub fn open(layers: &[crate::load::Layer], graph: &str) -> Result<(Framework, Vec<Diagnostic>), crate::load::LoadError> {
        Ok(Framework::build(crate::load::load(layers)?, graph))
    }

    /// Build the framework for `graph`. Graph files are parsed now; node files later.
    pub fn build(loaded: Loaded, graph: &str) -> (Framework, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let Loaded { sources, layers, files } = loaded;
        let mut main: BTreeMap<String, (SourceId, usize)> = BTreeMap::new();
        let mut replace: BTreeMap<String, (SourceId, usize)> = BTreeMap::new();
        let mut extend: BTreeMap<String, Vec<(SourceId, usize)>> = BTreeMap::new();
        let mut edge_decls = Vec::new();
        let mut order_decls = Vec::new();
        let mut defaults = Attrs::new();
        let mut appliances = BTreeMap::new();
        let mut includes = BTreeMap::new();
        let mut graph_seen = false;
        for f in &files {
            match &f.kind {
                FileKind::Node { file_name } => {
                    let stem = file_name.trim_end_matches(".xml");
                    if let Some(n) = stem.strip_prefix("extend-") {
                        extend.entry(n.to_string()).or_default().push((f.source, f.layer));
                    } else if let Some(n) = stem.strip_prefix("replace-") {
                        replace.insert(n.to_string(), (f.source, f.layer));
                    } else {
                        main.insert(stem.to_string(), (f.source, f.layer));
                    }
                }
                FileKind::Graph { graph: g } if g == graph => {
                    graph_seen = true;
                    let (root, mut d) = xml::parse(f.source, sources.get(f.source).text());
                    if let Some(root) = root {
                        let gf = syntax::graph_file(&root, &mut d);
                        edge_decls.extend(gf.edges);
                        order_decls.extend(gf.orders);
                    }
                    diags.extend(d);
                }
                FileKind::Attributes { graph: g } if g == graph => {
                    graph_seen = true;
                    read_attributes(&sources, f.source, &mut defaults, &mut appliances, &mut diags);
                }
                FileKind::Include { name } => {
                    includes.insert(name.clone(), f.source);
                }
                _ => {}
            }
        }
        if !graph_seen {
            diags.push(
                Diagnostic::error("graph::unknown", format!("no framework layer has a graph named `{graph}`"))
                    .help(format!("graph files live in `graphs/{graph}/*.xml` of a framework directory; layers: {}", layers.join(", "))),
            );
        }
        let mut nodes = BTreeMap::new();
        let names: BTreeSet<String> = main.keys().chain(replace.keys()).chain(extend.keys()).cloned().collect();
        for name in names {
            let mut files = Vec::new();
            if let Some(r) = replace.get(&name) {
                files.push(*r);
            } else {
                if let Some(m) = main.get(&name) {
                    files.push(*m);
                }
                files.extend(extend.get(&name).into_iter().flatten().copied());
            }
            if !files.is_empty() && (main.contains_key(&name) || replace.contains_key(&name)) {
                nodes.insert(name, NodeEntry { files, parsed: OnceLock::new() });
            } else if let Some(ext) = extend.get(&name) {
                // An extend file without its node: Rocks ignores it; say so.
                diags.push(
                    Diagnostic::warning("node::orphan-extend", format!("`extend-{name}.xml` extends a node `{name}` that has no file"))
                        .label(Span::new(ext[0].0, 0, 0), "this file is never used")
                        .help(format!("add `nodes/{name}.xml` or remove the extend file")),
                );
            }
        }
        let mut edges = DiGraph::new();
        let mut ix = BTreeMap::new();
        for (i, e) in edge_decls.iter().enumerate() {
            let a = *ix.entry(e.from.name.clone()).or_insert_with(|| edges.add_node(e.from.name.clone()));
            let b = *ix.entry(e.to.name.clone()).or_insert_with(|| edges.add_node(e.to.name.clone()));
            edges.add_edge(a, b, i);
        }
        let fw = Framework {
            sources,
            layers,
            graph: graph.to_string(),
            nodes,
            edge_decls,
            order_decls,
            edges,
            ix,
            defaults,
            appliances,
            includes,
            cond_names: OnceLock::new(),
        };
        (fw, diags)
    }

    /// Every attribute name any condition of the framework reads (edges, node items, files),
    /// sorted: hosts that agree on these get the same traversal and expansion.
    pub fn cond_names(&self) -> &[String] {
        self.cond_names.get_or_init(|| {
            /// Collects the names every condition reads.
            struct CondNames(BTreeSet<String>);
            impl syntax::Visitor for CondNames {
                fn cond(&mut self, cond: &crate::cond::Cond, _: Span) {
                    self.0.extend(cond.names());
                }
            }
            let mut names = CondNames(self.edge_decls.iter().flat_map(|e| e.cond.names()).collect());
            for n in self.nodes.keys() {
                let Some((files, _)) = self.node(n) else { continue };
                for item in files.iter().flat_map(|pf| &pf.file.items) {
                    syntax::visit::walk_item(&mut names, item);
                }
            }
            names.0.into_iter().collect()
        })
    }

    /// Does a node file (or replace file) exist for `name`?
    pub fn has_node(&self, name: &str) -> bool {
        self.nodes.contains_key(name)
    }

    /// How many files (main, replace and extend) make up the framework's nodes.
    pub fn node_file_count(&self) -> usize {
        self.nodes.values().map(|e| e.files.len()).sum()
    }

    pub fn node_names(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }

    /// The parsed files of a node (main or replace, then extends) and their diagnostics.
    pub fn node(&self, name: &str) -> Option<(&[ParsedNode], &[Diagnostic])> {
        let entry = self.nodes.get(name)?;
        let (p, d) = entry.parsed.get_or_init(|| {
            let mut diags = Vec::new();
            let mut parsed = Vec::new();
            for &(source, layer) in &entry.files {
                let text = match self.sources.get(source).try_text() {
                    Ok(t) => t,
                    Err(e) => {
                        diags.push(
                            Diagnostic::error("load::io", e.to_string())
                                .help("node files are read as UTF-8 text; check the file's permissions and encoding (e.g. `iconv -f latin1 -t utf-8`)"),
                        );
                        continue;
                    }
                };
                let (root, d) = xml::parse(source, text);
                diags.extend(d);
                if let Some(root) = root {
                    let file = syntax::node_file(&root, &mut diags);
                    parsed.push(ParsedNode { source, layer, file });
                }
            }
            (parsed, diags)
        });
        Some((p.as_slice(), d.as_slice()))
    }

    /// The root node of an appliance: from `[appliances]`, else Rocks' own mapping
    /// (`frontend` -> `server`), else the appliance's name.
    pub fn root_of(&self, appliance: &str) -> String {
        if let Some(r) = self.appliances.get(appliance) {
            return r.clone();
        }
        if appliance == "frontend" && !self.has_node("frontend") && self.has_node("server") {
            return "server".to_string();
        }
        appliance.to_string()
    }

    /// Outgoing edges of a node in graph-file order.
    pub fn out_edges(&self, name: &str) -> Vec<&EdgeDecl> {
        let Some(&n) = self.ix.get(name) else { return Vec::new() };
        let mut es: Vec<(EdgeIndex, usize)> = self.edges.edges(n).map(|e| (e.id(), *e.weight())).collect();
        es.sort();
        es.into_iter().map(|(_, w)| &self.edge_decls[w]).collect()
    }

    /// Nodes named in the graph with no incoming edges: the natural roots.
    pub fn graph_roots(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .edges
            .node_indices()
            .filter(|&n| self.edges.neighbors_directed(n, petgraph::Direction::Incoming).next().is_none())
            .map(|n| self.edges[n].clone())
            .collect();
        v.sort();
        v
    }

    /// Every node name mentioned by an edge.
    pub fn graph_node_names(&self) -> impl Iterator<Item = &str> {
        self.ix.keys().map(String::as_str)
    }

    /// Display name of a node file's roll: its `roll=` attribute, else its layer's name.
    pub fn roll_of<'a>(&'a self, p: &'a ParsedNode) -> &'a str {
        p.file.roll.as_deref().unwrap_or(&self.layers[p.layer])
    }

    /// Short display path of a node file, relative to its layer (`nodes/base.xml`).
    pub fn short_path(&self, source: SourceId) -> String {
        let name = self.sources.name(source);
        match name.rfind("/nodes/") {
            Some(i) => name[i + 1..].to_string(),
            None => name.to_string(),
        }
    }
}

fn read_attributes(
    sources: &Sources,
    id: SourceId,
    defaults: &mut Attrs,
    appliances: &mut BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) {
    let text = sources.get(id).text();
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let e: toml::de::Error = e;
            let span = e.span().map(|r| Span::new(id, r.start, r.end)).unwrap_or(Span::new(id, 0, 0));
            diags.push(
                Diagnostic::error("attrs::syntax", format!("invalid attributes file: {}", e.message().trim_end()))
                    .label(span, "here")
                    .help(
                        "`attributes.toml` holds `[attributes]` (name = \"value\") and `[appliances]` (appliance = \"root-node\") tables",
                    ),
            );
            return;
        }
    };
    if let Some(toml::Value::Table(t)) = table.get("appliances") {
        for (k, v) in t {
            if let toml::Value::String(s) = v {
                appliances.insert(k.clone(), s.clone());
            }
        }
    }
    match crate::attrs::parse_attrs(text, false) {
        Ok(a) => defaults.extend(a),
        Err(e) => {
            let span = e.range.map(|(s, t)| Span::new(id, s, t)).unwrap_or(Span::new(id, 0, 0));
            diags.push(Diagnostic::error("attrs::syntax", format!("invalid attributes file: {}", e.message)).label(span, "here"));
        }
    }
}
