//! What the host's Docker Engine is doing: dockerd command lines (from
//! `/proc`), the daemon's own report (`docker info`), and the remap setting
//! in effect.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::daemon_json::DaemonJson;
use crate::sysroot::{paths, Sysroot};
use crate::Result;

/// A running dockerd process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DockerdProcess {
    pub pid: u32,
    /// The `--userns-remap` value on its command line, if any.
    pub userns_remap: Option<String>,
    /// The `--config-file` value, if any.
    pub config_file: Option<String>,
    /// Every `-H`/`--host` value (empty: dockerd's default socket).
    pub hosts: Vec<String>,
}

/// The value of `--name VALUE` or `--name=VALUE` in an argv.
pub fn flag_value(argv: &[String], name: &str) -> Option<String> {
    let eq = format!("{name}=");
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if a == name {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix(&eq) {
            return Some(v.to_string());
        }
    }
    None
}

/// Every value of a flag with a long and a short name (`--host`, `-H`), in
/// the forms `--host V`, `--host=V`, `-H V`, `-H=V` and `-HV`.
pub fn flag_values(argv: &[String], long: &str, short: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if a == long || a == short {
            if let Some(v) = it.next() {
                out.push(v.clone());
            }
        } else if let Some(v) = a.strip_prefix(&format!("{long}=")) {
            out.push(v.to_string());
        } else if let Some(v) = a.strip_prefix(short).filter(|_| !a.starts_with("--")) {
            out.push(v.trim_start_matches('=').to_string());
        }
    }
    out
}

/// The dockerd processes found under the proc directory.
pub fn dockerd_processes(root: &Sysroot) -> Vec<DockerdProcess> {
    let Ok(dir) = std::fs::read_dir(root.proc_path("")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ent in dir.flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(ent.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_dockerd = argv
            .first()
            .is_some_and(|a0| a0.rsplit('/').next() == Some("dockerd"));
        if is_dockerd {
            out.push(DockerdProcess {
                pid,
                userns_remap: flag_value(&argv, "--userns-remap"),
                config_file: flag_value(&argv, "--config-file"),
                hosts: flag_values(&argv, "--host", "-H"),
            });
        }
    }
    out.sort_by_key(|p| p.pid);
    out
}

/// What the daemon says of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonInfo {
    pub server_version: String,
    /// Whether `name=userns` is among its security options.
    pub userns: bool,
    pub root_dir: String,
    pub storage_driver: String,
    pub rootless: bool,
}

/// Parses `docker info --format '{{json .}}'`.
pub fn parse_info(json: &str) -> Option<DaemonInfo> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let opts: Vec<&str> = v["SecurityOptions"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o.as_str()).collect())
        .unwrap_or_default();
    let has = |name: &str| {
        opts.iter()
            .any(|o| o.split(',').any(|kv| kv == format!("name={name}")))
    };
    Some(DaemonInfo {
        server_version: v["ServerVersion"].as_str().unwrap_or_default().to_string(),
        userns: has("userns"),
        root_dir: v["DockerRootDir"].as_str().unwrap_or_default().to_string(),
        storage_driver: v["Driver"].as_str().unwrap_or_default().to_string(),
        rootless: has("rootless"),
    })
}

/// Asks the daemon (through the docker CLI, honouring DOCKER_HOST) for its
/// info. `Err` carries why it could not be reached.
pub fn daemon_info(timeout: Duration) -> std::result::Result<DaemonInfo, String> {
    let mut child = Command::new("docker")
        .args(["info", "--format", "{{json .}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the docker CLI: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the daemon did not answer within {}s",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || stdout.trim().is_empty() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no answer");
        return Err(line.trim().to_string());
    }
    // `docker info` prints server errors inside the JSON too.
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).map_err(|e| e.to_string())?;
    if let Some(errs) = v["ServerErrors"].as_array() {
        if let Some(e) = errs.first().and_then(|e| e.as_str()) {
            return Err(e.to_string());
        }
    }
    parse_info(stdout.trim()).ok_or_else(|| "unreadable docker info".into())
}

/// Where the remap setting comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemapSetting {
    /// `userns-remap` in daemon.json.
    pub daemon_json: Option<String>,
    /// `--userns-remap` on running dockerd command lines.
    pub command_line: Vec<DockerdProcess>,
}

impl RemapSetting {
    /// Reads daemon.json below the root and the dockerd command lines.
    pub fn load(root: &Sysroot) -> Result<Self> {
        let path = root.path(paths::DAEMON_JSON);
        let daemon_json = match root.read_opt(paths::DAEMON_JSON)? {
            None => None,
            Some(text) => DaemonJson::parse(&text, &path)?.userns_remap(&path)?,
        };
        Ok(RemapSetting {
            daemon_json,
            command_line: dockerd_processes(root),
        })
    }

    /// The setting in effect: the command line's (first dockerd), else daemon.json's.
    pub fn effective(&self) -> Option<&str> {
        self.command_line
            .iter()
            .find_map(|p| p.userns_remap.as_deref())
            .or(self.daemon_json.as_deref())
    }

    /// Whether a dockerd has the flag on its command line while daemon.json
    /// sets it too: dockerd refuses to start with an option given twice.
    pub fn conflict(&self) -> bool {
        self.daemon_json.is_some() && self.command_line.iter().any(|p| p.userns_remap.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values_in_both_forms() {
        let argv: Vec<String> = ["dockerd", "--userns-remap=alice", "-H", "fd://"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            flag_value(&argv, "--userns-remap").as_deref(),
            Some("alice")
        );
        let argv: Vec<String> = ["dockerd", "--userns-remap", "default"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            flag_value(&argv, "--userns-remap").as_deref(),
            Some("default")
        );
        assert_eq!(flag_value(&argv, "--config-file"), None);
    }

    #[test]
    fn host_flags_in_every_form() {
        let argv: Vec<String> = [
            "dockerd",
            "-H",
            "fd://",
            "--host=unix:///a",
            "--host",
            "tcp://x",
            "-Hunix:///b",
            "--userns-remap=x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            flag_values(&argv, "--host", "-H"),
            ["fd://", "unix:///a", "tcp://x", "unix:///b"]
        );
    }

    #[test]
    fn info_shows_userns() {
        let i = parse_info(r#"{"ServerVersion":"20.10.24","SecurityOptions":["name=seccomp,profile=default","name=userns"],"DockerRootDir":"/var/lib/docker/100000.100000","Driver":"overlay2"}"#).unwrap();
        assert!(i.userns);
        assert!(!i.rootless);
        assert_eq!(i.root_dir, "/var/lib/docker/100000.100000");
        let i = parse_info(r#"{"SecurityOptions":["name=seccomp,profile=default"]}"#).unwrap();
        assert!(!i.userns);
    }

    #[test]
    fn dockerd_is_found_in_a_fake_proc() {
        let d = tempfile::tempdir().unwrap();
        for (pid, argv) in [
            ("10", "/usr/bin/dockerd\0-H\0fd://\0--userns-remap=bob\0"),
            ("11", "bash\0"),
            ("12", "dockerd-wrapper\0"),
        ] {
            std::fs::create_dir_all(d.path().join(pid)).unwrap();
            std::fs::write(d.path().join(pid).join("cmdline"), argv).unwrap();
        }
        let root = Sysroot::default().with_proc(d.path());
        let p = dockerd_processes(&root);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].userns_remap.as_deref(), Some("bob"));
    }
}
