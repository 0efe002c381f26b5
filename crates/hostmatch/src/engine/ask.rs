//! Asks, once: which engine serves this client, what it is, how it runs, and
//! which remapping it is configured to apply. The answer ([`Engine`]) is
//! judged by pure code elsewhere (doctor, the predictions, audit).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::client::{Client, DaemonInfo};
use super::endpoint::{self, ClientEnv, Endpoint, Source};
use super::podman_conf::{ConfEnv, PodmanSettings};
use super::procs::{self, DockerdArgs, Process};
use super::{Engine, EngineKind, Privilege, RemapConfig, RemapSource, ServerProcess};
use crate::accounts::Accounts;
use crate::daemon_json::DaemonJson;
use crate::sysroot::Sysroot;
use crate::Result;

/// The engine behind the client's socket, and a connection to it.
pub struct Asked {
    pub engine: Engine,
    pub client: Client,
}

/// Asks the engine the client's environment points at.
pub fn ask(root: &Sysroot, env: &ClientEnv, timeout: Duration) -> Result<Asked> {
    let endpoint = endpoint::resolve(env, |p| p.exists())?;
    ask_at(root, endpoint, timeout)
}

/// Asks the engine at `endpoint`.
pub fn ask_at(root: &Sysroot, endpoint: Endpoint, timeout: Duration) -> Result<Asked> {
    let who = expected(root, &endpoint);
    let client = Client::connect(&endpoint, &who, timeout).map_err(|e| also_tried(e, &endpoint))?;
    let info = client.info()?;
    let server = find_server(root, &endpoint.socket, client.kind, &info);
    let privilege = privilege(root, client.kind, &info, server.as_ref(), &endpoint.socket);
    let remap = match client.kind {
        EngineKind::Docker => docker_remap(root, server.as_ref())?,
        EngineKind::Podman => {
            RemapConfig::Podman(podman_settings(root, server.as_ref(), &privilege)?)
        }
    };
    let engine = Engine {
        endpoint,
        kind: client.kind,
        version: client.version.clone(),
        api_version: client.api_version.clone(),
        privilege,
        userns_remap_active: info.has_security_option("userns"),
        root_dir: info.root_dir.clone(),
        storage_driver: info.driver.clone(),
        default_runtime: info.default_runtime.clone(),
        server,
        remap,
    };
    Ok(Asked { engine, client })
}

/// Connects to the engine at `endpoint` without asking more (for cleanups).
pub fn connect(root: &Sysroot, endpoint: &Endpoint, timeout: Duration) -> Result<Client> {
    Client::connect(endpoint, &expected(root, endpoint), timeout)
}

/// What the user should expect at the socket, named for messages before the engine
/// answers: the daemon whose command line names it, else what the default socket is for.
fn expected(root: &Sysroot, ep: &Endpoint) -> String {
    let act = procs::docker_activation_sockets(root);
    for p in procs::processes(root, &["dockerd", "podman"]) {
        let sockets = match DockerdArgs::parse(&p.argv) {
            Some(a) => a.sockets(&act),
            None => procs::podman_service_sockets(&p).unwrap_or_default(),
        };
        if sockets.iter().any(|s| procs::same_socket(s, &ep.socket)) {
            return match p.program() {
                "dockerd" => format!("the Docker daemon (dockerd, pid {})", p.pid),
                _ if p.uid != 0 => {
                    format!("rootless Podman (podman system service, pid {})", p.pid)
                }
                _ => format!("Podman (podman system service, pid {})", p.pid),
            };
        }
    }
    match ep.source {
        Source::DockerDefault => "the Docker daemon".to_string(),
        Source::PodmanRootful => "rootful Podman".to_string(),
        Source::PodmanRootless => "rootless Podman".to_string(),
        _ => "the engine".to_string(),
    }
}

/// Names the other default sockets looked at when none answers.
fn also_tried(e: crate::Error, ep: &Endpoint) -> crate::Error {
    let others: Vec<String> = ep
        .tried
        .iter()
        .filter(|t| **t != ep.socket)
        .map(|t| t.display().to_string())
        .collect();
    match e {
        crate::Error::Engine(crate::error::EngineError::Unreachable {
            who,
            endpoint,
            reason,
        }) if !others.is_empty() => crate::error::EngineError::Unreachable {
            who,
            endpoint,
            reason: format!("{reason}; no Podman socket at {} either", others.join(", ")),
        }
        .into(),
        other => other,
    }
}

/// The process serving `socket` (see [`procs`] for how it is recognised).
fn find_server(
    root: &Sysroot,
    socket: &Path,
    kind: EngineKind,
    info: &DaemonInfo,
) -> Option<ServerProcess> {
    let program = match kind {
        EngineKind::Docker => "dockerd",
        EngineKind::Podman => "podman",
    };
    let act = procs::docker_activation_sockets(root);
    let sockets_of = |p: &Process| match kind {
        EngineKind::Docker => DockerdArgs::parse(&p.argv).map(|a| a.sockets(&act)),
        EngineKind::Podman => procs::podman_service_sockets(p),
    };
    let candidates: Vec<Process> = procs::processes(root, &[program])
        .into_iter()
        .filter(|p| sockets_of(p).is_some())
        .collect();
    let found = |p: &Process, by: &'static str| ServerProcess {
        pid: p.pid,
        uid: p.uid,
        argv: p.argv.clone(),
        found_by: by,
    };
    let pids: Vec<u32> = candidates.iter().map(|p| p.pid).collect();
    let inode = root
        .read_proc("net/unix")
        .ok()
        .and_then(|net| procs::listening_inode(&net, socket));
    if let Some(inode) = inode {
        if let [one] = procs::holders(root, inode, &pids)[..] {
            return candidates
                .iter()
                .find(|p| p.pid == one)
                .map(|p| found(p, "holds the socket"));
        }
    }
    let by_cmd: Vec<&Process> = candidates
        .iter()
        .filter(|p| {
            sockets_of(p)
                .unwrap_or_default()
                .iter()
                .any(|s| procs::same_socket(s, socket))
        })
        .collect();
    let by_root = |p: &&&Process| {
        let data = DockerdArgs::parse(&p.argv)
            .and_then(|a| a.data_root)
            .unwrap_or_else(|| "/var/lib/docker".into());
        let rd = Path::new(&info.root_dir);
        rd == Path::new(&data) || rd.parent() == Some(Path::new(&data))
    };
    match by_cmd[..] {
        [one] => Some(found(one, "command line")),
        [_, _, ..] => {
            let same_root: Vec<&&Process> = by_cmd.iter().filter(by_root).collect();
            (same_root.len() == 1).then(|| found(same_root[0], "command line and data root"))
        }
        [] => {
            // No command line names the socket: a socket-activated dockerd (`-H fd://`)
            // on a socket other than docker.socket's, its fds unreadable (not root).
            let same_root: Vec<&Process> = candidates.iter().filter(|p| by_root(&p)).collect();
            match (&same_root[..], &candidates[..]) {
                ([one], _) => Some(found(one, "data root")),
                (_, [only]) => Some(found(only, "the only one running")),
                _ => None,
            }
        }
    }
}

/// Rootful or rootless, from the engine's word (Docker) or the server's user (Podman).
fn privilege(
    root: &Sysroot,
    kind: EngineKind,
    info: &DaemonInfo,
    server: Option<&ServerProcess>,
    socket: &Path,
) -> Privilege {
    use std::os::unix::fs::MetadataExt;
    let uid = server
        .map(|s| s.uid)
        .or_else(|| std::fs::metadata(socket).ok().map(|m| m.uid()))
        .unwrap_or(0);
    let rootless = match kind {
        EngineKind::Docker => info.has_security_option("rootless"),
        EngineKind::Podman => uid != 0,
    };
    if !rootless {
        return Privilege::Rootful;
    }
    let user = Accounts::load(root)
        .ok()
        .and_then(|a| a.users_with_uid(uid).first().map(|s| s.to_string()));
    Privilege::Rootless { uid, user }
}

/// Docker's remap setting: the server's `--userns-remap`, else its config file's.
fn docker_remap(root: &Sysroot, server: Option<&ServerProcess>) -> Result<RemapConfig> {
    let args = server
        .and_then(|s| DockerdArgs::parse(&s.argv))
        .unwrap_or_default();
    let config = root.path(args.config_path());
    let from_file = match root.read_opt(args.config_path())? {
        Some(text) => DaemonJson::parse(&text, &config)?
            .userns_remap(&config)?
            .filter(|s| !s.is_empty()),
        None => None,
    };
    let from_cmd = args.userns_remap().map(String::from);
    let conflict = from_cmd.is_some() && from_file.is_some();
    Ok(match (from_cmd, from_file, server) {
        (Some(spec), _, Some(s)) => RemapConfig::Docker {
            spec: Some(spec),
            source: Some(RemapSource::CommandLine { pid: s.pid }),
            conflict,
        },
        (_, Some(spec), _) => RemapConfig::Docker {
            spec: Some(spec),
            source: Some(RemapSource::ConfigFile { path: config }),
            conflict,
        },
        _ => RemapConfig::Docker {
            spec: None,
            source: None,
            conflict,
        },
    })
}

/// The `KEY=VALUE` pairs of `/proc/PID/environ` (None: not readable).
fn environ(root: &Sysroot, pid: u32) -> Option<Vec<(String, String)>> {
    let raw = std::fs::read(root.proc_path(&format!("{pid}/environ"))).ok()?;
    Some(
        crate::procfs::split_nul(&raw)
            .into_iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect(),
    )
}

/// Podman's settings as its server process reads them (its environment when it can be
/// read, else this process's).
fn podman_settings(
    root: &Sysroot,
    server: Option<&ServerProcess>,
    privilege: &Privilege,
) -> Result<PodmanSettings> {
    let vars = server
        .and_then(|s| environ(root, s.pid))
        .unwrap_or_else(|| std::env::vars().collect());
    let home: Option<PathBuf> = match privilege {
        Privilege::Rootful => None,
        Privilege::Rootless { uid, .. } => Accounts::load(root).ok().and_then(|a| {
            a.passwd
                .find(|u| u.uid == *uid)
                .map(|u| PathBuf::from(std::ffi::OsStr::from_bytes(&u.home)))
        }),
    };
    let env = ConfEnv::from_vars(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())), home);
    PodmanSettings::load(root, &env)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake proc directory: processes (pid, uid, argv, socket inodes they hold) and
    /// the listening unix sockets.
    fn fake_proc(procs: &[(u32, u32, &str, &[u64])], sockets: &[(u64, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let mut net = "Num       RefCount Protocol Flags    Type St Inode Path\n".to_string();
        for (inode, path) in sockets {
            net.push_str(&format!(
                "0000000000000000: 00000002 00000000 00010000 0001 01 {inode} {path}\n"
            ));
        }
        std::fs::create_dir_all(d.path().join("net")).unwrap();
        std::fs::write(d.path().join("net/unix"), net).unwrap();
        for (pid, uid, argv, held) in procs {
            let p = d.path().join(pid.to_string());
            std::fs::create_dir_all(p.join("fd")).unwrap();
            std::fs::write(p.join("cmdline"), argv.replace(' ', "\0")).unwrap();
            std::fs::write(
                p.join("status"),
                format!("Uid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
            )
            .unwrap();
            for (i, inode) in held.iter().enumerate() {
                std::os::unix::fs::symlink(
                    format!("socket:[{inode}]"),
                    p.join("fd").join((i + 3).to_string()),
                )
                .unwrap();
            }
        }
        d
    }

    fn info(root_dir: &str) -> DaemonInfo {
        DaemonInfo {
            root_dir: root_dir.into(),
            ..Default::default()
        }
    }

    #[test]
    fn socket_activated_dockerd_is_found_by_the_socket_it_holds() {
        // The stock unit: `dockerd -H fd://`; systemd (pid 1) holds the socket too.
        let d = fake_proc(
            &[
                (1, 0, "/sbin/init", &[4242]),
                (
                    700,
                    0,
                    "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock",
                    &[4242],
                ),
                (
                    800,
                    0,
                    "/usr/bin/dockerd -H unix:///tmp/other.sock",
                    &[5555],
                ),
            ],
            &[(4242, "/run/docker.sock"), (5555, "/tmp/other.sock")],
        );
        let root = Sysroot::default().with_proc(d.path());
        let s = find_server(
            &root,
            Path::new("/var/run/docker.sock"),
            EngineKind::Docker,
            &info("/var/lib/docker"),
        )
        .expect("the socket-activated dockerd");
        assert_eq!((s.pid, s.found_by), (700, "holds the socket"));
        let s = find_server(
            &root,
            Path::new("/tmp/other.sock"),
            EngineKind::Docker,
            &info("/x"),
        )
        .unwrap();
        assert_eq!(s.pid, 800);
    }

    #[test]
    fn socket_activated_dockerd_on_its_own_socket_is_found_by_data_root_without_fds() {
        // `systemd-socket-activate -l /tmp/d/sock dockerd -H fd://`: its command line names
        // no socket and docker.socket's /run/docker.sock is not it; its fds are unreadable.
        let d = fake_proc(
            &[
                (700, 0, "dockerd -H fd:// --data-root /tmp/d/data", &[]),
                (800, 0, "dockerd --data-root /srv/d2", &[]),
            ],
            &[],
        );
        let root = Sysroot::default().with_proc(d.path());
        let s = find_server(
            &root,
            Path::new("/tmp/d/sock"),
            EngineKind::Docker,
            &info("/tmp/d/data/300000.300000"),
        )
        .expect("the fd:// dockerd whose data root /info reported");
        assert_eq!((s.pid, s.found_by), (700, "data root"));
        // Neither data root: no guess.
        let s = find_server(
            &root,
            Path::new("/tmp/d/sock"),
            EngineKind::Docker,
            &info("/elsewhere"),
        );
        assert_eq!(s, None);
    }

    #[test]
    fn without_readable_fds_the_command_line_and_data_root_decide() {
        let d = fake_proc(
            &[
                (700, 0, "dockerd -H fd://", &[]),
                (800, 0, "dockerd --data-root /srv/d2", &[]),
                (
                    900,
                    1000,
                    "podman system service --time=0 unix:///run/user/1000/p.sock",
                    &[],
                ),
            ],
            &[],
        );
        let root = Sysroot::default().with_proc(d.path());
        // fd:// listens on systemd's /run/docker.sock; no -H on the default socket: both
        // match /var/run/docker.sock, and the data root tells them apart.
        let s = find_server(
            &root,
            Path::new("/var/run/docker.sock"),
            EngineKind::Docker,
            &info("/srv/d2/100000.100000"),
        )
        .unwrap();
        assert_eq!((s.pid, s.found_by), (800, "command line and data root"));
        let s = find_server(
            &root,
            Path::new("/run/user/1000/p.sock"),
            EngineKind::Podman,
            &info("/x"),
        )
        .unwrap();
        assert_eq!((s.pid, s.uid, s.found_by), (900, 1000, "command line"));
        let p = privilege(
            &root,
            EngineKind::Podman,
            &info("/x"),
            Some(&s),
            Path::new("/nonexistent"),
        );
        assert!(matches!(p, Privilege::Rootless { uid: 1000, .. }), "{p:?}");
    }
}
