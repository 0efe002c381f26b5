//! The ownership commands end to end (the real binary, root, temp dirs on disk).

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::{hostmatch as hm, hostmatch_w as hm_w, owner, Run};

fn tmp() -> tempfile::TempDir {
    common::disk_tmp("hm-cli-")
}

/// What every test here needs.
macro_rules! need_root {
    () => {
        testkit::prereq!(testkit::is_root(), "root (it changes owners)")
    };
}

/// A tree of three entries owned by 1234:1234.
fn tree() -> tempfile::TempDir {
    let d = tmp();
    fs::create_dir(d.path().join("a")).unwrap();
    fs::write(d.path().join("a/f"), "x").unwrap();
    for p in [
        d.path().to_path_buf(),
        d.path().join("a"),
        d.path().join("a/f"),
    ] {
        std::os::unix::fs::lchown(&p, Some(1234), Some(1234)).unwrap();
    }
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `hostmatch shift DIR MAPS`.
fn shift(d: &Path, maps: &str) -> Run {
    hm_w(&format!("shift {} {maps}", s(d)))
}

/// Bad input: exit 2, exactly one line on stderr, nothing on the tree changed.
fn assert_refused(o: &Run, code: i32, needle: &str, d: &Path) {
    let err = &o.stderr;
    o.assert_code(code);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(needle), "{err}");
    assert_eq!(owner(&d.join("a/f")), (1234, 1234));
    assert_eq!(owner(d), (1234, 1234));
}

#[test]
fn chown_reowns_and_reports_json() {
    need_root!();
    let d = tree();
    let chown = format!("chown {} --from 1234: --to 1000:", s(d.path()));
    // clap: --from given twice is a usage error.
    hm_w(&format!("{chown} --from 1234:1234 --json")).assert_code(2);
    let v = hm_w(&format!("{chown} --json")).ok().json();
    assert_eq!(v["scanned"], 3);
    assert_eq!(v["changed"], 3);
    assert_eq!(v["skipped_mounts"], 0);
    assert_eq!(v["errors"], serde_json::json!([]));
    assert_eq!(owner(&d.path().join("a/f")), (1000, 1234));
    assert_eq!(hm_w(&chown).stdout.trim(), "scanned 3, changed 0");
}

#[test]
fn chown_dry_run_changes_nothing() {
    need_root!();
    let d = tree();
    let o = hm_w(&format!(
        "chown {} --from 1234:1234 --to 1:1 --dry-run",
        s(d.path())
    ));
    assert_eq!(o.ok().stdout.trim(), "scanned 3, would change 3");
    assert_eq!(owner(&d.path().join("a/f")), (1234, 1234));
}

#[test]
fn chown_unknown_user_is_refused_and_nothing_changes() {
    need_root!();
    let d = tree();
    let root = common::Sysroot::new(None, None);
    root.write("etc/passwd", "alice:x:1000:1000::/h:/bin/sh\n");
    root.write("etc/group", "alice:x:1000:\n");
    let o = root.run(&["chown", s(d.path()), "--from", "1234:", "--to", "bob:"]);
    assert_refused(&o, 2, "unknown user 'bob'", d.path());
    // Names resolve under --root.
    root.run(&[
        "chown",
        s(d.path()),
        "--from",
        "1234:1234",
        "--to",
        "alice:alice",
    ])
    .ok();
    assert_eq!(owner(&d.path().join("a/f")), (1000, 1000));
}

#[test]
fn chown_missing_path_is_refused_before_any_change() {
    need_root!();
    let d = tree();
    let missing = d.path().join("nope");
    let o = hm(&[
        "chown",
        s(d.path()),
        s(&missing),
        "--from",
        "1234:",
        "--to",
        "1:",
    ]);
    assert_refused(&o, 2, "no such file or directory", d.path());
}

#[test]
fn shift_overlapping_or_overflowing_maps_are_refused() {
    need_root!();
    let d = tree();
    let o = shift(d.path(), "--map 0:100000:65536 --map 1000:300000:10");
    assert_refused(&o, 2, "overlap", d.path());
    assert_refused(
        &shift(d.path(), "--map 0:4294967295:2"),
        2,
        "runs past",
        d.path(),
    );
    let o = shift(d.path(), "--map 0:100000");
    assert_refused(&o, 2, "CONTAINER:HOST:COUNT", d.path());
}

#[test]
fn shift_and_reverse_round_trip_and_count_unmapped() {
    need_root!();
    let d = tree();
    let v = shift(d.path(), "--map 1000:101000:1000 --json").ok().json();
    assert_eq!(v["changed"], 3);
    assert_eq!(owner(&d.path().join("a/f")), (101234, 101234));
    shift(d.path(), "--map 1000:101000:1000 --reverse").ok();
    assert_eq!(owner(&d.path().join("a/f")), (1234, 1234));
    // Ids outside every range are left alone and counted.
    let v = shift(d.path(), "--map 0:100000:1000 --json").json();
    assert_eq!(v["changed"], 0);
    assert_eq!(v["unmapped"], 6);
}

#[test]
fn not_root_is_refused_with_one_line() {
    need_root!();
    testkit::prereq!(testkit::have_cmd("setpriv"), "setpriv");
    let d = tree();
    let o = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_hostmatch"))
        .args(["chown", s(d.path()), "--from", "1234:", "--to", "65534:"])
        .output()
        .unwrap();
    assert_refused(&Run::from(o), 3, "must run as root", d.path());
}

fn getfacl(p: &Path) -> String {
    let o = Command::new("getfacl")
        .args(["-cpn"])
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn acl_grant_recursive_default_then_revoke() {
    need_root!();
    testkit::prereq!(testkit::have_cmd("getfacl"), "getfacl");
    let d = tree();
    hm(&[
        "acl",
        "grant",
        "1000",
        s(d.path()),
        "--recursive",
        "--default",
    ])
    .ok();
    assert!(getfacl(&d.path().join("a")).contains("default:user:1000:rwx"));
    assert!(getfacl(&d.path().join("a/f")).contains("user:1000:rw-"));
    hm(&["acl", "revoke", "1000", s(d.path()), "-R", "-d"]).ok();
    assert!(!getfacl(&d.path().join("a")).contains("1000"));
    let o = hm(&["acl", "grant", "nosuchuser", s(d.path())]);
    assert_refused(&o, 2, "unknown user", d.path());
    let o = hm(&["acl", "grant", "1000", s(d.path()), "--perms", "rwq"]);
    assert_refused(&o, 2, "only r, w, x, X", d.path());
}

/// Container root is the host user, the rest from 100000.
fn sysroot() -> common::Sysroot {
    let ranges = "dockremap:1000:1\ndockremap:100000:65536\n";
    let r = common::Sysroot::new(Some(ranges), Some(ranges));
    r.write(
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\ndockremap:x:999:999::/:/bin/false\n",
    );
    r.write("etc/group", "root:x:0:\nalice:x:1000:\ndockremap:x:999:\n");
    r
}

#[test]
fn volume_prepare_with_host_ids_creates_group_writable_entries_with_acl() {
    need_root!();
    let d = tmp();
    let vol = d.path().join("www");
    hm_w(&format!(
        "volume prepare {} --for 33 --host-ids 100032:100032 --dirs logs,cache/img \
         --files logs/access.log --writable-by 1000 --json",
        s(&vol)
    ))
    .ok();
    for p in ["", "logs", "cache", "cache/img", "logs/access.log"] {
        assert_eq!(owner(&vol.join(p)), (100032, 100032), "{p}");
    }
    let m = fs::metadata(vol.join("logs")).unwrap().mode();
    assert_eq!(m & 0o2070, 0o2070, "{m:o}");
    assert!(getfacl(&vol.join("logs")).contains("default:user:1000:rwx"));
    assert!(getfacl(&vol.join("logs/access.log")).contains("user:1000:rw-"));
    hm_w(&format!(
        "volume prepare {} --for 33 --host-ids 1:1 --dirs ../escape",
        s(&vol)
    ))
    .assert_code(2);
    assert!(!d.path().join("escape").exists());
}

#[test]
fn volume_prepare_with_remap_uses_the_predicted_host_ids() {
    need_root!();
    let r = sysroot();
    let d = tmp();
    let vol = d.path().join("www");
    r.run_w(&format!(
        "volume prepare {} --for 33 --remap default --dirs logs",
        s(&vol)
    ))
    .ok();
    // www-data 33 -> 100032 (the remap user's ranges start at 100000).
    assert_eq!(owner(&vol.join("logs")), (100032, 100032));
}

#[test]
fn group_link_edits_group_under_root_with_dry_run_diff() {
    let r = sysroot();
    let link = "group link 60 --remap default --name ctrsock --add alice";
    r.run_w(&format!("{link} --dry-run"))
        .ok()
        .assert_stdout_has("+ctrsock:x:100059:alice");
    assert!(!r.read("etc/group").contains("ctrsock"));
    r.run_w(link).ok();
    assert_eq!(
        r.read("etc/group"),
        "root:x:0:\nalice:x:1000:\ndockremap:x:999:\nctrsock:x:100059:alice\n"
    );
    r.run_w("group link 60 --remap default --name x --add bob")
        .assert_stderr_has("unknown user 'bob'");
}

#[test]
fn json_errors_name_non_utf8_paths_and_exit_1() {
    need_root!();
    let d = tree();
    use std::os::unix::ffi::OsStrExt;
    let bad = d.path().join(std::ffi::OsStr::from_bytes(b"stuck-\xff"));
    fs::write(&bad, "x").unwrap();
    std::os::unix::fs::lchown(&bad, Some(1234), Some(1234)).unwrap();
    let immutable = testkit::Immutable::set(&bad);
    testkit::prereq!(
        immutable.is_some(),
        "chattr +i (a filesystem with immutable files)"
    );
    let o = hm_w(&format!(
        "chown {} --from 1234: --to 1000: --json",
        s(d.path())
    ));
    drop(immutable);
    let v = o.assert_code(1).json();
    assert_eq!(v["errors"].as_array().unwrap().len(), 1);
    assert!(v["errors"][0]["path"]
        .as_str()
        .unwrap()
        .contains("stuck-\u{fffd}"));
    assert_eq!(v["changed"], 3, "the rest was re-owned");
}
