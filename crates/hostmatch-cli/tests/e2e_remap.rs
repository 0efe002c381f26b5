//! Truth tests for `hostmatch map`: a real dockerd 20.10 with `--userns-remap=SPEC`,
//! a real container's /proc/self/uid_map and gid_map, for many /etc/subuid and
//! /etc/subgid layouts (`common::layouts`, where each layout also says what Docker 28 and
//! later do: those are tested without a daemon by `cli_engine`).
//!
//! Per layout two tests:
//! - `e2e_remap_<layout>_dockerd_truth`: the real maps (or dockerd's refusal) equal what the
//!   layout says for Docker up to 27 (documents dockerd's behaviour and checks the harness);
//! - `e2e_remap_<layout>_map_matches_dockerd`: `hostmatch map SPEC --json` equals the real
//!   maps. For layouts in the host's files it asks the running daemon (DOCKER_HOST) for its
//!   version and must choose the rules of Docker up to 27 itself; in a private /etc it is
//!   told the daemon's version with `--engine docker:VERSION`.
//!
//! dockerd reads the REAL /etc/passwd, /etc/group, /etc/subuid and /etc/subgid, so each
//! test creates its own users (`hmt-<pid>-<n>`) and appends its own lines, removed again
//! afterwards (testkit::HostUser, testkit::HostSubids). Layouts that would stop (or
//! endanger) every remapping dockerd on the machine use a private copy of /etc.

mod common;

use std::process::Command;

use common::layouts::{self, DockerLayout, Expect, Kind, Who};
use common::text;
use hostmatch::ids::{Extent, IdMap};
use testkit::{
    Dockerd, DockerdConfig, EtcCopy, HostGroup, HostSubids, HostUser, StorageDriver, SubidLock,
};

fn map(extents: &[(u32, u32, u32)]) -> IdMap {
    IdMap::new(
        extents
            .iter()
            .map(|&(container, host, count)| Extent {
                container,
                host,
                count,
            })
            .collect(),
    )
    .expect("a valid expected map")
}

fn user() -> HostUser {
    HostUser::unique().expect("creating a test user")
}

/// The running dockerd's version (`dockerd --version`), for `--engine docker:VERSION`.
fn dockerd_version() -> String {
    let out = Command::new(testkit::which("dockerd").expect("dockerd"))
        .arg("--version")
        .output()
        .expect("dockerd --version");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(2)
        .map(|v| v.trim_end_matches(',').to_string())
        .unwrap_or_else(|| panic!("unexpected dockerd --version: {text}"))
}

/// A layout in the host's files, with the fixtures kept alive for the test.
struct HostLayout {
    layout: DockerLayout,
    driver: StorageDriver,
    _subids: HostSubids,
    _groups: Vec<HostGroup>,
    _users: Vec<HostUser>,
}

fn host_layout(kind: Kind) -> HostLayout {
    assert!(!kind.damages_the_files(), "{kind:?} is for a private /etc");
    // SPEC = uid without a group: dockerd wants a group whose gid is the uid.
    let u = if kind == Kind::NumericLinesUidSpec {
        HostUser::unique_with_uid_eq_gid().expect("a test user with uid == gid")
    } else {
        user()
    };
    let other = user();
    let group = HostGroup::unique().expect("test group");
    let who = Who {
        name: u.name.clone(),
        uid: u.uid,
        gid: u.gid,
        other: other.name.clone(),
        group: group.name.clone(),
    };
    let layout = layouts::docker_layout(kind, &who);
    let subids =
        HostSubids::add(&layout.subuid, &layout.subgid).expect("appending test subid lines");
    let driver = match kind {
        Kind::CiAgent | Kind::NumericLinesUidSpec => StorageDriver::Vfs,
        _ => StorageDriver::Overlay2,
    };
    HostLayout {
        layout,
        driver,
        _subids: subids,
        _groups: vec![group],
        _users: vec![u, other],
    }
}

/// Starts a dockerd with `--userns-remap=spec` and returns the maps a container gets.
fn real_maps(spec: &str, driver: StorageDriver) -> (IdMap, IdMap) {
    let d = start(spec, driver, None)
        .unwrap_or_else(|e| panic!("dockerd --userns-remap={spec}: {e:#}"));
    container_maps(&d)
}

fn start(spec: &str, driver: StorageDriver, etc: Option<&EtcCopy>) -> testkit::Result<Dockerd> {
    let config = DockerdConfig {
        storage_driver: driver,
        userns_remap: Some(spec.to_string()),
        extra_args: vec![],
    };
    match etc {
        Some(e) => Dockerd::start_with_etc(config, &e.etc()),
        None => Dockerd::start(config),
    }
}

fn container_maps(d: &Dockerd) -> (IdMap, IdMap) {
    layouts::dockerd_container_maps(d)
}

/// Like [`real_maps`]; with `etc`, dockerd sees that copy as its /etc.
fn real_maps_in(spec: &str, driver: StorageDriver, etc: Option<&EtcCopy>) -> (IdMap, IdMap) {
    let d =
        start(spec, driver, etc).unwrap_or_else(|e| panic!("dockerd --userns-remap={spec}: {e:#}"));
    container_maps(&d)
}

/// `hostmatch --root ROOT map SPEC ARGS --json` (with `env`), parsed.
fn predicted_in(
    spec: &str,
    root: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (IdMap, IdMap, serde_json::Value) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hostmatch"));
    c.arg("--root")
        .arg(root)
        .args(["map", spec, "--json"])
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("running hostmatch");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "hostmatch map {spec} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "hostmatch map --json printed invalid JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let get = |k: &str| -> IdMap {
        let ext: Vec<Extent> = serde_json::from_value(v[k].clone())
            .unwrap_or_else(|e| panic!("{k} is not a list of {{container,host,count}}: {e}: {v}"));
        IdMap::new(ext).expect("a valid map")
    };
    (get("uid_map"), get("gid_map"), v)
}

/// `hostmatch --root / map SPEC --engine docker:VERSION --json` (the running dockerd's version).
fn predicted(spec: &str) -> (IdMap, IdMap) {
    let v = format!("docker:{}", dockerd_version());
    let (u, g, _) = predicted_in(spec, std::path::Path::new("/"), &["--engine", &v], &[]);
    (u, g)
}

fn maps_of(e: &Expect) -> Option<(IdMap, IdMap)> {
    match e {
        Expect::Maps(u, g) | Expect::MapsHostZero(u, g) => Some((map(u), map(g))),
        Expect::Refused(_) => None,
    }
}

fn truth(kind: Kind) {
    testkit::prereq_dockerd!();
    let l = host_layout(kind);
    let (u, g) = real_maps(&l.layout.spec, l.driver);
    let (eu, eg) = maps_of(&l.layout.up_to_27).expect("a layout dockerd takes");
    assert_eq!(
        u, eu,
        "{kind:?}: uid_map for --userns-remap={}",
        l.layout.spec
    );
    assert_eq!(
        g, eg,
        "{kind:?}: gid_map for --userns-remap={}",
        l.layout.spec
    );
}

/// The daemon runs first; `hostmatch map` asks it (DOCKER_HOST) which rules apply.
fn prediction(kind: Kind) {
    testkit::prereq_dockerd!();
    let l = host_layout(kind);
    let spec = &l.layout.spec;
    let d = start(spec, l.driver, None)
        .unwrap_or_else(|e| panic!("dockerd --userns-remap={spec}: {e:#}"));
    let (pu, pg, v) = predicted_in(
        spec,
        std::path::Path::new("/"),
        &[],
        &[("DOCKER_HOST", d.host())],
    );
    assert_eq!(
        v["rule_sets"],
        serde_json::json!(["docker-up-to-27"]),
        "{v}"
    );
    assert!(
        text(&v["chosen_by"]).starts_with("the running engine, Docker 20.10"),
        "{v}"
    );
    let (u, g) = container_maps(&d);
    assert_eq!(
        pu, u,
        "{kind:?}: hostmatch map {spec} predicted uid_map\n{pu}but dockerd installed\n{u}"
    );
    assert_eq!(
        pg, g,
        "{kind:?}: hostmatch map {spec} predicted gid_map\n{pg}but dockerd installed\n{g}"
    );
}

/// Two tests a layout: `truth(kind)` and `prediction(kind)` under the names given.
macro_rules! layouts {
    ($truth_fn:ident, $pred_fn:ident: $($kind:ident => $truth:ident, $pred:ident;)+) => {$(
        #[test]
        fn $truth() {
            $truth_fn(Kind::$kind);
        }
        #[test]
        fn $pred() {
            $pred_fn(Kind::$kind);
        }
    )+};
}

layouts! { truth, prediction:
    Single => e2e_remap_single_range_dockerd_truth, e2e_remap_single_range_map_matches_dockerd;
    OwnUidFirst => e2e_remap_own_uid_then_range_dockerd_truth, e2e_remap_own_uid_then_range_map_matches_dockerd;
    CiAgent => e2e_remap_ci_agent_range_from_own_uid_dockerd_truth, e2e_remap_ci_agent_range_from_own_uid_map_matches_dockerd;
    OutOfOrder => e2e_remap_unsorted_lines_stack_in_file_order_dockerd_truth, e2e_remap_unsorted_lines_stack_in_file_order_map_matches_dockerd;
    NumericLinesUidSpec => e2e_remap_uid_lines_beat_name_lines_uid_spec_dockerd_truth, e2e_remap_uid_lines_beat_name_lines_uid_spec_map_matches_dockerd;
    NumericLinesNameSpec => e2e_remap_uid_or_name_lines_chosen_per_file_dockerd_truth, e2e_remap_uid_or_name_lines_chosen_per_file_map_matches_dockerd;
    UserGroup => e2e_remap_user_group_subgid_searched_for_user_dockerd_truth, e2e_remap_user_group_subgid_searched_for_user_map_matches_dockerd;
    Interleaved => e2e_remap_other_users_lines_interleaved_dockerd_truth, e2e_remap_other_users_lines_interleaved_map_matches_dockerd;
}

// ---------------------------------------------------------------- `default`

/// `owner:start:count` lines of a subid file (dockerd skips empty and `#` lines).
fn file_ranges(path: &str) -> Vec<(String, u32, u32)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((
                f.first()?.to_string(),
                f.get(1)?.parse().ok()?,
                f.get(2)?.parse().ok()?,
            ))
        })
        .collect()
}

/// dockerd 20.10's choice for dockremap's 65536 ids, as observed (see the docs): from
/// 100000, walk all ranges sorted by start; a range hit by the (inclusive, incomplete)
/// overlap test moves the start past it.
fn dockerd_default_start(ranges: &[(String, u32, u32)]) -> u32 {
    let mut r: Vec<(u64, u64)> = ranges
        .iter()
        .map(|(_, s, c)| (*s as u64, *c as u64))
        .collect();
    r.sort();
    let mut start = 100_000u64;
    for (s, c) in r {
        let (low, high) = (start, start + 65536);
        if (low >= s && low <= s + c) || (high <= s + c && high >= s) {
            start = s + c;
        }
    }
    start as u32
}

/// The maps dockerd should install for `default` given the files now.
fn expected_default() -> (IdMap, IdMap, bool) {
    let exists = testkit::getent("passwd", "dockremap").unwrap().is_some();
    let one = |path: &str| -> IdMap {
        let all = file_ranges(path);
        let mut mine: Vec<(u32, u32)> = vec![];
        if let Some(e) = testkit::getent("passwd", "dockremap").unwrap() {
            let uid = e.split(':').nth(2).unwrap().to_string();
            mine = all
                .iter()
                .filter(|(o, ..)| *o == uid)
                .map(|(_, s, c)| (*s, *c))
                .collect();
        }
        if mine.is_empty() {
            mine = all
                .iter()
                .filter(|(o, ..)| o == "dockremap")
                .map(|(_, s, c)| (*s, *c))
                .collect();
        }
        if mine.is_empty() {
            mine = vec![(dockerd_default_start(&all), 65536)];
        }
        let mut next = 0;
        map(&mine
            .iter()
            .map(|&(s, c)| {
                let e = (next, s, c);
                next += c;
                e
            })
            .collect::<Vec<_>>())
    };
    (one("/etc/subuid"), one("/etc/subgid"), exists)
}

/// Runs `check(prediction_or_expectation, real)` for `--userns-remap=default`, with lines
/// of a test user at 100000 so that dockerd's allocation has something to step over.
/// Holds the subid lock throughout: no other harness test changes the files meanwhile.
fn default_case(use_hostmatch: bool) {
    testkit::prereq_dockerd!();
    let lock = SubidLock::acquire().unwrap();
    let u = user();
    let _subids = HostSubids::add_locked(
        &lock,
        &[
            format!("{}:100000:65536", u.name),
            format!("{}:165536:10", u.name),
        ],
        &[format!("{}:100000:65536", u.name)],
    )
    .unwrap();
    let (eu, eg, existed) = expected_default();
    // A `dockremap` created here stays, as after any `dockerd --userns-remap=default`:
    // removing it could break another test run using it. The allocation itself is
    // exercised every time by the private-/etc tests below.
    if existed {
        eprintln!("NOTE: dockremap exists already: its ranges are used, no allocation is tested");
    }
    let (wu, wg) = if use_hostmatch {
        predicted("default")
    } else {
        (eu, eg)
    };
    let (u_real, g_real) = real_maps("default", StorageDriver::Vfs);
    assert_eq!(
        wu, u_real,
        "default: uid_map (dockremap existed before: {existed})"
    );
    assert_eq!(
        wg, g_real,
        "default: gid_map (dockremap existed before: {existed})"
    );
    if !existed {
        // Our own lines were there: the allocation had to step over them.
        assert!(u_real.extents()[0].host >= 165_546, "{u_real}");
        assert!(g_real.extents()[0].host >= 165_536, "{g_real}");
    }
}

#[test]
fn e2e_remap_default_with_host_files_dockerd_truth() {
    default_case(false);
}

#[test]
fn e2e_remap_default_with_host_files_map_matches_dockerd() {
    default_case(true);
}

// ------------------------------------------- `default` in a private /etc

/// dockremap's allocation, isolated: dockerd runs with a private copy of /etc (its own
/// mount namespace) without `dockremap`, so it must create the account and allocate, and the
/// host's files are never touched. The subid files are those of the layout.
fn private_default(name: &str) -> (EtcCopy, (IdMap, IdMap)) {
    let etc = EtcCopy::new().expect("copy of /etc");
    etc.remove_account("dockremap").unwrap();
    let d = layouts::default_layout(name);
    etc.write("subuid", d.subuid).unwrap();
    etc.write("subgid", d.subgid).unwrap();
    (etc, (map(&d.up_to_27.0), map(&d.up_to_27.1)))
}

fn private_default_truth(name: &str) {
    testkit::prereq_dockerd!();
    testkit::prereq!(testkit::have_cmd("unshare"), "unshare (util-linux)");
    let host_had_dockremap = testkit::getent("passwd", "dockremap").unwrap().is_some();
    let (etc, (eu, eg)) = private_default(name);
    let (u, g) = real_maps_in("default", StorageDriver::Vfs, Some(&etc));
    assert_eq!(u, eu, "{name}: uid_map");
    assert_eq!(g, eg, "{name}: gid_map");
    // dockerd created the account and wrote its lines in the copy only.
    assert!(etc
        .read("passwd")
        .lines()
        .any(|l| l.starts_with("dockremap:")));
    let line = |m: &IdMap| format!("dockremap:{}:{}", m.extents()[0].host, m.extents()[0].count);
    assert!(
        etc.read("subuid").lines().any(|l| l == line(&u)),
        "{}",
        etc.read("subuid")
    );
    assert!(
        etc.read("subgid").lines().any(|l| l == line(&g)),
        "{}",
        etc.read("subgid")
    );
    assert_eq!(
        testkit::getent("passwd", "dockremap").unwrap().is_some(),
        host_had_dockremap,
        "the host's accounts were changed"
    );
}

fn private_default_prediction(name: &str) {
    testkit::prereq_dockerd!();
    testkit::prereq!(testkit::have_cmd("unshare"), "unshare (util-linux)");
    let (etc, _) = private_default(name);
    let engine = format!("docker:{}", dockerd_version());
    let (pu, pg, _) = predicted_in("default", etc.root(), &["--engine", &engine], &[]);
    let (u, g) = real_maps_in("default", StorageDriver::Vfs, Some(&etc));
    assert_eq!(
        pu, u,
        "{name}: hostmatch map default predicted uid_map\n{pu}but dockerd installed\n{u}"
    );
    assert_eq!(
        pg, g,
        "{name}: hostmatch map default predicted gid_map\n{pg}but dockerd installed\n{g}"
    );
}

#[test]
fn e2e_remap_default_allocation_quirks_dockerd_truth() {
    private_default_truth("quirks");
}

#[test]
fn e2e_remap_default_allocation_quirks_map_matches_dockerd() {
    private_default_prediction("quirks");
}

#[test]
fn e2e_remap_default_existing_subuid_line_dockerd_truth() {
    private_default_truth("existing-subuid-line");
}

#[test]
fn e2e_remap_default_existing_subuid_line_map_matches_dockerd() {
    private_default_prediction("existing-subuid-line");
}

// ------------------------------------ damaged files, in a private /etc

/// A private /etc with account `hmtp` (uid/gid 4500) and the layout's subid files.
fn private_layout(kind: Kind) -> (EtcCopy, DockerLayout) {
    let etc = EtcCopy::new().expect("copy of /etc");
    etc.append("passwd", &["hmtp:x:4500:4500::/nonexistent:/bin/false"])
        .unwrap();
    etc.append("group", &["hmtp:x:4500:"]).unwrap();
    let who = Who {
        name: "hmtp".into(),
        uid: 4500,
        gid: 4500,
        other: "other".into(),
        group: "hmtp".into(),
    };
    let l = layouts::docker_layout(kind, &who);
    let text = |v: &[String]| v.iter().map(|l| format!("{l}\n")).collect::<String>();
    etc.write("subuid", &text(&l.subuid)).unwrap();
    etc.write("subgid", &text(&l.subgid)).unwrap();
    (etc, l)
}

/// The real daemon in the private /etc: its maps, or its refusal (the end of its log).
fn private_truth(kind: Kind) {
    testkit::prereq_dockerd!();
    testkit::prereq!(testkit::have_cmd("unshare"), "unshare (util-linux)");
    let (etc, l) = private_layout(kind);
    match (&l.up_to_27, start(&l.spec, StorageDriver::Vfs, Some(&etc))) {
        (Expect::Refused(msg), Err(err)) => {
            assert!(format!("{err:#}").contains(msg), "{kind:?}: {err:#}")
        }
        (Expect::Refused(_), Ok(_)) => panic!("{kind:?}: dockerd started"),
        (want, Ok(d)) => {
            let (u, g) = container_maps(&d);
            assert_eq!(Some((u, g)), maps_of(want), "{kind:?}");
        }
        (_, Err(e)) => panic!("{kind:?}: dockerd did not start: {e:#}"),
    }
}

/// `hostmatch map` (told the daemon's version) predicts the same maps, or fails too (exit 2
/// or 3, one line on stderr) where dockerd refuses to start.
fn private_prediction(kind: Kind) {
    testkit::prereq_dockerd!();
    testkit::prereq!(testkit::have_cmd("unshare"), "unshare (util-linux)");
    let (etc, l) = private_layout(kind);
    let engine = format!("docker:{}", dockerd_version());
    let out = Command::new(env!("CARGO_BIN_EXE_hostmatch"))
        .arg("--root")
        .arg(etc.root())
        .args(["map", &l.spec, "--engine", &engine, "--json"])
        .output()
        .unwrap();
    match start(&l.spec, StorageDriver::Vfs, Some(&etc)) {
        Err(_) => {
            assert!(
                !out.status.success(),
                "{kind:?}: dockerd refuses to start, but hostmatch map predicted {}",
                String::from_utf8_lossy(&out.stdout)
            );
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.trim().lines().count(), 1, "{kind:?}: one line: {err}");
        }
        Ok(d) => {
            let (u, g) = container_maps(&d);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!("{kind:?}: {e}: {}", String::from_utf8_lossy(&out.stderr))
            });
            let m = |k: &str| IdMap::new(serde_json::from_value(v[k].clone()).unwrap()).unwrap();
            assert_eq!((m("uid_map"), m("gid_map")), (u, g), "{kind:?}");
        }
    }
}

layouts! { private_truth, private_prediction:
    OtherUsersFourFields => e2e_remap_refusal_other_users_four_field_line_dockerd_truth, e2e_remap_refusal_other_users_four_field_line_map_fails_too;
    OwnLineNotNumeric => e2e_remap_refusal_own_line_not_numeric_dockerd_truth, e2e_remap_refusal_own_line_not_numeric_map_fails_too;
    NoSubgidLine => e2e_remap_refusal_no_subgid_line_dockerd_truth, e2e_remap_refusal_no_subgid_line_map_fails_too;
    Tolerated => e2e_remap_tolerated_lines_dockerd_truth, e2e_remap_tolerated_lines_map_matches_dockerd;
}
