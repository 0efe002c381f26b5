//! `hostmatch docker status|enable|disable`: Docker's userns-remap setting.

use hostmatch::accounts::{self, Accounts, GroupEntry, PasswdEntry};
use hostmatch::daemon_json::DaemonJson;
use hostmatch::docker::RemapSetting;
use hostmatch::engine::{Engine, EngineKind, RemapConfig};
use hostmatch::fsedit::{FileEdit, Plan};
use hostmatch::remap::{self, Target, DEFAULT_USER};
use hostmatch::subid::{self, Kind, SubidEntry};
use hostmatch::sysroot::{paths, Sysroot};

use super::engine::{self, Predicted, Selected};
use crate::cli::{DockerCmd, EngineArgs};
use crate::ui::{self, Context, Outcome};

pub fn run(cmd: DockerCmd, ctx: &Context) -> anyhow::Result<Outcome> {
    match cmd {
        DockerCmd::Status => status(ctx),
        DockerCmd::Enable { spec, dry_run } => enable(ctx, &spec, dry_run),
        DockerCmd::Disable { dry_run } => disable(ctx, dry_run),
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
    let running = engine::ask_running(ctx).map(|r| r.map(|a| a.engine).map_err(|e| e.to_string()));
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

/// Reads a file that may be missing, with its text for the plan.
fn read_lines<T: hostmatch::linefile::Record>(
    root: &Sysroot,
    rel: &str,
) -> anyhow::Result<(Option<String>, hostmatch::linefile::LineFile<T>)> {
    let text = root.read_opt(rel)?;
    let file = hostmatch::linefile::LineFile::parse_strict(
        text.as_deref().unwrap_or(""),
        &root.path(rel),
    )?;
    Ok((text, file))
}

/// Plans the `dockremap` user, group and ranges the way dockerd creates them.
fn plan_default_user(
    root: &Sysroot,
    plan: &mut Plan,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    let acc = Accounts::load(root)?;
    if acc.passwd.find(|u| u.name == DEFAULT_USER).is_none() {
        let (uid, gid) = accounts::pick_system_ids(&acc)?;
        let (old, mut passwd) = read_lines::<PasswdEntry>(root, paths::PASSWD)?;
        passwd.push(PasswdEntry {
            name: DEFAULT_USER.into(),
            passwd: "x".into(),
            uid,
            gid,
            gecos: String::new(),
            home: "/nonexistent".into(),
            shell: "/bin/false".into(),
        });
        plan.push(FileEdit {
            path: root.path(paths::PASSWD),
            old,
            new: passwd.render(),
            mode: 0o644,
        });
        if acc.group.find(|g| g.name == DEFAULT_USER).is_none() {
            let (old, mut group) = read_lines::<GroupEntry>(root, paths::GROUP)?;
            group.push(GroupEntry {
                name: DEFAULT_USER.into(),
                passwd: "x".into(),
                gid,
                members: vec![],
            });
            plan.push(FileEdit {
                path: root.path(paths::GROUP),
                old,
                new: group.render(),
                mode: 0o644,
            });
        }
        // Locked password entries, where the shadow files exist.
        for (rel, line) in [
            (paths::SHADOW, format!("{DEFAULT_USER}:!:::::::")),
            (paths::GSHADOW, format!("{DEFAULT_USER}:!::")),
        ] {
            if let Some(text) = root.read_opt(rel)? {
                let mut new = text.clone();
                if !new.is_empty() && !new.ends_with('\n') {
                    new.push('\n');
                }
                new.push_str(&line);
                new.push('\n');
                plan.push(FileEdit {
                    path: root.path(rel),
                    old: Some(text),
                    new,
                    mode: 0o640,
                });
            }
        }
        notes.push(format!(
            "creates system user and group {DEFAULT_USER} (uid {uid}, gid {gid})"
        ));
    }
    for kind in [Kind::Uid, Kind::Gid] {
        let (old, mut file) = read_lines::<SubidEntry>(root, kind.rel_path())?;
        let mine = subid::ranges_of(&file, DEFAULT_USER);
        if mine.is_empty() {
            let range = remap::default_range(&file)?;
            file.push(SubidEntry {
                owner: DEFAULT_USER.into(),
                range,
            });
            notes.push(format!(
                "gives {DEFAULT_USER} {} ids {range} in {}",
                kind.file_name(),
                root.path(kind.rel_path()).display()
            ));
            plan.push(FileEdit {
                path: root.path(kind.rel_path()),
                old,
                new: file.render(),
                mode: 0o644,
            });
        }
    }
    Ok(())
}

fn load_daemon_json(root: &Sysroot) -> anyhow::Result<(Option<String>, DaemonJson)> {
    let path = root.path(paths::DAEMON_JSON);
    let text = root.read_opt(paths::DAEMON_JSON)?;
    let json = DaemonJson::parse(text.as_deref().unwrap_or(""), &path)?;
    json.userns_remap(&path)?;
    Ok((text, json))
}

fn daemon_json_edit(root: &Sysroot, old: Option<String>, json: &DaemonJson) -> FileEdit {
    FileEdit {
        path: root.path(paths::DAEMON_JSON),
        old,
        new: json.render(),
        mode: 0o644,
    }
}

fn enable(ctx: &Context, spec: &str, dry_run: bool) -> anyhow::Result<Outcome> {
    let (old, mut json) = load_daemon_json(&ctx.root)?;
    let mut plan = Plan::default();
    let mut notes = Vec::new();
    if spec == "default" {
        plan_default_user(&ctx.root, &mut plan, &mut notes)?;
    } else {
        // The user, its group and its ranges must be there, or dockerd will not start.
        remap::predict(&ctx.root, spec)?;
    }
    let previous = json
        .userns_remap(&ctx.root.path(paths::DAEMON_JSON))?
        .map(String::from);
    json.set_userns_remap(spec);
    if let Some(dir) = ctx.root.path(paths::DAEMON_JSON).parent() {
        if !dir.exists() && !dry_run {
            std::fs::create_dir_all(dir).map_err(|e| hostmatch::Error::io(dir, e))?;
        }
    }
    plan.push(daemon_json_edit(&ctx.root, old, &json));
    ui::commit_plan(&plan, dry_run, ctx.json)?;
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
    if let Some(prev) = previous.as_deref().filter(|p| *p != spec) {
        warnings.push(format!("replaces the previous setting '{prev}'"));
    }
    report_change(
        ctx,
        &plan,
        dry_run,
        &notes,
        &warnings,
        &format!("userns-remap = \"{spec}\""),
    )
}

fn disable(ctx: &Context, dry_run: bool) -> anyhow::Result<Outcome> {
    let (old, mut json) = load_daemon_json(&ctx.root)?;
    let mut plan = Plan::default();
    if old.is_some() && json.remove_userns_remap() {
        plan.push(daemon_json_edit(&ctx.root, old, &json));
    }
    ui::commit_plan(&plan, dry_run, ctx.json)?;
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
            "files": plan.edits.iter().map(|e| e.path.display().to_string()).collect::<Vec<_>>(),
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
