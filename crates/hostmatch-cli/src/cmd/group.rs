//! `hostmatch group link CGID [--remap SPEC] [--engine ...] --name NAME [--add USER...]`.

use hostmatch::{grouplink, ids, Error};

use super::engine;
use crate::cli::GroupCommand;
use crate::ui::{self, Context, Outcome};

pub fn run(ctx: &Context, cmd: &GroupCommand) -> anyhow::Result<Outcome> {
    let GroupCommand::Link {
        cgid,
        remap: spec,
        engine: engine_args,
        name,
        add,
        dry_run,
    } = cmd;
    let dry_run = *dry_run;
    let cgid = ids::parse_id(cgid)?;
    let p = engine::predict_maps(ctx, spec.as_deref(), engine_args)?;
    let gid = p.prediction.gid_map.to_host(cgid).ok_or_else(|| {
        Error::invalid(format!(
            "container gid {cgid} is not mapped ({})",
            p.rules_line()
        ))
    })?;
    if !ctx.json {
        println!("{}", p.rules_line());
        for w in &p.prediction.warnings {
            println!("{}: {w}", ctx.status("warning"));
        }
    }
    let (plan, ()) = ui::edit(ctx, &grouplink::FILES, dry_run, || {
        Ok((grouplink::plan(&ctx.root, name, gid, add)?, ()))
    })?;
    if ctx.json {
        ui::print_json(&serde_json::json!({
            "group": name,
            "gid": gid,
            "container_gid": cgid,
            "changed": !plan.is_empty(),
            "dry_run": dry_run,
            "diff": plan.diff(),
            "rules": p.rules_json(),
        }))?;
    } else if !dry_run {
        println!(
            "group {}: gid {gid} (container gid {cgid}){}",
            hostmatch::escape::line(name.as_bytes()),
            if plan.is_empty() {
                ", already linked"
            } else {
                ""
            }
        );
    }
    Ok(Outcome::Ok)
}
