//! `hostmatch doctor` against a real, private dockerd (reached through DOCKER_HOST): the
//! engine it finds, the rules it applies, and its one-paragraph explanation of the remap
//! against what a real container gets.

mod common;

use std::process::Command;

use common::layouts::{self, Kind};
use testkit::{Dockerd, DockerdConfig, StorageDriver};

fn doctor_json(docker_host: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hostmatch"))
        .args(["doctor", "--json"])
        .args(args)
        .env("DOCKER_HOST", docker_host)
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

use common::{entry, text};

fn check<'a>(v: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    entry(v, "checks", id)
}

fn summary(v: &serde_json::Value, id: &str) -> String {
    text(&check(v, id)["summary"]).to_string()
}

#[test]
fn e2e_doctor_sees_a_reachable_daemon_without_remapping() {
    testkit::prereq_dockerd!();
    let d = Dockerd::start(DockerdConfig {
        storage_driver: StorageDriver::Vfs,
        ..Default::default()
    })
    .expect("private dockerd");
    let v = doctor_json(d.host(), &[]);
    let engine = check(&v, "engine");
    assert_eq!(engine["status"], "ok", "{engine}");
    let s = summary(&v, "engine");
    for part in [
        "Docker 20.10",
        "vfs storage",
        &format!("pid {} found by holds the socket", d.pid().unwrap()),
    ] {
        assert!(s.contains(part), "{part} not in {s}");
    }
    assert!(
        summary(&v, "engine-rules").starts_with("docker-up-to-27: "),
        "{v}"
    );
    // This daemon does not remap: whatever other daemons say, doctor must not call it safe.
    assert_eq!(check(&v, "userns-remap")["status"], "warn");
}

#[test]
fn e2e_doctor_reports_an_unreachable_daemon_as_skip() {
    let v = doctor_json("unix:///nonexistent/docker.sock", &[]);
    let engine = check(&v, "engine");
    assert_eq!(engine["status"], "skip");
    assert!(
        summary(&v, "engine")
            .contains("cannot reach the engine at unix:///nonexistent/docker.sock (DOCKER_HOST)"),
        "{engine}"
    );
    assert!(text(&engine["hint"]).contains("DOCKER_HOST"));
}

/// The explanation's container root and container uid 1000 are what a real container
/// gets, for a layout where uid 1000 lands on another line than root.
#[test]
fn e2e_doctor_explains_the_remap_as_a_real_container_gets_it() {
    testkit::prereq_dockerd!();
    let host = layouts::on_host(Kind::OutOfOrder);
    let l = &host.layout;
    let d = Dockerd::start(DockerdConfig {
        userns_remap: Some(l.spec.clone()),
        ..Default::default()
    })
    .expect("private dockerd with userns-remap");
    let (ru, rg) = layouts::dockerd_container_maps(&d);
    let v = doctor_json(d.host(), &[]);
    let text = summary(&v, "remap-explained");
    let want = [
        format!(
            "Container root becomes host uid {}, gid {}",
            ru.to_host(0).unwrap(),
            rg.to_host(0).unwrap()
        ),
        format!(
            "container uid 1000 becomes host uid {} (gid 1000: host gid {})",
            ru.to_host(1000).unwrap(),
            rg.to_host(1000).unwrap()
        ),
        "Docker 20.10 to 27".to_string(),
        format!("'{}' (container 0-999)", l.subuid[0]),
    ];
    for w in &want {
        assert!(text.contains(w.as_str()), "{w} not in: {text}");
    }
    assert_eq!(check(&v, "remap-mapping")["status"], "ok", "{v}");
    // `docker status` reads the same daemon and predicts the same maps.
    let out = Command::new(env!("CARGO_BIN_EXE_hostmatch"))
        .args(["docker", "status", "--json"])
        .env("DOCKER_HOST", d.host())
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["engine"]["reachable"], true, "{s}");
    assert_eq!(s["engine"]["rules"], "docker-up-to-27", "{s}");
    assert_eq!(s["userns_remap"], l.spec.as_str(), "{s}");
    let m = |k: &str| {
        hostmatch::ids::IdMap::new(serde_json::from_value(s["mapping"][k].clone()).unwrap())
            .unwrap()
    };
    assert_eq!(
        (m("uid_map"), m("gid_map")),
        (ru.clone(), rg.clone()),
        "{s}"
    );
    // Asked about another engine, doctor says whose rules it applied.
    let v = doctor_json(d.host(), &["--engine", "docker:28"]);
    let rules = summary(&v, "engine-rules");
    assert!(
        rules.starts_with("docker-28-and-later: ") && rules.contains("--engine docker:28"),
        "{rules}"
    );
}
