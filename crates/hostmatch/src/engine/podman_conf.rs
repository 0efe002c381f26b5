//! Podman's user-namespace settings, read the way Podman reads them:
//!
//! - containers.conf `[containers] userns` (the default for `--userns`): from
//!   `$CONTAINERS_CONF` alone when set, else `/usr/share/containers/containers.conf`,
//!   `/etc/containers/containers.conf`, `/etc/containers/containers.conf.d/*.conf` and, for
//!   a rootless user, `~/.config/containers/containers.conf` (and `.d`), later files
//!   overriding earlier ones;
//! - storage.conf `[storage.options]` `root-auto-userns-user` (whose ranges `--userns=auto`
//!   takes, `containers` by default), `auto-userns-min-size`/`-max-size`, and
//!   `remap-user`/`remap-group`/`remap-uids`/`remap-gids` (a mapping for every container):
//!   from `$CONTAINERS_STORAGE_CONF` when set, else `~/.config/containers/storage.conf`
//!   (rootless) or `/etc/containers/storage.conf`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::sysroot::Sysroot;
use crate::{Error, Result};

/// The pseudo-user whose ranges rootful Podman's `--userns=auto` uses by default (a
/// name in /etc/subuid and /etc/subgid, not an account).
pub const AUTO_USERNS_USER: &str = "containers";

/// What Podman is configured to do about user namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodmanSettings {
    /// containers.conf `userns` (`host` when unset).
    pub userns: String,
    /// The file that set it (None: Podman's default).
    pub userns_from: Option<PathBuf>,
    /// storage.conf `root-auto-userns-user`.
    pub auto_userns_user: String,
    pub auto_userns_min_size: u32,
    pub auto_userns_max_size: u32,
    /// storage.conf `remap-user` / `remap-group`.
    pub remap_user: Option<String>,
    pub remap_group: Option<String>,
    /// storage.conf `remap-uids` / `remap-gids` (`CONTAINER:HOST:COUNT,...`).
    pub remap_uids: Option<String>,
    pub remap_gids: Option<String>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

impl Default for PodmanSettings {
    fn default() -> Self {
        PodmanSettings {
            userns: "host".into(),
            userns_from: None,
            auto_userns_user: AUTO_USERNS_USER.into(),
            auto_userns_min_size: 1024,
            auto_userns_max_size: 65536,
            remap_user: None,
            remap_group: None,
            remap_uids: None,
            remap_gids: None,
            files: Vec::new(),
        }
    }
}

/// Where Podman looks: the environment of the Podman process (or of hostmatch) and
/// whether it runs rootless (then `home` is the user's home directory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfEnv {
    pub containers_conf: Option<PathBuf>,
    pub storage_conf: Option<PathBuf>,
    /// The rootless user's home (None: rootful).
    pub rootless_home: Option<PathBuf>,
}

impl ConfEnv {
    /// From `KEY=VALUE` pairs (a process's environment).
    pub fn from_vars<'a>(
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
        rootless_home: Option<PathBuf>,
    ) -> ConfEnv {
        let mut e = ConfEnv {
            rootless_home,
            ..ConfEnv::default()
        };
        for (k, v) in vars {
            match k {
                "CONTAINERS_CONF" if !v.is_empty() => e.containers_conf = Some(v.into()),
                "CONTAINERS_STORAGE_CONF" if !v.is_empty() => e.storage_conf = Some(v.into()),
                _ => {}
            }
        }
        e
    }
}

fn parse_toml(text: &str, path: &Path) -> Result<toml::Table> {
    text.parse::<toml::Table>().map_err(|e| Error::InvalidFile {
        path: path.to_path_buf(),
        msg: e.message().to_string(),
    })
}

impl PodmanSettings {
    /// Applies one containers.conf.
    pub fn apply_containers_conf(&mut self, text: &str, path: &Path) -> Result<()> {
        let t = parse_toml(text, path)?;
        if let Some(u) = t
            .get("containers")
            .and_then(|c| c.get("userns"))
            .and_then(|u| u.as_str())
        {
            self.userns = u.to_string();
            self.userns_from = Some(path.to_path_buf());
        }
        Ok(())
    }

    /// Applies a storage.conf.
    pub fn apply_storage_conf(&mut self, text: &str, path: &Path) -> Result<()> {
        let t = parse_toml(text, path)?;
        let Some(o) = t.get("storage").and_then(|s| s.get("options")) else {
            return Ok(());
        };
        let s = |k: &str| o.get(k).and_then(|v| v.as_str()).map(String::from);
        let n = |k: &str| {
            o.get(k)
                .and_then(|v| v.as_integer())
                .and_then(|v| u32::try_from(v).ok())
        };
        if let Some(u) = s("root-auto-userns-user") {
            self.auto_userns_user = u;
        }
        if let Some(v) = n("auto-userns-min-size") {
            self.auto_userns_min_size = v;
        }
        if let Some(v) = n("auto-userns-max-size") {
            self.auto_userns_max_size = v;
        }
        self.remap_user = s("remap-user").or(self.remap_user.take());
        self.remap_group = s("remap-group").or(self.remap_group.take());
        self.remap_uids = s("remap-uids").or(self.remap_uids.take());
        self.remap_gids = s("remap-gids").or(self.remap_gids.take());
        Ok(())
    }

    /// The containers.conf files Podman reads, in order (those that exist).
    fn containers_conf_files(root: &Sysroot, env: &ConfEnv) -> Vec<PathBuf> {
        if let Some(p) = &env.containers_conf {
            return vec![p.clone()];
        }
        let mut out = Vec::new();
        let mut add_with_dir = |file: PathBuf| {
            if file.is_file() {
                out.push(file.clone());
            }
            let dir = PathBuf::from(format!("{}.d", file.display()));
            let mut extra: Vec<PathBuf> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            extra.sort();
            out.extend(extra);
        };
        add_with_dir(root.path("etc/containers/containers.conf"));
        if let Some(home) = &env.rootless_home {
            add_with_dir(home.join(".config/containers/containers.conf"));
        }
        let usr = root.path("usr/share/containers/containers.conf");
        if usr.is_file() {
            out.insert(0, usr);
        }
        out
    }

    /// The storage.conf Podman reads.
    fn storage_conf_file(root: &Sysroot, env: &ConfEnv) -> Option<PathBuf> {
        if let Some(p) = &env.storage_conf {
            return Some(p.clone());
        }
        if let Some(home) = &env.rootless_home {
            let user = home.join(".config/containers/storage.conf");
            if user.is_file() {
                return Some(user);
            }
        }
        [
            root.path("etc/containers/storage.conf"),
            root.path("usr/share/containers/storage.conf"),
        ]
        .into_iter()
        .find(|p| p.is_file())
    }

    /// Reads the settings from the files Podman reads.
    pub fn load(root: &Sysroot, env: &ConfEnv) -> Result<PodmanSettings> {
        let mut s = PodmanSettings::default();
        // Files below the root are read inside it (symlinks cannot lead out); a file
        // named by the environment is read where it is.
        let read = |p: &Path| match p.strip_prefix(root.root()) {
            Ok(rel) => root.read(&rel.to_string_lossy()),
            Err(_) => std::fs::read_to_string(p).map_err(|e| Error::io(p, e)),
        };
        for f in Self::containers_conf_files(root, env) {
            s.apply_containers_conf(&read(&f)?, &f)?;
            s.files.push(f);
        }
        if let Some(f) = Self::storage_conf_file(root, env) {
            match read(&f) {
                Ok(text) => {
                    s.apply_storage_conf(&text, &f)?;
                    s.files.push(f);
                }
                Err(_) if env.storage_conf.is_none() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_both_files() {
        let mut s = PodmanSettings::default();
        assert_eq!(s.userns, "host");
        s.apply_containers_conf(
            "[containers]\nuserns = \"auto:size=2000\"\n[engine]\nruntime = \"runc\"\n",
            Path::new("/c.conf"),
        )
        .unwrap();
        assert_eq!(s.userns, "auto:size=2000");
        s.apply_storage_conf(
            "[storage]\ndriver = \"vfs\"\n[storage.options]\nroot-auto-userns-user = \"hmt\"\nauto-userns-min-size = 2048\nremap-user = \"alice\"\n",
            Path::new("/s.conf"),
        )
        .unwrap();
        assert_eq!(s.auto_userns_user, "hmt");
        assert_eq!(s.auto_userns_min_size, 2048);
        assert_eq!(s.remap_user.as_deref(), Some("alice"));
        assert!(s
            .apply_containers_conf("[containers", Path::new("/bad.conf"))
            .unwrap_err()
            .to_string()
            .starts_with("/bad.conf:"));
    }

    #[test]
    fn containers_conf_env_replaces_every_other_file() {
        let d = tempfile::tempdir().unwrap();
        let etc = d.path().join("etc/containers");
        std::fs::create_dir_all(etc.join("containers.conf.d")).unwrap();
        std::fs::write(
            etc.join("containers.conf"),
            "[containers]\nuserns = \"auto\"\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("containers.conf.d/10-x.conf"),
            "[containers]\nuserns = \"auto:size=500\"\n",
        )
        .unwrap();
        let root = Sysroot::new(d.path());
        let s = PodmanSettings::load(&root, &ConfEnv::default()).unwrap();
        assert_eq!(s.userns, "auto:size=500");
        assert_eq!(s.files.len(), 2);
        let own = d.path().join("own.conf");
        std::fs::write(&own, "[engine]\nruntime = \"runc\"\n").unwrap();
        let env = ConfEnv::from_vars([("CONTAINERS_CONF", own.to_str().unwrap())], None);
        let s = PodmanSettings::load(&root, &env).unwrap();
        assert_eq!(s.userns, "host");
        assert_eq!(s.files, [own]);
    }
}
