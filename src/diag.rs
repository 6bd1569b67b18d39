//! Diagnostics: one type for every problem found in user input, rendered rustc-style by miette.
//!
//! Stages never stop at the first problem: they return their value plus a list of
//! [`Diagnostic`]s, so one run reports every broken file.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceCode, SourceSpan};
use serde::Serialize;

use crate::span::{Sources, Span};

/// How bad a diagnostic is. Errors make the run fail (exit 1); warnings are reported only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// A span with a short message shown under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem in the input: a stable code, a lowercase message, labelled spans, and help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { code, severity: Severity::Error, message: message.into(), labels: Vec::new(), help: None, notes: Vec::new() }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    pub fn label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into() });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Render like rustc: message, `file:line:col`, source excerpt, labels, help.
    pub fn render(&self, sources: &Sources, color: bool) -> String {
        let report = Rendered::new(self, sources);
        let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false).with_urls(false).tab_width(4);
        let mut out = String::new();
        // Rendering into a String cannot fail for lack of space; a formatter error would
        // mean a bug in miette, and the message alone is still useful then.
        if handler.render_report(&mut out, &report).is_err() {
            out = format!("{}[{}]: {}\n", self.severity_word(), self.code, self.message);
        }
        out
    }

    /// A plain one-line form: `file:line:col: error[code]: message`.
    pub fn short(&self, sources: &Sources) -> String {
        match self.labels.first() {
            Some(l) => format!("{}: {}[{}]: {}", sources.location(l.span), self.severity_word(), self.code, self.message),
            None => format!("{}[{}]: {}", self.severity_word(), self.code, self.message),
        }
    }

    pub fn to_json(&self, sources: &Sources) -> JsonDiagnostic {
        JsonDiagnostic {
            code: self.code,
            severity: self.severity,
            message: self.message.clone(),
            labels: self
                .labels
                .iter()
                .map(|l| {
                    let loc = sources.location(l.span);
                    JsonLabel {
                        file: loc.file.to_string(),
                        line: loc.line,
                        column: loc.column,
                        start: l.span.start as usize,
                        end: l.span.end as usize,
                        message: l.message.clone(),
                    }
                })
                .collect(),
            help: self.help.clone(),
            notes: self.notes.clone(),
        }
    }

    fn severity_word(&self) -> &'static str {
        match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// The `--json` form of a diagnostic.
#[derive(Debug, Clone, Serialize)]
pub struct JsonDiagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<JsonLabel>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JsonLabel {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub start: usize,
    pub end: usize,
    pub message: String,
}

/// Does any diagnostic in the list make the run fail?
/// The candidate closest to a misspelt `name` (at most one edit for short names, two for
/// longer ones), for a "did you mean" help.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let max = if name.len() < 5 { 1 } else { 2 };
    candidates
        .into_iter()
        .filter(|c| *c != name && c.len().min(name.len()) >= 2)
        .map(|c| (strsim::levenshtein(c, name), c))
        .filter(|(d, _)| *d <= max)
        .min()
        .map(|(_, c)| c)
}

pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// Sort diagnostics by file and position so reports are stable.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        let ka = a.labels.first().map(|l| (l.span.source, l.span.start));
        let kb = b.labels.first().map(|l| (l.span.source, l.span.start));
        ka.cmp(&kb).then(a.code.cmp(b.code)).then(a.message.cmp(&b.message))
    });
}

/// Labels further along their line than this many bytes are not drawn under the source (see
/// [`Rendered::new`]).
const MAX_COLUMN: usize = 10_000;

/// The miette view of a [`Diagnostic`]: labels in the first label's file are drawn in place,
/// labels in other files become related reports of their own.
#[derive(Debug)]
struct Rendered {
    code: &'static str,
    severity: Severity,
    message: String,
    help: Option<String>,
    source: Option<Excerpt>,
    labels: Vec<LabeledSpan>,
    related: Vec<Rendered>,
}

impl Rendered {
    fn new(d: &Diagnostic, sources: &Sources) -> Rendered {
        let mut help = d.help.clone();
        for n in &d.notes {
            let h = help.get_or_insert_with(String::new);
            if !h.is_empty() {
                h.push('\n');
            }
            h.push_str("note: ");
            h.push_str(n);
        }
        // miette pads a label to its column with a format width, which may not exceed
        // u16::MAX: a label far along a very long line is given as text instead.
        let (drawn, far): (Vec<&Label>, Vec<&Label>) = d.labels.iter().partition(|l| {
            let source = sources.get(l.span.source);
            let end = (l.span.end as usize).min(source.text().len());
            end - source.lines().line_of(end).1 + 1 < MAX_COLUMN
        });
        for l in far {
            let h = help.get_or_insert_with(String::new);
            if !h.is_empty() {
                h.push('\n');
            }
            h.push_str(&format!("at {}: {}", sources.location(l.span), l.message));
        }
        let mut groups: Vec<(crate::span::SourceId, Vec<&Label>)> = Vec::new();
        for l in drawn {
            match groups.iter_mut().find(|(s, _)| *s == l.span.source) {
                Some((_, v)) => v.push(l),
                None => groups.push((l.span.source, vec![l])),
            }
        }
        let mut groups = groups.into_iter();
        let (source, labels) = match groups.next() {
            Some((id, ls)) => {
                let (excerpt, labels) = Excerpt::new(sources, id, &ls);
                (Some(excerpt), labels)
            }
            None => (None, Vec::new()),
        };
        let related = groups
            .map(|(id, ls)| {
                let (excerpt, labels) = Excerpt::new(sources, id, &ls);
                Rendered {
                    code: d.code,
                    severity: d.severity,
                    message: format!("see also `{}`", sources.name(id)),
                    help: None,
                    source: Some(excerpt),
                    labels,
                    related: Vec::new(),
                }
            })
            .collect();
        Rendered { code: d.code, severity: d.severity, message: d.message.clone(), help, source, labels, related }
    }
}

/// The lines of a source around a report's labels, which is all the renderer reads: a report
/// costs what it shows, not the size of its file, so many diagnostics in one large file stay
/// linear. Line numbers are those of the whole file.
#[derive(Debug)]
struct Excerpt {
    name: String,
    /// The lines, as [`visible`] shows them.
    text: String,
    /// Line breaks before the first line, counted as miette counts them.
    breaks: usize,
}

/// Lines kept around the labels: more than the renderer shows (one), so it sees the same lines
/// as in the whole file.
const EXCERPT_CONTEXT: usize = 3;

impl Excerpt {
    /// The excerpt for `labels` (all in source `id`) and the labels as spans into it.
    fn new(sources: &Sources, id: crate::span::SourceId, labels: &[&Label]) -> (Excerpt, Vec<LabeledSpan>) {
        let source = sources.get(id);
        let text = source.text();
        let lines = source.lines();
        let lo = labels.iter().map(|l| l.span.start as usize).min().unwrap_or(0).min(text.len());
        let hi = labels.iter().map(|l| l.span.end as usize).max().unwrap_or(0).min(text.len());
        let start = lines.start_of(lines.line_of(lo).0.saturating_sub(EXCERPT_CONTEXT), text.len());
        let end = lines.start_of(lines.line_of(hi).0 + EXCERPT_CONTEXT + 1, text.len());
        let part = &text[start..end];
        let spans = labels.iter().map(|l| labeled(l, part, start)).collect();
        (Excerpt { name: source.name.clone(), text: visible(part).into_owned(), breaks: lines.breaks_before(start) }, spans)
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self.text.read_span(span, before, after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.breaks,
            inner.column(),
            inner.line_count() + self.breaks,
        )))
    }
}

/// The text as shown in a report: control characters a terminal would act on (other than
/// tab and line breaks) become their visible Unicode pictures (`NUL` -> `␀`).
fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.bytes().any(is_hidden) {
        return text.into();
    }
    text.chars()
        .map(|c| match c {
            c if c.is_ascii() && is_hidden(c as u8) => char::from_u32(0x2400 + if c == '\x7f' { 0x21 } else { c as u32 }).unwrap_or('?'),
            c => c,
        })
        .collect::<String>()
        .into()
}

fn is_hidden(b: u8) -> bool {
    (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f
}

/// A byte offset of the text as a byte offset of [`visible`]'s text: every hidden byte before
/// it became a three-byte picture.
fn visible_offset(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    offset + 2 * text.as_bytes()[..offset].iter().filter(|&&b| is_hidden(b)).count()
}

/// The miette label of `l` as a span into `part`, the excerpt of its source that starts at byte
/// `base`, kept inside it (a span past the end would make miette fail to render the report).
fn labeled(l: &Label, part: &str, base: usize) -> LabeledSpan {
    let start = visible_offset(part, (l.span.start as usize).saturating_sub(base));
    let span = SourceSpan::new(start.into(), visible_offset(part, (l.span.end as usize).saturating_sub(base)) - start);
    let text = if l.message.is_empty() { None } else { Some(l.message.clone()) };
    LabeledSpan::new_with_span(text, span)
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() { None } else { Some(Box::new(self.labels.iter().cloned())) }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() { None } else { Some(Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic))) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn close_names_are_suggested() {
        use super::did_you_mean;
        assert_eq!(did_you_mean("computee", ["frontend", "compute", "login"]), Some("compute"));
        assert_eq!(did_you_mean("compte", ["compute"]), Some("compute"));
        assert_eq!(did_you_mean("frontend", ["compute"]), None);
        assert_eq!(did_you_mean("a", ["b"]), None, "one-letter names are never suggested");
    }

    use super::*;

    /// A report drawn from an excerpt is the report drawn from the whole file: same lines,
    /// same line numbers (`\r\n` and a lone `\r` before the excerpt included).
    #[test]
    fn excerpt_renders_like_the_whole_file() {
        let mut sources = Sources::new();
        let text: String = (1..=40).map(|i| format!("line {i}{}", if i % 7 == 0 { "\r\n" } else if i == 9 { "\rx\n" } else { "\n" })).collect();
        let id = sources.add("a.xml", text.clone());
        let at = |needle: &str| text.find(needle).expect("in the text");
        let span = |s: usize, n: usize| Span::new(id, s, s + n);
        for labels in [vec![span(at("line 30"), 4)], vec![span(at("line 20"), 4), span(at("line 23"), 2)], vec![span(at("line 2\n"), 6)]] {
            let mut d = Diagnostic::error("graph::missing-node", "edge to `x`, which has no node file");
            for l in labels {
                d = d.label(l, "here");
            }
            let mut whole = Rendered::new(&d, &sources);
            whole.source = Some(Excerpt { name: "a.xml".into(), text: text.clone(), breaks: 0 });
            whole.labels = d.labels.iter().map(|l| labeled(l, &text, 0)).collect();
            let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
            let mut expected = String::new();
            handler.render_report(&mut expected, &whole).expect("renders");
            assert_eq!(d.render(&sources, false), expected);
        }
    }
}

