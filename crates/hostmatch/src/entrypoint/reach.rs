//! Reaching a path (a re-own root, the home, `match_path`) from `/` one
//! component at a time, never following a symlink (`openat2` with
//! `RESOLVE_NO_SYMLINKS`, see [`crate::sys::resolve`]), so that the workload
//! cannot steer a privileged step out of the account's own files by
//! replacing a component:
//!
//! - a symlink before the last component stops the walk (a final symlink is
//!   the entry itself, never followed);
//! - a component in a directory the account could write (so the account
//!   could have put it there: renamed a directory of someone else into it)
//!   must be the account's own, or a mount point (the workload can neither
//!   make mounts nor move them).
//!
//! Kernel assumptions, checked, never silently dropped: `openat2` (Linux
//! 5.6) and the mount id of `statx` (Linux 5.8); without them the path is
//! refused.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::OFlags;

use crate::ids::Id;
use crate::sys::fs::{self as sfs, Stat};
use crate::sys::resolve;

/// The ids of the account the workload runs as: before and after this
/// start's change.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ids {
    pub uids: Vec<Id>,
    /// Every group of the account (primary and supplementary).
    pub gids: Vec<Id>,
}

/// What reaching a path found.
#[derive(Debug)]
pub enum Reached {
    /// The entry (an `O_PATH` handle) and what it is.
    Found(OwnedFd, Stat),
    /// A component does not exist.
    Missing,
}

/// Whether the account could have put `entry` into `dir` or replaced it
/// there: it owns `dir` (and may make it writable), or `dir` is writable by
/// everyone or by one of its groups, unless `dir` is sticky and `entry` is
/// not the account's (then only the entry's owner or root can rename or
/// remove it).
pub fn replaceable(dir: &Stat, entry: &Stat, who: &Ids) -> bool {
    if who.uids.contains(&dir.uid) {
        return true;
    }
    let writable = dir.mode & 0o002 != 0 || (dir.mode & 0o020 != 0 && who.gids.contains(&dir.gid));
    let sticky = dir.mode & 0o1000 != 0;
    writable && (!sticky || who.uids.contains(&entry.uid))
}

/// Why `entry`, found in `dir`, must not be used: the account could have
/// put it there and it is not the account's own nor a mount point.
pub fn planted(dir: &Stat, entry: &Stat, who: &Ids) -> Option<String> {
    let mount_point = entry.mnt_id != dir.mnt_id;
    (replaceable(dir, entry, who) && !who.uids.contains(&entry.uid) && !mount_point).then(|| {
        format!(
            "is owned by uid {} but sits in a directory the account can write to \
             (the account could have put it there)",
            entry.uid
        )
    })
}

/// Refuses a directory whose mount id the kernel did not report (statx
/// `STATX_MNT_ID` exists from Linux 5.8): without it a bind mount (which on
/// some storage drivers shares `st_dev` with its parent) cannot be told
/// from a directory, and the walk would cross mounts silently.
pub fn require_mount_id(st: &Stat, at: &Path) -> Result<(), String> {
    if st.mnt_id == 0 {
        return Err(format!(
            "{} cannot be reached telling mount points apart: the kernel reports no mount \
             id (statx STATX_MNT_ID, Linux 5.8+)",
            at.display()
        ));
    }
    Ok(())
}

/// The normal components of an absolute path (`None` with `..` or a
/// relative path).
fn components(path: &Path) -> Option<Vec<OsString>> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// One component below `dir`, never following a symlink (a final symlink
/// is opened itself, as an `O_PATH` handle).
fn open_component(dir: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<OwnedFd> {
    resolve::open_beneath(dir, Path::new(name), OFlags::PATH | OFlags::NOFOLLOW)
}

/// A refusal of the kernel-dependent kind, or of an I/O error.
fn io_refusal(at: &Path, e: std::io::Error) -> String {
    if resolve::is_missing_syscall(&e) {
        return format!(
            "{} cannot be reached without following symlinks: the kernel has no openat2 \
             (Linux 5.6+)",
            at.display()
        );
    }
    format!("{} cannot be reached: {e}", at.display())
}

/// Reaches `path` (absolute) below `root` (the container's `/`) one component
/// at a time without following symlinks, checking each component with
/// [`planted`]. `Err`: why the path is refused (a symlink in the way, a
/// planted component, a kernel without openat2 or mount ids).
pub fn reach(root: BorrowedFd<'_>, path: &Path, who: &Ids) -> Result<Reached, String> {
    reach_with(root, path, who, false)
}

/// [`reach`], creating missing directories on the way (root-owned, 0755),
/// like `mkdir -p` but never through a symlink.
pub fn reach_creating(root: BorrowedFd<'_>, path: &Path, who: &Ids) -> Result<Reached, String> {
    reach_with(root, path, who, true)
}

fn reach_with(
    root: BorrowedFd<'_>,
    path: &Path,
    who: &Ids,
    create: bool,
) -> Result<Reached, String> {
    let comps = components(path)
        .ok_or_else(|| format!("{} is not an absolute path without '..'", path.display()))?;
    let mut cur: Option<OwnedFd> = None;
    let mut cur_st = sfs::stat_fd(root).map_err(|e| io_refusal(Path::new("/"), e))?;
    let mut at = PathBuf::from("/");
    for (i, name) in comps.iter().enumerate() {
        at.push(name);
        let dir = cur.as_ref().map_or(root, |fd| fd.as_fd());
        require_mount_id(&cur_st, &at)?;
        let fd = match open_component(dir, name) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create => {
                mkdir(dir, name).map_err(|e| io_refusal(&at, e))?;
                open_component(dir, name).map_err(|e| io_refusal(&at, e))?
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Reached::Missing),
            Err(e) => return Err(io_refusal(&at, e)),
        };
        let st = sfs::stat_fd(fd.as_fd()).map_err(|e| io_refusal(&at, e))?;
        let last = i + 1 == comps.len();
        if !last && st.is_symlink() {
            return Err(format!(
                "{} is a symbolic link (not followed)",
                at.display()
            ));
        }
        if !last && !st.is_dir() {
            return Err(format!("{} is not a directory", at.display()));
        }
        if let Some(why) = planted(&cur_st, &st, who) {
            return Err(format!("{} {why}", at.display()));
        }
        cur = Some(fd);
        cur_st = st;
    }
    match cur {
        Some(fd) => Ok(Reached::Found(fd, cur_st)),
        None => Err("/ itself is never reached this way".into()),
    }
}

fn mkdir(dir: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<()> {
    match rustix::fs::mkdirat(dir, name, rustix::fs::Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(uid: Id, gid: Id, mode: u32, mnt: u64) -> Stat {
        Stat {
            mode,
            uid,
            gid,
            ino: 1,
            nlink: 1,
            mnt_id: mnt,
        }
    }

    fn app() -> Ids {
        Ids {
            uids: vec![1234, 1000],
            gids: vec![1234, 1000, 50],
        }
    }

    #[test]
    fn a_root_owned_directory_in_the_accounts_own_directory_is_planted() {
        let dir = st(1234, 1234, 0o40755, 7);
        assert!(planted(&dir, &st(0, 0, 0o40700, 7), &app()).is_some());
        assert!(planted(&dir, &st(1000, 1000, 0o40700, 7), &app()).is_none());
        // A mount point: the workload cannot make or move mounts.
        assert!(planted(&dir, &st(0, 0, 0o40755, 9), &app()).is_none());
    }

    #[test]
    fn directories_the_account_cannot_write_hold_anything() {
        let root_dir = st(0, 0, 0o40755, 7);
        assert!(planted(&root_dir, &st(0, 0, 0o40755, 7), &app()).is_none());
        assert!(planted(&root_dir, &st(33, 33, 0o40755, 7), &app()).is_none());
    }

    #[test]
    fn writable_by_a_group_of_the_account_or_everyone_counts() {
        let staff = st(0, 50, 0o40775, 7);
        assert!(replaceable(&staff, &st(0, 0, 0o40755, 7), &app()));
        let other_group = st(0, 60, 0o40775, 7);
        assert!(!replaceable(&other_group, &st(0, 0, 0o40755, 7), &app()));
        let world = st(0, 0, 0o40777, 7);
        assert!(replaceable(&world, &st(0, 0, 0o40755, 7), &app()));
    }

    #[test]
    fn in_a_sticky_directory_only_the_accounts_entries_are_replaceable() {
        let tmp = st(0, 0, 0o41777, 7);
        assert!(!replaceable(&tmp, &st(0, 0, 0o40755, 7), &app()));
        assert!(replaceable(&tmp, &st(1234, 1234, 0o40755, 7), &app()));
    }

    #[test]
    fn a_kernel_without_mount_ids_is_refused_not_walked_silently() {
        let e = require_mount_id(&st(0, 0, 0o40755, 0), Path::new("/home")).unwrap_err();
        assert!(e.contains("Linux 5.8"), "{e}");
        assert!(require_mount_id(&st(0, 0, 0o40755, 21), Path::new("/home")).is_ok());
    }

    #[test]
    fn paths_with_dot_dot_or_relative_are_not_reached() {
        assert!(components(Path::new("/home/../etc")).is_none());
        assert!(components(Path::new("home")).is_none());
        assert_eq!(components(Path::new("/home/./app//x")).unwrap().len(), 3);
    }

    #[test]
    fn a_symlink_before_the_last_component_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::os::unix::fs::symlink("a", d.path().join("l")).unwrap();
        let root = OwnedFd::from(std::fs::File::open(d.path()).unwrap());
        let me = Ids {
            uids: vec![crate::sys::geteuid()],
            gids: vec![],
        };
        assert!(matches!(
            reach(root.as_fd(), Path::new("/a/b"), &me),
            Ok(Reached::Found(..))
        ));
        let e = reach(root.as_fd(), Path::new("/l/b"), &me).unwrap_err();
        assert!(e.contains("/l is a symbolic link"), "{e}");
        assert!(matches!(
            reach(root.as_fd(), Path::new("/a/nope/x"), &me),
            Ok(Reached::Missing)
        ));
        match reach(root.as_fd(), Path::new("/l"), &me) {
            Ok(Reached::Found(_, st)) => assert!(st.is_symlink()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_directories_are_created_on_the_way() {
        let d = tempfile::tempdir().unwrap();
        let root = OwnedFd::from(std::fs::File::open(d.path()).unwrap());
        let me = Ids {
            uids: vec![crate::sys::geteuid()],
            gids: vec![],
        };
        assert!(matches!(
            reach_creating(root.as_fd(), Path::new("/x/y"), &me),
            Ok(Reached::Found(..))
        ));
        assert!(d.path().join("x/y").is_dir());
    }
}
