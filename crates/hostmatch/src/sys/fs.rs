//! File-descriptor-relative filesystem calls for the ownership engine. They
//! are thin wrappers over rustix (which makes the raw system calls without
//! libc and without `unsafe` here); the flags that make the walk safe are
//! chosen in this one place:
//!
//! - every open has `O_NOFOLLOW | O_CLOEXEC`; directories are opened with
//!   `O_DIRECTORY`, so a directory swapped for a symlink fails to open;
//! - every stat is `statx` with `AT_SYMLINK_NOFOLLOW` and asks for the mount
//!   id, so that mount points are found by mount id, not `st_dev`;
//! - owners are changed with `fchownat(dir, name, AT_SYMLINK_NOFOLLOW)`
//!   relative to the parent's descriptor, or on an open descriptor
//!   (`fchownat(fd, "", AT_EMPTY_PATH)`) when more than the owner changes;
//! - modes and xattrs of `O_PATH` descriptors go through `/proc/self/fd/N`,
//!   which names the opened inode itself.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};

use crate::ids::Id;

pub use rustix::fs::CWD;

/// What the walk needs to know about an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Full `st_mode` (type and permission bits).
    pub mode: u32,
    pub uid: Id,
    pub gid: Id,
    pub ino: u64,
    pub nlink: u32,
    /// Mount id (STATX_MNT_ID); 0 when the kernel did not report one.
    pub mnt_id: u64,
}

/// File types, from `st_mode`.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;

impl Stat {
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
    pub fn is_reg(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }
}

fn mask() -> StatxFlags {
    StatxFlags::TYPE
        | StatxFlags::MODE
        | StatxFlags::UID
        | StatxFlags::GID
        | StatxFlags::INO
        | StatxFlags::NLINK
        | StatxFlags::MNT_ID
}

fn to_stat(s: rustix::fs::Statx) -> Stat {
    Stat {
        mode: s.stx_mode as u32,
        uid: s.stx_uid,
        gid: s.stx_gid,
        ino: s.stx_ino,
        nlink: s.stx_nlink,
        mnt_id: if s.stx_mask & StatxFlags::MNT_ID.bits() != 0 {
            s.stx_mnt_id
        } else {
            0
        },
    }
}

/// `statx(dir, name, AT_SYMLINK_NOFOLLOW)`: the entry itself, never a link target.
pub fn stat_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Stat> {
    let s = rustix::fs::statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, mask())?;
    Ok(to_stat(s))
}

/// `statx(fd, "", AT_EMPTY_PATH)`: the opened inode.
pub fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<Stat> {
    let s = rustix::fs::statx(
        fd,
        c"",
        AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
        mask(),
    )?;
    Ok(to_stat(s))
}

/// Opens a directory below `dir` for reading; fails (ELOOP/ENOTDIR) when the
/// name is a symlink or not a directory.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )?)
}

/// Opens any entry below `dir` as an `O_PATH` handle (a symlink itself, a
/// device without opening the device).
pub fn open_path_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Changes the owner of an opened inode (`None`: that side unchanged).
pub fn chown_fd(fd: BorrowedFd<'_>, uid: Option<Id>, gid: Option<Id>) -> io::Result<()> {
    // -1 ("unchanged") cannot be passed: the sides to keep are None.
    let uid = uid.map(rustix::fs::Uid::from_raw);
    let gid = gid.map(rustix::fs::Gid::from_raw);
    Ok(rustix::fs::chownat(fd, c"", uid, gid, AtFlags::EMPTY_PATH)?)
}

/// Changes the owner of the entry `name` below `dir` itself
/// (`AT_SYMLINK_NOFOLLOW`: a symlink is re-owned, never its target).
pub fn chown_at(
    dir: BorrowedFd<'_>,
    name: &CStr,
    uid: Option<Id>,
    gid: Option<Id>,
) -> io::Result<()> {
    let uid = uid.map(rustix::fs::Uid::from_raw);
    let gid = gid.map(rustix::fs::Gid::from_raw);
    Ok(rustix::fs::chownat(
        dir,
        name,
        uid,
        gid,
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// `/proc/self/fd/N` for a descriptor: names the opened inode itself.
fn proc_fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Sets the permission bits (including setuid/setgid/sticky) of an opened
/// inode, `O_PATH` or not. Never used on symlinks.
pub fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    let m = Mode::from_raw_mode(mode & 0o7777);
    match rustix::fs::fchmod(fd, m) {
        Err(rustix::io::Errno::BADF) => Ok(rustix::fs::chmod(proc_fd_path(fd), m)?),
        r => Ok(r?),
    }
}

/// Reads an xattr of an opened inode; `None` when it is absent or the
/// filesystem has no xattrs.
pub fn get_xattr(fd: BorrowedFd<'_>, name: &str) -> io::Result<Option<Vec<u8>>> {
    let path = proc_fd_path(fd);
    let mut buf = vec![0u8; 256];
    loop {
        match rustix::fs::getxattr(path.as_str(), name, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(rustix::io::Errno::NODATA) | Err(rustix::io::Errno::OPNOTSUPP) => return Ok(None),
            Err(rustix::io::Errno::RANGE) => {
                let n = rustix::fs::getxattr_query(path.as_str(), name)?;
                buf.resize(n.max(buf.len() * 2), 0);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether an opened inode has any xattr at all (one `listxattr` call).
pub fn has_xattrs(fd: BorrowedFd<'_>) -> io::Result<bool> {
    match rustix::fs::listxattr_query(proc_fd_path(fd).as_str()) {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::OPNOTSUPP) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Writes an xattr of an opened inode.
pub fn set_xattr(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> io::Result<()> {
    Ok(rustix::fs::setxattr(
        proc_fd_path(fd).as_str(),
        name,
        value,
        rustix::fs::XattrFlags::empty(),
    )?)
}

/// Removes an xattr of an opened inode (absent is fine).
pub fn remove_xattr(fd: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    match rustix::fs::removexattr(proc_fd_path(fd).as_str(), name) {
        Ok(()) | Err(rustix::io::Errno::NODATA) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Raises the soft open-file limit to the hard limit for the life of the
/// guard (the walk keeps one descriptor per directory with unvisited
/// subdirectories); the old limit comes back on drop, so that a command run
/// afterwards (the entrypoint's) inherits the limit it would have had.
pub fn raise_nofile_limit() -> NofileGuard {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let old = getrlimit(Resource::Nofile);
    let mut raised = false;
    if old.current != old.maximum {
        let mut l = old;
        l.current = l.maximum;
        raised = setrlimit(Resource::Nofile, l).is_ok();
    }
    NofileGuard { old, raised }
}

/// Restores the open-file limit (see [`raise_nofile_limit`]).
#[must_use]
pub struct NofileGuard {
    old: rustix::process::Rlimit,
    raised: bool,
}

impl NofileGuard {
    /// The soft open-file limit now in force (`None`: unlimited).
    pub fn current(&self) -> Option<u64> {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
}

impl Drop for NofileGuard {
    fn drop(&mut self) {
        if self.raised {
            let _ = rustix::process::setrlimit(rustix::process::Resource::Nofile, self.old);
        }
    }
}
