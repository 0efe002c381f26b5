//! `hostmatch volume prepare DIR --for CUID[:CGID] [--remap SPEC | --host-ids UID:GID] ...`.

use hostmatch::accounts::Accounts;
use hostmatch::ids::target_id;
use hostmatch::own::spec;
use hostmatch::{volume, Error};

use super::engine::{self, Predicted};
use crate::cli::VolumeCommand;
use crate::ui::{self, Context, Outcome};

pub fn run(ctx: &Context, cmd: &VolumeCommand) -> anyhow::Result<Outcome> {
    let VolumeCommand::Prepare {
        dir,
        for_ids,
        remap: remap_spec,
        host_ids,
        engine: engine_args,
        dirs,
        files,
        writable_by,
    } = cmd;
    let (cuid, cgid) = hostmatch::ids::parse_id_pair(for_ids, "--for")?;
    let accounts = Accounts::load(&ctx.root)?;
    let (uid, gid, predicted) = match host_ids {
        Some(h) => match spec::owner_pair(&accounts, h)? {
            (Some(u), Some(g)) => (u, g, None),
            _ => return Err(Error::invalid("--host-ids needs both sides: UID:GID").into()),
        },
        None => {
            let p = engine::predict_maps(ctx, remap_spec.as_deref(), engine_args)?;
            let (u, g) = predicted_host_ids(&p, cuid, cgid)?;
            (u, g, Some(p))
        }
    };
    let writable_by = writable_by
        .as_deref()
        .map(|u| spec::user_id(&accounts, u))
        .transpose()?;
    target_id(uid, "host uid")?;
    target_id(gid, "host gid")?;
    if let Some(u) = writable_by {
        target_id(u, "--writable-by uid")?;
    }
    super::walk::check_root("volume prepare", false)?;
    let prepared = volume::prepare(&volume::Spec {
        dir: dir.clone(),
        uid,
        gid,
        dirs: dirs.clone(),
        files: files.clone(),
        writable_by,
    })?;
    if ctx.json {
        ui::print_json(&serde_json::json!({
            "host_ids": { "uid": uid, "gid": gid },
            "rules": predicted.as_ref().map(Predicted::rules_json),
            "entries": prepared,
        }))?;
        return Ok(Outcome::Ok);
    }
    if let Some(p) = &predicted {
        println!("{}", p.rules_line());
        for w in &p.prediction.warnings {
            println!("{}: {w}", ctx.status("warning"));
        }
    }
    for p in &prepared {
        println!(
            "{} {} {}:{} {} {}",
            if p.created { "created" } else { "kept   " },
            p.kind,
            p.uid,
            p.gid,
            p.mode,
            p.path
        );
    }
    Ok(Outcome::Ok)
}

/// The host ids of container ids `cuid`:`cgid` under a prediction; an unmapped id is
/// an error naming the rules that left it out.
fn predicted_host_ids(p: &Predicted, cuid: u32, cgid: u32) -> anyhow::Result<(u32, u32)> {
    let (uid_map, gid_map) = (&p.prediction.uid_map, &p.prediction.gid_map);
    volume::host_ids(uid_map, gid_map, cuid, cgid).map_err(|e| match e {
        Error::Invalid(msg) => Error::invalid(format!("{msg} ({})", p.rules_line())).into(),
        other => other.into(),
    })
}
