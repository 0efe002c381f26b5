//! Pure parsers of `/proc` files and the "first program of the container"
//! rule (see docs/threat-model.md).

/// The parts of `/proc/<pid>/status` the entrypoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStatus {
    pub cap_eff: u64,
    pub cap_prm: u64,
    pub no_new_privs: bool,
}

impl ProcStatus {
    /// Parses the text of `/proc/<pid>/status`; `None` without the capability lines.
    pub fn parse(text: &str) -> Option<ProcStatus> {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        let hex = |name: &str| field(name).and_then(|v| u64::from_str_radix(&v, 16).ok());
        Some(ProcStatus {
            cap_eff: hex("CapEff:")?,
            cap_prm: hex("CapPrm:")?,
            no_new_privs: field("NoNewPrivs:").is_some_and(|v| v == "1"),
        })
    }
}

/// The parts of `/proc/<pid>/stat` the entrypoint uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    pub comm: String,
    pub ppid: i32,
    /// Field 22: start time in clock ticks after boot.
    pub start_time: u64,
}

impl ProcStat {
    /// Parses `/proc/<pid>/stat`. The command name may hold spaces and
    /// parentheses, so the fields after it are found from the last `)`.
    pub fn parse(text: &str) -> Option<ProcStat> {
        let open = text.find('(')?;
        let close = text.rfind(')')?;
        let pid = text[..open].trim().parse().ok()?;
        let comm = text.get(open + 1..close)?.to_string();
        // Fields from 3 (state) on.
        let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
        let ppid = rest.get(1)?.parse().ok()?;
        let start_time = rest.get(19)?.parse().ok()?;
        Some(ProcStat {
            pid,
            comm,
            ppid,
            start_time,
        })
    }
}

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

/// The content of the once-per-start marker: the boot and the start time of
/// PID 1 identify one start of one container.
pub fn marker_content(boot_id: &str, pid1_start_time: u64) -> String {
    format!("{} {pid1_start_time}\n", boot_id.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STATUS: &str = "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\nNoNewPrivs:\t1\n";

    #[test]
    fn status_gives_capabilities_and_no_new_privs() {
        let s = ProcStatus::parse(STATUS).unwrap();
        assert_eq!(s.cap_eff, 0x1ff_ffff_ffff);
        assert_eq!(s.cap_prm, 0x1ff_ffff_ffff);
        assert!(s.no_new_privs);
        let s = ProcStatus::parse(&STATUS.replace("NoNewPrivs:\t1", "NoNewPrivs:\t0")).unwrap();
        assert!(!s.no_new_privs);
        assert!(ProcStatus::parse("Name: x\n").is_none());
    }

    #[test]
    fn stat_with_odd_command_names_parses() {
        let text =
            "42 (a) b (c)) S 7 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10\n";
        let s = ProcStat::parse(text).unwrap();
        assert_eq!(s.pid, 42);
        assert_eq!(s.comm, "a) b (c)");
        assert_eq!(s.ppid, 7);
        assert_eq!(s.start_time, 123456);
    }

    #[test]
    fn stat_of_this_process_parses() {
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        let s = ProcStat::parse(&text).unwrap();
        assert_eq!(s.pid as u32, std::process::id());
        assert_eq!(s.ppid as u32, std::os::unix::process::parent_id());
    }

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
