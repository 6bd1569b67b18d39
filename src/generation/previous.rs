//! [`Previous`]: what the last generation of a tree was made from, so a build can carry
//! over the files whose inputs did not change without making or reading them again.

use std::collections::HashMap;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;

use super::baseline::{self, Baseline, Place};
use super::{ManifestEntry, sys};

/// The previous generation of a tree: its manifest and the input keys a build recorded in
/// it (see [`Previous::render_keys`]).
pub struct Previous {
    base: Option<Arc<Baseline>>,
    keys: HashMap<String, String>,
}

impl Previous {
    /// No previous generation: nothing can be kept.
    pub fn none() -> Previous {
        Previous { base: None, keys: HashMap::new() }
    }

    /// Read the tree at `dir` (none yet: [`Previous::none`]) and its keys file `keys` (a
    /// path in the tree, as [`Previous::render_keys`] wrote it; absent or malformed: no key).
    pub fn read(dir: &Path, keys: &str) -> io::Result<Previous> {
        let place = match Place::new(dir, false) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Previous::none()),
            Err(e) => return Err(e),
        };
        let lock = sys::openat(place.parent.as_fd(), &place.lock, libc::O_RDONLY, 0).ok();
        Previous::from_base(Arc::new(Baseline::read(&place, lock.as_ref().map(|l| l.as_fd()))?), keys)
    }

    /// The previous generation `base`, with its keys file `keys`.
    pub(super) fn from_base(base: Arc<Baseline>, keys: &str) -> io::Result<Previous> {
        let mut found = HashMap::new();
        if let (Some(live), Some(_)) = (&base.live, base.entries.get(keys)) {
            match baseline::read_at(live.as_fd(), &sys::cstr(keys.as_bytes())?) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    for line in text.lines().filter(|l| !l.starts_with('#')) {
                        if let Some((name, key)) = line.split_once(' ') {
                            found.insert(name.to_string(), key.to_string());
                        }
                    }
                }
                Err(e) if baseline::is_absent(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Previous { base: Some(base), keys: found })
    }

    /// The key recorded for `name`.
    pub fn key(&self, name: &str) -> Option<&str> {
        self.keys.get(name).map(String::as_str)
    }

    /// The manifest entry of `path` when the file is still intact in the tree, so that it can
    /// be kept as it is.
    pub fn reusable(&self, path: &str) -> io::Result<Option<ManifestEntry>> {
        let Some(base) = &self.base else { return Ok(None) };
        if !base.intact(path)? {
            return Ok(None);
        }
        Ok(base.entries.get(path).cloned())
    }

    /// The text of a keys file: one `NAME KEY` line each, sorted by name.
    pub fn render_keys<'a>(keys: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
        let mut keys: Vec<(&str, &str)> = keys.into_iter().collect();
        keys.sort_unstable();
        let mut out = String::from("# the input key of each host's files (rocks-compile build): unchanged keys are not made again\n");
        for (name, key) in keys {
            out.push_str(name);
            out.push(' ');
            out.push_str(key);
            out.push('\n');
        }
        out
    }
}
