//! The completion scripts, run by the shells themselves: bash (`COMP_WORDS` and the
//! registered function), zsh (an interactive zsh on a pseudo-terminal) and fish
//! (`complete -C`). Each completes a subcommand, a flag of a subcommand, and host names from
//! the cluster database, for an option and for a positional argument.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

struct Setup {
    _dir: tempfile::TempDir,
    db: PathBuf,
    bin_dir: PathBuf,
    scripts: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let exe = Path::new(env!("CARGO_BIN_EXE_rocks-compile"));
    let run = |args: &[&str]| {
        let out = Command::new(exe).args(args).env("ROCKS_COMPILE_DB", &db).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    run(&["host", "add", "cluster", "--appliance", "frontend", "--ip", "10.1.1.1"]);
    run(&["host", "add", "compute-0-0", "--appliance", "compute"]);
    run(&["host", "add", "compute-0-1", "--appliance", "compute", "--rank", "1"]);
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    for shell in ["bash", "zsh", "fish"] {
        std::fs::write(scripts.join(shell), run(&["completions", shell])).unwrap();
    }
    Setup { bin_dir: exe.parent().unwrap().to_path_buf(), db, scripts, _dir: dir }
}

impl Setup {
    /// The shell command `sh` with the program on PATH and the database in the environment.
    fn shell(&self, sh: &Path) -> Command {
        let mut c = Command::new(sh);
        let path = format!("{}:{}", self.bin_dir.display(), std::env::var("PATH").unwrap_or_default());
        c.env("PATH", path).env("ROCKS_COMPILE_DB", &self.db).env("HOME", self.scripts.parent().unwrap());
        c
    }

    fn candidates(&self, shell: &str, line: &str) -> Vec<String> {
        let Some(sh) = common::tool(shell) else { return vec!["skipped".into()] };
        let script = self.scripts.join(shell);
        let out = match shell {
            "bash" => self
                .shell(&sh)
                .arg("-c")
                .arg(
                    r#"source "$1"; read -ra COMP_WORDS <<< "$2"; [[ $2 == *" " ]] && COMP_WORDS+=("");
                    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE=$2; COMP_POINT=${#COMP_LINE};
                    f=$(complete -p rocks-compile | sed -n 's/.*-F \([^ ]*\).*/\1/p');
                    "$f" rocks-compile "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}";
                    printf '%s\n' "${COMPREPLY[@]}""#,
                )
                .args(["bash", script.to_str().unwrap(), line])
                .output()
                .unwrap(),
            "zsh" => {
                let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/shells/zsh-complete.zsh");
                self.shell(&sh).arg("-f").arg(harness).arg(&script).arg(line).output().unwrap()
            }
            _ => self.shell(&sh).args(["-N", "-c", r#"source $argv[1]; complete -C $argv[2]"#]).arg(&script).arg(line).output().unwrap(),
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words: Vec<String> =
            text.lines().map(|l| l.split('\t').next().unwrap().trim().to_string()).filter(|w| !w.is_empty()).collect();
        words.sort();
        words.dedup();
        words
    }
}

fn check(s: &Setup, shell: &str) {
    let has = |line: &str, want: &[&str], not: &[&str]| {
        let got = s.candidates(shell, line);
        if got == ["skipped"] {
            return;
        }
        for w in want {
            assert!(got.iter().any(|g| g == w), "{shell}: `{line}<TAB>` should offer `{w}`, offers {got:?}");
        }
        for w in not {
            assert!(!got.iter().any(|g| g == w), "{shell}: `{line}<TAB>` should not offer `{w}`, offers {got:?}");
        }
    };
    has("rocks-compile host a", &["add"], &["list"]);
    has("rocks-compile build --on", &["--only"], &[]);
    has("rocks-compile kickstart --host cl", &["cluster"], &["compute-0-0"]);
    has("rocks-compile host remove comp", &["compute-0-0", "compute-0-1"], &["cluster"]);
}

#[test]
fn bash_completes_subcommands_flags_and_host_names() {
    check(&setup(), "bash");
}

#[test]
fn zsh_completes_subcommands_flags_and_host_names() {
    check(&setup(), "zsh");
}

#[test]
fn fish_completes_subcommands_flags_and_host_names() {
    check(&setup(), "fish");
}
