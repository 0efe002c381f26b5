//! `hostmatch doctor`: explain this host.

use hostmatch::doctor::{self, Rules, Status};

use super::engine;
use crate::cli::{DoctorArgs, EngineArgs};
use crate::ui::{self, Context, Outcome};

pub fn run(ctx: &Context, args: &DoctorArgs) -> anyhow::Result<Outcome> {
    let problems = super::subid::problems(&ctx.root)?;
    let running = engine::ask_running(ctx).map(|r| r.map(|a| a.engine).map_err(|e| e.to_string()));
    let opts = EngineArgs {
        engine: args.engine.clone(),
        ..EngineArgs::default()
    };
    let sel = engine::select_given(ctx, &opts, running.clone())?;
    let rules = Rules {
        rules: sel.rules,
        why: sel.why,
    };
    let facts = doctor::gather(&ctx.root, problems, running, rules);
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
