//! Path resolution by `openat2` (Linux 5.6+) and its `RESOLVE_*` flags: the
//! kernel walks the whole path itself, so what is opened cannot be redirected
//! by a rename racing the walk. What is then checked and used is the returned
//! descriptor, never the path again.
//!
//! - Inside a root (`RESOLVE_IN_ROOT`): `..` and absolute symlinks are
//!   resolved as if the root were `/`, so a link `etc/subuid -> /etc/shadow`
//!   in a sysroot names the sysroot's shadow file, never the host's.
//! - Without symlinks (`RESOLVE_NO_SYMLINKS`, and `RESOLVE_BENEATH` below a
//!   directory): the open fails (ELOOP, EXDEV) at a symlink or an escape, so
//!   a component swapped for a symlink at any moment leads nowhere.
//!
//! Magic links (`/proc/self/fd/N`) are refused everywhere. Every open adds
//! `O_CLOEXEC` (and `O_NOCTTY` unless `O_PATH`) to the caller's flags.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// How often an open interrupted by a concurrent rename (EAGAIN, which the
/// kernel returns instead of risking a wrong answer) is tried again.
const RETRIES: usize = 64;

/// Opens the root directory itself (an `O_PATH` handle).
pub fn open_root(root: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens `rel` below the directory `root_fd` with `RESOLVE_IN_ROOT |
/// RESOLVE_NO_MAGICLINKS`; `rel` is taken as relative even with a leading `/`.
pub fn open_in_root(root_fd: &OwnedFd, rel: &str, flags: OFlags, mode: u32) -> io::Result<OwnedFd> {
    use std::os::fd::AsFd;
    let rel = rel.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    openat2(
        root_fd.as_fd(),
        Path::new(rel),
        flags,
        Mode::from_raw_mode(mode),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

/// Reads the whole file `rel` below `root` (resolved inside the root).
pub fn read_in_root(root: &Path, rel: &str) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let dir = open_root(root)?;
    let fd = open_in_root(&dir, rel, OFlags::RDONLY, 0)?;
    let mut f = std::fs::File::from(fd);
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Opens the directory `rel_dir` below `root` (resolved inside the root) for
/// `*at` calls.
pub fn open_dir_in_root(root: &Path, rel_dir: &str) -> io::Result<OwnedFd> {
    let dir = open_root(root)?;
    open_in_root(&dir, rel_dir, OFlags::RDONLY | OFlags::DIRECTORY, 0)
}

/// Opens `path` below the directory `dir`, following no symlink and no
/// magic link, and never leaving `dir` (an absolute path or a `..` above it
/// fails with EXDEV). An empty path opens `dir` itself.
pub fn open_beneath(dir: BorrowedFd<'_>, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    openat2(
        dir,
        path,
        flags,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
}

/// Opens `path` (absolute, or relative to the working directory) following
/// no symlink and no magic link in any of its components.
pub fn open_no_symlinks(path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    openat2(
        rustix::fs::CWD,
        path,
        flags,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
}

/// A readable descriptor of the directory that `fd` (an `O_PATH` handle or
/// any descriptor of a directory) refers to: the same inode, whatever its
/// path names now.
pub fn reopen_dir(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        fd,
        c".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )?)
}

/// Whether an error means the kernel lacks the system call (`openat2` before
/// Linux 5.6, ...): callers refuse then, never fall back to a resolution that
/// follows symlinks.
pub fn is_missing_syscall(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOSYS)
}

fn openat2(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlags,
    mode: Mode,
    resolve: ResolveFlags,
) -> io::Result<OwnedFd> {
    // openat2 refuses flags O_PATH ignores (EINVAL), O_NOCTTY among them.
    let mut flags = flags | OFlags::CLOEXEC;
    if !flags.contains(OFlags::PATH) {
        flags |= OFlags::NOCTTY;
    }
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dir, path, flags, mode, resolve) {
            Err(rustix::io::Errno::AGAIN) if tries < RETRIES => tries += 1,
            Err(rustix::io::Errno::INTR) => {}
            r => return Ok(r?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::fd::AsFd;

    #[test]
    fn absolute_symlink_resolves_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/inside"), "inside\n").unwrap();
        std::os::unix::fs::symlink("/etc/inside", d.path().join("etc/link")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/inside", d.path().join("etc/dots")).unwrap();
        assert_eq!(read_in_root(d.path(), "etc/link").unwrap(), b"inside\n");
        assert_eq!(read_in_root(d.path(), "/etc/dots").unwrap(), b"inside\n");
        // A link to a host file that the root does not have is not found.
        std::os::unix::fs::symlink("/etc/hostname", d.path().join("etc/host")).unwrap();
        let e = read_in_root(d.path(), "etc/host").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    fn dir_flags() -> OFlags {
        OFlags::PATH | OFlags::DIRECTORY
    }

    #[test]
    fn symlinks_anywhere_in_the_path_are_refused() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a/b/c")).unwrap();
        std::os::unix::fs::symlink("b", d.path().join("a/link")).unwrap();
        std::os::unix::fs::symlink("c", d.path().join("a/b/last")).unwrap();
        let top = open_no_symlinks(d.path(), dir_flags()).unwrap();
        assert!(open_beneath(top.as_fd(), Path::new("a/b/c"), dir_flags()).is_ok());
        for p in ["a/link/c", "a/b/last"] {
            let e = open_beneath(top.as_fd(), Path::new(p), dir_flags()).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{p}");
        }
        let e = open_no_symlinks(&d.path().join("a/link/c"), dir_flags()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn dot_dot_and_absolute_paths_cannot_leave_the_directory() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a/b")).unwrap();
        let a = open_no_symlinks(&d.path().join("a"), dir_flags()).unwrap();
        // ".." that stays inside is fine; above the directory it is not.
        assert!(open_beneath(a.as_fd(), Path::new("b/.."), dir_flags()).is_ok());
        for p in ["..", "b/../..", "/tmp"] {
            let e = open_beneath(a.as_fd(), Path::new(p), dir_flags()).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EXDEV), "{p}");
        }
        // The empty path is the directory itself.
        let same = open_beneath(a.as_fd(), Path::new(""), dir_flags()).unwrap();
        let ino = |fd: BorrowedFd<'_>| crate::sys::fs::stat_fd(fd).unwrap().ino;
        assert_eq!(ino(same.as_fd()), ino(a.as_fd()));
    }
    #[test]
    fn a_reopened_directory_is_the_same_inode_whatever_its_path_names_now() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("a")).unwrap();
        let fd = open_no_symlinks(&d.path().join("a"), OFlags::PATH | OFlags::DIRECTORY).unwrap();
        fs::rename(d.path().join("a"), d.path().join("b")).unwrap();
        fs::create_dir(d.path().join("a")).unwrap();
        let dir = reopen_dir(fd.as_fd()).unwrap();
        let ino = fs::metadata(d.path().join("b")).unwrap().ino();
        assert_eq!(crate::sys::fs::stat_fd(dir.as_fd()).unwrap().ino, ino);
    }

    #[test]
    fn a_missing_syscall_is_told_apart() {
        assert!(is_missing_syscall(&io::Error::from_raw_os_error(
            libc::ENOSYS
        )));
        assert!(!is_missing_syscall(&io::Error::from_raw_os_error(
            libc::ENOENT
        )));
    }
}
