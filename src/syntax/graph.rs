//! Graph files: `<edge>` and `<order>` elements -> [`EdgeDecl`]s and [`OrderDecl`]s.

use super::{EdgeDecl, GraphFile, IGNORED, Name, OrderDecl, element_cond};
use crate::diag::Diagnostic;
use crate::xml::{Attribute, Element};

/// Parse a graph file's element tree.
pub fn graph_file(root: &Element, diags: &mut Vec<Diagnostic>) -> GraphFile {
    let mut g = GraphFile { roll: root.attr_str("roll"), ..GraphFile::default() };
    if root.name != "graph" {
        diags.push(
            Diagnostic::error("graph::root", format!("graph file root element is `<{}>`", root.name))
                .label(root.span, "expected `<graph>`")
                .help("a graph file looks like `<graph> <edge from=\"a\" to=\"b\"/> </graph>`"),
        );
        return g;
    }
    for el in root.elements() {
        match el.name.as_str() {
            "edge" => edge(el, &mut g, diags),
            "order" => order(el, &mut g, diags),
            n if IGNORED.contains(&n) => {}
            n => diags.push(
                Diagnostic::warning("graph::unknown-element", format!("unknown element `<{n}>` in a graph file is ignored"))
                    .label(el.span, "not a graph element")
                    .help("graph files hold `<edge>` and `<order>` elements"),
            ),
        }
    }
    g
}

fn edge(el: &Element, g: &mut GraphFile, diags: &mut Vec<Diagnostic>) {
    let Some(cond) = element_cond(el, diags) else { return };
    let from = el.attr("from").map(attr_name);
    let to = el.attr("to").map(attr_name);
    let mut any = false;
    if let (Some(f), Some(t)) = (&from, &to) {
        g.edges.push(EdgeDecl { from: f.clone(), to: t.clone(), cond: cond.clone(), span: el.span });
        any = true;
    }
    for child in el.elements() {
        let is_to = child.name == "to";
        if !is_to && child.name != "from" {
            diags.push(
                Diagnostic::warning("graph::unknown-element", format!("unknown element `<{}>` inside `<edge>` is ignored", child.name))
                    .label(child.span, "expected `<to>` or `<from>`"),
            );
            continue;
        }
        let Some(ccond) = element_cond(child, diags) else { continue };
        let name = Name { name: child.text().trim().to_string(), span: child.span };
        let c = cond.clone().and(ccond);
        match (is_to, &from, &to) {
            (true, Some(f), _) => g.edges.push(EdgeDecl { from: f.clone(), to: name, cond: c, span: child.span }),
            (false, _, Some(t)) => g.edges.push(EdgeDecl { from: name, to: t.clone(), cond: c, span: child.span }),
            _ => {
                diags.push(
                    Diagnostic::error(
                        "graph::malformed-edge",
                        format!("`<{}>` needs its `<edge>` to have a `{}` attribute", child.name, if is_to { "from" } else { "to" }),
                    )
                    .label(child.span, "no node to connect this to")
                    .help(if is_to {
                        "write `<edge from=\"parent\"><to>child</to></edge>`"
                    } else {
                        "write `<edge to=\"child\"><from>parent</from></edge>`"
                    }),
                );
                any = true; // reported already; one error per mistake
                continue;
            }
        }
        any = true;
    }
    if !any {
        diags.push(
            Diagnostic::error("graph::malformed-edge", "edge names no pair of nodes")
                .label(el.span, "this edge connects nothing")
                .help("write `<edge from=\"a\" to=\"b\"/>` or nest `<to>` / `<from>` elements"),
        );
    }
}

fn order(el: &Element, g: &mut GraphFile, diags: &mut Vec<Diagnostic>) {
    let generator = el.attr_str("gen");
    let head = el.attr("head").map(attr_name);
    let tail = el.attr("tail").map(attr_name);
    let mut any = false;
    if let (Some(h), Some(t)) = (&head, &tail) {
        g.orders.push(OrderDecl { head: h.clone(), tail: t.clone(), generator: generator.clone(), span: el.span });
        any = true;
    }
    for child in el.elements() {
        let name = Name { name: child.text().trim().to_string(), span: child.span };
        let cgen = child.attr_str("gen").or_else(|| generator.clone());
        match (child.name.as_str(), &head, &tail) {
            ("tail", Some(h), _) => g.orders.push(OrderDecl { head: h.clone(), tail: name, generator: cgen, span: el.span }),
            ("head", _, Some(t)) => g.orders.push(OrderDecl { head: name, tail: t.clone(), generator: cgen, span: el.span }),
            ("head" | "tail", _, _) => {
                diags.push(
                    Diagnostic::error(
                        "graph::malformed-order",
                        format!(
                            "`<{}>` needs its `<order>` to have a `{}` attribute",
                            child.name,
                            if child.name == "tail" { "head" } else { "tail" }
                        ),
                    )
                    .label(child.span, "nothing to order this against")
                    .help("write `<order head=\"first\"><tail>second</tail></order>`"),
                );
                any = true; // reported already; one error per mistake
                continue;
            }
            _ => {
                diags.push(
                    Diagnostic::warning(
                        "graph::unknown-element",
                        format!("unknown element `<{}>` inside `<order>` is ignored", child.name),
                    )
                    .label(child.span, "expected `<head>` or `<tail>`"),
                );
                continue;
            }
        }
        any = true;
    }
    if !any {
        diags.push(
            Diagnostic::error("graph::malformed-order", "order names no pair of nodes")
                .label(el.span, "this order constrains nothing")
                .help("write `<order head=\"first\" tail=\"second\"/>`"),
        );
    }
}

fn attr_name(a: &Attribute) -> Name {
    Name { name: a.literal().trim().to_string(), span: a.value_span }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::SourceId;
    use crate::xml;

    #[test]
    fn edges_nested() {
        let (root, mut d) = xml::parse(
            SourceId(0),
            "<graph><edge from='a' cond='x'><to arch='i386'>b</to></edge><edge to='c'><from>d</from></edge><order head='a'><tail>b</tail></order></graph>",
        );
        let g = graph_file(&root.unwrap(), &mut d);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(g.edges.len(), 2);
        assert_eq!(g.edges[0].to.name, "b");
        assert_eq!(g.edges[1].from.name, "d");
        assert_eq!(g.orders[0].tail.name, "b");
    }
}
