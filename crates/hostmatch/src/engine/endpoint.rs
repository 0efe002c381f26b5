//! Which socket the client talks to, decided the way the docker CLI decides,
//! with Podman's sockets as a fallback:
//!
//! 1. `DOCKER_HOST` (when not empty);
//! 2. else the context named by `DOCKER_CONTEXT`, else by `currentContext` in the
//!    CLI's config.json (`$DOCKER_CONFIG` or `~/.docker`), unless it is `default`;
//! 3. else the first of these that exists: Docker's `/var/run/docker.sock`, rootful
//!    Podman's `/run/podman/podman.sock` (as root), rootless Podman's
//!    `$XDG_RUNTIME_DIR/podman/podman.sock` (`/run/user/UID/...` without it);
//!    when none exists, Docker's (the error then names every socket tried).
//!
//! Only `unix://` hosts are accepted: hostmatch reads the engine's processes and
//! files too, so it runs on the engine's machine.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{Error, Result};

/// Docker's default socket.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// Rootful Podman's default API socket (`podman.socket`).
pub const PODMAN_ROOTFUL_SOCKET: &str = "/run/podman/podman.sock";

/// How the socket was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum Source {
    /// The `DOCKER_HOST` variable.
    DockerHost,
    /// A docker CLI context.
    Context { name: String },
    /// Docker's default socket.
    DockerDefault,
    /// Rootful Podman's default socket.
    PodmanRootful,
    /// Rootless Podman's socket in the user's runtime directory.
    PodmanRootless,
}

/// The socket an engine answers on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub socket: PathBuf,
    #[serde(flatten)]
    pub source: Source,
    /// Default sockets looked at and not found (for the error when nothing answers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tried: Vec<PathBuf>,
}

impl Endpoint {
    /// `unix:///run/x.sock (DOCKER_HOST)`, for messages.
    pub fn describe(&self) -> String {
        let from = match &self.source {
            Source::DockerHost => "DOCKER_HOST".to_string(),
            Source::Context { name } => format!("docker context {name}"),
            Source::DockerDefault => "Docker's default".to_string(),
            Source::PodmanRootful => "rootful Podman's default".to_string(),
            Source::PodmanRootless => "rootless Podman's default".to_string(),
        };
        format!("unix://{} ({from})", self.socket.display())
    }
}

/// The client's environment, as far as choosing a socket goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientEnv {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    /// `$DOCKER_CONFIG`, else `$HOME/.docker`.
    pub docker_config: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    /// The effective uid.
    pub uid: u32,
}

impl ClientEnv {
    /// This process's environment.
    pub fn from_process() -> ClientEnv {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        ClientEnv {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            docker_config: var("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| Path::new(&h).join(".docker"))),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            uid: crate::sys::geteuid(),
        }
    }
}

/// The unix socket of a `-H`/`DOCKER_HOST` value: `unix://PATH` (or a bare
/// absolute path); `unix://` alone is Docker's default socket.
pub fn unix_socket(host: &str) -> Option<PathBuf> {
    match host.strip_prefix("unix://") {
        Some("") => Some(PathBuf::from(DOCKER_SOCKET)),
        Some(p) => Some(PathBuf::from(p)),
        None if host.starts_with('/') => Some(PathBuf::from(host)),
        None => None,
    }
}

fn host_socket(host: &str, what: &str) -> Result<PathBuf> {
    unix_socket(host).ok_or_else(|| {
        Error::Unsupported(format!(
            "{what} is '{host}': hostmatch talks to a local engine over its unix socket (unix:///PATH), because it also reads the engine's processes and files"
        ))
    })
}

/// The docker endpoint of context `name`, from the CLI's context store
/// (`contexts/meta/*/meta.json` below the config directory).
pub fn context_host(config_dir: &Path, name: &str) -> Result<String> {
    let meta = config_dir.join("contexts").join("meta");
    let not_found = || {
        Error::invalid(format!(
            "docker context '{name}' not found in {}",
            meta.display()
        ))
    };
    let entries = std::fs::read_dir(&meta).map_err(|_| not_found())?;
    for entry in entries.flatten() {
        let path = entry.path().join("meta.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::InvalidFile {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        if v["Name"].as_str() == Some(name) {
            return v["Endpoints"]["docker"]["Host"]
                .as_str()
                .map(String::from)
                .ok_or_else(|| Error::InvalidFile {
                    path,
                    msg: format!("context '{name}' has no docker endpoint"),
                });
        }
    }
    Err(not_found())
}

/// The context the CLI would use: `DOCKER_CONTEXT`, else config.json's `currentContext`.
fn current_context(env: &ClientEnv) -> Result<Option<String>> {
    if let Some(c) = &env.docker_context {
        return Ok(Some(c.clone()));
    }
    let Some(dir) = &env.docker_config else {
        return Ok(None);
    };
    let path = dir.join("config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::InvalidFile {
        path,
        msg: e.to_string(),
    })?;
    Ok(v["currentContext"]
        .as_str()
        .filter(|c| !c.is_empty())
        .map(String::from))
}

/// The default sockets in the order they are tried.
pub fn default_sockets(env: &ClientEnv) -> Vec<(PathBuf, Source)> {
    let mut out = vec![(PathBuf::from(DOCKER_SOCKET), Source::DockerDefault)];
    if env.uid == 0 {
        out.push((PathBuf::from(PODMAN_ROOTFUL_SOCKET), Source::PodmanRootful));
    } else {
        let runtime = env
            .xdg_runtime_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("/run/user/{}", env.uid)));
        out.push((
            runtime.join("podman").join("podman.sock"),
            Source::PodmanRootless,
        ));
    }
    out
}

/// Chooses the endpoint (see the module's documentation). `exists` says whether a
/// default socket is there.
pub fn resolve(env: &ClientEnv, exists: impl Fn(&Path) -> bool) -> Result<Endpoint> {
    if let Some(host) = &env.docker_host {
        return Ok(Endpoint {
            socket: host_socket(host, "DOCKER_HOST")?,
            source: Source::DockerHost,
            tried: Vec::new(),
        });
    }
    if let Some(name) = current_context(env)?.filter(|c| c != "default") {
        let dir = env
            .docker_config
            .as_deref()
            .ok_or_else(|| Error::invalid(format!("docker context '{name}': no HOME")))?;
        let host = context_host(dir, &name)?;
        return Ok(Endpoint {
            socket: host_socket(&host, &format!("docker context '{name}'"))?,
            source: Source::Context { name },
            tried: Vec::new(),
        });
    }
    let candidates = default_sockets(env);
    let tried: Vec<PathBuf> = candidates.iter().map(|(p, _)| p.clone()).collect();
    let (socket, source) = candidates
        .iter()
        .find(|(p, _)| exists(p))
        .cloned()
        .unwrap_or_else(|| candidates[0].clone());
    Ok(Endpoint {
        socket,
        source,
        tried,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> ClientEnv {
        ClientEnv {
            uid: 0,
            ..ClientEnv::default()
        }
    }

    #[test]
    fn docker_host_wins_and_must_be_a_unix_socket() {
        let mut e = env();
        e.docker_host = Some("unix:///tmp/d.sock".into());
        e.docker_context = Some("other".into());
        let ep = resolve(&e, |_| false).unwrap();
        assert_eq!(ep.socket, PathBuf::from("/tmp/d.sock"));
        assert_eq!(ep.source, Source::DockerHost);
        e.docker_host = Some("tcp://10.0.0.1:2375".into());
        let err = resolve(&e, |_| false).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{err}");
        assert!(err.to_string().contains("tcp://10.0.0.1:2375"), "{err}");
        assert_eq!(unix_socket("unix://"), Some(PathBuf::from(DOCKER_SOCKET)));
    }

    #[test]
    fn defaults_fall_back_to_podman_sockets_that_exist() {
        let ep = resolve(&env(), |_| false).unwrap();
        assert_eq!(ep.socket, PathBuf::from(DOCKER_SOCKET));
        assert_eq!(ep.tried.len(), 2);
        let ep = resolve(&env(), |p| p == Path::new(PODMAN_ROOTFUL_SOCKET)).unwrap();
        assert_eq!(ep.source, Source::PodmanRootful);
        let user = ClientEnv {
            uid: 1000,
            ..ClientEnv::default()
        };
        let ep = resolve(&user, |p| p.ends_with("podman/podman.sock")).unwrap();
        assert_eq!(
            ep.socket,
            PathBuf::from("/run/user/1000/podman/podman.sock")
        );
        assert_eq!(ep.source, Source::PodmanRootless);
    }

    #[test]
    fn contexts_come_from_the_cli_store() {
        let d = tempfile::tempdir().unwrap();
        let meta = d.path().join("contexts/meta/0123abcd");
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"podman","Metadata":{},"Endpoints":{"docker":{"Host":"unix:///run/user/1000/podman/podman.sock","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
        let mut e = env();
        e.docker_config = Some(d.path().to_path_buf());
        e.docker_context = Some("podman".into());
        let ep = resolve(&e, |_| false).unwrap();
        assert_eq!(
            ep.socket,
            PathBuf::from("/run/user/1000/podman/podman.sock")
        );
        // config.json's currentContext does the same; `default` means the default socket.
        e.docker_context = None;
        std::fs::write(
            d.path().join("config.json"),
            r#"{"currentContext":"podman"}"#,
        )
        .unwrap();
        assert_eq!(
            resolve(&e, |_| false).unwrap().source,
            Source::Context {
                name: "podman".into()
            }
        );
        e.docker_context = Some("default".into());
        assert_eq!(
            resolve(&e, |_| false).unwrap().source,
            Source::DockerDefault
        );
        e.docker_context = Some("missing".into());
        let err = resolve(&e, |_| false).unwrap_err();
        assert!(err.to_string().contains("'missing' not found"), "{err}");
    }
}
