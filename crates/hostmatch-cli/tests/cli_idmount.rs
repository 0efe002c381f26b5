//! `hostmatch mount|mounts|umount` through the binary: exit codes, one-line
//! errors, nothing left mounted, and the listing from a fake mountinfo.

mod common;

use common::Sysroot;

fn mounted_at(p: &std::path::Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = p.to_str().unwrap();
    info.lines().any(|l| l.split(' ').nth(4) == Some(p))
}

#[test]
fn mount_usage_errors_exit_2_with_one_line() {
    let s = Sysroot::new(None, None);
    let src = s.file("src");
    std::fs::create_dir(&src).unwrap();
    let dst = s.file("dst");
    let (src, dst) = (src.to_str().unwrap(), dst.to_str().unwrap());
    for args in [
        vec!["mount", src, dst],
        vec!["mount", src, dst, "--map", "1:2"],
        vec!["mount", src, dst, "--map", "0:5:10", "--map", "5:100:1"],
        vec!["mount", src, dst, "--map", "0:4294967290:10"],
        vec!["mount", src, dst, "--owner-as", "1", "--map", "0:1:1"],
        vec!["mount", src, dst, "--owner-as", "bob"],
        vec!["mount", src, dst, "--remap", "default", "--owner-as", "1"],
        vec!["mount", src, dst, "--container-user", "5", "--map", "0:0:1"],
    ] {
        let r = s.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(!std::path::Path::new(dst).exists(), "{args:?} created DST");
    }
    let r = s.run(&["mount", src, dst, "--map", "0:5:10", "--map", "5:100:1"]);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    r.assert_stderr_has("overlap on the stored ids");
}

#[test]
fn mount_errors_name_the_cause_and_leave_nothing_mounted() {
    testkit::prereq!(testkit::is_root(), "root (mounting needs it)");
    let s = Sysroot::new(None, None);
    let dst = s.file("dst");
    let d = dst.to_str().unwrap();
    // Unsupported filesystem: exit 3, named.
    let r = s.run(&["mount", "/proc/sys", d, "--map", "0:1000:1"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("procfs") && r.stderr.contains("does not support ID-mapped mounts"));
    assert!(!dst.exists() && !mounted_at(&dst));
    // Missing source: exit 2.
    let missing = s.file("missing");
    let r = s.run(&["mount", missing.to_str().unwrap(), d, "--owner-as", "1"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    r.assert_stderr_has("source does not exist");
    assert!(!dst.exists());
}

#[test]
fn mount_list_and_umount_round_trip() {
    testkit::prereq!(testkit::is_root(), "root (mounting needs it)");
    let s = Sysroot::new(None, None);
    let base = tempfile::tempdir_in("/var/tmp").unwrap();
    let src = base.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::os::unix::fs::chown(&src, Some(1000), Some(1000)).unwrap();
    let dst = base.path().join("a/b/dst");
    let (srcs, dsts) = (src.to_str().unwrap(), dst.to_str().unwrap());
    let r = s.run(&[
        "--json",
        "mount",
        srcs,
        dsts,
        "--owner-as",
        "1234",
        "--read-only",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["read_only"], true);
    let r = s.run(&["mounts", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    let mine = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["dst"] == dsts)
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert_eq!(mine["src"], srcs);
    assert_eq!(mine["read_only"], true);
    let text = s.run(&["mounts"]).stdout;
    assert!(text.contains("uid 1000->1234,1234->1000"), "{text}");
    // Busy target: exit 2, the first mount stays.
    let r = s.run(&["mount", srcs, dsts, "--map", "0:0:1"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("busy"));
    let r = s.run(&["umount", dsts]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!mounted_at(&dst));
    assert!(
        !base.path().join("a").exists(),
        "created parents are removed"
    );
    let r = s.run(&["umount", dsts]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn mounts_lists_idmapped_mounts_from_mountinfo_and_records() {
    let s = Sysroot::new(None, None);
    s.write(
        "fakeproc/self/mountinfo",
        "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
         140 22 259:2 /srv/ws /mnt/ws rw,relatime,idmapped shared:1 - ext4 /dev/vda rw\n\
         141 22 0:50 / /mnt/other ro,relatime,idmapped - tmpfs tmpfs rw\n",
    );
    s.write(
        "run/hostmatch/mounts.json",
        r#"{"mounts":[{"src":"/srv/ws","dst":"/mnt/ws","mapping":{"uid_map":[{"container":1000,"host":100000,"count":1}],"gid_map":[{"container":1000,"host":100000,"count":1}]},"recursive":false,"read_only":false,"how":"--map 1000:100000:1"}]}"#,
    );
    let proc = s.file("fakeproc");
    let r = s.run(&["--proc", proc.to_str().unwrap(), "mounts"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_stdout_has("/mnt/ws  <- /srv/ws  [ext4 rw]  uid 1000->100000");
    assert!(r.stdout.contains("/mnt/other") && r.stdout.contains("not made by hostmatch"));
    let r = s.run(&["--proc", proc.to_str().unwrap(), "--json", "mounts"]);
    let v = r.json();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["record"]["how"], "--map 1000:100000:1");
    assert!(v[1]["record"].is_null());
    assert_eq!(v[1]["read_only"], true);
}

#[test]
fn mount_without_root_is_a_permission_error_exit_3() {
    testkit::prereq!(testkit::is_root(), "root (mounting needs it)");
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let base = tempfile::tempdir_in("/var/tmp").unwrap();
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let src = base.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let dst = base.path().join("dst");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hostmatch"))
        .arg("--root")
        .arg(base.path())
        .arg("mount")
        .arg(&src)
        .arg(&dst)
        .args(["--owner-as", "1234"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("need root"), "{stderr}");
    assert!(!dst.exists() && !mounted_at(&dst));
}
