//! The new mount API (open_tree, mount_setattr, move_mount) and the throwaway
//! user namespace that carries an ID-mapped mount's mapping.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use rustix::mount::{MoveMountFlags, OpenTreeFlags, UnmountFlags};

/// `MOUNT_ATTR_RDONLY` from `<linux/mount.h>`.
const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
/// `MOUNT_ATTR_IDMAP` from `<linux/mount.h>`.
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `struct mount_attr` from `<linux/mount.h>` (version 0, 32 bytes).
#[repr(C)]
#[derive(Debug, Default)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A detached copy of the mount tree at the opened directory `dir` (an
/// `O_PATH` descriptor will do): `open_tree(dir, "", OPEN_TREE_CLONE |
/// AT_EMPTY_PATH)`, of the whole subtree when `recursive`. No path is
/// resolved, so what is cloned is exactly the directory that was opened.
pub fn open_tree_clone(dir: BorrowedFd<'_>, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    Ok(rustix::mount::open_tree(dir, c"", flags)?)
}

/// Makes the detached mount `tree` ID-mapped by the user namespace `userns`
/// (and read-only when asked), on every mount of the tree when `recursive`.
pub fn set_idmap(
    tree: BorrowedFd<'_>,
    userns: BorrowedFd<'_>,
    read_only: bool,
    recursive: bool,
) -> io::Result<()> {
    let mut attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: userns.as_raw_fd() as u64,
        ..MountAttr::default()
    };
    if read_only {
        attr.attr_set |= MOUNT_ATTR_RDONLY;
    }
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    let empty = c"";
    // SAFETY: the fd is open for the duration of the call, the path is a valid
    // NUL-terminated string, and `attr` is a live, correctly laid out
    // `struct mount_attr` whose size is passed alongside it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            flags as libc::c_uint,
            &mut attr as *mut MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Attaches the detached mount `tree` at `target`.
pub fn attach(tree: BorrowedFd<'_>, target: &Path) -> io::Result<()> {
    Ok(rustix::mount::move_mount(
        tree,
        c"",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?)
}

/// Unmounts `target` (not lazily: a busy mount stays and EBUSY is returned).
pub fn unmount(target: &Path) -> io::Result<()> {
    Ok(rustix::mount::unmount(target, UnmountFlags::NOFOLLOW)?)
}

/// The filesystem magic number (`statfs` `f_type`) of the filesystem at `path`.
pub fn fs_magic(path: &Path) -> io::Result<u64> {
    let st = rustix::fs::statfs(path)?;
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as u64)
}

/// The filesystem magic number (`fstatfs` `f_type`) of an opened file.
pub fn fs_magic_fd(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let st = rustix::fs::fstatfs(fd)?;
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as u64)
}

/// Creates a user namespace whose uid_map and gid_map are the given texts (in
/// the kernel's format; `None` leaves that map unwritten) and returns an fd
/// for it. A child process is forked to own the namespace; it is killed and
/// reaped before this returns, the fd keeps the namespace alive.
pub fn userns_with_maps(uid_map: Option<&str>, gid_map: Option<&str>) -> io::Result<OwnedFd> {
    let (ready_r, ready_w) = pipe()?;
    let (hold_r, hold_w) = pipe()?;
    let (ready_w_raw, hold_r_raw, hold_w_raw) =
        (ready_w.as_raw_fd(), hold_r.as_raw_fd(), hold_w.as_raw_fd());
    // SAFETY: fork in a possibly multi-threaded process; the child only makes
    // async-signal-safe calls (close, unshare, write, read, _exit) on fds and
    // buffers that exist before the fork, and never returns into Rust code.
    let pid = unsafe { libc::fork() };
    if pid == -1 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: see above; only raw syscalls, then _exit.
        unsafe {
            libc::close(hold_w_raw);
            let ok = libc::unshare(libc::CLONE_NEWUSER) == 0;
            let byte: u8 = if ok { b'1' } else { b'0' };
            libc::write(ready_w_raw, &byte as *const u8 as *const libc::c_void, 1);
            let mut buf = 0u8;
            libc::read(hold_r_raw, &mut buf as *mut u8 as *mut libc::c_void, 1);
            libc::_exit(0);
        }
    }
    drop(ready_w);
    drop(hold_r);
    let result = (|| {
        let mut byte = [0u8; 1];
        let n = read_fd(ready_r.as_fd(), &mut byte)?;
        if n != 1 || byte[0] != b'1' {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "could not create a user namespace (unshare CLONE_NEWUSER failed)",
            ));
        }
        if let Some(m) = uid_map {
            std::fs::write(format!("/proc/{pid}/uid_map"), m)?;
        }
        if let Some(m) = gid_map {
            std::fs::write(format!("/proc/{pid}/gid_map"), m)?;
        }
        let f = std::fs::File::open(format!("/proc/{pid}/ns/user"))?;
        Ok(OwnedFd::from(f))
    })();
    drop(hold_w);
    // SAFETY: pid is our own child, not yet reaped; status is a live local.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        let mut status = 0;
        while libc::waitpid(pid, &mut status, 0) == -1
            && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
        {}
    }
    result
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a live array of two ints, as pipe2 requires.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn read_fd(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
