//! `hostmatch doctor`: one check per question an admin asks about this host.
//! [`gather`] reads the host; [`evaluate`] turns the facts into checks (pure).

use std::path::PathBuf;

use crate::docker::RemapSetting;
use crate::engine::podman_conf::PodmanSettings;
use crate::engine::{Engine, EngineKind, Privilege, RemapConfig, RuleSet};
use crate::kernel;
use crate::podman::Userns;
use crate::remap::{self, Inputs, Prediction, Target};
use crate::report::{Finding, Status};
use crate::subid::{Problem, Severity};
use crate::sysroot::{paths, Sysroot};

/// A setuid helper rootless engines need (newuidmap, newgidmap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Helper {
    pub name: &'static str,
    /// Where it was found (None: missing).
    pub path: Option<PathBuf>,
    /// Owned by root with the setuid (newuidmap) or setgid... bit, or file capabilities.
    pub privileged: bool,
}

/// Which rules apply, and why (chosen by the caller: `--engine`, the running engine,
/// the installed package).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// None: unknown Docker version; Docker's rule sets must agree.
    pub rules: Option<RuleSet>,
    pub why: String,
}

/// Everything doctor looks at.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub osrelease: Option<String>,
    pub max_user_namespaces: Option<String>,
    pub unprivileged_userns_clone: Option<String>,
    pub apparmor_restrict_userns: Option<String>,
    /// The engine's data root and its filesystem's name.
    pub data_root: Option<(PathBuf, String)>,
    pub subuid_exists: bool,
    pub subgid_exists: bool,
    pub subid_problems: Vec<Problem>,
    /// Docker's setting in daemon.json and on dockerd command lines.
    pub remap: Option<RemapSetting>,
    pub remap_error: Option<String>,
    /// The running engine. None: not asked (another root); Some(Err): not reachable.
    pub engine: Option<Result<Engine, String>>,
    pub rules: Option<Rules>,
    /// What the prediction is for, and the prediction (with every rule set giving it).
    pub target: Option<Target>,
    pub prediction: Option<Result<(Prediction, Vec<RuleSet>), String>>,
    /// newuidmap and newgidmap (rootless engines).
    pub helpers: Vec<Helper>,
    /// A rootless Podman's namespace as the kernel has it (its server process's maps).
    pub live_rootless_maps: Option<(String, String)>,
}

/// Where newuidmap/newgidmap live, and whether they can do their job.
pub fn helpers(root: &Sysroot) -> Vec<Helper> {
    use std::os::unix::fs::MetadataExt;
    ["newuidmap", "newgidmap"]
        .into_iter()
        .map(|name| {
            let path = ["usr/bin", "bin", "usr/sbin", "sbin"]
                .iter()
                .map(|d| root.path(&format!("{d}/{name}")))
                .find(|p| p.is_file());
            let privileged = path.as_deref().is_some_and(|p| {
                let mode_ok = std::fs::metadata(p)
                    .map(|m| m.uid() == 0 && m.mode() & 0o6000 != 0)
                    .unwrap_or(false);
                let mut buf = [0u8; 64];
                mode_ok || rustix::fs::getxattr(p, "security.capability", &mut buf[..]).is_ok()
            });
            Helper {
                name,
                path,
                privileged,
            }
        })
        .collect()
}

/// What doctor predicts for: the engine's own setting (Docker's userns-remap, Podman's
/// userns), else the setting found in daemon.json or on a dockerd command line.
pub fn target_of(engine: Option<&Engine>, remap: Option<&RemapSetting>) -> Option<Target> {
    match engine {
        Some(e) => Target::of_engine(e),
        None => remap
            .and_then(|r| r.effective())
            .map(|s| Target::Docker(s.to_string())),
    }
}

/// Predicts for `target` by `rules`, reading the files below the root.
fn predict(
    root: &Sysroot,
    target: &Target,
    rules: &Rules,
    engine: Option<&Engine>,
) -> Result<(Prediction, Vec<RuleSet>), String> {
    let inputs = Inputs::load(root).map_err(|e| e.to_string())?;
    let settings = match engine.map(|e| &e.remap) {
        Some(RemapConfig::Podman(s)) => s.clone(),
        _ => PodmanSettings::default(),
    };
    let r = match (target, rules.rules) {
        (Target::Docker(spec), None) => remap::predict_any_docker(&inputs, spec),
        (t, Some(r)) => remap::predict_target(&inputs, t, r, &settings).map(|p| (p, vec![r])),
        (t, None) => remap::predict_target(&inputs, t, RuleSet::PodmanRootful, &settings)
            .map(|p| (p, vec![RuleSet::PodmanRootful])),
    };
    r.map_err(|e| e.to_string())
}

/// The filesystem of the engine's data root (the configured one without an engine).
fn data_root(root: &Sysroot, engine: Option<&Engine>) -> Option<(PathBuf, String)> {
    let configured = root
        .read_opt(paths::DAEMON_JSON)
        .ok()
        .flatten()
        .and_then(|t| {
            crate::daemon_json::DaemonJson::parse(&t, &root.path(paths::DAEMON_JSON)).ok()
        })
        .and_then(|d| d.get_str("data-root"));
    let dir = engine
        .map(|e| e.root_dir.clone())
        .filter(|d| !d.is_empty())
        .or(configured)
        .unwrap_or_else(|| "/var/lib/docker".into());
    let mut p = root.path(&dir);
    while !p.exists() {
        match p.parent() {
            Some(q) => p = q.to_path_buf(),
            None => break,
        }
    }
    crate::sys::mount::fs_magic(&p)
        .ok()
        .map(|m| (root.path(&dir), kernel::fs_name(m).to_string()))
}

/// Reads the facts from the host (files below the root, the proc directory) and
/// predicts for the engine; `engine` and `rules` come from the caller.
pub fn gather(
    root: &Sysroot,
    subid_problems: Vec<Problem>,
    engine: Option<Result<Engine, String>>,
    rules: Rules,
) -> Facts {
    let proc = |rel: &str| root.read_proc(rel).ok().map(|s| s.trim().to_string());
    let (remap, remap_error) = match RemapSetting::load(root) {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let live = engine.as_ref().and_then(|e| e.as_ref().ok());
    let target = target_of(live, remap.as_ref());
    let prediction = target.as_ref().map(|t| predict(root, t, &rules, live));
    let live_rootless_maps = live.and_then(|e| match (&e.privilege, &e.server) {
        (Privilege::Rootless { .. }, Some(s)) if e.kind == EngineKind::Podman => {
            let m = |n: &str| root.read_proc(&format!("{}/{n}", s.pid)).ok();
            Some((m("uid_map")?, m("gid_map")?))
        }
        _ => None,
    });
    Facts {
        osrelease: proc("sys/kernel/osrelease"),
        max_user_namespaces: proc("sys/user/max_user_namespaces"),
        unprivileged_userns_clone: proc("sys/kernel/unprivileged_userns_clone"),
        apparmor_restrict_userns: proc("sys/kernel/apparmor_restrict_unprivileged_userns"),
        data_root: data_root(root, live),
        subuid_exists: root
            .read_bytes_opt(paths::SUBUID)
            .is_ok_and(|b| b.is_some()),
        subgid_exists: root
            .read_bytes_opt(paths::SUBGID)
            .is_ok_and(|b| b.is_some()),
        subid_problems,
        remap,
        remap_error,
        helpers: helpers(root),
        live_rootless_maps,
        engine,
        rules: Some(rules),
        target,
        prediction,
    }
}

/// One paragraph: which lines are used, by which rule, and what container root and
/// container uid 1000 become.
pub fn explain(p: &Prediction, rule_sets: &[RuleSet], why: &str) -> String {
    let lines = |kind: &str, used: &[remap::UsedLine]| -> String {
        if used.is_empty() {
            return format!("no {kind} line");
        }
        let l: Vec<String> = used
            .iter()
            .map(|u| {
                let at = if u.line == 0 {
                    "a new line".to_string()
                } else {
                    format!("line {}", u.line)
                };
                format!(
                    "{at} '{}' (container {}-{})",
                    u.text.trim(),
                    u.container,
                    u.container as u64 + u.count as u64 - 1
                )
            })
            .collect();
        format!("/etc/{kind} {}", l.join(", "))
    };
    let host = |m: &crate::ids::IdMap, id: u32| {
        m.to_host(id)
            .map_or("unmapped".to_string(), |h| h.to_string())
    };
    let rules: Vec<&str> = rule_sets.iter().map(|r| r.describe()).collect();
    format!(
        "{}: by the rules of {} ({why}), it uses {} and {}. Container root becomes host uid {}, gid {}; container uid 1000 becomes host uid {} (gid 1000: host gid {}).",
        p.spec,
        rules.join("; and likewise "),
        lines("subuid", &p.uid_lines),
        lines("subgid", &p.gid_lines),
        host(&p.uid_map, 0),
        host(&p.gid_map, 0),
        host(&p.uid_map, 1000),
        host(&p.gid_map, 1000),
    )
}

/// Turns facts into checks.
pub fn evaluate(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    userns_checks(f, &mut out);
    idmap_checks(f, &mut out);
    subid_checks(f, &mut out);
    engine_checks(f, &mut out);
    remap_checks(f, &mut out);
    podman_checks(f, &mut out);
    out
}

/// User namespaces: enabled at all, and for unprivileged users.
fn userns_checks(f: &Facts, out: &mut Vec<Finding>) {
    use Status::*;
    out.push(
        match f.max_user_namespaces.as_deref().map(str::parse::<u64>) {
            Some(Result::Ok(0)) => Finding::new(
                "userns",
                Fail,
                "user namespaces are disabled (user.max_user_namespaces = 0)",
                "sysctl -w user.max_user_namespaces=15000 (and persist it in /etc/sysctl.d/)",
            ),
            Some(Result::Ok(n)) => Finding::new(
                "userns",
                Ok,
                format!("user namespaces enabled (max {n})"),
                "",
            ),
            _ => Finding::new(
                "userns",
                Warn,
                "cannot read /proc/sys/user/max_user_namespaces",
                "is /proc mounted? (--proc DIR)",
            ),
        },
    );
    let unpriv_off = f.unprivileged_userns_clone.as_deref() == Some("0");
    let apparmor_on = f.apparmor_restrict_userns.as_deref() == Some("1");
    out.push(if unpriv_off {
        Finding::new("unprivileged-userns", Warn, "unprivileged user namespaces are off (kernel.unprivileged_userns_clone = 0): rootless Docker and Podman cannot start", "sysctl -w kernel.unprivileged_userns_clone=1")
    } else if apparmor_on {
        Finding::new("unprivileged-userns", Warn, "AppArmor restricts unprivileged user namespaces: rootless containers need a profile", "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give the runtime an AppArmor profile")
    } else {
        Finding::new("unprivileged-userns", Ok, "unprivileged user namespaces allowed", "")
    });
}

/// ID-mapped mounts: the kernel, and the filesystem of the engine's data root.
fn idmap_checks(f: &Facts, out: &mut Vec<Finding>) {
    use Status::*;
    let version = f.osrelease.as_deref().and_then(kernel::parse_release);
    out.push(match version {
        None => Finding::new(
            "idmapped-mounts",
            Warn,
            "cannot read the kernel version",
            "is /proc mounted? (--proc DIR)",
        ),
        Some(v) if v >= kernel::IDMAP_MIN => Finding::new(
            "idmapped-mounts",
            Ok,
            format!("kernel {}.{} has ID-mapped mounts", v.0, v.1),
            "",
        ),
        Some(v) => Finding::new(
            "idmapped-mounts",
            Fail,
            format!(
                "kernel {}.{} has no ID-mapped mounts (needs 5.12)",
                v.0, v.1
            ),
            "use hostmatch-entrypoint or userns-remap instead, or upgrade the kernel",
        ),
    });
    out.push(match (&f.data_root, version) {
        (Some((dir, fs)), Some(v)) if kernel::supports_idmap(fs, v) => Finding::new("idmapped-data-root", Ok, format!("Docker data root {} is on {fs}, which supports ID-mapped mounts", dir.display()), ""),
        (Some((dir, fs)), Some(_)) => Finding::new("idmapped-data-root", Warn, format!("Docker data root {} is on {fs}, which does not support ID-mapped mounts on this kernel", dir.display()), "keep ID-mapped volume sources on ext4, xfs or btrfs"),
        _ => Finding::new("idmapped-data-root", Skip, "Docker data root not found", ""),
    });
}

/// Subordinate ids: the files exist, and their problems.
fn subid_checks(f: &Facts, out: &mut Vec<Finding>) {
    use Status::*;
    for (id, exists, name) in [
        ("subuid", f.subuid_exists, "/etc/subuid"),
        ("subgid", f.subgid_exists, "/etc/subgid"),
    ] {
        out.push(if exists {
            Finding::new(id, Ok, format!("{name} exists"), "")
        } else {
            Finding::new(id, Warn, format!("{name} does not exist: useradd allocates no ranges and userns-remap cannot work"), "hostmatch subid add USER (creates it)")
        });
    }
    let errors: Vec<&Problem> = f
        .subid_problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    let warnings = f.subid_problems.len() - errors.len();
    out.push(if let Some(first) = errors.first() {
        let loc = first
            .line
            .map_or(first.file.to_string(), |l| format!("{}:{l}", first.file));
        Finding::new(
            "subid-health",
            Fail,
            format!(
                "{} errors, {warnings} warnings; first: {loc}: {}",
                errors.len(),
                first.message
            ),
            "hostmatch subid check",
        )
    } else if warnings > 0 {
        let first = &f.subid_problems[0];
        Finding::new(
            "subid-health",
            Warn,
            format!("{warnings} warnings; first: {}", first.message),
            "hostmatch subid check",
        )
    } else {
        Finding::new(
            "subid-health",
            Ok,
            "subordinate id ranges are consistent",
            "",
        )
    });
}

/// The engine: reachable, what it is, which rules apply.
fn engine_checks(f: &Facts, out: &mut Vec<Finding>) {
    use Status::*;
    out.push(match &f.engine {
        None => Finding::new("engine", Skip, "not asked (--root is not /)", ""),
        Some(Result::Ok(e)) => Finding::new(
            "engine",
            Ok,
            format!(
                "{} at {} (Engine API {}{}): {} storage, runtime {}, data root {}",
                e.label(),
                e.endpoint.describe(),
                e.api_version,
                e.server.as_ref().map_or(String::new(), |s| format!(
                    ", pid {} found by {}",
                    s.pid, s.found_by
                )),
                e.storage_driver,
                if e.default_runtime.is_empty() {
                    "?"
                } else {
                    &e.default_runtime
                },
                e.root_dir
            ),
            "",
        ),
        Some(Err(e)) => Finding::new(
            "engine",
            Skip,
            format!("no engine to ask: {e}"),
            "start dockerd or `podman system service`, or set DOCKER_HOST",
        ),
    });
    if let Some(r) = &f.rules {
        out.push(match r.rules {
            Some(rules) => Finding::new("engine-rules", Ok, format!("{}: {} ({})", rules.name(), rules.describe(), r.why), ""),
            None => Finding::new(
                "engine-rules",
                Warn,
                format!("the Docker version is not known ({}): predictions hold only where Docker up to 27 and 28+ agree", r.why),
                "hostmatch doctor --engine docker:VERSION",
            ),
        });
    }
}

/// Docker's userns-remap setting and the prediction for the engine's setting.
fn remap_checks(f: &Facts, out: &mut Vec<Finding>) {
    use Status::*;
    let live = f.engine.as_ref().and_then(|e| e.as_ref().ok());
    let docker = live.is_none_or(|e| e.kind == EngineKind::Docker);
    if docker {
        match (&f.remap, &f.remap_error) {
            (_, Some(e)) => out.push(Finding::new(
                "userns-remap",
                Fail,
                e.clone(),
                "fix /etc/docker/daemon.json",
            )),
            (Some(r), None) => out.push(docker_remap_check(r, live)),
            (None, None) => {}
        }
    }
    match (&f.target, &f.prediction) {
        (None, _) | (_, None) => out.push(Finding::new(
            "remap-mapping",
            Skip,
            if docker {
                "no remapping configured"
            } else {
                "nothing to predict"
            },
            "",
        )),
        (Some(_), Some(Result::Ok((p, sets)))) => {
            let root_host = p
                .uid_map
                .to_host(0)
                .map_or("unmapped".to_string(), |h| h.to_string());
            let gid_host = p
                .gid_map
                .to_host(0)
                .map_or("unmapped".to_string(), |h| h.to_string());
            let summary = format!(
                "container root = host uid {root_host}, gid {gid_host}; {} uids and {} gids mapped (user {})",
                p.uid_map.len_ids(),
                p.gid_map.len_ids(),
                p.user
            );
            let small = p.uid_map.len_ids() < 65536 || p.gid_map.len_ids() < 65536;
            out.push(if !p.warnings.is_empty() {
                Finding::new("remap-mapping", Fail, format!("{summary}; {}", p.warnings.join("; ")), "hostmatch subid check")
            } else if small {
                Finding::new("remap-mapping", Warn, summary, "fewer than 65536 ids: images with higher ids fail (hostmatch subid add --count 65536)")
            } else {
                Finding::new("remap-mapping", Ok, summary, "")
            });
            let why = f.rules.as_ref().map_or("", |r| r.why.as_str());
            out.push(Finding::new(
                "remap-explained",
                Ok,
                explain(p, sets, why),
                "",
            ));
        }
        (Some(_), Some(Err(e))) => out.push(Finding::new(
            "remap-mapping",
            Fail,
            e.clone(),
            "hostmatch map shows what the engine would do",
        )),
    }
}

/// Docker's setting against what the daemon does.
fn docker_remap_check(r: &RemapSetting, live: Option<&Engine>) -> Finding {
    use Status::*;
    let active = live.map(|e| e.userns_remap_active);
    let spec = match live.map(|e| &e.remap) {
        Some(RemapConfig::Docker { spec, .. }) => spec.clone(),
        _ => r.effective().map(String::from),
    };
    let conflict = r.conflict()
        || matches!(
            live.map(|e| &e.remap),
            Some(RemapConfig::Docker { conflict: true, .. })
        );
    if conflict {
        Finding::new("userns-remap", Fail, "userns-remap is set in daemon.json and on dockerd's command line: dockerd refuses an option given twice", "remove one of them (hostmatch docker disable, or the systemd drop-in)")
    } else if let Some(spec) = spec {
        match active {
            Some(false) => Finding::new(
                "userns-remap",
                Warn,
                format!(
                    "userns-remap '{spec}' is configured but the running daemon does not remap"
                ),
                "restart the daemon (systemctl restart docker)",
            ),
            _ => Finding::new(
                "userns-remap",
                Ok,
                format!("userns-remap is on for '{spec}'"),
                "",
            ),
        }
    } else if active == Some(true) {
        Finding::new(
            "userns-remap",
            Ok,
            "the running daemon remaps (setting not found in daemon.json or on its command line)",
            "",
        )
    } else if matches!(live.map(|e| &e.privilege), Some(Privilege::Rootless { .. })) {
        Finding::new(
            "userns-remap",
            Ok,
            "rootless Docker: the daemon itself is not root",
            "",
        )
    } else {
        Finding::new("userns-remap", Warn, "userns-remap is off: container root is host root, and any docker user can modify host files", "hostmatch docker enable default (or: hostmatch docker enable USER)")
    }
}

/// Podman: its helpers, the rootless namespace, the runtime.
fn podman_checks(f: &Facts, out: &mut Vec<Finding>) {
    use Status::*;
    let live = f.engine.as_ref().and_then(|e| e.as_ref().ok());
    let rootless = matches!(live.map(|e| &e.privilege), Some(Privilege::Rootless { .. }));
    for h in &f.helpers {
        out.push(match (&h.path, h.privileged) {
            (Some(p), true) => Finding::new(h.name, Ok, format!("{} is setuid root (or has file capabilities): rootless engines can map subordinate ids", p.display()), ""),
            (Some(p), false) => Finding::new(h.name, if rootless { Fail } else { Warn }, format!("{} is neither setuid root nor has file capabilities: rootless engines get only the user's own id", p.display()), "reinstall the uidmap package (apt-get install --reinstall uidmap)"),
            (None, _) => Finding::new(h.name, if rootless { Fail } else { Warn }, format!("{} is missing: rootless Podman and Docker get only the user's own id", h.name), "apt-get install uidmap"),
        });
    }
    let Some(e) = live.filter(|e| e.kind == EngineKind::Podman) else {
        return;
    };
    if let (Some((u, g)), Some(Result::Ok((p, _)))) = (&f.live_rootless_maps, &f.prediction) {
        let same = crate::ids::IdMap::parse(u).ok().as_ref() == Some(&p.uid_map)
            && crate::ids::IdMap::parse(g).ok().as_ref() == Some(&p.gid_map);
        let flat = |m: &str| m.split_whitespace().collect::<Vec<_>>().join(" ");
        out.push(if same || !matches!(f.target, Some(Target::PodmanRootless { userns: Userns::Host, .. })) {
            Finding::new("rootless-namespace", Ok, format!("rootless Podman's namespace has uid_map {} gid_map {}", flat(u), flat(g)), "")
        } else {
            Finding::new("rootless-namespace", Warn, format!("rootless Podman's namespace has uid_map {} gid_map {}, but /etc/subuid and /etc/subgid now give other maps", flat(u), flat(g)), "podman system migrate (restarts the namespace with the current ranges)")
        });
    }
    out.push(Finding::new(
        "runtime",
        Ok,
        format!(
            "{} runs containers with {}",
            e.label(),
            if e.default_runtime.is_empty() {
                "its default runtime"
            } else {
                &e.default_runtime
            }
        ),
        "",
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            osrelease: Some("6.1.0".into()),
            max_user_namespaces: Some("63000".into()),
            subuid_exists: true,
            subgid_exists: true,
            data_root: Some(("/var/lib/docker".into(), "ext4".into())),
            remap: Some(RemapSetting {
                daemon_json: None,
                command_line: vec![],
            }),
            ..Facts::default()
        }
    }

    fn status(checks: &[Finding], id: &str) -> Status {
        checks
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no check {id}"))
            .status
    }

    #[test]
    fn healthy_host_without_remap_warns_about_root() {
        let c = evaluate(&facts());
        assert_eq!(status(&c, "userns"), Status::Ok);
        assert_eq!(status(&c, "idmapped-mounts"), Status::Ok);
        assert_eq!(status(&c, "userns-remap"), Status::Warn);
        assert!(c
            .iter()
            .find(|c| c.id == "userns-remap")
            .unwrap()
            .hint
            .contains("hostmatch docker enable"));
    }

    #[test]
    fn disabled_userns_and_old_kernel_fail() {
        let mut f = facts();
        f.max_user_namespaces = Some("0".into());
        f.osrelease = Some("5.4.0-150-generic".into());
        let c = evaluate(&f);
        assert_eq!(status(&c, "userns"), Status::Fail);
        assert_eq!(status(&c, "idmapped-mounts"), Status::Fail);
        assert_eq!(status(&c, "idmapped-data-root"), Status::Warn);
    }

    #[test]
    fn conflicting_remap_settings_fail() {
        let mut f = facts();
        f.remap = Some(RemapSetting {
            daemon_json: Some("default".into()),
            command_line: vec![crate::docker::DockerdProcess {
                pid: 1,
                userns_remap: Some("a".into()),
                config_file: None,
                hosts: Vec::new(),
            }],
        });
        assert_eq!(status(&evaluate(&f), "userns-remap"), Status::Fail);
    }

    fn docker(spec: Option<&str>, active: bool) -> Engine {
        Engine {
            endpoint: crate::engine::endpoint::Endpoint {
                socket: "/var/run/docker.sock".into(),
                source: crate::engine::endpoint::Source::DockerDefault,
                tried: vec![],
            },
            kind: EngineKind::Docker,
            version: "20.10.24+dfsg1".into(),
            api_version: "1.41".into(),
            privilege: Privilege::Rootful,
            userns_remap_active: active,
            root_dir: "/var/lib/docker".into(),
            storage_driver: "overlay2".into(),
            default_runtime: "runc".into(),
            server: None,
            remap: RemapConfig::Docker {
                spec: spec.map(String::from),
                source: None,
                conflict: false,
            },
        }
    }

    #[test]
    fn configured_but_not_applied_remap_warns() {
        let mut f = facts();
        f.remap = Some(RemapSetting {
            daemon_json: Some("default".into()),
            command_line: vec![],
        });
        f.engine = Some(Ok(docker(Some("default"), false)));
        assert_eq!(status(&evaluate(&f), "userns-remap"), Status::Warn);
        f.engine = Some(Ok(docker(Some("default"), true)));
        assert_eq!(status(&evaluate(&f), "userns-remap"), Status::Ok);
    }

    fn rules(r: RuleSet) -> Option<Rules> {
        Some(Rules {
            rules: Some(r),
            why: "--engine".into(),
        })
    }

    #[test]
    fn the_remap_is_explained_in_one_paragraph() {
        let i = Inputs::from_texts(
            "alice:x:1000:1000::/h:/bin/sh\n",
            "alice:x:1000:\n",
            "bob:1:1\nalice:100000:65536\n",
            "alice:200000:65536\n",
        );
        let p = remap::predict_from_with(&i, "alice", RuleSet::DockerFrom28).unwrap();
        let mut f = facts();
        f.rules = rules(RuleSet::DockerFrom28);
        f.target = Some(Target::Docker("alice".into()));
        f.prediction = Some(Ok((p, vec![RuleSet::DockerFrom28])));
        let c = evaluate(&f);
        let text = &c
            .iter()
            .find(|c| c.id == "remap-explained")
            .unwrap()
            .observed;
        for part in [
            "Docker 28 and later",
            "/etc/subuid line 2 'alice:100000:65536' (container 0-65535)",
            "/etc/subgid line 1",
            "Container root becomes host uid 100000, gid 200000",
            "container uid 1000 becomes host uid 101000 (gid 1000: host gid 201000)",
        ] {
            assert!(text.contains(part), "{part} not in: {text}");
        }
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn missing_helpers_fail_for_rootless_podman_only() {
        let mut f = facts();
        f.helpers = vec![Helper {
            name: "newuidmap",
            path: None,
            privileged: false,
        }];
        assert_eq!(status(&evaluate(&f), "newuidmap"), Status::Warn);
        let mut e = docker(None, false);
        e.kind = EngineKind::Podman;
        e.privilege = Privilege::Rootless {
            uid: 1000,
            user: Some("alice".into()),
        };
        e.remap = RemapConfig::Podman(PodmanSettings::default());
        f.engine = Some(Ok(e));
        let c = evaluate(&f);
        assert_eq!(status(&c, "newuidmap"), Status::Fail);
        assert_eq!(status(&c, "runtime"), Status::Ok);
        assert!(
            !c.iter().any(|c| c.id == "userns-remap"),
            "no Docker check for Podman"
        );
    }
}
