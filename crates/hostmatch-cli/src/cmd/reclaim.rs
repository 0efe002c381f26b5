//! `hostmatch reclaim DIR [--for UID[:GID] (--rootless | --engine E)]`: a
//! rootless user takes back what their containers wrote (or gives a tree to
//! a container user), without sudo.

use std::path::Path;

use serde::Serialize;

use hostmatch::accounts::Accounts;
use hostmatch::ids::Id;
use hostmatch::own::{Depth, Report};
use hostmatch::rootless::{self, Caller, Engine, Give, Inputs, ReclaimPlan, Stacking};
use hostmatch::subid::{Kind, SubidFile};
use hostmatch::sys::{userns, Credentials, RealCredentials};
use hostmatch::Error;

use crate::cli::{EngineArg, ReclaimArgs};
use crate::ui::{self, Context, Outcome};

pub fn run(ctx: &Context, a: &ReclaimArgs) -> anyhow::Result<Outcome> {
    let accounts = Accounts::load(&ctx.root)?;
    let caller = caller(&accounts)?;
    let give = give(a)?;
    let plan = plan(ctx, &accounts, &caller, give)?;
    check_dir(&a.dir, &caller, &plan)?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let tools = userns::find_map_tools(&path)?;
    if !ctx.json {
        for l in &plan.left_out {
            eprintln!("{}: left out of the namespace: {l}", ctx.status("note"));
        }
    }
    userns::enter(
        &tools,
        &plan.uid_map,
        &plan.gid_map,
        (caller.uid, caller.gid),
    )?;
    let report = super::walk::walk(
        ctx,
        std::slice::from_ref(&a.dir),
        &plan.rule,
        Depth::Recursive,
        &a.walk,
    )?;
    if ctx.json {
        ui::print_json(&Output {
            dir: &a.dir,
            dry_run: a.walk.dry_run,
            plan: &plan,
            report: &report,
        })?;
        return Ok(outcome(&report));
    }
    super::walk::print_report(ctx, &report, a.walk.dry_run)
}

/// The JSON output: the plan (maps, target ids, ids left out) and the walk's report.
#[derive(Serialize)]
struct Output<'a> {
    dir: &'a Path,
    dry_run: bool,
    #[serde(flatten)]
    plan: &'a ReclaimPlan,
    #[serde(flatten)]
    report: &'a Report,
}

fn outcome(r: &Report) -> Outcome {
    if r.is_clean() && r.outside.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Problems
    }
}

/// The user running the command (real ids), who must not be root.
fn caller(accounts: &Accounts) -> Result<Caller, Error> {
    let cred = RealCredentials;
    let (uid, gid) = (cred.getresuid().0, cred.getresgid().0);
    if uid == 0 {
        return Err(Error::invalid(
            "reclaim is for an unprivileged user taking back what their rootless containers wrote; \
as root, use `hostmatch chown DIR --from UID:GID --to UID:GID` or `hostmatch shift`",
        ));
    }
    let name = accounts
        .passwd
        .find(|u| u.uid == uid)
        .and_then(|u| u.name.to_str().map(String::from));
    Ok(Caller { uid, gid, name })
}

/// `--for` and the engine into what to give.
fn give(a: &ReclaimArgs) -> Result<Give, Error> {
    let Some(spec) = &a.for_ids else {
        return Ok(Give::ToCaller);
    };
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec.as_str(), ""),
    };
    let id = |s: &str| -> Result<Option<Id>, Error> {
        if s.is_empty() {
            Ok(None)
        } else {
            hostmatch::ids::parse_id(s).map(Some)
        }
    };
    let (uid, gid) = (id(u)?, id(g)?);
    if uid.is_none() && gid.is_none() {
        return Err(Error::invalid(format!(
            "--for '{spec}': give a container UID, UID:GID or :GID"
        )));
    }
    let stacking = match a.engine {
        Some(EngineArg::Podman) => Stacking::Engine(Engine::Podman),
        Some(EngineArg::Docker) => Stacking::Engine(Engine::Docker),
        None => Stacking::AnyRootless,
    };
    Ok(Give::ToContainer { uid, gid, stacking })
}

/// Reads the subid files and the kernel's overflow ids, and plans.
fn plan(
    ctx: &Context,
    accounts: &Accounts,
    caller: &Caller,
    give: Give,
) -> anyhow::Result<ReclaimPlan> {
    let read = |k: Kind| -> Result<SubidFile, Error> {
        Ok(SubidFile::parse(
            ctx.root.read_opt(k.rel_path())?.unwrap_or_default(),
        ))
    };
    let overflow = |f: &str| {
        ctx.root
            .read_proc(f)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(hostmatch::ids::OVERFLOW_ID)
    };
    let (subuid, subgid) = (read(Kind::Uid)?, read(Kind::Gid)?);
    let inputs = Inputs {
        caller,
        subuid: &subuid,
        subgid: &subgid,
        accounts,
        overflow: (
            overflow("sys/kernel/overflowuid"),
            overflow("sys/kernel/overflowgid"),
        ),
    };
    Ok(rootless::plan(&inputs, give)?)
}

/// DIR must be a directory (not a symlink) owned by the caller or by one of
/// the caller's subordinate uids.
fn check_dir(dir: &Path, caller: &Caller, plan: &ReclaimPlan) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::invalid(format!("{}: no such directory", dir.display()))
        }
        _ => Error::io(dir, e),
    })?;
    if m.file_type().is_symlink() {
        return Err(Error::invalid(format!(
            "{}: a symlink; give the directory itself",
            dir.display()
        )));
    }
    if !m.is_dir() {
        return Err(Error::invalid(format!(
            "{}: not a directory",
            dir.display()
        )));
    }
    let mine = plan.callers_uids.contains(m.uid());
    if !mine {
        return Err(Error::invalid(format!(
            "{}: owned by uid {}, neither you (uid {}) nor one of your subordinate uids: \
reclaim works on your own directories only",
            dir.display(),
            m.uid(),
            caller.uid
        )));
    }
    Ok(())
}
