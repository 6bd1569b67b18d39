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
    /// Files an earlier run wrote (listed in its manifest) that this run no longer produces.
    pub removed: usize,
}

/// Mode of a new output file: readable by the web or TFTP server that hands it out.
pub const NEW_FILE_MODE: u32 = 0o644;

/// Give a staged file the mode of the file it replaces, or [`NEW_FILE_MODE`].
fn set_mode(tmp: &std::fs::File, target: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(target).map(|m| m.permissions().mode() & 0o7777).unwrap_or(NEW_FILE_MODE);
    tmp.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// Replace `path` with `bytes` atomically (keeping its mode; new files get 0644).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".rocks-compile-").tempfile_in(dir).map_err(plain)?;
    tmp.write_all(bytes).map_err(plain)?;
    set_mode(tmp.as_file(), path).map_err(plain)?;
    tmp.as_file().sync_all().map_err(plain)?;
    tmp.persist(path).map_err(|e| plain(e.error))?;
    Ok(())
}

/// Write `files` (relative name -> content) under `dir`, creating it; files whose bytes are
/// already there are left alone. A `SHA256SUMS` manifest of all of them is written last;
/// with `prune`, files listed in the previous manifest and absent now are removed.
pub fn write_tree(dir: &Path, files: &BTreeMap<String, String>, prune: bool) -> std::io::Result<WriteStats> {
    let w = TreeWriter::new(dir)?;
    for (name, text) in files {
        w.add(name, text.as_bytes())?;
    }
    w.commit(prune)
}

/// Builds a tree of output files: none of them changes unless every file could be staged.
///
/// [`TreeWriter::add`] (callable from several threads) stages each changed file in a
/// temporary file beside its target; [`TreeWriter::commit`] makes them durable with one sync
/// of the file system, renames them into place, and writes the `SHA256SUMS` manifest.
/// Dropping the writer without committing removes every staged file, so a failed run leaves
/// the previous outputs untouched. A tree of 10,000 kickstarts costs one sync, not 10,000,
/// and never has to be held in memory.
pub struct TreeWriter {
    dir: std::path::PathBuf,
    state: std::sync::Mutex<TreeState>,
}

#[derive(Default)]
struct TreeState {
    made: std::collections::BTreeSet<std::path::PathBuf>,
    pending: Vec<(tempfile::TempPath, std::path::PathBuf)>,
    /// Name -> sha256 of every file of the tree.
    sums: BTreeMap<String, String>,
    stats: WriteStats,
}

fn plain(e: std::io::Error) -> std::io::Error {
    // Errors are reported without the temporary file's (random) name.
    std::io::Error::new(e.kind(), e.kind().to_string())
}

impl TreeWriter {
    pub fn new(dir: &Path) -> std::io::Result<TreeWriter> {
        std::fs::create_dir_all(dir)?;
        Ok(TreeWriter { dir: dir.to_path_buf(), state: std::sync::Mutex::new(TreeState::default()) })
    }

    /// Stage `name` (relative to the tree) with `bytes`, unless the file already holds them.
    pub fn add(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.dir.join(name);
        let sum = sha256_hex(bytes);
        let unchanged = std::fs::read(&path).is_ok_and(|old| old == bytes);
        let staged = if unchanged { None } else { Some(self.stage(&path, bytes)?) };
        let mut st = self.state.lock().expect("no panic while holding the writer's lock");
        st.sums.insert(name.to_string(), sum);
        match staged {
            Some(tmp) => {
                st.pending.push((tmp, path));
                st.stats.written += 1;
            }
            None => st.stats.unchanged += 1,
        }
        Ok(())
    }

    fn stage(&self, path: &Path, bytes: &[u8]) -> std::io::Result<tempfile::TempPath> {
        let parent = path.parent().unwrap_or(&self.dir).to_path_buf();
        let fresh = self.state.lock().expect("no panic while holding the writer's lock").made.insert(parent.clone());
        if fresh {
            std::fs::create_dir_all(&parent)?;
        }
        let mut tmp = tempfile::Builder::new().prefix(".rocks-compile-").tempfile_in(&parent).map_err(plain)?;
        tmp.write_all(bytes).map_err(plain)?;
        set_mode(tmp.as_file(), path).map_err(plain)?;
        Ok(tmp.into_temp_path())
    }

    /// Sync, rename every staged file into place and write the manifest. With `prune`, also
    /// remove the files the previous manifest listed that this tree no longer has (only
    /// files we wrote; others in the directory are never touched).
    pub fn commit(self, prune: bool) -> std::io::Result<WriteStats> {
        let mut st = self.state.into_inner().expect("no panic while holding the writer's lock");
        let mpath = self.dir.join(MANIFEST);
        let old_manifest = std::fs::read_to_string(&mpath).unwrap_or_default();
        let mut stale: Vec<String> = Vec::new();
        for (sum, name) in old_manifest.lines().filter_map(|l| l.split_once("  ")) {
            if st.sums.contains_key(name) || name.contains("..") || name.starts_with('/') {
                continue;
            }
            if prune {
                stale.push(name.to_string());
            } else if self.dir.join(name).is_file() {
                // Not produced this time but still there: it stays ours, and listed.
                st.sums.insert(name.to_string(), sum.to_string());
            }
        }
        let manifest: String = st.sums.iter().map(|(name, sum)| format!("{sum}  {name}\n")).collect();
        if old_manifest.as_bytes() != manifest.as_bytes() {
            let mut tmp = tempfile::Builder::new().prefix(".rocks-compile-").tempfile_in(&self.dir).map_err(plain)?;
            tmp.write_all(manifest.as_bytes()).map_err(plain)?;
            set_mode(tmp.as_file(), &mpath).map_err(plain)?;
            st.pending.push((tmp.into_temp_path(), mpath));
        }
        if st.pending.is_empty() {
            return Ok(st.stats);
        }
        sync_filesystem(&self.dir)?;
        for (tmp, path) in st.pending {
            tmp.persist(&path).map_err(|e| plain(e.error))?;
        }
        for name in stale {
            match std::fs::remove_file(self.dir.join(&name)) {
                Ok(()) => st.stats.removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(st.stats)
    }
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
        assert_eq!(write_tree(d.path(), &files, true).unwrap(), WriteStats { written: 2, unchanged: 0, removed: 0 });
        assert_eq!(write_tree(d.path(), &files, true).unwrap(), WriteStats { written: 0, unchanged: 2, removed: 0 });
        let m = std::fs::read_to_string(d.path().join(MANIFEST)).unwrap();
        assert!(m.starts_with(&format!("{}  a.ks\n", sha256_hex(b"x\n"))));
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 3, "no temporary files are left");
        std::fs::write(d.path().join("mine.txt"), "not ours").unwrap();
        let fewer = BTreeMap::from([("b.ks".to_string(), "y\n".to_string())]);
        assert_eq!(write_tree(d.path(), &fewer, false).unwrap(), WriteStats { written: 0, unchanged: 1, removed: 0 });
        assert!(d.path().join("a.ks").exists(), "without prune, nothing is removed");
        let m = std::fs::read_to_string(d.path().join(MANIFEST)).unwrap();
        assert!(m.contains("  a.ks\n"), "the manifest still lists the files we wrote and left: {m}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(d.path().join("b.ks")).unwrap().permissions().mode() & 0o777, 0o644);
        std::fs::set_permissions(d.path().join("b.ks"), std::fs::Permissions::from_mode(0o640)).unwrap();
        let changed = BTreeMap::from([("b.ks".to_string(), "z\n".to_string())]);
        assert_eq!(write_tree(d.path(), &changed, true).unwrap(), WriteStats { written: 1, unchanged: 0, removed: 1 });
        assert_eq!(std::fs::metadata(d.path().join("b.ks")).unwrap().permissions().mode() & 0o777, 0o640, "the mode is kept");
        assert!(!d.path().join("a.ks").exists(), "a file we wrote and no longer produce is removed");
        assert!(d.path().join("mine.txt").exists(), "files we did not write are kept");
    }
}
