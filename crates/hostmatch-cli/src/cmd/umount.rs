//! `hostmatch umount DST`.

use std::path::Path;

use hostmatch::idmount;

use crate::ui::{self, Context, Outcome};

pub fn run(ctx: &Context, dst: &Path) -> anyhow::Result<Outcome> {
    idmount::umount(&ctx.root, dst)?;
    if ctx.json {
        ui::print_json(&serde_json::json!({ "unmounted": dst }))?;
    } else {
        println!("{} unmounted {}", ctx.status("ok"), dst.display());
    }
    Ok(Outcome::Ok)
}
