//! Output helpers: colours (only on a terminal, never with NO_COLOR), JSON,
//! the one-line error, and exit codes.

use std::io::IsTerminal;
use std::process::ExitCode;

use hostmatch::sysroot::Sysroot;

use crate::cli::{ColorWhen, Global};

/// What every subcommand gets: where to read, how to print.
#[derive(Debug, Clone)]
pub struct Context {
    pub root: Sysroot,
    pub json: bool,
    pub color: bool,
}

impl Context {
    pub fn from_cli(g: &Global) -> Self {
        let color = match g.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        };
        Context {
            root: Sysroot::new(&g.root).with_proc(&g.proc),
            json: g.json,
            color,
        }
    }

    /// Checks the global options (the root must be a directory).
    pub fn check(&self) -> anyhow::Result<()> {
        if !self.root.root().is_dir() {
            return Err(hostmatch::Error::invalid(format!(
                "--root {}: not a directory",
                self.root.root().display()
            ))
            .into());
        }
        Ok(())
    }

    /// Paints `text` with an ANSI SGR code when colours are on.
    pub fn paint(&self, sgr: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// A status word (ok, warn, fail, skip, error, warning) coloured by meaning.
    pub fn status(&self, s: &str) -> String {
        let sgr = match s {
            "ok" => "32",
            "warn" | "warning" => "33",
            "fail" | "error" => "31;1",
            _ => "2",
        };
        self.paint(sgr, s)
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Prints an error once, on one line, on stderr.
pub fn print_error(err: &anyhow::Error) {
    // The library's errors carry their file:line and cause in their own text;
    // anyhow contexts are joined on one line.
    let msg = format!("{err:#}").replace('\n', " ");
    eprintln!("hostmatch: error: {msg}");
}

/// Exit code for an error: 2 for bad input, 3 for system failures.
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    match err.downcast_ref::<hostmatch::Error>() {
        Some(e) if e.is_bad_input() => 2,
        _ => 3,
    }
}

/// The result of a command that ran: success, or "ran and found a problem".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Problems,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        match o {
            Outcome::Ok => ExitCode::SUCCESS,
            Outcome::Problems => ExitCode::from(1),
        }
    }
}

/// Applies a plan of file edits, or with `dry_run` prints its diff. Before
/// writing, every file is checked for write access so that a refused write
/// leaves every file as it was.
pub fn commit_plan(
    plan: &hostmatch::fsedit::Plan,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<()> {
    if dry_run {
        if !json {
            print!("{}", plan.diff());
        }
        return Ok(());
    }
    for e in &plan.edits {
        if !hostmatch::sys::can_write(&e.path) {
            return Err(hostmatch::Error::Permission(format!(
                "{}: permission denied: editing system files needs root (or --root DIR on a tree you own)",
                e.path.display()
            ))
            .into());
        }
    }
    plan.apply()?;
    Ok(())
}
