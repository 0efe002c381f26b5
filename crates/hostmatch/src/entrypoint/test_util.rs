//! Helpers of the entrypoint's unit tests.

use std::fs;

use super::config::Config;
use super::plan::{plan, Decision, HostIds, MatchPlan, StartCreds, Target};
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
pub fn plan_for(root: &Sysroot, uid: u32, gid: u32, cfg: &Config) -> MatchPlan {
    let a = crate::accounts::Accounts::load(root).unwrap();
    let start = StartCreds::default();
    match plan(&a.passwd, &a.group, Some(HostIds { uid, gid }), &start, cfg).unwrap() {
        Decision::Match(p) => *p,
        d => panic!("{d:?}"),
    }
}

/// A temporary directory in a place setuid mode trusts (root-owned, not
/// writable by group or others, up to `/`): the workspace's target
/// directory, not /tmp. `None` (after a loud skip; a failure in CI) when
/// that place is not trusted here.
pub fn trusted_tempdir() -> Option<tempfile::TempDir> {
    let target = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target"));
    let trusted = super::check_trusted(target).is_ok();
    testkit::prereq_met(
        trusted,
        module_path!(),
        "a target directory owned by root and not writable by others, up to / (setuid mode trusts only such paths)",
    )
    .then(|| tempfile::tempdir_in(target).unwrap())
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
