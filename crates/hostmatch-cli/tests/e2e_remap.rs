//! Truth tests for `hostmatch map`: a real dockerd 20.10 with `--userns-remap=SPEC`,
//! a real container's /proc/self/uid_map and gid_map, for many /etc/subuid and
//! /etc/subgid layouts.
//!
//! Per layout two tests:
//! - `e2e_remap_<layout>_dockerd_truth`: the real maps equal maps computed by hand from
//!   the rules in docs/dockerd-remap-behaviour.md (documents dockerd's behaviour and
//!   checks the harness);
//! - `e2e_remap_<layout>_map_matches_dockerd`: `hostmatch --root / map SPEC --json`,
//!   run before the daemon starts, equals the real maps.
//!
//! dockerd reads the REAL /etc/passwd, /etc/group, /etc/subuid and /etc/subgid, so each
//! test creates its own users (`hmt-<pid>-<n>`) and appends its own lines, removed again
//! afterwards (testkit::HostUser, testkit::HostSubids).

use std::process::Command;

use hostmatch::ids::{Extent, IdMap};
use testkit::{
    Dockerd, DockerdConfig, EtcCopy, HostGroup, HostSubids, HostUser, StorageDriver, SubidLock,
};

/// A layout under test: the fixtures (kept alive for the test) and what to expect.
struct Layout {
    spec: String,
    uid_map: IdMap,
    gid_map: IdMap,
    driver: StorageDriver,
    _subids: HostSubids,
    _groups: Vec<HostGroup>,
    _users: Vec<HostUser>,
}

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

fn lines(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn subids(uid: &[String], gid: &[String]) -> HostSubids {
    HostSubids::add(&lines(uid), &lines(gid)).expect("appending test subid lines")
}

/// The layouts: each builds its fixtures and the maps dockerd is expected to install.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// One range per file, by name.
    Single,
    /// Seed 002's safe layout: `user:UID:1` then `user:100000:65535` (gid likewise).
    Seed002,
    /// Seed 001's layout: `agent:UID:65536` (covers real host accounts; dockerd takes it).
    Seed001,
    /// Several lines, not sorted: stacked in file order.
    OutOfOrder,
    /// Lines written with the numeric uid, SPEC a uid: the name line is ignored.
    NumericLinesUidSpec,
    /// SPEC a name; subuid has a name line AND a uid line (uid line wins), subgid only a
    /// name line (used): the choice is made per file.
    NumericLinesNameSpec,
    /// `user:group`: subgid is searched for the USER; the group's own line is ignored.
    UserGroup,
    /// Another user's lines between the user's lines.
    Interleaved,
}

fn layout(kind: Kind) -> Layout {
    let u = match kind {
        // SPEC = uid without a group: dockerd wants a group whose gid is the uid.
        Kind::NumericLinesUidSpec => {
            HostUser::unique_with_uid_eq_gid().expect("a test user with uid == gid")
        }
        _ => user(),
    };
    let (n, uid, gid) = (u.name.clone(), u.uid, u.gid);
    let s = |parts: &[(&str, u32, u32)]| -> Vec<String> {
        parts
            .iter()
            .map(|(o, st, c)| format!("{o}:{st}:{c}"))
            .collect()
    };
    let mut users = vec![];
    let mut groups = vec![];
    let (spec, su, sg, um, gm, driver) = match kind {
        Kind::Single => (
            n.clone(),
            s(&[(&n, 2_000_000, 65536)]),
            s(&[(&n, 2_100_000, 65536)]),
            map(&[(0, 2_000_000, 65536)]),
            map(&[(0, 2_100_000, 65536)]),
            StorageDriver::Overlay2,
        ),
        Kind::Seed002 => (
            n.clone(),
            s(&[(&n, uid, 1), (&n, 100_000, 65535)]),
            s(&[(&n, gid, 1), (&n, 100_000, 65535)]),
            map(&[(0, uid, 1), (1, 100_000, 65535)]),
            map(&[(0, gid, 1), (1, 100_000, 65535)]),
            StorageDriver::Overlay2,
        ),
        Kind::Seed001 => (
            n.clone(),
            s(&[(&n, uid, 65536)]),
            s(&[(&n, gid, 65536)]),
            map(&[(0, uid, 65536)]),
            map(&[(0, gid, 65536)]),
            StorageDriver::Vfs,
        ),
        Kind::OutOfOrder => {
            let l = s(&[(&n, 300_000, 1000), (&n, 1500, 1), (&n, 200_000, 65536)]);
            let m = map(&[(0, 300_000, 1000), (1000, 1500, 1), (1001, 200_000, 65536)]);
            (
                n.clone(),
                l.clone(),
                l,
                m.clone(),
                m,
                StorageDriver::Overlay2,
            )
        }
        Kind::NumericLinesUidSpec => {
            let id = uid.to_string();
            (
                id.clone(),
                s(&[(&id, 2_200_000, 65536), (&n, 2_300_000, 65536)]),
                s(&[(&n, 2_400_000, 65536), (&id, 2_500_000, 65536)]),
                map(&[(0, 2_200_000, 65536)]),
                map(&[(0, 2_500_000, 65536)]),
                StorageDriver::Vfs,
            )
        }
        Kind::NumericLinesNameSpec => {
            let id = uid.to_string();
            (
                n.clone(),
                s(&[
                    (&n, 2_600_000, 65536),
                    (&id, 2_700_000, 65536),
                    (&n, 2_800_000, 10),
                ]),
                s(&[(&n, 2_900_000, 65536)]),
                map(&[(0, 2_700_000, 65536)]),
                map(&[(0, 2_900_000, 65536)]),
                StorageDriver::Overlay2,
            )
        }
        Kind::UserGroup => {
            let g = HostGroup::unique().expect("test group");
            let spec = format!("{n}:{}", g.name);
            let r = (
                spec,
                s(&[(&n, 3_000_000, 65536)]),
                s(&[(&g.name, 3_100_000, 65536), (&n, 3_200_000, 65536)]),
                map(&[(0, 3_000_000, 65536)]),
                map(&[(0, 3_200_000, 65536)]),
                StorageDriver::Overlay2,
            );
            groups.push(g);
            r
        }
        Kind::Interleaved => {
            let o = user();
            let l = s(&[
                (&n, 3_300_000, 1000),
                (&o.name, 3_400_000, 65536),
                (&n, 3_500_000, 65536),
            ]);
            users.push(o);
            let m = map(&[(0, 3_300_000, 1000), (1000, 3_500_000, 65536)]);
            (
                n.clone(),
                l.clone(),
                l,
                m.clone(),
                m,
                StorageDriver::Overlay2,
            )
        }
    };
    users.insert(0, u);
    Layout {
        spec,
        uid_map: um,
        gid_map: gm,
        driver,
        _subids: subids(&su, &sg),
        _groups: groups,
        _users: users,
    }
}

/// Starts a dockerd with `--userns-remap=spec` and returns the maps a container gets.
fn real_maps(spec: &str, driver: StorageDriver) -> (IdMap, IdMap) {
    real_maps_in(spec, driver, None)
}

/// Like [`real_maps`]; with `etc`, dockerd sees that copy as its /etc.
fn real_maps_in(spec: &str, driver: StorageDriver, etc: Option<&EtcCopy>) -> (IdMap, IdMap) {
    let config = DockerdConfig {
        storage_driver: driver,
        userns_remap: Some(spec.to_string()),
        extra_args: vec![],
    };
    let d = match etc {
        Some(e) => Dockerd::start_with_etc(config, &e.etc()),
        None => Dockerd::start(config),
    }
    .unwrap_or_else(|e| panic!("dockerd --userns-remap={spec}: {e:#}"));
    d.import(
        testkit::images::busybox_rootfs_tar().expect("busybox image"),
        "busybox",
    );
    let out = d.run_ok([
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map",
    ]);
    let (u, g) = out
        .split_once("--\n")
        .unwrap_or_else(|| panic!("unexpected container output: {out}"));
    (
        IdMap::parse(u).expect("kernel uid_map"),
        IdMap::parse(g).expect("kernel gid_map"),
    )
}

/// `hostmatch --root / map SPEC --json`, parsed.
fn predicted(spec: &str) -> (IdMap, IdMap) {
    predicted_in(spec, std::path::Path::new("/"))
}

/// `hostmatch --root ROOT map SPEC --json`, parsed.
fn predicted_in(spec: &str, root: &std::path::Path) -> (IdMap, IdMap) {
    let out = Command::new(env!("CARGO_BIN_EXE_hostmatch"))
        .arg("--root")
        .arg(root)
        .args(["map", spec, "--json"])
        .output()
        .expect("running hostmatch");
    assert!(
        out.status.success(),
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
    (get("uid_map"), get("gid_map"))
}

fn truth(kind: Kind) {
    testkit::prereq_dockerd!();
    let l = layout(kind);
    let (u, g) = real_maps(&l.spec, l.driver);
    assert_eq!(
        u, l.uid_map,
        "{kind:?}: uid_map for --userns-remap={}",
        l.spec
    );
    assert_eq!(
        g, l.gid_map,
        "{kind:?}: gid_map for --userns-remap={}",
        l.spec
    );
}

fn prediction(kind: Kind) {
    testkit::prereq_dockerd!();
    let l = layout(kind);
    let (pu, pg) = predicted(&l.spec);
    let (u, g) = real_maps(&l.spec, l.driver);
    assert_eq!(
        pu, u,
        "{kind:?}: hostmatch map {} predicted uid_map\n{pu}but dockerd installed\n{u}",
        l.spec
    );
    assert_eq!(
        pg, g,
        "{kind:?}: hostmatch map {} predicted gid_map\n{pg}but dockerd installed\n{g}",
        l.spec
    );
}

macro_rules! layouts {
    ($($kind:ident => $truth:ident, $pred:ident;)+) => {$(
        #[test]
        fn $truth() {
            truth(Kind::$kind);
        }
        #[test]
        fn $pred() {
            prediction(Kind::$kind);
        }
    )+};
}

layouts! {
    Single => e2e_remap_single_range_dockerd_truth, e2e_remap_single_range_map_matches_dockerd;
    Seed002 => e2e_remap_seed002_own_uid_then_range_dockerd_truth, e2e_remap_seed002_own_uid_then_range_map_matches_dockerd;
    Seed001 => e2e_remap_seed001_range_from_own_uid_dockerd_truth, e2e_remap_seed001_range_from_own_uid_map_matches_dockerd;
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
/// host's files are never touched. The subid files are replaced by `subuid`/`subgid`.
struct PrivateDefault {
    etc: EtcCopy,
    uid_map: IdMap,
    gid_map: IdMap,
}

#[derive(Clone, Copy, Debug)]
enum DefaultCase {
    /// subuid: a range at 100000 and one touching its end (`165536:10`): dockerd's
    /// inclusive overlap test steps over the touching one too (start 165546). subgid: a
    /// range lying INSIDE 100000-165535 (`120000:10`): dockerd's test misses it and
    /// allocates 100000, overlapping it.
    Quirks,
    /// A `dockremap` line exists in subuid only (no account yet): it is used as is, and only
    /// subgid gets a fresh range; unsorted lines are walked sorted by start.
    ExistingSubuidLine,
}

fn private_default(case: DefaultCase) -> PrivateDefault {
    let etc = EtcCopy::new().expect("copy of /etc");
    etc.remove_account("dockremap").unwrap();
    let (su, sg, um, gm) = match case {
        DefaultCase::Quirks => (
            "other:100000:65536\nother:165536:10\n",
            "other:120000:10\n",
            map(&[(0, 165_546, 65536)]),
            map(&[(0, 100_000, 65536)]),
        ),
        DefaultCase::ExistingSubuidLine => (
            "dockremap:700000:2000\n",
            "other:300000:65536\nother:100000:65536\nother:180000:65536\n",
            map(&[(0, 700_000, 2000)]),
            map(&[(0, 365_536, 65536)]),
        ),
    };
    etc.write("subuid", su).unwrap();
    etc.write("subgid", sg).unwrap();
    PrivateDefault {
        etc,
        uid_map: um,
        gid_map: gm,
    }
}

fn private_default_truth(case: DefaultCase) {
    testkit::prereq_dockerd!();
    testkit::prereq!(testkit::have_cmd("unshare"), "unshare (util-linux)");
    let host_had_dockremap = testkit::getent("passwd", "dockremap").unwrap().is_some();
    let p = private_default(case);
    let (u, g) = real_maps_in("default", StorageDriver::Vfs, Some(&p.etc));
    assert_eq!(u, p.uid_map, "{case:?}: uid_map");
    assert_eq!(g, p.gid_map, "{case:?}: gid_map");
    // dockerd created the account and wrote its lines in the copy only.
    assert!(p
        .etc
        .read("passwd")
        .lines()
        .any(|l| l.starts_with("dockremap:")));
    let line = |m: &IdMap| format!("dockremap:{}:{}", m.extents()[0].host, m.extents()[0].count);
    assert!(
        p.etc.read("subuid").lines().any(|l| l == line(&u)),
        "{}",
        p.etc.read("subuid")
    );
    assert!(
        p.etc.read("subgid").lines().any(|l| l == line(&g)),
        "{}",
        p.etc.read("subgid")
    );
    assert_eq!(
        testkit::getent("passwd", "dockremap").unwrap().is_some(),
        host_had_dockremap,
        "the host's accounts were changed"
    );
}

fn private_default_prediction(case: DefaultCase) {
    testkit::prereq_dockerd!();
    testkit::prereq!(testkit::have_cmd("unshare"), "unshare (util-linux)");
    let p = private_default(case);
    let (pu, pg) = predicted_in("default", p.etc.root());
    let (u, g) = real_maps_in("default", StorageDriver::Vfs, Some(&p.etc));
    assert_eq!(
        pu, u,
        "{case:?}: hostmatch map default predicted uid_map\n{pu}but dockerd installed\n{u}"
    );
    assert_eq!(
        pg, g,
        "{case:?}: hostmatch map default predicted gid_map\n{pg}but dockerd installed\n{g}"
    );
}

#[test]
fn e2e_remap_default_allocation_quirks_dockerd_truth() {
    private_default_truth(DefaultCase::Quirks);
}

#[test]
fn e2e_remap_default_allocation_quirks_map_matches_dockerd() {
    private_default_prediction(DefaultCase::Quirks);
}

#[test]
fn e2e_remap_default_existing_subuid_line_dockerd_truth() {
    private_default_truth(DefaultCase::ExistingSubuidLine);
}

#[test]
fn e2e_remap_default_existing_subuid_line_map_matches_dockerd() {
    private_default_prediction(DefaultCase::ExistingSubuidLine);
}

// ------------------------------------ malformed files, in a private /etc

/// A private /etc with account `hmtp` (uid/gid 4500) and the given subid files.
fn private_etc_with(subuid: &str, subgid: &str) -> EtcCopy {
    let etc = EtcCopy::new().expect("copy of /etc");
    etc.append("passwd", &["hmtp:x:4500:4500::/nonexistent:/bin/false"])
        .unwrap();
    etc.append("group", &["hmtp:x:4500:"]).unwrap();
    etc.write("subuid", subuid).unwrap();
    etc.write("subgid", subgid).unwrap();
    etc
}

#[derive(Clone, Copy, Debug)]
enum Bad {
    /// A line of ANOTHER user with 4 fields: dockerd refuses to start.
    OtherUsersLineWithFourFields,
    /// The user's own line with a non-numeric start: dockerd refuses to start.
    OwnLineNotNumeric,
    /// No subgid line for the user: dockerd refuses to start.
    NoSubgidLine,
}

fn bad_files(case: Bad) -> (EtcCopy, &'static str) {
    let ok = "hmtp:600000:65536\n";
    match case {
        Bad::OtherUsersLineWithFourFields => (
            private_etc_with("other:1:2:3\nhmtp:600000:65536\n", ok),
            "Format not correct",
        ),
        Bad::OwnLineNotNumeric => (
            private_etc_with("hmtp:600000:65536\nhmtp:abc:10\n", ok),
            "String to int conversion failed",
        ),
        Bad::NoSubgidLine => (
            private_etc_with(ok, "other:700000:65536\n"),
            "no subgid ranges found",
        ),
    }
}

fn refusal_truth(case: Bad) {
    testkit::prereq_dockerd!();
    testkit::prereq!(testkit::have_cmd("unshare"), "unshare (util-linux)");
    let (etc, msg) = bad_files(case);
    let config = DockerdConfig {
        storage_driver: StorageDriver::Vfs,
        userns_remap: Some("hmtp".into()),
        extra_args: vec![],
    };
    let err = Dockerd::start_with_etc(config, &etc.etc())
        .err()
        .unwrap_or_else(|| panic!("{case:?}: dockerd started"));
    assert!(format!("{err:#}").contains(msg), "{case:?}: {err:#}");
}

/// dockerd refuses to start: `hostmatch map` must fail too (exit 2 or 3, one line on
/// stderr), not predict a map.
fn refusal_prediction(case: Bad) {
    testkit::prereq!(testkit::is_root(), "root");
    let (etc, _) = bad_files(case);
    let out = Command::new(env!("CARGO_BIN_EXE_hostmatch"))
        .arg("--root")
        .arg(etc.root())
        .args(["map", "hmtp", "--json"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{case:?}: dockerd refuses to start, but hostmatch map predicted {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{case:?}: one line: {err}");
}

#[test]
fn e2e_remap_refusal_other_users_four_field_line_dockerd_truth() {
    refusal_truth(Bad::OtherUsersLineWithFourFields);
}

#[test]
fn e2e_remap_refusal_other_users_four_field_line_map_fails_too() {
    refusal_prediction(Bad::OtherUsersLineWithFourFields);
}

#[test]
fn e2e_remap_refusal_own_line_not_numeric_dockerd_truth() {
    refusal_truth(Bad::OwnLineNotNumeric);
}

#[test]
fn e2e_remap_refusal_own_line_not_numeric_map_fails_too() {
    refusal_prediction(Bad::OwnLineNotNumeric);
}

#[test]
fn e2e_remap_refusal_no_subgid_line_dockerd_truth() {
    refusal_truth(Bad::NoSubgidLine);
}

#[test]
fn e2e_remap_refusal_no_subgid_line_map_fails_too() {
    refusal_prediction(Bad::NoSubgidLine);
}

/// Lines dockerd tolerates: another user's non-numeric line, a comment, blank lines and
/// surrounding whitespace.
fn tolerated_etc() -> EtcCopy {
    private_etc_with(
        "# comment\nother:abc:10\n\n  hmtp:600000:65536  \n",
        "hmtp:610000:65536\n",
    )
}

#[test]
fn e2e_remap_tolerated_lines_dockerd_truth() {
    testkit::prereq_dockerd!();
    testkit::prereq!(testkit::have_cmd("unshare"), "unshare (util-linux)");
    let etc = tolerated_etc();
    let (u, g) = real_maps_in("hmtp", StorageDriver::Vfs, Some(&etc));
    assert_eq!(u, map(&[(0, 600_000, 65536)]));
    assert_eq!(g, map(&[(0, 610_000, 65536)]));
}

#[test]
fn e2e_remap_tolerated_lines_map_matches_dockerd() {
    testkit::prereq_dockerd!();
    testkit::prereq!(testkit::have_cmd("unshare"), "unshare (util-linux)");
    let etc = tolerated_etc();
    let (pu, pg) = predicted_in("hmtp", etc.root());
    let (u, g) = real_maps_in("hmtp", StorageDriver::Vfs, Some(&etc));
    assert_eq!(pu, u, "predicted uid_map\n{pu}but dockerd installed\n{u}");
    assert_eq!(pg, g, "predicted gid_map\n{pg}but dockerd installed\n{g}");
}
