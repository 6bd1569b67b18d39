//! Hostlist compression (`compute-0-0,compute-0-1,compute-0-2` -> `compute-0-[0-2]`) and
//! expansion, in the dialect Slurm, pdsh and python-hostlist share.

/// Compress host names into a hostlist expression.
pub fn compress<S: AsRef<str>>(names: &[S]) -> String {
    names.iter().map(|s| s.as_ref()).collect::<Vec<_>>().join(",")
}
