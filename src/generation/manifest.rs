//! The manifests' text: one line per file, sorted by path,
//! `<sha256>  <size>  <mode octal>  <kind>  <path>`; and the old per-directory `SHA256SUMS`
//! (`<sha256>  <path>`) that earlier versions wrote, read when a tree has no manifest yet.
//!
//! A file others may not read ([`is_private`]: every file holding a secret is 0640) is
//! listed in the public manifest as `-  -  <mode octal>  <kind>  <path>`, without the size
//! and sha256 that would let anyone who can fetch the manifest test a guess of its bytes
//! offline; its whole line is in the private manifest, which lists nothing else.

use std::collections::HashMap;
use std::io;

use sha2::{Digest, Sha256};

use super::{MANIFEST, ManifestEntry, PRIVATE_MANIFEST};
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

/// Is a file of `mode` listed in the private manifest (its size and sha256 withheld from
/// the public one)? When others may not read it: the web server must not vouch for bytes
/// it does not hand out to everyone.
pub fn is_private(mode: u32) -> bool {
    mode & 0o004 == 0
}

/// The two manifests of a tree, as [`render`] makes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Every file; the private ones without size and sha256.
    pub public: String,
    /// The whole lines of the private files (empty: the tree has none, and no private
    /// manifest).
    pub private: String,
}

/// A manifest as read: its whole lines, and the files it lists without size and sha256.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub entries: Vec<ManifestEntry>,
    pub withheld: Vec<Withheld>,
}

/// A file the public manifest lists without size and sha256 (a private file, see
/// [`is_private`]): its entry is in the private manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withheld {
    pub path: String,
    pub mode: u32,
    pub kind: Option<Kind>,
}

/// One manifest line (with its newline); `withhold`: without size and sha256. Written by
/// hand rather than with `write!`: a 300,000-line manifest is rendered on every build.
pub fn render_line(out: &mut String, e: &ManifestEntry, withhold: bool) {
    if withhold {
        out.push_str("-  -  ");
    } else {
        out.push_str(&e.sha256);
        out.push_str("  ");
        push_decimal(out, e.size);
        out.push_str("  ");
    }
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

/// Both manifests of `entries` (which must be sorted by path).
pub fn render(entries: &[ManifestEntry]) -> Rendered {
    let mut public = String::with_capacity(entries.len() * 128);
    let mut private = String::new();
    for e in entries {
        let withhold = is_private(e.mode);
        render_line(&mut public, e, withhold);
        if withhold {
            render_line(&mut private, e, false);
        }
    }
    Rendered { public, private }
}

fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[i..]).expect("ASCII digits"));
}

fn corrupt(name: &str, line: usize, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{name} line {line}: {what}"))
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parse the manifest `name` (for messages); its lines come back sorted by path. Any
/// malformed line, or a path listed twice, is an [`io::ErrorKind::InvalidData`] error naming
/// the line.
pub fn parse(text: &[u8], name: &str) -> io::Result<Parsed> {
    let text = std::str::from_utf8(text).map_err(|e| corrupt(name, 0, format!("not UTF-8 ({e})")))?;
    let mut out = Parsed { entries: Vec::with_capacity(text.len() / 120), withheld: Vec::new() };
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let bad = |what: &str| corrupt(name, n, what);
        let mut f = line.splitn(5, "  ");
        let (Some(sha), Some(size), Some(mode), Some(kind), Some(path)) = (f.next(), f.next(), f.next(), f.next(), f.next()) else {
            return Err(bad("expected `<sha256>  <size>  <mode>  <kind>  <path>`"));
        };
        let mode = u32::from_str_radix(mode, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(|| bad("the mode is not an octal mode"))?;
        // A kind this version does not know (a later version's) reads as unknown.
        let kind = if kind == "-" { None } else { kind.parse::<Kind>().ok() };
        if let Some(why) = bad_path(path) {
            return Err(bad(why));
        }
        if (sha, size) == ("-", "-") {
            out.withheld.push(Withheld { path: path.to_string(), mode, kind });
            continue;
        }
        if !is_sha256(sha) {
            return Err(bad("the sha256 is not 64 lower-case hex digits"));
        }
        let size = size.parse::<u64>().map_err(|_| bad("the size is not a number"))?;
        out.entries.push(ManifestEntry { path: path.to_string(), size, sha256: sha.to_string(), mode, kind });
    }
    out.entries = sort_unique(out.entries, name)?;
    Ok(out)
}

/// The entries of a tree: the public manifest's whole lines, and for each file it withholds
/// the entry of the private manifest (`None`: the tree has none, as a tree written before
/// there were two). The two must agree: the private manifest lists every withheld file with
/// the same mode and kind, and nothing else. Sorted by path.
pub fn join(public: Parsed, private: Option<Parsed>) -> io::Result<Vec<ManifestEntry>> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let Some(private) = private else {
        return match public.withheld.first() {
            Some(w) => Err(invalid(format!("{MANIFEST} lists `{}` as private, but there is no {PRIVATE_MANIFEST}", w.path))),
            None => Ok(public.entries),
        };
    };
    if let Some(w) = private.withheld.first() {
        return Err(invalid(format!("{PRIVATE_MANIFEST} lists `{}` without its size and sha256", w.path)));
    }
    let mut whole: HashMap<String, ManifestEntry> = private.entries.into_iter().map(|e| (e.path.clone(), e)).collect();
    let mut out = public.entries;
    out.reserve(public.withheld.len());
    for w in public.withheld {
        let Some(e) = whole.remove(&w.path) else {
            return Err(invalid(format!("{MANIFEST} lists `{}` as private, but {PRIVATE_MANIFEST} does not list it", w.path)));
        };
        if (e.mode, e.kind) != (w.mode, w.kind) {
            return Err(invalid(format!("`{}` has another mode or kind in {PRIVATE_MANIFEST} than in {MANIFEST}", w.path)));
        }
        out.push(e);
    }
    if let Some(path) = whole.keys().min() {
        return Err(invalid(format!("{PRIVATE_MANIFEST} lists `{path}`, which {MANIFEST} does not list as private")));
    }
    sort_unique(out, MANIFEST)
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
        ManifestEntry { path: path.into(), size: 3, sha256: sha256_hex(b"ab\n"), mode: 0o644, kind }
    }

    fn whole(text: &str) -> Vec<ManifestEntry> {
        join(parse(text.as_bytes(), MANIFEST).unwrap(), None).unwrap()
    }

    #[test]
    fn lines_round_trip() {
        let mut v = vec![entry("a b/c  d.ks", Some(Kind::Kickstart)), entry("hosts", None), entry("x", None)];
        v[2].size = 1_234_567_890;
        v[2].mode = 0o4755;
        let text = render(&v);
        let expected =
            format!("{0}  3  0644  kickstart  a b/c  d.ks\n{0}  3  0644  -  hosts\n{0}  1234567890  4755  -  x\n", sha256_hex(b"ab\n"));
        assert_eq!(text, Rendered { public: expected.clone(), private: String::new() });
        assert_eq!(whole(&expected), v);
    }

    #[test]
    fn private_files_have_their_size_and_hash_in_the_private_manifest_only() {
        let mut v = vec![entry("a.ks", Some(Kind::Kickstart)), entry("hosts", Some(Kind::Hosts)), entry("z.ks", Some(Kind::Kickstart))];
        v[0].mode = 0o640;
        v[2].mode = 0o600;
        let Rendered { public, private } = render(&v);
        let sha = sha256_hex(b"ab\n");
        assert_eq!(public, format!("-  -  0640  kickstart  a.ks\n{sha}  3  0644  hosts  hosts\n-  -  0600  kickstart  z.ks\n"));
        assert_eq!(private, format!("{sha}  3  0640  kickstart  a.ks\n{sha}  3  0600  kickstart  z.ks\n"));
        let read = |t: &str, name| parse(t.as_bytes(), name).unwrap();
        let p = read(&public, MANIFEST);
        assert_eq!(p.entries, [v[1].clone()]);
        assert_eq!(p.withheld.iter().map(|w| (w.path.as_str(), w.mode)).collect::<Vec<_>>(), [("a.ks", 0o640), ("z.ks", 0o600)]);
        assert_eq!(join(p.clone(), Some(read(&private, PRIVATE_MANIFEST))).unwrap(), v);

        // The two must agree.
        let fails = |private: Option<&str>, why: &str| {
            let e = join(p.clone(), private.map(|t| read(t, PRIVATE_MANIFEST))).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            assert!(e.to_string().contains(why), "{e} should contain {why}");
        };
        fails(None, "lists `a.ks` as private, but there is no MANIFEST.private");
        let one = private.lines().next().unwrap().to_string() + "\n";
        fails(Some(&one), "`z.ks` as private");
        fails(Some(&format!("{private}{sha}  3  0640  hosts  zz\n")), "lists `zz`, which MANIFEST does not");
        fails(Some(&private.replace("0600", "0640")), "`z.ks` has another mode or kind");
        fails(Some(&public), "without its size and sha256");
        // A tree of an earlier version: one manifest lists private files whole.
        assert_eq!(whole(&private), [v[0].clone(), v[2].clone()]);
    }

    #[test]
    fn unknown_kinds_read_as_unknown() {
        let line = format!("{}  3  0644  tomorrow  x\n", sha256_hex(b""));
        assert_eq!(whole(&line)[0].kind, None);
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
            ("-  3  0644  hosts  h\n".to_string(), "line 1: the sha256"),
            ("-  -  0644  hosts  ../h\n".to_string(), "line 1: the path has"),
            (format!("{good}{good}"), "lists `hosts` twice"),
        ] {
            let e = parse(bad.as_bytes(), MANIFEST).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            assert!(e.to_string().contains(why), "{e} should contain {why}");
        }
        let e = join(parse(format!("{good}-  -  0640  hosts  hosts\n").as_bytes(), MANIFEST).unwrap(), Some(parse(good.replace("0644", "0640").as_bytes(), PRIVATE_MANIFEST).unwrap())).unwrap_err();
        assert!(e.to_string().contains("lists `hosts` twice"), "{e}");
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
