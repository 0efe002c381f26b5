//! Shared by the commands that walk trees: checks, progress bar, report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::OnceLock;

use hostmatch::fsedit::Apply;
use hostmatch::own::{self, Depth, Options, Report, Rule};
use hostmatch::Error;

use crate::cli::WalkArgs;
use crate::ui::{self, Context, Outcome};

/// How many entries before a progress bar appears (short walks show none).
const BAR_AFTER: u64 = 20_000;

/// Every path must exist before anything is changed.
pub fn check_paths(paths: &[PathBuf]) -> Result<(), Error> {
    for p in paths {
        if let Err(e) = std::fs::symlink_metadata(p) {
            return Err(match e.kind() {
                std::io::ErrorKind::NotFound => {
                    Error::invalid(format!("{}: no such file or directory", p.display()))
                }
                _ => Error::io(p, e),
            });
        }
    }
    Ok(())
}

/// Changing owners needs root (CAP_CHOWN): say so once instead of one
/// error per file.
pub fn check_root(what: &str, dry_run: bool) -> Result<(), Error> {
    if !dry_run && hostmatch::sys::geteuid() != 0 {
        return Err(Error::Permission(format!(
            "{what} changes owners and must run as root (try --dry-run to see what would change)"
        )));
    }
    Ok(())
}

/// Runs `rule` over every path and prints the report.
pub fn run(
    ctx: &Context,
    paths: &[PathBuf],
    rule: &Rule,
    depth: Depth,
    args: &WalkArgs,
) -> anyhow::Result<Outcome> {
    let total = walk(ctx, paths, rule, depth, args)?;
    print_report(ctx, &total, args.dry_run)
}

/// Runs `rule` over every path, with a progress bar on a terminal.
pub fn walk(
    ctx: &Context,
    paths: &[PathBuf],
    rule: &Rule,
    depth: Depth,
    args: &WalkArgs,
) -> anyhow::Result<Report> {
    check_paths(paths)?;
    let opts = Options {
        depth,
        mode: if args.dry_run {
            Apply::DryRun
        } else {
            Apply::Write
        },
        threads: args.threads,
        ..Options::default()
    };
    let tty = std::io::stderr().is_terminal() && !ctx.json;
    let bar: OnceLock<indicatif::ProgressBar> = OnceLock::new();
    let progress = |n: u64| {
        if tty && n >= BAR_AFTER {
            let b = bar.get_or_init(|| {
                let b = indicatif::ProgressBar::new_spinner();
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {pos} entries scanned ({per_sec})",
                    )
                    .expect("static template"),
                );
                b
            });
            b.set_position(n);
        }
    };
    let mut total = Report::default();
    for p in paths {
        let r = own::apply(p, rule, &opts, &progress)?;
        total.merge(r);
    }
    if let Some(b) = bar.get() {
        b.finish_and_clear();
    }
    Ok(total)
}

pub fn print_report(ctx: &Context, r: &Report, dry_run: bool) -> anyhow::Result<Outcome> {
    if ctx.json {
        ui::print_json(r)?;
    } else {
        for p in &r.outside {
            eprintln!(
                "{}: {}: owned by an id neither yours nor one of your subordinate ids; left alone",
                ctx.status("warn"),
                p.display()
            );
        }
        if r.outside_omitted > 0 {
            eprintln!(
                "{}: {} more entries left alone, not listed",
                ctx.status("warn"),
                r.outside_omitted
            );
        }
        for e in &r.errors {
            eprintln!("{}: {}: {}", ctx.status("error"), e.path.display(), e.error);
        }
        if r.errors_omitted > 0 {
            eprintln!(
                "{}: {} more errors not listed",
                ctx.status("error"),
                r.errors_omitted
            );
        }
        println!("{}", r.summary(dry_run));
    }
    Ok(if r.is_clean() && r.outside.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Problems
    })
}
