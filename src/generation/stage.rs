//! [`Generation`]: stage a new generation beside the tree, then swap it in.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::CString;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;

use super::baseline::{self, Baseline, Place};
use super::crash::Steps;
use super::manifest::{self, OLD_MANIFEST};
use super::tree::{self, Listing};
use super::{Change, Committed, MANIFEST, ManifestEntry, NO_EXCHANGE_ENV, PRIVATE_MANIFEST, WriteStats, at, sys};
use crate::plan::{Artifact, Kind};

/// Mode of the directories of a tree.
const DIR_MODE: u32 = 0o755;
/// Mode of the manifest.
const MANIFEST_MODE: u32 = 0o644;
/// Mode of the private manifest: that of the files holding a secret, whose entries it has.
const PRIVATE_MANIFEST_MODE: u32 = crate::plan::SECRET_MODE;

/// A new generation of the tree at `dir` being staged. See the module docs.
///
/// [`Generation::begin`] takes the lock, cleans up what a killed run left and reads the
/// previous generation's manifest; [`Generation::add`] (from any number of threads) writes
/// each new or changed file into the staging directory at once, so bytes are never held;
/// [`Generation::commit`] carries the unchanged and foreign files over as hard links, writes
/// the manifests, syncs once and swaps. Dropping a generation without committing removes
/// what was staged and leaves the tree as it was.
pub struct Generation {
    place: Place,
    prune: bool,
    /// Held (with `flock`) until the generation is dropped.
    lock: OwnedFd,
    base: std::sync::Arc<Baseline>,
    /// The staging directory `.<name>.new`.
    staged: OwnedFd,
    /// The process's umask, when known: files whose mode it would not change need no chmod.
    umask: Option<u32>,
    state: Mutex<State>,
    steps: Steps,
    /// Staged but neither committed nor given up yet.
    pending: bool,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Staged>,
    stats: WriteStats,
}

/// One artifact of the new generation.
struct Staged {
    sha256: String,
    size: u64,
    mode: u32,
    kind: Kind,
    /// Unchanged: to be hard-linked from the previous generation at commit.
    link: bool,
}

impl Generation {
    /// Does the tree this generation replaces list a file of `kind` (in its manifests, read
    /// under the lock)?
    pub fn has_kind(&self, kind: Kind) -> bool {
        self.base.entries.values().any(|e| e.kind == Some(kind))
    }

    /// Start a new generation of `dir`: wait for the lock, clean up what a killed run left
    /// beside the tree, read the tree's manifest and create the staging directory.
    pub fn begin(dir: &Path, prune: bool) -> io::Result<Generation> {
        Generation::begin_waiting(dir, prune, &mut |_| {})
    }

    /// [`Generation::begin`], giving up with [`io::ErrorKind::WouldBlock`] when another run
    /// holds the lock for longer than `patience` (a responder answers 503 rather than hold
    /// a request for as long as a build takes).
    pub fn begin_within(dir: &Path, prune: bool, patience: std::time::Duration) -> io::Result<Generation> {
        let deadline = std::time::Instant::now() + patience;
        Generation::begin_locked(dir, prune, &mut |fd, path| loop {
            if sys::try_lock_exclusive(fd).map_err(|e| at(e, path.display()))? {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, format!("{}: another run holds the lock", path.display())));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        })
    }

    /// [`Generation::begin`], calling `waiting` with the lock file's path first when another
    /// run holds the lock (so that a command can say why it waits).
    pub fn begin_waiting(dir: &Path, prune: bool, waiting: &mut dyn FnMut(&Path)) -> io::Result<Generation> {
        Generation::begin_locked(dir, prune, &mut |fd, path| {
            if !sys::try_lock_exclusive(fd).map_err(|e| at(e, path.display()))? {
                waiting(path);
                sys::lock_exclusive(fd).map_err(|e| at(e, path.display()))?;
            }
            Ok(())
        })
    }

    /// Begin, taking the lock with `lock(fd, path)`.
    fn begin_locked(dir: &Path, prune: bool, lock_with: &mut dyn FnMut(BorrowedFd<'_>, &Path) -> io::Result<()>) -> io::Result<Generation> {
        let steps = Steps::from_env();
        let place = Place::new(dir, true)?;
        let lock_path = place.sibling(&place.lock);
        let lock =
            sys::openat(place.parent.as_fd(), &place.lock, libc::O_RDWR | libc::O_CREAT, 0o644).map_err(|e| at(e, lock_path.display()))?;
        lock_with(lock.as_fd(), &lock_path)?;
        steps.step();
        recover(&place, &steps)?;
        let base = std::sync::Arc::new(Baseline::read(&place, Some(lock.as_fd()))?);
        let new_path = place.sibling(&place.new);
        mkdir_exact(place.parent.as_fd(), &place.new, None).map_err(|e| at(e, new_path.display()))?;
        let staged = sys::open_dir(place.parent.as_fd(), &place.new).map_err(|e| at(e, new_path.display()))?;
        steps.step();
        Ok(Generation { place, prune, lock, base, staged, umask: sys::umask(), state: Mutex::default(), steps, pending: true })
    }

    /// Stage one artifact: unless the tree already holds exactly this file (bytes and mode),
    /// write it into the staging directory now. Callable from several threads. An artifact
    /// holding a secret whose mode lets others read it is refused.
    pub fn add(&self, artifact: &Artifact) -> io::Result<()> {
        let path = artifact.path.as_str();
        let why = manifest::bad_path(path)
            .or([MANIFEST, PRIVATE_MANIFEST].contains(&path).then_some("the manifests' names are reserved"))
            .or((artifact.secret && !manifest::is_private(artifact.mode)).then_some("it holds a secret, but its mode lets others read it"));
        if let Some(why) = why {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{path:?}: {why}")));
        }
        // A file that follows the one it replaces (a zone's serial) is made from both.
        let followed = match artifact.follows {
            Some(follow) => self.base.previous_bytes(path)?.and_then(|old| follow(&old, &artifact.bytes)),
            None => None,
        };
        let bytes = followed.as_deref().unwrap_or(&artifact.bytes);
        let sha256 = manifest::sha256_hex(bytes);
        let mode = artifact.mode & 0o7777;
        let link = self.base.unchanged(path, &sha256, bytes, mode)?;
        let staged = Staged { sha256, size: bytes.len() as u64, mode, kind: artifact.kind, link };
        {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.files.contains_key(path) {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("`{path}` is in the plan twice")));
            }
            st.files.insert(path.to_string(), staged);
            if link { st.stats.unchanged += 1 } else { st.stats.written += 1 }
        }
        if !link {
            self.steps.step();
            self.write_file(path, bytes, mode).map_err(|e| at(e, self.place.dir.join(path).display()))?;
        }
        Ok(())
    }

    /// The generation this one replaces, with the keys file `keys` of its tree (see
    /// [`super::Previous`]): read under this generation's lock, so what a plan keeps from it
    /// is still there at commit.
    pub fn previous(&self, keys: &str) -> io::Result<super::Previous> {
        super::Previous::from_base(self.base.clone(), keys)
    }

    /// Carry a file of the previous generation over as it is (hard-linked at commit, never
    /// read): what a plan decided to keep from [`super::Previous`]. An error when the tree
    /// no longer has that very entry (another run swapped a new generation in meanwhile).
    pub fn keep(&self, entry: &ManifestEntry) -> io::Result<()> {
        let path = entry.path.as_str();
        if self.base.entries.get(path) != Some(entry) {
            let msg = format!("`{path}` changed in the tree while this build was planned; build again");
            return Err(io::Error::other(msg));
        }
        let kind = entry.kind.unwrap_or(Kind::Kickstart);
        let staged = Staged { sha256: entry.sha256.clone(), size: entry.size, mode: entry.mode, kind, link: true };
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.files.insert(path.to_string(), staged).is_some() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("`{path}` is in the plan twice")));
        }
        st.stats.unchanged += 1;
        Ok(())
    }

    /// Carry every file of the previous generation whose kind is not one of `only` over
    /// unchanged (a build of some kinds leaves the others as they are); returns how many.
    pub fn keep_other_kinds(&self, only: &BTreeSet<Kind>) -> io::Result<usize> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut n = 0;
        let mut others: Vec<&ManifestEntry> = self.base.entries.values().filter(|e| e.kind.is_some_and(|k| !only.contains(&k))).collect();
        others.sort_by(|a, b| a.path.cmp(&b.path));
        for e in others {
            if st.files.contains_key(&e.path) {
                continue;
            }
            let kind = e.kind.expect("filtered on a kind");
            st.files.insert(e.path.clone(), Staged { sha256: e.sha256.clone(), size: e.size, mode: e.mode, kind, link: true });
            st.stats.unchanged += 1;
            n += 1;
        }
        Ok(n)
    }

    /// Make the staged generation the tree at `dir`, atomically; then remove the previous
    /// one. When nothing at all changed, the tree is left exactly as it was.
    pub fn commit(self) -> io::Result<WriteStats> {
        self.commit_changes().map(|c| c.stats)
    }

    /// [`Generation::commit`], also saying which files it changed: each file written afresh
    /// (added, or changed in bytes or mode, or restored because the tree no longer held what
    /// its manifest said) and each file of the previous manifest left out, sorted by path.
    pub fn commit_changes(mut self) -> io::Result<Committed> {
        let State { files, mut stats } = std::mem::take(&mut *self.state.lock().unwrap_or_else(|p| p.into_inner()));
        let mut changes: Vec<(Change, Option<Kind>, String)> = files
            .iter()
            .filter(|(_, s)| !s.link)
            .map(|(p, s)| (if self.base.entries.contains_key(p) { Change::Changed } else { Change::Added }, Some(s.kind), p.clone()))
            .collect();
        let mut entries: Vec<ManifestEntry> = files
            .iter()
            .map(|(p, s)| ManifestEntry { path: p.clone(), size: s.size, sha256: s.sha256.clone(), mode: s.mode, kind: Some(s.kind) })
            .collect();
        // Files of the previous manifest this plan does not make: kept (and still listed)
        // without pruning, as long as they are there.
        let mut kept: HashSet<&str> = HashSet::new();
        for (p, e) in &self.base.entries {
            if files.contains_key(p) {
                continue;
            }
            if !self.prune && self.base.is_file(p)? {
                kept.insert(p);
                entries.push(e.clone());
            } else {
                stats.removed += 1;
                changes.push((Change::Removed, e.kind, p.clone()));
            }
        }
        entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        changes.sort_unstable_by(|a, b| a.2.cmp(&b.2));
        let text = manifest::render(&entries);
        let private = (!text.private.is_empty()).then_some(text.private.as_bytes());
        let stale_sums = self.base.old_sums && !files.contains_key(OLD_MANIFEST);
        let same_manifests = self.base.raw.as_deref() == Some(text.public.as_bytes()) && self.base.raw_private.as_deref() == private;
        if stats.written == 0 && stats.removed == 0 && !stale_sums && same_manifests {
            // Nothing changed: the tree stays as it is, and so does every inode.
            self.pending = false;
            tree::remove(self.place.parent.as_fd(), &self.place.new, None)?;
            if let Some(live) = &self.base.live {
                self.stamp(live.as_fd())?;
            }
            self.steps.done();
            return Ok(Committed { stats, changes });
        }
        self.carry(&files, &kept)?;
        self.steps.step();
        let staged_at = |name: &str| {
            let path = self.place.sibling(&self.place.new).join(name);
            move |e: io::Error| at(e, path.display())
        };
        if let Some(bytes) = private {
            self.write_file(PRIVATE_MANIFEST, bytes, PRIVATE_MANIFEST_MODE).map_err(staged_at(PRIVATE_MANIFEST))?;
        }
        self.write_file(MANIFEST, text.public.as_bytes(), MANIFEST_MODE).map_err(staged_at(MANIFEST))?;
        self.steps.step();
        sys::syncfs(self.staged.as_fd())?;
        self.steps.step();
        self.swap()?;
        self.steps.step();
        sys::fsync(self.place.parent.as_fd())?;
        self.steps.step();
        let old = self.place.sibling(&self.place.old);
        tree::remove(self.place.parent.as_fd(), &self.place.old, Some(&self.steps)).map_err(|e| at(e, old.display()))?;
        self.stamp(self.staged.as_fd())?;
        self.steps.done();
        Ok(Committed { stats, changes })
    }

    /// Hard-link into the staging directory every file that goes over unchanged: the plan's
    /// unchanged files, kept files, and foreign files (everything in the tree that its
    /// manifests do not list, except the manifests themselves). Directories are recreated
    /// (empty foreign ones too); one the new generation does not need is left behind.
    fn carry(&self, files: &HashMap<String, Staged>, kept: &HashSet<&str>) -> io::Result<()> {
        let Some(live) = &self.base.live else { return Ok(()) };
        let mut links: Vec<Vec<u8>> = files.iter().filter(|(_, s)| s.link).map(|(p, _)| p.as_bytes().to_vec()).collect();
        let mut dirs: BTreeSet<Vec<u8>> = BTreeSet::new();
        for l in tree::scan(live.as_fd()).map_err(|e| at(e, self.place.dir.display()))? {
            if l.empty && !l.rel.is_empty() {
                dirs.insert(l.rel.clone());
            }
            for name in &l.files {
                if l.rel.is_empty() && [MANIFEST, PRIVATE_MANIFEST, OLD_MANIFEST].iter().any(|m| m.as_bytes() == name.to_bytes()) {
                    continue;
                }
                let p = l.path_of(name);
                match std::str::from_utf8(&p) {
                    Ok(s) if files.contains_key(s) => {}
                    Ok(s) if kept.contains(s) => links.push(p),
                    Ok(s) if self.prune && self.base.entries.contains_key(s) => {}
                    _ => links.push(p),
                }
            }
        }
        let listings = group(links);
        dirs.extend(listings.iter().map(|l| l.rel.clone()));
        let mut all: BTreeSet<Vec<u8>> = BTreeSet::new();
        for d in &dirs {
            let mut prefix = Vec::new();
            for c in d.split(|b| *b == b'/').filter(|c| !c.is_empty()) {
                prefix = tree::join(&prefix, c);
                all.insert(prefix.clone());
            }
        }
        for d in &all {
            match mkdir_exact(self.staged.as_fd(), &sys::cstr(d)?, self.umask) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                r => r.map_err(|e| at(e, String::from_utf8_lossy(d)))?,
            }
        }
        let in_the_way = |e: io::Error, p: &[u8]| {
            let p = self.place.dir.join(&*String::from_utf8_lossy(p));
            if matches!(e.kind(), io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory) {
                io::Error::new(e.kind(), format!("{}: in the way of a file the build writes ({e})", p.display()))
            } else {
                at(e, p.display())
            }
        };
        tree::parallel(&tree::chunks(&listings), |(l, names)| {
            let (from, to) = if l.rel.is_empty() {
                (live.try_clone()?, self.staged.try_clone()?)
            } else {
                let c = sys::cstr(&l.rel)?;
                let from =
                    sys::open_dir(live.as_fd(), &c).map_err(|e| at(e, self.place.dir.join(&*String::from_utf8_lossy(&l.rel)).display()))?;
                (from, sys::open_dir(self.staged.as_fd(), &c).map_err(|e| in_the_way(e, &l.rel))?)
            };
            for n in names.iter() {
                self.steps.step();
                link_or_copy(from.as_fd(), to.as_fd(), n).map_err(|e| in_the_way(e, &l.path_of(n)))?;
            }
            Ok(())
        })
    }

    /// Put the staged generation in the tree's place: one `renameat2(RENAME_EXCHANGE)` of
    /// the two directories, the previous generation then renamed to `.<name>.old`.
    fn swap(&mut self) -> io::Result<()> {
        let (parent, p) = (self.place.parent.as_fd(), &self.place);
        let ctx = |e: io::Error| {
            let hint = if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EXDEV)) {
                " (the tree must be an ordinary directory, not a mount point)"
            } else {
                ""
            };
            at(e, format!("swapping {} and {}{hint}", p.sibling(&p.new).display(), p.dir.display()))
        };
        if self.base.live.is_none() {
            match sys::renameat2(parent, &p.new, &p.name, libc::RENAME_NOREPLACE) {
                Err(e) if unsupported(&e) => sys::renameat(parent, &p.new, &p.name).map_err(ctx)?,
                r => r.map_err(ctx)?,
            }
            self.pending = false;
            return Ok(());
        }
        let exchanged = if std::env::var_os(NO_EXCHANGE_ENV).is_some() {
            false
        } else {
            match sys::renameat2(parent, &p.new, &p.name, libc::RENAME_EXCHANGE) {
                Ok(()) => true,
                Err(e) if unsupported(&e) => false,
                Err(e) => return Err(ctx(e)),
            }
        };
        if exchanged {
            self.pending = false;
            self.steps.step();
            return sys::renameat(parent, &p.new, &p.old).map_err(ctx);
        }
        // The filesystem cannot exchange: two renames, with a moment without the tree. A
        // crash in between is repaired by the next run, which puts the previous generation
        // back (see `recover`).
        sys::renameat(parent, &p.name, &p.old).map_err(ctx)?;
        self.steps.step();
        if let Err(e) = sys::renameat(parent, &p.new, &p.name) {
            let _ = sys::renameat(parent, &p.old, &p.name);
            return Err(ctx(e));
        }
        self.pending = false;
        Ok(())
    }

    /// Record in the lock file that the tree `dir` is a completed generation as of now.
    fn stamp(&self, dir: BorrowedFd<'_>) -> io::Result<()> {
        let text = baseline::stamp_text(dir)?;
        sys::replace_contents(self.lock.as_fd(), text.as_bytes())?;
        sys::touch(self.lock.as_fd())
    }

    /// Create `path` in the staging directory with `bytes` and exactly `mode`.
    fn write_file(&self, path: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
        let c = sys::cstr(path.as_bytes())?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let fd = match sys::openat(self.staged.as_fd(), &c, flags, mode) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.make_parents(path)?;
                sys::openat(self.staged.as_fd(), &c, flags, mode)?
            }
            r => r?,
        };
        if self.umask.is_none_or(|u| mode & u != 0) {
            sys::fchmod(fd.as_fd(), mode)?;
        }
        std::fs::File::from(fd).write_all(bytes)
    }

    fn make_parents(&self, path: &str) -> io::Result<()> {
        let mut end = 0;
        while let Some(i) = path[end..].find('/') {
            end += i;
            match mkdir_exact(self.staged.as_fd(), &sys::cstr(&path.as_bytes()[..end])?, self.umask) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                r => r?,
            }
            end += 1;
        }
        Ok(())
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        if self.pending {
            let _ = tree::remove(self.place.parent.as_fd(), &self.place.new, None);
        }
    }
}

/// Undo what a killed run left beside the tree: with the tree missing and a previous
/// generation at `.<name>.old` (killed between the two renames of a filesystem that cannot
/// exchange), put that back; then remove `.<name>.new` and `.<name>.old`.
fn recover(place: &Place, steps: &Steps) -> io::Result<()> {
    let parent = place.parent.as_fd();
    let ctx = |name: &CString| {
        let path = place.sibling(name);
        move |e: io::Error| at(e, path.display())
    };
    let exists = |name: &CString| match sys::lstatat(parent, name) {
        Ok(st) => Ok(Some(sys::is_dir(&st))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ctx(name)(e)),
    };
    if exists(&place.name)?.is_none() && exists(&place.old)? == Some(true) {
        steps.step();
        sys::renameat(parent, &place.old, &place.name).map_err(ctx(&place.old))?;
    }
    tree::remove(parent, &place.new, Some(steps)).map_err(ctx(&place.new))?;
    tree::remove(parent, &place.old, Some(steps)).map_err(ctx(&place.old))
}

/// `renameat2` cannot do this here (filesystem or kernel without it).
fn unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP))
}

/// Make a directory with exactly `mode` 0755, whatever the umask.
fn mkdir_exact(dir: BorrowedFd<'_>, path: &std::ffi::CStr, umask: Option<u32>) -> io::Result<()> {
    sys::mkdirat(dir, path, DIR_MODE)?;
    if umask.is_none_or(|u| DIR_MODE & u != 0) {
        sys::fchmodat(dir, path, DIR_MODE)?;
    }
    Ok(())
}

/// Paths grouped by directory, as [`tree::chunks`] wants them.
fn group(mut paths: Vec<Vec<u8>>) -> Vec<Listing> {
    let split = |p: &[u8]| match p.iter().rposition(|b| *b == b'/') {
        Some(i) => (p[..i].to_vec(), p[i + 1..].to_vec()),
        None => (Vec::new(), p.to_vec()),
    };
    paths.sort_unstable();
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = paths.iter().map(|p| split(p)).collect();
    pairs.sort_unstable();
    let mut out: Vec<Listing> = Vec::new();
    for (dir, name) in pairs {
        let name = CString::new(name).expect("paths from the filesystem or checked plans have no NUL");
        match out.last_mut() {
            Some(l) if l.rel == dir => l.files.push(name),
            _ => out.push(Listing { rel: dir, files: vec![name], empty: false }),
        }
    }
    out
}

/// Hard-link `path` from `from` into `to`. Where the kernel refuses a hard link to a file we
/// do not own (`fs.protected_hardlinks`), copy it instead (same bytes, mode and times).
fn link_or_copy(from: BorrowedFd<'_>, to: BorrowedFd<'_>, path: &std::ffi::CStr) -> io::Result<()> {
    match sys::linkat(from, path, to, path) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
        r => return r,
    }
    let st = sys::lstatat(from, path)?;
    if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return sys::symlinkat(&sys::readlinkat(from, path)?, to, path);
    }
    if !sys::is_file(&st) {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    let mut src = std::fs::File::from(sys::openat(from, path, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?);
    let mode = st.st_mode & 0o7777;
    let dst = sys::openat(to, path, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW, mode)?;
    sys::fchmod(dst.as_fd(), mode)?;
    let mut dst = std::fs::File::from(dst);
    io::copy(&mut src, &mut dst)?;
    sys::set_times(dst.as_fd(), &st)
}
