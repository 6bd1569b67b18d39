//! Embeds the repository's default framework (`nodes/`, `graphs/`, `include/`) in the binary,
//! so an installed `rocks-compile` works from any directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["nodes", "graphs", "include"] {
        let p = root.join(dir);
        println!("cargo:rerun-if-changed={}", p.display());
        collect(&root, &p, &mut files);
    }
    files.sort();
    let mut out = String::from(
        "/// Files of the default framework: (path relative to the repository, contents).\npub static FILES: &[(&str, &str)] = &[\n",
    );
    for (rel, abs) in &files {
        writeln!(out, "    ({rel:?}, include_str!({abs:?})),").expect("writing to a String");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded.rs");
    std::fs::write(dest, out).expect("write embedded.rs");
    build_id(&root);
}

/// `ROCKS_COMPILE_BUILD_ID`: a digest of the sources (`src/`, `Cargo.lock`), so that outputs
/// kept by an incremental build are never ones an older build of the same version made.
fn build_id(root: &Path) {
    use std::hash::Hasher;
    let mut files = Vec::new();
    let mut dirs = vec![root.join("src")];
    while let Some(d) = dirs.pop() {
        println!("cargo:rerun-if-changed={}", d.display());
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() { dirs.push(p) } else { files.push(p) }
        }
    }
    files.push(root.join("Cargo.lock"));
    println!("cargo:rerun-if-changed={}", root.join("Cargo.lock").display());
    files.sort();
    // FNV-1a over every file's path and bytes: stable, no dependency for the build script.
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    for f in &files {
        h.write(f.strip_prefix(root).unwrap_or(f).to_string_lossy().as_bytes());
        h.write(&std::fs::read(f).unwrap_or_default());
    }
    println!("cargo:rustc-env=ROCKS_COMPILE_BUILD_ID={:016x}", h.finish());
}

struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            println!("cargo:rerun-if-changed={}", p.display());
            collect(root, &p, out);
        } else if matches!(p.extension().and_then(|s| s.to_str()), Some("xml" | "toml")) || p.starts_with(root.join("include")) {
            let rel = p.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
            out.push((rel, p.to_string_lossy().into_owned()));
        }
    }
}
