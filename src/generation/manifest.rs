//! The manifest's text: one line per file, sorted by path,
//! `<sha256>  <size>  <mode octal>  <kind>  <path>`; and the old per-directory `SHA256SUMS`
//! (`<sha256>  <path>`) that earlier versions wrote, read when a tree has no manifest yet.

use std::io;

use sha2::{Digest, Sha256};

use super::ManifestEntry;
use crate::plan::Kind;

/// Name of the manifest earlier versions wrote (read once, then replaced by the manifest).
pub const OLD_MANIFEST: &str = "SHA256SUMS";

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Why `path` cannot be a file of a tree (`None`: it can): it must be relative,
/// `/`-separated, without empty, `.` or `..` components, NUL bytes or line breaks.
pub fn bad_path(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        Some("the path is empty")
    } else if path.starts_with('/') {
        Some("the path is absolute")
    } else if path.contains(['\0', '\n', '\r']) {
        Some("the path contains a NUL byte or a line break")
    } else if path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        Some("the path has an empty, `.` or `..` component")
    } else {
        None
    }
}

/// One manifest line (with its newline). Written by hand rather than with `write!`: a
/// 300,000-line manifest is rendered on every build.
pub fn render_line(out: &mut String, e: &ManifestEntry) {
    out.push_str(&e.sha256);
    out.push_str("  ");
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = e.size;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[i..]).expect("ASCII digits"));
    out.push_str("  ");
    if e.mode > 0o7777 {
        out.push_str(&format!("{:04o}", e.mode));
    } else {
        for shift in [9, 6, 3, 0] {
            out.push(char::from(b'0' + ((e.mode >> shift) & 7) as u8));
        }
    }
    out.push_str("  ");
    out.push_str(e.kind.map_or("-", Kind::as_str));
    out.push_str("  ");
    out.push_str(&e.path);
    out.push('\n');
}

/// The whole manifest of `entries` (which must be sorted by path).
pub fn render(entries: &[ManifestEntry]) -> String {
    let mut out = String::with_capacity(entries.len() * 128);
    for e in entries {
        render_line(&mut out, e);
    }
    out
}

fn corrupt(name: &str, line: usize, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{name} line {line}: {what}"))
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parse a manifest; its entries come back sorted by path. Any malformed line, or a path
/// listed twice, is an [`io::ErrorKind::InvalidData`] error naming the line.
pub fn parse(text: &[u8]) -> io::Result<Vec<ManifestEntry>> {
    let text = std::str::from_utf8(text).map_err(|e| corrupt(super::MANIFEST, 0, format!("not UTF-8 ({e})")))?;
    let mut out = Vec::with_capacity(text.len() / 120);
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let bad = |what: &str| corrupt(super::MANIFEST, n, what);
        let mut f = line.splitn(5, "  ");
        let (Some(sha), Some(size), Some(mode), Some(kind), Some(path)) = (f.next(), f.next(), f.next(), f.next(), f.next()) else {
            return Err(bad("expected `<sha256>  <size>  <mode>  <kind>  <path>`"));
        };
        if !is_sha256(sha) {
            return Err(bad("the sha256 is not 64 lower-case hex digits"));
        }
        let size = size.parse::<u64>().map_err(|_| bad("the size is not a number"))?;
        let mode = u32::from_str_radix(mode, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(|| bad("the mode is not an octal mode"))?;
        // A kind this version does not know (a later version's) reads as unknown.
        let kind = if kind == "-" { None } else { kind.parse::<Kind>().ok() };
        if let Some(why) = bad_path(path) {
            return Err(bad(why));
        }
        out.push(ManifestEntry { path: path.to_string(), size, sha256: sha.to_string(), mode, kind });
    }
    sort_unique(out, super::MANIFEST)
}

/// Parse an old-style `SHA256SUMS` (`<sha256>  <path>`, or `<sha256> *<path>`): the paths
/// and hashes, sorted by path.
pub fn parse_old(text: &[u8]) -> io::Result<Vec<(String, String)>> {
    let text = std::str::from_utf8(text).map_err(|e| corrupt(OLD_MANIFEST, 0, format!("not UTF-8 ({e})")))?;
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |what: &str| corrupt(OLD_MANIFEST, i + 1, what);
        let Some((sha, path)) = line.split_once("  ").or_else(|| line.split_once(" *")) else {
            return Err(bad("expected `<sha256>  <path>`"));
        };
        if !is_sha256(sha) {
            return Err(bad("the sha256 is not 64 lower-case hex digits"));
        }
        if let Some(why) = bad_path(path) {
            return Err(bad(why));
        }
        out.push((path.to_string(), sha.to_string()));
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

fn sort_unique(mut v: Vec<ManifestEntry>, name: &str) -> io::Result<Vec<ManifestEntry>> {
    if !v.is_sorted_by(|a, b| a.path < b.path) {
        v.sort_by(|a, b| a.path.cmp(&b.path));
        if let Some(w) = v.windows(2).find(|w| w[0].path == w[1].path) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{name} lists `{}` twice", w[0].path)));
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: Option<Kind>) -> ManifestEntry {
        ManifestEntry { path: path.into(), size: 3, sha256: sha256_hex(b"ab\n"), mode: 0o640, kind }
    }

    #[test]
    fn lines_round_trip() {
        let mut v = vec![entry("a b/c  d.ks", Some(Kind::Kickstart)), entry("hosts", None), entry("x", None)];
        v[2].size = 1_234_567_890;
        v[2].mode = 0o4755;
        let text = render(&v);
        let expected =
            format!("{0}  3  0640  kickstart  a b/c  d.ks\n{0}  3  0640  -  hosts\n{0}  1234567890  4755  -  x\n", sha256_hex(b"ab\n"));
        assert_eq!(text, expected);
        assert_eq!(parse(text.as_bytes()).unwrap(), v);
    }

    #[test]
    fn unknown_kinds_read_as_unknown() {
        let line = format!("{}  3  0644  tomorrow  x\n", sha256_hex(b""));
        assert_eq!(parse(line.as_bytes()).unwrap()[0].kind, None);
    }

    #[test]
    fn malformed_lines_are_named() {
        let good = format!("{}  3  0644  hosts  hosts\n", sha256_hex(b""));
        for (bad, why) in [
            (format!("{good}nonsense\n"), "line 2: expected"),
            (format!("{}  x  0644  hosts  h\n", sha256_hex(b"")), "line 1: the size"),
            (format!("{}  3  0999  hosts  h\n", sha256_hex(b"")), "line 1: the mode"),
            (format!("{}  3  0644  hosts  ../h\n", sha256_hex(b"")), "line 1: the path has"),
            (format!("{}  3  0644  hosts  /h\n", sha256_hex(b"")), "line 1: the path is absolute"),
            ("ABC  3  0644  hosts  h\n".to_string(), "line 1: the sha256"),
            (format!("{good}{good}"), "lists `hosts` twice"),
        ] {
            let e = parse(bad.as_bytes()).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            assert!(e.to_string().contains(why), "{e} should contain {why}");
        }
    }

    #[test]
    fn old_sums_are_read() {
        let text = format!("{0}  b.ks\n{0} *a.ks\n", sha256_hex(b"x"));
        let v = parse_old(text.as_bytes()).unwrap();
        assert_eq!(v, vec![("a.ks".to_string(), sha256_hex(b"x")), ("b.ks".to_string(), sha256_hex(b"x"))]);
        assert!(parse_old(b"zz  a\n").is_err());
    }

    #[test]
    fn paths_are_checked() {
        assert_eq!(bad_path("kickstart/a.ks"), None);
        for p in ["", "/a", "a//b", "a/./b", "a/../b", "a/", "a\nb"] {
            assert!(bad_path(p).is_some(), "{p:?}");
        }
    }
}
