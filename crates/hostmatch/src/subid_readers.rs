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

use std::collections::BTreeMap;

use crate::accounts::Accounts;
use crate::engine::podman_conf::AUTO_USERNS_USER;
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

/// Whether `owner` is someone an engine may read lines for: a host account (by name or
/// uid), `dockremap` (created by `userns-remap=default`) or `containers` (`--userns=auto`).
fn relevant(owner: &str, accounts: &Accounts) -> bool {
    let owner = owner.trim();
    owner == DEFAULT_USER
        || owner == AUTO_USERNS_USER
        || accounts.passwd.find(|u| u.name == owner).is_some()
        || owner
            .parse::<u32>()
            .ok()
            .is_some_and(|uid| accounts.passwd.find(|u| u.uid == uid).is_some())
}

/// The problem of one line the readers disagree on, if any.
fn line_problem(raw: &str, accounts: &Accounts) -> Option<(Severity, String)> {
    let (a, b, c) = (up_to_27(raw), from_28(raw), libsubid(raw));
    let whose = match &b {
        Reading::Range { owner, .. } => owner.clone(),
        _ => return None,
    };
    // A line without three fields stops Docker up to 27 whoever it belongs to; a bad
    // number only on the remap user's line.
    let three = raw.trim().split(':').count() == 3;
    let stops = matches!(a, Reading::StopsDaemon(_)) && (!three || relevant(&whose, accounts));
    if !stops && !relevant(&whose, accounts) {
        return None;
    }
    let host_zero = match (&a, &b) {
        (Reading::Range { .. }, _) => false,
        (_, Reading::Range { start, count, .. }) => {
            let start_field = raw.trim().split(':').nth(1).unwrap_or("");
            *start == 0 && *count > 0 && !go_parse_int(start_field).1 && relevant(&whose, accounts)
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
type Forms = BTreeMap<String, (Vec<(usize, u64)>, Vec<(usize, u64)>)>;

/// The per-user differences: name and uid lines mixed, lines not in host-id order.
fn user_problems(text: &str, accounts: &Accounts) -> Vec<(usize, String)> {
    let mut forms: Forms = BTreeMap::new();
    for (i, raw) in text.split('\n').enumerate() {
        let Reading::Range { owner, start, .. } = up_to_27(raw) else {
            continue;
        };
        let by_uid = owner
            .parse::<u32>()
            .ok()
            .and_then(|uid| accounts.passwd.find(|u| u.uid == uid));
        let (name, numeric) = match by_uid {
            Some(u) => (u.name.to_string(), true),
            None if relevant(&owner, accounts) => (owner.clone(), false),
            None => continue,
        };
        let e = forms.entry(name).or_default();
        let list = if numeric { &mut e.1 } else { &mut e.0 };
        list.push((i + 1, u64::try_from(start).unwrap_or(0)));
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
    let mut add = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        if let Some((sev, msg)) = line_problem(raw, accounts) {
            add.push((i + 1, sev, ProblemKind::EngineDependent, msg));
        }
        if let Some((owner, start, count)) = shadow_line(raw) {
            if owner == AUTO_USERNS_USER && accounts.passwd.find(|u| u.name == owner).is_none() {
                if let Some(msg) = covers(kind, start, count, accounts) {
                    add.push((i + 1, Severity::Error, ProblemKind::CoversAccount, msg));
                }
            }
        }
    }
    for (line, msg) in user_problems(text, accounts) {
        add.push((line, Severity::Warning, ProblemKind::EngineDependent, msg));
    }
    let replaced: Vec<usize> = add
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
