//! Who may run privileged: the container's first program (see
//! docs/threat-model.md), from what `/proc` says ([`crate::procfs`]), once
//! per start (the marker's content).

use crate::procfs::{pids, ProcStat};
use crate::sysroot::Sysroot;
use crate::{Error, Result};

/// Inits that container runtimes put at PID 1 (`/proc/1/comm`).
pub const KNOWN_INITS: &[&str] = &[
    "docker-init",
    "tini",
    "dumb-init",
    "podman-init",
    "catatonit",
];

/// Infra processes at PID 1 of a pod whose containers share one PID
/// namespace (Kubernetes `shareProcessNamespace: true`: `pause`; Podman
/// pods: `catatonit`).
pub const POD_INFRA: &[&str] = &["pause", "catatonit"];

/// Why the process may do privileged work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstProgram {
    /// It is PID 1.
    Pid1,
    /// It is the first child of a known init at PID 1.
    FirstChildOfInit,
    /// Its parent is outside the PID namespace, whose PID 1 is a pod's infra
    /// process: the runtime started it (a container of a pod sharing its
    /// PID namespace, or an exec session; the once-per-start marker lets
    /// only the first of them run privileged).
    StartedByRuntime,
}

/// Whether a process (pid, ppid) is the container's first program, given the
/// command name of PID 1 and the pids of the other live processes of the
/// PID namespace (`/proc`). An init forks its command first and exits when
/// that command ends, so while the init runs its first child is alive and is
/// the oldest process after PID 1: no other live process has a lower pid
/// (the runtime's own short-lived threads at start, e.g. runc's, are gone by
/// then; pids are handed out in increasing order). An orphan re-parented to
/// PID 1, or any later child of the init, sees the first child below it; a
/// shell at PID 1 is no known init.
///
/// A process whose parent is outside the namespace (`ppid == 0`) was started
/// by the runtime from outside: an exec session (`docker exec`, `kubectl
/// exec`), or, when PID 1 is a pod's infra process ([`POD_INFRA`]), a
/// container of a pod that shares its PID namespace. The workload cannot
/// make such a process (its children's parents are inside the namespace),
/// so the latter is accepted; the marker decides which one runs privileged.
pub fn first_program(
    pid: i32,
    ppid: i32,
    pid1_comm: &str,
    others: &[i32],
) -> Result<FirstProgram, String> {
    if pid == 1 {
        return Ok(FirstProgram::Pid1);
    }
    let comm = pid1_comm.trim_end();
    if ppid == 0 {
        if POD_INFRA.contains(&comm) {
            return Ok(FirstProgram::StartedByRuntime);
        }
        return Err(format!(
            "this process (pid {pid}) was started from outside the container's PID namespace, \
             as an exec session is (docker exec, kubectl exec), and PID 1 is '{comm}', not a \
             pod's infra process ({}): exec sessions never run privileged",
            POD_INFRA.join(", ")
        ));
    }
    if ppid != 1 {
        return Err(format!(
            "this process (pid {pid}) is neither PID 1 nor a child of PID 1 (its parent is pid {ppid})"
        ));
    }
    if !KNOWN_INITS.contains(&comm) {
        return Err(format!(
            "PID 1 is '{comm}', not a known init ({}), and this process is not PID 1",
            KNOWN_INITS.join(", ")
        ));
    }
    if let Some(older) = others.iter().filter(|&&p| p > 1 && p < pid).min() {
        return Err(format!(
            "this process (pid {pid}) is not the first child of {comm} (pid {older} is older)"
        ));
    }
    Ok(FirstProgram::FirstChildOfInit)
}

/// Setuid mode: privileged work only as the container's first program
/// (this process, `/proc/self`, among the live processes of its PID
/// namespace).
pub fn check_first_program(root: &Sysroot) -> Result<FirstProgram> {
    let me = ProcStat::parse(&root.read_proc("self/stat")?)
        .ok_or_else(|| Error::invalid("/proc/self/stat: cannot parse"))?;
    let comm = root.read_proc("1/comm").unwrap_or_default();
    let dir = root.proc_path("");
    let others = pids(&dir).map_err(|e| Error::io(&dir, e))?;
    first_program(me.pid, me.ppid, &comm, &others).map_err(|why| {
        Error::Permission(format!(
            "refusing to run privileged: {why}; the setuid entrypoint works only as the container's first program"
        ))
    })
}

/// The content of the once-per-start marker: the boot and the start time of
/// PID 1 identify one start of one container.
pub fn marker_content(boot_id: &str, pid1_start_time: u64) -> String {
    format!("{} {pid1_start_time}\n", boot_id.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pid_1_is_the_first_program() {
        assert_eq!(first_program(1, 0, "sh", &[5, 9]), Ok(FirstProgram::Pid1));
    }

    #[test]
    fn first_child_of_a_known_init_is_the_first_program() {
        for init in KNOWN_INITS {
            assert_eq!(
                first_program(2, 1, &format!("{init}\n"), &[1, 2]),
                Ok(FirstProgram::FirstChildOfInit)
            );
            // Under Docker the runtime's threads used pids 2..6 at start.
            assert_eq!(
                first_program(7, 1, init, &[1, 7, 12, 40]),
                Ok(FirstProgram::FirstChildOfInit)
            );
        }
    }

    #[test]
    fn orphan_re_parented_to_init_is_refused() {
        let e = first_program(57, 1, "docker-init\n", &[1, 7, 57]).unwrap_err();
        assert!(e.contains("not the first child"), "{e}");
    }

    #[test]
    fn child_of_a_shell_at_pid_1_is_refused() {
        let e = first_program(2, 1, "sh\n", &[]).unwrap_err();
        assert!(e.contains("not a known init"), "{e}");
        assert!(first_program(2, 1, "bash", &[]).is_err());
    }

    #[test]
    fn a_container_of_a_pod_sharing_its_pid_namespace_is_started_by_the_runtime() {
        for infra in POD_INFRA {
            assert_eq!(
                first_program(9, 0, &format!("{infra}\n"), &[1, 9, 12]),
                Ok(FirstProgram::StartedByRuntime)
            );
        }
    }

    #[test]
    fn an_exec_session_is_refused_and_said_to_be_one() {
        let e = first_program(40, 0, "sleep\n", &[1, 40]).unwrap_err();
        assert!(e.contains("exec session"), "{e}");
        assert!(!e.contains("parent is pid 0"), "{e}");
        assert!(first_program(40, 0, "docker-init", &[1, 7, 40]).is_err());
    }

    #[test]
    fn grandchild_is_refused() {
        assert!(first_program(3, 2, "docker-init", &[2]).is_err());
    }

    /// A proc directory where this process is `pid` (parent `ppid`), PID 1
    /// runs `comm`, and `others` are the other live processes.
    fn proc_dir(pid: i32, ppid: i32, comm: &str, others: &[i32]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let stat =
            format!("{pid} (entrypoint) S {ppid} 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 500 0 0\n");
        std::fs::create_dir_all(d.path().join("self")).unwrap();
        std::fs::write(d.path().join("self/stat"), stat).unwrap();
        for p in others.iter().chain([&1, &pid]) {
            std::fs::create_dir_all(d.path().join(p.to_string())).unwrap();
        }
        std::fs::write(d.path().join("1/comm"), format!("{comm}\n")).unwrap();
        d
    }

    #[test]
    fn the_gate_reads_this_process_pid_1_and_the_others_from_proc() {
        let d = proc_dir(7, 1, "docker-init", &[12]);
        let root = Sysroot::new("/").with_proc(d.path());
        assert_eq!(
            check_first_program(&root).unwrap(),
            FirstProgram::FirstChildOfInit
        );
        let d = proc_dir(7, 1, "docker-init", &[5, 12]);
        let root = Sysroot::new("/").with_proc(d.path());
        let e = check_first_program(&root).unwrap_err();
        assert!(!e.is_bad_input(), "{e}");
        assert!(
            e.to_string().contains("pid 5 is older") && e.to_string().contains("first program"),
            "{e}"
        );
        let d = proc_dir(7, 1, "bash", &[]);
        let root = Sysroot::new("/").with_proc(d.path());
        assert!(check_first_program(&root)
            .unwrap_err()
            .to_string()
            .contains("not a known init"));
    }

    #[test]
    fn marker_names_boot_and_start() {
        assert_eq!(marker_content("abc\n", 77), "abc 77\n");
    }

    proptest! {
        #[test]
        fn only_pid_1_or_the_oldest_child_of_a_known_init_pass(
            pid in 1i32..100_000,
            ppid in prop_oneof![Just(1i32), 0i32..100_000],
            comm in prop_oneof![Just("tini".to_string()), Just("docker-init".to_string()), Just("pause".to_string()), "[a-z-]{1,15}"],
            others in prop::collection::vec(1i32..100_000, 0..8),
        ) {
            let ok = first_program(pid, ppid, &comm, &others).is_ok();
            let oldest = others.iter().all(|&p| p <= 1 || p >= pid);
            let want = pid == 1
                || (ppid == 1 && KNOWN_INITS.contains(&comm.as_str()) && oldest)
                || (ppid == 0 && POD_INFRA.contains(&comm.as_str()));
            prop_assert_eq!(ok, want);
        }
    }
}
