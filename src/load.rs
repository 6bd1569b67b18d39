//! Reading framework directories (or the embedded default framework) into [`Sources`]. [I/O]
//!
//! A framework directory holds `nodes/*.xml`, `graphs/<graph>/*.xml`, optionally
//! `graphs/<graph>/attributes.toml` (default attributes and appliance roots) and `include/`
//! (files for `<include file=...>`). Several directories are layered like Rocks rolls.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::span::{SourceId, Sources};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// Where one framework layer comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// The framework built into the binary (the repository's `nodes/` and `graphs/`).
    Embedded,
    Dir(PathBuf),
}

/// What a file of a layer is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// `nodes/<file_name>`.
    Node { file_name: String },
    /// `graphs/<graph>/<file>.xml`.
    Graph { graph: String },
    /// `graphs/<graph>/attributes.toml`.
    Attributes { graph: String },
    /// `include/<name>`.
    Include { name: String },
}

/// One file read from a layer.
#[derive(Debug, Clone)]
pub struct RawFile {
    pub layer: usize,
    pub kind: FileKind,
    pub source: SourceId,
}

/// Every file of every layer, in layer order and then file-name order.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub sources: Sources,
    /// Display name of each layer (the directory's name, or `builtin`).
    pub layers: Vec<String>,
    pub files: Vec<RawFile>,
}

/// A framework directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read framework directory `{path}`: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("framework directory `{0}` does not exist")]
    Missing(String),
    #[error("framework path `{0}` is a file, not a directory")]
    NotADirectory(String),
    #[error("`{0}` is not a framework directory: it has neither `nodes/` nor `graphs/`")]
    NotFramework(String),
}

impl LoadError {
    /// The stable code, e.g. `load::missing-framework`.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::Io { .. } => "load::io",
            LoadError::Missing(_) => "load::missing-framework",
            LoadError::NotADirectory(_) => "load::not-a-directory",
            LoadError::NotFramework(_) => "load::not-framework",
        }
    }

    /// How to fix it, in one sentence.
    pub fn help(&self) -> &'static str {
        match self {
            LoadError::Io { .. } => "check that the framework's files are readable",
            LoadError::Missing(_) => "check the path given to `--framework`, or leave the flag out to use the built-in framework",
            LoadError::NotADirectory(_) => "`--framework` names a directory holding `nodes/` and `graphs/`, not a node file",
            LoadError::NotFramework(_) => "a framework directory holds `nodes/*.xml` and `graphs/<graph>/*.xml`",
        }
    }
}

/// Read the given layers, lowest first.
pub fn load(layers: &[Layer]) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    for (i, layer) in layers.iter().enumerate() {
        match layer {
            Layer::Embedded => {
                loaded.layers.push("builtin".to_string());
                for (rel, text) in embedded::FILES {
                    if let Some(kind) = classify(rel) {
                        let source = loaded.sources.add(format!("<builtin>/{rel}"), *text);
                        loaded.files.push(RawFile { layer: i, kind, source });
                    }
                }
            }
            Layer::Dir(dir) => {
                loaded.layers.push(layer_name(dir));
                load_dir(&mut loaded, i, dir)?;
            }
        }
    }
    Ok(loaded)
}

/// A framework held in memory as one layer named `name`: `(path, text)` pairs with paths
/// relative to the framework directory (`nodes/base.xml`, `graphs/default/a.xml`,
/// `include/x`). Other paths are ignored, as [`load`] ignores other files.
pub fn from_memory(name: &str, files: &[(String, String)]) -> Loaded {
    let mut loaded = Loaded { layers: vec![name.to_string()], ..Loaded::default() };
    let mut files: Vec<&(String, String)> = files.iter().collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    for (rel, text) in files {
        if let Some(kind) = classify(rel) {
            let source = loaded.sources.add(rel.clone(), text.clone());
            loaded.files.push(RawFile { layer: 0, kind, source });
        }
    }
    loaded
}

fn load_dir(loaded: &mut Loaded, layer: usize, dir: &Path) -> Result<(), LoadError> {
    if !dir.exists() {
        return Err(LoadError::Missing(dir.display().to_string()));
    }
    if !dir.is_dir() {
        return Err(LoadError::NotADirectory(dir.display().to_string()));
    }
    if !dir.join("nodes").is_dir() && !dir.join("graphs").is_dir() {
        return Err(LoadError::NotFramework(dir.display().to_string()));
    }
    for sub in ["nodes", "graphs", "include"] {
        let base = dir.join(sub);
        if !base.is_dir() {
            continue;
        }
        // Not following links lets walkdir use the directory entries' types instead of a
        // stat per file; a link is followed below only when it is one. Entries are sorted
        // once, by path components (what walkdir's per-directory sort gives, without
        // re-parsing the paths at every comparison).
        let mut found: Vec<(Vec<u8>, String, PathBuf)> = Vec::new();
        for entry in WalkDir::new(&base) {
            let entry = entry.map_err(|e| {
                let path = e.path().map(|p| p.display().to_string()).unwrap_or_else(|| base.display().to_string());
                LoadError::Io { path, source: e.into() }
            })?;
            let is_file = entry.file_type().is_file() || (entry.path_is_symlink() && entry.path().is_file());
            if !is_file {
                continue;
            }
            let rel = entry.path().strip_prefix(dir).expect("walkdir stays under its root");
            let rel = rel.to_string_lossy().replace('\\', "/");
            // `/` sorts before every other byte: a directory's files by name, then deeper ones.
            let key = rel.bytes().map(|b| if b == b'/' { 0 } else { b }).collect();
            found.push((key, rel, entry.into_path()));
        }
        found.sort_unstable();
        for (_, rel, path) in found {
            let Some(kind) = classify(&rel) else { continue };
            let name = path.display().to_string();
            let source = if matches!(kind, FileKind::Node { .. }) {
                // Node files are read when first reached.
                loaded.sources.add_lazy(name, path)
            } else {
                let text = std::fs::read_to_string(&path).map_err(|e| LoadError::Io { path: name.clone(), source: e })?;
                loaded.sources.add(name, text)
            };
            loaded.files.push(RawFile { layer, kind, source });
        }
    }
    Ok(())
}

/// Sort a relative path into its role, or `None` for files we do not read.
fn classify(rel: &str) -> Option<FileKind> {
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.as_slice() {
        ["nodes", f] if f.ends_with(".xml") => Some(FileKind::Node { file_name: f.to_string() }),
        ["graphs", g, f] if f.ends_with(".xml") => Some(FileKind::Graph { graph: g.to_string() }),
        ["graphs", g, "attributes.toml"] => Some(FileKind::Attributes { graph: g.to_string() }),
        ["include", rest @ ..] if !rest.is_empty() => Some(FileKind::Include { name: rest.join("/") }),
        _ => None,
    }
}

/// The directory's own name (`base` for `rolls/base/`); for `.` or `..`, the name of the
/// directory it stands for.
fn layer_name(dir: &Path) -> String {
    match dir.file_name() {
        Some(n) => n.to_string_lossy().into_owned(),
        None => {
            let canon = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            canon.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string())
        }
    }
}
