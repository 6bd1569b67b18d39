//! Output trees as atomic generations. [I/O]
//!
//! A reader of the tree (nginx, a TFTP server, `dhcpd` reloading) or a crash sees either the
//! whole previous tree or the whole new one, never a mix. Every file is listed with its
//! sha256, size, mode and kind in the manifests at the top, and `verify` checks a tree
//! against them.
//!
//! # Two manifests
//!
//! [`MANIFEST`] (0644, served with the tree) lists every file of the build. A file others may
//! not read (every file holding a secret is 0640) is listed there by mode, kind and path
//! only: its size and sha256 would let anyone who can fetch the manifest test guesses of
//! its bytes offline (a root password hash of a known length, a key). Its whole entry is in
//! [`PRIVATE_MANIFEST`], written 0640 like the secret files themselves (so only the build's
//! group reads it), and only when the generation has such a file. Both are files of the
//! generation, swapped in with it. Everything that reads a tree's manifest (a build deciding
//! what is unchanged, `verify`, `build --only`, the responder) reads both as one list; a
//! tree written before there were two (one manifest listing every file whole) reads as it
//! always did, and its next generation has both.
//!
//! # Layout
//!
//! The tree `DIR` = `<parent>/<name>` is a real directory (a symlink given as `DIR` is
//! resolved first). Beside it, with fixed names (nothing is ever named at random):
//!
//! ```text
//! <parent>/<name>         the tree: the current generation
//! <parent>/.<name>.new    the generation being staged
//! <parent>/.<name>.old    the previous generation, being removed after a swap
//! <parent>/.<name>.lock   flock(2)ed by a run, so two runs never interleave; after a
//!                         completed run it also records which tree it completed (the stamp)
//! <parent>/.<name>.reload the reloads of services that failed after a swap, to be run again
//!                         by the next build (see `crate::services`); only while one is due
//! ```
//!
//! # A generation
//!
//! 1. [`Generation::begin`] takes the lock, then cleans up after a killed run: `.new` and
//!    `.old` are removed (if `DIR` itself is missing while `.old` exists, the run was killed
//!    between the two renames of the fallback below, and `.old` is put back first). It reads
//!    the tree's manifest (or an old-style `SHA256SUMS`, see below) and creates `.new`.
//! 2. [`Generation::add`] (callable from several threads) computes each artifact's sha256.
//!    A file the tree already holds exactly (see "Trusting unchanged files") is only noted,
//!    to be hard-linked later; any other file is written into `.new` at once, with exactly
//!    the artifact's mode (0644, or 0640 for a file holding a secret), so no artifact's bytes
//!    are kept in memory. No file is synced on its own.
//! 3. [`Generation::commit`]:
//!    - When nothing changed (no file written, none removed, the same manifests), the
//!      tree is left alone: no swap, every inode and time stays, `.new` goes.
//!    - Otherwise every file that goes over is hard-linked from `DIR` into `.new` (so it
//!      keeps its inode and mtime), using all cores: the plan's unchanged files, the files
//!      kept without pruning, and foreign files (below). Directories are 0755.
//!    - The manifests are written into `.new`, the filesystem is synced once (`syncfs`), and
//!      `renameat2(.new, DIR, RENAME_EXCHANGE)` swaps the two directories in one atomic
//!      step; the previous generation, now at `.new`, is renamed `.old`, the parent is
//!      fsynced, `.old` is removed, and the lock file is stamped.
//!
//! A run that fails or is killed before the exchange leaves `DIR` untouched (hard-linking
//! does not change a file); one killed after it leaves the whole new generation. Either
//! way the next run removes the leftovers. A dropped [`Generation`] removes `.new` itself.
//!
//! **Without `RENAME_EXCHANGE`** (the filesystem answers `EINVAL`, e.g. NFS or some FUSE
//! filesystems; or `ENOSYS`): `DIR` is renamed to `.old` and `.new` to `DIR`. Readers may
//! then find no `DIR` for that moment (never a mix), and a crash between the two renames
//! leaves no `DIR`: the next run puts `.old` back before anything else, so the previous
//! generation serves again. An empty or missing `DIR` is simply renamed into place.
//!
//! # Whose files
//!
//! - Files the manifest lists are the build's. Without pruning, listed files the plan no
//!   longer makes are carried over and stay listed with their old entry; with pruning they
//!   are left out (counted as removed).
//! - Foreign files, in the tree but not in its manifest (an operator's `tftp/pxelinux.0`,
//!   kernel images), are carried over unchanged and never listed. Empty foreign directories
//!   are kept too. A plan file at the same path replaces a foreign file; a foreign file that
//!   would need a plan file to be a directory (or the reverse) is an error.
//! - An old-style top-level `SHA256SUMS` (`<sha256>  <path>`, written per directory by
//!   earlier versions, e.g. `kickstart --query -o DIR`) is read when there is no manifest,
//!   so that its files are the build's (pruned, linked when unchanged); the `SHA256SUMS`
//!   itself is dropped from the new generation. `SHA256SUMS` files deeper in the tree are
//!   foreign files.
//! - Where the kernel refuses to hard-link a file the running user does not own
//!   (`fs.protected_hardlinks`), it is copied (same bytes, mode and times) instead.
//!
//! # Trusting unchanged files
//!
//! An artifact is linked as unchanged only when its manifest entry has the same sha256,
//! size and mode, and the file in `DIR` is a regular file of that size and mode that either
//! holds these very bytes (it is read and compared) or has not changed since the last
//! completed generation. The latter avoids reading 300,000 files: after a completed run
//! the lock file records the tree's device, directory inode and manifest inode, and its
//! modification time is the stamp. A file whose status-change time (`ctime`, which every
//! write, chmod, rename or link of it moves to "now", and which no user can set back) is
//! strictly before the stamp has not been touched since, so it still holds what the
//! manifest says. Files touched in the very tick of the stamp, files our own hard-linking
//! touched in a run that did not complete, and trees without a valid stamp (another tree,
//! an old-style tree, a restored backup) are read and compared instead. A tree edited in
//! place *while* a build runs can still end up with a stale manifest entry; `verify`
//! reports it.
//!
//! # Testing aids
//!
//! [`CRASH_AT_ENV`] `=N` kills the process with SIGKILL at the N-th step of a generation,
//! counted from 1 over: taking the lock, each leftover file or directory removed, creating
//! `.new`, each file written, each file linked, before and after the manifests, after the
//! sync, after the exchange (or between the two renames of the fallback), after renaming
//! the previous generation, after the fsync, each file and directory of `.old` removed.
//! `=count` prints the number of steps a run had to stderr. [`NO_EXCHANGE_ENV`] (set to
//! anything) makes a run use the fallback without `RENAME_EXCHANGE`.

mod baseline;
mod crash;
mod manifest;
mod previous;
mod stage;
mod sys;
mod tree;
mod verify;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::sync::Mutex;

pub use manifest::{OLD_MANIFEST, hex, sha256_hex};
pub use previous::Previous;
pub use stage::Generation;

use crate::plan::{Artifact, Kind, Plan};

/// Name of the manifest at the top of every tree.
pub const MANIFEST: &str = "MANIFEST";

/// Name of the private manifest beside it: the whole entries of the files others may not
/// read, whose size and sha256 [`MANIFEST`] withholds (see "Two manifests" above).
pub const PRIVATE_MANIFEST: &str = "MANIFEST.private";

/// Testing aid: `ROCKS_COMPILE_CRASH_AT=N` kills the process at step N of a generation;
/// `=count` prints how many steps a generation had (see the module docs).
pub const CRASH_AT_ENV: &str = "ROCKS_COMPILE_CRASH_AT";

/// Testing aid: `ROCKS_COMPILE_NO_EXCHANGE=1` swaps generations as on a filesystem without
/// `RENAME_EXCHANGE` (two renames).
pub const NO_EXCHANGE_ENV: &str = "ROCKS_COMPILE_NO_EXCHANGE";

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

/// What [`Generation::commit_changes`] did, and to which files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    pub stats: WriteStats,
    /// Every file the new generation changed, sorted by path, with its kind (for a removed
    /// file, the kind its manifest entry recorded): the files a service reading the tree
    /// may have to reload.
    pub changes: Vec<(Change, Option<Kind>, String)>,
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

/// What `verify` found wrong with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    /// `missing`, `not a regular file`, `size <on disk> != <listed>`, `sha256 differs`,
    /// `mode <on disk> != <listed>` (octal), `cannot be read (...)`; for the path
    /// `MANIFEST` or `MANIFEST.private`: `missing` or what makes it unreadable, or why the two
    /// do not agree.
    pub what: String,
}

/// Write a whole plan as the new generation of `dir` (artifacts staged on all cores).
pub fn write(dir: &Path, plan: &Plan, prune: bool) -> io::Result<WriteStats> {
    write_reporting(dir, plan, prune, &|_| {}, &mut |_| {}).map(|c| c.stats)
}

/// [`write`], calling `staged(n)` as each batch of `n` artifacts is staged (for a progress
/// bar; from several threads) and `waiting` when another run holds the lock
/// ([`Generation::begin_waiting`]), and saying which files changed.
pub fn write_reporting(
    dir: &Path,
    plan: &Plan,
    prune: bool,
    staged: &(dyn Fn(usize) + Sync),
    waiting: &mut dyn FnMut(&Path),
) -> io::Result<Committed> {
    finish(Generation::begin_waiting(dir, prune, waiting)?, plan, staged)
}

/// Stage `plan` into `g` (which may hold staged files already, see
/// [`crate::build::Target::stage`]) and commit it, saying which files changed.
pub fn finish(g: Generation, plan: &Plan, staged: &(dyn Fn(usize) + Sync)) -> io::Result<Committed> {
    let chunks: Vec<&[Artifact]> = plan.artifacts.chunks(64).collect();
    tree::parallel(&tree::spread(&chunks), |chunk| {
        chunk.iter().try_for_each(|a| g.add(a))?;
        staged(chunk.len());
        Ok(())
    })?;
    plan.kept.iter().try_for_each(|e| g.keep(e))?;
    staged(plan.kept.len());
    if let Some(only) = &plan.only {
        staged(g.keep_other_kinds(only)?);
    }
    g.commit_changes()
}

/// Read the manifests of the tree at `dir` as one list (empty when there is no tree yet). A
/// tree that has only an old-style `SHA256SUMS` gives its entries, with the size and mode of
/// each file as it is on disk (files no longer there left out) and no kind.
pub fn read_manifest(dir: &Path) -> io::Result<Vec<ManifestEntry>> {
    let root = match sys::open_dir_path(dir) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(at(e, dir.display())),
    };
    use std::os::fd::AsFd;
    baseline::Manifests::read(root.as_fd(), dir).map(|m| m.entries)
}

/// Compare `plan` with the tree at `dir`: every added, changed or removed path, sorted by
/// path, with its kind (for removed files, the kind the manifest recorded). This is what
/// [`write`] with pruning would do: a file counts as changed when its bytes or mode differ
/// from the manifest's, or when the file on disk no longer holds what the manifest says.
pub fn changes(dir: &Path, plan: &Plan) -> io::Result<Vec<(Change, Option<Kind>, String)>> {
    let place = match baseline::Place::new(dir, false) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut all: Vec<_> = plan.artifacts.iter().map(|a| (Change::Added, Some(a.kind), a.path.clone())).collect();
            all.sort_by(|a, b| a.2.cmp(&b.2));
            return Ok(all);
        }
        Err(e) => return Err(e),
    };
    use std::os::fd::AsFd;
    let lock = sys::openat(place.parent.as_fd(), &place.lock, libc::O_RDONLY, 0).ok();
    let base = baseline::Baseline::read(&place, lock.as_ref().map(|l| l.as_fd()))?;
    let found = Mutex::new(Vec::new());
    let chunks: Vec<&[Artifact]> = plan.artifacts.chunks(64).collect();
    tree::parallel(&tree::spread(&chunks), |chunk| {
        let mut mine = Vec::new();
        for a in chunk.iter() {
            let sha = manifest::sha256_hex(&a.bytes);
            if !base.entries.contains_key(&a.path) {
                mine.push((Change::Added, Some(a.kind), a.path.clone()));
            } else if !base.unchanged(&a.path, &sha, &a.bytes, a.mode & 0o7777)? {
                mine.push((Change::Changed, Some(a.kind), a.path.clone()));
            }
        }
        found.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
        Ok(())
    })?;
    let mut found = found.into_inner().unwrap_or_else(|p| p.into_inner());
    let planned: HashSet<&str> = plan.artifacts.iter().map(|a| a.path.as_str()).chain(plan.kept.iter().map(|e| e.path.as_str())).collect();
    // With `--only`, the files of the other kinds go over unchanged.
    let carried = |e: &ManifestEntry| plan.only.as_ref().is_some_and(|only| e.kind.is_some_and(|k| !only.contains(&k)));
    found.extend(
        base.entries.values().filter(|e| !planned.contains(e.path.as_str()) && !carried(e)).map(|e| (Change::Removed, e.kind, e.path.clone())),
    );
    found.sort_by(|a, b| a.2.cmp(&b.2));
    Ok(found)
}

/// The path of `.<name>.<suffix>` beside the tree `dir` (a symlink given as `dir` resolved):
/// where a caller keeps what it knows about the tree that is no file of it (see the layout in
/// the module docs).
pub fn beside(dir: &Path, suffix: &str) -> io::Result<std::path::PathBuf> {
    let place = baseline::Place::new(dir, false)?;
    let mut name = b".".to_vec();
    name.extend_from_slice(place.name.to_bytes());
    name.push(b'.');
    name.extend_from_slice(suffix.as_bytes());
    Ok(place.sibling(&sys::cstr(&name)?))
}

/// Check the tree at `dir` against its manifests: every listed file present with its size,
/// hash and mode. Empty: the tree is intact. Files the manifests do not list (foreign
/// files) are not problems; a missing or malformed manifest is one, and so are manifests
/// that do not agree (a file listed as private that the private manifest does not list).
pub fn verify(dir: &Path) -> io::Result<Vec<Problem>> {
    verify::verify(dir)
}

/// `e` with `what` (a path, mostly) in front of its message.
fn at(e: io::Error, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}
