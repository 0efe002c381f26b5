//! The account files, `/etc/passwd`, `/etc/group`, `/etc/shadow` and
//! `/etc/gshadow`: one lossless model (see [`crate::linefile`]) used by every
//! writer. Fields are bytes: a name or GECOS that is not UTF-8 is kept byte
//! for byte.

use crate::ids::Id;
use crate::linefile::{
    id_field, list_field, nis_or_comment, render_fields, render_list, split_fields, Field,
    LineFile, Record,
};
use crate::sysroot::{paths, Sysroot};
use crate::{Error, Result};

/// A line of /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: Field,
    pub passwd: Field,
    pub uid: Id,
    pub gid: Id,
    pub gecos: Field,
    pub home: Field,
    pub shell: Field,
}

impl Record for PasswdEntry {
    fn parse_line(line: &[u8]) -> std::result::Result<Self, String> {
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

    fn render_into(&self, out: &mut Vec<u8>) {
        let (uid, gid) = (self.uid.to_string(), self.gid.to_string());
        render_fields(
            out,
            &[
                &self.name,
                &self.passwd,
                uid.as_bytes(),
                gid.as_bytes(),
                &self.gecos,
                &self.home,
                &self.shell,
            ],
        );
    }

    fn passthrough(line: &[u8]) -> bool {
        nis_or_comment(line)
    }
}

/// A line of /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: Field,
    pub passwd: Field,
    pub gid: Id,
    pub members: Vec<Field>,
}

impl Record for GroupEntry {
    fn parse_line(line: &[u8]) -> std::result::Result<Self, String> {
        let f = split_fields::<4>(line)?;
        if f[0].is_empty() {
            return Err("empty group name".into());
        }
        Ok(GroupEntry {
            name: f[0].into(),
            passwd: f[1].into(),
            gid: id_field(f[2], "gid")?,
            members: list_field(f[3]),
        })
    }

    fn render_into(&self, out: &mut Vec<u8>) {
        let gid = self.gid.to_string();
        render_fields(out, &[&self.name, &self.passwd, gid.as_bytes(), b""]);
        render_list(out, &self.members);
    }

    fn passthrough(line: &[u8]) -> bool {
        nis_or_comment(line)
    }
}

/// A line of /etc/shadow: the name, the password hash, and the seven aging
/// fields kept as they are (`lastchg:min:max:warn:inactive:expire:reserved`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowEntry {
    pub name: Field,
    pub passwd: Field,
    pub aging: Field,
}

impl ShadowEntry {
    /// A locked entry for a new account: no password can match `!`.
    pub fn locked(name: impl Into<Field>) -> Self {
        ShadowEntry {
            name: name.into(),
            passwd: "!".into(),
            aging: "::::::".into(),
        }
    }
}

impl Record for ShadowEntry {
    fn parse_line(line: &[u8]) -> std::result::Result<Self, String> {
        let f = split_fields::<9>(line)?;
        if f[0].is_empty() {
            return Err("empty user name".into());
        }
        let aging_start = f[0].len() + f[1].len() + 2;
        Ok(ShadowEntry {
            name: f[0].into(),
            passwd: f[1].into(),
            aging: line[aging_start..].into(),
        })
    }

    fn render_into(&self, out: &mut Vec<u8>) {
        render_fields(out, &[&self.name, &self.passwd, &self.aging]);
    }

    fn passthrough(line: &[u8]) -> bool {
        nis_or_comment(line)
    }
}

/// A line of /etc/gshadow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GshadowEntry {
    pub name: Field,
    pub passwd: Field,
    pub admins: Vec<Field>,
    pub members: Vec<Field>,
}

impl GshadowEntry {
    /// A locked entry for a new group, with these members.
    pub fn locked(name: impl Into<Field>, members: Vec<Field>) -> Self {
        GshadowEntry {
            name: name.into(),
            passwd: "!".into(),
            admins: Vec::new(),
            members,
        }
    }
}

impl Record for GshadowEntry {
    fn parse_line(line: &[u8]) -> std::result::Result<Self, String> {
        let f = split_fields::<4>(line)?;
        if f[0].is_empty() {
            return Err("empty group name".into());
        }
        Ok(GshadowEntry {
            name: f[0].into(),
            passwd: f[1].into(),
            admins: list_field(f[2]),
            members: list_field(f[3]),
        })
    }

    fn render_into(&self, out: &mut Vec<u8>) {
        render_fields(out, &[&self.name, &self.passwd, b""]);
        render_list(out, &self.admins);
        out.push(b':');
        render_list(out, &self.members);
    }

    fn passthrough(line: &[u8]) -> bool {
        nis_or_comment(line)
    }
}

/// /etc/passwd.
pub type PasswdFile = LineFile<PasswdEntry>;
/// /etc/group.
pub type GroupFile = LineFile<GroupEntry>;
/// /etc/shadow.
pub type ShadowFile = LineFile<ShadowEntry>;
/// /etc/gshadow.
pub type GshadowFile = LineFile<GshadowEntry>;

/// Adds a locked shadow entry for `name` unless the file has one; returns
/// whether it added one.
pub fn add_locked_shadow(file: &mut ShadowFile, name: &Field) -> bool {
    if file.find(|e| e.name == *name).is_some() {
        return false;
    }
    file.push(ShadowEntry::locked(name.clone()));
    true
}

/// Adds `members` to group `name` in gshadow (a locked entry when the group
/// has none); returns whether anything changed.
pub fn add_gshadow_members(file: &mut GshadowFile, name: &Field, members: &[Field]) -> bool {
    if file.find(|e| e.name == *name).is_none() {
        file.push(GshadowEntry::locked(name.clone(), members.to_vec()));
        return true;
    }
    let mut changed = false;
    file.update(
        |e| e.name == *name,
        |e| {
            for m in members {
                if !e.members.contains(m) {
                    e.members.push(m.clone());
                    changed = true;
                }
            }
        },
    );
    changed
}

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
            passwd: PasswdFile::parse(root.read_bytes_opt(paths::PASSWD)?.unwrap_or_default()),
            group: GroupFile::parse(root.read_bytes_opt(paths::GROUP)?.unwrap_or_default()),
        })
    }

    /// A user by name or uid, or [`Error::UnknownUser`].
    pub fn user(&self, who: &str) -> Result<&PasswdEntry> {
        find_user(&self.passwd, who)
            .ok_or_else(|| Error::UnknownUser(crate::escape::line(who.as_bytes()).into()))
    }

    /// A group by name or gid, or [`Error::UnknownGroup`].
    pub fn group(&self, which: &str) -> Result<&GroupEntry> {
        find_group(&self.group, which)
            .ok_or_else(|| Error::UnknownGroup(crate::escape::line(which.as_bytes()).into()))
    }

    /// Names of users with this uid.
    pub fn users_with_uid(&self, uid: Id) -> Vec<&Field> {
        self.passwd
            .records()
            .filter(|(_, u)| u.uid == uid)
            .map(|(_, u)| &u.name)
            .collect()
    }

    /// Names of groups with this gid.
    pub fn groups_with_gid(&self, gid: Id) -> Vec<&Field> {
        self.group
            .records()
            .filter(|(_, g)| g.gid == gid)
            .map(|(_, g)| &g.name)
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
    use crate::linefile::as_text;
    use proptest::prelude::*;

    const PASSWD: &str = "# comment kept\nroot:x:0:0:root:/root:/bin/bash\n+@nis::::::\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nbroken line\nbig:x:4294967295:4294967295::/:/bin/sh\n";

    #[test]
    fn passwd_round_trips_byte_for_byte() {
        let f = PasswdFile::parse(PASSWD);
        assert_eq!(as_text(f.render()), PASSWD);
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
        let out = as_text(f.render());
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
        assert_eq!(as_text(g.render()), text);
        g.update(|g| g.name == "empty", |g| g.members.push("carol".into()));
        assert_eq!(
            as_text(g.render()),
            "sudo:x:27:alice,bob\nempty:x:100:carol\n"
        );
    }

    #[test]
    fn appending_to_a_file_without_final_newline_adds_one() {
        let mut g = GroupFile::parse("a:x:1:");
        assert_eq!(as_text(g.render()), "a:x:1:");
        g.push(GroupEntry {
            name: "b".into(),
            passwd: "x".into(),
            gid: 2,
            members: vec![],
        });
        assert_eq!(as_text(g.render()), "a:x:1:\nb:x:2:\n");
    }

    #[test]
    fn latin1_gecos_is_kept_byte_for_byte() {
        let bytes: &[u8] =
            b"jose:x:1000:1000:Jos\xe9 Garc\xeda:/home/jose:/bin/sh\nroot:x:0:0::/root:/bin/sh\n";
        let mut f = PasswdFile::parse(bytes);
        assert_eq!(f.records().count(), 2);
        let jose = find_user(&f, "jose").unwrap();
        assert_eq!(jose.gecos.as_bytes(), b"Jos\xe9 Garc\xeda");
        assert_eq!(jose.gecos.to_string(), "Jos\\xe9 Garc\\xeda");
        f.update(|u| u.name == "jose", |u| u.uid = 1001);
        assert_eq!(
            f.render(),
            b"jose:x:1001:1000:Jos\xe9 Garc\xeda:/home/jose:/bin/sh\nroot:x:0:0::/root:/bin/sh\n"
        );
    }

    #[test]
    fn an_update_that_changes_nothing_keeps_the_original_bytes() {
        let mut f = PasswdFile::parse("a:x:007:7::/:/bin/sh\n");
        f.update(|u| u.name == "a", |u| u.uid = 7);
        assert_eq!(as_text(f.render()), "a:x:007:7::/:/bin/sh\n");
    }

    #[test]
    fn shadow_and_gshadow_round_trip_and_take_new_entries() {
        let sh = "root:$y$j9T$abc:19000:0:99999:7:::\n# note\nbad line\n";
        let mut f = ShadowFile::parse(sh);
        assert_eq!(as_text(f.render()), sh);
        assert_eq!(f.records().next().unwrap().1.aging, "19000:0:99999:7:::");
        assert!(add_locked_shadow(&mut f, &"dockremap".into()));
        assert!(!add_locked_shadow(&mut f, &"root".into()));
        assert_eq!(as_text(f.render()), format!("{sh}dockremap:!:::::::\n"));

        let gs = "root:*::\nsudo:!:adm:alice\n";
        let mut g = GshadowFile::parse(gs);
        assert_eq!(as_text(g.render()), gs);
        assert!(add_gshadow_members(&mut g, &"sudo".into(), &["bob".into()]));
        assert!(!add_gshadow_members(
            &mut g,
            &"sudo".into(),
            &["bob".into()]
        ));
        assert!(add_gshadow_members(&mut g, &"new".into(), &[]));
        assert_eq!(
            as_text(g.render()),
            "root:*::\nsudo:!:adm:alice,bob\nnew:!::\n"
        );
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
            prop_assert_eq!(PasswdFile::parse(&text).render(), text.as_bytes());
            prop_assert_eq!(GroupFile::parse(&text).render(), text.as_bytes());
        }
    }
}
