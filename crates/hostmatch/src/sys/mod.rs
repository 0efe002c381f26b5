//! System calls. This module is the only place in hostmatch with `unsafe`;
//! every block carries a `// SAFETY:` line. Process-credential calls are
//! behind the [`Credentials`] trait so that the privilege-drop logic can be
//! tested with a recording mock.

use std::io;

pub mod fs;

use crate::ids::Id;
use crate::{Error, Result};

pub mod process;
pub mod slate;
pub mod userns;

fn check(call: &'static str, rc: libc::c_int) -> Result<()> {
    if rc == -1 {
        Err(Error::Sys {
            call,
            source: io::Error::last_os_error(),
        })
    } else {
        Ok(())
    }
}

/// Process credentials, as the kernel sees them.
pub trait Credentials {
    fn setgroups(&mut self, groups: &[Id]) -> Result<()>;
    fn setresgid(&mut self, gid: Id) -> Result<()>;
    fn setresuid(&mut self, uid: Id) -> Result<()>;
    /// (real, effective, saved) uid.
    fn getresuid(&self) -> (Id, Id, Id);
    /// (real, effective, saved) gid.
    fn getresgid(&self) -> (Id, Id, Id);
    /// The supplementary groups.
    fn getgroups(&self) -> Result<Vec<Id>>;
    /// Tries to become root again (`setuid(0)`); true when that succeeded.
    fn regain_root_succeeds(&mut self) -> bool;
    /// (effective, permitted) capability sets as bit masks.
    fn capabilities(&self) -> Result<(u64, u64)>;
}

/// The running process's credentials.
#[derive(Debug, Default)]
pub struct RealCredentials;

impl Credentials for RealCredentials {
    fn setgroups(&mut self, groups: &[Id]) -> Result<()> {
        // SAFETY: the pointer and length come from a valid slice of gid_t-sized ids.
        let rc = unsafe { libc::setgroups(groups.len(), groups.as_ptr()) };
        check("setgroups", rc)
    }

    fn setresgid(&mut self, gid: Id) -> Result<()> {
        // SAFETY: plain integer arguments.
        let rc = unsafe { libc::setresgid(gid, gid, gid) };
        check("setresgid", rc)
    }

    fn setresuid(&mut self, uid: Id) -> Result<()> {
        // SAFETY: plain integer arguments.
        let rc = unsafe { libc::setresuid(uid, uid, uid) };
        check("setresuid", rc)
    }

    fn getresuid(&self) -> (Id, Id, Id) {
        let (mut r, mut e, mut s) = (0, 0, 0);
        // SAFETY: the three pointers are to live, writable locals.
        unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
        (r, e, s)
    }

    fn getresgid(&self) -> (Id, Id, Id) {
        let (mut r, mut e, mut s) = (0, 0, 0);
        // SAFETY: the three pointers are to live, writable locals.
        unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
        (r, e, s)
    }

    fn getgroups(&self) -> Result<Vec<Id>> {
        process::getgroups()
    }

    fn regain_root_succeeds(&mut self) -> bool {
        process::setuid_root_succeeds()
    }

    fn capabilities(&self) -> Result<(u64, u64)> {
        let p = "/proc/self/status";
        let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
        let st = crate::procfs::ProcStatus::parse(&text)
            .ok_or_else(|| Error::invalid(format!("{p}: no CapEff/CapPrm lines")))?;
        Ok((st.cap_eff, st.cap_prm))
    }
}

/// The effective uid of this process.
pub fn geteuid() -> Id {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() }
}

pub mod lock;
pub mod mount;
pub mod resolve;
pub mod writeback;
/// Whether this process may write `path` (or create it, when it does not
/// exist, in its parent directory), by the kernel's access check.
pub fn can_write(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let target = if path.exists() {
        path.to_path_buf()
    } else {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        }
    };
    let Ok(c) = std::ffi::CString::new(target.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Restores the default SIGPIPE action, so that a CLI whose output pipe is
/// closed (`hostmatch ... | head`) ends quietly instead of failing to print.
pub fn reset_sigpipe() {
    // SAFETY: setting a standard signal's disposition to SIG_DFL has no memory effects.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Ignores SIGPIPE, so that a server whose client has gone gets EPIPE from
/// its write instead of being killed.
pub fn ignore_sigpipe() {
    // SAFETY: setting a standard signal's disposition to SIG_IGN has no memory effects.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}
