//! Podman's Docker-compatible API (`podman system service`) for a fixture.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rustix::process::Signal;

use super::Podman;
use crate::procs;

/// A running `podman system service --time=0 unix://SOCKET` of a fixture, stopped on
/// drop (and by the fixture's own teardown). It gets SIGTERM when the thread that
/// started it ends.
pub struct PodmanService<'a> {
    podman: &'a Podman,
    child: Option<Child>,
    socket: PathBuf,
    log: PathBuf,
}

impl Podman {
    /// Starts Podman's Docker-compatible API on a socket of its own below the fixture's
    /// directory and waits until `GET /_ping` answers (30 s at most). Set
    /// `DOCKER_HOST` to [`PodmanService::docker_host`] to use it.
    pub fn start_service(&self) -> crate::Result<PodmanService<'_>> {
        let n = crate::unique_name("api");
        // Rootless: the socket is created by the user, in its runtime directory.
        let sock_dir = match self.is_rootless() {
            true => self.dir().join("run"),
            false => self.dir().to_path_buf(),
        };
        let socket = sock_dir.join(format!("{n}.sock"));
        let log = self.dir().join(format!("{n}.log"));
        let out = File::create(&log)?;
        let argv = self.wrap(&self.work_dir(), "podman".as_ref(), true);
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .args(self.global_args())
            .args(log_level())
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .env_clear()
            .envs(self.env().iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting podman system service")?;
        let mut s = PodmanService {
            podman: self,
            child: Some(child),
            socket,
            log,
        };
        s.wait_ready()?;
        Ok(s)
    }
}

/// `--log-level=LEVEL` when `HOSTMATCH_PODMAN_LOG_LEVEL` is set (e.g. `debug`: every
/// request and lock in the service's log, which a failing test prints).
fn log_level() -> Option<String> {
    std::env::var("HOSTMATCH_PODMAN_LOG_LEVEL")
        .ok()
        .filter(|l| !l.is_empty())
        .map(|l| format!("--log-level={l}"))
}

impl PodmanService<'_> {
    fn wait_ready(&mut self) -> crate::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                bail!("podman system service exited ({st}):\n{}", self.log_text());
            }
            if let Ok((200, _)) = api_get(&self.socket, "/_ping") {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "podman system service did not answer on {} within 30 s:\n{}",
                    self.socket.display(),
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The API's unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `unix:///.../api-N.sock`, for `DOCKER_HOST` or `docker -H`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// `GET PATH` on the API (e.g. `/v1.40/info`): status and body. See [`api_get`].
    pub fn get(&self, path: &str) -> crate::Result<(u16, String)> {
        api_get(&self.socket, path)
    }

    /// What the service printed (its log).
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The fixture the service belongs to.
    pub fn podman(&self) -> &Podman {
        self.podman
    }

    /// Stops the service now (what `Drop` does).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        procs::signal(child.id() as i32, Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = fs::remove_file(&self.socket);
    }
}

impl Drop for PodmanService<'_> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `GET PATH` over HTTP/1.0 on unix socket `socket` (Docker's and Podman's API): the
/// status code and the body. 30 s limit for connecting, sending and reading.
pub fn api_get(socket: &Path, path: &str) -> crate::Result<(u16, String)> {
    let mut s = UnixStream::connect(socket)
        .with_context(|| format!("connecting to {}", socket.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: api\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .with_context(|| format!("reading the answer to GET {path}"))?;
    parse_response(&String::from_utf8_lossy(&raw))
        .with_context(|| format!("GET {path} on {}", socket.display()))
}

fn parse_response(text: &str) -> crate::Result<(u16, String)> {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("no end of the HTTP header")?;
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no HTTP status line: {head:?}"))?;
    Ok((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_answers_give_status_and_body() {
        let r = parse_response("HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\n\r\n{\"a\":1}").unwrap();
        assert_eq!(r, (200, "{\"a\":1}".to_string()));
        let r = parse_response("HTTP/1.0 404 Not Found\r\n\r\n").unwrap();
        assert_eq!(r.0, 404);
        assert!(parse_response("garbage").is_err());
    }
}
