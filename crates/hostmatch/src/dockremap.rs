//! dockerd's `default` remap user: what `hostmatch docker enable default`
//! writes, the way dockerd creates `dockremap` on its first start with
//! `--userns-remap=default` (`adduser --system --group dockremap`, then 65536
//! ids in /etc/subuid and /etc/subgid from [`crate::remap::default_range`]).
//! Locked entries are added to shadow and gshadow where those files exist.

use crate::accounts::{
    add_gshadow_members, add_locked_shadow, pick_system_ids, Accounts, GroupEntry, GroupFile,
    GshadowFile, PasswdEntry, PasswdFile, ShadowFile,
};
use crate::fsedit::{FileEdit, Plan};
use crate::linefile::{Field, LineFile, Record};
use crate::remap::DEFAULT_USER;
use crate::subid::{self, Kind, SubidEntry, SubidFile};
use crate::sysroot::{paths, Sysroot};
use crate::Result;

/// The files the `dockremap` planning may edit (lock them all): every
/// account and subid file.
pub const FILES: [&str; 6] = crate::locks::SHADOW_ORDER;

/// The account files, parsed (shadow and gshadow: `None` when missing).
#[derive(Debug, Clone, Default)]
pub struct Files {
    pub passwd: PasswdFile,
    pub group: GroupFile,
    pub shadow: Option<ShadowFile>,
    pub gshadow: Option<GshadowFile>,
    pub subuid: SubidFile,
    pub subgid: SubidFile,
}

/// Adds what is missing of `dockremap` (user, group, locked shadow entries,
/// ranges) to `f`; returns one note per change. Pure: no I/O.
pub fn plan_files(f: &mut Files) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let name: Field = DEFAULT_USER.into();
    if f.passwd.find(|u| u.name == name).is_none() {
        let acc = Accounts {
            passwd: f.passwd.clone(),
            group: f.group.clone(),
        };
        let (uid, picked_gid) = pick_system_ids(&acc)?;
        let gid = match f.group.find(|g| g.name == name) {
            Some(g) => g.gid,
            None => {
                f.group.push(GroupEntry {
                    name: name.clone(),
                    passwd: "x".into(),
                    gid: picked_gid,
                    members: vec![],
                });
                picked_gid
            }
        };
        f.passwd.push(PasswdEntry {
            name: name.clone(),
            passwd: "x".into(),
            uid,
            gid,
            gecos: Field::default(),
            home: "/nonexistent".into(),
            shell: "/bin/false".into(),
        });
        if let Some(sh) = &mut f.shadow {
            add_locked_shadow(sh, &name);
        }
        if let Some(gs) = &mut f.gshadow {
            add_gshadow_members(gs, &name, &[]);
        }
        notes.push(format!(
            "creates system user and group {DEFAULT_USER} (uid {uid}, gid {gid})"
        ));
    }
    for (kind, file) in [(Kind::Uid, &mut f.subuid), (Kind::Gid, &mut f.subgid)] {
        if subid::ranges_of(file, DEFAULT_USER).is_empty() {
            let range = crate::remap::default_range(file)?;
            file.push(SubidEntry {
                owner: name.clone(),
                range,
            });
            notes.push(format!(
                "gives {DEFAULT_USER} {} ids {range}",
                kind.file_name()
            ));
        }
    }
    Ok(notes)
}

fn read<T: Record>(root: &Sysroot, rel: &str) -> Result<(Option<Vec<u8>>, LineFile<T>)> {
    let old = root.read_bytes_opt(rel)?;
    let file = LineFile::parse_strict(old.as_deref().unwrap_or_default(), &root.path(rel))?;
    Ok((old, file))
}

/// Reads the files below `root` and plans what `plan_files` adds. Call it
/// under the locks of [`FILES`] ([`crate::fsedit::edit`]).
pub fn plan(root: &Sysroot) -> Result<(Plan, Vec<String>)> {
    let (old_passwd, passwd) = read(root, paths::PASSWD)?;
    let (old_group, group) = read(root, paths::GROUP)?;
    let old_shadow = root.read_bytes_opt(paths::SHADOW)?;
    let old_gshadow = root.read_bytes_opt(paths::GSHADOW)?;
    let (old_subuid, subuid) = read(root, paths::SUBUID)?;
    let (old_subgid, subgid) = read(root, paths::SUBGID)?;
    let mut f = Files {
        passwd,
        group,
        shadow: old_shadow.as_ref().map(ShadowFile::parse),
        gshadow: old_gshadow.as_ref().map(GshadowFile::parse),
        subuid,
        subgid,
    };
    let notes = plan_files(&mut f)?;
    let mut plan = Plan::default();
    let mut push = |rel, old, new, mode| plan.push(FileEdit::new(root, rel, old, new, mode));
    push(paths::PASSWD, old_passwd, f.passwd.render(), 0o644);
    push(paths::GROUP, old_group, f.group.render(), 0o644);
    if let Some(sh) = &f.shadow {
        push(paths::SHADOW, old_shadow, sh.render(), 0o640);
    }
    if let Some(gs) = &f.gshadow {
        push(paths::GSHADOW, old_gshadow, gs.render(), 0o640);
    }
    push(paths::SUBUID, old_subuid, f.subuid.render(), 0o644);
    push(paths::SUBGID, old_subgid, f.subgid.render(), 0o644);
    Ok((plan, notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linefile::as_text;

    fn files() -> Files {
        Files {
            passwd: PasswdFile::parse("root:x:0:0::/root:/bin/sh\nsvc:x:100:100::/:/bin/false\n"),
            group: GroupFile::parse("root:x:0:\nsvc:x:100:\n"),
            shadow: Some(ShadowFile::parse("root:*:19000:0:99999:7:::\n")),
            gshadow: Some(GshadowFile::parse("root:*::\n")),
            subuid: SubidFile::parse("alice:100000:65536\n"),
            subgid: SubidFile::parse(""),
        }
    }

    #[test]
    fn dockremap_is_created_like_dockerd_does() {
        let mut f = files();
        let notes = plan_files(&mut f).unwrap();
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(
            as_text(f.passwd.render()).ends_with("dockremap:x:101:101::/nonexistent:/bin/false\n")
        );
        assert!(as_text(f.group.render()).ends_with("dockremap:x:101:\n"));
        assert!(as_text(f.shadow.as_ref().unwrap().render()).ends_with("\ndockremap:!:::::::\n"));
        assert!(as_text(f.gshadow.as_ref().unwrap().render()).ends_with("\ndockremap:!::\n"));
        assert_eq!(
            as_text(f.subuid.render()),
            "alice:100000:65536\ndockremap:165536:65536\n"
        );
        assert_eq!(as_text(f.subgid.render()), "dockremap:100000:65536\n");
        // A second run adds nothing.
        let before = format!("{f:?}");
        assert!(plan_files(&mut f).unwrap().is_empty());
        assert_eq!(format!("{f:?}"), before);
    }

    #[test]
    fn an_existing_group_is_used_and_missing_shadow_files_stay_missing() {
        let mut f = files();
        f.group.push(GroupEntry {
            name: "dockremap".into(),
            passwd: "x".into(),
            gid: 555,
            members: vec![],
        });
        f.shadow = None;
        f.gshadow = None;
        plan_files(&mut f).unwrap();
        assert!(
            as_text(f.passwd.render()).ends_with("dockremap:x:101:555::/nonexistent:/bin/false\n")
        );
        assert!(f.shadow.is_none() && f.gshadow.is_none());
    }
}
