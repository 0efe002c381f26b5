//! The ownership commands end to end (the real binary, root, temp dirs on disk).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

fn hm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hostmatch"))
        .args(args)
        .env_remove("HOSTMATCH_ROOT")
        .output()
        .unwrap()
}

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("hm-cli-")
        .tempdir_in("/var/tmp")
        .unwrap()
}

fn owner(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
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

/// Bad input: exit 2, exactly one line on stderr, nothing on the tree changed.
fn assert_refused(o: &Output, code: i32, needle: &str, d: &Path) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(needle), "{err}");
    assert_eq!(owner(&d.join("a/f")), (1234, 1234));
    assert_eq!(owner(d), (1234, 1234));
}

#[test]
fn chown_reowns_and_reports_json() {
    testkit::prereq!(testkit::is_root(), "root (it changes owners)");
    let d = tree();
    let o = hm(&[
        "chown",
        s(d.path()),
        "--from",
        "1234:1234",
        "--to",
        "1000:",
        "--from",
        "1234:",
        "--json",
    ]);
    // clap: --from given twice is a usage error.
    assert_eq!(o.status.code(), Some(2));
    let o = hm(&[
        "chown",
        s(d.path()),
        "--from",
        "1234:",
        "--to",
        "1000:",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["scanned"], 3);
    assert_eq!(v["changed"], 3);
    assert_eq!(v["skipped_mounts"], 0);
    assert_eq!(v["errors"], serde_json::json!([]));
    assert_eq!(owner(&d.path().join("a/f")), (1000, 1234));
    let o = hm(&["chown", s(d.path()), "--from", "1234:", "--to", "1000:"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "scanned 3, changed 0"
    );
}

#[test]
fn chown_dry_run_changes_nothing() {
    testkit::prereq!(testkit::is_root(), "root (it changes owners)");
    let d = tree();
    let o = hm(&[
        "chown",
        s(d.path()),
        "--from",
        "1234:1234",
        "--to",
        "1:1",
        "--dry-run",
    ]);
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "scanned 3, would change 3"
    );
    assert_eq!(owner(&d.path().join("a/f")), (1234, 1234));
}

#[test]
fn chown_unknown_user_is_refused_and_nothing_changes() {
    testkit::prereq!(testkit::is_root(), "root (it changes owners)");
    let d = tree();
    let root = tmp();
    fs::create_dir(root.path().join("etc")).unwrap();
    fs::write(
        root.path().join("etc/passwd"),
        "alice:x:1000:1000::/h:/bin/sh\n",
    )
    .unwrap();
    fs::write(root.path().join("etc/group"), "alice:x:1000:\n").unwrap();
    let o = hm(&[
        "--root",
        s(root.path()),
        "chown",
        s(d.path()),
        "--from",
        "1234:",
        "--to",
        "bob:",
    ]);
    assert_refused(&o, 2, "unknown user 'bob'", d.path());
    // Names resolve under --root.
    let o = hm(&[
        "--root",
        s(root.path()),
        "chown",
        s(d.path()),
        "--from",
        "1234:1234",
        "--to",
        "alice:alice",
    ]);
    assert!(o.status.success());
    assert_eq!(owner(&d.path().join("a/f")), (1000, 1000));
}

#[test]
fn chown_missing_path_is_refused_before_any_change() {
    testkit::prereq!(testkit::is_root(), "root (it changes owners)");
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
    testkit::prereq!(testkit::is_root(), "root (it changes owners)");
    let d = tree();
    let o = hm(&[
        "shift",
        s(d.path()),
        "--map",
        "0:100000:65536",
        "--map",
        "1000:300000:10",
    ]);
    assert_refused(&o, 2, "overlap", d.path());
    let o = hm(&["shift", s(d.path()), "--map", "0:4294967295:2"]);
    assert_refused(&o, 2, "runs past", d.path());
    let o = hm(&["shift", s(d.path()), "--map", "0:100000"]);
    assert_refused(&o, 2, "CONTAINER:HOST:COUNT", d.path());
}

#[test]
fn shift_and_reverse_round_trip_and_count_unmapped() {
    testkit::prereq!(testkit::is_root(), "root (it changes owners)");
    let d = tree();
    let o = hm(&["shift", s(d.path()), "--map", "1000:101000:1000", "--json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["changed"], 3);
    assert_eq!(owner(&d.path().join("a/f")), (101234, 101234));
    let o = hm(&[
        "shift",
        s(d.path()),
        "--map",
        "1000:101000:1000",
        "--reverse",
    ]);
    assert!(o.status.success());
    assert_eq!(owner(&d.path().join("a/f")), (1234, 1234));
    // Ids outside every range are left alone and counted.
    let o = hm(&["shift", s(d.path()), "--map", "0:100000:1000", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["changed"], 0);
    assert_eq!(v["unmapped"], 6);
}

#[test]
fn not_root_is_refused_with_one_line() {
    testkit::prereq!(testkit::is_root(), "root (it changes owners)");
    testkit::prereq!(testkit::have_cmd("setpriv"), "setpriv");
    let d = tree();
    let o = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_hostmatch"))
        .args(["chown", s(d.path()), "--from", "1234:", "--to", "65534:"])
        .output()
        .unwrap();
    assert_refused(&o, 3, "must run as root", d.path());
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
    testkit::prereq!(testkit::is_root(), "root (it changes owners)");
    testkit::prereq!(testkit::have_cmd("getfacl"), "getfacl");
    let d = tree();
    let o = hm(&[
        "acl",
        "grant",
        "1000",
        s(d.path()),
        "--recursive",
        "--default",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(getfacl(&d.path().join("a")).contains("default:user:1000:rwx"));
    assert!(getfacl(&d.path().join("a/f")).contains("user:1000:rw-"));
    let o = hm(&["acl", "revoke", "1000", s(d.path()), "-R", "-d"]);
    assert!(o.status.success());
    assert!(!getfacl(&d.path().join("a")).contains("1000"));
    let o = hm(&["acl", "grant", "nosuchuser", s(d.path())]);
    assert_refused(&o, 2, "unknown user", d.path());
    let o = hm(&["acl", "grant", "1000", s(d.path()), "--perms", "rwq"]);
    assert_refused(&o, 2, "only r, w, x, X", d.path());
}

fn sysroot() -> tempfile::TempDir {
    let r = tmp();
    fs::create_dir(r.path().join("etc")).unwrap();
    fs::write(
        r.path().join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\ndockremap:x:999:999::/:/bin/false\n",
    )
    .unwrap();
    fs::write(
        r.path().join("etc/group"),
        "root:x:0:\nalice:x:1000:\ndockremap:x:999:\n",
    )
    .unwrap();
    // Container root is the host user, the rest from 100000.
    fs::write(
        r.path().join("etc/subuid"),
        "dockremap:1000:1\ndockremap:100000:65536\n",
    )
    .unwrap();
    fs::write(
        r.path().join("etc/subgid"),
        "dockremap:1000:1\ndockremap:100000:65536\n",
    )
    .unwrap();
    r
}

#[test]
fn volume_prepare_with_host_ids_creates_group_writable_entries_with_acl() {
    testkit::prereq!(testkit::is_root(), "root (it changes owners)");
    let d = tmp();
    let vol = d.path().join("www");
    let o = hm(&[
        "volume",
        "prepare",
        s(&vol),
        "--for",
        "33",
        "--host-ids",
        "100032:100032",
        "--dirs",
        "logs,cache/img",
        "--files",
        "logs/access.log",
        "--writable-by",
        "1000",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for p in ["", "logs", "cache", "cache/img", "logs/access.log"] {
        assert_eq!(owner(&vol.join(p)), (100032, 100032), "{p}");
    }
    let m = fs::metadata(vol.join("logs")).unwrap().mode();
    assert_eq!(m & 0o2070, 0o2070, "{m:o}");
    assert!(getfacl(&vol.join("logs")).contains("default:user:1000:rwx"));
    assert!(getfacl(&vol.join("logs/access.log")).contains("user:1000:rw-"));
    let o = hm(&[
        "volume",
        "prepare",
        s(&vol),
        "--for",
        "33",
        "--host-ids",
        "1:1",
        "--dirs",
        "../escape",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!d.path().join("escape").exists());
}

#[test]
fn volume_prepare_with_remap_uses_the_predicted_host_ids() {
    testkit::prereq!(testkit::is_root(), "root (it changes owners)");
    let r = sysroot();
    let d = tmp();
    let vol = d.path().join("www");
    let o = hm(&[
        "--root",
        s(r.path()),
        "volume",
        "prepare",
        s(&vol),
        "--for",
        "33",
        "--remap",
        "default",
        "--dirs",
        "logs",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // www-data 33 -> 100032 (the remap user's ranges start at 100000).
    assert_eq!(owner(&vol.join("logs")), (100032, 100032));
}

#[test]
fn group_link_edits_group_under_root_with_dry_run_diff() {
    let r = sysroot();
    let args = [
        "--root",
        s(r.path()),
        "group",
        "link",
        "60",
        "--remap",
        "default",
        "--name",
        "ctrsock",
        "--add",
        "alice",
    ];
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let o = hm(&dry);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("+ctrsock:x:100059:alice"));
    assert!(!fs::read_to_string(r.path().join("etc/group"))
        .unwrap()
        .contains("ctrsock"));
    let o = hm(&args);
    assert!(o.status.success());
    assert_eq!(
        fs::read_to_string(r.path().join("etc/group")).unwrap(),
        "root:x:0:\nalice:x:1000:\ndockremap:x:999:\nctrsock:x:100059:alice\n"
    );
    let o = hm(&[
        "--root",
        s(r.path()),
        "group",
        "link",
        "60",
        "--remap",
        "default",
        "--name",
        "x",
        "--add",
        "bob",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown user 'bob'"));
}

#[test]
fn json_errors_name_non_utf8_paths_and_exit_1() {
    testkit::prereq!(testkit::is_root(), "root (it changes owners)");
    let d = tree();
    use std::os::unix::ffi::OsStrExt;
    let bad = d.path().join(std::ffi::OsStr::from_bytes(b"stuck-\xff"));
    fs::write(&bad, "x").unwrap();
    std::os::unix::fs::lchown(&bad, Some(1234), Some(1234)).unwrap();
    let immutable = Command::new("chattr")
        .arg("+i")
        .arg(&bad)
        .status()
        .is_ok_and(|s| s.success());
    testkit::prereq!(immutable, "chattr +i (a filesystem with immutable files)");
    let o = hm(&[
        "chown",
        s(d.path()),
        "--from",
        "1234:",
        "--to",
        "1000:",
        "--json",
    ]);
    let _ = Command::new("chattr").arg("-i").arg(&bad).status();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["errors"].as_array().unwrap().len(), 1);
    assert!(v["errors"][0]["path"]
        .as_str()
        .unwrap()
        .contains("stuck-\u{fffd}"));
    assert_eq!(v["changed"], 3, "the rest was re-owned");
}
