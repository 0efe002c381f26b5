//! Root tests of the attacks on the setuid entrypoint (docs/threat-model.md,
//! "Attacks and the rules that stop them"): each test plants what the
//! workload (the container's processes after the drop) could have planted
//! during an earlier start, then starts the container again, chrooted in new
//! namespaces like the rest of the root suite, and checks that the start
//! gains it nothing. One section per class of attack, then the conventions of
//! Kubernetes and other runtimes.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{lchown, symlink, MetadataExt};
use std::path::Path;

fn true_as_1000() -> Run<'static> {
    Run::cmd(TRUE)
}

const SRV_DATA: Option<&str> = Some("chown_home = \"all\"\nchown_paths = [\"/srv/data\"]\n");

// --- 1. A symlinked or replaced path prefix of a re-own root ---------------

#[test]
fn symlinked_prefix_of_a_chown_path_does_not_lead_the_walk_out_of_the_home() {
    prereq_root_test!();
    // The workload replaced /home/app/x with a symlink to /: the chown path
    // /home/app/x/bin would be /bin.
    let fs_ = Rootfs::app(Some(
        "chown_home = \"all\"\nchown_paths = [\"/home/app/x/bin\"]\n",
    ));
    fs::create_dir_all(fs_.path("home/app")).unwrap();
    fs_.write("home/app/notes", "x");
    symlink("/", fs_.path("home/app/x")).unwrap();
    fs_.own(&["home/app", "home/app/notes", "home/app/x"], 1234);
    let r = run(&fs_, &true_as_1000());
    assert_eq!(fs_.owner("bin"), (0, 0), "/bin re-owned: {}", r.stderr());
    assert_eq!(fs_.owner("bin/busybox"), (0, 0), "{}", r.stderr());
    r.ok().assert_stderr_has("/home/app/x/bin");
    assert_eq!(fs_.owner("home/app/notes"), (1000, 1000));
}

#[test]
fn root_owned_directory_renamed_into_an_account_writable_place_is_not_walked() {
    prereq_root_test!();
    // /srv is the account's; the image put a root-only directory in it. The
    // workload renamed that directory to the chown path's name.
    let fs_ = Rootfs::app(SRV_DATA);
    fs::create_dir_all(fs_.path("srv/data")).unwrap();
    fs_.write("srv/data/key", "root's secret\n");
    fs_.chmod("srv/data", 0o700);
    fs_.chmod("srv/data/key", 0o600);
    fs_.own(&["srv"], 1234);
    let r = run(&fs_, &true_as_1000());
    assert_eq!(fs_.owner("srv/data/key"), (0, 0), "{}", r.stderr());
    assert_eq!(fs_.owner("srv/data"), (0, 0), "{}", r.stderr());
    r.ok().assert_stderr_has("/srv/data");
}

#[test]
fn chown_path_of_the_account_in_its_own_directory_is_walked() {
    prereq_root_test!();
    let fs_ = Rootfs::app(SRV_DATA);
    fs::create_dir_all(fs_.path("srv/data/sub")).unwrap();
    fs_.write("srv/data/sub/f", "x");
    fs_.own(&["srv", "srv/data", "srv/data/sub"], 1234);
    run(&fs_, &true_as_1000()).ok();
    assert_eq!(fs_.owner("srv/data"), (1000, 1000));
    assert_eq!(fs_.owner("srv/data/sub/f"), (1000, 1000));
}

#[test]
fn chown_path_mounted_by_the_invoker_is_walked() {
    prereq_root_test!();
    // A volume mounted at a path in the account's directory: the workload
    // cannot create or move mounts, so the mount point is trusted.
    let fs_ = Rootfs::app(Some(
        "chown_home = \"none\"\nchown_paths = [\"/srv/vol\"]\n",
    ));
    fs::create_dir_all(fs_.path("srv/vol")).unwrap();
    fs_.own(&["srv"], 1234);
    let vol = host_dir(0, 0);
    fs::write(vol.path().join("f"), "x").unwrap();
    lchown(vol.path().join("f"), Some(1234), Some(1234)).unwrap();
    let r = run(&fs_, &true_as_1000().mount(vol.path(), "/srv/vol"));
    r.ok();
    let m = fs::metadata(vol.path().join("f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1000), "{}", r.stderr());
}

// --- 2. Hard links -----------------------------------------------------------

fn shadow_fixture(config: &str) -> Rootfs {
    let fs_ = Rootfs::app(Some(config));
    fs_.write("etc/shadow", "root:*:19000:0:99999:7:::\n");
    fs_.chmod("etc/shadow", 0o640);
    fs_
}

#[test]
fn hard_link_to_a_root_file_planted_in_the_home_is_left_alone() {
    prereq_root_test!();
    // Where fs.protected_hardlinks is 0 the workload can link /etc/shadow
    // into its home; the test plants that link.
    let fs_ = shadow_fixture("chown_home = \"all\"\n");
    fs::create_dir_all(fs_.path("home/app")).unwrap();
    fs_.write("home/app/notes", "x");
    fs::hard_link(fs_.path("etc/shadow"), fs_.path("home/app/shadow")).unwrap();
    fs_.own(&["home/app", "home/app/notes"], 1234);
    let r = run(&fs_, &true_as_1000());
    assert_eq!(fs_.owner("etc/shadow"), (0, 0), "{}", r.stderr());
    r.ok().assert_stderr_has("/home/app/shadow");
    assert_eq!(fs_.owner("home/app/notes"), (1000, 1000));
}

#[test]
fn hard_link_in_a_chown_path_is_left_alone() {
    prereq_root_test!();
    let fs_ = shadow_fixture("chown_home = \"all\"\nchown_paths = [\"/opt/app\"]\n");
    fs::create_dir_all(fs_.path("opt/app")).unwrap();
    fs::hard_link(fs_.path("etc/shadow"), fs_.path("opt/app/s")).unwrap();
    fs_.own(&["opt/app"], 1234);
    let r = run(&fs_, &true_as_1000());
    assert_eq!(fs_.owner("etc/shadow"), (0, 0), "{}", r.stderr());
    r.ok();
    assert_eq!(fs_.owner("opt/app"), (1000, 1000));
}

#[test]
fn files_of_the_account_with_several_links_are_re_owned() {
    prereq_root_test!();
    let fs_ = Rootfs::app(Some("chown_home = \"all\"\n"));
    fs::create_dir_all(fs_.path("home/app/a")).unwrap();
    fs_.write("home/app/a/f", "x");
    fs::hard_link(fs_.path("home/app/a/f"), fs_.path("home/app/g")).unwrap();
    fs_.own(&["home/app", "home/app/a", "home/app/a/f"], 1234);
    run(&fs_, &true_as_1000()).ok();
    assert_eq!(fs_.owner("home/app/g"), (1000, 1000));
}

// --- 3. The once-per-start marker in every mode; hooks on a clean slate ------

#[test]
fn root_mode_start_claims_the_once_per_start_marker() {
    prereq_root_test!();
    let fs_ = Rootfs::app(WITH_HOOKS);
    fs_.hook(
        "10-count",
        "#!/bin/sh\necho ran >> /root/hook-runs\n",
        0o755,
    );
    // Root mode: the command becomes PID 1 as uid 1000 and execs the setuid
    // binary, which passes the first-program check.
    let r = run(
        &fs_,
        &Run::sh(EXEC_AGAIN)
            .root_mode()
            .env(&[("HOSTMATCH_UID", "1000")]),
    );
    assert_eq!(fs_.read("root/hook-runs"), "ran\n", "{}", r.stderr());
    r.assert_code(3).assert_stderr_has(ALREADY_RAN);
}

#[test]
fn hooks_get_only_fds_0_to_2_default_signals_and_a_session_of_their_own() {
    prereq_root_test!();
    let fs_ = Rootfs::app(WITH_HOOKS);
    // Each hook execs a program that reports its own state (the hook's pid,
    // no shell in between).
    fs_.hook(
        "10-fds",
        "#!/bin/sh\nexec ls /proc/self/fd > /root/hook-fds\n",
        0o755,
    );
    fs_.hook(
        "20-state",
        "#!/bin/sh\nexec cat /proc/self/status /proc/self/stat > /root/hook-state\n",
        0o755,
    );
    // The caller leaves fd 7 open and SIGINT ignored.
    let caller = [
        "/bin/sh",
        "-c",
        "trap '' INT; exec 7</etc/passwd; exec \"$@\"",
        "sh",
    ];
    run(&fs_, &Run::cmd(TRUE).wrapper(&caller)).ok();
    let fds = fs_.read("root/hook-fds");
    assert!(!fds.lines().any(|f| f == "7"), "fd 7 inherited: {fds}");
    let state = fs_.read("root/hook-state");
    let field = |name: &str| {
        state
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} missing: {state}"))
            .trim()
            .to_string()
    };
    let ign = u64::from_str_radix(&field("SigIgn:"), 16).unwrap();
    assert_eq!(ign & (1 << (2 - 1)), 0, "SIGINT still ignored: {state}");
    let blk = u64::from_str_radix(&field("SigBlk:"), 16).unwrap();
    assert_eq!(blk, 0, "{state}");
    let stat = state.lines().last().unwrap();
    let pid = stat.split(' ').next().unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // Fields 6 (session) and 7 (tty_nr) of /proc/PID/stat.
    assert_eq!(f[3], pid, "not a session of its own: {state}");
    assert_eq!(f[4], "0", "a controlling terminal: {state}");
}

// --- 4. match_path cannot be steered by the workload --------------------------

fn match_path_fixture(match_path: &str) -> (Rootfs, tempfile::TempDir) {
    let cfg = format!("chown_home = \"none\"\nmatch_path = \"{match_path}\"\n");
    let fs_ = Rootfs::app(Some(&cfg));
    fs::create_dir(fs_.path("work")).unwrap();
    let host = host_dir(1000, 1000);
    (fs_, host)
}

fn root_mode_id(fs_: &Rootfs, host: &Path) -> Ran {
    run(fs_, &Run::cmd(ID_U).root_mode().mount(host, "/work"))
}

#[test]
fn match_path_swapped_for_a_symlink_fails_closed() {
    prereq_root_test!();
    // match_path below the bind mount: the workload (uid 1000, owner of the
    // mount) replaced it with a symlink to /etc (owner root).
    let (fs_, host) = match_path_fixture("/work/src");
    symlink("/etc", host.path().join("src")).unwrap();
    let r = root_mode_id(&fs_, host.path());
    r.assert_not_root()
        .assert_failed()
        .assert_stderr_has("match_path");
    assert_eq!(r.stderr().lines().count(), 1, "{}", r.stderr());
}

#[test]
fn match_path_deleted_by_the_workload_fails_closed() {
    prereq_root_test!();
    let (fs_, host) = match_path_fixture("/work/src");
    root_mode_id(&fs_, host.path())
        .assert_not_root()
        .assert_failed()
        .assert_stderr_has("match_path");
}

#[test]
fn match_path_that_is_no_mount_point_fails_closed() {
    prereq_root_test!();
    // A directory of the image (nothing mounted): its owner says nothing
    // about the host user.
    let cfg = "chown_home = \"none\"\nmatch_path = \"/work\"\n";
    let fs_ = Rootfs::app(Some(cfg));
    fs::create_dir(fs_.path("work")).unwrap();
    std::os::unix::fs::chown(fs_.path("work"), Some(2001), Some(2002)).unwrap();
    run(&fs_, &Run::cmd(ID_U).root_mode())
        .assert_failed()
        .assert_stderr_has("not a mount point");
    fs_.assert_passwd_untouched();
}

#[test]
fn match_path_owned_by_root_fails_closed_unless_staying_root_is_allowed() {
    prereq_root_test!();
    let (fs_, _) = match_path_fixture("/work");
    let root_dir = host_dir(0, 0);
    root_mode_id(&fs_, root_dir.path())
        .assert_failed()
        .assert_stderr_has("owned by root");
    fs_.write(
        "etc/hostmatch/entrypoint.toml",
        "match_path = \"/work\"\nmatch_path_fallback = \"root\"\n",
    );
    root_mode_id(&fs_, root_dir.path()).ok().assert_says("0");
}

#[test]
fn match_path_mount_point_gives_the_host_ids() {
    prereq_root_test!();
    let (fs_, _) = match_path_fixture("/work");
    let host = host_dir(2001, 2002);
    let r = run(
        &fs_,
        &Run::sh("id -u; id -g")
            .root_mode()
            .mount(host.path(), "/work"),
    );
    r.ok();
    assert_eq!(r.stdout(), "2001\n2002\n");
}

// --- 5. A torn account change is finished by the next start ------------------

/// A group file larger than the write limit below, a passwd file smaller.
fn big_group() -> String {
    let pad: String = (0..40)
        .map(|i| format!("# padding line {i:02} so that this file is larger than 1 KiB\n"))
        .collect();
    format!("{GROUP}{pad}")
}

#[test]
fn write_failure_between_the_passwd_and_group_renames_is_finished_next_start() {
    prereq_root_test!();
    // `--ulimit fsize`: writes past 1 KiB fail (SIGXFSZ). passwd fits, group
    // does not: before, passwd was replaced and group was not.
    let fs_ = Rootfs::new(PASSWD, &big_group(), None);
    fs::create_dir_all(fs_.path("home/app")).unwrap();
    fs_.write("home/app/f", "x");
    fs_.own(&["home/app", "home/app/f"], 1234);
    let limited = ["/bin/sh", "-c", "ulimit -f 2; exec \"$@\"", "sh"];
    let r = run(&fs_, &true_as_1000().wrapper(&limited));
    assert_ne!(r.code(), 0, "the limited start cannot finish");
    let r = run(&fs_, &true_as_1000());
    r.ok();
    assert!(fs_.read("etc/passwd").contains("app:x:1000:1000:"));
    assert!(fs_.read("etc/group").contains("app:x:1000:"));
    assert_eq!(fs_.owner("home/app"), (1000, 1000), "{}", r.stderr());
    assert_eq!(fs_.owner("home/app/f"), (1000, 1000), "{}", r.stderr());
}

/// Two account changes, each on a fresh rootfs with the fault-injection
/// build: colliding ids in root mode (www-data makes room at uid 33, its files in
/// /var/www follow it, then app moves 1234 -> 33 with its home and its
/// files in /var/www), and a new account whose home the runtime made as root.
fn cut_short_fixture(scenario: usize, bin: &Path) -> (Rootfs, Vec<(&'static str, &'static str)>) {
    if scenario == 0 {
        let fs_ = Rootfs::with_binary(PASSWD, GROUP, Some("chown_paths = [\"/var/www\"]\n"), bin);
        fs::create_dir_all(fs_.path("var/www")).unwrap();
        fs::create_dir_all(fs_.path("home/app")).unwrap();
        fs_.write("var/www/index.html", "x");
        fs_.write("var/www/app-file", "x");
        fs_.write("home/app/f", "x");
        fs_.own(&["var/www", "var/www/index.html"], 33);
        fs_.own(&["var/www/app-file", "home/app", "home/app/f"], 1234);
        let env = vec![("HOSTMATCH_UID", "33"), ("HOSTMATCH_GID", "33")];
        (fs_, env)
    } else {
        let fs_ = Rootfs::with_binary(
            "root:x:0:0:root:/root:/bin/sh\n",
            "root:x:0:\n",
            Some("user = \"dev\"\n"),
            bin,
        );
        fs_.write("etc/shadow", "root:*:19000:0:99999:7:::\n");
        fs_.write("etc/gshadow", "root:*::\n");
        fs::create_dir_all(fs_.path("home/dev/src")).unwrap();
        let env = vec![("HOSTMATCH_UID", "1000"), ("HOSTMATCH_GID", "1000")];
        (fs_, env)
    }
}

/// What an account change leaves: the account files, the owners of the
/// fixture's files, and whether a change is still pending.
fn change_state(fs_: &Rootfs) -> String {
    let mut out = String::new();
    for f in ["etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"] {
        out += &format!(
            "{f}:\n{}",
            fs::read_to_string(fs_.path(f)).unwrap_or_default()
        );
    }
    for f in [
        "var/www",
        "var/www/index.html",
        "var/www/app-file",
        "home/app",
        "home/app/f",
        "home/dev",
        "home/dev/src",
    ] {
        if let Ok(m) = fs::symlink_metadata(fs_.path(f)) {
            out += &format!("{f} {}:{} {:o}\n", m.uid(), m.gid(), m.mode() & 0o7777);
        }
    }
    out += &format!(
        "pending: {}\n",
        fs_.path("etc/hostmatch/entrypoint.pending").exists()
    );
    let temps = fs::read_dir(fs_.path("etc"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".hostmatch-"))
        .collect::<Vec<_>>();
    out += &format!("temp files left in /etc: {temps:?}\n");
    out
}

fn root_start(fs_: &Rootfs, env: &[(&'static str, &'static str)]) -> Ran {
    run(fs_, &Run::cmd(TRUE).root_mode().env(env))
}

#[test]
fn kill_or_failure_at_every_step_of_an_account_change_is_finished_by_the_next_start() {
    prereq_root_test!();
    let bin = fault_injection_bin();
    for scenario in 0..2 {
        // The points an uninterrupted change passes, and what it leaves.
        let (fs_, env) = cut_short_fixture(scenario, &bin);
        let mut traced = env.clone();
        traced.push(("HOSTMATCH_ENTRYPOINT_FAULT_TRACE", "1"));
        let r = root_start(&fs_, &traced);
        r.ok();
        let points: Vec<String> = r
            .stderr()
            .lines()
            .filter_map(|l| l.strip_prefix("fault point: "))
            .map(String::from)
            .collect();
        assert!(points.len() >= 6, "{points:?}");
        assert!(points.iter().any(|p| p == "edit etc/group"), "{points:?}");
        let want = change_state(&fs_);
        assert!(want.contains("pending: false"), "{want}");
        for point in &points {
            for kind in ["kill", "fail"] {
                let (fs_, env) = cut_short_fixture(scenario, &bin);
                let fault = format!("{point}:{kind}");
                let mut cut = env.clone();
                cut.push((
                    "HOSTMATCH_ENTRYPOINT_FAULT",
                    Box::leak(fault.clone().into_boxed_str()),
                ));
                let r = root_start(&fs_, &cut);
                assert_ne!(
                    r.code(),
                    0,
                    "{fault}: the start was not cut: {}",
                    r.stderr()
                );
                let r = root_start(&fs_, &env);
                assert_eq!(
                    r.code(),
                    0,
                    "{fault}: the next start failed: {}",
                    r.stderr()
                );
                assert_eq!(change_state(&fs_), want, "{fault}: not finished");
            }
        }
    }
}

/// A start killed after writing its temp files leaves them behind, named
/// after its pid; where the next start has another pid (a pod sharing its
/// PID namespace), they must still not pile up.
#[test]
fn temp_files_of_a_killed_start_are_removed_by_the_next_one() {
    prereq_root_test!();
    let bin = fault_injection_bin();
    let (fs_, env) = cut_short_fixture(1, &bin);
    let mut cut = env.clone();
    cut.push(("HOSTMATCH_ENTRYPOINT_FAULT", "pending written:kill"));
    assert_ne!(root_start(&fs_, &cut).code(), 0);
    let mut moved = 0;
    for name in ["passwd", "group"] {
        let left = fs_.path(&format!("etc/.{name}.hostmatch-1"));
        if left.exists() {
            fs::rename(&left, fs_.path(&format!("etc/.{name}.hostmatch-4242"))).unwrap();
            moved += 1;
        }
    }
    assert_eq!(moved, 2, "the killed start left its two temp files");
    root_start(&fs_, &env).ok();
    let state = change_state(&fs_);
    assert!(state.contains("temp files left in /etc: []"), "{state}");
    assert!(state.contains("pending: false"), "{state}");
}

#[test]
fn the_fault_injection_build_refuses_setuid_mode() {
    prereq_root_test!();
    let fs_ = Rootfs::with_binary(PASSWD, GROUP, None, &fault_injection_bin());
    run(&fs_, &true_as_1000())
        .assert_code(3)
        .assert_stderr_has("fault injection");
    fs_.assert_passwd_untouched();
}

#[test]
fn stale_temp_files_of_a_killed_start_do_not_stop_the_next() {
    prereq_root_test!();
    // A start killed between creating and renaming its temp files leaves
    // them; the next start has the same pid (1), so the same names.
    let fs_ = Rootfs::app(NO_HOME);
    fs_.write("etc/.passwd.hostmatch-1", "half a passwd");
    fs_.write("etc/.group.hostmatch-1", "half a group");
    run(&fs_, &true_as_1000()).ok();
    assert!(fs_.read("etc/passwd").contains("app:x:1000:1000:"));
}

// --- 6. Hostile input to the setuid binary -----------------------------------

#[test]
fn environment_key_with_an_equals_sign_does_not_panic_the_setuid_binary() {
    prereq_root_test!();
    let fs_ = Rootfs::app(NO_HOME);
    let odd_env = ["/bin/env", "=A=B", "RUST_BACKTRACE=full"];
    run(&fs_, &Run::cmd(ID_U).wrapper(&odd_env))
        .assert_stderr_lacks("panicked")
        .assert_stderr_lacks("backtrace")
        .ok()
        .assert_says("1000");
}

#[test]
fn sudoers_keyword_as_the_account_name_is_refused_naming_the_line() {
    prereq_root_test!();
    let fs_ = Rootfs::app(Some("sudo = true\nuser = \"ALL\"\n"));
    run(&fs_, &true_as_1000())
        .assert_code(2)
        .assert_stderr_has("/etc/hostmatch/entrypoint.toml:2:");
    assert!(!fs_.path("etc/sudoers.d/hostmatch").exists());
    fs_.assert_passwd_untouched();
}

#[test]
fn system_tree_in_chown_paths_is_refused_naming_the_line() {
    prereq_root_test!();
    for (paths, line) in [
        ("[\"/opt/app\",\n  \"/usr\"]", 3),
        ("[\"/\"]", 2),
        ("[\"/etc/hostmatch\"]", 2),
        ("[\"/usr/local/bin\"]", 2),
    ] {
        let cfg = format!("user = \"app\"\nchown_paths = {paths}\n");
        let fs_ = Rootfs::app(Some(&cfg));
        let want = format!("/etc/hostmatch/entrypoint.toml:{line}:");
        run(&fs_, &true_as_1000())
            .assert_code(2)
            .assert_stderr_has(&want);
        fs_.assert_passwd_untouched();
    }
}

#[test]
fn host_id_4294967295_is_refused_before_anything_is_written() {
    prereq_root_test!();
    let fs_ = Rootfs::app(NO_HOME);
    for (uid, gid) in [("4294967295", "1000"), ("1000", "4294967295")] {
        let ids = [("HOSTMATCH_UID", uid), ("HOSTMATCH_GID", gid)];
        run(&fs_, &Run::cmd(ID_U).root_mode().env(&ids))
            .assert_code(2)
            .assert_stderr_has("4294967295");
        fs_.assert_accounts_untouched();
    }
}

// --- Kubernetes and other runtimes --------------------------------------------

#[test]
fn first_program_of_a_pod_with_a_shared_pid_namespace_runs_privileged_once() {
    prereq_root_test!();
    let fs_ = Rootfs::app(NO_HOME);
    let pod = Pod::start(&fs_, "pause");
    let r = pod.enter(&fs_, &Run::sh("id -u; cat /proc/1/comm"));
    r.ok();
    assert_eq!(r.stdout(), "1000\npause\n");
    assert!(fs_.read("etc/passwd").contains("app:x:1000:1000:"));
    // An exec session into the same container start.
    pod.enter(&fs_, &Run::cmd(ID_U))
        .assert_code(3)
        .assert_stderr_has(ALREADY_RAN);
}

#[test]
fn child_of_a_program_in_a_shared_pid_namespace_gains_nothing() {
    prereq_root_test!();
    let fs_ = Rootfs::app(None);
    let pod = Pod::start(&fs_, "pause");
    pod.enter(&fs_, &shell_at_pid_1_runs_it())
        .assert_stdout_has("rc=3");
    fs_.assert_passwd_untouched();
}

#[test]
fn exec_session_into_a_container_is_explained_as_such() {
    prereq_root_test!();
    // PID 1 is the container's own program (no pod infra): a process whose
    // parent is outside the PID namespace is an exec session.
    let fs_ = Rootfs::app(None);
    let pod = Pod::start(&fs_, "sleep");
    pod.enter(&fs_, &Run::cmd(ID_U))
        .assert_code(3)
        .assert_stderr_has("exec")
        .assert_stderr_lacks("parent is pid 0");
    fs_.assert_passwd_untouched();
}

#[test]
fn podman_passwd_line_for_the_user_gives_way_to_the_account() {
    prereq_root_test!();
    // Podman adds `UID:*:UID:GID:container user:WORKDIR:/bin/sh` (and a group
    // `GID:x:GID:UID`) for a --user uid the image lacks.
    let passwd = format!("{PASSWD}1000:*:1000:1000:container user:/:/bin/sh\n");
    let group = format!("{GROUP}1000:x:1000:1000\n");
    let fs_ = Rootfs::new(&passwd, &group, NO_HOME);
    let r = run(&fs_, &Run::cmd(&["/bin/id"]));
    r.ok().assert_stdout_starts("uid=1000(app) gid=1000(app)");
    fs_.assert_app_moved_to_1000();
    r.assert_stderr_lacks("make room");
}

#[test]
fn cri_o_passwd_file_mounted_for_run_as_user_is_edited_in_place() {
    prereq_root_test!();
    // CRI-O copies the image's /etc/passwd to a per-start file with
    // `default:x:UID:GID:default user:/tmp:/sbin/nologin` added and mounts it
    // over /etc/passwd (same for /etc/group with `GID:x:GID:`).
    let fs_ = Rootfs::app(NO_HOME);
    let run_dir = testkit::temp_dir_in("/dev/shm", "hm-entry-crio-");
    let gen_passwd = run_dir.path().join("passwd");
    let gen_group = run_dir.path().join("group");
    fs::write(
        &gen_passwd,
        format!("{PASSWD}default:x:1000:1000:default user:/tmp:/sbin/nologin\n"),
    )
    .unwrap();
    fs::write(&gen_group, format!("{GROUP}1000:x:1000:\n")).unwrap();
    let r = run(
        &fs_,
        &Run::cmd(&["/bin/id"])
            .mount(&gen_passwd, "/etc/passwd")
            .mount(&gen_group, "/etc/group"),
    );
    r.ok().assert_stdout_starts("uid=1000(app) gid=1000(app)");
    assert_eq!(fs::read_to_string(&gen_passwd).unwrap(), passwd_at_1000());
    r.assert_stderr_lacks("make room");
}

#[test]
fn gid_0_start_says_what_happens_and_what_to_set() {
    prereq_root_test!();
    // Kubernetes runAsUser without runAsGroup, docker run --user UID.
    let fs_ = Rootfs::app(NO_HOME);
    run(&fs_, &Run::cmd(&["/bin/id", "-g"]).user(1000, 0))
        .ok()
        .assert_says("0")
        .assert_stderr_has("runAsGroup");
}

#[test]
fn no_new_privileges_is_explained_with_the_kubernetes_field() {
    prereq_root_test!();
    let fs_ = Rootfs::app(None);
    run(&fs_, &true_as_1000().wrapper(NNP))
        .assert_code(3)
        .assert_stderr_has("allowPrivilegeEscalation: false");
}

#[test]
fn read_only_root_says_what_works_with_rm_and_in_a_pod() {
    prereq_root_test!();
    let fs_ = Rootfs::app(None);
    run(&fs_, &true_as_1000().read_only())
        .assert_code(3)
        .assert_stderr_has("readOnlyRootFilesystem: true")
        .assert_stderr_lacks("once");
    // Only the home must change: chown_home = "none" or a writable volume.
    let fs_ = Rootfs::app_at_1000(Some("chown_home = \"all\"\n"));
    fs::create_dir_all(fs_.path("home/app")).unwrap();
    fs_.own(&["home/app"], 1234);
    run(&fs_, &true_as_1000().read_only())
        .assert_code(3)
        .assert_stderr_has("chown_home = \"none\"")
        .assert_stderr_has("volume");
}
