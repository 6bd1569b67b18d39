//! Writing outputs: atomic replacement, only changed bytes, and a sha256 manifest. [I/O]
//!
//! Every file is written to a temporary file beside its target, synced, and renamed over it,
//! so a reader (a web server handing out kickstarts) never sees half a file, and a failed run
//! never leaves a truncated one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Name of the manifest written beside a tree of outputs.
pub const MANIFEST: &str = "SHA256SUMS";

/// What [`write_tree`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub written: usize,
    pub unchanged: usize,
}

/// Replace `path` with `bytes` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    // Errors are reported without the temporary file's (random) name.
    let plain = |e: std::io::Error| std::io::Error::new(e.kind(), e.kind().to_string());
    let mut tmp = tempfile::Builder::new().prefix(".rocks-compile-").tempfile_in(dir).map_err(plain)?;
    tmp.write_all(bytes).map_err(plain)?;
    tmp.as_file().sync_all().map_err(plain)?;
    tmp.persist(path).map_err(|e| plain(e.error))?;
    Ok(())
}

/// Write `files` (relative name -> content) under `dir`, creating it; files whose bytes are
/// already there are left alone. A `SHA256SUMS` manifest of all of them is written last.
pub fn write_tree(dir: &Path, files: &BTreeMap<String, String>) -> std::io::Result<WriteStats> {
    std::fs::create_dir_all(dir)?;
    let mut stats = WriteStats::default();
    let mut manifest = String::new();
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            stats.unchanged += 1;
        } else {
            write_atomic(&path, text.as_bytes())?;
            stats.written += 1;
        }
        manifest.push_str(&format!("{}  {name}\n", sha256_hex(text.as_bytes())));
    }
    let mpath = dir.join(MANIFEST);
    if std::fs::read(&mpath).map_or(true, |old| old != manifest.as_bytes()) {
        write_atomic(&mpath, manifest.as_bytes())?;
    }
    Ok(stats)
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_is_incremental() {
        let d = tempfile::tempdir().unwrap();
        let files = BTreeMap::from([("a.ks".to_string(), "x\n".to_string()), ("b.ks".to_string(), "y\n".to_string())]);
        assert_eq!(write_tree(d.path(), &files).unwrap(), WriteStats { written: 2, unchanged: 0 });
        assert_eq!(write_tree(d.path(), &files).unwrap(), WriteStats { written: 0, unchanged: 2 });
        let m = std::fs::read_to_string(d.path().join(MANIFEST)).unwrap();
        assert!(m.starts_with(&format!("{}  a.ks\n", sha256_hex(b"x\n"))));
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 3, "no temporary files are left");
    }
}
