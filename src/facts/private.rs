//! The database file is private: it holds secrets (password hashes, keys), so no file of it
//! (the database, its `-wal` and `-shm`) is ever readable by other users. A new database is
//! created with [`DB_MODE`] (SQLite gives its `-wal` and `-shm` files the same mode); one
//! that others can open (made 0644 by an earlier version, or opened up by hand) is closed
//! to them by the next command that opens it for writing, before anything is written, and
//! the command says so ([`Exposed`]). Whether it holds a secret yet does not matter: any
//! write may add one, and from its commit on the log would show it.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::sidecar;

/// Mode of a new database file (SQLite gives its `-wal` and `-shm` files the same): the
/// database holds secrets (password hashes, keys), so it is never readable by other users.
pub const DB_MODE: u32 = 0o640;

/// A file of the database that other users could open, found when it was opened for
/// writing (see [`super::Db::exposed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed {
    pub path: PathBuf,
    /// Its mode as found.
    pub mode: u32,
    /// Why it could not be closed to others (`None`: it was, and is now `mode` without the
    /// bits of others).
    pub error: Option<String>,
}

impl fmt::Display for Exposed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, mode) = (self.path.display(), self.mode);
        match &self.error {
            None => write!(f, "`{path}`: mode {mode:04o}, now {:04o}", mode & !0o007),
            Some(e) => write!(f, "`{path}`: mode {mode:04o}, which cannot be changed ({e})"),
        }
    }
}

/// Create the database file at `path` empty with [`DB_MODE`] when it does not exist (SQLite
/// takes an empty file for a new database), so it is never readable by others, not even for a
/// moment.
pub(super) fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(DB_MODE).open(path).map(drop)
}

/// Take every permission of other users off the database at `path` and its `-wal` and
/// `-shm` files, those that have any. Each such file is reported, with the error when its
/// mode could not be changed (the user is not its owner).
pub(super) fn close_to_others(path: &Path) -> Vec<Exposed> {
    files_of(path)
        .into_iter()
        .filter_map(|p| {
            let mode = std::fs::metadata(&p).ok()?.permissions().mode() & 0o7777;
            (mode & 0o007 != 0).then(|| {
                let error = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode & !0o007)).err().map(|e| e.to_string());
                Exposed { path: p, mode, error }
            })
        })
        .collect()
}

/// The database file at `path`, its `-wal` and its `-shm`.
fn files_of(path: &Path) -> [PathBuf; 3] {
    [path.to_path_buf(), sidecar(path, "-wal"), sidecar(path, "-shm")]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Db, Target};

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    /// A new database in `dir` that holds root's password hash, still open: while the
    /// connection is, SQLite keeps the write-ahead log and its index beside it.
    fn with_a_secret(dir: &Path) -> (PathBuf, Db) {
        let path = dir.join("cluster.db");
        let mut db = Db::open(&path).unwrap();
        db.set_attr(&Target::Global, "Kickstart_PrivateRootPassword", "$6$salt$hash", true).unwrap();
        (path, db)
    }

    #[test]
    fn the_database_and_its_wal_and_shm_are_never_open_to_others() {
        let dir = tempfile::tempdir().unwrap();
        let (path, db) = with_a_secret(dir.path());
        for p in files_of(&path) {
            assert!(p.exists(), "{} exists after a write", p.display());
            assert_eq!(mode(&p) & 0o007, 0, "{} has no bits for others", p.display());
        }
        assert_eq!(db.exposed(), []);
    }

    #[test]
    fn a_database_open_to_others_is_closed_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (path, db) = with_a_secret(dir.path());
        // As an earlier version created it (0644), with a writer's log beside it.
        for p in files_of(&path) {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let reader = Db::open_readonly(&path).unwrap();
        assert_eq!(mode(&path), 0o644, "a reader changes nothing");
        drop(reader);
        let again = Db::open(&path).unwrap();
        let found: Vec<(PathBuf, u32, bool)> = again.exposed().iter().map(|e| (e.path.clone(), e.mode, e.error.is_none())).collect();
        assert_eq!(found, files_of(&path).map(|p| (p, 0o644, true)));
        for p in files_of(&path) {
            assert_eq!(mode(&p), 0o640, "{}", p.display());
        }
        assert_eq!(again.exposed()[0].to_string(), format!("`{}`: mode 0644, now 0640", path.display()));
        drop(db);
        drop(again);
        assert_eq!(Db::open(&path).unwrap().exposed(), [], "once closed, nothing to say");
    }
}
