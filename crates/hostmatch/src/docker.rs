//! Docker's userns-remap setting on this host, as configured: daemon.json and
//! the dockerd command lines (from `/proc`). What the running daemon says of
//! itself comes from [`crate::engine`].

use serde::Serialize;

use crate::daemon_json::DaemonJson;
use crate::engine::procs::{self, DockerdArgs};
use crate::sysroot::{paths, Sysroot};
use crate::Result;

/// A running dockerd process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DockerdProcess {
    pub pid: u32,
    /// The `--userns-remap` value dockerd applies (its last), if any.
    pub userns_remap: Option<String>,
    /// The `--config-file` value, if any.
    pub config_file: Option<String>,
    /// Every `-H`/`--host` value (empty: dockerd's default socket).
    pub hosts: Vec<String>,
}

/// The dockerd processes found under the proc directory.
pub fn dockerd_processes(root: &Sysroot) -> Vec<DockerdProcess> {
    procs::processes(root, &["dockerd"])
        .into_iter()
        .filter_map(|p| {
            let a = DockerdArgs::parse(&p.argv)?;
            Some(DockerdProcess {
                pid: p.pid,
                userns_remap: a.userns_remap().map(String::from),
                config_file: a.config_file.clone(),
                hosts: a.hosts,
            })
        })
        .collect()
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
    fn dockerd_is_found_in_a_fake_proc() {
        let d = tempfile::tempdir().unwrap();
        for (pid, argv) in [
            (
                "10",
                "/usr/bin/dockerd\0-H\0fd://\0--userns-remap=bob\0--userns-remap=carol\0",
            ),
            ("11", "bash\0"),
            ("12", "dockerd-wrapper\0"),
        ] {
            std::fs::create_dir_all(d.path().join(pid)).unwrap();
            std::fs::write(d.path().join(pid).join("cmdline"), argv).unwrap();
        }
        let root = Sysroot::default().with_proc(d.path());
        let p = dockerd_processes(&root);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].userns_remap.as_deref(), Some("carol"));
        assert_eq!(p[0].hosts, ["fd://"]);
    }
}
