//! Pure models of an ID-mapped mount's mapping: `--map` specs, `--owner-as`
//! plans, and the (uid, gid) pair of maps they turn into.
//!
//! A mapping goes from the id STORED on disk to the id SEEN through the mount.
//! In the kernel's terms it is the uid_map/gid_map of the mount's user
//! namespace with the stored id in the first column ("inside") and the seen id
//! in the second ("outside"): a line `1000 100000 1` shows files stored as 1000
//! as 100000, and stores files created as 100000 as 1000. [`IdMap`]'s
//! `container` is therefore the stored id and `host` the seen id:
//! [`IdMap::to_host`] answers "what is seen", [`IdMap::to_container`] "what is
//! stored".

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{parse_id, Extent, Id, IdMap, MAX_ID};
use crate::{Error, Result};

/// Which ids a `--map` line maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MapKind {
    Uid,
    Gid,
    Both,
}

/// One `--map [u|g|b:]FROM:TO:COUNT`: COUNT ids stored as FROM.. are seen as TO..
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapSpec {
    pub kind: MapKind,
    pub from: Id,
    pub to: Id,
    pub count: u32,
}

impl MapSpec {
    /// Parses `[u|g|b:]FROM:TO:COUNT`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "--map '{s}': {why} (expected [u|g|b:]FROM:TO:COUNT, e.g. 1000:100000:1)"
            ))
        };
        let parts: Vec<&str> = s.split(':').collect();
        let (kind, nums) = match parts.len() {
            3 => (MapKind::Both, &parts[..]),
            4 => {
                let kind = match parts[0] {
                    "u" => MapKind::Uid,
                    "g" => MapKind::Gid,
                    "b" => MapKind::Both,
                    other => return Err(bad(&format!("unknown kind '{other}'"))),
                };
                (kind, &parts[1..])
            }
            _ => return Err(bad("wrong number of fields")),
        };
        let from = parse_id(nums[0]).map_err(|e| bad(&e.to_string()))?;
        let to = parse_id(nums[1]).map_err(|e| bad(&e.to_string()))?;
        let count = parse_id(nums[2]).map_err(|e| bad(&e.to_string()))?;
        let spec = MapSpec {
            kind,
            from,
            to,
            count,
        };
        spec.check().map_err(|e| bad(&e.to_string()))?;
        Ok(spec)
    }

    fn check(&self) -> Result<()> {
        if self.count == 0 {
            return Err(Error::invalid("COUNT is 0"));
        }
        for (what, start) in [("FROM", self.from), ("TO", self.to)] {
            let last = start as u64 + self.count as u64 - 1;
            if last > MAX_ID as u64 {
                return Err(Error::invalid(format!(
                    "{what}+COUNT runs past the last valid id {MAX_ID}"
                )));
            }
        }
        Ok(())
    }

    fn extent(&self) -> Extent {
        Extent {
            container: self.from,
            host: self.to,
            count: self.count,
        }
    }
}

impl fmt::Display for MapSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match self.kind {
            MapKind::Uid => "u",
            MapKind::Gid => "g",
            MapKind::Both => "b",
        };
        write!(f, "{k}:{}:{}:{}", self.from, self.to, self.count)
    }
}

/// The two maps of an ID-mapped mount (stored id -> seen id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub uid_map: IdMap,
    pub gid_map: IdMap,
}

impl Mapping {
    /// The maps described by `--map` specs. A side (uids or gids) that no spec
    /// names keeps every id as it is (identity). Overlapping lines, on the
    /// stored or the seen side, are an error.
    pub fn from_specs(specs: &[MapSpec]) -> Result<Self> {
        if specs.is_empty() {
            return Err(Error::invalid(
                "no mapping given: use --map, --owner-as or --for-docker",
            ));
        }
        let side = |want: MapKind, name: &str| -> Result<IdMap> {
            let extents: Vec<Extent> = specs
                .iter()
                .filter(|s| s.kind == want || s.kind == MapKind::Both)
                .map(MapSpec::extent)
                .collect();
            if extents.is_empty() {
                return Ok(identity());
            }
            for (i, a) in extents.iter().enumerate() {
                for b in &extents[i + 1..] {
                    let over = |x: Id, y: Id, n: u32, m: u32| {
                        (x as u64) < y as u64 + m as u64 && (y as u64) < x as u64 + n as u64
                    };
                    if over(a.container, b.container, a.count, b.count) {
                        return Err(Error::invalid(format!(
                            "{name} --map lines overlap on the stored ids: {}:{}:{} and {}:{}:{}",
                            a.container, a.host, a.count, b.container, b.host, b.count
                        )));
                    }
                    if over(a.host, b.host, a.count, b.count) {
                        return Err(Error::invalid(format!(
                            "{name} --map lines overlap on the seen ids: {}:{}:{} and {}:{}:{}",
                            a.container, a.host, a.count, b.container, b.host, b.count
                        )));
                    }
                }
            }
            IdMap::new(extents).map_err(|e| Error::invalid(format!("{name} --map lines: {e}")))
        };
        Ok(Mapping {
            uid_map: side(MapKind::Uid, "uid")?,
            gid_map: side(MapKind::Gid, "gid")?,
        })
    }

    /// The mapping that shows files owned by `owner` (uid, gid) as owned by
    /// `seen`, and stores files created as `seen` as `owner`. To keep the map
    /// a bijection, ids stored as `seen` are shown as `owner` (a swap); every
    /// other id is left as it is.
    pub fn owner_as(owner: (Id, Id), seen: (Id, Id)) -> Result<Self> {
        Ok(Mapping {
            uid_map: swap(owner.0, seen.0)?,
            gid_map: swap(owner.1, seen.1)?,
        })
    }

    /// What a file stored with (uid, gid) is seen as (None: the overflow id).
    pub fn seen(&self, uid: Id, gid: Id) -> (Option<Id>, Option<Id>) {
        (self.uid_map.to_host(uid), self.gid_map.to_host(gid))
    }

    /// The kernel's uid_map text of the mount's user namespace.
    pub fn uid_map_text(&self) -> String {
        kernel_text(&self.uid_map)
    }

    /// The kernel's gid_map text of the mount's user namespace.
    pub fn gid_map_text(&self) -> String {
        kernel_text(&self.gid_map)
    }
}

fn kernel_text(m: &IdMap) -> String {
    m.extents()
        .iter()
        .map(|e| format!("{} {} {}\n", e.container, e.host, e.count))
        .collect()
}

/// Every valid id to itself.
pub fn identity() -> IdMap {
    IdMap::new(vec![Extent {
        container: 0,
        host: 0,
        count: MAX_ID + 1,
    }])
    .expect("the identity map is valid")
}

/// `a` <-> `b`, every other valid id to itself.
fn swap(a: Id, b: Id) -> Result<IdMap> {
    for id in [a, b] {
        if id > MAX_ID {
            return Err(Error::invalid(format!("id {id} is not a valid id")));
        }
    }
    if a == b {
        return Ok(identity());
    }
    let (lo, hi) = (a.min(b), a.max(b));
    let mut ext = Vec::new();
    let ident = |start: u64, end: u64, ext: &mut Vec<Extent>| {
        if end > start {
            ext.push(Extent {
                container: start as Id,
                host: start as Id,
                count: (end - start) as u32,
            });
        }
    };
    ident(0, lo as u64, &mut ext);
    ext.push(Extent {
        container: a,
        host: b,
        count: 1,
    });
    ident(lo as u64 + 1, hi as u64, &mut ext);
    ext.push(Extent {
        container: b,
        host: a,
        count: 1,
    });
    ident(hi as u64 + 1, MAX_ID as u64 + 1, &mut ext);
    IdMap::new(ext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn map_spec_kinds_and_default() {
        let s = MapSpec::parse("1000:100000:1").unwrap();
        assert_eq!(s.kind, MapKind::Both);
        assert_eq!((s.from, s.to, s.count), (1000, 100000, 1));
        assert_eq!(MapSpec::parse("u:0:1000:1").unwrap().kind, MapKind::Uid);
        assert_eq!(MapSpec::parse("g:0:1000:1").unwrap().kind, MapKind::Gid);
        assert_eq!(MapSpec::parse("b:0:1000:1").unwrap().kind, MapKind::Both);
        assert_eq!(
            MapSpec::parse("u:0:1000:1").unwrap().to_string(),
            "u:0:1000:1"
        );
    }

    #[test]
    fn map_spec_rejects_junk_and_out_of_range() {
        for bad in [
            "",
            "1000:1",
            "x:1:2:3",
            "u:1:2",
            "1:2:3:4:5",
            "-1:0:1",
            "1000:100000:0",
            "4294967295:0:1",
            "0:4294967290:10",
            "1:2:4294967296",
            "a:b:c",
        ] {
            let e = MapSpec::parse(bad).unwrap_err();
            assert!(e.is_bad_input(), "{bad}: {e}");
            assert!(e.to_string().contains("--map"), "{e}");
        }
        // The last valid id is usable.
        assert!(MapSpec::parse("4294967294:0:1").is_ok());
    }

    #[test]
    fn overlapping_maps_are_invalid() {
        let specs =
            |v: &[&str]| -> Vec<MapSpec> { v.iter().map(|s| MapSpec::parse(s).unwrap()).collect() };
        // Stored side overlaps.
        let e = Mapping::from_specs(&specs(&["1000:5000:10", "1005:9000:1"])).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
        assert!(e.to_string().contains("overlap on the stored ids"), "{e}");
        let e = Mapping::from_specs(&specs(&["1000:5000:10", "3000:5001:1"])).unwrap_err();
        assert!(e.to_string().contains("overlap on the seen ids"), "{e}");
        // Seen side overlaps.
        assert!(Mapping::from_specs(&specs(&["1000:5000:10", "2000:5009:1"])).is_err());
        // b: and u: overlap on the uid side only.
        assert!(Mapping::from_specs(&specs(&["b:0:100:10", "u:5:200:1"])).is_err());
        // u: and g: on the same ids do not overlap.
        assert!(Mapping::from_specs(&specs(&["u:0:100:10", "g:0:100:10"])).is_ok());
        assert!(Mapping::from_specs(&[]).is_err());
    }

    #[test]
    fn unnamed_side_is_identity_and_unmapped_ids_overflow() {
        let m = Mapping::from_specs(&[MapSpec::parse("u:1000:100000:1").unwrap()]).unwrap();
        assert_eq!(m.seen(1000, 1000), (Some(100000), Some(1000)));
        assert_eq!(m.seen(0, 0), (None, Some(0)));
        assert_eq!(m.uid_map_text(), "1000 100000 1\n");
        assert_eq!(m.gid_map_text(), "0 0 4294967295\n");
    }

    #[test]
    fn owner_as_swaps_owner_and_target_and_keeps_the_rest() {
        let m = Mapping::owner_as((1000, 1001), (100000, 100000)).unwrap();
        assert_eq!(m.seen(1000, 1001), (Some(100000), Some(100000)));
        assert_eq!(m.seen(100000, 100000), (Some(1000), Some(1001)));
        assert_eq!(m.seen(0, 0), (Some(0), Some(0)));
        assert_eq!(m.seen(1001, 1000), (Some(1001), Some(1000)));
        assert_eq!(m.seen(MAX_ID, 5), (Some(MAX_ID), Some(5)));
        assert_eq!(
            m.uid_map_text(),
            "0 0 1000\n1000 100000 1\n1001 1001 98999\n100000 1000 1\n100001 100001 4294867294\n"
        );
        // Same ids: identity.
        let same = Mapping::owner_as((5, 5), (5, 5)).unwrap();
        assert_eq!(same.uid_map, identity());
        // Owner at the edges.
        assert!(Mapping::owner_as((0, 0), (MAX_ID, MAX_ID)).is_ok());
        assert!(Mapping::owner_as((0, 0), (u32::MAX, 0)).is_err());
    }

    #[test]
    fn parse_user_defaults_gid_to_uid() {
        use crate::ids::parse_id_pair as parse_user;
        assert_eq!(parse_user("1234", "--owner-as").unwrap(), (1234, 1234));
        assert_eq!(parse_user("1234:50", "--owner-as").unwrap(), (1234, 50));
        assert!(parse_user("1234:", "--owner-as").is_err());
        assert!(parse_user("bob", "--owner-as").is_err());
        assert!(parse_user("4294967295", "--owner-as").is_err());
    }

    proptest! {
        #[test]
        fn owner_as_is_a_bijection(a in 0u32..=MAX_ID, b in 0u32..=MAX_ID, x in 0u32..=MAX_ID) {
            let m = Mapping::owner_as((a, a), (b, b)).unwrap();
            prop_assert_eq!(m.uid_map.to_host(a), Some(b));
            prop_assert_eq!(m.uid_map.to_container(b), Some(a));
            let seen = m.uid_map.to_host(x).unwrap();
            prop_assert_eq!(m.uid_map.to_container(seen), Some(x));
            if x != a && x != b {
                prop_assert_eq!(seen, x);
            }
        }

        #[test]
        fn parsed_specs_round_trip(kind in 0u8..3, from in 0u32..1_000_000, to in 0u32..1_000_000, count in 1u32..100_000) {
            let k = ["u", "g", "b"][kind as usize];
            let text = format!("{k}:{from}:{to}:{count}");
            prop_assert_eq!(MapSpec::parse(&text).unwrap().to_string(), text);
        }
    }
}
