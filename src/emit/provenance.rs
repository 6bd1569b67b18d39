//! Where each part of a [`Kickstart`](super::kickstart::Kickstart) came from: node file lines,
//! elements rocks-compile wrote shell for, and attribute values. Collected only when asked
//! ([`build_traced`](super::kickstart::build_traced)), so a normal compile pays nothing.

use crate::span::{SourceId, Span};

/// From byte `at` of an expanded string on, the text came from line `line` of `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub at: usize,
    pub source: SourceId,
    /// 1-based line of the stretch's first byte.
    pub line: u32,
    pub kind: AnchorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorKind {
    /// Text copied from the node file: each newline in the output is one more source line.
    Text,
    /// Lines rocks-compile wrote for an element (the shell around a `<file>`, an `<eval>`'s
    /// output, an `<include>`d file); `attrs` are the attributes in its XML attribute values.
    Generated { what: &'static str, attrs: Vec<String> },
    /// The value of attribute `name` (`&name;` or `<var>`), up to the next anchor.
    Attr(String),
}

/// One expanded string (a command, a debug line, a script body) with its anchors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Part {
    /// The node name the element belongs to.
    pub node: String,
    /// The element (start tag) it came from.
    pub item: Option<Span>,
    pub anchors: Vec<Anchor>,
    /// Attributes in the element's own XML attribute values (`interpreter=`, `arg=`).
    pub header_attrs: Vec<String>,
}

/// One `<package>` element of a reached node, taken or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageUse {
    /// The `%packages` line it makes (`@group` for `type="meta"`), before `-` for disabling.
    pub name: String,
    pub node: String,
    pub item: Span,
    pub disable: bool,
    /// Did its condition hold?
    pub taken: bool,
    /// The element's condition, as written (`None`: unconditional).
    pub cond: Option<String>,
    /// Attributes in the name.
    pub attrs: Vec<String>,
}

/// Where every line-making part of a kickstart came from, in the order of the kickstart's
/// own vectors (`commands[i]` came from `commands[i]`, and so on).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provenance {
    pub debug: Vec<Part>,
    pub commands: Vec<Part>,
    pub packages: Vec<PackageUse>,
    pub pre: Vec<Part>,
    pub post: Vec<Part>,
}

/// Text of `s` between `start` and `end` with the anchors that describe it, re-based to 0.
pub fn slice(anchors: &[Anchor], s: &str, start: usize) -> Vec<Anchor> {
    let mut out = Vec::new();
    // The anchor in force at `start`, moved there.
    if let Some(a) = anchors.iter().rev().find(|a| a.at <= start) {
        let mut a = a.clone();
        if a.kind == AnchorKind::Text {
            a.line += newlines(s, a.at, start);
        }
        a.at = 0;
        out.push(a);
    }
    out.extend(anchors.iter().filter(|a| a.at > start).map(|a| Anchor { at: a.at - start, ..a.clone() }));
    out
}

/// Newlines in `s[from..to]` (clamped).
pub fn newlines(s: &str, from: usize, to: usize) -> u32 {
    let to = to.min(s.len());
    let from = from.min(to);
    s.as_bytes()[from..to].iter().filter(|&&b| b == b'\n').count() as u32
}

/// Move every anchor `by` bytes later.
pub fn shifted(anchors: Vec<Anchor>, by: usize) -> impl Iterator<Item = Anchor> {
    anchors.into_iter().map(move |a| Anchor { at: a.at + by, ..a })
}

/// One piece per line of `text` (as `str::lines` splits it), each with its own anchors.
pub fn per_line(piece: Part, text: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut start = 0;
    for line in text.lines() {
        out.push(Part { anchors: slice(&piece.anchors, text, start), ..piece.clone() });
        start += line.len();
        start += if text[start..].starts_with("\r\n") { 2 } else { 1 };
    }
    out
}
