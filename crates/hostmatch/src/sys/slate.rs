//! A clean slate: for a privileged process's children (the entrypoint's
//! hooks: only fds 0-2, default signal dispositions, no blocked signal, a
//! session of their own without a controlling terminal) and for the process
//! itself (an empty environment, whatever the caller put in it).

use std::io;
use std::process::Command;

/// Signals are 1..NSIG (64 on Linux, plus one).
const NSIG: libc::c_int = 65;

/// Makes the child of `cmd` start on a clean slate, whatever this process
/// inherited from its caller: every file descriptor but 0, 1 and 2 is closed
/// on exec, every signal has its default action and none is blocked, and the
/// child leads a new session, so it has no controlling terminal (terminal
/// signals from the caller's session cannot reach it).
pub fn clean_slate(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes async-signal-safe system calls (sigaction, sigprocmask, setsid,
    // close_range/fcntl, getrlimit) on its own stack; it allocates nothing
    // and takes no lock.
    unsafe {
        cmd.pre_exec(|| {
            reset_signals();
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) == -1 {
                return Err(io::Error::last_os_error());
            }
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            cloexec_from_3()
        });
    }
}

/// Every catchable signal back to its default action (in the child, before
/// exec: ignored signals would otherwise stay ignored across exec).
///
/// # Safety
/// Async-signal-safe: sigaction only.
unsafe fn reset_signals() {
    let mut dfl: libc::sigaction = std::mem::zeroed();
    dfl.sa_sigaction = libc::SIG_DFL;
    for sig in 1..NSIG {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // Signals reserved by the C library fail with EINVAL: fine.
        libc::sigaction(sig, &dfl, std::ptr::null_mut());
    }
}

/// Marks every descriptor from 3 up close-on-exec: `close_range(3, ~0,
/// CLOSE_RANGE_CLOEXEC)` (Linux 5.11), else `fcntl` on each descriptor below
/// the open-file limit. (Not closed: the standard library reports a failed
/// exec through a close-on-exec pipe of its own.)
///
/// # Safety
/// Async-signal-safe: raw system calls only.
unsafe fn cloexec_from_3() -> io::Result<()> {
    let rc = libc::syscall(
        libc::SYS_close_range,
        3 as libc::c_uint,
        libc::c_uint::MAX,
        libc::CLOSE_RANGE_CLOEXEC,
    );
    if rc == 0 {
        return Ok(());
    }
    let mut lim: libc::rlimit = std::mem::zeroed();
    let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
        lim.rlim_cur.min(1 << 20) as libc::c_int
    } else {
        1 << 16
    };
    for fd in 3..max {
        // EBADF for descriptors that are not open: fine.
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    Ok(())
}

/// Empties this process's environment without looking at its entries (an
/// entry whose name holds `=` makes `std::env::remove_var` panic). Refused
/// (returns an error, changes nothing) when the process has more than one
/// thread, since another thread could be reading the environment.
pub fn clear_environment() -> io::Result<()> {
    let threads = std::fs::read_dir("/proc/self/task")?.count();
    if threads != 1 {
        return Err(io::Error::other(format!(
            "{threads} threads: the environment cannot be cleared safely"
        )));
    }
    // SAFETY: the process has one thread (checked above, and this thread is
    // not creating another), so nothing reads the environment concurrently;
    // clearenv only resets `environ`.
    if unsafe { libc::clearenv() } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// Runs `prog args` on a clean slate; its stdout.
    fn run_clean(prog: &str, args: &[&str]) -> String {
        let mut cmd = Command::new(prog);
        cmd.args(args).stdin(std::process::Stdio::null());
        clean_slate(&mut cmd);
        String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned()
    }

    #[test]
    fn child_gets_no_extra_fd_no_blocked_signal_and_its_own_session() {
        // An inherited descriptor (no close-on-exec) and every signal blocked
        // in this (test) process.
        let f = std::fs::File::open("/proc/self/status").unwrap();
        let fd = rustix::io::dup(&f).unwrap();
        crate::sys::process::block_all_signals().unwrap();
        // The programs report their own state (no shell in between, whose
        // own signal handling would show instead).
        let fds = run_clean("ls", &["/proc/self/fd"]);
        let fd = fd.as_raw_fd().to_string();
        assert!(!fds.lines().any(|l| l == fd), "fd {fd} inherited: {fds}");
        let status = run_clean("cat", &["/proc/self/status"]);
        assert!(status.contains("SigBlk:\t0000000000000000"), "{status}");
        let stat = run_clean("cat", &["/proc/self/stat"]);
        let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let pid = stat.split(' ').next().unwrap();
        assert_eq!(f[3], pid, "session leader: {stat}");
        assert_eq!(f[4], "0", "no controlling terminal: {stat}");
    }
}
