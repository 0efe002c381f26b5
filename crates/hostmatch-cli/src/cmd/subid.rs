//! `hostmatch subid`: list, add, remove and check subordinate id ranges.

use hostmatch::fsedit::Plan;
use hostmatch::ids::IdRange;
use hostmatch::subid::{Layout, Severity};
use hostmatch::subid_files::{self, AddOptions, FileChange, FILES};
use hostmatch::sysroot::paths;

use crate::cli::{SubidAdd, SubidCmd};
use crate::ui::{self, Context, Outcome};

pub fn run(ctx: &Context, cmd: &SubidCmd) -> anyhow::Result<Outcome> {
    match cmd {
        SubidCmd::List { user } => list(ctx, user.as_deref()),
        SubidCmd::Add(args) => add(ctx, args),
        SubidCmd::Remove { users, dry_run } => remove(ctx, users, *dry_run),
        SubidCmd::Check => check(ctx),
    }
}

fn list(ctx: &Context, user: Option<&str>) -> anyhow::Result<Outcome> {
    let listed = subid_files::list(&ctx.root, user)?;
    if ctx.json {
        let out: serde_json::Map<String, serde_json::Value> = listed
            .into_iter()
            .map(|(kind, rows)| Ok((kind.file_name().into(), serde_json::to_value(rows)?)))
            .collect::<anyhow::Result<_>>()?;
        ui::print_json(&out)?;
        return Ok(Outcome::Ok);
    }
    for (kind, rows) in &listed {
        println!("{}:", ctx.root.path(kind.rel_path()).display());
        if rows.is_empty() {
            println!("  (no ranges)");
        }
        for r in rows {
            let range = IdRange {
                start: r.start,
                count: r.count,
            };
            println!(
                "  {:<16} {:>10} {:>10}  ids {range}  (line {})",
                r.owner, r.start, r.count, r.line
            );
        }
    }
    Ok(Outcome::Ok)
}

fn print_changes(
    ctx: &Context,
    changes: &[FileChange],
    plan: &Plan,
    dry_run: bool,
) -> anyhow::Result<()> {
    if ctx.json {
        ui::print_json(&serde_json::json!({
            "dry_run": dry_run,
            "changed": !plan.is_empty(),
            "files": changes,
            "diff": plan.diff(),
        }))?;
        return Ok(());
    }
    if dry_run {
        return Ok(());
    }
    for c in changes {
        for r in &c.added {
            println!("{}: added {} ({} ids)", c.file, r, r.count);
        }
        for r in &c.removed {
            println!("{}: removed {} ({} ids)", c.file, r, r.count);
        }
        if c.added.is_empty() && c.removed.is_empty() {
            if c.existing.is_empty() {
                println!("{}: nothing to change", c.file);
            } else {
                let ranges: Vec<String> = c.existing.iter().map(|r| r.to_string()).collect();
                println!("{}: already has {}; unchanged", c.file, ranges.join(", "));
            }
        }
    }
    Ok(())
}

fn add(ctx: &Context, args: &SubidAdd) -> anyhow::Result<Outcome> {
    let opts = AddOptions {
        count: args.count,
        start: args.start,
        layout: if args.self_ {
            Layout::OwnIdFirst
        } else {
            Layout::Fresh
        },
    };
    let (plan, changes) = ui::edit(ctx, &FILES, args.dry_run, || {
        subid_files::plan_add(&ctx.root, &args.user, opts)
    })?;
    print_changes(ctx, &changes, &plan, args.dry_run)?;
    Ok(Outcome::Ok)
}

fn remove(ctx: &Context, users: &[String], dry_run: bool) -> anyhow::Result<Outcome> {
    let (plan, changes) = ui::edit(ctx, &FILES, dry_run, || {
        subid_files::plan_remove(&ctx.root, users)
    })?;
    print_changes(ctx, &changes, &plan, dry_run)?;
    Ok(Outcome::Ok)
}

fn check(ctx: &Context) -> anyhow::Result<Outcome> {
    let problems = subid_files::problems(&ctx.root)?;
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    if ctx.json {
        ui::print_json(&serde_json::json!({ "problems": problems }))?;
    } else if problems.is_empty() {
        println!(
            "{} and {}: no problems",
            ctx.root.path(paths::SUBUID).display(),
            ctx.root.path(paths::SUBGID).display()
        );
    } else {
        for p in &problems {
            let loc = match p.line {
                Some(l) => format!("{}:{l}", p.file),
                None => p.file.to_string(),
            };
            let sev = match p.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let kind = serde_json::to_value(p.kind)?;
            println!(
                "{loc}: {} [{}] {}",
                ctx.status(sev),
                kind.as_str().unwrap_or_default(),
                p.message
            );
        }
        println!("{} errors, {} warnings", errors, problems.len() - errors);
    }
    Ok(if errors > 0 {
        Outcome::Problems
    } else {
        Outcome::Ok
    })
}
