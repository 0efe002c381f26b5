//! `hostmatch subid`, `map` and `translate` on temporary sysroots.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::Sysroot;

#[test]
fn add_appends_lowest_free_range_and_keeps_every_other_byte() {
    let before = "# site ranges\nbob:100000:65536\n\n";
    let s = Sysroot::new(Some(before), Some(before));
    let r = s.run(&["subid", "add", "alice"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        s.read("etc/subuid"),
        format!("{before}alice:165536:65536\n")
    );
    assert_eq!(
        s.read("etc/subgid"),
        format!("{before}alice:165536:65536\n")
    );
}

#[test]
fn add_reads_sub_uid_settings_from_login_defs() {
    let s = Sysroot::new(Some(""), Some(""));
    s.write(
        "etc/login.defs",
        "SUB_UID_MIN 200000\nSUB_UID_COUNT 1000\nSUB_GID_MIN 300000\n",
    );
    assert_eq!(s.run(&["subid", "add", "agent"]).code, 0);
    assert_eq!(s.read("etc/subuid"), "agent:200000:1000\n");
    assert_eq!(s.read("etc/subgid"), "agent:300000:65536\n");
}

#[test]
fn add_twice_changes_nothing() {
    let s = Sysroot::new(Some(""), Some(""));
    assert_eq!(s.run(&["subid", "add", "alice", "--self"]).code, 0);
    let once = s.read("etc/subuid");
    assert_eq!(once, "alice:1000:1\nalice:100000:65535\n");
    let r = s.run(&["subid", "add", "alice", "--self"]);
    assert_eq!(r.code, 0);
    r.assert_stdout_has("unchanged");
    assert_eq!(s.read("etc/subuid"), once);
}

#[test]
fn dry_run_shows_a_diff_and_writes_nothing() {
    let s = Sysroot::new(Some("bob:100000:65536\n"), Some("bob:100000:65536\n"));
    let r = s.run(&["subid", "add", "alice", "--dry-run"]);
    assert_eq!(r.code, 0);
    r.assert_stdout_has("+alice:165536:65536");
    assert_eq!(s.read("etc/subuid"), "bob:100000:65536\n");
}

#[test]
fn edits_keep_mode_and_owner_of_the_file() {
    let s = Sysroot::new(Some(""), Some(""));
    let p = s.file("etc/subuid");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let owner_before = std::fs::metadata(&p).unwrap().uid();
    assert_eq!(s.run(&["subid", "add", "alice"]).code, 0);
    let m = std::fs::metadata(&p).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o600);
    assert_eq!(m.uid(), owner_before);
}

#[test]
fn unknown_user_is_one_line_and_writes_nothing() {
    let s = Sysroot::new(Some(""), Some(""));
    s.run(&["subid", "add", "mallory"])
        .assert_one_line_error(2, "unknown user 'mallory'");
    assert_eq!(s.read("etc/subuid"), "");
}

#[test]
fn malformed_line_is_named_and_nothing_is_written() {
    let s = Sysroot::new(Some("bob:100000:65536\nbob:x:1\n"), Some(""));
    let r = s.run(&["subid", "add", "alice"]);
    r.assert_one_line_error(2, "etc/subuid:2:");
    assert_eq!(s.read("etc/subgid"), "");
}

#[test]
fn count_out_of_range_is_refused_by_the_parser() {
    let s = Sysroot::new(Some(""), Some(""));
    let r = s.run(&["subid", "add", "alice", "--count", "4294967296"]);
    assert_eq!(r.code, 2);
    assert_eq!(s.read("etc/subuid"), "");
}

#[test]
fn remove_deletes_name_and_uid_lines() {
    let s = Sysroot::new(
        Some("alice:100000:65536\nbob:165536:65536\n1000:300000:10\n"),
        Some("alice:100000:65536\n"),
    );
    assert_eq!(s.run(&["subid", "remove", "alice"]).code, 0);
    assert_eq!(s.read("etc/subuid"), "bob:165536:65536\n");
    assert_eq!(s.read("etc/subgid"), "");
}

#[test]
fn check_reports_a_ci_agent_range_over_accounts_as_error_json() {
    let s = Sysroot::new(Some("agent:999:65536\n"), Some("agent:999:65536\n"));
    let r = s.run(&["subid", "check", "--json"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let v = r.json();
    let p = &v["problems"][0];
    assert_eq!(p["kind"], "covers-account");
    assert_eq!(p["severity"], "error");
    assert_eq!(p["line"], 1);
    assert!(p["message"].as_str().unwrap().contains("alice"));
    assert!(p["file"].as_str().unwrap().ends_with("etc/subuid"));
}

#[test]
fn check_of_a_healthy_host_exits_zero() {
    let s = Sysroot::new(Some("alice:100000:65536\n"), Some("alice:100000:65536\n"));
    let r = s.run(&["subid", "check", "--json"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.json()["problems"], serde_json::json!([]));
}

#[test]
fn map_prints_kernel_columns_and_json() {
    let s = Sysroot::new(
        Some("alice:1000:1\nalice:100000:65535\n"),
        Some("alice:982:1\nalice:100000:65535\n"),
    );
    let r = s.run(&["map", "alice:docker"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // No engine under --root and no Docker package: both of Docker's rule sets agree here.
    let (rules, maps) = r.stdout.split_once('\n').unwrap();
    assert!(
        rules.starts_with("rules: docker-up-to-27 and docker-28-and-later ("),
        "{rules}"
    );
    assert_eq!(
        maps,
        "uid_map:\n         0       1000          1\n         1     100000      65535\ngid_map:\n         0        982          1\n         1     100000      65535\n"
    );
    let v = s.run(&["map", "alice:docker", "--json"]).json();
    assert_eq!(
        v["uid_map"][1],
        serde_json::json!({"container": 1, "host": 100000, "count": 65535})
    );
    assert_eq!(
        v["rule_sets"],
        serde_json::json!(["docker-up-to-27", "docker-28-and-later"])
    );
}

#[test]
fn map_of_a_live_process_reads_proc() {
    let s = Sysroot::new(None, None);
    let proc = s.file("fakeproc/42");
    std::fs::create_dir_all(&proc).unwrap();
    std::fs::write(proc.join("uid_map"), "         0     100000      65536\n").unwrap();
    std::fs::write(proc.join("gid_map"), "         0     200000      10\n").unwrap();
    let procdir = s.file("fakeproc");
    let r = s.run(&[
        "--proc",
        procdir.to_str().unwrap(),
        "map",
        "--pid",
        "42",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["gid_map"][0]["host"], 200000);
}

#[test]
fn translate_www_data_when_root_is_the_user_and_ids_start_at_100000() {
    let s = Sysroot::new(
        Some("alice:1000:1\nalice:100000:65536\n"),
        Some("alice:1000:1\nalice:100000:65536\n"),
    );
    let r = s.run(&["translate", "33", "--remap", "alice", "--json"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.json()["ids"],
        serde_json::json!([{"container": 33, "host": 100032}])
    );
    let r = s.run(&[
        "translate",
        "100032",
        "--remap",
        "alice",
        "--to-container",
        "--json",
    ]);
    assert_eq!(
        r.json()["ids"],
        serde_json::json!([{"container": 33, "host": 100032}])
    );
}

#[test]
fn translate_unmapped_id_is_null_and_exit_1() {
    let s = Sysroot::new(Some("alice:100000:65536\n"), Some("alice:100000:65536\n"));
    let r = s.run(&["translate", "70000", "0", "--remap", "alice", "--json"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.json()["ids"],
        serde_json::json!([{"container": 70000, "host": null}, {"container": 0, "host": 100000}])
    );
}

#[test]
fn spec_naming_root_is_refused() {
    let s = Sysroot::new(Some("root:100000:65536\n"), Some("root:100000:65536\n"));
    s.run(&["map", "root"]).assert_one_line_error(2, "root");
    s.run(&["map", "0:0"]).assert_one_line_error(2, "root");
}

#[test]
fn missing_subuid_file_is_a_clear_error() {
    let s = Sysroot::new(None, None);
    s.run(&["map", "alice"])
        .assert_one_line_error(3, "etc/subuid");
}

#[test]
fn nonexistent_root_is_refused() {
    let r = common::Sysroot::new(None, None);
    let missing = r.file("nope");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hostmatch"))
        .args(["--root", missing.to_str().unwrap(), "subid", "list"])
        .output()
        .unwrap();
    common::Run::from(out).assert_one_line_error(2, "not a directory");
}

#[test]
fn writing_without_permission_fails_and_changes_nothing() {
    testkit::prereq!(testkit::is_root(), "root (to drop to another user)");
    let s = Sysroot::new(Some(""), Some(""));
    let r = run_as_nobody(&s, &["subid", "add", "alice"]);
    r.assert_one_line_error(3, "permission denied");
    assert_eq!(s.read("etc/subuid"), "");
    assert_eq!(s.read("etc/subgid"), "");
}

#[test]
fn unreadable_subuid_file_is_a_one_line_error() {
    testkit::prereq!(testkit::is_root(), "root (to drop to another user)");
    let s = Sysroot::new(Some("alice:100000:65536\n"), Some("alice:100000:65536\n"));
    std::fs::set_permissions(s.file("etc/subuid"), std::fs::Permissions::from_mode(0o600)).unwrap();
    run_as_nobody(&s, &["map", "alice"]).assert_one_line_error(3, "etc/subuid: Permission denied");
}

/// Runs `hostmatch --root SYSROOT ARGS` as uid/gid 65534, with the sysroot's
/// directories and account files readable (not writable) by that user.
fn run_as_nobody(s: &Sysroot, args: &[&str]) -> common::Run {
    for d in [s.path().to_path_buf(), s.file("etc")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for f in ["etc/passwd", "etc/group"] {
        std::fs::set_permissions(s.file(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_hostmatch"),
            "--root",
        ])
        .arg(s.path())
        .args(args)
        .output()
        .unwrap();
    common::Run::from(out)
}
