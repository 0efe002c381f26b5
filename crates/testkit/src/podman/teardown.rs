//! Removing a Podman fixture, on drop or after its test process was killed.
//!
//! Every process of a fixture is found without trusting Podman: every process whose
//! command line or environment names its directory, the processes in its mount namespace
//! (rootful: Podman, conmon, the API service), the processes of its test user (rootless:
//! the same, and the pause process), the init process of every container in its runc state
//! directories (`state.json`, checked against the process's start time; killing a
//! container's init ends its PID namespace) and what is left in the containers' cgroups
//! (rootful). All get SIGKILL, then the containers' cgroups and the directory are removed.
//! Mounts vanish with the namespaces that held them.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::procs;

/// A container as runc records it: its init process and cgroups.
struct RuncState {
    init: Option<i32>,
    cgroups: Vec<PathBuf>,
}

/// Reads `<root>/<id>/state.json` of every container in the runc state directories of
/// fixture `dir` (rootful: `runc/`, rootless: `run/runc/`, runc's `$XDG_RUNTIME_DIR/runc`).
fn runc_states(dir: &Path) -> Vec<RuncState> {
    let mut out = Vec::new();
    for root in [dir.join("runc"), dir.join("run/runc")] {
        for e in fs::read_dir(&root).into_iter().flatten().flatten() {
            let Ok(text) = fs::read_to_string(e.path().join("state.json")) else {
                continue;
            };
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                out.push(parse_state(&v));
            }
        }
    }
    out
}

fn parse_state(v: &serde_json::Value) -> RuncState {
    let pid = v["init_process_pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok());
    let start = v["init_process_start"].as_u64();
    // The pid may have been reused since: only a process started at that tick is it.
    let init = pid.filter(|&p| p > 1 && start.is_some() && procs::start_time(p) == start);
    let cgroups = v["cgroup_paths"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|p| p.as_str())
                .map(PathBuf::from)
                .filter(|p| p.starts_with("/sys/fs/cgroup/"))
                .collect()
        })
        .unwrap_or_default();
    RuncState { init, cgroups }
}

/// Kills every process of fixture `dir` (see the module documentation), removes its
/// containers' cgroups and the directory. `uid`: the rootless test user (never 0);
/// `mnt`: the rootful fixture's mount namespace (never ours).
pub(super) fn teardown(dir: &Path, uid: Option<u32>, mnt: Option<&str>) -> Result<(), String> {
    let ours = procs::mount_ns(std::process::id() as i32);
    let mnt = mnt.filter(|m| Some(*m) != ours.as_deref());
    let uid = uid.filter(|&u| u != 0 && u != rustix::process::getuid().as_raw());
    let needle = dir.to_string_lossy().into_owned();
    let mut cgroups = BTreeSet::new();
    for _ in 0..100 {
        let mut pids: BTreeSet<i32> = procs::pids_naming(&needle).into_iter().collect();
        pids.extend(
            mnt.map(|m| namespace_members(m, &needle))
                .unwrap_or_default(),
        );
        pids.extend(uid.map(procs::pids_of_uid).unwrap_or_default());
        for s in runc_states(dir) {
            pids.extend(s.init);
            // Processes the init's end does not end (a container sharing the host's PID
            // namespace): what is left in the container's cgroup.
            pids.extend(s.cgroups.iter().flat_map(|cg| cgroup_procs(cg)));
            cgroups.extend(s.cgroups);
        }
        if pids.is_empty() {
            break;
        }
        procs::kill_pids(&pids.into_iter().collect::<Vec<_>>());
        std::thread::sleep(Duration::from_millis(20));
    }
    remove_cgroups(&cgroups);
    procs::teardown_dir(dir)
}

fn cgroup_procs(cgroup: &Path) -> Vec<i32> {
    fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|&p| p > 1)
        .collect()
}

/// The processes in mount namespace `mnt` if it is the fixture's: one of them names the
/// fixture's directory (a namespace's number is reused once it is freed).
fn namespace_members(mnt: &str, needle: &str) -> Vec<i32> {
    let pids = procs::pids_in_mount_ns(mnt);
    if pids.iter().any(|&p| procs::names(p, needle)) {
        pids
    } else {
        Vec::new()
    }
}

/// Removes the (now empty) cgroups of killed containers; a cgroup empties a moment after
/// its last process died, hence the retries.
fn remove_cgroups(cgroups: &BTreeSet<PathBuf>) {
    for cg in cgroups {
        for _ in 0..50 {
            match fs::remove_dir(cg) {
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break,
            }
        }
    }
}

/// Removes the Podman fixtures whose test process is gone (what a killed test left):
/// their containers, services, pause processes, mounts, cgroups and directories. Their
/// test users and subordinate-id lines are removed by [`crate::sweep_dead_users`] and
/// [`crate::sweep_dead_subids`] (run this first: it also ends the users' processes).
/// Fixtures of live processes, including other test runs on this machine, are not
/// touched. Returns the directories removed.
pub fn sweep_dead_podman() -> Vec<PathBuf> {
    let top = super::setup::fixtures_dir();
    let _ = fs::create_dir_all(&top);
    let Ok(lock) = File::create(crate::state_dir().join("podman.lock")) else {
        return Vec::new();
    };
    let _ = lock.lock();
    let mut removed = Vec::new();
    for e in fs::read_dir(&top).into_iter().flatten().flatten() {
        let dir = e.path();
        let owner = procs::read_pid(&dir.join("owner"));
        if owner.is_some_and(procs::pid_alive) {
            continue;
        }
        // No owner file yet: a fixture being set up right now, unless it is old.
        if owner.is_none() && young(&e) {
            continue;
        }
        let mnt = fs::read_to_string(dir.join("mnt")).ok();
        match teardown(&dir, recorded_user(&dir), mnt.as_deref().map(str::trim)) {
            Ok(()) => removed.push(dir),
            Err(e) => eprintln!("testkit: could not remove a leftover Podman fixture: {e}"),
        }
    }
    removed
}

fn young(e: &fs::DirEntry) -> bool {
    e.metadata()
        .and_then(|m| m.modified())
        .map(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(60))
        .unwrap_or(false)
}

/// The uid of the fixture's test user (`user` record: "NAME UID"), if that user still
/// exists with that uid (a uid freed by userdel may belong to someone else by now).
fn recorded_user(dir: &Path) -> Option<u32> {
    let text = fs::read_to_string(dir.join("user")).ok()?;
    let (name, uid) = text.trim().split_once(' ')?;
    let entry = crate::getent("passwd", name).ok()??;
    let uid: u32 = uid.parse().ok()?;
    (entry.split(':').nth(2) == Some(uid.to_string().as_str())).then_some(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_state_gives_a_live_init_only_when_its_start_time_matches() {
        let me = std::process::id() as i32;
        let start = procs::start_time(me).unwrap();
        let v = serde_json::json!({
            "init_process_pid": me,
            "init_process_start": start,
            "cgroup_paths": {"pids": "/sys/fs/cgroup/pids/libpod_parent/libpod-x", "bad": "/etc"},
        });
        let s = parse_state(&v);
        assert_eq!(s.init, Some(me));
        assert_eq!(
            s.cgroups,
            [PathBuf::from("/sys/fs/cgroup/pids/libpod_parent/libpod-x")]
        );
        let reused = serde_json::json!({"init_process_pid": me, "init_process_start": start + 1});
        assert_eq!(
            parse_state(&reused).init,
            None,
            "a reused pid is not the container"
        );
        assert_eq!(parse_state(&serde_json::json!({})).init, None);
    }
}
