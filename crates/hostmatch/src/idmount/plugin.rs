//! A Docker volume plugin serving ID-mapped volumes: the protocol's requests
//! and replies (JSON), volumes kept in a state directory across restarts, and
//! the policy (only sources below an allowed directory). The HTTP transport is
//! the caller's.
//!
//! `docker volume create -d hostmatch -o source=DIR -o owner-as=UID:GID NAME`
//! records a volume; the first container that mounts it gets an ID-mapped
//! mount of DIR at `STATE/mounts/NAME`, the last one to leave unmounts it.
//! `docker volume rm` forgets the volume and never touches DIR.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{mountinfo, umount, Mapping, MappingRequest, MountRequest};
use crate::ids::Id;
use crate::sys;
use crate::sysroot::Sysroot;
use crate::{Error, Result};

/// The plugin's settings.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// Where volumes are recorded (`volumes.json`) and mounted (`mounts/NAME`).
    pub state_dir: PathBuf,
    /// Directories below which sources may be mapped.
    pub allow: Vec<PathBuf>,
    /// System files (subuid, daemon.json) and the mount records.
    pub root: Sysroot,
}

/// One volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub source: PathBuf,
    pub mapping: Mapping,
    pub how: String,
    /// The options it was created with.
    pub options: BTreeMap<String, String>,
    /// Containers (mount ids) using it.
    #[serde(default)]
    pub users: Vec<String>,
    /// The source's owner when the volume was created, for mappings made
    /// from it (`owner-as`, `for-docker`); it must still own the source at
    /// every mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<(Id, Id)>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct VolumeState {
    volumes: BTreeMap<String, Volume>,
}

/// The plugin: its settings and its volumes.
#[derive(Debug)]
pub struct Plugin {
    cfg: PluginConfig,
    allow: Vec<PathBuf>,
    state: VolumeState,
    /// Held for the plugin's life: one plugin per state directory.
    _lock: fs::File,
}

/// The state file, in the state directory.
const STATE_FILE: &str = "volumes.json";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Req {
    #[serde(default)]
    name: String,
    #[serde(default)]
    opts: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "ID")]
    id: String,
}

const OPTIONS: &[&str] = &["source", "owner-as", "map", "for-docker", "remap"];

impl Plugin {
    /// Loads the volumes recorded in the state directory (created if missing).
    pub fn open(cfg: PluginConfig) -> Result<Self> {
        if cfg.allow.is_empty() {
            return Err(Error::invalid(
                "no --allow directory: the plugin would refuse every source",
            ));
        }
        let mut allow = Vec::new();
        for a in &cfg.allow {
            allow.push(fs::canonicalize(a).map_err(|e| Error::io(a, e))?);
        }
        let mounts = cfg.state_dir.join("mounts");
        fs::create_dir_all(&mounts).map_err(|e| Error::io(&mounts, e))?;
        let lock = lock_state_dir(&cfg.state_dir)?;
        // Temp files of state writes whose writer was killed.
        crate::journal::sweep(&Sysroot::new(&cfg.state_dir), &[STATE_FILE.to_string()])?;
        let file = cfg.state_dir.join(STATE_FILE);
        let state = match crate::fsedit::read_opt(&file)? {
            None => VolumeState::default(),
            Some(t) => serde_json::from_str(&t).map_err(|e| Error::InvalidFile {
                path: file.clone(),
                msg: format!("not a hostmatch volume list: {e}"),
            })?,
        };
        Ok(Plugin {
            cfg,
            allow,
            state,
            _lock: lock,
        })
    }

    /// Writes the volumes atomically (temp file, fsync, rename).
    fn save(&self) -> Result<()> {
        let mut text = serde_json::to_string_pretty(&self.state).expect("state serializes");
        text.push('\n');
        crate::fsedit::write_atomic(&self.cfg.state_dir.join(STATE_FILE), text.as_bytes(), 0o600)
    }

    /// Where volume `name` is mounted.
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.cfg.state_dir.join("mounts").join(name)
    }

    /// Answers one request of the protocol: `path` is the URL path (e.g.
    /// `/VolumeDriver.Create`), `body` the JSON request. Errors become
    /// `{"Err": "..."}` replies.
    pub fn handle(&mut self, path: &str, body: &[u8]) -> Value {
        match self.dispatch(path, body) {
            Ok(v) => v,
            Err(e) => json!({ "Err": e.to_string() }),
        }
    }

    fn dispatch(&mut self, path: &str, body: &[u8]) -> Result<Value> {
        let req = || -> Result<Req> {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Req {
                    name: String::new(),
                    opts: None,
                    id: String::new(),
                });
            }
            serde_json::from_slice(body)
                .map_err(|e| Error::invalid(format!("{path}: bad request body: {e}")))
        };
        match path {
            "/Plugin.Activate" => Ok(json!({ "Implements": ["VolumeDriver"] })),
            "/VolumeDriver.Capabilities" => Ok(json!({ "Capabilities": { "Scope": "local" } })),
            "/VolumeDriver.Create" => {
                let r = req()?;
                self.create(&r.name, r.opts.unwrap_or_default())?;
                Ok(json!({ "Err": "" }))
            }
            "/VolumeDriver.Remove" => {
                self.remove(&req()?.name)?;
                Ok(json!({ "Err": "" }))
            }
            "/VolumeDriver.Mount" => {
                let r = req()?;
                let mp = self.mount(&r.name, &r.id)?;
                Ok(json!({ "Mountpoint": mp, "Err": "" }))
            }
            "/VolumeDriver.Unmount" => {
                let r = req()?;
                self.unmount(&r.name, &r.id)?;
                Ok(json!({ "Err": "" }))
            }
            "/VolumeDriver.Path" => {
                let name = req()?.name;
                self.volume(&name)?;
                Ok(json!({ "Mountpoint": self.mounted_path(&name), "Err": "" }))
            }
            "/VolumeDriver.Get" => {
                let name = req()?.name;
                let v = self.volume(&name)?;
                Ok(json!({
                    "Volume": {
                        "Name": name,
                        "Mountpoint": self.mounted_path(&name),
                        "Status": { "source": v.source, "mapping": v.how },
                    },
                    "Err": "",
                }))
            }
            "/VolumeDriver.List" => {
                let vols: Vec<Value> = self
                    .state
                    .volumes
                    .keys()
                    .map(|n| json!({ "Name": n, "Mountpoint": self.mounted_path(n) }))
                    .collect();
                Ok(json!({ "Volumes": vols, "Err": "" }))
            }
            other => Err(Error::invalid(format!("unknown plugin request {other}"))),
        }
    }

    /// The mountpoint when the volume is mounted, else "".
    fn mounted_path(&self, name: &str) -> String {
        let mp = self.mountpoint(name);
        if self.is_mounted(&mp) {
            mp.display().to_string()
        } else {
            String::new()
        }
    }

    fn is_mounted(&self, mp: &Path) -> bool {
        self.cfg
            .root
            .read_proc("self/mountinfo")
            .ok()
            .and_then(|t| mountinfo::parse(&t).ok())
            .is_some_and(|m| mountinfo::mount_at(&m, mp).is_some_and(|e| e.is_idmapped()))
    }

    fn volume(&self, name: &str) -> Result<&Volume> {
        self.state
            .volumes
            .get(name)
            .ok_or_else(|| Error::invalid(format!("no such volume: {name}")))
    }

    /// Records a new volume (creating an existing one with the same options
    /// is accepted, as Docker may ask twice).
    pub fn create(&mut self, name: &str, opts: BTreeMap<String, String>) -> Result<()> {
        check_name(name)?;
        if let Some(v) = self.state.volumes.get(name) {
            if v.options == opts || opts.is_empty() {
                return Ok(());
            }
            return Err(Error::invalid(format!(
                "volume {name} already exists with other options"
            )));
        }
        if let Some(k) = opts.keys().find(|k| !OPTIONS.contains(&k.as_str())) {
            return Err(Error::invalid(format!(
                "unknown option '{k}' (options: {})",
                OPTIONS.join(", ")
            )));
        }
        let source = opts
            .get("source")
            .ok_or_else(|| Error::invalid("option source=DIR is required"))?;
        let source = Path::new(source);
        let source = fs::canonicalize(source)
            .map_err(|e| Error::invalid(format!("source {}: {e}", source.display())))?;
        let dir = self.open_source(&source)?;
        let maps: Vec<String> = opts
            .get("map")
            .map(|m| {
                m.split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let for_docker = opts.get("for-docker").map(|u| {
            (
                Some(u.as_str()).filter(|u| !u.is_empty()),
                opts.get("remap").map(String::as_str),
            )
        });
        if opts.contains_key("remap") && for_docker.is_none() {
            return Err(Error::invalid("option remap= goes with for-docker="));
        }
        let request = MappingRequest::from_options(
            &maps,
            opts.get("owner-as").map(String::as_str),
            for_docker,
        )
        .map_err(|e| Error::invalid(e.to_string().replace("--", "")))?;
        let stat = sys::fs::stat_fd(dir.as_fd()).map_err(|e| Error::io(&source, e))?;
        let owner = (stat.uid, stat.gid);
        let (mapping, how) = request.resolve_with_owner(&self.cfg.root, &|| Ok(owner))?;
        let owner = (!matches!(request, MappingRequest::Maps(_))).then_some(owner);
        self.state.volumes.insert(
            name.to_string(),
            Volume {
                source,
                mapping,
                how,
                options: opts,
                users: Vec::new(),
                owner,
            },
        );
        self.save()
    }

    /// Opens the canonical `source` below the allowed directory that holds
    /// it: the allowed directory by its path (no symlinks), then the rest
    /// with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` from that
    /// descriptor. A component swapped for a symlink at any moment makes the
    /// open fail instead of leading out of the allowed tree; the caller
    /// checks and mounts the returned descriptor, never the path again.
    fn open_source(&self, source: &Path) -> Result<OwnedFd> {
        let Some((allow, rel)) = self
            .allow
            .iter()
            .find_map(|a| source.strip_prefix(a).ok().map(|rel| (a, rel)))
        else {
            return Err(Error::Permission(format!(
                "source {} is not below an allowed directory ({}); the plugin's --allow decides \
                 which directories may be mapped",
                source.display(),
                self.allow
                    .iter()
                    .map(|a| a.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        let dir =
            sys::resolve::open_no_symlinks(allow, flags).map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => Error::Permission(format!(
                "allowed directory {}: a component of its path has become a symbolic link since \
                 the plugin started; restart the plugin to take the new path",
                allow.display()
            )),
                _ => source_error(allow, allow, Path::new("."), e),
            })?;
        sys::resolve::open_beneath(dir.as_fd(), rel, flags)
            .map_err(|e| source_error(source, allow, rel, e))
    }

    /// Forgets a volume (its source is never touched).
    pub fn remove(&mut self, name: &str) -> Result<()> {
        let v = self.volume(name)?;
        if !v.users.is_empty() && self.is_mounted(&self.mountpoint(name)) {
            return Err(Error::invalid(format!(
                "volume {name} is in use by {} container(s)",
                v.users.len()
            )));
        }
        self.state.volumes.remove(name);
        self.save()?;
        let _ = fs::remove_dir(self.mountpoint(name));
        Ok(())
    }

    /// Mounts the volume for container mount `id`; returns the mountpoint.
    pub fn mount(&mut self, name: &str, id: &str) -> Result<PathBuf> {
        let v = self.volume(name)?.clone();
        let mp = self.mountpoint(name);
        if !self.is_mounted(&mp) {
            // Checked again (the allow list may have shrunk, the tree may
            // have changed), and mounted from the very descriptor checked.
            let dir = self.open_source(&v.source)?;
            check_owner(&v, dir.as_fd())?;
            super::mount_opened(
                &self.cfg.root,
                dir.as_fd(),
                &MountRequest {
                    src: v.source.clone(),
                    dst: mp.clone(),
                    mapping: v.mapping.clone(),
                    recursive: false,
                    read_only: false,
                    how: format!("volume {name}: {}", v.how),
                },
            )?;
        }
        let vol = self.state.volumes.get_mut(name).expect("checked above");
        if !vol.users.iter().any(|u| u == id) {
            vol.users.push(id.to_string());
        }
        self.save()?;
        Ok(mp)
    }

    /// Container mount `id` is done with the volume; the last one unmounts it.
    pub fn unmount(&mut self, name: &str, id: &str) -> Result<()> {
        self.volume(name)?;
        let vol = self.state.volumes.get_mut(name).expect("checked above");
        vol.users.retain(|u| u != id);
        let last = vol.users.is_empty();
        self.save()?;
        let mp = self.mountpoint(name);
        if last && self.is_mounted(&mp) {
            umount(&self.cfg.root, &mp)?;
            // umount removes only directories it created; keep mounts/ tidy.
            let _ = fs::remove_dir(&mp);
        }
        Ok(())
    }
}

/// The error for a source that cannot be opened below its allowed directory
/// `allow` (`rel`: the part of the path below it).
fn source_error(source: &Path, allow: &Path, rel: &Path, e: io::Error) -> Error {
    let src = source.display();
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::EXDEV) => Error::Permission(format!(
            "source {src}: a component of {} below the allowed directory {} is (or has just \
             become) a symbolic link; the plugin follows no symlinks there",
            rel.display(),
            allow.display()
        )),
        Some(libc::ENOENT) => Error::invalid(format!("source {src} does not exist")),
        Some(libc::ENOTDIR) => Error::invalid(format!("source {src} is not a directory")),
        Some(libc::ENOSYS) => Error::Unsupported(
            "the kernel lacks openat2 (needs Linux 5.6+; ID-mapped mounts need 5.12+)".into(),
        ),
        _ => Error::io(source, e),
    }
}

/// A mapping made from the source's owner holds only while that owner still
/// owns the source.
fn check_owner(v: &Volume, dir: std::os::fd::BorrowedFd<'_>) -> Result<()> {
    let Some((uid, gid)) = v.owner else {
        return Ok(());
    };
    let st = sys::fs::stat_fd(dir).map_err(|e| Error::io(&v.source, e))?;
    if (st.uid, st.gid) != (uid, gid) {
        return Err(Error::invalid(format!(
            "source {} is owned by {}:{} now, not {uid}:{gid} as when the volume was created, \
             so its mapping ({}) no longer fits; remove the volume and create it again",
            v.source.display(),
            st.uid,
            st.gid,
            v.how
        )));
    }
    Ok(())
}

/// Takes the state directory's lock (`STATE/lock`, flock) for the plugin's
/// life, so that two plugins never share one state directory.
fn lock_state_dir(dir: &Path) -> Result<fs::File> {
    let path = dir.join("lock");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(f),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::invalid(format!(
            "{}: another hostmatch volume-plugin uses this state directory",
            dir.display()
        ))),
        Err(e) => Err(Error::io(&path, e.into())),
    }
}

/// Volume names become directory names: no separators, no dot names.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid volume name '{name}' (letters, digits, '_', '.', '-', starting with a letter or digit)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn plugin(d: &Path) -> Plugin {
        let allowed = d.join("allowed");
        fs::create_dir_all(&allowed).unwrap();
        let root = d.join("root");
        fs::create_dir_all(&root).unwrap();
        Plugin::open(PluginConfig {
            state_dir: d.join("state"),
            allow: vec![allowed],
            root: Sysroot::new(root),
        })
        .unwrap()
    }

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(v: &Value) -> &str {
        v["Err"].as_str().unwrap_or("")
    }

    #[test]
    fn activate_and_capabilities() {
        let d = tempfile::tempdir().unwrap();
        let mut p = plugin(d.path());
        assert_eq!(
            p.handle("/Plugin.Activate", b""),
            json!({"Implements": ["VolumeDriver"]})
        );
        assert_eq!(
            p.handle("/VolumeDriver.Capabilities", b"{}")["Capabilities"]["Scope"],
            "local"
        );
        assert!(err(&p.handle("/Nope", b"{}")).contains("unknown"));
    }

    #[test]
    fn volumes_persist_across_restarts_and_remove_keeps_data() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("allowed/ws");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("keep"), "x").unwrap();
        let mut p = plugin(d.path());
        let body = json!({"Name": "v1", "Opts": {"source": src, "owner-as": "1234:1234"}});
        let r = p.handle("/VolumeDriver.Create", body.to_string().as_bytes());
        assert_eq!(err(&r), "");
        // Same options again: accepted.
        let r = p.handle("/VolumeDriver.Create", body.to_string().as_bytes());
        assert_eq!(err(&r), "");
        drop(p);
        let mut p = plugin(d.path());
        let list = p.handle("/VolumeDriver.List", b"{}");
        assert_eq!(list["Volumes"][0]["Name"], "v1");
        let get = p.handle("/VolumeDriver.Get", br#"{"Name":"v1"}"#);
        assert_eq!(err(&get), "");
        assert_eq!(get["Volume"]["Mountpoint"], "");
        let owner = fs::metadata(&src).unwrap();
        let v = &p.state.volumes["v1"];
        assert_eq!(
            v.mapping.seen(owner.uid(), owner.gid()),
            (Some(1234), Some(1234))
        );
        assert_eq!(
            err(&p.handle("/VolumeDriver.Remove", br#"{"Name":"v1"}"#)),
            ""
        );
        assert!(src.join("keep").exists());
        assert!(err(&p.handle("/VolumeDriver.Get", br#"{"Name":"v1"}"#)).contains("no such volume"));
    }

    #[test]
    fn sources_outside_the_allowed_dirs_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let mut p = plugin(d.path());
        let r = p.handle(
            "/VolumeDriver.Create",
            json!({"Name": "v", "Opts": {"source": outside, "owner-as": "1"}})
                .to_string()
                .as_bytes(),
        );
        assert!(err(&r).contains("not below an allowed directory"), "{r}");
        // A symlink inside the allowed dir pointing outside is refused too.
        std::os::unix::fs::symlink(&outside, d.path().join("allowed/link")).unwrap();
        let r = p.handle(
            "/VolumeDriver.Create",
            json!({"Name": "v", "Opts": {"source": d.path().join("allowed/link"), "owner-as": "1"}})
                .to_string()
                .as_bytes(),
        );
        assert!(err(&r).contains("not below an allowed directory"), "{r}");
        // ".." escapes are resolved before the check.
        let r = p.handle(
            "/VolumeDriver.Create",
            json!({"Name": "v", "Opts": {"source": d.path().join("allowed/../outside"), "owner-as": "1"}})
                .to_string()
                .as_bytes(),
        );
        assert!(err(&r).contains("not below an allowed directory"), "{r}");
        assert!(p.state.volumes.is_empty());
    }

    #[test]
    fn a_symlink_below_the_allowed_dir_is_never_followed_at_mount() {
        let d = tempfile::tempdir().unwrap();
        let team = d.path().join("allowed/team");
        fs::create_dir_all(team.join("ws")).unwrap();
        fs::create_dir_all(d.path().join("outside/ws")).unwrap();
        let mut p = plugin(d.path());
        p.create(
            "v",
            opts(&[
                ("source", team.join("ws").to_str().unwrap()),
                ("owner-as", "1"),
            ]),
        )
        .unwrap();
        // The team directory is swapped for a symlink to a look-alike outside.
        fs::rename(&team, d.path().join("allowed/old-team")).unwrap();
        std::os::unix::fs::symlink(d.path().join("outside"), &team).unwrap();
        let e = p.mount("v", "c1").unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(p.state.volumes["v"].users.is_empty());
        // A source that is now a symlink itself is refused the same way.
        fs::remove_file(&team).unwrap();
        fs::rename(d.path().join("allowed/old-team"), &team).unwrap();
        fs::rename(team.join("ws"), team.join("ws-old")).unwrap();
        std::os::unix::fs::symlink("ws-old", team.join("ws")).unwrap();
        let e = p.mount("v", "c1").unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
    }

    #[test]
    fn a_source_with_another_owner_than_at_create_is_not_mounted() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("allowed/ws");
        fs::create_dir_all(&src).unwrap();
        let mut p = plugin(d.path());
        p.create(
            "v",
            opts(&[("source", src.to_str().unwrap()), ("owner-as", "1234")]),
        )
        .unwrap();
        let m = fs::metadata(&src).unwrap();
        assert_eq!(p.state.volumes["v"].owner, Some((m.uid(), m.gid())));
        p.state.volumes.get_mut("v").unwrap().owner = Some((m.uid() + 1, m.gid()));
        let e = p.mount("v", "c1").unwrap_err().to_string();
        assert!(e.contains("no longer fits"), "{e}");
        // A map= volume does not depend on the owner.
        p.create(
            "m",
            opts(&[("source", src.to_str().unwrap()), ("map", "0:1:1")]),
        )
        .unwrap();
        assert_eq!(p.state.volumes["m"].owner, None);
    }

    #[test]
    fn a_second_plugin_on_the_same_state_dir_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let _first = plugin(d.path());
        let e = Plugin::open(PluginConfig {
            state_dir: d.path().join("state"),
            allow: vec![d.path().join("allowed")],
            root: Sysroot::new(d.path().join("root")),
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("another hostmatch volume-plugin"),
            "{e}"
        );
    }

    #[test]
    fn temp_files_of_killed_writers_are_removed_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state");
        fs::create_dir_all(&state).unwrap();
        let mut live = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let (live_pid, gone_pid) = (live.id(), gone.id());
        let names = [
            (format!(".volumes.json.hostmatch-{live_pid}"), true),
            (format!(".volumes.json.hostmatch-{gone_pid}"), false),
            (".volumes.json.hostmatch-x".to_string(), true),
            (format!(".other.hostmatch-{gone_pid}"), true),
            (format!("volumes.json.hostmatch-{gone_pid}"), true),
        ];
        for (n, _) in &names {
            fs::write(state.join(n), "{").unwrap();
        }
        fs::create_dir_all(d.path().join("allowed")).unwrap();
        let p = Plugin::open(PluginConfig {
            state_dir: state.clone(),
            allow: vec![d.path().join("allowed")],
            root: Sysroot::new(d.path().join("root")),
        });
        let _ = live.kill();
        let _ = live.wait();
        p.unwrap();
        for (n, kept) in &names {
            assert_eq!(state.join(n).exists(), *kept, "{n}");
        }
    }

    #[test]
    fn bad_options_and_names_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("allowed/ws");
        fs::create_dir_all(&src).unwrap();
        let mut p = plugin(d.path());
        let s = src.to_str().unwrap();
        for (name, o, want) in [
            ("v", opts(&[("owner-as", "1")]), "source=DIR is required"),
            ("v", opts(&[("source", s)]), "exactly one of"),
            (
                "v",
                opts(&[("source", s), ("owner-as", "1"), ("map", "1:2:3")]),
                "exactly one of",
            ),
            ("v", opts(&[("source", s), ("map", "1:2")]), "map"),
            (
                "v",
                opts(&[("source", s), ("map", "0:5:10,5:100:1")]),
                "overlap",
            ),
            (
                "v",
                opts(&[("source", s), ("colour", "red")]),
                "unknown option",
            ),
            (
                "../x",
                opts(&[("source", s), ("owner-as", "1")]),
                "invalid volume name",
            ),
            (
                "",
                opts(&[("source", s), ("owner-as", "1")]),
                "invalid volume name",
            ),
        ] {
            let e = p.create(name, o).unwrap_err().to_string();
            assert!(e.contains(want), "{name}: {e} (wanted {want})");
        }
        assert!(p
            .create("ok", opts(&[("source", s), ("map", "0:5:10,100:200:1")]))
            .is_ok());
    }
}
