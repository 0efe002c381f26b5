//! The walk: a bounded pool of threads sharing a stack of directories to
//! visit. Each directory is opened relative to its parent's descriptor with
//! `O_NOFOLLOW | O_DIRECTORY`; each entry is looked at with `statx(...,
//! AT_SYMLINK_NOFOLLOW)`. An entry whose owner alone changes is re-owned by
//! `fchownat(parent, name, AT_SYMLINK_NOFOLLOW)` (one call, as `chown -R`
//! does); an entry with more to do (setuid bits to put back, capabilities,
//! ACLs, a shift) is opened (`O_PATH | O_NOFOLLOW`), checked to be the inode
//! that was looked at, and changed through that descriptor. Mount points are
//! recognised by mount id. A directory's entries are handled in inode order
//! (see `Listing`), and each worker keeps its own counts.

use std::collections::HashSet;
use std::ffi::{CStr, CString, OsStr};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::{AclChange, Depth, EntryError, Guard, Options, Progress, Report, Rule, MAX_ERRORS};
use crate::acl::{self, Acl, FileCaps, Tag};
use crate::ids::{Id, IdMap};
use crate::sys::fs::{self as sfs, Stat};
use crate::{Error, Result};

/// A directory waiting to be visited.
enum Item {
    Root(OwnedFd, PathBuf),
    Child {
        parent: Arc<OwnedFd>,
        name: CString,
        path: PathBuf,
    },
}

struct Queue {
    items: Vec<Item>,
    active: usize,
}

struct Walk<'a> {
    rule: &'a Rule,
    dry: bool,
    depth: Depth,
    guard: Option<&'a Guard>,
    root_mnt: u64,
    queue: Mutex<Queue>,
    cv: Condvar,
    /// Workers' counts, added up as each worker ends.
    totals: Mutex<Tally>,
    /// Entries scanned so far, for progress only (updated in batches).
    progress_count: AtomicU64,
    errors: Mutex<(Vec<EntryError>, u64)>,
    /// Entries the guard left alone (the first MAX_ERRORS).
    skipped: Mutex<Vec<EntryError>>,
    /// Entries left alone by a [`Rule::Gather`] (listed, and counted past the list).
    outside: Mutex<(Vec<PathBuf>, u64)>,
    links: Mutex<HashSet<u64>>,
    progress: Progress<'a>,
}

const PROGRESS_EVERY: u64 = 2048;

/// Where a walk starts: a directory (opened), a non-directory named below
/// a directory, or a non-directory the caller opened (`O_PATH`).
enum Start<'a> {
    Dir(OwnedFd),
    Named(BorrowedFd<'a>, &'a CStr),
    Opened(OwnedFd),
}

pub(super) fn run(
    path: &Path,
    rule: &Rule,
    opts: &Options,
    progress: Progress<'_>,
) -> Result<Report> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(format!("{}: path contains a NUL byte", path.display())))?;
    let st = sfs::stat_at(sfs::CWD, &cpath).map_err(|e| Error::io(path, e))?;
    let start = if st.is_dir() {
        Start::Dir(sfs::open_dir_at(sfs::CWD, &cpath).map_err(|e| Error::io(path, e))?)
    } else {
        Start::Named(sfs::CWD, &cpath)
    };
    walk_from(start, &st, path, rule, opts, progress)
}

pub(super) fn run_fd(
    root: OwnedFd,
    path: &Path,
    rule: &Rule,
    opts: &Options,
    progress: Progress<'_>,
) -> Result<Report> {
    let st = sfs::stat_fd(root.as_fd()).map_err(|e| Error::io(path, e))?;
    let start = if st.is_dir() {
        Start::Dir(crate::sys::resolve::reopen_dir(root.as_fd()).map_err(|e| Error::io(path, e))?)
    } else {
        Start::Opened(root)
    };
    walk_from(start, &st, path, rule, opts, progress)
}

fn check_rule(rule: &Rule) -> Result<()> {
    if let Rule::Acl {
        change: AclChange::Grant { perms, .. },
        ..
    } = rule
    {
        if perms & !7 != 0 {
            return Err(Error::invalid("ACL permissions must be rwx bits"));
        }
    }
    Ok(())
}

/// A guarded walk needs mount ids: refuses when the kernel gave none.
fn check_mount_id(opts: &Options, st: &Stat, path: &Path) -> Result<()> {
    if opts.guard.is_some() && st.mnt_id == 0 {
        return Err(Error::Unsupported(format!(
            "{}: the kernel reports no mount id (statx STATX_MNT_ID needs Linux 5.8); \
             refusing to walk without telling mount points apart",
            path.display()
        )));
    }
    Ok(())
}

fn walk_from(
    start: Start<'_>,
    st: &Stat,
    path: &Path,
    rule: &Rule,
    opts: &Options,
    progress: Progress<'_>,
) -> Result<Report> {
    check_rule(rule)?;
    check_mount_id(opts, st, path)?;
    let _nofile = sfs::raise_nofile_limit();
    let walk = Walk {
        rule,
        dry: opts.mode == crate::fsedit::Apply::DryRun,
        depth: opts.depth,
        guard: opts.guard.as_ref(),
        root_mnt: st.mnt_id,
        queue: Mutex::new(Queue {
            items: Vec::new(),
            active: 0,
        }),
        cv: Condvar::new(),
        totals: Mutex::new(Tally::default()),
        progress_count: AtomicU64::new(0),
        errors: Mutex::new((Vec::new(), 0)),
        skipped: Mutex::new(Vec::new()),
        outside: Mutex::new((Vec::new(), 0)),
        links: Mutex::new(HashSet::new()),
        progress,
    };
    match start {
        Start::Dir(fd) => walk.run_workers(fd, path, opts.threads),
        Start::Named(dir, name) => {
            let mut t = Tally {
                scanned: 1,
                ..Tally::default()
            };
            walk.entry(&mut t, dir, name, st, path);
            walk.totals.lock().expect("totals lock").add(&t);
        }
        Start::Opened(fd) => {
            let mut t = Tally {
                scanned: 1,
                ..Tally::default()
            };
            if !walk.left_outside(st, path) && walk.may_change(st) {
                walk.apply(&mut t, fd.as_fd(), st, path);
            }
            walk.totals.lock().expect("totals lock").add(&t);
        }
    }
    let (errors, errors_omitted) = walk.errors.into_inner().expect("errors lock");
    let skipped = walk.skipped.into_inner().expect("skipped lock");
    let (outside, outside_omitted) = walk.outside.into_inner().expect("outside lock");
    let t = walk.totals.into_inner().expect("totals lock");
    Ok(Report {
        scanned: t.scanned,
        changed: t.changed,
        skipped_mounts: t.skipped_mounts,
        unmapped: t.unmapped,
        skipped_links: t.skipped_links,
        skipped,
        errors,
        errors_omitted,
        outside,
        outside_omitted,
    })
}

fn join(parent: &Path, name: &CStr) -> PathBuf {
    parent.join(OsStr::from_bytes(name.to_bytes()))
}

fn vanished(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOENT)
}

impl Walk<'_> {
    /// Visits the tree below the directory `fd` with `threads` workers (one
    /// for a walk that does not recurse).
    fn run_workers(&self, fd: OwnedFd, path: &Path, threads: usize) {
        self.queue
            .lock()
            .expect("queue lock")
            .items
            .push(Item::Root(fd, path.to_path_buf()));
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let threads = if self.depth == Depth::Recursive {
            threads
        } else {
            1
        };
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(|| self.worker());
            }
            self.worker();
        });
    }

    /// Records an entry the guard left alone.
    fn skip(&self, t: &mut Tally, path: &Path, why: &str) {
        t.skipped_links += 1;
        let mut v = self.skipped.lock().expect("skipped lock");
        if v.len() < MAX_ERRORS {
            v.push(EntryError {
                path: path.to_path_buf(),
                error: why.to_string(),
            });
        }
    }

    fn error(&self, path: PathBuf, error: impl ToString) {
        let mut errs = self.errors.lock().expect("errors lock");
        if errs.0.len() < MAX_ERRORS {
            errs.0.push(EntryError {
                path,
                error: error.to_string(),
            });
        } else {
            errs.1 += 1;
        }
    }

    /// Whether a [`Rule::Gather`] must leave the entry alone (an id outside
    /// its sets); such an entry is listed.
    fn left_outside<P: PathLike + ?Sized>(&self, st: &Stat, path: &P) -> bool {
        let Rule::Gather { uids, gids, .. } = self.rule else {
            return false;
        };
        if uids.contains(st.uid) && gids.contains(st.gid) {
            return false;
        }
        let mut o = self.outside.lock().expect("outside lock");
        if o.0.len() < MAX_ERRORS {
            o.0.push(path.path());
        } else {
            o.1 += 1;
        }
        true
    }

    /// Counts one entry scanned; tells the progress callback every
    /// [`PROGRESS_EVERY`] entries of this worker (the shared count is touched
    /// only then, so workers do not contend for it per entry).
    fn count_scanned(&self, t: &mut Tally) {
        t.scanned += 1;
        if t.scanned.is_multiple_of(PROGRESS_EVERY) {
            let n = self
                .progress_count
                .fetch_add(PROGRESS_EVERY, Ordering::Relaxed)
                + PROGRESS_EVERY;
            (self.progress)(n);
        }
    }

    fn worker(&self) {
        let mut buf: Vec<MaybeUninit<u8>> = vec![MaybeUninit::uninit(); 32 * 1024];
        let mut list = Listing::default();
        let mut children = Vec::new();
        let mut t = Tally::default();
        loop {
            let item = {
                let mut q = self.queue.lock().expect("queue lock");
                loop {
                    if let Some(it) = q.items.pop() {
                        q.active += 1;
                        break it;
                    }
                    if q.active == 0 {
                        self.cv.notify_all();
                        drop(q);
                        self.totals.lock().expect("totals lock").add(&t);
                        return;
                    }
                    q = self.cv.wait(q).expect("queue lock");
                }
            };
            self.visit(&mut t, item, &mut buf, &mut list, &mut children);
            let mut q = self.queue.lock().expect("queue lock");
            let n = children.len();
            q.items.append(&mut children);
            q.active -= 1;
            if n > 1 || q.active == 0 {
                self.cv.notify_all();
            } else if n == 1 {
                self.cv.notify_one();
            }
        }
    }

    /// Visits one directory: re-owns it, then its entries; subdirectories to
    /// descend into are pushed to `children`.
    fn visit(
        &self,
        t: &mut Tally,
        item: Item,
        buf: &mut [MaybeUninit<u8>],
        list: &mut Listing,
        children: &mut Vec<Item>,
    ) {
        let (fd, path, is_root) = match item {
            Item::Root(fd, path) => (fd, path, true),
            Item::Child { parent, name, path } => match sfs::open_dir_at(parent.as_fd(), &name) {
                Ok(fd) => (fd, path, false),
                Err(e) if vanished(&e) => return,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                    self.error(
                        path,
                        "replaced by a non-directory during the walk; not followed",
                    );
                    return;
                }
                Err(e) => {
                    self.error(path, e);
                    return;
                }
            },
        };
        let st = match sfs::stat_fd(fd.as_fd()) {
            Ok(st) => st,
            Err(e) => {
                self.error(path, e);
                return;
            }
        };
        if st.mnt_id != self.root_mnt {
            // Became a mount point after it was listed.
            t.skipped_mounts += 1;
            return;
        }
        self.count_scanned(t);
        if !self.left_outside(&st, path.as_path()) {
            self.apply(t, fd.as_fd(), &st, &path);
        }
        let descend = match self.depth {
            Depth::SelfOnly => return,
            Depth::Top => false,
            Depth::Recursive => true,
        };
        if !is_root && !descend {
            return;
        }
        let fd = Arc::new(fd);
        let mut raw = rustix::fs::RawDir::new(fd.as_fd(), buf);
        let mut more = true;
        while more {
            more = match list.fill(&mut raw) {
                Ok(more) => more,
                Err(e) => {
                    // Entries read before the failure are still handled.
                    self.error(path.clone(), e);
                    false
                }
            };
            self.visit_entries(t, &fd, &path, list, descend, children);
        }
    }

    /// The entries of one batch of a directory's listing.
    fn visit_entries(
        &self,
        t: &mut Tally,
        fd: &Arc<OwnedFd>,
        path: &Path,
        list: &Listing,
        descend: bool,
        children: &mut Vec<Item>,
    ) {
        for name in list.names() {
            let est = match sfs::stat_at(fd.as_fd(), name) {
                Ok(st) => st,
                Err(e) if vanished(&e) => continue,
                Err(e) => {
                    self.error(join(path, name), e);
                    continue;
                }
            };
            if est.mnt_id != self.root_mnt {
                t.skipped_mounts += 1;
                continue;
            }
            if est.is_dir() && descend {
                children.push(Item::Child {
                    parent: fd.clone(),
                    name: name.to_owned(),
                    path: join(path, name),
                });
                continue;
            }
            self.count_scanned(t);
            self.entry(t, fd.as_fd(), name, &est, &join_lazy(path, name));
        }
    }

    /// One non-descended entry of a directory (or a non-directory root):
    /// opened only when something may change.
    fn entry<P: PathLike + ?Sized>(
        &self,
        t: &mut Tally,
        dir: BorrowedFd<'_>,
        name: &CStr,
        st: &Stat,
        path: &P,
    ) {
        if !st.is_dir() && st.nlink > 1 && !self.links.lock().expect("links lock").insert(st.ino) {
            return;
        }
        if self.left_outside(st, path) {
            return;
        }
        if !self.may_change(st) {
            return;
        }
        if let Some((uid, gid)) = self.owner_only(st).filter(|_| self.guard.is_none()) {
            // Only the owner changes: one fchownat by name, relative to the
            // parent's descriptor, not following a symlink.
            if !self.dry {
                match sfs::chown_at(dir, name, uid, gid) {
                    Ok(()) => {}
                    Err(e) if vanished(&e) => return,
                    Err(e) => return self.error(path.path(), e),
                }
            }
            t.changed += 1;
            return;
        }
        let fd = match sfs::open_path_at(dir, name) {
            Ok(fd) => fd,
            Err(e) if vanished(&e) => return,
            Err(e) => return self.error(path.path(), e),
        };
        let now = match sfs::stat_fd(fd.as_fd()) {
            Ok(s) => s,
            Err(e) => return self.error(path.path(), e),
        };
        if now.ino != st.ino || now.mode & sfs::S_IFMT != st.mode & sfs::S_IFMT {
            return self.error(path.path(), "replaced during the walk; left alone");
        }
        if now.mnt_id != self.root_mnt {
            t.skipped_mounts += 1;
            return;
        }
        self.apply(t, fd.as_fd(), &now, &path.path());
    }

    /// The owner change of a Chown/Set rule for an entry where nothing but
    /// the owner can change: not a directory, no setuid/setgid bits to put
    /// back, not an executable file (which may carry capabilities that the
    /// kernel drops on chown). `None`: take the careful path.
    fn owner_only(&self, st: &Stat) -> Option<(Option<Id>, Option<Id>)> {
        if st.is_dir() || st.mode & 0o6000 != 0 || (st.is_reg() && st.mode & 0o111 != 0) {
            return None;
        }
        let (u, g) = match self.rule {
            Rule::Chown { uid, gid } => (
                uid.and_then(|(f, t)| (st.uid == f).then_some(t)),
                gid.and_then(|(f, t)| (st.gid == f).then_some(t)),
            ),
            Rule::Set { uid, gid } => (*uid, *gid),
            Rule::Gather { .. } => self.gathered(st),
            _ => return None,
        };
        let u = u.filter(|&u| u != st.uid);
        let g = g.filter(|&g| g != st.gid);
        (u.is_some() || g.is_some()).then_some((u, g))
    }

    /// The new ids of a [`Rule::Gather`] for an entry: none unless both of
    /// its ids are in the sets.
    fn gathered(&self, st: &Stat) -> (Option<Id>, Option<Id>) {
        match self.rule {
            Rule::Gather {
                uids,
                gids,
                to_uid,
                to_gid,
            } if uids.contains(st.uid) && gids.contains(st.gid) => (*to_uid, *to_gid),
            _ => (None, None),
        }
    }

    /// Whether an entry may need a write, from its stat alone (a cheap
    /// filter: [`Walk::apply`] decides).
    fn may_change(&self, st: &Stat) -> bool {
        match self.rule {
            Rule::Chown { uid, gid } => {
                uid.is_some_and(|(from, to)| st.uid == from && from != to)
                    || gid.is_some_and(|(from, to)| st.gid == from && from != to)
            }
            Rule::Set { uid, gid } => {
                uid.is_some_and(|u| u != st.uid) || gid.is_some_and(|g| g != st.gid)
            }
            Rule::Gather { .. } => {
                let (u, g) = self.gathered(st);
                u.is_some_and(|u| u != st.uid) || g.is_some_and(|g| g != st.gid)
            }
            // Xattrs may need a shift whatever the owner.
            Rule::Shift { .. } => true,
            Rule::Acl { .. } => !st.is_symlink(),
        }
    }

    /// Decides and writes the changes of one opened inode.
    fn apply(&self, t: &mut Tally, fd: BorrowedFd<'_>, st: &Stat, path: &Path) {
        let r = match self.rule {
            Rule::Acl {
                uid,
                change,
                default,
            } => self.apply_acl(fd, st, *uid, *change, *default),
            _ => self.apply_owner(t, fd, st, path),
        };
        match r {
            Ok(true) => t.changed += 1,
            Ok(false) => {}
            Err(e) => self.error(path.to_path_buf(), e),
        }
    }

    fn apply_owner(
        &self,
        t: &mut Tally,
        fd: BorrowedFd<'_>,
        st: &Stat,
        path: &Path,
    ) -> std::io::Result<bool> {
        let (new_uid, new_gid) = self.new_ids(t, st);
        let (new_uid, new_gid) = match self.guard {
            Some(g) => match guarded(g, st, new_uid, new_gid) {
                Ok(ids) => ids,
                Err(why) => {
                    self.skip(t, path, why);
                    return Ok(false);
                }
            },
            None => (new_uid, new_gid),
        };
        let owner_changes = new_uid.is_some() || new_gid.is_some();
        let (acls, caps) = self.xattrs_to_write(t, fd, st, owner_changes)?;
        if !owner_changes && acls.is_empty() && caps.is_none() {
            return Ok(false);
        }
        if self.dry {
            return Ok(true);
        }
        if owner_changes {
            sfs::chown_fd(fd, new_uid, new_gid)?;
        }
        for (name, v) in &acls {
            sfs::set_xattr(fd, name, v)?;
        }
        if let Some(v) = &caps {
            sfs::set_xattr(fd, acl::XATTR_CAPS, v)?;
        }
        // chown clears setuid/setgid of non-directories: put them back.
        if owner_changes && !st.is_dir() && !st.is_symlink() && st.mode & 0o6000 != 0 {
            sfs::chmod_fd(fd, st.mode & 0o7777)?;
        }
        Ok(true)
    }

    /// The uid and gid the rule gives the entry (`None`: that one stays).
    fn new_ids(&self, t: &mut Tally, st: &Stat) -> (Option<Id>, Option<Id>) {
        let (uid, gid) = match self.rule {
            Rule::Chown { uid, gid } => (
                uid.and_then(|(f, t)| (st.uid == f).then_some(t)),
                gid.and_then(|(f, t)| (st.gid == f).then_some(t)),
            ),
            Rule::Set { uid, gid } => (*uid, *gid),
            Rule::Gather { .. } => self.gathered(st),
            Rule::Shift { uid_map, gid_map } => {
                let u = uid_map.to_host(st.uid);
                let g = gid_map.to_host(st.gid);
                t.unmapped += u.is_none() as u64 + g.is_none() as u64;
                (u, g)
            }
            Rule::Acl { .. } => (None, None),
        };
        (uid.filter(|&u| u != st.uid), gid.filter(|&g| g != st.gid))
    }

    /// The extended attributes to write after the owner: ACLs move with a
    /// shift; file capabilities, which the kernel drops on chown, are written
    /// back (shifted for a shift).
    fn xattrs_to_write(
        &self,
        t: &mut Tally,
        fd: BorrowedFd<'_>,
        st: &Stat,
        owner_changes: bool,
    ) -> std::io::Result<Xattrs> {
        let may_have_caps = st.is_reg() && st.mode & 0o111 != 0;
        if st.is_symlink() {
            return Ok((Vec::new(), None));
        }
        let Rule::Shift { uid_map, gid_map } = self.rule else {
            let caps = if owner_changes && may_have_caps {
                sfs::get_xattr(fd, acl::XATTR_CAPS)?
            } else {
                None
            };
            return Ok((Vec::new(), caps));
        };
        if !sfs::has_xattrs(fd)? {
            return Ok((Vec::new(), None));
        }
        let names: &[&'static str] = if st.is_dir() {
            &[acl::XATTR_ACCESS, acl::XATTR_DEFAULT]
        } else {
            &[acl::XATTR_ACCESS]
        };
        let mut acls = Vec::new();
        for &name in names {
            if let Some(v) = sfs::get_xattr(fd, name)? {
                let mut a = Acl::parse(&v).map_err(invalid_data)?;
                t.unmapped += a.shift(|u| uid_map.to_host(u), |g| gid_map.to_host(g));
                let nv = a.render();
                if nv != v {
                    acls.push((name, nv));
                }
            }
        }
        let caps = match may_have_caps {
            true => shifted_caps(t, fd, uid_map, owner_changes)?,
            false => None,
        };
        Ok((acls, caps))
    }

    fn apply_acl(
        &self,
        fd: BorrowedFd<'_>,
        st: &Stat,
        uid: Id,
        change: AclChange,
        default: bool,
    ) -> std::io::Result<bool> {
        if st.is_symlink() {
            return Ok(false);
        }
        let old_access = sfs::get_xattr(fd, acl::XATTR_ACCESS)?;
        let access = match &old_access {
            Some(v) => Acl::parse(v).map_err(invalid_data)?,
            None => Acl::from_mode(st.mode),
        };
        // X: directories, and files their owner or others can execute. The
        // group bits are left out: under an ACL they are the mask, which a
        // grant recomputes, so counting them would not settle.
        let exec_ok = st.is_dir()
            || access.get(Tag::UserObj).unwrap_or(0) & acl::X != 0
            || access.get(Tag::Other).unwrap_or(0) & acl::X != 0;
        let edit = |a: &mut Acl| match change {
            AclChange::Grant { perms, cap_x } => {
                let p = if cap_x && exec_ok {
                    perms | acl::X
                } else {
                    perms
                };
                a.set(Tag::User(uid), p);
                a.recompute_mask();
            }
            AclChange::Revoke => {
                if a.remove(Tag::User(uid)) {
                    a.recompute_mask();
                }
            }
        };
        let mut new_access = access.clone();
        edit(&mut new_access);
        let mut writes: Vec<(&str, Option<Vec<u8>>)> = Vec::new();
        if new_access != access {
            writes.push((acl::XATTR_ACCESS, Some(new_access.render())));
        }
        if default && st.is_dir() {
            let old = sfs::get_xattr(fd, acl::XATTR_DEFAULT)?;
            let cur = match &old {
                Some(v) => Some(Acl::parse(v).map_err(invalid_data)?),
                None => None,
            };
            let base = match (&cur, change) {
                (Some(a), _) => Some(a.clone()),
                // Like setfacl: a new default ACL starts from the access ACL.
                (None, AclChange::Grant { .. }) => Some(access.clone()),
                (None, AclChange::Revoke) => None,
            };
            if let Some(mut d) = base {
                edit(&mut d);
                if Some(&d) != cur.as_ref() {
                    writes.push((acl::XATTR_DEFAULT, Some(d.render())));
                }
            }
        }
        if writes.is_empty() {
            return Ok(false);
        }
        if self.dry {
            return Ok(true);
        }
        for (name, v) in writes {
            match v {
                Some(v) => sfs::set_xattr(fd, name, &v)?,
                None => sfs::remove_xattr(fd, name)?,
            }
        }
        Ok(true)
    }
}

/// The owner change a [`Guard`] allows for an entry: a non-directory with
/// more than one link keeps every side whose id is not one the account had
/// (a link to it may be all the account has: the file can be anyone's).
/// `Err`: the entry is left alone entirely, with why.
fn guarded(
    g: &Guard,
    st: &Stat,
    uid: Option<Id>,
    gid: Option<Id>,
) -> std::result::Result<(Option<Id>, Option<Id>), &'static str> {
    if st.is_dir() || st.nlink <= 1 || (uid.is_none() && gid.is_none()) {
        return Ok((uid, gid));
    }
    let uid_ok = uid.is_none() || g.uids.contains(&st.uid);
    let gid_ok = gid.is_none() || g.gids.contains(&st.gid);
    if uid_ok && gid_ok {
        Ok((uid, gid))
    } else {
        Err("a file of another owner with more than one link (a hard link to it was made in the tree); left alone")
    }
}

/// How many entries of a directory are read, sorted and handled at a time.
const LISTING_BATCH: usize = 16 * 1024;

/// One worker's counts (kept apart so that workers do not share a cache line
/// per entry; added up when the worker ends).
#[derive(Default)]
struct Tally {
    scanned: u64,
    changed: u64,
    skipped_mounts: u64,
    unmapped: u64,
    skipped_links: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.scanned += o.scanned;
        self.changed += o.changed;
        self.skipped_mounts += o.skipped_mounts;
        self.unmapped += o.unmapped;
        self.skipped_links += o.skipped_links;
    }
}

/// A batch of a directory's entries ([`LISTING_BATCH`] at most; a
/// directory of up to that many is one batch), sorted by inode number, so
/// that the inodes are visited in the order they lie on disk: neighbouring
/// inodes share an inode-table block, which the kernel then finds in its
/// per-CPU cache of recent blocks instead of looking it up again (ext4
/// returns entries in hash order, which scatters them). Reused by a worker
/// from directory to directory: no allocation per entry.
#[derive(Default)]
struct Listing {
    /// Names, each followed by its NUL.
    bytes: Vec<u8>,
    /// (inode number, start of the name in `bytes`).
    entries: Vec<(u64, usize)>,
}

impl Listing {
    /// Reads the next [`LISTING_BATCH`] entries (fewer at the end) of a
    /// directory, but `.` and `..`, and sorts them. `Ok(true)`: there may be
    /// more. The batch bounds the memory a huge directory takes.
    fn fill(&mut self, raw: &mut rustix::fs::RawDir<'_, BorrowedFd<'_>>) -> std::io::Result<bool> {
        self.bytes.clear();
        self.entries.clear();
        let mut result = Ok(false);
        while let Some(ent) = raw.next() {
            let ent = match ent {
                Ok(ent) => ent,
                Err(e) => {
                    result = Err(e.into());
                    break;
                }
            };
            let name = ent.file_name().to_bytes_with_nul();
            if name == b".\0" || name == b"..\0" {
                continue;
            }
            self.entries.push((ent.ino(), self.bytes.len()));
            self.bytes.extend_from_slice(name);
            if self.entries.len() == LISTING_BATCH {
                result = Ok(true);
                break;
            }
        }
        self.entries.sort_unstable_by_key(|&(ino, _)| ino);
        result
    }

    fn names(&self) -> impl Iterator<Item = &CStr> {
        self.entries.iter().map(|&(_, start)| {
            CStr::from_bytes_until_nul(&self.bytes[start..]).expect("each name ends with its NUL")
        })
    }
}

/// Extended attributes to write: ACLs (name, value) and file capabilities.
type Xattrs = (Vec<(&'static str, Vec<u8>)>, Option<Vec<u8>>);

/// The file capabilities to write back after a shift: the root id shifted
/// (an unmapped one is counted), or as they were when the owner changes.
fn shifted_caps(
    t: &mut Tally,
    fd: BorrowedFd<'_>,
    uid_map: &IdMap,
    owner_changes: bool,
) -> std::io::Result<Option<Vec<u8>>> {
    let Some(v) = sfs::get_xattr(fd, acl::XATTR_CAPS)? else {
        return Ok(None);
    };
    let mut c = FileCaps::parse(&v).map_err(invalid_data)?;
    let root = c.root();
    let mut changed = false;
    match uid_map.to_host(root) {
        Some(n) if n != root => {
            c.set_root(n);
            changed = true;
        }
        Some(_) => {}
        None if c.rootid.is_some() => t.unmapped += 1,
        None => {}
    }
    Ok((changed || owner_changes).then(|| c.render()))
}

fn invalid_data(e: Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

/// A path built only when an error needs it (no allocation per entry).
trait PathLike {
    fn path(&self) -> PathBuf;
}

impl PathLike for Path {
    fn path(&self) -> PathBuf {
        self.to_path_buf()
    }
}

struct Joined<'a>(&'a Path, &'a CStr);

impl PathLike for Joined<'_> {
    fn path(&self) -> PathBuf {
        join(self.0, self.1)
    }
}

fn join_lazy<'a>(parent: &'a Path, name: &'a CStr) -> Joined<'a> {
    Joined(parent, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn stat(uid: Id, gid: Id, nlink: u32, dir: bool) -> Stat {
        Stat {
            mode: if dir {
                sfs::S_IFDIR | 0o755
            } else {
                sfs::S_IFREG | 0o644
            },
            uid,
            gid,
            ino: 9,
            nlink,
            mnt_id: 3,
        }
    }

    #[test]
    fn a_guarded_walk_changes_a_linked_file_only_from_the_accounts_ids() {
        let g = Guard {
            uids: vec![1234, 1000],
            gids: vec![1234, 1000],
        };
        let set = (Some(1000), Some(1000));
        // A link to root's file: left alone, whatever the rule wanted.
        assert!(guarded(&g, &stat(0, 42, 2, false), set.0, set.1).is_err());
        assert!(guarded(&g, &stat(1234, 42, 2, false), set.0, set.1).is_err());
        // The account's own file, linked twice: changed.
        assert_eq!(
            guarded(&g, &stat(1234, 1234, 2, false), set.0, set.1),
            Ok(set)
        );
        // One link, or a directory: the rule decides alone.
        assert_eq!(guarded(&g, &stat(0, 0, 1, false), set.0, set.1), Ok(set));
        assert_eq!(guarded(&g, &stat(0, 0, 5, true), set.0, set.1), Ok(set));
        // Nothing to change: nothing to refuse.
        assert_eq!(
            guarded(&g, &stat(0, 0, 2, false), None, None),
            Ok((None, None))
        );
    }

    #[test]
    fn a_guarded_walk_refuses_a_kernel_without_mount_ids() {
        let opts = Options {
            guard: Some(Guard::default()),
            ..Options::default()
        };
        let mut st = stat(0, 0, 1, true);
        st.mnt_id = 0;
        let e = check_mount_id(&opts, &st, Path::new("/home/app")).unwrap_err();
        assert!(e.to_string().contains("Linux 5.8"), "{e}");
        // Unguarded walks (hostmatch chown) keep their behaviour.
        assert!(check_mount_id(&Options::default(), &st, Path::new("/x")).is_ok());
    }

    /// Reads `dir` batch by batch: (inode number, name) in the order handled.
    fn list_all(dir: &Path) -> Vec<Vec<(u64, Vec<u8>)>> {
        let fd =
            sfs::open_dir_at(sfs::CWD, &CString::new(dir.as_os_str().as_bytes()).unwrap()).unwrap();
        let mut buf = vec![MaybeUninit::uninit(); 4096];
        let mut raw = rustix::fs::RawDir::new(fd.as_fd(), &mut buf);
        let mut list = Listing::default();
        let mut batches = Vec::new();
        loop {
            let more = list.fill(&mut raw).unwrap();
            let names: Vec<Vec<u8>> = list.names().map(|n| n.to_bytes().to_vec()).collect();
            let inos = list.entries.iter().map(|&(ino, _)| ino);
            batches.push(inos.zip(names).collect());
            if !more {
                return batches;
            }
        }
    }

    #[test]
    fn listing_yields_every_entry_in_inode_order_in_bounded_batches() {
        let d = tempfile::tempdir().unwrap();
        let n = LISTING_BATCH + 100;
        for i in 0..n {
            std::fs::File::create(d.path().join(format!("f{i}"))).unwrap();
        }
        let batches = list_all(d.path());
        assert_eq!(
            batches.len(),
            2,
            "two batches for one batch and 100 entries"
        );
        assert_eq!(batches[0].len(), LISTING_BATCH);
        let mut seen = HashSet::new();
        for batch in &batches {
            assert!(
                batch.windows(2).all(|w| w[0].0 <= w[1].0),
                "a batch is sorted by inode number"
            );
            for (ino, name) in batch {
                let p = d.path().join(OsStr::from_bytes(name));
                assert_eq!(std::fs::symlink_metadata(&p).unwrap().ino(), *ino, "{p:?}");
                assert!(seen.insert(name.clone()), "{p:?} listed once");
            }
        }
        assert_eq!(seen.len(), n, "every entry, and not . or ..");
    }
}
