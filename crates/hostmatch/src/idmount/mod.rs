//! ID-mapped bind mounts: BindFS's job done by the kernel (Linux 5.12+).
//!
//! [`spec`] turns `--map`/`--owner-as` into a [`Mapping`] (pure); [`mount`]
//! makes the mount (a user namespace carrying the mapping, then `open_tree`,
//! `mount_setattr(MOUNT_ATTR_IDMAP)`, `move_mount`) and records it in a small
//! state file, since mountinfo shows that a mount is ID-mapped but not how;
//! [`list`] and [`umount`] read mountinfo and that record. Any failure leaves
//! nothing mounted and removes a DST it created.

pub mod docker;
pub mod mountinfo;
pub mod plugin;
pub mod spec;

use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;
use serde::{Deserialize, Serialize};

pub use spec::{MapKind, MapSpec, Mapping};

use crate::ids::Id;
use crate::sys;
use crate::sysroot::Sysroot;
use crate::{Error, Result};

/// Where hostmatch records the mounts it made (below the sysroot).
pub const STATE_FILE: &str = "run/hostmatch/mounts.json";

/// What to mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRequest {
    pub src: PathBuf,
    pub dst: PathBuf,
    pub mapping: Mapping,
    /// Also map the mounts below SRC (`AT_RECURSIVE`).
    pub recursive: bool,
    pub read_only: bool,
    /// How the mapping was asked for, for `hostmatch mounts` (e.g. `--owner-as 1000`).
    pub how: String,
}

/// A mount hostmatch made, as recorded in [`STATE_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    pub src: PathBuf,
    pub dst: PathBuf,
    pub mapping: Mapping,
    pub recursive: bool,
    pub read_only: bool,
    pub how: String,
    /// The topmost directory hostmatch created for DST (removed on umount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    mounts: Vec<MountRecord>,
}

/// The state file, locked while it is read and rewritten.
struct StateLock {
    path: PathBuf,
    _lock: fs::File,
    state: State,
}

impl StateLock {
    fn open(root: &Sysroot) -> Result<Self> {
        let path = root.path(STATE_FILE);
        let dir = path.parent().expect("state file has a parent");
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let lock_path = dir.join("mounts.lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::io(&lock_path, e.into()))?;
        let state = read_state(&path)?;
        Ok(StateLock {
            path,
            _lock: lock,
            state,
        })
    }

    fn save(&self) -> Result<()> {
        let mut text = serde_json::to_string_pretty(&self.state).expect("state serializes");
        text.push('\n');
        crate::fsedit::write_atomic(&self.path, text.as_bytes(), 0o644)
    }
}

fn read_state(path: &Path) -> Result<State> {
    match crate::fsedit::read_opt(path)? {
        None => Ok(State::default()),
        Some(t) => serde_json::from_str(&t).map_err(|e| Error::InvalidFile {
            path: path.to_path_buf(),
            msg: format!("not a hostmatch mount record: {e}"),
        }),
    }
}

fn read_mounts(root: &Sysroot) -> Result<Vec<mountinfo::MountEntry>> {
    mountinfo::parse(&root.read_proc("self/mountinfo")?)
}

/// Makes the ID-mapped mount described by `req` and records it. On any error
/// nothing is left mounted and a DST created here is removed again.
pub fn mount(root: &Sysroot, req: &MountRequest) -> Result<MountRecord> {
    need_root()?;
    let src = canonical_source(&req.src)?;
    // The canonical path has no symlinks: opened without following any, it
    // is the directory just checked, whatever is renamed meanwhile.
    let fd = sys::resolve::open_no_symlinks(&src, OFlags::PATH | OFlags::DIRECTORY)
        .map_err(|e| Error::io(&src, e))?;
    mount_opened(root, fd.as_fd(), &MountRequest { src, ..req.clone() })
}

fn need_root() -> Result<()> {
    if sys::geteuid() != 0 {
        return Err(Error::Permission(
            "ID-mapped mounts need root (CAP_SYS_ADMIN in the initial user namespace)".into(),
        ));
    }
    Ok(())
}

/// Makes the ID-mapped mount of the directory opened as `src_dir` (an
/// `O_PATH` descriptor will do) at `req.dst`, and records it. `req.src` is
/// only recorded and shown: the mount is made from the descriptor
/// (`open_tree` with `AT_EMPTY_PATH`), so it is exactly the directory the
/// caller opened and checked, whatever has been renamed since. On any error
/// nothing is left mounted and a DST created here is removed again.
pub fn mount_opened(
    root: &Sysroot,
    src_dir: BorrowedFd<'_>,
    req: &MountRequest,
) -> Result<MountRecord> {
    need_root()?;
    let src = req.src.clone();
    let (dst, created) = prepare_target(&req.dst)?;
    let result = (|| {
        let mounts = read_mounts(root)?;
        if mountinfo::mount_at(&mounts, &dst).is_some() {
            return Err(Error::Invalid(format!(
                "{}: busy: something is already mounted there (hostmatch umount it first)",
                dst.display()
            )));
        }
        let mut state = StateLock::open(root)?;
        attach_idmapped(
            src_dir,
            &src,
            &dst,
            &req.mapping,
            req.recursive,
            req.read_only,
        )?;
        let record = MountRecord {
            src: src.clone(),
            dst: dst.clone(),
            mapping: req.mapping.clone(),
            recursive: req.recursive,
            read_only: req.read_only,
            how: req.how.clone(),
            created: created.clone(),
        };
        state.state.mounts.retain(|m| m.dst != dst);
        state.state.mounts.push(record.clone());
        if let Err(e) = state.save() {
            let _ = detach_tree(root, &dst);
            return Err(e);
        }
        Ok(record)
    })();
    if result.is_err() {
        if let Some(c) = &created {
            remove_created(c, &dst);
        }
    }
    result
}

fn canonical_source(src: &Path) -> Result<PathBuf> {
    let src_c = match fs::canonicalize(src) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::Invalid(format!(
                "{}: source does not exist",
                src.display()
            )))
        }
        Err(e) => return Err(Error::io(src, e)),
    };
    let meta = fs::metadata(&src_c).map_err(|e| Error::io(&src_c, e))?;
    if !meta.is_dir() {
        return Err(Error::Invalid(format!(
            "{}: source is not a directory",
            src.display()
        )));
    }
    Ok(src_c)
}

/// Canonical DST, creating it (and missing parents) when needed; returns the
/// topmost directory created.
fn prepare_target(dst: &Path) -> Result<(PathBuf, Option<PathBuf>)> {
    let abs = if dst.is_absolute() {
        dst.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io(".", e))?
            .join(dst)
    };
    let mut created = None;
    match fs::symlink_metadata(&abs) {
        Ok(m) if m.is_dir() => {}
        Ok(m) if m.file_type().is_symlink() && fs::metadata(&abs).is_ok_and(|t| t.is_dir()) => {}
        Ok(_) => {
            return Err(Error::Invalid(format!(
                "{}: target exists and is not a directory",
                dst.display()
            )))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut top = abs.clone();
            while let Some(p) = top.parent() {
                if p.exists() {
                    break;
                }
                top = p.to_path_buf();
            }
            fs::create_dir_all(&abs).map_err(|e| Error::io(&abs, e))?;
            created = Some(top);
        }
        Err(e) => return Err(Error::io(dst, e)),
    }
    let canon = fs::canonicalize(&abs).map_err(|e| Error::io(&abs, e))?;
    let created = created.map(|top| fs::canonicalize(&top).unwrap_or(top));
    Ok((canon, created))
}

/// Removes the directories from `dst` up to `top` that hostmatch created (only
/// when empty).
fn remove_created(top: &Path, dst: &Path) {
    let mut p = dst.to_path_buf();
    loop {
        if fs::remove_dir(&p).is_err() || p == top {
            break;
        }
        match p.parent() {
            Some(parent) => p = parent.to_path_buf(),
            None => break,
        }
    }
}

/// The three-step mount of the opened directory `src_dir` (`src` names it in
/// messages). The detached tree is dropped (and so freed by the kernel) on
/// every error before it is attached.
fn attach_idmapped(
    src_dir: BorrowedFd<'_>,
    src: &Path,
    dst: &Path,
    mapping: &Mapping,
    recursive: bool,
    read_only: bool,
) -> Result<()> {
    let userns =
        sys::mount::userns_with_maps(Some(&mapping.uid_map_text()), Some(&mapping.gid_map_text()))
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => Error::Permission(format!(
                    "cannot create the mapping's user namespace: {e} (needs root)"
                )),
                Some(libc::EINVAL) => {
                    Error::Invalid(format!("the kernel refused the mapping: {e}"))
                }
                _ => Error::Sys {
                    call: "user namespace",
                    source: e,
                },
            })?;
    let tree = sys::mount::open_tree_clone(src_dir, recursive).map_err(|e| {
        mount_error("open_tree", e, src, dst).unwrap_or_else(|e| Error::Sys {
            call: "open_tree",
            source: e,
        })
    })?;
    sys::mount::set_idmap(tree.as_fd(), userns.as_fd(), read_only, recursive).map_err(|e| {
        if e.raw_os_error() == Some(libc::EINVAL) {
            let fs = sys::mount::fs_magic_fd(src_dir)
                .map(crate::kernel::fs_label)
                .unwrap_or_else(|_| "unknown".into());
            let sub = if recursive {
                " (or a filesystem mounted below it)"
            } else {
                ""
            };
            return Error::Unsupported(format!(
                "{}: the filesystem ({fs}){sub} does not support ID-mapped mounts",
                src.display()
            ));
        }
        mount_error("mount_setattr", e, src, dst).unwrap_or_else(|e| Error::Sys {
            call: "mount_setattr",
            source: e,
        })
    })?;
    sys::mount::attach(tree.as_fd(), dst).map_err(|e| {
        mount_error("move_mount", e, src, dst).unwrap_or_else(|e| Error::Sys {
            call: "move_mount",
            source: e,
        })
    })?;
    Ok(())
}

/// Clear messages for the errors every step can give.
fn mount_error(
    call: &str,
    e: io::Error,
    src: &Path,
    dst: &Path,
) -> std::result::Result<Error, io::Error> {
    Ok(match e.raw_os_error() {
        Some(libc::ENOSYS) => Error::Unsupported(
            "the kernel lacks ID-mapped mounts (needs Linux 5.12+ with the new mount API)".into(),
        ),
        Some(libc::EPERM) => Error::Permission(format!(
            "{call}: not permitted: ID-mapped mounts need root with CAP_SYS_ADMIN"
        )),
        Some(libc::ENOENT) if call == "open_tree" => {
            Error::Invalid(format!("{}: source does not exist", src.display()))
        }
        Some(libc::ENOENT) => Error::Invalid(format!("{}: target does not exist", dst.display())),
        Some(libc::EBUSY) => Error::Invalid(format!("{}: busy", dst.display())),
        _ => return Err(e),
    })
}

/// Unmounts DST and everything mounted below it, deepest first.
fn detach_tree(root: &Sysroot, dst: &Path) -> Result<()> {
    let mounts = read_mounts(root)?;
    let mut below: Vec<&Path> = mounts
        .iter()
        .map(|m| m.mount_point.as_path())
        .filter(|p| p.starts_with(dst) && *p != dst)
        .collect();
    below.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    below.dedup();
    for p in below {
        unmount_one(p)?;
    }
    unmount_one(dst)
}

fn unmount_one(p: &Path) -> Result<()> {
    sys::mount::unmount(p).map_err(|e| match e.raw_os_error() {
        Some(libc::EBUSY) => Error::Invalid(format!(
            "{}: busy: a process is using it (close it, or stop the container, then retry)",
            p.display()
        )),
        Some(libc::EPERM) => Error::Permission(format!("{}: umount needs root", p.display())),
        _ => Error::io(p, e),
    })
}

/// An ID-mapped mount on the system, with hostmatch's record of it when
/// hostmatch made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountStatus {
    pub dst: PathBuf,
    /// The source directory (hostmatch's record), or the mounted filesystem's
    /// directory and device (mountinfo) for mounts made by others.
    pub src: PathBuf,
    pub fstype: String,
    pub read_only: bool,
    /// hostmatch's record (None: not made by hostmatch).
    pub record: Option<MountRecord>,
}

/// Every ID-mapped mount in this mount namespace.
pub fn list(root: &Sysroot) -> Result<Vec<MountStatus>> {
    let mounts = read_mounts(root)?;
    let state = read_state(&root.path(STATE_FILE))?;
    Ok(mounts
        .iter()
        .filter(|m| m.is_idmapped())
        .map(|m| {
            let record = state
                .mounts
                .iter()
                .find(|r| r.dst == m.mount_point)
                .cloned();
            MountStatus {
                dst: m.mount_point.clone(),
                src: record
                    .as_ref()
                    .map(|r| r.src.clone())
                    .unwrap_or_else(|| PathBuf::from(format!("{}:{}", m.source, m.root.display()))),
                fstype: m.fstype.clone(),
                read_only: m.is_read_only(),
                record,
            }
        })
        .collect())
}

/// Unmounts an ID-mapped mount (and what is mounted below it), forgets its
/// record and removes the directory hostmatch created for it.
pub fn umount(root: &Sysroot, dst: &Path) -> Result<()> {
    let canon = fs::canonicalize(dst).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::Invalid(format!("{}: does not exist", dst.display())),
        _ => Error::io(dst, e),
    })?;
    let mounts = read_mounts(root)?;
    match mountinfo::mount_at(&mounts, &canon) {
        Some(m) if m.is_idmapped() => {}
        Some(_) => {
            return Err(Error::Invalid(format!(
                "{}: is not an ID-mapped mount; hostmatch unmounts only those",
                dst.display()
            )))
        }
        None => {
            return Err(Error::Invalid(format!(
                "{}: nothing is mounted there",
                dst.display()
            )))
        }
    }
    if sys::geteuid() != 0 {
        return Err(Error::Permission("umount needs root".into()));
    }
    let mut state = StateLock::open(root)?;
    detach_tree(root, &canon)?;
    let record = state.state.mounts.iter().position(|r| r.dst == canon);
    if let Some(i) = record {
        let r = state.state.mounts.remove(i);
        state.save()?;
        if let Some(top) = &r.created {
            remove_created(top, &canon);
        }
    }
    Ok(())
}

/// How the mapping of a mount is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingRequest {
    /// `--map` lines.
    Maps(Vec<MapSpec>),
    /// `--owner-as UID[:GID]`: SRC's owner is seen as these ids.
    OwnerAs(Id, Id),
    /// `--for-docker`: SRC's owner is seen as the host ids of this container
    /// user under the daemon's userns-remap (`remap`: a spec instead of asking
    /// the daemon).
    ForDocker {
        user: (Id, Id),
        remap: Option<String>,
        /// `--engine`: whose rules predict `remap` (None: the running engine's).
        engine: Option<crate::engine::EngineChoice>,
    },
}

impl MappingRequest {
    /// Builds the request from the CLI's (or plugin's) options; exactly one
    /// kind must be given.
    pub fn from_options(
        maps: &[String],
        owner_as: Option<&str>,
        for_docker: Option<(Option<&str>, Option<&str>)>,
    ) -> Result<Self> {
        let given = usize::from(!maps.is_empty())
            + usize::from(owner_as.is_some())
            + usize::from(for_docker.is_some());
        if given != 1 {
            return Err(Error::invalid(
                "give exactly one of --map, --owner-as or --for-docker",
            ));
        }
        if let Some(o) = owner_as {
            let (u, g) = crate::ids::parse_id_pair(o, "--owner-as")?;
            return Ok(MappingRequest::OwnerAs(u, g));
        }
        if let Some((user, remap)) = for_docker {
            let user = match user {
                Some(u) => crate::ids::parse_id_pair(u, "--container-user")?,
                None => (0, 0),
            };
            return Ok(MappingRequest::ForDocker {
                user,
                remap: remap.map(str::to_string),
                engine: None,
            });
        }
        let specs = maps
            .iter()
            .map(|s| MapSpec::parse(s))
            .collect::<Result<Vec<_>>>()?;
        Mapping::from_specs(&specs)?;
        Ok(MappingRequest::Maps(specs))
    }

    /// The same request, predicting `--for-docker`'s remap by `engine`'s rules.
    pub fn with_engine(self, engine: Option<crate::engine::EngineChoice>) -> Self {
        match self {
            MappingRequest::ForDocker { user, remap, .. } => MappingRequest::ForDocker {
                user,
                remap,
                engine,
            },
            other => other,
        }
    }

    /// The mapping for source `src`, and a short description of it.
    pub fn resolve(&self, root: &Sysroot, src: &Path) -> Result<(Mapping, String)> {
        self.resolve_with_owner(root, &|| source_owner(src))
    }

    /// The mapping for a source whose owner `owner` gives (asked only when
    /// the mapping depends on it), and a short description of it.
    pub fn resolve_with_owner(
        &self,
        root: &Sysroot,
        owner: &dyn Fn() -> Result<(Id, Id)>,
    ) -> Result<(Mapping, String)> {
        match self {
            MappingRequest::Maps(specs) => {
                let how = specs
                    .iter()
                    .map(|s| format!("--map {s}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                Ok((Mapping::from_specs(specs)?, how))
            }
            MappingRequest::OwnerAs(u, g) => {
                let owner = owner()?;
                Ok((
                    Mapping::owner_as(owner, (*u, *g))?,
                    format!("--owner-as {u}:{g} (owner {}:{})", owner.0, owner.1),
                ))
            }
            MappingRequest::ForDocker {
                user,
                remap,
                engine,
            } => {
                let owner = owner()?;
                let learned = docker::learn(root, remap.as_deref(), *engine)?;
                let host = learned.remap.host_ids(*user)?;
                let mapping = docker::plan(owner, *user, &learned.remap)?;
                Ok((
                    mapping,
                    format!(
                        "--for-docker container user {}:{} = host {}:{} (owner {}:{}; rules {})",
                        user.0, user.1, host.0, host.1, owner.0, owner.1, learned.rules
                    ),
                ))
            }
        }
    }
}

/// The (uid, gid) owning `src`.
pub fn source_owner(src: &Path) -> Result<(Id, Id)> {
    use std::os::unix::fs::MetadataExt;
    match fs::metadata(src) {
        Ok(m) => Ok((m.uid(), m.gid())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::Invalid(format!(
            "{}: source does not exist",
            src.display()
        ))),
        Err(e) => Err(Error::io(src, e)),
    }
}
