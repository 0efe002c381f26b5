//! Podman for one test, rootful or rootless, from Debian's packages.
//!
//! A [`Podman`] is not a daemon: it is a private configuration, storage and runtime state
//! in which the test runs `podman` commands (and, on request, Podman's Docker-compatible
//! API service). Everything lives below `/tmp/hostmatch-testkit/p/<test pid>-<n>/` and
//! is removed on drop; what a killed test left behind is removed by the next fixture
//! and by `hostmatch-testkit cleanup`.
//!
//! - Rootful ([`Podman::rootful`]): every command runs as root inside a private mount and
//!   network namespace (held open by a small `sh` process) where `/var/lib` and `/run` are
//!   overlays whose writes land in the fixture's directory: Podman 4.3 writes its blob
//!   cache to `/var/lib/containers/cache` whatever `--root` says, and netavark keeps state
//!   in `/run/containers/networks`, `/run/netns`, iptables and a bridge. The host's
//!   global Podman state is never written.
//! - Rootless ([`Podman::rootless`]): a fresh test user `hmt-<pid>-<n>` with the
//!   subordinate-id lines the test asks for (in the real `/etc/subuid` and `/etc/subgid`:
//!   newuidmap reads only those), its own home (configuration, storage) and
//!   `XDG_RUNTIME_DIR`; commands run as that user with a clean environment.
//!
//! See docs/testing.md ("Podman").

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use anyhow::Context;

use crate::{HostSubids, HostUser};

mod service;
mod setup;
mod teardown;

pub use service::{api_get, PodmanService};
pub use teardown::sweep_dead_podman;

/// `PATH` inside the fixture and in imported images (`podman import` sets none).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The storage driver of a Podman fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodmanStorage {
    /// Kernel overlayfs (also rootless: native overlay in a user namespace, kernel >= 5.13).
    #[default]
    Overlay,
    /// Plain copies of every layer.
    Vfs,
}

impl PodmanStorage {
    pub fn as_str(self) -> &'static str {
        match self {
            PodmanStorage::Overlay => "overlay",
            PodmanStorage::Vfs => "vfs",
        }
    }
}

/// What both kinds of fixture share.
#[derive(Debug, Clone, Default)]
pub struct PodmanConfig {
    pub storage_driver: PodmanStorage,
    /// Keep Podman's storage on disk below the fixture's directory. By default it is a
    /// tmpfs (rootless: only on Linux >= 6.6, whose tmpfs keeps the `user.*` xattrs that
    /// rootless overlay needs): removing a Debian image from this machine's disk takes
    /// about 20 s.
    pub storage_on_disk: bool,
    /// More `containers.conf` settings as (table, line), e.g.
    /// `("containers".into(), "userns = \"auto\"".into())`; added to the fixture's own
    /// settings of that table (a key given twice is an error of Podman's TOML parser).
    pub containers_conf: Vec<(String, String)>,
}

/// How to set up a rootless fixture.
#[derive(Debug, Clone)]
pub struct RootlessConfig {
    /// Lines appended to `/etc/subuid`, in this order. `{user}`, `{uid}` and `{gid}` are
    /// replaced by the test user's name, uid and gid: `"{user}:300000:65536"`,
    /// `"{uid}:200000:1000"`. Lines of other owners (`containers:...`) may be given too.
    pub subuid: Vec<String>,
    /// Lines appended to `/etc/subgid` (same placeholders).
    pub subgid: Vec<String>,
    pub podman: PodmanConfig,
}

impl Default for RootlessConfig {
    /// One range of 65536 ids at 200000, in both files.
    fn default() -> Self {
        RootlessConfig::ranges(&[(200_000, 65_536)], &[(200_000, 65_536)])
    }
}

impl RootlessConfig {
    /// `{user}:START:COUNT` lines for the given (start, count) ranges, in this order.
    pub fn ranges(subuid: &[(u32, u32)], subgid: &[(u32, u32)]) -> RootlessConfig {
        let lines = |r: &[(u32, u32)]| -> Vec<String> {
            r.iter().map(|(s, c)| format!("{{user}}:{s}:{c}")).collect()
        };
        RootlessConfig {
            subuid: lines(subuid),
            subgid: lines(subgid),
            podman: PodmanConfig::default(),
        }
    }
}

/// The rootless part of a fixture. Field order matters: the subid lines are removed
/// before the user (whose `userdel` also edits the subid files).
struct Rootless {
    /// Held for its `Drop`.
    _subids: HostSubids,
    user: HostUser,
}

/// The process that holds a rootful fixture's mount and network namespaces open. It
/// exits when its stdin (a pipe from the test process) closes: when the fixture is
/// dropped or the test process dies.
struct Holder {
    child: Child,
    /// Its mount namespace, as `/proc/PID/ns/mnt` names it.
    mnt: String,
}

/// A Podman for one test (see the module documentation). Keep it in the test that
/// created it; dropping it kills its containers, service and helper processes, removes its
/// directory and, when rootless, its user and subordinate-id lines.
pub struct Podman {
    dir: PathBuf,
    holder: Option<Holder>,
    rootless: Option<Rootless>,
    env: Vec<(String, String)>,
    config: PodmanConfig,
}

impl Podman {
    /// A rootful Podman (as root) with private storage, configuration and runtime state,
    /// in a private mount and network namespace.
    pub fn rootful(config: PodmanConfig) -> crate::Result<Podman> {
        setup::rootful(config, None)
    }

    /// Like [`Podman::rootful`], with directory `etc` bind-mounted over `/etc` in the
    /// fixture's namespace: Podman reads that `subuid`/`subgid` (e.g. the `containers`
    /// lines `--userns=auto` takes its ranges from), `passwd`, `containers/`, never the
    /// host's. Use with [`crate::EtcCopy`]; point `hostmatch --root` at
    /// [`crate::EtcCopy::root`].
    pub fn rootful_with_etc(config: PodmanConfig, etc: &Path) -> crate::Result<Podman> {
        setup::rootful(config, Some(etc))
    }

    /// A rootless Podman run by a fresh test user with the subordinate ids of `config`.
    pub fn rootless(config: RootlessConfig) -> crate::Result<Podman> {
        setup::rootless(config)
    }

    /// The fixture's directory (storage, configuration, logs below it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_rootless(&self) -> bool {
        self.rootless.is_some()
    }

    /// The test user of a rootless fixture.
    pub fn user(&self) -> Option<&HostUser> {
        self.rootless.as_ref().map(|r| &r.user)
    }

    /// The host uid and gid Podman runs as: (0, 0), or the test user's.
    pub fn host_ids(&self) -> (u32, u32) {
        self.user().map_or((0, 0), |u| (u.uid, u.gid))
    }

    /// The working directory of the fixture's commands (`<dir>/work`, owned by the user
    /// who runs Podman). Put a recipe's project files here.
    pub fn work_dir(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// The home directory of the user who runs Podman (`<dir>/home`).
    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    /// Podman's storage (`graphroot`). In a rootful fixture its mounts exist only inside
    /// the fixture's mount namespace: look at them through [`Podman::command`].
    pub fn graph_root(&self) -> PathBuf {
        match &self.rootless {
            Some(_) => self.home().join(".local/share/containers/storage"),
            None => self.dir.join("root"),
        }
    }

    /// The environment every command of the fixture gets (and nothing else).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    pub fn config(&self) -> &PodmanConfig {
        &self.config
    }

    /// Sets (or replaces) a variable of [`Podman::env`] for every later command and
    /// service of the fixture.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// Puts `dir` first in the fixture's `PATH` (e.g. the directory of the `hostmatch`
    /// binaries, so that a recipe finds them). A rootless user must be able to reach it.
    pub fn prepend_path(&mut self, dir: &Path) {
        let old = self
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone());
        let path = format!(
            "{}:{}",
            dir.display(),
            old.as_deref().unwrap_or(DEFAULT_PATH)
        );
        self.set_env("PATH", &path);
    }

    /// A command that runs `program` inside the fixture: in its namespaces (rootful) or
    /// as its user (rootless), with only [`Podman::env`] and in [`Podman::work_dir`].
    /// Add arguments and run it; `podman` in it uses the fixture's storage. Changing the
    /// returned command's `current_dir` has no effect: use [`Podman::command_in`].
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        self.command_in(&self.work_dir(), program)
    }

    /// Like [`Podman::command`], in working directory `dir`.
    pub fn command_in(&self, dir: &Path, program: impl AsRef<OsStr>) -> Command {
        let argv = self.wrap(dir, program.as_ref(), false);
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }

    /// The argument vector that runs `program` in the fixture (see [`Podman::command`]);
    /// with `pdeathsig`, the program gets SIGTERM when the calling thread ends.
    fn wrap(&self, dir: &Path, program: &OsStr, pdeathsig: bool) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec![crate::which("setpriv")
            .expect("setpriv (util-linux) is installed")
            .into()];
        if pdeathsig {
            argv.extend(["--pdeathsig".into(), "TERM".into()]);
        }
        if let Some(user) = self.user() {
            argv.extend([
                format!("--reuid={}", user.uid).into(),
                format!("--regid={}", user.gid).into(),
                "--init-groups".into(),
            ]);
        }
        argv.push("--".into());
        if let Some(holder) = &self.holder {
            let pid = holder.child.id();
            assert_eq!(
                crate::procs::mount_ns(pid as i32).as_deref(),
                Some(holder.mnt.as_str()),
                "the namespace holder of {} is gone",
                self.dir.display()
            );
            argv.extend([
                "nsenter".into(),
                format!("--mount=/proc/{pid}/ns/mnt").into(),
                format!("--net=/proc/{pid}/ns/net").into(),
                "--".into(),
            ]);
        }
        // nsenter leaves the working directory at the namespace's root: change it there.
        argv.extend(["env".into(), "--chdir".into(), dir.into(), program.into()]);
        argv
    }

    /// The `podman` global options of this fixture (`--root`, `--runroot` when rootful;
    /// the configuration files say the same, these make it visible in `ps`).
    fn global_args(&self) -> Vec<OsString> {
        match self.rootless {
            Some(_) => Vec::new(),
            None => vec![
                "--root".into(),
                self.dir.join("root").into(),
                "--runroot".into(),
                self.dir.join("runroot").into(),
            ],
        }
    }

    /// Runs `podman ARGS` in the fixture.
    pub fn podman<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = self.command("podman");
        c.args(self.global_args()).args(args);
        c.output().expect("running podman")
    }

    /// Runs `podman ARGS`, panics (with its output) unless it succeeds, and returns its
    /// standard output.
    pub fn run_ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = self.podman(&args);
        self.expect_ok("podman", &args, out)
    }

    /// Runs `sh -c SCRIPT` in the fixture (a recipe as a user types it).
    pub fn sh(&self, script: &str) -> Output {
        let mut c = self.command("sh");
        c.arg("-c").arg(script);
        c.output().expect("running sh")
    }

    /// Runs `sh -c SCRIPT`, panics (with its output) unless it succeeds, and returns its
    /// standard output.
    pub fn sh_ok(&self, script: &str) -> String {
        let out = self.sh(script);
        self.expect_ok("sh -c", &[script.into()], out)
    }

    fn expect_ok(&self, what: &str, args: &[OsString], out: Output) -> String {
        if !out.status.success() {
            let args: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
            panic!(
                "{what} {} failed ({}) in the {} Podman fixture {}:\nstdout: {}\nstderr: {}",
                args.join(" "),
                out.status,
                if self.is_rootless() {
                    "rootless"
                } else {
                    "rootful"
                },
                self.dir.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Imports a rootfs tarball (e.g. [`crate::images::busybox_rootfs_tar`]) as image
    /// `localhost/NAME:latest` (`podman run NAME` finds it), with `PATH` set in its
    /// configuration ([`DEFAULT_PATH`]: `podman import` sets none, and `podman kube play`
    /// then cannot find `sh`). The tarball is read by the test process and fed on stdin,
    /// so a rootless user needs no access to it. Panics on failure.
    pub fn import(&self, tar: impl AsRef<Path>, name: &str) {
        let tar = tar.as_ref();
        let file = File::open(tar)
            .with_context(|| format!("opening {}", tar.display()))
            .unwrap();
        let mut c = self.command("podman");
        c.args(self.global_args())
            .args(["import", "--quiet", "--change"])
            .arg(format!("ENV=PATH={DEFAULT_PATH}"))
            .args(["-", name])
            .stdin(file);
        let out = c.output().expect("running podman import");
        self.expect_ok("podman import", &[tar.into(), name.into()], out);
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let uid = self.user().map(|u| u.uid);
        let mnt = self.holder.as_ref().map(|h| h.mnt.clone());
        if let Err(e) = teardown::teardown(&self.dir, uid, mnt.as_deref()) {
            eprintln!("testkit: cleaning up a Podman fixture: {e}");
        }
        if let Some(mut h) = self.holder.take() {
            drop(h.child.stdin.take());
            let _ = h.child.kill();
            let _ = h.child.wait();
        }
        // Then the fields: subid lines, then the user.
    }
}
