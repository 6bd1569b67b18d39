//! `completions` and `man`: shell completions and manual pages generated from the same clap
//! definitions as the command line itself, so they never drift from it. [I/O]

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory, ValueEnum};

use super::{Cli, EXIT_OK, Ui};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: Shell,
}

/// Shells with completions.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command (`rocks-compile.1`, `rocks-compile-host-add.1`, ...) into
    /// this directory instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Print the completion script for `a.shell` on standard output.
pub(super) fn completions(a: CompletionsArgs) -> i32 {
    let shell = match a.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "rocks-compile", &mut script);
    let script = String::from_utf8_lossy(&script);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(fixed(a.shell, &script).as_bytes()).and_then(|()| out.flush());
    EXIT_OK
}

/// The generated script with clap_complete's slip for a program name with a `-` mended: its
/// bash script names the states of subcommands `rocks__subcmd__compile__...` in the `case`
/// labels but `rocks__compile__...` where it sets them, so nothing below the top level
/// completed.
///
/// Host names complete from the cluster database (`host list --names`, with the database
/// the environment names) instead of the shell's list of known hosts: zsh and fish through
/// the arguments' host-name hint, bash (whose generated script ignores hints) through a
/// wrapper that knows where a host name goes ([`host_places`]).
fn fixed(shell: Shell, script: &str) -> String {
    const HOSTS: &str = "rocks-compile host list --names 2>/dev/null";
    match shell {
        Shell::Bash => {
            let script = script.replace("rocks__subcmd__compile", "rocks__compile");
            let (options, positions) = host_places(&Cli::command());
            let takes_value = value_options(&Cli::command()).join(" ");
            let wrapper = format!(
                r#"
# Host names from the cluster database (added by rocks-compile).
_rocks_compile_hosts() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local path="" i w skip=0
    case " {options} " in *" $prev "*)
        COMPREPLY=( $(compgen -W "$({HOSTS})" -- "$cur") )
        return 0 ;;
    esac
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        if [[ $skip == 1 ]]; then skip=0; continue; fi
        case " {takes_value} " in *" $w "*) skip=1; continue ;; esac
        [[ $w == -* ]] && continue
        path="$path/$w"
    done
    if [[ $cur != -* ]]; then
        case " {positions} " in *" $path "*)
            COMPREPLY=( $(compgen -W "$({HOSTS})" -- "$cur") )
            return 0 ;;
        esac
    fi
    _rocks__compile "$@"
}}
if [[ "${{BASH_VERSINFO[0]}}" -eq 4 && "${{BASH_VERSINFO[1]}}" -ge 4 || "${{BASH_VERSINFO[0]}}" -gt 4 ]]; then
    complete -F _rocks_compile_hosts -o nosort -o bashdefault -o default rocks-compile
else
    complete -F _rocks_compile_hosts -o bashdefault -o default rocks-compile
fi
"#
            );
            format!("{script}{wrapper}")
        }
        Shell::Zsh => script.replace(":_hosts", &format!(":{{compadd -- $({HOSTS})}}")),
        Shell::Fish => {
            let mut script = script.replace("(__fish_print_hostnames)", &format!("({HOSTS})"));
            // Positional host names (`host remove NAME`): the generated script has no rule.
            script.push_str("\n# Host names from the cluster database (added by rocks-compile).\n");
            for path in host_places(&Cli::command()).1.split(' ').filter(|p| !p.is_empty()) {
                let words: Vec<&str> = path.trim_start_matches('/').split('/').collect();
                if let [top, rest @ ..] = words.as_slice() {
                    let mut cond = format!("__fish_rocks_compile_using_subcommand {top}");
                    for w in rest {
                        cond.push_str(&format!("; and __fish_seen_subcommand_from {w}"));
                    }
                    script.push_str(&format!("complete -c rocks-compile -n \"{cond}\" -f -a \"({HOSTS})\"\n"));
                }
            }
            script
        }
    }
}

/// Where a host name goes on the command line: the options that take one (`--host`), and
/// the subcommand paths (`/host/remove`) whose first positional argument is one.
fn host_places(cmd: &clap::Command) -> (String, String) {
    fn walk(cmd: &clap::Command, path: &str, options: &mut Vec<String>, positions: &mut Vec<String>) {
        let hint = |a: &clap::Arg| a.get_value_hint() == clap::ValueHint::Hostname;
        options.extend(cmd.get_opts().filter(|a| hint(a)).filter_map(|a| a.get_long().map(|l| format!("--{l}"))));
        if cmd.get_positionals().next().is_some_and(hint) {
            positions.push(path.to_string());
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path}/{}", sub.get_name()), options, positions);
        }
    }
    let (mut options, mut positions) = (Vec::new(), Vec::new());
    walk(cmd, "", &mut options, &mut positions);
    options.sort();
    options.dedup();
    (options.join(" "), positions.join(" "))
}

/// Every long option that takes a value, anywhere in the command tree.
fn value_options(cmd: &clap::Command) -> Vec<String> {
    let mut out: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.get_action().takes_values())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .chain(cmd.get_subcommands().flat_map(value_options))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Print the main manual page (roff), or write every page into `a.out`.
pub(super) fn man(ui: &mut Ui, a: ManArgs) -> i32 {
    match &a.out {
        Some(dir) => match write_pages(dir) {
            Ok(()) => EXIT_OK,
            Err(e) => ui.write_error(dir, &e),
        },
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page).expect("rendering into memory");
            super::emit_text(ui, None, &String::from_utf8_lossy(&page))
        }
    }
}

fn write_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)
}
