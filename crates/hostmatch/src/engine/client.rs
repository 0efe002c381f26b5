//! The Engine API (Docker's, which Podman serves too) over a unix socket, with
//! bollard as the client and a blocking face: each [`Client`] owns a small
//! single-threaded tokio runtime, and every call waits for its answer with a
//! deadline.
//!
//! The API version is negotiated the way the docker CLI does it: `/version` is
//! asked without a version prefix (every engine answers that), then every later
//! request uses the lower of the engine's version and bollard's.

use std::future::Future;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, LogsOptions, RemoveContainerOptions,
    RemoveImageOptions, TagImageOptions, WaitContainerOptions,
};
use bollard::{ClientVersion, Docker};
use futures_util::StreamExt;

use super::endpoint::Endpoint;
use super::EngineKind;
use crate::error::EngineError;
use crate::Result;

/// The oldest Engine API hostmatch uses (Docker 19.03, Podman 3).
pub const MIN_API: (usize, usize) = (1, 40);

/// An Engine API version `1.41`.
fn parse_api(s: &str) -> Option<(usize, usize)> {
    let (a, b) = s.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Whether an import answer names an image: `sha256:` and 64 hex digits, or the digits.
fn is_image_id(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The newest Engine API bollard speaks.
fn max_api() -> (usize, usize) {
    let v = bollard::API_DEFAULT_VERSION;
    (v.major_version, v.minor_version)
}

/// The first `std::io::Error` in an error's source chain.
fn io_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}

/// The message of the last error in an error's source chain (hyper's "invalid HTTP
/// version parsed" rather than bollard's "error in the hyper legacy client").
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// What went wrong talking to an engine, before its message is worded.
#[derive(Debug)]
pub enum CallError {
    /// The engine answered with an HTTP error (its message).
    Daemon { status: u16, message: String },
    /// Anything else (transport, timeout, unreadable answer), worded.
    Other(EngineError),
}

impl CallError {
    /// The daemon's message or the error's text.
    pub fn message(&self) -> String {
        match self {
            CallError::Daemon { message, .. } => message.clone(),
            CallError::Other(e) => e.to_string(),
        }
    }
}

/// Who is behind the socket and at which address, for messages.
#[derive(Debug, Clone)]
struct Peer {
    who: String,
    endpoint: String,
    /// The deadline of each request, in seconds.
    secs: u64,
}

impl Peer {
    fn word(&self, e: bollard::errors::Error, what: &str) -> CallError {
        use bollard::errors::Error as B;
        let (who, endpoint) = (self.who.clone(), self.endpoint.clone());
        let unexpected = |detail: String| {
            CallError::Other(EngineError::Unexpected {
                who: who.clone(),
                endpoint: endpoint.clone(),
                what: what.to_string(),
                detail,
            })
        };
        match e {
            B::DockerResponseServerError {
                status_code,
                message,
            } => CallError::Daemon {
                status: status_code,
                message: message.trim().trim_end_matches('.').to_string(),
            },
            B::RequestTimeoutError => CallError::Other(EngineError::Timeout {
                who,
                endpoint,
                what: what.to_string(),
                secs: self.secs,
            }),
            B::JsonDataError { message, .. } => unexpected(message),
            B::JsonSerdeError { err } => unexpected(err.to_string()),
            other => match io_cause(&other) {
                Some(io) if io.kind() == ErrorKind::PermissionDenied => {
                    CallError::Other(EngineError::Permission {
                        who,
                        endpoint,
                        detail: io.to_string(),
                    })
                }
                Some(io) => CallError::Other(EngineError::Unreachable {
                    who,
                    endpoint,
                    reason: io.to_string(),
                }),
                None => unexpected(format!(
                    "{} (expected an HTTP answer of the Engine API)",
                    innermost(&other)
                )),
            },
        }
    }
}

/// What the engine says of itself (`/info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonInfo {
    pub security_options: Vec<String>,
    pub root_dir: String,
    pub driver: String,
    pub default_runtime: String,
}

impl DaemonInfo {
    /// Whether `name=NAME` is among the security options (`userns`, `rootless`).
    pub fn has_security_option(&self, name: &str) -> bool {
        let want = format!("name={name}");
        self.security_options
            .iter()
            .any(|o| o.split(',').any(|kv| kv == want))
    }
}

/// A host-level option of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostOption {
    NetworkNone,
    NetworkHost,
    PidHost,
    UsernsHost,
    Privileged,
}

/// A container to run to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// `HOST:CONTAINER[:OPTIONS]` bind mounts.
    pub binds: Vec<String>,
    pub options: Vec<HostOption>,
}

/// How a container run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// It ran; its exit code and output.
    Exited {
        code: i64,
        stdout: String,
        stderr: String,
    },
    /// The engine refused to create it (its message).
    Refused(String),
    /// The engine created it, but it could not start (its message).
    StartFailed(String),
    /// Something else went wrong (the message).
    Failed(String),
}

/// Told of each container creation of [`Client::run_all`], so that whoever cleans up
/// knows which creations are under way.
pub trait CreateGate: Sync {
    /// Right before the creation request of container `name`: false to create none.
    fn begin(&self, name: &str) -> bool;
    /// Once that request ended (answered, refused, failed or timed out): false to start
    /// none.
    fn end(&self, name: &str) -> bool;
}

/// A connection to one engine.
pub struct Client {
    rt: tokio::runtime::Runtime,
    docker: Docker,
    peer: Peer,
    pub kind: EngineKind,
    /// The version the engine reports.
    pub version: String,
    /// The Engine API version in use.
    pub api_version: String,
    timeout: Duration,
}

impl Client {
    /// Connects and negotiates the API version. `who` names the engine expected there
    /// (for messages until the engine says what it is).
    pub fn connect(endpoint: &Endpoint, who: &str, timeout: Duration) -> Result<Client> {
        let mut peer = Peer {
            who: who.to_string(),
            endpoint: endpoint.describe(),
            secs: timeout.as_secs().max(1),
        };
        check_socket(&endpoint.socket, &peer)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::Error::io("tokio runtime", e))?;
        let path = endpoint.socket.display().to_string();
        let secs = timeout.as_secs().max(1);
        let unversioned = Docker::connect_with_unix(&path, secs, bollard::API_DEFAULT_VERSION)
            .map_err(|e| peer.word(e, "the connection").into_error())?
            .with_request_modifier(|mut req| {
                // `/vX.Y/version` -> `/version`: answered by every API version.
                let uri = req.uri().to_string();
                if let Some(i) = uri.rfind("/v1.").filter(|_| uri.ends_with("/version")) {
                    if let Ok(u) = format!("{}/version", &uri[..i]).parse() {
                        *req.uri_mut() = u;
                    }
                }
                req
            });
        let v = run(&rt, timeout, &peer, unversioned.version(), "/version")?;
        let component = v
            .components
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>();
        let kind = if component.iter().any(|n| n.contains("Podman")) {
            EngineKind::Podman
        } else {
            EngineKind::Docker
        };
        let version = v.version.clone().ok_or_else(|| EngineError::Unexpected {
            who: peer.who.clone(),
            endpoint: peer.endpoint.clone(),
            what: "/version".into(),
            detail: "no Version field (expected the Engine API's SystemVersion)".into(),
        })?;
        peer.who = format!("{} {version}", kind.name());
        let api = negotiate(&v, &peer)?;
        let docker = Docker::connect_with_unix(
            &path,
            secs,
            &ClientVersion {
                major_version: api.0,
                minor_version: api.1,
            },
        )
        .map_err(|e| peer.word(e, "the connection").into_error())?;
        Ok(Client {
            rt,
            docker,
            peer,
            kind,
            version,
            api_version: format!("{}.{}", api.0, api.1),
            timeout,
        })
    }

    /// Gives later requests `t` to answer (an image import takes longer than a question).
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
        self.peer.secs = t.as_secs().max(1);
        self.docker.set_timeout(t);
    }

    /// `Docker 20.10.24`.
    pub fn who(&self) -> &str {
        &self.peer.who
    }

    /// The socket, as described to the user.
    pub fn endpoint(&self) -> &str {
        &self.peer.endpoint
    }

    /// `/info`, as far as hostmatch uses it.
    pub fn info(&self) -> Result<DaemonInfo> {
        let i = run(
            &self.rt,
            self.timeout,
            &self.peer,
            self.docker.info(),
            "/info",
        )?;
        let root_dir = i
            .docker_root_dir
            .clone()
            .ok_or_else(|| EngineError::Unexpected {
                who: self.peer.who.clone(),
                endpoint: self.peer.endpoint.clone(),
                what: "/info".into(),
                detail: "no DockerRootDir field (expected the Engine API's SystemInfo)".into(),
            })?;
        Ok(DaemonInfo {
            security_options: i.security_options.unwrap_or_default(),
            root_dir,
            driver: i.driver.unwrap_or_default(),
            default_runtime: i.default_runtime.unwrap_or_default(),
        })
    }

    /// Imports a root filesystem tarball as image `repo:tag` (`docker import`) and
    /// returns its ID. The engines answer differently: Docker names the image and says
    /// `{"status":"sha256:ID"}`; Podman 4.3 ignores the name (its handler misspells the
    /// `repo` parameter) and says `{"status":"ID","id":"ID"}`; so the ID is taken from the
    /// answer and the image tagged afterwards.
    pub fn import_image(&self, tar: Vec<u8>, repo: &str, tag: &str) -> Result<String> {
        let opts = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(repo.into()),
            tag: Some(tag.into()),
            ..Default::default()
        };
        let body = bollard::body_full(tar.into());
        let stream = self.docker.create_image(Some(opts), Some(body), None);
        let imported = async move {
            let mut s = Box::pin(stream);
            let mut id = None;
            while let Some(r) = s.next().await {
                let info = r?;
                let said = info.id.or(info.status).filter(|v| is_image_id(v));
                id = said.or(id);
            }
            Ok::<Option<String>, bollard::errors::Error>(id)
        };
        let name = format!("{repo}:{tag}");
        let id = match self.call(imported, "the image import")? {
            Some(id) => id,
            None => {
                let img = self.call(self.docker.inspect_image(&name), "the imported image")?;
                img.id.filter(|id| !id.is_empty()).ok_or_else(|| {
                    crate::Error::from(EngineError::Unexpected {
                        who: self.peer.who.clone(),
                        endpoint: self.peer.endpoint.clone(),
                        what: "the image import".into(),
                        detail: "no image ID in its answer, and none under its name".into(),
                    })
                })?
            }
        };
        let tag_opts = TagImageOptions {
            repo: Some(repo.into()),
            tag: Some(tag.into()),
        };
        self.call(
            self.docker.tag_image(&id, Some(tag_opts)),
            "tagging the imported image",
        )?;
        Ok(id)
    }

    /// Removes an image by ID or name (a missing image is not an error).
    pub fn remove_image(&self, image: &str) -> Result<()> {
        let opts = RemoveImageOptions {
            force: true,
            ..Default::default()
        };
        match self.try_call(self.docker.remove_image(image, Some(opts), None)) {
            Ok(_) | Err(CallError::Daemon { status: 404, .. }) => Ok(()),
            Err(e) => Err(e.into_error()),
        }
    }

    /// Removes a container by name, with its anonymous volumes; false when there is none.
    pub fn remove_container(&self, name: &str) -> Result<bool> {
        let opts = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.try_call(self.docker.remove_container(name, Some(opts))) {
            Ok(()) => Ok(true),
            Err(CallError::Daemon { status: 404, .. }) => Ok(false),
            Err(e) => Err(e.into_error()),
        }
    }

    /// Runs containers to their end and removes them: first creates every one, then
    /// starts them all at once. No creation overlaps a start: Podman 4.3 (containers/storage
    /// 1.43) deadlocks for good when a `--userns=auto` creation and a start run at the
    /// same time (see docs/testing.md). `gate` is told of each creation before and after.
    pub fn run_all(&self, specs: &[ContainerSpec], gate: &dyn CreateGate) -> Vec<RunOutcome> {
        let created = self.rt.block_on(futures_util::future::join_all(
            specs.iter().map(|s| self.create(s, gate)),
        ));
        let runs = specs.iter().zip(created).map(|(spec, created)| async move {
            match created {
                Err(outcome) => outcome,
                Ok(()) => self.start_and_collect(spec).await,
            }
        });
        self.rt.block_on(futures_util::future::join_all(runs))
    }

    /// Creates a container unless `gate` says no; the outcome when it is not to start.
    async fn create(
        &self,
        spec: &ContainerSpec,
        gate: &dyn CreateGate,
    ) -> std::result::Result<(), RunOutcome> {
        if !gate.begin(&spec.name) {
            return Err(RunOutcome::Failed("interrupted".into()));
        }
        let opts = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        let created = self
            .timed(self.docker.create_container(Some(opts), self.body(spec)))
            .await;
        let go_on = gate.end(&spec.name);
        match created {
            Err(CallError::Daemon { message, .. }) => Err(RunOutcome::Refused(message)),
            Err(other) => Err(RunOutcome::Failed(other.message())),
            Ok(_) if !go_on => Err(RunOutcome::Failed("interrupted".into())),
            Ok(_) => Ok(()),
        }
    }

    /// Starts a created container, waits for its end, reads its output, removes it.
    async fn start_and_collect(&self, spec: &ContainerSpec) -> RunOutcome {
        let d = &self.docker;
        let outcome = match self.timed(d.start_container(&spec.name, None)).await {
            Err(e) => RunOutcome::StartFailed(e.message()),
            Ok(()) => self.wait_and_collect(&spec.name).await,
        };
        let rm = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        let _ = self.timed(d.remove_container(&spec.name, Some(rm))).await;
        outcome
    }

    async fn wait_and_collect(&self, name: &str) -> RunOutcome {
        let d = &self.docker;
        let mut wait = Box::pin(d.wait_container(name, None::<WaitContainerOptions>));
        let code = match tokio::time::timeout(self.timeout, wait.next()).await {
            Err(_) => return RunOutcome::Failed(format!("{} did not end in time", name)),
            Ok(None) => 0,
            Ok(Some(Ok(r))) => r.status_code,
            Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => code,
            Ok(Some(Err(e))) => return RunOutcome::Failed(self.peer.word(e, "wait").message()),
        };
        let logs = LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let mut stream = Box::pin(d.logs(name, Some(logs)));
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        loop {
            match tokio::time::timeout(self.timeout, stream.next()).await {
                Ok(Some(Ok(bollard::container::LogOutput::StdErr { message }))) => {
                    stderr.extend_from_slice(&message)
                }
                Ok(Some(Ok(out))) => stdout.extend_from_slice(&out.into_bytes()),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return RunOutcome::Failed(self.peer.word(e, "the logs").message())
                }
                Err(_) => return RunOutcome::Failed(format!("the logs of {name} did not end")),
            }
        }
        RunOutcome::Exited {
            code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    fn body(&self, spec: &ContainerSpec) -> ContainerCreateBody {
        let mut hc = HostConfig {
            binds: Some(spec.binds.clone()),
            // A log driver whose logs the API can read back, on both engines.
            log_config: Some(HostConfigLogConfig {
                typ: Some(match self.kind {
                    EngineKind::Docker => "json-file".into(),
                    EngineKind::Podman => "k8s-file".into(),
                }),
                config: None,
            }),
            ..Default::default()
        };
        for o in &spec.options {
            match o {
                HostOption::NetworkNone => hc.network_mode = Some("none".into()),
                HostOption::NetworkHost => hc.network_mode = Some("host".into()),
                HostOption::PidHost => hc.pid_mode = Some("host".into()),
                HostOption::UsernsHost => hc.userns_mode = Some("host".into()),
                HostOption::Privileged => hc.privileged = Some(true),
            }
        }
        ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(spec.cmd.clone()),
            env: Some(spec.env.clone()),
            host_config: Some(hc),
            ..Default::default()
        }
    }

    async fn timed<T>(
        &self,
        f: impl Future<Output = std::result::Result<T, bollard::errors::Error>>,
    ) -> std::result::Result<T, CallError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r.map_err(|e| self.peer.word(e, "a request")),
            Err(_) => Err(CallError::Other(EngineError::Timeout {
                who: self.peer.who.clone(),
                endpoint: self.peer.endpoint.clone(),
                what: "a request".into(),
                secs: self.peer.secs,
            })),
        }
    }

    fn try_call<T>(
        &self,
        f: impl Future<Output = std::result::Result<T, bollard::errors::Error>>,
    ) -> std::result::Result<T, CallError> {
        self.rt.block_on(self.timed(f))
    }

    fn call<T>(
        &self,
        f: impl Future<Output = std::result::Result<T, bollard::errors::Error>>,
        what: &str,
    ) -> Result<T> {
        self.try_call(f).map_err(|e| match e {
            CallError::Daemon { status, message } => EngineError::Refused {
                who: self.peer.who.clone(),
                what: what.to_string(),
                status,
                message,
            }
            .into(),
            other => other.into_error(),
        })
    }
}

impl CallError {
    fn into_error(self) -> crate::Error {
        match self {
            CallError::Daemon { status, message } => EngineError::Refused {
                who: "the engine".into(),
                what: "a request".into(),
                status,
                message,
            }
            .into(),
            CallError::Other(e) => e.into(),
        }
    }
}

/// Runs one request on `rt` with a deadline.
fn run<T>(
    rt: &tokio::runtime::Runtime,
    timeout: Duration,
    peer: &Peer,
    f: impl Future<Output = std::result::Result<T, bollard::errors::Error>>,
    what: &str,
) -> Result<T> {
    match rt.block_on(async { tokio::time::timeout(timeout, f).await }) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(match peer.word(e, what) {
            CallError::Daemon { status, message } => EngineError::Refused {
                who: peer.who.clone(),
                what: what.to_string(),
                status,
                message,
            }
            .into(),
            CallError::Other(e) => e.into(),
        }),
        Err(_) => Err(EngineError::Timeout {
            who: peer.who.clone(),
            endpoint: peer.endpoint.clone(),
            what: what.to_string(),
            secs: peer.secs,
        }
        .into()),
    }
}

/// The API version to use with an engine that answered `/version` with `v`.
fn negotiate(v: &bollard::models::SystemVersion, peer: &Peer) -> Result<(usize, usize)> {
    let unexpected = |detail: String| EngineError::Unexpected {
        who: peer.who.clone(),
        endpoint: peer.endpoint.clone(),
        what: "/version".into(),
        detail,
    };
    let server = v
        .api_version
        .as_deref()
        .and_then(parse_api)
        .ok_or_else(|| {
            unexpected(format!(
                "ApiVersion {:?} (expected a version such as 1.41)",
                v.api_version
            ))
        })?;
    let fmt = |(a, b): (usize, usize)| format!("{a}.{b}");
    if server < MIN_API {
        return Err(EngineError::ApiTooOld {
            who: peer.who.clone(),
            endpoint: peer.endpoint.clone(),
            server: fmt(server),
            min: fmt(MIN_API),
        }
        .into());
    }
    let ours = max_api();
    if let Some(min) = v.min_api_version.as_deref().and_then(parse_api) {
        if min > ours {
            return Err(EngineError::ApiTooNew {
                who: peer.who.clone(),
                endpoint: peer.endpoint.clone(),
                min: fmt(min),
                max: fmt(ours),
            }
            .into());
        }
    }
    Ok(server.min(ours))
}

/// Checks that the socket is there and may be opened, for a clear message first.
fn check_socket(path: &Path, peer: &Peer) -> Result<()> {
    let (who, endpoint) = (peer.who.clone(), peer.endpoint.clone());
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            return Err(EngineError::Permission {
                who,
                endpoint,
                detail: format!("a directory on its path is closed to this user ({e})"),
            }
            .into())
        }
        Err(e) => {
            return Err(EngineError::Unreachable {
                who,
                endpoint,
                reason: e.to_string(),
            }
            .into())
        }
    };
    let mode = meta.permissions().mode();
    // Connecting to a unix socket needs write permission on it.
    if !crate::sys::can_write(path) {
        return Err(EngineError::Permission {
            who,
            endpoint,
            detail: format!(
                "it is mode {:04o}, owner {}:{}; run as root, as its owner or as a member of its group",
                mode & 0o7777,
                meta.uid(),
                meta.gid()
            ),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(api: Option<&str>, min: Option<&str>) -> bollard::models::SystemVersion {
        bollard::models::SystemVersion {
            api_version: api.map(String::from),
            min_api_version: min.map(String::from),
            version: Some("20.10.24".into()),
            ..Default::default()
        }
    }

    fn peer() -> Peer {
        Peer {
            who: "Docker 20.10.24".into(),
            endpoint: "unix:///x".into(),
            secs: 10,
        }
    }

    #[test]
    fn api_versions_are_negotiated_or_refused_in_one_line() {
        assert_eq!(
            negotiate(&version(Some("1.41"), Some("1.12")), &peer()).unwrap(),
            (1, 41)
        );
        assert_eq!(
            negotiate(&version(Some("1.99"), Some("1.44")), &peer()).unwrap(),
            max_api()
        );
        let old = negotiate(&version(Some("1.38"), None), &peer())
            .unwrap_err()
            .to_string();
        assert!(
            old.contains("Docker 20.10.24") && old.contains("1.38") && old.contains("1.40"),
            "{old}"
        );
        let new = negotiate(&version(Some("2.10"), Some("2.0")), &peer())
            .unwrap_err()
            .to_string();
        assert!(new.contains("2.0"), "{new}");
        let missing = negotiate(&version(None, None), &peer())
            .unwrap_err()
            .to_string();
        assert!(missing.contains("ApiVersion"), "{missing}");
        for e in [old, new, missing] {
            assert_eq!(e.lines().count(), 1);
        }
    }

    #[test]
    fn image_ids_in_import_answers() {
        let hex = "66373a0d77fb5b250a2395d84538dc8b9fc6ae5c3116182d11e9e83c5a6cb2d2";
        assert!(is_image_id(hex));
        assert!(is_image_id(&format!("sha256:{hex}")));
        assert!(!is_image_id("Importing"));
        assert!(!is_image_id(&hex[1..]));
    }

    #[test]
    fn security_options_are_matched_by_name() {
        let i = DaemonInfo {
            security_options: vec!["name=seccomp,profile=default".into(), "name=userns".into()],
            ..Default::default()
        };
        assert!(i.has_security_option("userns"));
        assert!(!i.has_security_option("rootless"));
    }
}
