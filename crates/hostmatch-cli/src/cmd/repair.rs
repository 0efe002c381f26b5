//! `hostmatch repair`: finish an interrupted edit, remove dead temp files.

use crate::ui::{self, Context, Outcome};

pub fn run(ctx: &Context) -> anyhow::Result<Outcome> {
    let r = hostmatch::journal::repair(&ctx.root)?;
    if ctx.json {
        ui::print_json(&r)?;
        return Ok(Outcome::Ok);
    }
    for f in &r.finished {
        println!(
            "{}: replaced (an interrupted edit is finished)",
            hostmatch::escape::line(ctx.root.path(f).as_os_str().as_encoded_bytes())
        );
    }
    if r.removed_temp_files > 0 {
        println!(
            "removed {} temp files of killed hostmatch runs",
            r.removed_temp_files
        );
    }
    if r.finished.is_empty() && r.removed_temp_files == 0 {
        println!("nothing to repair");
    }
    Ok(Outcome::Ok)
}
