//! Element tree -> Rocks node files and graph files. Knows Rocks tags, not graphs or hosts.
//!
//! Everything that depends on a host (attribute entities, conditions, `<eval>`) stays symbolic
//! here: entities are [`Seg::Entity`], conditions are parsed [`Cond`]s.

use crate::cond::Cond;
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::xml::{Attribute, Element, Piece, XmlNode};

/// A parsed `nodes/NAME.xml`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFile {
    /// `<kickstart roll="...">`, if given.
    pub roll: Option<String>,
    pub items: Vec<Item>,
    pub span: Span,
}

/// One element of a node file that contributes to the kickstart, with its condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub kind: ItemKind,
    pub cond: Cond,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    /// `<package>`: `type="meta"` gives `@name`, `disable` gives `-name`.
    Package {
        name: Text,
        meta: bool,
        disable: bool,
    },
    /// A child of `<main>`: one kickstart command line.
    Command {
        command: String,
        text: Text,
    },
    Pre(Script),
    /// `<post>` and `<configure>`.
    Post(Script),
    /// `<boot order="pre|post">`: appended to `/etc/sysconfig/rocks-pre|post`.
    Boot {
        post: bool,
        body: Text,
    },
    /// `<debug>`: printed as comments.
    Debug {
        body: Text,
    },
}

/// The body and options of a `%pre` or `%post` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub interpreter: Option<AttrText>,
    /// Extra section arguments, e.g. `--nochroot`.
    pub arg: Option<AttrText>,
    pub body: Text,
    /// Came from `<configure>` (which gets no post-log markers).
    pub configure: bool,
}

/// Text with host-dependent parts left symbolic.
pub type Text = Vec<Seg>;

#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Lit(String),
    /// `&name;`: the host's attribute `name` (empty, with a warning, when undefined).
    Entity {
        name: String,
        span: Span,
    },
    File(Box<FileEl>),
    Eval(Box<EvalEl>),
    /// Rocks 5.0 `<var name= val= ref=>`.
    Var {
        name: String,
        val: Option<AttrText>,
        reference: Option<String>,
        span: Span,
    },
    /// `<include file=>` / `<sinclude file=>`: a file from a framework's `include/` folder.
    Include {
        file: String,
        xml: bool,
        optional: bool,
        span: Span,
    },
}

/// An attribute value: literal text and entity references.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrText {
    pub pieces: Vec<Piece>,
    pub span: Span,
}

/// How a `<file>` writes its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    Create,
    Append,
    Pipe,
}

/// `<file name= mode= perms= owner= expr= vars= rcs=>`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEl {
    pub name: AttrText,
    pub mode: FileMode,
    pub perms: Option<AttrText>,
    pub owner: Option<AttrText>,
    pub expr: Option<AttrText>,
    pub src: Option<AttrText>,
    /// `vars="expanded"`: an unquoted heredoc, so the shell expands `$x` at install time.
    pub expanded: bool,
    /// `rcs="false"` turns RCS tracking off for this file.
    pub rcs: bool,
    /// Rocks checks only `os` on `<file>`.
    pub cond: Cond,
    /// `None` when the element has no content at all.
    pub body: Option<Text>,
    pub span: Span,
}

/// `<eval shell= mode=>`: run on the compiling machine only with `--allow-eval`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalEl {
    pub shell: String,
    /// `mode="xml"`: the output is markup, spliced in as node content.
    pub xml: bool,
    pub body: Text,
    pub span: Span,
}

/// A parsed `graphs/GRAPH/NAME.xml`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GraphFile {
    pub roll: Option<String>,
    pub edges: Vec<EdgeDecl>,
    pub orders: Vec<OrderDecl>,
}

/// A node name as written in a graph file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub name: String,
    pub span: Span,
}

/// `from -> to`, taken when `cond` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeDecl {
    pub from: Name,
    pub to: Name,
    pub cond: Cond,
    pub span: Span,
}

/// `head` comes before `tail`. `span` is the `<order>` element.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderDecl {
    pub head: Name,
    pub tail: Name,
    pub generator: Option<String>,
    pub span: Span,
}

/// Kickstart commands accepted as children of `<main>`.
pub const COMMANDS: &[&str] = &[
    "auth",
    "authconfig",
    "authselect",
    "autopart",
    "autostep",
    "bootloader",
    "btrfs",
    "cdrom",
    "clearpart",
    "cmdline",
    "device",
    "deviceprobe",
    "dmraid",
    "driverdisk",
    "eula",
    "fcoe",
    "firewall",
    "firstboot",
    "graphical",
    "group",
    "halt",
    "harddrive",
    "ignoredisk",
    "include",
    "install",
    "interactive",
    "iscsi",
    "iscsiname",
    "keyboard",
    "lang",
    "langsupport",
    "lilo",
    "lilocheck",
    "liveimg",
    "logging",
    "logvol",
    "mediacheck",
    "module",
    "monitor",
    "mouse",
    "multipath",
    "network",
    "nfs",
    "nvdimm",
    "ostreecontainer",
    "ostreesetup",
    "part",
    "partition",
    "poweroff",
    "raid",
    "realm",
    "reboot",
    "repo",
    "reqpart",
    "rescue",
    "rhsm",
    "rootpw",
    "selinux",
    "services",
    "shutdown",
    "skipx",
    "snapshot",
    "sshkey",
    "sshpw",
    "syspurpose",
    "text",
    "timesource",
    "timezone",
    "updates",
    "upgrade",
    "url",
    "user",
    "vnc",
    "volgroup",
    "xconfig",
    "zerombr",
    "zfcp",
    "zipl",
];

/// Elements Rocks files carry that do not contribute to a kickstart.
const IGNORED: &[&str] = &["description", "copyright", "changelog", "screen", "service", "ansible", "si_copyright"];

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
    let from = el.attr("from").map(|a| attr_name(a));
    let to = el.attr("to").map(|a| attr_name(a));
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
    let head = el.attr("head").map(|a| attr_name(a));
    let tail = el.attr("tail").map(|a| attr_name(a));
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

/// The condition of an element from `arch`, `os`, `release`, `cond` (and `phase`).
/// `None` when the condition does not parse (a diagnostic was pushed).
fn element_cond(el: &Element, diags: &mut Vec<Diagnostic>) -> Option<Cond> {
    let parsed = match el.attr("cond") {
        Some(a) => {
            let text = a.literal();
            match Cond::parse(&text) {
                Ok(c) => Some(c),
                Err(e) => {
                    // Offsets are into the unescaped value; they match the file when the value
                    // has no `&...;` escapes, otherwise the whole value is labelled.
                    let raw_len = a.value_span.len();
                    let span = if raw_len == text.len() { a.value_span.sub(e.start, e.end.max(e.start + 1)) } else { a.value_span };
                    diags.push(
                        Diagnostic::error("cond::syntax", format!("invalid condition: {}", e.message))
                            .label(span, e.message.clone())
                            .help("conditions are Python-like: `x11`, `not x11`, `rocks_version_major >= 7 and Bootloader is None`, `os in ['linux', 'redhat']`"),
                    );
                    return None;
                }
            }
        }
        None => None,
    };
    let arch = el.attr_str("arch");
    let os = el.attr_str("os");
    let release = el.attr_str("release");
    Some(Cond::rocks(arch.as_deref(), os.as_deref(), release.as_deref(), parsed))
}

/// Does the element's `phase` (default `pre,post`) include a kickstart phase?
fn in_kickstart_phase(el: &Element) -> bool {
    match el.attr_str("phase") {
        None => true,
        Some(p) => p.split(',').map(str::trim).any(|p| p == "pre" || p == "post"),
    }
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

fn attr_text(a: &Attribute) -> AttrText {
    AttrText { pieces: a.value.clone(), span: a.value_span }
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
