//! `hostmatch volume prepare DIR --for CUID[:CGID] (--remap SPEC | --host-ids UID:GID) ...`.

use hostmatch::accounts::Accounts;
use hostmatch::ids::target_id;
use hostmatch::own::spec;
use hostmatch::{remap, volume, Error};

use crate::cli::VolumeCommand;
use crate::ui::{self, Context, Outcome};

pub fn run(ctx: &Context, cmd: &VolumeCommand) -> anyhow::Result<Outcome> {
    let VolumeCommand::Prepare {
        dir,
        for_ids,
        remap: remap_spec,
        host_ids,
        dirs,
        files,
        writable_by,
    } = cmd;
    let (cuid, cgid) = hostmatch::ids::parse_id_pair(for_ids, "--for")?;
    let accounts = Accounts::load(&ctx.root)?;
    let (uid, gid) = match (remap_spec, host_ids) {
        (Some(s), None) => {
            let p = remap::predict(&ctx.root, s)?;
            volume::host_ids(&p.uid_map, &p.gid_map, cuid, cgid)?
        }
        (None, Some(h)) => match spec::owner_pair(&accounts, h)? {
            (Some(u), Some(g)) => (u, g),
            _ => return Err(Error::invalid("--host-ids needs both sides: UID:GID").into()),
        },
        _ => {
            return Err(
                Error::invalid("give exactly one of --remap SPEC and --host-ids UID:GID").into(),
            )
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
        ui::print_json(&prepared)?;
    } else {
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
    }
    Ok(Outcome::Ok)
}
