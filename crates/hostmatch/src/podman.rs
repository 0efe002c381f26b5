//! Predicts the uid_map and gid_map Podman gives a container, rootful or
//! rootless, from the host's passwd, group, subuid and subgid (pure).
//!
//! Podman (Debian's 4.3, built with shadow's libsubid) reads the subordinate
//! ids through libsubid: a line must have exactly three non-empty fields,
//! written without surrounding blanks; start and count are C numbers (`0x..`
//! hexadecimal, a leading `0` octal); any other line is skipped. For a user it
//! takes the lines written with its name and those written with its uid (in
//! /etc/subgid: the gid of the group named like the user), and, only when
//! there are none, the lines written with the uid. The ranges are then ordered
//! by host id, lowest first (not file order).
//!
//! - Rootless: the user's namespace maps container id 0 to the user's own uid and
//!   container ids 1.. to those ranges (installed with newuidmap/newgidmap). A range
//!   that holds the user's own id stops Podman. Without ranges only the user is mapped.
//! - `--userns=keep-id[:uid=U,gid=G]` (rootless only in Podman 4.3): a second
//!   namespace inside the first maps the user's uid (or U) to itself.
//! - `--userns=auto[:size=N]`: the lowest unused ids; rootful from the ranges of
//!   `containers` (storage.conf `root-auto-userns-user`), rootless from the user's.
//!   hostmatch predicts a first container (it does not see which ids other
//!   containers hold); without `size` Podman sizes by the image, at least 1024.

use std::path::Path;

use serde::Serialize;

use crate::accounts::PasswdEntry;
use crate::engine::podman_conf::PodmanSettings;
use crate::engine::RuleSet;
use crate::ids::{Extent, Id, IdMap, IdRange};
use crate::remap::{stack, Inputs, LineRange, Prediction, UsedLine};
use crate::subid::Kind;
use crate::{Error, Result};

/// A `--userns` mode of Podman's that hostmatch predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Userns {
    /// `host` (Podman's default): rootful, no user namespace; rootless, the user's own.
    Host,
    /// `keep-id[:uid=U,gid=G]`.
    KeepId { uid: Option<Id>, gid: Option<Id> },
    /// `auto[:size=N]`.
    Auto { size: Option<u32> },
}

impl Userns {
    /// Parses Podman's `--userns` value (and containers.conf `userns`).
    pub fn parse(s: &str) -> Result<Userns> {
        let (mode, opts) = s.split_once(':').unwrap_or((s, ""));
        let bad = |what: &str| {
            Error::invalid(format!(
                "--userns {s}: {what} (hostmatch predicts host, keep-id[:uid=U,gid=G] and auto[:size=N])"
            ))
        };
        let mut kv = Vec::new();
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| bad("options are KEY=VALUE"))?;
            let n: u32 = v
                .parse()
                .map_err(|_| bad(&format!("{k}={v} is not a number")))?;
            kv.push((k, n));
        }
        let get = |key: &str| kv.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let known = |keys: &[&str]| kv.iter().all(|(k, _)| keys.contains(k));
        match mode {
            "" | "host" if kv.is_empty() => Ok(Userns::Host),
            "keep-id" if known(&["uid", "gid"]) => Ok(Userns::KeepId {
                uid: get("uid"),
                gid: get("gid"),
            }),
            "auto" if known(&["size"]) => Ok(Userns::Auto { size: get("size") }),
            _ => Err(bad("not predicted")),
        }
    }

    /// `--userns=keep-id:uid=1000,gid=1000`.
    pub fn flag(&self) -> String {
        match self {
            Userns::Host => "--userns=host".into(),
            Userns::KeepId {
                uid: None,
                gid: None,
            } => "--userns=keep-id".into(),
            Userns::KeepId { uid, gid } => {
                let mut o = Vec::new();
                if let Some(u) = uid {
                    o.push(format!("uid={u}"));
                }
                if let Some(g) = gid {
                    o.push(format!("gid={g}"));
                }
                format!("--userns=keep-id:{}", o.join(","))
            }
            Userns::Auto { size: None } => "--userns=auto".into(),
            Userns::Auto { size: Some(n) } => format!("--userns=auto:size={n}"),
        }
    }
}

/// The `--userns` a container gets from containers.conf's `userns` (when the command line
/// gives none). Podman 4.3 keeps keep-id's options but drops auto's: `auto:size=N` in
/// containers.conf gives the size from the image, at least `auto-userns-min-size`
/// (pkg/specgen/generate/container_create.go at v4.3.1 parses only the mode).
pub fn configured_userns(settings: &PodmanSettings) -> Result<Userns> {
    Ok(match Userns::parse(&settings.userns)? {
        Userns::Auto { .. } => Userns::Auto { size: None },
        other => other,
    })
}

/// C's `strtoul(s, &end, 0)` accepted whole, as shadow's `getulong` does: optional
/// leading blanks and sign, `0x` hexadecimal, leading `0` octal, else decimal; None
/// when anything follows the number or it overflows.
pub fn strtoul0(s: &str) -> Option<u64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    if digits.is_empty() {
        return None;
    }
    let v = u64::from_str_radix(digits, radix).ok()?;
    Some(if neg { v.wrapping_neg() } else { v })
}

/// One line as shadow's libsubid reads it: exactly three non-empty `:` fields
/// (nothing trimmed), start and count by [`strtoul0`]; None: the line is skipped.
pub fn shadow_line(line: &str) -> Option<(&str, u64, u64)> {
    if line.len() >= 1024 {
        return None;
    }
    let f: Vec<&str> = line.split(':').collect();
    if f.len() != 3 || f.iter().any(|x| x.is_empty()) {
        return None;
    }
    Some((f[0], strtoul0(f[1])?, strtoul0(f[2])?))
}

/// libsubid's `list_owner_ranges`: the lines for `owner`, and for `owner_id` when the
/// owner is an account (subgid: a group), in file order.
fn owner_lines(
    text: &str,
    path: &Path,
    owner: &str,
    owner_id: Option<Id>,
) -> Result<Vec<LineRange>> {
    let id = owner_id.map(|i| i.to_string());
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let Some((o, start, count)) = shadow_line(raw) else {
            continue;
        };
        if o != owner && Some(o) != id.as_deref() {
            continue;
        }
        let range = u32::try_from(start)
            .ok()
            .zip(u32::try_from(count).ok())
            .and_then(|(s, c)| IdRange::new(s, c).ok())
            .ok_or_else(|| Error::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                msg: format!(
                    "Podman reads start {start} count {count} here: newuidmap/newgidmap and the kernel refuse that range"
                ),
            })?;
        out.push(LineRange {
            line: i + 1,
            text: raw.to_string(),
            range,
        });
    }
    Ok(out)
}

/// The lines Podman reads for `name` in one file, ordered by host id.
pub fn podman_lines(inputs: &Inputs, kind: Kind, name: &str) -> Result<Vec<LineRange>> {
    let (text, path) = inputs.text(kind);
    let acc = &inputs.accounts;
    let account = acc.passwd.find(|u| u.name == name);
    let owner_id = match kind {
        Kind::Uid => account.map(|u| u.uid),
        Kind::Gid => acc.group.find(|g| g.name == name).map(|g| g.gid),
    };
    let mut lines = owner_lines(text, path, name, owner_id)?;
    if lines.is_empty() {
        if let Some(u) = account {
            lines = owner_lines(text, path, &u.uid.to_string(), None)?;
        }
    }
    lines.sort_by_key(|l| l.range.start);
    Ok(lines)
}

/// A rootless user's namespace: its maps and the lines used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootlessNs {
    pub uid_map: IdMap,
    pub gid_map: IdMap,
    pub uid_lines: Vec<UsedLine>,
    pub gid_lines: Vec<UsedLine>,
    pub warnings: Vec<String>,
}

/// `own` at container 0, the ranges from container 1, as Podman hands them to newuidmap.
fn ns_map(
    kind: Kind,
    user: &str,
    own: Id,
    lines: &[LineRange],
    path: &Path,
) -> Result<(IdMap, Vec<UsedLine>)> {
    if let Some(l) = lines.iter().find(|l| l.range.contains(own)) {
        return Err(Error::Parse {
            path: path.to_path_buf(),
            line: l.line,
            msg: format!(
                "{user}'s range {} holds its own {} {own}: rootless Podman refuses to start (\"the specified mapping includes the user {}\")",
                l.range,
                if kind == Kind::Uid { "uid" } else { "gid" },
                if kind == Kind::Uid { "UID" } else { "GID" },
            ),
        });
    }
    let (stacked, mut used) = stack(lines)?;
    let mut ext = vec![Extent {
        container: 0,
        host: own,
        count: 1,
    }];
    for (e, u) in stacked.extents().iter().zip(used.iter_mut()) {
        let container = e
            .container
            .checked_add(1)
            .ok_or_else(|| Error::invalid("too many ids"))?;
        ext.push(Extent { container, ..*e });
        u.container = container;
    }
    let map = IdMap::new(ext).map_err(|e| {
        Error::invalid(format!(
            "{user}'s {} ranges: {e}: rootless Podman cannot set up its namespace",
            kind.file_name()
        ))
    })?;
    Ok((map, used))
}

/// The user namespace rootless Podman sets up for `user` (uid and primary gid).
pub fn rootless_ns(inputs: &Inputs, user: &PasswdEntry) -> Result<RootlessNs> {
    let name = user.name.to_string();
    let ulines = podman_lines(inputs, Kind::Uid, &name)?;
    let glines = podman_lines(inputs, Kind::Gid, &name)?;
    let mut warnings = Vec::new();
    let (ulines, glines) = if ulines.is_empty() || glines.is_empty() {
        warnings.push(format!(
            "{} has no {} ranges: rootless Podman maps only the user itself (container root); files of any other owner in an image cannot be used (hostmatch subid add {})",
            name,
            if ulines.is_empty() { "subuid" } else { "subgid" },
            name
        ));
        (Vec::new(), Vec::new())
    } else {
        (ulines, glines)
    };
    let (uid_map, uid_lines) = ns_map(Kind::Uid, &name, user.uid, &ulines, &inputs.subuid_path)?;
    let (gid_map, gid_lines) = ns_map(Kind::Gid, &name, user.gid, &glines, &inputs.subgid_path)?;
    Ok(RootlessNs {
        uid_map,
        gid_map,
        uid_lines,
        gid_lines,
        warnings,
    })
}

/// `outer` after `inner`: container -> (inner) -> middle -> (outer) -> host. Every
/// middle id `inner` reaches must be mapped by `outer`.
pub fn compose(outer: &IdMap, inner: &[Extent]) -> Result<IdMap> {
    let mut out = Vec::new();
    for e in inner {
        let (mut c, mut m, mut left) = (e.container as u64, e.host as u64, e.count as u64);
        while left > 0 {
            let o = outer
                .extents()
                .iter()
                .find(|o| (o.container as u64) <= m && m < o.container as u64 + o.count as u64)
                .ok_or_else(|| {
                    Error::invalid(format!("id {m} of the outer namespace is not mapped"))
                })?;
            let take = left.min(o.container as u64 + o.count as u64 - m);
            out.push(Extent {
                container: c as Id,
                host: (o.host as u64 + (m - o.container as u64)) as Id,
                count: take as u32,
            });
            (c, m, left) = (c + take, m + take, left - take);
        }
    }
    IdMap::new(out)
}

/// Podman's keep-id map inside the rootless namespace (container -> namespace ids):
/// `id` stays the user's, the other ids of the namespace fill around it.
fn keep_id_inner(id: Id, total: u64) -> Vec<Extent> {
    let id64 = id as u64;
    let mut v = Vec::new();
    let below = id64.min(total);
    if below > 0 {
        v.push(Extent {
            container: 0,
            host: 1,
            count: below as u32,
        });
    }
    v.push(Extent {
        container: id,
        host: 0,
        count: 1,
    });
    if total > id64 {
        v.push(Extent {
            container: id + 1,
            host: id + 1,
            count: (total - id64) as u32,
        });
    }
    v
}

/// A namespace's used lines, with the container ids they land on through `map`.
fn lines_through(used: &[UsedLine], map: &IdMap) -> Vec<UsedLine> {
    used.iter()
        .filter_map(|l| {
            let c = map.to_container(l.host)?;
            Some(UsedLine {
                container: c,
                ..l.clone()
            })
        })
        .collect()
}

/// Podman 4.3 splits a container's map at the boundaries of the rootless namespace's
/// ranges for every mode but `--userns=auto`, whose map it hands to the runtime as
/// allocated (libpod `addSharedNamespaces`, v4.3.1); the kernel refuses a map line that
/// spans two lines of the parent namespace's map.
fn unsplit_fits(ns: &IdMap, inner: &[Extent], file: &str, user: &str, size: u32) -> Result<()> {
    for e in inner {
        let (lo, hi) = (e.host as u64, e.host as u64 + e.count as u64);
        let inside = ns
            .extents()
            .iter()
            .any(|o| o.container as u64 <= lo && hi <= o.container as u64 + o.count as u64);
        if !inside {
            return Err(Error::invalid(format!(
                "--userns=auto:size={size}: the container's ids would span two of {user}'s {file} ranges, and Podman 4.3 gives the kernel that line unsplit: the kernel refuses it (runc: \"mapping tool not present: operation not permitted\"); use a size that fits {user}'s lowest range, or make that range larger"
            )));
        }
    }
    Ok(())
}

/// The lowest `size` ids of `avail` (sorted, merged), stacked from container 0.
fn auto_extents(avail: &[IdRange], size: u32) -> Option<Vec<Extent>> {
    let mut merged: Vec<(u64, u64)> = Vec::new();
    let mut sorted = avail.to_vec();
    sorted.sort();
    for r in sorted {
        match merged.last_mut() {
            Some(last) if r.start as u64 <= last.1 => last.1 = last.1.max(r.end()),
            _ => merged.push((r.start as u64, r.end())),
        }
    }
    let (mut next, mut left, mut out) = (0u64, size as u64, Vec::new());
    for (s, e) in merged {
        if left == 0 {
            break;
        }
        let take = left.min(e - s);
        out.push(Extent {
            container: next as Id,
            host: s as Id,
            count: take as u32,
        });
        next += take;
        left -= take;
    }
    (left == 0).then_some(out)
}

/// The size `--userns=auto` gets without `size=` (the image may ask for more).
fn auto_size(size: Option<u32>, settings: &PodmanSettings, warnings: &mut Vec<String>) -> u32 {
    size.unwrap_or_else(|| {
        warnings.push(format!(
            "--userns=auto without size=: Podman gives at least {} ids and more when the image's files or /etc/passwd use higher ids; this is the smallest case",
            settings.auto_userns_min_size
        ));
        settings.auto_userns_min_size
    })
}

/// Predicts a rootless user's container maps for `mode` (rules [`RuleSet::PodmanRootless`]).
pub fn predict_rootless(
    inputs: &Inputs,
    who: &str,
    mode: Userns,
    settings: &PodmanSettings,
) -> Result<Prediction> {
    let user = crate::accounts::find_user(&inputs.accounts.passwd, who)
        .ok_or_else(|| Error::UnknownUser(who.to_string()))?;
    let name = user.name.to_string();
    let ns = rootless_ns(inputs, user)?;
    let mut warnings = ns.warnings.clone();
    let total_u = ns.uid_map.len_ids() - 1;
    let total_g = ns.gid_map.len_ids() - 1;
    let (uid_map, gid_map) = match mode {
        Userns::Host => (ns.uid_map.clone(), ns.gid_map.clone()),
        Userns::KeepId { uid, gid } => {
            if total_u == 0 || total_g == 0 {
                return Err(Error::invalid(format!(
                    "keep-id needs subordinate ids: {} has none in /etc/subuid or /etc/subgid (Podman refuses)",
                    name
                )));
            }
            let (u, g) = (uid.unwrap_or(user.uid), gid.unwrap_or(user.gid));
            (
                compose(&ns.uid_map, &keep_id_inner(u, total_u))?,
                compose(&ns.gid_map, &keep_id_inner(g, total_g))?,
            )
        }
        Userns::Auto { size } => {
            let size = auto_size(size, settings, &mut warnings);
            let avail = |total: u64| -> Result<Vec<Extent>> {
                let r = u32::try_from(total)
                    .ok()
                    .filter(|t| *t > 0)
                    .and_then(|t| IdRange::new(1, t).ok())
                    .into_iter()
                    .collect::<Vec<_>>();
                auto_extents(&r, size).ok_or_else(|| {
                    Error::invalid(format!(
                        "--userns=auto:size={size}: {} has only {total} subordinate ids (Podman: not enough unused IDs in user namespace)",
                        name
                    ))
                })
            };
            let (iu, ig) = (avail(total_u)?, avail(total_g)?);
            unsplit_fits(&ns.uid_map, &iu, "subuid", &name, size)?;
            unsplit_fits(&ns.gid_map, &ig, "subgid", &name, size)?;
            (compose(&ns.uid_map, &iu)?, compose(&ns.gid_map, &ig)?)
        }
    };
    Ok(Prediction {
        rules: RuleSet::PodmanRootless,
        spec: format!("rootless {} {}", name, mode.flag()),
        user: name.clone(),
        uid: Some(user.uid),
        group: String::new(),
        uid_lines: lines_through(&ns.uid_lines, &uid_map),
        gid_lines: lines_through(&ns.gid_lines, &gid_map),
        uid_map,
        gid_map,
        creates_default: None,
        warnings,
    })
}

/// Predicts the maps rootful Podman gives a container for `mode` (rules
/// [`RuleSet::PodmanRootful`]).
pub fn predict_rootful(
    inputs: &Inputs,
    mode: Userns,
    settings: &PodmanSettings,
) -> Result<Prediction> {
    let mut warnings = Vec::new();
    let name = &settings.auto_userns_user;
    let (uid_map, gid_map, uid_lines, gid_lines) = match mode {
        Userns::Host => (IdMap::identity(), IdMap::identity(), Vec::new(), Vec::new()),
        Userns::KeepId { .. } => {
            return Err(Error::invalid(
                "--userns=keep-id: rootful Podman 4.3 refuses it (\"keep-id is only supported in rootless mode\")",
            ))
        }
        Userns::Auto { size } => {
            let size = auto_size(size, settings, &mut warnings);
            let ul = podman_lines(inputs, Kind::Uid, name)?;
            let gl = podman_lines(inputs, Kind::Gid, name)?;
            let map = |lines: &[LineRange], kind: Kind| -> Result<IdMap> {
                let avail: Vec<IdRange> = if ul.is_empty() || gl.is_empty() {
                    Vec::new()
                } else {
                    lines.iter().map(|l| l.range).collect()
                };
                let ext = auto_extents(&avail, size).ok_or_else(|| {
                    Error::invalid(format!(
                        "--userns=auto:size={size}: '{name}' has {} ids in /etc/{} (Podman: not enough unused IDs in user namespace; hostmatch subid add {name})",
                        avail.iter().map(|r| r.count as u64).sum::<u64>(),
                        kind.file_name()
                    ))
                })?;
                IdMap::new(ext)
            };
            let (um, gm) = (map(&ul, Kind::Uid)?, map(&gl, Kind::Gid)?);
            let used = |lines: &[LineRange], m: &IdMap| -> Vec<UsedLine> {
                lines
                    .iter()
                    .filter_map(|l| {
                        Some(UsedLine {
                            line: l.line,
                            text: l.text.clone(),
                            container: m.to_container(l.range.start)?,
                            host: l.range.start,
                            count: l.range.count,
                        })
                    })
                    .collect()
            };
            let (ulu, glu) = (used(&ul, &um), used(&gl, &gm));
            (um, gm, ulu, glu)
        }
    };
    Ok(Prediction {
        rules: RuleSet::PodmanRootful,
        spec: format!("podman {}", mode.flag()),
        user: if matches!(mode, Userns::Auto { .. }) {
            name.clone()
        } else {
            "root".into()
        },
        uid: None,
        group: String::new(),
        uid_map,
        gid_map,
        uid_lines,
        gid_lines,
        creates_default: None,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remap::triples;

    const KEEP_ID: Userns = Userns::KeepId {
        uid: None,
        gid: None,
    };

    fn inputs(subuid: &str, subgid: &str) -> Inputs {
        Inputs::from_texts(
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/h:/bin/sh\nbob:x:1001:1001::/h:/bin/sh\n",
            "root:x:0:\nalice:x:1000:\nbob:x:1001:\n",
            subuid,
            subgid,
        )
    }

    fn rootless(i: &Inputs, mode: Userns) -> Result<Prediction> {
        predict_rootless(i, "alice", mode, &PodmanSettings::default())
    }

    #[test]
    fn c_numbers_as_shadow_reads_them() {
        assert_eq!(strtoul0("100000"), Some(100000));
        assert_eq!(strtoul0("0x186a0"), Some(100000));
        assert_eq!(strtoul0("0100000"), Some(32768));
        assert_eq!(strtoul0(" 5"), Some(5));
        assert_eq!(strtoul0("0"), Some(0));
        for bad in ["", "5 ", "abc", "08", "0x", "99999999999999999999999"] {
            assert_eq!(strtoul0(bad), None, "{bad:?}");
        }
        assert_eq!(shadow_line("alice:1:2"), Some(("alice", 1, 2)));
        for skipped in [
            "alice:1:2:3",
            "alice:1",
            " alice:1:2 ",
            "alice::2",
            "alice:x:2",
        ] {
            assert_eq!(shadow_line(skipped), None, "{skipped:?}");
        }
    }

    #[test]
    fn rootless_root_is_the_user_and_ranges_are_sorted_by_host_id() {
        let i = inputs(
            "alice:300000:1000\nbob:100000:65536\n1000:200000:65536\n",
            "alice:400000:65536\n",
        );
        let p = rootless(&i, Userns::Host).unwrap();
        assert_eq!(
            triples(&p.uid_map),
            vec![(0, 1000, 1), (1, 200000, 65536), (65537, 300000, 1000)]
        );
        assert_eq!(triples(&p.gid_map), vec![(0, 1000, 1), (1, 400000, 65536)]);
        assert_eq!(
            p.uid_lines
                .iter()
                .map(|l| (l.line, l.container))
                .collect::<Vec<_>>(),
            [(3, 1), (1, 65537)]
        );
        assert_eq!(p.rules, RuleSet::PodmanRootless);
    }

    #[test]
    fn rootless_refuses_a_range_holding_the_users_own_id() {
        // The own-uid-first layout (`user:UID:1`, then a range): safe for Docker, stops rootless Podman.
        let i = inputs("alice:1000:1\nalice:100000:65535\n", "alice:100000:65536\n");
        let e = rootless(&i, Userns::Host).unwrap_err();
        assert!(e.to_string().starts_with("/etc/subuid:1:"), "{e}");
        assert!(e.to_string().contains("own uid 1000"), "{e}");
    }

    #[test]
    fn rootless_without_ranges_maps_only_the_user() {
        let i = inputs("bob:100000:65536\n", "alice:100000:65536\n");
        let p = rootless(&i, Userns::Host).unwrap();
        assert_eq!(triples(&p.uid_map), vec![(0, 1000, 1)]);
        assert_eq!(triples(&p.gid_map), vec![(0, 1000, 1)]);
        assert_eq!(p.warnings.len(), 1);
        assert!(rootless(&i, KEEP_ID).is_err());
    }

    #[test]
    fn keep_id_maps_the_user_to_itself() {
        let i = inputs("alice:100000:65536\n", "alice:100000:65536\n");
        let p = rootless(
            &i,
            Userns::KeepId {
                uid: None,
                gid: None,
            },
        )
        .unwrap();
        assert_eq!(
            triples(&p.uid_map),
            vec![(0, 100000, 1000), (1000, 1000, 1), (1001, 101000, 64536)]
        );
        assert_eq!(p.uid_map.to_host(1000), Some(1000));
        let p = rootless(
            &i,
            Userns::KeepId {
                uid: Some(0),
                gid: Some(0),
            },
        )
        .unwrap();
        assert_eq!(triples(&p.uid_map), vec![(0, 1000, 1), (1, 100000, 65536)]);
        let p = rootless(
            &i,
            Userns::KeepId {
                uid: Some(70000),
                gid: None,
            },
        )
        .unwrap();
        assert_eq!(
            triples(&p.uid_map),
            vec![(0, 100000, 65536), (70000, 1000, 1)]
        );
    }

    #[test]
    fn auto_takes_the_lowest_ids() {
        let i = inputs("alice:100000:65536\n", "alice:100000:65536\n");
        let p = rootless(&i, Userns::Auto { size: Some(2000) }).unwrap();
        assert_eq!(triples(&p.uid_map), vec![(0, 100000, 2000)]);
        assert!(rootless(&i, Userns::Auto { size: Some(70000) }).is_err());
        let p = rootless(&i, Userns::Auto { size: None }).unwrap();
        assert_eq!(p.uid_map.len_ids(), 1024);
        assert!(!p.warnings.is_empty());

        // Across two of the user's ranges: Podman does not split auto's map.
        let two = inputs(
            "alice:300000:1000\nalice:200000:1500\n",
            "alice:100000:65536\n",
        );
        let e = rootless(&two, Userns::Auto { size: Some(2000) }).unwrap_err();
        assert!(
            e.to_string().contains("span two of alice's subuid ranges"),
            "{e}"
        );
        assert!(rootless(&two, Userns::Auto { size: Some(1500) }).is_ok());

        let i = inputs(
            "containers:3000000:1000\ncontainers:2000000:1500\n",
            "containers:2000000:65536\n",
        );
        let s = PodmanSettings::default();
        let p = predict_rootful(&i, Userns::Auto { size: Some(2000) }, &s).unwrap();
        assert_eq!(
            triples(&p.uid_map),
            vec![(0, 2000000, 1500), (1500, 3000000, 500)]
        );
        assert_eq!(triples(&p.gid_map), vec![(0, 2000000, 2000)]);
        assert!(predict_rootful(&i, Userns::Auto { size: Some(5000) }, &s).is_err());
        assert_eq!(
            predict_rootful(&i, Userns::Host, &s).unwrap().uid_map,
            IdMap::identity()
        );
        assert!(predict_rootful(&i, KEEP_ID, &s).is_err());
    }

    #[test]
    fn userns_values() {
        assert_eq!(Userns::parse("").unwrap(), Userns::Host);
        assert_eq!(
            Userns::parse("keep-id:uid=200,gid=210").unwrap(),
            Userns::KeepId {
                uid: Some(200),
                gid: Some(210)
            }
        );
        assert_eq!(
            Userns::parse("auto:size=500").unwrap(),
            Userns::Auto { size: Some(500) }
        );
        for bad in ["nomap", "auto:uidmapping=0:1:2", "keep-id:uid=x", "private"] {
            assert!(Userns::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Userns::KeepId {
                uid: Some(5),
                gid: None
            }
            .flag(),
            "--userns=keep-id:uid=5"
        );
    }

    #[test]
    fn composition_splits_across_outer_extents() {
        let outer = IdMap::new(vec![
            Extent {
                container: 0,
                host: 1000,
                count: 1,
            },
            Extent {
                container: 1,
                host: 100000,
                count: 10,
            },
        ])
        .unwrap();
        let m = compose(
            &outer,
            &[Extent {
                container: 0,
                host: 0,
                count: 5,
            }],
        )
        .unwrap();
        assert_eq!(triples(&m), vec![(0, 1000, 1), (1, 100000, 4)]);
        assert!(compose(
            &outer,
            &[Extent {
                container: 0,
                host: 5,
                count: 10
            }]
        )
        .is_err());
    }
}
