//! The pure planner: accounts + host ids + configuration -> what to change.
//!
//! No I/O here. The plan says which account and group move (and where the
//! accounts that were in the way go), which entries are added, which trees
//! are re-owned with which [`Rule`] (in order: first the accounts that make
//! room, then the account itself), the sudoers line, and the credentials the
//! command runs with.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::accounts::{GroupEntry, GroupFile, PasswdEntry, PasswdFile};
use crate::entrypoint::config::{ChownHome, Config};
use crate::ids::Id;
use crate::linefile::Field;
use crate::own::{Depth, Rule};
use crate::{Error, Result};

/// The host user's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostIds {
    pub uid: Id,
    pub gid: Id,
}

/// The process's credentials when the entrypoint started (before any change).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartCreds {
    /// Real uid.
    pub uid: Id,
    /// Real gid.
    pub gid: Id,
    /// Supplementary groups (what the runtime set, including `--group-add`).
    pub groups: Vec<Id>,
}

/// What the planner decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run the command as root, untouched (host uid 0, or no host ids).
    StayRoot { reason: String },
    /// Match the account to the host ids.
    Match(Box<Plan>),
}

/// Whether a move is of a user or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

/// An account or group that gets a new id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub kind: Kind,
    pub name: String,
    pub from: Id,
    pub to: Id,
    /// True for the configured account/group, false for one that makes room.
    pub is_target: bool,
}

/// A tree to re-own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reown {
    pub path: PathBuf,
    pub rule: Rule,
    pub depth: Depth,
}

/// The credentials the command runs with, and its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: String,
    pub group: String,
    pub uid: Id,
    /// The process gid (the host gid; 0 under caveat 2).
    pub gid: Id,
    /// Supplementary groups, sorted, without duplicates.
    pub groups: Vec<Id>,
    pub home: String,
    pub shell: String,
}

/// Everything the entrypoint changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// /etc/passwd after the plan.
    pub passwd: PasswdFile,
    /// /etc/group after the plan.
    pub group: GroupFile,
    pub passwd_changed: bool,
    pub group_changed: bool,
    /// A user that is added (shadow gets a locked entry for it).
    pub new_user: Option<String>,
    /// A group that is added (gshadow gets an entry for it).
    pub new_group: Option<String>,
    pub moves: Vec<Move>,
    /// The account's home; created (owned by the target) when missing and
    /// `create_home` is set.
    pub home: Option<PathBuf>,
    pub create_home: bool,
    /// Trees to re-own, in order.
    pub reown: Vec<Reown>,
    /// Content of /etc/sudoers.d/hostmatch, when `sudo = true`.
    pub sudoers: Option<String>,
    pub target: Target,
    /// Things the user should know (e.g. a home that is not re-owned).
    pub notes: Vec<String>,
}

impl Plan {
    /// Whether the account files change.
    pub fn edits_accounts(&self) -> bool {
        self.passwd_changed || self.group_changed
    }

    /// One line per change, for logs and for the read-only error.
    pub fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        for m in &self.moves {
            let what = match m.kind {
                Kind::User => "user",
                Kind::Group => "group",
            };
            let why = if m.is_target {
                " (to match the host)"
            } else {
                " (to make room)"
            };
            out.push(format!(
                "{what} {} moves from id {} to {}{why}",
                m.name, m.from, m.to
            ));
        }
        if let Some(u) = &self.new_user {
            out.push(format!("user {u} is added with uid {}", self.target.uid));
        }
        if let Some(g) = &self.new_group {
            out.push(format!("group {g} is added"));
        }
        if self.passwd_changed {
            out.push("/etc/passwd is rewritten".into());
        }
        if self.group_changed {
            out.push("/etc/group is rewritten".into());
        }
        for r in &self.reown {
            out.push(format!(
                "{} is re-owned ({})",
                r.path.display(),
                rule_text(&r.rule)
            ));
        }
        if self.sudoers.is_some() {
            out.push("/etc/sudoers.d/hostmatch gives the account passwordless sudo".into());
        }
        out
    }
}

fn rule_text(r: &Rule) -> String {
    let side = |n: &str, s: &Option<(Id, Id)>| s.map(|(a, b)| format!("{n} {a}->{b}"));
    match r {
        Rule::Chown { uid, gid } => [side("uid", uid), side("gid", gid)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
        Rule::Set { uid, gid } => format!(
            "every entry to {}:{}",
            uid.map_or("-".into(), |u| u.to_string()),
            gid.map_or("-".into(), |g| g.to_string())
        ),
        other => format!("{other:?}"),
    }
}

/// Ids never handed out when making room.
const RESERVED: [Id; 2] = [65534, 65535];

/// A free id for an account that makes room: system ids (< 1000) stay in
/// 100..=999 (counting down), others get the lowest free id from 1000.
fn free_id(used: &BTreeSet<Id>, avoid: &[Id], system: bool) -> Result<Id> {
    let ok = |id: &Id| !used.contains(id) && !avoid.contains(id) && !RESERVED.contains(id);
    let found = if system {
        (100..=999).rev().find(ok)
    } else {
        None
    };
    found
        .or_else(|| (1000..=Id::MAX - 1).find(ok))
        .ok_or_else(|| Error::invalid("no free id left to move an account to"))
}

fn used_uids(p: &PasswdFile) -> BTreeSet<Id> {
    p.records().map(|(_, u)| u.uid).collect()
}

fn used_gids(g: &GroupFile) -> BTreeSet<Id> {
    g.records().map(|(_, g)| g.gid).collect()
}

/// The groups a runtime gives a uid on its own (Docker/runc: the groups that
/// list the name of the first passwd entry with that uid).
fn runtime_groups(passwd: &PasswdFile, group: &GroupFile, uid: Id) -> BTreeSet<Id> {
    let Some(name) = passwd.find(|u| u.uid == uid).map(|u| u.name.clone()) else {
        return BTreeSet::new();
    };
    group
        .records()
        .filter(|(_, g)| g.members.contains(&name))
        .map(|(_, g)| g.gid)
        .collect()
}

/// Plans the match of `cfg.user` to `host`. `host = None` (root mode with no
/// host ids) and host uid 0 (caveat 2) mean: run as root, untouched.
pub fn plan(
    passwd: &PasswdFile,
    group: &GroupFile,
    host: Option<HostIds>,
    start: &StartCreds,
    cfg: &Config,
) -> Result<Decision> {
    let Some(host) = host else {
        return Ok(Decision::StayRoot {
            reason: "no host ids (no --user, no HOSTMATCH_UID, no match_path owner)".into(),
        });
    };
    if host.uid == 0 {
        return Ok(Decision::StayRoot {
            reason: "the host user is root (uid 0)".into(),
        });
    }
    let mut pw = passwd.clone();
    let mut gr = group.clone();
    let mut moves = Vec::new();
    let mut notes = Vec::new();
    let user_name = cfg.user.as_str();

    let old_user = pw.find(|u| u.name == user_name).cloned();
    match &old_user {
        None if !cfg.create_user => {
            return Err(Error::invalid(format!(
                "user '{user_name}' does not exist in /etc/passwd and create_user is false"
            )))
        }
        Some(u) if u.uid == 0 => {
            return Err(Error::invalid(format!(
                "user '{user_name}' has uid 0: root is never moved; set `user` to another account"
            )))
        }
        _ => {}
    }

    // The account's group: configured, else the user's primary group, else
    // one named like the user.
    let group_name: Field = match (&cfg.group, &old_user) {
        (Some(g), _) => g.as_str().into(),
        (None, Some(u)) => gr
            .find(|g| g.gid == u.gid)
            .map(|g| g.name.clone())
            .unwrap_or_else(|| user_name.into()),
        (None, None) => user_name.into(),
    };
    let old_group = gr.find(|g| g.name == group_name).cloned();
    if old_group.is_none() && cfg.group.is_some() && !cfg.create_user {
        return Err(Error::UnknownGroup(group_name.to_string()));
    }
    if let Some(g) = &old_group {
        if g.gid == 0 && host.gid != 0 {
            return Err(Error::invalid(format!(
                "group '{}' has gid 0: the root group is never moved; set `group` to another group",
                g.name
            )));
        }
    }
    // Caveat 2: host gid 0 -> the process gid is 0, the account's group stays.
    let move_group = host.gid != 0;

    // --- groups ---------------------------------------------------------
    let mut new_group = None;
    let mut group_gid_change = None;
    let account_gid: Id;
    let can_make_group = old_group.is_some() || cfg.create_user;
    if move_group && can_make_group && old_group.as_ref().map(|g| g.gid) != Some(host.gid) {
        // Make room: other groups at the host gid move to a free gid; users
        // whose primary group it was follow.
        let others: Vec<GroupEntry> = gr
            .records()
            .map(|(_, g)| g.clone())
            .filter(|g| g.gid == host.gid && g.name != group_name)
            .collect();
        for o in &others {
            let mut avoid = vec![host.gid];
            avoid.extend(old_group.as_ref().map(|g| g.gid));
            let to = free_id(&used_gids(&gr), &avoid, o.gid < 1000)?;
            gr.update(|g| g.name == o.name, |g| g.gid = to);
            pw.update(|u| u.gid == o.gid, |u| u.gid = to);
            moves.push(Move {
                kind: Kind::Group,
                name: o.name.to_string(),
                from: o.gid,
                to,
                is_target: false,
            });
        }
        match &old_group {
            Some(g) => {
                gr.update(|x| x.name == g.name, |x| x.gid = host.gid);
                pw.update(|u| u.gid == g.gid, |u| u.gid = host.gid);
                group_gid_change = Some((g.gid, host.gid));
                moves.push(Move {
                    kind: Kind::Group,
                    name: g.name.to_string(),
                    from: g.gid,
                    to: host.gid,
                    is_target: true,
                });
            }
            None => {
                gr.push(GroupEntry {
                    name: group_name.clone(),
                    passwd: "x".into(),
                    gid: host.gid,
                    members: Vec::new(),
                });
                new_group = Some(group_name.to_string());
            }
        }
        account_gid = host.gid;
    } else if let Some(g) = &old_group {
        account_gid = g.gid;
    } else if cfg.create_user {
        // Caveat 2 with a new account: its own group at a free gid.
        let to = free_id(&used_gids(&gr), &[0], false)?;
        gr.push(GroupEntry {
            name: group_name.clone(),
            passwd: "x".into(),
            gid: to,
            members: Vec::new(),
        });
        new_group = Some(group_name.to_string());
        account_gid = to;
    } else {
        // No group entry and none may be made: the primary gid is the host's.
        account_gid = if move_group {
            host.gid
        } else {
            old_user.as_ref().map_or(host.gid, |u| u.gid)
        };
    }

    // --- users ----------------------------------------------------------
    let mut new_user = None;
    let old_uid = old_user.as_ref().map(|u| u.uid);
    if old_uid != Some(host.uid) {
        let others: Vec<PasswdEntry> = pw
            .records()
            .map(|(_, u)| u.clone())
            .filter(|u| u.uid == host.uid && u.name != user_name)
            .collect();
        for o in &others {
            let mut avoid = vec![host.uid];
            avoid.extend(old_uid);
            let to = free_id(&used_uids(&pw), &avoid, o.uid < 1000)?;
            pw.update(|u| u.name == o.name, |u| u.uid = to);
            moves.push(Move {
                kind: Kind::User,
                name: o.name.to_string(),
                from: o.uid,
                to,
                is_target: false,
            });
        }
        match &old_user {
            Some(u) => {
                pw.update(|x| x.name == u.name, |x| x.uid = host.uid);
                moves.push(Move {
                    kind: Kind::User,
                    name: u.name.to_string(),
                    from: u.uid,
                    to: host.uid,
                    is_target: true,
                });
            }
            None => {
                pw.push(PasswdEntry {
                    name: user_name.into(),
                    passwd: "x".into(),
                    uid: host.uid,
                    gid: account_gid,
                    gecos: Field::default(),
                    home: format!("/home/{user_name}").into(),
                    shell: "/bin/sh".into(),
                });
                new_user = Some(user_name.to_string());
            }
        }
    }
    // The account's primary group is the configured one.
    pw.update(
        |u| u.name == user_name && u.gid != account_gid,
        |u| u.gid = account_gid,
    );
    let user = pw
        .find(|u| u.name == user_name)
        .cloned()
        .expect("the account exists after planning");

    // --- re-owning --------------------------------------------------------
    let uid_change = old_uid.filter(|&o| o != host.uid).map(|o| (o, host.uid));
    // No group entry: the user's own old primary gid follows.
    let orphan_gid_change = match (&old_group, &old_user) {
        (None, Some(u)) if move_group && u.gid != host.gid => Some((u.gid, host.gid)),
        _ => None,
    };
    let gid_change = group_gid_change.or(orphan_gid_change);
    let made_room_uid = moves
        .iter()
        .find(|m| m.kind == Kind::User && !m.is_target)
        .map(|m| (m.from, m.to));
    let made_room_gid = moves
        .iter()
        .find(|m| m.kind == Kind::Group && !m.is_target)
        .map(|m| (m.from, m.to));
    let mut reown = Vec::new();
    if made_room_uid.is_some() || made_room_gid.is_some() {
        for p in &cfg.chown_paths {
            reown.push(Reown {
                path: p.clone(),
                rule: Rule::Chown {
                    uid: made_room_uid,
                    gid: made_room_gid,
                },
                depth: Depth::Recursive,
            });
        }
    }
    let account_rule = |mode: ChownHome| -> Option<(Rule, Depth)> {
        let changed = Rule::Chown {
            uid: uid_change,
            gid: gid_change,
        };
        let any = uid_change.is_some() || gid_change.is_some();
        match mode {
            ChownHome::None => None,
            ChownHome::Changed if any => Some((changed, Depth::Recursive)),
            ChownHome::Top if any => Some((changed, Depth::Top)),
            ChownHome::Changed | ChownHome::Top => None,
            ChownHome::All => Some((
                Rule::Set {
                    uid: Some(host.uid),
                    gid: Some(account_gid),
                },
                Depth::Recursive,
            )),
        }
    };
    // A home that is not UTF-8 is not used as a path (it is shown escaped).
    let home = user.home.to_str().and_then(usable_home);
    match &home {
        Some(h) => {
            if let Some((rule, depth)) = account_rule(cfg.chown_home) {
                reown.push(Reown {
                    path: h.clone(),
                    rule,
                    depth,
                });
            }
        }
        None => notes.push(format!(
            "home '{}' of {user_name} is not re-owned or created (not an absolute path below /)",
            user.home
        )),
    }
    let paths_mode = match cfg.chown_home {
        ChownHome::None => ChownHome::Changed,
        m => m,
    };
    if let Some((rule, depth)) = account_rule(paths_mode) {
        for p in &cfg.chown_paths {
            if Some(p) != home.as_ref() {
                reown.push(Reown {
                    path: p.clone(),
                    rule: rule.clone(),
                    depth,
                });
            }
        }
    }

    // --- credentials ------------------------------------------------------
    let mut groups: BTreeSet<Id> = gr
        .records()
        .filter(|(_, g)| g.members.iter().any(|m| m == user_name))
        .map(|(_, g)| g.gid)
        .collect();
    groups.insert(account_gid);
    // Groups the runtime added on its own (`--group-add`): what the process
    // had, minus what the runtime derived from the image's accounts.
    let derived = runtime_groups(passwd, group, start.uid);
    for g in &start.groups {
        if !derived.contains(g) && *g != start.gid {
            groups.insert(*g);
        }
    }
    if !move_group {
        // Caveat 2: the process gid is 0, but root's groups are never given.
        groups.remove(&0);
    }
    let target = Target {
        user: user_name.to_string(),
        group: group_name.to_string(),
        uid: host.uid,
        gid: host.gid,
        groups: groups.into_iter().collect(),
        home: String::from_utf8_lossy(&user.home).into_owned(),
        shell: if user.shell.is_empty() {
            "/bin/sh".into()
        } else {
            String::from_utf8_lossy(&user.shell).into_owned()
        },
    };

    let sudoers = cfg.sudo.then(|| {
        format!("# Written by hostmatch-entrypoint (sudo = true).\n{user_name} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    });
    let passwd_changed = pw.render() != passwd.render();
    let group_changed = gr.render() != group.render();
    Ok(Decision::Match(Box::new(Plan {
        passwd: pw,
        group: gr,
        passwd_changed,
        group_changed,
        new_user,
        new_group,
        moves,
        create_home: cfg.create_user && home.is_some(),
        home,
        reown,
        sudoers,
        target,
        notes,
    })))
}

fn usable_home(home: &str) -> Option<PathBuf> {
    let p = Path::new(home);
    (p.is_absolute() && p != Path::new("/") && !home.contains("/../") && !home.ends_with("/.."))
        .then(|| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::linefile::as_text;
    use proptest::prelude::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
# a comment\n\
+@nis::::::\n\
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
app:x:1234:1234::/home/app:/bin/bash\n\
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\n\
sudo:x:27:\n\
www-data:x:33:\n\
staff:x:50:app\n\
users:x:100:\n\
app:x:1234:\n\
nogroup:x:65534:\n";

    fn files() -> (PasswdFile, GroupFile) {
        (PasswdFile::parse(PASSWD), GroupFile::parse(GROUP))
    }

    fn run(uid: Id, gid: Id, cfg: &Config) -> Plan {
        let (p, g) = files();
        let start = StartCreds {
            uid,
            gid,
            groups: vec![],
        };
        match plan(&p, &g, Some(HostIds { uid, gid }), &start, cfg).unwrap() {
            Decision::Match(p) => *p,
            d => panic!("{d:?}"),
        }
    }

    fn user<'a>(p: &'a Plan, name: &str) -> &'a PasswdEntry {
        p.passwd.find(|u| u.name == name).unwrap()
    }
    fn group<'a>(p: &'a Plan, name: &str) -> &'a GroupEntry {
        p.group.find(|g| g.name == name).unwrap()
    }

    #[test]
    fn existing_account_moves_to_host_ids_and_home_follows() {
        let p = run(1000, 1000, &Config::default());
        assert_eq!(user(&p, "app").uid, 1000);
        assert_eq!(user(&p, "app").gid, 1000);
        assert_eq!(group(&p, "app").gid, 1000);
        assert_eq!(
            p.reown,
            vec![Reown {
                path: "/home/app".into(),
                rule: Rule::Chown {
                    uid: Some((1234, 1000)),
                    gid: Some((1234, 1000))
                },
                depth: Depth::Recursive
            }]
        );
        assert_eq!(p.target.uid, 1000);
        assert_eq!(p.target.gid, 1000);
        assert_eq!(p.target.groups, vec![50, 1000]);
        assert_eq!(p.target.home, "/home/app");
        assert_eq!(p.target.shell, "/bin/bash");
        assert!(p.new_user.is_none() && p.new_group.is_none());
    }

    #[test]
    fn matching_ids_change_nothing() {
        let p = run(1234, 1234, &Config::default());
        assert!(!p.passwd_changed && !p.group_changed);
        assert!(p.reown.is_empty() && p.moves.is_empty());
        assert!(p.summary().is_empty());
    }

    #[test]
    fn unchanged_lines_are_kept_byte_for_byte() {
        let p = run(1000, 1000, &Config::default());
        let out = as_text(p.passwd.render());
        assert!(out.contains("# a comment\n+@nis::::::\n"));
        assert!(out.contains("www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"));
        assert!(out.contains("app:x:1000:1000::/home/app:/bin/bash\n"));
    }

    #[test]
    fn caveat1_other_account_and_group_move_to_free_system_ids() {
        let cfg = Config {
            chown_paths: vec!["/var/www".into()],
            ..Config::default()
        };
        let p = run(33, 33, &cfg);
        let www = user(&p, "www-data");
        assert_ne!(www.uid, 33);
        assert!(www.uid < 1000 && www.uid >= 100, "{}", www.uid);
        assert_eq!(
            www.gid,
            group(&p, "www-data").gid,
            "www-data's primary group follows"
        );
        assert_ne!(group(&p, "www-data").gid, 33);
        assert_eq!(user(&p, "app").uid, 33);
        assert_eq!(group(&p, "app").gid, 33);
        // Files in chown_paths: first the one making room, then the account.
        let (wu, wg) = (www.uid, group(&p, "www-data").gid);
        assert_eq!(p.reown[0].path, PathBuf::from("/var/www"));
        assert_eq!(
            p.reown[0].rule,
            Rule::Chown {
                uid: Some((33, wu)),
                gid: Some((33, wg))
            }
        );
        let account = Rule::Chown {
            uid: Some((1234, 33)),
            gid: Some((1234, 33)),
        };
        assert_eq!(p.reown[1].path, PathBuf::from("/home/app"));
        assert_eq!(p.reown[1].rule, account);
        assert_eq!(p.reown[2].path, PathBuf::from("/var/www"));
        assert_eq!(p.reown[2].rule, account);
        assert!(p.summary().iter().any(|l| l.contains("www-data moves")));
    }

    #[test]
    fn caveat1_moved_ids_never_reuse_the_host_or_old_ids() {
        let p = run(65534, 65534, &Config::default());
        let nobody = user(&p, "nobody");
        assert!(![65534, 1234, 65535].contains(&nobody.uid));
        assert!(nobody.uid >= 1000);
        let ids: Vec<Id> = p.passwd.records().map(|(_, u)| u.uid).collect();
        let set: BTreeSet<Id> = ids.iter().copied().collect();
        assert_eq!(ids.len(), set.len(), "uids stay unique: {ids:?}");
    }

    #[test]
    fn caveat1_root_is_never_moved() {
        let (p, g) = files();
        let cfg = Config {
            user: "root".into(),
            ..Config::default()
        };
        let start = StartCreds::default();
        let e = plan(
            &p,
            &g,
            Some(HostIds {
                uid: 1000,
                gid: 1000,
            }),
            &start,
            &cfg,
        )
        .unwrap_err();
        assert!(e.to_string().contains("root is never moved"), "{e}");
        let cfg = Config {
            group: Some("root".into()),
            ..Config::default()
        };
        let e = plan(
            &p,
            &g,
            Some(HostIds {
                uid: 1000,
                gid: 1000,
            }),
            &start,
            &cfg,
        )
        .unwrap_err();
        assert!(e.to_string().contains("never moved"), "{e}");
    }

    #[test]
    fn caveat2_host_uid_0_stays_root_untouched() {
        let (p, g) = files();
        let d = plan(
            &p,
            &g,
            Some(HostIds { uid: 0, gid: 1000 }),
            &StartCreds::default(),
            &Config::default(),
        )
        .unwrap();
        assert!(matches!(d, Decision::StayRoot { .. }), "{d:?}");
        let d = plan(&p, &g, None, &StartCreds::default(), &Config::default()).unwrap();
        assert!(matches!(d, Decision::StayRoot { .. }));
    }

    #[test]
    fn caveat2_gid_0_keeps_root_group_and_gives_only_the_accounts_groups() {
        let (pw, gr) = files();
        // Root is listed in a group: its groups must never be given.
        let gr = GroupFile::parse(as_text(gr.render()).replace("sudo:x:27:", "sudo:x:27:root"));
        let start = StartCreds {
            uid: 1000,
            gid: 0,
            groups: vec![0],
        };
        let d = plan(
            &pw,
            &gr,
            Some(HostIds { uid: 1000, gid: 0 }),
            &start,
            &Config::default(),
        )
        .unwrap();
        let Decision::Match(p) = d else { panic!() };
        assert_eq!(p.target.gid, 0);
        assert_eq!(p.target.groups, vec![50, 1234], "account's own groups only");
        assert_eq!(group(&p, "root").gid, 0);
        assert_eq!(
            group(&p, "app").gid,
            1234,
            "the account's group is not moved"
        );
        assert_eq!(
            p.reown[0].rule,
            Rule::Chown {
                uid: Some((1234, 1000)),
                gid: None
            }
        );
    }

    #[test]
    fn caveat2_gid_0_with_a_new_account_gets_its_own_group() {
        let cfg = Config {
            user: "dev".into(),
            ..Config::default()
        };
        let p = run(1000, 0, &cfg);
        let dev = group(&p, "dev");
        assert_ne!(dev.gid, 0);
        assert_eq!(user(&p, "dev").gid, dev.gid);
        assert_eq!(p.target.gid, 0);
        assert_eq!(p.target.groups, vec![dev.gid]);
    }

    #[test]
    fn missing_account_is_created_with_its_group() {
        let cfg = Config {
            user: "dev".into(),
            ..Config::default()
        };
        let p = run(1000, 1000, &cfg);
        assert_eq!(
            user(&p, "dev"),
            &PasswdEntry {
                name: "dev".into(),
                passwd: "x".into(),
                uid: 1000,
                gid: 1000,
                gecos: "".into(),
                home: "/home/dev".into(),
                shell: "/bin/sh".into()
            }
        );
        assert_eq!(group(&p, "dev").gid, 1000);
        assert_eq!(p.new_user.as_deref(), Some("dev"));
        assert_eq!(p.new_group.as_deref(), Some("dev"));
        assert!(p.create_home);
        assert_eq!(p.home, Some(PathBuf::from("/home/dev")));
        assert!(p.reown.is_empty(), "a new account has no old files");
    }

    #[test]
    fn missing_account_without_create_user_is_an_error() {
        let (p, g) = files();
        let cfg = Config {
            user: "dev".into(),
            create_user: false,
            ..Config::default()
        };
        let host = Some(HostIds {
            uid: 1000,
            gid: 1000,
        });
        assert!(plan(&p, &g, host, &StartCreds::default(), &cfg).is_err());
    }

    #[test]
    fn group_add_groups_are_kept_and_runtime_derived_ones_are_not() {
        let (pw, gr) = files();
        // uid 33 is www-data in the image; the runtime gave it www-data's
        // memberships (here: 100 via the members list) and --group-add 999.
        let gr =
            GroupFile::parse(as_text(gr.render()).replace("users:x:100:", "users:x:100:www-data"));
        let start = StartCreds {
            uid: 33,
            gid: 33,
            groups: vec![100, 999, 33],
        };
        let d = plan(
            &pw,
            &gr,
            Some(HostIds { uid: 33, gid: 33 }),
            &start,
            &Config::default(),
        )
        .unwrap();
        let Decision::Match(p) = d else { panic!() };
        assert_eq!(p.target.groups, vec![33, 50, 999]);
    }

    #[test]
    fn chown_home_modes() {
        let top = run(
            1000,
            1000,
            &Config {
                chown_home: ChownHome::Top,
                ..Config::default()
            },
        );
        assert_eq!(top.reown[0].depth, Depth::Top);
        let none = run(
            1000,
            1000,
            &Config {
                chown_home: ChownHome::None,
                ..Config::default()
            },
        );
        assert!(none.reown.is_empty());
        let all = run(
            1234,
            1234,
            &Config {
                chown_home: ChownHome::All,
                ..Config::default()
            },
        );
        assert_eq!(
            all.reown[0].rule,
            Rule::Set {
                uid: Some(1234),
                gid: Some(1234)
            }
        );
    }

    #[test]
    fn home_at_root_is_never_re_owned() {
        let pw = PasswdFile::parse("app:x:1234:1234::/:/bin/sh\n");
        let gr = GroupFile::parse("app:x:1234:\n");
        let d = plan(
            &pw,
            &gr,
            Some(HostIds {
                uid: 1000,
                gid: 1000,
            }),
            &StartCreds::default(),
            &Config::default(),
        )
        .unwrap();
        let Decision::Match(p) = d else { panic!() };
        assert!(p.reown.is_empty());
        assert!(!p.create_home);
        assert_eq!(p.notes.len(), 1);
    }

    #[test]
    fn sudo_line_names_the_account() {
        let p = run(
            1000,
            1000,
            &Config {
                sudo: true,
                ..Config::default()
            },
        );
        assert!(p
            .sudoers
            .unwrap()
            .contains("\napp ALL=(ALL:ALL) NOPASSWD: ALL\n"));
    }

    #[test]
    fn ids_above_2_31_work() {
        let big = (1u32 << 31) + 5;
        let p = run(big, big, &Config::default());
        assert_eq!(user(&p, "app").uid, big);
        assert!(as_text(p.passwd.render()).contains(&format!("app:x:{big}:{big}:")));
    }

    proptest! {
        #[test]
        fn lines_the_plan_does_not_touch_are_kept_in_order(
            junk in prop::collection::vec(prop_oneof![
                "#[ -~]{0,30}", "\\+[a-z@]{0,10}:*", "-[a-z]{0,10}", "[a-z]{1,8} [a-z]{1,8}", Just(String::new())
            ], 0..8),
            uid in 1000u32..3000,
        ) {
            let mut lines: Vec<String> = PASSWD.lines().map(String::from).collect();
            for (i, j) in junk.iter().enumerate() {
                lines.insert((i * 3) % (lines.len() + 1), j.clone());
            }
            let text = lines.join("\n") + "\n";
            let pw = PasswdFile::parse(&text);
            let (_, gr) = files();
            let start = StartCreds { uid, gid: uid, groups: vec![] };
            let Decision::Match(p) = plan(&pw, &gr, Some(HostIds { uid, gid: uid }), &start, &Config::default()).unwrap() else {
                panic!()
            };
            let out = as_text(p.passwd.render());
            let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("app:")).collect();
            let got: Vec<&str> = out.lines().filter(|l| !l.starts_with("app:")).collect();
            prop_assert_eq!(kept, got);
            let app = format!("app:x:{uid}:{uid}:");
            prop_assert!(out.lines().any(|l| l.starts_with(&app)));
        }

        #[test]
        fn planner_invariants(uid in prop_oneof![1u32..2000, Just(33u32), Just(65534u32), 1u32..u32::MAX - 1],
                              gid in prop_oneof![0u32..2000, Just(33u32), Just(0u32), 1u32..u32::MAX - 1],
                              create in any::<bool>(), user in prop_oneof![Just("app"), Just("www-data"), Just("dev")]) {
            let (pw, gr) = files();
            let cfg = Config { user: user.into(), create_user: create, ..Config::default() };
            let start = StartCreds { uid, gid, groups: vec![] };
            let r = plan(&pw, &gr, Some(HostIds { uid, gid }), &start, &cfg);
            let Ok(Decision::Match(p)) = r else {
                prop_assert!(!create && user == "dev");
                return Ok(());
            };
            // The account has the host uid; the process gid is the host gid.
            prop_assert_eq!(p.passwd.find(|u| u.name == user).unwrap().uid, uid);
            prop_assert_eq!(p.target.uid, uid);
            prop_assert_eq!(p.target.gid, gid);
            // Root never moves; root's group is never given unless it is the host gid.
            prop_assert_eq!(p.passwd.find(|u| u.name == "root").unwrap().uid, 0);
            prop_assert_eq!(p.group.find(|g| g.name == "root").unwrap().gid, 0);
            prop_assert!(!p.target.groups.contains(&0));
            // uids and gids stay unique.
            let uids: Vec<Id> = p.passwd.records().map(|(_, u)| u.uid).collect();
            prop_assert_eq!(uids.len(), uids.iter().collect::<BTreeSet<_>>().len());
            let gids: Vec<Id> = p.group.records().map(|(_, g)| g.gid).collect();
            prop_assert_eq!(gids.len(), gids.iter().collect::<BTreeSet<_>>().len());
            // Non-record lines survive.
            let out = as_text(p.passwd.render());
            prop_assert!(out.contains("# a comment\n+@nis::::::\n"));
            // Every group of the target exists, and the list is sorted.
            for g in &p.target.groups {
                prop_assert!(p.group.find(|x| x.gid == *g).is_some());
            }
            prop_assert!(p.target.groups.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
