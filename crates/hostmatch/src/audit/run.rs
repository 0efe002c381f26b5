//! The host side of `hostmatch audit`: the scratch directory, the probe image,
//! the probe containers (over the Engine API, at the socket the client uses:
//! DOCKER_HOST, DOCKER_CONTEXT, Docker's or Podman's default), the host facts,
//! and cleanup.
//!
//! Everything the audit creates is recorded in a process-wide registry first,
//! so that [`cleanup_now`] (called at the end, and by the CLI's SIGINT/SIGTERM
//! handler) removes it: containers (all named `hostmatch-audit-<pid>-...`,
//! registered before they are created), the image (unless kept) and the scratch
//! directory. The registry also counts the requests that may still create
//! something (the image import, container creations): the cleanup waits for
//! their answers before it removes, so nothing appears after it looked.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::image::{self, PROBE_PATH};
use super::{
    files, Audit, DaemonMode, HostEffects, Observations, Predicted, ProbeReport, SocketFacts, Trial,
};
use crate::accounts::Accounts;
use crate::engine::ask::{self, Asked};
use crate::engine::client::{ContainerSpec, CreateGate, HostOption, RunOutcome};
use crate::engine::endpoint::{ClientEnv, Endpoint};
use crate::engine::{Engine, Privilege, RemapConfig};
use crate::ids::Id;
use crate::podman::Userns;
use crate::remap::{self, Inputs, Target};
use crate::sysroot::Sysroot;
use crate::{Error, Result};

/// How long the engine may take for one request (the image import is the longest).
const TIMEOUT: Duration = Duration::from_secs(120);

/// Options of an audit.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep the probe image afterwards.
    pub keep: bool,
    /// The binary to put in the image (default: this process's, `/proc/self/exe`).
    pub binary: Option<PathBuf>,
}

/// The image repository and tag: `hostmatch-probe:<version>`.
pub fn image_tag() -> String {
    format!("{IMAGE_REPO}:{}", env!("CARGO_PKG_VERSION"))
}

const IMAGE_REPO: &str = "hostmatch-probe";

/// The prefix of this process's container names.
pub fn container_prefix() -> String {
    format!("hostmatch-audit-{}-", std::process::id())
}

#[derive(Debug, Default)]
struct Registry {
    endpoint: Option<Endpoint>,
    image: Option<String>,
    scratch: Option<PathBuf>,
    /// Names of containers asked for (created or maybe being created).
    containers: Vec<String>,
    /// An image import is under way: the engine may create the image after a
    /// cleanup looked for it, so the cleanup waits for the import's answer.
    importing: bool,
    /// Container creation requests sent and not answered yet (likewise).
    creating: usize,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    endpoint: None,
    image: None,
    scratch: None,
    containers: Vec::new(),
    importing: false,
    creating: 0,
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// For a SIGINT/SIGTERM handler: marks the audit as interrupted (no container is
/// created after this) and removes everything made so far. The handler then
/// exits the process.
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    cleanup_now();
}

/// The audit's [`CreateGate`]. Before a creation: unless the audit was
/// interrupted, registers the name and counts the request as under way; the
/// check and the registration happen under the registry's lock, which the
/// cleanup takes too, so a container is either registered (and waited for, then
/// removed by the cleanup) or never asked for. After it: no longer under way;
/// not started when interrupted meanwhile.
struct Registered;

impl CreateGate for Registered {
    fn begin(&self, name: &str) -> bool {
        let mut reg = registry();
        if INTERRUPTED.load(Ordering::SeqCst) {
            return false;
        }
        reg.containers.push(name.to_string());
        reg.creating += 1;
        true
    }

    fn end(&self, _name: &str) -> bool {
        let mut reg = registry();
        reg.creating -= 1;
        !INTERRUPTED.load(Ordering::SeqCst)
    }
}

/// Waits until no request that may create something is under way (each ends
/// within its own time limit; bounded by that plus a margin).
fn wait_for_requests_under_way() {
    let deadline = std::time::Instant::now() + TIMEOUT + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let reg = registry();
        if !reg.importing && reg.creating == 0 {
            return;
        }
        drop(reg);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes everything the audit made so far: its containers (by name, once
/// every creation request under way was answered), the image (when registered)
/// and the scratch directory. Safe to call more than once and from a signal
/// handler's thread (the main thread goes on driving the requests under way): it
/// opens its own connection.
pub fn cleanup_now() {
    // A handler's call waits for a cleanup already under way on the main thread.
    static CLEANING: Mutex<()> = Mutex::new(());
    let _cleaning = CLEANING.lock().unwrap_or_else(|e| e.into_inner());
    wait_for_requests_under_way();
    let (endpoint, image, scratch, containers) = {
        let mut r = registry();
        (
            r.endpoint.clone(),
            r.image.take(),
            r.scratch.take(),
            std::mem::take(&mut r.containers),
        )
    };
    if let (Some(ep), true) = (endpoint, image.is_some() || !containers.is_empty()) {
        if let Ok(client) = ask::connect(&Sysroot::default(), &ep, Duration::from_secs(10)) {
            remove_containers(&client, &containers);
            if let Some(img) = image {
                let _ = client.remove_image(&img);
            }
        }
    }
    if let Some(dir) = scratch {
        let _ = fs::remove_dir_all(dir);
    }
}

/// Removes the named containers until none of them shows up twice in a row (a
/// creation that timed out on our side may still land). A refusal such as
/// "removal already in progress" is tried again; an engine that does not answer
/// is not waited for again and again.
fn remove_containers(client: &crate::engine::client::Client, names: &[String]) {
    if names.is_empty() {
        return;
    }
    let mut quiet = 0;
    for _ in 0..30 {
        let busy = names
            .iter()
            .filter(|n| {
                matches!(
                    client.remove_container(n),
                    Ok(true) | Err(Error::Engine(crate::error::EngineError::Refused { .. }))
                )
            })
            .count();
        if busy == 0 {
            quiet += 1;
            if quiet >= 2 {
                break;
            }
        } else {
            quiet = 0;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// Turns a probe container's end into a [`Trial`]: a report when it ran; the
/// engine's refusal; a runtime failure after the engine accepted it.
pub fn classify(outcome: RunOutcome) -> Trial {
    match outcome {
        RunOutcome::Exited {
            code: 0, stdout, ..
        } => match serde_json::from_str::<ProbeReport>(stdout.trim()) {
            Ok(r) => Trial::Allowed(Some(Box::new(r))),
            Err(e) => Trial::Error(format!("the probe's report is unreadable: {e}")),
        },
        RunOutcome::Exited { code, stderr, .. } => Trial::Error(format!(
            "the probe exited with {code}: {}",
            stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message")
        )),
        RunOutcome::Refused(m) => Trial::Refused(m),
        RunOutcome::StartFailed(m) => Trial::StartFailed(m),
        RunOutcome::Failed(m) => Trial::Error(m),
    }
}

/// Where the scratch directory goes: the temporary directory when every uid
/// can traverse its path (container root of a remapping daemon must reach
/// it), else `/tmp`.
fn scratch_parent() -> PathBuf {
    let tmp = std::env::temp_dir();
    let traversable = tmp.ancestors().all(|d| {
        fs::metadata(d)
            .map(|m| m.permissions().mode() & 0o001 != 0)
            .unwrap_or(false)
    });
    if traversable {
        tmp
    } else {
        PathBuf::from("/tmp")
    }
}

/// The scratch directory: root-owned files (when run as root), a 0600 file and
/// a file of a non-root user; registered for cleanup.
struct Scratch {
    dir: PathBuf,
    root_owned: bool,
    user_owner: (Id, Option<String>),
}

fn make_scratch(accounts: &Accounts) -> Result<Scratch> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = scratch_parent().join(format!("hostmatch-audit-{}-{nanos:x}", std::process::id()));
    {
        // Made and registered under the lock the cleanup takes, unless interrupted: a
        // handler's cleanup either sees it or runs before it exists (and none is made).
        let mut r = registry();
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Err(Error::Unsupported("interrupted".into()));
        }
        fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        r.scratch = Some(dir.clone());
    }
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| Error::io(p, e)
    };
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(io(&dir))?;
    for (name, mode) in [
        (files::ROOT_MODIFY, 0o644),
        (files::ROOT_DELETE, 0o644),
        (files::ROOT_CHOWN, 0o644),
        (files::PRIVATE, 0o600),
        (files::USER_OWNED, 0o644),
    ] {
        let p = dir.join(name);
        fs::write(&p, files::CONTENT).map_err(io(&p))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).map_err(io(&p))?;
    }
    let root_owned = crate::sys::geteuid() == 0;
    let user_owner = if root_owned {
        // A non-root account: nobody, else 65534.
        let (uid, gid) = accounts
            .user("nobody")
            .map(|u| (u.uid, u.gid))
            .unwrap_or((65534, 65534));
        let p = dir.join(files::USER_OWNED);
        std::os::unix::fs::chown(&p, Some(uid), Some(gid)).map_err(io(&p))?;
        (
            uid,
            accounts.users_with_uid(uid).first().map(|s| s.to_string()),
        )
    } else {
        let uid = crate::sys::geteuid();
        (
            uid,
            accounts.users_with_uid(uid).first().map(|s| s.to_string()),
        )
    };
    Ok(Scratch {
        dir,
        root_owned,
        user_owner,
    })
}

fn host_effects(s: &Scratch) -> HostEffects {
    let content = |name: &str| fs::read_to_string(s.dir.join(name)).ok();
    let owner = |name: &str| {
        fs::symlink_metadata(s.dir.join(name))
            .ok()
            .map(|m| (m.uid(), m.gid()))
    };
    let original_owner = if s.root_owned {
        Some((0, 0))
    } else {
        owner(files::ROOT_MODIFY)
    };
    HostEffects {
        created_owner: owner(files::CREATED),
        root_file_changed: content(files::ROOT_MODIFY).as_deref() != Some(files::CONTENT),
        root_file_deleted: !s.dir.join(files::ROOT_DELETE).exists(),
        root_file_chowned: owner(files::ROOT_CHOWN) != original_owner,
        user_file_changed: content(files::USER_OWNED).as_deref() != Some(files::CONTENT),
        user_owner: s.user_owner.clone(),
    }
}

fn socket_facts(root: &Sysroot, accounts: &Accounts, path: &Path) -> Option<SocketFacts> {
    let m = fs::metadata(path).ok()?;
    let gid = m.gid();
    let entry = accounts.group.find(|g| g.gid == gid);
    let group = entry.map(|g| g.name.to_string());
    let mut members: Vec<String> = entry
        .map(|g| g.members.iter().map(|m| m.to_string()).collect())
        .unwrap_or_default();
    for (_, u) in accounts.passwd.records() {
        let name = u.name.to_string();
        if u.gid == gid && !members.contains(&name) {
            members.push(name);
        }
    }
    members.retain(|m| !m.is_empty());
    let _ = root;
    Some(SocketFacts {
        path: path.display().to_string(),
        mode: m.permissions().mode(),
        uid: m.uid(),
        gid,
        group,
        members,
    })
}

/// Runs the audit against the engine the client's environment points at
/// (DOCKER_HOST, DOCKER_CONTEXT, Docker's or Podman's default socket).
/// Everything made is removed before it returns (the image is kept with
/// `opts.keep`), also on errors.
pub fn audit(root: &Sysroot, opts: &Options) -> Result<Audit> {
    let r = audit_inner(root, opts);
    while INTERRUPTED.load(Ordering::SeqCst) {
        // The signal handler is cleaning up and will end the process.
        std::thread::sleep(Duration::from_millis(100));
    }
    if opts.keep {
        registry().image = None;
    }
    cleanup_now();
    r
}

/// Imports the probe image, registered for cleanup: first by its tag (an import cut
/// short), then by its ID. Once interrupted no import starts; one under way is waited
/// for by the cleanup ([`Registry::importing`]).
fn import(client: &crate::engine::client::Client, tar: Vec<u8>) -> Result<String> {
    {
        let mut r = registry();
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Err(Error::Unsupported("interrupted".into()));
        }
        r.image = Some(image_tag());
        r.importing = true;
    }
    let res = client.import_image(tar, IMAGE_REPO, env!("CARGO_PKG_VERSION"));
    let mut r = registry();
    r.importing = false;
    if let Ok(id) = &res {
        r.image = Some(id.clone());
    }
    res
}

/// The probe containers: the scratch probe, then one per risky option.
fn probe_specs(image: &str, scratch: &Path, lib_path: Option<&str>) -> Vec<ContainerSpec> {
    let env: Vec<String> = lib_path
        .map(|lp| vec![format!("LD_LIBRARY_PATH={lp}")])
        .unwrap_or_default();
    let spec = |what: &str, options: Vec<HostOption>, binds: Vec<String>, args: &[&str]| {
        let mut cmd = vec![PROBE_PATH.to_string(), "__probe".to_string()];
        cmd.extend(args.iter().map(|s| s.to_string()));
        ContainerSpec {
            name: format!("{}{what}", container_prefix()),
            image: image.to_string(),
            cmd,
            env: env.clone(),
            binds,
            options,
        }
    };
    use HostOption::*;
    vec![
        spec(
            "scratch",
            vec![NetworkNone],
            vec![format!("{}:/scratch", scratch.display())],
            &["--dir", "/scratch"],
        ),
        spec("privileged", vec![NetworkNone, Privileged], vec![], &[]),
        spec("net-host", vec![NetworkHost], vec![], &[]),
        spec("pid-host", vec![NetworkNone, PidHost], vec![], &[]),
        spec("userns-host", vec![NetworkNone, UsernsHost], vec![], &[]),
    ]
}

/// The engine's remap mode, from what it says and how it runs.
fn mode_of(e: &Engine) -> DaemonMode {
    match (&e.privilege, &e.remap) {
        (Privilege::Rootless { uid, user }, _) => DaemonMode::Rootless {
            user: user.clone().unwrap_or_else(|| uid.to_string()),
        },
        (_, RemapConfig::Docker { spec, .. }) if e.userns_remap_active => {
            DaemonMode::UsernsRemap(spec.clone())
        }
        (_, RemapConfig::Podman(s)) if !matches!(Userns::parse(&s.userns), Ok(Userns::Host)) => {
            DaemonMode::PodmanUserns(s.userns.clone())
        }
        _ => DaemonMode::Plain,
    }
}

/// What hostmatch predicts for the engine's own setting.
fn predicted_for(root: &Sysroot, e: &Engine, mode: &DaemonMode) -> Predicted {
    let target = Target::of_engine(e);
    let settings = match &e.remap {
        RemapConfig::Podman(s) => s.clone(),
        _ => Default::default(),
    };
    // The arguments of `hostmatch map` that make the same prediction.
    let command = match &target {
        Some(Target::Docker(spec)) => format!("{spec} --engine docker:{}", e.version),
        Some(Target::PodmanRootless { user, .. }) => format!("--rootless {user}"),
        _ => "--engine podman".to_string(),
    };
    match (mode, target) {
        (DaemonMode::Plain, _) | (_, Some(Target::PodmanRootful(Userns::Host))) => Predicted::Identity,
        (DaemonMode::PodmanUserns(u), _) => Predicted::Unknown(format!(
            "Podman's userns '{u}' gives each container its own ids"
        )),
        (_, None) => Predicted::Unknown(
            "the engine remaps, but no userns-remap setting was found on its command line or in its config file".into(),
        ),
        (_, Some(t)) => match Inputs::load(root)
            .and_then(|i| remap::predict_target(&i, &t, e.rules(), &settings))
        {
            Ok(p) => Predicted::Maps {
                spec: command,
                uid_map: p.uid_map,
                gid_map: p.gid_map,
            },
            Err(err) => Predicted::Unknown(format!("hostmatch map {command}: {err}")),
        },
    }
}

fn audit_inner(root: &Sysroot, opts: &Options) -> Result<Audit> {
    let Asked { engine, mut client } =
        ask::ask(root, &ClientEnv::from_process(), Duration::from_secs(15))?;
    client.set_timeout(TIMEOUT);
    registry().endpoint = Some(engine.endpoint.clone());
    let accounts = Accounts::load(root)?;
    let binary = match &opts.binary {
        Some(b) => b.clone(),
        None => fs::read_link("/proc/self/exe").map_err(|e| Error::io("/proc/self/exe", e))?,
    };
    let contents = image::contents(&binary)?;
    let scratch = make_scratch(&accounts)?;
    let tar = image::write_tar(&contents, Vec::new())?;
    let id = import(&client, tar)?;
    let lib_path = contents.library_path();
    let specs = probe_specs(&id, &scratch.dir, lib_path.as_deref());
    let mut trials = client
        .run_all(&specs, &Registered)
        .into_iter()
        .map(classify);
    let mut next = || trials.next().unwrap_or(Trial::Error("no result".into()));
    let (main, privileged, net_host, pid_host, userns_host) =
        (next(), next(), next(), next(), next());
    let probe = match main {
        Trial::Allowed(Some(r)) => *r,
        Trial::Allowed(None) => {
            return Err(Error::Unsupported("the probe printed no report".into()))
        }
        Trial::Refused(m) | Trial::StartFailed(m) | Trial::Error(m) => {
            return Err(Error::Unsupported(format!(
                "the probe container did not run on {}: {m}",
                engine.label()
            )))
        }
    };
    let host = host_effects(&scratch);
    let mode = mode_of(&engine);
    let predicted = predicted_for(root, &engine, &mode);
    let all: Vec<(String, Id)> = accounts
        .passwd
        .records()
        .map(|(_, u)| (u.name.to_string(), u.uid))
        .collect();
    let mapped_accounts = match probe.maps() {
        Ok((uid_map, _)) if !matches!(mode, DaemonMode::Plain) => {
            super::mapped_accounts(&uid_map, &all)
        }
        _ => Vec::new(),
    };
    let obs = Observations {
        engine: engine.label(),
        kind: engine.kind,
        probe,
        host,
        privileged,
        net_host,
        pid_host,
        userns_host,
        predicted,
        mode,
        socket: socket_facts(root, &accounts, &engine.endpoint.socket),
        max_user_namespaces: root
            .read_proc("sys/user/max_user_namespaces")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        mapped_accounts,
        scratch_root_owned: scratch.root_owned,
    };
    Ok(super::evaluate(&obs))
}

#[cfg(test)]
mod engine_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests that set [`INTERRUPTED`] run one at a time (`cargo test` runs tests
    /// as threads of one process).
    static SERIAL: Mutex<()> = Mutex::new(());

    /// Held by a test that sets [`INTERRUPTED`], for as long as it runs.
    pub(super) fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[test]
    fn outcomes_become_trials() {
        assert!(matches!(
            classify(RunOutcome::Refused("privileged mode is incompatible with user namespaces".into())),
            Trial::Refused(m) if m.starts_with("privileged mode")
        ));
        assert!(matches!(
            classify(RunOutcome::StartFailed("OCI runtime create failed".into())),
            Trial::StartFailed(_)
        ));
        let report = r#"{"format":1,"uid":0,"gid":0,"uid_map":"0 0 4294967295\n","gid_map":"0 0 4294967295\n"}"#;
        let ran = |code, out: &str| RunOutcome::Exited {
            code,
            stdout: out.into(),
            stderr: "boom\n".into(),
        };
        assert!(matches!(classify(ran(0, report)), Trial::Allowed(Some(_))));
        assert!(matches!(classify(ran(0, "not json")), Trial::Error(_)));
        assert!(matches!(classify(ran(1, "")), Trial::Error(m) if m.contains("boom")));
    }

    #[test]
    fn no_container_is_created_once_interrupted() {
        let _serial = serial();
        let name = format!("{}test", container_prefix());
        assert!(Registered.begin(&name));
        assert_eq!(registry().creating, 1);
        INTERRUPTED.store(true, Ordering::SeqCst);
        assert!(!Registered.begin("late"));
        // Created meanwhile: not started.
        assert!(!Registered.end(&name));
        assert_eq!(registry().creating, 0);
        INTERRUPTED.store(false, Ordering::SeqCst);
        let names = std::mem::take(&mut registry().containers);
        assert_eq!(names, [name]);
    }

    #[test]
    fn probes_cover_the_scratch_directory_and_each_risky_option() {
        let s = probe_specs("sha256:x", Path::new("/tmp/s"), Some("/lib"));
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].binds, ["/tmp/s:/scratch"]);
        assert_eq!(s[0].cmd, ["/hostmatch", "__probe", "--dir", "/scratch"]);
        assert!(s
            .iter()
            .all(|c| c.env == ["LD_LIBRARY_PATH=/lib"] && c.name.starts_with(&container_prefix())));
        assert!(s[1].options.contains(&HostOption::Privileged));
        assert!(s[4].options.contains(&HostOption::UsernsHost));
    }
}
