//! The pure planner: accounts + host ids + configuration -> what to change.
//!
//! No I/O here. [`plan`] is a checklist of rules, each a named function with
//! its own unit tests: which host ids are refused ([`check_host_ids`]), the
//! lines a runtime added for the host uid ([`without_runtime_lines`]), the
//! account and its group ([`account_entry`], [`account_group_name`],
//! [`check_account_group`]), who moves ([`Draft::match_group`], [`Draft::match_user`]:
//! accounts in the way make room first), which trees are re-owned with which
//! [`Rule`] and in which order ([`reown_trees`]), the command's groups
//! ([`command_groups`]) and what the user should know ([`gid_0_note`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::accounts::{GroupEntry, GroupFile, PasswdEntry, PasswdFile};
use crate::entrypoint::config::{check_tree, ChownHome, Config};
use crate::entrypoint::reach::Ids;
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
    Match(Box<MatchPlan>),
}

/// Whether a move is of a user or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOrGroup {
    User,
    Group,
}

/// An account or group that gets a new id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub kind: UserOrGroup,
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
    /// The ids of the account whose files the rule moves (before and after):
    /// a file with several links changes only from these
    /// ([`crate::own::Guard`]).
    pub owner: Ids,
    /// For an account that made room (re-owned before the account's own).
    pub made_room: bool,
}

/// The credentials the command runs with, and its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: String,
    pub group: String,
    pub uid: Id,
    /// The process gid (the host gid; 0 when the host gid is 0).
    pub gid: Id,
    /// Supplementary groups, sorted, without duplicates.
    pub groups: Vec<Id>,
    pub home: String,
    pub shell: String,
}

/// Everything the entrypoint changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchPlan {
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
    /// Lines the container runtime added for the host ids, removed.
    pub runtime_lines: Vec<String>,
    /// The account's home; created (owned by the target) when missing and
    /// `create_home` is set.
    pub home: Option<PathBuf>,
    pub create_home: bool,
    /// The account's primary gid (the group its files are given).
    pub account_gid: Id,
    /// Trees to re-own, in order.
    pub reown: Vec<Reown>,
    /// Content of /etc/sudoers.d/hostmatch, when `sudo = true`.
    pub sudoers: Option<String>,
    pub target: Target,
    /// Who the workload may be: the account's ids before and after, every
    /// group of it (paths it could have changed are reached with care).
    pub account: Ids,
    /// Things the user should know (e.g. a home that is not re-owned).
    pub notes: Vec<String>,
}

impl MatchPlan {
    /// Whether the account files change.
    pub fn edits_accounts(&self) -> bool {
        self.passwd_changed || self.group_changed
    }

    /// One line per change, for logs and for the read-only error.
    pub fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        for m in &self.moves {
            let what = match m.kind {
                UserOrGroup::User => "user",
                UserOrGroup::Group => "group",
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
        for l in &self.runtime_lines {
            out.push(format!("{l} is removed"));
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

/// Rule: id 4294967295 is `(uid_t)-1`, which `chown` and `setresuid` read as
/// "leave unchanged": as a host id it would keep root's ids after the drop.
pub fn check_host_ids(host: HostIds) -> Result<()> {
    for (what, id) in [("uid", host.uid), ("gid", host.gid)] {
        if id == Id::MAX {
            return Err(Error::invalid(format!(
                "host {what} {id} is (uid_t)-1, which the kernel reads as \"unchanged\"; \
                 refusing it"
            )));
        }
    }
    Ok(())
}

/// Whether a passwd line is one a container runtime adds for a `--user` /
/// `runAsUser` uid the image lacks: Podman's `UID:*:UID:GID:container
/// user:WORKDIR:/bin/sh` (the name is the uid) and CRI-O's
/// `NAME:x:UID:GID:NAME user:HOME:/sbin/nologin` (NAME `default` unless the
/// pod names one).
pub fn is_runtime_passwd_line(u: &PasswdEntry) -> bool {
    let podman = u.name == u.uid.to_string() && u.gecos == "container user";
    let crio = u.gecos == format!("{} user", u.name) && u.shell == "/sbin/nologin";
    podman || crio
}

/// Whether a group line is one a runtime adds for the run's gid: its name
/// is the gid itself (`GID:x:GID:` from CRI-O, `GID:x:GID:UID` from Podman;
/// shadow never makes an all-digit name).
pub fn is_runtime_group_line(g: &GroupEntry) -> bool {
    g.name == g.gid.to_string()
}

/// Rule: the lines a container runtime added for the host ids give way to
/// the account: they are removed (not moved out of the way, which would
/// leave a stray account). Returns the files without them and a description
/// of each removed line.
pub fn without_runtime_lines(
    passwd: &PasswdFile,
    group: &GroupFile,
    host: HostIds,
    cfg: &Config,
) -> (PasswdFile, GroupFile, Vec<String>) {
    let mut removed = Vec::new();
    let mut pw = passwd.clone();
    let is_added =
        |u: &PasswdEntry| u.uid == host.uid && u.name != cfg.user && is_runtime_passwd_line(u);
    for (_, u) in passwd.records().filter(|(_, u)| is_added(u)) {
        removed.push(format!(
            "user {} (added by the container runtime for uid {})",
            u.name, u.uid
        ));
    }
    pw.remove(is_added);
    let mut gr = group.clone();
    let is_added = |g: &GroupEntry| {
        g.gid == host.gid && cfg.group.as_deref() != g.name.to_str() && is_runtime_group_line(g)
    };
    for (_, g) in group.records().filter(|(_, g)| is_added(g)) {
        removed.push(format!(
            "group {} (added by the container runtime for gid {})",
            g.name, g.gid
        ));
    }
    gr.remove(is_added);
    (pw, gr, removed)
}

/// Rule: the configured account, if it exists; it must not be root, and it
/// must exist unless it may be created.
pub fn account_entry(pw: &PasswdFile, cfg: &Config) -> Result<Option<PasswdEntry>> {
    let user_name = cfg.user.as_str();
    let old_user = pw.find(|u| u.name == user_name).cloned();
    match &old_user {
        None if !cfg.create_user => Err(Error::invalid(format!(
            "user '{user_name}' does not exist in /etc/passwd and create_user is false"
        ))),
        Some(u) if u.uid == 0 => Err(Error::invalid(format!(
            "user '{user_name}' has uid 0: root is never moved; set `user` to another account"
        ))),
        _ => Ok(old_user),
    }
}

/// Rule: the account's group is the configured one, else the user's primary
/// group, else one named like the user.
pub fn account_group_name(cfg: &Config, old_user: Option<&PasswdEntry>, gr: &GroupFile) -> Field {
    match (&cfg.group, old_user) {
        (Some(g), _) => g.as_str().into(),
        (None, Some(u)) => gr
            .find(|g| g.gid == u.gid)
            .map(|g| g.name.clone())
            .unwrap_or_else(|| cfg.user.as_str().into()),
        (None, None) => cfg.user.as_str().into(),
    }
}

/// Rule: a configured group must exist unless it may be created, and the
/// root group is never moved.
pub fn check_account_group(
    old_group: Option<&GroupEntry>,
    group_name: &Field,
    cfg: &Config,
    host: HostIds,
) -> Result<()> {
    if old_group.is_none() && cfg.group.is_some() && !cfg.create_user {
        return Err(Error::UnknownGroup(group_name.to_string()));
    }
    if let Some(g) = old_group {
        if g.gid == 0 && host.gid != 0 {
            return Err(Error::invalid(format!(
                "group '{}' has gid 0: the root group is never moved; set `group` to another group",
                g.name
            )));
        }
    }
    Ok(())
}

/// What [`Draft::match_group`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMatch {
    /// The account's primary gid after the plan.
    pub account_gid: Id,
    /// A group that is added.
    pub new_group: Option<String>,
    /// The account group's gid change.
    pub gid_change: Option<(Id, Id)>,
}

/// The account files being planned, and the moves so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub pw: PasswdFile,
    pub gr: GroupFile,
    pub moves: Vec<Move>,
}

impl Draft {
    /// Rule: the account's group takes the host gid; other groups at that gid
    /// move to a free gid first (users whose primary group it was follow).
    /// With host gid 0 the account's group stays (a new account
    /// gets its own group at a free gid).
    pub fn match_group(
        &mut self,
        group_name: &Field,
        old_group: Option<&GroupEntry>,
        old_user: Option<&PasswdEntry>,
        host: HostIds,
        cfg: &Config,
    ) -> Result<GroupMatch> {
        let (gr, pw, moves) = (&mut self.gr, &mut self.pw, &mut self.moves);
        let move_group = host.gid != 0;
        let can_make_group = old_group.is_some() || cfg.create_user;
        let unchanged = GroupMatch {
            account_gid: 0,
            new_group: None,
            gid_change: None,
        };
        if move_group && can_make_group && old_group.map(|g| g.gid) != Some(host.gid) {
            make_room_for_gid(gr, pw, group_name, old_group, host.gid, moves)?;
            return Ok(match old_group {
                Some(g) => {
                    gr.update(|x| x.name == g.name, |x| x.gid = host.gid);
                    pw.update(|u| u.gid == g.gid, |u| u.gid = host.gid);
                    moves.push(Move {
                        kind: UserOrGroup::Group,
                        name: g.name.to_string(),
                        from: g.gid,
                        to: host.gid,
                        is_target: true,
                    });
                    GroupMatch {
                        account_gid: host.gid,
                        gid_change: Some((g.gid, host.gid)),
                        ..unchanged
                    }
                }
                None => {
                    gr.push(new_group_entry(group_name, host.gid));
                    GroupMatch {
                        account_gid: host.gid,
                        new_group: Some(group_name.to_string()),
                        ..unchanged
                    }
                }
            });
        }
        if let Some(g) = old_group {
            return Ok(GroupMatch {
                account_gid: g.gid,
                ..unchanged
            });
        }
        if cfg.create_user {
            // Host gid 0 with a new account: its own group at a free gid.
            let to = free_id(&used_gids(gr), &[0], false)?;
            gr.push(new_group_entry(group_name, to));
            return Ok(GroupMatch {
                account_gid: to,
                new_group: Some(group_name.to_string()),
                ..unchanged
            });
        }
        // No group entry and none may be made: the primary gid is the host's.
        let account_gid = if move_group {
            host.gid
        } else {
            old_user.map_or(host.gid, |u| u.gid)
        };
        Ok(GroupMatch {
            account_gid,
            ..unchanged
        })
    }

    /// Rule: the account takes the host uid; other accounts at that uid move
    /// to a free uid first (root is never moved: refused earlier). A missing
    /// account is added (`/bin/sh`, home `/home/NAME`). Returns the added
    /// user.
    pub fn match_user(
        &mut self,
        cfg: &Config,
        old_user: Option<&PasswdEntry>,
        host: HostIds,
        account_gid: Id,
    ) -> Result<Option<String>> {
        let (pw, moves) = (&mut self.pw, &mut self.moves);
        let user_name = cfg.user.as_str();
        let old_uid = old_user.map(|u| u.uid);
        if old_uid == Some(host.uid) {
            return Ok(None);
        }
        let others: Vec<PasswdEntry> = pw
            .records()
            .map(|(_, u)| u.clone())
            .filter(|u| u.uid == host.uid && u.name != user_name)
            .collect();
        for o in &others {
            let mut avoid = vec![host.uid];
            avoid.extend(old_uid);
            let to = free_id(&used_uids(pw), &avoid, o.uid < 1000)?;
            pw.update(|u| u.name == o.name, |u| u.uid = to);
            moves.push(Move {
                kind: UserOrGroup::User,
                name: o.name.to_string(),
                from: o.uid,
                to,
                is_target: false,
            });
        }
        match old_user {
            Some(u) => {
                pw.update(|x| x.name == u.name, |x| x.uid = host.uid);
                moves.push(Move {
                    kind: UserOrGroup::User,
                    name: u.name.to_string(),
                    from: u.uid,
                    to: host.uid,
                    is_target: true,
                });
                Ok(None)
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
                Ok(Some(user_name.to_string()))
            }
        }
    }
}

fn new_group_entry(name: &Field, gid: Id) -> GroupEntry {
    GroupEntry {
        name: name.clone(),
        passwd: "x".into(),
        gid,
        members: Vec::new(),
    }
}

/// Moves every other group at `gid` to a free gid (system gids stay below
/// 1000); never to the host gid or the account group's old gid.
fn make_room_for_gid(
    gr: &mut GroupFile,
    pw: &mut PasswdFile,
    group_name: &Field,
    old_group: Option<&GroupEntry>,
    gid: Id,
    moves: &mut Vec<Move>,
) -> Result<()> {
    let others: Vec<GroupEntry> = gr
        .records()
        .map(|(_, g)| g.clone())
        .filter(|g| g.gid == gid && g.name != *group_name)
        .collect();
    for o in &others {
        let mut avoid = vec![gid];
        avoid.extend(old_group.map(|g| g.gid));
        let to = free_id(&used_gids(gr), &avoid, o.gid < 1000)?;
        gr.update(|g| g.name == o.name, |g| g.gid = to);
        pw.update(|u| u.gid == o.gid, |u| u.gid = to);
        moves.push(Move {
            kind: UserOrGroup::Group,
            name: o.name.to_string(),
            from: o.gid,
            to,
            is_target: false,
        });
    }
    Ok(())
}

/// The id changes of the account, for its trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdChanges {
    pub uid: Option<(Id, Id)>,
    pub gid: Option<(Id, Id)>,
}

/// The rule and depth that re-owns the account's entries of a tree, by
/// `chown_home` mode (`None`: nothing to do).
pub fn account_rule(
    mode: ChownHome,
    changes: IdChanges,
    uid: Id,
    account_gid: Id,
) -> Option<(Rule, Depth)> {
    let changed = Rule::Chown {
        uid: changes.uid,
        gid: changes.gid,
    };
    let any = changes.uid.is_some() || changes.gid.is_some();
    match mode {
        ChownHome::None => None,
        ChownHome::Changed if any => Some((changed, Depth::Recursive)),
        ChownHome::Top if any => Some((changed, Depth::Top)),
        ChownHome::Changed | ChownHome::Top => None,
        ChownHome::All => Some((
            Rule::Set {
                uid: Some(uid),
                gid: Some(account_gid),
            },
            Depth::Recursive,
        )),
    }
}

/// Rule: the home is used when it is an absolute path below `/`, without
/// `..`, outside the system trees; otherwise a note says why not.
pub fn usable_home(home: &Field, user: &str) -> std::result::Result<PathBuf, String> {
    let Some(home) = home.to_str() else {
        return Err(format!(
            "home '{home}' of {user} is not re-owned or created: it is not UTF-8"
        ));
    };
    let p = Path::new(home);
    check_tree(p)
        .map(|()| p.to_path_buf())
        .map_err(|why| format!("home '{home}' of {user} is not re-owned or created: it {why}"))
}

/// Rule: the trees to re-own, in order: every `chown_paths` entry for the
/// accounts that made room (their files follow them), then the home, then
/// every `chown_paths` entry for the account (`chown_home = "none"` counts
/// as `changed` there).
pub fn reown_trees(
    cfg: &Config,
    moves: &[Move],
    changes: IdChanges,
    home: Option<&PathBuf>,
    host_uid: Id,
    account_gid: Id,
) -> Vec<Reown> {
    let made_room = |k: UserOrGroup| {
        moves
            .iter()
            .find(|m| m.kind == k && !m.is_target)
            .map(|m| (m.from, m.to))
    };
    let (room_uid, room_gid) = (made_room(UserOrGroup::User), made_room(UserOrGroup::Group));
    let mut reown = Vec::new();
    if room_uid.is_some() || room_gid.is_some() {
        let owner = Ids {
            uids: room_uid.map_or(vec![], |(a, b)| vec![a, b]),
            gids: room_gid.map_or(vec![], |(a, b)| vec![a, b]),
        };
        for p in &cfg.chown_paths {
            reown.push(Reown {
                path: p.clone(),
                rule: Rule::Chown {
                    uid: room_uid,
                    gid: room_gid,
                },
                depth: Depth::Recursive,
                owner: owner.clone(),
                made_room: true,
            });
        }
    }
    let owner = Ids {
        uids: ids_of(changes.uid, host_uid),
        gids: ids_of(changes.gid, account_gid),
    };
    let tree = |path: &PathBuf, (rule, depth): (Rule, Depth)| Reown {
        path: path.clone(),
        rule,
        depth,
        owner: owner.clone(),
        made_room: false,
    };
    if let (Some(h), Some(r)) = (
        home,
        account_rule(cfg.chown_home, changes, host_uid, account_gid),
    ) {
        reown.push(tree(h, r));
    }
    let paths_mode = match cfg.chown_home {
        ChownHome::None => ChownHome::Changed,
        m => m,
    };
    if let Some(r) = account_rule(paths_mode, changes, host_uid, account_gid) {
        for p in cfg.chown_paths.iter().filter(|p| Some(*p) != home) {
            reown.push(tree(p, r.clone()));
        }
    }
    reown
}

/// An id now and, when it changes, the one it had.
fn ids_of(change: Option<(Id, Id)>, now: Id) -> Vec<Id> {
    let mut v: Vec<Id> = change.map_or(vec![], |(a, b)| vec![a, b]);
    if !v.contains(&now) {
        v.push(now);
    }
    v
}

/// Rule: the command's supplementary groups: the groups whose member list
/// names the account, its primary group, and what the runtime added on its
/// own (`--group-add`: what the process had, minus what the runtime derived
/// from the image's accounts for the starting uid, minus the starting gid).
/// With host gid 0 root's group is never given.
pub fn command_groups(
    gr: &GroupFile,
    image: (&PasswdFile, &GroupFile),
    user_name: &str,
    account_gid: Id,
    start: &StartCreds,
    host: HostIds,
) -> Vec<Id> {
    let mut groups: BTreeSet<Id> = gr
        .records()
        .filter(|(_, g)| g.members.iter().any(|m| m == user_name))
        .map(|(_, g)| g.gid)
        .collect();
    groups.insert(account_gid);
    let derived = runtime_groups(image.0, image.1, start.uid);
    for g in &start.groups {
        if !derived.contains(g) && *g != start.gid {
            groups.insert(*g);
        }
    }
    if host.gid == 0 {
        groups.remove(&0);
    }
    groups.into_iter().collect()
}

/// Rule: a start with gid 0 for a non-root user (Kubernetes `runAsUser`
/// without `runAsGroup`, `docker run --user UID` when the image has no
/// account with that uid) says what happens and what to set.
pub fn gid_0_note(host: HostIds) -> Option<String> {
    (host.gid == 0 && host.uid != 0).then(|| {
        "the container runs with gid 0 (Kubernetes: runAsUser without runAsGroup; Docker: \
         --user UID without a group when the image has no account with that uid): the command \
         gets group root and its new files belong to group root; set runAsGroup (docker run \
         --user UID:GID) to the host user's gid"
            .to_string()
    })
}

/// `ids` and then every group of `groups` not in it.
fn with_groups(mut ids: Vec<Id>, groups: &[Id]) -> Vec<Id> {
    for g in groups {
        if !ids.contains(g) {
            ids.push(*g);
        }
    }
    ids
}

/// The command's credentials: the host ids, the account's name, home and
/// shell (`/bin/sh` when it has none).
fn target_of(user: &PasswdEntry, group: &Field, host: HostIds, groups: Vec<Id>) -> Target {
    Target {
        user: user.name.to_string(),
        group: group.to_string(),
        uid: host.uid,
        gid: host.gid,
        groups,
        home: String::from_utf8_lossy(&user.home).into_owned(),
        shell: if user.shell.is_empty() {
            "/bin/sh".into()
        } else {
            String::from_utf8_lossy(&user.shell).into_owned()
        },
    }
}

/// The content of /etc/sudoers.d/hostmatch for the account (`sudo = true`;
/// the name is checked: never a sudoers keyword or alias).
fn sudoers_line(user_name: &str) -> String {
    format!(
        "# Written by hostmatch-entrypoint (sudo = true).\n{user_name} ALL=(ALL:ALL) NOPASSWD: ALL\n"
    )
}

/// Plans the match of `cfg.user` to `host`. `host = None` (root mode with no
/// host ids) and host uid 0 mean: run as root, untouched.
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
    check_host_ids(host)?;
    if host.uid == 0 {
        return Ok(Decision::StayRoot {
            reason: "the host user is root (uid 0)".into(),
        });
    }
    let (pw, gr, runtime_lines) = without_runtime_lines(passwd, group, host, cfg);
    let user_name = cfg.user.as_str();
    let old_user = account_entry(&pw, cfg)?;
    let group_name = account_group_name(cfg, old_user.as_ref(), &gr);
    let old_group = gr.find(|g| g.name == group_name).cloned();
    check_account_group(old_group.as_ref(), &group_name, cfg, host)?;
    let mut d = Draft {
        pw,
        gr,
        moves: Vec::new(),
    };
    let g = d.match_group(
        &group_name,
        old_group.as_ref(),
        old_user.as_ref(),
        host,
        cfg,
    )?;
    let new_user = d.match_user(cfg, old_user.as_ref(), host, g.account_gid)?;
    let Draft { mut pw, gr, moves } = d;
    // The account's primary group is the configured one.
    pw.update(
        |u| u.name == user_name && u.gid != g.account_gid,
        |u| u.gid = g.account_gid,
    );
    let user = pw
        .find(|u| u.name == user_name)
        .cloned()
        .expect("the account exists after planning");
    // No group entry: the user's own old primary gid follows.
    let orphan_gid_change = match (&old_group, &old_user) {
        (None, Some(u)) if host.gid != 0 && u.gid != host.gid => Some((u.gid, host.gid)),
        _ => None,
    };
    let changes = IdChanges {
        uid: old_user
            .as_ref()
            .map(|u| u.uid)
            .filter(|&o| o != host.uid)
            .map(|o| (o, host.uid)),
        gid: g.gid_change.or(orphan_gid_change),
    };
    let mut notes = Vec::new();
    let home = usable_home(&user.home, user_name)
        .map_err(|n| notes.push(n))
        .ok();
    let reown = reown_trees(cfg, &moves, changes, home.as_ref(), host.uid, g.account_gid);
    let groups = command_groups(&gr, (passwd, group), user_name, g.account_gid, start, host);
    notes.extend(gid_0_note(host));
    let account = Ids {
        uids: ids_of(changes.uid, host.uid),
        gids: with_groups(ids_of(changes.gid, g.account_gid), &groups),
    };
    let target = target_of(&user, &group_name, host, groups);
    let sudoers = cfg.sudo.then(|| sudoers_line(user_name));
    let passwd_changed = pw.render() != passwd.render();
    let group_changed = gr.render() != group.render();
    Ok(Decision::Match(Box::new(MatchPlan {
        passwd: pw,
        group: gr,
        passwd_changed,
        group_changed,
        new_user,
        new_group: g.new_group,
        moves,
        runtime_lines,
        create_home: cfg.create_user && home.is_some(),
        home,
        account_gid: g.account_gid,
        reown,
        sudoers,
        target,
        account,
        notes,
    })))
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

    /// The plan for host ids `ids` (uid, gid).
    fn decide(
        p: &PasswdFile,
        g: &GroupFile,
        ids: (Id, Id),
        start: &StartCreds,
        cfg: &Config,
    ) -> Result<Decision> {
        let (uid, gid) = ids;
        plan(p, g, Some(HostIds { uid, gid }), start, cfg)
    }

    fn run(uid: Id, gid: Id, cfg: &Config) -> MatchPlan {
        let (p, g) = files();
        let start = StartCreds {
            uid,
            gid,
            groups: vec![],
        };
        match decide(&p, &g, (uid, gid), &start, cfg).unwrap() {
            Decision::Match(p) => *p,
            d => panic!("{d:?}"),
        }
    }

    fn user<'a>(p: &'a MatchPlan, name: &str) -> &'a PasswdEntry {
        p.passwd.find(|u| u.name == name).unwrap()
    }
    fn group<'a>(p: &'a MatchPlan, name: &str) -> &'a GroupEntry {
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
                depth: Depth::Recursive,
                owner: Ids {
                    uids: vec![1234, 1000],
                    gids: vec![1234, 1000]
                },
                made_room: false,
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
    fn colliding_account_and_group_move_to_free_system_ids() {
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
    fn moved_ids_never_reuse_the_host_or_old_ids() {
        let p = run(65534, 65534, &Config::default());
        let nobody = user(&p, "nobody");
        assert!(![65534, 1234, 65535].contains(&nobody.uid));
        assert!(nobody.uid >= 1000);
        let ids: Vec<Id> = p.passwd.records().map(|(_, u)| u.uid).collect();
        let set: BTreeSet<Id> = ids.iter().copied().collect();
        assert_eq!(ids.len(), set.len(), "uids stay unique: {ids:?}");
    }

    #[test]
    fn root_is_never_moved_out_of_the_way() {
        let (p, g) = files();
        let cfg = Config {
            user: "root".into(),
            ..Config::default()
        };
        let start = StartCreds::default();
        let e = decide(&p, &g, (1000, 1000), &start, &cfg).unwrap_err();
        assert!(e.to_string().contains("root is never moved"), "{e}");
        let cfg = Config {
            group: Some("root".into()),
            ..Config::default()
        };
        let e = decide(&p, &g, (1000, 1000), &start, &cfg).unwrap_err();
        assert!(e.to_string().contains("never moved"), "{e}");
    }

    #[test]
    fn host_uid_0_stays_root_untouched() {
        let (p, g) = files();
        let d = decide(
            &p,
            &g,
            (0, 1000),
            &StartCreds::default(),
            &Config::default(),
        )
        .unwrap();
        assert!(matches!(d, Decision::StayRoot { .. }), "{d:?}");
        let d = plan(&p, &g, None, &StartCreds::default(), &Config::default()).unwrap();
        assert!(matches!(d, Decision::StayRoot { .. }));
    }

    #[test]
    fn host_gid_0_keeps_root_group_and_gives_only_the_accounts_groups() {
        let (pw, gr) = files();
        // Root is listed in a group: its groups must never be given.
        let gr = GroupFile::parse(as_text(gr.render()).replace("sudo:x:27:", "sudo:x:27:root"));
        let start = StartCreds {
            uid: 1000,
            gid: 0,
            groups: vec![0],
        };
        let d = decide(&pw, &gr, (1000, 0), &start, &Config::default()).unwrap();
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
    fn host_gid_0_with_a_new_account_gets_its_own_group() {
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
        let d = decide(&pw, &gr, (33, 33), &start, &Config::default()).unwrap();
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
        let d = decide(
            &pw,
            &gr,
            (1000, 1000),
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
    fn host_id_4294967295_is_refused() {
        for (uid, gid) in [(Id::MAX, 1000), (1000, Id::MAX)] {
            let e = check_host_ids(HostIds { uid, gid }).unwrap_err();
            assert!(e.is_bad_input());
            assert!(e.to_string().contains("4294967295"), "{e}");
        }
        assert!(check_host_ids(HostIds {
            uid: Id::MAX - 1,
            gid: 0
        })
        .is_ok());
        let (pw, gr) = files();
        let host = Some(HostIds {
            uid: Id::MAX,
            gid: Id::MAX,
        });
        assert!(plan(&pw, &gr, host, &StartCreds::default(), &Config::default()).is_err());
    }

    #[test]
    fn runtime_lines_for_the_host_ids_give_way() {
        let podman = "1000:*:1000:1000:container user:/work:/bin/sh\n";
        let crio = "default:x:1000:1000:default user:/tmp:/sbin/nologin\n";
        for line in [podman, crio] {
            let pw = PasswdFile::parse(format!("{PASSWD}{line}"));
            let gr = GroupFile::parse(format!("{GROUP}1000:x:1000:1000\n"));
            let host = HostIds {
                uid: 1000,
                gid: 1000,
            };
            let (p, g, removed) = without_runtime_lines(&pw, &gr, host, &Config::default());
            assert_eq!(as_text(p.render()), PASSWD, "{line}");
            assert_eq!(as_text(g.render()), GROUP);
            assert_eq!(removed.len(), 2, "{removed:?}");
            // Only for the host's ids.
            let other = HostIds {
                uid: 1001,
                gid: 1001,
            };
            let (p, _, removed) = without_runtime_lines(&pw, &gr, other, &Config::default());
            assert!(removed.is_empty() && as_text(p.render()).contains(line));
        }
        // Image accounts are never taken for runtime lines.
        let u = PasswdFile::parse("www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n");
        assert!(!is_runtime_passwd_line(u.find(|_| true).unwrap()));
    }

    #[test]
    fn runtime_line_is_removed_not_moved_out_of_the_way() {
        let pw = PasswdFile::parse(format!(
            "{PASSWD}1000:*:1000:1000:container user:/:/bin/sh\n"
        ));
        let gr = GroupFile::parse(format!("{GROUP}1000:x:1000:1000\n"));
        let host = Some(HostIds {
            uid: 1000,
            gid: 1000,
        });
        let Decision::Match(p) =
            plan(&pw, &gr, host, &StartCreds::default(), &Config::default()).unwrap()
        else {
            panic!()
        };
        assert!(p.moves.iter().all(|m| m.is_target), "{:?}", p.moves);
        assert!(p.reown.iter().all(|r| !r.made_room));
        assert!(p
            .summary()
            .iter()
            .any(|l| l.contains("added by the container runtime")));
        assert!(!as_text(p.passwd.render()).contains("container user"));
    }

    #[test]
    fn homes_in_system_trees_are_never_re_owned() {
        assert!(usable_home(&"/home/app".into(), "app").is_ok());
        assert!(usable_home(&"/var/www".into(), "www-data").is_ok());
        for bad in [
            "/",
            "/usr/sbin",
            "/bin",
            "/root",
            "relative",
            "/home/../etc",
            "/nonexistent/../etc",
        ] {
            let e = usable_home(&bad.into(), "x").unwrap_err();
            assert!(e.contains("is not re-owned or created"), "{bad}: {e}");
        }
    }

    #[test]
    fn gid_0_for_a_user_says_what_to_set() {
        let n = gid_0_note(HostIds { uid: 1000, gid: 0 }).unwrap();
        assert!(
            n.contains("runAsGroup") && n.contains("--user UID:GID"),
            "{n}"
        );
        assert!(gid_0_note(HostIds {
            uid: 1000,
            gid: 1000
        })
        .is_none());
        assert!(run(1000, 0, &Config::default())
            .notes
            .iter()
            .any(|n| n.contains("runAsGroup")));
    }

    #[test]
    fn made_room_trees_come_first_with_their_own_owner() {
        let cfg = Config {
            chown_paths: vec!["/var/www".into()],
            ..Config::default()
        };
        let moves = vec![
            Move {
                kind: UserOrGroup::User,
                name: "www-data".into(),
                from: 33,
                to: 999,
                is_target: false,
            },
            Move {
                kind: UserOrGroup::User,
                name: "app".into(),
                from: 1234,
                to: 33,
                is_target: true,
            },
        ];
        let changes = IdChanges {
            uid: Some((1234, 33)),
            gid: None,
        };
        let home = PathBuf::from("/home/app");
        let t = reown_trees(&cfg, &moves, changes, Some(&home), 33, 1234);
        let order: Vec<(&str, bool)> = t
            .iter()
            .map(|r| (r.path.to_str().unwrap(), r.made_room))
            .collect();
        assert_eq!(
            order,
            vec![
                ("/var/www", true),
                ("/home/app", false),
                ("/var/www", false)
            ]
        );
        assert_eq!(t[0].owner.uids, vec![33, 999]);
        assert_eq!(t[1].owner.uids, vec![1234, 33]);
        assert_eq!(t[1].owner.gids, vec![1234]);
    }

    #[test]
    fn account_rule_by_mode() {
        let ch = IdChanges {
            uid: Some((1, 2)),
            gid: None,
        };
        assert_eq!(account_rule(ChownHome::None, ch, 2, 5), None);
        assert_eq!(
            account_rule(ChownHome::Top, ch, 2, 5).unwrap().1,
            Depth::Top
        );
        assert_eq!(
            account_rule(ChownHome::Changed, IdChanges::default(), 2, 5),
            None
        );
        assert_eq!(
            account_rule(ChownHome::All, IdChanges::default(), 2, 5)
                .unwrap()
                .0,
            Rule::Set {
                uid: Some(2),
                gid: Some(5)
            }
        );
    }

    #[test]
    fn command_groups_keep_group_add_and_drop_root_under_gid_0() {
        let (pw, gr) = files();
        let start = StartCreds {
            uid: 1000,
            gid: 0,
            groups: vec![0, 4242],
        };
        let host = HostIds { uid: 1000, gid: 0 };
        let g = command_groups(&gr, (&pw, &gr), "app", 1234, &start, host);
        assert_eq!(g, vec![50, 1234, 4242]);
    }

    #[test]
    fn account_entry_and_group_rules() {
        let (pw, gr) = files();
        let root_cfg = Config {
            user: "root".into(),
            ..Config::default()
        };
        assert!(account_entry(&pw, &root_cfg).is_err());
        let missing = Config {
            user: "dev".into(),
            create_user: false,
            ..Config::default()
        };
        assert!(account_entry(&pw, &missing).is_err());
        assert!(account_entry(&pw, &Config::default()).unwrap().is_some());
        let app = pw.find(|u| u.name == "app");
        assert_eq!(account_group_name(&Config::default(), app, &gr), "app");
        let host = HostIds {
            uid: 1000,
            gid: 1000,
        };
        let root_group = gr.find(|g| g.gid == 0);
        let root_name = "root".into();
        assert!(check_account_group(root_group, &root_name, &Config::default(), host).is_err());
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
            let Decision::Match(p) = decide(&pw, &gr, (uid, uid), &start, &Config::default()).unwrap() else {
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
            let r = decide(&pw, &gr, (uid, gid), &start, &cfg);
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
