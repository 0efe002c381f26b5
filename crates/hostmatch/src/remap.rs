//! Predicts the uid_map and gid_map dockerd installs for a `userns-remap`
//! setting, from the host's passwd, group, subuid and subgid.
//!
//! The rules follow Docker Engine 20.10 as observed on a real daemon (see
//! docs/dockerd-remap-behaviour.md):
//! - SPEC is `user`, `user:group`, `uid`, `uid:gid` or `default`. The user is
//!   looked up by uid when SPEC's user part is a number, else by name; with
//!   no group part, a group of the same name (or gid = uid) must exist. The
//!   group is only validated: it does not select lines.
//! - Both /etc/subuid and /etc/subgid are searched for the USER: first the
//!   lines written with the user's numeric uid; only when there are none, the
//!   lines written with the user's name.
//! - Matching lines are stacked from container id 0 upward in file order.
//! - `default` uses `dockremap`; when it does not exist, dockerd creates it
//!   and allocates 65536 ids in each file (see [`crate::subid::dockerd_next_start`]).
//! - A user that resolves to root turns remapping off.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::accounts::{Accounts, PasswdEntry};
use crate::ids::{Id, IdMap, IdRange};
use crate::subid::{self, Kind, SubidFile};
use crate::sysroot::{paths, Sysroot};
use crate::{Error, Result};

/// The user dockerd uses for `default`.
pub const DEFAULT_USER: &str = "dockremap";

/// What dockerd will do for a `userns-remap` setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prediction {
    /// The setting as given.
    pub spec: String,
    /// The user whose ranges are used.
    pub user: String,
    /// The user's uid (None: `dockremap` does not exist yet).
    pub uid: Option<Id>,
    /// The group named by the setting (validated only).
    pub group: String,
    pub uid_map: IdMap,
    pub gid_map: IdMap,
    /// For `default` on a host without `dockremap`: the lines dockerd appends
    /// to /etc/subuid and /etc/subgid when it creates the user (None for a
    /// file that already has lines for `dockremap`).
    pub creates_default: Option<(Option<IdRange>, Option<IdRange>)>,
}

/// The loaded files a prediction reads. The subid files are kept as text:
/// dockerd parses them its own way (see [`dockerd_ranges`]).
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub accounts: Accounts,
    pub subuid: String,
    pub subgid: String,
    /// Paths of the two files, for messages.
    pub subuid_path: PathBuf,
    pub subgid_path: PathBuf,
}

impl Inputs {
    /// Reads the files below `root`.
    pub fn load(root: &Sysroot) -> Result<Self> {
        Ok(Inputs {
            accounts: Accounts::load(root)?,
            // Bytes that are not UTF-8 (an owner dockerd never matches) are kept lossily.
            subuid: String::from_utf8_lossy(&root.read_bytes(Kind::Uid.rel_path())?).into_owned(),
            subgid: String::from_utf8_lossy(&root.read_bytes(Kind::Gid.rel_path())?).into_owned(),
            subuid_path: root.path(Kind::Uid.rel_path()),
            subgid_path: root.path(Kind::Gid.rel_path()),
        })
    }

    fn text(&self, kind: Kind) -> (&str, &Path) {
        match kind {
            Kind::Uid => (&self.subuid, &self.subuid_path),
            Kind::Gid => (&self.subgid, &self.subgid_path),
        }
    }
}

/// The 65536 ids dockerd allocates for `dockremap` in a file without lines for it.
pub fn default_range(file: &SubidFile) -> Result<IdRange> {
    let start = subid::dockerd_next_start(&subid::all_ranges(file));
    u32::try_from(start)
        .ok()
        .and_then(|s| IdRange::new(s, subid::FULL_RANGE).ok())
        .ok_or_else(|| Error::invalid("no room left for dockremap's 65536 ids"))
}

/// Reads the host's files below `root` and predicts the maps for `spec`.
pub fn predict(root: &Sysroot, spec: &str) -> Result<Prediction> {
    // Resolve the user before touching the subid files, so that an unknown
    // user is reported as such even when the files are missing.
    let accounts = Accounts::load(root)?;
    resolve(&accounts, spec)?;
    let inputs = Inputs::load(root)?;
    predict_from(&inputs, spec)
}

/// Whether `s` is what dockerd takes as a number (a 32-bit signed integer).
fn numeric(s: &str) -> Option<i64> {
    s.parse::<i32>().ok().map(i64::from)
}

/// Resolves SPEC to (user entry or None for a missing dockremap, group name).
fn resolve<'a>(acc: &'a Accounts, spec: &str) -> Result<(Option<&'a PasswdEntry>, String)> {
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(Error::invalid(format!(
            "'{spec}' is not a userns-remap setting (user, user:group, uid, uid:gid or default)"
        )));
    }
    let (user, mut group) = if let Some(uid) = numeric(parts[0]) {
        let u = u32::try_from(uid)
            .ok()
            .and_then(|uid| acc.passwd.find(|u| u.uid == uid))
            .ok_or_else(|| Error::UnknownUser(parts[0].to_string()))?;
        let group = if parts.len() == 1 {
            let g = u32::try_from(uid)
                .ok()
                .and_then(|gid| acc.group.find(|g| g.gid == gid))
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "userns-remap '{spec}': no group with gid {uid} (dockerd takes the uid as the gid); use {spec}:GROUP"
                    ))
                })?;
            g.name.to_string()
        } else {
            String::new()
        };
        (Some(u), group)
    } else {
        let name = if parts[0] == "default" {
            DEFAULT_USER
        } else {
            parts[0]
        };
        match acc.passwd.find(|u| u.name == name) {
            None if parts[0] == "default" => return Ok((None, DEFAULT_USER.to_string())),
            None => return Err(Error::UnknownUser(name.to_string())),
            Some(u) => {
                let group = if parts.len() == 1 {
                    acc.group.find(|g| g.name == name).map(|g| g.name.to_string()).ok_or_else(|| {
                        Error::invalid(format!(
                            "userns-remap '{spec}': no group named '{name}' (dockerd needs one when no group is given); use {name}:GROUP"
                        ))
                    })?
                } else {
                    String::new()
                };
                (Some(u), group)
            }
        }
    };
    if parts.len() == 2 {
        let g = match numeric(parts[1]) {
            Some(gid) => u32::try_from(gid)
                .ok()
                .and_then(|gid| acc.group.find(|g| g.gid == gid)),
            None => acc.group.find(|g| g.name == parts[1]),
        };
        group = g
            .map(|g| g.name.to_string())
            .ok_or_else(|| Error::UnknownGroup(parts[1].to_string()))?;
    }
    Ok((user, group))
}

/// The ranges dockerd takes for `user` from one file's text, in file order:
/// the lines written with the user's decimal uid, or, when there are none,
/// the lines written with its name. Like dockerd, every line is trimmed,
/// blank and `#` lines are skipped, a line without exactly three fields is an
/// error whoever it belongs to, and bad numbers are errors only on the
/// user's own lines.
pub fn dockerd_ranges(text: &str, path: &Path, user: &PasswdEntry) -> Result<Vec<IdRange>> {
    let uid_prefix = format!("{}:", user.uid);
    let name_prefix = format!("{}:", user.name);
    let (mut by_uid, mut by_name) = (Vec::new(), Vec::new());
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.trim_ascii();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |msg: String| Error::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            msg,
        };
        let colons = line.bytes().filter(|&b| b == b':').count();
        if colons != 2 {
            return Err(err(format!(
                "expected owner:start:count, found {} fields (dockerd refuses to start on this line)",
                colons + 1
            )));
        }
        let (list, rest) = if let Some(rest) = line.strip_prefix(uid_prefix.as_str()) {
            (&mut by_uid, rest)
        } else if let Some(rest) = line.strip_prefix(name_prefix.as_str()) {
            (&mut by_name, rest)
        } else {
            continue;
        };
        let (start, count) = rest.split_once(':').unwrap_or((rest, ""));
        let num = |s: &str, what: &str| {
            s.parse::<u32>().map_err(|_| {
                err(format!(
                    "{what} '{s}' is not an id (dockerd refuses to start on it)"
                ))
            })
        };
        let (start, count) = (num(start, "start")?, num(count, "count")?);
        let range = IdRange::new(start, count)
            .map_err(|e| err(format!("{e}: every container would fail to start")))?;
        list.push(range);
    }
    Ok(if by_uid.is_empty() { by_name } else { by_uid })
}

/// Predicts the maps for `spec` from loaded files (pure).
pub fn predict_from(inputs: &Inputs, spec: &str) -> Result<Prediction> {
    let (user, group) = resolve(&inputs.accounts, spec)?;
    let Some(user) = user else {
        // `default` without dockremap: dockerd creates the user, then gives it
        // ranges unless lines for the name exist already.
        // Per file: lines for the name are used as they are; otherwise
        // dockerd allocates 65536 ids and appends a line.
        let ranges = |kind: Kind| -> Result<(Vec<IdRange>, Option<IdRange>)> {
            let file = SubidFile::parse(inputs.text(kind).0);
            let existing = subid::ranges_of(&file, DEFAULT_USER);
            if !existing.is_empty() {
                return Ok((existing, None));
            }
            let new = default_range(&file)?;
            Ok((vec![new], Some(new)))
        };
        let ((uranges, unew), (granges, gnew)) = (ranges(Kind::Uid)?, ranges(Kind::Gid)?);
        return Ok(Prediction {
            spec: spec.to_string(),
            user: DEFAULT_USER.to_string(),
            uid: None,
            group,
            uid_map: IdMap::stacked(&uranges)?,
            gid_map: IdMap::stacked(&granges)?,
            creates_default: Some((unew, gnew)),
        });
    };
    if user.uid == 0 || user.name == "root" {
        return Err(Error::invalid(format!(
            "userns-remap '{spec}' names root: dockerd turns remapping off for root"
        )));
    }
    let maps = |kind: Kind| -> Result<IdMap> {
        let (text, path) = inputs.text(kind);
        let ranges = dockerd_ranges(text, path, user)?;
        if ranges.is_empty() {
            return Err(Error::invalid(format!(
                "no {} ranges for user {}: dockerd will not start (run: hostmatch subid add {})",
                kind.file_name(),
                user.name,
                user.name
            )));
        }
        IdMap::stacked(&ranges).map_err(|e| {
            Error::invalid(format!("{}'s {} ranges: {e}", user.name, kind.file_name()))
        })
    };
    Ok(Prediction {
        spec: spec.to_string(),
        user: user.name.to_string(),
        uid: Some(user.uid),
        group,
        uid_map: maps(Kind::Uid)?,
        gid_map: maps(Kind::Gid)?,
        creates_default: None,
    })
}

/// The paths a prediction reads, for messages.
pub const FILES: [&str; 4] = [paths::PASSWD, paths::GROUP, paths::SUBUID, paths::SUBGID];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{GroupFile, PasswdFile};

    fn inputs(subuid: &str, subgid: &str) -> Inputs {
        Inputs {
            accounts: Accounts {
                passwd: PasswdFile::parse(
                    "root:x:0:0::/root:/bin/sh\nagent:x:999:999::/:/bin/sh\nalice:x:1000:1000::/h:/bin/sh\nsolo:x:1500:1500::/h:/bin/sh\n",
                ),
                group: GroupFile::parse("root:x:0:\nagent:x:999:\nalice:x:1000:\ndocker:x:982:\n"),
            },
            subuid: subuid.into(),
            subgid: subgid.into(),
            subuid_path: "/etc/subuid".into(),
            subgid_path: "/etc/subgid".into(),
        }
    }

    fn map(m: &IdMap) -> Vec<(Id, Id, u32)> {
        m.extents()
            .iter()
            .map(|e| (e.container, e.host, e.count))
            .collect()
    }

    #[test]
    fn lines_stack_in_file_order() {
        let i = inputs(
            "alice:300000:1000\nbob:1:1\nalice:1500:1\nalice:200000:65536\n",
            "alice:100000:65536\n",
        );
        let p = predict_from(&i, "alice").unwrap();
        assert_eq!(
            map(&p.uid_map),
            vec![(0, 300000, 1000), (1000, 1500, 1), (1001, 200000, 65536)]
        );
        assert_eq!(map(&p.gid_map), vec![(0, 100000, 65536)]);
        assert_eq!(p.group, "alice");
    }

    #[test]
    fn uid_lines_take_precedence_over_name_lines() {
        let i = inputs(
            "alice:100000:65536\n1000:200000:65536\n",
            "alice:100000:65536\n",
        );
        let p = predict_from(&i, "alice").unwrap();
        assert_eq!(map(&p.uid_map), vec![(0, 200000, 65536)]);
        assert_eq!(map(&p.gid_map), vec![(0, 100000, 65536)]);
    }

    #[test]
    fn group_part_selects_no_lines() {
        let i = inputs(
            "alice:1000:1\nalice:100000:65535\n",
            "alice:982:1\nalice:100000:65535\ndocker:5:5\n",
        );
        let p = predict_from(&i, "alice:docker").unwrap();
        assert_eq!(map(&p.gid_map), vec![(0, 982, 1), (1, 100000, 65535)]);
        assert_eq!(p.group, "docker");
        let p = predict_from(&i, "1000:982").unwrap();
        assert_eq!(p.user, "alice");
        assert_eq!(p.group, "docker");
    }

    #[test]
    fn user_without_same_named_group_is_refused() {
        let i = inputs("solo:100000:65536\n", "solo:100000:65536\n");
        let e = predict_from(&i, "solo").unwrap_err();
        assert!(e.to_string().contains("no group named 'solo'"), "{e}");
        assert!(predict_from(&i, "solo:docker").is_ok());
    }

    #[test]
    fn default_without_dockremap_predicts_dockerds_allocation() {
        let i = inputs(
            "alice:100000:65536\n",
            "alice:100000:65536\nagent:165536:65536\n",
        );
        let p = predict_from(&i, "default").unwrap();
        assert_eq!(map(&p.uid_map), vec![(0, 165536, 65536)]);
        assert_eq!(map(&p.gid_map), vec![(0, 231072, 65536)]);
        assert!(p.creates_default.is_some());
    }

    #[test]
    fn root_unknown_users_and_missing_ranges_are_errors() {
        let i = inputs("alice:100000:65536\n", "alice:100000:65536\n");
        assert!(predict_from(&i, "root")
            .unwrap_err()
            .to_string()
            .contains("root"));
        assert!(matches!(predict_from(&i, "0:0"), Err(Error::Invalid(_))));
        assert!(matches!(
            predict_from(&i, "nobody"),
            Err(Error::UnknownUser(_))
        ));
        assert!(matches!(
            predict_from(&i, "4242"),
            Err(Error::UnknownUser(_))
        ));
        assert!(matches!(
            predict_from(&i, "alice:nogroup"),
            Err(Error::UnknownGroup(_))
        ));
        assert!(predict_from(&i, "agent")
            .unwrap_err()
            .to_string()
            .contains("no subuid ranges"));
        assert!(predict_from(&i, "a:b:c").is_err());
        assert!(predict_from(&i, "").is_err());
    }

    #[test]
    fn parsing_follows_dockerd() {
        // Other users' bad numbers are ignored; their wrong field counts are not.
        let i = inputs(
            "bob:abc:10\n  alice:100000:65536  \n",
            "alice:100000:65536\n",
        );
        assert_eq!(
            map(&predict_from(&i, "alice").unwrap().uid_map),
            vec![(0, 100000, 65536)]
        );
        let i = inputs("garbage\nalice:100000:65536\n", "alice:100000:65536\n");
        assert!(predict_from(&i, "alice")
            .unwrap_err()
            .to_string()
            .starts_with("/etc/subuid:1:"));
        let i = inputs("alice:abc:10\n", "alice:100000:65536\n");
        assert!(predict_from(&i, "alice")
            .unwrap_err()
            .to_string()
            .starts_with("/etc/subuid:1:"));
        // A uid line must match the uid exactly as a string.
        let i = inputs(
            "alice:100000:65536\n01000:200000:65536\n",
            "alice:100000:65536\n",
        );
        assert_eq!(
            map(&predict_from(&i, "alice").unwrap().uid_map),
            vec![(0, 100000, 65536)]
        );
        // A leading zero in SPEC is still the uid.
        assert_eq!(predict_from(&i, "01000").unwrap().user, "alice");
    }

    #[test]
    fn default_uses_existing_name_lines_per_file() {
        let i = inputs("dockremap:700000:1000\n", "alice:100000:65536\n");
        let p = predict_from(&i, "default").unwrap();
        assert_eq!(map(&p.uid_map), vec![(0, 700000, 1000)]);
        assert_eq!(map(&p.gid_map), vec![(0, 165536, 65536)]);
        assert_eq!(
            p.creates_default,
            Some((None, Some(IdRange::new(165536, 65536).unwrap())))
        );
    }

    #[test]
    fn overlapping_lines_of_one_user_are_reported() {
        let i = inputs(
            "alice:100000:65536\nalice:100010:5\n",
            "alice:100000:65536\n",
        );
        assert!(predict_from(&i, "alice")
            .unwrap_err()
            .to_string()
            .contains("overlap"));
    }
}
