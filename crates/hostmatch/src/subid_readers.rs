//! The three readers of /etc/subuid and /etc/subgid, and the lines they read
//! differently (for `hostmatch subid check`):
//!
//! - Docker Engine 20.10 to 27 ([`crate::remap::lines_up_to_27`]): lines trimmed, blank
//!   and `#` lines skipped, a line without three fields stops the daemon, numbers in
//!   decimal, a bad number on the remap user's line stops the daemon; the user's uid lines,
//!   or only when there are none its name lines.
//! - Docker Engine 28 and later ([`crate::remap::line_from_28`]): lines trimmed, missing
//!   fields and fields that are not decimal numbers read as 0, extra fields ignored; name
//!   and uid lines together.
//! - shadow's libsubid ([`crate::podman::shadow_line`]; Podman, newuidmap): nothing
//!   trimmed, exactly three non-empty fields or the line is skipped, numbers as C reads
//!   them (`0x` hexadecimal, a leading `0` octal); ranges ordered by host id.
//!
//! [`refine`] adds an `engine-dependent` problem for each line (or user) they disagree
//! on, and an error for a line Docker 28 and later read as host id 0.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::accounts::Accounts;
use crate::engine::podman_conf::AUTO_USERNS_USER;
use crate::ids::Id;
use crate::linefile::Field;
use crate::podman::shadow_line;
use crate::remap::{go_parse_int, line_from_28, DEFAULT_USER};
use crate::subid::{Kind, Problem, ProblemKind, Severity};

/// How one engine reads one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// Skipped (blank, comment, or not a line this reader takes).
    Skipped,
    /// Read as this owner, start and count.
    Range {
        owner: String,
        start: i128,
        count: i128,
    },
    /// The daemon refuses to start while the line is there (Docker up to 27).
    StopsDaemon(String),
}

/// Docker 20.10 to 27's reading of a line.
pub fn up_to_27(raw: &str) -> Reading {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Reading::Skipped;
    }
    let f: Vec<&str> = line.split(':').collect();
    if f.len() != 3 {
        return Reading::StopsDaemon(format!("{} fields", f.len()));
    }
    // Go's Atoi: decimal with an optional sign; a bad number stops the daemon only on
    // the remap user's own line.
    match (go_parse_int(f[1]), go_parse_int(f[2])) {
        ((s, true), (c, true)) => Reading::Range {
            owner: f[0].to_string(),
            start: s.into(),
            count: c.into(),
        },
        _ => Reading::StopsDaemon(format!(
            "a field that is not a number, when {} is the remap user",
            f[0]
        )),
    }
}

/// Docker 28 and later's reading of a line.
pub fn from_28(raw: &str) -> Reading {
    match line_from_28(raw) {
        None => Reading::Skipped,
        Some(l) => Reading::Range {
            owner: l.owner.to_string(),
            start: l.start.into(),
            count: l.count.into(),
        },
    }
}

/// shadow's libsubid's reading of a line (Podman, newuidmap, newgidmap).
pub fn libsubid(raw: &str) -> Reading {
    match shadow_line(raw) {
        None => Reading::Skipped,
        Some((o, s, c)) => Reading::Range {
            owner: o.to_string(),
            start: s.into(),
            count: c.into(),
        },
    }
}

fn describe(r: &Reading) -> String {
    match r {
        Reading::Skipped => "skip it".into(),
        Reading::Range {
            owner,
            start,
            count,
        } => format!("read owner '{owner}' start {start} count {count}"),
        Reading::StopsDaemon(why) => format!("refuse to start ({why})"),
    }
}

/// The host's users as the readers look owners up: by name, and by uid (the
/// first account with it).
struct Users<'a> {
    names: FxHashSet<&'a [u8]>,
    by_uid: FxHashMap<Id, &'a Field>,
}

impl<'a> Users<'a> {
    fn of(accounts: &'a Accounts) -> Self {
        let mut users = Users {
            names: FxHashSet::default(),
            by_uid: FxHashMap::default(),
        };
        for (_, u) in accounts.passwd.records() {
            users.names.insert(u.name.as_bytes());
            users.by_uid.entry(u.uid).or_insert(&u.name);
        }
        users
    }

    /// The account whose uid `owner` is, written as a decimal number.
    fn by_uid(&self, owner: &str) -> Option<&'a Field> {
        owner
            .parse::<u32>()
            .ok()
            .and_then(|uid| self.by_uid.get(&uid).copied())
    }

    /// Whether `owner` is someone an engine may read lines for: a host account (by name
    /// or uid), `dockremap` (created by `userns-remap=default`) or `containers`
    /// (`--userns=auto`).
    fn relevant(&self, owner: &str) -> bool {
        let owner = owner.trim();
        owner == DEFAULT_USER
            || owner == AUTO_USERNS_USER
            || self.names.contains(owner.as_bytes())
            || self.by_uid(owner).is_some()
    }
}

/// A line every reader reads alike, and so need not look at: `owner:start:count`
/// with decimal numbers (no sign, no leading zero, nothing around them), no white
/// space or `#` first, shorter than libsubid's limit. Most lines are. Its owner and
/// start.
fn plain(raw: &str) -> Option<(&str, u64)> {
    if raw.starts_with(|c: char| c.is_ascii_whitespace() || c == '#') {
        return None;
    }
    let (owner, range) = crate::subid::plain_line(raw.as_bytes())?;
    let numbers = &raw[owner.len() + 1..];
    let no_octal = numbers
        .split(':')
        .all(|n| n.len() == 1 || !n.starts_with('0'));
    let owner = &raw[..owner.len()];
    (no_octal && raw.len() < 1024).then_some((owner, u64::from(range.start)))
}

/// The problem of one line the readers disagree on, if any.
fn line_problem(raw: &str, users: &Users) -> Option<(Severity, String)> {
    if plain(raw).is_some() {
        return None;
    }
    let (a, b, c) = (up_to_27(raw), from_28(raw), libsubid(raw));
    let whose = match &b {
        Reading::Range { owner, .. } => owner.clone(),
        _ => return None,
    };
    // A line without three fields stops Docker up to 27 whoever it belongs to; a bad
    // number only on the remap user's line.
    let three = raw.trim().split(':').count() == 3;
    let stops = matches!(a, Reading::StopsDaemon(_)) && (!three || users.relevant(&whose));
    if !stops && !users.relevant(&whose) {
        return None;
    }
    let host_zero = match (&a, &b) {
        (Reading::Range { .. }, _) => false,
        (_, Reading::Range { start, count, .. }) => {
            let start_field = raw.trim().split(':').nth(1).unwrap_or("");
            *start == 0 && *count > 0 && !go_parse_int(start_field).1 && users.relevant(&whose)
        }
        _ => false,
    };
    if a == b && b == c {
        return None;
    }
    let mut text = format!(
        "'{}': Docker up to 27 would {}; Docker 28 and later {}; Podman (libsubid) would {}",
        raw.trim_end(),
        describe(&a),
        describe(&b),
        describe(&c)
    );
    if raw
        .split(':')
        .skip(1)
        .any(|n| n.len() > 1 && n.starts_with('0'))
    {
        text.push_str(" (C reads a number with a leading 0 as octal)");
    }
    if host_zero {
        let count = match b {
            Reading::Range { count, .. } => count,
            _ => 0,
        };
        return Some((
            Severity::Error,
            format!(
                "{text}: for Docker 28 and later this maps container ids onto host ids 0-{} (host root's)",
                count - 1
            ),
        ));
    }
    Some((
        if stops {
            Severity::Error
        } else {
            Severity::Warning
        },
        text,
    ))
}

/// A user's lines as (line number, start) in file order, by name and by uid.
type Forms<'a> = BTreeMap<&'a str, (Vec<(usize, u64)>, Vec<(usize, u64)>)>;

/// The user a line is of, as Docker up to 27 reads it: the account of its uid (then
/// `true`: written as the uid) or the owner by name, when relevant; and its start.
fn user_line<'a>(raw: &'a str, users: &Users) -> Option<(Cow<'a, str>, bool, u64)> {
    let (owner, start): (Cow<str>, u64) = match plain(raw) {
        Some((owner, start)) => (owner.into(), start),
        None => match up_to_27(raw) {
            Reading::Range { owner, start, .. } => {
                (owner.into(), u64::try_from(start).unwrap_or(0))
            }
            _ => return None,
        },
    };
    match users.by_uid(&owner) {
        Some(u) => Some((u.to_string().into(), true, start)),
        None if users.relevant(&owner) => Some((owner, false, start)),
        None => None,
    }
}

/// The per-user differences: name and uid lines mixed, lines not in host-id order.
/// (Only a user with several lines can have them.)
fn user_problems(text: &str, users: &Users) -> Vec<(usize, String)> {
    let lines: Vec<(Cow<str>, bool, usize, u64)> = text
        .split('\n')
        .enumerate()
        .filter_map(|(i, raw)| user_line(raw, users).map(|(n, num, start)| (n, num, i + 1, start)))
        .collect();
    let mut count: FxHashMap<&str, u32> = FxHashMap::default();
    for (name, ..) in &lines {
        *count.entry(name).or_default() += 1;
    }
    let mut forms: Forms = BTreeMap::new();
    for (name, numeric, line, start) in &lines {
        if count[name.as_ref()] < 2 {
            continue;
        }
        let e = forms.entry(name).or_default();
        let list = if *numeric { &mut e.1 } else { &mut e.0 };
        list.push((*line, *start));
    }
    let mut out = Vec::new();
    for (name, (by_name, by_uid)) in forms {
        let nums = |v: &[(usize, u64)]| {
            v.iter()
                .map(|(l, _)| l.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !by_name.is_empty() && !by_uid.is_empty() {
            let first = by_name[0].0.min(by_uid[0].0);
            out.push((first, format!(
                "{name} has lines by name (line {}) and by uid (line {}): Docker up to 27 uses only the uid lines; Docker 28 and later use them all in file order; Podman uses them all, lowest host id first",
                nums(&by_name),
                nums(&by_uid)
            )));
            continue;
        }
        let all = if by_uid.is_empty() { by_name } else { by_uid };
        if all.windows(2).any(|w| w[0].1 > w[1].1) {
            out.push((all[0].0, format!(
                "{name}'s lines (line {}) are not in host-id order: Docker stacks them in file order, Podman lowest host id first, so container ids land on different host ids",
                nums(&all)
            )));
        }
    }
    out
}

/// Adds the lines and users the engines read differently to one file's problems
/// (replacing the plain syntax error of such a line and the older name-and-uid
/// warning), and reports `containers`' ranges that cover host accounts.
pub fn refine(
    problems: &mut Vec<Problem>,
    text: &str,
    kind: Kind,
    label: &str,
    accounts: &Accounts,
) {
    let label: std::sync::Arc<str> = problems
        .first()
        .map(|p| p.file.clone())
        .unwrap_or_else(|| label.into());
    let users = Users::of(accounts);
    let mut add = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        if let Some((sev, msg)) = line_problem(raw, &users) {
            add.push((i + 1, sev, ProblemKind::EngineDependent, msg));
        }
        // Podman reads `containers`' lines (--userns=auto) as libsubid does.
        if !raw.starts_with(AUTO_USERNS_USER) || users.names.contains(AUTO_USERNS_USER.as_bytes()) {
            continue;
        }
        if let Some((AUTO_USERNS_USER, start, count)) = shadow_line(raw) {
            if let Some(msg) = covers(kind, start, count, accounts) {
                add.push((i + 1, Severity::Error, ProblemKind::CoversAccount, msg));
            }
        }
    }
    for (line, msg) in user_problems(text, &users) {
        add.push((line, Severity::Warning, ProblemKind::EngineDependent, msg));
    }
    let replaced: FxHashSet<usize> = add
        .iter()
        .filter(|(_, s, k, _)| *s == Severity::Error && *k == ProblemKind::EngineDependent)
        .map(|(l, ..)| *l)
        .collect();
    problems.retain(|p| {
        p.kind != ProblemKind::Shadowed
            && !(p.kind == ProblemKind::Syntax && p.line.is_some_and(|l| replaced.contains(&l)))
    });
    problems.extend(add.into_iter().map(|(line, severity, kind, msg)| Problem {
        kind,
        severity,
        file: label.clone(),
        line: Some(line),
        message: msg.into(),
    }));
    problems.sort_by_key(|p| (p.line, p.severity));
}

/// `containers`' range covering host accounts (`--userns=auto` containers would own them).
fn covers(kind: Kind, start: u64, count: u64, accounts: &Accounts) -> Option<String> {
    let end = start.saturating_add(count);
    let hit: Vec<String> = match kind {
        Kind::Uid => accounts
            .passwd
            .records()
            .filter(|(_, u)| (start..end).contains(&u64::from(u.uid)))
            .map(|(_, u)| u.name.to_string())
            .collect(),
        Kind::Gid => accounts
            .group
            .records()
            .filter(|(_, g)| (start..end).contains(&u64::from(g.gid)))
            .map(|(_, g)| g.name.to_string())
            .collect(),
    };
    (!hit.is_empty()).then(|| {
        format!(
            "{AUTO_USERNS_USER}'s range {start}-{} covers host {} {}: --userns=auto containers would own their files",
            end - 1,
            if kind == Kind::Uid { "accounts" } else { "groups" },
            hit.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{GroupFile, PasswdFile};

    fn accounts() -> Accounts {
        Accounts {
            passwd: PasswdFile::parse(
                "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/h:/bin/sh\nbob:x:1001:1001::/h:/bin/sh\n",
            ),
            group: GroupFile::parse("root:x:0:\nalice:x:1000:\nbob:x:1001:\n"),
        }
    }

    fn refined(text: &str) -> Vec<(Option<usize>, ProblemKind, Severity, String)> {
        let mut p = crate::subid::check(text.as_bytes(), Kind::Uid, "/etc/subuid", &accounts());
        refine(&mut p, text, Kind::Uid, "/etc/subuid", &accounts());
        p.into_iter()
            .map(|p| (p.line, p.kind, p.severity, p.message.to_string()))
            .collect()
    }

    #[test]
    fn a_start_that_is_not_a_number_is_host_root_for_docker_28() {
        let p = refined("alice:100000:65536\nalice:abc:65536\n");
        let (line, kind, sev, msg) = &p[0];
        assert_eq!(
            (*line, *kind, *sev),
            (Some(2), ProblemKind::EngineDependent, Severity::Error)
        );
        assert!(msg.contains("host ids 0-65535"), "{msg}");
        assert!(
            msg.contains("Docker up to 27 would refuse to start"),
            "{msg}"
        );
        assert!(msg.contains("Podman (libsubid) would skip it"), "{msg}");
        // The plain syntax error of that line is replaced, not repeated.
        assert_eq!(p.len(), 1, "{p:?}");
        // A line of a name that is no account is no engine's concern beyond its syntax.
        let p = refined("ghost:abc:65536\n");
        assert!(
            p.iter().all(|p| p.1 != ProblemKind::EngineDependent),
            "{p:?}"
        );
    }

    #[test]
    fn extra_fields_stop_docker_27_only() {
        let p = refined("bob:1:2:3\nalice:100000:65536\n");
        let e = p
            .iter()
            .find(|p| p.1 == ProblemKind::EngineDependent)
            .unwrap();
        assert_eq!((e.0, e.2), (Some(1), Severity::Error));
        assert!(
            e.3.contains("Docker up to 27 would refuse to start (4 fields)"),
            "{}",
            e.3
        );
        assert!(
            e.3.contains("Docker 28 and later read owner 'bob' start 1 count 2"),
            "{}",
            e.3
        );
    }

    #[test]
    fn whitespace_octal_and_order_are_warnings() {
        let p = refined("  alice:100000:65536\n");
        let e = p
            .iter()
            .find(|p| p.1 == ProblemKind::EngineDependent)
            .unwrap();
        assert_eq!(e.2, Severity::Warning);
        assert!(
            e.3.contains("Podman (libsubid) would read owner '  alice'"),
            "{}",
            e.3
        );
        let p = refined("alice:0300000:65536\n");
        assert!(p[0].3.contains("octal"), "{p:?}");
        let p = refined("alice:300000:1000\nalice:200000:65536\n");
        assert!(p[0].3.contains("not in host-id order"), "{p:?}");
        let p = refined("alice:100000:65536\nbob:300000:65536\n");
        assert_eq!(p, vec![]);
    }

    #[test]
    fn name_and_uid_lines_say_what_each_engine_uses() {
        let p = refined("alice:100000:65536\n1000:200000:65536\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].1, ProblemKind::EngineDependent);
        assert!(
            p[0].3.contains("Docker up to 27 uses only the uid lines"),
            "{}",
            p[0].3
        );
    }

    #[test]
    fn containers_is_not_an_unknown_owner_but_must_not_cover_accounts() {
        let p = refined("containers:2000000:65536\n");
        assert_eq!(p, vec![]);
        let p = refined("containers:1000:65536\n");
        assert_eq!(
            p.iter().map(|p| p.1).collect::<Vec<_>>(),
            [ProblemKind::CoversAccount]
        );
        assert!(p[0].3.contains("alice, bob"), "{p:?}");
    }
}
