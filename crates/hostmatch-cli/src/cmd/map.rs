//! `hostmatch map` and `hostmatch translate`: the uid/gid maps dockerd will
//! install for a remap setting (or a live process has), and ids through them.

use serde::Serialize;

use hostmatch::ids::{Id, IdMap};
use hostmatch::remap;

use crate::cli::{MapArgs, MapSource, TranslateArgs};
use crate::ui::{self, Context, Outcome};

#[derive(Serialize)]
struct Maps {
    uid_map: IdMap,
    gid_map: IdMap,
}

/// The maps of a remap setting (predicted) or of a live process (read).
fn maps(ctx: &Context, src: &MapSource) -> anyhow::Result<Maps> {
    if let Some(pid) = src.pid {
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
        return Ok(Maps {
            uid_map: read("uid_map")?,
            gid_map: read("gid_map")?,
        });
    }
    let spec = src.remap.as_deref().unwrap_or("default");
    let p = remap::predict(&ctx.root, spec)?;
    Ok(Maps {
        uid_map: p.uid_map,
        gid_map: p.gid_map,
    })
}

pub fn map(ctx: &Context, args: &MapArgs) -> anyhow::Result<Outcome> {
    let src = MapSource {
        remap: args.spec.clone(),
        pid: args.pid,
    };
    let m = maps(ctx, &src)?;
    if ctx.json {
        ui::print_json(&m)?;
    } else {
        print!("uid_map:\n{}gid_map:\n{}", m.uid_map, m.gid_map);
    }
    Ok(Outcome::Ok)
}

#[derive(Serialize)]
struct Translation {
    container: Option<Id>,
    host: Option<Id>,
}

pub fn translate(ctx: &Context, args: &TranslateArgs) -> anyhow::Result<Outcome> {
    let m = maps(ctx, &args.source)?;
    let map = if args.group { &m.gid_map } else { &m.uid_map };
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
        ui::print_json(&rows)?;
    } else {
        let show = |v: Option<Id>| v.map_or_else(|| ctx.paint("31", "unmapped"), |v| v.to_string());
        for r in &rows {
            println!("container {} -> host {}", show(r.container), show(r.host));
        }
    }
    Ok(if unmapped {
        Outcome::Problems
    } else {
        Outcome::Ok
    })
}
