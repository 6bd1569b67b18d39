//! Writing one output file atomically (`kickstart -o FILE`, `graph -o FILE`). [I/O]
//!
//! The file is written to a temporary file beside its target, synced, and renamed over it, so
//! a reader never sees half a file and a failed run never leaves a truncated one. Whole trees
//! of outputs are written by [`crate::generation`].

use std::io::Write;
use std::path::Path;

/// Mode of a new output file: readable by the web or TFTP server that hands it out.
pub const NEW_FILE_MODE: u32 = 0o644;

/// Mode of an output file that holds secrets (a kickstart: root's password hash, keys):
/// never readable by other users.
pub const SECRET_FILE_MODE: u32 = 0o640;

/// Replace `path` with `bytes` atomically (keeping its mode; new files get 0644). A file
/// that already holds exactly `bytes` is left alone (same inode, same mtime).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, bytes, 0o7777)
}

/// [`write_atomic`] for a file that holds secrets: its mode is at most
/// [`SECRET_FILE_MODE`] (an existing file's stricter mode is kept), and a file that holds
/// the bytes already but is more open is written again with the stricter mode.
pub fn write_secret_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, bytes, SECRET_FILE_MODE)
}

/// [`write_atomic`] with the file's mode limited to `mask`.
fn write_atomic_with(path: &Path, bytes: &[u8], mask: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).ok();
    if unchanged(path, bytes) && current.is_some_and(|m| m & !mask == 0) {
        return Ok(());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".rocks-compile-").tempfile_in(dir).map_err(plain)?;
    tmp.write_all(bytes).map_err(plain)?;
    let mode = current.unwrap_or(NEW_FILE_MODE) & mask;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(plain)?;
    tmp.as_file().sync_all().map_err(plain)?;
    tmp.persist(path).map_err(|e| plain(e.error))?;
    Ok(())
}

/// Does the regular file at `path` hold exactly `bytes`?
fn unchanged(path: &Path, bytes: &[u8]) -> bool {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else { return false };
    match f.metadata() {
        Ok(m) if m.is_file() && m.len() == bytes.len() as u64 => {}
        _ => return false,
    }
    let mut old = Vec::with_capacity(bytes.len() + 1);
    f.read_to_end(&mut old).is_ok() && old == bytes
}

fn plain(e: std::io::Error) -> std::io::Error {
    // Errors are reported without the temporary file's name.
    std::io::Error::new(e.kind(), e.kind().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_keeping_the_mode_and_leaves_nothing_else() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.ks");
        write_atomic(&p, b"x\n").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o644);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"y\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"y\n");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_same_bytes_leave_the_file_alone() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.ks");
        write_atomic(&p, b"x\n").unwrap();
        let before = std::fs::metadata(&p).unwrap();
        write_atomic(&p, b"x\n").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), before.ino(), "unchanged bytes keep the inode");
        write_atomic(&p, b"x\ny\n").unwrap();
        assert_ne!(std::fs::metadata(&p).unwrap().ino(), before.ino(), "new bytes are a new file");
        assert_eq!(std::fs::read(&p).unwrap(), b"x\ny\n");
    }
}
