//! `hostmatch mounts`: the ID-mapped mounts of this mount namespace.

use hostmatch::idmount;
use hostmatch::ids::IdMap;

use crate::ui::{self, Context, Outcome};

/// A map as `stored->seen[+count]` items, identity stretches left out.
fn compact(m: &IdMap) -> String {
    let items: Vec<String> = m
        .extents()
        .iter()
        .filter(|e| e.container != e.host)
        .map(|e| {
            if e.count == 1 {
                format!("{}->{}", e.container, e.host)
            } else {
                format!("{}->{}+{}", e.container, e.host, e.count)
            }
        })
        .collect();
    if items.is_empty() {
        "identity".into()
    } else {
        items.join(",")
    }
}

pub fn run(ctx: &Context) -> anyhow::Result<Outcome> {
    let mounts = idmount::list(&ctx.root)?;
    if ctx.json {
        ui::print_json(&mounts)?;
        return Ok(Outcome::Ok);
    }
    if mounts.is_empty() {
        println!("no ID-mapped mounts");
        return Ok(Outcome::Ok);
    }
    for m in &mounts {
        let mode = if m.read_only { "ro" } else { "rw" };
        match &m.record {
            Some(r) => println!(
                "{}  <- {}  [{} {}]  uid {}  gid {}  ({})",
                m.dst.display(),
                m.src.display(),
                m.fstype,
                mode,
                compact(&r.mapping.uid_map),
                compact(&r.mapping.gid_map),
                r.how
            ),
            None => println!(
                "{}  <- {}  [{} {}]  {}",
                m.dst.display(),
                m.src.display(),
                m.fstype,
                mode,
                ctx.paint("2", "(not made by hostmatch: mapping unknown)")
            ),
        }
    }
    Ok(Outcome::Ok)
}
