//! `--for-docker`: the mapping that makes a directory's owner appear as the
//! host ids a container user has under the Docker daemon's userns-remap.
//!
//! The daemon is asked with `docker info` (DOCKER_HOST or the default socket):
//! its security options say whether remapping is on and its root directory
//! (`/var/lib/docker/UID.GID`) tells the remapped root. The remap spec itself
//! comes from `--remap`, the daemon's command line (/proc/PID/cmdline of the
//! dockerd serving that socket) or its daemon.json.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::daemon_json::DaemonJson;
use crate::ids::{Id, IdMap};
use crate::sysroot::{paths, Sysroot};
use crate::{Error, Result};

use super::Mapping;

/// How long to wait for the daemon to answer `docker info`.
const INFO_TIMEOUT: Duration = Duration::from_secs(20);

/// The host (uid, gid) of container root, from a remapping daemon's root
/// directory (`.../UID.GID`).
pub fn remapped_root(root_dir: &str) -> Option<(Id, Id)> {
    let last = Path::new(root_dir).file_name()?.to_str()?;
    let (u, g) = last.split_once('.')?;
    Some((u.parse().ok()?, g.parse().ok()?))
}

/// The value of `--NAME=V` or `--NAME V` in a command line.
fn flag_values<'a>(args: &'a [String], names: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        for n in names {
            if a == *n {
                if let Some(v) = args.get(i + 1) {
                    out.push(v.as_str());
                    i += 1;
                }
            } else if let Some(v) = a.strip_prefix(n).and_then(|r| r.strip_prefix('=')) {
                out.push(v);
            }
        }
        i += 1;
    }
    out
}

/// A dockerd command line, as far as remapping is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerdCmdline {
    /// `-H`/`--host` values (empty: the default socket).
    pub hosts: Vec<String>,
    pub userns_remap: Option<String>,
    pub config_file: Option<PathBuf>,
    pub data_root: Option<PathBuf>,
}

impl DockerdCmdline {
    /// Parses argv of a process; None when it is not dockerd.
    pub fn parse(argv: &[String]) -> Option<Self> {
        let prog = argv.first()?;
        if Path::new(prog).file_name()?.to_str()? != "dockerd" {
            return None;
        }
        let args = &argv[1..];
        Some(DockerdCmdline {
            hosts: flag_values(args, &["-H", "--host"])
                .into_iter()
                .map(str::to_string)
                .collect(),
            userns_remap: flag_values(args, &["--userns-remap"])
                .last()
                .map(|s| s.to_string()),
            config_file: flag_values(args, &["--config-file"])
                .last()
                .map(PathBuf::from),
            data_root: flag_values(args, &["--data-root", "-g", "--graph"])
                .last()
                .map(PathBuf::from),
        })
    }

    /// Whether this daemon listens on the unix socket `sock`.
    pub fn serves(&self, sock: &Path) -> bool {
        let default = [
            Path::new("/var/run/docker.sock"),
            Path::new("/run/docker.sock"),
        ];
        if self.hosts.is_empty() {
            return default.contains(&sock);
        }
        self.hosts.iter().any(|h| {
            let p = Path::new(h.strip_prefix("unix://").unwrap_or(h));
            p == sock || (default.contains(&p) && default.contains(&sock))
        })
    }
}

/// The unix socket DOCKER_HOST names (or the default one); None for TCP.
pub fn docker_socket(docker_host: Option<&str>) -> Option<PathBuf> {
    match docker_host {
        None | Some("") => Some(PathBuf::from("/var/run/docker.sock")),
        Some(h) => h.strip_prefix("unix://").map(PathBuf::from),
    }
}

/// The `userns-remap` key of a daemon.json.
pub fn remap_from_daemon_json(path: &Path, text: &str) -> Result<Option<String>> {
    let dj = DaemonJson::parse(text, path)?;
    Ok(dj.userns_remap(path)?.filter(|s| !s.is_empty()))
}

/// Where the daemon's remapping comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remap {
    /// The daemon does not remap: container ids are host ids.
    None,
    /// The daemon remaps by these (container -> host) maps.
    Maps { uid_map: IdMap, gid_map: IdMap },
    /// Only container root's host ids are known (from the daemon's root dir).
    RootOnly(Id, Id),
}

impl Remap {
    /// The host ids of container user (uid, gid).
    pub fn host_ids(&self, user: (Id, Id)) -> Result<(Id, Id)> {
        match self {
            Remap::None => Ok(user),
            Remap::RootOnly(u, g) if user == (0, 0) => Ok((*u, *g)),
            Remap::RootOnly(..) => Err(Error::Invalid(format!(
                "cannot tell the host ids of container user {}:{}: the daemon's userns-remap \
                 spec was not found; pass --remap SPEC",
                user.0, user.1
            ))),
            Remap::Maps { uid_map, gid_map } => {
                let u = uid_map.to_host(user.0).ok_or_else(|| {
                    Error::Invalid(format!(
                        "container uid {} is not mapped by the daemon's userns-remap",
                        user.0
                    ))
                })?;
                let g = gid_map.to_host(user.1).ok_or_else(|| {
                    Error::Invalid(format!(
                        "container gid {} is not mapped by the daemon's userns-remap",
                        user.1
                    ))
                })?;
                Ok((u, g))
            }
        }
    }
}

/// The mapping that shows `owner`'s files as the host ids of `container_user`.
pub fn plan(owner: (Id, Id), container_user: (Id, Id), remap: &Remap) -> Result<Mapping> {
    Mapping::owner_as(owner, remap.host_ids(container_user)?)
}

/// The container -> host maps of a userns-remap spec on this system.
pub fn maps_of_spec(root: &Sysroot, spec: &str) -> Result<(IdMap, IdMap)> {
    let p = crate::remap::predict(root, spec)?;
    Ok((p.uid_map, p.gid_map))
}

/// Learns the remapping of the daemon DOCKER_HOST points at (or of `spec`).
pub fn learn_remap(root: &Sysroot, spec: Option<&str>) -> Result<Remap> {
    if let Some(spec) = spec {
        let (uid_map, gid_map) = maps_of_spec(root, spec)?;
        return Ok(remap_or_none(uid_map, gid_map));
    }
    let info = crate::docker::daemon_info(INFO_TIMEOUT).map_err(|e| {
        Error::Unsupported(format!(
            "cannot ask the Docker daemon about userns-remap ({e}); pass --remap SPEC"
        ))
    })?;
    if !info.userns {
        return Ok(Remap::None);
    }
    let host = std::env::var("DOCKER_HOST").ok();
    let found = docker_socket(host.as_deref())
        .and_then(|sock| find_dockerd(root, &sock, Some(info.root_dir.as_str())));
    if let Some(cmd) = found {
        let spec = match &cmd.userns_remap {
            Some(s) => Some(s.clone()),
            None => {
                let rel = cmd
                    .config_file
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|| paths::DAEMON_JSON.to_string());
                let path = root.path(&rel);
                match root.read_opt(&rel)? {
                    Some(t) => remap_from_daemon_json(&path, &t)?,
                    None => None,
                }
            }
        };
        if let Some(spec) = spec {
            let (uid_map, gid_map) = maps_of_spec(root, &spec)?;
            let remap = remap_or_none(uid_map, gid_map);
            if let (Some(r), Remap::Maps { uid_map, gid_map }) =
                (remapped_root(&info.root_dir), &remap)
            {
                if (uid_map.to_host(0), gid_map.to_host(0)) != (Some(r.0), Some(r.1)) {
                    return Err(Error::Invalid(format!(
                        "the daemon's root runs as {}:{} but its userns-remap '{spec}' predicts \
                         otherwise (were /etc/subuid or /etc/subgid changed since it started?)",
                        r.0, r.1
                    )));
                }
            }
            return Ok(remap);
        }
    }
    match remapped_root(&info.root_dir) {
        Some((u, g)) => Ok(Remap::RootOnly(u, g)),
        None => Err(Error::Unsupported(
            "the daemon remaps user namespaces but its mapping could not be learned; pass --remap SPEC"
                .into(),
        )),
    }
}

fn remap_or_none(uid_map: IdMap, gid_map: IdMap) -> Remap {
    if uid_map.is_empty() && gid_map.is_empty() {
        Remap::None
    } else {
        Remap::Maps { uid_map, gid_map }
    }
}

/// The dockerd process serving `sock` (or, failing that, using `root_dir`).
fn find_dockerd(root: &Sysroot, sock: &Path, root_dir: Option<&str>) -> Option<DockerdCmdline> {
    let proc = root.proc_path("");
    let mut by_root = None;
    for entry in std::fs::read_dir(&proc).ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let Some(cmd) = DockerdCmdline::parse(&argv) else {
            continue;
        };
        if cmd.serves(sock) {
            return Some(cmd);
        }
        if let (Some(dr), Some(rd)) = (&cmd.data_root, root_dir) {
            if Path::new(rd).parent() == Some(dr.as_path()) {
                by_root = Some(cmd);
            }
        }
    }
    by_root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdRange;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn remapped_root_from_the_root_dir() {
        assert_eq!(
            remapped_root("/tmp/x/data/100000.100000"),
            Some((100000, 100000))
        );
        assert_eq!(remapped_root("/var/lib/docker"), None);
        assert_eq!(remapped_root("/var/lib/docker/1.x"), None);
    }

    #[test]
    fn dockerd_cmdline_flags_both_spellings() {
        let c = DockerdCmdline::parse(&argv(
            "/usr/sbin/dockerd -H unix:///tmp/hm/d.sock --userns-remap=default --data-root /tmp/hm/data --config-file=/tmp/hm/daemon.json",
        ))
        .unwrap();
        assert_eq!(c.userns_remap.as_deref(), Some("default"));
        assert_eq!(c.data_root, Some(PathBuf::from("/tmp/hm/data")));
        assert_eq!(c.config_file, Some(PathBuf::from("/tmp/hm/daemon.json")));
        assert!(c.serves(Path::new("/tmp/hm/d.sock")));
        assert!(!c.serves(Path::new("/var/run/docker.sock")));
        let d = DockerdCmdline::parse(&argv("dockerd --userns-remap bob:bob")).unwrap();
        assert_eq!(d.userns_remap.as_deref(), Some("bob:bob"));
        assert!(d.serves(Path::new("/var/run/docker.sock")));
        assert!(d.serves(Path::new("/run/docker.sock")));
        assert!(DockerdCmdline::parse(&argv("containerd --x")).is_none());
    }

    #[test]
    fn docker_host_socket() {
        assert_eq!(
            docker_socket(None),
            Some(PathBuf::from("/var/run/docker.sock"))
        );
        assert_eq!(
            docker_socket(Some("unix:///tmp/a.sock")),
            Some(PathBuf::from("/tmp/a.sock"))
        );
        assert_eq!(docker_socket(Some("tcp://1.2.3.4:2375")), None);
    }

    #[test]
    fn daemon_json_remap_key() {
        let p = Path::new("/etc/docker/daemon.json");
        assert_eq!(
            remap_from_daemon_json(p, r#"{"userns-remap":"default"}"#).unwrap(),
            Some("default".into())
        );
        assert_eq!(remap_from_daemon_json(p, "{}").unwrap(), None);
        assert!(remap_from_daemon_json(p, "{").is_err());
    }

    #[test]
    fn container_root_under_remap_sees_the_owner_as_itself() {
        let map = IdMap::stacked(&[IdRange::new(100000, 65536).unwrap()]).unwrap();
        let remap = Remap::Maps {
            uid_map: map.clone(),
            gid_map: map,
        };
        let m = plan((1000, 1000), (0, 0), &remap).unwrap();
        assert_eq!(m.seen(1000, 1000), (Some(100000), Some(100000)));
        let m = plan((1000, 1000), (1234, 1234), &remap).unwrap();
        assert_eq!(m.seen(1000, 1000), (Some(101234), Some(101234)));
        assert!(plan((1000, 1000), (70000, 0), &remap).is_err());
    }

    #[test]
    fn without_remap_the_container_user_is_the_host_id() {
        let m = plan((1000, 1000), (1234, 1234), &Remap::None).unwrap();
        assert_eq!(m.seen(1000, 1000), (Some(1234), Some(1234)));
        let r = Remap::RootOnly(100000, 100000);
        assert_eq!(r.host_ids((0, 0)).unwrap(), (100000, 100000));
        assert!(r.host_ids((5, 5)).is_err());
    }
}
