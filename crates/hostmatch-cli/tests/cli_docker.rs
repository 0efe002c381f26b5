//! `hostmatch docker status|enable|disable` on temporary sysroots.

mod common;

use common::Sysroot;

fn fake_proc(s: &Sysroot, procs: &[(&str, &str)]) -> String {
    let dir = s.file("fakeproc");
    std::fs::create_dir_all(&dir).unwrap();
    for (pid, argv) in procs {
        std::fs::create_dir_all(dir.join(pid)).unwrap();
        std::fs::write(dir.join(pid).join("cmdline"), argv).unwrap();
    }
    dir.to_str().unwrap().to_string()
}

#[test]
fn enable_default_creates_dockremap_and_ranges_like_dockerd() {
    let s = Sysroot::new(
        Some("alice:100000:65536\n"),
        Some("alice:100000:65536\nbob:165536:65536\n"),
    );
    let proc = fake_proc(&s, &[]);
    let r = s.run(&["--proc", &proc, "docker", "enable"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(s
        .read("etc/passwd")
        .ends_with("dockremap:x:100:100::/nonexistent:/bin/false\n"));
    assert!(s.read("etc/group").ends_with("dockremap:x:100:\n"));
    assert_eq!(
        s.read("etc/subuid"),
        "alice:100000:65536\ndockremap:165536:65536\n"
    );
    assert_eq!(
        s.read("etc/subgid"),
        "alice:100000:65536\nbob:165536:65536\ndockremap:231072:65536\n"
    );
    assert_eq!(
        s.read("etc/docker/daemon.json"),
        "{\n  \"userns-remap\": \"default\"\n}\n"
    );
    // The prediction for the new setting now reads the created ranges.
    let m = s.run(&["map", "default", "--json"]).json();
    assert_eq!(m["gid_map"][0]["host"], 231072);
}

#[test]
fn enable_keeps_every_other_key_and_is_idempotent() {
    let s = Sysroot::new(Some("alice:100000:65536\n"), Some("alice:100000:65536\n"));
    s.write(
        "etc/docker/daemon.json",
        "{\n    \"log-driver\": \"journald\",\n    \"data-root\": \"/srv/docker\"\n}\n",
    );
    let proc = fake_proc(&s, &[]);
    assert_eq!(
        s.run(&["--proc", &proc, "docker", "enable", "alice"]).code,
        0
    );
    let v: serde_json::Value = serde_json::from_str(&s.read("etc/docker/daemon.json")).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"log-driver": "journald", "data-root": "/srv/docker", "userns-remap": "alice"})
    );
    let once = s.read("etc/docker/daemon.json");
    let r = s.run(&["--proc", &proc, "docker", "enable", "alice", "--json"]);
    assert_eq!(r.json()["changed"], false);
    assert_eq!(s.read("etc/docker/daemon.json"), once);
}

#[test]
fn invalid_daemon_json_is_left_alone() {
    let s = Sysroot::new(Some("alice:100000:65536\n"), Some("alice:100000:65536\n"));
    s.write("etc/docker/daemon.json", "{ \"debug\": true,\n oops }\n");
    s.run(&["docker", "enable", "alice"])
        .assert_one_line_error(2, "daemon.json:2");
    assert_eq!(
        s.read("etc/docker/daemon.json"),
        "{ \"debug\": true,\n oops }\n"
    );
}

#[test]
fn enable_user_without_ranges_says_how_to_add_them() {
    let s = Sysroot::new(Some(""), Some(""));
    s.run(&["docker", "enable", "alice"])
        .assert_one_line_error(2, "hostmatch subid add alice");
    assert!(!s.file("etc/docker/daemon.json").exists());
}

#[test]
fn enable_unknown_user_writes_nothing() {
    let s = Sysroot::new(Some(""), Some(""));
    s.run(&["docker", "enable", "mallory"])
        .assert_one_line_error(2, "unknown user 'mallory'");
    assert!(!s.file("etc/docker/daemon.json").exists());
}

#[test]
fn enable_warns_when_dockerd_has_the_flag_on_its_command_line() {
    let s = Sysroot::new(Some("alice:100000:65536\n"), Some("alice:100000:65536\n"));
    let proc = fake_proc(
        &s,
        &[(
            "4242",
            "/usr/bin/dockerd\0-H\0fd://\0--userns-remap=alice\0",
        )],
    );
    let r = s.run(&["--proc", &proc, "docker", "enable", "alice", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let w = r.json()["warnings"][0].as_str().unwrap().to_string();
    assert!(w.contains("4242") && w.contains("given twice"), "{w}");
    let st = s.run(&["--proc", &proc, "docker", "status", "--json"]);
    assert_eq!(st.code, 1);
    assert_eq!(st.json()["command_line"][0]["userns_remap"], "alice");
}

#[test]
fn disable_removes_only_the_setting() {
    let s = Sysroot::new(Some(""), Some(""));
    s.write(
        "etc/docker/daemon.json",
        "{\"userns-remap\": \"default\", \"debug\": true}",
    );
    let proc = fake_proc(&s, &[]);
    let r = s.run(&["--proc", &proc, "docker", "disable", "--dry-run"]);
    assert!(
        r.stdout.contains("-") && r.stdout.contains("userns-remap"),
        "{}",
        r.stdout
    );
    assert_eq!(
        s.read("etc/docker/daemon.json"),
        "{\"userns-remap\": \"default\", \"debug\": true}"
    );
    assert_eq!(s.run(&["--proc", &proc, "docker", "disable"]).code, 0);
    let v: serde_json::Value = serde_json::from_str(&s.read("etc/docker/daemon.json")).unwrap();
    assert_eq!(v, serde_json::json!({"debug": true}));
}

#[test]
fn status_shows_the_predicted_mapping() {
    let s = Sysroot::new(
        Some("alice:1000:1\nalice:100000:65535\n"),
        Some("alice:1000:1\nalice:100000:65535\n"),
    );
    s.write("etc/docker/daemon.json", "{\"userns-remap\": \"alice\"}");
    let proc = fake_proc(&s, &[]);
    let r = s.run(&["--proc", &proc, "docker", "status", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let v = r.json();
    assert_eq!(v["userns_remap"], "alice");
    assert_eq!(
        v["mapping"]["uid_map"][0],
        serde_json::json!({"container": 0, "host": 1000, "count": 1})
    );
}
