//! `hostmatch mount --for-docker` against rootless Podman's API: the engine is asked,
//! recognised as rootless, and the view makes the directory's owner appear as the host
//! ids of container root (the user running Podman); a real rootless container then sees
//! the files as its own and writes them as their owner.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::{images, Podman, RootlessConfig};

const BIN: &str = env!("CARGO_BIN_EXE_hostmatch");

/// A directory bind-mounted on itself and made shared, so that mounts made below it on
/// the host after rootless Podman made its mount namespace still reach that namespace
/// ("/" is private on this machine). Unmounted on drop.
struct SharedDir {
    dir: tempfile::TempDir,
}

impl SharedDir {
    fn new() -> SharedDir {
        let dir = testkit::temp_dir_in("/tmp", "hostmatch-e2e-");
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        for args in [
            vec![
                "--bind",
                dir.path().to_str().unwrap(),
                dir.path().to_str().unwrap(),
            ],
            vec!["--make-shared", dir.path().to_str().unwrap()],
        ] {
            let ok = Command::new("mount")
                .args(&args)
                .status()
                .unwrap()
                .success();
            assert!(ok, "mount {args:?}");
        }
        SharedDir { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SharedDir {
    fn drop(&mut self) {
        let view = self.path().join("view");
        let _ = Command::new(BIN).arg("umount").arg(&view).output();
        let _ = Command::new("umount").arg("-l").arg(&view).output();
        let _ = Command::new("umount").arg("-l").arg(self.path()).output();
    }
}

fn owner(p: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
}

#[test]
fn e2e_podman_rootless_mount_for_docker_shows_the_owner_as_container_root() {
    testkit::prereq_podman!(rootless);
    testkit::prereq!(testkit::is_root(), "root (ID-mapped mounts)");
    let shared = SharedDir::new();
    let src: PathBuf = shared.path().join("src");
    let view = shared.path().join("view");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("existing"), "x\n").unwrap();
    for p in [&src, &src.join("existing")] {
        std::os::unix::fs::chown(p, Some(4321), Some(4321)).unwrap();
    }
    let p = Podman::rootless(RootlessConfig::default()).expect("rootless Podman");
    p.import(images::busybox_rootfs_tar().expect("busybox"), "busybox");
    let api = p.start_service().expect("podman system service");
    let out = Command::new(BIN)
        .args([
            "mount",
            src.to_str().unwrap(),
            view.to_str().unwrap(),
            "--for-docker",
        ])
        .env("DOCKER_HOST", api.docker_host())
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (uid, gid) = p.host_ids();
    assert!(
        text.contains(&format!("container user 0:0 = host {uid}:{gid}"))
            && text.contains("podman-rootless"),
        "{text}"
    );
    let bind = format!("{}:/work", view.display());
    let seen = p.run_ok([
        "run",
        "--rm",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "stat -c %u:%g /work/existing && echo y >> /work/existing && touch /work/by-root && stat -c %u:%g /work/by-root",
    ]);
    // Container root sees the files as its own, and its new files as root's...
    assert_eq!(seen.lines().collect::<Vec<_>>(), ["0:0", "0:0"], "{seen}");
    // ... which land on the host as the directory's owner.
    assert_eq!(owner(&src.join("by-root")), (4321, 4321));
    assert_eq!(
        std::fs::read_to_string(src.join("existing")).unwrap(),
        "x\ny\n"
    );
}
