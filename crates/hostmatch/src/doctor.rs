//! `hostmatch doctor`: one check per question an admin asks about this host.
//! [`gather`] reads the host; [`evaluate`] turns the facts into checks (pure).

use std::path::PathBuf;

use serde::Serialize;

use crate::docker::{DaemonInfo, RemapSetting};
use crate::kernel;
use crate::remap::{self, Prediction};
use crate::subid::{Problem, Severity};
use crate::sysroot::{paths, Sysroot};

/// A check's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub status: Status,
    pub summary: String,
    /// What to run or do about it (empty when nothing).
    pub hint: String,
}

fn check(
    id: &'static str,
    status: Status,
    summary: impl Into<String>,
    hint: impl Into<String>,
) -> Check {
    Check {
        id,
        status,
        summary: summary.into(),
        hint: hint.into(),
    }
}

/// Everything doctor looks at.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub osrelease: Option<String>,
    pub max_user_namespaces: Option<String>,
    pub unprivileged_userns_clone: Option<String>,
    pub apparmor_restrict_userns: Option<String>,
    /// The Docker data root and its filesystem's name.
    pub data_root: Option<(PathBuf, String)>,
    pub subuid_exists: bool,
    pub subgid_exists: bool,
    pub subid_problems: Vec<Problem>,
    pub remap: Option<RemapSetting>,
    pub remap_error: Option<String>,
    pub prediction: Option<Result<Prediction, String>>,
    /// None: not asked (another root); Some(Err): not reachable.
    pub daemon: Option<Result<DaemonInfo, String>>,
}

/// Reads the facts from the host (files below the root, the proc directory,
/// and the daemon when given).
pub fn gather(
    root: &Sysroot,
    subid_problems: Vec<Problem>,
    daemon: Option<Result<DaemonInfo, String>>,
) -> Facts {
    let proc = |rel: &str| root.read_proc(rel).ok().map(|s| s.trim().to_string());
    let (remap, remap_error) = match RemapSetting::load(root) {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let prediction = remap
        .as_ref()
        .and_then(|r| r.effective())
        .map(|spec| remap::predict(root, spec).map_err(|e| e.to_string()));
    let data_root = {
        let configured = root
            .read_opt(paths::DAEMON_JSON)
            .ok()
            .flatten()
            .and_then(|t| {
                crate::daemon_json::DaemonJson::parse(&t, &root.path(paths::DAEMON_JSON)).ok()
            })
            .and_then(|d| d.get_str("data-root"));
        let dir = configured.unwrap_or_else(|| "/var/lib/docker".into());
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
    };
    Facts {
        osrelease: proc("sys/kernel/osrelease"),
        max_user_namespaces: proc("sys/user/max_user_namespaces"),
        unprivileged_userns_clone: proc("sys/kernel/unprivileged_userns_clone"),
        apparmor_restrict_userns: proc("sys/kernel/apparmor_restrict_unprivileged_userns"),
        data_root,
        subuid_exists: root
            .read_bytes_opt(paths::SUBUID)
            .is_ok_and(|b| b.is_some()),
        subgid_exists: root
            .read_bytes_opt(paths::SUBGID)
            .is_ok_and(|b| b.is_some()),
        subid_problems,
        remap,
        remap_error,
        prediction,
        daemon,
    }
}

/// Turns facts into checks.
pub fn evaluate(f: &Facts) -> Vec<Check> {
    use Status::*;
    let mut out = Vec::new();
    let version = f.osrelease.as_deref().and_then(kernel::parse_release);

    // User namespaces.
    out.push(
        match f.max_user_namespaces.as_deref().map(str::parse::<u64>) {
            Some(Result::Ok(0)) => check(
                "userns",
                Fail,
                "user namespaces are disabled (user.max_user_namespaces = 0)",
                "sysctl -w user.max_user_namespaces=15000 (and persist it in /etc/sysctl.d/)",
            ),
            Some(Result::Ok(n)) => check(
                "userns",
                Ok,
                format!("user namespaces enabled (max {n})"),
                "",
            ),
            _ => check(
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
        check("unprivileged-userns", Warn, "unprivileged user namespaces are off (kernel.unprivileged_userns_clone = 0): rootless Docker and Podman cannot start", "sysctl -w kernel.unprivileged_userns_clone=1")
    } else if apparmor_on {
        check("unprivileged-userns", Warn, "AppArmor restricts unprivileged user namespaces: rootless containers need a profile", "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give the runtime an AppArmor profile")
    } else {
        check("unprivileged-userns", Ok, "unprivileged user namespaces allowed", "")
    });

    // ID-mapped mounts.
    out.push(match version {
        None => check(
            "idmapped-mounts",
            Warn,
            "cannot read the kernel version",
            "is /proc mounted? (--proc DIR)",
        ),
        Some(v) if v >= kernel::IDMAP_MIN => check(
            "idmapped-mounts",
            Ok,
            format!("kernel {}.{} has ID-mapped mounts", v.0, v.1),
            "",
        ),
        Some(v) => check(
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
        (Some((dir, fs)), Some(v)) if kernel::supports_idmap(fs, v) => check("idmapped-data-root", Ok, format!("Docker data root {} is on {fs}, which supports ID-mapped mounts", dir.display()), ""),
        (Some((dir, fs)), Some(_)) => check("idmapped-data-root", Warn, format!("Docker data root {} is on {fs}, which does not support ID-mapped mounts on this kernel", dir.display()), "keep ID-mapped volume sources on ext4, xfs or btrfs"),
        _ => check("idmapped-data-root", Skip, "Docker data root not found", ""),
    });

    // Subordinate ids.
    for (id, exists, name) in [
        ("subuid", f.subuid_exists, "/etc/subuid"),
        ("subgid", f.subgid_exists, "/etc/subgid"),
    ] {
        out.push(if exists {
            check(id, Ok, format!("{name} exists"), "")
        } else {
            check(id, Warn, format!("{name} does not exist: useradd allocates no ranges and userns-remap cannot work"), "hostmatch subid add USER (creates it)")
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
        check(
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
        check(
            "subid-health",
            Warn,
            format!("{warnings} warnings; first: {}", first.message),
            "hostmatch subid check",
        )
    } else {
        check(
            "subid-health",
            Ok,
            "subordinate id ranges are consistent",
            "",
        )
    });

    // Docker.

    out.push(match &f.daemon {
        None => check("docker-daemon", Skip, "not asked (--root is not /)", ""),
        Some(Result::Ok(i)) => check(
            "docker-daemon",
            Ok,
            format!(
                "daemon {} reachable ({} storage, data root {})",
                i.server_version, i.storage_driver, i.root_dir
            ),
            "",
        ),
        Some(Err(e)) => check(
            "docker-daemon",
            Skip,
            format!("daemon not reachable: {e}"),
            "start dockerd, or set DOCKER_HOST",
        ),
    });
    match (&f.remap, &f.remap_error) {
        (_, Some(e)) => out.push(check(
            "userns-remap",
            Fail,
            e.clone(),
            "fix /etc/docker/daemon.json",
        )),
        (Some(r), None) => {
            let live = match &f.daemon {
                Some(Result::Ok(i)) => Some(i.userns),
                _ => None,
            };
            out.push(if r.conflict() {
                check("userns-remap", Fail, "userns-remap is set in daemon.json and on dockerd's command line: dockerd refuses an option given twice", "remove one of them (hostmatch docker disable, or the systemd drop-in)")
            } else if let Some(spec) = r.effective() {
                match live {
                    Some(false) => check("userns-remap", Warn, format!("userns-remap '{spec}' is configured but the running daemon does not remap"), "restart the daemon (systemctl restart docker)"),
                    _ => check("userns-remap", Ok, format!("userns-remap is on for '{spec}'"), ""),
                }
            } else if live == Some(true) {
                check("userns-remap", Ok, "the running daemon remaps (setting not found in daemon.json or on its command line)", "")
            } else {
                check("userns-remap", Warn, "userns-remap is off: container root is host root, and any docker user can modify host files", "hostmatch docker enable default (or: hostmatch docker enable USER)")
            });
        }
        (None, None) => {}
    }
    match &f.prediction {
        None => out.push(check("remap-mapping", Skip, "no remapping configured", "")),
        Some(Result::Ok(p)) => {
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
            out.push(if small {
                check("remap-mapping", Warn, summary, "fewer than 65536 ids: images with higher ids fail (hostmatch subid add --count 65536)")
            } else {
                check("remap-mapping", Ok, summary, "")
            });
        }
        Some(Err(e)) => out.push(check(
            "remap-mapping",
            Fail,
            e.clone(),
            "hostmatch map SPEC shows what dockerd would do",
        )),
    }

    out
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

    fn status(checks: &[Check], id: &str) -> Status {
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

    #[test]
    fn configured_but_not_applied_remap_warns() {
        let mut f = facts();
        f.remap = Some(RemapSetting {
            daemon_json: Some("default".into()),
            command_line: vec![],
        });
        f.daemon = Some(Ok(DaemonInfo {
            server_version: "20.10".into(),
            userns: false,
            root_dir: "/var/lib/docker".into(),
            storage_driver: "overlay2".into(),
            rootless: false,
        }));
        assert_eq!(status(&evaluate(&f), "userns-remap"), Status::Warn);
    }
}
