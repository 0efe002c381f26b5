//! `hostmatch docker status|enable|disable`: Docker's userns-remap setting.

use hostmatch::daemon_json::DaemonJson;
use hostmatch::docker::RemapSetting;
use hostmatch::dockremap;
use hostmatch::engine::{Engine, EngineKind, RemapConfig};
use hostmatch::fsedit::{FileEdit, Plan};
use hostmatch::remap::{self, Target};
use hostmatch::sysroot::{paths, Sysroot};

use super::engine::{self, Predicted, Selected};
use crate::cli::{DockerCmd, EngineArgs};
use crate::ui::{self, Context, Outcome};

pub fn run(ctx: &Context, cmd: &DockerCmd) -> anyhow::Result<Outcome> {
    match cmd {
        DockerCmd::Status => status(ctx),
        DockerCmd::Enable { spec, dry_run } => enable(ctx, spec, *dry_run),
        DockerCmd::Disable { dry_run } => disable(ctx, *dry_run),
    }
}

/// Warnings about the setting against what the running daemon does.
fn status_warnings(
    setting: &RemapSetting,
    engine: Option<&Engine>,
    effective: Option<&str>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if setting.conflict() {
        warnings.push("userns-remap is set both in daemon.json and on dockerd's command line: dockerd refuses to start with an option given twice".to_string());
    }
    match (engine, effective) {
        (Some(e), _) if e.kind != EngineKind::Docker => warnings.push(format!(
            "the engine at {} is {}, not Docker: it does not read userns-remap",
            e.endpoint.describe(),
            e.label()
        )),
        (Some(e), Some(spec)) if !e.userns_remap_active => warnings.push(format!(
            "userns-remap is set to '{spec}' but {} has no user namespace: restart the daemon",
            e.label()
        )),
        (Some(e), None) if e.userns_remap_active => warnings.push(format!(
            "{} remaps, but no setting was found: restart the daemon to apply the current configuration",
            e.label()
        )),
        _ => {}
    }
    warnings
}

fn status(ctx: &Context) -> anyhow::Result<Outcome> {
    let setting = RemapSetting::load(&ctx.root)?;
    let asked = engine::ask_running(ctx);
    // An engine that is there but cannot be used: the status, then its line and exit 3.
    let broken = match &asked {
        Some(Err(e)) if e.is_engine_misbehaving() => Some(e.to_string()),
        _ => None,
    };
    let running = asked.map(|r| r.map(|a| a.engine).map_err(|e| e.to_string()));
    let live = running.as_ref().and_then(|r| r.as_ref().ok());
    let sel = engine::select_given(ctx, &EngineArgs::default(), running.clone())?;
    let effective = match live.map(|e| &e.remap) {
        Some(RemapConfig::Docker { spec, .. }) => spec.clone(),
        _ => setting.effective().map(String::from),
    };
    let (mapping, mapping_error) = match &effective {
        None => (None, None),
        Some(spec) => {
            let docker_rules = Selected {
                rules: sel.rules.filter(|r| r.is_docker()),
                ..sel.clone()
            };
            let t = Target::Docker(spec.clone());
            match engine::predict(ctx, &t, &docker_rules, &Default::default()) {
                Ok(p) => (Some(p), None),
                Err(e) => (None, Some(format!("{e:#}"))),
            }
        }
    };
    let warnings = status_warnings(&setting, live, effective.as_deref());
    if ctx.json {
        ui::print_json(&serde_json::json!({
            "daemon_json": { "path": ctx.root.path(paths::DAEMON_JSON), "userns_remap": setting.daemon_json },
            "command_line": setting.command_line,
            "engine": running.as_ref().map(|d| match d {
                Ok(e) => serde_json::json!({"reachable": true, "engine": e, "rules": e.rules()}),
                Err(e) => serde_json::json!({"reachable": false, "error": e}),
            }),
            "userns_remap": effective,
            "mapping": mapping,
            "mapping_error": mapping_error,
            "warnings": warnings,
        }))?;
    } else {
        print_status(
            ctx,
            &setting,
            running.as_ref(),
            effective.as_deref(),
            mapping.as_ref(),
            mapping_error.as_deref(),
        );
        for w in &warnings {
            println!("{}: {w}", ctx.status("warning"));
        }
    }
    if let Some(e) = broken {
        return Err(anyhow::anyhow!(e));
    }
    Ok(if mapping_error.is_some() || setting.conflict() {
        Outcome::Problems
    } else {
        Outcome::Ok
    })
}

fn print_status(
    ctx: &Context,
    setting: &RemapSetting,
    running: Option<&Result<Engine, String>>,
    effective: Option<&str>,
    mapping: Option<&Predicted>,
    mapping_error: Option<&str>,
) {
    let path = ctx.root.path(paths::DAEMON_JSON);
    match &setting.daemon_json {
        Some(s) => println!("{}: userns-remap = \"{s}\"", path.display()),
        None => println!("{}: no userns-remap", path.display()),
    }
    for p in &setting.command_line {
        match &p.userns_remap {
            Some(s) => println!("dockerd (pid {}): --userns-remap={s}", p.pid),
            None => println!(
                "dockerd (pid {}): no --userns-remap on its command line",
                p.pid
            ),
        }
    }
    match running {
        Some(Ok(e)) => println!(
            "engine: {} at {} (Engine API {}), user namespaces {}, data root {}",
            e.label(),
            e.endpoint.describe(),
            e.api_version,
            if e.userns_remap_active { "on" } else { "off" },
            e.root_dir
        ),
        Some(Err(e)) => println!("engine: not reachable ({e})"),
        None => {}
    }
    match (effective, mapping, mapping_error) {
        (None, _, _) => println!("userns-remap is off: container root is host root"),
        (Some(spec), Some(m), _) => print!(
            "userns-remap '{spec}' maps ({}):\nuid_map:\n{}gid_map:\n{}",
            m.rules_line(),
            m.prediction.uid_map,
            m.prediction.gid_map
        ),
        (Some(spec), None, Some(e)) => {
            println!("userns-remap '{spec}': {}", ctx.status("error") + ": " + e)
        }
        _ => {}
    }
}

fn load_daemon_json(root: &Sysroot) -> hostmatch::Result<(Option<Vec<u8>>, DaemonJson)> {
    let path = root.path(paths::DAEMON_JSON);
    let bytes = root.read_bytes_opt(paths::DAEMON_JSON)?;
    let text = match &bytes {
        None => String::new(),
        Some(b) if b.starts_with(&[0xff, 0xfe]) || b.starts_with(&[0xfe, 0xff]) => {
            return Err(hostmatch::Error::InvalidFile {
                path,
                msg: "UTF-16 text: hostmatch edits UTF-8 daemon.json files only (convert it with iconv -f UTF-16 -t UTF-8)".into(),
            })
        }
        Some(b) => String::from_utf8(b.clone()).map_err(|_| hostmatch::Error::InvalidFile {
            path: path.clone(),
            msg: "not UTF-8 text: dockerd 23 and later refuse it too".into(),
        })?,
    };
    let json = DaemonJson::parse(&text, &path)?;
    json.userns_remap(&path)?;
    Ok((bytes, json))
}

fn daemon_json_edit(root: &Sysroot, old: Option<Vec<u8>>, json: &DaemonJson) -> FileEdit {
    FileEdit::new(
        root,
        paths::DAEMON_JSON,
        old,
        json.render().into_bytes(),
        0o644,
    )
}

/// What `enable` planned, for the report.
struct Enabled {
    previous: Option<String>,
    notes: Vec<String>,
}

/// Plans `enable SPEC` (under the locks): daemon.json, and for `default`
/// the dockremap account and ranges.
fn plan_enable(root: &Sysroot, spec: &str) -> hostmatch::Result<(Plan, Enabled)> {
    let (old, mut json) = load_daemon_json(root)?;
    let (mut plan, notes) = if spec == "default" {
        dockremap::plan(root)?
    } else {
        // Checked by the engine's rules before the edit (`check_spec`).
        (Plan::default(), Vec::new())
    };
    let previous = json.userns_remap(&root.path(paths::DAEMON_JSON))?;
    json.set_userns_remap(spec);
    plan.push(daemon_json_edit(root, old, &json));
    Ok((plan, Enabled { previous, notes }))
}

/// `enable SPEC` (not `default`): the user, its group and its ranges must be
/// there, or dockerd will not start, and by the rules of the Docker that will
/// read them (the running engine's version, else the installed package's) no
/// container id may become host root's. Returns the rules line, when the
/// version is known; else the check is the one of Docker up to 27 (the older
/// rules refuse more lines).
fn check_spec(ctx: &Context, spec: &str) -> anyhow::Result<Option<String>> {
    if spec == "default" {
        return Ok(None);
    }
    // Only a running Docker decides; an engine that is Podman, or that cannot be
    // used, must not stop the edit (it may be why the daemon is being
    // reconfigured): then the installed package decides.
    let running = engine::ask_running(ctx)
        .map(|r| r.map(|a| a.engine).map_err(|e| e.to_string()))
        .filter(|r| !matches!(r, Ok(e) if e.kind != EngineKind::Docker));
    let sel = engine::select_given(ctx, &EngineArgs::default(), running)?;
    let docker = Selected {
        rules: sel.rules.filter(|r| r.is_docker()),
        ..sel
    };
    if docker.rules.is_none() {
        remap::predict(&ctx.root, spec)?;
        return Ok(None);
    }
    let p = engine::predict(
        ctx,
        &Target::Docker(spec.to_string()),
        &docker,
        &Default::default(),
    )?;
    let host_root = |m: &hostmatch::ids::IdMap| m.to_container(0).is_some();
    if host_root(&p.prediction.uid_map) || host_root(&p.prediction.gid_map) {
        let why = p.prediction.warnings.first().cloned().unwrap_or_default();
        return Err(hostmatch::Error::invalid(format!(
            "userns-remap \"{spec}\" would give container ids host root's ids by {}: {why}; nothing written",
            p.rules_line().trim_start_matches("rules: ")
        ))
        .into());
    }
    Ok(Some(p.rules_line()))
}

fn enable(ctx: &Context, spec: &str, dry_run: bool) -> anyhow::Result<Outcome> {
    let mut files = vec![paths::DAEMON_JSON];
    if spec == "default" {
        files.extend(dockremap::FILES);
    }
    let rules = check_spec(ctx, spec)?;
    let (plan, mut done) = ui::edit(ctx, &files, dry_run, || plan_enable(&ctx.root, spec))?;
    done.notes.extend(rules);
    let setting = RemapSetting::load(&ctx.root).unwrap_or(RemapSetting {
        daemon_json: None,
        command_line: vec![],
    });
    let mut warnings = Vec::new();
    if let Some(p) = setting
        .command_line
        .iter()
        .find(|p| p.userns_remap.is_some())
    {
        warnings.push(format!(
            "dockerd (pid {}) has --userns-remap on its command line: dockerd refuses an option given twice; remove the flag (e.g. from a systemd drop-in) before restarting",
            p.pid
        ));
    }
    if let Some(prev) = done.previous.as_deref().filter(|p| *p != spec) {
        warnings.push(format!("replaces the previous setting '{prev}'"));
    }
    report_change(
        ctx,
        &plan,
        dry_run,
        &done.notes,
        &warnings,
        &format!("userns-remap = \"{spec}\""),
    )
}

fn plan_disable(root: &Sysroot) -> hostmatch::Result<(Plan, ())> {
    let (old, mut json) = load_daemon_json(root)?;
    let mut plan = Plan::default();
    if old.is_some() && json.remove_userns_remap() {
        plan.push(daemon_json_edit(root, old, &json));
    }
    Ok((plan, ()))
}

fn disable(ctx: &Context, dry_run: bool) -> anyhow::Result<Outcome> {
    let (plan, ()) = ui::edit(ctx, &[paths::DAEMON_JSON], dry_run, || {
        plan_disable(&ctx.root)
    })?;
    let setting = RemapSetting::load(&ctx.root).unwrap_or(RemapSetting {
        daemon_json: None,
        command_line: vec![],
    });
    let warnings: Vec<String> = setting
        .command_line
        .iter()
        .filter(|p| p.userns_remap.is_some())
        .map(|p| {
            format!(
                "dockerd (pid {}) still has --userns-remap on its command line",
                p.pid
            )
        })
        .collect();
    report_change(ctx, &plan, dry_run, &[], &warnings, "no userns-remap")
}

fn report_change(
    ctx: &Context,
    plan: &Plan,
    dry_run: bool,
    notes: &[String],
    warnings: &[String],
    what: &str,
) -> anyhow::Result<Outcome> {
    let restart = !plan.is_empty() && !dry_run;
    if ctx.json {
        ui::print_json(&serde_json::json!({
            "dry_run": dry_run,
            "changed": !plan.is_empty(),
            "files": plan.edits.iter().map(|e| e.path().display().to_string()).collect::<Vec<_>>(),
            "notes": notes,
            "warnings": warnings,
            "restart_needed": restart,
            "diff": plan.diff(),
        }))?;
        return Ok(Outcome::Ok);
    }
    if !dry_run {
        if plan.is_empty() {
            println!(
                "{}: already {what}; nothing changed",
                ctx.root.path(paths::DAEMON_JSON).display()
            );
        } else {
            for n in notes {
                println!("{n}");
            }
            println!("{}: {what}", ctx.root.path(paths::DAEMON_JSON).display());
        }
    }
    for w in warnings {
        println!("{}: {w}", ctx.status("warning"));
    }
    if restart {
        println!("Restart the daemon to apply it (e.g. systemctl restart docker). Images and containers live in a separate data root per mapping.");
    }
    Ok(Outcome::Ok)
}
