//! Helpers shared by the facts tests.

use std::fmt::Debug;

use tempfile::TempDir;

use super::{Db, FactsError};

/// A fresh database with the default rows in a temporary directory (file `facts.db`).
pub(crate) fn temp_db() -> (TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path().join("facts.db")).expect("open facts db");
    (dir, db)
}

/// Run `op`, which must fail, and assert that every table is unchanged afterwards.
pub(crate) fn assert_unchanged<T: Debug>(db: &mut Db, op: impl FnOnce(&mut Db) -> Result<T, FactsError>) -> FactsError {
    let before = db.dump().expect("dump before");
    let err = op(db).expect_err("operation should fail");
    let after = db.dump().expect("dump after");
    assert_eq!(before, after, "database changed by a failed call: {err}");
    err
}
