//! Atomic, lossless edits of system files, as one change across files.
//!
//! A [`Plan`] holds whole-file replacements; it can be shown as a diff
//! (`--dry-run`) or applied. [`edit`] runs a whole edit the way shadow's tools
//! do: take the locks ([`crate::locks`]), finish what an interrupted earlier
//! edit left ([`crate::journal`]), remove dead temp files, read the files and
//! plan under the locks (so that no update is lost), then apply:
//!
//! 1. prepare every file: a temp file `.NAME.hostmatch-PID` in the same
//!    directory (opened below the root with `RESOLVE_IN_ROOT`), written, given
//!    the old file's owner, mode, ACLs and xattrs; then all are fsynced (on a
//!    journaling filesystem the first flush carries the others); the target must be
//!    a regular file that is not immutable or append-only; every file must
//!    still hold what the plan was made from. An error here removes the temp
//!    files: every file is unchanged;
//! 2. with more than one file, write a journal of the renames (fsynced);
//! 3. rename each temp file over its target, fsync the directories, remove
//!    the journal. A kill during this step is finished by the next edit (or
//!    `hostmatch repair`), which renames the temp files that are left.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, IFlags, Mode, OFlags};

use crate::sysroot::Sysroot;
use crate::{Error, Result};

/// One file's new content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    /// The root directory the file is below.
    pub root: PathBuf,
    /// The file, relative to the root (like `etc/subuid`).
    pub rel: String,
    /// The content before (None: the file does not exist yet).
    pub old: Option<Vec<u8>>,
    pub new: Vec<u8>,
    /// Mode for a new file (an existing file keeps its own).
    pub mode: u32,
}

impl FileEdit {
    /// An edit of `rel` below `root`.
    pub fn new(root: &Sysroot, rel: &str, old: Option<Vec<u8>>, new: Vec<u8>, mode: u32) -> Self {
        FileEdit {
            root: root.root().to_path_buf(),
            rel: rel.trim_start_matches('/').to_string(),
            old,
            new,
            mode,
        }
    }

    /// The file's path (root and relative path joined), for messages.
    pub fn path(&self) -> PathBuf {
        self.root.join(&self.rel)
    }

    /// Whether the edit changes anything.
    pub fn is_change(&self) -> bool {
        self.old.as_deref() != Some(self.new.as_slice())
    }

    /// A unified diff of the edit (empty when nothing changes). Bytes that
    /// are not UTF-8 and control characters are shown escaped.
    pub fn diff(&self) -> String {
        if !self.is_change() {
            return String::new();
        }
        let old = crate::escape::text(self.old.as_deref().unwrap_or(b""));
        let new = crate::escape::text(&self.new);
        let name = crate::escape::line(self.path().as_os_str().as_bytes()).into_owned();
        let old_name = if self.old.is_some() {
            name.clone()
        } else {
            "/dev/null".to_string()
        };
        similar::TextDiff::from_lines(old.as_ref(), new.as_ref())
            .unified_diff()
            .context_radius(3)
            .header(&old_name, &name)
            .to_string()
    }
}

/// A set of file edits applied together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub edits: Vec<FileEdit>,
}

impl Plan {
    /// Adds an edit (ignored when it changes nothing).
    pub fn push(&mut self, edit: FileEdit) {
        if edit.is_change() {
            self.edits.retain(|e| e.rel != edit.rel);
            self.edits.push(edit);
        }
    }

    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// The diff of every edit.
    pub fn diff(&self) -> String {
        self.edits.iter().map(FileEdit::diff).collect()
    }

    /// The files the plan edits, relative to the root.
    pub fn files(&self) -> Vec<String> {
        self.edits.iter().map(|e| e.rel.clone()).collect()
    }

    /// Takes the locks of the plan's files and writes every edit as one
    /// change. A file changed since the plan was made writes nothing
    /// ([`Error::Busy`]). Prefer [`edit`], which plans under the locks.
    pub fn apply(&self) -> Result<()> {
        let Some(first) = self.edits.first() else {
            return Ok(());
        };
        let root = Sysroot::new(&first.root);
        let files = self.files();
        with_locks(&root, &files, || commit(&root, self))
    }
}

/// Takes the locks of `files` (and of the files of an interrupted edit),
/// finishes that edit, removes dead temp files, then runs `f`.
fn with_locks<T>(root: &Sysroot, files: &[String], f: impl FnOnce() -> Result<T>) -> Result<T> {
    let mut lock_files: Vec<String> = files.to_vec();
    lock_files.extend(crate::journal::pending_files(root)?);
    let _locks = crate::locks::acquire(root, &lock_files, crate::locks::wait_bound())?;
    fault("lock").map_err(|e| Error::io(root.root(), e))?;
    crate::journal::recover(root, &lock_files)?;
    crate::journal::sweep(root, &lock_files)?;
    f()
}

/// Whether a command writes or only shows what it would do (`--dry-run`):
/// for [`edit`] and for the ownership walk ([`crate::own`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Apply {
    /// Plan only (no locks taken, nothing written; the walk counts what
    /// would change): `--dry-run`.
    DryRun,
    /// Lock, plan under the locks, write.
    #[default]
    Write,
}

/// Runs one edit of `files` (relative to the root) as one change: with
/// [`Apply::Write`], takes the locks, finishes an interrupted earlier edit,
/// removes dead temp files, then calls `plan` (which reads the files: under
/// the locks, nothing can change them until the edit is written) and writes
/// the plan. The plan may touch only `files`.
pub fn edit<T>(
    root: &Sysroot,
    files: &[&str],
    apply: Apply,
    plan: impl FnOnce() -> Result<(Plan, T)>,
) -> Result<(Plan, T)> {
    if apply == Apply::DryRun {
        return plan();
    }
    let files: Vec<String> = files
        .iter()
        .map(|f| f.trim_start_matches('/').to_string())
        .collect();
    with_locks(root, &files, || {
        let (p, t) = plan()?;
        if let Some(e) = p.edits.iter().find(|e| !files.contains(&e.rel)) {
            return Err(Error::invalid(format!(
                "internal: the plan edits {} without its lock",
                e.path().display()
            )));
        }
        commit(root, &p)?;
        Ok((p, t))
    })
}

/// A temp file ready to be renamed over its target.
struct Prepared {
    dir: OwnedFd,
    dir_rel: String,
    name: String,
    tmp: String,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // Once renamed, the temp name no longer exists: this is a no-op.
        let _ = rustix::fs::unlinkat(&self.dir, self.tmp.as_str(), AtFlags::empty());
    }
}

/// Writes a plan whose locks are held: prepare all, check all, then rename.
fn commit(root: &Sysroot, plan: &Plan) -> Result<()> {
    let mut prepared = Vec::with_capacity(plan.edits.len());
    for e in &plan.edits {
        prepared.push(prepare(root, e)?);
    }
    prepared.iter().for_each(Staged::start_writeback);
    for s in &prepared {
        s.sync()?;
    }
    for (e, p) in plan.edits.iter().zip(&prepared) {
        let now =
            read_at(&p.prepared.dir, &p.prepared.name).map_err(|err| io_error(&e.path(), err))?;
        if now != e.old {
            return Err(Error::Busy(format!(
                "{}: changed by another program while hostmatch was editing it; nothing written, try again",
                e.path().display()
            )));
        }
    }
    let journal = if prepared.len() > 1 {
        let renames = prepared
            .iter()
            .map(|s| crate::journal::Rename {
                dir: s.prepared.dir_rel.clone(),
                tmp: s.prepared.tmp.clone(),
                name: s.prepared.name.clone(),
            })
            .collect();
        Some(crate::journal::write(root, renames)?)
    } else {
        None
    };
    for (i, (e, s)) in plan.edits.iter().zip(&prepared).enumerate() {
        let p = &s.prepared;
        let renamed = fault("rename").and_then(|()| {
            rustix::fs::renameat(&p.dir, p.tmp.as_str(), &p.dir, p.name.as_str())
                .map_err(std::io::Error::from)
        });
        if let Err(err) = renamed {
            if i == 0 {
                // Nothing replaced yet: drop the journal and the temp files.
                if let Some(j) = journal {
                    j.remove()?;
                }
                return Err(io_error(&e.path(), err));
            }
            // The journal names the temp files left: keep them for the repair.
            std::mem::forget(prepared);
            return Err(Error::Interrupted(format!(
                "{}: {err}; {i} of {} files were replaced; run `hostmatch repair{}` (or this command again) to finish the edit",
                e.path().display(),
                plan.edits.len(),
                repair_root_arg(root)
            )));
        }
    }
    for s in &prepared {
        sync_dir(&s.prepared.dir);
    }
    fault("done").map_err(|e| Error::io(root.root(), e))?;
    if let Some(j) = journal {
        j.remove()?;
    }
    Ok(())
}

fn repair_root_arg(root: &Sysroot) -> String {
    if root.is_host_root() {
        String::new()
    } else {
        format!(" --root {}", root.root().display())
    }
}

fn split(rel: &str) -> (&str, &str) {
    match rel.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", rel),
    }
}

/// The temp file name for `name` of this process.
pub fn temp_name(name: &str) -> String {
    format!(".{name}.hostmatch-{}", std::process::id())
}

/// Creates the temp file `tmp` in `dir` afresh (a stale one left by an
/// earlier process with this pid is removed first): write-only, mode 0600,
/// never through a symlink.
pub(crate) fn create_temp(dir: &OwnedFd, tmp: &str) -> std::io::Result<OwnedFd> {
    let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
    Ok(rustix::fs::openat(
        dir,
        tmp,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?)
}

/// Opens the directory `dir_rel` below the root (inside it), creating the
/// missing directories (mode 0755) on the way.
pub(crate) fn open_dir_creating(root: &Sysroot, dir_rel: &str) -> Result<OwnedFd> {
    let top = crate::sys::resolve::open_root(root.root()).map_err(|e| io_error(root.root(), e))?;
    let mut so_far = String::new();
    let mut dir =
        crate::sys::resolve::open_in_root(&top, ".", OFlags::RDONLY | OFlags::DIRECTORY, 0)
            .map_err(|e| io_error(root.root(), e))?;
    for comp in dir_rel.split('/').filter(|c| !c.is_empty()) {
        so_far.push_str(comp);
        so_far.push('/');
        let opened =
            crate::sys::resolve::open_in_root(&top, &so_far, OFlags::RDONLY | OFlags::DIRECTORY, 0);
        dir = match opened {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match rustix::fs::mkdirat(&dir, comp, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(io_error(&root.path(&so_far), e.into())),
                }
                crate::sys::resolve::open_in_root(
                    &top,
                    &so_far,
                    OFlags::RDONLY | OFlags::DIRECTORY,
                    0,
                )
                .map_err(|e| io_error(&root.path(&so_far), e))?
            }
            Err(e) => return Err(io_error(&root.path(&so_far), e)),
        };
    }
    Ok(dir)
}

/// Reads `name` in `dir` (not following a symlink); missing: `None`.
fn read_at(dir: &OwnedFd, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let fd = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut buf = Vec::new();
    fs::File::from(fd).read_to_end(&mut buf)?;
    Ok(Some(buf))
}

/// What is kept of the file being replaced.
struct Kept {
    uid: u32,
    gid: u32,
    mode: u32,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Checks the target and reads what the new file must keep.
fn existing(dir: &OwnedFd, name: &str, path: &Path) -> Result<Option<Kept>> {
    let fd = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(rustix::io::Errno::LOOP) => {
            return Err(Error::invalid(format!(
                "{}: is a symbolic link; refusing to replace it",
                path.display()
            )))
        }
        Err(e) => return Err(io_error(path, e.into())),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| io_error(path, e.into()))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Error::invalid(format!(
            "{}: not a regular file; refusing to replace it",
            path.display()
        )));
    }
    if let Ok(flags) = rustix::fs::ioctl_getflags(&fd) {
        if flags.intersects(IFlags::IMMUTABLE | IFlags::APPEND) {
            return Err(Error::Permission(format!(
                "{}: is immutable or append-only (chattr +i/+a); nothing written (chattr -i it first)",
                path.display()
            )));
        }
    }
    Ok(Some(Kept {
        uid: st.st_uid,
        gid: st.st_gid,
        mode: st.st_mode & 0o7777,
        xattrs: read_xattrs(fd.as_fd()).map_err(|e| io_error(path, e))?,
    }))
}

fn read_xattrs(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let n = match rustix::fs::flistxattr_query(fd) {
        Ok(n) => n,
        Err(rustix::io::Errno::OPNOTSUPP) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut names = vec![0u8; n];
    let n = rustix::fs::flistxattr(fd, &mut names[..])?;
    names.truncate(n);
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = OsStr::from_bytes(name);
        let len = rustix::fs::fgetxattr_query(fd, name)?;
        let mut value = vec![0u8; len];
        let len = rustix::fs::fgetxattr(fd, name, &mut value[..])?;
        value.truncate(len);
        out.push((name.as_bytes().to_vec(), value));
    }
    Ok(out)
}

/// Writes the temp file of one edit: content, owner, mode, xattrs, fsync.
fn prepare(root: &Sysroot, e: &FileEdit) -> Result<Staged> {
    let (dir_rel, name) = split(&e.rel);
    let path = e.path();
    let dir = open_dir_creating(root, dir_rel)?;
    let kept = existing(&dir, name, &path)?;
    prepare_in(dir, dir_rel, name, &path, &e.new, e.mode, kept)
}

/// A replacement written to its temp file (content, owner, mode, xattrs),
/// not yet synced nor renamed; dropped unrenamed, the temp file is removed.
/// Syncing several staged files one after another costs about one flush on
/// a journaling filesystem (the first commits the others' data with it),
/// where writing them one by one cost a flush each.
pub struct Staged {
    prepared: Prepared,
    file: fs::File,
    path: PathBuf,
}

impl Staged {
    /// Starts writing the temp file to the disk without waiting (see
    /// [`crate::sys::writeback::start`]); best effort, [`Staged::sync`]
    /// follows.
    pub fn start_writeback(&self) {
        let _ = crate::sys::writeback::start(self.file.as_fd());
    }

    /// Flushes the temp file to the disk.
    pub fn sync(&self) -> Result<()> {
        let tmp_path = self.path.with_file_name(&self.prepared.tmp);
        let err = |e: std::io::Error| io_error(&tmp_path, e);
        fault("fsync").map_err(err)?;
        self.file.sync_all().map_err(err)
    }

    /// Renames the temp file over its target; returns the directory, to be
    /// synced once all renames in it are made ([`sync_dir`]).
    pub fn rename(self) -> Result<OwnedFd> {
        fault("rename").map_err(|e| io_error(&self.path, e))?;
        let p = &self.prepared;
        rustix::fs::renameat(&p.dir, p.tmp.as_str(), &p.dir, p.name.as_str())
            .map_err(|e| io_error(&self.path, e.into()))?;
        rustix::io::dup(&p.dir).map_err(|e| io_error(&self.path, e.into()))
    }
}

/// Syncs a directory after renames in it (best effort: the renames are made;
/// a directory that cannot be synced is not an error of the edit).
pub fn sync_dir(dir: &OwnedFd) {
    let _ = rustix::fs::fsync(dir);
}

/// Stages the replacement of `path` by `data` (see [`Staged`]): the temp
/// file gets the old file's mode, owner, ACLs and xattrs, or `new_mode`.
pub fn stage(path: &Path, data: &[u8], new_mode: u32) -> Result<Staged> {
    let dir_path = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::invalid(format!("{}: not a file path", path.display())))?;
    let dir = rustix::fs::open(
        dir_path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error(dir_path, e.into()))?;
    let kept = existing(&dir, name, path)?;
    prepare_in(dir, "", name, path, data, new_mode, kept)
}

fn prepare_in(
    dir: OwnedFd,
    dir_rel: &str,
    name: &str,
    path: &Path,
    data: &[u8],
    new_mode: u32,
    kept: Option<Kept>,
) -> Result<Staged> {
    let tmp = temp_name(name);
    let fd = create_temp(&dir, &tmp).map_err(|err| io_error(path, err))?;
    let prepared = Prepared {
        dir,
        dir_rel: dir_rel.to_string(),
        name: name.to_string(),
        tmp,
    };
    let tmp_path = path.with_file_name(&prepared.tmp);
    let err = |e: std::io::Error| io_error(&tmp_path, e);
    fault("create").map_err(err)?;
    let mut f = fs::File::from(fd);
    fault("write").map_err(err)?;
    f.write_all(data).map_err(err)?;
    if let Some(k) = &kept {
        // Owner first: chown clears setuid/setgid bits that chmod sets.
        rustix::fs::fchown(
            &f,
            Some(rustix::fs::Uid::from_raw(k.uid)),
            Some(rustix::fs::Gid::from_raw(k.gid)),
        )
        .map_err(|e| err(e.into()))?;
    }
    let mode = kept.as_ref().map_or(new_mode, |k| k.mode);
    rustix::fs::fchmod(&f, Mode::from_raw_mode(mode)).map_err(|e| err(e.into()))?;
    // ACLs after the mode: an access ACL sets the group bits (its mask).
    for (xname, value) in kept.iter().flat_map(|k| &k.xattrs) {
        fault("xattr").map_err(err)?;
        rustix::fs::fsetxattr(
            &f,
            OsStr::from_bytes(xname),
            value,
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(|e| {
            io_error(
                &tmp_path,
                std::io::Error::new(
                    std::io::Error::from(e).kind(),
                    format!(
                        "cannot keep the extended attribute {} ({e})",
                        crate::escape::line(xname)
                    ),
                ),
            )
        })?;
    }
    Ok(Staged {
        prepared,
        file: f,
        path: path.to_path_buf(),
    })
}

/// An I/O error on `path`, in the user's terms: a read-only file system says
/// so; a refused write says that editing system files needs root.
pub(crate) fn io_error(path: &Path, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EROFS) => Error::Permission(format!(
            "{}: read-only file system; nothing written",
            path.display()
        )),
        Some(libc::EACCES) => Error::Permission(format!(
            "{}: permission denied: editing system files needs root (or --root DIR on a tree you own)",
            path.display()
        )),
        Some(libc::ENOSPC) => Error::Permission(format!(
            "{}: no space left on the device; nothing written",
            path.display()
        )),
        _ => Error::io(path, e),
    }
}

/// Reads a file; a missing file is `None`.
pub fn read_opt(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Replaces `path` with `data` atomically: a temp file in the same directory,
/// written and fsynced, given the old file's mode, owner, ACLs and xattrs (or
/// `new_mode`), renamed over the old file, then the directory fsynced. A
/// reader sees the old file or the new one, never a half-written one. (No
/// locks: for hostmatch's own state files; system files go through [`edit`].)
pub fn write_atomic(path: &Path, data: &[u8], new_mode: u32) -> Result<()> {
    let staged = stage(path, data, new_mode)?;
    staged.sync()?;
    sync_dir(&staged.rename()?);
    Ok(())
}

/// Fault injection for the fault-injection tests: `HOSTMATCH_FAULT=ACTION:STEP[:N]`
/// makes the N-th (default first) time this process reaches STEP (`lock`,
/// `create`, `write`, `xattr`, `fsync`, `journal`, `rename`, `done`) either
/// fail with an I/O error (`fail`) or kill the process (`kill`, SIGKILL).
/// It can only make hostmatch stop, never write anything else.
pub(crate) fn fault(step: &str) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;
    static SPEC: OnceLock<Option<(String, String, usize)>> = OnceLock::new();
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    let spec = SPEC.get_or_init(|| {
        let v = std::env::var("HOSTMATCH_FAULT").ok()?;
        let mut it = v.split(':');
        let action = it.next()?.to_string();
        let at = it.next()?.to_string();
        let n = it.next().map_or(Some(1), |n| n.parse().ok())?;
        Some((action, at, n))
    });
    let Some((action, at, n)) = spec else {
        return Ok(());
    };
    if at != step || SEEN.fetch_add(1, Ordering::SeqCst) + 1 != *n {
        return Ok(());
    }
    if action == "kill" {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
    Err(std::io::Error::other(format!("injected fault at {step}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn sysroot() -> (tempfile::TempDir, Sysroot) {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("etc")).unwrap();
        let r = Sysroot::new(d.path());
        (d, r)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_keeps_mode_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, "old\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"new\n", 0o644).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new\n");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_atomic_refuses_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        fs::write(&target, "keep\n").unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(write_atomic(&link, b"x", 0o644).is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep\n");
    }

    #[test]
    fn stale_plan_writes_nothing_and_is_busy() {
        let (d, r) = sysroot();
        let p = d.path().join("etc/f");
        fs::write(&p, "a\n").unwrap();
        let mut plan = Plan::default();
        plan.push(FileEdit::new(
            &r,
            "etc/f",
            Some(b"a\n".to_vec()),
            b"b\n".to_vec(),
            0o644,
        ));
        fs::write(&p, "changed\n").unwrap();
        assert!(plan.apply().unwrap_err().is_busy());
        assert_eq!(fs::read_to_string(&p).unwrap(), "changed\n");
    }

    #[test]
    fn diff_shows_added_line_and_escapes_control_bytes() {
        let r = Sysroot::default();
        let e = FileEdit::new(
            &r,
            "etc/subuid",
            Some(b"a:1:2\n".to_vec()),
            b"a:1:2\nb\x1b[2J\xe9:3:4\n".to_vec(),
            0o644,
        );
        let d = e.diff();
        assert!(d.contains("+b\\x1b[2J\\xe9:3:4"), "{d}");
        assert!(d.starts_with("--- /etc/subuid"), "{d}");
    }

    #[test]
    fn an_edit_of_several_files_writes_all_and_leaves_nothing_behind() {
        let (d, r) = sysroot();
        fs::write(d.path().join("etc/passwd"), "a\n").unwrap();
        fs::set_permissions(
            d.path().join("etc/passwd"),
            fs::Permissions::from_mode(0o604),
        )
        .unwrap();
        let files = ["etc/passwd", "etc/group", "etc/docker/daemon.json"];
        let (plan, ()) = edit(&r, &files, Apply::Write, || {
            let mut p = Plan::default();
            let old = r.read_bytes_opt("etc/passwd")?;
            p.push(FileEdit::new(
                &r,
                "etc/passwd",
                old,
                b"a\nb\n".to_vec(),
                0o644,
            ));
            p.push(FileEdit::new(&r, "etc/group", None, b"g\n".to_vec(), 0o644));
            p.push(FileEdit::new(
                &r,
                "etc/docker/daemon.json",
                None,
                b"{}\n".to_vec(),
                0o600,
            ));
            Ok((p, ()))
        })
        .unwrap();
        assert_eq!(plan.edits.len(), 3);
        assert_eq!(
            fs::read_to_string(d.path().join("etc/passwd")).unwrap(),
            "a\nb\n"
        );
        let m = fs::metadata(d.path().join("etc/passwd")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o604, "the old mode is kept");
        let m = fs::metadata(d.path().join("etc/docker/daemon.json")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o600);
        // Only the files and the empty .pwd.lock (as shadow's tools leave it).
        assert_eq!(
            names(&d.path().join("etc")),
            [".pwd.lock", "docker", "group", "passwd"]
        );
        assert_eq!(names(&d.path().join("etc/docker")), ["daemon.json"]);
    }

    #[test]
    fn a_failure_before_the_renames_leaves_every_file_unchanged() {
        let (d, r) = sysroot();
        fs::write(d.path().join("etc/passwd"), "a\n").unwrap();
        // The second file's place is taken by a directory: its temp file is
        // written, but the check of the target fails.
        fs::create_dir(d.path().join("etc/group")).unwrap();
        let e = edit(&r, &["etc/passwd", "etc/group"], Apply::Write, || {
            let mut p = Plan::default();
            p.push(FileEdit::new(
                &r,
                "etc/passwd",
                Some(b"a\n".to_vec()),
                b"b\n".to_vec(),
                0o644,
            ));
            p.push(FileEdit::new(&r, "etc/group", None, b"g\n".to_vec(), 0o644));
            Ok((p, ()))
        })
        .unwrap_err();
        assert!(e.to_string().contains("etc/group"), "{e}");
        assert_eq!(
            fs::read_to_string(d.path().join("etc/passwd")).unwrap(),
            "a\n"
        );
        assert_eq!(
            names(&d.path().join("etc")),
            [".pwd.lock", "group", "passwd"]
        );
    }

    #[test]
    fn a_symlinked_directory_resolves_inside_the_root() {
        let (d, r) = sysroot();
        // etc/docker -> /etc/docker must mean <root>/etc/docker, never the host's.
        fs::create_dir_all(d.path().join("real")).unwrap();
        std::os::unix::fs::symlink("/real", d.path().join("etc/docker")).unwrap();
        let rel = "etc/docker/daemon.json";
        edit(&r, &[rel], Apply::Write, || {
            let mut p = Plan::default();
            p.push(FileEdit::new(&r, rel, None, b"{}\n".to_vec(), 0o644));
            Ok((p, ()))
        })
        .unwrap();
        assert_eq!(
            fs::read_to_string(d.path().join("real/daemon.json")).unwrap(),
            "{}\n"
        );
    }

    #[test]
    fn a_plan_touching_an_unlocked_file_is_refused() {
        let (_d, r) = sysroot();
        let e = edit(&r, &["etc/passwd"], Apply::Write, || {
            let mut p = Plan::default();
            p.push(FileEdit::new(&r, "etc/group", None, b"g\n".to_vec(), 0o644));
            Ok((p, ()))
        })
        .unwrap_err();
        assert!(e.to_string().contains("without its lock"), "{e}");
    }
}
