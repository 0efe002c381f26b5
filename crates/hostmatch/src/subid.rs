//! `/etc/subuid` and `/etc/subgid`: subordinate id ranges (`owner:start:count`).
//!
//! The model is lossless ([`crate::linefile`]). Besides parsing it allocates
//! new ranges the way shadow's `useradd` does and the way dockerd does for
//! `dockremap`, and checks files for the hazards that break or endanger
//! user-namespaced containers.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxHashMap as HashMap;

use serde::Serialize;

use crate::accounts::Accounts;
use crate::ids::{Id, IdRange, MAX_ID};
use crate::linefile::{id_field, id_of, render_fields, split_fields, Field, LineFile, Record};
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

/// Reads the digits at the start of `b`: the value and the rest; `None`
/// unless there are 1 to 10 digits and the value fits a u32. (Longer runs,
/// such as leading zeros, go to the field-by-field parse.)
#[inline]
fn fast_id(b: &[u8]) -> Option<(u32, &[u8])> {
    let (mut v, mut n) = match b.first_chunk::<8>() {
        Some(w) => word_digits(u64::from_le_bytes(*w)),
        None => (0, 0),
    };
    if n == 8 || b.len() < 8 {
        // The digits after a word of them, or a line's short tail.
        while n < b.len() && n <= 10 && b[n].is_ascii_digit() {
            v = v * 10 + u64::from(b[n] - b'0');
            n += 1;
        }
    }
    if n == 0 || n > 10 {
        return None;
    }
    Some((u32::try_from(v).ok()?, &b[n..]))
}

/// The value and number (0 to 8) of the ASCII digits that lead the eight
/// bytes of `x` (little-endian: the first byte is the lowest), all at once.
#[inline]
fn word_digits(x: u64) -> (u64, usize) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Per byte, zero exactly for '0'..='9' (0x30..=0x39): the high nibble is
    // 3, and still 3 after adding 6. (A carry out of a byte only reaches the
    // bytes after it, which a non-digit ends anyway.)
    let high = (x & (0xf0 * ONES)) ^ (0x30 * ONES);
    let plus6 = (x.wrapping_add(0x06 * ONES) & (0xf0 * ONES)) ^ (0x30 * ONES);
    let n = ((high | plus6).trailing_zeros() / 8) as usize;
    if n == 0 {
        return (0, 0);
    }
    // The digits' values, moved up so that zeros lead them; then pairs,
    // quads and the eight combined.
    let d = x.wrapping_sub(0x30 * ONES) << (8 * (8 - n));
    let d = (d.wrapping_mul(10 * 256 + 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    let d = (d.wrapping_mul(100 * 65536 + 1) >> 16) & 0x0000_ffff_0000_ffff;
    let d = d.wrapping_mul(10000 * (1 << 32) + 1) >> 32;
    (d, n)
}

/// One pass over a well-formed line at the start of `b`: the owner's end,
/// the range, and where the next line starts (after the `\n`, or the end of
/// `b`). `None` sends the line to the field-by-field parse that explains
/// what is wrong (and reads the few valid lines this pass does not).
#[inline]
fn scan_line(b: &[u8]) -> Option<(usize, IdRange, usize)> {
    let colon = b
        .iter()
        .position(|&c| c == b':' || c == b'\n')
        .filter(|&c| c > 0 && b[c] == b':')?;
    let (start, rest) = fast_id(&b[colon + 1..])?;
    let (count, rest) = fast_id(rest.strip_prefix(b":")?)?;
    let next = match rest.first() {
        None => b.len(),
        Some(b'\n') => b.len() - rest.len() + 1,
        Some(_) => return None,
    };
    let fits = count > 0 && u64::from(start) + u64::from(count) <= u64::from(u32::MAX) + 1;
    fits.then_some((colon, IdRange { start, count }, next))
}

/// A whole line (without its newline) in the form the one-pass parse reads:
/// its owner and range. (`None`: a line to look at field by field.)
pub(crate) fn plain_line(line: &[u8]) -> Option<(&[u8], IdRange)> {
    let (colon, range) = SubidEntry::scan_fast(line)?;
    Some((&line[..colon], range))
}

impl SubidEntry {
    /// The one-pass parse of a whole line (without its newline).
    fn scan_fast(line: &[u8]) -> Option<(usize, IdRange)> {
        scan_line(line)
            .filter(|&(_, _, next)| next == line.len())
            .map(|(colon, range, _)| (colon, range))
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
        let (owner, range) = Self::fields_checked(line)?;
        Ok(SubidEntry {
            owner: owner.into(),
            range,
        })
    }

    fn fields_checked(line: &[u8]) -> Result<(&[u8], IdRange), String> {
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
        Ok((f[0], range))
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
    let max = policy.max.min(MAX_ID);
    let start = lowest_free(&blocked, policy.min, max, count).ok_or_else(|| {
        crate::Error::invalid(format!(
            "no free range of {count} ids between {} and {}",
            policy.min, max
        ))
    })?;
    kernel_range(start, count)
}

/// A range the kernel accepts in a uid_map/gid_map, or bad input saying why.
pub fn kernel_range(start: Id, count: u32) -> crate::Result<IdRange> {
    let r = IdRange::new(start, count)?;
    if r.end() > MAX_ID as u64 + 1 {
        return Err(crate::Error::invalid(format!(
            "ids {start}..{} reach past {MAX_ID}: the kernel refuses to map id {} ((uid_t)-1); \
             the last id of a range must be at most {MAX_ID}",
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
    /// Engines read the line (or a user's lines) differently (see `crate::subid_readers`).
    EngineDependent,
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

/// A subid file as `check` reads it: in place, without a model, each owner
/// borrowed from the file's bytes and looked up once.
struct Read<'a> {
    /// The records, in line order.
    entries: Vec<Entry>,
    /// Their owners, in the order they first appear.
    owners: Vec<Owner<'a>>,
    /// The lines that do not parse, with the reason.
    invalid: Vec<(usize, String)>,
}

/// What a line holds.
enum Held<'a> {
    /// A record: its owner and range.
    Record(&'a [u8], IdRange),
    /// A line that does not parse, and why.
    Invalid(String),
    /// A comment or blank line.
    Nothing,
}

/// One record.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// 1-based.
    line: usize,
    range: IdRange,
    /// The index of its owner in [`Read::owners`].
    owner: u32,
}

/// What the file says of one owner, and who the owner is on this host.
struct Owner<'a> {
    name: &'a [u8],
    /// The line of the owner's first range.
    first_line: usize,
    /// Ids over all of the owner's ranges.
    total: u64,
    /// The host user that `name` names: (uid, primary gid, whether named by
    /// the number).
    user: Option<(Id, Id, bool)>,
}

impl<'a> Read<'a> {
    /// Reads the lines and sums each owner's ranges, then finds the owners
    /// among the host's users.
    fn new(text: &'a [u8], accounts: &Accounts) -> Self {
        let lines = memchr::memchr_iter(b'\n', text).count() + 1;
        let mut read = Read {
            entries: Vec::with_capacity(lines),
            owners: Vec::with_capacity(lines),
            invalid: Vec::new(),
        };
        let mut index = OwnerIndex(HashTable::with_capacity(lines));
        let mut pos = 0;
        let mut line = 0;
        while pos < text.len() {
            line += 1;
            let (len, what) = Self::line(&text[pos..]);
            match what {
                Held::Record(name, range) => {
                    let owner = index.find_or_add(&mut read.owners, name, line);
                    read.owners[owner as usize].total += u64::from(range.count);
                    read.entries.push(Entry { line, range, owner });
                }
                Held::Invalid(reason) => read.invalid.push((line, reason)),
                Held::Nothing => {}
            }
            pos += len;
        }
        read.find_users(&index, accounts);
        read
    }

    /// The line at the start of `rest`: its length with the newline, and
    /// what it holds.
    #[inline]
    fn line(rest: &'a [u8]) -> (usize, Held<'a>) {
        // Comments and blank lines start with '#' or white space.
        if !matches!(rest[0], b'#' | b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') {
            if let Some((colon, range, next)) = scan_line(rest) {
                return (next, Held::Record(&rest[..colon], range));
            }
        }
        let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let l = &rest[..len];
        let what = if SubidEntry::passthrough(l) {
            Held::Nothing
        } else {
            match SubidEntry::fields_checked(l) {
                Ok((owner, range)) => Held::Record(owner, range),
                Err(reason) => Held::Invalid(reason),
            }
        };
        (len + 1, what)
    }

    /// Each owner's user: by name first, else (a numeric owner) by uid. A
    /// name given twice in passwd: the last line wins.
    fn find_users(&mut self, index: &OwnerIndex, accounts: &Accounts) {
        for (_, u) in accounts.passwd.records() {
            if let Some(owner) = index.find(&self.owners, &u.name) {
                self.owners[owner as usize].user = Some((u.uid, u.gid, false));
            }
        }
        let numeric = |o: &Owner| o.user.is_none() && id_of(o.name).is_some();
        if !self.owners.iter().any(numeric) {
            return;
        }
        let by_uid: HashMap<Id, Id> = accounts
            .passwd
            .records()
            .map(|(_, u)| (u.uid, u.gid))
            .collect();
        for o in self.owners.iter_mut().filter(|o| o.user.is_none()) {
            if let Some(uid) = id_of(o.name) {
                o.user = by_uid.get(&uid).map(|&gid| (uid, gid, true));
            }
        }
    }

    fn owner(&self, e: &Entry) -> &Owner<'a> {
        &self.owners[e.owner as usize]
    }

    /// How many problems there will be at least: one per bad line, per line
    /// of an unknown owner and per owner with too few ids. Most of a file's
    /// problems are these; counted first, the list is allocated once.
    fn expected_problems(&self) -> usize {
        let unknown = self.entries.iter().filter(|e| self.owner(e).unknown());
        let small = self.owners.iter().filter(|o| o.too_small());
        self.invalid.len() + unknown.count() + small.count()
    }
}

impl Owner<'_> {
    /// No user of this host. (Podman's --userns=auto takes its ranges from
    /// lines of a name that is no account: that one is expected.)
    fn unknown(&self) -> bool {
        self.user.is_none() && self.name != crate::engine::podman_conf::AUTO_USERNS_USER.as_bytes()
    }

    /// Fewer ids than common images need.
    fn too_small(&self) -> bool {
        self.total < u64::from(FULL_RANGE)
    }
}

/// The owners by name: their indices in [`Read::owners`], hashed by name.
struct OwnerIndex(HashTable<u32>);

impl OwnerIndex {
    fn hash(name: &[u8]) -> u64 {
        rustc_hash::FxBuildHasher.hash_one(name)
    }

    fn find(&self, owners: &[Owner], name: &[u8]) -> Option<u32> {
        let eq = |&i: &u32| owners[i as usize].name == name;
        self.0.find(Self::hash(name), eq).copied()
    }

    /// The index of the owner called `name`, a new one (first seen at
    /// `line`) when there is none.
    #[inline]
    fn find_or_add<'a>(&mut self, owners: &mut Vec<Owner<'a>>, name: &'a [u8], line: usize) -> u32 {
        let rehash = |&i: &u32| Self::hash(owners[i as usize].name);
        let eq = |&i: &u32| owners[i as usize].name == name;
        match self.0.entry(Self::hash(name), eq, rehash) {
            hashbrown::hash_table::Entry::Occupied(e) => *e.get(),
            hashbrown::hash_table::Entry::Vacant(e) => {
                let i = owners.len() as u32;
                e.insert(i);
                owners.push(Owner {
                    name,
                    first_line: line,
                    total: 0,
                    user: None,
                });
                i
            }
        }
    }
}

/// The problems of one file, in the making: every one names the same file.
struct Findings<'a> {
    file: Arc<str>,
    /// The file's text, when it is all UTF-8: owners quoted in messages are
    /// then taken as text without a check of their own.
    text: (&'a [u8], Option<&'a str>),
    list: Vec<Problem>,
}

impl<'a> Findings<'a> {
    fn new(file: &str, text: &'a [u8], capacity: usize) -> Self {
        Findings {
            file: file.into(),
            text: (text, std::str::from_utf8(text).ok()),
            list: Vec::with_capacity(capacity),
        }
    }

    fn push(&mut self, kind: ProblemKind, severity: Severity, line: usize, message: Message) {
        self.list.push(Problem {
            kind,
            severity,
            file: self.file.clone(),
            line: Some(line),
            message,
        });
    }

    /// An owner (a part of the text) as a field to keep in a message: the
    /// same part of the UTF-8 text when there is one (no check of its own).
    fn field(&self, owner: &[u8]) -> Field {
        let (bytes, utf8) = self.text;
        let at = (owner.as_ptr() as usize).wrapping_sub(bytes.as_ptr() as usize);
        match utf8.and_then(|s| s.get(at..at.wrapping_add(owner.len()))) {
            Some(s) if std::ptr::eq(s.as_bytes(), owner) => Field::from(s),
            _ => Field::from_bytes(owner),
        }
    }

    /// In line order (often so already; else the stable sort merges a few
    /// runs).
    fn into_sorted(self) -> Vec<Problem> {
        let mut list = self.list;
        let key = |p: &Problem| (p.line, p.severity);
        if !list.is_sorted_by_key(key) {
            list.sort_by_key(key);
        }
        list
    }
}

/// Checks one file's text. `file_label` names it in the problems; `kind`
/// says whether owners' own ids are uids (subuid) or primary gids (subgid).
/// Problems come in line order.
pub fn check(text: &[u8], kind: Kind, file_label: &str, accounts: &Accounts) -> Vec<Problem> {
    let mut read = Read::new(text, accounts);
    let mut out = Findings::new(file_label, text, read.expected_problems());
    for (line, reason) in std::mem::take(&mut read.invalid) {
        out.push(ProblemKind::Syntax, Severity::Error, line, reason.into());
    }
    check_unknown_owners(&read, &mut out);
    check_mixed_forms(&read.owners, &mut out);
    check_sizes(&read.owners, &mut out);
    check_ranges(&mut read, kind, &account_ids(accounts, kind), &mut out);
    out.into_sorted()
}

/// Lines whose owner is no user of this host (see [`Owner::unknown`]).
fn check_unknown_owners(read: &Read, out: &mut Findings) {
    for e in &read.entries {
        let owner = read.owner(e);
        if owner.unknown() {
            let message = Message(Msg::UnknownOwner(out.field(owner.name)));
            out.push(
                ProblemKind::UnknownOwner,
                Severity::Warning,
                e.line,
                message,
            );
        }
    }
}

/// A user with lines both by name and by uid: dockerd reads only the uid's.
fn check_mixed_forms(owners: &[Owner], out: &mut Findings) {
    // uid -> (by number, by name, first line), only for uids written as numbers.
    let mut forms: HashMap<Id, (bool, bool, usize)> = HashMap::default();
    for o in owners {
        if let Some((uid, _, true)) = o.user {
            forms.insert(uid, (true, false, o.first_line));
        }
    }
    if forms.is_empty() {
        return;
    }
    for o in owners {
        if let Some((uid, _, numeric)) = o.user {
            if let Some(f) = forms.get_mut(&uid) {
                f.0 |= numeric;
                f.1 |= !numeric;
                f.2 = f.2.min(o.first_line);
            }
        }
    }
    for (uid, (numeric, named, line)) in forms {
        if numeric && named {
            out.push(
                ProblemKind::Shadowed,
                Severity::Warning,
                line,
                format!("uid {uid} has lines by name and by uid: dockerd uses only the lines written with the uid").into(),
            );
        }
    }
}

/// Owners with fewer ids than common images need, once each at their first line.
fn check_sizes(owners: &[Owner], out: &mut Findings) {
    for o in owners.iter().filter(|o| o.too_small()) {
        let message = Message(Msg::TooSmall {
            owner: out.field(o.name),
            total: o.total,
        });
        out.push(
            ProblemKind::TooSmall,
            Severity::Warning,
            o.first_line,
            message,
        );
    }
}

/// In one sweep by start (the entries are sorted so): ranges that cover
/// host accounts (`host`, sorted) other than the owner's own, and ranges
/// that share ids (remembering the line reaching furthest).
fn check_ranges(read: &mut Read, kind: Kind, host: &[(Id, &Field)], out: &mut Findings) {
    read.entries
        .sort_unstable_by_key(|e| (e.range.start, e.range.count, e.line));
    let read = &*read;
    let mut below = 0; // host ids below the current start
    let mut reach: Option<(u64, &Entry)> = None;
    for e in &read.entries {
        while host.get(below).is_some_and(|&(id, _)| id < e.range.start) {
            below += 1;
        }
        let owner = read.owner(e);
        if let Some((uid, gid, _)) = owner.user {
            let own = if kind == Kind::Uid { uid } else { gid };
            covers_accounts(e, owner.name, own, &host[below..], kind, out);
        }
        if let Some((end, p)) = reach {
            if u64::from(e.range.start) < end {
                overlap((p, read.owner(p).name), (e, owner.name), out);
            }
        }
        if reach.is_none_or(|(end, _)| e.range.end() > end) {
            reach = Some((e.range.end(), e));
        }
    }
}

/// The host ids from `e`'s start on (`from`) that `e` covers, other than `own`.
fn covers_accounts(
    e: &Entry,
    owner: &[u8],
    own: Id,
    from: &[(Id, &Field)],
    kind: Kind,
    out: &mut Findings,
) {
    let covered: Vec<&Field> = from
        .iter()
        .take_while(|&&(id, _)| u64::from(id) < e.range.end())
        .filter(|&&(id, _)| id != own)
        .map(|&(_, n)| n)
        .collect();
    if covered.is_empty() {
        return;
    }
    let what = if kind == Kind::Uid {
        "accounts"
    } else {
        "groups"
    };
    let message = format!(
        "{}'s range {} covers host {what} {}: container ids map onto them",
        crate::escape::line(owner),
        e.range,
        name_list(&covered, 5)
    );
    out.push(
        ProblemKind::CoversAccount,
        Severity::Error,
        e.line,
        message.into(),
    );
}

/// `e` starts inside `p` (each with its owner).
fn overlap((p, p_owner): (&Entry, &[u8]), (e, e_owner): (&Entry, &[u8]), out: &mut Findings) {
    let whose = if p_owner == e_owner {
        format!("{}'s own lines overlap", crate::escape::line(e_owner))
    } else {
        format!(
            "{} and {} share ids",
            crate::escape::line(p_owner),
            crate::escape::line(e_owner)
        )
    };
    let message = format!(
        "{whose}: {} (line {}) and {} (line {})",
        p.range, p.line, e.range, e.line
    );
    out.push(
        ProblemKind::Overlap,
        Severity::Error,
        e.line,
        message.into(),
    );
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
        let f = "alice:100000:65536\nbob:165536:65536\n";
        assert_eq!(
            check(f.as_bytes(), Kind::Uid, "/etc/subuid", &accounts()),
            vec![]
        );
    }

    #[test]
    fn ci_agent_layout_covers_real_accounts() {
        let f = "agent:999:65536\n";
        let p = check(f.as_bytes(), Kind::Uid, "/etc/subuid", &accounts());
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
    fn own_uid_first_layout_is_safe() {
        let f = "alice:1000:1\nalice:100000:65535\n";
        assert_eq!(
            check(f.as_bytes(), Kind::Uid, "/etc/subuid", &accounts()),
            vec![]
        );
    }

    #[test]
    fn overlap_and_syntax_are_errors_with_lines() {
        let f = "alice:100000:65536\n# note\nbob:150000:65536\nbroken\nbob:1:x\n";
        let p = check(f.as_bytes(), Kind::Uid, "/etc/subuid", &accounts());
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
        let f = "alice:100000:1000\nghost:200000:65536\n";
        let p = check(f.as_bytes(), Kind::Uid, "/etc/subuid", &accounts());
        assert_eq!(
            kinds(&p),
            vec![ProblemKind::TooSmall, ProblemKind::UnknownOwner]
        );
        assert!(p.iter().all(|p| p.severity == Severity::Warning));
    }

    #[test]
    fn name_and_uid_lines_of_one_user_are_flagged() {
        let f = "alice:100000:65536\n1000:200000:65536\n";
        let p = check(f.as_bytes(), Kind::Uid, "/etc/subuid", &accounts());
        assert_eq!(kinds(&p), vec![ProblemKind::Shadowed]);
    }

    #[test]
    fn subgid_uses_the_primary_group_as_own_id() {
        // alice's own gid 1000 is fine; covering bob's group 1001 is not.
        let f = "alice:1000:1\nalice:100000:65535\n";
        assert_eq!(
            check(f.as_bytes(), Kind::Gid, "/etc/subgid", &accounts()),
            vec![]
        );
        let f = "alice:1000:2\n";
        let p = check(f.as_bytes(), Kind::Gid, "/etc/subgid", &accounts());
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

    /// `plan_add` with the default policy and no host accounts in the way.
    fn add(
        f: &mut SubidFile,
        owner: &str,
        id: Id,
        count: u32,
        placement: Placement,
        layout: Layout,
    ) -> crate::Result<AddResult> {
        plan_add(f, &req(owner, id, count, placement, layout), &policy(), &[])
    }

    /// alice (uid 1000) gets a default count at the lowest free place.
    fn add_alice(f: &mut SubidFile, layout: Layout) -> crate::Result<AddResult> {
        add(f, "alice", 1000, 65536, Placement::Lowest, layout)
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
        let r = add(&mut f, "bob", 1001, 65536, Placement::Lowest, Layout::Fresh).unwrap();
        assert_eq!(r.added, vec![IdRange::new(165536, 65536).unwrap()]);
        assert_eq!(
            as_text(f.render()),
            "# managed\nalice:100000:65536\nbob:165536:65536\n"
        );
    }

    #[test]
    fn add_is_idempotent() {
        let mut f = SubidFile::parse("alice:100000:65536\n");
        let r = add_alice(&mut f, Layout::OwnIdFirst).unwrap();
        assert!(r.added.is_empty());
        assert_eq!(as_text(f.render()), "alice:100000:65536\n");
        // Lines written with the uid count as the user's too.
        let mut f = SubidFile::parse("1000:100000:65536\n");
        assert!(add_alice(&mut f, Layout::Fresh).unwrap().added.is_empty());
    }

    #[test]
    fn self_layout_maps_root_to_the_users_own_id() {
        let mut f = SubidFile::parse("");
        let r = add_alice(&mut f, Layout::OwnIdFirst).unwrap();
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
        assert!(add_alice(&mut f, Layout::OwnIdFirst).is_err());
        assert_eq!(as_text(f.render()), "agent:999:65536\n");
    }

    #[test]
    fn explicit_start_must_not_overlap() {
        let mut f = SubidFile::parse("bob:100000:65536\n");
        assert!(add(
            &mut f,
            "alice",
            1000,
            10,
            Placement::At(165530),
            Layout::Fresh
        )
        .is_err());
        assert_eq!(as_text(f.render()), "bob:100000:65536\n");
    }

    #[test]
    fn ranges_reaching_the_invalid_id_are_refused() {
        let mut f = SubidFile::parse("");
        let at = |f: &mut SubidFile, start, count| {
            add(f, "alice", 1000, count, Placement::At(start), Layout::Fresh)
        };
        let e = at(&mut f, 4294967295, 1).unwrap_err();
        assert!(
            e.is_bad_input() && e.to_string().contains("kernel refuses"),
            "{e}"
        );
        assert!(at(&mut f, 4294967290, 6).is_err());
        assert_eq!(as_text(f.render()), "");
        at(&mut f, 4294967290, 5).unwrap();
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
        assert_eq!(r.added[0].last(), MAX_ID);
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
        fn fast_ids_read_digits_like_the_field_parse(digits in "[0-9]{0,12}", tail in "[:\n/9:x]{0,9}") {
            let b = format!("{digits}{tail}");
            let fast = fast_id(b.as_bytes()).map(|(v, rest)| (v, rest.len()));
            let run = b.bytes().take_while(u8::is_ascii_digit).count();
            let checked = id_field(&b.as_bytes()[..run], "id").ok().filter(|_| run <= 10);
            prop_assert_eq!(fast, checked.map(|v| (v, b.len() - run)));
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
