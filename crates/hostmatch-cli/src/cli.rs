//! The flag table: every subcommand and option of `hostmatch`, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub const EXIT_CODES: &str = "\
Exit status:
  0  success; every check passed
  1  the command ran and found a problem (a failed check, an unmapped id)
  2  bad input: usage, a malformed file (named FILE:LINE), an unknown user, an id out of range
  3  the system refused: permission, I/O, missing kernel or daemon support";

/// Make files written by containers belong to the right people.
#[derive(Debug, Parser)]
#[command(
    name = "hostmatch",
    version,
    about,
    long_about = "hostmatch manages container file ownership: subordinate ids (/etc/subuid, \
/etc/subgid), Docker's userns-remap mapping, ID-mapped volumes and re-owning of trees.",
    after_long_help = EXIT_CODES,
    after_help = "Start with: hostmatch doctor",
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Read and edit system files below DIR instead of / (like `useradd --root`).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/",
        env = "HOSTMATCH_ROOT"
    )]
    pub root: PathBuf,
    /// Read process information from DIR instead of /proc.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/proc",
        hide_short_help = true
    )]
    pub proc: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// When to use colours: auto (only on a terminal, never with NO_COLOR), always, never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: ColorWhen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Explain this host: user namespaces, ID-mapped mounts, subuid/subgid, Docker's remapping.
    #[command(after_help = "Examples:\n  hostmatch doctor\n  hostmatch doctor --json")]
    Doctor,
    /// Print shell completions for SHELL to standard output.
    #[command(
        after_help = "Example:\n  hostmatch completions bash > /etc/bash_completion.d/hostmatch"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages for hostmatch and every subcommand into DIR.
    #[command(
        after_help = "Example:\n  hostmatch man target/man && man -l target/man/hostmatch.1"
    )]
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}
