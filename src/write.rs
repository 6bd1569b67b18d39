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
///
/// Every changed file is first written to a temporary file beside its target; one sync of
/// the file system then makes all of them durable before they are renamed into place, so a
/// tree of 10,000 kickstarts costs one sync, not 10,000.
pub fn write_tree(dir: &Path, files: &BTreeMap<String, String>) -> std::io::Result<WriteStats> {
    std::fs::create_dir_all(dir)?;
    let plain = |e: std::io::Error| std::io::Error::new(e.kind(), e.kind().to_string());
    let mut stats = WriteStats::default();
    let mut manifest = String::new();
    let mut pending: Vec<(tempfile::TempPath, std::path::PathBuf)> = Vec::new();
    let mut made: std::collections::BTreeSet<std::path::PathBuf> = std::collections::BTreeSet::new();
    let mut stage = |path: std::path::PathBuf, bytes: &[u8], pending: &mut Vec<_>| -> std::io::Result<()> {
        let parent = path.parent().unwrap_or(dir).to_path_buf();
        if made.insert(parent.clone()) {
            std::fs::create_dir_all(&parent)?;
        }
        let mut tmp = tempfile::Builder::new().prefix(".rocks-compile-").tempfile_in(&parent).map_err(plain)?;
        tmp.write_all(bytes).map_err(plain)?;
        pending.push((tmp.into_temp_path(), path));
        Ok(())
    };
    for (name, text) in files {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            stats.unchanged += 1;
        } else {
            stage(path, text.as_bytes(), &mut pending)?;
            stats.written += 1;
        }
        manifest.push_str(&format!("{}  {name}\n", sha256_hex(text.as_bytes())));
    }
    let mpath = dir.join(MANIFEST);
    if std::fs::read(&mpath).map_or(true, |old| old != manifest.as_bytes()) {
        stage(mpath, manifest.as_bytes(), &mut pending)?;
    }
    if pending.is_empty() {
        return Ok(stats);
    }
    sync_filesystem(dir)?;
    for (tmp, path) in pending {
        tmp.persist(&path).map_err(|e| plain(e.error))?;
    }
    std::fs::File::open(dir)?.sync_all()?;
    Ok(stats)
}

/// Flush every written file of the file system holding `dir` (one `syncfs`).
fn sync_filesystem(dir: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(dir)?;
    // SAFETY: `syncfs` only reads the descriptor, which `f` keeps open for the call.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
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
