//! `hostmatch map` and `hostmatch translate`: the uid/gid maps an engine will
//! install (Docker's userns-remap, rootful or rootless Podman), by the rules of
//! the engine that will read the files, or the maps a live process has; and ids
//! through them.

use serde::Serialize;

use hostmatch::ids::{Id, IdMap};

use super::engine::{self, Predicted};
use crate::cli::{EngineArgs, MapArgs, TranslateArgs};
use crate::ui::{self, Context, Outcome};

/// Maps read from a process, or predicted.
enum Maps {
    Read { uid_map: IdMap, gid_map: IdMap },
    Predicted(Box<Predicted>),
}

impl Maps {
    fn pair(&self) -> (&IdMap, &IdMap) {
        match self {
            Maps::Read { uid_map, gid_map } => (uid_map, gid_map),
            Maps::Predicted(p) => (&p.prediction.uid_map, &p.prediction.gid_map),
        }
    }

    fn warnings(&self) -> &[String] {
        match self {
            Maps::Read { .. } => &[],
            Maps::Predicted(p) => &p.prediction.warnings,
        }
    }
}

/// The maps of a live process.
fn read_pid(ctx: &Context, pid: u32) -> anyhow::Result<Maps> {
    let read = |name: &str| -> anyhow::Result<IdMap> {
        let rel = format!("{pid}/{name}");
        let text = ctx.root.read_proc(&rel)?;
        IdMap::parse(&text).map_err(|e| {
            anyhow::Error::from(hostmatch::Error::InvalidFile {
                path: ctx.root.proc_path(&rel),
                msg: e.to_string(),
            })
        })
    };
    Ok(Maps::Read {
        uid_map: read("uid_map")?,
        gid_map: read("gid_map")?,
    })
}

/// The maps of a process, or predicted for SPEC / the engine options.
fn maps(
    ctx: &Context,
    spec: Option<&str>,
    pid: Option<u32>,
    e: &EngineArgs,
) -> anyhow::Result<Maps> {
    if let Some(pid) = pid {
        return read_pid(ctx, pid);
    }
    Ok(Maps::Predicted(Box::new(engine::predict_maps(
        ctx, spec, e,
    )?)))
}

fn print_warnings(ctx: &Context, m: &Maps) {
    for w in m.warnings() {
        println!("{}: {w}", ctx.status("warning"));
    }
}

pub fn map(ctx: &Context, args: &MapArgs) -> anyhow::Result<Outcome> {
    let m = maps(ctx, args.spec.as_deref(), args.pid, &args.engine)?;
    match (&m, ctx.json) {
        (Maps::Read { uid_map, gid_map }, true) => {
            ui::print_json(&serde_json::json!({ "uid_map": uid_map, "gid_map": gid_map }))?
        }
        (Maps::Predicted(p), true) => ui::print_json(p)?,
        (m, false) => {
            if let Maps::Predicted(p) = m {
                println!("{}", p.rules_line());
            }
            let (u, g) = m.pair();
            print!("uid_map:\n{u}gid_map:\n{g}");
            print_warnings(ctx, m);
        }
    }
    Ok(if m.warnings().is_empty() {
        Outcome::Ok
    } else {
        Outcome::Problems
    })
}

#[derive(Serialize)]
struct Translation {
    container: Option<Id>,
    host: Option<Id>,
}

pub fn translate(ctx: &Context, args: &TranslateArgs) -> anyhow::Result<Outcome> {
    let m = maps(
        ctx,
        args.source.remap.as_deref(),
        args.source.pid,
        &args.engine,
    )?;
    let (uid_map, gid_map) = m.pair();
    let map = if args.group { gid_map } else { uid_map };
    let rows: Vec<Translation> = args
        .ids
        .iter()
        .map(|&id| {
            if args.to_container {
                Translation {
                    container: map.to_container(id),
                    host: Some(id),
                }
            } else {
                Translation {
                    container: Some(id),
                    host: map.to_host(id),
                }
            }
        })
        .collect();
    let unmapped = rows
        .iter()
        .any(|r| r.container.is_none() || r.host.is_none());
    if ctx.json {
        let rules = match &m {
            Maps::Predicted(p) => p.rules_json(),
            Maps::Read { .. } => serde_json::Value::Null,
        };
        ui::print_json(&serde_json::json!({ "ids": rows, "rules": rules }))?;
    } else {
        if let Maps::Predicted(p) = &m {
            println!("{}", p.rules_line());
        }
        let show = |v: Option<Id>| v.map_or_else(|| ctx.paint("31", "unmapped"), |v| v.to_string());
        for r in &rows {
            println!("container {} -> host {}", show(r.container), show(r.host));
        }
        print_warnings(ctx, &m);
    }
    Ok(if unmapped || !m.warnings().is_empty() {
        Outcome::Problems
    } else {
        Outcome::Ok
    })
}
