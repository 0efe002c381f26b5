//! What users see of edits: bytes that are not UTF-8, control characters from
//! files, `--root` containment, ids at the edge, daemon.json byte for byte,
//! exit codes.

mod common;

use common::Sysroot;

#[test]
fn a_latin1_gecos_stops_nothing_and_is_kept_byte_for_byte() {
    let s = Sysroot::new(Some(""), Some(""));
    let mut passwd = common::PASSWD.as_bytes().to_vec();
    passwd.extend_from_slice(b"jose:x:1002:1002:Jos\xe9 Garc\xeda:/home/jose:/bin/sh\n");
    std::fs::write(s.file("etc/passwd"), &passwd).unwrap();
    let r = s.run(&["subid", "add", "jose"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(s.read("etc/subuid").starts_with("jose:"));
    assert_eq!(std::fs::read(s.file("etc/passwd")).unwrap(), passwd);
    let r = s.run(&["subid", "list", "jose"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_stdout_has("jose");
}

#[test]
fn subid_check_reads_an_owner_that_is_not_utf8() {
    let s = Sysroot::new(Some(""), Some(""));
    std::fs::write(s.file("etc/subuid"), b"jos\xe9:100000:65536\n").unwrap();
    let r = s.run(&["subid", "check"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_stdout_has("'jos\\xe9' is not a user");
}

#[test]
fn control_characters_from_files_never_reach_the_terminal_raw() {
    let s = Sysroot::new(
        Some("ev\x1b[2Jil:100000:65536\nbad:1:\r\x1b]0;x\x07\n"),
        Some(""),
    );
    for (args, shown) in [
        (&["subid", "check"][..], "ev\\x1b[2Jil"),
        (&["subid", "list"], "\\r\\x1b]0;x\\x07"),
        (&["subid", "add", "alice"], "\\r\\x1b]0;x\\x07"),
    ] {
        let r = s.run(args);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            !all.contains('\x1b') && !all.contains('\r') && !all.contains('\x07'),
            "{all:?}"
        );
        assert!(all.contains(shown), "{args:?}: {all}");
    }
}

#[test]
fn an_absolute_symlink_below_root_does_not_read_the_hosts_file() {
    let s = Sysroot::new(None, Some(""));
    s.write("etc/shadow", "root:*:1:0:99999:7:::\n");
    std::os::unix::fs::symlink("/etc/shadow", s.file("etc/subuid")).unwrap();
    let r = s.run(&["subid", "list", "--json"]);
    // The sysroot's shadow has no subid line syntax: a clean error about it,
    // never the host's shadow.
    assert_eq!(r.code, 2, "{} {}", r.stdout, r.stderr);
    r.assert_stderr_has("etc/subuid:1");
    std::fs::remove_file(s.file("etc/subuid")).unwrap();
    std::os::unix::fs::symlink("/etc/no-such-file-here", s.file("etc/subuid")).unwrap();
    let r = s.run(&["subid", "list", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["subuid"], serde_json::json!([]));
}

#[test]
fn the_no_id_is_refused_as_a_target_everywhere() {
    let s = Sysroot::new(Some(""), Some(""));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for args in [
        format!("chown {d} --from 0: --to 4294967295:"),
        format!("chown {d} --from :0 --to :4294967295"),
        format!("shift {d} --map 0:4294967294:2"),
        "subid add alice --start 4294967295 --count 1".into(),
        "subid add alice --start 4294967290 --count 6".into(),
    ] {
        let r = s.run_w(&args);
        r.assert_one_line_error(2, "4294967295");
    }
    assert_eq!(s.read("etc/subuid"), "");
    s.run_w("subid add alice --start 4294967290 --count 5").ok();
}

#[test]
fn docker_enable_then_disable_gives_back_the_original_bytes() {
    let s = Sysroot::new(Some("alice:100000:65536\n"), Some("alice:100000:65536\n"));
    let text = "\u{feff}{\n\t\"max-concurrent-downloads\": 123456789012345678901234,\n\t\"x\" : 1e2,\n\t\"log-opts\": {\"max-size\": \"10m\"}\n}\n";
    s.write("etc/docker/daemon.json", text);
    let r = s.run(&["docker", "enable", "alice"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        s.read("etc/docker/daemon.json"),
        "\u{feff}{\n\t\"max-concurrent-downloads\": 123456789012345678901234,\n\t\"x\" : 1e2,\n\t\"log-opts\": {\"max-size\": \"10m\"},\n\t\"userns-remap\": \"alice\"\n}\n"
    );
    let r = s.run(&["docker", "disable"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(s.read("etc/docker/daemon.json"), text);
}

#[test]
fn exit_codes_are_documented_in_help() {
    let s = Sysroot::new(None, None);
    let r = s.run(&["--help"]);
    r.assert_stdout_has("4  busy");
    r.assert_stdout_has("hostmatch repair");
}

#[test]
fn repair_on_a_clean_root_has_nothing_to_do() {
    let s = Sysroot::new(Some(""), Some(""));
    let r = s.run(&["repair"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "nothing to repair\n");
}
