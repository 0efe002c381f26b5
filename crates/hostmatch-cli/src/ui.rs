//! Output helpers: colours (only on a terminal, never with NO_COLOR), JSON,
//! the one-line error, and exit codes.

use std::io::IsTerminal;
use std::process::ExitCode;

use hostmatch::report::Finding;
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

/// Findings (doctor's checks, audit's findings) as JSON objects, the
/// sentence under `text_key` (`summary` for doctor, `observed` for audit).
pub fn findings_json(findings: &[Finding], text_key: &str) -> serde_json::Value {
    findings
        .iter()
        .map(|f| {
            let mut o = serde_json::Map::new();
            o.insert("id".into(), f.id.into());
            o.insert("status".into(), f.status.as_str().into());
            o.insert(text_key.into(), f.observed.clone().into());
            o.insert("hint".into(), f.hint.clone().into());
            serde_json::Value::Object(o)
        })
        .collect()
}

/// Prints findings one a line: the status, the id in a column `id_width`
/// wide, what was seen; the hint below.
pub fn print_findings(ctx: &Context, findings: &[Finding], id_width: usize) {
    for f in findings {
        let word = f.status.as_str();
        let pad = " ".repeat(5 - word.len());
        println!(
            "{}{pad}{:<id_width$} {}",
            ctx.status(word),
            f.id,
            f.observed
        );
        if !f.hint.is_empty() {
            println!("     {:<id_width$} {} {}", "", ctx.paint("2", "→"), f.hint);
        }
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// The error's text: each cause once (a cause already in the text before it
/// is not repeated), on one line, with control characters escaped.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    hostmatch::escape::line(msg.as_bytes()).into_owned()
}

/// Prints an error once, on one line, on stderr.
pub fn print_error(err: &anyhow::Error) {
    eprintln!("hostmatch: error: {}", error_line(err));
}

/// Exit code for an error: 2 for bad input, 4 for a lock held or a file
/// changed by another program meanwhile (nothing written), 3 for other
/// system failures.
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    match err.downcast_ref::<hostmatch::Error>() {
        Some(e) if e.is_bad_input() => 2,
        Some(e) if e.is_busy() => 4,
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

/// Runs one edit of system files ([`hostmatch::fsedit::edit`]): with
/// `dry_run`, plans and prints the diff (unless `--json`); else takes the
/// locks of `files`, plans under them and writes every file as one change.
pub fn edit<T>(
    ctx: &Context,
    files: &[&str],
    dry_run: bool,
    plan: impl FnOnce() -> hostmatch::Result<(hostmatch::fsedit::Plan, T)>,
) -> anyhow::Result<(hostmatch::fsedit::Plan, T)> {
    use hostmatch::fsedit::{self, Apply};
    let apply = if dry_run { Apply::DryRun } else { Apply::Write };
    let (p, t) = fsedit::edit(&ctx.root, files, apply, plan)?;
    if dry_run && !ctx.json {
        print!("{}", p.diff());
    }
    Ok((p, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_is_named_once_and_control_characters_are_escaped() {
        let io = std::io::Error::from_raw_os_error(libc_erofs());
        let e: anyhow::Error = hostmatch::Error::io("/etc/sub\x1b[2Juid", io).into();
        let line = error_line(&e.context("editing"));
        assert_eq!(line.matches("Read-only file system").count(), 1, "{line}");
        assert!(!line.contains('\x1b'), "{line}");
    }

    fn libc_erofs() -> i32 {
        30
    }
}
