//! [`verify`](super::verify): a tree against its manifests.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::Mutex;

use super::baseline::{is_absent, read_at, read_file};
use super::{MANIFEST, ManifestEntry, PRIVATE_MANIFEST, Problem, at, manifest, sys, tree};

/// Manifest entries per unit of parallel work.
const CHUNK: usize = 256;

pub fn verify(dir: &Path) -> io::Result<Vec<Problem>> {
    let root = sys::open_dir_path(dir).map_err(|e| at(e, dir.display()))?;
    let problem = |path: &str, what: String| Problem { path: path.to_string(), what };
    let public = match read_file(root.as_fd(), MANIFEST) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(vec![problem(MANIFEST, "missing".into())]),
        Err(e) => return Ok(vec![problem(MANIFEST, format!("cannot be read ({e})"))]),
    };
    let parsed = match manifest::parse(&public, MANIFEST) {
        Ok(v) => v,
        Err(e) => return Ok(vec![problem(MANIFEST, e.to_string())]),
    };
    // The files of the public manifest are checked even when the private one is at fault.
    let private = match read_file(root.as_fd(), PRIVATE_MANIFEST) {
        Ok(b) => b.map(|b| manifest::parse(&b, PRIVATE_MANIFEST).map_err(|e| e.to_string())).transpose(),
        Err(e) => Err(format!("cannot be read ({e})")),
    };
    let mut found = Vec::new();
    let entries = match private.and_then(|p| manifest::join(parsed.clone(), p).map_err(|e| e.to_string())) {
        Ok(v) => v,
        Err(what) => {
            found.push(problem(PRIVATE_MANIFEST, what));
            parsed.entries
        }
    };
    let found = Mutex::new(found);
    let chunks: Vec<&[ManifestEntry]> = entries.chunks(CHUNK).collect();
    tree::parallel(&chunks, |chunk| {
        let mut mine = Vec::new();
        for e in chunk.iter() {
            mine.extend(check(root.as_fd(), e)?.into_iter().map(|what| Problem { path: e.path.clone(), what }));
        }
        found.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
        Ok(())
    })?;
    let mut found = found.into_inner().unwrap_or_else(|p| p.into_inner());
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// What is wrong with the file of entry `e` (nothing: it is intact).
fn check(root: BorrowedFd<'_>, e: &ManifestEntry) -> io::Result<Vec<String>> {
    let c = sys::cstr(e.path.as_bytes())?;
    let st = match sys::lstatat(root, &c) {
        Ok(st) => st,
        Err(err) if is_absent(&err) => return Ok(vec!["missing".into()]),
        Err(err) => return Ok(vec![format!("cannot be examined ({err})")]),
    };
    if !sys::is_file(&st) {
        return Ok(vec!["not a regular file".into()]);
    }
    let mut what = Vec::new();
    let mode = st.st_mode & 0o7777;
    if mode != e.mode {
        what.push(format!("mode {mode:04o} != {:04o}", e.mode));
    }
    let size = st.st_size as u64;
    if size != e.size {
        what.push(format!("size {size} != {}", e.size));
    } else {
        match read_at(root, &c) {
            Ok(bytes) if manifest::sha256_hex(&bytes) != e.sha256 => what.push("sha256 differs".into()),
            Ok(_) => {}
            Err(err) => what.push(format!("cannot be read ({err})")),
        }
    }
    Ok(what)
}
