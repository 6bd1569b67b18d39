//! Node files: `<kickstart>` elements -> [`Item`]s, and element content -> [`Text`].

use super::{COMMANDS, EvalEl, FileEl, FileMode, IGNORED, Item, ItemKind, NodeFile, Script, Seg, Text, attr_text, element_cond};
use crate::cond::Cond;
use crate::diag::Diagnostic;
use crate::xml::{Element, XmlNode};

/// Parse a node file's element tree.
pub fn node_file(root: &Element, diags: &mut Vec<Diagnostic>) -> NodeFile {
    if root.name != "kickstart" && root.name != "jumpstart" {
        diags.push(
            Diagnostic::error("node::root", format!("node file root element is `<{}>`", root.name))
                .label(root.span, "expected `<kickstart>`")
                .help("a node file looks like `<kickstart> <package>...</package> <post>...</post> </kickstart>`"),
        );
    }
    let mut items = Vec::new();
    for el in root.elements() {
        node_element(el, &mut items, diags);
    }
    NodeFile { roll: root.attr_str("roll"), items, span: root.span }
}

/// The content of an element as [`Text`]. With `scripts`, `<file>`, `<eval>`, `<var>` and
/// `<include>` are recognised; other child elements are reported and skipped.
pub fn body(el: &Element, scripts: bool, diags: &mut Vec<Diagnostic>) -> Text {
    let mut out: Text = Vec::new();
    for c in &el.children {
        match c {
            XmlNode::Text(t, _) => push_lit(&mut out, t),
            XmlNode::CData(t, _) => push_lit(&mut out, &drop_xml_decl_lines(t)),
            XmlNode::Entity(name, span) => out.push(Seg::Entity { name: name.clone(), span: *span }),
            XmlNode::Element(child) => body_element(child, &el.name, scripts, &mut out, diags),
        }
    }
    out
}

fn node_element(el: &Element, items: &mut Vec<Item>, diags: &mut Vec<Diagnostic>) {
    let name = el.name.as_str();
    if IGNORED.contains(&name) {
        return;
    }
    if !in_kickstart_phase(el) && name != "main" {
        return;
    }
    let Some(cond) = element_cond(el, diags) else { return };
    let kind = match name {
        "package" => {
            let meta = el.attr_str("type").as_deref() == Some("meta");
            let disable = el.attr("disable").is_some();
            let text = body(el, false, diags);
            // One `<package>` may list several names separated by white space.
            for name in split_words(&text) {
                items.push(Item { kind: ItemKind::Package { name, meta, disable }, cond: cond.clone(), span: el.span });
            }
            return;
        }
        "main" => {
            for child in el.elements() {
                if !in_kickstart_phase(child) {
                    continue;
                }
                let Some(ccond) = element_cond(child, diags) else { continue };
                let command = child.name.as_str();
                if IGNORED.contains(&command) {
                    continue;
                }
                if !COMMANDS.contains(&command) {
                    diags.push(
                        Diagnostic::warning("node::unknown-command", format!("`<{command}>` is not a kickstart command; it is left out"))
                            .label(child.span, "unknown command")
                            .help("children of `<main>` are kickstart commands such as `<timezone>`, `<network>`, `<bootloader>`"),
                    );
                    continue;
                }
                let text = body(child, false, diags);
                items.push(Item {
                    kind: ItemKind::Command { command: command.to_string(), text },
                    cond: cond.clone().and(ccond),
                    span: child.span,
                });
            }
            return;
        }
        "pre" | "post" | "configure" => {
            let script = Script {
                interpreter: el.attr("interpreter").filter(|a| !a.literal().trim().is_empty()).map(attr_text),
                arg: el.attr("arg").filter(|a| !a.literal().trim().is_empty()).map(attr_text),
                body: body(el, true, diags),
                configure: name == "configure",
            };
            if name == "pre" { ItemKind::Pre(script) } else { ItemKind::Post(script) }
        }
        "boot" => ItemKind::Boot { post: el.attr_str("order").as_deref() == Some("post"), body: body(el, true, diags) },
        "debug" => ItemKind::Debug { body: body(el, false, diags) },
        _ => {
            diags.push(
                Diagnostic::warning("node::unknown-element", format!("unknown element `<{name}>` is ignored"))
                    .label(el.span, "not a node-file element")
                    .help("node files hold `<package>`, `<main>`, `<pre>`, `<post>`, `<configure>`, `<boot>` and `<debug>`"),
            );
            return;
        }
    };
    items.push(Item { kind, cond, span: el.span });
}

/// Does the element's `phase` (default `pre,post`) include a kickstart phase?
fn in_kickstart_phase(el: &Element) -> bool {
    match el.attr_str("phase") {
        None => true,
        Some(p) => p.split(',').map(str::trim).any(|p| p == "pre" || p == "post"),
    }
}

fn body_element(child: &Element, parent: &str, scripts: bool, out: &mut Text, diags: &mut Vec<Diagnostic>) {
    match child.name.as_str() {
        "eval" => {
            let shell = child.attr_str("shell").unwrap_or_else(|| "sh".to_string());
            let xml = child.attr_str("mode").as_deref() == Some("xml");
            out.push(Seg::Eval(Box::new(EvalEl { shell, xml, body: body(child, false, diags), span: child.span })));
        }
        "var" => match child.attr_str("name") {
            Some(name) => {
                out.push(Seg::Var { name, val: child.attr("val").map(attr_text), reference: child.attr_str("ref"), span: child.span })
            }
            None => diags.push(missing_attr(child, "name", "`<var name=\"Kickstart_PrivateAddress\"/>`")),
        },
        "include" | "sinclude" => match child.attr_str("file") {
            Some(file) => out.push(Seg::Include {
                file,
                xml: child.attr_str("mode").as_deref() == Some("xml"),
                optional: child.name == "sinclude",
                span: child.span,
            }),
            None => diags.push(missing_attr(child, "file", "`<include file=\"name\"/>`")),
        },
        "file" if scripts => {
            if let Some(f) = file_el(child, diags) {
                out.push(Seg::File(Box::new(f)));
            }
        }
        "file" => diags.push(
            Diagnostic::warning("node::unknown-element", format!("`<file>` inside `<{parent}>` is ignored"))
                .label(child.span, "not allowed here")
                .help("`<file>` belongs directly inside `<pre>`, `<post>` or `<configure>`"),
        ),
        n if IGNORED.contains(&n) => {}
        n => diags.push(
            Diagnostic::warning("node::unknown-element", format!("unknown element `<{n}>` inside `<{parent}>` is ignored"))
                .label(child.span, "not allowed here")
                .help(if scripts {
                    "scripts may contain `<file>`, `<eval>`, `<var>` and `<include>`; write a literal `<` as `&lt;`"
                } else {
                    "text may contain `<eval>`, `<var>` and `<include>`; write a literal `<` as `&lt;`"
                }),
        ),
    }
}

fn file_el(el: &Element, diags: &mut Vec<Diagnostic>) -> Option<FileEl> {
    let Some(name) = el.attr("name").map(attr_text) else {
        diags.push(missing_attr(el, "name", "`<file name=\"/etc/motd\">text</file>`"));
        return None;
    };
    let mode = match el.attr_str("mode").as_deref() {
        None | Some("create") => FileMode::Create,
        Some("append") => FileMode::Append,
        Some("pipe") => FileMode::Pipe,
        Some(other) => {
            // Rocks wrote any other mode like `create`; keep that, but say so.
            let a = el.attr("mode").expect("mode was read");
            diags.push(
                Diagnostic::warning("node::bad-value", format!("unknown file mode `{other}` is taken as `create`"))
                    .label(a.value_span, "expected `create`, `append` or `pipe`")
                    .help(if other.starts_with("ap") { "did you mean `append`?" } else { "write `mode=\"append\"` to add to the file" }),
            );
            FileMode::Create
        }
    };
    let body = if el.children.is_empty() { None } else { Some(body(el, false, diags)) };
    Some(FileEl {
        name,
        mode,
        perms: el.attr("perms").map(attr_text),
        owner: el.attr("owner").map(attr_text),
        expr: el.attr("expr").map(attr_text),
        src: el.attr("src").map(attr_text),
        expanded: el.attr_str("vars").as_deref() == Some("expanded"),
        rcs: el.attr_str("rcs").as_deref() != Some("false"),
        cond: Cond::rocks(None, el.attr_str("os").as_deref(), None, None),
        body,
        span: el.span,
    })
}

fn missing_attr(el: &Element, attr: &str, example: &str) -> Diagnostic {
    Diagnostic::error("node::missing-attribute", format!("`<{}>` needs a `{attr}` attribute", el.name))
        .label(el.span, format!("no `{attr}` here"))
        .help(format!("write {example}"))
}

fn push_lit(out: &mut Text, s: &str) {
    if let Some(Seg::Lit(prev)) = out.last_mut() {
        prev.push_str(s);
    } else if !s.is_empty() {
        out.push(Seg::Lit(s.to_string()));
    }
}

/// Rocks deleted every line containing `<?xml` before parsing; inside CDATA that line is
/// content (e.g. an XML file written by `<file>`), and Rocks dropped it. We do the same.
fn drop_xml_decl_lines(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains("<?xml") {
        return s.into();
    }
    s.split_inclusive('\n').filter(|l| !l.contains("<?xml")).collect::<String>().into()
}

/// Whitespace-separated words of a text, with entities kept inside words.
fn split_words(text: &Text) -> Vec<Text> {
    let mut words: Vec<Text> = Vec::new();
    let mut cur: Text = Vec::new();
    for seg in text {
        match seg {
            Seg::Lit(s) => {
                let mut rest = s.as_str();
                while !rest.is_empty() {
                    let ws = rest.find(char::is_whitespace);
                    match ws {
                        Some(0) => {
                            if !cur.is_empty() {
                                words.push(std::mem::take(&mut cur));
                            }
                            rest = rest.trim_start();
                        }
                        Some(i) => {
                            push_lit(&mut cur, &rest[..i]);
                            rest = &rest[i..];
                        }
                        None => {
                            push_lit(&mut cur, rest);
                            rest = "";
                        }
                    }
                }
            }
            other => cur.push(other.clone()),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::SourceId;
    use crate::xml;

    fn node(s: &str) -> (NodeFile, Vec<Diagnostic>) {
        let (root, mut d) = xml::parse(SourceId(0), s);
        let n = node_file(&root.unwrap(), &mut d);
        (n, d)
    }

    #[test]
    fn packages_split_and_flags() {
        let (n, d) = node("<kickstart><package type='meta'>base</package><package disable='0'> a  b </package></kickstart>");
        assert!(d.is_empty());
        let names: Vec<_> = n
            .items
            .iter()
            .map(|i| match &i.kind {
                ItemKind::Package { name, meta, disable } => (name.clone(), *meta, *disable),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            names,
            vec![
                (vec![Seg::Lit("base".into())], true, false),
                (vec![Seg::Lit("a".into())], false, true),
                (vec![Seg::Lit("b".into())], false, true),
            ]
        );
    }

    #[test]
    fn configure_phase() {
        let (n, _) =
            node("<kickstart><configure phase='reconfigure'>x</configure><configure phase='post,reconfigure'>y</configure></kickstart>");
        assert_eq!(n.items.len(), 1);
    }
}
