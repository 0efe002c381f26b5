//! Root tests: the static, setuid entrypoint started as the first program of
//! a new PID namespace in a chrooted busybox rootfs (a container without a
//! container runtime). Each test starts its own "container".

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::MetadataExt;

const AS_INIT: Option<&str> = Some("chown_home = \"none\"\ninit = true\n");

#[test]
fn setuid_mode_gives_the_account_the_host_ids() {
    prereq_root_test!();
    let fs_ = Rootfs::app(NO_HOME);
    let script = "id; echo HOME=$HOME USER=$USER LOGNAME=$LOGNAME SHELL=$SHELL";
    run(&fs_, &Run::sh(script))
        .ok()
        .assert_stdout_has("uid=1000(app) gid=1000(app) groups=50(staff),1000(app)")
        .assert_stdout_has("HOME=/home/app USER=app LOGNAME=app SHELL=/bin/sh");
    // Odd lines kept byte for byte; only app's line changed.
    fs_.assert_app_moved_to_1000();
}

#[test]
fn command_gets_no_capabilities_and_cannot_regain_root() {
    prereq_root_test!();
    let fs_ = Rootfs::app(NO_HOME);
    let script = "grep -E '^(Uid|Gid|CapEff|CapPrm):' /proc/self/status";
    run(&fs_, &Run::sh(script))
        .ok()
        .assert_stdout_has("Uid:\t1000\t1000\t1000\t1000")
        .assert_stdout_has("Gid:\t1000\t1000\t1000\t1000")
        .assert_stdout_has("CapEff:\t0000000000000000")
        .assert_stdout_has("CapPrm:\t0000000000000000");
}

#[test]
fn hostile_environment_is_ignored_in_setuid_mode() {
    prereq_root_test!();
    let fs_ = Rootfs::app(WITH_HOOKS);
    fs_.hook(
        "10-env",
        "#!/bin/sh\nenv > /tmp/hook-env\nid -u > /tmp/hook-uid\n",
        0o755,
    );
    let r = run(
        &fs_,
        &Run::sh("id -u; echo EVIL=$EVIL").env(&[
            ("HOSTMATCH_UID", "0"),
            ("HOSTMATCH_GID", "0"),
            ("LD_PRELOAD", "/tmp/evil.so"),
            ("EVIL", "1"),
            ("RUST_MIN_STACK", "1"),
        ]),
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
    let fs_ = Rootfs::app(WITH_HOOKS);
    fs_.hook("10-x", "#!/bin/sh\ntouch /tmp/ran\n", 0o777);
    run(&fs_, &Run::cmd(TRUE))
        .assert_code(3)
        .assert_stderr_has("not writable by group or others");
    assert!(!fs_.path("tmp/ran").exists());
}

#[test]
fn insecure_config_is_refused_in_setuid_mode() {
    prereq_root_test!();
    let fs_ = Rootfs::app(Some("user = \"www-data\"\n"));
    std::os::unix::fs::chown(fs_.path("etc/hostmatch/entrypoint.toml"), Some(1000), None).unwrap();
    run(&fs_, &Run::cmd(TRUE))
        .assert_failed()
        .assert_stderr_has("must be owned by root");
    fs_.assert_passwd_untouched();
}

#[test]
fn bad_config_names_the_line_and_writes_nothing() {
    prereq_root_test!();
    let fs_ = Rootfs::app(Some("user = \"app\"\nchown_hme = \"all\"\n"));
    run(&fs_, &Run::cmd(TRUE))
        .assert_code(2)
        .assert_stderr_has("/etc/hostmatch/entrypoint.toml:2:");
    fs_.assert_passwd_untouched();
}

#[test]
fn root_mode_takes_hostmatch_uid_and_gid() {
    prereq_root_test!();
    let fs_ = Rootfs::app(NO_HOME);
    let ids = [("HOSTMATCH_UID", "1500"), ("HOSTMATCH_GID", "1600")];
    run(&fs_, &Run::cmd(&["/bin/id"]).root_mode().env(&ids))
        .ok()
        .assert_stdout_has("uid=1500(app) gid=1600(app)");
}

#[test]
fn root_mode_takes_the_owner_of_match_path() {
    prereq_root_test!();
    let fs_ = Rootfs::app(Some("chown_home = \"none\"\nmatch_path = \"/work\"\n"));
    // The bind-mounted host directory (match_path must be a mount point).
    fs::create_dir(fs_.path("work")).unwrap();
    let host = host_dir(2001, 2002);
    let script = "id -u; id -g; touch /work/f; stat -c %u:%g /work/f";
    let r = run(
        &fs_,
        &Run::sh(script).root_mode().mount(host.path(), "/work"),
    );
    r.ok();
    assert_eq!(r.stdout(), "2001\n2002\n2001:2002\n");
}

#[test]
fn root_mode_without_host_ids_stays_root() {
    prereq_root_test!();
    let fs_ = Rootfs::app(None);
    run(&fs_, &Run::cmd(ID_U).root_mode()).ok().assert_says("0");
    fs_.assert_passwd_untouched();
}

#[test]
fn host_uid_0_runs_as_root_untouched() {
    prereq_root_test!();
    let fs_ = Rootfs::app(None);
    let ids = [("HOSTMATCH_UID", "0"), ("HOSTMATCH_GID", "1000")];
    run(&fs_, &Run::cmd(ID_U).root_mode().env(&ids))
        .ok()
        .assert_says("0");
    fs_.assert_accounts_untouched();
}

#[test]
fn host_gid_0_gives_gid_0_but_only_the_accounts_groups() {
    prereq_root_test!();
    // root is a member of group 27: those groups must never reach the account.
    let group = GROUP.replace("root:x:0:\n", "root:x:0:\nsudo:x:27:root\n");
    let fs_ = Rootfs::new(PASSWD, &group, NO_HOME);
    let r = run(&fs_, &Run::sh("id -u; id -g; id -G").user(1000, 0));
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
    let fs_ = Rootfs::app(NO_HOME);
    let r = run(&fs_, &Run::sh("id -un; id -gn").user(33, 33));
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
    let fs_ = Rootfs::app(NO_HOME);
    let with_999 = Run {
        groups: vec![999],
        ..Run::cmd(&["/bin/id", "-G"])
    };
    run(&fs_, &with_999).ok().assert_says("1000 50 999");
}

#[test]
fn new_account_is_created_with_home() {
    prereq_root_test!();
    let fs_ = Rootfs::new(
        "root:x:0:0:root:/root:/bin/sh\n",
        "root:x:0:\n",
        Some("user = \"dev\"\n"),
    );
    run(
        &fs_,
        &Run::sh("id; echo $HOME; touch $HOME/x && echo wrote"),
    )
    .ok()
    .assert_stdout_has("uid=1000(dev) gid=1000(dev)")
    .assert_stdout_has("/home/dev\nwrote\n");
    let m = fs::metadata(fs_.path("home/dev")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (1000, 1000, 0o700));
}

#[test]
fn ids_above_2_31_work() {
    prereq_root_test!();
    let big: u32 = (1 << 31) + 7;
    let fs_ = Rootfs::app(NO_HOME);
    let r = run(&fs_, &Run::sh("id -u; id -g").user(big, big));
    r.ok();
    assert_eq!(r.stdout(), format!("{big}\n{big}\n"));
    assert!(fs_
        .read("etc/passwd")
        .contains(&format!("app:x:{big}:{big}:")));
}

#[test]
fn second_run_in_the_same_start_gains_nothing() {
    prereq_root_test!();
    let fs_ = Rootfs::app(NO_HOME);
    // The command (now PID 1, as uid 1000) execs the entrypoint again.
    let r = run(&fs_, &Run::sh(EXEC_AGAIN));
    r.assert_code(3).assert_stderr_has(ALREADY_RAN);
    assert!(!r.stdout().contains('0'), "{}", r.stdout());
}

#[test]
fn restart_works_again() {
    prereq_root_test!();
    let fs_ = Rootfs::app(NO_HOME);
    run(&fs_, &Run::cmd(TRUE)).ok();
    // A new start: new PID namespace and a fresh /dev, same rootfs.
    run(&fs_, &Run::cmd(ID_U)).ok().assert_says("1000");
    // With other host ids, the account follows again.
    run(&fs_, &Run::cmd(ID_UN).user(1001, 1001))
        .ok()
        .assert_says("app");
}

#[test]
fn shell_at_pid_1_running_it_as_a_child_gains_nothing() {
    prereq_root_test!();
    let fs_ = Rootfs::app(None);
    run(&fs_, &shell_at_pid_1_runs_it())
        .assert_stdout_has("rc=3")
        .assert_stderr_has("not a known init");
    fs_.assert_passwd_untouched();
}

#[test]
fn first_child_of_a_known_init_works() {
    prereq_root_test!();
    for init in ["docker-init", "tini"] {
        let fs_ = Rootfs::app(NO_HOME);
        let under_init = Run {
            init: Some(init),
            ..Run::sh("id -u; cat /proc/1/comm")
        };
        let r = run(&fs_, &under_init);
        r.ok();
        assert_eq!(r.stdout(), format!("1000\n{init}\n"));
    }
}

#[test]
fn orphan_re_parented_to_the_init_gains_nothing() {
    prereq_root_test!();
    let fs_ = Rootfs::app(NO_HOME);
    // The first run drops to 1000 and starts a double fork: the grandchild is
    // re-parented to PID 1 (the init) and runs the setuid entrypoint.
    let orphan = Run {
        init: Some("docker-init"),
        ..Run::sh("(/bin/sh -c 'sleep 0.3; exec /usr/local/bin/hostmatch-entrypoint /bin/id -u' > /tmp/orphan.out 2>&1 &) ; sleep 1")
    };
    run(&fs_, &orphan).ok();
    let out = fs_.read("tmp/orphan.out");
    assert!(out.contains("not the first child of docker-init"), "{out}");
    assert!(!out.contains("1000"), "{out}");
}

#[test]
fn missing_setuid_bit_is_explained() {
    prereq_root_test!();
    let fs_ = Rootfs::app(None);
    fs_.chmod("usr/local/bin/hostmatch-entrypoint", 0o755);
    run(&fs_, &Run::cmd(TRUE))
        .assert_code(3)
        .assert_stderr_has("has no setuid bit")
        .assert_stderr_has("user app moves");
}

#[test]
fn no_new_privileges_is_explained_and_run_only_if_configured() {
    prereq_root_test!();
    let fs_ = Rootfs::app(None);
    let nnp = Run::cmd(ID_U).wrapper(NNP);
    run(&fs_, &nnp)
        .assert_code(3)
        .assert_stderr_has("no-new-privileges");
    fs_.write("etc/hostmatch/entrypoint.toml", "unprivileged = \"run\"\n");
    run(&fs_, &nnp)
        .ok()
        .assert_says("1000")
        .assert_stderr_has("running the command unchanged");
}

#[test]
fn nosuid_mount_is_explained() {
    prereq_root_test!();
    let fs_ = Rootfs::app(None);
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
    let fs_ = Rootfs::app_at_1000(None);
    fs::create_dir(fs_.path("home/app")).unwrap();
    run(&fs_, &Run::cmd(ID_UN).read_only())
        .ok()
        .assert_says("app");
}

#[test]
fn read_only_root_says_what_must_change() {
    prereq_root_test!();
    let fs_ = Rootfs::app(None);
    run(&fs_, &Run::cmd(ID_UN).read_only())
        .assert_code(3)
        .assert_stderr_has("read-only")
        .assert_stderr_has("user app moves from id 1234 to 1000");
    fs_.assert_passwd_untouched();
}

#[test]
fn sudo_true_writes_a_0440_sudoers_drop_in() {
    prereq_root_test!();
    let fs_ = Rootfs::app(Some("chown_home = \"none\"\nsudo = true\n"));
    run(&fs_, &Run::cmd(TRUE)).ok();
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
    let fs_ = Rootfs::app(AS_INIT);
    // The command sees the entrypoint as PID 1 (its parent), leaves an
    // orphan zombie behind for PID 1 to reap, and exits 7.
    let script = "cat /proc/1/comm; echo ppid=$PPID; (true &); sleep 0.2; exit 7";
    let r = run(&fs_, &Run::sh(script));
    r.assert_code(7);
    r.assert_stdout_starts("hostmatch-entry\nppid=1\n");
}

#[test]
fn init_true_forwards_signals() {
    prereq_root_test!();
    let fs_ = Rootfs::app(AS_INIT);
    // The child asks PID 1 (the entrypoint, same uid now) to get SIGTERM; it
    // must be forwarded back to the child, which traps it.
    let script = "trap 'echo got TERM; exit 42' TERM; kill -TERM 1; \
                  i=0; while [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; exit 1";
    run(&fs_, &Run::sh(script))
        .assert_code(42)
        .assert_stdout_has("got TERM");
}

#[test]
fn no_command_runs_the_accounts_shell() {
    prereq_root_test!();
    let fs_ = Rootfs::app(NO_HOME);
    // No command: /bin/sh of app reads stdin (empty) and exits 0.
    run(&fs_, &Run::default()).ok();
}

#[test]
fn missing_command_exits_127() {
    prereq_root_test!();
    let fs_ = Rootfs::app(NO_HOME);
    run(&fs_, &Run::cmd(&["/nope"])).assert_code(127);
}

#[test]
fn home_is_re_owned_and_a_symlink_in_it_is_not_followed() {
    prereq_root_test!();
    let fs_ = Rootfs::app(Some("chown_paths = [\"/opt/app\"]\n"));
    for d in ["home/app/sub", "opt/app"] {
        fs::create_dir_all(fs_.path(d)).unwrap();
    }
    fs_.write("home/app/sub/file", "x");
    fs_.write("opt/app/data", "x");
    fs_.write("etc/secret", "root only\n");
    fs_.write("home/app/rootfile", "stays root\n");
    std::os::unix::fs::symlink("/etc/secret", fs_.path("home/app/link")).unwrap();
    let apps = [
        "home/app",
        "home/app/sub",
        "home/app/sub/file",
        "home/app/link",
        "opt/app/data",
    ];
    fs_.own(&apps, 1234);
    run(&fs_, &Run::cmd(TRUE)).ok();
    for p in apps {
        assert_eq!(fs_.owner(p), (1000, 1000), "{p}");
    }
    assert_eq!(fs_.owner("etc/secret"), (0, 0), "symlink target re-owned");
    assert_eq!(
        fs_.owner("home/app/rootfile"),
        (0, 0),
        "chown_home = changed touches only the account's entries"
    );
}

#[test]
fn files_of_an_account_moved_out_of_the_way_follow_it_in_chown_paths() {
    prereq_root_test!();
    let fs_ = Rootfs::app(Some(
        "chown_home = \"none\"\nchown_paths = [\"/var/www\"]\n",
    ));
    fs::create_dir_all(fs_.path("var/www")).unwrap();
    fs_.write("var/www/index.html", "x");
    fs_.write("var/www/app-file", "x");
    fs_.own(&["var/www/index.html"], 33);
    fs_.own(&["var/www/app-file"], 1234);
    run(&fs_, &Run::cmd(TRUE).user(33, 33)).ok();
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
    let fs_ = Rootfs::app_at_1000(NO_HOME);
    let r = run(&fs_, &Run::sh("id -un; echo $HOME").wrapper(NNP));
    r.ok();
    assert_eq!(r.stdout(), "app\n/home/app\n");
    assert_eq!(fs_.read("etc/passwd"), passwd_at_1000());
}

/// A home of app (1234) with a root-owned file, after a start as 1000.
fn home_fixture(config: &str) -> Rootfs {
    let fs_ = Rootfs::app(Some(config));
    fs::create_dir_all(fs_.path("home/app/sub/deeper")).unwrap();
    fs_.write("home/app/top-file", "x");
    fs_.write("home/app/sub/deeper/file", "x");
    fs_.write("home/app/root-file", "x");
    fs_.own(
        &[
            "home/app",
            "home/app/sub",
            "home/app/sub/deeper",
            "home/app/top-file",
            "home/app/sub/deeper/file",
        ],
        1234,
    );
    run(&fs_, &Run::cmd(TRUE)).ok();
    fs_
}

fn uid_of(fs_: &Rootfs, p: &str) -> u32 {
    fs_.owner(p).0
}

#[test]
fn chown_home_all_re_owns_every_entry() {
    prereq_root_test!();
    let fs_ = home_fixture("chown_home = \"all\"\n");
    for p in ["home/app", "home/app/sub/deeper/file", "home/app/root-file"] {
        assert_eq!(uid_of(&fs_, p), 1000, "{p}");
    }
}

#[test]
fn chown_home_top_stops_below_the_first_level() {
    prereq_root_test!();
    let fs_ = home_fixture("chown_home = \"top\"\n");
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
    assert_eq!(uid_of(&fs_, "home/app"), 1234);
    assert_eq!(uid_of(&fs_, "home/app/top-file"), 1234);
}
