//! System calls. This module is the only place in hostmatch with `unsafe`;
//! every block carries a `// SAFETY:` line. Process-credential calls are
//! behind the [`Credentials`] trait so that the privilege-drop logic can be
//! tested with a recording mock.

use std::io;

pub mod fs;

use crate::ids::Id;
use crate::{Error, Result};

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
}

/// The effective uid of this process.
pub fn geteuid() -> Id {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() }
}
