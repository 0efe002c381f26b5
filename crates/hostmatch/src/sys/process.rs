//! Process-level system calls for the entrypoint: mount flags, umask,
//! signal blocking and waiting, killing and reaping children.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::check;
use crate::{Error, Result};

/// `ST_NOSUID` and `ST_RDONLY` of the filesystem holding `path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountFlags {
    pub nosuid: bool,
    pub rdonly: bool,
}

/// The mount flags of the filesystem holding `path` (statvfs).
pub fn mount_flags(path: &Path) -> Result<MountFlags> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(format!("{}: path contains NUL", path.display())))?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated string and `st` a live, writable struct.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc == -1 {
        return Err(Error::io(path, io::Error::last_os_error()));
    }
    Ok(MountFlags {
        nosuid: st.f_flag & libc::ST_NOSUID != 0,
        rdonly: st.f_flag & libc::ST_RDONLY != 0,
    })
}

/// Sets the file mode creation mask; returns the previous one.
pub fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask only swaps an integer in the process; it cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

fn full_set() -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is a valid value; sigfillset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live, writable sigset_t.
    unsafe { libc::sigfillset(&mut set) };
    set
}

/// Blocks every signal in the calling thread (the process is single-threaded
/// when this is used), so that they wait for [`wait_signal`]. Children
/// inherit the mask: see [`unblock_signals_in_child`].
pub fn block_all_signals() -> Result<()> {
    let set = full_set();
    // SAFETY: `set` is an initialised sigset_t; the old mask is not wanted.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(Error::Sys {
            call: "pthread_sigmask",
            source: io::Error::from_raw_os_error(rc),
        });
    }
    Ok(())
}

/// Makes `cmd`'s child start with no blocked signal (the init loop blocks
/// them all in the parent, and the child would inherit that mask).
pub fn unblock_signals_in_child(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls
    // sigemptyset and sigprocmask, which are async-signal-safe; it touches
    // no lock and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Waits for the next (blocked) signal and returns its number.
pub fn wait_signal() -> Result<i32> {
    let set = full_set();
    loop {
        // SAFETY: `set` is an initialised sigset_t; no siginfo is requested.
        let rc = unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) };
        if rc >= 0 {
            return Ok(rc);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(Error::Sys {
                call: "sigwaitinfo",
                source: e,
            });
        }
    }
}

/// Sends `sig` to `pid` (errors such as "no such process" are ignored: the
/// child may just have exited).
pub fn send_signal(pid: i32, sig: i32) {
    // SAFETY: plain integer arguments.
    let _ = unsafe { libc::kill(pid, sig) };
}

/// How a reaped child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    Code(i32),
    Signal(i32),
}

impl ChildExit {
    /// The shell convention: the code, or 128 + the signal.
    pub fn as_status(self) -> i32 {
        match self {
            ChildExit::Code(c) => c,
            ChildExit::Signal(s) => 128 + s,
        }
    }
}

/// Reaps one exited child without blocking: `None` when none has exited.
pub fn reap_any() -> Result<Option<(i32, ChildExit)>> {
    let mut status = 0;
    // SAFETY: `status` is a live, writable int.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ECHILD) {
            return Ok(None);
        }
        return Err(Error::Sys {
            call: "waitpid",
            source: e,
        });
    }
    if pid == 0 {
        return Ok(None);
    }
    let exit = if libc::WIFSIGNALED(status) {
        ChildExit::Signal(libc::WTERMSIG(status))
    } else {
        ChildExit::Code(libc::WEXITSTATUS(status))
    };
    Ok(Some((pid, exit)))
}

/// Tries `setuid(0)`; true when it succeeded (which after a drop is a bug).
pub fn setuid_root_succeeds() -> bool {
    // SAFETY: plain integer argument.
    unsafe { libc::setuid(0) == 0 }
}

/// The supplementary groups of the process.
pub fn getgroups() -> Result<Vec<crate::ids::Id>> {
    // SAFETY: a zero size asks only for the count; the pointer is not used.
    let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    check("getgroups", n)?;
    let mut v = vec![0; n as usize];
    // SAFETY: `v` has room for `n` gid_t values.
    let n = unsafe { libc::getgroups(n, v.as_mut_ptr()) };
    check("getgroups", n)?;
    v.truncate(n as usize);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_flags_agree_with_mountinfo() {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        for mp in ["/proc", "/"] {
            // The last mount at that point wins (over-mounts come later).
            let opts = info
                .lines()
                .rfind(|l| l.split(' ').nth(4) == Some(mp))
                .map(|l| l.split(' ').nth(5).unwrap().to_string())
                .unwrap();
            let f = mount_flags(Path::new(mp)).unwrap();
            let has = |o: &str| opts.split(',').any(|x| x == o);
            assert_eq!(f.nosuid, has("nosuid"), "{mp}: {opts}");
            assert_eq!(f.rdonly, has("ro"), "{mp}: {opts}");
        }
    }

    #[test]
    fn umask_round_trips() {
        let old = set_umask(0o027);
        assert_eq!(set_umask(old), 0o027);
    }

    #[test]
    fn child_exit_status_follows_the_shell_convention() {
        assert_eq!(ChildExit::Code(3).as_status(), 3);
        assert_eq!(ChildExit::Signal(15).as_status(), 143);
    }

    #[test]
    fn getgroups_matches_proc_status() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Groups:")).unwrap();
        let mut want: Vec<u32> = line[7..]
            .split_whitespace()
            .map(|g| g.parse().unwrap())
            .collect();
        let mut got = getgroups().unwrap();
        want.sort();
        got.sort();
        assert_eq!(got, want);
    }
}
