//! The host's `/etc/subuid` and `/etc/subgid` as the `subid` commands and
//! `doctor` use them: listed, edited for a user (planned as one [`Plan`]),
//! and checked (the lines themselves, and how the engines read them).

use serde::Serialize;

use crate::accounts::{self, Accounts};
use crate::engine::podman_conf::AUTO_USERNS_USER;
use crate::fsedit::{FileEdit, Plan};
use crate::ids::{Id, IdRange};
use crate::linefile::Field;
use crate::logindefs::LoginDefs;
use crate::subid::{
    self, AddRequest, Kind, Layout, Placement, Problem, ProblemKind, Severity, SubidFile,
    SubidPolicy,
};
use crate::sysroot::{paths, Sysroot};
use crate::{Error, Result};

/// The two files, subuid first.
pub const KINDS: [Kind; 2] = [Kind::Uid, Kind::Gid];

/// The files `subid add` and `subid remove` edit (lock them both).
pub const FILES: [&str; 2] = [paths::SUBUID, paths::SUBGID];

/// A file's bytes (`None`: missing) and its model, strictly parsed.
pub fn load(root: &Sysroot, kind: Kind) -> Result<(Option<Vec<u8>>, SubidFile)> {
    let path = root.path(kind.rel_path());
    let bytes = root.read_bytes_opt(kind.rel_path())?;
    let file = SubidFile::parse_strict(bytes.as_deref().unwrap_or_default(), &path)?;
    Ok((bytes, file))
}

/// One line of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// The owner as written (shown escaped).
    pub owner: String,
    pub start: u32,
    pub count: u32,
    pub line: usize,
}

/// The ranges of each file; with `user`, only that user's lines (by name or
/// by uid).
pub fn list(root: &Sysroot, user: Option<&str>) -> Result<Vec<(Kind, Vec<Listed>)>> {
    let accounts = Accounts::load(root)?;
    let owners: Option<Vec<Field>> = match user {
        None => None,
        Some(u) => {
            let e = accounts.user(u)?;
            Some(vec![e.name.clone(), e.uid.to_string().into()])
        }
    };
    let mut out = Vec::new();
    for kind in KINDS {
        let (_, file) = load(root, kind)?;
        let rows = file
            .records()
            .filter(|(_, e)| owners.as_ref().is_none_or(|o| o.contains(&e.owner)))
            .map(|(line, e)| Listed {
                owner: e.owner.to_string(),
                start: e.range.start,
                count: e.range.count,
                line,
            })
            .collect();
        out.push((kind, rows));
    }
    Ok(out)
}

/// What an edit does to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub file: String,
    pub added: Vec<IdRange>,
    pub removed: Vec<IdRange>,
    /// The user's ranges already there (then nothing is added).
    pub existing: Vec<IdRange>,
}

/// What `subid add` asks for besides the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddOptions {
    /// How many ids (default: login.defs' `SUB_UID_COUNT`/`SUB_GID_COUNT`).
    pub count: Option<u32>,
    /// The first id (default: the lowest free range the policy allows).
    pub start: Option<Id>,
    pub layout: Layout,
}

/// The name, uid and primary gid that `subid add USER` writes lines for.
/// Podman's `--userns=auto` takes the ranges of a name that is no account
/// (`containers`): that name is taken as it is, with no own id.
fn owner_to_add(accounts: &Accounts, user: &str, layout: Layout) -> Result<(Field, Id, Id)> {
    match accounts.user(user) {
        Ok(u) => Ok((u.name.clone(), u.uid, u.gid)),
        Err(_) if user == AUTO_USERNS_USER => {
            if layout == Layout::OwnIdFirst {
                return Err(Error::invalid(format!(
                    "'{AUTO_USERNS_USER}' is the name Podman's --userns=auto takes ranges from, not an account: it has no own id for --self"
                )));
            }
            Ok((AUTO_USERNS_USER.into(), Id::MAX, Id::MAX))
        }
        Err(e) => Err(e),
    }
}

/// Plans new ranges for `user` in both files: reads the accounts,
/// login.defs and the files below the root.
pub fn plan_add(root: &Sysroot, user: &str, opts: AddOptions) -> Result<(Plan, Vec<FileChange>)> {
    let accounts = Accounts::load(root)?;
    let (name, uid, gid) = owner_to_add(&accounts, user, opts.layout)?;
    let defs_path = root.path(paths::LOGIN_DEFS);
    let defs = LoginDefs::parse(&root.read_opt(paths::LOGIN_DEFS)?.unwrap_or_default());
    let mut plan = Plan::default();
    let mut changes = Vec::new();
    for kind in KINDS {
        let policy = SubidPolicy::from_defs(&defs, kind, &defs_path)?;
        let (old, mut file) = load(root, kind)?;
        let req = AddRequest {
            owner: &name,
            uid,
            own_id: match kind {
                Kind::Uid => uid,
                Kind::Gid => gid,
            },
            count: opts.count.unwrap_or(policy.count),
            placement: opts.start.map_or(Placement::Lowest, Placement::At),
            layout: opts.layout,
        };
        let ids = subid::account_ids(&accounts, kind);
        let res = subid::plan_add(&mut file, &req, &policy, &ids)?;
        let change = FileChange {
            file: String::new(),
            added: res.added,
            removed: vec![],
            existing: res.existing,
        };
        record(root, kind, (old, &file), change, &mut plan, &mut changes);
    }
    Ok((plan, changes))
}

/// Plans removing every line of `users` (names or uids; a name that is no
/// account but has lines is removed too) from both files.
pub fn plan_remove(root: &Sysroot, users: &[String]) -> Result<(Plan, Vec<FileChange>)> {
    let accounts = Accounts::load(root)?;
    let mut plan = Plan::default();
    let mut changes = Vec::new();
    for kind in KINDS {
        let (old, mut file) = load(root, kind)?;
        let mut removed = Vec::new();
        for u in users {
            let found = accounts::find_user(&accounts.passwd, u);
            let uid = found.map(|e| e.uid);
            let name = found.map_or_else(|| u.as_str().into(), |e| e.name.clone());
            if uid.is_none() && subid::ranges_of(&file, u).is_empty() {
                return Err(Error::UnknownUser(crate::escape::line(u.as_bytes()).into()));
            }
            removed.extend(subid::plan_remove(&mut file, &name, uid));
        }
        let change = FileChange {
            file: String::new(),
            added: vec![],
            removed,
            existing: vec![],
        };
        record(root, kind, (old, &file), change, &mut plan, &mut changes);
    }
    Ok((plan, changes))
}

/// Adds one file's edit to `plan` (a missing file is created only when
/// something is added to it) and its change, named, to `changes`.
fn record(
    root: &Sysroot,
    kind: Kind,
    (old, file): (Option<Vec<u8>>, &SubidFile),
    mut change: FileChange,
    plan: &mut Plan,
    changes: &mut Vec<FileChange>,
) {
    if old.is_some() || !change.added.is_empty() {
        plan.push(FileEdit::new(
            root,
            kind.rel_path(),
            old,
            file.render(),
            0o644,
        ));
    }
    change.file = root.path(kind.rel_path()).display().to_string();
    changes.push(change);
}

/// The problems of both files: each line's ([`subid::check`]), the lines
/// the engines read differently ([`crate::subid_readers::refine`]), and a
/// warning for a missing file.
pub fn problems(root: &Sysroot) -> Result<Vec<Problem>> {
    let accounts = Accounts::load(root)?;
    let mut all = Vec::new();
    for kind in KINDS {
        let path = root.path(kind.rel_path());
        let label = path.display().to_string();
        match root.read_bytes_opt(kind.rel_path())? {
            None => all.push(Problem {
                kind: ProblemKind::Missing,
                severity: Severity::Warning,
                file: label.into(),
                line: None,
                message: format!(
                    "{} does not exist: useradd allocates no ranges and userns-remap cannot work",
                    path.display()
                )
                .into(),
            }),
            Some(text) => {
                let mut p = subid::check(&text, kind, &label, &accounts);
                let text = String::from_utf8_lossy(&text);
                crate::subid_readers::refine(&mut p, &text, kind, &label, &accounts);
                all.extend(p);
            }
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nalice:x:1000:\nbob:x:1001:\n";

    fn host(subuid: Option<&str>) -> (tempfile::TempDir, Sysroot) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(dir.path().join("etc/group"), GROUP).unwrap();
        if let Some(s) = subuid {
            std::fs::write(dir.path().join("etc/subuid"), s).unwrap();
            std::fs::write(dir.path().join("etc/subgid"), s).unwrap();
        }
        let root = Sysroot::new(dir.path());
        (dir, root)
    }

    fn opts(layout: Layout) -> AddOptions {
        AddOptions {
            count: None,
            start: None,
            layout,
        }
    }

    #[test]
    fn add_plans_both_files_and_creates_missing_ones() {
        let (_d, root) = host(None);
        let (plan, changes) = plan_add(&root, "bob", opts(Layout::OwnIdFirst)).unwrap();
        let own = |id| IdRange::new(id, 1).unwrap();
        let rest = IdRange::new(100_000, 65_535).unwrap();
        assert_eq!(changes[0].added, vec![own(1001), rest]);
        assert_eq!(changes[1].added, vec![own(1001), rest]);
        assert!(
            changes[0].file.ends_with("etc/subuid"),
            "{}",
            changes[0].file
        );
        assert!(plan.diff().contains("+bob:1001:1"), "{}", plan.diff());
    }

    #[test]
    fn add_for_podmans_auto_name_needs_no_account_but_has_no_own_id() {
        let (_d, root) = host(Some(""));
        let (_, changes) = plan_add(&root, AUTO_USERNS_USER, opts(Layout::Fresh)).unwrap();
        assert_eq!(
            changes[0].added,
            vec![IdRange::new(100_000, 65_536).unwrap()]
        );
        let e = plan_add(&root, AUTO_USERNS_USER, opts(Layout::OwnIdFirst)).unwrap_err();
        assert!(
            e.is_bad_input() && e.to_string().contains("no own id"),
            "{e}"
        );
        assert!(plan_add(&root, "nobody-here", opts(Layout::Fresh)).is_err());
    }

    #[test]
    fn remove_takes_lines_of_names_that_are_no_account_and_refuses_unknown_ones() {
        let (_d, root) = host(Some("ghost:100000:65536\nbob:165536:65536\n"));
        let (plan, changes) = plan_remove(&root, &["ghost".into()]).unwrap();
        assert_eq!(
            changes[0].removed,
            vec![IdRange::new(100_000, 65_536).unwrap()]
        );
        assert!(
            plan.diff().contains("-ghost:100000:65536"),
            "{}",
            plan.diff()
        );
        let e = plan_remove(&root, &["nobody-here".into()]).unwrap_err();
        assert!(e.to_string().contains("nobody-here"), "{e}");
    }

    #[test]
    fn problems_name_a_missing_file_and_each_files_lines() {
        let (_d, root) = host(None);
        let p = problems(&root).unwrap();
        assert_eq!(
            p.iter().filter(|p| p.kind == ProblemKind::Missing).count(),
            2
        );
        let (_d, root) = host(Some("alice:1000:65536\n"));
        let p = problems(&root).unwrap();
        assert!(p
            .iter()
            .any(|p| p.kind == ProblemKind::CoversAccount && p.file.ends_with("etc/subgid")));
        assert!(p
            .iter()
            .any(|p| p.kind == ProblemKind::CoversAccount && p.file.ends_with("etc/subuid")));
    }

    #[test]
    fn list_shows_one_users_lines_by_name_and_by_uid() {
        let (_d, root) = host(Some(
            "alice:100000:65536\n1000:200000:10\nbob:165536:65536\n",
        ));
        let all = list(&root, None).unwrap();
        assert_eq!(all[0].1.len(), 3);
        let alice = list(&root, Some("alice")).unwrap();
        let lines: Vec<usize> = alice[0].1.iter().map(|l| l.line).collect();
        assert_eq!(lines, vec![1, 2]);
        assert_eq!(alice[1].0, Kind::Gid);
    }
}
