//! A plan as steps that a later start can finish: the account files'
//! replacements, the home, the trees to re-own. When the account files
//! change, the steps are first recorded in a root-owned file
//! ([`PENDING_PATH`]); a start killed or failing at any point after that
//! (a write limit, `ENOSPC`, `SIGKILL` between the renames of `/etc/passwd`
//! and `/etc/group`, or in the middle of a re-own) leaves the record, and the
//! next start finishes those steps ([`finish_pending`]) before it plans
//! anything: the account is never left with its ids changed but its files
//! not. Every step is idempotent but one order: the trees of accounts that
//! made room are re-owned before the account's own (its new id is their old
//! one), so the record notes when they are done.

use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fault;
use super::plan::{MatchPlan, Reown};
use super::reach::{self, Ids, Reached};
use crate::fsedit;
use crate::fsedit::Apply;
use crate::ids::Id;
use crate::own::{self, Depth, Guard, Options, Report, Rule};
use crate::sys::fs as sfs;
use crate::sys::process as sp;
use crate::sysroot::{paths, Sysroot};
use crate::{Error, Result};

/// The record of a change in progress (below the root).
pub const PENDING_PATH: &str = "etc/hostmatch/entrypoint.pending";

/// Worker threads of the re-own walks. A home of a few hundred entries is
/// walked faster by one thread than by starting more (measured:
/// docs/benchmarks.md, "Entrypoint start-up").
const WALK_THREADS: usize = 1;

/// The steps of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Steps {
    /// Replacements of the account files (passwd, group).
    pub edits: Vec<Edit>,
    /// Locked entries added to shadow and gshadow for new names.
    pub appends: Vec<Append>,
    pub home: Option<Home>,
    pub trees: Vec<Tree>,
    /// Who the workload may be (see [`reach`]).
    pub account: Ids,
    /// Trees already re-owned: a later start goes on from here.
    pub done: usize,
    /// What changes, one line each (for messages).
    pub summary: Vec<String>,
}

/// A whole-file replacement (bytes: account files need not be UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    /// Relative to the root, e.g. `etc/passwd`.
    pub path: String,
    /// The content before (`None`: the file did not exist).
    pub old: Option<Vec<u8>>,
    pub new: Vec<u8>,
    /// Mode of a new file.
    pub mode: u32,
}

/// A locked entry for a new name, added to `/etc/shadow` (a user) or
/// `/etc/gshadow` (a group) when that file exists and has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Append {
    pub path: String,
    pub name: String,
}

/// The account's home: created when missing; for an account created by
/// this change, a root-owned home (made by the runtime for a bind mount
/// below it) is given to the account, the directory itself only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Home {
    pub path: PathBuf,
    pub uid: Id,
    pub gid: Id,
    pub give_root_owned: bool,
}

/// How deep a tree is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TreeDepth {
    Recursive,
    Top,
}

/// A tree to re-own: entries owned by `uid.0` get `uid.1` (and so for
/// gids), or with `every` every entry gets `uid.1:gid.1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    pub path: PathBuf,
    pub uid: Option<(Id, Id)>,
    pub gid: Option<(Id, Id)>,
    pub every: bool,
    pub depth: TreeDepth,
    /// The ids of the account whose files move ([`Guard`]).
    pub owner: Ids,
    /// An account that made room (done before the account's trees).
    pub made_room: bool,
}

impl Tree {
    fn from_reown(r: &Reown) -> Tree {
        let (uid, gid, every) = match &r.rule {
            Rule::Chown { uid, gid } => (*uid, *gid, false),
            Rule::Set { uid, gid } => (uid.map(|u| (u, u)), gid.map(|g| (g, g)), true),
            _ => (None, None, false),
        };
        Tree {
            path: r.path.clone(),
            uid,
            gid,
            every,
            depth: match r.depth {
                Depth::Top | Depth::SelfOnly => TreeDepth::Top,
                Depth::Recursive => TreeDepth::Recursive,
            },
            owner: r.owner.clone(),
            made_room: r.made_room,
        }
    }

    fn rule(&self) -> Rule {
        if self.every {
            Rule::Set {
                uid: self.uid.map(|u| u.1),
                gid: self.gid.map(|g| g.1),
            }
        } else {
            Rule::Chown {
                uid: self.uid,
                gid: self.gid,
            }
        }
    }

    fn options(&self, dry: bool) -> Options {
        Options {
            depth: match self.depth {
                TreeDepth::Recursive => Depth::Recursive,
                TreeDepth::Top => Depth::Top,
            },
            mode: if dry { Apply::DryRun } else { Apply::Write },
            threads: WALK_THREADS,
            guard: Some(Guard {
                uids: self.owner.uids.clone(),
                gids: self.owner.gids.clone(),
            }),
        }
    }
}

/// What happened to one path (a tree, or the home).
#[derive(Debug)]
pub struct Outcome {
    pub path: PathBuf,
    /// The walk's report (`None`: missing, refused, or the home).
    pub report: Option<Report>,
    /// Why the path was left alone (a symlink in its path, a planted
    /// component, the entrypoint's own binary inside it).
    pub refused: Option<String>,
}

/// The shadow (or gshadow) file with a locked entry for `a.name` added,
/// through the one model of [`crate::accounts`]; `None` when it has one.
fn with_locked_entry(text: &[u8], a: &Append) -> Option<Vec<u8>> {
    use crate::accounts::{add_gshadow_members, add_locked_shadow, GshadowFile, ShadowFile};
    let name = a.name.as_str().into();
    if a.path == paths::SHADOW {
        let mut f = ShadowFile::parse(text);
        add_locked_shadow(&mut f, &name).then(|| f.render())
    } else {
        let mut f = GshadowFile::parse(text);
        add_gshadow_members(&mut f, &name, &[]).then(|| f.render())
    }
}

impl Steps {
    /// The steps of `plan`, with the account files as they are now.
    pub fn from_plan(root: &Sysroot, plan: &MatchPlan) -> Result<Steps> {
        let mut edits = Vec::new();
        let mut edit = |rel: &str, new: Vec<u8>, changed: bool| -> Result<()> {
            if changed {
                let old = root.read_bytes_opt(rel)?;
                edits.push(Edit {
                    path: rel.to_string(),
                    old,
                    new,
                    mode: 0o644,
                });
            }
            Ok(())
        };
        edit(paths::PASSWD, plan.passwd.render(), plan.passwd_changed)?;
        edit(paths::GROUP, plan.group.render(), plan.group_changed)?;
        let mut appends = Vec::new();
        if let Some(u) = &plan.new_user {
            appends.push(append(paths::SHADOW, u));
        }
        if let Some(g) = &plan.new_group {
            appends.push(append(paths::GSHADOW, g));
        }
        let home = plan
            .home
            .as_ref()
            .filter(|_| plan.create_home)
            .map(|h| Home {
                path: h.clone(),
                uid: plan.target.uid,
                gid: plan.account_gid,
                give_root_owned: plan.new_user.is_some() && plan.target.uid != 0,
            });
        Ok(Steps {
            edits,
            appends,
            home,
            trees: plan.reown.iter().map(Tree::from_reown).collect(),
            account: plan.account.clone(),
            done: 0,
            summary: plan.summary(),
        })
    }

    /// Whether the account files change (then the steps are recorded).
    pub fn edits_accounts(&self) -> bool {
        !self.edits.is_empty() || !self.appends.is_empty()
    }
}

fn append(path: &str, name: &str) -> Append {
    Append {
        path: path.to_string(),
        name: name.to_string(),
    }
}

/// Whether the filesystem holding `path` (or its nearest existing parent)
/// is mounted read-only.
pub fn is_read_only(path: &Path) -> bool {
    let mut p = Some(path);
    while let Some(cur) = p {
        if fs::symlink_metadata(cur).is_ok() {
            return sp::mount_flags(cur).is_ok_and(|f| f.rdonly);
        }
        p = cur.parent();
    }
    false
}

/// The one line when a read-only root filesystem stops a needed change: what
/// must change, and what works where every start is a fresh container
/// (`docker run --rm`, a pod).
pub fn read_only_error(what: &str, steps: &Steps) -> Error {
    let advice = if steps.edits_accounts() {
        "the account's ids live in /etc/passwd and /etc/group, so with a read-only root they \
         must be right in the image: build it with the account at these ids (e.g. a build \
         argument and usermod -u/groupmod -g), or let the container write its root filesystem"
            .to_string()
    } else {
        let home = steps
            .home
            .as_ref()
            .map(|h| h.path.clone())
            .or_else(|| steps.trees.first().map(|t| t.path.clone()))
            .unwrap_or_else(|| PathBuf::from("/home/app"));
        format!(
            "to start anyway, set chown_home = \"none\" in /etc/hostmatch/entrypoint.toml (the \
             files keep their owners), or mount a writable volume at {h} (Docker: -v NAME:{h}; \
             Kubernetes: an emptyDir volume), which the entrypoint can re-own",
            h = home.display()
        )
    };
    Error::Permission(format!(
        "the root filesystem is read-only (Docker: --read-only; Kubernetes: \
         readOnlyRootFilesystem: true), but {what} must change: {}; {advice}",
        steps.summary.join("; ")
    ))
}

/// The container's `/` (below the sysroot) as a descriptor.
fn open_root(root: &Sysroot) -> Result<OwnedFd> {
    let f = fs::File::open(root.root()).map_err(|e| Error::io(root.root(), e))?;
    Ok(OwnedFd::from(f))
}

/// Checks, before anything is written, that every step can write where it
/// must: account files and a home to create on a read-only filesystem are
/// refused; a tree on one is counted first (nothing to change is fine).
pub fn check_writable(root: &Sysroot, steps: &Steps, protect: &[PathBuf]) -> Result<()> {
    if steps.edits_accounts() {
        for rel in steps
            .edits
            .iter()
            .map(|e| &e.path)
            .chain(steps.appends.iter().map(|a| &a.path))
        {
            let p = root.path(rel);
            if is_read_only(&p) {
                return Err(read_only_error("/etc/passwd or /etc/group", steps));
            }
        }
    }
    if let Some(h) = &steps.home {
        let p = root.path(&h.path.to_string_lossy());
        let exists = fs::symlink_metadata(&p);
        let to_give = exists
            .as_ref()
            .is_ok_and(|m| h.give_root_owned && m.is_dir() && m.uid() == 0);
        if (exists.is_err() || to_give) && is_read_only(&p) {
            return Err(read_only_error(
                &format!("{} (the home)", h.path.display()),
                steps,
            ));
        }
    }
    let rootfd = open_root(root)?;
    for t in &steps.trees[steps.done.min(steps.trees.len())..] {
        if !is_read_only(&root.path(&t.path.to_string_lossy())) {
            continue;
        }
        let out = reown_tree(rootfd.as_fd(), t, &steps.account, protect, true)?;
        if let Some(n) = out.report.map(|r| r.changed).filter(|&n| n > 0) {
            return Err(read_only_error(
                &format!("{} ({n} entries)", t.path.display()),
                steps,
            ));
        }
    }
    Ok(())
}

/// Applies the steps: records them first when the account files change,
/// runs them, and removes the record. Returns what happened to each tree.
pub fn apply(root: &Sysroot, steps: &Steps, protect: &[PathBuf]) -> Result<Vec<Outcome>> {
    check_writable(root, steps, protect)?;
    let record = steps.edits_accounts();
    let pending = if record {
        Some(write_pending(root, steps)?)
    } else {
        None
    };
    let out = run(root, steps, record, pending, protect)?;
    if record {
        remove_pending(root)?;
        fault::point("pending removed")?;
    }
    Ok(out)
}

/// Runs the steps from where `steps.done` says (the account files and the
/// home are always checked: writing what is already there is skipped).
/// `pending` is the record of the change, written but not yet synced.
fn run(
    root: &Sysroot,
    steps: &Steps,
    record: bool,
    pending: Option<fs::File>,
    protect: &[PathBuf],
) -> Result<Vec<Outcome>> {
    write_edits(root, &steps.edits, pending)?;
    for a in &steps.appends {
        let old = root.read_bytes_opt(&a.path)?;
        if let Some(new) = old.as_deref().and_then(|t| with_locked_entry(t, a)) {
            fsedit::write_atomic(&root.path(&a.path), &new, 0o640)?;
        }
        fault::point(&format!("append {}", a.path))?;
    }
    let rootfd = open_root(root)?;
    let mut out = Vec::new();
    if let Some(h) = &steps.home {
        if let Err(why) = ensure_home(rootfd.as_fd(), h, &steps.account)? {
            out.push(Outcome {
                path: h.path.clone(),
                report: None,
                refused: Some(why),
            });
        }
        fault::point("home")?;
    }
    let made_room = steps.trees.iter().filter(|t| t.made_room).count();
    for (i, t) in steps.trees.iter().enumerate().skip(steps.done) {
        out.push(reown_tree(
            rootfd.as_fd(),
            t,
            &steps.account,
            protect,
            false,
        )?);
        fault::point(&format!("tree {i}"))?;
        if record && i + 1 == made_room && made_room < steps.trees.len() {
            // The account's trees take the ids the made-room trees gave up:
            // a later start must not walk those again.
            let progress = Steps {
                done: made_room,
                ..steps.clone()
            };
            write_progress(root, &progress)?;
            fault::point("progress")?;
        }
    }
    Ok(out)
}

/// Re-owns one tree, reached from `/` without following symlinks.
fn reown_tree(
    rootfd: std::os::fd::BorrowedFd<'_>,
    t: &Tree,
    account: &Ids,
    protect: &[PathBuf],
    dry: bool,
) -> Result<Outcome> {
    let outcome = |report, refused| Outcome {
        path: t.path.clone(),
        report,
        refused,
    };
    if let Some(p) = protect.iter().find(|p| p.starts_with(&t.path)) {
        let why = format!(
            "{} is not re-owned: it holds {}",
            t.path.display(),
            p.display()
        );
        return Ok(outcome(None, Some(why)));
    }
    match reach::reach(rootfd, &t.path, account) {
        Ok(Reached::Missing) => Ok(outcome(None, None)),
        Err(why) => {
            let why = format!("{} is not re-owned: {why}", t.path.display());
            Ok(outcome(None, Some(why)))
        }
        Ok(Reached::Found(fd, _)) => {
            let rep = own::apply_fd(fd, &t.path, &t.rule(), &t.options(dry), &own::no_progress)?;
            Ok(outcome(Some(rep), None))
        }
    }
}

/// Creates the home (mode 0700, owned by the account) when missing, or
/// gives a root-owned home to a new account; reached without following
/// symlinks. `Ok(Err(why))`: left alone (a symlink or a planted directory
/// on the way).
fn ensure_home(
    rootfd: std::os::fd::BorrowedFd<'_>,
    h: &Home,
    account: &Ids,
) -> Result<std::result::Result<bool, String>> {
    let (Some(parent), Some(name)) = (h.path.parent(), h.path.file_name()) else {
        return Ok(Ok(false));
    };
    let dir = match reach::reach_creating(rootfd, parent, account) {
        Ok(Reached::Found(fd, _)) => {
            crate::sys::resolve::reopen_dir(fd.as_fd()).map_err(|e| Error::io(parent, e))?
        }
        Ok(Reached::Missing) => return Ok(Ok(false)),
        Err(why) => return Ok(Err(format!("{} is not created: {why}", h.path.display()))),
    };
    let cname = std::ffi::CString::new(name.as_encoded_bytes())
        .map_err(|_| Error::invalid("home holds a NUL byte"))?;
    match sfs::stat_at(dir.as_fd(), &cname) {
        Ok(st) => {
            if !(h.give_root_owned && st.is_dir() && st.uid == 0) {
                return Ok(Ok(false));
            }
            // Docker made it (root, 0755) for a bind mount below it.
            let fd = match reach::reach(rootfd, &h.path, account) {
                Ok(Reached::Found(fd, _)) => fd,
                Ok(Reached::Missing) => return Ok(Ok(false)),
                Err(why) => {
                    let why = format!("{} is not given to the account: {why}", h.path.display());
                    return Ok(Err(why));
                }
            };
            sfs::chown_fd(fd.as_fd(), Some(h.uid), Some(h.gid))
                .map_err(|e| Error::io(&h.path, e))?;
            Ok(Ok(true))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            rustix::fs::mkdirat(
                dir.as_fd(),
                cname.as_c_str(),
                rustix::fs::Mode::from_raw_mode(0o700),
            )
            .map_err(|e| Error::io(&h.path, e.into()))?;
            let fd = sfs::open_path_at(dir.as_fd(), &cname).map_err(|e| Error::io(&h.path, e))?;
            sfs::chown_fd(fd.as_fd(), Some(h.uid), Some(h.gid))
                .map_err(|e| Error::io(&h.path, e))?;
            sfs::chmod_fd(fd.as_fd(), 0o700).map_err(|e| Error::io(&h.path, e))?;
            Ok(Ok(true))
        }
        Err(e) => Err(Error::io(&h.path, e)),
    }
}

/// How an account file is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// A temp file renamed over it (the normal case).
    Atomic,
    /// Written in place: a file mounted over the image's by the runtime
    /// (CRI-O for `runAsUser`), which no rename can replace. Only for a
    /// file on tmpfs (the runtime's per-start copy), never for a file of a
    /// disk (e.g. the host's own /etc/passwd mounted into the container).
    InPlace,
}

/// How the file at `p` must be replaced: a mount point (its mount differs
/// from its directory's) on tmpfs is written in place; on anything else it
/// is refused.
pub fn how_to_replace(p: &Path) -> Result<Replace> {
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok();
    let (Some(cp), Some(cdir)) = (c(p), p.parent().and_then(c)) else {
        return Ok(Replace::Atomic);
    };
    let (Ok(st), Ok(dst)) = (sfs::stat_at(sfs::CWD, &cp), sfs::stat_at(sfs::CWD, &cdir)) else {
        return Ok(Replace::Atomic);
    };
    if st.mnt_id == dst.mnt_id || st.mnt_id == 0 {
        return Ok(Replace::Atomic);
    }
    let fs = crate::sys::mount::fs_magic(p)
        .map(crate::kernel::fs_name)
        .unwrap_or("unknown");
    if fs == "tmpfs" && st.is_reg() {
        return Ok(Replace::InPlace);
    }
    Err(Error::Permission(format!(
        "{}: a file mounted over the image's (on {fs}); it cannot be replaced safely, and \
         hostmatch-entrypoint edits in place only a runtime's per-start copy on tmpfs \
         (as CRI-O mounts for runAsUser)",
        p.display()
    )))
}

/// How one account file gets its new content.
enum Replacement {
    /// It has it already.
    Skip,
    /// A temp file, written, to be renamed over it.
    Staged(fsedit::Staged),
    /// In place (a runtime's per-start copy mounted over the image's).
    InPlace,
}

/// Replaces the account files: every temp file is written first; then the
/// pending record (when this start writes one) and the temp files are
/// synced, in that order, so that the record is on the disk before any file
/// is replaced (their writeback is started together first, so the
/// filesystem's first flush carries the others); then each file is
/// replaced, and each directory synced once after the renames.
fn write_edits(root: &Sysroot, edits: &[Edit], pending: Option<fs::File>) -> Result<()> {
    let writes = edits
        .iter()
        .map(|e| stage_edit(root, e))
        .collect::<Result<Vec<_>>>()?;
    let staged = || {
        writes.iter().filter_map(|w| match w {
            Replacement::Staged(s) => Some(s),
            _ => None,
        })
    };
    if let Some(f) = &pending {
        let _ = crate::sys::writeback::start(f.as_fd());
    }
    staged().for_each(fsedit::Staged::start_writeback);
    if let Some(f) = pending {
        let p = root.path(PENDING_PATH);
        f.sync_all().map_err(|e| Error::io(&p, e))?;
    }
    for s in staged() {
        s.sync()?;
    }
    fault::point("pending written")?;
    // One sync per directory (both account files live in /etc).
    let mut dirs: Vec<(PathBuf, OwnedFd)> = Vec::new();
    for (e, w) in edits.iter().zip(writes) {
        let path = root.path(&e.path);
        match w {
            Replacement::Skip => {}
            Replacement::Staged(s) => {
                let dir = s.rename()?;
                let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
                if !dirs.iter().any(|(p, _)| *p == parent) {
                    dirs.push((parent, dir));
                }
            }
            Replacement::InPlace => write_in_place(&path, &e.new)?,
        }
        fault::point(&format!("edit {}", e.path))?;
    }
    dirs.iter().for_each(|(_, d)| fsedit::sync_dir(d));
    Ok(())
}

/// Prepares one account-file replacement: skipped when the file already has
/// the new content; refused when it is neither the old nor the new content
/// (changed by someone else since it was read).
fn stage_edit(root: &Sysroot, e: &Edit) -> Result<Replacement> {
    let p = root.path(&e.path);
    let now = root.read_bytes_opt(&e.path)?;
    if now.as_deref() == Some(e.new.as_slice()) {
        return Ok(Replacement::Skip);
    }
    let replace = how_to_replace(&p)?;
    if now != e.old && replace == Replace::Atomic {
        return Err(Error::invalid(format!(
            "{}: changed while hostmatch was editing it; nothing written",
            p.display()
        )));
    }
    match replace {
        Replace::Atomic => Ok(Replacement::Staged(fsedit::stage(&p, &e.new, e.mode)?)),
        Replace::InPlace => Ok(Replacement::InPlace),
    }
}

/// Overwrites a regular file's content in place (no symlink followed),
/// then syncs it.
fn write_in_place(p: &Path, data: &[u8]) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(p)
        .map_err(|e| Error::io(p, e))?;
    f.write_all(data).map_err(|e| Error::io(p, e))?;
    f.set_len(data.len() as u64).map_err(|e| Error::io(p, e))?;
    f.sync_all().map_err(|e| Error::io(p, e))
}

/// Writes the record of a change about to start, created in place
/// (`O_EXCL`) and returned unsynced: [`write_edits`] syncs it before the
/// first account file is replaced, so until it is whole on the disk no step
/// has run, and a record cut short (unreadable) is rightly dropped by the
/// next start. The account files' directory sync after their renames
/// commits the record's directory entry with them (the filesystem's journal
/// is ordered), so no directory sync is spent on it. A record that exists
/// already (left by a start that was cut short before it could be
/// finished) is replaced.
fn write_pending(root: &Sysroot, steps: &Steps) -> Result<fs::File> {
    let p = root.path(PENDING_PATH);
    let dir = p.parent().expect("the pending record has a directory");
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let text = serde_json::to_vec(steps).map_err(|e| Error::invalid(e.to_string()))?;
    remove_pending(root)?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&p)
        .map_err(|e| Error::io(&p, e))?;
    f.write_all(&text).map_err(|e| Error::io(&p, e))?;
    Ok(f)
}

/// Rewrites the record of a change in progress (how far it got): replaced
/// atomically, since steps have run.
fn write_progress(root: &Sysroot, steps: &Steps) -> Result<()> {
    let text = serde_json::to_vec(steps).map_err(|e| Error::invalid(e.to_string()))?;
    fsedit::write_atomic(&root.path(PENDING_PATH), &text, 0o600)
}

fn remove_pending(root: &Sysroot) -> Result<()> {
    let p = root.path(PENDING_PATH);
    match fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(p, e)),
    }
}

/// Whether a change is pending (a start was cut short).
pub fn is_pending(root: &Sysroot) -> bool {
    fs::symlink_metadata(root.path(PENDING_PATH)).is_ok()
}

/// What [`finish_pending`] did.
#[derive(Debug)]
pub enum Finished {
    /// Nothing was pending.
    Nothing,
    /// The pending change is finished.
    Done(Vec<Outcome>),
    /// The account files were changed by someone else since: the record is
    /// dropped, with why.
    Dropped(String),
}

/// Finishes the change a cut-short start left (see the module docs). The
/// record must be a root-owned file that no one else can write (as the
/// configuration), else the start is refused.
pub fn finish_pending(root: &Sysroot, protect: &[PathBuf]) -> Result<Finished> {
    let p = root.path(PENDING_PATH);
    if fs::symlink_metadata(&p).is_err() {
        return Ok(Finished::Nothing);
    }
    super::check_trusted(&p)?;
    let text = fs::read(&p).map_err(|e| Error::io(&p, e))?;
    let steps = match parse_pending(&text) {
        Ok(s) => s,
        Err(why) => {
            remove_pending(root)?;
            return Ok(Finished::Dropped(format!(
                "{}: {why}; dropped",
                p.display()
            )));
        }
    };
    for e in &steps.edits {
        let now = root.read_bytes_opt(&e.path)?;
        let mounted = how_to_replace(&root.path(&e.path))? == Replace::InPlace;
        if now.as_deref() != Some(e.new.as_slice()) && now != e.old && !mounted {
            remove_pending(root)?;
            return Ok(Finished::Dropped(format!(
                "/{} was changed since the start that was cut short; its change is dropped",
                e.path
            )));
        }
    }
    check_writable(root, &steps, protect)?;
    // The cut-short start may have left its temp files: remove those of
    // processes that are gone.
    crate::journal::sweep(root, &[paths::PASSWD.into(), paths::GROUP.into()])?;
    let out = run(root, &steps, true, None, protect)?;
    remove_pending(root)?;
    fault::point("pending finished")?;
    Ok(Finished::Done(out))
}

/// Parses a pending record and checks that it names only what a plan may
/// name (see `check_pending`).
pub fn parse_pending(text: &[u8]) -> std::result::Result<Steps, String> {
    let steps: Steps = serde_json::from_slice(text).map_err(|e| format!("unreadable ({e})"))?;
    check_pending(&steps)?;
    Ok(steps)
}

/// A record names only the account files and trees a plan may name.
fn check_pending(s: &Steps) -> std::result::Result<(), String> {
    let files = [paths::PASSWD, paths::GROUP];
    if let Some(e) = s.edits.iter().find(|e| !files.contains(&e.path.as_str())) {
        return Err(format!("names {}, not an account file", e.path));
    }
    let shadows = [paths::SHADOW, paths::GSHADOW];
    if let Some(a) = s
        .appends
        .iter()
        .find(|a| !shadows.contains(&a.path.as_str()))
    {
        return Err(format!("names {}, not a shadow file", a.path));
    }
    let trees = s.trees.iter().map(|t| &t.path);
    for p in trees.chain(s.home.as_ref().map(|h| &h.path)) {
        super::config::check_tree(p).map_err(|why| format!("tree {} {why}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entrypoint::config::Config;
    use crate::entrypoint::test_util::{plan_for, sysroot_with, trusted_tempdir};

    fn steps_for(root: &Sysroot, uid: u32, gid: u32, cfg: &Config) -> Steps {
        Steps::from_plan(root, &plan_for(root, uid, gid, cfg)).unwrap()
    }

    #[test]
    fn new_account_edits_shadow_and_gshadow_and_makes_home() {
        testkit::prereq!(crate::sys::geteuid() == 0, "root (it changes owners)");
        let (d, root) = sysroot_with("root:x:0:0::/root:/bin/sh\n", "root:x:0:\n");
        fs::write(d.path().join("etc/shadow"), "root:*:1:0:99999:7:::\n").unwrap();
        fs::write(d.path().join("etc/gshadow"), "root:*::").unwrap();
        let cfg = Config {
            user: "dev".into(),
            ..Config::default()
        };
        apply(&root, &steps_for(&root, 1000, 1000, &cfg), &[]).unwrap();
        let read = |f: &str| fs::read_to_string(d.path().join(f)).unwrap();
        assert!(read("etc/passwd").ends_with("dev:x:1000:1000::/home/dev:/bin/sh\n"));
        assert!(read("etc/group").ends_with("dev:x:1000:\n"));
        assert_eq!(read("etc/shadow"), "root:*:1:0:99999:7:::\ndev:!:::::::\n");
        assert_eq!(read("etc/gshadow"), "root:*::\ndev:!::\n");
        let m = fs::metadata(d.path().join("home/dev")).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (1000, 1000, 0o700));
        assert!(!is_pending(&root), "the record is removed");
        let again = steps_for(&root, 1000, 1000, &cfg);
        assert!(
            !again.edits_accounts() && again.trees.is_empty(),
            "{again:?}"
        );
    }

    #[test]
    fn root_owned_home_of_a_new_account_is_given_to_it() {
        testkit::prereq!(crate::sys::geteuid() == 0, "root (it changes owners)");
        let (d, root) = sysroot_with("root:x:0:0::/root:/bin/sh\n", "root:x:0:\n");
        // The runtime made /home/dev (root, 0755) for a bind mount below it.
        fs::create_dir_all(d.path().join("home/dev/src")).unwrap();
        let cfg = Config {
            user: "dev".into(),
            ..Config::default()
        };
        apply(&root, &steps_for(&root, 1000, 1000, &cfg), &[]).unwrap();
        let m = fs::metadata(d.path().join("home/dev")).unwrap();
        assert_eq!((m.uid(), m.gid()), (1000, 1000));
        let m = fs::metadata(d.path().join("home/dev/src")).unwrap();
        assert_eq!(m.uid(), 0, "only the directory itself");
        // An existing account's home is never given this way.
        let (d2, root2) = sysroot_with("app:x:1000:1000::/home/app:/bin/sh\n", "app:x:1000:\n");
        fs::create_dir_all(d2.path().join("home/app")).unwrap();
        apply(
            &root2,
            &steps_for(&root2, 1000, 1000, &Config::default()),
            &[],
        )
        .unwrap();
        assert_eq!(fs::metadata(d2.path().join("home/app")).unwrap().uid(), 0);
    }

    #[test]
    fn nothing_to_change_writes_nothing() {
        let (d, root) = sysroot_with("app:x:1000:1000::/home/app:/bin/sh\n", "app:x:1000:\n");
        fs::create_dir_all(d.path().join("home/app")).unwrap();
        let s = steps_for(&root, 1000, 1000, &Config::default());
        let before = fs::metadata(d.path().join("etc/passwd")).unwrap().ino();
        assert!(apply(&root, &s, &[]).unwrap().is_empty());
        assert_eq!(
            fs::metadata(d.path().join("etc/passwd")).unwrap().ino(),
            before
        );
        assert!(!d.path().join(PENDING_PATH).exists());
    }

    fn steps() -> Steps {
        Steps {
            edits: vec![Edit {
                path: paths::PASSWD.into(),
                old: Some("app:x:1234:1234::/home/app:/bin/sh\n".into()),
                new: "app:x:1000:1000::/home/app:/bin/sh\n".into(),
                mode: 0o644,
            }],
            appends: vec![],
            home: None,
            trees: vec![Tree {
                path: "/home/app".into(),
                uid: Some((1234, 1000)),
                gid: Some((1234, 1000)),
                every: false,
                depth: TreeDepth::Recursive,
                owner: Ids {
                    uids: vec![1234, 1000],
                    gids: vec![1234, 1000],
                },
                made_room: false,
            }],
            account: Ids::default(),
            done: 0,
            summary: vec!["user app moves from id 1234 to 1000".into()],
        }
    }

    #[test]
    fn the_record_round_trips() {
        let s = steps();
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Steps>(&text).unwrap(), s);
    }

    #[test]
    fn a_record_naming_other_files_or_system_trees_is_refused() {
        let mut s = steps();
        s.edits[0].path = "etc/sudoers".into();
        assert!(check_pending(&s).is_err());
        let mut s = steps();
        s.trees[0].path = "/usr".into();
        assert!(check_pending(&s).is_err());
        assert!(check_pending(&steps()).is_ok());
    }

    #[test]
    fn tree_rules_round_trip() {
        let set = Reown {
            path: "/h".into(),
            rule: Rule::Set {
                uid: Some(1000),
                gid: Some(1000),
            },
            depth: Depth::Top,
            owner: Ids::default(),
            made_room: false,
        };
        let t = Tree::from_reown(&set);
        assert_eq!(t.rule(), set.rule);
        assert_eq!(t.depth, TreeDepth::Top);
        let chown = Reown {
            rule: Rule::Chown {
                uid: Some((1, 2)),
                gid: None,
            },
            ..set
        };
        assert_eq!(Tree::from_reown(&chown).rule(), chown.rule);
    }

    #[test]
    fn a_cut_start_is_finished_and_the_record_removed() {
        testkit::prereq!(
            crate::sys::geteuid() == 0,
            "root (the record is trusted only when root owns it)"
        );
        // A root-owned place (the record is trusted only there).
        let Some(d) = trusted_tempdir() else {
            return;
        };
        let root = Sysroot::new(d.path());
        fs::create_dir_all(d.path().join("etc/hostmatch")).unwrap();
        let mut s = steps();
        s.trees.clear();
        fs::write(
            d.path().join("etc/passwd"),
            s.edits[0].old.as_ref().unwrap(),
        )
        .unwrap();
        write_pending(&root, &s).unwrap();
        super::super::check_trusted(&root.path(PENDING_PATH)).unwrap();
        assert!(matches!(
            finish_pending(&root, &[]).unwrap(),
            Finished::Done(_)
        ));
        assert_eq!(
            fs::read(d.path().join("etc/passwd")).unwrap(),
            s.edits[0].new
        );
        assert!(!is_pending(&root));
        // Changed by someone else since: dropped, the file untouched.
        write_pending(&root, &s).unwrap();
        fs::write(d.path().join("etc/passwd"), "other\n").unwrap();
        assert!(matches!(
            finish_pending(&root, &[]).unwrap(),
            Finished::Dropped(_)
        ));
        assert_eq!(
            fs::read_to_string(d.path().join("etc/passwd")).unwrap(),
            "other\n"
        );
        assert!(!is_pending(&root));
    }
}
