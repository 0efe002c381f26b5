//! Root tests: the static, setuid entrypoint started as the first program of
//! a new PID namespace in a chrooted busybox rootfs (a container without a
//! container runtime). Each test starts its own "container".

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn id_of(r: &Ran) -> String {
    r.stdout().trim().to_string()
}

#[test]
fn setuid_mode_gives_the_account_the_host_ids() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\n"));
    let r = run(
        &fs_,
        &Run {
            args: vec![
                "/bin/sh",
                "-c",
                "id; echo HOME=$HOME USER=$USER LOGNAME=$LOGNAME SHELL=$SHELL",
            ],
            ..Run::default()
        },
    );
    r.ok();
    let out = r.stdout();
    assert!(
        out.contains("uid=1000(app) gid=1000(app) groups=50(staff),1000(app)"),
        "{out}"
    );
    assert!(
        out.contains("HOME=/home/app USER=app LOGNAME=app SHELL=/bin/sh"),
        "{out}"
    );
    // Odd lines kept byte for byte; only app's line changed.
    assert_eq!(
        fs_.read("etc/passwd"),
        PASSWD.replace("app:x:1234:1234:", "app:x:1000:1000:")
    );
    assert_eq!(
        fs_.read("etc/group"),
        GROUP.replace("app:x:1234:", "app:x:1000:")
    );
}

#[test]
fn command_gets_no_capabilities_and_cannot_regain_root() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\n"));
    let r = run(
        &fs_,
        &Run {
            args: vec![
                "/bin/sh",
                "-c",
                "grep -E '^(Uid|Gid|CapEff|CapPrm):' /proc/self/status",
            ],
            ..Run::default()
        },
    );
    r.ok();
    let out = r.stdout();
    assert!(out.contains("Uid:\t1000\t1000\t1000\t1000"), "{out}");
    assert!(out.contains("Gid:\t1000\t1000\t1000\t1000"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    assert!(out.contains("CapPrm:\t0000000000000000"), "{out}");
}

#[test]
fn hostile_environment_is_ignored_in_setuid_mode() {
    prereq_root_test!();
    let fs_ = Rootfs::new(
        PASSWD,
        GROUP,
        Some("chown_home = \"none\"\nhooks_dir = \"/etc/hostmatch/hooks.d\"\n"),
    );
    fs_.write(
        "etc/hostmatch/hooks.d/10-env",
        "#!/bin/sh\nenv > /tmp/hook-env\nid -u > /tmp/hook-uid\n",
    );
    fs::set_permissions(
        fs_.path("etc/hostmatch/hooks.d/10-env"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let r = run(
        &fs_,
        &Run {
            env: vec![
                ("HOSTMATCH_UID", "0"),
                ("HOSTMATCH_GID", "0"),
                ("LD_PRELOAD", "/tmp/evil.so"),
                ("EVIL", "1"),
                ("RUST_MIN_STACK", "1"),
            ],
            args: vec!["/bin/sh", "-c", "id -u; echo EVIL=$EVIL"],
            ..Run::default()
        },
    );
    r.ok();
    assert_eq!(
        r.stdout(),
        "1000\nEVIL=1\n",
        "HOSTMATCH_UID ignored; the caller's environment reaches the command"
    );
    let hook_env = fs_.read("tmp/hook-env");
    assert!(!hook_env.contains("EVIL"), "{hook_env}");
    assert!(!hook_env.contains("LD_PRELOAD"), "{hook_env}");
    assert!(hook_env.contains("HOME=/root"), "{hook_env}");
    assert!(hook_env.contains("HOSTMATCH_UID=1000"), "{hook_env}");
    assert_eq!(fs_.read("tmp/hook-uid").trim(), "0", "hooks run as root");
}

#[test]
fn writable_hook_is_refused_in_setuid_mode() {
    prereq_root_test!();
    let fs_ = Rootfs::new(
        PASSWD,
        GROUP,
        Some("chown_home = \"none\"\nhooks_dir = \"/etc/hostmatch/hooks.d\"\n"),
    );
    fs_.write("etc/hostmatch/hooks.d/10-x", "#!/bin/sh\ntouch /tmp/ran\n");
    fs::set_permissions(
        fs_.path("etc/hostmatch/hooks.d/10-x"),
        fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let r = run(
        &fs_,
        &Run {
            args: vec!["/bin/true"],
            ..Run::default()
        },
    );
    assert_eq!(r.code(), 3, "{}", r.stderr());
    assert!(
        r.stderr().contains("not writable by group or others"),
        "{}",
        r.stderr()
    );
    assert!(!fs_.path("tmp/ran").exists());
}

#[test]
fn insecure_config_is_refused_in_setuid_mode() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("user = \"www-data\"\n"));
    std::os::unix::fs::chown(fs_.path("etc/hostmatch/entrypoint.toml"), Some(1000), None).unwrap();
    let r = run(
        &fs_,
        &Run {
            args: vec!["/bin/true"],
            ..Run::default()
        },
    );
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("must be owned by root"),
        "{}",
        r.stderr()
    );
    assert_eq!(fs_.read("etc/passwd"), PASSWD, "nothing written");
}

#[test]
fn bad_config_names_the_line_and_writes_nothing() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("user = \"app\"\nchown_hme = \"all\"\n"));
    let r = run(
        &fs_,
        &Run {
            args: vec!["/bin/true"],
            ..Run::default()
        },
    );
    assert_eq!(r.code(), 2);
    assert!(
        r.stderr().contains("/etc/hostmatch/entrypoint.toml:2:"),
        "{}",
        r.stderr()
    );
    assert_eq!(fs_.read("etc/passwd"), PASSWD);
}

#[test]
fn root_mode_takes_hostmatch_uid_and_gid() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\n"));
    let r = run(
        &fs_,
        &Run {
            user: None,
            env: vec![("HOSTMATCH_UID", "1500"), ("HOSTMATCH_GID", "1600")],
            args: vec!["/bin/id"],
            ..Run::default()
        },
    );
    r.ok();
    assert!(
        r.stdout().contains("uid=1500(app) gid=1600(app)"),
        "{}",
        r.stdout()
    );
}

#[test]
fn root_mode_takes_the_owner_of_match_path() {
    prereq_root_test!();
    let fs_ = Rootfs::new(
        PASSWD,
        GROUP,
        Some("chown_home = \"none\"\nmatch_path = \"/work\"\n"),
    );
    // The bind-mounted host directory (match_path must be a mount point).
    fs::create_dir(fs_.path("work")).unwrap();
    let host = host_dir(2001, 2002);
    let r = run(
        &fs_,
        &Run {
            user: None,
            mounts: vec![(host.path().to_path_buf(), "/work")],
            args: vec![
                "/bin/sh",
                "-c",
                "id -u; id -g; touch /work/f; stat -c %u:%g /work/f",
            ],
            ..Run::default()
        },
    );
    r.ok();
    assert_eq!(r.stdout(), "2001\n2002\n2001:2002\n");
}

#[test]
fn root_mode_without_host_ids_stays_root() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, None);
    let r = run(
        &fs_,
        &Run {
            user: None,
            args: vec!["/bin/id", "-u"],
            ..Run::default()
        },
    );
    r.ok();
    assert_eq!(id_of(&r), "0");
    assert_eq!(fs_.read("etc/passwd"), PASSWD);
}

#[test]
fn host_uid_0_runs_as_root_untouched() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, None);
    let r = run(
        &fs_,
        &Run {
            user: None,
            env: vec![("HOSTMATCH_UID", "0"), ("HOSTMATCH_GID", "1000")],
            args: vec!["/bin/id", "-u"],
            ..Run::default()
        },
    );
    r.ok();
    assert_eq!(id_of(&r), "0");
    assert_eq!(fs_.read("etc/passwd"), PASSWD);
    assert_eq!(fs_.read("etc/group"), GROUP);
}

#[test]
fn host_gid_0_gives_gid_0_but_only_the_accounts_groups() {
    prereq_root_test!();
    // root is a member of group 27: those groups must never reach the account.
    let group = GROUP.replace("root:x:0:\n", "root:x:0:\nsudo:x:27:root\n");
    let fs_ = Rootfs::new(PASSWD, &group, Some("chown_home = \"none\"\n"));
    let r = run(
        &fs_,
        &Run {
            user: Some((1000, 0)),
            args: vec!["/bin/sh", "-c", "id -u; id -g; id -G"],
            ..Run::default()
        },
    );
    r.ok();
    assert_eq!(
        r.stdout(),
        "1000\n0\n0 50 1234\n",
        "id -G lists the gid first"
    );
    assert!(fs_.read("etc/group").contains("root:x:0:\n"));
    assert!(fs_.read("etc/group").contains("app:x:1234:\n"));
}

#[test]
fn an_account_holding_the_host_uid_moves_out_of_the_way() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\n"));
    let r = run(
        &fs_,
        &Run {
            user: Some((33, 33)),
            args: vec!["/bin/sh", "-c", "id -un; id -gn"],
            ..Run::default()
        },
    );
    r.ok();
    assert_eq!(r.stdout(), "app\napp\n");
    let passwd = fs_.read("etc/passwd");
    let www = passwd.lines().find(|l| l.starts_with("www-data:")).unwrap();
    assert!(!www.starts_with("www-data:x:33:"), "{www}");
    assert!(passwd.contains("root:x:0:0:root:/root:/bin/sh\n"));
}

#[test]
fn group_add_groups_are_kept() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\n"));
    let r = run(
        &fs_,
        &Run {
            groups: vec![999],
            args: vec!["/bin/id", "-G"],
            ..Run::default()
        },
    );
    r.ok();
    assert_eq!(id_of(&r), "1000 50 999");
}

#[test]
fn new_account_is_created_with_home() {
    prereq_root_test!();
    let fs_ = Rootfs::new(
        "root:x:0:0:root:/root:/bin/sh\n",
        "root:x:0:\n",
        Some("user = \"dev\"\n"),
    );
    let r = run(
        &fs_,
        &Run {
            args: vec![
                "/bin/sh",
                "-c",
                "id; echo $HOME; touch $HOME/x && echo wrote",
            ],
            ..Run::default()
        },
    );
    r.ok();
    assert!(
        r.stdout().contains("uid=1000(dev) gid=1000(dev)"),
        "{}",
        r.stdout()
    );
    assert!(r.stdout().contains("/home/dev\nwrote\n"), "{}", r.stdout());
    let m = fs::metadata(fs_.path("home/dev")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (1000, 1000, 0o700));
}

#[test]
fn ids_above_2_31_work() {
    prereq_root_test!();
    let big: u32 = (1 << 31) + 7;
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\n"));
    let r = run(
        &fs_,
        &Run {
            user: Some((big, big)),
            args: vec!["/bin/sh", "-c", "id -u; id -g"],
            ..Run::default()
        },
    );
    r.ok();
    assert_eq!(r.stdout(), format!("{big}\n{big}\n"));
    assert!(fs_
        .read("etc/passwd")
        .contains(&format!("app:x:{big}:{big}:")));
}

#[test]
fn second_run_in_the_same_start_gains_nothing() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\n"));
    // The command (now PID 1, as uid 1000) execs the entrypoint again.
    let r = run(
        &fs_,
        &Run {
            args: vec![
                "/bin/sh",
                "-c",
                "exec /usr/local/bin/hostmatch-entrypoint /bin/id -u",
            ],
            ..Run::default()
        },
    );
    assert_eq!(r.code(), 3, "stdout {} stderr {}", r.stdout(), r.stderr());
    assert!(
        r.stderr().contains("already ran in this container start"),
        "{}",
        r.stderr()
    );
    assert!(!r.stdout().contains('0'), "{}", r.stdout());
}

#[test]
fn restart_works_again() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\n"));
    run(
        &fs_,
        &Run {
            args: vec!["/bin/true"],
            ..Run::default()
        },
    )
    .ok();
    // A new start: new PID namespace and a fresh /dev, same rootfs.
    let r = run(
        &fs_,
        &Run {
            args: vec!["/bin/id", "-u"],
            ..Run::default()
        },
    );
    r.ok();
    assert_eq!(id_of(&r), "1000");
    // With other host ids, the account follows again.
    let r = run(
        &fs_,
        &Run {
            user: Some((1001, 1001)),
            args: vec!["/bin/id", "-un"],
            ..Run::default()
        },
    );
    r.ok();
    assert_eq!(id_of(&r), "app");
}

#[test]
fn shell_at_pid_1_running_it_as_a_child_gains_nothing() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, None);
    let r = run(
        &fs_,
        &Run {
            program: "/bin/sh",
            args: vec![
                "-c",
                "/usr/local/bin/hostmatch-entrypoint /bin/id -u; echo rc=$?",
            ],
            ..Run::default()
        },
    );
    assert!(r.stdout().contains("rc=3"), "{} {}", r.stdout(), r.stderr());
    assert!(r.stderr().contains("not a known init"), "{}", r.stderr());
    assert_eq!(fs_.read("etc/passwd"), PASSWD);
}

#[test]
fn first_child_of_a_known_init_works() {
    prereq_root_test!();
    for init in ["docker-init", "tini"] {
        let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\n"));
        let r = run(
            &fs_,
            &Run {
                init: Some(init),
                args: vec!["/bin/sh", "-c", "id -u; cat /proc/1/comm"],
                ..Run::default()
            },
        );
        r.ok();
        assert_eq!(r.stdout(), format!("1000\n{init}\n"));
    }
}

#[test]
fn orphan_re_parented_to_the_init_gains_nothing() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\n"));
    // The first run drops to 1000 and starts a double fork: the grandchild is
    // re-parented to PID 1 (the init) and runs the setuid entrypoint.
    let r = run(
        &fs_,
        &Run {
            init: Some("docker-init"),
            args: vec![
                "/bin/sh",
                "-c",
                "(/bin/sh -c 'sleep 0.3; exec /usr/local/bin/hostmatch-entrypoint /bin/id -u' > /tmp/orphan.out 2>&1 &) ; sleep 1",
            ],
            ..Run::default()
        },
    );
    r.ok();
    let out = fs_.read("tmp/orphan.out");
    assert!(out.contains("not the first child of docker-init"), "{out}");
    assert!(!out.contains("1000"), "{out}");
}

#[test]
fn missing_setuid_bit_is_explained() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, None);
    fs::set_permissions(
        fs_.path("usr/local/bin/hostmatch-entrypoint"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let r = run(
        &fs_,
        &Run {
            args: vec!["/bin/true"],
            ..Run::default()
        },
    );
    assert_eq!(r.code(), 3);
    assert!(r.stderr().contains("has no setuid bit"), "{}", r.stderr());
    assert!(r.stderr().contains("user app moves"), "{}", r.stderr());
}

#[test]
fn no_new_privileges_is_explained_and_run_only_if_configured() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, None);
    let nnp = Run {
        wrapper: vec!["/bin/setpriv", "--nnp"],
        args: vec!["/bin/id", "-u"],
        ..Run::default()
    };
    let r = run(&fs_, &nnp);
    assert_eq!(r.code(), 3);
    assert!(r.stderr().contains("no-new-privileges"), "{}", r.stderr());
    fs_.write("etc/hostmatch/entrypoint.toml", "unprivileged = \"run\"\n");
    let r = run(&fs_, &nnp);
    r.ok();
    assert_eq!(id_of(&r), "1000");
    assert!(
        r.stderr().contains("running the command unchanged"),
        "{}",
        r.stderr()
    );
}

#[test]
fn nosuid_mount_is_explained() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, None);
    // A nosuid bind mount of /usr/local/bin.
    let bin = fs_.path("usr/local/bin");
    let b = bin.to_str().unwrap();
    let script = format!(
        "mount --bind {b} {b} && mount -o remount,bind,nosuid {b} && exec unshare --pid --fork --mount-proc={root}/proc chroot --userspec=1000:1000 --groups=1000 {root} /usr/local/bin/hostmatch-entrypoint /bin/true",
        root = fs_.dir.path().display()
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("mounted nosuid"), "{err}");
}

#[test]
fn read_only_root_works_when_nothing_must_change() {
    prereq_root_test!();
    let passwd = PASSWD.replace("app:x:1234:1234:", "app:x:1000:1000:");
    let group = GROUP.replace("app:x:1234:", "app:x:1000:");
    let fs_ = Rootfs::new(&passwd, &group, None);
    fs::create_dir(fs_.path("home/app")).unwrap();
    let r = run(
        &fs_,
        &Run {
            read_only: true,
            args: vec!["/bin/id", "-un"],
            ..Run::default()
        },
    );
    r.ok();
    assert_eq!(id_of(&r), "app");
}

#[test]
fn read_only_root_says_what_must_change() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, None);
    let r = run(
        &fs_,
        &Run {
            read_only: true,
            args: vec!["/bin/id", "-un"],
            ..Run::default()
        },
    );
    assert_eq!(r.code(), 3);
    let e = r.stderr();
    assert!(e.contains("read-only"), "{e}");
    assert!(e.contains("user app moves from id 1234 to 1000"), "{e}");
    assert_eq!(fs_.read("etc/passwd"), PASSWD);
}

#[test]
fn sudo_true_writes_a_0440_sudoers_drop_in() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\nsudo = true\n"));
    run(
        &fs_,
        &Run {
            args: vec!["/bin/true"],
            ..Run::default()
        },
    )
    .ok();
    let p = fs_.path("etc/sudoers.d/hostmatch");
    let m = fs::metadata(&p).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (0, 0o440));
    assert!(fs_
        .read("etc/sudoers.d/hostmatch")
        .contains("app ALL=(ALL:ALL) NOPASSWD: ALL\n"));
}

#[test]
fn init_true_stays_pid_1_reaps_and_returns_the_status() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\ninit = true\n"));
    // The command sees the entrypoint as PID 1 (its parent), leaves an
    // orphan zombie behind for PID 1 to reap, and exits 7.
    let r = run(
        &fs_,
        &Run {
            args: vec![
                "/bin/sh",
                "-c",
                "cat /proc/1/comm; echo ppid=$PPID; (true &); sleep 0.2; exit 7",
            ],
            ..Run::default()
        },
    );
    assert_eq!(r.code(), 7, "{}", r.stderr());
    assert!(
        r.stdout().starts_with("hostmatch-entry\nppid=1\n"),
        "{}",
        r.stdout()
    );
}

#[test]
fn init_true_forwards_signals() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\ninit = true\n"));
    // The child asks PID 1 (the entrypoint, same uid now) to get SIGTERM; it
    // must be forwarded back to the child, which traps it.
    let r = run(
        &fs_,
        &Run {
            args: vec![
                "/bin/sh",
                "-c",
                "trap 'echo got TERM; exit 42' TERM; kill -TERM 1; i=0; while [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; exit 1",
            ],
            ..Run::default()
        },
    );
    assert_eq!(r.code(), 42, "{} {}", r.stdout(), r.stderr());
    assert!(r.stdout().contains("got TERM"));
}

#[test]
fn no_command_runs_the_accounts_shell() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\n"));
    // No command: /bin/sh of app reads stdin (empty) and exits 0.
    let r = run(&fs_, &Run::default());
    r.ok();
}

#[test]
fn missing_command_exits_127() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_home = \"none\"\n"));
    let r = run(
        &fs_,
        &Run {
            args: vec!["/nope"],
            ..Run::default()
        },
    );
    assert_eq!(r.code(), 127, "{}", r.stderr());
}

#[test]
fn home_is_re_owned_and_a_symlink_in_it_is_not_followed() {
    prereq_root_test!();
    let fs_ = Rootfs::new(PASSWD, GROUP, Some("chown_paths = [\"/opt/app\"]\n"));
    for d in ["home/app/sub", "opt/app"] {
        fs::create_dir_all(fs_.path(d)).unwrap();
    }
    fs_.write("home/app/sub/file", "x");
    fs_.write("opt/app/data", "x");
    fs_.write("etc/secret", "root only\n");
    fs_.write("home/app/rootfile", "stays root\n");
    std::os::unix::fs::symlink("/etc/secret", fs_.path("home/app/link")).unwrap();
    for p in [
        "home/app",
        "home/app/sub",
        "home/app/sub/file",
        "home/app/link",
        "opt/app/data",
    ] {
        std::os::unix::fs::lchown(fs_.path(p), Some(1234), Some(1234)).unwrap();
    }
    let r = run(
        &fs_,
        &Run {
            args: vec!["/bin/true"],
            ..Run::default()
        },
    );
    r.ok();
    let owner = |p: &str| {
        let m = fs::symlink_metadata(fs_.path(p)).unwrap();
        (m.uid(), m.gid())
    };
    for p in [
        "home/app",
        "home/app/sub",
        "home/app/sub/file",
        "home/app/link",
        "opt/app/data",
    ] {
        assert_eq!(owner(p), (1000, 1000), "{p}");
    }
    assert_eq!(owner("etc/secret"), (0, 0), "symlink target re-owned");
    assert_eq!(
        owner("home/app/rootfile"),
        (0, 0),
        "chown_home = changed touches only the account's entries"
    );
}

#[test]
fn files_of_an_account_moved_out_of_the_way_follow_it_in_chown_paths() {
    prereq_root_test!();
    let fs_ = Rootfs::new(
        PASSWD,
        GROUP,
        Some("chown_home = \"none\"\nchown_paths = [\"/var/www\"]\n"),
    );
    fs::create_dir_all(fs_.path("var/www")).unwrap();
    fs_.write("var/www/index.html", "x");
    fs_.write("var/www/app-file", "x");
    std::os::unix::fs::chown(fs_.path("var/www/index.html"), Some(33), Some(33)).unwrap();
    std::os::unix::fs::chown(fs_.path("var/www/app-file"), Some(1234), Some(1234)).unwrap();
    let r = run(
        &fs_,
        &Run {
            user: Some((33, 33)),
            args: vec!["/bin/true"],
            ..Run::default()
        },
    );
    r.ok();
    let passwd = fs_.read("etc/passwd");
    let www: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("www-data:"))
        .unwrap()
        .split(':')
        .collect();
    let new_uid: u32 = www[2].parse().unwrap();
    let m = fs::metadata(fs_.path("var/www/index.html")).unwrap();
    assert_eq!(m.uid(), new_uid, "www-data's file follows it");
    let m = fs::metadata(fs_.path("var/www/app-file")).unwrap();
    assert_eq!(m.uid(), 33, "app's file follows app to the host uid");
}

#[test]
fn without_privileges_nothing_to_change_just_runs_the_command() {
    prereq_root_test!();
    let passwd = PASSWD.replace("app:x:1234:1234:", "app:x:1000:1000:");
    let group = GROUP.replace("app:x:1234:", "app:x:1000:");
    let fs_ = Rootfs::new(&passwd, &group, Some("chown_home = \"none\"\n"));
    let r = run(
        &fs_,
        &Run {
            wrapper: vec!["/bin/setpriv", "--nnp"],
            args: vec!["/bin/sh", "-c", "id -un; echo $HOME"],
            ..Run::default()
        },
    );
    r.ok();
    assert_eq!(r.stdout(), "app\n/home/app\n");
    assert_eq!(fs_.read("etc/passwd"), passwd);
}

fn home_fixture(config: &str) -> Rootfs {
    let fs_ = Rootfs::new(PASSWD, GROUP, Some(config));
    fs::create_dir_all(fs_.path("home/app/sub/deeper")).unwrap();
    fs_.write("home/app/top-file", "x");
    fs_.write("home/app/sub/deeper/file", "x");
    fs_.write("home/app/root-file", "x");
    for p in [
        "home/app",
        "home/app/sub",
        "home/app/sub/deeper",
        "home/app/top-file",
        "home/app/sub/deeper/file",
    ] {
        std::os::unix::fs::chown(fs_.path(p), Some(1234), Some(1234)).unwrap();
    }
    fs_
}

fn uid_of(fs_: &Rootfs, p: &str) -> u32 {
    fs::symlink_metadata(fs_.path(p)).unwrap().uid()
}

#[test]
fn chown_home_all_re_owns_every_entry() {
    prereq_root_test!();
    let fs_ = home_fixture("chown_home = \"all\"\n");
    let r = run(
        &fs_,
        &Run {
            args: vec!["/bin/true"],
            ..Run::default()
        },
    );
    r.ok();
    for p in ["home/app", "home/app/sub/deeper/file", "home/app/root-file"] {
        assert_eq!(uid_of(&fs_, p), 1000, "{p}");
    }
}

#[test]
fn chown_home_top_stops_below_the_first_level() {
    prereq_root_test!();
    let fs_ = home_fixture("chown_home = \"top\"\n");
    let r = run(
        &fs_,
        &Run {
            args: vec!["/bin/true"],
            ..Run::default()
        },
    );
    r.ok();
    assert_eq!(uid_of(&fs_, "home/app"), 1000);
    assert_eq!(uid_of(&fs_, "home/app/top-file"), 1000);
    assert_eq!(uid_of(&fs_, "home/app/sub"), 1000);
    assert_eq!(uid_of(&fs_, "home/app/sub/deeper"), 1234);
    assert_eq!(uid_of(&fs_, "home/app/sub/deeper/file"), 1234);
    assert_eq!(uid_of(&fs_, "home/app/root-file"), 0);
}

#[test]
fn chown_home_none_leaves_the_home_alone() {
    prereq_root_test!();
    let fs_ = home_fixture("chown_home = \"none\"\n");
    run(
        &fs_,
        &Run {
            args: vec!["/bin/true"],
            ..Run::default()
        },
    )
    .ok();
    assert_eq!(uid_of(&fs_, "home/app"), 1234);
    assert_eq!(uid_of(&fs_, "home/app/top-file"), 1234);
}
