//! Truth tests for Podman: what hostmatch predicts (`map`, `translate`, `doctor`) against
//! the maps real containers get from Debian's Podman 4.3 (runc), rootful and rootless.
//!
//! The real maps are read from the host (`/proc/PID/uid_map` of the container's process,
//! PID from `podman inspect`), so they are host ids even where Podman nests a user
//! namespace (keep-id, `--userns=auto` rootless).
//!
//! Rootless layouts: the fixture's user with chosen /etc/subuid and /etc/subgid lines.
//! Rootful `--userns=auto` layouts: lines of the `containers` name, appended to the real
//! files (Podman reads only those) under the subid lock, so that prediction and container
//! see the same files.

mod common;

use std::process::Command;

use common::text;
use hostmatch::ids::IdMap;
use testkit::{images, HostSubids, Podman, PodmanConfig, RootlessConfig, SubidLock};

const BIN: &str = env!("CARGO_BIN_EXE_hostmatch");

fn busybox(p: &Podman) {
    p.import(
        images::busybox_rootfs_tar().expect("busybox image"),
        "busybox",
    );
}

/// The maps of a real container started with `args`, read from the host.
fn real_maps(p: &Podman, args: &[&str]) -> Result<(IdMap, IdMap), String> {
    let mut run = vec!["run", "-d"];
    run.extend_from_slice(args);
    run.extend(["busybox", "sleep", "600"]);
    let out = p.podman(&run);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let pid = p.run_ok(["inspect", "--format", "{{.State.Pid}}", &id]);
    let read = |f: &str| {
        let text = std::fs::read_to_string(format!("/proc/{}/{f}", pid.trim())).unwrap();
        IdMap::parse(&text).unwrap()
    };
    // The container is left running: the fixture's teardown ends it (`podman rm -f`
    // here races with the end of its shm mount: "device or resource busy").
    Ok((read("uid_map"), read("gid_map")))
}

/// `hostmatch ARGS --json` (as root, `--root /`), with `env` added.
fn hostmatch_json(args: &[&str], env: &[(&str, String)]) -> Result<serde_json::Value, String> {
    let mut c = Command::new(BIN);
    c.args(args)
        .arg("--json")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(0) | Some(1) => serde_json::from_str(&stdout).map_err(|e| format!("{e}: {stdout}")),
        _ => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

fn maps_of(v: &serde_json::Value) -> (IdMap, IdMap) {
    let m = |k: &str| IdMap::new(serde_json::from_value(v[k].clone()).unwrap()).unwrap();
    (m("uid_map"), m("gid_map"))
}

/// The prediction equals the real maps, or both refuse.
fn assert_same(
    what: &str,
    predicted: Result<serde_json::Value, String>,
    real: Result<(IdMap, IdMap), String>,
) {
    match (predicted, real) {
        (Ok(v), Ok((u, g))) => {
            let (pu, pg) = maps_of(&v);
            eprintln!(
                "{what}: predicted = real uid_map {}",
                u.to_string().replace('\n', " /")
            );
            assert_eq!(
                pu, u,
                "{what}: predicted uid_map\n{pu}but Podman installed\n{u}"
            );
            assert_eq!(
                pg, g,
                "{what}: predicted gid_map\n{pg}but Podman installed\n{g}"
            );
        }
        (Err(p), Err(r)) => eprintln!("{what}: both refuse: {} / Podman: {}", p.trim(), r.trim()),
        (p, r) => panic!("{what}: hostmatch says {p:?}, Podman {r:?}"),
    }
}

// ------------------------------------------------------------------ rootless

/// A rootless layout: the fixture's subid lines, the `--userns` given to Podman, the
/// matching `hostmatch map` options.
struct Rootless {
    subuid: &'static [&'static str],
    subgid: &'static [&'static str],
    podman: &'static [&'static str],
    hostmatch: &'static [&'static str],
}

fn rootless_case(name: &str, l: Rootless) {
    testkit::prereq_podman!(rootless);
    let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let p = Podman::rootless(RootlessConfig {
        subuid: lines(l.subuid),
        subgid: lines(l.subgid),
        podman: PodmanConfig::default(),
    })
    .expect("rootless Podman");
    let user = p.user().unwrap().name.clone();
    let mut args = vec!["map", "--rootless", user.as_str()];
    args.extend_from_slice(l.hostmatch);
    // Ranges Podman refuses stop every command, the image import too.
    let info = p.podman(["info"]);
    let real = if info.status.success() {
        busybox(&p);
        real_maps(&p, l.podman)
    } else {
        Err(String::from_utf8_lossy(&info.stderr).into_owned())
    };
    assert_same(name, hostmatch_json(&args, &[]), real);
}

#[test]
fn e2e_podman_rootless_one_range_each() {
    rootless_case(
        "one range",
        Rootless {
            subuid: &["{user}:200000:65536"],
            subgid: &["{user}:300000:65536"],
            podman: &[],
            hostmatch: &[],
        },
    );
}

#[test]
fn e2e_podman_rootless_name_and_uid_lines_sorted_by_host_id() {
    rootless_case(
        "name and uid lines, out of order",
        Rootless {
            subuid: &["{user}:300000:1000", "{uid}:200000:65536"],
            subgid: &["{user}:500000:2000", "{user}:400000:65536"],
            podman: &[],
            hostmatch: &[],
        },
    );
}

#[test]
fn e2e_podman_rootless_keep_id() {
    rootless_case(
        "keep-id",
        Rootless {
            subuid: &["{user}:200000:65536"],
            subgid: &["{user}:200000:65536"],
            podman: &["--userns=keep-id"],
            hostmatch: &["--keep-id"],
        },
    );
}

#[test]
fn e2e_podman_rootless_keep_id_with_explicit_ids() {
    rootless_case(
        "keep-id:uid=100,gid=200",
        Rootless {
            subuid: &["{user}:200000:1000", "{user}:300000:65536"],
            subgid: &["{user}:200000:65536"],
            podman: &["--userns=keep-id:uid=100,gid=200"],
            hostmatch: &["--keep-id=100:200"],
        },
    );
}

#[test]
fn e2e_podman_rootless_userns_auto() {
    rootless_case(
        "rootless auto:size=2000",
        Rootless {
            subuid: &["{user}:300000:1000", "{user}:200000:3000"],
            subgid: &["{user}:200000:65536"],
            podman: &["--userns=auto:size=2000"],
            hostmatch: &["--auto=2000"],
        },
    );
}

/// Podman 4.3 gives the kernel `--userns=auto`'s map unsplit: a size that spans two of
/// the user's ranges is refused (the prediction refuses it too).
#[test]
fn e2e_podman_rootless_userns_auto_across_two_ranges_refused_by_both() {
    rootless_case(
        "rootless auto:size=2000 across two ranges",
        Rootless {
            subuid: &["{user}:300000:1000", "{user}:200000:1500"],
            subgid: &["{user}:200000:65536"],
            podman: &["--userns=auto:size=2000"],
            hostmatch: &["--auto=2000"],
        },
    );
}

#[test]
fn e2e_podman_rootless_range_holding_the_users_own_uid_refused_by_both() {
    rootless_case(
        "own uid inside a range",
        Rootless {
            subuid: &["{user}:{uid}:1", "{user}:200000:65535"],
            subgid: &["{user}:200000:65536"],
            podman: &[],
            hostmatch: &[],
        },
    );
}

/// The engine asked through its API: `hostmatch map` alone predicts for the rootless
/// service's user, `translate` agrees, and `doctor` explains the same ids.
#[test]
fn e2e_podman_rootless_service_is_recognised_by_map_translate_and_doctor() {
    testkit::prereq_podman!(rootless);
    let p = Podman::rootless(RootlessConfig {
        subuid: vec!["{user}:300000:1000".into(), "{user}:200000:65536".into()],
        subgid: vec!["{user}:250000:65536".into()],
        podman: PodmanConfig::default(),
    })
    .expect("rootless Podman");
    busybox(&p);
    let api = p.start_service().expect("podman system service");
    let env = [("DOCKER_HOST", api.docker_host())];
    let v = hostmatch_json(&["map"], &env).expect("map");
    assert_eq!(
        v["rule_sets"],
        serde_json::json!(["podman-rootless"]),
        "{v}"
    );
    assert!(text(&v["chosen_by"]).contains("rootless Podman 4."), "{v}");
    let (u, g) = real_maps(&p, &[]).unwrap();
    assert_eq!(maps_of(&v), (u.clone(), g.clone()));
    let t = hostmatch_json(&["translate", "0", "1", "1001"], &env).expect("translate");
    let hosts: Vec<u64> = t["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = [0, 1, 1001]
        .iter()
        .map(|c| u.to_host(*c).unwrap() as u64)
        .collect();
    assert_eq!(hosts, want);
    let d = hostmatch_json(&["doctor"], &env).expect("doctor");
    let check = |id: &str| {
        d["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id}: {d:#}"))
    };
    let engine = check("engine");
    assert_eq!(engine["status"], "ok", "{engine}");
    assert!(
        text(&engine["summary"]).starts_with("rootless Podman 4."),
        "{engine}"
    );
    assert!(
        text(&engine["summary"]).contains("found by holds the socket"),
        "{engine}"
    );
    let explained = check("remap-explained")["summary"]
        .as_str()
        .unwrap()
        .to_string();
    let root = format!(
        "Container root becomes host uid {}, gid {}",
        u.to_host(0).unwrap(),
        g.to_host(0).unwrap()
    );
    assert!(explained.contains(&root), "{explained}");
    let u1000 = format!(
        "container uid 1000 becomes host uid {}",
        u.to_host(1000).unwrap()
    );
    assert!(explained.contains(&u1000), "{explained}");
    assert_eq!(check("rootless-namespace")["status"], "ok", "{d:#}");
    for helper in ["newuidmap", "newgidmap"] {
        assert_eq!(check(helper)["status"], "ok", "{d:#}");
    }
}

// ------------------------------------------------------------------ rootful

/// Rootful: appends `containers` lines (under the subid lock, held until the real
/// container ran) and compares the prediction with the real container.
fn rootful_case(name: &str, lines: &[&str], conf: &[&str], podman: &[&str], hostmatch: &[&str]) {
    rootful_case_with(name, lines, conf, &[], podman, hostmatch);
}

/// Like [`rootful_case`], with `storage` lines added to the fixture's storage.conf
/// (`[storage.options]`).
fn rootful_case_with(
    name: &str,
    lines: &[&str],
    conf: &[&str],
    storage: &[&str],
    podman: &[&str],
    hostmatch: &[&str],
) {
    testkit::prereq_podman!();
    let lock = SubidLock::acquire().unwrap();
    let _subids = HostSubids::add_locked(&lock, lines, lines).expect("containers lines");
    let config = PodmanConfig {
        containers_conf: conf
            .iter()
            .map(|l| ("containers".to_string(), l.to_string()))
            .collect(),
        // Podman 4.3's overlay driver cannot mount the ID-mapped copy of a layer when the
        // map has two extents here ("creating overlay mount ... permission denied"); vfs can.
        storage_driver: testkit::PodmanStorage::Vfs,
        ..PodmanConfig::default()
    };
    let p = Podman::rootful(config).expect("rootful Podman");
    if !storage.is_empty() {
        let path = p.dir().join("storage.conf");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("\n[storage.options]\n");
        for l in storage {
            text.push_str(&format!("{l}\n"));
        }
        std::fs::write(&path, text).unwrap();
    }
    busybox(&p);
    let (predicted, env) = if hostmatch.is_empty() {
        // Through the engine: its settings (containers.conf) decide.
        let api = p.start_service().expect("podman system service");
        let env = [("DOCKER_HOST", api.docker_host())];
        let v = hostmatch_json(&["map"], &env);
        if let Ok(v) = &v {
            assert_eq!(v["rule_sets"], serde_json::json!(["podman-rootful"]), "{v}");
        }
        (v, true)
    } else {
        let mut args = vec!["map", "--engine", "podman"];
        args.extend_from_slice(hostmatch);
        (hostmatch_json(&args, &[]), false)
    };
    eprintln!("{name}: asked the engine: {env}");
    assert_same(name, predicted, real_maps(&p, podman));
}

#[test]
fn e2e_podman_rootful_default_is_the_identity() {
    rootful_case("rootful default", &[], &[], &[], &[]);
}

#[test]
fn e2e_podman_rootful_userns_auto_one_range() {
    rootful_case(
        "auto:size=2000",
        &["containers:5000000:65536"],
        &[],
        &["--userns=auto:size=2000"],
        &["--auto=2000"],
    );
}

#[test]
fn e2e_podman_rootful_userns_auto_lowest_ranges_first() {
    rootful_case(
        "auto:size=3000 across two ranges",
        &["containers:5200000:1000", "containers:5100000:2500"],
        &[],
        &["--userns=auto:size=3000"],
        &["--auto=3000"],
    );
}

#[test]
fn e2e_podman_rootful_userns_auto_adjacent_ranges_merge() {
    rootful_case(
        "auto:size=1500, adjacent ranges",
        &["containers:5300000:1000", "containers:5301000:1000"],
        &[],
        &["--userns=auto:size=1500"],
        &["--auto=1500"],
    );
}

/// containers.conf `userns = "auto:size=1200"`: Podman 4.3 keeps only the mode from
/// there, and sizes by the image (busybox: 1235) but at least storage.conf's
/// `auto-userns-min-size` (2000 here), which hostmatch reads through the engine.
#[test]
fn e2e_podman_rootful_userns_auto_from_containers_conf_through_the_api() {
    rootful_case_with(
        "containers.conf userns = auto:size=1200, auto-userns-min-size = 2000",
        &["containers:5400000:65536"],
        &["userns = \"auto:size=1200\""],
        &["auto-userns-min-size = 2000"],
        &[],
        &[],
    );
}

#[test]
fn e2e_podman_rootful_keep_id_refused_by_both() {
    rootful_case(
        "rootful keep-id",
        &[],
        &[],
        &["--userns=keep-id"],
        &["--keep-id"],
    );
}
