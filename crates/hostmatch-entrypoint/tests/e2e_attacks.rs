//! End to end: the attacks of docs/threat-model.md against the static setuid
//! entrypoint in busybox images run by a private dockerd (testkit). What the
//! workload could plant during a start is planted by a first container (as
//! root where the host's kernel settings would stop the workload itself, as
//! said at each test), committed, and the image started again. Each test
//! starts its own daemon.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use common::docker::*;
use common::{host_dir, Outcome, ALREADY_RAN, EXEC_AGAIN};
use testkit::StorageDriver;

fn daemon() -> testkit::Dockerd {
    start(StorageDriver::Overlay2)
}

/// Runs `script` once as root in a container of `img` (instead of the
/// entrypoint) and commits the result as `tag`.
fn plant(d: &testkit::Dockerd, img: &str, script: &str, tag: &str) {
    let name = format!("plant-{tag}");
    ok_w(
        d,
        &format!("create --name {name} --entrypoint /bin/sh {img} -c"),
        &[script],
    );
    ok(d, &["start", "-a", &name]);
    commit(d, &name, tag);
    ok(d, &["rm", &name]);
}

#[test]
fn links_planted_in_the_accounts_trees_lead_the_walk_nowhere() {
    testkit::prereq_dockerd!();
    let d = daemon();
    let dir = tempfile::tempdir().unwrap();
    let shadow = extra_file(
        dir.path(),
        "/etc/shadow",
        "root:*:19000:0:99999:7:::\n",
        0o640,
    );
    busybox_with(
        &d,
        Some("chown_home = \"all\"\nchown_paths = [\"/home/app/x/bin\"]\n"),
        "hm-links",
        &[shadow],
    );
    // The first start waits until the links are planted; the second start
    // (docker start again: same container, same writable layer) shows what
    // its entrypoint re-owned.
    let cmd =
        "if [ -e /tmp/planted ]; then stat -c '%n %u' /bin/busybox /bin /etc/shadow /home/app; \
               else while [ ! -e /tmp/planted ]; do sleep 0.1; done; fi";
    ok_w(
        &d,
        "create --name hm-c --user 1000:1000 hm-links /bin/sh -c",
        &[cmd],
    );
    ok_w(&d, "start hm-c", &[]);
    // The workload replaces a middle component of the chown path with a
    // symlink to /. Where fs.protected_hardlinks is 0 it could also link
    // /etc/shadow into its home; this host has 1, so root plants that link.
    ok_w(&d, "exec hm-c /bin/ln -s / /home/app/x", &[]);
    ok_w(
        &d,
        "exec -u 0 hm-c /bin/sh -c",
        &["ln /etc/shadow /home/app/shadow && touch /tmp/planted"],
    );
    ok_w(&d, "wait hm-c", &[]);
    let o = docker_w(&d, "start -a hm-c", &[]);
    o.ok();
    assert_eq!(
        o.stdout, "/bin/busybox 0\n/bin 0\n/etc/shadow 0\n/home/app 1000\n",
        "{}",
        o.stderr
    );
    o.assert_stderr_has("/home/app/x/bin")
        .assert_stderr_has("/home/app/shadow");
}

#[test]
fn root_mode_claims_the_marker_and_hooks_start_on_a_clean_slate() {
    testkit::prereq_dockerd!();
    let d = daemon();
    let dir = tempfile::tempdir().unwrap();
    let hook = extra_file(
        dir.path(),
        "/etc/hostmatch/hooks.d/10-state",
        "#!/bin/sh\necho ran >> /var/hook-runs\n{ echo pid $$; echo stat $(cat /proc/$$/stat); } > /tmp/hook-state\n\
         chmod 644 /tmp/hook-state /var/hook-runs\n",
        0o755,
    );
    busybox_with(
        &d,
        Some("chown_home = \"none\"\nhooks_dir = \"/etc/hostmatch/hooks.d\"\n"),
        "hm-hooks",
        &[hook],
    );
    // Root mode: the command (PID 1, as uid 1000) execs the setuid binary.
    docker_w(
        &d,
        "run --name hm-c -e HOSTMATCH_UID=1000 hm-hooks /bin/sh -c",
        &[EXEC_AGAIN],
    )
    .assert_code(3)
    .assert_stderr_has(ALREADY_RAN);
    commit(&d, "hm-c", "hm-hooks-ran");
    let runs = ok_w(
        &d,
        "run --rm --entrypoint /bin/cat hm-hooks-ran /var/hook-runs",
        &[],
    );
    assert_eq!(runs, "ran\n", "the hooks ran again");
    // With a terminal (-t): the hook is in a session of its own, without it.
    let state = ok_w(
        &d,
        "run --rm -t --user 1000:1000 hm-hooks /bin/cat /tmp/hook-state",
        &[],
    );
    let pid = state
        .lines()
        .find_map(|l| l.strip_prefix("pid "))
        .unwrap()
        .trim();
    let stat = state.lines().find_map(|l| l.strip_prefix("stat ")).unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    assert_eq!(f[3], pid, "session: {state}");
    assert_eq!(f[4], "0", "controlling terminal: {state}");
}

#[test]
fn match_path_cannot_be_steered_by_the_workload() {
    testkit::prereq_dockerd!();
    let d = daemon();
    busybox(
        &d,
        Some("chown_home = \"none\"\nmatch_path = \"/work/src\"\n"),
        "hm-mp",
    );
    // match_path below the bind mount; the workload, owner of the mount,
    // swapped it for a symlink to /etc (owned by root).
    let work = host_dir(1000, 1000);
    symlink("/etc", work.path().join("src")).unwrap();
    let start = format!(
        "run --rm -v {}:/work hm-mp /bin/id -u",
        work.path().display()
    );
    docker_w(&d, &start, &[])
        .assert_not_root()
        .assert_code(3)
        .assert_stderr_has("match_path");
    // Deleted: the same.
    fs::remove_file(work.path().join("src")).unwrap();
    docker_w(&d, &start, &[]).assert_not_root().assert_code(3);
}

#[test]
fn account_change_cut_by_a_write_limit_is_finished_by_the_next_start() {
    testkit::prereq_dockerd!();
    let d = daemon();
    busybox(&d, None, "hm-torn0");
    plant(
        &d,
        "hm-torn0",
        "i=10; while [ $i -lt 50 ]; do \
         echo \"# padding line $i so that this file is larger than one KiB\" >> /etc/group; \
         i=$((i+1)); done",
        "hm-torn",
    );
    // docker run --ulimit fsize: a write past 1 KiB fails (SIGXFSZ); passwd
    // fits, group does not.
    docker_w(
        &d,
        "create --name hm-c --ulimit fsize=1024 --user 1000:1000 hm-torn /bin/true",
        &[],
    )
    .ok();
    let o = docker_w(&d, "start -a hm-c", &[]);
    assert_ne!(o.code, 0, "the limited start cannot finish: {}", o.stderr);
    commit(&d, "hm-c", "hm-torn2");
    let out = ok_w(
        &d,
        "run --rm --user 1000:1000 hm-torn2 /bin/sh -c",
        &["grep ^app: /etc/passwd /etc/group; stat -c %u:%g /home/app"],
    );
    assert_eq!(
        out,
        "/etc/passwd:app:x:1000:1000:app:/home/app:/bin/sh\n/etc/group:app:x:1000:\n1000:1000\n"
    );
}

#[test]
fn hostile_input_to_the_setuid_binary_is_refused() {
    testkit::prereq_dockerd!();
    let d = daemon();
    let dir = tempfile::tempdir().unwrap();
    // A start killed before its renames left temp files; the next start has
    // the same pid (1).
    let stale = extra_file(dir.path(), "/etc/.passwd.hostmatch-1", "half", 0o600);
    busybox_with(&d, Some("chown_home = \"none\"\n"), "hm-in", &[stale]);
    let out = ok_w(&d, "run --rm --user 1000:1000 hm-in /bin/id -u", &[]);
    assert_eq!(out.trim(), "1000");
    // An environment key with '=' and RUST_BACKTRACE, from an exec session.
    ok_w(
        &d,
        "run -d --name hm-c --user 1000:1000 hm-in /bin/sleep 60",
        &[],
    );
    docker_w(
        &d,
        "exec hm-c /bin/env =A=B RUST_BACKTRACE=full",
        &[EP, "/bin/id", "-u"],
    )
    .assert_code(3)
    .assert_stderr_lacks("panicked")
    .assert_stderr_lacks("backtrace")
    .assert_stderr_has("refusing to run privileged");
    ok_w(&d, "rm -f hm-c", &[]);
    // Root mode: id 4294967295 is (uid_t)-1, "unchanged" for the kernel.
    docker_w(
        &d,
        "run --rm -e HOSTMATCH_UID=4294967295 hm-in /bin/id -u",
        &[],
    )
    .assert_code(2);
    // Configuration values an image author may get wrong.
    busybox(&d, Some("sudo = true\nuser = \"ALL\"\n"), "hm-all");
    docker_w(&d, "run --rm --user 1000:1000 hm-all /bin/true", &[])
        .assert_code(2)
        .assert_stderr_has("entrypoint.toml:2:");
    busybox(&d, Some("chown_paths = [\"/usr\"]\n"), "hm-usr");
    docker_w(&d, "run --rm --user 1000:1000 hm-usr /bin/true", &[])
        .assert_code(2)
        .assert_stderr_has("entrypoint.toml:1:");
}

#[test]
fn shared_pid_namespace_and_kubernetes_fields() {
    testkit::prereq_dockerd!();
    let d = daemon();
    let dir = tempfile::tempdir().unwrap();
    let pause = extra_file(
        dir.path(),
        "/pause",
        "#!/bin/sh\nwhile :; do sleep 1; done\n",
        0o755,
    );
    busybox_with(&d, Some("chown_home = \"none\"\n"), "hm-k8s", &[pause]);
    // A pod with shareProcessNamespace: true: PID 1 is the infra process.
    ok_w(&d, "run -d --name pod --entrypoint /pause hm-k8s", &[]);
    let out = ok_w(
        &d,
        "run --rm --pid container:pod --user 1000:1000 hm-k8s /bin/sh -c",
        &["id -u; cat /proc/1/comm"],
    );
    assert_eq!(out, "1000\npause\n");
    // runAsUser without runAsGroup (docker run --user UID, no such account
    // in the image): gid 0, and the start says what to set.
    docker_w(&d, "run --rm --user 4242 hm-k8s /bin/id -g", &[])
        .ok()
        .assert_says("0")
        .assert_stderr_has("runAsGroup");
    // allowPrivilegeEscalation: false is no-new-privileges.
    docker_w(
        &d,
        "run --rm --security-opt no-new-privileges --user 1000:1000 hm-k8s /bin/true",
        &[],
    )
    .assert_code(3)
    .assert_stderr_has("allowPrivilegeEscalation: false");
    // readOnlyRootFilesystem: true is --read-only.
    docker_w(
        &d,
        "run --rm --read-only --user 1000:1000 hm-k8s /bin/true",
        &[],
    )
    .assert_code(3)
    .assert_stderr_has("readOnlyRootFilesystem: true");
}
