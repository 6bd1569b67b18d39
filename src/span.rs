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
        self.files.push(Source { name: name.into(), path: None, text: cell });
        SourceId((self.files.len() - 1) as u32)
    }

    /// A file on disk, read when its text is first asked for. [I/O]
    pub fn add_lazy(&mut self, name: impl Into<String>, path: std::path::PathBuf) -> SourceId {
        self.files.push(Source { name: name.into(), path: Some(path), text: std::sync::OnceLock::new() });
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
            self.generated.push(Source { name, path: None, text: cell })
        });
        SourceId(GENERATED + i as u32)
    }

    /// The source with this id; an id no source has (which no parser makes) gives an empty
    /// source named `<unknown>` rather than a panic.
    pub fn get(&self, id: SourceId) -> &Source {
        static UNKNOWN: std::sync::LazyLock<Source> =
            std::sync::LazyLock::new(|| Source { name: "<unknown>".to_string(), path: None, text: std::sync::OnceLock::new() });
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
        let text = self.get(id).text();
        let offset = offset.min(text.len());
        let before = &text[..floor_char_boundary(text, offset)];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
        (line, col)
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
    }
}
