//! [`verify`](super::verify): a tree against its manifest.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::Mutex;

use super::baseline::{is_absent, read_at};
use super::{MANIFEST, ManifestEntry, Problem, at, manifest, sys, tree};

/// Manifest entries per unit of parallel work.
const CHUNK: usize = 256;

pub fn verify(dir: &Path) -> io::Result<Vec<Problem>> {
    let root = sys::open_dir_path(dir).map_err(|e| at(e, dir.display()))?;
    let problem = |what: String| vec![Problem { path: MANIFEST.to_string(), what }];
    let bytes = match read_at(root.as_fd(), &sys::cstr(MANIFEST.as_bytes())?) {
        Ok(b) => b,
        Err(e) if is_absent(&e) => return Ok(problem("missing".into())),
        Err(e) => return Ok(problem(format!("cannot be read ({e})"))),
    };
    let entries = match manifest::parse(&bytes) {
        Ok(v) => v,
        Err(e) => return Ok(problem(e.to_string())),
    };
    let found = Mutex::new(Vec::new());
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
