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

/// `CUID[:CGID]` (numbers: container ids have no host names). CGID defaults to CUID.
pub fn parse_for(s: &str) -> Result<(Id, Id)> {
    let (u, g) = s.split_once(':').unwrap_or((s, s));
    let u = crate::ids::parse_id(u)?;
    let g = if g.is_empty() {
        u
    } else {
        crate::ids::parse_id(g)?
    };
    Ok((u, g))
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

/// Prepares the volume. Names are all checked before anything is created.
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
    // Entries to own, in creation order; `bool`: created by us.
    let mut entries: Vec<(PathBuf, bool)> = Vec::new();
    if !spec.dir.exists() && fs::symlink_metadata(&spec.dir).is_err() {
        fs::create_dir_all(&spec.dir).map_err(|e| Error::io(&spec.dir, e))?;
        entries.push((spec.dir.clone(), true));
    } else {
        ensure_dir(&spec.dir, &mut entries)?;
        entries.push((spec.dir.clone(), false));
    }
    for d in &dirs {
        ensure_parents(&spec.dir, d, &mut entries)?;
        let p = spec.dir.join(d);
        let before = entries.len();
        ensure_dir(&p, &mut entries)?;
        if entries.len() == before {
            entries.push((p, false));
        }
    }
    let mut file_paths = Vec::new();
    for f in &files {
        ensure_parents(&spec.dir, f, &mut entries)?;
        let p = spec.dir.join(f);
        let created = match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o664)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)
        {
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let m = fs::symlink_metadata(&p).map_err(|e| Error::io(&p, e))?;
                if !m.is_file() {
                    return Err(Error::invalid(format!(
                        "{}: exists and is not a regular file",
                        p.display()
                    )));
                }
                false
            }
            Err(e) => return Err(Error::io(&p, e)),
        };
        file_paths.push((p, created));
    }
    entries.extend(file_paths);
    entries.dedup_by(|a, b| a.0 == b.0);

    let self_only = Options {
        depth: Depth::SelfOnly,
        ..Options::default()
    };
    let mut out = Vec::new();
    for (p, created) in &entries {
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
    fn for_defaults_the_group_to_the_uid() {
        assert_eq!(parse_for("33").unwrap(), (33, 33));
        assert_eq!(parse_for("33:4").unwrap(), (33, 4));
        assert!(parse_for("www-data").is_err());
    }
}
