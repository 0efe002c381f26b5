//! Predicts the uid_map and gid_map Docker Engine installs for a `userns-remap`
//! setting, from the host's passwd, group, subuid and subgid, by the rules of
//! the Docker version that will read them (see docs/dockerd-remap-behaviour.md),
//! and the prediction model Podman's rules ([`crate::podman`]) share.
//!
//! Common to every Docker version (checked on 20.10, read at v27.5.1, v28.5.2, v29.7.2):
//! - SPEC is `user`, `user:group`, `uid`, `uid:gid` or `default`. The user is
//!   looked up by uid when SPEC's user part is a number, else by name; with
//!   no group part, a group of the same name (or gid = uid) must exist. The
//!   group is only validated: it does not select lines.
//! - Both /etc/subuid and /etc/subgid are searched for the USER; the lines used
//!   are stacked from container id 0 upward in file order.
//! - `default` uses `dockremap`; when it does not exist, dockerd creates it
//!   and allocates 65536 ids in each file that has no line for the name.
//! - A user that resolves to root turns remapping off.
//!
//! What changed in Docker 28 ([`RuleSet::DockerFrom28`], `internal/usergroup` with
//! `moby/sys/user`):
//! - up to 27: the lines written with the user's uid, or, only when there are none, the
//!   lines written with its name; from 28: both, in file order;
//! - up to 27: lines are trimmed, `#` and blank lines skipped, a line without three
//!   fields stops the daemon, a bad number on the user's line stops it; from 28: lines
//!   are trimmed and split on `:`, missing fields and fields that are not numbers read as
//!   0 (so `dockremap:abc:65536` maps container ids onto host ids from 0), extra fields
//!   are ignored, nothing stops the daemon;
//! - `default`'s allocation: up to 27 it steps over every line of the file; from 28 only
//!   over the lines of the user running dockerd (root), so it can hand out a range
//!   another user already has.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::accounts::{Accounts, PasswdEntry};
use crate::engine::RuleSet;
use crate::ids::{Extent, Id, IdMap, IdRange};
use crate::subid::{self, Kind, SubidFile};
use crate::sysroot::{paths, Sysroot};
use crate::{Error, Result};

/// The user dockerd uses for `default`.
pub const DEFAULT_USER: &str = "dockremap";

/// A subuid or subgid line an engine uses, and where it lands in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsedLine {
    /// 1-based line number in the file.
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// The first container id it maps, and the host ids it maps to.
    pub container: Id,
    pub host: Id,
    pub count: u32,
}

/// What an engine will install (a prediction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prediction {
    /// The rules applied.
    pub rules: RuleSet,
    /// What was asked (`userns-remap alice`, `rootless alice --userns=keep-id`).
    pub spec: String,
    /// The user whose ranges are used.
    pub user: String,
    /// The user's uid (None: `dockremap` does not exist yet, or a pseudo-user).
    pub uid: Option<Id>,
    /// The group named by the setting (validated only).
    pub group: String,
    pub uid_map: IdMap,
    pub gid_map: IdMap,
    /// The subuid and subgid lines used, in the order they are stacked.
    pub uid_lines: Vec<UsedLine>,
    pub gid_lines: Vec<UsedLine>,
    /// For `default` on a host without `dockremap`: the lines dockerd appends
    /// to /etc/subuid and /etc/subgid when it creates the user (None for a
    /// file that already has lines for `dockremap`).
    pub creates_default: Option<(Option<IdRange>, Option<IdRange>)>,
    /// What the engine does that its user should know (a damaged line read as 0, ...).
    pub warnings: Vec<String>,
}

/// The loaded files a prediction reads. The subid files are kept as text:
/// each engine parses them its own way.
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

    /// Inputs from the files' texts (paths named as on a host: `/etc/subuid`, `/etc/subgid`).
    pub fn from_texts(passwd: &str, group: &str, subuid: &str, subgid: &str) -> Self {
        Inputs {
            accounts: Accounts {
                passwd: crate::accounts::PasswdFile::parse(passwd),
                group: crate::accounts::GroupFile::parse(group),
            },
            subuid: subuid.into(),
            subgid: subgid.into(),
            subuid_path: "/etc/subuid".into(),
            subgid_path: "/etc/subgid".into(),
        }
    }

    /// A file's text and path.
    pub fn text(&self, kind: Kind) -> (&str, &Path) {
        match kind {
            Kind::Uid => (&self.subuid, &self.subuid_path),
            Kind::Gid => (&self.subgid, &self.subgid_path),
        }
    }
}

/// A host range an engine took from a line (not yet stacked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRange {
    pub line: usize,
    pub text: String,
    pub range: IdRange,
}

/// Stacks ranges from container id 0 in the given order; the map and the used lines.
pub fn stack(lines: &[LineRange]) -> Result<(IdMap, Vec<UsedLine>)> {
    let ranges: Vec<IdRange> = lines.iter().map(|l| l.range).collect();
    let map = IdMap::stacked(&ranges)?;
    let used = lines
        .iter()
        .zip(map.extents())
        .map(|(l, e)| UsedLine {
            line: l.line,
            text: l.text.clone(),
            container: e.container,
            host: e.host,
            count: e.count,
        })
        .collect();
    Ok((map, used))
}

/// The 65536 ids dockerd (20.10 to 27) allocates for `dockremap` in a file without lines for it.
pub fn default_range(file: &SubidFile) -> Result<IdRange> {
    default_range_from(&subid::all_ranges(file))
}

/// The 65536 ids dockerd allocates for `dockremap`, stepping over `existing`.
fn default_range_from(existing: &[IdRange]) -> Result<IdRange> {
    let start = subid::dockerd_next_start(existing);
    u32::try_from(start)
        .ok()
        .and_then(|s| IdRange::new(s, subid::FULL_RANGE).ok())
        .ok_or_else(|| Error::invalid("no room left for dockremap's 65536 ids"))
}

/// Reads the host's files below `root` and predicts the maps for `spec` by the
/// rules of Docker 20.10 to 27 (see [`predict_with`] for another version).
pub fn predict(root: &Sysroot, spec: &str) -> Result<Prediction> {
    predict_with(root, spec, RuleSet::DockerUpTo27)
}

/// Reads the host's files below `root` and predicts the maps for `spec` by `rules`
/// (one of Docker's rule sets).
pub fn predict_with(root: &Sysroot, spec: &str, rules: RuleSet) -> Result<Prediction> {
    // Resolve the user before touching the subid files, so that an unknown
    // user is reported as such even when the files are missing.
    let accounts = Accounts::load(root)?;
    resolve(&accounts, spec)?;
    let inputs = Inputs::load(root)?;
    predict_from_with(&inputs, spec, rules)
}

/// Checks that SPEC names existing accounts (before the subid files are read, so
/// that an unknown user is reported as such even when they are missing).
pub fn check_spec(accounts: &Accounts, spec: &str) -> Result<()> {
    resolve(accounts, spec).map(|_| ())
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

/// The lines Docker 20.10 to 27 takes for `user` from one file's text, in file order:
/// the lines written with the user's decimal uid, or, when there are none,
/// the lines written with its name. Like dockerd, every line is trimmed,
/// blank and `#` lines are skipped, a line without exactly three fields is an
/// error whoever it belongs to, and bad numbers are errors only on the
/// user's own lines.
pub fn lines_up_to_27(text: &str, path: &Path, user: &PasswdEntry) -> Result<Vec<LineRange>> {
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
                "expected owner:start:count, found {} fields (Docker up to 27 refuses to start on this line)",
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
        // A bad number is an error only in the list dockerd ends up reading.
        let (start, count) = rest.split_once(':').unwrap_or((rest, ""));
        let num = |s: &str, what: &str| {
            s.parse::<u32>().map_err(|_| {
                err(format!(
                    "{what} '{s}' is not an id (Docker up to 27 refuses to start on it)"
                ))
            })
        };
        let range = num(start, "start").and_then(|start| {
            let count = num(count, "count")?;
            IdRange::new(start, count)
                .map_err(|e| err(format!("{e}: every container would fail to start")))
        });
        list.push(range.map(|range| LineRange {
            line: i + 1,
            text: raw.to_string(),
            range,
        }));
    }
    if by_uid.is_empty() { by_name } else { by_uid }
        .into_iter()
        .collect()
}

/// Go's `strconv.ParseInt(s, 10, 64)` as Docker 28 calls it, errors ignored: an
/// optional sign and decimal digits, nothing else; a syntax error gives 0, a value
/// out of range the nearest limit. Returns the value and whether it parsed.
pub fn go_parse_int(s: &str) -> (i64, bool) {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return (0, false);
    }
    let mut v: i128 = 0;
    for b in digits.bytes() {
        v = (v * 10 + i128::from(b - b'0')).min(i128::from(i64::MAX) + 1);
    }
    let v = if neg { -v } else { v };
    match i64::try_from(v) {
        Ok(v) => (v, true),
        Err(_) if neg => (i64::MIN, false),
        Err(_) => (i64::MAX, false),
    }
}

/// One subuid/subgid line as Docker 28 and later read it (`moby/sys/user`
/// `ParseSubIDFilter`): trimmed, split on `:`, owner, start and count from the first
/// three fields, missing ones and numbers that do not parse read as 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line28<'a> {
    pub owner: &'a str,
    pub start: i64,
    pub count: i64,
    /// Whether start and count parsed as numbers.
    pub start_ok: bool,
    pub count_ok: bool,
}

/// Reads one line the way Docker 28 does; None for a blank line (the only lines it skips).
pub fn line_from_28(raw: &str) -> Option<Line28<'_>> {
    let line = raw.trim();
    if line.is_empty() {
        return None;
    }
    let mut f = line.split(':');
    let owner = f.next().unwrap_or("");
    let (start, start_ok) = f.next().map_or((0, false), go_parse_int);
    let (count, count_ok) = f.next().map_or((0, false), go_parse_int);
    Some(Line28 {
        owner,
        start,
        count,
        start_ok,
        count_ok,
    })
}

/// The lines Docker 28 and later take for `user` from one file: those whose owner
/// is the user's name or its decimal uid, together, in file order. A line whose
/// start does not parse is taken as host id 0 (a warning); a range the kernel
/// cannot take (count 0 or negative, ids past 2^32) is an error, as every
/// container would fail to start.
pub fn lines_from_28(
    text: &str,
    path: &Path,
    user: &PasswdEntry,
    warnings: &mut Vec<String>,
) -> Result<Vec<LineRange>> {
    let uid = user.uid.to_string();
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let Some(l) = line_from_28(raw) else {
            continue;
        };
        if l.owner != user.name && l.owner != uid {
            continue;
        }
        let err = |msg: String| Error::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            msg,
        };
        let range = u32::try_from(l.start)
            .ok()
            .zip(u32::try_from(l.count).ok())
            .and_then(|(s, c)| IdRange::new(s, c).ok())
            .ok_or_else(|| {
                err(format!(
                    "Docker 28 and later read this line as start {} count {}: the kernel refuses that range and every container fails to start",
                    l.start, l.count
                ))
            })?;
        if !l.start_ok {
            warnings.push(format!(
                "{}:{}: '{}': the start is not a number; Docker 28 and later read it as 0, so {} container ids become host ids 0-{} (host root's)",
                path.display(),
                i + 1,
                raw.trim(),
                range.count,
                range.count - 1
            ));
        }
        out.push(LineRange {
            line: i + 1,
            text: raw.to_string(),
            range,
        });
    }
    Ok(out)
}

/// The lines of `rules` for `user` in one file.
fn lines_for(
    rules: RuleSet,
    text: &str,
    path: &Path,
    user: &PasswdEntry,
    warnings: &mut Vec<String>,
) -> Result<Vec<LineRange>> {
    match rules {
        RuleSet::DockerFrom28 => lines_from_28(text, path, user, warnings),
        _ => lines_up_to_27(text, path, user),
    }
}

/// The ranges `default` uses for a missing `dockremap` in one file: its name lines,
/// else the range dockerd allocates (and appends).
fn default_lines(rules: RuleSet, text: &str) -> Result<(Vec<LineRange>, Option<IdRange>)> {
    let file = SubidFile::parse(text);
    let from_28 = rules == RuleSet::DockerFrom28;
    let existing: Vec<LineRange> = if from_28 {
        text.split('\n')
            .enumerate()
            .filter_map(|(i, raw)| Some((i, raw, line_from_28(raw)?)))
            .filter(|(_, _, l)| l.owner == DEFAULT_USER)
            .filter_map(|(i, raw, l)| {
                let r = IdRange::new(u32::try_from(l.start).ok()?, u32::try_from(l.count).ok()?);
                Some(LineRange {
                    line: i + 1,
                    text: raw.to_string(),
                    range: r.ok()?,
                })
            })
            .collect()
    } else {
        file.records()
            .filter(|(_, e)| e.owner == DEFAULT_USER)
            .map(|(line, e)| LineRange {
                line,
                text: format!("{}:{}:{}", e.owner, e.range.start, e.range.count),
                range: e.range,
            })
            .collect()
    };
    if !existing.is_empty() {
        return Ok((existing, None));
    }
    // Up to 27 dockerd steps over every line of the file; from 28 over root's own.
    let taken: Vec<IdRange> = if from_28 {
        text.split('\n')
            .filter_map(line_from_28)
            .filter(|l| l.owner == "root" || l.owner == "0")
            .filter_map(|l| {
                IdRange::new(u32::try_from(l.start).ok()?, u32::try_from(l.count).ok()?).ok()
            })
            .collect()
    } else {
        subid::all_ranges(&file)
    };
    let new = default_range_from(&taken)?;
    let line = LineRange {
        line: 0,
        text: format!("{DEFAULT_USER}:{}:{}", new.start, new.count),
        range: new,
    };
    Ok((vec![line], Some(new)))
}

/// Predicts the maps for `spec` from loaded files by the rules of Docker 20.10 to 27 (pure).
pub fn predict_from(inputs: &Inputs, spec: &str) -> Result<Prediction> {
    predict_from_with(inputs, spec, RuleSet::DockerUpTo27)
}

/// Predicts the maps for `spec` from loaded files by one of Docker's rule sets (pure).
pub fn predict_from_with(inputs: &Inputs, spec: &str, rules: RuleSet) -> Result<Prediction> {
    if !rules.is_docker() {
        return Err(Error::invalid(format!(
            "userns-remap is Docker's setting; {} has none",
            rules.name()
        )));
    }
    let (user, group) = resolve(&inputs.accounts, spec)?;
    let mut warnings = Vec::new();
    let Some(user) = user else {
        return predict_new_dockremap(inputs, spec, rules, group);
    };
    if user.uid == 0 || user.name == "root" {
        return Err(Error::invalid(format!(
            "userns-remap '{spec}' names root: dockerd turns remapping off for root"
        )));
    }
    let mut maps = |kind: Kind| -> Result<(IdMap, Vec<UsedLine>)> {
        let (text, path) = inputs.text(kind);
        let lines = lines_for(rules, text, path, user, &mut warnings)?;
        if lines.is_empty() {
            return Err(Error::invalid(format!(
                "no {} ranges for user {}: dockerd will not start (run: hostmatch subid add {})",
                kind.file_name(),
                user.name,
                user.name
            )));
        }
        stack(&lines).map_err(|e| {
            Error::invalid(format!(
                "{}'s {} ranges: {e}: every container would fail to start",
                user.name,
                kind.file_name()
            ))
        })
    };
    let (uid_map, uid_lines) = maps(Kind::Uid)?;
    let (gid_map, gid_lines) = maps(Kind::Gid)?;
    Ok(Prediction {
        rules,
        spec: spec.to_string(),
        user: user.name.to_string(),
        uid: Some(user.uid),
        group,
        uid_map,
        gid_map,
        uid_lines,
        gid_lines,
        creates_default: None,
        warnings,
    })
}

/// `default` without dockremap: dockerd creates the user, then gives it ranges unless
/// lines for the name exist already.
fn predict_new_dockremap(
    inputs: &Inputs,
    spec: &str,
    rules: RuleSet,
    group: String,
) -> Result<Prediction> {
    let mut warnings = Vec::new();
    let (ulines, unew) = default_lines(rules, inputs.text(Kind::Uid).0)?;
    let (glines, gnew) = default_lines(rules, inputs.text(Kind::Gid).0)?;
    let ((uid_map, uid_lines), (gid_map, gid_lines)) = (stack(&ulines)?, stack(&glines)?);
    if rules == RuleSet::DockerFrom28 {
        overlap_warning(&mut warnings, inputs, unew, gnew);
    }
    Ok(Prediction {
        rules,
        spec: spec.to_string(),
        user: DEFAULT_USER.to_string(),
        uid: None,
        group,
        uid_map,
        gid_map,
        uid_lines,
        gid_lines,
        creates_default: Some((unew, gnew)),
        warnings,
    })
}

/// Docker 28's allocation for `dockremap` ignores other users' lines: warns when the
/// range it picks overlaps one.
fn overlap_warning(
    warnings: &mut Vec<String>,
    inputs: &Inputs,
    unew: Option<IdRange>,
    gnew: Option<IdRange>,
) {
    for (kind, new) in [(Kind::Uid, unew), (Kind::Gid, gnew)] {
        let Some(new) = new else { continue };
        let (text, path) = inputs.text(kind);
        let file = SubidFile::parse(text);
        let hit = file
            .records()
            .find(|(_, e)| e.range.overlaps(&new))
            .map(|(line, e)| (line, e.owner.to_string()));
        if let Some((line, owner)) = hit {
            warnings.push(format!(
                "Docker 28 and later give {DEFAULT_USER} {new} in {}, which overlaps {}'s range on line {line}: only root's own lines are stepped over",
                path.display(),
                owner
            ));
        }
    }
}

/// What a prediction is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Docker's `userns-remap` SPEC.
    Docker(String),
    /// Podman run by root, with this `--userns`.
    PodmanRootful(crate::podman::Userns),
    /// Podman run by a user, with this `--userns`.
    PodmanRootless {
        user: String,
        userns: crate::podman::Userns,
    },
}

impl Target {
    /// What an engine gives a container by default: Docker's userns-remap setting (None
    /// when off), or Podman's configured `--userns` for its user.
    pub fn of_engine(e: &crate::engine::Engine) -> Option<Target> {
        use crate::engine::{Privilege, RemapConfig};
        use crate::podman::{configured_userns, Userns};
        match &e.remap {
            RemapConfig::Docker { spec, .. } => spec.clone().map(Target::Docker),
            RemapConfig::Podman(s) => {
                let userns = configured_userns(s).unwrap_or(Userns::Host);
                Some(match &e.privilege {
                    Privilege::Rootless { uid, user } => Target::PodmanRootless {
                        user: user.clone().unwrap_or_else(|| uid.to_string()),
                        userns,
                    },
                    Privilege::Rootful => Target::PodmanRootful(userns),
                })
            }
        }
    }
}

/// Predicts `target`'s maps by `rules` (pure).
pub fn predict_target(
    inputs: &Inputs,
    target: &Target,
    rules: RuleSet,
    settings: &crate::engine::podman_conf::PodmanSettings,
) -> Result<Prediction> {
    use crate::podman;
    match (target, rules) {
        (Target::Docker(spec), r) if r.is_docker() => predict_from_with(inputs, spec, r),
        (Target::PodmanRootful(u), RuleSet::PodmanRootful) => {
            podman::predict_rootful(inputs, *u, settings)
        }
        (Target::PodmanRootless { user, userns }, RuleSet::PodmanRootless) => {
            podman::predict_rootless(inputs, user, *userns, settings)
        }
        (t, r) => Err(Error::invalid(format!(
            "{t:?} cannot be predicted with the rules of {}",
            r.name()
        ))),
    }
}

/// A prediction in one line, for comparing rule sets.
fn outcome_line(r: &Result<Prediction>) -> String {
    let show = |m: &IdMap| {
        triples(m)
            .iter()
            .map(|(c, h, n)| format!("{c} {h} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match r {
        Ok(p) => format!(
            "uid_map {} / gid_map {}",
            show(&p.uid_map),
            show(&p.gid_map)
        ),
        Err(e) => format!("refuses ({e})"),
    }
}

/// Predicts `spec` by every Docker rule set, for when the Docker version is not
/// known: the prediction and the rule sets that agree on it, or an error saying how
/// they differ.
pub fn predict_any_docker(inputs: &Inputs, spec: &str) -> Result<(Prediction, Vec<RuleSet>)> {
    let old = predict_from_with(inputs, spec, RuleSet::DockerUpTo27);
    let new = predict_from_with(inputs, spec, RuleSet::DockerFrom28);
    match (old, new) {
        (Ok(a), Ok(b)) if (&a.uid_map, &a.gid_map) == (&b.uid_map, &b.gid_map) => {
            let mut a = a;
            for w in b.warnings {
                if !a.warnings.contains(&w) {
                    a.warnings.push(w);
                }
            }
            Ok((a, vec![RuleSet::DockerUpTo27, RuleSet::DockerFrom28]))
        }
        (Err(a), Err(_)) => Err(a),
        (a, b) => Err(Error::invalid(format!(
            "Docker up to 27 and Docker 28 and later read these files differently for '{spec}': up to 27 {}; from 28 {}. Say which Docker reads them: --engine docker:VERSION",
            outcome_line(&a),
            outcome_line(&b)
        ))),
    }
}

/// A map's extents as (container, host, count), for tests and messages.
pub fn triples(m: &IdMap) -> Vec<(Id, Id, u32)> {
    m.extents()
        .iter()
        .map(|e: &Extent| (e.container, e.host, e.count))
        .collect()
}

/// The paths a prediction reads, for messages.
pub const FILES: [&str; 4] = [paths::PASSWD, paths::GROUP, paths::SUBUID, paths::SUBGID];

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(subuid: &str, subgid: &str) -> Inputs {
        Inputs::from_texts(
            "root:x:0:0::/root:/bin/sh\nagent:x:999:999::/:/bin/sh\nalice:x:1000:1000::/h:/bin/sh\nsolo:x:1500:1500::/h:/bin/sh\n",
            "root:x:0:\nagent:x:999:\nalice:x:1000:\ndocker:x:982:\n",
            subuid,
            subgid,
        )
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
