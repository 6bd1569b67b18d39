//! Source files and byte spans into them.
//!
//! Every element and attribute read from XML carries a [`Span`]; diagnostics point at spans and
//! [`Sources`] turns them back into file, line and column.

use std::fmt;

/// Index of one loaded file in [`Sources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceId(pub u32);

/// A byte range inside one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub source: SourceId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(source: SourceId, start: usize, end: usize) -> Span {
        Span { source, start: start as u32, end: end.max(start) as u32 }
    }

    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The sub-range `start..end` (relative to this span's start), clamped to this span.
    pub fn sub(&self, start: usize, end: usize) -> Span {
        let s = (self.start as usize + start).min(self.end as usize);
        let e = (self.start as usize + end).min(self.end as usize);
        Span::new(self.source, s, e)
    }
}

/// One text file: where it came from and what it holds. A file listed from disk is read on
/// first use ([`Sources::add_lazy`]), so a compile reads only the node files it reaches.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path as shown to users (`nodes/base.xml`, `/site/nodes/x.xml`, `<builtin>/nodes/a.xml`).
    pub name: String,
    path: Option<std::path::PathBuf>,
    text: std::sync::OnceLock<Result<String, String>>,
    /// Where the lines start, made on first use: finding a line is then a binary search, so
    /// reporting many diagnostics in one large file stays linear.
    lines: std::sync::OnceLock<LineIndex>,
}

/// The byte offsets just after each `\n` of a text, and of each `\r` not followed by `\n`
/// (which the report renderer also counts as a line break).
#[derive(Debug, Clone, Default)]
pub struct LineIndex {
    starts: Vec<usize>,
    lone_cr: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let b = text.as_bytes();
        let mut index = LineIndex::default();
        for (i, &c) in b.iter().enumerate() {
            match c {
                b'\n' => index.starts.push(i + 1),
                b'\r' if b.get(i + 1) != Some(&b'\n') => index.lone_cr.push(i + 1),
                _ => {}
            }
        }
        index
    }

    /// The 0-based line (counting `\n` only) holding `offset`, and where that line starts.
    pub fn line_of(&self, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset);
        (line, if line == 0 { 0 } else { self.starts[line - 1] })
    }

    /// Where the 0-based line `line` (counting `\n` only) starts; past the last line, `len`.
    pub fn start_of(&self, line: usize, len: usize) -> usize {
        match line {
            0 => 0,
            n => self.starts.get(n - 1).copied().unwrap_or(len),
        }
    }

    /// Line breaks before `offset` as the report renderer counts them (`\n`, `\r\n` and a
    /// lone `\r` each count once).
    pub fn breaks_before(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset) + self.lone_cr.partition_point(|&s| s <= offset)
    }
}

impl Source {
    /// The file's text, reading it now if it was listed lazily. A file that cannot be read
    /// gives the I/O error's message.
    pub fn try_text(&self) -> Result<&str, &str> {
        let r = self.text.get_or_init(|| match &self.path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| format!("cannot read `{}`: {e}", p.display())),
            None => Ok(String::new()),
        });
        match r {
            Ok(s) => Ok(s.as_str()),
            Err(e) => Err(e.as_str()),
        }
    }

    /// The file's text; empty if it cannot be read (see [`Source::try_text`]).
    pub fn text(&self) -> &str {
        self.try_text().unwrap_or("")
    }

    /// The line index of [`Source::text`].
    pub fn lines(&self) -> &LineIndex {
        self.lines.get_or_init(|| LineIndex::new(self.text()))
    }
}

/// Every file that was read in one run, addressed by [`SourceId`].
///
/// Text made while compiling (the output of an `<eval mode="xml">`) is a source too: it is
/// added through a shared reference ([`Sources::add_generated`]), so spans into it render like
/// spans into any file.
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<Source>,
    /// Sources made while compiling; their ids start at [`GENERATED`].
    generated: boxcar::Vec<Source>,
    /// Serialises find-or-add in [`Sources::add_generated`].
    adding: std::sync::Mutex<()>,
}

/// The first [`SourceId`] of a generated source.
const GENERATED: u32 = 1 << 31;

impl Clone for Sources {
    fn clone(&self) -> Sources {
        Sources { files: self.files.clone(), generated: self.generated.clone(), adding: std::sync::Mutex::new(()) }
    }
}

impl Sources {
    pub fn new() -> Sources {
        Sources::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> SourceId {
        let cell = std::sync::OnceLock::new();
        let _ = cell.set(Ok(text.into()));
        self.files.push(Source { name: name.into(), path: None, text: cell, lines: Default::default() });
        SourceId((self.files.len() - 1) as u32)
    }

    /// A file on disk, read when its text is first asked for. [I/O]
    pub fn add_lazy(&mut self, name: impl Into<String>, path: std::path::PathBuf) -> SourceId {
        self.files.push(Source { name: name.into(), path: Some(path), text: std::sync::OnceLock::new(), lines: Default::default() });
        SourceId((self.files.len() - 1) as u32)
    }

    /// Text produced while compiling, named e.g. `<eval at nodes/base.xml:12>`. The same name
    /// and text give the same id, so a long-running process does not grow with repeats.
    pub fn add_generated(&self, name: String, text: String) -> SourceId {
        let _guard = self.adding.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = self.generated.iter().find(|(_, s)| s.name == name && s.text() == text).map(|(i, _)| i);
        let i = found.unwrap_or_else(|| {
            let cell = std::sync::OnceLock::new();
            let _ = cell.set(Ok(text));
            self.generated.push(Source { name, path: None, text: cell, lines: Default::default() })
        });
        SourceId(GENERATED + i as u32)
    }

    /// A digest of every file (names and texts, read now if listed lazily): what a build
    /// keys its outputs on to tell that the framework changed.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for s in &self.files {
            for part in [s.name.as_str(), s.text()] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part.as_bytes());
            }
        }
        h.finalize().into()
    }

    /// The source with this id; an id no source has (which no parser makes) gives an empty
    /// source named `<unknown>` rather than a panic.
    pub fn get(&self, id: SourceId) -> &Source {
        static UNKNOWN: std::sync::LazyLock<Source> =
            std::sync::LazyLock::new(|| Source {
                name: "<unknown>".to_string(),
                path: None,
                text: std::sync::OnceLock::new(),
                lines: Default::default(),
            });
        let found = match id.0.checked_sub(GENERATED) {
            Some(i) => self.generated.get(i as usize),
            None => self.files.get(id.0 as usize),
        };
        found.unwrap_or(&UNKNOWN)
    }

    pub fn name(&self, id: SourceId) -> &str {
        &self.get(id).name
    }

    pub fn text(&self, span: Span) -> &str {
        let t = self.get(span.source).text();
        t.get(span.start as usize..span.end as usize).unwrap_or("")
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, id: SourceId, offset: usize) -> (usize, usize) {
        let source = self.get(id);
        let text = source.text();
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let (line, start) = source.lines().line_of(offset);
        (line + 1, text[start..offset].chars().count() + 1)
    }

    /// `file:line:column` of the start of a span.
    pub fn location(&self, span: Span) -> Location<'_> {
        let (line, column) = self.line_col(span.source, span.start as usize);
        Location { file: self.name(span.source), line, column }
    }
}

/// A printable `file:line:column`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location<'a> {
    pub file: &'a str,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let mut s = Sources::new();
        let id = s.add("a.xml", "ab\ncd\n\tx");
        assert_eq!(s.line_col(id, 0), (1, 1));
        assert_eq!(s.line_col(id, 4), (2, 2));
        assert_eq!(s.line_col(id, 7), (3, 2));
        assert_eq!(s.location(Span::new(id, 3, 4)).to_string(), "a.xml:2:1");
        assert_eq!(s.line_col(id, 99), (3, 3));
        let id = s.add("b.xml", "a\r\nb\rc\n");
        let lines = s.get(id).lines();
        assert_eq!((lines.line_of(5), lines.start_of(1, 8), lines.start_of(5, 8)), ((1, 3), 3, 8));
        assert_eq!((lines.breaks_before(3), lines.breaks_before(5), lines.breaks_before(8)), (1, 2, 3));
    }
}
