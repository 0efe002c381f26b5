//! Processes and mounts that belong to a harness directory: finding, stopping and
//! unmounting them, and sweeping up what killed test runs left behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

/// Whether process `pid` exists and is not a zombie.
pub(crate) fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the command, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
            .unwrap_or(false),
        Err(_) => false,
    }
}

pub(crate) fn signal(pid: i32, sig: Signal) {
    if let Some(p) = Pid::from_raw(pid) {
        let _ = kill_process(p, sig);
    }
}

/// The command line of `pid`, arguments joined by spaces ("" when gone).
pub(crate) fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Processes (other than us) whose command line mentions `needle`.
pub(crate) fn pids_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    all_pids()
        .into_iter()
        .filter(|&pid| pid != me && pid_alive(pid) && cmdline(pid).contains(needle))
        .collect()
}

/// Whether the command line or the environment of `pid` contains `needle`.
pub(crate) fn names(pid: i32, needle: &str) -> bool {
    let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    cmdline(pid).contains(needle) || String::from_utf8_lossy(&environ).contains(needle)
}

/// Live processes (other than us) whose command line or environment contains `needle`.
pub(crate) fn pids_naming(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    all_pids()
        .into_iter()
        .filter(|&pid| pid != me && pid_alive(pid) && names(pid, needle))
        .collect()
}

/// Live processes whose real uid is `uid` (other than us).
pub(crate) fn pids_of_uid(uid: u32) -> Vec<i32> {
    let me = std::process::id() as i32;
    all_pids()
        .into_iter()
        .filter(|&pid| pid != me && pid_alive(pid) && real_uid(pid) == Some(uid))
        .collect()
}

/// The real uid of `pid` (from `/proc/PID/status`).
fn real_uid(pid: i32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The mount namespace of `pid`, as `/proc/PID/ns/mnt` names it (`mnt:[4026532834]`).
pub(crate) fn mount_ns(pid: i32) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|l| l.to_string_lossy().into_owned())
}

/// Live processes (other than us) in mount namespace `ns` (as [`mount_ns`] names it).
pub(crate) fn pids_in_mount_ns(ns: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    all_pids()
        .into_iter()
        .filter(|&pid| pid != me && pid_alive(pid) && mount_ns(pid).as_deref() == Some(ns))
        .collect()
}

/// The start time of `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`).
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts with field 3 (the state): field 22 is its 20th.
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn all_pids() -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// SIGKILLs `pids`.
pub(crate) fn kill_pids(pids: &[i32]) {
    for &p in pids {
        signal(p, Signal::KILL);
    }
}

/// Sends SIGTERM to `pids`, waits up to `grace`, then SIGKILLs the survivors.
pub(crate) fn stop_pids(pids: &[i32], grace: Duration) {
    for &p in pids {
        signal(p, Signal::TERM);
    }
    let deadline = Instant::now() + grace;
    while pids.iter().any(|&p| pid_alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for &p in pids.iter().filter(|&&p| pid_alive(p)) {
        signal(p, Signal::KILL);
    }
}

/// Decodes the octal escapes (`\040` for a space) of /proc/self/mountinfo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let digits = std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(digits, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points at or below `dir`, deepest first.
pub(crate) fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .filter(|m| m.starts_with(dir))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    v.dedup();
    v
}

/// Detaches every mount at or below `dir` (a few rounds, for stacked mounts).
pub(crate) fn unmount_all_under(dir: &Path) {
    for _ in 0..5 {
        let mounts = mounts_under(dir);
        if mounts.is_empty() {
            return;
        }
        for m in mounts {
            let _ = rustix::mount::unmount(&m, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

/// Stops every process mentioning `dir`, unmounts everything below it and removes it.
/// Returns an error message when the directory could not be removed.
pub(crate) fn teardown_dir(dir: &Path) -> Result<(), String> {
    let needle = dir.to_string_lossy().into_owned();
    let pids = pids_mentioning(&needle);
    if !pids.is_empty() {
        stop_pids(&pids, Duration::from_secs(5));
    }
    unmount_all_under(dir);
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => {
            // A mount may have appeared while removing (a dying shim): one more round.
            unmount_all_under(dir);
            fs::remove_dir_all(dir).map_err(|e2| format!("{}: {e}; then {e2}", dir.display()))
        }
    }
}

/// The pid recorded in `file` (first line), if any.
pub(crate) fn read_pid(file: &Path) -> Option<i32> {
    fs::read_to_string(file)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The pid in a harness name `PREFIX-<pid>-<n>`.
pub(crate) fn pid_in_name(name: &str, prefix: &str) -> Option<i32> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/end\"), "/end\\");
    }

    #[test]
    fn harness_names_give_their_pid() {
        assert_eq!(pid_in_name("hmt-123-4", "hmt"), Some(123));
        assert_eq!(pid_in_name("hmt-123", "hmt"), None);
        assert_eq!(pid_in_name("other-123-4", "hmt"), None);
        assert_eq!(pid_in_name("hmt-x-4", "hmt"), None);
    }

    #[test]
    fn our_own_process_has_a_uid_a_mount_namespace_and_a_start_time() {
        let me = std::process::id() as i32;
        let uid = rustix::process::getuid().as_raw();
        assert!(real_uid(me) == Some(uid));
        let ns = mount_ns(me).expect("own mount namespace");
        assert!(ns.starts_with("mnt:["), "{ns}");
        assert!(start_time(me).is_some_and(|t| t > 0));
        assert!(start_time(0).is_none());
    }

    #[test]
    fn our_own_process_is_alive_and_pid_zero_is_not() {
        assert!(pid_alive(std::process::id() as i32));
        assert!(!pid_alive(0));
    }
}
