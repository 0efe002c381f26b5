//! The container entrypoint's logic: configuration, the pure planner, and
//! the steps that apply a plan (account edits, home, re-owning, sudoers,
//! hooks, once-per-start marker, command environment, init loop).
//!
//! The binary `hostmatch-entrypoint` only calls these steps in order. The
//! attacks each step resists are in docs/threat-model.md.

pub mod config;
pub mod drop;
pub mod fault;
pub mod first;
pub mod hooks;
pub mod hostids;
pub mod plan;
pub mod reach;
pub mod steps;
#[cfg(test)]
mod test_util;

pub use hooks::{hook_env, list_hooks, run_hooks};
pub use hostids::root_mode_host_ids;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::entrypoint::config::{Config, Unprivileged};
use crate::entrypoint::plan::{Decision, MatchPlan, Target};
use crate::fsedit;
use crate::procfs::{ProcStat, ProcStatus};
use crate::sys::process as sp;
use crate::sysroot::Sysroot;
use crate::{Error, Result};

/// Where the once-per-start marker lives: `/dev` is a fresh tmpfs on every
/// container start (also with `--read-only`), owned by root, mode 0755.
pub const MARKER_PATH: &str = "/dev/.hostmatch-entrypoint";
/// The sudoers drop-in written when `sudo = true`.
pub const SUDOERS_PATH: &str = "etc/sudoers.d/hostmatch";
/// PATH given to hooks.
pub const HOOK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How the entrypoint was started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Started as root: host ids from HOSTMATCH_UID/GID or match_path.
    Root,
    /// Setuid root, started as the host user (`--user UID:GID`).
    Setuid,
    /// Neither root nor setuid root: the reason why.
    Unprivileged(String),
}

impl Mode {
    /// Decides the mode from the real and effective uid at start.
    pub fn decide(real_uid: u32, effective_uid: u32) -> Mode {
        match (real_uid, effective_uid) {
            (0, _) => Mode::Root,
            (_, 0) => Mode::Setuid,
            _ => Mode::Unprivileged(String::new()),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Mode::Root => "root",
            Mode::Setuid => "setuid",
            Mode::Unprivileged(_) => "unprivileged",
        }
    }
}

/// Why a non-root process did not become root: no-new-privileges, a nosuid
/// mount, or the setuid bit (or root ownership) missing on `exe`.
pub fn explain_unprivileged(exe: &Path, status: Option<&ProcStatus>) -> String {
    if status.is_some_and(|s| s.no_new_privs) {
        return "no-new-privileges is set (NoNewPrivs: 1), so the kernel ignored the setuid bit \
                (Docker: --security-opt no-new-privileges; Kubernetes: allowPrivilegeEscalation: \
                false, which the restricted Pod Security Standard requires; or a parent process \
                set it)"
            .into();
    }
    if let Ok(f) = sp::mount_flags(exe) {
        if f.nosuid {
            return format!(
                "{} is on a filesystem mounted nosuid, so the kernel ignored the setuid bit",
                exe.display()
            );
        }
    }
    match fs::metadata(exe) {
        Ok(m) if m.uid() != 0 => format!(
            "{} is owned by uid {}, not root (chown root:root it in the image)",
            exe.display(),
            m.uid()
        ),
        Ok(m) if m.mode() & 0o4000 == 0 => format!(
            "{} has no setuid bit (chmod 4755 it in the image)",
            exe.display()
        ),
        Ok(_) => "the setuid bit was not honoured (user namespace without root mapped?)".into(),
        Err(e) => format!("{}: {e}", exe.display()),
    }
}

/// Refuses a path that others could have written: it must be owned by root
/// and not writable by group or others, and so must its parent directories.
pub fn check_trusted(path: &Path) -> Result<()> {
    let mut p = Some(path);
    while let Some(cur) = p {
        let m = fs::symlink_metadata(cur).map_err(|e| Error::io(cur, e))?;
        if cur == path && m.file_type().is_symlink() {
            return Err(Error::Permission(format!(
                "{}: is a symbolic link; refusing it in setuid mode",
                cur.display()
            )));
        }
        if m.uid() != 0 || (m.mode() & 0o022 != 0 && !m.file_type().is_symlink()) {
            return Err(Error::Permission(format!(
                "{}: must be owned by root and not writable by group or others (owner {}, mode {:o}); refusing it in setuid mode",
                cur.display(),
                m.uid(),
                m.mode() & 0o7777
            )));
        }
        p = cur.parent().filter(|q| !q.as_os_str().is_empty());
    }
    Ok(())
}

/// Loads the configuration from its fixed path below `root`; a missing file
/// gives the defaults. With `trusted_only` (setuid mode) the file and its
/// directories must be root-owned and not group/other-writable.
pub fn load_config(root: &Sysroot, trusted_only: bool) -> Result<Config> {
    let path = root.path(config::CONFIG_PATH);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(Error::io(&path, e)),
        Ok(_) => {}
    }
    if trusted_only {
        check_trusted(&path)?;
    }
    let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    Config::parse(&text, Path::new(config::CONFIG_PATH))
}

/// Once per container start: records (boot id, start time of PID 1) in
/// [`MARKER_PATH`]; fails when the marker already names this start.
pub fn claim_start(root: &Sysroot, marker: &Path) -> Result<()> {
    let stat_text = root.read_proc("1/stat")?;
    let pid1 =
        ProcStat::parse(&stat_text).ok_or_else(|| Error::invalid("/proc/1/stat: cannot parse"))?;
    let boot_id = root
        .read_proc("sys/kernel/random/boot_id")
        .unwrap_or_default();
    let content = first::marker_content(&boot_id, pid1.start_time);
    let open = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(marker);
    match open {
        Ok(mut f) => {
            // No fsync: the marker lives on a tmpfs and only has to last
            // as long as this start.
            f.write_all(content.as_bytes())
                .map_err(|e| Error::io(marker, e))?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let m = fs::symlink_metadata(marker).map_err(|e| Error::io(marker, e))?;
            if !m.file_type().is_file() || m.uid() != 0 {
                return Err(Error::Permission(format!(
                    "{}: not a root-owned file; refusing to run privileged",
                    marker.display()
                )));
            }
            let old = fs::read_to_string(marker).map_err(|e| Error::io(marker, e))?;
            if old == content {
                return Err(Error::Permission(
                    "hostmatch-entrypoint already ran in this container start; a second run gains nothing"
                        .into(),
                ));
            }
            // A marker from an earlier start on a persistent /dev.
            fsedit::write_atomic(marker, content.as_bytes(), 0o600)
        }
        Err(e) => Err(Error::io(marker, e)),
    }
}

/// What an entrypoint that could not gain root does with its command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WithoutRoot<'p> {
    /// Nothing had to change: run it as the plan's account (its shell and
    /// environment).
    AsPlanned(&'p Target),
    /// Run it unchanged, as the caller (`/bin/sh` for no command); the
    /// warning to print, when something that had to change did not.
    Unchanged(Option<String>),
}

/// Decides for an entrypoint without privileges (`why`: the reason, from
/// [`explain_unprivileged`]): fine when nothing has to change (accounts,
/// re-owning, sudoers, hooks, an unfinished account change); otherwise an
/// error naming what was needed, or, with `unprivileged = "run"`, the
/// command unchanged after a warning.
pub fn without_root<'p>(
    why: &str,
    decision: &'p Decision,
    cfg: &Config,
    root: &Sysroot,
) -> Result<WithoutRoot<'p>> {
    let Decision::Match(p) = decision else {
        return Ok(WithoutRoot::Unchanged(None));
    };
    let hooks = cfg.hooks_dir.as_ref().is_some_and(|d| {
        list_hooks(&root.path(&d.to_string_lossy()), false).is_ok_and(|h| !h.is_empty())
    });
    let pending = steps::is_pending(root);
    let nothing = !p.edits_accounts() && p.reown.is_empty() && !write_sudoers_needed(root, p);
    if nothing && !hooks && !pending {
        return Ok(WithoutRoot::AsPlanned(&p.target));
    }
    let mut needed = p.summary();
    if pending {
        needed.push("an account change a start left unfinished".into());
    }
    let msg = format!("cannot gain root: {why}; needed for: {}", needed.join("; "));
    if cfg.unprivileged == Unprivileged::Run {
        return Ok(WithoutRoot::Unchanged(Some(format!(
            "{msg}; running the command unchanged (unprivileged = \"run\")"
        ))));
    }
    Err(Error::Permission(format!(
        "{msg}; set unprivileged = \"run\" in {} to run the command unchanged",
        config::CONFIG_PATH
    )))
}

/// Whether /etc/sudoers.d/hostmatch must be (re)written for the plan.
pub fn write_sudoers_needed(root: &Sysroot, plan: &MatchPlan) -> bool {
    let Some(content) = &plan.sudoers else {
        return false;
    };
    let p = root.path(SUDOERS_PATH);
    let same = fsedit::read_opt(&p).ok().flatten().as_deref() == Some(content.as_str())
        && fs::metadata(&p).is_ok_and(|m| m.mode() & 0o7777 == 0o440 && m.uid() == 0);
    !same
}

/// Writes /etc/sudoers.d/hostmatch (mode 0440, atomically) when the plan has
/// a sudoers line and the file differs. Returns whether it wrote.
pub fn write_sudoers(root: &Sysroot, plan: &MatchPlan) -> Result<bool> {
    let Some(content) = &plan.sudoers else {
        return Ok(false);
    };
    let p = root.path(SUDOERS_PATH);
    if !write_sudoers_needed(root, plan) {
        return Ok(false);
    }
    if steps::is_read_only(&p) {
        return Err(Error::Permission(
            "the root filesystem is read-only (Docker: --read-only; Kubernetes: \
             readOnlyRootFilesystem: true), but /etc/sudoers.d/hostmatch must be written \
             (sudo = true): put it into the image, or set sudo = false"
                .into(),
        ));
    }
    let dir = p.parent().expect("sudoers path has a parent");
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o750))
            .map_err(|e| Error::io(dir, e))?;
    }
    // Remove a stale file so the new one gets mode 0440 and root's owner.
    if fs::symlink_metadata(&p).is_ok_and(|m| m.mode() & 0o7777 != 0o440 || m.uid() != 0) {
        fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
    }
    fsedit::write_atomic(&p, content.as_bytes(), 0o440)?;
    Ok(true)
}

/// The command's environment: the caller's (PATH included), with HOME,
/// USER, LOGNAME and SHELL set for the account.
pub fn command_env(
    caller: impl IntoIterator<Item = (OsString, OsString)>,
    target: &Target,
) -> Vec<(OsString, OsString)> {
    let set: [(&str, &str); 4] = [
        ("HOME", &target.home),
        ("USER", &target.user),
        ("LOGNAME", &target.user),
        ("SHELL", &target.shell),
    ];
    let mut env: Vec<(OsString, OsString)> = caller
        .into_iter()
        .filter(|(k, _)| !set.iter().any(|(s, _)| OsStr::new(s) == k))
        .collect();
    env.extend(
        set.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    );
    env
}

/// The command to run: `args`, or the account's shell when empty.
pub fn build_command(args: &[OsString], shell: &str, env: &[(OsString, OsString)]) -> Command {
    let mut cmd = match args.split_first() {
        Some((prog, rest)) => {
            let mut c = Command::new(prog);
            c.args(rest);
            c
        }
        None => Command::new(shell),
    };
    cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

/// `init = true`: runs `cmd` as a child, forwards every signal to it, reaps
/// every zombie, and returns the child's exit status (128 + signal).
pub fn run_as_init(mut cmd: Command) -> Result<i32> {
    sp::unblock_signals_in_child(&mut cmd);
    sp::block_all_signals()?;
    let child = cmd.spawn().map_err(|e| Error::Sys {
        call: "spawn",
        source: e,
    })?;
    let child_pid = child.id() as i32;
    loop {
        let sig = sp::wait_signal()?;
        if sig == libc::SIGCHLD {
            while let Some((pid, exit)) = sp::reap_any()? {
                if pid == child_pid {
                    // Reap what is left without waiting, then leave.
                    while let Ok(Some(_)) = sp::reap_any() {}
                    return Ok(exit.as_status());
                }
            }
        } else {
            sp::send_signal(child_pid, sig);
        }
    }
}

/// Exit status for an exec failure (shell convention).
pub fn exec_failure_status(e: &std::io::Error) -> i32 {
    if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}

/// The one line a panic prints (the binary's panic hook): the message only,
/// never a backtrace, whatever `RUST_BACKTRACE` says (a setuid binary must
/// not show its memory layout).
pub fn panic_line(payload: &(dyn std::any::Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic");
    format!("internal error: {msg}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entrypoint::test_util::{plan_for, sysroot_with, target};

    #[test]
    fn mode_follows_real_and_effective_uid() {
        assert_eq!(Mode::decide(0, 0), Mode::Root);
        assert_eq!(Mode::decide(1000, 0), Mode::Setuid);
        assert!(matches!(Mode::decide(1000, 1000), Mode::Unprivileged(_)));
    }

    #[test]
    fn command_env_keeps_callers_path_and_sets_account_vars() {
        let caller = vec![
            ("PATH".into(), "/caller/bin".into()),
            ("HOME".into(), "/".into()),
            ("LD_PRELOAD".into(), "x.so".into()),
        ];
        let env = command_env(caller, &target());
        let get = |k: &str| {
            env.iter()
                .find(|(a, _)| a == k)
                .map(|(_, v)| v.to_str().unwrap().to_string())
        };
        assert_eq!(get("PATH").as_deref(), Some("/caller/bin"));
        assert_eq!(get("HOME").as_deref(), Some("/home/app"));
        assert_eq!(get("USER").as_deref(), Some("app"));
        assert_eq!(get("LOGNAME").as_deref(), Some("app"));
        assert_eq!(get("SHELL").as_deref(), Some("/bin/bash"));
        assert_eq!(env.iter().filter(|(k, _)| k == "HOME").count(), 1);
    }

    #[test]
    fn missing_config_gives_defaults_and_bad_config_names_line() {
        let d = tempfile::tempdir().unwrap();
        let root = Sysroot::new(d.path());
        assert_eq!(load_config(&root, false).unwrap(), Config::default());
        fs::create_dir_all(d.path().join("etc/hostmatch")).unwrap();
        fs::write(
            d.path().join("etc/hostmatch/entrypoint.toml"),
            "user = \"dev\"\nbogus = 1\n",
        )
        .unwrap();
        let e = load_config(&root, false).unwrap_err().to_string();
        assert!(e.contains("entrypoint.toml:2:"), "{e}");
    }

    #[test]
    fn group_writable_config_is_refused_in_setuid_mode() {
        testkit::prereq!(crate::sys::geteuid() == 0, "root (to own files as root)");
        // Not under /tmp: setuid mode trusts no path below a directory others can write.
        let Some(d) = crate::entrypoint::test_util::trusted_tempdir() else {
            return;
        };
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = Sysroot::new(d.path());
        let dir = d.path().join("etc/hostmatch");
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("entrypoint.toml");
        fs::write(&f, "user = \"dev\"\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(d.path().join("etc"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(load_config(&root, true).unwrap().user, "dev");
        fs::set_permissions(&f, fs::Permissions::from_mode(0o664)).unwrap();
        let e = load_config(&root, true).unwrap_err().to_string();
        assert!(e.contains("not writable by group or others"), "{e}");
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(&f, Some(1000), None).unwrap();
        assert!(load_config(&root, true).is_err());
        // Non-setuid modes read it anyway.
        assert_eq!(load_config(&root, false).unwrap().user, "dev");
    }

    #[test]
    fn claim_start_allows_one_run_per_start() {
        let d = tempfile::tempdir().unwrap();
        let proc_dir = d.path().join("proc");
        fs::create_dir_all(proc_dir.join("1")).unwrap();
        fs::create_dir_all(proc_dir.join("sys/kernel/random")).unwrap();
        fs::write(proc_dir.join("sys/kernel/random/boot_id"), "boot-1\n").unwrap();
        let stat = |t: u64| {
            format!("1 (docker-init) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 {t} 1000 10\n")
        };
        fs::write(proc_dir.join("1/stat"), stat(500)).unwrap();
        let root = Sysroot::new(d.path()).with_proc(&proc_dir);
        let marker = d.path().join("marker");
        claim_start(&root, &marker).unwrap();
        let uid_is_root = crate::sys::geteuid() == 0;
        let again = claim_start(&root, &marker);
        if uid_is_root {
            let e = again.unwrap_err().to_string();
            assert!(e.contains("already ran in this container start"), "{e}");
            // A restart: PID 1 started at another time.
            fs::write(proc_dir.join("1/stat"), stat(900)).unwrap();
            claim_start(&root, &marker).unwrap();
            assert!(claim_start(&root, &marker).is_err());
        } else {
            // The marker is not root-owned: refused as well.
            assert!(again.is_err());
        }
    }

    #[test]
    fn claim_start_refuses_a_symlinked_marker() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("passwd");
        fs::write(&target, "keep\n").unwrap();
        let marker = d.path().join("marker");
        std::os::unix::fs::symlink(&target, &marker).unwrap();
        let root = Sysroot::default();
        assert!(claim_start(&root, &marker).is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep\n");
    }

    #[test]
    fn sudoers_is_written_0440_and_only_once() {
        testkit::prereq!(
            crate::sys::geteuid() == 0,
            "root (sudoers must be root-owned)"
        );
        let (d, root) = sysroot_with("app:x:1000:1000::/home/app:/bin/sh\n", "app:x:1000:\n");
        let cfg = Config {
            sudo: true,
            ..Config::default()
        };
        let p = plan_for(&root, 1000, 1000, &cfg);
        assert!(write_sudoers(&root, &p).unwrap());
        let f = d.path().join(SUDOERS_PATH);
        let m = fs::metadata(&f).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o440);
        assert!(fs::read_to_string(&f)
            .unwrap()
            .contains("app ALL=(ALL:ALL) NOPASSWD: ALL"));
        assert!(!write_sudoers(&root, &p).unwrap());
    }

    #[test]
    fn without_root_runs_as_planned_only_when_nothing_has_to_change() {
        let (_d, root) = sysroot_with("app:x:1000:1000::/home/app:/bin/sh\n", "app:x:1000:\n");
        let cfg = Config::default();
        let same = Decision::Match(Box::new(plan_for(&root, 1000, 1000, &cfg)));
        match without_root("no setuid bit", &same, &cfg, &root).unwrap() {
            WithoutRoot::AsPlanned(t) => assert_eq!((t.user.as_str(), t.uid), ("app", 1000)),
            other => panic!("{other:?}"),
        }
        let root_stays = Decision::StayRoot {
            reason: "host uid 0".into(),
        };
        assert_eq!(
            without_root("no setuid bit", &root_stays, &cfg, &root).unwrap(),
            WithoutRoot::Unchanged(None)
        );
    }

    #[test]
    fn without_root_refuses_a_needed_change_unless_told_to_run_unchanged() {
        let (d, root) = sysroot_with("app:x:1000:1000::/home/app:/bin/sh\n", "app:x:1000:\n");
        let mut cfg = Config::default();
        let moved = Decision::Match(Box::new(plan_for(&root, 2000, 2000, &cfg)));
        let e = without_root("no setuid bit", &moved, &cfg, &root).unwrap_err();
        let text = e.to_string();
        assert!(!e.is_bad_input(), "{e}");
        assert!(
            text.contains("cannot gain root: no setuid bit; needed for: "),
            "{text}"
        );
        assert!(text.contains("set unprivileged = \"run\""), "{text}");
        cfg.unprivileged = Unprivileged::Run;
        match without_root("no setuid bit", &moved, &cfg, &root).unwrap() {
            WithoutRoot::Unchanged(Some(w)) => {
                assert!(w.contains("running the command unchanged"), "{w}")
            }
            other => panic!("{other:?}"),
        }
        // An account change a start left unfinished has to be finished first.
        let same = Decision::Match(Box::new(plan_for(&root, 1000, 1000, &cfg)));
        fs::create_dir_all(root.path(steps::PENDING_PATH).parent().unwrap()).unwrap();
        fs::write(root.path(steps::PENDING_PATH), "{}").unwrap();
        match without_root("no setuid bit", &same, &cfg, &root).unwrap() {
            WithoutRoot::Unchanged(Some(w)) => assert!(w.contains("left unfinished"), "{w}"),
            other => panic!("{other:?}"),
        }
        drop(d);
    }

    #[test]
    fn explain_names_the_missing_setuid_bit() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bin");
        fs::write(&p, "").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        let why = explain_unprivileged(&p, None);
        if crate::sys::geteuid() == 0 {
            assert!(why.contains("no setuid bit"), "{why}");
        } else {
            assert!(why.contains("not root"), "{why}");
        }
        let st = ProcStatus {
            cap_eff: 0,
            cap_prm: 0,
            no_new_privs: true,
        };
        assert!(explain_unprivileged(&p, Some(&st)).contains("no-new-privileges"));
    }
}
