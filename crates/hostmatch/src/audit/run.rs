//! The host side of `hostmatch audit`: the scratch directory, the probe image,
//! the probe containers (through the docker CLI, honouring DOCKER_HOST), the
//! host facts, and cleanup.
//!
//! Everything the audit creates is recorded in a process-wide registry first,
//! so that [`cleanup_now`] (called at the end, and by the CLI's SIGINT/SIGTERM
//! handler) removes it: containers (all named `hostmatch-audit-<pid>-...`),
//! the image (unless kept) and the scratch directory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::image::{self, PROBE_PATH};
use super::{
    files, Audit, DaemonMode, HostEffects, Observations, Predicted, ProbeReport, SocketFacts, Trial,
};
use crate::accounts::Accounts;
use crate::daemon_json::DaemonJson;
use crate::docker::{self, DaemonInfo};
use crate::ids::Id;
use crate::remap;
use crate::sysroot::{paths, Sysroot};
use crate::{Error, Result};

/// Options of an audit.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep the probe image afterwards.
    pub keep: bool,
    /// The binary to put in the image (default: this process's, `/proc/self/exe`).
    pub binary: Option<PathBuf>,
}

/// The image tag: `hostmatch-probe:<version>`.
pub fn image_tag() -> String {
    format!("hostmatch-probe:{}", env!("CARGO_PKG_VERSION"))
}

/// The prefix of this process's container names.
pub fn container_prefix() -> String {
    format!("hostmatch-audit-{}-", std::process::id())
}

#[derive(Debug, Default)]
struct Registry {
    image: Option<String>,
    scratch: Option<PathBuf>,
    children: Vec<u32>,
    containers: bool,
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// For a SIGINT/SIGTERM handler: marks the audit as interrupted (so that the
/// main thread, whose docker children are being killed, waits instead of
/// reporting their failure) and removes everything made so far. The handler
/// then exits the process.
pub fn interrupt() {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
    cleanup_now();
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    image: None,
    scratch: None,
    children: Vec::new(),
    containers: false,
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes everything the audit made so far: kills running docker CLI
/// children, removes this process's containers, the image (when registered)
/// and the scratch directory. Safe to call more than once and from a signal
/// handler's thread.
pub fn cleanup_now() {
    // A handler's call waits for a cleanup already under way on the main thread.
    static CLEANING: Mutex<()> = Mutex::new(());
    let _cleaning = CLEANING.lock().unwrap_or_else(|e| e.into_inner());
    let (image, scratch, children, containers) = {
        let mut r = registry();
        (
            r.image.take(),
            r.scratch.take(),
            std::mem::take(&mut r.children),
            std::mem::take(&mut r.containers),
        )
    };
    for &pid in &children {
        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
    // `docker run --rm` returns after its container is gone; only runs cut
    // short (an interruption kills the CLI) can leave containers, some created
    // or being removed a moment later: sweep until none shows up twice in a row.
    if containers && !children.is_empty() {
        let mut empty = 0;
        for _ in 0..30 {
            let out = docker_quiet(&[
                "ps",
                "-aq",
                "--filter",
                &format!("name=^{}", container_prefix()),
            ]);
            let ids: Vec<String> = out
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect();
            if ids.is_empty() {
                empty += 1;
                if empty >= 2 {
                    break;
                }
            } else {
                empty = 0;
                let mut args = vec!["rm".to_string(), "-f".into()];
                args.extend(ids);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let _ = docker_quiet(&args);
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    if let Some(tag) = image {
        let _ = docker_quiet(&["rmi", "-f", &tag]);
    }
    if let Some(dir) = scratch {
        let _ = fs::remove_dir_all(dir);
    }
}

fn docker_quiet(args: &[&str]) -> Option<Output> {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()
}

/// Starts the docker CLI as a registered child (killed by [`cleanup_now`]),
/// its output piped. Once the audit is interrupted no child starts: the
/// check and the start happen under the registry's lock, which the cleanup
/// takes too, so a child is either registered before the cleanup (and
/// killed by it) or never started (it could outlive the process and create
/// a container after the cleanup).
fn spawn_docker<S: AsRef<std::ffi::OsStr>>(args: &[S], stdin: Stdio) -> Result<Child> {
    let mut reg = registry();
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(Error::io(
            "docker",
            std::io::Error::new(std::io::ErrorKind::Interrupted, "interrupted"),
        ));
    }
    let child = Command::new("docker")
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("docker", e))?;
    reg.children.push(child.id());
    Ok(child)
}

/// Waits for a child of [`spawn_docker`] and unregisters it.
fn wait_docker(child: Child) -> std::io::Result<Output> {
    let pid = child.id();
    let out = child.wait_with_output();
    registry().children.retain(|p| *p != pid);
    out
}

/// Runs the docker CLI as a registered child (killed by [`cleanup_now`]).
fn docker(args: &[String]) -> Result<Output> {
    let child = spawn_docker(args, Stdio::null())?;
    wait_docker(child).map_err(|e| Error::io("docker", e))
}

/// The first meaningful line of the CLI's stderr, without docker's prefixes.
pub fn daemon_message(stderr: &str) -> String {
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("Run 'docker run --help'"))
        .unwrap_or("no message");
    line.trim_start_matches("docker: ")
        .trim_start_matches("Error response from daemon: ")
        .trim_end_matches('.')
        .to_string()
}

/// Classifies a `docker run` of the probe: exit 0 with a report = ran;
/// exit 125 = the daemon refused it; anything else = an error.
pub fn classify(status: Option<i32>, stdout: &str, stderr: &str) -> Trial {
    match status {
        Some(0) => match serde_json::from_str::<ProbeReport>(stdout.trim()) {
            Ok(r) => Trial::Allowed(Some(Box::new(r))),
            Err(e) => Trial::Error(format!("the probe's report is unreadable: {e}")),
        },
        // 125: docker run itself failed. A runtime failure after the daemon
        // accepted the container is not a refusal.
        Some(125) => {
            let msg = daemon_message(stderr);
            if msg.contains("OCI runtime") || msg.contains("failed to create shim task") {
                Trial::StartFailed(msg)
            } else {
                Trial::Refused(msg)
            }
        }
        other => Trial::Error(format!(
            "docker run exited with {}: {}",
            other.map_or("a signal".into(), |c| c.to_string()),
            daemon_message(stderr)
        )),
    }
}

/// The Unix socket path of DOCKER_HOST (unset or empty: the default socket;
/// None: not a Unix socket).
pub fn socket_path(docker_host: Option<&str>) -> Option<PathBuf> {
    match docker_host.filter(|h| !h.is_empty()) {
        None => Some(PathBuf::from("/var/run/docker.sock")),
        Some(h) => h.strip_prefix("unix://").map(PathBuf::from),
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
    fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    registry().scratch = Some(dir.clone());
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

/// Loads the probe image with `docker import - TAG` from a tar stream written
/// straight into the CLI's standard input.
/// Returns the new image's ID: the containers run by ID and cleanup removes by
/// ID, so that another audit retagging `hostmatch-probe:<version>` on the same
/// daemon meanwhile neither breaks this one nor loses its image.
fn import_image(contents: &image::Contents, tag: &str) -> Result<String> {
    // Until the ID is known (interrupted mid-import), cleanup removes the tag.
    registry().image = Some(tag.to_string());
    let mut child = spawn_docker(&["import", "-", tag], Stdio::piped())?;
    let stdin = child.stdin.take().expect("piped stdin");
    let written = image::write_tar(contents, stdin)
        .and_then(|mut w| w.flush().map_err(|e| Error::io("docker import", e)));
    let out = wait_docker(child).map_err(|e| Error::io("docker import", e))?;
    if !out.status.success() {
        return Err(Error::Unsupported(format!(
            "docker import of the probe image failed: {}",
            daemon_message(&String::from_utf8_lossy(&out.stderr))
        )));
    }
    written?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if id.is_empty() || id.contains(char::is_whitespace) {
        return Err(Error::Unsupported(format!(
            "docker import printed no image ID: '{id}'"
        )));
    }
    registry().image = Some(id.clone());
    Ok(id)
}

/// Runs one probe container and classifies the result.
fn run_probe(
    image: &str,
    name: &str,
    opts: &[&str],
    lib_path: Option<&str>,
    probe_args: &[&str],
) -> Trial {
    registry().containers = true;
    let mut args: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "--name".into(),
        format!("{}{name}", container_prefix()),
        "--log-driver".into(),
        "none".into(),
    ];
    args.extend(opts.iter().map(|s| s.to_string()));
    if let Some(lp) = lib_path {
        args.push("-e".into());
        args.push(format!("LD_LIBRARY_PATH={lp}"));
    }
    args.push(image.to_string());
    args.push(PROBE_PATH.into());
    args.push("__probe".into());
    args.extend(probe_args.iter().map(|s| s.to_string()));
    match docker(&args) {
        Ok(out) => classify(
            out.status.code(),
            &String::from_utf8_lossy(&out.stdout),
            &String::from_utf8_lossy(&out.stderr),
        ),
        Err(e) => Trial::Error(e.to_string()),
    }
}

/// Finds the remap setting of the dockerd behind `socket`: its command line's
/// `--userns-remap`, else its config file's `userns-remap`.
fn remap_spec(
    root: &Sysroot,
    socket: Option<&Path>,
) -> std::result::Result<Option<String>, String> {
    let procs = docker::dockerd_processes(root);
    let sock = socket.map(|s| s.display().to_string());
    let serves = |p: &docker::DockerdProcess| match &sock {
        Some(s) => {
            p.hosts.iter().any(|h| {
                h.strip_prefix("unix://").unwrap_or(h) == s
                    || (s.ends_with("/docker.sock") && (h.starts_with("fd://")))
            }) || (p.hosts.is_empty() && s.ends_with("/docker.sock"))
        }
        None => false,
    };
    let matching: Vec<&docker::DockerdProcess> = procs.iter().filter(|p| serves(p)).collect();
    let p = match (matching.as_slice(), procs.as_slice()) {
        ([one], _) => *one,
        // A local socket no command line names (e.g. socket activation): the only dockerd.
        ([], [one]) if sock.is_some() => one,
        _ => {
            return Err(format!(
                "cannot tell which of {} dockerd processes serves {}",
                procs.len(),
                sock.unwrap_or_else(|| "DOCKER_HOST".into())
            ))
        }
    };
    if let Some(s) = &p.userns_remap {
        return Ok(Some(s.clone()));
    }
    let rel = p
        .config_file
        .as_deref()
        .map(|c| c.trim_start_matches('/').to_string())
        .unwrap_or_else(|| paths::DAEMON_JSON.to_string());
    let path = root.path(&rel);
    match root.read_opt(&rel) {
        Ok(None) => Ok(None),
        Ok(Some(text)) => DaemonJson::parse(&text, &path)
            .and_then(|d| d.userns_remap(&path))
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
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

/// Checks that the daemon answers; a clear one-line error otherwise.
pub fn connect(timeout: Duration) -> Result<DaemonInfo> {
    docker::daemon_info(timeout).map_err(|msg| {
        let lower = msg.to_lowercase();
        if lower.contains("permission denied") {
            Error::Permission(format!(
                "no permission to use the Docker daemon's socket: {msg}"
            ))
        } else {
            Error::Unsupported(format!("cannot reach the Docker daemon: {msg}"))
        }
    })
}

/// Runs the audit against the daemon the docker CLI reaches (DOCKER_HOST or the
/// default socket). Everything made is removed before it returns (the image is
/// kept with `opts.keep`), also on errors.
pub fn audit(root: &Sysroot, opts: &Options) -> Result<Audit> {
    let r = audit_inner(root, opts);
    while INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        // The signal handler is cleaning up and will end the process.
        std::thread::sleep(Duration::from_millis(100));
    }
    if opts.keep {
        registry().image = None;
    }
    cleanup_now();
    r
}

fn audit_inner(root: &Sysroot, opts: &Options) -> Result<Audit> {
    let info = connect(Duration::from_secs(15))?;
    let accounts = Accounts::load(root)?;
    let binary = match &opts.binary {
        Some(b) => b.clone(),
        None => fs::read_link("/proc/self/exe").map_err(|e| Error::io("/proc/self/exe", e))?,
    };
    let contents = image::contents(&binary)?;
    let scratch = make_scratch(&accounts)?;
    let tag = image_tag();
    let id = import_image(&contents, &tag)?;
    let id = id.as_str();
    let lib_path = contents.library_path();
    let lp = lib_path.as_deref();

    let volume = format!("{}:/scratch", scratch.dir.display());
    let none = ["--network", "none"];
    let (main, privileged, net_host, pid_host, userns_host) = std::thread::scope(|s| {
        let main = s.spawn(|| {
            run_probe(
                id,
                "scratch",
                &["--network", "none", "-v", &volume],
                lp,
                &["--dir", "/scratch"],
            )
        });
        let privileged = s.spawn(|| {
            run_probe(
                id,
                "privileged",
                &[none[0], none[1], "--privileged"],
                lp,
                &[],
            )
        });
        let net_host = s.spawn(|| run_probe(id, "net-host", &["--net=host"], lp, &[]));
        let pid_host =
            s.spawn(|| run_probe(id, "pid-host", &[none[0], none[1], "--pid=host"], lp, &[]));
        let userns_host = s.spawn(|| {
            run_probe(
                id,
                "userns-host",
                &[none[0], none[1], "--userns=host"],
                lp,
                &[],
            )
        });
        let j = |h: std::thread::ScopedJoinHandle<'_, Trial>| {
            h.join()
                .unwrap_or_else(|_| Trial::Error("probe thread panicked".into()))
        };
        (
            j(main),
            j(privileged),
            j(net_host),
            j(pid_host),
            j(userns_host),
        )
    });
    let probe = match main {
        Trial::Allowed(Some(r)) => *r,
        Trial::Allowed(None) => {
            return Err(Error::Unsupported("the probe printed no report".into()))
        }
        Trial::Refused(m) | Trial::StartFailed(m) | Trial::Error(m) => {
            return Err(Error::Unsupported(format!(
                "the probe container did not run: {m}"
            )))
        }
    };
    let host = host_effects(&scratch);

    let docker_host = std::env::var("DOCKER_HOST").ok();
    let socket = socket_path(docker_host.as_deref());
    let spec = remap_spec(root, socket.as_deref());
    let mode = if info.rootless {
        DaemonMode::Rootless
    } else if info.userns {
        DaemonMode::UsernsRemap(spec.clone().ok().flatten())
    } else {
        DaemonMode::Plain
    };
    let predicted = match (&mode, spec) {
        (DaemonMode::Plain, _) => Predicted::Identity,
        (DaemonMode::Rootless, _) => Predicted::Unknown("rootless Docker: its maps come from the daemon user's subuid ranges".into()),
        (_, Ok(Some(spec))) => match remap::predict(root, &spec) {
            Ok(p) => Predicted::Maps {
                spec,
                uid_map: p.uid_map,
                gid_map: p.gid_map,
            },
            Err(e) => Predicted::Unknown(format!("hostmatch map {spec}: {e}")),
        },
        (_, Ok(None)) => Predicted::Unknown("the daemon remaps, but no userns-remap setting was found on its command line or in its config file".into()),
        (_, Err(e)) => Predicted::Unknown(e),
    };
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
        probe,
        host,
        privileged,
        net_host,
        pid_host,
        userns_host,
        predicted,
        mode,
        socket: socket
            .as_deref()
            .and_then(|p| socket_facts(root, &accounts, p)),
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
mod tests {
    use super::*;

    #[test]
    fn refusals_are_exit_125_with_the_daemon_message() {
        let t = classify(
            Some(125),
            "",
            "docker: Error response from daemon: privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode.\nSee 'docker run --help'.\n",
        );
        match t {
            Trial::Refused(m) => assert!(m.starts_with("privileged mode is incompatible"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(classify(Some(1), "", "boom"), Trial::Error(_)));
        let t = classify(Some(125), "", "docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply caps: operation not permitted: unknown.\n");
        assert!(matches!(t, Trial::StartFailed(_)), "{t:?}");
        assert!(matches!(classify(Some(0), "not json", ""), Trial::Error(_)));
        let report = r#"{"format":1,"uid":0,"gid":0,"uid_map":"0 0 4294967295\n","gid_map":"0 0 4294967295\n"}"#;
        assert!(matches!(
            classify(Some(0), report, ""),
            Trial::Allowed(Some(_))
        ));
    }

    #[test]
    fn docker_host_gives_the_socket_path() {
        assert_eq!(
            socket_path(None),
            Some(PathBuf::from("/var/run/docker.sock"))
        );
        assert_eq!(
            socket_path(Some("")),
            Some(PathBuf::from("/var/run/docker.sock"))
        );
        assert_eq!(
            socket_path(Some("unix:///tmp/d/sock")),
            Some(PathBuf::from("/tmp/d/sock"))
        );
        assert_eq!(socket_path(Some("tcp://10.0.0.1:2375")), None);
    }

    #[test]
    fn the_dockerd_serving_the_socket_gives_the_spec() {
        let d = tempfile::tempdir().unwrap();
        let proc = d.path().join("proc");
        for (pid, argv) in [
            ("10", "/usr/bin/dockerd\0-H\0fd://\0"),
            (
                "11",
                "dockerd\0--host=unix:///tmp/x/sock\0--userns-remap=alice\0",
            ),
            (
                "12",
                "dockerd\0--host=unix:///tmp/y/sock\0--config-file=/cfg/d.json\0",
            ),
        ] {
            fs::create_dir_all(proc.join(pid)).unwrap();
            fs::write(proc.join(pid).join("cmdline"), argv).unwrap();
        }
        fs::create_dir_all(d.path().join("cfg")).unwrap();
        fs::write(d.path().join("cfg/d.json"), r#"{"userns-remap": "bob"}"#).unwrap();
        let root = Sysroot::new(d.path()).with_proc(&proc);
        assert_eq!(
            remap_spec(&root, Some(Path::new("/tmp/x/sock")))
                .unwrap()
                .as_deref(),
            Some("alice")
        );
        assert_eq!(
            remap_spec(&root, Some(Path::new("/tmp/y/sock")))
                .unwrap()
                .as_deref(),
            Some("bob")
        );
        assert_eq!(
            remap_spec(&root, Some(Path::new("/var/run/docker.sock"))).unwrap(),
            None
        );
        assert!(remap_spec(&root, Some(Path::new("/tmp/z/sock"))).is_err());
    }
}
