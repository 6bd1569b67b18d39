//! The few system calls generations need, relative to directory descriptors (`openat`,
//! `linkat`, `renameat2`, ...), as safe functions returning [`std::io::Result`].

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

/// A path or name as a C string (paths with a NUL byte cannot exist on disk).
pub fn cstr(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// `openat(2)`; `O_CLOEXEC` is always added.
pub fn openat(dir: BorrowedFd<'_>, path: &CStr, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and `dir` is open for the duration of the call.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), path.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by `openat` and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open a directory (never through a symlink as its last component).
pub fn open_dir(dir: BorrowedFd<'_>, path: &CStr) -> io::Result<OwnedFd> {
    openat(dir, path, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)
}

/// Open a directory given by an ordinary path.
pub fn open_dir_path(path: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: AT_FDCWD is a valid "descriptor" for every *at call.
    let cwd = unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) };
    openat(cwd, &cstr(path.as_os_str().as_bytes())?, libc::O_RDONLY | libc::O_DIRECTORY, 0)
}

pub fn mkdirat(dir: BorrowedFd<'_>, path: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: as for `openat`.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), path.as_ptr(), mode as libc::mode_t) })
}

pub fn fchmodat(dir: BorrowedFd<'_>, path: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: as for `openat`.
    check(unsafe { libc::fchmodat(dir.as_raw_fd(), path.as_ptr(), mode as libc::mode_t, 0) })
}

pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: `fd` is open for the duration of the call.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) })
}

/// `linkat(2)` without following a symlink at `from` (the link itself is linked).
pub fn linkat(from_dir: BorrowedFd<'_>, from: &CStr, to_dir: BorrowedFd<'_>, to: &CStr) -> io::Result<()> {
    // SAFETY: as for `openat`.
    check(unsafe { libc::linkat(from_dir.as_raw_fd(), from.as_ptr(), to_dir.as_raw_fd(), to.as_ptr(), 0) })
}

/// `unlinkat(2)`; `dir_too` removes an (empty) directory.
pub fn unlinkat(dir: BorrowedFd<'_>, path: &CStr, is_dir: bool) -> io::Result<()> {
    let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: as for `openat`.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), path.as_ptr(), flags) })
}

/// `fstatat(2)` of `path` itself (a symlink is not followed).
pub fn lstatat(dir: BorrowedFd<'_>, path: &CStr) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is large enough for a `stat`; the kernel fills it on success.
    check(unsafe { libc::fstatat(dir.as_raw_fd(), path.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) })?;
    // SAFETY: `fstatat` succeeded, so `st` is initialised.
    Ok(unsafe { st.assume_init() })
}

pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: as for `lstatat`.
    check(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: `fstat` succeeded, so `st` is initialised.
    Ok(unsafe { st.assume_init() })
}

pub fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

pub fn is_file(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// A status-change time, comparable.
pub fn ctime(st: &libc::stat) -> (i64, i64) {
    (st.st_ctime, st.st_ctime_nsec)
}

pub fn mtime(st: &libc::stat) -> (i64, i64) {
    (st.st_mtime, st.st_mtime_nsec)
}

/// `renameat2(2)` (through `syscall`, so it does not depend on the C library's wrapper).
pub fn renameat2(dir: BorrowedFd<'_>, from: &CStr, to: &CStr, flags: libc::c_uint) -> io::Result<()> {
    let fd = dir.as_raw_fd() as libc::c_long;
    // SAFETY: both paths are NUL-terminated; the descriptor is open for the call.
    let r = unsafe { libc::syscall(libc::SYS_renameat2, fd, from.as_ptr(), fd, to.as_ptr(), flags as libc::c_long) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Plain `renameat(2)` within one directory.
pub fn renameat(dir: BorrowedFd<'_>, from: &CStr, to: &CStr) -> io::Result<()> {
    // SAFETY: as for `openat`.
    check(unsafe { libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) })
}

/// Flush every file of the filesystem holding `fd`.
pub fn syncfs(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `syncfs` only reads the descriptor.
    check(unsafe { libc::syncfs(fd.as_raw_fd()) })
}

pub fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `fsync` only reads the descriptor.
    check(unsafe { libc::fsync(fd.as_raw_fd()) })
}

/// Take an exclusive `flock(2)` on `fd` if no one holds it: `false` when someone does.
pub fn try_lock_exclusive(fd: BorrowedFd<'_>) -> io::Result<bool> {
    loop {
        // SAFETY: `flock` only reads the descriptor.
        match check(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            r => return r.map(|()| true),
        }
    }
}

/// Wait for an exclusive `flock(2)` on `fd`.
pub fn lock_exclusive(fd: BorrowedFd<'_>) -> io::Result<()> {
    loop {
        // SAFETY: `flock` only reads the descriptor.
        match check(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Set a file's access and modification times to now.
pub fn touch(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a null `times` means "now"; the descriptor is open for the call.
    check(unsafe { libc::futimens(fd.as_raw_fd(), std::ptr::null()) })
}

/// Set a file's access and modification times (used when a file has to be copied).
pub fn set_times(fd: BorrowedFd<'_>, st: &libc::stat) -> io::Result<()> {
    let times = [
        libc::timespec { tv_sec: st.st_atime, tv_nsec: st.st_atime_nsec },
        libc::timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec },
    ];
    // SAFETY: `times` holds two timespecs as `futimens` expects.
    check(unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) })
}

/// Read a symlink's target.
pub fn readlinkat(dir: BorrowedFd<'_>, path: &CStr) -> io::Result<CString> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: `buf` is writable for its whole length.
    let n = unsafe { libc::readlinkat(dir.as_raw_fd(), path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    cstr(&buf)
}

pub fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, path: &CStr) -> io::Result<()> {
    // SAFETY: as for `openat`.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), path.as_ptr()) })
}

/// The kind of a directory entry, as far as `readdir` tells (`Unknown` needs a stat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    Dir,
    Other,
    Unknown,
}

/// Every entry of the directory `fd` (without `.` and `..`), in the order `readdir` gives.
pub fn read_dir(fd: BorrowedFd<'_>) -> io::Result<Vec<(CString, EntryType)>> {
    // `fdopendir` takes ownership of the descriptor it is given, so give it a duplicate.
    let dup: RawFd = fd.try_clone_to_owned()?.into_raw_fd();
    // SAFETY: `dup` is an open directory descriptor we own; `closedir` below closes it.
    let dirp = unsafe { libc::fdopendir(dup) };
    if dirp.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: `fdopendir` failed, so `dup` is still ours to close.
        unsafe { libc::close(dup) };
        return Err(e);
    }
    let mut out = Vec::new();
    let result = loop {
        // SAFETY: errno is thread-local; clearing it tells the end of the stream from an error.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: `dirp` is a valid, open directory stream.
        let ent = unsafe { libc::readdir64(dirp) };
        if ent.is_null() {
            let e = io::Error::last_os_error();
            break if e.raw_os_error() == Some(0) { Ok(()) } else { Err(e) };
        }
        // SAFETY: `ent` points to a valid dirent until the next `readdir64` call.
        let (name, d_type) = unsafe { (CStr::from_ptr((*ent).d_name.as_ptr()), (*ent).d_type) };
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        let t = match d_type {
            libc::DT_DIR => EntryType::Dir,
            libc::DT_UNKNOWN => EntryType::Unknown,
            _ => EntryType::Other,
        };
        out.push((name.to_owned(), t));
    };
    // SAFETY: `dirp` came from `fdopendir` and is closed exactly once.
    unsafe { libc::closedir(dirp) };
    result.map(|()| out)
}

/// Write all of `bytes` at offset 0 of `fd` and cut the file there.
pub fn replace_contents(fd: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: `bytes` is readable for its length; the descriptor is open for the call.
    let n = unsafe { libc::pwrite(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != bytes.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short write"));
    }
    // SAFETY: as above.
    check(unsafe { libc::ftruncate(fd.as_raw_fd(), bytes.len() as libc::off_t) })
}

/// The process's file mode creation mask, from `/proc/self/status` (`None` if unknown).
pub fn umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}
