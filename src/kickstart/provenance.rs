//! Where each part of a [`Kickstart`](super::Kickstart) came from: node file lines,
//! elements rocks-compile wrote shell for, and attribute values. Collected only when asked
//! ([`build_traced`](super::build_traced)), so a normal compile pays nothing.

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

/// What [`follow`] found: (offset in the text, lines passed) of every line start, the
/// position after the text, the lines passed in all.
pub type Followed = (Vec<(usize, u32)>, usize, u32);

/// Follow literal text `lit` through the XML source `src` from byte `pos`: what parsing
/// removed (comments, tags, CDATA markers, `\r`) is skipped and an escape (`&gt;`, `&#10;`)
/// stands for one character. Returns, for every line start of `lit` (its offset), the number
/// of source lines between `pos` and it; then the position after the text and the lines
/// passed to get there. `None` when the text is not what the source holds there.
pub fn follow(src: &str, mut pos: usize, lit: &str) -> Option<Followed> {
    let bytes = src.as_bytes();
    let mut lines = 0u32;
    let mut cdata = false;
    let mut starts = Vec::new();
    let mut at_line_start = true;
    // Skip what parsing removed before the next character.
    let skip = |pos: &mut usize, lines: &mut u32, cdata: &mut bool| -> Option<()> {
        loop {
            let rest = src.get(*pos..)?;
            let end = if *cdata {
                if rest.starts_with("]]>") {
                    *cdata = false;
                    3
                } else if rest.starts_with('\r') {
                    1
                } else {
                    return Some(());
                }
            } else if rest.starts_with("<![CDATA[") {
                *cdata = true;
                9
            } else if rest.starts_with("<!--") {
                rest.find("-->")? + 3
            } else if rest.starts_with('<') {
                rest.find('>')? + 1
            } else if rest.starts_with('\r') {
                1
            } else {
                return Some(());
            };
            *lines += newlines(rest, 0, end);
            *pos += end;
        }
    };
    for (i, c) in lit.char_indices() {
        skip(&mut pos, &mut lines, &mut cdata)?;
        if at_line_start {
            starts.push((i, lines));
        }
        if !cdata && bytes.get(pos) == Some(&b'&') {
            let semi = src[pos..].find(';').filter(|&s| s <= 12)?;
            pos += semi + 1;
        } else {
            let sc = src[pos..].chars().next()?;
            if sc != c {
                return None;
            }
            pos += sc.len_utf8();
            lines += u32::from(c == '\n');
        }
        at_line_start = c == '\n';
    }
    Some((starts, pos, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_text_past_comments_escapes_and_cdata() {
        let src = "<post>\n<!-- a\nb -->\necho &gt; x\n<![CDATA[y\n]]>z</post>";
        let lit = "\n\necho > x\ny\nz";
        let at = src.find('>').unwrap() + 1;
        let (starts, end, lines) = follow(src, at, lit).unwrap();
        assert_eq!(starts, vec![(0, 0), (1, 2), (2, 3), (11, 4), (13, 5)]);
        assert_eq!(&src[end..], "</post>");
        assert_eq!(lines, 5);
        assert_eq!(follow(src, at, "\nnot there"), None);
    }
}
