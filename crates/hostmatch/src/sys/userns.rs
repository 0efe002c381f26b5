//! Entering a user namespace whose uid_map and gid_map the system's setuid
//! helpers newuidmap and newgidmap write (the way rootless engines get the
//! ids of /etc/subuid and /etc/subgid), then proving that the namespace is
//! exactly what was asked and keeping only the capabilities a re-owning walk
//! needs.
//!
//! The helpers are forked before the process leaves its namespace (a setuid
//! program started from inside the new namespace would not gain root: root
//! is not mapped there). Each helper waits on a socket for one byte, then
//! execs the tool with the process's pid and the map. Between fork and exec
//! a helper calls only async-signal-safe functions.

use std::ffi::{CString, OsStr};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::net::{AddressFamily, SendFlags, SocketFlags, SocketType};
use rustix::process::{Pid, WaitOptions};
use rustix::thread::{CapabilitySet, CapabilitySets};

use crate::ids::{Id, IdMap};
use crate::{Error, Result};

/// The capabilities kept in the namespace: change owners, read and search
/// directories whatever their mode, put back modes and setuid/setgid bits
/// (`FOWNER`, `FSETID`) and file capabilities (`SETFCAP`). All of them act
/// only on inodes whose owner and group the namespace maps.
pub fn walk_caps() -> u64 {
    (CapabilitySet::CHOWN
        | CapabilitySet::DAC_READ_SEARCH
        | CapabilitySet::FOWNER
        | CapabilitySet::FSETID
        | CapabilitySet::SETFCAP)
        .bits()
}

/// The two setuid helpers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapTools {
    pub newuidmap: PathBuf,
    pub newgidmap: PathBuf,
}

/// Finds newuidmap and newgidmap in `path` (a `PATH` value, as rootless
/// engines look them up) and checks that each can act for others: setuid
/// root, or file capabilities (some distributions install them that way).
pub fn find_map_tools(path: &OsStr) -> Result<MapTools> {
    Ok(MapTools {
        newuidmap: find_tool("newuidmap", path)?,
        newgidmap: find_tool("newgidmap", path)?,
    })
}

fn find_tool(name: &str, path: &OsStr) -> Result<PathBuf> {
    let found = std::env::split_paths(path)
        .map(|d| d.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file()));
    let Some(p) = found else {
        return Err(Error::Unsupported(format!(
            "{name} not found in PATH: install it (Debian, Ubuntu: apt-get install uidmap; \
Fedora: dnf install shadow-utils)"
        )));
    };
    let m = p.metadata().map_err(|e| Error::io(&p, e))?;
    let setuid_root = m.uid() == 0 && m.permissions().mode() & 0o4000 != 0;
    let has_caps = rustix::fs::getxattr_query(&p, "security.capability").is_ok();
    if !setuid_root && !has_caps {
        return Err(Error::Unsupported(format!(
            "{} is neither setuid root nor has file capabilities, so it cannot set up your \
subordinate ids: reinstall it (apt-get install --reinstall uidmap) or ask the administrator",
            p.display()
        )));
    }
    Ok(p)
}

/// Moves this process (which must have one thread) into a new user
/// namespace with these maps, written by the tools; then checks them
/// ([`verify`]) and keeps only [`walk_caps`]. `own` is the caller's
/// (uid, gid), which the maps must map onto themselves.
pub fn enter(tools: &MapTools, uid_map: &IdMap, gid_map: &IdMap, own: (Id, Id)) -> Result<()> {
    let threads = std::fs::read_dir("/proc/self/task")
        .map_err(|e| Error::io("/proc/self/task", e))?
        .count();
    if threads != 1 {
        return Err(Error::Unsupported(format!(
            "internal: entering a user namespace needs a single-threaded process ({threads} threads)"
        )));
    }
    let ns_before = userns_inode()?;
    let pid = rustix::process::getpid();
    let uid_helper = Helper::spawn(&tools.newuidmap, pid, uid_map)?;
    let gid_helper = Helper::spawn(&tools.newgidmap, pid, gid_map)?;
    // SAFETY: unshare takes a plain flag; the process is single-threaded (checked above).
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } == -1 {
        return Err(unshare_error(std::io::Error::last_os_error()));
    }
    uid_helper.run()?;
    gid_helper.run()?;
    keep_walk_caps()?;
    let seen = observe(ns_before)?;
    verify(uid_map, gid_map, own, walk_caps(), &seen)
}

fn unshare_error(e: std::io::Error) -> Error {
    let hint = match e.raw_os_error() {
        Some(libc::ENOSPC) => {
            ": user namespaces are switched off or used up (/proc/sys/user/max_user_namespaces)"
        }
        Some(libc::EPERM) => {
            ": this system does not let unprivileged users create user namespaces \
(kernel.unprivileged_userns_clone, or an AppArmor/SELinux policy)"
        }
        _ => "",
    };
    Error::Unsupported(format!("creating a user namespace: {e}{hint}"))
}

fn userns_inode() -> Result<u64> {
    let p = "/proc/self/ns/user";
    std::fs::metadata(p)
        .map(|m| m.ino())
        .map_err(|e| Error::io(p, e))
}

/// Capabilities: exactly [`walk_caps`] effective and permitted, none
/// inheritable; and no-new-privileges, so that nothing run later gains any.
fn keep_walk_caps() -> Result<()> {
    let keep = CapabilitySet::from_bits_retain(walk_caps());
    let sets = CapabilitySets {
        effective: keep,
        permitted: keep,
        inheritable: CapabilitySet::empty(),
    };
    let sys = |call, e: rustix::io::Errno| Error::Sys {
        call,
        source: e.into(),
    };
    rustix::thread::set_capabilities(None, sets).map_err(|e| sys("capset", e))?;
    rustix::thread::set_no_new_privs(true).map_err(|e| sys("prctl(PR_SET_NO_NEW_PRIVS)", e))
}

/// What the kernel says about the process after the set-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub uid_map: String,
    pub gid_map: String,
    /// (real, effective, saved).
    pub uids: (Id, Id, Id),
    pub gids: (Id, Id, Id),
    /// Whether /proc/self/ns/user is another namespace than before.
    pub new_namespace: bool,
    /// (effective, permitted) capability bits.
    pub caps: (u64, u64),
}

fn observe(ns_before: u64) -> Result<Observed> {
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| Error::io(p, e));
    let cred = crate::sys::RealCredentials;
    use crate::sys::Credentials;
    let caps = rustix::thread::capabilities(None).map_err(|e| Error::Sys {
        call: "capget",
        source: e.into(),
    })?;
    Ok(Observed {
        uid_map: read("/proc/self/uid_map")?,
        gid_map: read("/proc/self/gid_map")?,
        uids: cred.getresuid(),
        gids: cred.getresgid(),
        new_namespace: userns_inode()? != ns_before,
        caps: (caps.effective.bits(), caps.permitted.bits()),
    })
}

/// Checks the namespace: a new one, maps exactly as asked, the caller's
/// own ids unchanged, and exactly `caps` effective and permitted.
pub fn verify(
    uid_map: &IdMap,
    gid_map: &IdMap,
    own: (Id, Id),
    caps: u64,
    seen: &Observed,
) -> Result<()> {
    let fail = |what: String| Err(Error::Permission(format!("user namespace set-up: {what}")));
    if !seen.new_namespace {
        return fail("the process is still in its old user namespace".into());
    }
    for (name, asked, text) in [
        ("uid_map", uid_map, &seen.uid_map),
        ("gid_map", gid_map, &seen.gid_map),
    ] {
        match IdMap::parse(text) {
            Ok(m) if m == *asked => {}
            _ => {
                return fail(format!(
                    "{name} is {:?}, asked for {:?}",
                    text.trim(),
                    asked.to_string().trim()
                ))
            }
        }
    }
    if seen.uids != (own.0, own.0, own.0) {
        return fail(format!("uids are {:?}, want {}", seen.uids, own.0));
    }
    if seen.gids != (own.1, own.1, own.1) {
        return fail(format!("gids are {:?}, want {}", seen.gids, own.1));
    }
    if seen.caps != (caps, caps) {
        return fail(format!(
            "capabilities are effective {:#x}, permitted {:#x}; want {caps:#x}",
            seen.caps.0, seen.caps.1
        ));
    }
    Ok(())
}

/// A forked helper waiting for the go-ahead to exec a map tool.
struct Helper {
    pid: Pid,
    /// Writing one byte starts the tool; closing it makes the helper exit.
    go: Option<OwnedFd>,
    /// The tool's stdout and stderr.
    out: Option<OwnedFd>,
    /// The command line, for messages.
    shown: String,
}

impl Helper {
    fn spawn(tool: &Path, target: Pid, map: &IdMap) -> Result<Helper> {
        let mut args = vec![
            tool.as_os_str().as_bytes().to_vec(),
            target.to_string().into_bytes(),
        ];
        for e in map.extents() {
            for n in [e.container, e.host, e.count] {
                args.push(n.to_string().into_bytes());
            }
        }
        let shown = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let args: Vec<CString> = args
            .into_iter()
            .map(CString::new)
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Error::invalid(format!("{}: path contains a NUL byte", tool.display())))?;
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let envp: [*const libc::c_char; 1] = [std::ptr::null()];
        let (go_parent, go_child) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| sys_err("socketpair", e))?;
        let (out_r, out_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| sys_err("pipe2", e))?;
        let parent = rustix::process::getpid().as_raw_nonzero().get();
        let fds = ChildFds {
            go: go_child.as_raw_fd(),
            go_other: go_parent.as_raw_fd(),
            out: out_w.as_raw_fd(),
            out_other: out_r.as_raw_fd(),
        };
        // SAFETY: fork duplicates the calling thread only; the child runs
        // `helper_child`, which uses only async-signal-safe calls on values
        // prepared before the fork and never returns.
        let pid = unsafe { libc::fork() };
        match pid {
            -1 => Err(Error::Sys {
                call: "fork",
                source: std::io::Error::last_os_error(),
            }),
            0 => helper_child(fds, parent, &args[0], &argv, &envp),
            pid => Ok(Helper {
                pid: Pid::from_raw(pid).expect("fork returned a positive pid"),
                go: Some(go_parent),
                out: Some(out_r),
                shown,
            }),
        }
    }

    /// Lets the helper exec its tool, waits for it and checks its exit.
    fn run(mut self) -> Result<()> {
        let go = self.go.take().expect("run once");
        let sent = rustix::net::send(&go, b"g", SendFlags::NOSIGNAL);
        drop(go);
        let status = self.wait()?;
        let mut output = String::new();
        if let Some(out) = self.out.take() {
            let _ = std::fs::File::from(out).read_to_string(&mut output);
        }
        let output = output.trim().replace('\n', "; ");
        match (sent, status) {
            (Ok(_), Some(0)) => Ok(()),
            _ => Err(Error::Permission(format!(
                "`{}` failed{}{}",
                self.shown,
                status.map_or_else(|| " (killed)".to_string(), |c| format!(" (exit {c})")),
                if output.is_empty() {
                    String::new()
                } else {
                    format!(": {output}")
                }
            ))),
        }
    }

    /// Reaps the helper: its exit code, `None` when a signal ended it.
    fn wait(&mut self) -> Result<Option<i32>> {
        loop {
            match rustix::process::waitpid(Some(self.pid), WaitOptions::empty()) {
                Ok(Some((_, st))) => return Ok(st.exit_status()),
                Ok(None) => continue,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(sys_err("waitpid", e)),
            }
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if self.go.take().is_some() {
            // Closed without the go-ahead: the helper exits; reap it.
            let _ = self.wait();
        }
    }
}

fn sys_err(call: &'static str, e: rustix::io::Errno) -> Error {
    Error::Sys {
        call,
        source: e.into(),
    }
}

/// Descriptors of a helper, as raw numbers (the child must not run Rust
/// destructors).
#[derive(Clone, Copy)]
struct ChildFds {
    go: RawFd,
    go_other: RawFd,
    out: RawFd,
    out_other: RawFd,
}

/// The forked helper: dies with its parent, sends its output into the pipe,
/// waits for one byte from the parent, then execs the tool with an empty
/// environment. Any failure ends it with status 127.
fn helper_child(
    fds: ChildFds,
    parent: i32,
    path: &CString,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char; 1],
) -> ! {
    // SAFETY: between fork and exec only async-signal-safe functions are
    // called (prctl, getppid, close, dup2, read, write, execve, _exit), on
    // descriptors and C strings that were prepared before the fork and stay
    // alive until exec; nothing allocates or takes a lock.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        if libc::getppid() != parent {
            libc::_exit(127);
        }
        libc::close(fds.go_other);
        libc::close(fds.out_other);
        if libc::dup2(fds.out, 1) == -1 || libc::dup2(fds.out, 2) == -1 {
            libc::_exit(127);
        }
        let mut b = 0u8;
        let n = loop {
            let n = libc::read(fds.go, (&mut b as *mut u8).cast(), 1);
            if n == -1 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            break n;
        };
        if n == 1 && b == b'g' {
            libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            let msg = b"cannot execute the map tool\n";
            libc::write(2, msg.as_ptr().cast(), msg.len());
        }
        libc::_exit(127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Extent;

    fn map(lines: &[(Id, Id, u32)]) -> IdMap {
        IdMap::new(
            lines
                .iter()
                .map(|&(c, h, n)| Extent {
                    container: c,
                    host: h,
                    count: n,
                })
                .collect(),
        )
        .unwrap()
    }

    fn good() -> (IdMap, IdMap, Observed) {
        let u = map(&[(1000, 1000, 1), (100000, 100000, 65536)]);
        let g = map(&[(1000, 1000, 1)]);
        let seen = Observed {
            uid_map: u.to_string(),
            gid_map: g.to_string(),
            uids: (1000, 1000, 1000),
            gids: (1000, 1000, 1000),
            new_namespace: true,
            caps: (walk_caps(), walk_caps()),
        };
        (u, g, seen)
    }

    #[test]
    fn the_namespace_asked_for_passes() {
        let (u, g, seen) = good();
        verify(&u, &g, (1000, 1000), walk_caps(), &seen).unwrap();
    }

    #[test]
    fn a_map_other_than_asked_is_caught() {
        let (u, g, mut seen) = good();
        // One more line than asked (e.g. root mapped by a rogue helper).
        seen.uid_map = map(&[(0, 0, 1), (1000, 1000, 1), (100000, 100000, 65536)]).to_string();
        let e = verify(&u, &g, (1000, 1000), walk_caps(), &seen).unwrap_err();
        assert!(e.to_string().contains("uid_map is"), "{e}");
        let (u, g, mut seen) = good();
        seen.gid_map = String::new();
        let e = verify(&u, &g, (1000, 1000), walk_caps(), &seen).unwrap_err();
        assert!(e.to_string().contains("gid_map is"), "{e}");
    }

    #[test]
    fn the_old_namespace_or_other_ids_or_extra_caps_are_caught() {
        let (u, g, mut seen) = good();
        seen.new_namespace = false;
        assert!(verify(&u, &g, (1000, 1000), walk_caps(), &seen).is_err());
        let (u, g, mut seen) = good();
        seen.uids = (1000, 0, 1000);
        assert!(verify(&u, &g, (1000, 1000), walk_caps(), &seen).is_err());
        let (u, g, mut seen) = good();
        seen.gids = (65534, 65534, 65534);
        assert!(verify(&u, &g, (1000, 1000), walk_caps(), &seen).is_err());
        let (u, g, mut seen) = good();
        seen.caps.1 |= CapabilitySet::SYS_ADMIN.bits();
        let e = verify(&u, &g, (1000, 1000), walk_caps(), &seen).unwrap_err();
        assert!(e.to_string().contains("capabilities"), "{e}");
    }

    #[test]
    fn a_missing_or_unprivileged_tool_is_named() {
        let d = tempfile::tempdir().unwrap();
        let e = find_map_tools(d.path().as_os_str()).unwrap_err();
        assert!(e.to_string().contains("newuidmap not found"), "{e}");
        for t in ["newuidmap", "newgidmap"] {
            std::fs::write(d.path().join(t), "").unwrap();
        }
        let e = find_map_tools(d.path().as_os_str()).unwrap_err();
        assert!(e.to_string().contains("neither setuid root"), "{e}");
    }
}
