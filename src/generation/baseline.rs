//! Where a tree lives ([`Place`]: the tree and its deterministic siblings) and what the
//! tree on disk is now ([`Baseline`]: its manifest and whether a file can be trusted to
//! still hold what the manifest says).

use std::collections::HashMap;
use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::manifest::{self, OLD_MANIFEST};
use super::{MANIFEST, ManifestEntry, PRIVATE_MANIFEST, sys};

/// The tree `<parent>/<name>` and its siblings `.<name>.new` (the generation being staged),
/// `.<name>.old` (the previous one, being removed) and `.<name>.lock`.
pub struct Place {
    /// The tree, as the caller named it (a symlink to the tree resolved).
    pub dir: PathBuf,
    pub parent: OwnedFd,
    pub name: CString,
    pub new: CString,
    pub old: CString,
    pub lock: CString,
}

impl Place {
    /// The place of `dir`; with `create`, its parent is created when missing (otherwise a
    /// missing parent is a [`io::ErrorKind::NotFound`] error).
    pub fn new(dir: &Path, create: bool) -> io::Result<Place> {
        let mut dir = dir.to_path_buf();
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => dir = std::fs::canonicalize(&dir)?,
            _ => {}
        }
        match std::fs::metadata(&dir) {
            Ok(m) if !m.is_dir() => {
                return Err(io::Error::new(io::ErrorKind::NotADirectory, format!("{}: not a directory", dir.display())));
            }
            _ => {}
        }
        let name = match dir.file_name() {
            Some(n) => n.as_bytes().to_vec(),
            None => {
                let msg = format!("{}: the output directory needs a name of its own (not `/`, `.` or `..`)", dir.display());
                return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
            }
        };
        let parent_path = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if create {
            std::fs::create_dir_all(&parent_path).map_err(|e| super::at(e, parent_path.display()))?;
        }
        let parent = sys::open_dir_path(&parent_path).map_err(|e| super::at(e, parent_path.display()))?;
        let sibling = |suffix: &str| sys::cstr(&[b".", &name[..], suffix.as_bytes()].concat());
        Ok(Place { new: sibling(".new")?, old: sibling(".old")?, lock: sibling(".lock")?, name: sys::cstr(&name)?, parent, dir })
    }

    /// The tree's directory, if it exists.
    pub fn open_live(&self) -> io::Result<Option<OwnedFd>> {
        match sys::open_dir(self.parent.as_fd(), &self.name) {
            Ok(fd) => Ok(Some(fd)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(super::at(e, self.dir.display())),
        }
    }

    /// A sibling's path, for messages.
    pub fn sibling(&self, name: &CString) -> PathBuf {
        self.dir.with_file_name(std::ffi::OsStr::from_bytes(name.to_bytes()))
    }
}

/// The tree as it is on disk before a new generation: its manifests (or the entries of an
/// old-style `SHA256SUMS`) and the stamp of the last completed generation.
pub struct Baseline {
    pub live: Option<OwnedFd>,
    /// Every file the manifests list, the private ones too.
    pub entries: HashMap<String, ManifestEntry>,
    /// The manifest's bytes (`None` when the tree has none).
    pub raw: Option<Vec<u8>>,
    /// The private manifest's bytes (`None` when the tree has none).
    pub raw_private: Option<Vec<u8>>,
    /// The tree has a top-level `SHA256SUMS`.
    pub old_sums: bool,
    /// Files whose status changed strictly before this moment are as the manifest says
    /// (see the module docs, "Trusting unchanged files").
    pub stamp: Option<(i64, i64)>,
}

impl Baseline {
    /// Read the tree at `place`; `lock` is the lock file (holding the stamp), if any.
    pub fn read(place: &Place, lock: Option<BorrowedFd<'_>>) -> io::Result<Baseline> {
        let Some(live) = place.open_live()? else {
            return Ok(Baseline { live: None, entries: HashMap::new(), raw: None, raw_private: None, old_sums: false, stamp: None });
        };
        let fd = live.as_fd();
        let Manifests { entries, public: raw, private: raw_private } = Manifests::read(fd, &place.dir)?;
        let old_sums = sys::lstatat(fd, &sys::cstr(OLD_MANIFEST.as_bytes())?).is_ok();
        let stamp = match (lock, &raw) {
            (Some(l), Some(_)) => stamp_of(l, fd),
            _ => None,
        };
        let entries = entries.into_iter().map(|e| (e.path.clone(), e)).collect();
        Ok(Baseline { live: Some(live), entries, raw, raw_private, old_sums, stamp })
    }

    /// Is the file at `path` already what an artifact of `bytes` (hash `sha256`) and `mode`
    /// would write? Its manifest entry must agree, and the file must be a regular file of
    /// that size and mode that either has not changed since the last completed generation
    /// (its status-change time is before the stamp) or holds exactly these bytes.
    pub fn unchanged(&self, path: &str, sha256: &str, bytes: &[u8], mode: u32) -> io::Result<bool> {
        let (Some(live), Some(e)) = (&self.live, self.entries.get(path)) else { return Ok(false) };
        let size = bytes.len() as u64;
        if e.sha256 != sha256 || e.size != size || e.mode != mode {
            return Ok(false);
        }
        let c = sys::cstr(path.as_bytes())?;
        let st = match sys::lstatat(live.as_fd(), &c) {
            Ok(st) => st,
            Err(e) if is_absent(&e) => return Ok(false),
            Err(e) => return Err(super::at(e, path)),
        };
        if !sys::is_file(&st) || st.st_size as u64 != size || st.st_mode & 0o7777 != mode {
            return Ok(false);
        }
        if self.stamp.is_some_and(|s| sys::ctime(&st) < s) {
            return Ok(true);
        }
        match read_at(live.as_fd(), &c) {
            Ok(on_disk) => Ok(on_disk == bytes),
            Err(e) if is_absent(&e) => Ok(false),
            Err(e) => Err(super::at(e, path)),
        }
    }

    /// Does the file at `path` still hold what its manifest entry says? A regular file of
    /// the listed size and mode, untouched since the last completed generation (or, when
    /// that cannot be told, holding bytes with the listed sha256).
    pub fn intact(&self, path: &str) -> io::Result<bool> {
        let (Some(live), Some(e)) = (&self.live, self.entries.get(path)) else { return Ok(false) };
        let c = sys::cstr(path.as_bytes())?;
        let st = match sys::lstatat(live.as_fd(), &c) {
            Ok(st) => st,
            Err(e) if is_absent(&e) => return Ok(false),
            Err(e) => return Err(super::at(e, path)),
        };
        if !sys::is_file(&st) || st.st_size as u64 != e.size || st.st_mode & 0o7777 != e.mode {
            return Ok(false);
        }
        if self.stamp.is_some_and(|s| sys::ctime(&st) < s) {
            return Ok(true);
        }
        match read_at(live.as_fd(), &c) {
            Ok(on_disk) => Ok(manifest::sha256_hex(&on_disk) == e.sha256),
            Err(e) if is_absent(&e) => Ok(false),
            Err(e) => Err(super::at(e, path)),
        }
    }

    /// The bytes of the tree's file at `path`, when the manifest lists it and it is intact
    /// (what a file that follows its previous version reads, see
    /// [`crate::plan::FollowsPrevious`]).
    pub fn previous_bytes(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        let Some(live) = &self.live else { return Ok(None) };
        if !self.intact(path)? {
            return Ok(None);
        }
        match read_at(live.as_fd(), &sys::cstr(path.as_bytes())?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(super::at(e, path)),
        }
    }

    /// The file at `path` is a regular file.
    pub fn is_file(&self, path: &str) -> io::Result<bool> {
        let Some(live) = &self.live else { return Ok(false) };
        match sys::lstatat(live.as_fd(), &sys::cstr(path.as_bytes())?) {
            Ok(st) => Ok(sys::is_file(&st)),
            Err(e) if is_absent(&e) => Ok(false),
            Err(e) => Err(super::at(e, path)),
        }
    }
}

/// The manifests at the top of a tree, read as one list.
pub struct Manifests {
    /// Every file they list, sorted by path.
    pub entries: Vec<ManifestEntry>,
    /// The bytes of the public manifest (`None`: the tree has none, and `entries` are those
    /// of its old-style `SHA256SUMS`, if any).
    pub public: Option<Vec<u8>>,
    /// The bytes of the private manifest (`None`: the tree has none).
    pub private: Option<Vec<u8>>,
}

impl Manifests {
    /// Read the manifests of the tree `dir` (`shown`: its path, for messages, which name the
    /// manifest at fault): the public one joined with the private one
    /// ([`manifest::join`]). Without a public manifest, the entries of an old-style
    /// `SHA256SUMS` (see [`import_old`]).
    pub fn read(dir: BorrowedFd<'_>, shown: &Path) -> io::Result<Manifests> {
        let named = |name: &'static str| move |e: io::Error| super::at(e, shown.join(name).display());
        let Some(public) = read_file(dir, MANIFEST).map_err(named(MANIFEST))? else {
            let entries = import_old(dir).map_err(named(OLD_MANIFEST))?;
            return Ok(Manifests { entries, public: None, private: None });
        };
        let private = read_file(dir, PRIVATE_MANIFEST).map_err(named(PRIVATE_MANIFEST))?;
        let parsed = manifest::parse(&public, MANIFEST).map_err(named(MANIFEST))?;
        let parsed_private = private.as_deref().map(|b| manifest::parse(b, PRIVATE_MANIFEST)).transpose().map_err(named(PRIVATE_MANIFEST))?;
        let entries = manifest::join(parsed, parsed_private).map_err(named(PRIVATE_MANIFEST))?;
        Ok(Manifests { entries, public: Some(public), private })
    }
}

/// The whole file `name` at the top of `dir`, `None` when there is none.
pub fn read_file(dir: BorrowedFd<'_>, name: &str) -> io::Result<Option<Vec<u8>>> {
    match read_at(dir, &sys::cstr(name.as_bytes())?) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn is_absent(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) || e.raw_os_error() == Some(libc::ELOOP)
}

/// The whole file `path` (relative to `dir`), not following a symlink.
pub fn read_at(dir: BorrowedFd<'_>, path: &std::ffi::CStr) -> io::Result<Vec<u8>> {
    let fd = sys::openat(dir, path, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?;
    let mut f = std::fs::File::from(fd);
    let mut v = Vec::new();
    f.read_to_end(&mut v)?;
    Ok(v)
}

/// The entries of an old-style `SHA256SUMS` at the top of the tree `dir` (none if there is
/// none), sizes and modes as they are on disk; files no longer there are left out.
pub fn import_old(dir: BorrowedFd<'_>) -> io::Result<Vec<ManifestEntry>> {
    let bytes = match read_at(dir, &sys::cstr(OLD_MANIFEST.as_bytes())?) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for (path, sha256) in manifest::parse_old(&bytes)? {
        match sys::lstatat(dir, &sys::cstr(path.as_bytes())?) {
            Ok(st) if sys::is_file(&st) => {
                out.push(ManifestEntry { path, size: st.st_size as u64, sha256, mode: st.st_mode & 0o7777, kind: None })
            }
            Ok(_) => {}
            Err(e) if is_absent(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// What the lock file holds after a completed generation: the generation's directory and
/// manifest (device and inode numbers), so that the stamp is never applied to another tree.
pub fn stamp_text(dir: BorrowedFd<'_>) -> io::Result<String> {
    let d = sys::fstat(dir)?;
    let m = sys::lstatat(dir, &sys::cstr(MANIFEST.as_bytes())?)?;
    Ok(format!("complete {} {} {}\n", d.st_dev, d.st_ino, m.st_ino))
}

/// The stamp recorded in the lock file, if it describes the tree `dir` as it is now: the
/// lock file's modification time.
fn stamp_of(lock: BorrowedFd<'_>, dir: BorrowedFd<'_>) -> Option<(i64, i64)> {
    let mut text = vec![0u8; 128];
    // SAFETY: `text` is writable for its length; the descriptor is open for the call.
    let n = unsafe { libc::pread(std::os::fd::AsRawFd::as_raw_fd(&lock), text.as_mut_ptr().cast(), text.len(), 0) };
    text.truncate(usize::try_from(n).ok()?);
    let expected = stamp_text(dir).ok()?;
    (text == expected.as_bytes()).then(|| sys::fstat(lock).ok().map(|st| sys::mtime(&st))).flatten()
}
