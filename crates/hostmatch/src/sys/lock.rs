//! The two locks shadow-utils' tools (useradd, usermod, groupadd, passwd,
//! vipw, ...) take before they edit an account file, taken here the same way
//! so that hostmatch and those tools never edit a file at the same time:
//!
//! - `/etc/.pwd.lock` with a whole-file POSIX write lock (`fcntl(F_SETLK)`),
//!   glibc's `lckpwdf()`; released by the kernel when the process ends;
//! - `FILE.lock` next to each file: a hard link to a temporary file holding
//!   the holder's pid (`link(2)` is atomic: it fails when the lock exists).
//!   A lock whose pid is no longer running is stale and is removed, as shadow
//!   does.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};

/// A held `/etc/.pwd.lock` (released when dropped: the descriptor is closed).
#[derive(Debug)]
pub struct PwdLock(#[allow(dead_code)] OwnedFd);

/// Opens (creating it, mode 0600, like glibc) the `.pwd.lock` file in the
/// directory `etc` and tries once to take the write lock. `Ok(Err(pid))`: held
/// by that process (0 when the kernel does not say).
pub fn try_lock_pwd(etc: BorrowedFd<'_>) -> io::Result<Result<PwdLock, u32>> {
    let fd = rustix::fs::openat(
        etc,
        ".pwd.lock",
        OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NOCTTY,
        Mode::from_raw_mode(0o600),
    )?;
    match rustix::fs::fcntl_lock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Ok(PwdLock(fd))),
        Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::ACCESS) => {
            Ok(Err(fcntl_lock_holder(fd.as_fd())?.unwrap_or(0)))
        }
        Err(e) => Err(e.into()),
    }
}

/// The pid holding a conflicting POSIX lock on the file (`F_GETLK`).
pub fn fcntl_lock_holder(fd: BorrowedFd<'_>) -> io::Result<Option<u32>> {
    // SAFETY: an all-zero flock is a valid value of this plain C struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: F_GETLK reads and writes the flock struct we pass, which lives for the call.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETLK, &mut fl) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    if fl.l_type == libc::F_UNLCK as libc::c_short {
        return Ok(None);
    }
    Ok(u32::try_from(fl.l_pid).ok().filter(|&p| p > 0))
}

/// Whether a process with this pid exists (shadow's `kill(pid, 0)` test).
pub fn pid_alive(pid: u32) -> bool {
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(p),
        Err(rustix::io::Errno::SRCH)
    )
}

/// A held `FILE.lock` link (removed when dropped).
#[derive(Debug)]
pub struct LinkLock {
    dir: OwnedFd,
    lock_name: CString,
}

impl Drop for LinkLock {
    fn drop(&mut self) {
        let _ = rustix::fs::unlinkat(&self.dir, self.lock_name.as_c_str(), AtFlags::empty());
    }
}

/// Why a `FILE.lock` could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// A running process holds it.
    ByPid(u32),
    /// The lock file holds no pid: shadow's tools refuse it too.
    Unreadable(String),
}

/// The name of the temporary file hostmatch links to `name.lock`.
pub fn lock_temp_name(name: &str, pid: u32) -> String {
    format!(".{name}.lock.hostmatch-{pid}")
}

/// Tries once to take `name.lock` in `dir` (removing a stale lock of a dead
/// pid first). `Ok(Err(..))`: held.
pub fn try_link_lock(dir: &OwnedFd, name: &str) -> io::Result<Result<LinkLock, Held>> {
    let pid = std::process::id();
    let tmp = CString::new(lock_temp_name(name, pid)).map_err(io::Error::other)?;
    let lock_name = CString::new(format!("{name}.lock")).map_err(io::Error::other)?;
    let _ = rustix::fs::unlinkat(dir, tmp.as_c_str(), AtFlags::empty());
    let fd = rustix::fs::openat(
        dir,
        tmp.as_c_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o600),
    )?;
    let result = link_with_temp(dir, &fd, &tmp, &lock_name, pid);
    let _ = rustix::fs::unlinkat(dir, tmp.as_c_str(), AtFlags::empty());
    result
}

fn link_with_temp(
    dir: &OwnedFd,
    fd: &OwnedFd,
    tmp: &CString,
    lock_name: &CString,
    pid: u32,
) -> io::Result<Result<LinkLock, Held>> {
    // shadow writes the decimal pid and its NUL.
    let mut f = std::fs::File::from(fd.try_clone()?);
    f.write_all(format!("{pid}\0").as_bytes())?;
    rustix::fs::fdatasync(fd)?;
    for attempt in 0..2 {
        match rustix::fs::linkat(
            dir,
            tmp.as_c_str(),
            dir,
            lock_name.as_c_str(),
            AtFlags::empty(),
        ) {
            Ok(()) => {
                let st = rustix::fs::fstat(fd)?;
                if st.st_nlink != 2 {
                    return Ok(Err(Held::Unreadable(format!(
                        "{}: lock file already used (link count {})",
                        lock_name.to_string_lossy(),
                        st.st_nlink
                    ))));
                }
                let dir = dir.try_clone()?;
                return Ok(Ok(LinkLock {
                    dir,
                    lock_name: lock_name.clone(),
                }));
            }
            Err(rustix::io::Errno::EXIST) if attempt == 0 => match stale_or_holder(dir, lock_name)?
            {
                Some(held) => return Ok(Err(held)),
                None => continue,
            },
            Err(rustix::io::Errno::EXIST) => match stale_or_holder(dir, lock_name)? {
                Some(held) => return Ok(Err(held)),
                None => return Ok(Err(Held::ByPid(0))),
            },
            Err(e) => return Err(e.into()),
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// Reads an existing lock: `Some(held)` when it is live or unreadable; `None`
/// when its pid is dead and the lock was removed.
fn stale_or_holder(dir: &OwnedFd, lock_name: &CString) -> io::Result<Option<Held>> {
    let fd = match rustix::fs::openat(
        dir,
        lock_name.as_c_str(),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // Released between our link and our open: try again.
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut buf = Vec::with_capacity(32);
    std::fs::File::from(fd.try_clone()?)
        .take(31)
        .read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let digits = text.trim_end_matches(['\0', '\n', ' ']);
    let Some(pid) = digits.parse::<u32>().ok().filter(|&p| p > 0) else {
        return Ok(Some(Held::Unreadable(format!(
            "{}: existing lock file without a valid pid ('{}')",
            lock_name.to_string_lossy(),
            crate::escape::line(digits.as_bytes())
        ))));
    };
    if pid_alive(pid) {
        return Ok(Some(Held::ByPid(pid)));
    }
    // Remove the stale lock only if it is still the file we read.
    let ours = rustix::fs::fstat(&fd)?;
    match rustix::fs::statat(dir, lock_name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(now) if now.st_ino == ours.st_ino && now.st_dev == ours.st_dev => {
            match rustix::fs::unlinkat(dir, lock_name.as_c_str(), AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> (tempfile::TempDir, OwnedFd) {
        let d = tempfile::tempdir().unwrap();
        let fd =
            rustix::fs::open(d.path(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        (d, fd)
    }

    #[test]
    fn link_lock_holds_our_pid_and_is_removed_on_drop() {
        let (d, fd) = dir();
        let l = try_link_lock(&fd, "subuid").unwrap().unwrap();
        let content = std::fs::read(d.path().join("subuid.lock")).unwrap();
        assert_eq!(content, format!("{}\0", std::process::id()).as_bytes());
        // A second attempt sees our live pid.
        assert_eq!(
            try_link_lock(&fd, "subuid").unwrap().unwrap_err(),
            Held::ByPid(std::process::id())
        );
        drop(l);
        assert!(!d.path().join("subuid.lock").exists());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn stale_lock_of_a_dead_pid_is_taken_over() {
        let (d, fd) = dir();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        std::fs::write(d.path().join("passwd.lock"), format!("{dead}\0")).unwrap();
        let _l = try_link_lock(&fd, "passwd").unwrap().unwrap();
        let content = std::fs::read(d.path().join("passwd.lock")).unwrap();
        assert_eq!(content, format!("{}\0", std::process::id()).as_bytes());
    }

    #[test]
    fn lock_without_a_pid_is_refused() {
        let (d, fd) = dir();
        std::fs::write(d.path().join("group.lock"), "").unwrap();
        assert!(matches!(
            try_link_lock(&fd, "group").unwrap(),
            Err(Held::Unreadable(_))
        ));
    }
}
