//! Whole-tree operations: listing a tree, removing one, and spreading per-file work over
//! threads (directories of tens of thousands of small files are where the time goes).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::crash::Steps;
use super::sys::{self, EntryType};

/// Files per unit of parallel work (so that one huge directory is shared by the threads).
const CHUNK: usize = 2048;

/// One directory of a tree: its path relative to the tree (empty for the top), and the
/// names of everything in it that is not a directory.
#[derive(Debug)]
pub struct Listing {
    pub rel: Vec<u8>,
    pub files: Vec<CString>,
    /// It has no entries at all.
    pub empty: bool,
}

impl Listing {
    /// Path of `name` in this directory, relative to the tree.
    pub fn path_of(&self, name: &CStr) -> Vec<u8> {
        join(&self.rel, name.to_bytes())
    }
}

pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

/// Every directory of the tree at `root` (parents before children), with its files.
/// Symlinks to directories are files here: nothing outside the tree is ever entered.
pub fn scan(root: BorrowedFd<'_>) -> io::Result<Vec<Listing>> {
    let mut out = Vec::new();
    let mut todo: Vec<Vec<u8>> = vec![Vec::new()];
    while let Some(rel) = todo.pop() {
        let ctx = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", String::from_utf8_lossy(&rel)));
        let fd = if rel.is_empty() { root.try_clone_to_owned()? } else { sys::open_dir(root, &sys::cstr(&rel)?).map_err(ctx)? };
        let entries = sys::read_dir(fd.as_fd()).map_err(ctx)?;
        let empty = entries.is_empty();
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        for (name, t) in entries {
            let is_dir = match t {
                EntryType::Dir => true,
                EntryType::Other => false,
                EntryType::Unknown => sys::is_dir(&sys::lstatat(fd.as_fd(), &name)?),
            };
            if is_dir { dirs.push(name) } else { files.push(name) }
        }
        files.sort();
        dirs.sort();
        todo.extend(dirs.iter().rev().map(|d| join(&rel, d.to_bytes())));
        out.push(Listing { rel, files, empty });
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// Remove `name` (in the directory `parent`) and everything under it, if it exists.
/// Every file and directory removed is a step.
pub fn remove(parent: BorrowedFd<'_>, name: &CStr, steps: Option<&Steps>) -> io::Result<()> {
    let step = || steps.map_or((), Steps::step);
    let st = match sys::lstatat(parent, name) {
        Ok(st) => st,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !sys::is_dir(&st) {
        step();
        return sys::unlinkat(parent, name, false);
    }
    let root = sys::open_dir(parent, name)?;
    let listings = scan(root.as_fd())?;
    let work: Vec<(&Listing, &[CString])> = chunks(&listings);
    parallel(&work, |(dir, names)| {
        let fd = if dir.rel.is_empty() { root.try_clone()? } else { sys::open_dir(root.as_fd(), &sys::cstr(&dir.rel)?)? };
        for n in names.iter() {
            step();
            match sys::unlinkat(fd.as_fd(), n, false) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    })?;
    for dir in listings.iter().rev().filter(|d| !d.rel.is_empty()) {
        step();
        sys::unlinkat(root.as_fd(), &sys::cstr(&dir.rel)?, true)?;
    }
    step();
    sys::unlinkat(parent, name, true)
}

/// The files of `listings` in units of parallel work: at most [`CHUNK`] files of one
/// directory each, directories taking turns so that threads rarely share a directory.
pub fn chunks(listings: &[Listing]) -> Vec<(&Listing, &[CString])> {
    let mut per_dir: Vec<std::slice::Chunks<'_, CString>> = listings.iter().map(|l| l.files.chunks(CHUNK)).collect();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        for (l, c) in listings.iter().zip(per_dir.iter_mut()) {
            if let Some(names) = c.next() {
                out.push((l, names));
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// The items of `v` in `n` interleaved runs: for two workers taking turns, the first item,
/// then the one halfway through, the second, ... so that, with items sorted by path, the
/// workers rarely write into the same directory at once.
pub fn spread<T: Copy>(v: &[T]) -> Vec<T> {
    let n = workers();
    let per = v.len().div_ceil(n.max(1));
    (0..per).flat_map(|j| (0..n).filter_map(move |w| v.get(w * per + j).copied())).collect()
}

/// How many threads per-file work uses (rayon's pool).
pub fn workers() -> usize {
    rayon::current_num_threads()
}

/// Run `f` on every item, on every thread of rayon's pool, each taking the next item in
/// order (so that items laid out by [`spread`] or [`chunks`] keep threads in different
/// directories); the first error stops the others.
pub fn parallel<T: Sync>(items: &[T], f: impl Fn(&T) -> io::Result<()> + Sync) -> io::Result<()> {
    if workers().min(items.len()) <= 1 {
        return items.iter().try_for_each(f);
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || -> io::Result<()> {
        while !failed.load(Ordering::Relaxed) {
            let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
            if let Err(e) = f(item) {
                failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    };
    rayon::broadcast(|_| work()).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_lists_files_and_empty_directories() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::create_dir_all(d.path().join("e")).unwrap();
        std::fs::write(d.path().join("a/x"), "").unwrap();
        std::fs::write(d.path().join("top"), "").unwrap();
        std::os::unix::fs::symlink("a", d.path().join("link")).unwrap();
        let fd = sys::open_dir_path(d.path()).unwrap();
        let l = scan(fd.as_fd()).unwrap();
        let seen: Vec<(String, Vec<String>, bool)> = l
            .iter()
            .map(|l| {
                let files = l.files.iter().map(|f| f.to_str().unwrap().to_string()).collect();
                (String::from_utf8(l.rel.clone()).unwrap(), files, l.empty)
            })
            .collect();
        let s = |x: &str| x.to_string();
        assert_eq!(
            seen,
            vec![
                (s(""), vec![s("link"), s("top")], false),
                (s("a"), vec![s("x")], false),
                (s("a/b"), vec![], true),
                (s("e"), vec![], true)
            ]
        );
        let parent = sys::open_dir_path(d.path()).unwrap();
        remove(parent.as_fd(), c"a", None).unwrap();
        remove(parent.as_fd(), c"missing", None).unwrap();
        remove(parent.as_fd(), c"link", None).unwrap();
        assert!(!d.path().join("a").exists() && d.path().join("top").exists() && d.path().join("e").exists());
    }

    #[test]
    fn chunks_take_turns() {
        let names = |n: usize| (0..n).map(|i| CString::new(format!("f{i}")).unwrap()).collect::<Vec<_>>();
        let l = vec![
            Listing { rel: b"a".to_vec(), files: names(CHUNK * 2 + 1), empty: false },
            Listing { rel: b"b".to_vec(), files: names(3), empty: false },
        ];
        let order: Vec<(&[u8], usize)> = chunks(&l).iter().map(|(l, c)| (l.rel.as_slice(), c.len())).collect();
        assert_eq!(order, vec![(&b"a"[..], CHUNK), (&b"b"[..], 3), (&b"a"[..], CHUNK), (&b"a"[..], 1)]);
    }

    #[test]
    fn spread_keeps_every_item_once() {
        let v: Vec<usize> = (0..101).collect();
        let mut s = spread(&v);
        if workers() == 2 {
            assert_eq!(&s[..4], [0, 51, 1, 52]);
        }
        s.sort();
        assert_eq!(s, v);
    }

    #[test]
    fn parallel_reports_the_first_error() {
        let items: Vec<usize> = (0..100).collect();
        let seen = AtomicUsize::new(0);
        parallel(&items, |_| {
            seen.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.into_inner(), 100);
        let e = parallel(&items, |i| if *i == 50 { Err(io::Error::other("fifty")) } else { Ok(()) }).unwrap_err();
        assert_eq!(e.to_string(), "fifty");
    }
}
