//! ID ranges and user-namespace ID maps (the model behind `/proc/PID/uid_map`).
//!
//! Ids are `u32`; arithmetic is done in `u64` so that a range ending at
//! `u32::MAX` (exclusive `2^32`) is representable and overflow is an error,
//! never a wrap.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A uid or gid.
pub type Id = u32;

/// The kernel's limit on lines in a uid_map/gid_map (Linux 4.15 and later).
pub const MAX_MAP_LINES: usize = 340;

/// The id the kernel shows for ids with no mapping (`/proc/sys/kernel/overflowuid`).
pub const OVERFLOW_ID: Id = 65534;

/// A half-open range of ids `[start, start + count)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IdRange {
    pub start: Id,
    pub count: u32,
}

impl IdRange {
    /// A range, or an error when it is empty or runs past `u32::MAX`.
    pub fn new(start: Id, count: u32) -> Result<Self> {
        let r = IdRange { start, count };
        if count == 0 {
            return Err(Error::invalid(format!("empty id range at {start}")));
        }
        if r.end() > (u32::MAX as u64) + 1 {
            return Err(Error::invalid(format!(
                "id range {start}+{count} runs past {}",
                u32::MAX
            )));
        }
        Ok(r)
    }

    /// One past the last id, as u64.
    pub fn end(&self) -> u64 {
        self.start as u64 + self.count as u64
    }

    /// Whether `id` is in the range.
    pub fn contains(&self, id: Id) -> bool {
        (id as u64) >= self.start as u64 && (id as u64) < self.end()
    }

    /// Whether two ranges share an id.
    pub fn overlaps(&self, other: &IdRange) -> bool {
        (self.start as u64) < other.end() && (other.start as u64) < self.end()
    }

    /// The last id in the range.
    pub fn last(&self) -> Id {
        (self.end() - 1) as Id
    }
}

impl fmt::Display for IdRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.last())
    }
}

/// One line of a uid_map/gid_map: `count` ids from `container` inside the
/// namespace correspond to ids from `host` outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Extent {
    pub container: Id,
    pub host: Id,
    pub count: u32,
}

impl Extent {
    fn inside(&self) -> IdRange {
        IdRange {
            start: self.container,
            count: self.count,
        }
    }
    fn outside(&self) -> IdRange {
        IdRange {
            start: self.host,
            count: self.count,
        }
    }
}

/// A whole uid_map or gid_map.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdMap {
    extents: Vec<Extent>,
}

impl IdMap {
    /// A map from extents, checked like the kernel checks a write to uid_map:
    /// non-empty lines, no overflow, no overlap inside or outside, at most
    /// [`MAX_MAP_LINES`] lines.
    pub fn new(extents: Vec<Extent>) -> Result<Self> {
        if extents.len() > MAX_MAP_LINES {
            return Err(Error::invalid(format!(
                "{} map lines: the kernel accepts at most {MAX_MAP_LINES}",
                extents.len()
            )));
        }
        for e in &extents {
            IdRange::new(e.container, e.count)?;
            IdRange::new(e.host, e.count)?;
        }
        for (i, a) in extents.iter().enumerate() {
            for b in &extents[i + 1..] {
                if a.inside().overlaps(&b.inside()) {
                    return Err(Error::invalid(format!(
                        "map lines overlap inside the namespace: {} and {}",
                        a.inside(),
                        b.inside()
                    )));
                }
                if a.outside().overlaps(&b.outside()) {
                    return Err(Error::invalid(format!(
                        "map lines overlap on the host: {} and {}",
                        a.outside(),
                        b.outside()
                    )));
                }
            }
        }
        Ok(IdMap { extents })
    }

    /// The identity map of every id (what the initial namespace has).
    pub fn identity() -> Self {
        IdMap {
            extents: vec![Extent {
                container: 0,
                host: 0,
                count: u32::MAX,
            }],
        }
    }

    /// Stacks host ranges from container id 0 upward, in the given order
    /// (what dockerd does with the matching subuid/subgid lines).
    pub fn stacked(ranges: &[IdRange]) -> Result<Self> {
        let mut next: u64 = 0;
        let mut extents = Vec::with_capacity(ranges.len());
        for r in ranges {
            if next + r.count as u64 > (u32::MAX as u64) + 1 {
                return Err(Error::invalid(
                    "stacked ranges run past the last container id",
                ));
            }
            extents.push(Extent {
                container: next as Id,
                host: r.start,
                count: r.count,
            });
            next += r.count as u64;
        }
        IdMap::new(extents)
    }

    /// The map's lines.
    pub fn extents(&self) -> &[Extent] {
        &self.extents
    }

    /// Whether the map has no lines.
    pub fn is_empty(&self) -> bool {
        self.extents.is_empty()
    }

    /// The number of container ids mapped.
    pub fn len_ids(&self) -> u64 {
        self.extents.iter().map(|e| e.count as u64).sum()
    }

    /// The host id of a container id.
    pub fn to_host(&self, container: Id) -> Option<Id> {
        self.extents.iter().find_map(|e| {
            e.inside()
                .contains(container)
                .then(|| e.host + (container - e.container))
        })
    }

    /// The container id of a host id.
    pub fn to_container(&self, host: Id) -> Option<Id> {
        self.extents.iter().find_map(|e| {
            e.outside()
                .contains(host)
                .then(|| e.container + (host - e.host))
        })
    }

    /// The inverse map (host and container swapped).
    pub fn inverse(&self) -> IdMap {
        IdMap {
            extents: self
                .extents
                .iter()
                .map(|e| Extent {
                    container: e.host,
                    host: e.container,
                    count: e.count,
                })
                .collect(),
        }
    }

    /// Parses the kernel's format: lines of three whitespace-separated numbers.
    pub fn parse(text: &str) -> Result<Self> {
        let mut extents = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let nums: Vec<&str> = line.split_whitespace().collect();
            let parse = |s: &str| {
                s.parse::<u32>()
                    .map_err(|_| Error::invalid(format!("map line {}: '{s}' is not an id", i + 1)))
            };
            if nums.len() != 3 {
                return Err(Error::invalid(format!(
                    "map line {}: expected 3 numbers, found '{line}'",
                    i + 1
                )));
            }
            extents.push(Extent {
                container: parse(nums[0])?,
                host: parse(nums[1])?,
                count: parse(nums[2])?,
            });
        }
        IdMap::new(extents)
    }
}

impl fmt::Display for IdMap {
    /// The kernel's column format, as `cat /proc/PID/uid_map` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.extents {
            writeln!(f, "{:>10} {:>10} {:>10}", e.container, e.host, e.count)?;
        }
        Ok(())
    }
}

/// A set of ids as sorted, disjoint, non-touching ranges: membership by
/// binary search, set difference by range arithmetic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdSet {
    ranges: Vec<IdRange>,
}

impl IdSet {
    /// The union of `ranges` (in any order, overlapping or not).
    pub fn from_ranges(ranges: impl IntoIterator<Item = IdRange>) -> Self {
        let mut v: Vec<IdRange> = ranges.into_iter().filter(|r| r.count > 0).collect();
        v.sort();
        let mut out: Vec<IdRange> = Vec::with_capacity(v.len());
        for r in v {
            match out.last_mut() {
                Some(last) if r.start as u64 <= last.end() => {
                    let end = last.end().max(r.end());
                    last.count = (end - last.start as u64) as u32;
                }
                _ => out.push(r),
            }
        }
        IdSet { ranges: out }
    }

    /// One id.
    pub fn single(id: Id) -> Self {
        IdSet {
            ranges: vec![IdRange {
                start: id,
                count: 1,
            }],
        }
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: Id) -> bool {
        let i = self.ranges.partition_point(|r| r.end() <= id as u64);
        self.ranges.get(i).is_some_and(|r| r.contains(id))
    }

    /// The set's ranges, sorted, disjoint and not touching.
    pub fn ranges(&self) -> &[IdRange] {
        &self.ranges
    }

    /// Whether the set has no id.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The number of ids in the set.
    pub fn len_ids(&self) -> u64 {
        self.ranges.iter().map(|r| r.count as u64).sum()
    }

    /// The union of two sets.
    pub fn union(&self, other: &IdSet) -> IdSet {
        IdSet::from_ranges(self.ranges.iter().chain(&other.ranges).copied())
    }

    /// The ids of `self` that are not in `other`.
    pub fn minus(&self, other: &IdSet) -> IdSet {
        let mut out = Vec::new();
        for r in &self.ranges {
            let mut start = r.start as u64;
            let end = r.end();
            for o in &other.ranges {
                if o.end() <= start || o.start as u64 >= end {
                    continue;
                }
                if (o.start as u64) > start {
                    out.push(IdRange {
                        start: start as Id,
                        count: (o.start as u64 - start) as u32,
                    });
                }
                start = start.max(o.end());
            }
            if start < end {
                out.push(IdRange {
                    start: start as Id,
                    count: (end - start) as u32,
                });
            }
        }
        IdSet { ranges: out }
    }
}

/// Parses a decimal id, rejecting anything outside `u32`.
pub fn parse_id(s: &str) -> Result<Id> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(format!("'{s}' is not a numeric id")));
    }
    s.parse::<u32>()
        .map_err(|_| Error::invalid(format!("id {s} is out of range (ids are 0..={})", u32::MAX)))
}

/// The id that means "no id" to the kernel, `(uid_t)-1`: `chown(2)` leaves
/// the owner unchanged for it, and no user namespace can map it.
pub const NO_ID: Id = u32::MAX;

/// The highest id there is: the one below [`NO_ID`]. A user namespace can map
/// up to it, a file can be owned by it.
pub const MAX_ID: Id = NO_ID - 1;

/// `UID[:GID]` as a user types it for `flag`: numbers (container ids have no
/// names on the host), GID the same as UID when it is left out, neither
/// [`NO_ID`]. `UID:` with nothing after the colon is refused, not read as
/// `UID`.
pub fn parse_id_pair(s: &str, flag: &str) -> Result<(Id, Id)> {
    let bad = |e: Error| Error::invalid(format!("{flag} '{s}': {e} (expected UID[:GID])"));
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (parse_id(u).map_err(bad)?, parse_id(g).map_err(bad)?),
        None => {
            let u = parse_id(s).map_err(bad)?;
            (u, u)
        }
    };
    if u > MAX_ID || g > MAX_ID {
        return Err(Error::invalid(format!(
            "{flag} '{s}': {NO_ID} is not a valid id"
        )));
    }
    Ok((u, g))
}

/// `id` as an owner to set (`what` names it in the message), or bad input
/// when it is [`NO_ID`].
pub fn target_id(id: Id, what: &str) -> Result<Id> {
    if id == NO_ID {
        return Err(Error::invalid(format!(
            "{what} {NO_ID} is not an id a file can have: the kernel reads it as \"no change\" ((uid_t)-1)"
        )));
    }
    Ok(id)
}

/// Checks that no map sends an id to [`NO_ID`] (the host side of every extent).
pub fn target_map(map: &IdMap, what: &str) -> Result<()> {
    for e in map.extents() {
        let host = IdRange {
            start: e.host,
            count: e.count,
        };
        if host.contains(NO_ID) {
            return Err(Error::invalid(format!(
                "{what} {}:{}:{} maps onto {NO_ID}, which is not an id a file can have ((uid_t)-1)",
                e.container, e.host, e.count
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_pairs_default_the_gid_and_refuse_edges() {
        let pair = |s| parse_id_pair(s, "--for");
        assert_eq!(pair("33").unwrap(), (33, 33));
        assert_eq!(pair("33:4").unwrap(), (33, 4));
        assert_eq!(pair("0").unwrap(), (0, 0));
        assert_eq!(pair("4294967294").unwrap(), (MAX_ID, MAX_ID));
        for bad in [
            "33:",
            ":33",
            "",
            "1:2:3",
            "www-data",
            "-1",
            "4294967295",
            "1:4294967295",
            "4294967296",
        ] {
            let e = pair(bad).unwrap_err();
            assert!(
                e.is_bad_input() && e.to_string().starts_with(&format!("--for '{bad}'")),
                "{bad}: {e}"
            );
        }
    }
    use proptest::prelude::*;

    #[test]
    fn the_no_id_is_refused_as_a_target() {
        assert!(target_id(NO_ID, "--to uid").unwrap_err().is_bad_input());
        assert_eq!(target_id(NO_ID - 1, "--to uid").unwrap(), NO_ID - 1);
        let m = IdMap::new(vec![Extent {
            container: 0,
            host: NO_ID - 1,
            count: 2,
        }])
        .unwrap();
        assert!(target_map(&m, "--map").is_err());
        let m = IdMap::new(vec![Extent {
            container: 0,
            host: NO_ID - 2,
            count: 2,
        }])
        .unwrap();
        assert!(target_map(&m, "--map").is_ok());
    }

    #[test]
    fn stacking_follows_the_given_order() {
        // The order dockerd 20.10 uses: file order, not sorted.
        let m = IdMap::stacked(&[
            IdRange::new(300000, 1000).unwrap(),
            IdRange::new(1500, 1).unwrap(),
            IdRange::new(200000, 65536).unwrap(),
        ])
        .unwrap();
        assert_eq!(
            m.to_string(),
            "         0     300000       1000\n      1000       1500          1\n      1001     200000      65536\n"
        );
        assert_eq!(m.to_host(1000), Some(1500));
        assert_eq!(m.to_host(1001), Some(200000));
        assert_eq!(m.to_host(66537), None);
        assert_eq!(m.to_container(200032), Some(1033));
    }

    #[test]
    fn www_data_maps_to_100032_after_the_own_uid() {
        // `user:1000:1` then `user:100000:65536`: root is the user, then 100000 on.
        let m = IdMap::stacked(&[
            IdRange::new(1000, 1).unwrap(),
            IdRange::new(100000, 65536).unwrap(),
        ])
        .unwrap();
        assert_eq!(m.to_host(0), Some(1000));
        assert_eq!(m.to_host(33), Some(100032));
        assert_eq!(m.to_container(100032), Some(33));
    }

    #[test]
    fn overlapping_lines_are_rejected() {
        let e = |c, h, n| Extent {
            container: c,
            host: h,
            count: n,
        };
        assert!(IdMap::new(vec![e(0, 1000, 10), e(5, 5000, 10)]).is_err());
        assert!(IdMap::new(vec![e(0, 1000, 10), e(10, 1005, 10)]).is_err());
        assert!(IdMap::new(vec![e(0, u32::MAX, 2)]).is_err());
        assert!(IdMap::new(vec![e(0, 1000, 0)]).is_err());
    }

    #[test]
    fn ranges_reaching_the_last_id_are_valid() {
        let r = IdRange::new(u32::MAX, 1).unwrap();
        assert!(r.contains(u32::MAX));
        assert_eq!(r.last(), u32::MAX);
        assert!(IdRange::new(u32::MAX, 2).is_err());
    }

    #[test]
    fn parse_id_rejects_out_of_range_and_junk() {
        assert_eq!(parse_id("4294967295").unwrap(), u32::MAX);
        assert!(parse_id("4294967296").is_err());
        assert!(parse_id("-1").is_err());
        assert!(parse_id("12a").is_err());
        assert!(parse_id("").is_err());
    }

    fn arb_map() -> impl Strategy<Value = IdMap> {
        prop::collection::vec((1u32..100_000, 0u32..1_000_000), 1..8).prop_map(|v| {
            // Non-overlapping host ranges: lay them out with gaps.
            let mut host: u64 = 0;
            let ranges: Vec<IdRange> = v
                .into_iter()
                .map(|(count, gap)| {
                    let start = host + gap as u64;
                    host = start + count as u64;
                    IdRange::new(start as u32, count).unwrap()
                })
                .collect();
            IdMap::stacked(&ranges).unwrap()
        })
    }

    fn arb_ranges() -> impl Strategy<Value = Vec<IdRange>> {
        prop::collection::vec((0u32..2000, 1u32..300), 0..8).prop_map(|v| {
            v.into_iter()
                .map(|(s, n)| IdRange::new(s, n).unwrap())
                .collect()
        })
    }

    #[test]
    fn id_sets_merge_touching_ranges_and_subtract() {
        let r = |s, n| IdRange::new(s, n).unwrap();
        let a = IdSet::from_ranges([r(10, 5), r(0, 10), r(100, 1), r(12, 1)]);
        assert_eq!(a.ranges(), &[r(0, 15), r(100, 1)]);
        let b = a.minus(&IdSet::from_ranges([r(3, 2), r(14, 90)]));
        assert_eq!(b.ranges(), &[r(0, 3), r(5, 9)]);
        assert!(IdSet::single(u32::MAX).contains(u32::MAX));
        assert!(!IdSet::default().contains(0));
    }

    proptest! {
        #[test]
        fn parse_of_display_is_identity(m in arb_map()) {
            prop_assert_eq!(IdMap::parse(&m.to_string()).unwrap(), m);
        }

        #[test]
        fn id_set_membership_is_that_of_its_ranges(a in arb_ranges(), b in arb_ranges(), id in 0u32..2500) {
            let in_a = a.iter().any(|r| r.contains(id));
            let in_b = b.iter().any(|r| r.contains(id));
            let sa = IdSet::from_ranges(a.clone());
            let sb = IdSet::from_ranges(b.clone());
            prop_assert_eq!(sa.contains(id), in_a);
            prop_assert_eq!(sa.union(&sb).contains(id), in_a || in_b);
            prop_assert_eq!(sa.minus(&sb).contains(id), in_a && !in_b);
            // Normal form: sorted, disjoint, not touching.
            for w in sa.minus(&sb).ranges().windows(2) {
                prop_assert!(w[0].end() < w[1].start as u64);
            }
        }

        #[test]
        fn translate_then_inverse_is_identity(m in arb_map(), id in 0u32..2_000_000) {
            if let Some(h) = m.to_host(id) {
                prop_assert_eq!(m.to_container(h), Some(id));
                prop_assert_eq!(m.inverse().to_host(h), Some(id));
            }
            if let Some(c) = m.to_container(id) {
                prop_assert_eq!(m.to_host(c), Some(id));
            }
        }
    }
}
