//! A testing aid: the numbered steps of one generation, and a way to be killed at one of
//! them (see [`super::CRASH_AT_ENV`]).

use std::sync::atomic::{AtomicU64, Ordering};

use super::CRASH_AT_ENV;

/// Counts the steps of one generation; kills the process at the chosen one.
#[derive(Debug, Default)]
pub struct Steps {
    /// Die with SIGKILL when this step is reached.
    kill_at: Option<u64>,
    /// Report the number of steps on stderr when the generation is done.
    report: bool,
    taken: AtomicU64,
}

impl Steps {
    /// As `ROCKS_COMPILE_CRASH_AT` says: a step number (from 1), `count`, or nothing.
    pub fn from_env() -> Steps {
        match std::env::var(CRASH_AT_ENV) {
            Ok(v) if v.trim() == "count" => Steps { report: true, ..Steps::default() },
            Ok(v) => Steps { kill_at: v.trim().parse().ok(), ..Steps::default() },
            Err(_) => Steps::default(),
        }
    }

    /// One more step is about to happen.
    pub fn step(&self) {
        let n = self.taken.fetch_add(1, Ordering::SeqCst) + 1;
        if self.kill_at == Some(n) {
            // SAFETY: raising a signal has no memory-safety preconditions; SIGKILL ends the
            // whole process at once, as a crash or `kill -9` would.
            unsafe { libc::raise(libc::SIGKILL) };
        }
    }

    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::SeqCst)
    }

    /// The run is over: with `count`, say how many steps it had.
    pub fn done(&self) {
        if self.report {
            eprintln!("{CRASH_AT_ENV}: {} steps", self.taken());
        }
    }
}
