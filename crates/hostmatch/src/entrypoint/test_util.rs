//! Helpers of the entrypoint's unit tests.

use std::fs;

use super::config::Config;
use super::plan::{plan, Decision, HostIds, Plan, StartCreds, Target};
use crate::sysroot::Sysroot;

/// A sysroot with these /etc/passwd and /etc/group.
pub fn sysroot_with(passwd: &str, group: &str) -> (tempfile::TempDir, Sysroot) {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("etc")).unwrap();
    fs::write(d.path().join("etc/passwd"), passwd).unwrap();
    fs::write(d.path().join("etc/group"), group).unwrap();
    let r = Sysroot::new(d.path());
    (d, r)
}

/// The plan for host ids `uid:gid` on the sysroot's accounts.
pub fn plan_for(root: &Sysroot, uid: u32, gid: u32, cfg: &Config) -> Plan {
    let a = crate::accounts::Accounts::load(root).unwrap();
    let start = StartCreds::default();
    match plan(&a.passwd, &a.group, Some(HostIds { uid, gid }), &start, cfg).unwrap() {
        Decision::Match(p) => *p,
        d => panic!("{d:?}"),
    }
}

/// Whether the test runs as root; otherwise a loud skip (a failure in CI).
pub fn need_root() -> bool {
    if crate::sys::geteuid() != 0 {
        eprintln!("SKIP: needs root (chown)");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run as root"
        );
        return false;
    }
    true
}

/// The command's credentials of an account app 1000:1000.
pub fn target() -> Target {
    Target {
        user: "app".into(),
        group: "app".into(),
        uid: 1000,
        gid: 1000,
        groups: vec![1000],
        home: "/home/app".into(),
        shell: "/bin/bash".into(),
    }
}
