//! `hostmatch doctor` against a real, private dockerd (reached through DOCKER_HOST).

use std::process::Command;

use testkit::{Dockerd, DockerdConfig, StorageDriver};

fn doctor_json(docker_host: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hostmatch"))
        .args(["doctor", "--json"])
        .env("DOCKER_HOST", docker_host)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn check<'a>(v: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {v}"))
}

#[test]
fn e2e_doctor_sees_a_reachable_daemon_without_remapping() {
    testkit::prereq_dockerd!();
    let d = Dockerd::start(DockerdConfig {
        storage_driver: StorageDriver::Vfs,
        ..Default::default()
    })
    .expect("private dockerd");
    let v = doctor_json(d.host());
    let daemon = check(&v, "docker-daemon");
    assert_eq!(daemon["status"], "ok", "{daemon}");
    assert!(
        daemon["summary"].as_str().unwrap().contains("vfs storage"),
        "{daemon}"
    );
    // This daemon does not remap: whatever other daemons say, doctor must not call it safe.
    assert_eq!(check(&v, "userns-remap")["status"], "warn");
}

#[test]
fn e2e_doctor_reports_an_unreachable_daemon_as_skip() {
    let v = doctor_json("unix:///nonexistent/docker.sock");
    let daemon = check(&v, "docker-daemon");
    assert_eq!(daemon["status"], "skip");
    assert!(daemon["hint"].as_str().unwrap().contains("DOCKER_HOST"));
}
