//! `hostmatch doctor` on temporary sysroots with a fake /proc.

mod common;

use common::{text, Sysroot};

fn proc_dir(s: &Sysroot, max_userns: &str, release: &str) -> String {
    let p = s.file("fakeproc");
    std::fs::create_dir_all(p.join("sys/user")).unwrap();
    std::fs::create_dir_all(p.join("sys/kernel")).unwrap();
    std::fs::write(p.join("sys/user/max_user_namespaces"), max_userns).unwrap();
    std::fs::write(p.join("sys/kernel/osrelease"), release).unwrap();
    p.to_str().unwrap().to_string()
}

fn check<'a>(v: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    common::entry(v, "checks", id)
}

#[test]
fn json_has_every_check_with_status_summary_and_hint() {
    let s = Sysroot::new(Some("alice:100000:65536\n"), Some("alice:100000:65536\n"));
    s.write("etc/docker/daemon.json", "{\"userns-remap\": \"alice\"}");
    let proc = proc_dir(&s, "1000\n", "6.1.0-18-amd64\n");
    let r = s.run(&["--proc", &proc, "doctor", "--json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    for c in v["checks"].as_array().unwrap() {
        let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "status", "summary", "hint"]);
        assert!(["ok", "warn", "fail", "skip"].contains(&text(&c["status"])));
    }
    assert_eq!(check(&v, "userns")["status"], "ok");
    assert_eq!(check(&v, "userns-remap")["status"], "ok");
    assert!(text(&check(&v, "remap-mapping")["summary"]).contains("host uid 100000"));
    assert_eq!(check(&v, "engine")["status"], "skip");
    let rules = check(&v, "engine-rules");
    assert_eq!(rules["status"], "warn", "{rules}");
    let explained = text(&check(&v, "remap-explained")["summary"]).to_string();
    assert!(
        explained.contains("Docker 20.10 to 27") && explained.contains("Docker 28 and later"),
        "{explained}"
    );
    assert!(
        explained.contains("container uid 1000 becomes host uid 101000"),
        "{explained}"
    );
}

#[test]
fn disabled_user_namespaces_fail_with_a_hint() {
    let s = Sysroot::new(Some(""), Some(""));
    let proc = proc_dir(&s, "0\n", "5.10.0\n");
    let r = s.run(&["--proc", &proc, "doctor", "--json"]);
    assert_eq!(r.code, 1);
    let v = r.json();
    assert_eq!(check(&v, "userns")["status"], "fail");
    assert!(text(&check(&v, "userns")["hint"]).contains("max_user_namespaces"));
    assert_eq!(check(&v, "idmapped-mounts")["status"], "fail");
}

#[test]
fn ci_agent_layout_fails_subid_health_and_names_the_account() {
    let s = Sysroot::new(Some("agent:999:65536\n"), Some("agent:999:65536\n"));
    let proc = proc_dir(&s, "1000\n", "6.1.0\n");
    let r = s.run(&["--proc", &proc, "doctor"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("subid-health") && r.stdout.contains("alice"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains('\x1b'), "no colours when not a terminal");
}

#[test]
fn missing_subid_files_warn() {
    let s = Sysroot::new(None, None);
    let proc = proc_dir(&s, "1000\n", "6.1.0\n");
    let v = s.run(&["--proc", &proc, "doctor", "--json"]).json();
    assert_eq!(check(&v, "subuid")["status"], "warn");
    assert!(text(&check(&v, "subuid")["hint"]).contains("hostmatch subid add"));
}
