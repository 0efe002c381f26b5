//! End to end: the static setuid entrypoint in busybox, Debian and shell-less
//! images, run by a private dockerd (testkit). Each test starts its own daemon.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::docker::*;
use common::{host_dir, Outcome, ALREADY_RAN, EXEC_AGAIN};
use testkit::images;
use testkit::StorageDriver;

#[test]
fn busybox_setuid_mode_writes_files_owned_by_the_host_user() {
    testkit::prereq_dockerd!();
    let d = start(StorageDriver::Overlay2);
    busybox(&d, Some("chown_home = \"none\"\n"), "hm-bb");
    let work = host_dir(1000, 1000);
    let vol = format!("{}:/work", work.path().display());
    let out = ok_w(
        &d,
        &format!("run --rm --user 1000:1000 -v {vol} -w /work hm-bb /bin/sh -c"),
        &["id; echo $HOME $USER; touch /work/made-in-container"],
    );
    assert!(out.contains("uid=1000(app) gid=1000(app)"), "{out}");
    assert!(out.contains("/home/app app"), "{out}");
    let m = fs::metadata(work.path().join("made-in-container")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1000));

    // --group-add groups survive the drop; HOSTMATCH_* and LD_PRELOAD are ignored.
    let out = ok_w(
        &d,
        "run --rm --user 1000:1000 --group-add 4242 \
         -e HOSTMATCH_UID=0 -e LD_PRELOAD=/nonexistent.so hm-bb /bin/sh -c",
        &["id -u; id -G"],
    );
    assert_eq!(out, "1000\n1000 4242\n");

    // Host gid 0 -> gid 0, the account's own groups only.
    let out = ok_w(&d, "run --rm --user 1000:0 hm-bb /bin/id -G", &[]);
    assert_eq!(out.trim(), "0 1234", "{out}");

    // The ids collide: host uid 33 is www-data's in the image: www-data moves.
    let out = ok_w(
        &d,
        "run --rm --user 33:33 hm-bb /bin/sh -c",
        &["id -un; grep ^www-data: /etc/passwd"],
    );
    assert!(out.starts_with("app\nwww-data:x:"), "{out}");
    assert!(!out.contains("www-data:x:33:"), "{out}");

    // The largest id Docker's --user takes (it refuses ids >= 2^31; those
    // are covered in root mode and by the root tests).
    let largest = "run --rm --user 2147483647:2147483647 hm-bb /bin/id -u";
    let out = ok_w(&d, largest, &[]);
    assert_eq!(out.trim(), "2147483647");
}

#[test]
fn busybox_root_mode_takes_the_owner_of_the_bind_mount() {
    testkit::prereq_dockerd!();
    let d = start(StorageDriver::Overlay2);
    busybox(
        &d,
        Some("chown_home = \"none\"\nmatch_path = \"/work\"\n"),
        "hm-bb",
    );
    let work = host_dir(1500, 1501);
    let vol = format!("{}:/work", work.path().display());
    let out = ok_w(
        &d,
        &format!("run --rm -v {vol} hm-bb /bin/sh -c"),
        &["id -un; id -u; touch /work/f"],
    );
    assert_eq!(out, "app\n1500\n");
    let m = fs::metadata(work.path().join("f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1500, 1501));
    // HOSTMATCH_UID/GID win in root mode.
    let out = ok_w(
        &d,
        "run --rm -e HOSTMATCH_UID=1600 -e HOSTMATCH_GID=1601 hm-bb /bin/sh -c",
        &["id -u; id -g"],
    );
    assert_eq!(out, "1600\n1601\n");
    // ids >= 2^31 through HOSTMATCH_UID.
    let big = ((1u64 << 31) + 3).to_string();
    let out = ok_w(
        &d,
        &format!("run --rm -e HOSTMATCH_UID={big} hm-bb /bin/sh -c"),
        &["id -u; id -g; grep ^app: /etc/passwd"],
    );
    assert!(
        out.starts_with(&format!("{big}\n{big}\napp:x:{big}:{big}:")),
        "{out}"
    );
    // Nothing mounted at match_path: refused with one line (an image
    // directory, or none, says nothing about the host user)...
    let o = docker_w(&d, "run --rm hm-bb /bin/id -u", &[]);
    o.assert_code(3)
        .assert_stderr_has("mount the host directory there");
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    // ...unless the image says to run as root then.
    busybox(
        &d,
        Some("match_path = \"/work\"\nmatch_path_fallback = \"root\"\n"),
        "hm-bb-root",
    );
    let out = ok_w(&d, "run --rm hm-bb-root /bin/id -u", &[]);
    assert_eq!(out.trim(), "0");
}

#[test]
fn busybox_restart_read_only_and_init() {
    testkit::prereq_dockerd!();
    let d = start(StorageDriver::Overlay2);
    busybox(&d, Some("chown_home = \"none\"\n"), "hm-bb");

    // Restart: the setuid bit stays, a new start runs again.
    ok_w(
        &d,
        "create --name hm-c1 --user 1000:1000 hm-bb /bin/id -u",
        &[],
    );
    assert_eq!(ok(&d, &["start", "-a", "hm-c1"]).trim(), "1000");
    assert_eq!(ok(&d, &["start", "-a", "hm-c1"]).trim(), "1000");
    ok(&d, &["rm", "hm-c1"]);

    // --read-only: the account must move -> a clear error naming what.
    docker_w(
        &d,
        "run --rm --read-only --user 1000:1000 hm-bb /bin/true",
        &[],
    )
    .assert_failed()
    .assert_stderr_has("read-only")
    .assert_stderr_has("user app moves from id 1234 to 1000");
    // --read-only with nothing to change works.
    let out = ok_w(
        &d,
        "run --rm --read-only --user 1234:1234 hm-bb /bin/id -un",
        &[],
    );
    assert_eq!(out.trim(), "app");

    // --init: first child of docker-init.
    let out = ok_w(
        &d,
        "run --rm --init --user 1000:1000 hm-bb /bin/sh -c",
        &["id -u; cat /proc/1/comm"],
    );
    assert_eq!(out, "1000\ndocker-init\n");
}

#[test]
fn busybox_init_true_forwards_stop_and_returns_the_status() {
    testkit::prereq_dockerd!();
    let d = start(StorageDriver::Overlay2);
    busybox(&d, Some("chown_home = \"none\"\ninit = true\n"), "hm-init");
    docker_w(
        &d,
        "run --rm --user 1000:1000 hm-init /bin/sh -c",
        &["exit 5"],
    )
    .assert_code(5);
    ok_w(
        &d,
        "run -d --name hm-c --user 1000:1000 hm-init /bin/sh -c",
        &["trap 'exit 9' TERM; while true; do sleep 0.1; done"],
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let t = std::time::Instant::now();
    ok(&d, &["stop", "-t", "20", "hm-c"]);
    assert!(
        t.elapsed().as_secs() < 10,
        "SIGTERM was not forwarded: {:?}",
        t.elapsed()
    );
    let code = ok(&d, &["inspect", "-f", "{{.State.ExitCode}}", "hm-c"]);
    assert_eq!(code.trim(), "9");
}

#[test]
fn busybox_attacks_gain_nothing() {
    testkit::prereq_dockerd!();
    let d = start(StorageDriver::Overlay2);
    busybox(&d, Some("chown_home = \"none\"\n"), "hm-bb");

    // Re-run in the same container: docker exec as the user.
    ok_w(
        &d,
        "run -d --name hm-c --user 1000:1000 hm-bb /bin/sleep 60",
        &[],
    );
    docker_w(&d, "exec hm-c", &[EP, "/bin/id", "-u"])
        .assert_code(3)
        .assert_stderr_has("refusing to run privileged");
    ok_w(&d, "rm -f hm-c", &[]);

    // The command (a shell at PID 1) execs the entrypoint again.
    docker_w(
        &d,
        "run --rm --user 1000:1000 hm-bb /bin/sh -c",
        &[EXEC_AGAIN],
    )
    .assert_code(3)
    .assert_stderr_has(ALREADY_RAN);

    // A shell at PID 1 (no entrypoint) runs it as a child.
    let o = docker_w(
        &d,
        "run --rm --user 1000:1000 --entrypoint /bin/sh hm-bb -c",
        &[&format!("{EP} /bin/id -u; echo rc=$?")],
    );
    assert_eq!(o.stdout, "rc=3\n", "{}", o.stderr);
    o.assert_stderr_has("not a known init");

    // An orphan re-parented to docker-init (the grandchild execs the entrypoint).
    let script = format!(
        "(/bin/sh -c 'sleep 0.3; exec {EP} /bin/id -u' > /tmp/o 2>&1 &); sleep 1.5; cat /tmp/o"
    );
    let out = ok_w(
        &d,
        "run --rm --init --user 1000:1000 hm-bb /bin/sh -c",
        &[&script],
    );
    assert!(out.contains("not the first child of docker-init"), "{out}");
    assert!(!out.contains("1000"), "{out}");

    // no-new-privileges: explained, nothing run.
    docker_w(
        &d,
        "run --rm --security-opt no-new-privileges --user 1000:1000 hm-bb /bin/id -u",
        &[],
    )
    .assert_code(3)
    .assert_stderr_has("no-new-privileges");
}

#[test]
fn odd_passwd_lines_are_kept_byte_for_byte() {
    testkit::prereq_dockerd!();
    let d = start(StorageDriver::Overlay2);
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(5000);
    let passwd = format!(
        "root:x:0:0:root:/root:/bin/sh\n# comment\n+@nis::::::\n-baduser::::::\nlong:x:77:77:{long}:/:/bin/false\nnot a valid line\napp:x:1234:1234::/home/app:/bin/sh\n"
    );
    let files = [
        (file_in(dir.path(), "passwd", &passwd), "/etc/passwd", 0o644),
        (
            file_in(dir.path(), "group", "root:x:0:\napp:x:1234:\n"),
            "/etc/group",
            0o644,
        ),
        (
            file_in(dir.path(), "entrypoint.toml", "chown_home = \"none\"\n"),
            "/etc/hostmatch/entrypoint.toml",
            0o644,
        ),
    ];
    let bb = testkit::which("busybox").unwrap();
    scratch_image(&d, bb, &files, "hm-odd");
    let out = ok_w(
        &d,
        "run --rm --user 1000:1000 hm-odd /opt/busybox cat /etc/passwd",
        &[],
    );
    assert_eq!(out, passwd.replace("app:x:1234:1234:", "app:x:1000:1000:"));
}

#[test]
fn shell_less_image_works() {
    testkit::prereq_dockerd!();
    let bb = testkit::which("busybox");
    testkit::prereq!(bb.is_some(), "busybox-static");
    let d = start(StorageDriver::Overlay2);
    let dir = tempfile::tempdir().unwrap();
    let passwd = file_in(dir.path(), "passwd", "root:x:0:0:root:/root:/nonexistent\n");
    let group = file_in(dir.path(), "group", "root:x:0:\n");
    let files = [(passwd, "/etc/passwd", 0o644), (group, "/etc/group", 0o644)];
    scratch_image(&d, bb.unwrap(), &files, "hm-scratch");
    // No /bin/sh anywhere: the account is created, its home made.
    let out = ok_w(
        &d,
        "run --rm --user 1000:1000 hm-scratch /opt/busybox id",
        &[],
    );
    assert!(out.contains("uid=1000(app) gid=1000(app)"), "{out}");
    let out = ok_w(
        &d,
        "run --rm --user 1000:1000 hm-scratch /opt/busybox stat -c",
        &["%u:%g %a", "/home/app"],
    );
    assert_eq!(out.trim(), "1000:1000 700");
}

#[test]
fn debian_setuid_mode_and_sudo() {
    testkit::prereq_dockerd!();
    let deb = images::debian_rootfs_tar();
    testkit::prereq!(deb.is_ok(), "the Debian image: {:?}", deb.as_ref().err());
    let d = start(StorageDriver::Overlay2);
    image(
        &d,
        &deb.unwrap(),
        Some("user = \"dev\"\nsudo = true\n"),
        "hm-deb",
        &[],
    );
    // The bind mount below the home makes Docker create /home/dev as root.
    let src = host_dir(1000, 1000);
    let vol = format!("{}:/home/dev/src", src.path().display());
    let out = ok_w(
        &d,
        &format!("run --rm --user 1000:1000 -v {vol} hm-deb /bin/bash -c"),
        &[
            "id -un; echo $HOME; getent passwd dev; stat -c '%a %U' /etc/sudoers.d/hostmatch; \
           sudo -n id -u; touch ~/.made && touch ~/src/from-container && echo wrote",
        ],
    );
    assert_eq!(
        out, "dev\n/home/dev\ndev:x:1000:1000::/home/dev:/bin/sh\n440 root\n0\nwrote\n",
        "{out}"
    );
    let m = fs::metadata(src.path().join("from-container")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1000));
    // Root mode on Debian: the owner of nothing, HOSTMATCH_UID/GID given.
    let out = ok_w(
        &d,
        "run --rm -e HOSTMATCH_UID=1500 -e HOSTMATCH_GID=1500 hm-deb /bin/bash -c",
        &["id -un; id -u; id -g; echo $HOME $USER $LOGNAME $SHELL"],
    );
    assert_eq!(out, "dev\n1500\n1500\n/home/dev dev dev /bin/sh\n");
}

#[test]
fn home_is_re_owned_without_following_symlinks_or_crossing_bind_mounts_on_vfs() {
    testkit::prereq_dockerd!();
    let bb = testkit::which("busybox");
    testkit::prereq!(bb.is_some(), "busybox-static");
    let d = start(StorageDriver::Vfs);
    let dir = tempfile::tempdir().unwrap();
    let passwd = file_in(
        dir.path(),
        "passwd",
        "root:x:0:0:root:/root:/nonexistent\napp:x:1234:1234::/home/app:/nonexistent\n",
    );
    let group = file_in(dir.path(), "group", "root:x:0:\napp:x:1234:\n");
    let secret = file_in(dir.path(), "secret", "root only\n");
    let files = [
        (passwd, "/etc/passwd", 0o644),
        (group, "/etc/group", 0o644),
        (secret, "/etc/secret", 0o600),
    ];
    scratch_image(&d, bb.unwrap(), &files, "hm-home");
    // A host directory bind-mounted under the home, with a file of uid 1234.
    let host = host_dir(0, 0);
    fs::write(host.path().join("hostfile"), "host").unwrap();
    std::os::unix::fs::chown(host.path().join("hostfile"), Some(1234), Some(1234)).unwrap();
    let vol = format!("{}:/home/app/mnt", host.path().display());
    // A first start (as root, without the entrypoint) leaves what the
    // account could have left: its home, a file and a symlink to a root-only file.
    ok_w(
        &d,
        &format!("create --name hm-c --entrypoint /opt/busybox -v {vol} hm-home sh -c"),
        &[
            "cd /home/app && /opt/busybox touch owned && /opt/busybox ln -s /etc/secret link \
           && /opt/busybox chown -h 1234:1234 . owned link",
        ],
    );
    ok_w(&d, "start -a hm-c", &[]);
    // The same container's files, started as host user 1000.
    commit(&d, "hm-c", "hm-home2");
    let owners = [
        "%n %u",
        "/home/app",
        "/home/app/owned",
        "/home/app/link",
        "/home/app/mnt/hostfile",
        "/etc/secret",
    ];
    let o = docker_w(
        &d,
        &format!("run --rm --user 1000:1000 -v {vol} hm-home2 /opt/busybox stat -c"),
        &owners,
    );
    o.ok();
    let out = o.stdout;
    assert!(out.contains("/home/app 1000\n"), "{out}");
    assert!(out.contains("/home/app/owned 1000\n"), "{out}");
    assert!(
        out.contains("/home/app/link 1000\n"),
        "the symlink itself is re-owned: {out}"
    );
    assert!(
        out.contains("/etc/secret 0\n"),
        "symlink target re-owned: {out}"
    );
    assert!(
        out.contains("/home/app/mnt/hostfile 1234\n"),
        "bind mount crossed: {out}"
    );
    let m = fs::metadata(host.path().join("hostfile")).unwrap();
    assert_eq!(m.uid(), 1234, "host file re-owned");
}
