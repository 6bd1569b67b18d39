//! Compile one appliance's kickstart from a framework directory and a JSON attribute file,
//! through the library's facade:
//!
//! ```text
//! cargo run --example compile -- FRAMEWORK_DIR APPLIANCE ATTRS.json
//! ```
//!
//! The kickstart goes to standard output; diagnostics to standard error (exit 1 on errors).

use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprint!("{e}");
            std::process::exit(1);
        }
    }
}

/// The kickstart text, or the rendered diagnostics (or usage) as the error.
pub fn run(args: &[String]) -> Result<String, String> {
    let [dir, appliance, attrs_file] = args else {
        return Err("usage: compile FRAMEWORK_DIR APPLIANCE ATTRS.json\n".into());
    };
    let json = std::fs::read_to_string(attrs_file).map_err(|e| format!("cannot read `{attrs_file}`: {e}\n"))?;
    let given: rocks_compile::Attrs =
        serde_json::from_str(&json).map_err(|e| format!("`{attrs_file}` is not a JSON object of strings: {e}\n"))?;
    let layers = [rocks_compile::Layer::Dir(PathBuf::from(dir))];
    let (fw, mut diags) = rocks_compile::open(&layers, "default").map_err(|e| format!("{e}\n"))?;
    let (ks, d) = rocks_compile::compile_appliance(&fw, appliance, &given, &rocks_compile::KickstartOptions::default());
    diags.extend(d);
    match ks {
        Some(ks) if !diags.iter().any(rocks_compile::Diagnostic::is_error) => {
            rocks_compile::render(&ks).map_err(|e| format!("internal error: {e}\n"))
        }
        _ => Err(rocks_compile::render_diagnostics(&diags, &fw.sources)),
    }
}
