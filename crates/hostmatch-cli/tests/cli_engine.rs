//! Engines without a daemon: Docker's rule sets on the same layouts the real
//! dockerd 20.10 is checked on (e2e_remap), Podman's rules on sysroots, the
//! choice of rules, `subid` with engines in mind, and the engine's bad answers
//! (a fake engine on a unix socket).

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::layouts::{self, DockerLayout, Expect, Kind, Triples, Who};
use common::{Run, Sysroot};

fn who() -> Who {
    Who {
        name: "alice".into(),
        uid: 1000,
        gid: 1000,
        other: "bob".into(),
        group: "docker".into(),
    }
}

fn text(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn triples(v: &serde_json::Value) -> Triples {
    v.as_array()
        .unwrap_or_else(|| panic!("not a map: {v}"))
        .iter()
        .map(|e| {
            let n = |k: &str| e[k].as_u64().unwrap() as u32;
            (n("container"), n("host"), n("count"))
        })
        .collect()
}

/// `hostmatch map SPEC --engine ENGINE --json` on a sysroot with the layout, against `want`.
fn check_layout(l: &DockerLayout, engine: &str, want: &Expect, what: &str) {
    let s = Sysroot::new(Some(&text(&l.subuid)), Some(&text(&l.subgid)));
    let r = s.run(&["map", &l.spec, "--engine", engine, "--json"]);
    match want {
        Expect::Refused(_) => {
            assert!(
                r.code == 2 || r.code == 3,
                "{what}: dockerd refuses to start, but map said ({}): {}",
                r.code,
                r.stdout
            );
            assert_eq!(r.stderr.lines().count(), 1, "{what}: {}", r.stderr);
        }
        Expect::Maps(u, g) | Expect::MapsHostZero(u, g) => {
            let zero = matches!(want, Expect::MapsHostZero(..));
            assert_eq!(r.code, i32::from(zero), "{what}: {}{}", r.stdout, r.stderr);
            let v = r.json();
            assert_eq!(&triples(&v["uid_map"]), u, "{what}: uid_map");
            assert_eq!(&triples(&v["gid_map"]), g, "{what}: gid_map");
            let warned = v["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().contains("host ids 0-"));
            assert_eq!(warned, zero, "{what}: warnings {}", v["warnings"]);
        }
    }
}

#[test]
fn docker_up_to_27_and_from_28_rules_on_every_layout() {
    for kind in Kind::ALL {
        let l = layouts::docker_layout(kind, &who());
        for (engine, want) in [
            ("docker:20.10", &l.up_to_27),
            ("docker:27.5", &l.up_to_27),
            ("docker:28.0", &l.from_28),
            ("docker:29.7", &l.from_28),
        ] {
            check_layout(
                &l,
                engine,
                want,
                &format!("{kind:?} with --engine {engine}"),
            );
        }
    }
}

#[test]
fn docker_default_allocation_per_rule_set() {
    for name in ["quirks", "existing-subuid-line"] {
        let d = layouts::default_layout(name);
        for (engine, (u, g)) in [("docker:27", &d.up_to_27), ("docker:28", &d.from_28)] {
            let s = Sysroot::new(Some(d.subuid), Some(d.subgid));
            let r = s.run(&["map", "default", "--engine", engine, "--json"]);
            assert!(r.code <= 1, "{name} {engine}: {}", r.stderr);
            let v = r.json();
            assert_eq!(&triples(&v["uid_map"]), u, "{name} {engine}: uid_map");
            assert_eq!(&triples(&v["gid_map"]), g, "{name} {engine}: gid_map");
        }
    }
    // From 28 the range handed to dockremap overlapping another user's is said.
    let d = layouts::default_layout("quirks");
    let s = Sysroot::new(Some(d.subuid), Some(d.subgid));
    let v = s
        .run(&["map", "default", "--engine", "docker:28", "--json"])
        .json();
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .contains("overlaps other's range"),
        "{v}"
    );
}

/// Installs Docker 28 below the sysroot, as dpkg records it.
fn install_docker_ce_28(s: &Sysroot) {
    s.write(
        "var/lib/dpkg/status",
        "Package: docker-ce\nStatus: install ok installed\nVersion: 5:28.5.2-1~debian.12~bookworm\n",
    );
}

/// Asserts a successful run that applied the installed docker-ce 28's rules.
fn assert_rules_of_docker_ce_28(r: &Run) {
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("rules: docker-28-and-later (the installed package docker-ce 28.5.2;"),
        "{}",
        r.stdout
    );
}

#[test]
fn without_an_engine_the_docker_rule_sets_must_agree_or_the_version_is_asked_for() {
    let l = layouts::docker_layout(Kind::Single, &who());
    let s = Sysroot::new(Some(&text(&l.subuid)), Some(&text(&l.subgid)));
    let v = s.run(&["map", &l.spec, "--json"]).json();
    assert_eq!(
        v["rule_sets"],
        serde_json::json!(["docker-up-to-27", "docker-28-and-later"])
    );
    let l = layouts::docker_layout(Kind::NumericLinesNameSpec, &who());
    let s = Sysroot::new(Some(&text(&l.subuid)), Some(&text(&l.subgid)));
    s.run(&["map", &l.spec])
        .assert_one_line_error(2, "--engine docker:VERSION");
    // An installed Docker package below the root decides.
    install_docker_ce_28(&s);
    assert_rules_of_docker_ce_28(&s.run(&["map", &l.spec]));
    let r = s.run(&["translate", "0", "65536", "--remap", &l.spec, "--json"]);
    assert_eq!(
        r.json()["ids"],
        serde_json::json!([{"container": 0, "host": 2_600_000}, {"container": 65536, "host": 2_700_000}])
    );
}

#[test]
fn bad_engine_options_are_one_line_errors() {
    let s = Sysroot::new(Some("alice:100000:65536\n"), Some("alice:100000:65536\n"));
    s.run(&["map", "alice", "--engine", "docker"])
        .assert_one_line_error(2, "docker:27 or docker:28.5");
    s.run(&["map", "alice", "--engine", "lxc"])
        .assert_one_line_error(2, "expected docker:VERSION or podman");
    s.run(&["map", "alice", "--engine", "podman"])
        .assert_one_line_error(2, "Docker's userns-remap setting");
    s.run(&["map", "alice", "--keep-id"])
        .assert_one_line_error(2, "Podman's");
    s.run(&["map", "--rootless", "nobody-here"])
        .assert_one_line_error(2, "unknown user 'nobody-here'");
    s.run(&["map"]).assert_one_line_error(2, "give SPEC");
}

// ------------------------------------- volume prepare and group link, per rule set

/// The host id container id `id` maps to under `map` (None: unmapped).
fn to_host(map: &Triples, id: u32) -> Option<u32> {
    map.iter()
        .find(|(c, _, n)| (*c..c + n).contains(&id))
        .map(|(c, h, _)| h + (id - c))
}

/// The layout where Docker up to 27 and 28+ give container gid 0 different host gids
/// (a uid SPEC with a name line and a uid line in each file), with what each predicts.
fn layout_where_the_rule_sets_differ() -> (DockerLayout, [(&'static str, Triples, Triples); 2]) {
    let l = layouts::docker_layout(Kind::NumericLinesUidSpec, &who());
    let maps = |e: &Expect| match e {
        Expect::Maps(u, g) => (u.clone(), g.clone()),
        other => panic!("{other:?}"),
    };
    let ((u27, g27), (u28, g28)) = (maps(&l.up_to_27), maps(&l.from_28));
    assert_ne!(
        to_host(&g27, 0),
        to_host(&g28, 0),
        "the layout no longer differs"
    );
    (
        l,
        [("docker:27.5.0", u27, g27), ("docker:28.0.0", u28, g28)],
    )
}

#[test]
fn group_link_predicts_the_gid_by_the_engines_rules() {
    let (l, per_engine) = layout_where_the_rule_sets_differ();
    let s = Sysroot::new(Some(&text(&l.subuid)), Some(&text(&l.subgid)));
    let link = |extra: &[&str]| {
        let mut a = vec!["group", "link", "0", "--remap", &l.spec, "--name", "ctr"];
        a.extend_from_slice(extra);
        s.run(&a)
    };
    for (engine, _, g) in &per_engine {
        let r = link(&["--engine", engine, "--dry-run", "--json"]);
        assert_eq!(r.code, 0, "{engine}: {}", r.stderr);
        let v = r.json();
        assert_eq!(v["gid"], to_host(g, 0).unwrap(), "{engine}: {v}");
        assert_eq!(v["rules"]["chosen_by"], format!("--engine {engine}"));
        let r = link(&["--engine", engine, "--dry-run"]);
        let want = format!("+ctr:x:{}:", to_host(g, 0).unwrap());
        assert!(
            r.stdout.starts_with("rules: docker-") && r.stdout.contains(&want),
            "{engine}: {}",
            r.stdout
        );
    }
    // No engine and no package: the rule sets disagree, so the version is asked for.
    link(&["--dry-run"]).assert_one_line_error(2, "--engine docker:VERSION");
    // The installed package decides, and the group file gets its gid.
    install_docker_ce_28(&s);
    assert_rules_of_docker_ce_28(&link(&[]));
    let gid = to_host(&per_engine[1].2, 0).unwrap();
    assert!(s.read("etc/group").contains(&format!("ctr:x:{gid}:")));
    // Rootless Podman: container gid 0 is the user's own, 1.. its ranges, lowest first.
    let r = s.run(&[
        "group",
        "link",
        "2",
        "--rootless",
        "alice",
        "--name",
        "pod",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(
        (v["gid"].as_u64(), v["rules"]["rule_sets"][0].as_str()),
        (Some(2_400_001), Some("podman-rootless"))
    );
    // A container gid the rules leave unmapped is a one-line error naming them.
    let r = s.run(&[
        "group",
        "link",
        "70000",
        "--remap",
        &l.spec,
        "--engine",
        "docker:27",
        "--name",
        "x",
    ]);
    r.assert_one_line_error(
        2,
        "container gid 70000 is not mapped (rules: docker-up-to-27",
    );
}

#[test]
fn volume_prepare_owns_the_volume_by_the_engines_rules() {
    testkit::prereq!(testkit::is_root(), "root (volume prepare changes owners)");
    let (l, per_engine) = layout_where_the_rule_sets_differ();
    let s = Sysroot::new(Some(&text(&l.subuid)), Some(&text(&l.subgid)));
    // `volume prepare DIR --for 0:0 --remap SPEC EXTRA...` in the sysroot.
    let prepare = |name: &str, extra: &[&str]| {
        let vol = s.path().join(name);
        let mut a = vec!["volume", "prepare", vol.to_str().unwrap(), "--for", "0:0"];
        a.extend_from_slice(&["--remap", &l.spec]);
        a.extend_from_slice(extra);
        (s.run(&a), vol)
    };
    let mut seen = Vec::new();
    for (engine, u, g) in &per_engine {
        let (r, vol) = prepare(engine, &["--engine", engine, "--dirs", "logs"]);
        assert_eq!(r.code, 0, "{engine}: {}", r.stderr);
        let rules = r.stdout.lines().next().unwrap();
        assert!(
            rules.starts_with("rules: docker-") && rules.ends_with(&format!("(--engine {engine})")),
            "{rules}"
        );
        let want = (to_host(u, 0).unwrap(), to_host(g, 0).unwrap());
        for p in [vol.clone(), vol.join("logs")] {
            let m = std::fs::metadata(&p).unwrap();
            use std::os::unix::fs::MetadataExt;
            assert_eq!((m.uid(), m.gid()), want, "{engine}: {}", p.display());
        }
        seen.push(want);
    }
    assert_ne!(seen[0], seen[1], "both rule sets gave {:?}", seen[0]);
    // JSON says the rules and the host ids.
    let (r, _) = prepare("vol-json", &["--engine", "docker:28", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(
        v["rules"]["rule_sets"],
        serde_json::json!(["docker-28-and-later"])
    );
    assert_eq!(
        (v["host_ids"]["uid"].as_u64(), v["host_ids"]["gid"].as_u64()),
        (Some(u64::from(seen[1].0)), Some(u64::from(seen[1].1)))
    );
    // Without an engine or a package the rule sets must agree: here they do not.
    let (r, vol) = prepare("vol-none", &[]);
    r.assert_one_line_error(2, "--engine docker:VERSION");
    assert!(!vol.exists());
}

// ------------------------------------------------------------------ Podman

fn podman_json(s: &Sysroot, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["map"];
    a.extend_from_slice(args);
    a.push("--json");
    let r = s.run(&a);
    assert!(r.code <= 1, "{args:?}: {}", r.stderr);
    r.json()
}

#[test]
fn rootless_podman_maps_the_user_then_its_ranges_by_host_id() {
    let s = Sysroot::new(
        Some("alice:300000:1000\nbob:100000:65536\n1000:200000:65536\n"),
        Some("alice:400000:65536\n"),
    );
    let v = podman_json(&s, &["--rootless", "alice"]);
    assert_eq!(v["rule_sets"], serde_json::json!(["podman-rootless"]));
    assert_eq!(
        triples(&v["uid_map"]),
        [(0, 1000, 1), (1, 200_000, 65536), (65537, 300_000, 1000)]
    );
    let v = podman_json(&s, &["--rootless", "alice", "--keep-id"]);
    assert_eq!(triples(&v["uid_map"])[1], (1000, 1000, 1));
    let v = podman_json(&s, &["--rootless", "1000", "--keep-id=0:0"]);
    assert_eq!(triples(&v["uid_map"])[0], (0, 1000, 1));
    let v = podman_json(&s, &["--rootless", "alice", "--auto=500"]);
    assert_eq!(triples(&v["uid_map"]), [(0, 200_000, 500)]);
    let r = s.run(&["translate", "0", "1", "--rootless", "alice", "--json"]);
    assert_eq!(
        r.json()["ids"],
        serde_json::json!([{"container": 0, "host": 1000}, {"container": 1, "host": 200_000}])
    );
}

#[test]
fn rootful_podman_follows_its_settings_or_the_options() {
    let s = Sysroot::new(
        Some("containers:2000000:1000\ncontainers:1000000:1000\n"),
        Some("containers:3000000:65536\n"),
    );
    let v = podman_json(&s, &["--engine", "podman"]);
    assert_eq!(triples(&v["uid_map"]), [(0, 0, u32::MAX)]);
    let v = podman_json(&s, &["--engine", "podman", "--auto=1500"]);
    assert_eq!(
        triples(&v["uid_map"]),
        [(0, 1_000_000, 1000), (1000, 2_000_000, 500)]
    );
    s.write(
        "etc/containers/containers.conf",
        "[containers]\nuserns = \"auto:size=200\"\n",
    );
    // Podman 4.3 takes only the mode from containers.conf: the size is the image's, at least
    // auto-userns-min-size (1024 by default), which is what hostmatch predicts, saying so.
    let v = podman_json(&s, &["--engine", "podman"]);
    assert_eq!(triples(&v["gid_map"]), [(0, 3_000_000, 1024)]);
    assert_eq!(
        triples(&v["uid_map"]),
        [(0, 1_000_000, 1000), (1000, 2_000_000, 24)]
    );
    assert!(
        v["warnings"][0].as_str().unwrap().contains("at least 1024"),
        "{v}"
    );
    s.run(&["map", "--engine", "podman", "--keep-id"])
        .assert_one_line_error(2, "only supported in rootless mode");
}

// ------------------------------------------------------------------ subid

#[test]
fn subid_add_and_check_accept_the_containers_name() {
    let s = Sysroot::new(Some(""), Some(""));
    let r = s.run(&["subid", "add", "containers", "--count", "1000000"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(s.read("etc/subuid"), "containers:100000:1000000\n");
    let r = s.run(&["subid", "check", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.json()["problems"], serde_json::json!([]));
    s.run(&["subid", "add", "containers", "--self"])
        .assert_one_line_error(2, "not an account");
}

#[test]
fn subid_check_names_engine_dependent_lines_and_host_root_for_docker_28() {
    let s = Sysroot::new(
        Some("alice:100000:65536\nalice:abc:65536\nbob:300000:1000\nbob:200000:65536\n"),
        Some("alice:100000:65536\nbob:200000:65536\n"),
    );
    let r = s.run(&["subid", "check", "--json"]);
    assert_eq!(r.code, 1);
    let v = r.json();
    let p: Vec<&serde_json::Value> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "engine-dependent")
        .collect();
    assert_eq!(p.len(), 2, "{v:#}");
    assert_eq!(
        (p[0]["line"].as_u64(), p[0]["severity"].as_str()),
        (Some(2), Some("error"))
    );
    assert!(
        p[0]["message"]
            .as_str()
            .unwrap()
            .contains("host ids 0-65535"),
        "{}",
        p[0]
    );
    assert_eq!(
        (p[1]["line"].as_u64(), p[1]["severity"].as_str()),
        (Some(3), Some("warning"))
    );
    assert!(p[1]["message"]
        .as_str()
        .unwrap()
        .contains("not in host-id order"));
    let r = s.run(&["subid", "check"]);
    assert!(
        r.stdout.contains(":2: error [engine-dependent]"),
        "{}",
        r.stdout
    );
}

// ------------------------------------------------------------ bad engines

/// A fake engine on a unix socket: answers each request whose path ends with a key
/// with (status, body); other paths get 404.
struct FakeEngine {
    dir: tempfile::TempDir,
}

impl FakeEngine {
    fn start(answers: Vec<(&'static str, u16, String)>) -> FakeEngine {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("engine.sock")).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut c) = conn else { return };
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&req);
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let (status, body) = answers
                    .iter()
                    .find(|(k, ..)| path.ends_with(k))
                    .map(|(_, s, b)| (*s, b.clone()))
                    .unwrap_or((404, r#"{"message":"page not found"}"#.into()));
                let _ = write!(
                    c,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakeEngine { dir }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("engine.sock").display())
    }
}

fn version(api: &str, min: &str) -> String {
    format!(
        r#"{{"Version":"99.1.0","ApiVersion":"{api}","MinAPIVersion":"{min}","Components":[{{"Name":"Engine","Version":"99.1.0"}}]}}"#
    )
}

fn with_engine(host: &str, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_hostmatch"))
        .args(args)
        .env("DOCKER_HOST", host)
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    Run::from(out)
}

#[test]
fn engine_answers_hostmatch_cannot_use_are_one_line_errors_exit_3() {
    type Answers = Vec<(&'static str, u16, String)>;
    let cases: Vec<(Answers, &str)> = vec![
        (
            vec![("/version", 200, version("1.12", "1.12"))],
            "Docker 99.1.0 at unix://",
        ),
        (
            vec![("/version", 200, version("1.99", "1.60"))],
            "needs Engine API 1.60 or newer; hostmatch speaks up to 1.",
        ),
        (
            vec![("/version", 200, "this is no JSON".into())],
            "answered /version unexpectedly",
        ),
        (
            vec![
                ("/version", 200, version("1.41", "1.12")),
                ("/info", 200, r#"{"ServerVersion":"99.1.0"}"#.into()),
            ],
            "answered /info unexpectedly: no DockerRootDir field",
        ),
        (
            vec![("/version", 500, r#"{"message":"engine on fire"}"#.into())],
            "refused /version: engine on fire (HTTP 500)",
        ),
    ];
    for (answers, needle) in cases {
        let e = FakeEngine::start(answers);
        let r = with_engine(&e.host(), &["audit"]);
        r.assert_one_line_error(3, needle);
        assert!(r.stdout.is_empty());
        let dst = e.dir.path().join("view");
        let src = e.dir.path();
        let r = with_engine(
            &e.host(),
            &[
                "mount",
                src.to_str().unwrap(),
                dst.to_str().unwrap(),
                "--for-docker",
            ],
        );
        r.assert_one_line_error(3, needle);
        assert!(!Path::new(&dst).exists(), "mount left {}", dst.display());
    }
}

#[test]
fn a_too_old_engine_api_names_the_engine_and_the_version_needed() {
    let e = FakeEngine::start(vec![("/version", 200, version("1.38", "1.12"))]);
    let needle = "speaks Engine API 1.38; hostmatch needs 1.40 or newer";
    for args in [
        &["audit"][..],
        &["map"],
        &["map", "alice"],
        &["translate", "0"],
    ] {
        with_engine(&e.host(), args).assert_one_line_error(3, needle);
    }
    // doctor reports everything else, then says it and exits 3.
    let r = with_engine(&e.host(), &["doctor", "--json"]);
    r.assert_one_line_error(3, needle);
    let v = r.json();
    let engine = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "engine")
        .unwrap();
    assert_eq!(engine["status"], "skip");
    assert!(
        engine["summary"].as_str().unwrap().contains("1.38"),
        "{engine}"
    );
}

/// A unix socket that accepts connections and reads requests but never answers
/// (`garbage`: None), or answers every request with `garbage` and hangs up.
struct BadSocket {
    dir: tempfile::TempDir,
}

impl BadSocket {
    fn start(garbage: Option<&'static [u8]>) -> BadSocket {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("engine.sock")).unwrap();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                let Ok(mut c) = conn else { return };
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                match garbage {
                    Some(g) => {
                        let _ = c.write_all(g);
                    }
                    None => held.push(c),
                }
            }
        });
        BadSocket { dir }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("engine.sock").display())
    }
}

/// Runs `hostmatch ARGS` against `host` (as [`with_engine`]), killing it after `limit`:
/// the run, how long it took and its pid.
fn with_engine_within(host: &str, args: &[&str], limit: Duration) -> (Run, Duration, u32) {
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hostmatch"))
        .args(args)
        .env("DOCKER_HOST", host)
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hostmatch {args:?} still ran after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id();
    (
        Run::from(child.wait_with_output().unwrap()),
        t.elapsed(),
        pid,
    )
}

/// Whether the audit process `pid` left a scratch directory in the temporary directory.
fn audit_scratch_left(pid: u32) -> bool {
    let prefix = format!("hostmatch-audit-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
}

/// doctor, map (the running engine's own setting, and a SPEC), translate and audit, all
/// at once against `host`: each exits 3 with one line containing `needle`, within `limit`,
/// and leaves nothing behind. How long each took.
fn every_engine_command_fails_within(host: &str, needle: &str, limit: Duration) -> Vec<Duration> {
    let commands: [&[&str]; 6] = [
        &["doctor"],
        &["docker", "status"],
        &["map"],
        &["map", "alice", "--json"],
        &["translate", "0"],
        &["audit", "--json"],
    ];
    let runs: Vec<_> = commands
        .iter()
        .map(|args| {
            let (host, args) = (host.to_string(), args.to_vec());
            std::thread::spawn(move || {
                let (r, took, pid) = with_engine_within(&host, &args, limit);
                (args, r, took, pid)
            })
        })
        .collect();
    let mut took = Vec::new();
    for h in runs {
        let (args, r, t, pid) = h.join().unwrap();
        eprintln!("hostmatch {args:?}: exit {} after {t:.2?}", r.code);
        r.assert_one_line_error(3, needle);
        // doctor and docker status print their report first.
        if args[0] != "doctor" && args[0] != "docker" {
            assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        }
        assert!(
            !audit_scratch_left(pid),
            "{args:?} left a scratch directory"
        );
        took.push(t);
    }
    took
}

#[test]
fn a_silent_engine_is_a_one_line_error_exit_3_after_the_deadline_never_a_hang() {
    let s = BadSocket::start(None);
    // 10 s for each question (map, doctor, translate), 15 s for audit's; 60 s is a hang.
    let took = every_engine_command_fails_within(
        &s.host(),
        "did not answer /version within 1",
        Duration::from_secs(60),
    );
    assert!(
        took.iter().all(|t| *t >= Duration::from_secs(9)),
        "{took:?}"
    );
}

#[test]
fn an_engine_answering_garbage_is_a_one_line_error_exit_3() {
    let s = BadSocket::start(Some(b"\x00\x01 garbage, not HTTP\r\n\r\n"));
    every_engine_command_fails_within(
        &s.host(),
        "answered /version unexpectedly: invalid HTTP version parsed (expected an HTTP answer of the Engine API)",
        Duration::from_secs(30),
    );
}

/// `docker enable SPEC` checks SPEC by the rules of the Docker that will read
/// the files: a damaged line that Docker 28 reads as host id 0 is refused,
/// naming those rules, with nothing written; a sound SPEC says which rules it
/// was checked by.
#[test]
fn docker_enable_checks_the_spec_by_the_rules_of_the_installed_docker() {
    let damaged = Sysroot::new(
        Some("alice:x100000:65536\nalice:200000:65536\n"),
        Some("alice:200000:65536\n"),
    );
    install_docker_ce_28(&damaged);
    damaged
        .run(&["docker", "enable", "alice"])
        .assert_one_line_error(
            2,
            "would give container ids host root's ids by docker-28-and-later",
        );
    assert!(!damaged.file("etc/docker/daemon.json").exists());

    let sound = Sysroot::new(Some("alice:200000:65536\n"), Some("alice:200000:65536\n"));
    install_docker_ce_28(&sound);
    let r = sound.run(&["docker", "enable", "alice"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("rules: docker-28-and-later (the installed package docker-ce 28.5.2;"),
        "{}",
        r.stdout
    );
    assert!(sound
        .read("etc/docker/daemon.json")
        .contains("\"userns-remap\": \"alice\""));
}
