//! Rootless engines (rootless Podman, rootless Docker): which host ids a
//! user's containers write with, and the plan of `hostmatch reclaim`, which
//! gives a user back what their containers wrote (or gives a tree to a
//! container user).
//!
//! Everything here is pure: subid files, accounts and ids in; maps and a walk
//! rule out. [`crate::sys::userns`] sets the user namespace up and
//! [`crate::own`] walks the tree.
//!
//! The rules, from the engines' sources and checked on Podman 4.3 here:
//! - a user's lines are those whose owner field is the user's name or
//!   decimal uid, in both files (the subgid lines are found by the USER's
//!   name too); newuidmap accepts exactly those ranges;
//! - container id 0 is the user's own uid (gid: primary gid);
//! - container ids 1.. are the ranges stacked one after the other: rootless
//!   Podman sorts them by host start id first (containers/storage), rootless
//!   Docker (RootlessKit) keeps file order. With one range, or lines written
//!   in order, both give the same map.

use serde::Serialize;

use crate::accounts::Accounts;
use crate::ids::{Extent, Id, IdMap, IdRange, IdSet};
use crate::own::Rule;
use crate::subid::{Kind, SubidFile};
use crate::{Error, Result};

/// A rootless engine, for the order in which it stacks subordinate ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Rootless Podman: ranges sorted by host start id.
    Podman,
    /// Rootless Docker (RootlessKit): ranges in file order.
    Docker,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Podman => "rootless Podman",
            Engine::Docker => "rootless Docker",
        }
    }
}

/// The lines of a subid file that belong to a user, as newuidmap and the
/// rootless engines select them (owner = name or decimal uid), in file order.
pub fn user_ranges(file: &SubidFile, name: Option<&str>, uid: Id) -> Vec<IdRange> {
    let uid = uid.to_string();
    file.records()
        .filter(|(_, e)| name.is_some_and(|n| e.owner == n) || e.owner == uid)
        .map(|(_, e)| e.range)
        .collect()
}

/// The uid_map (or gid_map) `engine` installs for a user whose own id is
/// `own` and whose subordinate ranges are `ranges` (in file order):
/// container 0 = `own`, then the ranges from container id 1. An error when
/// the kernel would refuse the map (overlapping lines, too many lines).
pub fn engine_map(engine: Engine, own: Id, ranges: &[IdRange]) -> Result<IdMap> {
    let mut subs = ranges.to_vec();
    if engine == Engine::Podman {
        subs.sort_by_key(|r| r.start);
    }
    let mut stack = vec![IdRange {
        start: own,
        count: 1,
    }];
    stack.extend(subs);
    IdMap::stacked(&stack)
}

/// Who runs `reclaim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    pub uid: Id,
    /// The primary gid.
    pub gid: Id,
    /// The user name, when the account is in the passwd file.
    pub name: Option<String>,
}

impl Caller {
    fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("user {n} (uid {})", self.uid),
            None => format!("uid {}", self.uid),
        }
    }
}

/// Which engine's stacking computes a container id's host id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stacking {
    /// One engine's rule.
    Engine(Engine),
    /// Any rootless engine: the rules of Podman and Docker must agree.
    AnyRootless,
}

/// What `reclaim` gives to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Give {
    /// Entries owned by the caller's subordinate ids become the caller's.
    ToCaller,
    /// Entries owned by the caller or a subordinate id become a container
    /// user's (`None`: that side is kept).
    ToContainer {
        uid: Option<Id>,
        gid: Option<Id>,
        stacking: Stacking,
    },
}

/// Why an id of the caller's ranges is left out of the namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "name")]
pub enum Why {
    /// A host account (user or group) has this id.
    Account(String),
    /// Another owner's lines give the same ids.
    OtherOwner(String),
    /// The kernel shows unmapped ids as this id.
    OverflowId,
}

/// Subordinate ids the namespace does not map, so that the walk can never
/// change what they own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    pub kind: Kind,
    pub range: IdRange,
    #[serde(flatten)]
    pub why: Why,
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            Kind::Uid => "uid",
            Kind::Gid => "gid",
        };
        let ids = if self.range.count == 1 {
            format!("{what} {}", self.range.start)
        } else {
            format!("{what}s {}", self.range)
        };
        match &self.why {
            Why::Account(n) => write!(f, "{ids}: the host account {n} has it"),
            Why::OtherOwner(n) => {
                write!(
                    f,
                    "{ids}: /etc/{} gives it to {n} too",
                    self.kind.file_name()
                )
            }
            Why::OverflowId => write!(f, "{ids}: the id the kernel shows for unmapped ids"),
        }
    }
}

/// The inputs of a plan: files as read, the caller, the kernel's overflow ids.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub caller: &'a Caller,
    pub subuid: &'a SubidFile,
    pub subgid: &'a SubidFile,
    pub accounts: &'a Accounts,
    /// `/proc/sys/kernel/overflowuid` and `overflowgid`.
    pub overflow: (Id, Id),
}

/// What `reclaim` does: the namespace to ask newuidmap/newgidmap for and
/// the rule to walk with in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReclaimPlan {
    /// The uid_map of the namespace: the caller's uid and subordinate uids,
    /// each mapped to itself (so that ids inside are host ids).
    pub uid_map: IdMap,
    pub gid_map: IdMap,
    /// The host ids entries get (`None`: that side is kept).
    pub to_uid: Option<Id>,
    pub to_gid: Option<Id>,
    /// Ids of the caller's ranges the namespace leaves out.
    pub left_out: Vec<LeftOut>,
    /// The walk's rule.
    #[serde(skip)]
    pub rule: Rule,
    /// The caller's uid and every uid of its subuid lines (mapped or left out).
    #[serde(skip)]
    pub callers_uids: IdSet,
}

/// One side (uids or gids) of a plan.
struct Side {
    own: Id,
    lines: Vec<IdRange>,
    /// The ids the namespace maps (own id included).
    mapped: IdSet,
    left_out: Vec<LeftOut>,
}

/// Plans a reclaim (pure).
pub fn plan(inp: &Inputs<'_>, give: Give) -> Result<ReclaimPlan> {
    let c = inp.caller;
    let uid = side(inp, Kind::Uid)?;
    let gid = side(inp, Kind::Gid)?;
    if uid.lines.is_empty() && gid.lines.is_empty() {
        return Err(no_ranges(c));
    }
    let (to_uid, to_gid) = match give {
        Give::ToCaller => (Some(c.uid), Some(c.gid)),
        Give::ToContainer {
            uid: cu,
            gid: cg,
            stacking,
        } => (
            cu.map(|id| container_to_host(&uid, Kind::Uid, id, stacking))
                .transpose()?,
            cg.map(|id| container_to_host(&gid, Kind::Gid, id, stacking))
                .transpose()?,
        ),
    };
    let rule = Rule::Gather {
        uids: uid.mapped.clone(),
        gids: gid.mapped.clone(),
        to_uid,
        to_gid,
    };
    Ok(ReclaimPlan {
        uid_map: identity_map(&uid)?,
        gid_map: identity_map(&gid)?,
        to_uid,
        to_gid,
        callers_uids: IdSet::from_ranges(uid.lines.iter().copied()).union(&IdSet::single(c.uid)),
        left_out: uid.left_out.into_iter().chain(gid.left_out).collect(),
        rule,
    })
}

/// The error for a user without subordinate ids, with how to add them.
fn no_ranges(c: &Caller) -> Error {
    let who = c.name.clone().unwrap_or_else(|| c.uid.to_string());
    Error::invalid(format!(
        "{} has no subordinate ids in /etc/subuid or /etc/subgid, so no rootless engine \
can have written files as another id for it; an administrator adds them with \
`sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {who}` \
(pick a free range: `hostmatch subid list`) or `sudo hostmatch subid add {who}`",
        c.label()
    ))
}

/// The caller's lines of one file, and which of their ids the namespace maps.
fn side(inp: &Inputs<'_>, kind: Kind) -> Result<Side> {
    let c = inp.caller;
    let (file, own, overflow) = match kind {
        Kind::Uid => (inp.subuid, c.uid, inp.overflow.0),
        Kind::Gid => (inp.subgid, c.gid, inp.overflow.1),
    };
    if own == overflow {
        return Err(Error::invalid(format!(
            "your {} is {own}, the id the kernel shows for unmapped ids: reclaim cannot tell your files from others'",
            if kind == Kind::Uid { "uid" } else { "primary gid" }
        )));
    }
    let lines = user_ranges(file, c.name.as_deref(), c.uid);
    let own_set = IdSet::single(own);
    let mut sub = IdSet::from_ranges(lines.iter().copied()).minus(&own_set);
    let mut left_out = Vec::new();
    let mut leave = |sub: &mut IdSet, out: IdSet, why: Why| {
        for r in sub.clone().minus(&sub.minus(&out)).ranges() {
            left_out.push(LeftOut {
                kind,
                range: *r,
                why: why.clone(),
            });
        }
        *sub = sub.minus(&out);
    };
    for (id, name) in account_ids(inp.accounts, kind) {
        if id != own && sub.contains(id) {
            leave(&mut sub, IdSet::single(id), Why::Account(name));
        }
    }
    let uid = c.uid.to_string();
    for (_, e) in file.records() {
        let mine = c.name.as_deref().is_some_and(|n| e.owner == n) || e.owner == uid;
        if !mine {
            leave(
                &mut sub,
                IdSet::from_ranges([e.range]),
                Why::OtherOwner(e.owner.to_string()),
            );
        }
    }
    leave(&mut sub, IdSet::single(overflow), Why::OverflowId);
    Ok(Side {
        own,
        lines,
        mapped: sub.union(&own_set),
        left_out,
    })
}

/// (id, name) of every user (uids) or group (gids) in the accounts.
fn account_ids(acc: &Accounts, kind: Kind) -> Vec<(Id, String)> {
    match kind {
        Kind::Uid => acc
            .passwd
            .records()
            .map(|(_, u)| (u.uid, u.name.to_string()))
            .collect(),
        Kind::Gid => acc
            .group
            .records()
            .map(|(_, g)| (g.gid, g.name.to_string()))
            .collect(),
    }
}

/// The namespace's map: the own id first, then every mapped subordinate
/// range, each onto itself.
fn identity_map(s: &Side) -> Result<IdMap> {
    let line = |r: &IdRange| Extent {
        container: r.start,
        host: r.start,
        count: r.count,
    };
    let mut extents = vec![line(&IdRange {
        start: s.own,
        count: 1,
    })];
    let subs = s.mapped.minus(&IdSet::single(s.own));
    extents.extend(subs.ranges().iter().map(line));
    IdMap::new(extents).map_err(|e| {
        Error::invalid(format!(
            "the namespace for your subordinate ids cannot be made: {e}"
        ))
    })
}

/// The host id of container id `id` under `stacking`, checked to be one
/// the namespace maps.
fn container_to_host(s: &Side, kind: Kind, id: Id, stacking: Stacking) -> Result<Id> {
    let what = if kind == Kind::Uid { "uid" } else { "gid" };
    let host_of = |e: Engine| -> Result<Option<Id>> {
        Ok(engine_map(e, s.own, &s.lines)
            .map_err(|err| Error::invalid(format!("{}: {err}", e.name())))?
            .to_host(id))
    };
    let host = match stacking {
        Stacking::Engine(e) => host_of(e)?,
        Stacking::AnyRootless => {
            let (p, d) = (host_of(Engine::Podman)?, host_of(Engine::Docker)?);
            if p != d {
                return Err(Error::invalid(format!(
                    "your sub{what} lines are not in order of their start ids, so rootless Podman and \
rootless Docker give container {what} {id} different host ids ({} and {}): say which engine wrote \
the files with --engine podman or --engine docker",
                    show(p),
                    show(d)
                )));
            }
            p
        }
    };
    let Some(host) = host else {
        let n: u64 = s.lines.iter().map(|r| r.count as u64).sum();
        return Err(Error::invalid(format!(
            "container {what} {id} is not mapped: your {n} subordinate {what}s cover container {what}s 1 to {n}"
        )));
    };
    if !s.mapped.contains(host) {
        let why = s
            .left_out
            .iter()
            .find(|l| l.range.contains(host))
            .map_or_else(String::new, |l| format!(" ({l})"));
        return Err(Error::invalid(format!(
            "container {what} {id} is host {what} {host}, which reclaim leaves alone{why}"
        )));
    }
    Ok(host)
}

fn show(id: Option<Id>) -> String {
    id.map_or_else(|| "none".into(), |i| i.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{GroupFile, PasswdFile};
    use proptest::prelude::*;

    fn r(s: Id, n: u32) -> IdRange {
        IdRange::new(s, n).unwrap()
    }

    fn accounts() -> Accounts {
        Accounts {
            passwd: PasswdFile::parse(
                "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n\
                 bob:x:1001:1001::/home/bob:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
            ),
            group: GroupFile::parse("root:x:0:\nalice:x:1000:\nbob:x:1001:\nnogroup:x:65534:\n"),
        }
    }

    fn alice() -> Caller {
        Caller {
            uid: 1000,
            gid: 1000,
            name: Some("alice".into()),
        }
    }

    /// alice's one range in both files.
    const ONE_RANGE: &str = "alice:100000:65536\n";

    fn plan_for(subuid: &str, subgid: &str, give: Give) -> Result<ReclaimPlan> {
        plan_with(subuid, subgid, &accounts(), &alice(), give)
    }

    /// The plan for `caller` on a host with these files (overflow id 65534).
    fn plan_with(
        subuid: &str,
        subgid: &str,
        accounts: &Accounts,
        caller: &Caller,
        give: Give,
    ) -> Result<ReclaimPlan> {
        let (u, g) = (SubidFile::parse(subuid), SubidFile::parse(subgid));
        plan(
            &Inputs {
                caller,
                subuid: &u,
                subgid: &g,
                accounts,
                overflow: (65534, 65534),
            },
            give,
        )
    }

    /// Container uid:gid ID:ID, with no engine named.
    fn any_rootless(id: Id) -> Give {
        to_container(id, id, Stacking::AnyRootless)
    }

    fn to_container(uid: Id, gid: Id, stacking: Stacking) -> Give {
        Give::ToContainer {
            uid: Some(uid),
            gid: Some(gid),
            stacking,
        }
    }

    #[test]
    fn lines_by_name_or_uid_belong_to_the_user() {
        let f = SubidFile::parse("alice:100000:65536\nbob:200000:10\n1000:300000:5\n#alice:1:1\n");
        assert_eq!(
            user_ranges(&f, Some("alice"), 1000),
            vec![r(100000, 65536), r(300000, 5)]
        );
        assert_eq!(user_ranges(&f, None, 1000), vec![r(300000, 5)]);
    }

    #[test]
    fn podman_sorts_ranges_docker_keeps_file_order() {
        let lines = [r(300000, 10), r(100000, 65536)];
        let p = engine_map(Engine::Podman, 1000, &lines).unwrap();
        let d = engine_map(Engine::Docker, 1000, &lines).unwrap();
        assert_eq!(p.to_host(0), Some(1000));
        assert_eq!(p.to_host(1), Some(100000));
        assert_eq!(p.to_host(1000), Some(100999));
        assert_eq!(p.to_host(65537), Some(300000));
        assert_eq!(d.to_host(1), Some(300000));
        assert_eq!(d.to_host(11), Some(100000));
    }

    #[test]
    fn a_range_holding_the_own_id_is_refused_like_the_kernel_does() {
        assert!(engine_map(Engine::Podman, 100005, &[r(100000, 10)]).is_err());
    }

    #[test]
    fn reclaim_maps_own_ids_and_ranges_onto_themselves() {
        let p = plan_for(ONE_RANGE, ONE_RANGE, Give::ToCaller).unwrap();
        assert_eq!(
            p.uid_map.to_string(),
            "      1000       1000          1\n    100000     100000      65536\n"
        );
        assert_eq!((p.to_uid, p.to_gid), (Some(1000), Some(1000)));
        let Rule::Gather { uids, gids, .. } = &p.rule else {
            panic!("not a gather")
        };
        assert!(uids.contains(1000) && uids.contains(165535) && !uids.contains(165536));
        assert!(gids.contains(100000) && !gids.contains(0) && !gids.contains(1001));
        assert!(p.left_out.is_empty());
    }

    #[test]
    fn a_user_without_ranges_is_told_how_to_add_them() {
        let e = plan_for("bob:100000:65536\n", "", Give::ToCaller).unwrap_err();
        assert!(e.is_bad_input());
        let m = e.to_string();
        assert!(
            m.contains("user alice (uid 1000) has no subordinate ids"),
            "{m}"
        );
        assert!(m.contains("usermod --add-subuids"), "{m}");
        assert!(m.contains("hostmatch subid add alice"), "{m}");
    }

    #[test]
    fn one_file_is_enough() {
        let p = plan_for("alice:100000:10\n", "", Give::ToCaller).unwrap();
        assert_eq!(p.gid_map.to_string(), "      1000       1000          1\n");
    }

    #[test]
    fn ids_of_real_accounts_and_other_owners_are_never_mapped() {
        // The CI-agent layout (UID:65536 from the own uid) covers bob and nobody.
        let p = plan_for(
            "alice:1000:65537\nbob:60000:10\n",
            "alice:100000:10\n",
            Give::ToCaller,
        )
        .unwrap();
        let Rule::Gather { uids, .. } = &p.rule else {
            panic!("not a gather")
        };
        for id in [1001, 60000, 60009, 65534] {
            assert!(!uids.contains(id), "{id} must not be mapped");
            assert!(p.uid_map.to_host(id).is_none(), "{id} in the map");
        }
        assert!(uids.contains(1002) && uids.contains(59999) && uids.contains(60010));
        assert!(uids.contains(65535) && uids.contains(66536));
        let why: Vec<String> = p.left_out.iter().map(|l| l.to_string()).collect();
        assert_eq!(
            why,
            vec![
                "uid 1001: the host account bob has it",
                "uid 65534: the host account nobody has it",
                "uids 60000-60009: /etc/subuid gives it to bob too",
            ]
        );
    }

    #[test]
    fn giving_to_a_container_user_uses_the_engine_stacking() {
        let p = plan_for(ONE_RANGE, ONE_RANGE, any_rootless(1000)).unwrap();
        // The example: container uid 1000 writes as host 100999.
        assert_eq!((p.to_uid, p.to_gid), (Some(100999), Some(100999)));
        let p = plan_for(ONE_RANGE, ONE_RANGE, any_rootless(0)).unwrap();
        assert_eq!((p.to_uid, p.to_gid), (Some(1000), Some(1000)));
    }

    #[test]
    fn unsorted_lines_need_the_engine_named() {
        let (u, g) = (
            "alice:300000:10\nalice:100000:65536\n",
            "alice:100000:65536\n",
        );
        let e = plan_for(u, g, any_rootless(5)).unwrap_err();
        assert!(e.to_string().contains("--engine podman"), "{e}");
        let p = plan_for(u, g, to_container(5, 5, Stacking::Engine(Engine::Podman))).unwrap();
        assert_eq!(p.to_uid, Some(100004));
        let p = plan_for(u, g, to_container(5, 5, Stacking::Engine(Engine::Docker))).unwrap();
        assert_eq!(p.to_uid, Some(300004));
    }

    #[test]
    fn a_container_id_past_the_ranges_or_on_an_account_is_refused() {
        let e = plan_for(
            "alice:100000:10\n",
            "alice:100000:10\n",
            to_container(11, 1, Stacking::AnyRootless),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("container uid 11 is not mapped"),
            "{e}"
        );
        let e = plan_for("alice:1001:100\n", "alice:100000:10\n", any_rootless(1)).unwrap_err();
        assert!(e.to_string().contains("host account bob"), "{e}");
    }

    #[test]
    fn the_overflow_id_is_left_out_even_without_an_account() {
        let p = plan_with(
            "alice:60000:10000\n",
            "",
            &Accounts::default(),
            &alice(),
            Give::ToCaller,
        )
        .unwrap();
        assert!(p.uid_map.to_host(65534).is_none());
        assert_eq!(
            p.left_out[0].to_string(),
            "uid 65534: the id the kernel shows for unmapped ids"
        );
    }

    #[test]
    fn the_overflow_id_as_own_id_is_refused() {
        let c = Caller {
            uid: 65534,
            gid: 65534,
            name: None,
        };
        assert!(plan_with("65534:1:1\n", "", &accounts(), &c, Give::ToCaller).is_err());
    }

    fn arb_lines() -> impl Strategy<Value = Vec<(bool, u32, u32)>> {
        // (alice's?, start, count) lines around the interesting ids.
        prop::collection::vec((any::<bool>(), 0u32..200_000, 1u32..70_000), 1..6)
    }

    proptest! {
        #[test]
        fn the_namespace_maps_only_the_callers_own_safe_ids(lines in arb_lines()) {
            let text: String = lines
                .iter()
                .map(|(mine, s, n)| format!("{}:{s}:{n}\n", if *mine { "alice" } else { "bob" }))
                .collect();
            let Ok(p) = plan_for(&text, &text, Give::ToCaller) else {
                return Ok(());
            };
            let Rule::Gather { uids, .. } = &p.rule else { panic!("not a gather") };
            let f = SubidFile::parse(&text);
            let mine = user_ranges(&f, Some("alice"), 1000);
            let theirs: Vec<IdRange> = f.records().filter(|(_, e)| e.owner != "alice").map(|(_, e)| e.range).collect();
            // Every mapped id is the caller's own or in one of its lines, never
            // another owner's, never an account's, never the overflow id.
            for e in p.uid_map.extents() {
                prop_assert_eq!(e.container, e.host);
                for id in [e.host, e.host + (e.count - 1) / 2, e.host + e.count - 1] {
                    prop_assert!(uids.contains(id));
                    prop_assert!(id == 1000 || mine.iter().any(|r| r.contains(id)));
                    prop_assert!(id == 1000 || !theirs.iter().any(|r| r.contains(id)));
                    prop_assert!(id == 1000 || ![0, 1001, 65534].contains(&id));
                }
            }
            // And every id of the caller's lines is mapped or left out with a reason.
            for r in &mine {
                for id in [r.start, r.last()] {
                    prop_assert!(uids.contains(id) || id == 1000
                        || p.left_out.iter().any(|l| l.kind == Kind::Uid && l.range.contains(id)));
                }
            }
        }

        #[test]
        fn engines_agree_when_lines_are_sorted(mut starts in prop::collection::vec(2000u32..1_000_000, 1..5), id in 0u32..300) {
            starts.sort();
            starts.dedup();
            // Disjoint ranges of 100 ids at sorted starts (spaced out).
            let lines: Vec<IdRange> = starts.iter().enumerate().map(|(i, s)| r(s + i as u32 * 1_000_000, 100)).collect();
            let p = engine_map(Engine::Podman, 1000, &lines).unwrap();
            let d = engine_map(Engine::Docker, 1000, &lines).unwrap();
            prop_assert_eq!(p.to_host(id), d.to_host(id));
        }
    }
}
