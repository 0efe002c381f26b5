//! Root mode's host ids: `HOSTMATCH_UID`/`HOSTMATCH_GID` from the invoker,
//! else the owner of `match_path`, the bind-mounted host directory.
//!
//! `match_path` must never let the workload choose or suppress the ids: it
//! is reached from `/` without following symlinks (see [`super::reach`]),
//! must be a mount point (per mountinfo: the workload can neither make nor
//! move mounts) unless `match_path_must_be_mount = false`, and must be owned
//! by someone other than root. When it gives no host user the start fails
//! with one line, unless `match_path_fallback = "root"` (allowed only with
//! the mount-point rule) says to run as root.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use super::config::{Config, Fallback};
use super::plan::HostIds;
use super::reach::{self, Ids, Reached};
use crate::accounts::Accounts;
use crate::idmount::mountinfo;
use crate::ids::parse_id;
use crate::sys::fs::Stat;
use crate::sysroot::Sysroot;
use crate::{Error, Result};

/// Root mode's host ids: HOSTMATCH_UID (and HOSTMATCH_GID, default: the
/// uid), else the owner of `match_path`, else none.
pub fn root_mode_host_ids(
    env: &dyn Fn(&str) -> Option<String>,
    cfg: &Config,
    root: &Sysroot,
    accounts: &Accounts,
) -> Result<Option<HostIds>> {
    if let Some(u) = env("HOSTMATCH_UID") {
        let uid = parse_id(u.trim()).map_err(|e| Error::invalid(format!("HOSTMATCH_UID: {e}")))?;
        let gid = match env("HOSTMATCH_GID") {
            Some(g) => {
                parse_id(g.trim()).map_err(|e| Error::invalid(format!("HOSTMATCH_GID: {e}")))?
            }
            None => uid,
        };
        return Ok(Some(HostIds { uid, gid }));
    }
    match &cfg.match_path {
        Some(mp) => match_path_ids(root, mp, cfg, &workload_ids(accounts, cfg)),
        None => Ok(None),
    }
}

/// Who the workload of the previous start was: the account as the image's
/// files say now (its uid, primary gid and groups).
pub fn workload_ids(accounts: &Accounts, cfg: &Config) -> Ids {
    let Some(u) = accounts.passwd.find(|u| u.name == cfg.user) else {
        return Ids::default();
    };
    let mut gids = vec![u.gid];
    gids.extend(
        accounts
            .group
            .records()
            .filter(|(_, g)| g.members.iter().any(|m| *m == *cfg.user))
            .map(|(_, g)| g.gid),
    );
    Ids {
        uids: vec![u.uid],
        gids,
    }
}

/// The one line when `match_path` gives no host user, or root (only with
/// `match_path_fallback = "root"`).
fn no_host_user(mp: &Path, why: &str, cfg: &Config) -> Result<Option<HostIds>> {
    match cfg.match_path_fallback {
        Fallback::Root => Ok(None),
        Fallback::Fail => Err(Error::Permission(format!(
            "match_path {}: {why}; refusing to guess the host user (match_path_fallback = \
             \"root\" runs the command as root instead)",
            mp.display()
        ))),
    }
}

/// The owner of `match_path`, by the rules of the module documentation.
pub fn match_path_ids(
    root: &Sysroot,
    mp: &Path,
    cfg: &Config,
    who: &Ids,
) -> Result<Option<HostIds>> {
    let rootfd =
        OwnedFd::from(std::fs::File::open(root.root()).map_err(|e| Error::io(root.root(), e))?);
    let mount_hint = format!(
        "mount the host directory there (docker run -v \"$PWD:{0}\"; Kubernetes: a volumeMount \
         with mountPath {0})",
        mp.display()
    );
    let (fd, st) = match reach::reach(rootfd.as_fd(), mp, who) {
        Ok(Reached::Found(fd, st)) => (fd, st),
        Ok(Reached::Missing) => {
            return no_host_user(mp, &format!("does not exist; {mount_hint}"), cfg)
        }
        Err(why) => {
            return Err(Error::Permission(format!(
                "match_path {}: {why}; refusing to take the host user from it",
                mp.display()
            )))
        }
    };
    drop(fd);
    if st.is_symlink() {
        return Err(Error::Permission(format!(
            "match_path {}: is a symbolic link (the workload may have replaced it); refusing to \
             take the host user from it",
            mp.display()
        )));
    }
    if cfg.match_path_must_be_mount && !is_mount_point(root, mp, &st)? {
        return no_host_user(mp, &format!("is not a mount point; {mount_hint}"), cfg);
    }
    if !st.is_dir() {
        return Err(Error::Permission(format!(
            "match_path {}: is not a directory; refusing to take the host user from it",
            mp.display()
        )));
    }
    if st.uid == 0 {
        return no_host_user(
            mp,
            "is owned by root (uid 0), which says nothing about the host user",
            cfg,
        );
    }
    Ok(Some(HostIds {
        uid: st.uid,
        gid: st.gid,
    }))
}

/// Whether the entry `st` at `mp` is the root of a mount at exactly `mp`
/// (per `/proc/self/mountinfo`: the mount with the entry's mount id is
/// mounted at that path).
fn is_mount_point(root: &Sysroot, mp: &Path, st: &Stat) -> Result<bool> {
    let text = root.read_proc("self/mountinfo")?;
    let mounts = mountinfo::parse(&text)?;
    let at = root.path(&mp.to_string_lossy());
    Ok(mounts
        .iter()
        .any(|m| m.id == st.mnt_id && m.mount_point == at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn cfg(mp: &str) -> Config {
        Config {
            match_path: Some(mp.into()),
            ..Config::default()
        }
    }

    fn sysroot() -> (tempfile::TempDir, Sysroot) {
        let d = tempfile::tempdir().unwrap();
        let r = Sysroot::new(d.path());
        (d, r)
    }

    #[test]
    fn hostmatch_uid_and_gid_come_first() {
        let (_d, root) = sysroot();
        let env = |k: &str| match k {
            "HOSTMATCH_UID" => Some("77".to_string()),
            _ => None,
        };
        let ids = root_mode_host_ids(&env, &cfg("/work"), &root, &Accounts::default());
        assert_eq!(ids.unwrap(), Some(HostIds { uid: 77, gid: 77 }));
        let bad = |k: &str| (k == "HOSTMATCH_UID").then(|| "x".to_string());
        let e = root_mode_host_ids(&bad, &cfg("/work"), &root, &Accounts::default());
        assert!(e.unwrap_err().is_bad_input());
    }

    #[test]
    fn a_directory_that_is_no_mount_point_gives_no_host_user() {
        let (d, root) = sysroot();
        fs::create_dir(d.path().join("work")).unwrap();
        let e = match_path_ids(&root, Path::new("/work"), &cfg("/work"), &Ids::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a mount point"), "{e}");
        assert!(e.contains("volumeMount"), "{e}");
        let fallback = Config {
            match_path_fallback: Fallback::Root,
            ..cfg("/work")
        };
        assert_eq!(
            match_path_ids(&root, Path::new("/work"), &fallback, &Ids::default()).unwrap(),
            None
        );
    }

    #[test]
    fn without_the_mount_rule_the_owner_gives_the_ids() {
        let (d, root) = sysroot();
        fs::create_dir(d.path().join("work")).unwrap();
        let c = Config {
            match_path_must_be_mount: false,
            ..cfg("/work")
        };
        let m = fs::metadata(d.path().join("work")).unwrap();
        let r = match_path_ids(&root, Path::new("/work"), &c, &Ids::default());
        use std::os::unix::fs::MetadataExt;
        if m.uid() == 0 {
            let e = r.unwrap_err().to_string();
            assert!(e.contains("owned by root"), "{e}");
        } else {
            assert_eq!(
                r.unwrap(),
                Some(HostIds {
                    uid: m.uid(),
                    gid: m.gid()
                })
            );
        }
    }

    #[test]
    fn a_missing_or_symlinked_match_path_fails_closed() {
        let (d, root) = sysroot();
        let c = Config {
            match_path_must_be_mount: false,
            ..cfg("/work/src")
        };
        fs::create_dir(d.path().join("work")).unwrap();
        let e = match_path_ids(&root, Path::new("/work/src"), &c, &Ids::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
        std::os::unix::fs::symlink("/etc", d.path().join("work/src")).unwrap();
        let e = match_path_ids(&root, Path::new("/work/src"), &c, &Ids::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("match_path"), "{e}");
    }

    #[test]
    fn the_workload_is_the_account_as_the_files_say() {
        let a = Accounts {
            passwd: crate::accounts::PasswdFile::parse("app:x:1234:1234::/home/app:/bin/sh\n"),
            group: crate::accounts::GroupFile::parse("app:x:1234:\nstaff:x:50:app\n"),
        };
        let w = workload_ids(&a, &Config::default());
        assert_eq!(w.uids, vec![1234]);
        assert_eq!(w.gids, vec![1234, 50]);
        assert_eq!(
            workload_ids(&Accounts::default(), &Config::default()),
            Ids::default()
        );
    }
}
