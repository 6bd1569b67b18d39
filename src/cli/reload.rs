//! `build`'s side of telling the services about a new generation: the services file read
//! and checked before anything is built, the reloads listed (`--dry-run`) or run after the
//! swap ([`crate::services::run::after_swap`]) and reported. [I/O]

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{EXIT_DIAGNOSTICS, EXIT_FAILURE, EXIT_OK, Ui};
use crate::diag::Diagnostic;
use crate::generation::Change;
use crate::plan::Kind;
use crate::services::run::{Outcome, Told};
use crate::services::{self, Action, Reload, Services};
use crate::span::Sources;

/// The services a build of one tree tells.
pub(super) struct Setup {
    /// `None`: no services file, or one for another tree.
    services: Option<Services>,
    /// Why the services file does not apply to this tree (for `--dry-run`).
    note: Option<String>,
}

/// Read and check the services file: `given` (an error when it cannot be read), else
/// [`services::DEFAULT_PATH`] when it exists. `Err`: the exit code, the problems printed.
pub(super) fn load(ui: &mut Ui, given: Option<&Path>, out: &Path, json: bool) -> Result<Setup, i32> {
    let path = given.map_or_else(|| PathBuf::from(services::DEFAULT_PATH), Path::to_path_buf);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if given.is_none() && e.kind() == std::io::ErrorKind::NotFound => return Ok(Setup { services: None, note: None }),
        Err(e) => {
            let d = Diagnostic::error("services::read", format!("cannot read the services file `{}`: {e}", path.display()))
                .help("name an existing file, or leave out `--services` (a missing default file means no reloads)");
            return Err(say(ui, &Sources::new(), &[d], EXIT_FAILURE, json));
        }
    };
    let mut sources = Sources::new();
    let id = sources.add(path.display().to_string(), text.clone());
    let s = Services::parse(&text, id).map_err(|problems| say(ui, &sources, &problems, EXIT_DIAGNOSTICS, json))?;
    if !s.applies_to(out) {
        let tree = s.tree.as_deref().unwrap_or(Path::new("")).display().to_string();
        let note = format!("the services in `{}` reload for the tree `{tree}` only", path.display());
        return Ok(Setup { services: None, note: Some(note) });
    }
    Ok(Setup { services: Some(s), note: None })
}

/// `--dry-run`: the reloads a build that makes `changes` would run, printed after the
/// changes (or as JSON: `None` when no services file applies).
pub(super) fn preview(
    ui: &mut Ui,
    setup: &Setup,
    out: &Path,
    changes: &[(Change, Option<Kind>, String)],
    json: bool,
) -> Result<Option<Value>, i32> {
    let Some(s) = &setup.services else {
        if let (Some(note), false) = (&setup.note, json) {
            let _ = writeln!(std::io::stdout(), "no reloads: {note}");
        }
        return Ok(None);
    };
    let planned = services::run::planned(s, out, changes).map_err(|e| ui.read_error(out, &e))?;
    if json {
        return Ok(Some(Value::Array(planned.iter().map(|r| reload_json(r, None)).collect())));
    }
    let mut stdout = std::io::stdout().lock();
    if planned.is_empty() {
        let _ = writeln!(stdout, "no reloads");
    } else {
        let _ = writeln!(stdout, "reloads:");
        for r in &planned {
            let _ = writeln!(stdout, "  {}: {}", r.what(), r.action);
        }
    }
    Ok(None)
}

/// After the swap: run the reloads `changes` call for (none with `no_reload`; they are due at
/// the next build), report each (on standard error, or as the JSON returned: `None` when no
/// services file applies) and give the exit code: 1 when a reload failed.
pub(super) fn tell(
    ui: &mut Ui,
    setup: &Setup,
    out: &Path,
    changes: &[(Change, Option<Kind>, String)],
    no_reload: bool,
    json: bool,
) -> (Option<Value>, Vec<Diagnostic>, i32) {
    let Some(s) = &setup.services else {
        if let (Some(note), false) = (&setup.note, json) {
            let _ = writeln!(std::io::stderr(), "no reloads: {note}");
        }
        return (None, Vec::new(), EXIT_OK);
    };
    let told: Told = match services::run::after_swap(s, out, changes, !no_reload) {
        Ok(t) => t,
        Err(e) => {
            let d = Diagnostic::error("io::write", format!("cannot record the reloads still due: {e}"))
                .help("the new generation is in place; check the directory that holds the tree");
            if !json {
                ui.say(d.clone(), EXIT_FAILURE);
            }
            return (Some(json!([])), vec![d], EXIT_FAILURE);
        }
    };
    let mut problems = Vec::new();
    let mut err = std::io::stderr().lock();
    for (r, outcome) in &told.reloads {
        match outcome {
            Some(o) if o.ok => {
                if !json {
                    let _ = writeln!(err, "reloaded {}: {}", r.what(), r.action);
                }
            }
            Some(o) => problems.push(failure(r, o)),
            None => {
                if !json {
                    let _ = writeln!(err, "not reloaded (--no-reload; due at the next build): {}: {}", r.what(), r.action);
                }
            }
        }
    }
    drop(err);
    if !json {
        let mut err = std::io::stderr().lock();
        for d in &problems {
            let _ = write!(err, "{}", d.render(&Sources::new(), ui.color));
        }
    }
    let report = Value::Array(told.reloads.iter().map(|(r, o)| reload_json(r, Some(o.as_ref()))).collect());
    let code = if told.failed() { EXIT_DIAGNOSTICS } else { EXIT_OK };
    (Some(report), problems, code)
}

/// The diagnostic of a reload that failed: its command and what it printed.
fn failure(r: &Reload, o: &Outcome) -> Diagnostic {
    let d = Diagnostic::error("build::reload-failed", format!("reloading {} failed: `{}` {}", r.what(), r.action, o.status))
        .help("the new generation is in place and stays; this reload is run again by the next build");
    if o.output.is_empty() { d.note("it printed nothing") } else { d.note(format!("it printed:\n{}", o.output)) }
}

/// One reload as JSON; `outcome`: `None` for a preview, `Some(None)` when it was not run.
fn reload_json(r: &Reload, outcome: Option<Option<&Outcome>>) -> Value {
    let mut v = json!({
        "service": r.service,
        "zone": r.zone,
        "command": r.action.to_string(),
        "because": r.because,
    });
    match &r.action {
        Action::Command(words) => v["argv"] = json!(words),
        Action::Kea { socket } => v["socket"] = json!(socket.display().to_string()),
    }
    match outcome {
        None => {}
        Some(None) => v["run"] = json!(false),
        Some(Some(o)) => {
            v["run"] = json!(true);
            v["ok"] = json!(o.ok);
            v["status"] = json!(o.status);
            v["output"] = json!(o.output);
        }
    }
    v
}

/// Print `problems` (on standard error, or as a JSON document); returns `code`.
fn say(ui: &mut Ui, sources: &Sources, problems: &[Diagnostic], code: i32, json: bool) -> i32 {
    if json {
        super::inventory::print_json(&json!({"ok": false, "diagnostics": problems.iter().map(|d| d.to_json(sources)).collect::<Vec<_>>()}));
    } else {
        let mut err = std::io::stderr().lock();
        for d in problems {
            let _ = write!(err, "{}", d.render(sources, ui.color));
        }
    }
    code
}
