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
    fn seed_000_www_data_maps_to_100032() {
        // Seed 000's layout: `user:1000:1` then `user:100000:65536`.
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

    proptest! {
        #[test]
        fn parse_of_display_is_identity(m in arb_map()) {
            prop_assert_eq!(IdMap::parse(&m.to_string()).unwrap(), m);
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
