//! `/etc/passwd` and `/etc/group` models, lossless (see [`crate::linefile`]).

use crate::ids::Id;
use crate::linefile::{id_field, split_fields, LineFile, Record};
use crate::sysroot::{paths, Sysroot};
use crate::{Error, Result};

/// A line of /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub passwd: String,
    pub uid: Id,
    pub gid: Id,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

impl Record for PasswdEntry {
    fn parse_line(line: &str) -> std::result::Result<Self, String> {
        let f = split_fields::<7>(line)?;
        if f[0].is_empty() {
            return Err("empty user name".into());
        }
        Ok(PasswdEntry {
            name: f[0].into(),
            passwd: f[1].into(),
            uid: id_field(f[2], "uid")?,
            gid: id_field(f[3], "gid")?,
            gecos: f[4].into(),
            home: f[5].into(),
            shell: f[6].into(),
        })
    }

    fn render(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}:{}:{}",
            self.name, self.passwd, self.uid, self.gid, self.gecos, self.home, self.shell
        )
    }

    fn passthrough(line: &str) -> bool {
        let t = line.trim_start();
        t.is_empty() || t.starts_with('#') || t.starts_with('+') || t.starts_with('-')
    }
}

/// A line of /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub passwd: String,
    pub gid: Id,
    pub members: Vec<String>,
}

impl Record for GroupEntry {
    fn parse_line(line: &str) -> std::result::Result<Self, String> {
        let f = split_fields::<4>(line)?;
        if f[0].is_empty() {
            return Err("empty group name".into());
        }
        Ok(GroupEntry {
            name: f[0].into(),
            passwd: f[1].into(),
            gid: id_field(f[2], "gid")?,
            members: parse_members(f[3]),
        })
    }

    fn render(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.name,
            self.passwd,
            self.gid,
            self.members.join(",")
        )
    }

    fn passthrough(line: &str) -> bool {
        let t = line.trim_start();
        t.is_empty() || t.starts_with('#') || t.starts_with('+') || t.starts_with('-')
    }
}

/// A comma-separated member list (group and gshadow files).
pub fn parse_members(field: &str) -> Vec<String> {
    if field.is_empty() {
        Vec::new()
    } else {
        field.split(',').map(String::from).collect()
    }
}

/// /etc/passwd.
pub type PasswdFile = LineFile<PasswdEntry>;
/// /etc/group.
pub type GroupFile = LineFile<GroupEntry>;

/// A user named by name or by numeric id, as users type it.
pub fn find_user<'a>(passwd: &'a PasswdFile, who: &str) -> Option<&'a PasswdEntry> {
    passwd.find(|u| u.name == who).or_else(|| {
        let id: Id = who.parse().ok()?;
        passwd.find(|u| u.uid == id)
    })
}

/// A group named by name or by numeric id.
pub fn find_group<'a>(group: &'a GroupFile, which: &str) -> Option<&'a GroupEntry> {
    group.find(|g| g.name == which).or_else(|| {
        let id: Id = which.parse().ok()?;
        group.find(|g| g.gid == id)
    })
}

/// The host's accounts, read from a sysroot.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    pub passwd: PasswdFile,
    pub group: GroupFile,
}

impl Accounts {
    /// Reads passwd and group (missing files are empty; bad lines are kept
    /// and never match).
    pub fn load(root: &Sysroot) -> Result<Self> {
        Ok(Accounts {
            passwd: PasswdFile::parse(&root.read_opt(paths::PASSWD)?.unwrap_or_default()),
            group: GroupFile::parse(&root.read_opt(paths::GROUP)?.unwrap_or_default()),
        })
    }

    /// A user by name or uid, or [`Error::UnknownUser`].
    pub fn user(&self, who: &str) -> Result<&PasswdEntry> {
        find_user(&self.passwd, who).ok_or_else(|| Error::UnknownUser(who.to_string()))
    }

    /// A group by name or gid, or [`Error::UnknownGroup`].
    pub fn group(&self, which: &str) -> Result<&GroupEntry> {
        find_group(&self.group, which).ok_or_else(|| Error::UnknownGroup(which.to_string()))
    }

    /// Names of users with this uid.
    pub fn users_with_uid(&self, uid: Id) -> Vec<&str> {
        self.passwd
            .records()
            .filter(|(_, u)| u.uid == uid)
            .map(|(_, u)| u.name.as_str())
            .collect()
    }

    /// Names of groups with this gid.
    pub fn groups_with_gid(&self, gid: Id) -> Vec<&str> {
        self.group
            .records()
            .filter(|(_, g)| g.gid == gid)
            .map(|(_, g)| g.name.as_str())
            .collect()
    }
}

/// The range `adduser --system` takes system ids from (Debian's adduser.conf).
pub const SYSTEM_IDS: (Id, Id) = (100, 999);

/// Picks ids for a new system user and its group the way dockerd's
/// `adduser --system --group` does: the lowest free uid and, independently,
/// the lowest free gid in [`SYSTEM_IDS`].
pub fn pick_system_ids(acc: &Accounts) -> Result<(Id, Id)> {
    let (lo, hi) = SYSTEM_IDS;
    let uid = (lo..=hi)
        .find(|&id| acc.passwd.find(|u| u.uid == id).is_none())
        .ok_or_else(|| Error::invalid(format!("no free system uid in {lo}..{hi}")))?;
    let gid = (lo..=hi)
        .find(|&id| acc.group.find(|g| g.gid == id).is_none())
        .ok_or_else(|| Error::invalid(format!("no free system gid in {lo}..{hi}")))?;
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PASSWD: &str = "# comment kept\nroot:x:0:0:root:/root:/bin/bash\n+@nis::::::\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nbroken line\nbig:x:4294967295:4294967295::/:/bin/sh\n";

    #[test]
    fn passwd_round_trips_byte_for_byte() {
        let f = PasswdFile::parse(PASSWD);
        assert_eq!(f.render(), PASSWD);
        assert_eq!(f.records().count(), 3);
        assert_eq!(f.invalid_lines().next().unwrap().0, 5);
    }

    #[test]
    fn strict_parse_names_file_and_line() {
        let e = PasswdFile::parse_strict(PASSWD, std::path::Path::new("/etc/passwd")).unwrap_err();
        assert!(e.to_string().starts_with("/etc/passwd:5:"), "{e}");
    }

    #[test]
    fn update_rewrites_only_the_changed_line() {
        let mut f = PasswdFile::parse(PASSWD);
        assert_eq!(f.update(|u| u.name == "www-data", |u| u.uid = 1033), 1);
        let out = f.render();
        assert!(out.contains("www-data:x:1033:33:"));
        assert!(
            out.contains("# comment kept\n")
                && out.contains("+@nis::::::\n")
                && out.contains("broken line\n")
        );
    }

    #[test]
    fn users_are_found_by_name_or_uid() {
        let f = PasswdFile::parse(PASSWD);
        assert_eq!(find_user(&f, "33").unwrap().name, "www-data");
        assert_eq!(find_user(&f, "root").unwrap().uid, 0);
        assert!(find_user(&f, "nobody").is_none());
    }

    #[test]
    fn group_members_round_trip() {
        let text = "sudo:x:27:alice,bob\nempty:x:100:\n";
        let mut g = GroupFile::parse(text);
        assert_eq!(g.render(), text);
        g.update(|g| g.name == "empty", |g| g.members.push("carol".into()));
        assert_eq!(g.render(), "sudo:x:27:alice,bob\nempty:x:100:carol\n");
    }

    #[test]
    fn appending_to_a_file_without_final_newline_adds_one() {
        let mut g = GroupFile::parse("a:x:1:");
        assert_eq!(g.render(), "a:x:1:");
        g.push(GroupEntry {
            name: "b".into(),
            passwd: "x".into(),
            gid: 2,
            members: vec![],
        });
        assert_eq!(g.render(), "a:x:1:\nb:x:2:\n");
    }

    #[test]
    fn system_ids_are_the_lowest_free_like_adduser() {
        let acc = Accounts {
            passwd: PasswdFile::parse("a:x:100:100::/:/bin/sh\nb:x:101:100::/:/bin/sh\n"),
            group: GroupFile::parse("a:x:100:\nb:x:102:\nc:x:101:\n"),
        };
        assert_eq!(pick_system_ids(&acc).unwrap(), (102, 103));
    }

    proptest! {
        #[test]
        fn any_text_round_trips(lines in prop::collection::vec("[a-z0-9:+#, -]{0,40}", 0..20), nl in any::<bool>()) {
            let mut text = lines.join("\n");
            if nl && !text.is_empty() { text.push('\n'); }
            prop_assert_eq!(PasswdFile::parse(&text).render(), text.clone());
            prop_assert_eq!(GroupFile::parse(&text).render(), text);
        }
    }
}
