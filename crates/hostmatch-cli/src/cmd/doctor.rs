//! `hostmatch doctor`: explain this host.

use std::time::Duration;

use hostmatch::doctor::{self, Status};

use crate::ui::{self, Context, Outcome};

pub fn run(ctx: &Context) -> anyhow::Result<Outcome> {
    let problems = super::subid::problems(&ctx.root)?;
    let daemon = ctx
        .root
        .is_host_root()
        .then(|| hostmatch::docker::daemon_info(Duration::from_secs(10)));
    let facts = doctor::gather(&ctx.root, problems, daemon);
    let checks = doctor::evaluate(&facts);
    let failed = checks.iter().any(|c| c.status == Status::Fail);
    if ctx.json {
        ui::print_json(&serde_json::json!({ "checks": checks }))?;
    } else {
        for c in &checks {
            let word = match c.status {
                Status::Ok => "ok",
                Status::Warn => "warn",
                Status::Fail => "fail",
                Status::Skip => "skip",
            };
            let pad = " ".repeat(5 - word.len());
            println!("{}{pad}{:<20} {}", ctx.status(word), c.id, c.summary);
            if !c.hint.is_empty() {
                println!("     {:<20} {} {}", "", ctx.paint("2", "→"), c.hint);
            }
        }
    }
    Ok(if failed {
        Outcome::Problems
    } else {
        Outcome::Ok
    })
}
