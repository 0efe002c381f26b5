//! Locks taken around every edit of system files, compatible with
//! shadow-utils' tools (see [`crate::sys::lock`] for the protocol):
//!
//! 1. `etc/.pwd.lock` (glibc's `lckpwdf()`), when any account or subid file
//!    is edited. shadow's tools take it first, before any `FILE.lock`, so it
//!    serializes hostmatch with useradd, usermod, groupadd, ... whatever
//!    order each tool then takes its `FILE.lock`s in;
//! 2. `FILE.lock` for every file of the edit, in usermod's order: passwd,
//!    shadow, group, gshadow, subuid, subgid, then any other file (daemon.json)
//!    by name. With `useradd --prefix DIR` shadow takes only these (in
//!    `DIR/etc`); with `--root DIR` it takes both inside `DIR` (it chroots
//!    first). hostmatch `--root DIR` takes both inside `DIR`, like `--root`.
//!
//! Waiting is bounded (15 s, like `lckpwdf`; `HOSTMATCH_LOCK_TIMEOUT`
//! seconds overrides it): a lock still held then is an [`Error::Busy`] that
//! names the file and the holder.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::sys::lock::{self as syslock, Held, LinkLock, PwdLock};
use crate::sysroot::{paths, Sysroot};
use crate::{Error, Result};

/// The account and subid files, in the order usermod locks them.
pub const SHADOW_ORDER: [&str; 6] = [
    paths::PASSWD,
    paths::SHADOW,
    paths::GROUP,
    paths::GSHADOW,
    paths::SUBUID,
    paths::SUBGID,
];

/// The default bound on waiting for a lock.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(15);

/// The wait bound: `HOSTMATCH_LOCK_TIMEOUT` (seconds) or [`DEFAULT_WAIT`].
pub fn wait_bound() -> Duration {
    std::env::var("HOSTMATCH_LOCK_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(DEFAULT_WAIT, Duration::from_secs_f64)
}

/// Held locks; released (lock files removed, then `.pwd.lock`) on drop.
#[derive(Debug)]
pub struct Locks {
    // Fields drop in order: the FILE.lock links first, then .pwd.lock.
    _links: Vec<LinkLock>,
    _pwd: Option<PwdLock>,
}

/// `files` (relative to the root) in locking order, without duplicates.
pub fn lock_order(files: &[String]) -> Vec<String> {
    let rank = |f: &str| {
        SHADOW_ORDER
            .iter()
            .position(|s| *s == f)
            .unwrap_or(usize::MAX)
    };
    let mut v: Vec<String> = files.to_vec();
    v.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    v.dedup();
    v
}

/// Takes the locks for editing `files` below `root`, waiting at most `wait`.
pub fn acquire(root: &Sysroot, files: &[String], wait: Duration) -> Result<Locks> {
    let deadline = Instant::now() + wait;
    let order = lock_order(files);
    let pwd = if order.iter().any(|f| SHADOW_ORDER.contains(&f.as_str())) {
        lock_pwd(root, deadline, wait)?
    } else {
        None
    };
    let mut links = Vec::new();
    for f in &order {
        links.extend(lock_file(root, f, deadline, wait)?);
    }
    Ok(Locks {
        _links: links,
        _pwd: pwd,
    })
}

fn split(rel: &str) -> (&str, &str) {
    match rel.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", rel),
    }
}

/// Takes `etc/.pwd.lock`; `None` when the root has no `etc` (nothing to lock).
fn lock_pwd(root: &Sysroot, deadline: Instant, wait: Duration) -> Result<Option<PwdLock>> {
    let lock_path = root.path("etc/.pwd.lock");
    let etc = match crate::sys::resolve::open_dir_in_root(root.root(), "etc") {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(crate::fsedit::io_error(&root.path("etc"), e)),
    };
    loop {
        match syslock::try_lock_pwd(std::os::fd::AsFd::as_fd(&etc)) {
            Ok(Ok(l)) => return Ok(Some(l)),
            Ok(Err(pid)) if Instant::now() >= deadline => {
                return Err(busy(root, &lock_path, "the account files", pid, wait))
            }
            Ok(Err(_)) => pause(),
            Err(e) => return Err(crate::fsedit::io_error(&lock_path, e)),
        }
    }
}

/// Takes `rel.lock`; `None` when the file's directory does not exist (no
/// lock is made there: creating the directory is left to the edit itself).
fn lock_file(
    root: &Sysroot,
    rel: &str,
    deadline: Instant,
    wait: Duration,
) -> Result<Option<LinkLock>> {
    let (dir_rel, name) = split(rel);
    let lock_path = root.path(&format!("{rel}.lock"));
    let dir = match crate::sys::resolve::open_dir_in_root(root.root(), dir_rel) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(crate::fsedit::io_error(&root.path(dir_rel), e)),
    };
    loop {
        match syslock::try_link_lock(&dir, name) {
            Ok(Ok(l)) => return Ok(Some(l)),
            Ok(Err(Held::ByPid(pid))) if Instant::now() >= deadline => {
                return Err(busy(
                    root,
                    &lock_path,
                    &root.path(rel).display().to_string(),
                    pid,
                    wait,
                ))
            }
            Ok(Err(Held::ByPid(_))) => pause(),
            Ok(Err(Held::Unreadable(msg))) => {
                return Err(Error::Busy(format!(
                    "{msg}; remove {} if no tool is editing {}",
                    lock_path.display(),
                    root.path(rel).display()
                )))
            }
            Err(e) => return Err(crate::fsedit::io_error(&lock_path, e)),
        }
    }
}

fn pause() {
    std::thread::sleep(Duration::from_millis(20));
}

/// The command name of a process (`/proc/PID/comm`), for messages.
fn process_name(root: &Sysroot, pid: u32) -> Option<String> {
    let comm = root.read_proc(&format!("{pid}/comm")).ok()?;
    Some(crate::escape::line(comm.trim_end().as_bytes()).into_owned())
}

fn busy(root: &Sysroot, lock: &Path, what: &str, pid: u32, wait: Duration) -> Error {
    let holder = match (pid, process_name(root, pid)) {
        (0, _) => "another process".to_string(),
        (p, Some(name)) => format!("{name} (pid {p})"),
        (p, None) => format!("pid {p}"),
    };
    Error::Busy(format!(
        "{what} locked by {holder} ({}); gave up after {:.0} s; nothing written, try again when it has finished",
        lock.display(),
        wait.as_secs_f64()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_locked_in_usermods_order() {
        let files: Vec<String> = [
            "etc/docker/daemon.json",
            "etc/subgid",
            "etc/group",
            "etc/passwd",
            "etc/gshadow",
            "etc/subuid",
            "etc/shadow",
            "etc/passwd",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            lock_order(&files),
            [
                "etc/passwd",
                "etc/shadow",
                "etc/group",
                "etc/gshadow",
                "etc/subuid",
                "etc/subgid",
                "etc/docker/daemon.json"
            ]
        );
    }

    #[test]
    fn a_held_file_lock_is_busy_and_names_the_holder() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        let root = Sysroot::new(d.path());
        let files = vec![paths::SUBUID.to_string()];
        let held = acquire(&root, &files, Duration::ZERO).unwrap();
        assert!(d.path().join("etc/.pwd.lock").exists());
        assert!(d.path().join("etc/subuid.lock").exists());
        // POSIX locks do not conflict within one process; the link lock does.
        let e = acquire(&root, &files, Duration::from_millis(50)).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Busy(_)), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("subuid.lock"), "{msg}");
        drop(held);
        assert!(!d.path().join("etc/subuid.lock").exists());
        drop(acquire(&root, &files, Duration::ZERO).unwrap());
    }
}
