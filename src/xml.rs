//! quick-xml events -> a spanned element tree. Knows XML, not Rocks.
//!
//! Entity references that are not predefined (`&hostname;`) are kept as [`XmlNode::Entity`]:
//! Rocks node files use host attributes as undeclared entities, resolved per host later.
//! Comments, processing instructions and the XML declaration are dropped.
//!
//! Stricter than Rocks where Rocks was unsafe: characters XML 1.0 forbids (NUL and the other
//! C0 controls except tab, line feed and carriage return) are errors, and a DOCTYPE that
//! declares entities or names an external file is an error (it is never expanded or fetched).

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::diag::Diagnostic;
use crate::span::{SourceId, Span};

/// Parse one file. A malformed file gives `None` and a diagnostic pointing at the problem.
pub fn parse(id: SourceId, text: &str) -> (Option<Element>, Vec<Diagnostic>) {
    // A UTF-8 byte-order mark (as some editors write) is not content.
    let offset = if text.starts_with('\u{FEFF}') { '\u{FEFF}'.len_utf8() } else { 0 };
    let mut p = Parser { id, text: &text[offset..], offset, prefix: 0, len: text.len(), diags: Vec::new() };
    p.forbidden_chars();
    let root = p.document();
    (root, p.diags)
}

/// Parse element content without a root (the output of `<eval mode="xml">` or an
/// `<include mode="xml">` file) as the children of an element named `fragment`. Spans point
/// into `text` itself.
pub fn parse_fragment(id: SourceId, text: &str) -> (Option<Element>, Vec<Diagnostic>) {
    const OPEN: &str = "<fragment>";
    let wrapped = format!("{OPEN}{text}</fragment>");
    let mut p = Parser { id, text: &wrapped, offset: 0, prefix: OPEN.len(), len: text.len(), diags: Vec::new() };
    p.forbidden_chars();
    let root = p.document();
    (root, p.diags)
}

/// Deepest element nesting accepted. Rocks files nest a handful of levels; the limit keeps
/// every later (recursive) stage far from the end of its stack.
pub const MAX_DEPTH: usize = 256;

/// May the character appear in an XML 1.0 document (the `Char` production)?
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// An element with its attributes and content, in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    /// The start tag, `<name ...>`.
    pub span: Span,
    pub attrs: Vec<Attribute>,
    pub children: Vec<XmlNode>,
}

/// `name="value"`: the value is kept as pieces because it may hold `&entity;` references.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub name_span: Span,
    pub value: Vec<Piece>,
    /// The value between the quotes.
    pub value_span: Span,
}

/// Literal text or a reference to an undeclared (attribute) entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Entity(String),
}

/// Content of an element.
#[derive(Debug, Clone, PartialEq)]
pub enum XmlNode {
    Element(Element),
    /// Character data with predefined and character references already resolved.
    Text(String, Span),
    /// The inside of `<![CDATA[ ... ]]>`.
    CData(String, Span),
    /// `&name;` for a name that XML does not predefine.
    Entity(String, Span),
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// The attribute's literal value if it has no entity references.
    pub fn attr_str(&self, name: &str) -> Option<String> {
        self.attr(name).map(Attribute::literal)
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            XmlNode::Element(e) => Some(e),
            _ => None,
        })
    }

    /// All character data of the element and its descendants, entities as `&name;`.
    pub fn text(&self) -> String {
        let mut s = String::new();
        collect_text(&self.children, &mut s);
        s
    }
}

impl Attribute {
    /// The value with entity references written back as `&name;`.
    pub fn literal(&self) -> String {
        self.value
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Entity(n) => format!("&{n};"),
            })
            .collect()
    }
}

fn collect_text(nodes: &[XmlNode], out: &mut String) {
    for n in nodes {
        match n {
            XmlNode::Text(t, _) | XmlNode::CData(t, _) => out.push_str(t),
            XmlNode::Entity(name, _) => {
                out.push('&');
                out.push_str(name);
                out.push(';');
            }
            XmlNode::Element(e) => collect_text(&e.children, out),
        }
    }
}

struct Parser<'a> {
    id: SourceId,
    text: &'a str,
    /// Where `text` starts in the file.
    offset: usize,
    /// Bytes at the start of `text` that are not in the file (the wrapper of a fragment).
    prefix: usize,
    /// Length of the file: no span goes past it.
    len: usize,
    diags: Vec<Diagnostic>,
}

impl<'a> Parser<'a> {
    fn span(&self, start: u64, end: u64) -> Span {
        self.at(start as usize, end as usize)
    }

    /// A span of the parsed text, as a position in the whole file (past any byte-order mark).
    fn at(&self, start: usize, end: usize) -> Span {
        let pos = |p: usize| (p + self.offset).saturating_sub(self.prefix).min(self.len);
        Span::new(self.id, pos(start), pos(end))
    }

    /// Report every run of characters XML 1.0 forbids (at most ten runs per file).
    fn forbidden_chars(&mut self) {
        const MAX: usize = 10;
        // Almost every file has none: look at bytes first (the only forbidden characters are
        // C0 controls other than tab and line breaks, U+FFFE and U+FFFF).
        let control = self.text.bytes().any(|b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'));
        if !control && !self.text.contains('\u{FFFE}') && !self.text.contains('\u{FFFF}') {
            return;
        }
        let mut runs: Vec<(usize, usize, char)> = Vec::new();
        for (i, c) in self.text.char_indices().filter(|&(_, c)| !is_xml_char(c)) {
            match runs.last_mut() {
                Some(run) if run.1 == i => run.1 = i + c.len_utf8(),
                _ => runs.push((i, i + c.len_utf8(), c)),
            }
        }
        let total = runs.len();
        for &(start, end, c) in runs.iter().take(MAX) {
            let what = if end - start > c.len_utf8() { "forbidden characters" } else { "forbidden character" };
            let mut d = forbidden(c, self.at(start, end), what);
            if total > MAX && start == runs[MAX - 1].0 {
                d = d.note(format!("{} more runs of forbidden characters in this file are not shown", total - MAX));
            }
            self.diags.push(d);
        }
    }

    /// A `<!DOCTYPE>` in the prolog: a plain one is ignored; one that declares entities (an
    /// internal subset) or names an external file is an error. It is never expanded or fetched.
    fn doctype(&mut self, start: usize, end: usize) {
        let raw = &self.text[start..end];
        let inner = raw.strip_prefix("<!DOCTYPE").or_else(|| raw.get(9..)).unwrap_or("");
        let after_name = inner.trim_start().trim_start_matches(|c: char| !c.is_whitespace() && c != '[' && c != '>');
        let rest = after_name.trim_start();
        let at = start + (raw.len() - rest.len());
        let what = if rest.starts_with("SYSTEM") || rest.starts_with("PUBLIC") {
            "names an external file"
        } else if rest.starts_with('[') {
            "declares entities (an internal subset)"
        } else {
            return;
        };
        self.diags.push(
            Diagnostic::error("xml::doctype", format!("a `<!DOCTYPE>` that {what} is not supported"))
                .label(self.at(at, end.saturating_sub(1).max(at)), "never expanded or fetched")
                .help("remove the DOCTYPE and use attributes instead: `&name;` reads the attribute `name`, set with `--attr name=VALUE`, in `graphs/<graph>/attributes.toml` or in the cluster database (`attr set`)"),
        );
    }

    fn document(&mut self) -> Option<Element> {
        let mut reader = Reader::from_str(self.text);
        reader.config_mut().trim_text(false);
        reader.config_mut().check_end_names = true;
        // Stack of open elements; the bottom is a synthetic document holder.
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        loop {
            let start = reader.buffer_position();
            let ev = match reader.read_event() {
                Ok(ev) => ev,
                Err(e) => {
                    let pos = reader.error_position();
                    let end = (pos + 1).min(self.text.len() as u64).max(pos);
                    self.diags.push(
                        Diagnostic::error("xml::syntax", format!("malformed XML: {}", xml_message(&e)))
                            .label(self.span(pos, end), "here")
                            .help("fix the markup; characters `<` and `&` in text must be written `&lt;` and `&amp;` (or put the text in `<![CDATA[ ... ]]>`)"),
                    );
                    return None;
                }
            };
            let end = reader.buffer_position();
            let span = self.span(start, end);
            match ev {
                Event::Start(_) | Event::Empty(_) => {
                    let raw = &self.text[start as usize..end as usize];
                    let is_empty = matches!(ev, Event::Empty(_));
                    let el = self.start_tag(raw, start as usize)?;
                    if stack.is_empty() && root.is_some() {
                        self.diags.push(
                            Diagnostic::error("xml::syntax", "malformed XML: more than one root element")
                                .label(el.span, "second root element")
                                .help("a file holds exactly one root element such as `<kickstart>` or `<graph>`"),
                        );
                        return None;
                    }
                    if is_empty {
                        self.close(el, &mut stack, &mut root);
                    } else if stack.len() == MAX_DEPTH {
                        self.diags.push(
                            Diagnostic::error("xml::too-deep", format!("elements nest deeper than {MAX_DEPTH} levels"))
                                .label(el.span, "this element is too deep")
                                .help("node and graph files nest a few levels; is an end tag written as a start tag (`<post>` for `</post>`)?"),
                        );
                        return None;
                    } else {
                        stack.push(el);
                    }
                }
                Event::End(_) => match stack.pop() {
                    Some(el) => self.close(el, &mut stack, &mut root),
                    None => unreachable!("quick-xml reports unmatched end tags"),
                },
                Event::Text(t) => {
                    let s = t.xml10_content().into_owned();
                    if let Some(top) = stack.last_mut() {
                        push_text(&mut top.children, s, span);
                    } else if !s.trim().is_empty() && root.is_some() {
                        // Text after the root element: Rocks files sometimes carry trailing
                        // notes there; it is ignored like the original parser did.
                    }
                }
                Event::CData(c) => {
                    let s = c.xml10_content().into_owned();
                    if let Some(top) = stack.last_mut() {
                        top.children.push(XmlNode::CData(s, span));
                    }
                }
                Event::GeneralRef(r) => {
                    let Some(top) = stack.last_mut() else { continue };
                    if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) if is_xml_char(c) => push_text(&mut top.children, c.to_string(), span),
                            Ok(Some(c)) => self.diags.push(forbidden(c, span, "a reference to a forbidden character")),
                            _ => {
                                self.diags.push(
                                    Diagnostic::error("xml::syntax", "malformed XML: invalid character reference")
                                        .label(span, "not a valid character"),
                                );
                                return None;
                            }
                        }
                    } else {
                        let name = r.xml10_content().into_owned();
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(v) => push_text(&mut top.children, v.to_string(), span),
                            None => top.children.push(XmlNode::Entity(name, span)),
                        }
                    }
                }
                Event::DocType(_) if stack.is_empty() && root.is_none() => self.doctype(start as usize, end as usize),
                Event::DocType(_) => {
                    self.diags.push(
                        Diagnostic::error("xml::syntax", "malformed XML: `<!DOCTYPE>` inside or after the root element")
                            .label(span, "not allowed here")
                            .help("to write a DOCTYPE into a file, put the text in `<![CDATA[ ... ]]>`"),
                    );
                    return None;
                }
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
                Event::Eof => break,
            }
        }
        if let Some(open) = stack.first() {
            let open_span = stack.last().map(|e| e.span).unwrap_or(open.span);
            let name = stack.last().map(|e| e.name.clone()).unwrap_or_default();
            self.diags.push(
                Diagnostic::error("xml::syntax", format!("malformed XML: element `{name}` is never closed"))
                    .label(open_span, "opened here")
                    .help(format!("add `</{name}>`")),
            );
            return None;
        }
        if root.is_none() {
            self.diags.push(
                Diagnostic::error("xml::syntax", "malformed XML: the file has no root element")
                    .label(self.span(0, 0), "empty document")
                    .help("a node file starts with `<kickstart>`, a graph file with `<graph>`"),
            );
        }
        root
    }

    fn close(&mut self, el: Element, stack: &mut [Element], root: &mut Option<Element>) {
        match stack.last_mut() {
            Some(parent) => parent.children.push(XmlNode::Element(el)),
            None => *root = Some(el),
        }
    }

    /// Parse `<name a="v" b='w'>` or `<name .../>` starting at byte `base` of the file.
    fn start_tag(&mut self, raw: &str, base: usize) -> Option<Element> {
        let b = raw.as_bytes();
        let mut i = 1;
        while i < b.len() && !is_space(b[i]) && b[i] != b'>' && b[i] != b'/' {
            i += 1;
        }
        let name = raw[1..i].to_string();
        let span = self.at(base, base + raw.len());
        if !is_name(&name) {
            self.diags.push(
                Diagnostic::error("xml::syntax", "malformed XML: `<` starts a tag, but no element name follows")
                    .label(self.at(base, base + 1), "a literal `<` in text")
                    .help("in text, write `<` as `&lt;` (e.g. `if [ $a &lt; $b ]`), or put the script in a CDATA section"),
            );
            return None;
        }
        let mut attrs = Vec::new();
        // Names seen so far: a duplicate is found in constant time, however many there are.
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        loop {
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' || b[i] == b'/' {
                break;
            }
            let ns = i;
            while i < b.len() && b[i] != b'=' && !is_space(b[i]) && b[i] != b'>' && b[i] != b'/' {
                i += 1;
            }
            let aname = raw[ns..i].to_string();
            let name_span = self.at(base + ns, base + i);
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            if i >= b.len() || b[i] != b'=' {
                self.diags.push(
                    Diagnostic::error("xml::syntax", format!("malformed XML: attribute `{aname}` has no value"))
                        .label(name_span, "expected `=\"...\"` after this")
                        .help(format!("write `{aname}=\"value\"`")),
                );
                return None;
            }
            i += 1;
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            let q = b.get(i).copied().unwrap_or(b'>');
            if q != b'"' && q != b'\'' {
                self.diags.push(
                    Diagnostic::error("xml::syntax", format!("malformed XML: value of `{aname}` is not quoted"))
                        .label(self.at(base + i, base + i + 1), "expected `\"` or `'`"),
                );
                return None;
            }
            let vs = i + 1;
            let ve = match raw[vs..].find(q as char) {
                Some(off) => vs + off,
                None => return None, // quick-xml already rejected unterminated values
            };
            let value_span = self.at(base + vs, base + ve);
            let value = self.attr_value(&raw[vs..ve], value_span)?;
            if !seen.insert(aname.clone()) {
                self.diags.push(
                    Diagnostic::error("xml::syntax", format!("malformed XML: duplicate attribute `{aname}`"))
                        .label(name_span, "given again here"),
                );
                return None;
            }
            attrs.push(Attribute { name: aname, name_span, value, value_span });
            i = ve + 1;
        }
        Some(Element { name, span, attrs, children: Vec::new() })
    }

    fn attr_value(&mut self, raw: &str, span: Span) -> Option<Vec<Piece>> {
        let mut pieces = Vec::new();
        let mut cur = String::new();
        let mut rest = raw;
        let mut off = 0;
        while let Some(amp) = rest.find('&') {
            cur.push_str(&normalize_ws(&rest[..amp]));
            let after = &rest[amp + 1..];
            let Some(semi) = after.find(';') else {
                self.diags.push(
                    Diagnostic::error("xml::syntax", "malformed XML: bare `&` in attribute value")
                        .label(span.sub(off + amp, off + amp + 1), "here")
                        .help("write `&amp;`"),
                );
                return None;
            };
            let name = &after[..semi];
            let ref_span = span.sub(off + amp, off + amp + semi + 2);
            if let Some(num) = name.strip_prefix('#') {
                let c = match num.strip_prefix('x') {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse::<u32>().ok(),
                }
                .and_then(char::from_u32);
                match c {
                    Some(c) if is_xml_char(c) => cur.push(c),
                    Some(c) => self.diags.push(forbidden(c, ref_span, "a reference to a forbidden character")),
                    None => {
                        self.diags.push(
                            Diagnostic::error("xml::syntax", "malformed XML: invalid character reference")
                                .label(ref_span, "not a valid character"),
                        );
                        return None;
                    }
                }
            } else if let Some(v) = quick_xml::escape::resolve_predefined_entity(name) {
                cur.push_str(v);
            } else if is_name(name) {
                if !cur.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut cur)));
                }
                pieces.push(Piece::Entity(name.to_string()));
            } else {
                self.diags.push(
                    Diagnostic::error("xml::syntax", "malformed XML: bad entity reference in attribute value")
                        .label(ref_span, "here")
                        .help("write a literal `&` as `&amp;`"),
                );
                return None;
            }
            off += amp + semi + 2;
            rest = &after[semi + 1..];
        }
        cur.push_str(&normalize_ws(rest));
        if !cur.is_empty() || pieces.is_empty() {
            pieces.push(Piece::Text(cur));
        }
        Some(pieces)
    }
}

/// A character XML 1.0 forbids, raw or as a character reference.
fn forbidden(c: char, span: Span, label: &str) -> Diagnostic {
    Diagnostic::error("xml::forbidden-char", format!("character U+{:04X} is not allowed in XML", c as u32))
        .label(span, label)
        .help("XML 1.0 allows no control characters other than tab, line feed and carriage return; remove them (a binary or badly converted file?), or write the text in a `<file>` with `expr=` that produces it")
}

fn push_text(children: &mut Vec<XmlNode>, s: String, span: Span) {
    if let Some(XmlNode::Text(prev, prev_span)) = children.last_mut()
        && prev_span.end == span.start
    {
        prev.push_str(&s);
        prev_span.end = span.end;
        return;
    }
    children.push(XmlNode::Text(s, span));
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
}

/// XML attribute-value normalisation: tabs and newlines become spaces.
fn normalize_ws(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\t', '\n', '\r']) { s.replace("\r\n", " ").replace(['\t', '\n', '\r'], " ").into() } else { s.into() }
}

fn xml_message(e: &quick_xml::Error) -> String {
    let s = e.to_string();
    // quick-xml messages start with a capital; rustc style is lowercase.
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Element {
        let (e, d) = parse(SourceId(0), s);
        assert!(d.is_empty(), "{d:?}");
        e.unwrap()
    }

    #[test]
    fn entities_text_and_cdata() {
        let e = p("<?xml version=\"1.0\"?>\n<post a=\"x &gt; &y; z\">a &amp;&amp; b &host; <![CDATA[<&>]]><!-- c --></post>");
        assert_eq!(e.attrs[0].value, vec![Piece::Text("x > ".into()), Piece::Entity("y".into()), Piece::Text(" z".into())]);
        assert_eq!(e.text(), "a && b &host; <&>");
        assert!(matches!(e.children[1], XmlNode::Entity(ref n, _) if n == "host"));
    }

    #[test]
    fn mismatched_end_tag_has_span() {
        let (e, d) = parse(SourceId(0), "<kickstart>\n<post>x</pots>\n</kickstart>");
        assert!(e.is_none());
        assert_eq!(d[0].code, "xml::syntax");
        assert!(d[0].labels[0].span.start > 0);
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        let (e, d) = parse(SourceId(0), "\u{FEFF}<?xml version=\"1.0\"?>\n<kickstart><post>é</pots></kickstart>");
        assert!(e.is_none());
        assert_eq!(d[0].labels[0].span.start as usize, "\u{FEFF}<?xml version=\"1.0\"?>\n<kickstart><post>é".len());
        let (e, d) = parse(SourceId(0), "\u{FEFF}<kickstart a=\"1\"/>");
        assert!(d.is_empty());
        assert_eq!(e.unwrap().attrs[0].value_span.start as usize, "\u{FEFF}<kickstart a=\"".len());
    }

    #[test]
    fn unclosed_element() {
        let (e, d) = parse(SourceId(0), "<kickstart>\n<post>x\n");
        assert!(e.is_none());
        assert!(d[0].message.contains("never closed"), "{:?}", d[0]);
    }
}
