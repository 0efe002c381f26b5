//! End to end: ID-mapped volumes with a real, private dockerd. A container's
//! files land on the host owned by the host user, with and without
//! userns-remap, by `hostmatch mount --for-docker` and by the volume plugin.

mod plugin_harness;

use std::fs;
use std::os::unix::fs::{chown, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use plugin_harness::PluginProc;
use testkit::{images, prereq, prereq_dockerd, Dockerd, DockerdConfig, HostUser, SubidLock};

const HOSTMATCH: &str = env!("CARGO_BIN_EXE_hostmatch");
const IMAGE: &str = "hm-busybox:idmount";

fn hostmatch(args: &[&str], docker_host: &str) -> Output {
    Command::new(HOSTMATCH)
        .args(args)
        .env("DOCKER_HOST", docker_host)
        .output()
        .expect("running hostmatch")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed ({}): stdout {} stderr {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ids(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
}

/// A workspace under /var/tmp owned by a fresh host user, and a place for the view.
struct Workspace {
    dir: tempfile::TempDir,
    user: HostUser,
}

impl Workspace {
    fn new() -> Self {
        let dir = testkit::temp_dir_in("/var/tmp", "hm-e2e-idmount-");
        let user = HostUser::unique().expect("creating a host user");
        let ws = Workspace { dir, user };
        fs::create_dir(ws.src()).unwrap();
        fs::write(ws.src().join("existing"), "x").unwrap();
        for p in [ws.src(), ws.src().join("existing")] {
            chown(&p, Some(ws.user.uid), Some(ws.user.gid)).unwrap();
        }
        ws
    }
    fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }
    fn view(&self) -> PathBuf {
        self.dir.path().join("view")
    }
    fn owner(&self) -> (u32, u32) {
        (self.user.uid, self.user.gid)
    }
    /// `docker run --rm OPTIONS -v VIEW:/work IMAGE sh -c SCRIPT`; its stdout.
    fn run_in_view(&self, d: &Dockerd, options: &[&str], script: &str) -> String {
        let bind = format!("{}:/work", self.view().display());
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(options);
        args.extend(["-v", &bind, IMAGE, "sh", "-c", script]);
        d.run_ok(args)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let view = self.view();
        let _ = Command::new(HOSTMATCH).arg("umount").arg(&view).output();
        let _ = Command::new("umount").arg(&view).output();
    }
}

#[test]
fn userns_remap_container_root_writes_into_the_view_as_the_host_user() {
    prereq_dockerd!();
    let tar = images::busybox_rootfs_tar();
    prereq!(tar.is_ok(), "busybox rootfs: {:?}", tar.as_ref().err());
    let ws = Workspace::new();
    let (d, mounted) = {
        // dockerd's "default" allocation and hostmatch's prediction must see the
        // same /etc/subuid and /etc/subgid.
        let _lock = SubidLock::acquire().unwrap();
        let d = Dockerd::start(DockerdConfig {
            userns_remap: Some("default".into()),
            ..Default::default()
        })
        .expect("starting dockerd with --userns-remap=default");
        let out = hostmatch(
            &[
                "mount",
                ws.src().to_str().unwrap(),
                ws.view().to_str().unwrap(),
                "--for-docker",
            ],
            d.host(),
        );
        (d, out)
    };
    let text = ok(&mounted);
    assert!(text.contains("container user 0:0 = host"), "{text}");
    d.import(tar.unwrap(), IMAGE);
    let out = ws.run_in_view(
        &d,
        &[],
        "stat -c %u:%g /work/existing && touch /work/by-root && mkdir /work/dir && \
         echo hi > /work/dir/f && stat -c %u:%g /work/by-root",
    );
    // The container's root sees the host user's files as its own, and its own files as root's.
    assert_eq!(out.lines().collect::<Vec<_>>(), ["0:0", "0:0"], "{out}");
    // On the host they belong to the host user.
    for p in ["by-root", "dir", "dir/f"] {
        assert_eq!(ids(&ws.src().join(p)), ws.owner(), "{p}");
    }
    ok(&hostmatch(
        &["umount", ws.view().to_str().unwrap()],
        d.host(),
    ));
    assert!(!ws.view().exists());
    d.stop().unwrap();
}

#[test]
fn without_remap_container_user_1234_writes_into_the_view_as_the_host_user() {
    prereq_dockerd!();
    let tar = images::busybox_rootfs_tar();
    prereq!(tar.is_ok(), "busybox rootfs: {:?}", tar.as_ref().err());
    let ws = Workspace::new();
    let d = Dockerd::start(DockerdConfig::default()).expect("starting dockerd");
    let text = ok(&hostmatch(
        &[
            "mount",
            ws.src().to_str().unwrap(),
            ws.view().to_str().unwrap(),
            "--for-docker",
            "--container-user",
            "1234",
        ],
        d.host(),
    ));
    assert!(text.contains("= host 1234:1234"), "{text}");
    d.import(tar.unwrap(), IMAGE);
    let out = ws.run_in_view(
        &d,
        &["--user", "1234:1234"],
        "stat -c %u:%g /work/existing && echo x >> /work/existing && touch /work/by-1234 && \
         stat -c %u:%g /work/by-1234",
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["1234:1234", "1234:1234"],
        "{out}"
    );
    assert_eq!(ids(&ws.src().join("by-1234")), ws.owner());
    assert_eq!(
        fs::read_to_string(ws.src().join("existing")).unwrap(),
        "xx\n"
    );
    // Without the view the same container user could not write (the control).
    let plain = format!("{}:/work", ws.src().display());
    let denied = d.docker([
        "run",
        "--rm",
        "--user",
        "1234:1234",
        "-v",
        &plain,
        IMAGE,
        "touch",
        "/work/nope",
    ]);
    assert!(
        !denied.status.success(),
        "a plain bind mount let uid 1234 write"
    );
    // The mount is listed with its mapping.
    let list = ok(&hostmatch(&["mounts", "--json"], d.host()));
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let canon = fs::canonicalize(ws.view()).unwrap();
    let mine = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["dst"] == canon.to_str().unwrap())
        .unwrap_or_else(|| panic!("{list}"));
    assert!(mine["record"]["how"]
        .as_str()
        .unwrap()
        .contains("--for-docker"));
    d.stop().unwrap();
}

/// A volume plugin on a unique socket in /run/docker/plugins (where dockerd
/// finds it), asking `docker_host` about userns-remap; returns its driver name.
fn plugin(state: PathBuf, allow: &Path, docker_host: &str) -> (String, PluginProc) {
    let name = testkit::unique_name("hm-idmount");
    let socket = PathBuf::from(format!("/run/docker/plugins/{name}.sock"));
    let p = PluginProc::start(
        &socket,
        &state,
        &[allow],
        &[],
        &[("DOCKER_HOST", docker_host)],
    );
    (name, p)
}

/// A client that announces a request body and never sends it.
fn stalled_client(socket: &Path) -> std::os::unix::net::UnixStream {
    use std::io::Write;
    let mut c = std::os::unix::net::UnixStream::connect(socket).unwrap();
    c.write_all(b"POST /VolumeDriver.List HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n{")
        .unwrap();
    c
}

#[test]
fn volume_plugin_maps_volumes_refuses_other_sources_and_survives_a_restart() {
    prereq_dockerd!();
    let tar = images::busybox_rootfs_tar();
    prereq!(tar.is_ok(), "busybox rootfs: {:?}", tar.as_ref().err());
    let ws = Workspace::new();
    let allowed = ws.dir.path().to_path_buf();
    let outside = tempfile::tempdir_in("/var/tmp").unwrap();
    let d = Dockerd::start(DockerdConfig::default()).expect("starting dockerd");
    let (driver, mut plugin) = plugin(ws.dir.path().join("plugin-state"), &allowed, d.host());
    // Another client of the plugin that never finishes its request must not
    // hold up dockerd's.
    let _stalled = stalled_client(&plugin.socket);
    d.import(tar.unwrap(), IMAGE);
    let src_opt = format!("source={}", ws.src().display());
    d.run_ok([
        "volume",
        "create",
        "-d",
        &driver,
        "-o",
        &src_opt,
        "-o",
        "owner-as=1234:1234",
        "ws",
    ]);
    // A source outside the --allow directories is refused, with the reason.
    let bad_opt = format!("source={}", outside.path().display());
    let refused = d.docker([
        "volume",
        "create",
        "-d",
        &driver,
        "-o",
        &bad_opt,
        "-o",
        "owner-as=1",
        "bad",
    ]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("not below an allowed directory"), "{err}");

    let write = |file: &str| {
        d.run_ok([
            "run",
            "--rm",
            "--user",
            "1234:1234",
            "-v",
            "ws:/work",
            IMAGE,
            "sh",
            "-c",
            &format!("touch /work/{file} && stat -c %u:%g /work/{file} /work/existing"),
        ])
    };
    let out = write("first");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["1234:1234", "1234:1234"],
        "{out}"
    );
    assert_eq!(ids(&ws.src().join("first")), ws.owner());
    // The container is gone: the plugin unmounted the volume.
    let mp = ws.dir.path().join("plugin-state/mounts/ws");
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(mp.to_str().unwrap()), "still mounted");

    // A restart keeps the volume.
    plugin.kill();
    plugin.restart();
    let _stalled = stalled_client(&plugin.socket);
    let ls = d.run_ok(["volume", "ls", "--format", "{{.Driver}} {{.Name}}"]);
    assert!(ls.contains(&format!("{driver} ws")), "{ls}");
    write("second");
    assert_eq!(ids(&ws.src().join("second")), ws.owner());

    // Removing the volume never removes host data.
    d.run_ok(["volume", "rm", "ws"]);
    for f in ["existing", "first", "second"] {
        assert!(ws.src().join(f).exists(), "{f} was deleted");
    }
    let ls = d.run_ok(["volume", "ls", "-q"]);
    assert!(!ls.lines().any(|l| l == "ws"), "{ls}");
    d.stop().unwrap();
}
