//! `volume prepare`: create the directories and files a container will write
//! to, owned by the host ids its container ids map to, group-writable, with
//! an ACL (access and default) for a host user who edits them too.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::ids::{Id, IdMap};
use crate::own::{self, AclChange, Depth, Options, Rule};
use crate::{acl, Error, Result};

/// What to prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub dir: PathBuf,
    /// Host owner of everything prepared.
    pub uid: Id,
    pub gid: Id,
    /// Directories below `dir` (relative, no `..`).
    pub dirs: Vec<String>,
    /// Files below `dir` (created empty when missing, never truncated).
    pub files: Vec<String>,
    /// Host user who gets `rwX` by ACL (access, and default on directories).
    pub writable_by: Option<Id>,
}

/// One prepared entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prepared {
    pub path: String,
    pub kind: &'static str,
    pub created: bool,
    pub uid: Id,
    pub gid: Id,
    pub mode: String,
}

/// The host ids of container ids under a mapping, or bad input naming the
/// unmapped one.
pub fn host_ids(uid_map: &IdMap, gid_map: &IdMap, cuid: Id, cgid: Id) -> Result<(Id, Id)> {
    let uid = uid_map.to_host(cuid).ok_or_else(|| {
        Error::invalid(format!(
            "container uid {cuid} is not mapped by the remapping"
        ))
    })?;
    let gid = gid_map.to_host(cgid).ok_or_else(|| {
        Error::invalid(format!(
            "container gid {cgid} is not mapped by the remapping"
        ))
    })?;
    Ok((uid, gid))
}

fn check_rel(name: &str) -> Result<PathBuf> {
    let p = Path::new(name);
    if name.is_empty()
        || p.components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(Error::invalid(format!(
            "'{name}': expected a relative path below the volume, without '..'"
        )));
    }
    Ok(p.to_path_buf())
}

/// Creates a directory unless it exists; refuses symlinks and non-directories.
fn ensure_dir(p: &Path, created: &mut Vec<(PathBuf, bool)>) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(m) if m.file_type().is_symlink() => Err(Error::invalid(format!(
            "{}: is a symbolic link; refusing to prepare through it",
            p.display()
        ))),
        Ok(_) => Err(Error::invalid(format!(
            "{}: exists and is not a directory",
            p.display()
        ))),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::create_dir(p).map_err(|e| Error::io(p, e))?;
            created.push((p.to_path_buf(), true));
            Ok(())
        }
        Err(e) => Err(Error::io(p, e)),
    }
}

/// Creates the parents of `rel` below `base`, one component at a time.
fn ensure_parents(base: &Path, rel: &Path, created: &mut Vec<(PathBuf, bool)>) -> Result<()> {
    let mut p = base.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        p.push(c);
        ensure_dir(&p, created)?;
    }
    Ok(())
}

/// What was there before `prepare` touched an entry, to put it back.
enum Undo {
    /// Created by `prepare`: removed again.
    Created { path: PathBuf, dir: bool },
    /// Existed: owner, mode and ACLs are restored.
    Changed {
        path: PathBuf,
        uid: Id,
        gid: Id,
        mode: u32,
        acls: Vec<(&'static str, Option<Vec<u8>>)>,
    },
}

const ACL_XATTRS: [&str; 2] = ["system.posix_acl_access", "system.posix_acl_default"];

fn read_acl(path: &Path, name: &str) -> Option<Vec<u8>> {
    let n = rustix::fs::lgetxattr(path, name, &mut [0u8; 0][..]).ok()?;
    let mut buf = vec![0u8; n];
    let n = rustix::fs::lgetxattr(path, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

impl Undo {
    fn changed(path: &Path) -> Result<Undo> {
        let m = fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
        Ok(Undo::Changed {
            path: path.to_path_buf(),
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode() & 0o7777,
            acls: ACL_XATTRS.iter().map(|n| (*n, read_acl(path, n))).collect(),
        })
    }

    /// Puts the entry back (best effort: the first error is the one reported).
    fn undo(&self) {
        match self {
            Undo::Created { path, dir: true } => {
                let _ = fs::remove_dir(path);
            }
            Undo::Created { path, dir: false } => {
                let _ = fs::remove_file(path);
            }
            Undo::Changed {
                path,
                uid,
                gid,
                mode,
                acls,
            } => {
                let _ = std::os::unix::fs::lchown(path, Some(*uid), Some(*gid));
                let _ = fs::set_permissions(path, fs::Permissions::from_mode(*mode));
                for (name, value) in acls {
                    let _ = match value {
                        Some(v) => rustix::fs::lsetxattr(
                            path.as_path(),
                            *name,
                            v,
                            rustix::fs::XattrFlags::empty(),
                        ),
                        None => rustix::fs::lremovexattr(path.as_path(), *name),
                    };
                }
            }
        }
    }
}

/// Checks every entry `prepare` would create or change before anything is
/// done: each must be absent or of the right type, never a symlink.
fn check_tree(spec: &Spec, dirs: &[PathBuf], files: &[PathBuf]) -> Result<()> {
    let check = |p: &Path, want_dir: bool| -> Result<()> {
        match fs::symlink_metadata(p) {
            Ok(m) if m.file_type().is_symlink() => Err(Error::invalid(format!(
                "{}: is a symbolic link; refusing to prepare through it; nothing changed",
                p.display()
            ))),
            Ok(m) if want_dir && !m.is_dir() => Err(Error::invalid(format!(
                "{}: exists and is not a directory; nothing changed",
                p.display()
            ))),
            Ok(m) if !want_dir && !m.is_file() => Err(Error::invalid(format!(
                "{}: exists and is not a regular file; nothing changed",
                p.display()
            ))),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(p, e)),
        }
    };
    check(&spec.dir, true)?;
    let all = dirs
        .iter()
        .map(|d| (d, true))
        .chain(files.iter().map(|f| (f, false)));
    for (rel, is_dir) in all {
        let mut p = spec.dir.clone();
        let comps: Vec<_> = rel.components().collect();
        for (i, c) in comps.iter().enumerate() {
            p.push(c);
            check(&p, is_dir || i + 1 < comps.len())?;
        }
    }
    Ok(())
}

/// Prepares the volume as one change: every name and every existing entry is
/// checked before anything is created, and an error on the way removes what
/// was created and gives changed entries back their owner, mode and ACLs.
pub fn prepare(spec: &Spec) -> Result<Vec<Prepared>> {
    let dirs = spec
        .dirs
        .iter()
        .map(|d| check_rel(d))
        .collect::<Result<Vec<_>>>()?;
    let files = spec
        .files
        .iter()
        .map(|f| check_rel(f))
        .collect::<Result<Vec<_>>>()?;
    check_tree(spec, &dirs, &files)?;
    let mut undo = Vec::new();
    let result = prepare_checked(spec, &dirs, &files, &mut undo);
    if result.is_err() {
        for u in undo.iter().rev() {
            u.undo();
        }
    }
    result
}

/// Records the entries `ensure_*` created since `from` for the undo.
fn record_created(entries: &[(PathBuf, bool)], from: usize, undo: &mut Vec<Undo>) {
    for (p, created) in &entries[from..] {
        if *created {
            undo.push(Undo::Created {
                path: p.clone(),
                dir: true,
            });
        }
    }
}

fn create_file(p: &Path, undo: &mut Vec<Undo>) -> Result<bool> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o664)
        .custom_flags(libc::O_NOFOLLOW)
        .open(p)
    {
        Ok(_) => {
            undo.push(Undo::Created {
                path: p.to_path_buf(),
                dir: false,
            });
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let m = fs::symlink_metadata(p).map_err(|e| Error::io(p, e))?;
            if !m.is_file() {
                return Err(Error::invalid(format!(
                    "{}: exists and is not a regular file",
                    p.display()
                )));
            }
            Ok(false)
        }
        Err(e) => Err(Error::io(p, e)),
    }
}

fn prepare_checked(
    spec: &Spec,
    dirs: &[PathBuf],
    files: &[PathBuf],
    undo: &mut Vec<Undo>,
) -> Result<Vec<Prepared>> {
    // Entries to own, in creation order; `bool`: created by us.
    let mut entries: Vec<(PathBuf, bool)> = Vec::new();
    if !spec.dir.exists() && fs::symlink_metadata(&spec.dir).is_err() {
        // Missing ancestors are created too; only the volume itself is undone.
        fs::create_dir_all(&spec.dir).map_err(|e| Error::io(&spec.dir, e))?;
        entries.push((spec.dir.clone(), true));
    } else {
        ensure_dir(&spec.dir, &mut entries)?;
        entries.push((spec.dir.clone(), false));
    }
    record_created(&entries, 0, undo);
    for d in dirs {
        let before = entries.len();
        ensure_parents(&spec.dir, d, &mut entries)?;
        let p = spec.dir.join(d);
        let n = entries.len();
        ensure_dir(&p, &mut entries)?;
        if entries.len() == n {
            entries.push((p, false));
        }
        record_created(&entries, before, undo);
    }
    let mut file_paths = Vec::new();
    for f in files {
        let before = entries.len();
        ensure_parents(&spec.dir, f, &mut entries)?;
        record_created(&entries, before, undo);
        let p = spec.dir.join(f);
        let created = create_file(&p, undo)?;
        file_paths.push((p, created));
    }
    entries.extend(file_paths);
    entries.dedup_by(|a, b| a.0 == b.0);
    for (p, created) in &entries {
        if !created {
            undo.push(Undo::changed(p)?);
        }
    }
    own_entries(spec, &entries)
}

/// Owner, group-writable mode and ACL of every entry.
fn own_entries(spec: &Spec, entries: &[(PathBuf, bool)]) -> Result<Vec<Prepared>> {
    let self_only = Options {
        depth: Depth::SelfOnly,
        ..Options::default()
    };
    let mut out = Vec::new();
    for (p, created) in entries {
        let set = Rule::Set {
            uid: Some(spec.uid),
            gid: Some(spec.gid),
        };
        first_error(own::apply(p, &set, &self_only, &own::no_progress)?)?;
        let m = fs::symlink_metadata(p).map_err(|e| Error::io(p, e))?;
        // Group-writable; directories setgid so new files keep the group.
        let want = if m.is_dir() {
            m.mode() & 0o7777 | 0o2070
        } else {
            m.mode() & 0o7777 | 0o060
        };
        if want != m.mode() & 0o7777 {
            fs::set_permissions(p, fs::Permissions::from_mode(want))
                .map_err(|e| Error::io(p, e))?;
        }
        if let Some(uid) = spec.writable_by {
            let grant = Rule::Acl {
                uid,
                change: AclChange::Grant {
                    perms: acl::R | acl::W,
                    cap_x: true,
                },
                default: true,
            };
            first_error(own::apply(p, &grant, &self_only, &own::no_progress)?)?;
        }
        let m = fs::symlink_metadata(p).map_err(|e| Error::io(p, e))?;
        out.push(Prepared {
            path: p.to_string_lossy().into_owned(),
            kind: if m.is_dir() { "dir" } else { "file" },
            created: *created,
            uid: m.uid(),
            gid: m.gid(),
            mode: format!("{:04o}", m.mode() & 0o7777),
        });
    }
    Ok(out)
}

fn first_error(r: own::Report) -> Result<()> {
    match r.errors.into_iter().next() {
        None => Ok(()),
        Some(e) => Err(Error::io(e.path, std::io::Error::other(e.error))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_escaping_the_volume_are_refused() {
        assert!(check_rel("../etc").is_err());
        assert!(check_rel("/etc").is_err());
        assert!(check_rel("a/../../b").is_err());
        assert!(check_rel("").is_err());
        assert!(check_rel("logs/app").is_ok());
    }

    #[test]
    fn a_blocked_entry_is_found_before_anything_is_created() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("x"), "a file where a directory must be").unwrap();
        std::os::unix::fs::symlink("/etc", d.path().join("link")).unwrap();
        for files in [vec!["x/y".to_string()], vec!["link/passwd".to_string()]] {
            let spec = Spec {
                dir: d.path().to_path_buf(),
                uid: 0,
                gid: 0,
                dirs: vec!["logs".into(), "cache/a".into()],
                files,
                writable_by: None,
            };
            let e = prepare(&spec).unwrap_err();
            assert!(e.to_string().contains("nothing changed"), "{e}");
            assert!(!d.path().join("logs").exists() && !d.path().join("cache").exists());
        }
    }

    #[test]
    fn an_error_after_creating_removes_what_was_created() {
        let d = tempfile::tempdir().unwrap();
        let mut undo = Vec::new();
        let mut entries = Vec::new();
        ensure_parents(d.path(), Path::new("a/b/c"), &mut entries).unwrap();
        record_created(&entries, 0, &mut undo);
        assert!(create_file(&d.path().join("a/b/f"), &mut undo).unwrap());
        for u in undo.iter().rev() {
            u.undo();
        }
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn for_defaults_the_group_to_the_uid() {
        let parse_for = |s| crate::ids::parse_id_pair(s, "--for");
        assert_eq!(parse_for("33").unwrap(), (33, 33));
        assert_eq!(parse_for("33:4").unwrap(), (33, 4));
        assert!(parse_for("www-data").is_err());
    }
}
