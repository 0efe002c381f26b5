//! Every recipe of README.md, run exactly as printed.
//!
//! The recipes are the README's fenced blocks whose info string names them
//! (```` ```sh recipe=docker-mount ````); they are read from the file at test
//! time, so the text cannot drift from what works. Shell recipes run with
//! `bash -e` as a normal user in a project directory that user owns; files
//! (Dockerfile, compose files, the Pod manifest) are written into it under
//! their recipe name. Each test then checks who owns what the recipe wrote.
//!
//! - Docker recipes: a private dockerd in a private mount namespace (with a
//!   copy of /etc, where a sudoers drop-in lets the test user `sudo`, and
//!   private tmpfs on /mnt and /run/docker/plugins), the test user talking to
//!   it through its socket; the volume plugin runs as root in the same
//!   namespace, as its systemd unit would.
//! - Podman recipes: testkit's Podman fixtures (private storage, runc). The
//!   rootful ones run as root in the fixture's namespaces (the Pod's hostPath
//!   `/srv/project` is a directory of the test bound there); the rootless
//!   ones as the fixture's user, whose ranges are far from every other
//!   test's (`reclaim` leaves ids shared with another user's lines alone).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use testkit::images::{self, ExtraFile};
use testkit::{Dockerd, DockerdConfig, EtcCopy, HostUser, Podman, RootlessConfig, StorageDriver};

/// The README's recipes: name -> text.
fn recipes() -> BTreeMap<String, String> {
    let readme = fs::read_to_string(testkit::workspace_root().join("README.md")).unwrap();
    parse_recipes(&readme)
}

fn parse_recipes(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        match &mut current {
            None => {
                let Some(info) = line.strip_prefix("```") else {
                    continue;
                };
                if let Some(name) = info
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("recipe="))
                {
                    current = Some((name.to_string(), String::new()));
                }
            }
            Some((name, body)) => {
                if line.starts_with("```") {
                    let prev = out.insert(name.clone(), std::mem::take(body));
                    assert!(prev.is_none(), "recipe {name} appears twice in README.md");
                    current = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    assert!(current.is_none(), "README.md: a recipe block is not closed");
    out
}

fn recipe(name: &str) -> String {
    recipes()
        .remove(name)
        .unwrap_or_else(|| panic!("README.md has no recipe block named {name}"))
}

/// Every recipe the README prints, and the test that runs it.
const RUN_BY: &[(&str, &str)] = &[
    ("Dockerfile", "docker_recipes_run_as_printed"),
    ("docker-entrypoint", "docker_recipes_run_as_printed"),
    ("docker-mount", "docker_recipes_run_as_printed"),
    ("docker-plugin", "docker_recipes_run_as_printed"),
    ("docker-compose.yml", "docker_recipes_run_as_printed"),
    ("compose", "docker_recipes_run_as_printed"),
    ("docker-compose.plugin.yml", "docker_recipes_run_as_printed"),
    ("compose-plugin", "docker_recipes_run_as_printed"),
    (
        "podman-rootful",
        "podman_rootful_and_kube_play_recipes_run_as_printed",
    ),
    (
        "pod.yaml",
        "podman_rootful_and_kube_play_recipes_run_as_printed",
    ),
    (
        "kube-play",
        "podman_rootful_and_kube_play_recipes_run_as_printed",
    ),
    ("rootless-keep-id", "rootless_podman_recipes_run_as_printed"),
    (
        "rootless-keep-id-entrypoint",
        "rootless_podman_recipes_run_as_printed",
    ),
    ("rootless-reclaim", "rootless_podman_recipes_run_as_printed"),
    ("rootless-give", "rootless_podman_recipes_run_as_printed"),
];

#[test]
fn every_readme_recipe_is_run_by_a_test() {
    let printed: Vec<String> = recipes().into_keys().collect();
    let mut run: Vec<String> = RUN_BY.iter().map(|(r, _)| r.to_string()).collect();
    run.sort();
    assert_eq!(
        printed, run,
        "README.md's recipe blocks and the ones this file runs"
    );
}

#[test]
fn recipe_blocks_are_found_by_name() {
    let text = "a\n```sh recipe=one\necho 1\n```\n```sh\nnot a recipe\n```\n```yaml recipe=two.yaml\nk: v\n```\n";
    let r = parse_recipes(text);
    assert_eq!(r["one"], "echo 1\n");
    assert_eq!(r["two.yaml"], "k: v\n");
    assert_eq!(r.len(), 2);
}

fn owner(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A directory anyone may enter, removed on drop.
fn open_dir(prefix: &str) -> tempfile::TempDir {
    let d = testkit::temp_dir_in("/var/tmp", prefix);
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// The static entrypoint `scripts/build-static.sh` builds (scripts/test.sh
/// builds it before the tests).
fn static_entrypoint() -> PathBuf {
    testkit::target_dir().join("x86_64-unknown-linux-gnu/release-small/hostmatch-entrypoint")
}

/// A directory with `hostmatch` (this build) for the user's PATH.
fn bin_dir() -> tempfile::TempDir {
    let d = open_dir("hm-recipes-bin-");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_hostmatch"), d.path().join("hostmatch"))
        .unwrap();
    d
}

/// The user who follows the recipes, with a project directory and a home.
struct Dev {
    user: HostUser,
    top: tempfile::TempDir,
}

impl Dev {
    fn new() -> Dev {
        let user = HostUser::unique().expect("creating the test user");
        let top = open_dir("hm-recipes-");
        let dev = Dev { user, top };
        for d in ["project", "home"] {
            fs::create_dir(dev.top.path().join(d)).unwrap();
            dev.give(&dev.top.path().join(d));
        }
        dev
    }
    fn project(&self) -> PathBuf {
        self.top.path().join("project")
    }
    fn home(&self) -> PathBuf {
        self.top.path().join("home")
    }
    fn ids(&self) -> (u32, u32) {
        (self.user.uid, self.user.gid)
    }
    fn give(&self, p: &Path) {
        std::os::unix::fs::lchown(p, Some(self.user.uid), Some(self.user.gid)).unwrap();
    }
    /// Writes a file recipe into the project, owned by the user.
    fn write(&self, name: &str) {
        let p = self.project().join(name);
        fs::write(&p, recipe(name)).unwrap();
        self.give(&p);
    }
}

fn check(what: &str, out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The Docker side: a private dockerd in its own mount namespace.
struct DockerEnv {
    d: Dockerd,
    _etc: EtcCopy,
    bin: tempfile::TempDir,
    plugin: Option<Child>,
    plugin_state: tempfile::TempDir,
}

impl DockerEnv {
    fn start(dev: &Dev) -> DockerEnv {
        let bin = bin_dir();
        let etc = EtcCopy::new().expect("copying /etc");
        let sudoers = etc.etc().join("sudoers.d/hostmatch-recipes");
        fs::create_dir_all(sudoers.parent().unwrap()).unwrap();
        let u = &dev.user.name;
        fs::write(
            &sudoers,
            format!(
                "Defaults:{u} secure_path=\"{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\n\
                 {u} ALL=(root) NOPASSWD: ALL\n",
                bin.path().display()
            ),
        )
        .unwrap();
        fs::set_permissions(&sudoers, fs::Permissions::from_mode(0o440)).unwrap();
        let d = Dockerd::start_with_etc(
            DockerdConfig {
                storage_driver: StorageDriver::Overlay2,
                userns_remap: None,
                extra_args: vec![],
            },
            &etc.etc(),
        )
        .expect("private dockerd starts");
        let env = DockerEnv {
            d,
            _etc: etc,
            bin,
            plugin: None,
            plugin_state: tempfile::tempdir().unwrap(),
        };
        // Private to the daemon's namespace: the recipes' fixed paths and the
        // plugin socket directory; the test user may use the socket.
        env.as_root(
            "mount -t tmpfs hm-mnt /mnt && mkdir -p /run/docker/plugins /run/sudo && \
             mount -t tmpfs hm-plugins /run/docker/plugins && mount -t tmpfs hm-sudo /run/sudo",
        );
        let sock = env.d.dir().join("sock");
        std::os::unix::fs::chown(&sock, None, Some(dev.user.gid)).unwrap();
        fs::set_permissions(&sock, fs::Permissions::from_mode(0o660)).unwrap();
        fs::set_permissions(env.d.dir(), fs::Permissions::from_mode(0o755)).unwrap();
        env
    }

    fn nsenter(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--mount=/proc/{}/ns/mnt", self.d.pid().unwrap()))
            .arg("--");
        c
    }

    fn as_root(&self, script: &str) -> String {
        let out = self.nsenter().args(["sh", "-ec", script]).output().unwrap();
        check(script, out)
    }

    /// Runs recipe `name` as the user in the project directory.
    fn run(&self, dev: &Dev, name: &str) -> String {
        let script = format!("cd {}\n{}", s(&dev.project()), recipe(name));
        let cfg = dev.home().join(".docker");
        let out = self
            .nsenter()
            .arg(testkit::which("setpriv").unwrap())
            .arg(format!("--reuid={}", dev.user.uid))
            .arg(format!("--regid={}", dev.user.gid))
            .args(["--init-groups", "--", "env", "-i"])
            .arg(format!(
                "PATH={}:/usr/local/bin:/usr/bin:/bin",
                s(self.bin.path())
            ))
            .arg(format!("HOME={}", s(&dev.home())))
            .arg(format!("USER={}", dev.user.name))
            .arg(format!("DOCKER_HOST={}", self.d.host()))
            .arg(format!("DOCKER_CONFIG={}", s(&cfg)))
            .args(["bash", "-e", "-c", &script])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        check(&format!("recipe {name}"), out)
    }

    /// Starts the volume plugin as root in the daemon's namespace, as its
    /// systemd unit does, allowing the test's directories.
    fn start_plugin(&mut self, allow: &Path) {
        let sock = "/run/docker/plugins/hostmatch.sock";
        let child = self
            .nsenter()
            .arg(env!("CARGO_BIN_EXE_hostmatch"))
            .args(["volume-plugin", "--socket", sock, "--state"])
            .arg(self.plugin_state.path())
            .arg("--allow")
            .arg(allow)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.plugin = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self
            .nsenter()
            .args(["test", "-S", sock])
            .status()
            .is_ok_and(|s| !s.success())
        {
            assert!(
                Instant::now() < deadline,
                "the plugin socket did not appear"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for DockerEnv {
    fn drop(&mut self) {
        if let Some(mut p) = self.plugin.take() {
            // nsenter execs the plugin: this is its pid.
            let _ = Command::new("kill").arg(p.id().to_string()).status();
            let _ = p.wait();
        }
    }
}

/// The static entrypoint built, and the Debian image as `$deb` (a `Result`).
macro_rules! need_entrypoint_and_debian {
    ($deb:ident) => {
        testkit::prereq!(
            static_entrypoint().exists(),
            "the static entrypoint (scripts/build-static.sh)"
        );
        let $deb = images::debian_rootfs_tar();
        testkit::prereq!($deb.is_ok(), "the Debian image: {:?}", $deb.as_ref().err());
    };
}

#[test]
fn docker_recipes_run_as_printed() {
    testkit::prereq_dockerd!();
    for tool in ["sudo", "docker-compose", "nsenter", "setpriv"] {
        testkit::prereq!(
            testkit::have_cmd(tool),
            "{tool} (scripts/test.sh installs it)"
        );
    }
    need_entrypoint_and_debian!(deb);
    let busybox = images::busybox_rootfs_tar().unwrap();

    let dev = Dev::new();
    let mut env = DockerEnv::start(&dev);
    env.d.import(deb.unwrap(), "debian:bookworm");
    env.d
        .run_ok(["import", "--change", "USER 1234", s(&busybox), "myorg/app"]);
    let p = dev.project();
    let me = dev.ids();

    // The entrypoint image, built from the README's Dockerfile.
    fs::copy(static_entrypoint(), p.join("hostmatch-entrypoint")).unwrap();
    dev.write("Dockerfile");
    let out = env.run(&dev, "docker-entrypoint");
    assert_eq!(owner(&p.join("built.txt")), me, "docker-entrypoint");
    assert!(
        out.lines().any(|l| l == "app"),
        "the image's account ran it: {out}"
    );

    env.run(&dev, "docker-mount");
    assert_eq!(owner(&p.join("x")), me, "docker-mount");
    let mounts = env.as_root("cat /proc/self/mountinfo");
    assert!(!mounts.contains("/mnt/work-view"), "the view is unmounted");

    env.start_plugin(dev.top.path());
    env.run(&dev, "docker-plugin");
    assert_eq!(owner(&p.join("from-plugin")), me, "docker-plugin");

    dev.write("docker-compose.yml");
    env.run(&dev, "compose");
    assert_eq!(owner(&p.join("from-compose.txt")), me, "compose");

    dev.write("docker-compose.plugin.yml");
    env.run(&dev, "compose-plugin");
    assert_eq!(owner(&p.join("from-plugin-compose")), me, "compose-plugin");
}

const EP: &str = "/usr/local/bin/hostmatch-entrypoint";

/// Runs a shell recipe in a Podman fixture, in `dir`, stopping at the first
/// failing line, with `hostmatch` on the PATH.
fn podman_recipe(p: &Podman, bin: &Path, dir: &Path, name: &str) -> String {
    let script = format!(
        "set -e\nPATH={}:$PATH\ncd {}\n{}",
        s(bin),
        s(dir),
        recipe(name)
    );
    let out = p.command("sh").arg("-c").arg(&script).output().unwrap();
    check(&format!("recipe {name}"), out)
}

/// `podman import` of `tar` as `name` with these `--change`s (and PATH),
/// the tarball fed on stdin.
fn podman_import(p: &Podman, tar: &Path, name: &str, changes: &[&str]) {
    let mut c = p.command("podman");
    c.args(["import", "--quiet", "--change"])
        .arg(format!("ENV=PATH={}", testkit::DEFAULT_PATH));
    for ch in changes {
        c.args(["--change", ch]);
    }
    c.args(["-", name]).stdin(fs::File::open(tar).unwrap());
    check(&format!("podman import {name}"), c.output().unwrap());
}

/// The pod manifest of the README with `line` added below `at`, indented
/// like it: the variants whose outcomes the README states.
fn manifest_with(at: &str, line: &str) -> String {
    let m = recipe("pod.yaml");
    let i = m
        .find(at)
        .unwrap_or_else(|| panic!("pod.yaml has no {at:?}"));
    let indent = &m[m[..i].rfind('\n').map_or(0, |n| n + 1)..i];
    let end = i + m[i..].find('\n').unwrap() + 1;
    format!("{}{indent}{line}\n{}", &m[..end], &m[end..])
}

/// Plays `manifest` (a variant of the README's) from `dir`, waits for the
/// container and returns its exit code and its output (stdout and stderr).
fn kube_play_variant(p: &Podman, dir: &Path, manifest: &str) -> (String, String) {
    fs::write(dir.join("variant.yaml"), manifest).unwrap();
    let yaml = dir.join("variant.yaml");
    check("kube play", p.podman(["kube", "play", s(&yaml)]));
    let code = check("podman wait", p.podman(["wait", "dev-app"]));
    let logs = p.podman(["logs", "dev-app"]);
    check("kube down", p.podman(["kube", "down", s(&yaml)]));
    (
        code.trim().to_string(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        ),
    )
}

#[test]
fn podman_rootful_and_kube_play_recipes_run_as_printed() {
    testkit::prereq_podman!(kube_play);
    need_entrypoint_and_debian!(deb);
    let p = Podman::rootful(Default::default()).expect("rootful podman fixture");
    let bin = bin_dir();
    podman_import(&p, &deb.unwrap(), "debian:bookworm", &[]);

    // A CI agent's workspace, owned by its user; Podman runs as root.
    let ws = p.work_dir().join("workspace");
    fs::create_dir(&ws).unwrap();
    fs::copy(static_entrypoint(), ws.join("hostmatch-entrypoint")).unwrap();
    fs::write(ws.join("Dockerfile"), recipe("Dockerfile")).unwrap();
    let agent = (4321, 4321);
    for e in fs::read_dir(&ws).unwrap() {
        std::os::unix::fs::lchown(e.unwrap().path(), Some(agent.0), Some(agent.1)).unwrap();
    }
    std::os::unix::fs::lchown(&ws, Some(agent.0), Some(agent.1)).unwrap();
    let out = podman_recipe(&p, bin.path(), &ws, "podman-rootful");
    assert_eq!(owner(&ws.join("built.txt")), agent, "podman-rootful");
    assert!(
        out.lines().any(|l| l == "app"),
        "the image's account ran it: {out}"
    );

    // The Pod: its hostPath /srv/project exists in the fixture's namespace
    // only (a tmpfs on /srv there), bound to a directory owned by 1000:1000.
    let project = p.work_dir().join("srv-project");
    fs::create_dir(&project).unwrap();
    std::os::unix::fs::lchown(&project, Some(1000), Some(1000)).unwrap();
    let out = p
        .command("sh")
        .arg("-ec")
        .arg(format!(
            "mount -t tmpfs hm-srv /srv && mkdir /srv/project && mount --bind {} /srv/project",
            s(&project)
        ))
        .output()
        .unwrap();
    check("binding /srv/project", out);
    let kube = p.work_dir().join("kube");
    fs::create_dir(&kube).unwrap();

    fs::write(kube.join("pod.yaml"), recipe("pod.yaml")).unwrap();
    let out = podman_recipe(&p, bin.path(), &kube, "kube-play");
    assert!(out.contains("1000 1000"), "{out}");
    assert_eq!(
        owner(&project.join("from-pod.txt")),
        (1000, 1000),
        "kube-play"
    );
    fs::remove_file(project.join("from-pod.txt")).unwrap();

    // The two settings whose outcomes the README states.
    let share = manifest_with("restartPolicy: Never", "shareProcessNamespace: true");
    // The pod's infra process is PID 1 and the container's first program
    // has its parent outside: supported (docs/threat-model.md).
    let (code, logs) = kube_play_variant(&p, &kube, &share);
    assert_eq!(code, "0", "shareProcessNamespace: {logs}");
    assert_eq!(
        owner(&project.join("from-pod.txt")),
        (1000, 1000),
        "shareProcessNamespace"
    );
    fs::remove_file(project.join("from-pod.txt")).unwrap();
    let nnp = manifest_with(
        "image: myorg/dev",
        "securityContext: { allowPrivilegeEscalation: false }",
    );
    let (code, logs) = kube_play_variant(&p, &kube, &nnp);
    assert_eq!(code, "3", "allowPrivilegeEscalation: {logs}");
    assert!(logs.contains("no-new-privileges is set"), "{logs}");
    assert!(logs.contains("unprivileged = \"run\""), "{logs}");
    assert!(!project.join("from-pod.txt").exists());
}

#[test]
fn rootless_podman_recipes_run_as_printed() {
    testkit::prereq_podman!(rootless);
    testkit::prereq!(
        static_entrypoint().exists(),
        "the static entrypoint (scripts/build-static.sh)"
    );
    let deb = images::debian_rootfs_tar();
    testkit::prereq!(deb.is_ok(), "the Debian image: {:?}", deb.as_ref().err());
    let deb = deb.unwrap();
    // A range of its own, far from every other test's.
    let start = 3_500_000_000 + (std::process::id() % 10_000) * 65_536;
    let p = Podman::rootless(RootlessConfig::ranges(
        &[(start, 65_536)],
        &[(start, 65_536)],
    ))
    .expect("rootless podman fixture");
    let me = p.host_ids();
    let bin = bin_dir();
    podman_import(&p, &deb, "debian:bookworm", &[]);
    // myorg/dev: the README's Dockerfile, as an image (the setuid entrypoint
    // added to the same Debian image).
    let dev = images::with_extra_files(&deb, &[ExtraFile::root(static_entrypoint(), EP, 0o4755)])
        .unwrap();
    podman_import(&p, &dev, "myorg/dev", &[&format!("ENTRYPOINT [\"{EP}\"]")]);
    let w = p.work_dir();

    podman_recipe(&p, bin.path(), &w, "rootless-keep-id");
    assert_eq!(owner(&w.join("keep-id.txt")), me, "rootless-keep-id");

    let out = podman_recipe(&p, bin.path(), &w, "rootless-keep-id-entrypoint");
    assert_eq!(
        owner(&w.join("from-app.txt")),
        me,
        "rootless-keep-id-entrypoint"
    );
    assert!(
        out.contains("app /home/app"),
        "the command ran as the image's account: {out}"
    );

    // Container uid 1000 writes as the 1000th subordinate id; reclaim gives it back.
    let out = podman_recipe(&p, bin.path(), &w, "rootless-reclaim");
    assert!(
        out.contains(&format!(" {} ", start + 999)),
        "written as a subordinate id: {out}"
    );
    assert_eq!(owner(&w.join("from-1000.txt")), me, "rootless-reclaim");
    assert_eq!(owner(&w), me, "the project directory itself");

    podman_recipe(&p, bin.path(), &w, "rootless-give");
    assert_eq!(owner(&w.join("given.txt")), me, "rootless-give");
    assert_eq!(owner(&w), me);
}
