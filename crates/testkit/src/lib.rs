//! Test harness for hostmatch (dev-only, never published).
//!
//! - [`prereq!`]: a missing prerequisite is a loud skip locally and a failure with `CI=true`.
//! - [`Dockerd`]: a private Docker Engine (own data root, exec root, socket, pidfile), stopped
//!   and cleaned up on drop, even when the test panics.
//! - [`images`]: busybox, Debian minbase and scratch rootfs tarballs, built once and cached
//!   under `target/hostmatch-images/`.
//! - [`HostUser`], [`HostSubids`], [`SubidLock`]: fixtures on the REAL `/etc/passwd`,
//!   `/etc/subuid` and `/etc/subgid` (dockerd's `--userns-remap` reads only those), undone on drop.
//! - [`Podman`]: a rootful or rootless Podman with private storage, configuration and
//!   runtime state (rootless: a fresh test user with the subordinate ids the test asks
//!   for), its Docker-compatible API on request ([`PodmanService`]), removed on drop.
//!
//! See docs/testing.md.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

mod dockerd;
mod host;
pub mod images;
mod podman;
mod procs;
mod scratch;

pub use dockerd::sweep_dead_daemons;
pub use dockerd::{Dockerd, DockerdConfig, StorageDriver};
pub use host::{getent, EtcCopy, HostGroup, HostSubids, HostUser, SubidLock};
pub use host::{sweep_dead_subids, sweep_dead_users};
pub use podman::{api_get, sweep_dead_podman, DEFAULT_PATH};
pub use podman::{Podman, PodmanConfig, PodmanService, PodmanStorage, RootlessConfig};
pub use scratch::{temp_dir_in, DirSwapper, Immutable, Mounted};

/// `Result` with `anyhow::Error`: harness failures carry their context (commands, logs).
pub type Result<T> = anyhow::Result<T>;

/// Checks a test's prerequisite. When `cond` is false: with `CI=true` the test panics
/// (`missing prerequisite: WHAT`); otherwise it prints `SKIP: ...` to stderr and returns
/// from the calling test function (which must return `()`; elsewhere, such as in a
/// proptest body, use [`prereq_met`]).
///
/// ```ignore
/// testkit::prereq!(testkit::is_root(), "root (dockerd needs it)");
/// ```
#[macro_export]
macro_rules! prereq {
    ($cond:expr, $($what:tt)+) => {
        // WHAT is formatted only when the prerequisite is missing.
        if !$cond {
            $crate::prereq_met(false, module_path!(), &format!($($what)+));
            return;
        }
    };
}

/// What [`prereq!`] does, as a function: whether the prerequisite `what` is met
/// (`cond`). When it is not: a panic with `CI=true`, else a loud `SKIP` naming the
/// test's module (`module`) on stderr, and `false`, so that the test returns.
pub fn prereq_met(cond: bool, module: &str, what: &str) -> bool {
    if cond {
        return true;
    }
    if in_ci() {
        panic!("missing prerequisite: {what} (CI=true: a missing prerequisite fails)");
    }
    eprintln!(
        "\n==================== SKIP ====================\n\
         SKIP: {module}: missing prerequisite: {what}\n\
         (set CI=true to make this a failure)\n\
         =============================================="
    );
    false
}

/// Checks everything a test with a private dockerd needs: root, `dockerd`, `docker`.
/// Same behaviour as [`prereq!`].
#[macro_export]
macro_rules! prereq_dockerd {
    () => {
        $crate::prereq!($crate::is_root(), "root (a private dockerd needs it)");
        $crate::prereq!(
            $crate::have_cmd("dockerd"),
            "dockerd (apt-get install docker.io)"
        );
        $crate::prereq!(
            $crate::have_cmd("docker"),
            "the docker CLI (apt-get install docker.io)"
        );
    };
}

/// Checks everything a Podman fixture needs: root (both kinds: the rootless one creates
/// its user), `podman`, `runc`, and for rootless also `newuidmap`/`newgidmap`.
/// Same behaviour as [`prereq!`].
///
/// ```ignore
/// testkit::prereq_podman!();           // rootful
/// testkit::prereq_podman!(rootless);   // rootless
/// testkit::prereq_podman!(kube_play);  // rootful, and catatonit for `podman kube play`
/// ```
#[macro_export]
macro_rules! prereq_podman {
    () => {
        $crate::prereq!($crate::is_root(), "root (the Podman fixtures need it)");
        $crate::prereq!(
            $crate::have_cmd("podman"),
            "podman (apt-get install podman)"
        );
        $crate::prereq!($crate::have_cmd("runc"), "runc (apt-get install runc)");
    };
    (rootless) => {
        $crate::prereq_podman!();
        $crate::prereq!(
            $crate::have_cmd("newuidmap") && $crate::have_cmd("newgidmap"),
            "newuidmap and newgidmap (apt-get install uidmap)"
        );
    };
    (kube_play) => {
        $crate::prereq_podman!();
        $crate::prereq_podman!(@catatonit);
    };
    (rootless, kube_play) => {
        $crate::prereq_podman!(rootless);
        $crate::prereq_podman!(@catatonit);
    };
    (@catatonit) => {
        $crate::prereq!(
            $crate::have_cmd("catatonit"),
            "catatonit (apt-get install catatonit): kube play builds its pause image from it"
        );
    };
}

/// The first line `child` prints on its piped stdout (a holder process saying what it
/// holds), without the newline.
pub fn first_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout piped"))
        .read_line(&mut line)
        .expect("reading the child's first line");
    line.trim_end().to_string()
}

/// Whether we run in CI (`CI=true` or `CI=1`): missing prerequisites fail there.
pub fn in_ci() -> bool {
    matches!(
        std::env::var("CI")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Ok("true") | Ok("1") | Ok("yes")
    )
}

/// Whether the effective uid is 0.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Whether `cmd` is found in `PATH` (or is an executable path).
pub fn have_cmd(cmd: &str) -> bool {
    which(cmd).is_some()
}

/// The full path of `cmd` in `PATH` (also searching the sbin directories root has).
pub fn which(cmd: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let exec = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if cmd.contains('/') {
        let p = PathBuf::from(cmd);
        return exec(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(cmd))
        .find(|p| exec(p))
}

/// The workspace's root directory (where the top Cargo.toml is).
pub fn workspace_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = here
            .parent()
            .and_then(Path::parent)
            .expect("crates/testkit lives two levels below the workspace root");
        root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
    })
}

/// Cargo's target directory (`CARGO_TARGET_DIR` if set, else `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// A name unique on this machine for this run: `PREFIX-<pid>-<n>` (short enough for a
/// user name, at most 32 characters with a short prefix). The pid lets later runs
/// recognise and remove leftovers of killed runs.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The directory where the harness keeps its cross-process state (locks, records of
/// fixtures for cleanup after killed runs): `/tmp/hostmatch-testkit`.
pub fn state_dir() -> PathBuf {
    let d = PathBuf::from("/tmp/hostmatch-testkit");
    let _ = std::fs::create_dir_all(&d);
    d
}
