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
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut Cli::command(), "rocks-compile", &mut out);
    let _ = out.flush();
    EXIT_OK
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
