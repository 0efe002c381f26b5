//! A private Docker Engine for one test.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rustix::process::Signal;

use crate::procs;

/// The storage driver of a private dockerd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StorageDriver {
    /// Overlay filesystem layers (dockerd's default on ext4).
    #[default]
    Overlay2,
    /// Plain copies of every layer: slow for big images; a host bind mount has the same
    /// `st_dev` as the container's root there (the case `find -xdev` gets wrong).
    Vfs,
}

impl StorageDriver {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageDriver::Overlay2 => "overlay2",
            StorageDriver::Vfs => "vfs",
        }
    }
}

/// How to start a private dockerd.
#[derive(Debug, Clone, Default)]
pub struct DockerdConfig {
    pub storage_driver: StorageDriver,
    /// `--userns-remap=SPEC` (`user`, `user:group`, `uid`, `uid:gid`, `default`).
    pub userns_remap: Option<String>,
    /// More dockerd arguments, appended last.
    pub extra_args: Vec<String>,
}

/// A running private dockerd: own data root, exec root, pidfile, socket and (empty)
/// config file below `/tmp/hostmatch-testkit/d/<pid>-<n>/`, `--iptables=false
/// --bridge=none`. Dropping it stops the daemon, its containerd and shims, unmounts
/// what is left below its directory and removes the directory.
///
/// Keep it inside the test that started it: the daemon gets SIGTERM when the thread that
/// started it ends (`setpriv --pdeathsig`), so a killed test does not leave it running.
pub struct Dockerd {
    base: PathBuf,
    host: String,
    child: Option<Child>,
    config: DockerdConfig,
}

/// How long to wait for a new daemon to answer (`HOSTMATCH_DOCKERD_TIMEOUT` seconds).
fn start_timeout() -> Duration {
    let secs = std::env::var("HOSTMATCH_DOCKERD_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    Duration::from_secs(secs)
}

/// Where the daemons' directories live.
fn daemons_dir() -> PathBuf {
    crate::state_dir().join("d")
}

/// Removes the directories (and daemons, mounts) of harness daemons whose owning test
/// process is gone: what a killed test run (SIGKILL, timeout) left behind. Daemons of
/// live processes, including other test runs on this machine, are not touched.
/// Returns the directories removed.
pub fn sweep_dead_daemons() -> Vec<PathBuf> {
    let dir = daemons_dir();
    let _ = fs::create_dir_all(&dir);
    let Ok(lock) = File::create(crate::state_dir().join("daemons.lock")) else {
        return Vec::new();
    };
    let _ = lock.lock();
    let mut removed = Vec::new();
    for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = e.path();
        let owner = procs::read_pid(&path.join("owner"));
        if owner.is_some_and(procs::pid_alive) {
            continue;
        }
        // No owner file yet: a daemon being set up right now, unless it is old.
        if owner.is_none() {
            let young = e
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(60))
                .unwrap_or(false);
            if young {
                continue;
            }
        }
        if let Some(pid) = procs::read_pid(&path.join("dockerd.pid")) {
            if procs::cmdline(pid).contains(&*path.to_string_lossy()) {
                procs::stop_pids(&[pid], Duration::from_secs(10));
            }
        }
        match procs::teardown_dir(&path) {
            Ok(()) => removed.push(path),
            Err(e) => eprintln!("testkit: could not remove a leftover daemon: {e}"),
        }
    }
    removed
}

impl Dockerd {
    /// Starts a private dockerd and waits until `docker info` answers. On failure the
    /// error holds the end of dockerd's log.
    pub fn start(config: DockerdConfig) -> crate::Result<Dockerd> {
        Self::start_inner(config, None, false)
    }

    /// Like [`Dockerd::start`], but dockerd (with its containerd and containers) runs in a
    /// private mount namespace where `etc` is bind-mounted over `/etc`: it reads and edits
    /// the copy's passwd, group, subuid and subgid (e.g. creates `dockremap` there), never
    /// the host's. Use with [`crate::EtcCopy`]; point `hostmatch --root` at
    /// [`crate::EtcCopy::root`]. Mounts of such a daemon are invisible outside its namespace
    /// and vanish with its processes.
    pub fn start_with_etc(config: DockerdConfig, etc: &Path) -> crate::Result<Dockerd> {
        Self::start_inner(config, Some(etc), false)
    }

    /// Like [`Dockerd::start`], but started the way the stock `docker.service` with
    /// `docker.socket` starts it: `systemd-socket-activate -l SOCKET dockerd -H fd:// ...`.
    /// The activator (package `systemd`; systemd need not be PID 1) binds the listening
    /// socket, waits for the first client and execs dockerd in its place with the socket as
    /// fd 3 (`LISTEN_FDS`, `LISTEN_PID`): dockerd's command line names no socket, and the
    /// daemon's pid is the activator's. [`Dockerd::host`] is that socket as usual.
    pub fn start_socket_activated(config: DockerdConfig) -> crate::Result<Dockerd> {
        Self::start_inner(config, None, true)
    }

    fn start_inner(
        config: DockerdConfig,
        etc: Option<&Path>,
        activated: bool,
    ) -> crate::Result<Dockerd> {
        sweep_dead_daemons();
        let dockerd = crate::which("dockerd").context("dockerd is not installed")?;
        let activator = if activated {
            Some(
                crate::which("systemd-socket-activate")
                    .context("systemd-socket-activate (package systemd) is not installed")?,
            )
        } else {
            None
        };
        let name = crate::unique_name("").trim_start_matches('-').to_string();
        let base = daemons_dir().join(name);
        if base.exists() {
            // Same pid and counter as a dead run's directory: clear it first.
            procs::teardown_dir(&base).map_err(anyhow::Error::msg)?;
        }
        fs::create_dir_all(base.join("cli"))
            .with_context(|| format!("creating {}", base.display()))?;
        fs::write(base.join("owner"), format!("{}\n", std::process::id()))?;
        fs::write(base.join("daemon.json"), "{}\n")?;
        let host = format!("unix://{}", base.join("sock").display());
        let log = File::create(base.join("dockerd.log"))?;

        let mut args: Vec<String> = vec![
            format!("--data-root={}", base.join("data").display()),
            format!("--exec-root={}", base.join("exec").display()),
            format!("--pidfile={}", base.join("dockerd.pid").display()),
            format!("--config-file={}", base.join("daemon.json").display()),
            match activator {
                Some(_) => "--host=fd://".into(),
                None => format!("--host={host}"),
            },
            "--iptables=false".into(),
            "--ip6tables=false".into(),
            "--bridge=none".into(),
            "--shutdown-timeout=3".into(),
            format!("--storage-driver={}", config.storage_driver.as_str()),
        ];
        if let Some(spec) = &config.userns_remap {
            args.push(format!("--userns-remap={spec}"));
        }
        args.extend(config.extra_args.iter().cloned());

        // The program and its arguments; `unshare`, `sh` and the activator exec, so the pid
        // stays dockerd's.
        let mut argv: Vec<std::ffi::OsString> = Vec::new();
        if let Some(setpriv) = crate::which("setpriv") {
            argv.extend([
                setpriv.into(),
                "--pdeathsig".into(),
                "TERM".into(),
                "--".into(),
            ]);
        }
        if let Some(etc) = etc {
            let unshare = crate::which("unshare").context("unshare (util-linux) is missing")?;
            argv.extend([
                unshare.into(),
                "--mount".into(),
                "--propagation".into(),
                "private".into(),
                "--".into(),
                "/bin/sh".into(),
                "-c".into(),
                "mount --bind \"$0\" /etc && exec \"$@\"".into(),
                etc.into(),
            ]);
        }
        if let Some(activator) = activator {
            // It execs dockerd on the first connection (wait_ready's), keeping its pid.
            argv.extend([
                activator.into(),
                "--listen".into(),
                base.join("sock").into(),
            ]);
        }
        argv.push(dockerd.into());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT");
        let child = cmd.spawn().context("spawning dockerd")?;
        let mut d = Dockerd {
            base,
            host,
            child: Some(child),
            config,
        };
        d.wait_ready()?;
        Ok(d)
    }

    fn wait_ready(&mut self) -> crate::Result<()> {
        let timeout = start_timeout();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                bail!(
                    "dockerd exited during start-up ({status}); end of its log:\n{}",
                    self.log_tail(30)
                );
            }
            if self.base.join("sock").exists() {
                let mut c = self.docker_cmd();
                c.args(["info", "--format", "{{.ServerVersion}}"]);
                if let Some(out) = output_within(c, Duration::from_secs(15)) {
                    if out.status.success() {
                        return Ok(());
                    }
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "dockerd did not answer within {}s; end of its log:\n{}",
                    timeout.as_secs(),
                    self.log_tail(30)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `unix:///.../sock`, for `docker -H`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The daemon's directory (data root, exec root, log, socket below it).
    pub fn dir(&self) -> &Path {
        &self.base
    }

    /// `--data-root`. With userns-remap, dockerd keeps its data in `<data-root>/<uid>.<gid>`.
    pub fn data_root(&self) -> PathBuf {
        self.base.join("data")
    }

    /// The configuration the daemon was started with.
    pub fn config(&self) -> &DockerdConfig {
        &self.config
    }

    /// The daemon's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn docker_cmd(&self) -> Command {
        let mut c = Command::new("docker");
        c.arg("--host")
            .arg(&self.host)
            .env("DOCKER_CONFIG", self.base.join("cli"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .stdin(Stdio::null());
        c
    }

    /// Runs the docker CLI against this daemon.
    pub fn docker<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = self.docker_cmd();
        c.args(args);
        c.output().expect("running the docker CLI")
    }

    /// Runs the docker CLI, panics (with its stderr and the daemon's log) unless it
    /// succeeds, and returns its standard output.
    pub fn run_ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = self.docker(&args);
        if !out.status.success() {
            panic!(
                "docker {} failed ({}):\nstdout: {}\nstderr: {}\nend of dockerd's log:\n{}",
                args.iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_tail(20)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `docker import TAR TAG` (a rootfs tarball becomes an image).
    pub fn import(&self, tar: impl AsRef<Path>, tag: &str) {
        let args: Vec<std::ffi::OsString> = vec!["import".into(), tar.as_ref().into(), tag.into()];
        self.run_ok(args);
    }

    /// The whole log of the daemon (its stdout and stderr).
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(self.base.join("dockerd.log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// The last `n` lines of the daemon's log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Stops the daemon and removes its directory now (what `Drop` does), reporting
    /// problems instead of printing them.
    pub fn stop(mut self) -> crate::Result<()> {
        self.shutdown().map_err(anyhow::Error::msg)
    }

    fn shutdown(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            // dockerd gives each running container 10 s after SIGTERM on shutdown: kill
            // them first (a test's `sleep` as PID 1 ignores SIGTERM).
            let mut ps = self.docker_cmd();
            ps.args(["ps", "-q"]);
            if let Some(out) = output_within(ps, Duration::from_secs(10)) {
                let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                if !ids.is_empty() {
                    let mut kill = self.docker_cmd();
                    kill.arg("kill").args(&ids);
                    let _ = output_within(kill, Duration::from_secs(10));
                }
            }
        }
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as i32;
            procs::signal(pid, Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        procs::signal(pid, Signal::KILL);
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
        if self.base.as_os_str().is_empty() {
            return Ok(());
        }
        // containerd, shims: everything whose command line names our directory.
        let r = procs::teardown_dir(&self.base);
        self.base = PathBuf::new();
        r
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!("testkit: cleaning up a private dockerd: {e}");
        }
    }
}

/// Runs `cmd` and returns its output, or None if it fails to start or takes longer
/// than `limit` (it is then killed).
pub(crate) fn output_within(mut cmd: Command, limit: Duration) -> Option<Output> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().ok(),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => return None,
        }
    }
}
