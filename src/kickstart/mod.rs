//! [`Profile`] + host attributes -> a Red Hat kickstart.
//!
//! [`build`] computes a typed [`Kickstart`] (every host-dependent value resolved), and
//! [`Kickstart::render`] turns it into text through the `kickstart.ks.j2` template.


pub mod batch;
mod expand;
pub mod provenance;
pub mod shell;
pub mod template;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::attrs::Attrs;
use crate::diag::Diagnostic;
use self::expand::Expander;
use crate::graph::Framework;
use crate::kickstart::provenance::{Anchor, AnchorKind, PackageUse, Part, Provenance};
use crate::resolve::Profile;
use crate::span::Span;
use crate::syntax::{EvalEl, ItemKind, Seg, Text, Visitor};
use crate::syntax::visit::{walk_item, walk_text};

/// Runs `<eval>` bodies. Only the CLI provides one, and only with `--allow-eval`.
pub trait EvalRunner: Sync {
    /// Run `script` with `shell`, the attributes as environment; return stdout.
    fn run(&self, shell: &str, script: &str, env: &Attrs) -> Result<String, String>;
}

/// Choices about the generated kickstart.
#[derive(Clone, Copy, Default)]
pub struct KickstartOptions<'a> {
    /// Wrap `<file>`s in Rocks' RCS check-out/check-in blocks.
    pub rcs: bool,
    /// Rocks' per-node `begin/end post section` markers around every `<post>`.
    pub post_log: bool,
    /// Rocks 7's copy of every written file under `/var/rocks`.
    pub var_rocks_copy: bool,
    /// Runs `<eval>`; `None` leaves every `<eval>` out with a warning (or keeps its text,
    /// with `eval_as_text`).
    pub eval: Option<&'a dyn EvalRunner>,
    /// Rocks' `eval=no`: keep each `<eval>`'s body as literal text instead of running it.
    pub eval_as_text: bool,
    /// Where the attribute values came from, named in messages (see
    /// [`crate::resolver::builtin::origin_of`]).
    pub origins: Option<&'a crate::attrs::Origins>,
}

/// Log files of the generated sections.
pub const PRE_LOG: &str = "/tmp/ks-pre.log";
pub const POST_LOG: &str = "/root/ks-post.log";
pub const POST_LOG_NOCHROOT: &str = "/mnt/sysimage/root/ks-post.log";

/// Everything a kickstart holds, resolved for one host: the template's context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kickstart {
    pub appliance: String,
    pub graph: String,
    pub root: String,
    /// The node files in traversal order.
    pub order: Vec<OrderLine>,
    pub debug: Vec<String>,
    /// Kickstart command lines (the main section).
    pub commands: Vec<String>,
    /// `%packages` lines: enabled names sorted, then `-disabled` names sorted.
    pub packages: Vec<String>,
    pub pre: Vec<Section>,
    pub post: Vec<Section>,
    /// Where each part came from: only from [`build_traced`].
    #[serde(skip)]
    pub provenance: Option<Box<Provenance>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderLine {
    pub node: String,
    pub file: String,
    pub roll: String,
}

/// One `%pre` or `%post` section: its header line and its body (ending in a newline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub header: String,
    pub body: String,
    /// The node the section came from.
    pub node: String,
}

impl Kickstart {
    /// The kickstart's text. An error would mean the built-in template and [`Kickstart`]
    /// disagree (a bug, not bad input); it is returned rather than panicking.
    pub fn render(&self) -> Result<String, minijinja::Error> {
        crate::render::render("kickstart.ks.j2", self)
    }
}

/// Resolve a profile for one host.
pub fn build(
    fw: &Framework,
    appliance: &str,
    profile: &Profile<'_>,
    attrs: &Attrs,
    opts: &KickstartOptions<'_>,
) -> (Kickstart, Vec<Diagnostic>) {
    let (ks, diags, _) = build_with(fw, appliance, profile, attrs, opts, false, false);
    (ks, diags)
}

/// [`build`], also recording in [`Kickstart::provenance`] where every part came from (for
/// `explain`; slower, so never used for a plain compile).
pub fn build_traced(
    fw: &Framework,
    appliance: &str,
    profile: &Profile<'_>,
    attrs: &Attrs,
    opts: &KickstartOptions<'_>,
) -> (Kickstart, Vec<Diagnostic>) {
    let (ks, diags, _) = build_with(fw, appliance, profile, attrs, opts, false, true);
    (ks, diags)
}

/// Entity names used by a symbolic build: where first, and whether inside an XML attribute.
pub type Uses = BTreeMap<String, (Span, bool)>;

/// Resolve a profile for every host that shares the attributes conditions read: entity
/// references stay symbolic (see [`crate::kickstart::template`]) and are substituted per host.
/// `None` when the profile holds something that cannot be shared (`<var>`, `<eval>` run with
/// `--allow-eval`); the caller then builds per host.
pub fn build_symbolic(
    fw: &Framework,
    appliance: &str,
    profile: &Profile<'_>,
    attrs: &Attrs,
    opts: &KickstartOptions<'_>,
) -> Option<(Kickstart, Vec<Diagnostic>, Uses)> {
    if !shareable(profile, opts) {
        return None;
    }
    let (ks, diags, uses) = build_with(fw, appliance, profile, attrs, opts, true, false);
    Some((ks, diags, uses?))
}

fn shareable(profile: &Profile<'_>, opts: &KickstartOptions<'_>) -> bool {
    /// Finds what a shared expansion cannot hold: `<var>`, or an `<eval>` that runs.
    struct Shareable {
        run_eval: bool,
        ok: bool,
    }
    impl Visitor for Shareable {
        fn var(&mut self, _: &str, _: Span) {
            self.ok = false;
        }
        fn visit_eval(&mut self, e: &EvalEl) {
            self.ok &= !self.run_eval;
            walk_text(self, &e.body);
        }
    }
    let mut v = Shareable { run_eval: opts.eval.is_some(), ok: true };
    for item in profile.nodes.iter().flat_map(|n| n.files.iter()).flat_map(|f| f.file.items.iter()) {
        walk_item(&mut v, item);
    }
    v.ok
}

fn build_with(
    fw: &Framework,
    appliance: &str,
    profile: &Profile<'_>,
    attrs: &Attrs,
    opts: &KickstartOptions<'_>,
    symbolic: bool,
    traced: bool,
) -> (Kickstart, Vec<Diagnostic>, Option<Uses>) {
    let mut ex = Expander::new(fw, attrs, opts, symbolic);
    let mut prov = traced.then(Box::<Provenance>::default);
    if traced {
        ex = ex.traced();
    }
    let lookup = |n: &str| attrs.get(n).map(String::as_str);
    let mut ks = Kickstart {
        appliance: appliance.to_string(),
        graph: fw.graph.clone(),
        root: profile.root.clone(),
        order: Vec::new(),
        debug: Vec::new(),
        commands: Vec::new(),
        packages: Vec::new(),
        pre: Vec::new(),
        post: Vec::new(),
        provenance: None,
    };
    let mut enabled: BTreeSet<String> = BTreeSet::new();
    let mut disabled: BTreeSet<String> = BTreeSet::new();
    let mut boot_pre = String::new();
    let mut boot_post = String::new();
    let mut boot_trace: [Vec<Anchor>; 2] = Default::default();
    for node in &profile.nodes {
        for pf in node.files {
            let file = fw.short_path(pf.source);
            ks.order.push(OrderLine { node: node.name.clone(), file: file.clone(), roll: fw.roll_of(pf).to_string() });
            let marker_file = format!("./{file}");
            for item in &pf.file.items {
                let accepted = item.cond.eval(&lookup);
                ex.at_item(item.span);
                // What a traced part came from; `None` unless tracing.
                macro_rules! traced {
                    ($field:ident) => {
                        if let (Some(p), Some(piece)) = (prov.as_mut(), ex.piece(&node.name, item.span)) {
                            p.$field.push(piece);
                        }
                    };
                }
                if let (ItemKind::Post(s), true) = (&item.kind, opts.post_log) {
                    // Rocks marks every `<post>` of a node, taken or not, in the install log.
                    if !s.configure {
                        let begin = ex.marker(&marker_file, "begin", item.span);
                        ks.post.push(Section { header: format!("%post --log={POST_LOG}"), body: begin, node: node.name.clone() });
                        traced!(post);
                        if accepted {
                            ex.at_item(item.span);
                            let body = ex.script_body(&s.body);
                            ks.post.push(Section { header: ex.header(false, s), body, node: node.name.clone() });
                            traced!(post);
                        }
                        let end = ex.marker(&marker_file, "end", item.span);
                        ks.post.push(Section { header: format!("%post --log={POST_LOG}"), body: end, node: node.name.clone() });
                        traced!(post);
                        continue;
                    }
                }
                if !accepted {
                    if let (Some(p), ItemKind::Package { name, meta, disable }) = (prov.as_mut(), &item.kind) {
                        p.packages.push(package_use(name, *meta, *disable, false, &node.name, item));
                    }
                    continue;
                }
                match &item.kind {
                    ItemKind::Package { name, meta, disable } => {
                        // Sorting and de-duplication need the real name.
                        ex.shape_depends_on(name);
                        let n = ex.one_line(name, "a package name".to_string());
                        let n = if *meta { format!("@{n}") } else { n };
                        if let Some(p) = prov.as_mut() {
                            ex.take_attr_names();
                            p.packages.push(PackageUse { name: n.clone(), ..package_use(name, *meta, *disable, true, &node.name, item) });
                        }
                        if *disable {
                            if !enabled.contains(&n) {
                                disabled.insert(n);
                            }
                        } else {
                            disabled.remove(&n);
                            enabled.insert(n);
                        }
                    }
                    ItemKind::Command { command, text } => {
                        if matches!(command.as_str(), "langsupport" | "sshpw" | "include") {
                            ex.shape_depends_on(text);
                        }
                        let plain = ex.one_line(text, format!("the `{command}` command"));
                        let line = command_line(command, &plain);
                        ks.commands.push(ex.trimmed(line));
                        traced!(commands);
                        if let Some(p) = prov.as_mut().and_then(|p| p.commands.last_mut()) {
                            align_command(p, &plain, ks.commands.last().map_or("", String::as_str));
                        }
                    }
                    ItemKind::Pre(s) => {
                        let body = ex.script_body(&s.body);
                        ks.pre.push(Section { header: ex.header(true, s), body, node: node.name.clone() });
                        traced!(pre);
                    }
                    ItemKind::Post(s) => {
                        let body = ex.script_body(&s.body);
                        ks.post.push(Section { header: ex.header(false, s), body, node: node.name.clone() });
                        traced!(post);
                    }
                    ItemKind::Boot { post, body } => {
                        let b = ex.script_body(body);
                        let (text, trace) = if *post { (&mut boot_post, &mut boot_trace[1]) } else { (&mut boot_pre, &mut boot_trace[0]) };
                        if let Some(piece) = ex.piece(&node.name, item.span) {
                            trace.extend(crate::kickstart::provenance::shifted(piece.anchors, text.len()));
                        }
                        text.push_str(&b);
                    }
                    ItemKind::Debug { body } => {
                        ex.shape_depends_on(body);
                        let text = ex.plain(body);
                        ks.debug.extend(text.lines().map(|l| l.trim_end().to_string()));
                        if let (Some(p), Some(piece)) = (prov.as_mut(), ex.piece(&node.name, item.span)) {
                            p.debug.extend(crate::kickstart::provenance::per_line(piece, &text));
                        }
                    }
                }
            }
        }
    }
    if !boot_pre.is_empty() || !boot_post.is_empty() {
        let mut body = String::new();
        let mut anchors = Vec::new();
        for ((path, text), trace) in
            [("/etc/sysconfig/rocks-pre", &boot_pre), ("/etc/sysconfig/rocks-post", &boot_post)].into_iter().zip(boot_trace)
        {
            if !text.is_empty() {
                let wrapped = boot_file(path, text);
                if let Some(first) = trace.first().cloned() {
                    let wrapper = AnchorKind::Generated { what: "boot file", attrs: Vec::new() };
                    anchors.push(Anchor { at: body.len(), kind: wrapper.clone(), ..first.clone() });
                    let start = body.len() + wrapped.find('\n').map_or(0, |i| i + 1);
                    anchors.extend(crate::kickstart::provenance::shifted(trace, start));
                    let end = body.len() + wrapped.trim_end_matches('\n').rfind('\n').map_or(0, |i| i + 1);
                    anchors.push(Anchor { at: end, kind: wrapper, ..first.clone() });
                }
                body.push_str(&wrapped);
            }
        }
        ks.post.push(Section { header: format!("%post --log={POST_LOG}"), body, node: "boot".to_string() });
        if let Some(p) = prov.as_mut() {
            p.post.push(Part { node: "boot".to_string(), item: None, anchors, header_attrs: Vec::new() });
        }
    }
    ks.packages = enabled.into_iter().chain(disabled.into_iter().map(|d| format!("-{d}"))).collect();
    let (diags, uses) = ex.finish();
    ks.provenance = prov;
    (ks, diags, uses)
}

/// A `<package>` element of a reached node, for `explain --package`.
fn package_use(name: &Text, meta: bool, disable: bool, taken: bool, node: &str, item: &crate::syntax::Item) -> PackageUse {
    let mut written = String::new();
    let mut attrs = Vec::new();
    for seg in name {
        match seg {
            Seg::Lit(s) => written.push_str(s),
            Seg::Entity { name, .. } => {
                written.push_str(&format!("&{name};"));
                attrs.push(name.clone());
            }
            _ => {}
        }
    }
    PackageUse {
        name: if meta { format!("@{written}") } else { written },
        node: node.to_string(),
        item: item.span,
        disable,
        taken,
        cond: (!item.cond.is_always()).then(|| item.cond.to_string()),
        attrs,
    }
}

/// The anchors of a command's text, moved to where the text sits in the command line.
fn align_command(p: &mut Part, text: &str, line: &str) {
    let core = text.trim();
    let (Some(in_line), Some(in_text)) = (line.find(core), text.find(core)) else { return };
    for a in &mut p.anchors {
        a.at = (a.at + in_line).saturating_sub(in_text);
    }
}

fn command_line(command: &str, text: &str) -> String {
    let line = match command {
        "lilo" | "bootloader" => format!("bootloader {text}"),
        "langsupport" => format!("langsupport --default={}", text.trim()),
        "sshpw" => format!("sshpw {}", text.trim()),
        "include" => format!("%include {}", text.trim()),
        _ => format!("{command} {text}"),
    };
    line.trim_end().to_string()
}

/// `%pre` / `%post` header of a script whose `interpreter=` and `arg=` are resolved.
pub(super) fn section_header(pre: bool, interpreter: Option<&str>, arg: Option<&str>) -> String {
    let mut h = if pre {
        format!("%pre --log={PRE_LOG}")
    } else {
        let nochroot = arg.is_some_and(|a| a.split_whitespace().any(|w| w == "--nochroot"));
        format!("%post --log={}", if nochroot { POST_LOG_NOCHROOT } else { POST_LOG })
    };
    if let Some(i) = interpreter {
        h.push_str(&format!(" --interpreter={}", i.trim()));
    }
    if let Some(a) = arg {
        h.push(' ');
        h.push_str(a.trim());
    }
    h
}

fn boot_file(path: &str, text: &str) -> String {
    let delim = shell::heredoc_delimiter(text);
    let mut s = format!("cat >> {path} << {delim}\n{text}");
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(&delim);
    s.push('\n');
    s
}

/// Compile the kickstart of `appliance` for a host with `attrs` (already merged, see
/// [`crate::resolver`]). `None` when an error diagnostic was produced.
pub fn compile(fw: &Framework, appliance: &str, attrs: &Attrs, opts: &KickstartOptions<'_>) -> (Option<Kickstart>, Vec<Diagnostic>) {
    let root = attrs.get("root").cloned().unwrap_or_else(|| fw.root_of(appliance));
    let (profile, mut diags) = crate::resolve::profile(fw, &root, attrs);
    let Some(profile) = profile else { return (None, diags) };
    let (ks, d) = build(fw, appliance, &profile, attrs, opts);
    diags.extend(d);
    if crate::diag::has_errors(&diags) {
        return (None, diags);
    }
    (Some(ks), diags)
}

/// `&name;` in text names an undefined attribute: it expands to nothing (as in Rocks).
pub fn undefined_entity(name: &str, span: Span) -> Diagnostic {
    Diagnostic::warning("entity::undefined", format!("attribute `{name}` is not defined; `&{name};` expands to nothing"))
        .label(span, "undefined attribute")
        .help(format!("define it, e.g. `--attr {name}=VALUE`, or in the cluster database"))
}

/// `&name;` in an XML attribute value names an undefined attribute: an error.
pub fn undefined_entity_in_attribute(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        "entity::undefined-in-attribute",
        format!("attribute `{name}` is not defined, and `&{name};` is used in an XML attribute value"),
    )
    .label(span, "used here")
    .help(format!("define `{name}`; unlike text, an attribute value cannot fall back to empty"))
}
