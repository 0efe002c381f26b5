//! Shared helpers of the entrypoint's root tests: the static binary, a
//! busybox rootfs, and a runner that starts the entrypoint as PID 1 (or as
//! the first child of an init) of a new PID namespace, chrooted, as a
//! chosen uid:gid.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Checks a prerequisite: a loud skip locally, a failure under CI=true.
#[macro_export]
macro_rules! need {
    ($cond:expr, $what:expr) => {
        if !$cond {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("missing prerequisite under CI: {}", $what);
            }
            eprintln!("SKIP: {}", $what);
            return;
        }
    };
}

pub fn is_root() -> bool {
    // SAFETY-free: read from /proc instead of calling geteuid.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// The busybox-static binary of the host.
pub fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| {
            p.exists()
                && Command::new("file")
                    .arg(p)
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).contains("statically linked"))
                    .unwrap_or(true)
        })
}

/// Prerequisites of every root test; returns a reason when missing.
pub fn prerequisites() -> Result<(), String> {
    if !is_root() {
        return Err("root tests need root".into());
    }
    for c in ["unshare", "chroot", "mount"] {
        if !have(c) {
            return Err(format!("{c} not found"));
        }
    }
    if busybox().is_none() {
        return Err("busybox-static not found".into());
    }
    Ok(())
}

/// The static entrypoint, built once per test run by scripts/build-static.sh.
pub fn entrypoint_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let out = Command::new(repo.join("scripts/build-static.sh"))
            .output()
            .expect("run scripts/build-static.sh");
        assert!(
            out.status.success(),
            "static build failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
    .clone()
}

pub const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "id", "cat", "ls", "stat", "touch", "sleep", "env", "mkdir", "ln", "echo", "kill",
    "true", "false", "setpriv", "ps", "wc", "grep", "chmod", "test", "readlink",
];

/// A busybox rootfs with the setuid entrypoint installed.
pub struct Rootfs {
    pub dir: tempfile::TempDir,
}

impl Rootfs {
    pub fn new(passwd: &str, group: &str, config: Option<&str>) -> Rootfs {
        let dir = tempfile::Builder::new()
            .prefix("hm-entry-rootfs-")
            .tempdir()
            .unwrap();
        let r = dir.path();
        fs::set_permissions(r, fs::Permissions::from_mode(0o755)).unwrap();
        for d in [
            "bin",
            "etc/hostmatch",
            "usr/local/bin",
            "proc",
            "dev",
            "home",
            "tmp",
            "root",
            "sbin",
        ] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        fs::set_permissions(r.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        fs::copy(busybox().unwrap(), r.join("bin/busybox")).unwrap();
        for a in BUSYBOX_APPLETS {
            symlink("busybox", r.join("bin").join(a)).unwrap();
        }
        fs::write(r.join("etc/passwd"), passwd).unwrap();
        fs::write(r.join("etc/group"), group).unwrap();
        if let Some(c) = config {
            fs::write(r.join("etc/hostmatch/entrypoint.toml"), c).unwrap();
        }
        let bin = r.join("usr/local/bin/hostmatch-entrypoint");
        fs::copy(entrypoint_bin(), &bin).unwrap();
        std::os::unix::fs::chown(&bin, Some(0), Some(0)).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o4755)).unwrap();
        Rootfs { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel.trim_start_matches('/'))
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
}

/// How to start the container.
#[derive(Clone)]
pub struct Run<'a> {
    /// `--user UID:GID` (None: root).
    pub user: Option<(u32, u32)>,
    /// Supplementary groups given by the runtime (`--group-add`).
    pub groups: Vec<u32>,
    /// Environment given to the container (on top of PATH).
    pub env: Vec<(&'a str, &'a str)>,
    /// Start under a fake init named like this (its first child is the entrypoint).
    pub init: Option<&'a str>,
    /// Root filesystem read-only (`--read-only`); /dev and /proc stay writable.
    pub read_only: bool,
    /// Prefix run inside the chroot before the entrypoint (e.g. ["/bin/setpriv", "--nnp"]).
    pub wrapper: Vec<&'a str>,
    /// The program run as the container's first process (default: the entrypoint).
    pub program: &'a str,
    /// Arguments after the program.
    pub args: Vec<&'a str>,
}

impl Default for Run<'_> {
    fn default() -> Self {
        Run {
            user: Some((1000, 1000)),
            groups: vec![],
            env: vec![],
            init: None,
            read_only: false,
            wrapper: vec![],
            program: "/usr/local/bin/hostmatch-entrypoint",
            args: vec![],
        }
    }
}

pub struct Ran {
    pub out: Output,
}

impl Ran {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    pub fn ok(&self) -> &Self {
        assert!(
            self.out.status.success(),
            "exit {:?}\nstdout: {}\nstderr: {}",
            self.out.status,
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// Starts a "container": new PID and mount namespaces, /proc and a tmpfs
/// /dev mounted in the rootfs, chroot, the given ids, then the program as
/// PID 1 (or as PID 2 under a fake init).
pub fn run(rootfs: &Rootfs, r: &Run) -> Ran {
    let root = rootfs.dir.path().to_str().unwrap().to_string();
    let mut chroot = vec!["chroot".to_string()];
    if let Some((u, g)) = r.user {
        chroot.push(format!("--userspec={u}:{g}"));
        let mut groups = vec![g];
        groups.extend(&r.groups);
        let list: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        chroot.push(format!("--groups={}", list.join(",")));
    }
    chroot.push(root.clone());
    chroot.extend(r.wrapper.iter().map(|s| s.to_string()));
    chroot.push(r.program.to_string());
    chroot.extend(r.args.iter().map(|s| s.to_string()));
    let quoted: Vec<String> = chroot.iter().map(|a| shell_quote(a)).collect();
    let start = quoted.join(" ");
    let ro = if r.read_only {
        format!("mount --bind {root} {root}; mount -o remount,bind,ro {root} {root};")
    } else {
        String::new()
    };
    // Mounts happen in a mount namespace first, so that no process of the new
    // PID namespace exists before the container's first program.
    let mounts = format!(
        "set -e; mount --make-rprivate /; {ro} \
         mount -t tmpfs -o mode=755,nosuid tmpfs {root}/dev; \
         for d in null:3 zero:5; do mknod -m 666 {root}/dev/${{d%:*}} c 1 ${{d#*:}}; done;"
    );
    let pidns = format!("unshare --pid --fork --mount-proc={root}/proc");
    let script = match r.init {
        // A fake init: a script whose name is the init's, so that PID 1's
        // comm is that name; its first child (pid 2) is the container's start.
        Some(name) => {
            let init = rootfs.dir.path().with_extension("init");
            fs::create_dir_all(&init).unwrap();
            let p = init.join(name);
            fs::write(&p, format!("#!/bin/sh\n{start} &\nchild=$!\nwait $child\n")).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            format!("{mounts} exec {pidns} {}", p.display())
        }
        None => format!("{mounts} exec {pidns} {start}"),
    };
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--", "/bin/sh", "-c", &script]);
    cmd.env_clear().env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    for (k, v) in &r.env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    if let Some(name) = r.init {
        let _ = name;
        let _ = fs::remove_dir_all(rootfs.dir.path().with_extension("init"));
    }
    Ran { out }
}

pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
# a comment line that must survive\n\
+@nis-compat::::::\n\
www-data:x:33:33:www-data:/var/www:/bin/false\n\
app:x:1234:1234:App,,,:/home/app:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

pub const GROUP: &str = "root:x:0:\n\
www-data:x:33:\n\
staff:x:50:app\n\
app:x:1234:\n\
nogroup:x:65534:\n";
