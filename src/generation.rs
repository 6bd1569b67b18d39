//! Output trees as atomic generations. [I/O]
//!
//! STUB: the API below is fixed; the implementation is being written.

use std::path::{Path, PathBuf};

use crate::plan::{Artifact, Kind, Plan};

/// Name of the manifest at the top of every tree.
pub const MANIFEST: &str = "MANIFEST";

/// What [`Generation::commit`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteStats {
    /// Files whose bytes are new or changed (written afresh).
    pub written: usize,
    /// Files hard-linked unchanged from the previous generation.
    pub unchanged: usize,
    /// Files of the previous generation's manifest that this one no longer has.
    pub removed: usize,
}

/// One line of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub mode: u32,
    /// `None` for trees written by older versions or foreign kinds.
    pub kind: Option<Kind>,
}

/// A change between the tree on disk and a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Changed,
    Removed,
}

/// What [`verify`] found wrong with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub what: String,
}

/// A new generation of the tree at `dir` being staged. See the module docs.
pub struct Generation {
    _dir: PathBuf,
    _prune: bool,
}

impl Generation {
    /// Start a new generation of `dir`.
    pub fn begin(dir: &Path, prune: bool) -> std::io::Result<Generation> {
        Ok(Generation { _dir: dir.to_path_buf(), _prune: prune })
    }

    /// Stage one artifact (callable from several threads).
    pub fn add(&self, artifact: &Artifact) -> std::io::Result<()> {
        let _ = artifact;
        Ok(())
    }

    /// Make the staged generation the tree at `dir`, atomically.
    pub fn commit(self) -> std::io::Result<WriteStats> {
        Ok(WriteStats::default())
    }
}

/// Write a whole plan as the new generation of `dir`.
pub fn write(dir: &Path, plan: &Plan, prune: bool) -> std::io::Result<WriteStats> {
    let g = Generation::begin(dir, prune)?;
    for a in &plan.artifacts {
        g.add(a)?;
    }
    g.commit()
}

/// Read the manifest of the tree at `dir` (empty when there is no tree yet).
pub fn read_manifest(dir: &Path) -> std::io::Result<Vec<ManifestEntry>> {
    let _ = dir;
    Ok(Vec::new())
}

/// Compare `plan` with the tree at `dir`: every added, changed or removed path, sorted by
/// path, with its kind (for removed files, the kind the manifest recorded).
pub fn changes(dir: &Path, plan: &Plan) -> std::io::Result<Vec<(Change, Option<Kind>, String)>> {
    let _ = (dir, plan);
    Ok(Vec::new())
}

/// Check the tree at `dir` against its manifest: every listed file present with its size,
/// hash and mode. Empty: the tree is intact.
pub fn verify(dir: &Path) -> std::io::Result<Vec<Problem>> {
    let _ = dir;
    Ok(Vec::new())
}
