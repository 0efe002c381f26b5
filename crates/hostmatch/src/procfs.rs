//! Pure parsers of `/proc` files (and the listing of its processes), shared
//! by the entrypoint and the CLI. Depends on nothing else in the crate.

use std::path::Path;

/// The value of the line `name` (with its colon, e.g. `Uid:`) of
/// `/proc/<pid>/status`, trimmed.
fn status_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(str::trim)
}

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
        let field = |name: &str| status_field(text, name);
        let hex = |name: &str| field(name).and_then(|v| u64::from_str_radix(v, 16).ok());
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

/// The real uid on the `Uid:` line of `/proc/<pid>/status`.
pub fn status_uid(status: &str) -> Option<u32> {
    status_field(status, "Uid:")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Splits a NUL-separated `/proc/<pid>/cmdline` or `environ`.
pub fn split_nul(raw: &[u8]) -> Vec<String> {
    raw.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The pids of the processes in a proc directory (its numeric entries).
pub fn pids(proc_dir: &Path) -> std::io::Result<Vec<i32>> {
    Ok(std::fs::read_dir(proc_dir)?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn status_gives_the_real_uid() {
        assert_eq!(status_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"), Some(1000));
        assert_eq!(status_uid("Name:\tx\n"), None);
    }

    #[test]
    fn nul_separated_lists_split_without_empty_items() {
        assert_eq!(
            split_nul(b"/usr/bin/dockerd\0-H\0fd://\0"),
            ["/usr/bin/dockerd", "-H", "fd://"]
        );
    }

    #[test]
    fn the_pids_of_a_proc_directory_are_its_numeric_entries() {
        let d = tempfile::tempdir().unwrap();
        for e in ["1", "42", "self", "sys"] {
            std::fs::create_dir(d.path().join(e)).unwrap();
        }
        let mut p = pids(d.path()).unwrap();
        p.sort();
        assert_eq!(p, [1, 42]);
    }
}
