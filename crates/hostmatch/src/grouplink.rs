//! `group link`: a host group whose gid is the host gid a container gid maps
//! to (a socket shared through a volume: container gid 60 -> host 100059), so
//! that host users in it can use what the container's group owns. Edits
//! /etc/group (and /etc/gshadow when present) losslessly, as a [`Plan`].

use crate::accounts::{add_gshadow_members, Accounts, GroupEntry, GshadowFile};
use crate::fsedit::{FileEdit, Plan};
use crate::ids::Id;
use crate::linefile::Field;
use crate::sysroot::{paths, Sysroot};
use crate::{Error, Result};

/// The files `group link` edits (gshadow only where it exists).
pub const FILES: [&str; 2] = [paths::GROUP, paths::GSHADOW];

/// Whether `name` is a group name shadow-utils accepts (the portable subset).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b[1..].iter().enumerate().all(|(i, &c)| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || c == b'_'
                || c == b'-'
                || (c == b'$' && i == b.len() - 2)
        })
}

/// Plans the edits that make group `name` have gid `gid` and contain `add`.
/// An existing group of that name must already have that gid; a gid held by
/// another group name is refused (two names for one gid confuse tools).
/// Reads the files: call it under the locks of [`FILES`] ([`crate::fsedit::edit`]).
pub fn plan(root: &Sysroot, name: &str, gid: Id, add: &[String]) -> Result<Plan> {
    if !valid_name(name) {
        return Err(Error::invalid(format!(
            "'{name}' is not a valid group name (lowercase letters, digits, _ and -, at most 32)"
        )));
    }
    let accounts = Accounts::load(root)?;
    for u in add {
        accounts.user(u)?;
    }
    // Members are written by name, as /etc/group holds them.
    let add: Vec<Field> = add
        .iter()
        .map(|u| accounts.user(u).map(|e| e.name.clone()))
        .collect::<Result<_>>()?;
    if let Some(other) = accounts.group.find(|g| g.gid == gid && g.name != name) {
        return Err(Error::invalid(format!(
            "gid {gid} already belongs to group '{}'; link that name instead (--name {})",
            other.name, other.name
        )));
    }
    let old_group = root.read_bytes_opt(paths::GROUP)?;
    let mut group = crate::accounts::GroupFile::parse(old_group.as_deref().unwrap_or_default());
    match group.find(|g| g.name == name) {
        Some(g) if g.gid != gid => {
            return Err(Error::invalid(format!(
                "group '{name}' exists with gid {}, not {gid}; refusing to renumber it",
                g.gid
            )))
        }
        Some(_) => {
            group.update(
                |g| g.name == name,
                |g| {
                    for u in &add {
                        if !g.members.contains(u) {
                            g.members.push(u.clone());
                        }
                    }
                },
            );
        }
        None => group.push(GroupEntry {
            name: name.into(),
            passwd: "x".into(),
            gid,
            members: add.clone(),
        }),
    }
    let mut plan = Plan::default();
    plan.push(FileEdit::new(
        root,
        paths::GROUP,
        old_group,
        group.render(),
        0o644,
    ));
    if let Some(bytes) = root.read_bytes_opt(paths::GSHADOW)? {
        let mut gs = GshadowFile::parse(&bytes);
        add_gshadow_members(&mut gs, &name.into(), &add);
        plan.push(FileEdit::new(
            root,
            paths::GSHADOW,
            Some(bytes),
            gs.render(),
            0o640,
        ));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::linefile::as_text;

    fn root(group: &str, gshadow: Option<&str>) -> (tempfile::TempDir, Sysroot) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/group"), group).unwrap();
        if let Some(g) = gshadow {
            std::fs::write(d.path().join("etc/gshadow"), g).unwrap();
        }
        let r = Sysroot::new(d.path());
        (d, r)
    }

    #[test]
    fn new_group_is_appended_and_other_lines_kept() {
        let (_d, r) = root("# keep\nroot:x:0:\n", Some("root:*::\n"));
        let p = plan(&r, "dsock", 100059, &["alice".into()]).unwrap();
        p.apply().unwrap();
        assert_eq!(
            r.read("etc/group").unwrap(),
            "# keep\nroot:x:0:\ndsock:x:100059:alice\n"
        );
        assert_eq!(r.read("etc/gshadow").unwrap(), "root:*::\ndsock:!::alice\n");
        // Idempotent: a second plan changes nothing.
        assert!(plan(&r, "dsock", 100059, &["alice".into()])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn members_are_added_once_to_an_existing_group() {
        let (_d, r) = root("dsock:x:100059:bob\n", None);
        let p = plan(&r, "dsock", 100059, &["1000".into()]).unwrap();
        assert!(
            p.diff().contains("+dsock:x:100059:bob,alice"),
            "{}",
            p.diff()
        );
    }

    #[test]
    fn conflicts_and_unknown_users_are_bad_input() {
        let (_d, r) = root("dsock:x:5:\nother:x:100059:\n", None);
        assert!(plan(&r, "dsock", 7, &[]).unwrap_err().is_bad_input());
        assert!(plan(&r, "new", 100059, &[]).unwrap_err().is_bad_input());
        assert!(plan(&r, "new", 1, &["nobody".into()])
            .unwrap_err()
            .is_bad_input());
        assert!(plan(&r, "Bad Name", 1, &[]).unwrap_err().is_bad_input());
    }
}
