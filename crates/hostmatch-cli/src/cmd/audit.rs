//! `hostmatch audit`: what a container can do to the host, observed with real
//! containers; and the hidden `__probe` that runs inside them.

use std::path::Path;

use hostmatch::audit::{self, run};

use crate::cli::AuditArgs;
use crate::ui::{self, Context, Outcome};

pub fn run(ctx: &Context, args: &AuditArgs) -> anyhow::Result<Outcome> {
    // Ctrl-C or SIGTERM: remove what was made so far, then exit 130.
    ctrlc::set_handler(|| {
        eprintln!(
            "hostmatch: interrupted: removing the audit's containers, image and scratch files"
        );
        run::interrupt();
        std::process::exit(130);
    })?;
    let opts = run::Options {
        keep: args.keep,
        binary: None,
    };
    let a = run::audit(&ctx.root, &opts)?;
    if ctx.json {
        ui::print_json(&serde_json::json!({
            "container_root": a.container_root,
            "verdict": a.verdict,
            "findings": ui::findings_json(&a.findings, "observed"),
        }))?;
    } else {
        let word = if a.failed() { "fail" } else { "ok" };
        println!("{} {}", ctx.status(word), ctx.paint("1", &a.verdict));
        println!();
        ui::print_findings(ctx, &a.findings, 17);
        if args.keep {
            println!("\nkept image {}", run::image_tag());
        }
    }
    Ok(if a.failed() {
        Outcome::Problems
    } else {
        Outcome::Ok
    })
}

/// Inside a probe container: print the report as one JSON line.
pub fn probe(dir: Option<&Path>) -> anyhow::Result<Outcome> {
    let r = audit::probe::run(dir);
    println!("{}", serde_json::to_string(&r)?);
    Ok(Outcome::Ok)
}
