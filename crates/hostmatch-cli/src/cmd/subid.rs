//! `hostmatch subid`: list, add, remove and check subordinate id ranges.

use serde::Serialize;

use hostmatch::accounts::Accounts;
use hostmatch::engine::podman_conf::AUTO_USERNS_USER;
use hostmatch::fsedit::{FileEdit, Plan};
use hostmatch::ids::{Id, IdRange};
use hostmatch::linefile::Field;
use hostmatch::logindefs::LoginDefs;
use hostmatch::subid::{self, Kind, Layout, Placement, Problem, Severity, SubidFile, SubidPolicy};
use hostmatch::sysroot::{paths, Sysroot};

use crate::cli::{SubidAdd, SubidCmd};
use crate::ui::{self, Context, Outcome};

const KINDS: [Kind; 2] = [Kind::Uid, Kind::Gid];

pub fn run(ctx: &Context, cmd: &SubidCmd) -> anyhow::Result<Outcome> {
    match cmd {
        SubidCmd::List { user } => list(ctx, user.as_deref()),
        SubidCmd::Add(args) => add(ctx, args),
        SubidCmd::Remove { users, dry_run } => remove(ctx, users, *dry_run),
        SubidCmd::Check => check(ctx),
    }
}

/// A subid file's bytes (missing: none) and parsed model, strictly parsed.
fn load(root: &Sysroot, kind: Kind) -> hostmatch::Result<(Option<Vec<u8>>, SubidFile)> {
    let path = root.path(kind.rel_path());
    let bytes = root.read_bytes_opt(kind.rel_path())?;
    let file = SubidFile::parse_strict(bytes.as_deref().unwrap_or_default(), &path)?;
    Ok((bytes, file))
}

/// The files `subid add` and `subid remove` edit.
const FILES: [&str; 2] = [paths::SUBUID, paths::SUBGID];

#[derive(Serialize)]
struct ListedRange {
    owner: String,
    start: u32,
    count: u32,
    line: usize,
}

fn list(ctx: &Context, user: Option<&str>) -> anyhow::Result<Outcome> {
    let accounts = Accounts::load(&ctx.root)?;
    let owners: Option<Vec<hostmatch::linefile::Field>> = match user {
        None => None,
        Some(u) => {
            let e = accounts.user(u)?;
            Some(vec![e.name.clone(), e.uid.to_string().into()])
        }
    };
    let mut out = serde_json::Map::new();
    for kind in KINDS {
        let (_, file) = load(&ctx.root, kind)?;
        let rows: Vec<ListedRange> = file
            .records()
            .filter(|(_, e)| owners.as_ref().is_none_or(|o| o.contains(&e.owner)))
            .map(|(line, e)| ListedRange {
                owner: e.owner.to_string(),
                start: e.range.start,
                count: e.range.count,
                line,
            })
            .collect();
        if !ctx.json {
            println!("{}:", ctx.root.path(kind.rel_path()).display());
            if rows.is_empty() {
                println!("  (no ranges)");
            }
            for r in &rows {
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
        out.insert(kind.file_name().into(), serde_json::to_value(rows)?);
    }
    if ctx.json {
        ui::print_json(&out)?;
    }
    Ok(Outcome::Ok)
}

#[derive(Serialize)]
struct FileChange {
    file: String,
    added: Vec<IdRange>,
    removed: Vec<IdRange>,
    existing: Vec<IdRange>,
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
    let (plan, changes) = ui::edit(ctx, &FILES, args.dry_run, || plan_add(&ctx.root, args))?;
    print_changes(ctx, &changes, &plan, args.dry_run)?;
    Ok(Outcome::Ok)
}

/// Reads the accounts, login.defs and both files and plans the new ranges.
fn plan_add(root: &Sysroot, args: &SubidAdd) -> hostmatch::Result<(Plan, Vec<FileChange>)> {
    let accounts = Accounts::load(root)?;
    let (name, uid, gid): (Field, Id, Id) = match accounts.user(&args.user) {
        Ok(u) => (u.name.clone(), u.uid, u.gid),
        // Podman's --userns=auto takes the ranges of this name, which is no account.
        Err(_) if args.user == AUTO_USERNS_USER => {
            if args.self_ {
                return Err(hostmatch::Error::invalid(format!(
                    "'{AUTO_USERNS_USER}' is the name Podman's --userns=auto takes ranges from, not an account: it has no own id for --self"
                )));
            }
            (AUTO_USERNS_USER.into(), Id::MAX, Id::MAX)
        }
        Err(e) => return Err(e),
    };
    let defs_path = root.path(paths::LOGIN_DEFS);
    let defs = LoginDefs::parse(&root.read_opt(paths::LOGIN_DEFS)?.unwrap_or_default());
    let mut plan = Plan::default();
    let mut changes = Vec::new();
    for kind in KINDS {
        let policy = SubidPolicy::from_defs(&defs, kind, &defs_path)?;
        let (old, mut file) = load(root, kind)?;
        let req = subid::AddRequest {
            owner: &name,
            uid,
            own_id: match kind {
                Kind::Uid => uid,
                Kind::Gid => gid,
            },
            count: args.count.unwrap_or(policy.count),
            placement: args.start.map_or(Placement::Lowest, Placement::At),
            layout: if args.self_ {
                Layout::OwnIdFirst
            } else {
                Layout::Fresh
            },
        };
        let res = subid::plan_add(
            &mut file,
            &req,
            &policy,
            &subid::account_ids(&accounts, kind),
        )?;
        plan.push(FileEdit::new(
            root,
            kind.rel_path(),
            old,
            file.render(),
            0o644,
        ));
        changes.push(FileChange {
            file: root.path(kind.rel_path()).display().to_string(),
            added: res.added,
            removed: vec![],
            existing: res.existing,
        });
    }
    Ok((plan, changes))
}

fn remove(ctx: &Context, users: &[String], dry_run: bool) -> anyhow::Result<Outcome> {
    let (plan, changes) = ui::edit(ctx, &FILES, dry_run, || plan_remove(&ctx.root, users))?;
    print_changes(ctx, &changes, &plan, dry_run)?;
    Ok(Outcome::Ok)
}

fn plan_remove(root: &Sysroot, users: &[String]) -> hostmatch::Result<(Plan, Vec<FileChange>)> {
    let accounts = Accounts::load(root)?;
    let mut plan = Plan::default();
    let mut changes = Vec::new();
    for kind in KINDS {
        let (old, mut file) = load(root, kind)?;
        let mut removed = Vec::new();
        for u in users {
            let found = hostmatch::accounts::find_user(&accounts.passwd, u);
            let uid = found.map(|e| e.uid);
            let name = found.map_or_else(|| u.as_str().into(), |e| e.name.clone());
            if uid.is_none() && subid::ranges_of(&file, u).is_empty() {
                return Err(hostmatch::Error::UnknownUser(
                    hostmatch::escape::line(u.as_bytes()).into(),
                ));
            }
            removed.extend(subid::plan_remove(&mut file, &name, uid));
        }
        if old.is_some() {
            plan.push(FileEdit::new(
                root,
                kind.rel_path(),
                old,
                file.render(),
                0o644,
            ));
        }
        changes.push(FileChange {
            file: root.path(kind.rel_path()).display().to_string(),
            added: vec![],
            removed,
            existing: vec![],
        });
    }
    Ok((plan, changes))
}

/// The problems of both files (a missing file is a warning, not an error).
pub fn problems(root: &Sysroot) -> anyhow::Result<Vec<Problem>> {
    let accounts = Accounts::load(root)?;
    let mut all = Vec::new();
    for kind in KINDS {
        let path = root.path(kind.rel_path());
        let label = path.display().to_string();
        match root.read_bytes_opt(kind.rel_path())? {
            None => all.push(Problem {
                kind: subid::ProblemKind::Missing,
                severity: Severity::Warning,
                file: label.into(),
                line: None,
                message: format!(
                    "{} does not exist: useradd allocates no ranges and userns-remap cannot work",
                    path.display()
                )
                .into(),
            }),
            Some(text) => {
                let mut p = subid::check(&text, kind, &label, &accounts);
                let text = String::from_utf8_lossy(&text);
                hostmatch::subid_readers::refine(&mut p, &text, kind, &label, &accounts);
                all.extend(p);
            }
        }
    }
    Ok(all)
}

fn check(ctx: &Context) -> anyhow::Result<Outcome> {
    let problems = problems(&ctx.root)?;
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
