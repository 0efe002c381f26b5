//! A dockerd started the way the stock `docker.service` starts it, `dockerd -H fd://`
//! with the socket handed over by socket activation (`systemd-socket-activate`, which
//! passes a listening socket the systemd way): `doctor`, `map`, `audit` and `mount
//! --for-docker` find it through DOCKER_HOST although its command line names no socket,
//! read its `--userns-remap` from its command line, and answer what a real container gets.

mod common;

use std::fs;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::layouts::{self, Kind};
use common::{entry, Run};
use hostmatch::ids::IdMap;
use serde_json::Value;
use testkit::{Dockerd, DockerdConfig, StorageDriver};

const BIN: &str = env!("CARGO_BIN_EXE_hostmatch");

fn hostmatch(d: &Dockerd, args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .args(args)
        .env("DOCKER_HOST", d.host())
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run::from(out)
}

fn json_ok(d: &Dockerd, args: &[&str], max_code: i32) -> Value {
    let r = hostmatch(d, args);
    assert!(
        (0..=max_code).contains(&r.code),
        "hostmatch {args:?} ({}): {}\n{}\nend of dockerd's log:\n{}",
        r.code,
        r.stdout,
        r.stderr,
        d.log_tail(20)
    );
    r.json()
}

fn triples_map(v: &Value) -> IdMap {
    IdMap::new(serde_json::from_value(v.clone()).unwrap()).unwrap()
}

/// An ID-mapped view made by `hostmatch mount`, unmounted however the test ends.
struct View(PathBuf);

impl Drop for View {
    fn drop(&mut self) {
        let _ = Command::new(BIN).arg("umount").arg(&self.0).output();
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

#[test]
fn e2e_socket_activated_dockerd_is_found_and_read_by_doctor_map_audit_and_mount() {
    testkit::prereq_dockerd!();
    testkit::prereq!(
        testkit::have_cmd("systemd-socket-activate"),
        "systemd-socket-activate (apt-get install systemd)"
    );
    let host = layouts::on_host(Kind::OutOfOrder);
    let l = &host.layout;
    let d = Dockerd::start_socket_activated(DockerdConfig {
        storage_driver: StorageDriver::Vfs,
        userns_remap: Some(l.spec.clone()),
        ..Default::default()
    })
    .expect("socket-activated private dockerd with userns-remap");
    let pid = d.pid().unwrap();
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(
        cmdline.contains("--host=fd://") && !cmdline.contains("unix://"),
        "not the fd:// daemon: {cmdline}"
    );
    let (ru, rg) = layouts::dockerd_container_maps(&d);

    // doctor: the daemon holding the socket, its remap from its command line.
    let v = json_ok(&d, &["doctor", "--json"], 1);
    let engine = entry(&v, "checks", "engine");
    assert_eq!(engine["status"], "ok", "{engine}");
    let s = engine["summary"].as_str().unwrap();
    assert!(
        s.contains(&format!("pid {pid} found by holds the socket")),
        "{s}"
    );
    let explained = entry(&v, "checks", "remap-explained")["summary"]
        .as_str()
        .unwrap();
    let root = format!(
        "Container root becomes host uid {}, gid {}",
        ru.to_host(0).unwrap(),
        rg.to_host(0).unwrap()
    );
    assert!(explained.contains(&root), "{root} not in: {explained}");
    assert_eq!(entry(&v, "checks", "remap-mapping")["status"], "ok", "{v}");
    let status = json_ok(&d, &["docker", "status", "--json"], 1);
    assert_eq!(status["userns_remap"], l.spec.as_str(), "{status}");
    assert_eq!(
        status["engine"]["engine"]["remap"]["source"],
        serde_json::json!({"kind": "command-line", "pid": pid}),
        "{status}"
    );

    // map without SPEC: the running engine's own setting, by its rules.
    let m = json_ok(&d, &["map", "--json"], 0);
    assert_eq!(
        m["rule_sets"],
        serde_json::json!(["docker-up-to-27"]),
        "{m}"
    );
    assert!(
        m["chosen_by"]
            .as_str()
            .unwrap()
            .starts_with("the running engine, Docker 20.10"),
        "{m}"
    );
    assert_eq!(
        (triples_map(&m["uid_map"]), triples_map(&m["gid_map"])),
        (ru.clone(), rg.clone())
    );

    // mount --for-docker: container root's host ids, as the daemon maps them.
    let dir = tempfile::Builder::new()
        .prefix("hm-e2e-fd-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    chown(&src, Some(host.user.uid), Some(host.user.gid)).unwrap();
    let view = View(dir.path().join("view"));
    let r = hostmatch(
        &d,
        &[
            "mount",
            src.to_str().unwrap(),
            view.0.to_str().unwrap(),
            "--for-docker",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let want = format!(
        "container user 0:0 = host {}:{}",
        ru.to_host(0).unwrap(),
        rg.to_host(0).unwrap()
    );
    assert!(r.stdout.contains(&want), "{want} not in: {}", r.stdout);
    let r = hostmatch(&d, &["umount", view.0.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // audit: real probe containers; container root is the remapped id; nothing left.
    let a = json_ok(&d, &["audit", "--json"], 1);
    assert_eq!(a["container_root"]["uid"], ru.to_host(0).unwrap(), "{a:#}");
    let mapping = a["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "mapping-matches")
        .unwrap();
    assert_eq!(mapping["status"], "ok", "{a:#}");
    assert!(d.run_ok(["ps", "-aq"]).trim().is_empty());
    assert!(!d
        .run_ok(["images", "--format", "{{.Repository}}"])
        .contains("hostmatch-probe"));
    assert!(Path::new(d.host().trim_start_matches("unix://")).exists());
}
