//! Opening paths below a directory descriptor without ever following a
//! symlink, in any component (`openat2` with `RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS`, plus what the caller asks for, e.g.
//! `RESOLVE_BENEATH` or `RESOLVE_NO_XDEV`). For callers that reach a path a
//! less trusted process could have changed: the entrypoint's re-own roots and
//! `match_path`, and anything else that must open "this path, as written".
//!
//! Kernel assumption: `openat2` exists from Linux 5.6. On an older kernel the
//! call fails with `ENOSYS`; [`is_missing_syscall`] tells callers, which then
//! refuse (there is no silent fallback to a resolution that follows symlinks).

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// How often a resolution that the kernel asks to retry (`EAGAIN`: a rename
/// or mount raced with it) is tried.
const RETRIES: usize = 16;

/// `openat2(dir, path, oflags | O_NOFOLLOW | O_CLOEXEC, resolve |
/// RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`: a symlink in any component
/// fails with `ELOOP`, except that a final symlink opened with `O_PATH` is
/// returned itself. `path` may have several components.
pub fn open_nofollow(
    dir: BorrowedFd<'_>,
    path: &std::ffi::CStr,
    oflags: OFlags,
    resolve: ResolveFlags,
) -> io::Result<OwnedFd> {
    let oflags = oflags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let resolve = resolve | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dir, path, oflags, Mode::empty(), resolve) {
            Err(rustix::io::Errno::AGAIN) if tries < RETRIES => tries += 1,
            Err(rustix::io::Errno::INTR) => {}
            r => return Ok(r?),
        }
    }
}

/// [`open_nofollow`] of a directory, for reading (`O_RDONLY | O_DIRECTORY`).
pub fn open_dir_nofollow(
    dir: BorrowedFd<'_>,
    path: &std::ffi::CStr,
    resolve: ResolveFlags,
) -> io::Result<OwnedFd> {
    open_nofollow(
        dir,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOCTTY,
        resolve,
    )
}

/// [`open_nofollow`] as an `O_PATH` handle: any file type, a final symlink
/// itself, a device without opening the device.
pub fn open_path_nofollow(
    dir: BorrowedFd<'_>,
    path: &std::ffi::CStr,
    resolve: ResolveFlags,
) -> io::Result<OwnedFd> {
    open_nofollow(dir, path, OFlags::PATH, resolve)
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
/// Linux 5.6, `close_range` before 5.9, ...).
pub fn is_missing_syscall(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOSYS)
}

/// Whether an error means a symlink was in the way (`ELOOP`).
pub fn is_symlink_in_the_way(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ELOOP))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    fn dir_fd(p: &std::path::Path) -> OwnedFd {
        OwnedFd::from(std::fs::File::open(p).unwrap())
    }

    #[test]
    fn a_symlink_in_any_component_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("a/b/f"), "x").unwrap();
        symlink("a", d.path().join("link")).unwrap();
        let root = dir_fd(d.path());
        assert!(open_path_nofollow(root.as_fd(), c"a/b/f", ResolveFlags::BENEATH).is_ok());
        let e = open_path_nofollow(root.as_fd(), c"link/b/f", ResolveFlags::BENEATH).unwrap_err();
        assert!(is_symlink_in_the_way(&e), "{e}");
        // A final symlink opened as a directory: ELOOP or ENOTDIR.
        let e = open_dir_nofollow(root.as_fd(), c"link", ResolveFlags::BENEATH).unwrap_err();
        assert!(
            matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)),
            "{e}"
        );
    }

    #[test]
    fn a_final_symlink_opened_as_a_path_is_the_symlink_itself() {
        let d = tempfile::tempdir().unwrap();
        symlink("/etc", d.path().join("l")).unwrap();
        let root = dir_fd(d.path());
        let fd = open_path_nofollow(root.as_fd(), c"l", ResolveFlags::BENEATH).unwrap();
        let st = crate::sys::fs::stat_fd(fd.as_fd()).unwrap();
        assert!(st.is_symlink());
    }

    #[test]
    fn dot_dot_cannot_leave_the_directory_beneath() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("a")).unwrap();
        let a = dir_fd(&d.path().join("a"));
        assert!(open_path_nofollow(a.as_fd(), c"../a", ResolveFlags::BENEATH).is_err());
        assert!(open_path_nofollow(a.as_fd(), c"/etc", ResolveFlags::BENEATH).is_err());
    }

    #[test]
    fn missing_syscall_is_recognised() {
        assert!(is_missing_syscall(&io::Error::from_raw_os_error(
            libc::ENOSYS
        )));
        assert!(!is_missing_syscall(&io::Error::from_raw_os_error(
            libc::ENOENT
        )));
    }
}
