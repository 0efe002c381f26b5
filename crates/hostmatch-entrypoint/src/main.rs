//! hostmatch-entrypoint: a static container entrypoint that gives the
//! container's account the host user's uid/gid, re-owns its files, drops
//! privileges and runs the command.
//!
//! Usage: `ENTRYPOINT ["/usr/local/bin/hostmatch-entrypoint"]`, the command
//! after it (none: the account's shell). All logic lives in
//! `hostmatch::entrypoint`; `main` is the checklist of steps.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::exit;

use hostmatch::entrypoint::config::{Config, LogLevel};
use hostmatch::entrypoint::plan::{self, Decision, HostIds, StartCreds};
use hostmatch::entrypoint::steps::{self, Finished, Outcome, Steps};
use hostmatch::entrypoint::{self as ep, fault, Mode, WithoutRoot};
use hostmatch::procfs::ProcStatus;
use hostmatch::sys::{process as sp, slate, Credentials, RealCredentials};
use hostmatch::sysroot::Sysroot;
use hostmatch::{accounts::Accounts, Error};

const NAME: &str = "hostmatch-entrypoint";

fn main() {
    // First: a panic prints one line, never a backtrace (RUST_BACKTRACE is
    // the caller's), and ends the process.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("{NAME}: {}", ep::panic_line(info.payload()));
        exit(3);
    }));
    // The command is everything after the binary; there are no options.
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let err = match run(&args) {
        Ok(code) => exit(code),
        Err(e) => e,
    };
    eprintln!("{NAME}: {err}");
    exit(if err.is_bad_input() { 2 } else { 3 });
}

/// The steps, in order. Returns only to report the command's status (init
/// mode) or a failure; otherwise the process becomes the command.
fn run(args: &[OsString]) -> Result<i32, Error> {
    let root = Sysroot::default();
    let mut creds = RealCredentials;
    let start = start_creds(&creds)?;
    let mode = decide_mode(&creds);
    // The caller's environment goes to the command only.
    let caller_env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    fault::init(&caller_env);

    if mode == Mode::Setuid {
        refuse_a_test_build()?;
        forget_environment()?;
        ep::first::check_first_program(&root)?;
    }
    let privileged = !matches!(mode, Mode::Unprivileged(_));
    if privileged {
        // Before any privileged step, in every mode: once per start.
        ep::claim_start(&root, Path::new(ep::MARKER_PATH))?;
    }
    if mode == Mode::Setuid {
        become_root(&mut creds)?;
    }
    let old_umask = sp::set_umask(0o022);
    let cfg = ep::load_config(&root, mode != Mode::Root)?;
    let log = Log(cfg.log_level);
    let protect = own_files();
    if privileged {
        finish_pending(&root, &protect, &log)?;
    }
    let accounts = Accounts::load(&root)?;
    let host = host_ids(&mode, &cfg, &root, &start, &accounts)?;
    let decision = plan::plan(&accounts.passwd, &accounts.group, host, &start, &cfg)?;

    if let Mode::Unprivileged(why) = &mode {
        sp::set_umask(old_umask);
        return run_unprivileged(why, &decision, &cfg, &root, args, &log, caller_env);
    }
    let plan = match decision {
        Decision::StayRoot { reason } => {
            log.info(&format!("running as root, untouched: {reason}"));
            run_hooks(&root, &cfg, &mode, None)?;
            sp::set_umask(old_umask);
            return exec_or_init(args, "/bin/sh", &caller_env, &cfg);
        }
        Decision::Match(p) => p,
    };
    for line in plan.summary() {
        log.info(&line);
    }
    for note in &plan.notes {
        log.warn(note);
    }
    let steps = Steps::from_plan(&root, &plan)?;
    report(&steps::apply(&root, &steps, &protect)?, &log);
    ep::write_sudoers(&root, &plan)?;
    run_hooks(&root, &cfg, &mode, Some(&plan))?;
    ep::drop::drop_privileges(&mut creds, &plan.target)?; // drop + verify
    sp::set_umask(old_umask);
    let env = ep::command_env(caller_env, &plan.target);
    exec_or_init(args, &plan.target.shell, &env, &cfg)
}

/// Real ids and supplementary groups as the runtime set them.
fn start_creds(c: &RealCredentials) -> Result<StartCreds, Error> {
    Ok(StartCreds {
        uid: c.getresuid().0,
        gid: c.getresgid().0,
        groups: c.getgroups()?,
    })
}

/// Root, setuid or unprivileged (with the reason).
fn decide_mode(c: &RealCredentials) -> Mode {
    let (ruid, euid, _) = c.getresuid();
    match Mode::decide(ruid, euid) {
        Mode::Unprivileged(_) => {
            let status = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|t| ProcStatus::parse(&t));
            let exe = std::fs::read_link("/proc/self/exe")
                .unwrap_or_else(|_| "/usr/local/bin/hostmatch-entrypoint".into());
            Mode::Unprivileged(ep::explain_unprivileged(&exe, status.as_ref()))
        }
        m => m,
    }
}

/// A build with test-only fault injection never runs setuid.
fn refuse_a_test_build() -> Result<(), Error> {
    if fault::ENABLED {
        return Err(Error::Permission(
            "this build has test-only fault injection; it refuses to run setuid".into(),
        ));
    }
    Ok(())
}

/// Setuid mode: nothing in this process (std, libc, the ownership engine)
/// may read the caller's environment (RUST_MIN_STACK, TZ, ...). Emptied
/// without looking at the names (a name holding '=' cannot be removed one
/// by one); the process is single-threaded here.
fn forget_environment() -> Result<(), Error> {
    slate::clear_environment().map_err(|source| Error::Sys {
        call: "clearenv",
        source,
    })
}

/// Setuid mode: all ids root, no groups, so that hooks are plain root.
fn become_root(c: &mut RealCredentials) -> Result<(), Error> {
    c.setgroups(&[])?;
    c.setresgid(0)?;
    c.setresuid(0)
}

/// The entrypoint's own binary: no re-own may hold it (a root-mode start
/// runs it as root).
fn own_files() -> Vec<PathBuf> {
    std::fs::read_link("/proc/self/exe").into_iter().collect()
}

/// Finishes an account change a cut-short start left pending.
fn finish_pending(root: &Sysroot, protect: &[PathBuf], log: &Log) -> Result<(), Error> {
    match steps::finish_pending(root, protect)? {
        Finished::Nothing => {}
        Finished::Done(out) => {
            log.warn("finished the account change of a start that was cut short");
            report(&out, log);
        }
        Finished::Dropped(why) => log.warn(&why),
    }
    Ok(())
}

/// Setuid: the real ids; root mode: HOSTMATCH_UID/GID or match_path's owner.
fn host_ids(
    mode: &Mode,
    cfg: &Config,
    root: &Sysroot,
    start: &StartCreds,
    accounts: &Accounts,
) -> Result<Option<HostIds>, Error> {
    match mode {
        // The caller's environment is never read here.
        Mode::Setuid | Mode::Unprivileged(_) => Ok(Some(HostIds {
            uid: start.uid,
            gid: start.gid,
        })),
        Mode::Root => ep::root_mode_host_ids(&|k| std::env::var(k).ok(), cfg, root, accounts),
    }
}

/// Logs what happened to each re-owned path: counts, entries left alone
/// and why, errors.
fn report(out: &[Outcome], log: &Log) {
    for o in out {
        if let Some(why) = &o.refused {
            log.warn(why);
        }
        let Some(rep) = &o.report else {
            continue;
        };
        log.info(&format!("{}: {}", o.path.display(), rep.summary(false)));
        for e in rep.skipped.iter().chain(&rep.errors) {
            log.warn(&format!("{}: {}", e.path.display(), e.error));
        }
    }
}

fn run_hooks(
    root: &Sysroot,
    cfg: &Config,
    mode: &Mode,
    plan: Option<&plan::MatchPlan>,
) -> Result<(), Error> {
    let Some(dir) = &cfg.hooks_dir else {
        return Ok(());
    };
    let hooks = ep::list_hooks(&root.path(&dir.to_string_lossy()), *mode != Mode::Root)?;
    ep::run_hooks(&hooks, &ep::hook_env(mode, plan.map(|p| &p.target)))
}

/// No privileges: the command as planned when nothing has to change;
/// otherwise unchanged after a warning, or an error ([`ep::without_root`]).
fn run_unprivileged(
    why: &str,
    decision: &Decision,
    cfg: &Config,
    root: &Sysroot,
    args: &[OsString],
    log: &Log,
    caller: Vec<(OsString, OsString)>,
) -> Result<i32, Error> {
    match ep::without_root(why, decision, cfg, root)? {
        WithoutRoot::AsPlanned(target) => {
            log.info("nothing to change; running without privileges");
            let env = ep::command_env(caller, target);
            exec_or_init(args, &target.shell, &env, cfg)
        }
        WithoutRoot::Unchanged(warning) => {
            if let Some(w) = warning {
                log.warn(&w);
            }
            exec_or_init(args, "/bin/sh", &caller, cfg)
        }
    }
}

/// Becomes the command, or (init = true) runs it as a child and returns its status.
fn exec_or_init(
    args: &[OsString],
    shell: &str,
    env: &[(OsString, OsString)],
    cfg: &Config,
) -> Result<i32, Error> {
    let mut cmd = ep::build_command(args, shell, env);
    if cfg.init {
        return ep::run_as_init(cmd);
    }
    let e = cmd.exec();
    let prog = args.first().map_or(shell.into(), |a| a.to_string_lossy());
    eprintln!("{NAME}: cannot run {prog}: {e}");
    exit(ep::exec_failure_status(&e));
}

/// Messages on stderr, filtered by `log_level`.
struct Log(LogLevel);

impl Log {
    fn warn(&self, m: &str) {
        if self.0 >= LogLevel::Warn {
            eprintln!("{NAME}: warning: {m}");
        }
    }
    fn info(&self, m: &str) {
        if self.0 >= LogLevel::Info {
            eprintln!("{NAME}: {m}");
        }
    }
}
