//! [`Profile`] + host attributes -> a Red Hat kickstart.
//!
//! [`build`] computes a typed [`Kickstart`] (every host-dependent value resolved), and
//! [`Kickstart::render`] turns it into text through the `kickstart.ks.j2` template.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::attrs::Attrs;
use crate::diag::Diagnostic;
use crate::emit::shell::{self, FileWrite, ShellStyle};
use crate::emit::template;
use crate::graph::Framework;
use crate::resolve::Profile;
use crate::span::{SourceId, Span};
use crate::syntax::{AttrText, FileEl, FileMode, ItemKind, Script, Seg, Text};
use crate::xml::Piece;

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
    pub fn render(&self) -> String {
        crate::render::render("kickstart.ks.j2", self).expect("the kickstart template renders every Kickstart")
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
    let (ks, diags, _) = build_with(fw, appliance, profile, attrs, opts, false);
    (ks, diags)
}

/// Entity names used by a symbolic build: where first, and whether inside an XML attribute.
pub type Uses = BTreeMap<String, (Span, bool)>;

/// Resolve a profile for every host that shares the attributes conditions read: entity
/// references stay symbolic (see [`crate::emit::template`]) and are substituted per host.
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
    let (ks, diags, uses) = build_with(fw, appliance, profile, attrs, opts, true);
    Some((ks, diags, uses?))
}

fn shareable(profile: &Profile<'_>, opts: &KickstartOptions<'_>) -> bool {
    fn text_ok(t: &Text, run_eval: bool) -> bool {
        t.iter().all(|s| match s {
            Seg::Var { .. } => false,
            Seg::Eval(e) => !run_eval && text_ok(&e.body, run_eval),
            Seg::File(f) => f.body.as_ref().is_none_or(|b| text_ok(b, run_eval)),
            _ => true,
        })
    }
    let run_eval = opts.eval.is_some();
    profile.nodes.iter().flat_map(|n| n.files.iter()).flat_map(|f| f.file.items.iter()).all(|i| match &i.kind {
        ItemKind::Package { name, .. } => text_ok(name, run_eval),
        ItemKind::Command { text, .. } => text_ok(text, run_eval),
        ItemKind::Pre(s) | ItemKind::Post(s) => text_ok(&s.body, run_eval),
        ItemKind::Boot { body, .. } | ItemKind::Debug { body } => text_ok(body, run_eval),
    })
}

fn build_with(
    fw: &Framework,
    appliance: &str,
    profile: &Profile<'_>,
    attrs: &Attrs,
    opts: &KickstartOptions<'_>,
    symbolic: bool,
) -> (Kickstart, Vec<Diagnostic>, Option<Uses>) {
    let mut ex = Expander {
        fw,
        attrs,
        vars: BTreeMap::new(),
        opts,
        diags: Vec::new(),
        warned: BTreeSet::new(),
        rcs_seen: BTreeMap::new(),
        symbolic,
        uses: BTreeMap::new(),
        unshareable: false,
    };
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
    };
    let mut enabled: BTreeSet<String> = BTreeSet::new();
    let mut disabled: BTreeSet<String> = BTreeSet::new();
    let mut boot_pre = String::new();
    let mut boot_post = String::new();
    for node in &profile.nodes {
        for pf in node.files {
            let file = fw.short_path(pf.source);
            ks.order.push(OrderLine { node: node.name.clone(), file: file.clone(), roll: fw.roll_of(pf).to_string() });
            let marker_file = format!("./{file}");
            for item in &pf.file.items {
                let accepted = item.cond.eval(&lookup);
                if let (ItemKind::Post(s), true) = (&item.kind, opts.post_log) {
                    // Rocks marks every `<post>` of a node, taken or not, in the install log.
                    if !s.configure {
                        let begin = ex.marker(&marker_file, "begin", item.span);
                        ks.post.push(Section { header: format!("%post --log={POST_LOG}"), body: begin, node: node.name.clone() });
                        if accepted {
                            let body = ex.script_body(&s.body);
                            ks.post.push(Section { header: ex.header(false, s), body, node: node.name.clone() });
                        }
                        let end = ex.marker(&marker_file, "end", item.span);
                        ks.post.push(Section { header: format!("%post --log={POST_LOG}"), body: end, node: node.name.clone() });
                        continue;
                    }
                }
                if !accepted {
                    continue;
                }
                match &item.kind {
                    ItemKind::Package { name, meta, disable } => {
                        // Sorting and de-duplication need the real name.
                        ex.shape_depends_on(name);
                        let n = ex.plain(name);
                        let n = if *meta { format!("@{n}") } else { n };
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
                        let line = command_line(command, &ex.plain(text));
                        ks.commands.push(ex.trimmed(line));
                    }
                    ItemKind::Pre(s) => {
                        let body = ex.script_body(&s.body);
                        ks.pre.push(Section { header: ex.header(true, s), body, node: node.name.clone() });
                    }
                    ItemKind::Post(s) => {
                        let body = ex.script_body(&s.body);
                        ks.post.push(Section { header: ex.header(false, s), body, node: node.name.clone() });
                    }
                    ItemKind::Boot { post, body } => {
                        let b = ex.script_body(body);
                        if *post { boot_post.push_str(&b) } else { boot_pre.push_str(&b) }
                    }
                    ItemKind::Debug { body } => {
                        ex.shape_depends_on(body);
                        ks.debug.extend(ex.plain(body).lines().map(|l| l.trim_end().to_string()));
                    }
                }
            }
        }
    }
    if !boot_pre.is_empty() || !boot_post.is_empty() {
        let mut body = String::new();
        if !boot_pre.is_empty() {
            body.push_str(&boot_file("/etc/sysconfig/rocks-pre", &boot_pre));
        }
        if !boot_post.is_empty() {
            body.push_str(&boot_file("/etc/sysconfig/rocks-post", &boot_post));
        }
        ks.post.push(Section { header: format!("%post --log={POST_LOG}"), body, node: "boot".to_string() });
    }
    ks.packages = enabled.into_iter().chain(disabled.into_iter().map(|d| format!("-{d}"))).collect();
    let uses = if ex.unshareable { None } else { Some(ex.uses) };
    (ks, ex.diags, uses)
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
fn section_header(pre: bool, interpreter: Option<&str>, arg: Option<&str>) -> String {
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

/// Resolves [`Text`] for one host: entities, `<var>`, `<include>`, `<eval>`, `<file>`.
struct Expander<'a, 'o> {
    fw: &'a Framework,
    attrs: &'a Attrs,
    /// Rocks 5.0 `<var name= val=>` assignments.
    vars: BTreeMap<String, String>,
    opts: &'a KickstartOptions<'o>,
    diags: Vec<Diagnostic>,
    /// Undefined entity names already warned about.
    warned: BTreeSet<String>,
    /// RCS-tracked paths: the owner and perms Rocks remembers for them.
    rcs_seen: BTreeMap<String, (Option<String>, Option<String>)>,
    /// Leave entity references symbolic (for [`build_symbolic`]).
    symbolic: bool,
    /// Symbolic mode: every entity name used.
    uses: Uses,
    /// Symbolic mode: a host's values could change more than the substituted text (a
    /// package name to sort, a path to split, ...), so hosts must be compiled one by one.
    unshareable: bool,
}

impl Expander<'_, '_> {
    /// Symbolic mode: the text's real value decides more than its own bytes (sorting,
    /// splitting, trimming at both ends): hosts cannot share this expansion.
    fn shape_depends_on(&mut self, text: &Text) {
        if self.symbolic && text.iter().any(|s| !matches!(s, Seg::Lit(_))) {
            self.unshareable = true;
        }
    }

    /// A command line, right-trimmed (after substitution, in symbolic mode).
    fn trimmed(&self, line: String) -> String {
        if self.symbolic { format!("{}{line}{}", template::FLOOR, template::TRIM) } else { line.trim_end().to_string() }
    }

    /// The resolved `%pre`/`%post` header of a script.
    fn header(&mut self, pre: bool, s: &Script) -> String {
        for a in [&s.interpreter, &s.arg].into_iter().flatten() {
            if self.symbolic && a.pieces.iter().any(|p| matches!(p, Piece::Entity(_))) {
                self.unshareable = true;
            }
        }
        let interpreter = s.interpreter.as_ref().and_then(|a| self.attr_text(a));
        let arg = s.arg.as_ref().and_then(|a| self.attr_text(a));
        section_header(pre, interpreter.as_deref(), arg.as_deref())
    }

    /// Text without `<file>` expansion (package names, commands, debug lines).
    fn plain(&mut self, text: &Text) -> String {
        let mut s = String::new();
        self.expand(text, false, &mut s);
        s
    }

    /// A script body: trailing white space dropped, one final newline (as Rocks printed it).
    fn script_body(&mut self, text: &Text) -> String {
        let mut s = String::new();
        self.expand(text, true, &mut s);
        self.finish_body(s)
    }

    fn finish_body(&self, s: String) -> String {
        if self.symbolic { format!("{}{s}{}\n", template::FLOOR, template::TRIM) } else { finish_body(s) }
    }

    /// Rocks' marker section body: `./nodes/F.xml: begin post section` appended to
    /// `/var/log/rocks-install.log` through a `<file>`, so RCS and copies apply as usual.
    fn marker(&mut self, file: &str, what: &str, span: Span) -> String {
        let f = FileEl {
            name: AttrText { pieces: vec![Piece::Text("/var/log/rocks-install.log".into())], span },
            mode: FileMode::Append,
            perms: None,
            owner: None,
            expr: None,
            src: None,
            expanded: false,
            rcs: true,
            cond: crate::cond::Cond::always(),
            body: Some(vec![Seg::Lit(format!("\n{file}: {what} post section\n"))]),
            span,
        };
        let mut s = String::from("\n");
        self.file(&f, &mut s);
        s.push('\n');
        self.finish_body(s)
    }

    fn entity(&mut self, name: &str, span: Span) -> String {
        if self.symbolic {
            self.uses.entry(name.to_string()).or_insert((span, false));
            return crate::emit::template::text_ref(name);
        }
        match self.vars.get(name).or_else(|| self.attrs.get(name)) {
            Some(v) => v.clone(),
            None => {
                if self.warned.insert(name.to_string()) {
                    self.diags.push(super::undefined_entity(name, span));
                }
                String::new()
            }
        }
    }

    fn expand(&mut self, text: &Text, scripts: bool, out: &mut String) {
        for seg in text {
            match seg {
                Seg::Lit(s) => {
                    if self.symbolic && s.contains(template::is_marker) {
                        self.unshareable = true;
                    }
                    out.push_str(s)
                }
                Seg::Entity { name, span } => {
                    let v = self.entity(name, *span);
                    out.push_str(&v);
                }
                Seg::Var { name, val, reference, .. } => {
                    if let Some(v) = val {
                        if let Some(v) = self.attr_text(v) {
                            self.vars.insert(name.clone(), v);
                        }
                    } else if let Some(r) = reference {
                        let v = self.vars.get(r).or_else(|| self.attrs.get(r)).cloned().unwrap_or_default();
                        self.vars.insert(name.clone(), v);
                    } else {
                        let v = self.vars.get(name).or_else(|| self.attrs.get(name)).cloned().unwrap_or_default();
                        out.push_str(&v);
                    }
                }
                Seg::Include { file, xml, optional, span } => match self.fw.includes.get(file) {
                    Some(t) => {
                        if *xml {
                            let segs = self.fragment(t, *span);
                            self.expand(&segs, scripts, out);
                        } else {
                            out.push_str(t);
                        }
                    }
                    None if *optional => {}
                    None => self.diags.push(
                        Diagnostic::error("include::missing", format!("included file `{file}` does not exist"))
                            .label(*span, "no such file in any framework's `include/` folder")
                            .help(format!("add `include/{file}` to a framework directory, or use `<sinclude>` to make it optional")),
                    ),
                },
                Seg::Eval(ev) if self.opts.eval_as_text && self.opts.eval.is_none() => self.expand(&ev.body, scripts, out),
                Seg::Eval(ev) => {
                    let Some(runner) = self.opts.eval else {
                        self.diags.push(
                            Diagnostic::warning("eval::disabled", "`<eval>` is left out; it runs only with `--allow-eval`")
                                .label(ev.span, "not run")
                                .help("pass `--allow-eval` to run it on this machine with the attributes as environment variables"),
                        );
                        continue;
                    };
                    let script = self.plain(&ev.body);
                    let env = self.env();
                    match runner.run(&ev.shell, &script, &env) {
                        Ok(output) => {
                            if ev.xml {
                                let segs = self.fragment(&output, ev.span);
                                self.expand(&segs, scripts, out);
                            } else {
                                out.push_str(&output);
                            }
                        }
                        Err(e) => self.diags.push(
                            Diagnostic::error("eval::failed", format!("`<eval>` failed: {e}"))
                                .label(ev.span, "this eval")
                                .help(format!("run the body with `{}` by hand to see why", ev.shell)),
                        ),
                    }
                }
                Seg::File(f) => {
                    if scripts {
                        self.file(f, out);
                    }
                }
            }
        }
    }

    fn env(&self) -> Attrs {
        let mut env = self.attrs.clone();
        env.extend(self.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    /// Markup produced by `<eval mode="xml">` or `<include mode="xml">`, as node content.
    fn fragment(&mut self, text: &str, at: Span) -> Text {
        let wrapped = format!("<fragment>{text}</fragment>");
        let (root, d) = crate::xml::parse(SourceId(u32::MAX), &wrapped);
        let mut diags = d;
        let segs = root.map(|r| crate::syntax::body(&r, true, &mut diags)).unwrap_or_default();
        for d in diags.into_iter().filter(|d| d.is_error()) {
            self.diags.push(
                Diagnostic::error(
                    "eval::bad-xml",
                    format!("generated markup is not valid: {}", d.message.replace("`</fragment>`", "the end of the output")),
                )
                .label(at, "this produced it")
                .help("`mode=\"xml\"` output must be node-file content such as `<file name=...>...</file>`"),
            );
        }
        // Spans inside the fragment point nowhere: re-anchor them at the producing element.
        reanchor(segs, at)
    }

    fn attr_text(&mut self, a: &AttrText) -> Option<String> {
        let mut s = String::new();
        for p in &a.pieces {
            match p {
                Piece::Text(t) => s.push_str(t),
                Piece::Entity(n) if self.symbolic => {
                    let e = self.uses.entry(n.clone()).or_insert((a.span, true));
                    if !e.1 {
                        *e = (a.span, true);
                    }
                    s.push_str(&crate::emit::template::attr_ref(n));
                }
                Piece::Entity(n) => match self.vars.get(n).or_else(|| self.attrs.get(n)) {
                    Some(v) => s.push_str(v),
                    None => {
                        self.diags.push(super::undefined_entity_in_attribute(n, a.span));
                        return None;
                    }
                },
            }
        }
        Some(s)
    }

    fn file(&mut self, f: &FileEl, out: &mut String) {
        let lookup = |n: &str| self.attrs.get(n).map(String::as_str);
        if !f.cond.eval(&lookup) {
            return;
        }
        let Some(name) = self.attr_text(&f.name) else { return };
        let perms = f.perms.as_ref().and_then(|p| self.attr_text(p));
        let owner = f.owner.as_ref().and_then(|p| self.attr_text(p));
        let expr = f.expr.as_ref().and_then(|p| self.attr_text(p));
        let src = f.src.as_ref().and_then(|p| self.attr_text(p));
        let text = f.body.as_ref().map(|b| self.plain(b));
        if self.symbolic {
            // The real name is split into directory and file (RCS) and the real text decides
            // `touch` versus heredoc, pipe trimming, and the newlines added at either end.
            let name_is_symbolic = f.name.pieces.iter().any(|p| matches!(p, Piece::Entity(_)));
            let text_edges_symbolic = text.as_deref().is_some_and(|t| {
                t.contains(template::is_marker)
                    && (t.starts_with(template::is_marker) || t.ends_with(template::is_marker) || template::literal_part(t).is_empty())
            });
            if (name_is_symbolic && self.opts.rcs)
                || text_edges_symbolic
                || (f.mode == FileMode::Pipe && text.as_deref().is_some_and(|t| t.contains(template::is_marker)))
            {
                self.unshareable = true;
            }
        }
        if self.opts.rcs && f.rcs {
            let (first, known) = match self.rcs_seen.get(&name) {
                Some((o, p)) => (false, (owner.clone().or(o.clone()), perms.clone().or(p.clone()))),
                None => (true, (owner.clone(), perms.clone())),
            };
            shell::rcs_begin(&name, known.0.as_deref(), first, out);
            self.rcs_seen.insert(name.clone(), known);
        }
        let w = FileWrite {
            name: &name,
            append: f.mode == FileMode::Append,
            pipe: f.mode == FileMode::Pipe,
            perms: perms.as_deref(),
            owner: owner.as_deref(),
            expr: expr.as_deref(),
            src: src.as_deref(),
            expanded: f.expanded,
            text: text.as_deref(),
        };
        let style = ShellStyle { var_rocks_copy: self.opts.var_rocks_copy, rcs: self.opts.rcs && f.rcs, mark_heredoc: self.symbolic };
        shell::file_shell(&w, style, out);
    }
}

/// Drop trailing white space and end with exactly one newline.
fn finish_body(mut s: String) -> String {
    let keep = s.trim_end_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']).len();
    s.truncate(keep);
    s.push('\n');
    s
}

fn reanchor(segs: Text, at: Span) -> Text {
    segs.into_iter()
        .map(|s| match s {
            Seg::Entity { name, .. } => Seg::Entity { name, span: at },
            Seg::Var { name, val, reference, .. } => {
                Seg::Var { name, val: val.map(|v| AttrText { pieces: v.pieces, span: at }), reference, span: at }
            }
            Seg::Include { file, xml, optional, .. } => Seg::Include { file, xml, optional, span: at },
            Seg::Eval(mut e) => {
                e.span = at;
                e.body = reanchor(e.body, at);
                Seg::Eval(e)
            }
            Seg::File(mut f) => {
                f.span = at;
                f.name.span = at;
                f.body = f.body.map(|b| reanchor(b, at));
                Seg::File(f)
            }
            other => other,
        })
        .collect()
}
