//! The container entrypoint's logic: configuration, the pure planner, and
//! the steps that apply a plan (account edits, home, re-owning, sudoers,
//! hooks, once-per-start marker, command environment, init loop).
//!
//! The binary `hostmatch-entrypoint` only calls these steps in order.

pub mod config;
pub mod drop;
pub mod plan;
pub mod proc;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::entrypoint::config::Config;
use crate::entrypoint::plan::{HostIds, Plan, Target};
use crate::entrypoint::proc::{ProcStat, ProcStatus};
use crate::fsedit::{self, FileEdit};
use crate::ids::parse_id;
use crate::own::{self, Mode as OwnMode, Options, Report};
use crate::sys::process::{self as sp, ChildExit};
use crate::sysroot::{paths, Sysroot};
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
                (docker run --security-opt no-new-privileges, or a parent process set it)"
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

/// Root mode's host ids: HOSTMATCH_UID (and HOSTMATCH_GID, default: the
/// uid), else the owner of `match_path`, else none.
pub fn root_mode_host_ids(
    env: &dyn Fn(&str) -> Option<String>,
    cfg: &Config,
    root: &Sysroot,
) -> Result<Option<HostIds>> {
    if let Some(u) = env("HOSTMATCH_UID") {
        let uid = parse_id(u.trim()).map_err(|e| Error::invalid(format!("HOSTMATCH_UID: {e}")))?;
        let gid = match env("HOSTMATCH_GID") {
            Some(g) => {
                parse_id(g.trim()).map_err(|e| Error::invalid(format!("HOSTMATCH_GID: {e}")))?
            }
            None => uid,
        };
        return Ok(Some(HostIds { uid, gid }));
    }
    if let Some(mp) = &cfg.match_path {
        let p = root.path(&mp.to_string_lossy());
        match fs::metadata(&p) {
            Ok(m) => {
                return Ok(Some(HostIds {
                    uid: m.uid(),
                    gid: m.gid(),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    Ok(None)
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
    let content = proc::marker_content(&boot_id, pid1.start_time);
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

/// The file edits of a plan: passwd, group, and for added names shadow and
/// gshadow (when those files exist), through the one model of
/// [`crate::accounts`].
pub fn account_edits(root: &Sysroot, plan: &Plan) -> Result<fsedit::Plan> {
    use crate::accounts::{add_gshadow_members, add_locked_shadow, GshadowFile, ShadowFile};
    let mut edits = fsedit::Plan::default();
    if plan.passwd_changed {
        let old = root.read_bytes_opt(paths::PASSWD)?;
        edits.push(FileEdit::new(
            root,
            paths::PASSWD,
            old,
            plan.passwd.render(),
            0o644,
        ));
    }
    if plan.group_changed {
        let old = root.read_bytes_opt(paths::GROUP)?;
        edits.push(FileEdit::new(
            root,
            paths::GROUP,
            old,
            plan.group.render(),
            0o644,
        ));
    }
    if let Some(u) = &plan.new_user {
        if let Some(old) = root.read_bytes_opt(paths::SHADOW)? {
            let mut f = ShadowFile::parse(&old);
            add_locked_shadow(&mut f, &u.as_str().into());
            edits.push(FileEdit::new(
                root,
                paths::SHADOW,
                Some(old),
                f.render(),
                0o640,
            ));
        }
    }
    if let Some(g) = &plan.new_group {
        if let Some(old) = root.read_bytes_opt(paths::GSHADOW)? {
            let mut f = GshadowFile::parse(&old);
            add_gshadow_members(&mut f, &g.as_str().into(), &[]);
            edits.push(FileEdit::new(
                root,
                paths::GSHADOW,
                Some(old),
                f.render(),
                0o640,
            ));
        }
    }
    Ok(edits)
}

fn read_only_error(what: &str, plan: &Plan) -> Error {
    let mut msg = format!(
        "the root filesystem is read-only, but {what} must change: {}; run without --read-only \
         once, or build the image with the account at the host's ids",
        plan.summary().join("; ")
    );
    if plan.summary().is_empty() {
        msg.push_str("(nothing else)");
    }
    Error::Permission(msg)
}

fn is_read_only(path: &Path) -> bool {
    let mut p = Some(path);
    while let Some(cur) = p {
        if cur.exists() {
            return sp::mount_flags(cur).is_ok_and(|f| f.rdonly);
        }
        p = cur.parent();
    }
    false
}

/// Writes the account edits atomically (nothing when nothing changes).
pub fn apply_account_edits(root: &Sysroot, plan: &Plan) -> Result<()> {
    let edits = account_edits(root, plan)?;
    if edits.is_empty() {
        return Ok(());
    }
    if is_read_only(&root.path("etc")) {
        return Err(read_only_error("/etc/passwd or /etc/group", plan));
    }
    edits.apply()
}

/// Creates the account's home (owned by the target, mode 0700) when the plan
/// says so and it is missing; for an account created now, a root-owned home
/// directory (made by the runtime for a bind mount below it) is given to the
/// account. Returns whether it changed anything.
pub fn ensure_home(root: &Sysroot, plan: &Plan) -> Result<bool> {
    let Some(home) = plan.home.as_ref().filter(|_| plan.create_home) else {
        return Ok(false);
    };
    let p = root.path(&home.to_string_lossy());
    let account_gid = plan
        .passwd
        .find(|u| u.name == plan.target.user)
        .map_or(plan.target.gid, |u| u.gid);
    if let Ok(m) = fs::symlink_metadata(&p) {
        // A home the runtime made as root for a bind mount below it (e.g.
        // `-v $PWD:/home/app/src` when the image has no /home/app) belongs to
        // an account created just now: give the directory itself to it.
        if plan.new_user.is_some() && m.is_dir() && m.uid() == 0 && plan.target.uid != 0 {
            if is_read_only(&p) {
                return Err(read_only_error(
                    &format!("{} (home owned by root)", home.display()),
                    plan,
                ));
            }
            std::os::unix::fs::lchown(&p, Some(plan.target.uid), Some(account_gid))
                .map_err(|e| Error::io(&p, e))?;
            return Ok(true);
        }
        return Ok(false);
    }
    if is_read_only(&p) {
        return Err(read_only_error(
            &format!("{} (missing home)", home.display()),
            plan,
        ));
    }
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    fs::create_dir(&p).map_err(|e| Error::io(&p, e))?;
    std::os::unix::fs::lchown(&p, Some(plan.target.uid), Some(account_gid))
        .map_err(|e| Error::io(&p, e))?;
    fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).map_err(|e| Error::io(&p, e))?;
    Ok(true)
}

/// Re-owns the plan's trees in order with the ownership engine. A missing
/// tree is skipped. On a read-only filesystem the engine first counts what
/// would change; nothing to change is fine, anything else is an error.
pub fn reown(root: &Sysroot, plan: &Plan) -> Result<Vec<(PathBuf, Report)>> {
    let mut out = Vec::new();
    for r in &plan.reown {
        let p = root.path(&r.path.to_string_lossy());
        if fs::symlink_metadata(&p).is_err() {
            continue;
        }
        let mut opts = Options {
            depth: r.depth,
            mode: OwnMode::Apply,
            threads: 0,
        };
        if is_read_only(&p) {
            opts.mode = OwnMode::DryRun;
            let rep = own::apply(&p, &r.rule, &opts, &|_| {})?;
            if rep.changed > 0 {
                return Err(read_only_error(
                    &format!("{} ({} entries)", r.path.display(), rep.changed),
                    plan,
                ));
            }
            out.push((r.path.clone(), rep));
            continue;
        }
        let rep = own::apply(&p, &r.rule, &opts, &|_| {})?;
        out.push((r.path.clone(), rep));
    }
    Ok(out)
}

/// Whether /etc/sudoers.d/hostmatch must be (re)written for the plan.
pub fn write_sudoers_needed(root: &Sysroot, plan: &Plan) -> bool {
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
pub fn write_sudoers(root: &Sysroot, plan: &Plan) -> Result<bool> {
    let Some(content) = &plan.sudoers else {
        return Ok(false);
    };
    let p = root.path(SUDOERS_PATH);
    if !write_sudoers_needed(root, plan) {
        return Ok(false);
    }
    if is_read_only(&p) {
        return Err(read_only_error("/etc/sudoers.d/hostmatch", plan));
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

/// The executables of `dir` (regular files with an execute bit, names not
/// starting with `.`), in name order. With `trusted_only` each must be
/// root-owned and not group/other-writable (and so must the directory).
pub fn list_hooks(dir: &Path, trusted_only: bool) -> Result<Vec<PathBuf>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    if trusted_only {
        check_trusted(dir)?;
    }
    let mut hooks = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::io(dir, e))?;
        if ent.file_name().as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        let p = ent.path();
        let m = fs::symlink_metadata(&p).map_err(|e| Error::io(&p, e))?;
        if !m.file_type().is_file() || m.mode() & 0o111 == 0 {
            continue;
        }
        if trusted_only {
            check_trusted(&p)?;
        }
        hooks.push(p);
    }
    hooks.sort();
    Ok(hooks)
}

/// The environment of hooks: a fixed PATH, HOME=/root and HOSTMATCH_*
/// describing the result. Nothing of the caller's.
pub fn hook_env(mode: &Mode, target: Option<&Target>) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_string(), HOOK_PATH.to_string()),
        ("HOME".into(), "/root".into()),
        ("HOSTMATCH_MODE".into(), mode.name().into()),
    ];
    match target {
        Some(t) => env.extend([
            ("HOSTMATCH_USER".into(), t.user.clone()),
            ("HOSTMATCH_GROUP".into(), t.group.clone()),
            ("HOSTMATCH_UID".into(), t.uid.to_string()),
            ("HOSTMATCH_GID".into(), t.gid.to_string()),
            (
                "HOSTMATCH_GROUPS".into(),
                t.groups
                    .iter()
                    .map(|g| g.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("HOSTMATCH_HOME".into(), t.home.clone()),
        ]),
        None => env.extend([
            ("HOSTMATCH_USER".into(), "root".into()),
            ("HOSTMATCH_UID".into(), "0".into()),
            ("HOSTMATCH_GID".into(), "0".into()),
        ]),
    }
    env
}

/// Runs each hook as root with only `env`, cwd `/`, stdin from /dev/null;
/// the first failure stops the start.
pub fn run_hooks(hooks: &[PathBuf], env: &[(String, String)]) -> Result<()> {
    for h in hooks {
        let st = Command::new(h)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir("/")
            .stdin(std::process::Stdio::null())
            .status()
            .map_err(|e| Error::io(h, e))?;
        if !st.success() {
            return Err(Error::invalid(format!(
                "hook {} failed ({st})",
                h.display()
            )));
        }
    }
    Ok(())
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

/// Re-exported so the binary can name it.
pub type Exit = ChildExit;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entrypoint::plan::{plan, Decision, StartCreds};

    fn target() -> Target {
        Target {
            user: "app".into(),
            group: "app".into(),
            uid: 1000,
            gid: 1000,
            groups: vec![1000],
            home: "/home/app".into(),
            shell: "/bin/bash".into(),
        }
    }

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
    fn hook_env_holds_nothing_of_the_caller() {
        let env = hook_env(&Mode::Setuid, Some(&target()));
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys
            .iter()
            .all(|k| *k == "PATH" || *k == "HOME" || k.starts_with("HOSTMATCH_")));
        assert!(env.contains(&("HOME".into(), "/root".into())));
        assert!(env.contains(&("HOSTMATCH_UID".into(), "1000".into())));
    }

    #[test]
    fn root_mode_ids_come_from_env_then_match_path() {
        let d = tempfile::tempdir().unwrap();
        let root = Sysroot::new(d.path());
        fs::create_dir(d.path().join("work")).unwrap();
        std::os::unix::fs::chown(d.path().join("work"), Some(1500), Some(1600)).ok();
        let cfg = Config {
            match_path: Some("/work".into()),
            ..Config::default()
        };
        let env = |k: &str| (k == "HOSTMATCH_UID").then(|| "77".to_string());
        assert_eq!(
            root_mode_host_ids(&env, &cfg, &root).unwrap(),
            Some(HostIds { uid: 77, gid: 77 })
        );
        let m = fs::metadata(d.path().join("work")).unwrap();
        assert_eq!(
            root_mode_host_ids(&|_| None, &cfg, &root).unwrap(),
            Some(HostIds {
                uid: m.uid(),
                gid: m.gid()
            })
        );
        assert_eq!(
            root_mode_host_ids(&|_| None, &Config::default(), &root).unwrap(),
            None
        );
        let bad = |k: &str| (k == "HOSTMATCH_UID").then(|| "x".to_string());
        assert!(root_mode_host_ids(&bad, &cfg, &root)
            .unwrap_err()
            .is_bad_input());
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
        if crate::sys::geteuid() != 0 {
            eprintln!("SKIP: needs root to own files as root");
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must run as root"
            );
            return;
        }
        let d = tempfile::tempdir().unwrap();
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = Sysroot::new(d.path());
        let dir = d.path().join("etc/hostmatch");
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("entrypoint.toml");
        fs::write(&f, "user = \"dev\"\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(d.path().join("etc"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        if check_trusted(d.path()).is_err() {
            eprintln!("SKIP: temp dir parents are not root-owned/0755");
            return;
        }
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

    fn sysroot_with(passwd: &str, group: &str) -> (tempfile::TempDir, Sysroot) {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc")).unwrap();
        fs::write(d.path().join("etc/passwd"), passwd).unwrap();
        fs::write(d.path().join("etc/group"), group).unwrap();
        let r = Sysroot::new(d.path());
        (d, r)
    }

    fn plan_for(root: &Sysroot, uid: u32, gid: u32, cfg: &Config) -> Plan {
        let a = crate::accounts::Accounts::load(root).unwrap();
        match plan(
            &a.passwd,
            &a.group,
            Some(HostIds { uid, gid }),
            &StartCreds::default(),
            cfg,
        )
        .unwrap()
        {
            Decision::Match(p) => *p,
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn new_account_edits_shadow_and_gshadow_and_makes_home() {
        let (d, root) = sysroot_with("root:x:0:0::/root:/bin/sh\n", "root:x:0:\n");
        fs::write(d.path().join("etc/shadow"), "root:*:1:0:99999:7:::\n").unwrap();
        fs::write(d.path().join("etc/gshadow"), "root:*::").unwrap();
        let cfg = Config {
            user: "dev".into(),
            ..Config::default()
        };
        let p = plan_for(&root, 1000, 1000, &cfg);
        apply_account_edits(&root, &p).unwrap();
        let read = |f: &str| fs::read_to_string(d.path().join(f)).unwrap();
        assert!(read("etc/passwd").ends_with("dev:x:1000:1000::/home/dev:/bin/sh\n"));
        assert!(read("etc/group").ends_with("dev:x:1000:\n"));
        assert_eq!(read("etc/shadow"), "root:*:1:0:99999:7:::\ndev:!:::::::\n");
        assert_eq!(read("etc/gshadow"), "root:*::\ndev:!::\n");
        if crate::sys::geteuid() == 0 {
            assert!(ensure_home(&root, &p).unwrap());
            let m = fs::metadata(d.path().join("home/dev")).unwrap();
            assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (1000, 1000, 0o700));
            assert!(
                !ensure_home(&root, &p).unwrap(),
                "second run changes nothing"
            );
        }
    }

    #[test]
    fn root_owned_home_of_a_new_account_is_given_to_it() {
        if crate::sys::geteuid() != 0 {
            eprintln!("SKIP: needs root (chown)");
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must run as root"
            );
            return;
        }
        let (d, root) = sysroot_with("root:x:0:0::/root:/bin/sh\n", "root:x:0:\n");
        // The runtime made /home/dev (root, 0755) for a bind mount below it.
        fs::create_dir_all(d.path().join("home/dev/src")).unwrap();
        let cfg = Config {
            user: "dev".into(),
            ..Config::default()
        };
        let p = plan_for(&root, 1000, 1000, &cfg);
        assert!(ensure_home(&root, &p).unwrap());
        let m = fs::metadata(d.path().join("home/dev")).unwrap();
        assert_eq!((m.uid(), m.gid()), (1000, 1000));
        let m = fs::metadata(d.path().join("home/dev/src")).unwrap();
        assert_eq!(m.uid(), 0, "only the directory itself");
        // An existing account's home is never touched this way.
        let (d2, root2) = sysroot_with("app:x:1000:1000::/home/app:/bin/sh\n", "app:x:1000:\n");
        fs::create_dir_all(d2.path().join("home/app")).unwrap();
        let p = plan_for(&root2, 1000, 1000, &Config::default());
        assert!(!ensure_home(&root2, &p).unwrap());
        assert_eq!(fs::metadata(d2.path().join("home/app")).unwrap().uid(), 0);
    }

    #[test]
    fn nothing_to_change_writes_nothing() {
        let (d, root) = sysroot_with("app:x:1000:1000::/home/app:/bin/sh\n", "app:x:1000:\n");
        let p = plan_for(&root, 1000, 1000, &Config::default());
        let before = fs::metadata(d.path().join("etc/passwd")).unwrap().ino();
        apply_account_edits(&root, &p).unwrap();
        assert!(reown(&root, &p).unwrap().is_empty());
        assert_eq!(
            fs::metadata(d.path().join("etc/passwd")).unwrap().ino(),
            before
        );
    }

    #[test]
    fn sudoers_is_written_0440_and_only_once() {
        if crate::sys::geteuid() != 0 {
            eprintln!("SKIP: needs root (sudoers must be root-owned)");
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must run as root"
            );
            return;
        }
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
    fn hooks_run_in_name_order_with_a_clean_environment() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("hooks");
        fs::create_dir(&dir).unwrap();
        let out = d.path().join("out");
        for (name, body) in [
            ("20-second", "echo second >> \"$OUT\"\n"),
            (
                "10-first",
                "env | sort > \"$OUT.env\"; echo first >> \"$OUT\"\n",
            ),
            (".hidden", "echo hidden >> \"$OUT\"\n"),
            ("README", "not executable\n"),
        ] {
            let p = dir.join(name);
            let out_s = out.to_str().unwrap();
            fs::write(&p, format!("#!/bin/sh\nOUT={out_s}\n{body}")).unwrap();
            let mode = if name == "README" { 0o644 } else { 0o755 };
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        }
        let hooks = list_hooks(&dir, false).unwrap();
        assert_eq!(hooks.len(), 2);
        std::env::set_var("LD_PRELOAD_TEST_SECRET", "1");
        run_hooks(&hooks, &hook_env(&Mode::Root, Some(&target()))).unwrap();
        assert_eq!(fs::read_to_string(&out).unwrap(), "first\nsecond\n");
        let env = fs::read_to_string(d.path().join("out.env")).unwrap();
        assert!(!env.contains("LD_PRELOAD_TEST_SECRET"), "{env}");
        assert!(env.contains("HOME=/root\n"), "{env}");
        assert!(env.contains("HOSTMATCH_USER=app\n"), "{env}");
    }

    #[test]
    fn failing_hook_stops_the_start() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("10-fail");
        fs::write(&p, "#!/bin/sh\nexit 3\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        let e = run_hooks(&[p], &hook_env(&Mode::Root, None)).unwrap_err();
        assert!(e.to_string().contains("10-fail"), "{e}");
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
