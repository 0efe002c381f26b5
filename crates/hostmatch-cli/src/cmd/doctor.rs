//! `hostmatch doctor`: explain this host.

use hostmatch::doctor::{self, Rules};

use super::engine;
use crate::cli::{DoctorArgs, EngineArgs};
use crate::ui::{self, Context, Outcome};

pub fn run(ctx: &Context, args: &DoctorArgs) -> anyhow::Result<Outcome> {
    let problems = hostmatch::subid_files::problems(&ctx.root)?;
    let asked = engine::ask_running(ctx);
    // An engine that is there but cannot be used: the report, then its line and exit 3.
    let broken = match &asked {
        Some(Err(e)) if e.is_engine_misbehaving() => Some(e.to_string()),
        _ => None,
    };
    let running = asked.map(|r| r.map(|a| a.engine).map_err(|e| e.to_string()));
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
    let failed = hostmatch::report::failed(&checks);
    if ctx.json {
        ui::print_json(&serde_json::json!({ "checks": ui::findings_json(&checks, "summary") }))?;
    } else {
        ui::print_findings(ctx, &checks, 20);
    }
    if let Some(e) = broken {
        return Err(anyhow::anyhow!(e));
    }
    Ok(if failed {
        Outcome::Problems
    } else {
        Outcome::Ok
    })
}
