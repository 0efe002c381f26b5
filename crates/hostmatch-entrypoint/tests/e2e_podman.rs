//! End to end with rootful Podman 4.3 (testkit's private fixture): Podman
//! adds its own /etc/passwd and /etc/group lines for a `--user` uid/gid the
//! image lacks; the setuid entrypoint gives the image's account that uid and
//! leaves no stray account behind.

mod common;

use common::docker::{words, EP};
use testkit::images::{self, ExtraFile};

#[test]
fn podman_passwd_line_for_a_uid_the_image_lacks_gives_way_to_the_account() {
    testkit::prereq_podman!();
    let p = testkit::Podman::rootful(Default::default()).expect("a rootful Podman fixture");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("entrypoint.toml");
    std::fs::write(&cfg, "chown_home = \"none\"\n").unwrap();
    let tar = images::with_extra_files(
        &images::busybox_rootfs_tar().unwrap(),
        &[
            ExtraFile::root(common::entrypoint_bin(), EP, 0o4755),
            ExtraFile::root(cfg, "/etc/hostmatch/entrypoint.toml", 0o644),
        ],
    )
    .unwrap();
    p.import(&tar, "hm-bb");
    // What Podman does on its own: a line for the uid, named after it.
    let plain = p.run_ok(words(
        "run --rm --user 1000:1000 hm-bb cat /etc/passwd",
        &[],
    ));
    assert!(
        plain.contains("1000:*:1000:1000:container user:"),
        "{plain}"
    );
    let script = "id; grep -c '^1000:' /etc/passwd /etc/group; grep ^app: /etc/passwd";
    let create = format!("create --name hm-c --user 1000:1000 --entrypoint {EP} hm-bb /bin/sh -c");
    p.run_ok(words(&create, &[script]));
    for start in ["first", "restart"] {
        let out = p.podman(["start", "-a", "hm-c"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{start}: {stdout} {stderr}");
        assert!(
            stdout.starts_with("uid=1000(app) gid=1000(app)"),
            "{start}: {stdout}"
        );
        assert!(
            stdout.contains("/etc/passwd:0\n/etc/group:0\n"),
            "{start}: a stray runtime line stayed: {stdout}"
        );
        assert!(stdout.contains("app:x:1000:1000:"), "{start}: {stdout}");
        assert!(!stderr.contains("make room"), "{start}: {stderr}");
    }
}
