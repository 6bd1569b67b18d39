//! Host-dependent text of a node file -> kickstart text: entities, `<var>`, `<include>`,
//! `<eval>` and `<file>`, resolved for one host or left symbolic for many.

use std::collections::{BTreeMap, BTreeSet};

use crate::attrs::Attrs;
use crate::diag::Diagnostic;
use crate::graph::Framework;
use crate::kickstart::{KickstartOptions, Uses, section_header};
use crate::kickstart::provenance::{Anchor, AnchorKind, Part, shifted};
use crate::kickstart::shell::{self, FileWrite, ShellStyle};
use crate::kickstart::template;
use crate::span::{SourceId, Span};
use crate::syntax::{AttrText, FileEl, FileMode, Script, Seg, Text};
use crate::xml::Piece;

/// Resolves [`Text`] for one host: entities, `<var>`, `<include>`, `<eval>`, `<file>`.
pub(super) struct Expander<'a, 'o> {
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
    /// Leave entity references symbolic (for [`build_symbolic`](crate::kickstart::build_symbolic)).
    symbolic: bool,
    /// Symbolic mode: every entity name used.
    uses: Uses,
    /// Symbolic mode: a host's values could change more than the substituted text (a
    /// package name to sort, a path to split, ...), so hosts must be compiled one by one.
    unshareable: bool,
    /// Only when explaining: where each stretch of expanded text came from.
    trace: Option<Box<Tracer>>,
    /// What is being expanded when the kickstart needs it on one line (`the `timezone`
    /// command`): an attribute value with a line break is then an error.
    one_line: Option<String>,
    /// `<include mode="xml">` / `<eval mode="xml">` fragments being expanded, innermost last.
    fragments: usize,
}

/// Anchors of the text expanded since the last [`Expander::piece`], and the source line the
/// next literal text starts on.
#[derive(Default)]
struct Tracer {
    anchors: Vec<Anchor>,
    source: Option<SourceId>,
    line: u32,
    /// Where in the source the next literal text starts, while that is known.
    pos: Option<usize>,
    /// Attributes read from XML attribute values since the last take.
    attr_names: Vec<String>,
}

/// Deepest nesting of markup fragments (an include that includes itself would never end).
const MAX_FRAGMENTS: usize = 16;

impl<'a, 'o> Expander<'a, 'o> {
    pub(super) fn new(fw: &'a Framework, attrs: &'a Attrs, opts: &'a KickstartOptions<'o>, symbolic: bool) -> Self {
        Expander {
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
            one_line: None,
            fragments: 0,
            trace: None,
        }
    }

    /// Record where every piece of expanded text comes from (see [`Expander::piece`]).
    pub(super) fn traced(mut self) -> Self {
        self.trace = Some(Box::default());
        self
    }

    /// The text expanded next belongs to the element whose start tag is `span`.
    pub(super) fn at_item(&mut self, span: Span) {
        if self.trace.is_some() {
            self.trace_at(span.source, span.end as usize);
        }
    }

    /// Only when tracing: the anchors of what was expanded since the last call.
    pub(super) fn piece(&mut self, node: &str, item: Span) -> Option<Part> {
        let t = self.trace.as_mut()?;
        Some(Part {
            node: node.to_string(),
            item: Some(item),
            anchors: std::mem::take(&mut t.anchors),
            header_attrs: std::mem::take(&mut t.attr_names),
        })
    }

    /// Only when tracing: the attribute names read from XML attribute values since the last
    /// [`Expander::piece`], and forget the anchors.
    pub(super) fn take_attr_names(&mut self) -> Vec<String> {
        self.trace
            .as_mut()
            .map(|t| {
                t.anchors.clear();
                std::mem::take(&mut t.attr_names)
            })
            .unwrap_or_default()
    }

    fn trace_at(&mut self, source: SourceId, offset: usize) {
        let line = self.line_of(source, offset);
        if let Some(t) = self.trace.as_mut() {
            t.source = Some(source);
            t.line = line;
            t.pos = Some(offset);
        }
    }

    /// Anchors for literal text `s` written at `at`: each of its lines on the source line it
    /// came from (comments and escapes followed through the source while they match).
    fn trace_lit(&mut self, s: &str, at: usize) {
        let Some(t) = self.trace.as_mut() else { return };
        let followed = match (t.source, t.pos) {
            (Some(src), Some(pos)) => {
                crate::kickstart::provenance::follow(self.fw.sources.get(src).text(), pos, s).map(|f| (src, f))
            }
            _ => None,
        };
        match followed {
            Some((source, (starts, end, lines))) => {
                for (off, l) in starts {
                    t.anchors.push(Anchor { at: at + off, source, line: t.line + l, kind: AnchorKind::Text });
                }
                t.line += lines;
                t.pos = Some(end);
            }
            None => {
                if let Some(source) = t.source {
                    t.anchors.push(Anchor { at, source, line: t.line, kind: AnchorKind::Text });
                }
                t.line += s.matches('\n').count() as u32;
                t.pos = None;
            }
        }
    }

    fn line_of(&self, source: SourceId, offset: usize) -> u32 {
        self.fw.sources.line_col(source, offset).0 as u32
    }

    /// Record an anchor at `at`: the current line (for literal text) or the start of `span`.
    fn anchor(&mut self, at: usize, kind: AnchorKind, span: Option<Span>) {
        if self.trace.is_none() {
            return;
        }
        let line = span.map(|s| self.line_of(s.source, s.start as usize));
        if let Some(t) = self.trace.as_mut()
            && let Some(source) = span.map(|s| s.source).or(t.source)
        {
            let line = line.unwrap_or(t.line);
            t.anchors.push(Anchor { at, source, line, kind });
        }
    }

    fn trace_len(&self) -> Option<usize> {
        self.trace.as_ref().map(|t| t.anchors.len())
    }

    /// The anchors recorded since `mark` (a [`Expander::trace_len`]), removed.
    fn trace_split(&mut self, mark: Option<usize>) -> Vec<Anchor> {
        match (self.trace.as_mut(), mark) {
            (Some(t), Some(m)) => t.anchors.split_off(m.min(t.anchors.len())),
            _ => Vec::new(),
        }
    }

    fn trace_extend(&mut self, anchors: impl IntoIterator<Item = Anchor>) {
        if let Some(t) = self.trace.as_mut() {
            t.anchors.extend(anchors);
        }
    }

    /// The diagnostics, and in symbolic mode the entity names used (`None` when hosts cannot
    /// share this expansion).
    pub(super) fn finish(self) -> (Vec<Diagnostic>, Option<Uses>) {
        let uses = if self.unshareable { None } else { Some(self.uses) };
        (self.diags, uses)
    }

    /// Symbolic mode: the text's real value decides more than its own bytes (sorting,
    /// splitting, trimming at both ends): hosts cannot share this expansion.
    pub(super) fn shape_depends_on(&mut self, text: &Text) {
        if self.symbolic && text.iter().any(|s| !matches!(s, Seg::Lit(_))) {
            self.unshareable = true;
        }
    }

    /// A command line, right-trimmed (after substitution, in symbolic mode).
    pub(super) fn trimmed(&self, line: String) -> String {
        if self.symbolic { format!("{}{line}{}", template::FLOOR, template::TRIM) } else { line.trim_end().to_string() }
    }

    /// The resolved `%pre`/`%post` header of a script.
    pub(super) fn header(&mut self, pre: bool, s: &Script) -> String {
        for a in [&s.interpreter, &s.arg].into_iter().flatten() {
            if self.symbolic && a.pieces.iter().any(|p| matches!(p, Piece::Entity(_))) {
                self.unshareable = true;
            }
        }
        let interpreter = s.interpreter.as_ref().and_then(|a| self.attr_text(a, Some("`interpreter=`")));
        let arg = s.arg.as_ref().and_then(|a| self.attr_text(a, Some("`arg=`")));
        section_header(pre, interpreter.as_deref(), arg.as_deref())
    }

    /// Text without `<file>` expansion (debug lines, file contents, `<eval>` bodies).
    pub(super) fn plain(&mut self, text: &Text) -> String {
        let outer = self.one_line.take();
        let mut s = String::new();
        self.expand(text, false, &mut s);
        self.one_line = outer;
        s
    }

    /// Text the kickstart needs on one line (a package name, a command): `what` names it in
    /// the error an attribute value with a line break gets.
    pub(super) fn one_line(&mut self, text: &Text, what: String) -> String {
        let outer = self.one_line.replace(what);
        let mut s = String::new();
        self.expand(text, false, &mut s);
        self.one_line = outer;
        s
    }

    /// `value` of attribute `name` (used at `span`) would break a one-line context `what`.
    fn line_break(&mut self, name: &str, value: &str, span: Span, what: &str) -> bool {
        if !value.contains(['\n', '\r']) {
            return false;
        }
        let origin = match self.opts.origins.and_then(|o| o.get(name)) {
            Some(o) => o.clone(),
            None if self.vars.contains_key(name) => "a `<var>`".to_string(),
            None if !crate::resolver::builtin::is_builtin(name) && self.fw.defaults.contains_key(name) => {
                format!("the framework's `graphs/{}/attributes.toml`", self.fw.graph)
            }
            None => crate::resolver::builtin::origin_of(None, name),
        };
        self.diags.push(
            Diagnostic::error("entity::line-break", format!("attribute `{name}` (from {origin}) holds a line break, but {what} must be one line"))
                .label(span, "substituted here")
                .help(format!(
                    "a line break here would start a new kickstart line (a whole `%post` section could be injected); give `{name}` a one-line value, or use it in a script body, where line breaks are fine"
                )),
        );
        true
    }

    /// A script body: trailing white space dropped, one final newline (as Rocks printed it).
    pub(super) fn script_body(&mut self, text: &Text) -> String {
        let mut s = String::new();
        self.expand(text, true, &mut s);
        self.finish_body(s)
    }

    fn finish_body(&self, s: String) -> String {
        if self.symbolic { format!("{}{s}{}\n", template::FLOOR, template::TRIM) } else { finish_body(s) }
    }

    /// Rocks' marker section body: `./nodes/F.xml: begin post section` appended to
    /// `/var/log/rocks-install.log` through a `<file>`, so RCS and copies apply as usual.
    pub(super) fn marker(&mut self, file: &str, what: &str, span: Span) -> String {
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
        self.anchor(0, AnchorKind::Generated { what: "post-log marker", attrs: Vec::new() }, Some(span));
        let mark = self.trace_len();
        self.file(&f, &mut s);
        // The marker is rocks-compile's own: one origin for all of it.
        self.trace_split(mark);
        s.push('\n');
        self.finish_body(s)
    }

    fn entity(&mut self, name: &str, span: Span, at: usize) -> String {
        if self.trace.is_some() {
            self.anchor(at, AnchorKind::Attr(name.to_string()), Some(span));
            self.trace_at(span.source, span.end as usize);
        }
        if self.symbolic {
            self.uses.entry(name.to_string()).or_insert((span, false));
            return crate::kickstart::template::text_ref(name);
        }
        match self.vars.get(name).or_else(|| self.attrs.get(name)) {
            Some(v) => {
                let v = v.clone();
                match self.one_line.clone() {
                    Some(what) if self.line_break(name, &v, span, &what) => String::new(),
                    _ => v,
                }
            }
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
                    self.trace_lit(s, out.len());
                    out.push_str(s)
                }
                Seg::Entity { name, span } => {
                    let v = self.entity(name, *span, out.len());
                    out.push_str(&v);
                }
                Seg::Var { name, val, reference, span } => {
                    if self.trace.is_some() {
                        if val.is_none() && reference.is_none() {
                            self.anchor(out.len(), AnchorKind::Attr(name.clone()), Some(*span));
                        }
                        self.trace_at(span.source, span.end as usize);
                    }
                    if let Some(v) = val {
                        if let Some(v) = self.attr_text(v, None) {
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
                    Some(&id) => {
                        self.anchor(out.len(), AnchorKind::Generated { what: "included file", attrs: Vec::new() }, Some(*span));
                        if *xml {
                            let segs = self.fragment(id, *span);
                            self.fragments += 1;
                            self.expand_generated(&segs, scripts, out, *span);
                            self.fragments -= 1;
                        } else {
                            out.push_str(self.fw.sources.get(id).text());
                        }
                        self.trace_at(span.source, span.end as usize);
                    }
                    None if *optional => {}
                    None => self.diags.push(
                        Diagnostic::error("include::missing", format!("included file `{file}` does not exist"))
                            .label(*span, "no such file in any framework's `include/` folder")
                            .help(format!("add `include/{file}` to a framework directory, or use `<sinclude>` to make it optional")),
                    ),
                },
                Seg::Eval(ev) if self.opts.eval_as_text && self.opts.eval.is_none() => {
                    if self.trace.is_some() {
                        self.trace_at(ev.span.source, ev.span.end as usize);
                    }
                    self.expand(&ev.body, scripts, out)
                }
                Seg::Eval(ev) => {
                    let Some(runner) = self.opts.eval else {
                        self.diags.push(
                            Diagnostic::warning("eval::disabled", "`<eval>` is left out; it runs only with `--allow-eval`")
                                .label(ev.span, "not run")
                                .help("pass `--allow-eval` to run it on this machine with the attributes as environment variables"),
                        );
                        continue;
                    };
                    let mark = self.trace_len();
                    let script = self.plain(&ev.body);
                    self.trace_split(mark);
                    let env = self.env();
                    self.anchor(out.len(), AnchorKind::Generated { what: "eval output", attrs: Vec::new() }, Some(ev.span));
                    match runner.run(&ev.shell, &script, &env) {
                        Ok(output) => {
                            if ev.xml {
                                let loc = self.fw.sources.location(ev.span);
                                let name = format!("<eval at {}:{}>", self.fw.short_path(ev.span.source), loc.line);
                                let id = self.fw.sources.add_generated(name, output);
                                let segs = self.fragment(id, ev.span);
                                self.fragments += 1;
                                self.expand_generated(&segs, scripts, out, ev.span);
                                self.fragments -= 1;
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

    /// Expand generated markup: its text has no lines of its own in any file, so only the
    /// attributes it substitutes are traced (the producing element stands for the rest).
    fn expand_generated(&mut self, segs: &Text, scripts: bool, out: &mut String, at: Span) {
        let mark = self.trace_len();
        self.expand(segs, scripts, out);
        let inner = self.trace_split(mark);
        self.trace_extend(inner.into_iter().map(|a| match a.kind {
            AnchorKind::Text => Anchor { kind: AnchorKind::Generated { what: "generated markup", attrs: Vec::new() }, ..a },
            _ => a,
        }));
        self.trace_at(at.source, at.end as usize);
    }

    fn env(&self) -> Attrs {
        let mut env = self.attrs.clone();
        env.extend(self.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    /// Markup produced by `<eval mode="xml">` or read by `<include mode="xml">`, as node
    /// content. The text is a source of its own, so spans into it render.
    fn fragment(&mut self, id: SourceId, at: Span) -> Text {
        if self.fragments == MAX_FRAGMENTS {
            self.diags.push(
                Diagnostic::error("expand::too-deep", format!("markup from `mode=\"xml\"` nests deeper than {MAX_FRAGMENTS} levels"))
                    .label(at, "this is one level too many")
                    .help("an `<include mode=\"xml\">` (or `<eval mode=\"xml\">`) that brings itself back never ends; break the cycle"),
            );
            return Vec::new();
        }
        let (root, d) = crate::xml::parse_fragment(id, self.fw.sources.get(id).text());
        let mut diags = d;
        let segs = root.map(|r| crate::syntax::body(&r, true, &mut diags)).unwrap_or_default();
        for d in diags.into_iter().filter(|d| d.is_error()) {
            let mut bad = Diagnostic::error(
                "eval::bad-xml",
                format!("generated markup is not valid: {}", d.message.replace("`</fragment>`", "the end of the output")),
            )
            .label(at, "this produced it")
            .help("`mode=\"xml\"` output must be node-file content such as `<file name=...>...</file>`");
            bad.labels.extend(d.labels);
            self.diags.push(bad);
        }
        segs
    }

    /// An XML attribute value for this host. `what` names it when it must be one line
    /// (everything but `<var val=>`).
    fn attr_text(&mut self, a: &AttrText, what: Option<&str>) -> Option<String> {
        if let Some(t) = self.trace.as_mut() {
            for p in &a.pieces {
                if let Piece::Entity(n) = p
                    && !t.attr_names.contains(n)
                {
                    t.attr_names.push(n.clone());
                }
            }
        }
        let mut s = String::new();
        for p in &a.pieces {
            match p {
                Piece::Text(t) => s.push_str(t),
                Piece::Entity(n) if self.symbolic => {
                    let e = self.uses.entry(n.clone()).or_insert((a.span, true));
                    if !e.1 {
                        *e = (a.span, true);
                    }
                    s.push_str(&crate::kickstart::template::attr_ref(n));
                }
                Piece::Entity(n) => match self.vars.get(n).or_else(|| self.attrs.get(n)).cloned() {
                    Some(v) => {
                        if let Some(what) = what
                            && self.line_break(n, &v, a.span, what)
                        {
                            return None;
                        }
                        s.push_str(&v);
                    }
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
        // The file's own attributes, apart from those of the text around it.
        let outer_names = self.trace.as_mut().map(|t| std::mem::take(&mut t.attr_names));
        let Some(name) = self.attr_text(&f.name, Some("`<file name=>`")) else { return };
        let perms = f.perms.as_ref().and_then(|p| self.attr_text(p, Some("`<file perms=>`")));
        let owner = f.owner.as_ref().and_then(|p| self.attr_text(p, Some("`<file owner=>`")));
        let expr = f.expr.as_ref().and_then(|p| self.attr_text(p, Some("`<file expr=>`")));
        let src = f.src.as_ref().and_then(|p| self.attr_text(p, Some("`<file src=>`")));
        let file_names = match (self.trace.as_mut(), outer_names) {
            (Some(t), Some(outer)) => std::mem::replace(&mut t.attr_names, outer),
            _ => Vec::new(),
        };
        let mark = self.trace_len();
        if self.trace.is_some() {
            self.trace_at(f.span.source, f.span.end as usize);
        }
        let text = f.body.as_ref().map(|b| self.plain(b));
        let inner = self.trace_split(mark);
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
        self.anchor(out.len(), AnchorKind::Generated { what: "file", attrs: file_names.clone() }, Some(f.span));
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
        let copied = shell::file_shell(&w, style, out);
        if self.trace.is_some() {
            match (copied, text.as_deref()) {
                (Some(at), Some(t)) => {
                    self.trace_extend(shifted(inner, at));
                    // The heredoc's end and what follows it are the `<file>`'s again.
                    let after = at + t.len() + usize::from(!t.ends_with('\n'));
                    self.anchor(after, AnchorKind::Generated { what: "file", attrs: file_names }, Some(f.span));
                }
                _ => {
                    // Text used inline (`mode="pipe"`): its attributes are on the `<file>`'s lines.
                    let mut names = file_names;
                    names.extend(inner.into_iter().filter_map(|a| match a.kind {
                        AnchorKind::Attr(n) => Some(n),
                        _ => None,
                    }));
                    if let Some(AnchorKind::Generated { attrs, .. }) =
                        self.trace.as_mut().and_then(|t| t.anchors.last_mut()).map(|a| &mut a.kind)
                    {
                        *attrs = names;
                    }
                }
            }
        }
    }
}

/// Drop trailing white space and end with exactly one newline.
fn finish_body(mut s: String) -> String {
    let keep = s.trim_end_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']).len();
    s.truncate(keep);
    s.push('\n');
    s
}
