//! Shared helpers of the entrypoint's root tests: the static binary, a
//! busybox rootfs, and a runner that starts the entrypoint as PID 1 (or as
//! the first child of an init) of a new PID namespace, chrooted, as a
//! chosen uid:gid.
#![allow(dead_code)]

pub mod docker;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Checks what every root test needs ([`prerequisites`]): a loud skip locally,
/// a failure under CI=true (testkit's `prereq!`).
#[macro_export]
macro_rules! prereq_root_test {
    () => {
        let p = $crate::common::prerequisites();
        testkit::prereq!(p.is_ok(), "{}", p.as_ref().unwrap_err());
    };
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
    if !testkit::is_root() {
        return Err("root tests need root".into());
    }
    for c in ["unshare", "chroot", "mount"] {
        if !testkit::have_cmd(c) {
            return Err(format!("{c} not found"));
        }
    }
    if busybox().is_none() {
        return Err("busybox-static not found".into());
    }
    Ok(())
}

/// The static entrypoint, built once per test run by scripts/build-static.sh
/// (`HOSTMATCH_TEST_ENTRYPOINT=PATH` runs the tests against another build,
/// e.g. an older one to see which attacks it lets through).
pub fn entrypoint_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("HOSTMATCH_TEST_ENTRYPOINT") {
            return PathBuf::from(p);
        }
        build_static(&[])
    })
    .clone()
}

/// Runs scripts/build-static.sh with `args`; the path it prints.
fn build_static(args: &[&str]) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(repo.join("scripts/build-static.sh"))
        .args(args)
        .output()
        .expect("run scripts/build-static.sh");
    assert!(
        out.status.success(),
        "static build {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
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
        Rootfs::with_binary(passwd, group, config, &entrypoint_bin())
    }

    /// A rootfs whose setuid entrypoint is `bin` (e.g. a fault-injection build).
    pub fn with_binary(passwd: &str, group: &str, config: Option<&str>, bin_src: &Path) -> Rootfs {
        let dir = testkit::temp_dir_in(std::env::temp_dir(), "hm-entry-rootfs-");
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
        fs::copy(bin_src, &bin).unwrap();
        std::os::unix::fs::chown(&bin, Some(0), Some(0)).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o4755)).unwrap();
        Rootfs { dir }
    }

    /// The test image's accounts ([`PASSWD`], [`GROUP`]) and `config`.
    pub fn app(config: Option<&str>) -> Rootfs {
        Rootfs::new(PASSWD, GROUP, config)
    }

    /// The test image with app already at 1000:1000 (nothing to change for
    /// `--user 1000:1000`).
    pub fn app_at_1000(config: Option<&str>) -> Rootfs {
        Rootfs::new(&passwd_at_1000(), &group_at_1000(), config)
    }

    /// A hook `name` in /etc/hostmatch/hooks.d ([`WITH_HOOKS`]) running `script`.
    pub fn hook(&self, name: &str, script: &str, mode: u32) {
        let rel = format!("etc/hostmatch/hooks.d/{name}");
        self.write(&rel, script);
        self.chmod(&rel, mode);
    }

    pub fn chmod(&self, rel: &str, mode: u32) {
        fs::set_permissions(self.path(rel), fs::Permissions::from_mode(mode)).unwrap();
    }

    /// (uid, gid) of `rel`, not following a symlink.
    pub fn owner(&self, rel: &str) -> (u32, u32) {
        let m = fs::symlink_metadata(self.path(rel)).unwrap();
        (m.uid(), m.gid())
    }

    /// lchown `rel` to uid:uid.
    pub fn own(&self, rels: &[&str], id: u32) {
        for rel in rels {
            std::os::unix::fs::lchown(self.path(rel), Some(id), Some(id)).unwrap();
        }
    }

    /// The account files are as the image had them ([`PASSWD`], [`GROUP`]).
    pub fn assert_passwd_untouched(&self) {
        assert_eq!(self.read("etc/passwd"), PASSWD, "nothing written");
    }

    pub fn assert_accounts_untouched(&self) {
        self.assert_passwd_untouched();
        assert_eq!(self.read("etc/group"), GROUP, "nothing written");
    }

    /// app moved from 1234:1234 to 1000:1000, every other line byte for byte.
    pub fn assert_app_moved_to_1000(&self) {
        assert_eq!(self.read("etc/passwd"), passwd_at_1000());
        assert_eq!(self.read("etc/group"), group_at_1000());
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
    /// Bind mounts (host directory, path in the rootfs) made before the start,
    /// like `docker run -v HOST:PATH` (the path must exist in the rootfs).
    pub mounts: Vec<(PathBuf, &'a str)>,
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
            mounts: vec![],
        }
    }
}

impl<'a> Run<'a> {
    /// The container's command (after the entrypoint), as uid:gid 1000:1000.
    pub fn cmd(args: &[&'a str]) -> Run<'a> {
        Run {
            args: args.to_vec(),
            ..Run::default()
        }
    }
    /// `/bin/sh -c SCRIPT` as the command.
    pub fn sh(script: &'a str) -> Run<'a> {
        Run::cmd(&["/bin/sh", "-c", script])
    }
    /// Started as root (no `--user`): the entrypoint's root mode.
    pub fn root_mode(self) -> Self {
        Run { user: None, ..self }
    }
    pub fn user(self, uid: u32, gid: u32) -> Self {
        Run {
            user: Some((uid, gid)),
            ..self
        }
    }
    pub fn env(self, env: &[(&'a str, &'a str)]) -> Self {
        Run {
            env: env.to_vec(),
            ..self
        }
    }
    pub fn read_only(self) -> Self {
        Run {
            read_only: true,
            ..self
        }
    }
    pub fn wrapper(self, wrapper: &[&'a str]) -> Self {
        Run {
            wrapper: wrapper.to_vec(),
            ..self
        }
    }
    /// `docker run -v HOST:AT`.
    pub fn mount(mut self, host: &Path, at: &'a str) -> Self {
        self.mounts.push((host.to_path_buf(), at));
        self
    }
}

pub struct Ran {
    pub out: Output,
}

/// What a start left (a root test's [`Ran`], an end-to-end test's
/// [`docker::Out`]), and the checks the tests make on it; each failing check
/// prints the exit status, stdout and stderr.
pub trait Outcome {
    fn code(&self) -> i32;
    fn stdout(&self) -> String;
    fn stderr(&self) -> String;

    fn report(&self) -> String {
        format!(
            "exit {}\nstdout: {}\nstderr: {}",
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }
    /// Exit 0.
    fn ok(&self) -> &Self {
        self.assert_code(0)
    }
    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), code, "{}", self.report());
        self
    }
    /// A non-zero exit.
    fn assert_failed(&self) -> &Self {
        assert_ne!(self.code(), 0, "{}", self.report());
        self
    }
    fn assert_stderr_has(&self, text: &str) -> &Self {
        assert!(self.stderr().contains(text), "{}", self.report());
        self
    }
    fn assert_stderr_lacks(&self, text: &str) -> &Self {
        assert!(!self.stderr().contains(text), "{}", self.report());
        self
    }
    fn assert_stdout_has(&self, text: &str) -> &Self {
        assert!(self.stdout().contains(text), "{}", self.report());
        self
    }
    fn assert_stdout_starts(&self, text: &str) -> &Self {
        assert!(self.stdout().starts_with(text), "{}", self.report());
        self
    }
    /// Stdout, trimmed, is `text`.
    fn assert_says(&self, text: &str) -> &Self {
        assert_eq!(self.stdout().trim(), text, "{}", self.report());
        self
    }
    /// Did not run the command as root.
    fn assert_not_root(&self) -> &Self {
        assert_ne!(self.stdout().trim(), "0", "ran as root: {}", self.report());
        self
    }
}

impl Outcome for Ran {
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
}

/// The `chroot ...` command line that starts `r.program` in the rootfs as
/// the run's ids, shell-quoted.
fn chroot_command(root: &str, r: &Run) -> String {
    let mut chroot = vec!["chroot".to_string()];
    if let Some((u, g)) = r.user {
        chroot.push(format!("--userspec={u}:{g}"));
        let mut groups = vec![g];
        groups.extend(&r.groups);
        let list: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        chroot.push(format!("--groups={}", list.join(",")));
    }
    chroot.push(root.to_string());
    chroot.extend(r.wrapper.iter().map(|s| s.to_string()));
    chroot.push(r.program.to_string());
    chroot.extend(r.args.iter().map(|s| s.to_string()));
    let quoted: Vec<String> = chroot.iter().map(|a| shell_quote(a)).collect();
    quoted.join(" ")
}

/// Shell lines that bind-mount the run's host directories into the rootfs.
fn bind_mounts(root: &str, r: &Run) -> String {
    r.mounts
        .iter()
        .map(|(host, at)| {
            format!(
                "mount --bind {} {};",
                shell_quote(host.to_str().unwrap()),
                shell_quote(&format!("{root}/{}", at.trim_start_matches('/')))
            )
        })
        .collect()
}

/// Starts a "container": new PID and mount namespaces, /proc and a tmpfs
/// /dev mounted in the rootfs, chroot, the given ids, then the program as
/// PID 1 (or as PID 2 under a fake init).
pub fn run(rootfs: &Rootfs, r: &Run) -> Ran {
    let root = rootfs.dir.path().to_str().unwrap().to_string();
    let start = chroot_command(&root, r);
    let binds = bind_mounts(&root, r);
    let ro = if r.read_only {
        format!("mount --bind {root} {root}; mount -o remount,bind,ro {root} {root};")
    } else {
        String::new()
    };
    // Mounts happen in a mount namespace first, so that no process of the new
    // PID namespace exists before the container's first program.
    let mounts = format!(
        "set -e; mount --make-rprivate /; {ro} {binds} \
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

/// A pod whose containers share one PID namespace (Kubernetes
/// `shareProcessNamespace: true`): PID 1 is a stand-in infra process whose
/// command name is `infra` (e.g. `pause`); containers are entered from
/// outside with `nsenter`, so that their first program has its parent outside
/// the namespace (ppid 0), as a runtime starts it. The containers of the test
/// share the pod's mount namespace, where the rootfs has a tmpfs `/dev` and
/// the pod's `/proc`.
pub struct Pod {
    child: std::process::Child,
    /// The host pid of the infra process (PID 1 of the pod).
    pub infra_pid: u32,
    dir: tempfile::TempDir,
}

impl Pod {
    pub fn start(rootfs: &Rootfs, infra: &str) -> Pod {
        let dir = testkit::temp_dir_in(std::env::temp_dir(), "hm-entry-pod-");
        let script = dir.path().join(infra);
        let ready = dir.path().join("ready");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\ntouch {}\nwhile :; do sleep 1; done\n",
                shell_quote(ready.to_str().unwrap())
            ),
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let root = rootfs.dir.path().to_str().unwrap();
        let setup = format!(
            "set -e; mount --make-rprivate /; \
             mount -t tmpfs -o mode=755,nosuid tmpfs {root}/dev; \
             for d in null:3 zero:5; do mknod -m 666 {root}/dev/${{d%:*}} c 1 ${{d#*:}}; done; \
             mount -t proc proc {root}/proc; exec {}",
            shell_quote(script.to_str().unwrap())
        );
        let child = Command::new("unshare")
            .args(["--pid", "--fork", "--mount", "--", "/bin/sh", "-c", &setup])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !ready.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the pod did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let children =
            fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).unwrap();
        let infra_pid = children.split_whitespace().next().unwrap().parse().unwrap();
        Pod {
            child,
            infra_pid,
            dir,
        }
    }

    /// Starts a container's program in the pod (or an exec session into it:
    /// the same thing, seen from inside).
    pub fn enter(&self, rootfs: &Rootfs, r: &Run) -> Ran {
        let root = rootfs.dir.path().to_str().unwrap();
        let start = chroot_command(root, r);
        let pid = self.infra_pid.to_string();
        let mut cmd = Command::new("nsenter");
        cmd.args(["--target", &pid, "--pid", "--mount", "--", "/bin/sh", "-c"]);
        cmd.arg(format!("exec {start}"));
        cmd.env_clear().env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
        for (k, v) in &r.env {
            cmd.env(k, v);
        }
        Ran {
            out: cmd.output().unwrap(),
        }
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        // PID 1 of the pod ends: the kernel kills every process of the namespace.
        let _ = Command::new("kill")
            .args(["-KILL", &self.infra_pid.to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

/// The static entrypoint built with the test-only `fault-injection` feature
/// (`scripts/build-static.sh --fault-injection`: its own target directory,
/// so that it never replaces the real one).
pub fn fault_injection_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_static(&["--fault-injection"]))
        .clone()
}

/// A host directory owned by uid:gid, for bind mounts.
pub fn host_dir(uid: u32, gid: u32) -> tempfile::TempDir {
    let t = testkit::temp_dir_in(std::env::temp_dir(), "hm-entry-host-");
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(t.path(), Some(uid), Some(gid)).unwrap();
    t
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

/// [`PASSWD`] with app at 1000:1000.
pub fn passwd_at_1000() -> String {
    PASSWD.replace("app:x:1234:1234:", "app:x:1000:1000:")
}

/// [`GROUP`] with app at 1000.
pub fn group_at_1000() -> String {
    GROUP.replace("app:x:1234:", "app:x:1000:")
}

/// Configurations: the home left alone; hooks in /etc/hostmatch/hooks.d too.
pub const NO_HOME: Option<&str> = Some("chown_home = \"none\"\n");
pub const WITH_HOOKS: Option<&str> =
    Some("chown_home = \"none\"\nhooks_dir = \"/etc/hostmatch/hooks.d\"\n");

/// Commands the tests start.
pub const TRUE: &[&str] = &["/bin/true"];
pub const ID_U: &[&str] = &["/bin/id", "-u"];
pub const ID_UN: &[&str] = &["/bin/id", "-un"];
/// A caller with no-new-privileges set (`--security-opt no-new-privileges`).
pub const NNP: &[&str] = &["/bin/setpriv", "--nnp"];
/// The command, started by the entrypoint, execs the entrypoint again.
pub const EXEC_AGAIN: &str = "exec /usr/local/bin/hostmatch-entrypoint /bin/id -u";
/// What a second run in the same container start is told.
pub const ALREADY_RAN: &str = "already ran in this container start";

/// A shell as the container's first program runs the entrypoint as its
/// child, then prints its exit code (`rc=N`).
pub fn shell_at_pid_1_runs_it() -> Run<'static> {
    Run {
        program: "/bin/sh",
        args: vec![
            "-c",
            "/usr/local/bin/hostmatch-entrypoint /bin/id -u; echo rc=$?",
        ],
        ..Run::default()
    }
}
