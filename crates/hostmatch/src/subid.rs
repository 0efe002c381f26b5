//! `/etc/subuid` and `/etc/subgid`: subordinate id ranges (`owner:start:count`).
//!
//! The model is lossless ([`crate::linefile`]). Besides parsing it allocates
//! new ranges the way shadow's `useradd` does and the way dockerd does for
//! `dockremap`, and checks files for the hazards that break or endanger
//! user-namespaced containers.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use serde::Serialize;

use crate::accounts::Accounts;
use crate::ids::{Id, IdRange};
use crate::linefile::{id_field, render_fields, split_fields, Field, LineFile, Record};
use crate::logindefs::LoginDefs;

/// The number of ids a container needs for common images (uid 65534 = nobody).
pub const FULL_RANGE: u32 = 65536;

/// Which of the two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Uid,
    Gid,
}

impl Kind {
    /// The file's path relative to the root.
    pub fn rel_path(self) -> &'static str {
        match self {
            Kind::Uid => crate::sysroot::paths::SUBUID,
            Kind::Gid => crate::sysroot::paths::SUBGID,
        }
    }

    /// `subuid` or `subgid`.
    pub fn file_name(self) -> &'static str {
        match self {
            Kind::Uid => "subuid",
            Kind::Gid => "subgid",
        }
    }
}

/// One line: `owner` (a user name or a numeric uid) may use `count` ids from `start`.
///
/// The owner is a [`Field`] of bytes: UTF-8 names of up to 24 bytes (all real
/// ones) are stored inline, so parsing a file does not allocate one string
/// per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubidEntry {
    pub owner: Field,
    pub range: IdRange,
}

/// Reads the digits of `b` up to the first `:` (or the end); `None` unless
/// there is at least one digit, nothing else, and the value fits a u32.
/// Returns the value and the rest after the `:` (`None` at the end).
fn fast_id(b: &[u8]) -> Option<(u32, Option<&[u8]>)> {
    let mut v: u32 = 0;
    for (i, &d) in b.iter().enumerate() {
        if d == b':' {
            return (i > 0).then_some((v, Some(&b[i + 1..])));
        }
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(d - b'0'))?;
    }
    (!b.is_empty()).then_some((v, None))
}

impl SubidEntry {
    /// One pass over a well-formed line: the owner's end and the range;
    /// `None` sends the line to the slower parse that explains what is wrong.
    fn scan_fast(b: &[u8]) -> Option<(usize, IdRange)> {
        let c = memchr::memchr(b':', b).filter(|&c| c > 0)?;
        let (start, rest) = fast_id(&b[c + 1..])?;
        let (count, None) = fast_id(rest?)? else {
            return None;
        };
        let range = IdRange::new(start, count).ok().filter(|_| count > 0)?;
        Some((c, range))
    }

    fn parse_fast(b: &[u8]) -> Option<Self> {
        let (c, range) = Self::scan_fast(b)?;
        Some(SubidEntry {
            owner: Field::from_bytes(&b[..c]),
            range,
        })
    }

    /// Field by field, with the reason a line is wrong.
    fn parse_checked(line: &[u8]) -> Result<Self, String> {
        let f = split_fields::<3>(line)?;
        if f[0].is_empty() {
            return Err("empty owner".into());
        }
        let start = id_field(f[1], "start")?;
        let count = id_field(f[2], "count")?;
        if count == 0 {
            return Err("count is 0".into());
        }
        let range = IdRange::new(start, count)
            .map_err(|_| format!("range {start}+{count} runs past {}", u32::MAX))?;
        Ok(SubidEntry {
            owner: f[0].into(),
            range,
        })
    }
}

impl Record for SubidEntry {
    fn parse_line(line: &[u8]) -> Result<Self, String> {
        Self::parse_fast(line).map_or_else(|| Self::parse_checked(line), Ok)
    }

    fn parse_str(line: &str) -> Result<Self, String> {
        match Self::scan_fast(line.as_bytes()) {
            // The owner ends at an ASCII ':', so the slice is text.
            Some((c, range)) => Ok(SubidEntry {
                owner: line[..c].into(),
                range,
            }),
            None => Self::parse_checked(line.as_bytes()),
        }
    }

    fn render_into(&self, out: &mut Vec<u8>) {
        let (start, count) = (self.range.start.to_string(), self.range.count.to_string());
        render_fields(out, &[&self.owner, start.as_bytes(), count.as_bytes()]);
    }
}

/// A parsed subuid or subgid file.
pub type SubidFile = LineFile<SubidEntry>;

/// Every range in the file, of every owner.
pub fn all_ranges(file: &SubidFile) -> Vec<IdRange> {
    file.records().map(|(_, e)| e.range).collect()
}

/// The ranges of lines whose owner field is exactly `owner`, in file order.
pub fn ranges_of(file: &SubidFile, owner: impl AsRef<[u8]>) -> Vec<IdRange> {
    let owner = owner.as_ref();
    file.records()
        .filter(|(_, e)| e.owner.as_bytes() == owner)
        .map(|(_, e)| e.range)
        .collect()
}

/// The lowest free range of `count` ids in `min..=max` that overlaps no
/// existing range: shadow's allocation for `useradd`.
pub fn lowest_free(existing: &[IdRange], min: Id, max: Id, count: u32) -> Option<Id> {
    if count == 0 || min > max || (min as u64 + count as u64 - 1) > max as u64 {
        return None;
    }
    let mut sorted: Vec<IdRange> = existing.to_vec();
    sorted.sort();
    let mut cand = min as u64;
    for r in sorted {
        if r.end() <= cand {
            continue;
        }
        if (r.start as u64) >= cand + count as u64 {
            break;
        }
        cand = r.end();
    }
    (cand + count as u64 - 1 <= max as u64).then_some(cand as Id)
}

/// The start dockerd (20.10) picks for `dockremap`'s 65536 ids: from 100000,
/// moving past every range (sorted by start) that its overlap test hits.
/// dockerd's test treats touching ranges as overlapping and misses a range
/// that lies wholly inside the candidate; both quirks are kept here so that
/// the prediction matches what dockerd really writes.
pub fn dockerd_next_start(existing: &[IdRange]) -> u64 {
    const START: u64 = 100_000;
    const LEN: u64 = FULL_RANGE as u64;
    let mut sorted: Vec<IdRange> = existing.to_vec();
    sorted.sort();
    let mut start = START;
    for r in sorted {
        let (rs, re) = (r.start as u64, r.end());
        let low = start;
        let high = start + LEN;
        if (low >= rs && low <= re) || (high <= re && high >= rs) {
            start = re;
        }
    }
    start
}

/// The subordinate-id allocation settings of login.defs, with shadow's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubidPolicy {
    pub min: Id,
    pub max: Id,
    pub count: u32,
}

impl SubidPolicy {
    /// `SUB_UID_*` (or `SUB_GID_*` for `gid`), defaults 100000 / 600100000 / 65536.
    pub fn from_defs(defs: &LoginDefs, kind: Kind, path: &Path) -> crate::Result<Self> {
        let p = match kind {
            Kind::Uid => "SUB_UID",
            Kind::Gid => "SUB_GID",
        };
        let policy = SubidPolicy {
            min: defs.get_id(&format!("{p}_MIN"), 100_000, path)?,
            max: defs.get_id(&format!("{p}_MAX"), 600_100_000, path)?,
            count: defs.get_id(&format!("{p}_COUNT"), 65_536, path)?,
        };
        if policy.count == 0 || policy.min > policy.max {
            return Err(crate::Error::InvalidFile {
                path: path.to_path_buf(),
                msg: format!("{p}_MIN..{p}_MAX is empty or {p}_COUNT is 0"),
            });
        }
        Ok(policy)
    }
}

/// The ids of the host's accounts, sorted, with their names: uids of
/// /etc/passwd for subuid, gids of /etc/group for subgid. A range that covers
/// one lets a container id map onto that account.
pub fn account_ids(accounts: &Accounts, kind: Kind) -> Vec<(Id, &Field)> {
    let mut ids: Vec<(Id, &Field)> = match kind {
        Kind::Uid => accounts
            .passwd
            .records()
            .map(|(_, u)| (u.uid, &u.name))
            .collect(),
        Kind::Gid => accounts
            .group
            .records()
            .map(|(_, g)| (g.gid, &g.name))
            .collect(),
    };
    ids.sort_unstable();
    ids
}

/// How `plan_add` places a new range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The lowest free range in the policy's min..=max (like `useradd`).
    Lowest,
    /// Exactly from this id.
    At(Id),
}

/// Which lines `plan_add` writes for a new owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One fresh range of `count` ids (what `useradd` writes).
    Fresh,
    /// The owner's own id first (`owner:own_id:1`, so that container root
    /// is the user), then a fresh range of `count - 1`: no container id
    /// lands on another host account, and files written by container root
    /// belong to the user.
    OwnIdFirst,
}

/// Who gets new ranges, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddRequest<'a> {
    /// The user's name, as the new lines name it.
    pub owner: &'a [u8],
    /// The user's uid: lines written with it count as the user's too.
    pub uid: Id,
    /// The id that is the user's own in this file: the uid for subuid, the
    /// primary gid for subgid.
    pub own_id: Id,
    pub count: u32,
    pub placement: Placement,
    pub layout: Layout,
}

/// What `plan_add` decided for one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddResult {
    /// The lines added (empty when the owner already had ranges).
    pub added: Vec<IdRange>,
    /// The owner's ranges before (non-empty: nothing was added).
    pub existing: Vec<IdRange>,
}

/// Plans new ranges for `req.owner` and appends them to `file`.
///
/// An owner that already has lines gets nothing new (adding is idempotent).
/// Automatic placement avoids every existing line and every id of a host
/// account (`accounts`, from [`account_ids`]) other than the owner's own, so
/// that no container id maps onto a real account; an explicit start that
/// would is an error.
pub fn plan_add(
    file: &mut SubidFile,
    req: &AddRequest,
    policy: &SubidPolicy,
    accounts: &[(Id, &Field)],
) -> crate::Result<AddResult> {
    let mut existing = ranges_of(file, req.owner);
    existing.extend(ranges_of(file, req.uid.to_string()));
    if !existing.is_empty() {
        return Ok(AddResult {
            added: Vec::new(),
            existing,
        });
    }
    if req.count == 0 {
        return Err(crate::Error::invalid("count must be at least 1"));
    }
    let others: Vec<(Id, &Field)> = accounts
        .iter()
        .filter(|(id, _)| *id != req.own_id)
        .copied()
        .collect();
    let mut occupied: Vec<IdRange> = all_ranges(file);
    let mut added = Vec::new();
    let mut rest = req.count;
    if req.layout == Layout::OwnIdFirst {
        added.push(own_id_range(&occupied, req.own_id)?);
        occupied.extend(added.iter().copied());
        rest -= 1;
    }
    if rest > 0 {
        added.push(match req.placement {
            Placement::At(start) => range_at(&occupied, &others, start, rest)?,
            Placement::Lowest => lowest_range(&occupied, &others, policy, rest)?,
        });
    }
    for r in &added {
        file.push(SubidEntry {
            owner: Field::from_bytes(req.owner),
            range: *r,
        });
    }
    Ok(AddResult { added, existing })
}

/// `own_id:1`, unless an existing range already holds that id.
fn own_id_range(occupied: &[IdRange], own_id: Id) -> crate::Result<IdRange> {
    let own = kernel_range(own_id, 1)?;
    match occupied.iter().find(|o| o.overlaps(&own)) {
        Some(o) => Err(crate::Error::invalid(format!(
            "id {own_id} is already inside the range {o}; fix that range first (hostmatch subid check)"
        ))),
        None => Ok(own),
    }
}

/// `count` ids from `start`, refused when they overlap a range or cover an
/// account.
fn range_at(
    occupied: &[IdRange],
    accounts: &[(Id, &Field)],
    start: Id,
    count: u32,
) -> crate::Result<IdRange> {
    let r = kernel_range(start, count)?;
    if let Some(o) = occupied.iter().find(|o| o.overlaps(&r)) {
        return Err(crate::Error::invalid(format!(
            "{r} overlaps the existing range {o}"
        )));
    }
    let covered: Vec<&Field> = accounts
        .iter()
        .filter(|(id, _)| r.contains(*id))
        .map(|(_, n)| *n)
        .collect();
    if !covered.is_empty() {
        return Err(crate::Error::invalid(format!(
            "{r} covers host accounts {}: container ids would map onto them",
            name_list(&covered, 5)
        )));
    }
    Ok(r)
}

/// The lowest `count` ids in the policy's bounds that overlap no range and
/// cover no account.
fn lowest_range(
    occupied: &[IdRange],
    accounts: &[(Id, &Field)],
    policy: &SubidPolicy,
    count: u32,
) -> crate::Result<IdRange> {
    let mut blocked = occupied.to_vec();
    blocked.extend(accounts.iter().map(|&(id, _)| IdRange {
        start: id,
        count: 1,
    }));
    let max = policy.max.min(MAX_MAPPABLE);
    let start = lowest_free(&blocked, policy.min, max, count).ok_or_else(|| {
        crate::Error::invalid(format!(
            "no free range of {count} ids between {} and {}",
            policy.min, max
        ))
    })?;
    kernel_range(start, count)
}

/// The highest id a user namespace can map: the kernel refuses a map
/// extent that reaches 4294967295 (`(uid_t)-1`, "no id").
pub const MAX_MAPPABLE: Id = u32::MAX - 1;

/// A range the kernel accepts in a uid_map/gid_map, or bad input saying why.
pub fn kernel_range(start: Id, count: u32) -> crate::Result<IdRange> {
    let r = IdRange::new(start, count)?;
    if r.end() > MAX_MAPPABLE as u64 + 1 {
        return Err(crate::Error::invalid(format!(
            "ids {start}..{} reach past {MAX_MAPPABLE}: the kernel refuses to map id {} ((uid_t)-1); \
             the last id of a range must be at most {MAX_MAPPABLE}",
            r.end() - 1,
            u32::MAX
        )));
    }
    Ok(r)
}

/// Removes every line of `owner` (by name or by its numeric uid); returns the
/// removed ranges.
pub fn plan_remove(file: &mut SubidFile, owner: impl AsRef<[u8]>, uid: Option<Id>) -> Vec<IdRange> {
    let owner = owner.as_ref();
    let uid_s = uid.map(|u| u.to_string());
    let matches = |e: &SubidEntry| {
        e.owner.as_bytes() == owner || uid_s.as_ref().is_some_and(|u| e.owner == *u)
    };
    let removed: Vec<IdRange> = file
        .records()
        .filter(|(_, e)| matches(e))
        .map(|(_, e)| e.range)
        .collect();
    file.remove(matches);
    removed
}

/// Problem severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// What kind of problem `check` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A line that does not parse.
    Syntax,
    /// Two ranges intersect.
    Overlap,
    /// A range maps onto ids of real host accounts other than the owner's own.
    CoversAccount,
    /// An owner has fewer than 65536 ids.
    TooSmall,
    /// The owner is not a user of the host.
    UnknownOwner,
    /// An owner has lines both by name and by uid; dockerd reads only the uid lines.
    Shadowed,
    /// The file does not exist.
    Missing,
}

/// One finding of `check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub severity: Severity,
    /// Shared by every problem of one file.
    pub file: Arc<str>,
    pub line: Option<usize>,
    pub message: Message,
}

/// A problem's text. The common per-line warnings keep only their data and
/// are formatted when shown ([`fmt::Display`]); serialized, it is the text.
#[derive(Debug, Clone)]
pub struct Message(Msg);

#[derive(Debug, Clone)]
enum Msg {
    Text(String),
    UnknownOwner(Field),
    TooSmall { owner: Field, total: u64 },
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Msg::Text(s) => f.write_str(s),
            Msg::UnknownOwner(owner) => write!(f, "'{owner}' is not a user of this host"),
            Msg::TooSmall { owner, total } => write!(
                f,
                "{owner} has {total} ids, fewer than {FULL_RANGE}: images with higher ids fail with \"container ID N cannot be mapped to a host ID\""
            ),
        }
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message(Msg::Text(s))
    }
}

/// Messages are equal when their texts are.
impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Message {}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn name_list<T: fmt::Display>(names: &[T], limit: usize) -> String {
    let mut s = names
        .iter()
        .take(limit)
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > limit {
        s.push_str(&format!(" and {} more", names.len() - limit));
    }
    s
}

/// Checks one file. `file_label` names it in the problems; `kind` says whether
/// owners' own ids are uids (subuid) or primary gids (subgid).
pub fn check(file: &SubidFile, kind: Kind, file_label: &str, accounts: &Accounts) -> Vec<Problem> {
    let mut out = Vec::new();
    let file_label: Arc<str> = file_label.into();
    let problem = |k, sev, line, message: Message| Problem {
        kind: k,
        severity: sev,
        file: file_label.clone(),
        line,
        message,
    };
    for (line, reason) in file.invalid_lines() {
        out.push(problem(
            ProblemKind::Syntax,
            Severity::Error,
            Some(line),
            reason.to_string().into(),
        ));
    }

    // Host accounts by name and the ids that ranges must not cover.
    let n_users = accounts.passwd.lines().len();
    let mut users: HashMap<&[u8], (Id, Id)> = HashMap::default();
    users.reserve(n_users);
    users.extend(
        accounts
            .passwd
            .records()
            .map(|(_, u)| (u.name.as_bytes(), (u.uid, u.gid))),
    );
    let mut taken: Vec<(Id, &Field)> = match kind {
        Kind::Uid => accounts
            .passwd
            .records()
            .map(|(_, u)| (u.uid, &u.name))
            .collect(),
        Kind::Gid => accounts
            .group
            .records()
            .map(|(_, g)| (g.gid, &g.name))
            .collect(),
    };
    taken.sort_unstable();

    let entries: Vec<(usize, &SubidEntry)> = file.records().collect();
    let mut totals: HashMap<&[u8], (u64, usize)> = HashMap::default();
    totals.reserve(entries.len());
    // Uids that have lines written with the number: only those can mix forms.
    let numeric_owners: HashSet<Id> = entries
        .iter()
        .filter_map(|(_, e)| e.owner.to_id())
        .collect();
    // Only numeric owners are looked up by uid.
    let mut users_by_uid: HashMap<Id, Id> = HashMap::default();
    if !numeric_owners.is_empty() {
        users_by_uid.reserve(n_users);
        users_by_uid.extend(accounts.passwd.records().map(|(_, u)| (u.uid, u.gid)));
    }

    // Owner -> (uid, primary gid) when the owner is a host user.
    let owner_ids = |owner: &Field| -> Option<(Id, Id, bool)> {
        if let Some(&(uid, gid)) = users.get(owner.as_bytes()) {
            return Some((uid, gid, false));
        }
        let uid = owner.to_id()?;
        users_by_uid.get(&uid).map(|&gid| (uid, gid, true))
    };

    let mut forms: HashMap<Id, (bool, bool, usize)> = HashMap::default();
    for &(line, e) in &entries {
        let t = totals.entry(e.owner.as_bytes()).or_insert((0, line));
        t.0 += e.range.count as u64;
        match owner_ids(&e.owner) {
            None => out.push(problem(
                ProblemKind::UnknownOwner,
                Severity::Warning,
                Some(line),
                Message(Msg::UnknownOwner(e.owner.clone())),
            )),
            Some((uid, gid, numeric)) => {
                if numeric_owners.contains(&uid) {
                    let f = forms.entry(uid).or_insert((false, false, line));
                    if numeric {
                        f.0 = true;
                    } else {
                        f.1 = true;
                    }
                }
                let own = if kind == Kind::Uid { uid } else { gid };
                let lo = taken.partition_point(|&(id, _)| id < e.range.start);
                let covered: Vec<&Field> = taken[lo..]
                    .iter()
                    .take_while(|&&(id, _)| (id as u64) < e.range.end())
                    .filter(|&&(id, _)| id != own)
                    .map(|&(_, n)| n)
                    .collect();
                if !covered.is_empty() {
                    let what = if kind == Kind::Uid {
                        "accounts"
                    } else {
                        "groups"
                    };
                    out.push(problem(
                        ProblemKind::CoversAccount,
                        Severity::Error,
                        Some(line),
                        format!(
                            "{}'s range {} covers host {what} {}: container ids map onto them",
                            e.owner,
                            e.range,
                            name_list(&covered, 5)
                        )
                        .into(),
                    ));
                }
            }
        }
    }
    for (uid, (numeric, named, line)) in forms {
        if numeric && named {
            out.push(problem(
                ProblemKind::Shadowed,
                Severity::Warning,
                Some(line),
                format!("uid {uid} has lines by name and by uid: dockerd uses only the lines written with the uid").into(),
            ));
        }
    }
    // Too-small owners, reported once each at their first line, in line order.
    for &(line, e) in &entries {
        if let Some(&(total, first)) = totals.get(e.owner.as_bytes()) {
            if first == line && total < FULL_RANGE as u64 {
                out.push(problem(
                    ProblemKind::TooSmall,
                    Severity::Warning,
                    Some(line),
                    Message(Msg::TooSmall {
                        owner: e.owner.clone(),
                        total,
                    }),
                ));
            }
        }
    }

    // Overlaps: sweep by start, remembering the line reaching furthest.
    let mut sorted: Vec<(usize, &SubidEntry)> = entries;
    sorted.sort_unstable_by_key(|(line, e)| (e.range.start, e.range.count, *line));
    let mut reach: Option<(u64, usize, &SubidEntry)> = None;
    for (line, e) in sorted {
        if let Some((end, pline, pe)) = reach {
            if (e.range.start as u64) < end {
                let whose = if pe.owner == e.owner {
                    format!("{}'s own lines overlap", e.owner)
                } else {
                    format!("{} and {} share ids", pe.owner, e.owner)
                };
                out.push(problem(
                    ProblemKind::Overlap,
                    Severity::Error,
                    Some(line),
                    format!(
                        "{whose}: {} (line {pline}) and {} (line {line})",
                        pe.range, e.range
                    )
                    .into(),
                ));
            }
        }
        if reach.is_none_or(|(end, _, _)| e.range.end() > end) {
            reach = Some((e.range.end(), line, e));
        }
    }
    // Mostly in line order already: the stable sort merges a few runs.
    out.sort_by_key(|p| (p.line, p.severity));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{GroupFile, PasswdFile};
    #[allow(unused_imports)]
    use crate::linefile::as_text;
    use crate::logindefs::LoginDefs;
    use proptest::prelude::*;

    fn accounts() -> Accounts {
        Accounts {
            passwd: PasswdFile::parse(
                "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nagent:x:999:999::/:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n",
            ),
            group: GroupFile::parse("root:x:0:\nagent:x:999:\nalice:x:1000:\nbob:x:1001:\nnogroup:x:65534:\n"),
        }
    }

    fn kinds(p: &[Problem]) -> Vec<ProblemKind> {
        p.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn healthy_file_has_no_problems() {
        let f = SubidFile::parse("alice:100000:65536\nbob:165536:65536\n");
        assert_eq!(check(&f, Kind::Uid, "/etc/subuid", &accounts()), vec![]);
    }

    #[test]
    fn seed_001_layout_covers_real_accounts() {
        let f = SubidFile::parse("agent:999:65536\n");
        let p = check(&f, Kind::Uid, "/etc/subuid", &accounts());
        assert_eq!(kinds(&p), vec![ProblemKind::CoversAccount]);
        assert!(
            p[0].message.to_string().contains("alice, bob"),
            "{}",
            p[0].message
        );
        assert!(
            !p[0].message.to_string().contains("agent,"),
            "{}",
            p[0].message
        );
        assert_eq!(p[0].severity, Severity::Error);
    }

    #[test]
    fn seed_002_layout_is_safe() {
        let f = SubidFile::parse("alice:1000:1\nalice:100000:65535\n");
        assert_eq!(check(&f, Kind::Uid, "/etc/subuid", &accounts()), vec![]);
    }

    #[test]
    fn overlap_and_syntax_are_errors_with_lines() {
        let f = SubidFile::parse("alice:100000:65536\n# note\nbob:150000:65536\nbroken\nbob:1:x\n");
        let p = check(&f, Kind::Uid, "/etc/subuid", &accounts());
        assert_eq!(
            p.iter().map(|p| (p.kind, p.line)).collect::<Vec<_>>(),
            vec![
                (ProblemKind::Overlap, Some(3)),
                (ProblemKind::Syntax, Some(4)),
                (ProblemKind::Syntax, Some(5)),
            ]
        );
    }

    #[test]
    fn small_range_is_a_warning_and_unknown_owner_too() {
        let f = SubidFile::parse("alice:100000:1000\nghost:200000:65536\n");
        let p = check(&f, Kind::Uid, "/etc/subuid", &accounts());
        assert_eq!(
            kinds(&p),
            vec![ProblemKind::TooSmall, ProblemKind::UnknownOwner]
        );
        assert!(p.iter().all(|p| p.severity == Severity::Warning));
    }

    #[test]
    fn name_and_uid_lines_of_one_user_are_flagged() {
        let f = SubidFile::parse("alice:100000:65536\n1000:200000:65536\n");
        let p = check(&f, Kind::Uid, "/etc/subuid", &accounts());
        assert_eq!(kinds(&p), vec![ProblemKind::Shadowed]);
    }

    #[test]
    fn subgid_uses_the_primary_group_as_own_id() {
        // alice's own gid 1000 is fine; covering bob's group 1001 is not.
        let f = SubidFile::parse("alice:1000:1\nalice:100000:65535\n");
        assert_eq!(check(&f, Kind::Gid, "/etc/subgid", &accounts()), vec![]);
        let f = SubidFile::parse("alice:1000:2\n");
        let p = check(&f, Kind::Gid, "/etc/subgid", &accounts());
        assert!(
            p.iter()
                .any(|p| p.kind == ProblemKind::CoversAccount
                    && p.message.to_string().contains("bob"))
        );
    }

    #[test]
    fn lowest_free_skips_taken_ranges() {
        let taken = [
            IdRange::new(100000, 65536).unwrap(),
            IdRange::new(231072, 65536).unwrap(),
        ];
        assert_eq!(lowest_free(&taken, 100000, 600100000, 65536), Some(165536));
        assert_eq!(lowest_free(&taken, 100000, 165535, 65536), None);
        assert_eq!(lowest_free(&[], 100000, 600100000, 65536), Some(100000));
        assert_eq!(lowest_free(&[], 0, u32::MAX, u32::MAX), Some(0));
    }

    #[test]
    fn dockerd_allocation_matches_its_algorithm() {
        assert_eq!(dockerd_next_start(&[]), 100000);
        assert_eq!(
            dockerd_next_start(&[IdRange::new(100000, 65536).unwrap()]),
            165536
        );
        // dockerd treats a range that begins right where the candidate ends as overlapping.
        assert_eq!(
            dockerd_next_start(&[IdRange::new(165536, 10).unwrap()]),
            165546
        );
        // ... and does not see a small range wholly inside the candidate.
        assert_eq!(
            dockerd_next_start(&[IdRange::new(120000, 10).unwrap()]),
            100000
        );
    }

    #[test]
    fn entries_round_trip_and_reject_overflow() {
        let text = "# c\nalice:100000:65536\n1000:1000:1\n\nbad:4294967295:2\n";
        let f = SubidFile::parse(text);
        assert_eq!(as_text(f.render()), text);
        assert_eq!(f.records().count(), 2);
        assert_eq!(f.invalid_lines().next().unwrap().0, 5);
    }

    fn req(
        owner: &str,
        id: Id,
        count: u32,
        placement: Placement,
        layout: Layout,
    ) -> AddRequest<'_> {
        AddRequest {
            owner: owner.as_bytes(),
            uid: id,
            own_id: id,
            count,
            placement,
            layout,
        }
    }

    fn policy() -> SubidPolicy {
        SubidPolicy {
            min: 100000,
            max: 600100000,
            count: 65536,
        }
    }

    #[test]
    fn add_appends_the_lowest_free_range_and_keeps_other_bytes() {
        let text = "# managed\nalice:100000:65536\n";
        let mut f = SubidFile::parse(text);
        let r = plan_add(
            &mut f,
            &req("bob", 1001, 65536, Placement::Lowest, Layout::Fresh),
            &policy(),
            &[],
        )
        .unwrap();
        assert_eq!(r.added, vec![IdRange::new(165536, 65536).unwrap()]);
        assert_eq!(
            as_text(f.render()),
            "# managed\nalice:100000:65536\nbob:165536:65536\n"
        );
    }

    #[test]
    fn add_is_idempotent() {
        let mut f = SubidFile::parse("alice:100000:65536\n");
        let r = plan_add(
            &mut f,
            &req("alice", 1000, 65536, Placement::Lowest, Layout::OwnIdFirst),
            &policy(),
            &[],
        )
        .unwrap();
        assert!(r.added.is_empty());
        assert_eq!(as_text(f.render()), "alice:100000:65536\n");
        // Lines written with the uid count as the user's too.
        let mut f = SubidFile::parse("1000:100000:65536\n");
        assert!(plan_add(
            &mut f,
            &req("alice", 1000, 65536, Placement::Lowest, Layout::Fresh),
            &policy(),
            &[]
        )
        .unwrap()
        .added
        .is_empty());
    }

    #[test]
    fn self_layout_maps_root_to_the_users_own_id() {
        let mut f = SubidFile::parse("");
        let r = plan_add(
            &mut f,
            &req("alice", 1000, 65536, Placement::Lowest, Layout::OwnIdFirst),
            &policy(),
            &[],
        )
        .unwrap();
        assert_eq!(
            r.added,
            vec![
                IdRange::new(1000, 1).unwrap(),
                IdRange::new(100000, 65535).unwrap()
            ]
        );
        assert_eq!(as_text(f.render()), "alice:1000:1\nalice:100000:65535\n");
    }

    #[test]
    fn automatic_placement_avoids_host_accounts() {
        let mut f = SubidFile::parse("");
        let ldapuser = Field::from("ldapuser");
        let taken = vec![(100500, &ldapuser)];
        let r = plan_add(
            &mut f,
            &req("alice", 1000, 65536, Placement::Lowest, Layout::Fresh),
            &policy(),
            &taken,
        )
        .unwrap();
        assert_eq!(r.added, vec![IdRange::new(100501, 65536).unwrap()]);
        let mut f = SubidFile::parse("");
        let e = plan_add(
            &mut f,
            &req("alice", 1000, 65536, Placement::At(100000), Layout::Fresh),
            &policy(),
            &taken,
        )
        .unwrap_err();
        assert!(e.to_string().contains("ldapuser"), "{e}");
    }

    #[test]
    fn self_layout_refuses_an_own_id_inside_another_range() {
        let mut f = SubidFile::parse("agent:999:65536\n");
        assert!(plan_add(
            &mut f,
            &req("alice", 1000, 65536, Placement::Lowest, Layout::OwnIdFirst),
            &policy(),
            &[]
        )
        .is_err());
        assert_eq!(as_text(f.render()), "agent:999:65536\n");
    }

    #[test]
    fn explicit_start_must_not_overlap() {
        let mut f = SubidFile::parse("bob:100000:65536\n");
        assert!(plan_add(
            &mut f,
            &req("alice", 1000, 10, Placement::At(165530), Layout::Fresh),
            &policy(),
            &[]
        )
        .is_err());
        assert_eq!(as_text(f.render()), "bob:100000:65536\n");
    }

    #[test]
    fn ranges_reaching_the_invalid_id_are_refused() {
        let mut f = SubidFile::parse("");
        let add = |f: &mut SubidFile, start, count| {
            plan_add(
                f,
                &req("alice", 1000, count, Placement::At(start), Layout::Fresh),
                &policy(),
                &[],
            )
        };
        let e = add(&mut f, 4294967295, 1).unwrap_err();
        assert!(
            e.is_bad_input() && e.to_string().contains("kernel refuses"),
            "{e}"
        );
        assert!(add(&mut f, 4294967290, 6).is_err());
        assert_eq!(as_text(f.render()), "");
        add(&mut f, 4294967290, 5).unwrap();
        assert_eq!(as_text(f.render()), "alice:4294967290:5\n");
        // Automatic placement never reaches it either, whatever login.defs says.
        let mut f = SubidFile::parse("");
        let wide = SubidPolicy {
            min: 4294967000,
            max: u32::MAX,
            count: 295,
        };
        let r = plan_add(
            &mut f,
            &req("bob", 1, 295, Placement::Lowest, Layout::Fresh),
            &wide,
            &[],
        )
        .unwrap();
        assert_eq!(r.added[0].last(), MAX_MAPPABLE);
        assert!(plan_add(
            &mut SubidFile::parse(""),
            &req("bob", 1, 296, Placement::Lowest, Layout::Fresh),
            &wide,
            &[]
        )
        .is_err());
    }

    #[test]
    fn non_utf8_owners_are_kept_and_matched_byte_for_byte() {
        let bytes: &[u8] = b"jos\xe9:100000:65536\nbob:165536:65536\n";
        let mut f = SubidFile::parse(bytes);
        assert_eq!(f.records().count(), 2);
        assert_eq!(
            ranges_of(&f, b"jos\xe9"),
            vec![IdRange::new(100000, 65536).unwrap()]
        );
        assert_eq!(f.render(), bytes);
        assert_eq!(plan_remove(&mut f, b"jos\xe9", None).len(), 1);
        assert_eq!(f.render(), b"bob:165536:65536\n");
    }

    #[test]
    fn remove_takes_name_and_uid_lines_only() {
        let mut f = SubidFile::parse("alice:1:1\nbob:5:5\n1000:10:10\n");
        assert_eq!(plan_remove(&mut f, "alice", Some(1000)).len(), 2);
        assert_eq!(as_text(f.render()), "bob:5:5\n");
    }

    #[test]
    fn defaults_apply_when_keys_are_missing() {
        let d = LoginDefs::parse("# nothing\nUMASK 022\n");
        let p = SubidPolicy::from_defs(&d, Kind::Uid, Path::new("x")).unwrap();
        assert_eq!(
            p,
            SubidPolicy {
                min: 100000,
                max: 600100000,
                count: 65536
            }
        );
    }

    #[test]
    fn values_are_read_like_shadow_does() {
        let d = LoginDefs::parse("SUB_GID_MIN\t0x30000\nSUB_GID_COUNT 010\nSUB_GID_MAX 900000\n");
        let p = SubidPolicy::from_defs(&d, Kind::Gid, Path::new("x")).unwrap();
        assert_eq!(
            p,
            SubidPolicy {
                min: 0x30000,
                max: 900000,
                count: 8
            }
        );
    }

    #[test]
    fn malformed_value_names_the_line() {
        let d = LoginDefs::parse("\nSUB_UID_MIN lots\n");
        let e = SubidPolicy::from_defs(&d, Kind::Uid, Path::new("/etc/login.defs")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/login.defs:2: SUB_UID_MIN 'lots' is not a number from 0 to 4294967295"
        );
        let d = LoginDefs::parse("SUB_UID_MIN 4294967296\n");
        assert!(SubidPolicy::from_defs(&d, Kind::Uid, Path::new("x")).is_err());
    }

    proptest! {
        #[test]
        fn allocation_never_overlaps(existing in prop::collection::vec((0u32..1_000_000, 1u32..200_000), 0..30),
                                     count in 1u32..100_000) {
            let ranges: Vec<IdRange> = existing.iter().filter_map(|&(s, c)| IdRange::new(s, c).ok()).collect();
            if let Some(start) = lowest_free(&ranges, 100_000, 600_100_000, count) {
                let new = IdRange::new(start, count).unwrap();
                prop_assert!(ranges.iter().all(|r| !r.overlaps(&new)));
                prop_assert!(start >= 100_000);
                // Lowest: one lower would overlap or be below min.
                if start > 100_000 {
                    let lower = IdRange::new(start - 1, count).unwrap();
                    prop_assert!(ranges.iter().any(|r| r.overlaps(&lower)));
                }
            }
        }

        #[test]
        fn fast_parse_agrees_with_the_checked_one(line in "[a0-9:]{0,14}") {
            let fast = SubidEntry::parse_fast(line.as_bytes());
            let checked = SubidEntry::parse_checked(line.as_bytes());
            prop_assert_eq!(fast.is_some(), checked.is_ok());
            if let Some(e) = fast {
                prop_assert_eq!(Ok(e), checked);
            }
        }

        #[test]
        fn valid_lines_round_trip(owner in "[a-z_][a-z0-9_-]{0,12}", start in 0u32..4_000_000_000, count in 1u32..100_000) {
            let line = format!("{owner}:{start}:{count}");
            let e = SubidEntry::parse_line(line.as_bytes()).unwrap();
            prop_assert_eq!(as_text(e.render()), line);
        }
    }
}
