//! `explain`: where every line of a compiled kickstart came from.
//!
//! [`explain`] lays out a traced [`Kickstart`] (see
//! [`build_traced`](crate::kickstart::build_traced)) line by line, the way the
//! `kickstart.ks.j2` template renders it, and answers for each line: the node file and line
//! (or the template line), the edge path from the appliance's root that reached the node, and
//! every attribute substituted in it with the scope that won. The layout is checked against
//! the real rendering, so an answer can never describe a different text. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::attrs::Attrs;
use crate::graph::Framework;
use crate::kickstart::Kickstart;
use crate::kickstart::provenance::{Anchor, AnchorKind, PackageUse, Part, slice};
use crate::syntax::EdgeDecl;

/// What secret values look like in every answer.
pub const REDACTED: &str = "********";

/// The template the layout follows, as it is named in answers (its path in the sources).
pub const TEMPLATE_FILE: &str = "src/kickstart/kickstart.ks.j2";
const TEMPLATE: &str = include_str!("kickstart/kickstart.ks.j2");

/// Where an attribute's value came from and whether it is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttrSource {
    /// `global`, `os`, `appliance`, `rack`, `host`, `builtin`, `default` (the framework's
    /// `attributes.toml`), `attributes file` or `command line`.
    pub scope: String,
    pub secret: bool,
}

/// Every line of one kickstart, explained.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub appliance: String,
    pub root: String,
    pub lines: Vec<Line>,
    /// Every `<package>` element of the reached nodes, in traversal order.
    #[serde(skip)]
    packages: Vec<PackageUse>,
    #[serde(skip)]
    paths: BTreeMap<String, Vec<Step>>,
    #[serde(skip)]
    attr_info: BTreeMap<String, AttrValue>,
}

/// One output line and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// 1-based line number in the kickstart.
    pub number: usize,
    /// The line, with secret values shown as `********`.
    pub text: String,
    pub origin: Origin,
    /// Further elements that make the same line (a package that several nodes add).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Origin>,
    /// Edges from the root to `origin.node` (empty for the root and template lines).
    pub path: Vec<Step>,
    pub attributes: Vec<AttrValue>,
}

/// A file and line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: String,
    pub line: u32,
    /// The node the line belongs to (`None` for template lines).
    pub node: Option<String>,
    /// What made the line: `text`, `command`, `package`, `section header`, `file`, ...
    pub what: String,
}

/// One edge of a path: `from -> to`, declared at `file:line`, taken because `cond` held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub from: String,
    pub to: String,
    pub file: String,
    pub line: u32,
    /// The edge's condition (`always` when it has none).
    pub cond: String,
}

/// An attribute substituted into a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttrValue {
    pub name: String,
    /// The value (`********` when secret; absent when undefined).
    pub value: Option<String>,
    pub scope: String,
    pub secret: bool,
}

/// What `explain --package` says about one `<package>` element.
#[derive(Debug, Clone, Serialize)]
pub struct PackageAnswer {
    /// `add` or `disable`.
    pub action: &'static str,
    pub package: String,
    pub origin: Origin,
    /// Did the element's condition hold for this host?
    pub taken: bool,
    /// The element's condition (`always` when it has none).
    pub cond: String,
    pub path: Vec<Step>,
    pub attributes: Vec<AttrValue>,
}

/// The package's line in `%packages` (`name`, `-name` or absent) and every element about it.
#[derive(Debug, Clone, Serialize)]
pub struct PackageReport {
    pub package: String,
    /// `installed`, `disabled` or `absent`.
    pub result: &'static str,
    pub elements: Vec<PackageAnswer>,
}

/// Explain a kickstart built by [`build_traced`](crate::kickstart::build_traced) for
/// `attrs` (the attributes it was compiled with; `sources` says where each came from).
/// `Err` names the first line where the layout and the rendered text disagree (a bug).
pub fn explain(fw: &Framework, ks: &Kickstart, attrs: &Attrs, sources: &BTreeMap<String, AttrSource>) -> Result<Explanation, String> {
    let prov = ks.provenance.as_deref().ok_or("the kickstart was not built with provenance")?;
    let reached = crate::resolve::reached_by(fw, &ks.root, attrs);
    let mut ex = Explanation {
        appliance: ks.appliance.clone(),
        root: ks.root.clone(),
        lines: Vec::new(),
        packages: prov.packages.clone(),
        paths: BTreeMap::new(),
        attr_info: BTreeMap::new(),
    };
    for node in ks.order.iter().map(|o| &o.node).chain(prov.packages.iter().map(|p| &p.node)) {
        if !ex.paths.contains_key(node) {
            ex.paths.insert(node.clone(), path_to(fw, &reached, node));
        }
    }
    for (name, value) in attrs {
        let src = sources.get(name).cloned().unwrap_or(AttrSource { scope: "builtin".into(), secret: false });
        let shown = if src.secret { REDACTED.to_string() } else { value.clone() };
        ex.attr_info.insert(name.clone(), AttrValue { name: name.clone(), value: Some(shown), scope: src.scope, secret: src.secret });
    }
    let mut lay = Layout { fw, ex: &mut ex, attrs };
    lay.lay_out(ks, prov);
    let rendered = ks.render().map_err(|e| format!("the kickstart does not render: {e}"))?;
    check_layout(&ex.lines, &rendered)?;
    let secrets: Vec<&str> =
        attrs.iter().filter(|(k, v)| !v.is_empty() && sources.get(*k).is_some_and(|s| s.secret)).map(|(_, v)| v.as_str()).collect();
    for l in &mut ex.lines {
        for s in &secrets {
            l.text = l.text.replace(s, REDACTED);
        }
    }
    Ok(ex)
}

impl Explanation {
    /// Line `n` (1-based).
    pub fn line(&self, n: usize) -> Option<&Line> {
        self.lines.get(n.wrapping_sub(1))
    }

    /// Every line whose (redacted) text `matches`.
    pub fn grep(&self, matches: impl Fn(&str) -> bool) -> Vec<&Line> {
        self.lines.iter().filter(|l| matches(&l.text)).collect()
    }

    /// Which reached nodes add or disable `package` (`@group` for a group), and why.
    pub fn package(&self, fw: &Framework, package: &str, kickstart_packages: &[String]) -> PackageReport {
        let elements = self
            .packages
            .iter()
            .filter(|p| p.name == package)
            .map(|p| PackageAnswer {
                action: if p.disable { "disable" } else { "add" },
                package: p.name.clone(),
                origin: origin(fw, p.item.source, line_of(fw, p.item.source, p.item.start as usize), Some(&p.node), "package"),
                taken: p.taken,
                cond: p.cond.clone().unwrap_or_else(|| "always".into()),
                path: self.paths.get(&p.node).cloned().unwrap_or_default(),
                attributes: p.attrs.iter().map(|a| self.attr(a)).collect(),
            })
            .collect();
        let result = if kickstart_packages.iter().any(|p| p == package) {
            "installed"
        } else if kickstart_packages.iter().any(|p| p.strip_prefix('-') == Some(package)) {
            "disabled"
        } else {
            "absent"
        };
        PackageReport { package: package.to_string(), result, elements }
    }

    fn attr(&self, name: &str) -> AttrValue {
        self.attr_info.get(name).cloned().unwrap_or(AttrValue {
            name: name.to_string(),
            value: None,
            scope: "undefined".into(),
            secret: false,
        })
    }
}

/// Builds the explained lines in the template's order.
struct Layout<'a> {
    fw: &'a Framework,
    ex: &'a mut Explanation,
    attrs: &'a Attrs,
}

impl Layout<'_> {
    fn lay_out(&mut self, ks: &Kickstart, prov: &crate::kickstart::provenance::Provenance) {
        self.template("# Kickstart generated", -1, "#");
        self.template("# Kickstart generated", 0, "# Kickstart generated by rocks-compile");
        let title = format!("# appliance `{}`, graph `{}`, root node `{}`", ks.appliance, ks.graph, ks.root);
        self.template("# appliance", 0, &title);
        self.template("# appliance", 1, "#");
        self.template("# Node Traversal Order", 0, "# Node Traversal Order");
        self.template("# Node Traversal Order", 1, "#");
        for o in &ks.order {
            let start = self.fw.node(&o.node).and_then(|(files, _)| {
                files.iter().find(|f| self.fw.short_path(f.source) == o.file).map(|f| (f.source, f.file.span.start as usize))
            });
            let origin = match start {
                Some((source, at)) => origin(self.fw, source, line_of(self.fw, source, at), Some(&o.node), "node file in traversal order"),
                None => template_origin("{{ n.file }}", 0),
            };
            self.push(format!("# {} ({})", o.file, o.roll), origin, Vec::new(), Vec::new());
        }
        self.template("# Debugging Information", -1, "#");
        self.template("# Debugging Information", 0, "# Debugging Information");
        self.template("# Debugging Information", 1, "#");
        for (d, part) in ks.debug.iter().zip(&prov.debug) {
            self.part_lines("# ", d, part, "debug");
        }
        self.template("{% for c in commands", -2, "#");
        self.template("{% for c in commands", -1, "");
        for (c, part) in ks.commands.iter().zip(&prov.commands) {
            self.part_lines("", c, part, "command");
        }
        self.template("%packages", -1, "");
        self.template("%packages", 0, "%packages --ignoremissing");
        for p in &ks.packages {
            self.package_line(p);
        }
        self.template("{{ p }}", 2, "%end");
        for (loop_tag, sections, parts) in [("{% for s in pre", &ks.pre, &prov.pre), ("{% for s in post", &ks.post, &prov.post)] {
            for (s, part) in sections.iter().zip(parts) {
                self.template(loop_tag, 1, "");
                let header = match part.item {
                    Some(item) => {
                        origin(self.fw, item.source, line_of(self.fw, item.source, item.start as usize), Some(&part.node), "section header")
                    }
                    None => template_origin(loop_tag, 2),
                };
                let attrs = part.header_attrs.iter().map(|a| self.ex.attr(a)).collect();
                self.push(s.header.clone(), header, attrs, Vec::new());
                self.part_lines("", &s.body, part, "text");
                self.template(loop_tag, 3, "%end");
            }
        }
    }

    /// The lines of `text` (a command, a debug line or a script body), each after `prefix`
    /// and with its own origin and attributes. A final newline ends the last line (the
    /// template's `%end` follows a body).
    fn part_lines(&mut self, prefix: &str, text: &str, part: &Part, what: &str) {
        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut start = 0;
        for line in body.split('\n') {
            let anchors = slice(&part.anchors, text, start);
            let origin = match (anchors.first().filter(|a| a.at == 0), part.item) {
                (Some(a), _) => self.anchor_origin(a, &part.node, what),
                (None, Some(item)) => {
                    origin(self.fw, item.source, line_of(self.fw, item.source, item.start as usize), Some(&part.node), what)
                }
                (None, None) => template_origin("{{ s.body }}", 0),
            };
            let mut names: Vec<String> = Vec::new();
            for a in anchors.iter().filter(|a| a.at <= line.len()) {
                match &a.kind {
                    AnchorKind::Attr(n) => names.push(n.clone()),
                    AnchorKind::Generated { attrs, .. } => names.extend(
                        attrs.iter().filter(|n| self.attrs.get(*n).is_some_and(|v| !v.is_empty() && line.contains(v.as_str()))).cloned(),
                    ),
                    AnchorKind::Text => {}
                }
            }
            let mut attrs: Vec<AttrValue> = Vec::new();
            for n in names {
                if !attrs.iter().any(|a| a.name == n) {
                    attrs.push(self.ex.attr(&n));
                }
            }
            self.push(format!("{prefix}{line}"), origin, attrs, Vec::new());
            start += line.len() + 1;
        }
    }

    fn anchor_origin(&self, a: &Anchor, node: &str, what: &str) -> Origin {
        let what = match &a.kind {
            AnchorKind::Text => what.to_string(),
            AnchorKind::Generated { what, .. } => what.to_string(),
            AnchorKind::Attr(_) => what.to_string(),
        };
        origin(self.fw, a.source, a.line, Some(node), &what)
    }

    fn package_line(&mut self, line: &str) {
        let (name, disable) = match line.strip_prefix('-') {
            Some(n) => (n, true),
            None => (line, false),
        };
        let uses: Vec<&PackageUse> = self.ex.packages.iter().filter(|p| p.taken && p.name == name && p.disable == disable).collect();
        let origins: Vec<Origin> = uses
            .iter()
            .map(|p| origin(self.fw, p.item.source, line_of(self.fw, p.item.source, p.item.start as usize), Some(&p.node), "package"))
            .collect();
        let mut names: Vec<&String> = uses.iter().flat_map(|p| &p.attrs).collect();
        names.sort();
        names.dedup();
        let attrs = names.into_iter().map(|n| self.ex.attr(n)).collect();
        let mut origins = origins.into_iter();
        let first = origins.next().unwrap_or_else(|| template_origin("{{ p }}", 0));
        self.push(line.to_string(), first, attrs, origins.collect());
    }

    /// A line of the template itself: `delta` lines from the first template line holding `needle`.
    fn template(&mut self, needle: &str, delta: i32, text: &str) {
        self.push(text.to_string(), template_origin(needle, delta), Vec::new(), Vec::new());
    }

    fn push(&mut self, text: String, origin: Origin, attributes: Vec<AttrValue>, also: Vec<Origin>) {
        let path = origin.node.as_ref().and_then(|n| self.ex.paths.get(n)).cloned().unwrap_or_default();
        let number = self.ex.lines.len() + 1;
        self.ex.lines.push(Line { number, text, origin, also, path, attributes });
    }
}

/// The first place where the laid-out lines differ from the rendered text.
fn check_layout(lines: &[Line], rendered: &str) -> Result<(), String> {
    let got: Vec<&str> = rendered.strip_suffix('\n').unwrap_or(rendered).split('\n').collect();
    for (i, l) in lines.iter().enumerate() {
        if got.get(i) != Some(&l.text.as_str()) {
            return Err(format!("line {}: the explanation expected {:?}, the kickstart has {:?}", i + 1, l.text, got.get(i)));
        }
    }
    if got.len() != lines.len() {
        return Err(format!("the kickstart has {} lines, the explanation {}", got.len(), lines.len()));
    }
    Ok(())
}

/// The edges from the root to `node`, root first.
fn path_to(fw: &Framework, reached: &BTreeMap<String, &EdgeDecl>, node: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut at = node;
    while let Some(e) = reached.get(at) {
        if steps.len() > reached.len() {
            break;
        }
        let (file, line) = (fw.sources.name(e.span.source).to_string(), line_of(fw, e.span.source, e.span.start as usize));
        let cond = if e.cond.is_always() { "always".to_string() } else { e.cond.to_string() };
        steps.push(Step { from: e.from.name.clone(), to: e.to.name.clone(), file, line, cond });
        at = &e.from.name;
    }
    steps.reverse();
    steps
}

fn origin(fw: &Framework, source: crate::span::SourceId, line: u32, node: Option<&str>, what: &str) -> Origin {
    let file = fw.sources.name(source).to_string();
    Origin { file, line, node: node.map(str::to_string), what: what.to_string() }
}

fn template_origin(needle: &str, delta: i32) -> Origin {
    let at = TEMPLATE.lines().position(|l| l.contains(needle)).unwrap_or(0) as i32;
    Origin { file: TEMPLATE_FILE.to_string(), line: (at + 1 + delta).max(1) as u32, node: None, what: "template".to_string() }
}

fn line_of(fw: &Framework, source: crate::span::SourceId, offset: usize) -> u32 {
    fw.sources.line_col(source, offset).0 as u32
}
