//! Running a [`Reload`]'s action, and the file of reloads still due beside the tree. [I/O]
//!
//! A command runs directly (no shell) with standard input empty, in a process group of its
//! own that is killed when it takes longer than the timeout; what it prints is kept (the last
//! [`MAX_OUTPUT`] bytes). Kea is sent `{"command": "config-reload"}` over its control socket
//! and succeeds when it answers `"result": 0`.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::{Action, Reload, Services, Target};
use crate::generation::Change;
use crate::plan::Kind;

/// Bytes of a reload's output kept for its report (the end of it).
pub const MAX_OUTPUT: usize = 8 * 1024;
/// What Kea is sent.
pub const KEA_COMMAND: &str = r#"{ "command": "config-reload" }"#;
/// How long, after a command ended, its output may still take to arrive (a daemon it
/// started may hold the pipes open).
const DRAIN: Duration = Duration::from_secs(1);
/// The suffix of the file beside the tree that lists the reloads still due.
const DUE_SUFFIX: &str = "reload";

/// How a reload went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    /// What happened, said of the action, for messages: `exited with status 3`, `answered
    /// with result 1`, `did not finish within 60 s (killed)`, `could not start: ...`.
    pub status: String,
    /// What it printed (standard error, then standard output), or Kea's answer; trimmed.
    pub output: String,
}

/// What [`after_swap`] did: each reload with how it went (`None`: not run, it is due at
/// the next build).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Told {
    pub reloads: Vec<(Reload, Option<Outcome>)>,
}

impl Told {
    /// Did any reload that ran fail?
    pub fn failed(&self) -> bool {
        self.reloads.iter().any(|(_, o)| o.as_ref().is_some_and(|o| !o.ok))
    }
}

/// The reloads a commit of the tree `dir` that changed `changes` calls for, with those still
/// due from earlier builds (what `build --dry-run` lists).
pub fn planned(services: &Services, dir: &Path, changes: &[(Change, Option<Kind>, String)]) -> io::Result<Vec<Reload>> {
    let earlier = read_due(dir)?;
    Ok(super::reloads(services, &super::due(changes.iter().map(|(c, k, p)| (*c, *k, p.as_str())), &earlier)))
}

/// Tell the services about the generation just swapped in at `dir`, whose commit changed
/// `changes`: run each reload [`planned`] names, in order, whatever the others did. Those that
/// failed (with `run == false`: all of them, none is run) are due at the next build; the
/// others are no longer. An error: the reloads still due could not be read or recorded.
pub fn after_swap(services: &Services, dir: &Path, changes: &[(Change, Option<Kind>, String)], run_them: bool) -> io::Result<Told> {
    let planned = planned(services, dir, changes)?;
    let mut reloads = Vec::with_capacity(planned.len());
    let mut due = Vec::new();
    for r in planned {
        let outcome = run_them.then(|| run(&r.action, services.timeout));
        if outcome.as_ref().is_none_or(|o| !o.ok) {
            due.extend(r.targets.iter().cloned());
        }
        reloads.push((r, outcome));
    }
    write_due(dir, &due)?;
    Ok(Told { reloads })
}

/// Run `action`, giving it at most `timeout` (and never more than a year).
pub fn run(action: &Action, timeout: Duration) -> Outcome {
    let timeout = timeout.min(Duration::from_secs(365 * 86_400));
    match action {
        Action::Command(words) => command(words, timeout),
        Action::Kea { socket } => kea(socket, timeout),
    }
}

/// The reloads still due for the tree at `dir` (an earlier build's that failed).
pub fn read_due(dir: &Path) -> io::Result<Vec<Target>> {
    let path = match crate::generation::beside(dir, DUE_SUFFIX) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.lines().filter(|l| !l.starts_with('#')).filter_map(Target::from_key).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

/// Record that `due` are still to be reloaded for the tree at `dir` (none: the file goes).
pub fn write_due(dir: &Path, due: &[Target]) -> io::Result<()> {
    let path = crate::generation::beside(dir, DUE_SUFFIX)?;
    let at = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    if due.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(at(e)),
            _ => Ok(()),
        };
    }
    let mut text = String::from("# reloads that failed after a build (rocks-compile build runs them again)\n");
    for t in due {
        text.push_str(&t.key());
        text.push('\n');
    }
    crate::write::write_atomic(&path, text.as_bytes()).map_err(at)
}

fn command(words: &[String], timeout: Duration) -> Outcome {
    let failed = |status: String, output: String| Outcome { ok: false, status, output };
    let Some((program, args)) = words.split_first() else { return failed("is empty".into(), String::new()) };
    let mut cmd = Command::new(program);
    cmd.args(args);
    let (ended, output) = run_program(cmd, timeout);
    match ended {
        Ended::Exited(s) if s.success() => Outcome { ok: true, status: "exited with status 0".into(), output },
        Ended::Exited(s) => match s.code() {
            Some(c) => failed(format!("exited with status {c}"), output),
            None => failed(format!("was killed ({s})"), output),
        },
        Ended::TimedOut => failed(format!("did not finish within {} s (killed)", timeout.as_secs_f64()), output),
        Ended::NotStarted(e) => failed(format!("could not start: {e}"), output),
        Ended::NotWaited(e) => failed(format!("could not be waited for: {e}"), output),
    }
}

/// How a program run by [`run_program`] ended.
#[derive(Debug)]
pub(crate) enum Ended {
    Exited(std::process::ExitStatus),
    /// It ran past the timeout; it and what it started were killed.
    TimedOut,
    NotStarted(io::Error),
    NotWaited(io::Error),
}

/// Run `cmd` (program, arguments and environment as the caller set them; also used by
/// [`crate::power`]) with standard input empty, in a process group of its own that is killed
/// when it runs past `timeout`: how it ended, and what it printed (standard error, then
/// standard output, trimmed; the last [`MAX_OUTPUT`] bytes).
pub(crate) fn run_program(mut cmd: Command, timeout: Duration) -> (Ended, String) {
    let spawned = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return (Ended::NotStarted(e), String::new()),
    };
    let (tx, rx) = mpsc::channel();
    let stdout = collect(child.stdout.take().expect("stdout was piped"), tx.clone());
    let stderr = collect(child.stderr.take().expect("stderr was piped"), tx);
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    let ended = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ended::Exited(s),
            Ok(None) if Instant::now() >= deadline => {
                // The whole group: what the command started goes too.
                let group = child.id() as libc::pid_t;
                // SAFETY: kill(2) with a negated process-group id; no memory is involved.
                unsafe { libc::kill(-group, libc::SIGKILL) };
                let _ = child.wait();
                break Ended::TimedOut;
            }
            Ok(None) => {
                std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => break Ended::NotWaited(e),
        }
    };
    let drained = Instant::now() + DRAIN;
    for _ in 0..2 {
        if rx.recv_timeout(drained.saturating_duration_since(Instant::now())).is_err() {
            break;
        }
    }
    let text = |b: &Arc<Mutex<Captured>>| {
        let c = b.lock().unwrap_or_else(|p| p.into_inner());
        let t = String::from_utf8_lossy(&c.bytes);
        if c.cut { format!("...{}", t.trim_end()) } else { t.trim().to_string() }
    };
    let output = [text(&stderr), text(&stdout)].into_iter().filter(|t| !t.is_empty()).collect::<Vec<_>>().join("\n");
    (ended, tail(output))
}

/// What a command printed on one pipe: its last [`MAX_OUTPUT`] bytes or a little more.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    /// The start was dropped.
    cut: bool,
}

/// Read `pipe` on a thread of its own into the buffer returned; `done` is told at the end.
fn collect(mut pipe: impl Read + Send + 'static, done: mpsc::Sender<()>) -> Arc<Mutex<Captured>> {
    let buf = Arc::new(Mutex::new(Captured::default()));
    let mine = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    let mut c = mine.lock().unwrap_or_else(|p| p.into_inner());
                    c.bytes.extend_from_slice(&chunk[..n]);
                    if c.bytes.len() > 2 * MAX_OUTPUT {
                        let cut = c.bytes.len() - MAX_OUTPUT;
                        c.bytes.drain(..cut);
                        c.cut = true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = done.send(());
    });
    buf
}

/// The last [`MAX_OUTPUT`] bytes of `text` (cut at a character boundary, after `...`).
fn tail(text: String) -> String {
    if text.len() <= MAX_OUTPUT {
        return text;
    }
    let text = text.strip_prefix("...").unwrap_or(&text);
    let mut start = text.len().saturating_sub(MAX_OUTPUT);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &text[start..])
}

fn kea(socket: &Path, timeout: Duration) -> Outcome {
    let failed = |status: String, output: String| Outcome { ok: false, status, output };
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => return failed(format!("could not connect: {e}"), String::new()),
    };
    let deadline = Instant::now() + timeout;
    if let Err(e) = stream.set_write_timeout(Some(timeout)).and_then(|_| stream.write_all(KEA_COMMAND.as_bytes())) {
        return failed(format!("could not send the command: {e}"), String::new());
    }
    // Kea answers with one JSON object (through its control agent, a list of them) and
    // closes the connection; stop as soon as the answer is whole.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    let read: Result<(), String> = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(format!("did not answer within {} s", timeout.as_secs_f64()));
        }
        if let Err(e) = stream.set_read_timeout(Some(left)) {
            break Err(e.to_string());
        }
        match stream.read(&mut chunk) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                answer.extend_from_slice(&chunk[..n]);
                if serde_json::from_slice::<serde_json::Value>(&answer).is_ok() {
                    break Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                break Err(format!("did not answer within {} s", timeout.as_secs_f64()));
            }
            Err(e) => break Err(format!("could not read the answer: {e}")),
        }
    };
    let output = tail(String::from_utf8_lossy(&answer).trim().to_string());
    if let Err(why) = read {
        return failed(why, output);
    }
    let value: serde_json::Value = match serde_json::from_slice(&answer) {
        Ok(v) => v,
        Err(_) if answer.is_empty() => return failed("closed the connection without an answer".into(), output),
        Err(e) => return failed(format!("answered what is not JSON ({e})"), output),
    };
    let first = value.as_array().and_then(|a| a.first()).unwrap_or(&value);
    match first.get("result").and_then(serde_json::Value::as_i64) {
        Some(0) => Outcome { ok: true, status: "answered with result 0".into(), output },
        Some(r) => failed(format!("answered with result {r}"), output),
        None => failed("answered without a result".into(), output),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Action {
        Action::Command(vec!["sh".into(), "-c".into(), script.into()])
    }

    #[test]
    fn a_command_s_status_and_output_are_reported() {
        let ok = run(&sh("echo fine"), Duration::from_secs(10));
        assert_eq!(ok, Outcome { ok: true, status: "exited with status 0".into(), output: "fine".into() });
        let bad = run(&sh("echo out; echo boom >&2; exit 3"), Duration::from_secs(10));
        assert_eq!(bad, Outcome { ok: false, status: "exited with status 3".into(), output: "boom\nout".into() });
        let missing = run(&Action::Command(vec!["/nonexistent/reload".into()]), Duration::from_secs(10));
        assert!(!missing.ok && missing.status.starts_with("could not start: No such file"), "{missing:?}");
    }

    #[test]
    fn a_command_that_takes_too_long_is_killed_with_what_it_started() {
        let d = tempfile::tempdir().unwrap();
        let flag = d.path().join("late");
        let script = format!("echo started; (sleep 3; touch {}) & sleep 30", flag.display());
        let t = Instant::now();
        let o = run(&sh(&script), Duration::from_millis(300));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert_eq!((o.ok, o.status.as_str(), o.output.as_str()), (false, "did not finish within 0.3 s (killed)", "started"));
        std::thread::sleep(Duration::from_millis(3500));
        assert!(!flag.exists(), "the background job was killed with the command");
    }

    #[test]
    fn output_is_cut_to_its_end() {
        let o = run(&sh("seq 1 20000"), Duration::from_secs(10));
        assert!(o.ok && o.output.len() <= MAX_OUTPUT + 3 && o.output.starts_with("...") && o.output.ends_with("\n20000"), "{}", o.output.len());
        // Cut already (a pipe's start was dropped) and just over the limit with the mark.
        let marked = format!("...{}", "x".repeat(MAX_OUTPUT - 1));
        assert_eq!(tail(marked.clone()), marked);
        let short = run(&sh("seq 1 1000"), Duration::from_secs(10));
        assert!(short.output.starts_with("1\n2\n") && short.output.ends_with("\n1000"), "{}", short.output);
    }

    #[test]
    fn due_reloads_are_kept_beside_the_tree_until_none_is() {
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("tree");
        assert_eq!(read_due(&tree).unwrap(), vec![]);
        let due = vec![Target::Dhcp, Target::Zone("local".into())];
        write_due(&tree, &due).unwrap();
        assert!(d.path().join(".tree.reload").is_file());
        assert_eq!(read_due(&tree).unwrap(), due);
        write_due(&tree, &[]).unwrap();
        assert!(!d.path().join(".tree.reload").exists());
        write_due(&tree, &[]).unwrap();
    }
}
