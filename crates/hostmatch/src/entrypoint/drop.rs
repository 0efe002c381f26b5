//! Dropping privileges in the only safe order, then proving it worked.

use crate::entrypoint::plan::Target;
use crate::ids::Id;
use crate::sys::Credentials;
use crate::{Error, Result};

/// setgroups -> setresgid -> setresuid, then [`verify`]. A root target
/// (uid 0) is left untouched.
pub fn drop_privileges(c: &mut dyn Credentials, t: &Target) -> Result<()> {
    if t.uid == 0 {
        return Ok(());
    }
    c.setgroups(&t.groups)?;
    c.setresgid(t.gid)?;
    c.setresuid(t.uid)?;
    verify(c, t.uid, t.gid, &t.groups)
}

/// Checks that every uid and gid is the target's, that the supplementary
/// groups are exactly `groups`, that regaining root fails and that no
/// capability is left.
pub fn verify(c: &mut dyn Credentials, uid: Id, gid: Id, groups: &[Id]) -> Result<()> {
    let fail = |what: String| Err(Error::Permission(format!("privilege drop failed: {what}")));
    if c.getresuid() != (uid, uid, uid) {
        return fail(format!("uids are {:?}, want {uid}", c.getresuid()));
    }
    if c.getresgid() != (gid, gid, gid) {
        return fail(format!("gids are {:?}, want {gid}", c.getresgid()));
    }
    let mut have = c.getgroups()?;
    have.sort_unstable();
    have.dedup();
    let mut want = groups.to_vec();
    want.sort_unstable();
    want.dedup();
    if have != want {
        return fail(format!("groups are {have:?}, want {want:?}"));
    }
    if c.regain_root_succeeds() {
        return fail("setuid(0) succeeded after the drop".into());
    }
    let (eff, prm) = c.capabilities()?;
    if eff != 0 || prm != 0 {
        return fail(format!(
            "capabilities left: effective {eff:#x}, permitted {prm:#x}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records calls and models the kernel's rules for a process that starts
    /// with root's credentials.
    #[derive(Default)]
    struct Mock {
        calls: Vec<String>,
        uid: (Id, Id, Id),
        gid: (Id, Id, Id),
        groups: Vec<Id>,
        caps: u64,
        /// Fault injection.
        ignore_setresuid: bool,
        keep_caps: bool,
    }

    impl Mock {
        fn root() -> Self {
            Mock {
                caps: 0x1ff_ffff_ffff,
                groups: vec![0],
                ..Mock::default()
            }
        }
        fn is_root(&self) -> bool {
            self.uid.1 == 0
        }
    }

    impl Credentials for Mock {
        fn setgroups(&mut self, g: &[Id]) -> Result<()> {
            self.calls.push(format!("setgroups {g:?}"));
            if !self.is_root() {
                return Err(Error::Permission("EPERM".into()));
            }
            self.groups = g.to_vec();
            Ok(())
        }
        fn setresgid(&mut self, gid: Id) -> Result<()> {
            self.calls.push(format!("setresgid {gid}"));
            if !self.is_root() {
                return Err(Error::Permission("EPERM".into()));
            }
            self.gid = (gid, gid, gid);
            Ok(())
        }
        fn setresuid(&mut self, uid: Id) -> Result<()> {
            self.calls.push(format!("setresuid {uid}"));
            if !self.is_root() {
                return Err(Error::Permission("EPERM".into()));
            }
            if !self.ignore_setresuid {
                self.uid = (uid, uid, uid);
                if uid != 0 && !self.keep_caps {
                    self.caps = 0;
                }
            }
            Ok(())
        }
        fn getresuid(&self) -> (Id, Id, Id) {
            self.uid
        }
        fn getresgid(&self) -> (Id, Id, Id) {
            self.gid
        }
        fn getgroups(&self) -> Result<Vec<Id>> {
            Ok(self.groups.clone())
        }
        fn regain_root_succeeds(&mut self) -> bool {
            self.calls.push("setuid 0".into());
            self.is_root() || self.uid.0 == 0 || self.uid.2 == 0
        }
        fn capabilities(&self) -> Result<(u64, u64)> {
            Ok((self.caps, self.caps))
        }
    }

    fn target(uid: Id, gid: Id, groups: Vec<Id>) -> Target {
        Target {
            user: "app".into(),
            group: "app".into(),
            uid,
            gid,
            groups,
            home: "/home/app".into(),
            shell: "/bin/sh".into(),
        }
    }

    #[test]
    fn drop_order_is_groups_then_gid_then_uid_then_check() {
        let mut m = Mock::root();
        drop_privileges(&mut m, &target(1000, 1000, vec![27, 1000])).unwrap();
        assert_eq!(
            m.calls,
            vec![
                "setgroups [27, 1000]",
                "setresgid 1000",
                "setresuid 1000",
                "setuid 0"
            ]
        );
        assert_eq!(m.uid, (1000, 1000, 1000));
        assert_eq!(m.gid, (1000, 1000, 1000));
    }

    #[test]
    fn gid_0_target_keeps_process_gid_0_with_own_groups() {
        let mut m = Mock::root();
        drop_privileges(&mut m, &target(1000, 0, vec![1234])).unwrap();
        assert_eq!(m.gid, (0, 0, 0));
        assert_eq!(m.groups, vec![1234]);
    }

    #[test]
    fn root_target_is_untouched() {
        let mut m = Mock::root();
        drop_privileges(&mut m, &target(0, 0, vec![])).unwrap();
        assert!(m.calls.is_empty());
    }

    #[test]
    fn a_drop_the_kernel_ignored_is_caught() {
        let mut m = Mock {
            ignore_setresuid: true,
            ..Mock::root()
        };
        let e = drop_privileges(&mut m, &target(1000, 1000, vec![1000])).unwrap_err();
        assert!(e.to_string().contains("uids are"), "{e}");
    }

    #[test]
    fn leftover_capabilities_are_caught() {
        let mut m = Mock {
            keep_caps: true,
            ..Mock::root()
        };
        let e = drop_privileges(&mut m, &target(1000, 1000, vec![1000])).unwrap_err();
        assert!(e.to_string().contains("capabilities left"), "{e}");
    }

    #[test]
    fn failing_setgroups_stops_before_any_id_change() {
        let mut m = Mock::root();
        m.uid = (5, 5, 5);
        assert!(drop_privileges(&mut m, &target(1000, 1000, vec![])).is_err());
        assert_eq!(m.calls, vec!["setgroups []"]);
    }
}
