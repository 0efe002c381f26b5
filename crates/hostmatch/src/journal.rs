//! The journal of a multi-file edit, and the clean-up of what killed edits
//! leave behind.
//!
//! Before the first rename of an edit that replaces several files, hostmatch
//! writes `etc/.hostmatch-journal-PID` (root-owned, mode 0600, fsynced)
//! naming every temp file and its target. Every temp file is complete and
//! fsynced by then, so an edit killed during its renames is finished by
//! renaming the temp files that are still there ([`recover`]); the journal is
//! removed once all renames are done. Recovery runs with the locks of the
//! journal's files held (every edit takes them first), so no edit of those
//! files is running when it does.
//!
//! [`sweep`] removes hostmatch's own temp files (`.NAME.hostmatch-PID`,
//! `.NAME.lock.hostmatch-PID`) of processes that no longer run, next to the
//! files an edit has locked: never another program's files, never those of a
//! running process.

use std::os::fd::OwnedFd;

use rustix::fs::AtFlags;
use serde::{Deserialize, Serialize};

use crate::fsedit::{create_temp, fault, io_error, open_dir_creating};
use crate::sys::lock::pid_alive;
use crate::sysroot::Sysroot;
use crate::{Error, Result};

/// The directory (relative to the root) journals are written to.
const JOURNAL_DIR: &str = "etc";
const JOURNAL_PREFIX: &str = ".hostmatch-journal-";

/// One planned rename: `dir/tmp` over `dir/name` (relative to the root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rename {
    pub dir: String,
    pub tmp: String,
    pub name: String,
}

impl Rename {
    fn target(&self) -> String {
        if self.dir.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.dir, self.name)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Journal {
    pid: u32,
    renames: Vec<Rename>,
}

/// A written journal; [`JournalFile::remove`] once every rename is done.
pub struct JournalFile {
    dir: OwnedFd,
    name: String,
}

impl JournalFile {
    /// Removes the journal (the edit is complete).
    pub fn remove(self) -> Result<()> {
        rustix::fs::unlinkat(&self.dir, self.name.as_str(), AtFlags::empty())
            .map_err(|e| Error::io(&self.name, e.into()))?;
        let _ = rustix::fs::fsync(&self.dir);
        Ok(())
    }
}

fn journal_name(pid: u32) -> String {
    format!("{JOURNAL_PREFIX}{pid}")
}

/// Writes the journal of this process's edit (through a temp file, so that
/// a journal is always complete) and fsyncs it and its directory.
pub fn write(root: &Sysroot, renames: Vec<Rename>) -> Result<JournalFile> {
    let pid = std::process::id();
    let name = journal_name(pid);
    let tmp = format!("{name}.tmp");
    let path = root.path(&format!("{JOURNAL_DIR}/{name}"));
    let dir = open_dir_creating(root, JOURNAL_DIR)?;
    let text =
        serde_json::to_vec(&Journal { pid, renames }).map_err(|e| Error::io(&path, e.into()))?;
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        fault("journal")?;
        let mut f = std::fs::File::from(create_temp(&dir, &tmp)?);
        f.write_all(&text)?;
        f.sync_all()?;
        rustix::fs::renameat(&dir, tmp.as_str(), &dir, name.as_str())?;
        rustix::fs::fsync(&dir)?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
        return Err(io_error(&path, e));
    }
    Ok(JournalFile { dir, name })
}

/// The journals of other processes below the root: (file name, journal).
fn journals(root: &Sysroot) -> Result<Vec<(String, Journal)>> {
    let dir_path = root.path(JOURNAL_DIR);
    let dir = match crate::sys::resolve::open_dir_in_root(root.root(), JOURNAL_DIR) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&dir_path, e)),
    };
    let mut out = Vec::new();
    for name in list(&dir).map_err(|e| io_error(&dir_path, e))? {
        let Some(pid) = name
            .strip_prefix(JOURNAL_PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let path = dir_path.join(&name);
        let rel = format!("{JOURNAL_DIR}/{name}");
        let bytes = match crate::sys::resolve::read_in_root(root.root(), &rel) {
            Ok(b) => b,
            // Its edit finished between the listing and the read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(&path, e)),
        };
        let j: Journal = serde_json::from_slice(&bytes).map_err(|e| Error::InvalidFile {
            path: path.clone(),
            msg: format!("unreadable hostmatch journal ({e}); move it away to go on"),
        })?;
        out.push((name, j));
    }
    Ok(out)
}

/// The files (relative to the root) named by journals of interrupted edits:
/// their locks must be held before [`recover`].
pub fn pending_files(root: &Sysroot) -> Result<Vec<String>> {
    Ok(journals(root)?
        .iter()
        .flat_map(|(_, j)| j.renames.iter().map(Rename::target))
        .collect())
}

/// Finishes interrupted edits: renames every temp file a journal names that
/// is still there over its target, then removes the journal. Returns the
/// files replaced. The caller holds the locks of `locked` (which include
/// [`pending_files`]); a journal naming another file belongs to an edit that
/// started after `locked` was chosen and is still running: it is left alone.
pub fn recover(root: &Sysroot, locked: &[String]) -> Result<Vec<String>> {
    let mut finished = Vec::new();
    for (name, j) in journals(root)? {
        if !j.renames.iter().all(|r| locked.contains(&r.target())) {
            continue;
        }
        for r in &j.renames {
            let path = root.path(&r.target());
            let dir = crate::sys::resolve::open_dir_in_root(root.root(), &r.dir)
                .map_err(|e| io_error(&path, e))?;
            match rustix::fs::renameat(&dir, r.tmp.as_str(), &dir, r.name.as_str()) {
                Ok(()) => finished.push(r.target()),
                Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(io_error(&path, e.into())),
            }
            let _ = rustix::fs::fsync(&dir);
        }
        let dir = open_dir_creating(root, JOURNAL_DIR)?;
        rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::empty())
            .map_err(|e| io_error(&root.path(&format!("{JOURNAL_DIR}/{name}")), e.into()))?;
        let _ = rustix::fs::fsync(&dir);
    }
    Ok(finished)
}

/// The names in a directory.
fn list(dir: &OwnedFd) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut d = rustix::fs::Dir::read_from(dir)?;
    while let Some(ent) = d.read() {
        let ent = ent?;
        if let Ok(n) = ent.file_name().to_str() {
            out.push(n.to_string());
        }
    }
    Ok(out)
}

/// The pid of a temp file of hostmatch for one of `names`: `.NAME.hostmatch-PID`,
/// `.NAME.lock.hostmatch-PID`, or a journal's `.hostmatch-journal-PID.tmp`.
fn temp_owner(entry: &str, names: &[&str]) -> Option<u32> {
    if let Some(p) = entry
        .strip_prefix(JOURNAL_PREFIX)
        .and_then(|r| r.strip_suffix(".tmp"))
    {
        return p.parse().ok();
    }
    let (stem, pid) = entry.strip_prefix('.')?.rsplit_once(".hostmatch-")?;
    let target = stem.strip_suffix(".lock").unwrap_or(stem);
    if !names.contains(&target) && !names.contains(&stem) {
        return None;
    }
    pid.parse().ok().filter(|p: &u32| p.to_string() == pid)
}

/// Removes hostmatch's temp files of dead processes next to `files`
/// (relative to the root); returns how many it removed.
pub fn sweep(root: &Sysroot, files: &[String]) -> Result<usize> {
    let mut dirs: Vec<(&str, Vec<&str>)> = Vec::new();
    for f in files {
        let (d, n) = f.rsplit_once('/').unwrap_or(("", f.as_str()));
        match dirs.iter_mut().find(|(dd, _)| *dd == d) {
            Some((_, names)) => names.push(n),
            None => dirs.push((d, vec![n])),
        }
    }
    let mut removed = 0;
    for (d, names) in dirs {
        let dir_path = root.path(d);
        let dir = match crate::sys::resolve::open_dir_in_root(root.root(), d) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(&dir_path, e)),
        };
        for entry in list(&dir).map_err(|e| io_error(&dir_path, e))? {
            let Some(pid) = temp_owner(&entry, &names) else {
                continue;
            };
            if pid == std::process::id() || pid_alive(pid) {
                continue;
            }
            let is_file = rustix::fs::statat(&dir, entry.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG);
            if is_file && rustix::fs::unlinkat(&dir, entry.as_str(), AtFlags::empty()).is_ok() {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// What [`repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Repaired {
    /// Files an interrupted edit had left unreplaced and that are now replaced.
    pub finished: Vec<String>,
    /// Dead temp files removed.
    pub removed_temp_files: usize,
}

/// `hostmatch repair`: with the locks of every file hostmatch edits (and of
/// the files of interrupted edits) held, finishes interrupted edits and
/// removes dead temp files.
pub fn repair(root: &Sysroot) -> Result<Repaired> {
    let mut files: Vec<String> = crate::locks::SHADOW_ORDER
        .iter()
        .chain([&crate::sysroot::paths::DAEMON_JSON])
        .map(|f| f.to_string())
        .collect();
    files.extend(pending_files(root)?);
    let _locks = crate::locks::acquire(root, &files, crate::locks::wait_bound())?;
    let finished = recover(root, &files)?;
    let removed_temp_files = sweep(root, &files)?;
    Ok(Repaired {
        finished,
        removed_temp_files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hostmatch_temp_names_of_locked_files_are_recognised() {
        let names = ["subuid", "passwd"];
        assert_eq!(temp_owner(".subuid.hostmatch-42", &names), Some(42));
        assert_eq!(temp_owner(".passwd.lock.hostmatch-7", &names), Some(7));
        assert_eq!(temp_owner(".hostmatch-journal-9.tmp", &names), Some(9));
        assert_eq!(temp_owner(".group.hostmatch-42", &names), None);
        assert_eq!(temp_owner("subuid.42", &names), None);
        assert_eq!(temp_owner(".subuid.hostmatch-042", &names), None);
        assert_eq!(temp_owner(".subuid.hostmatch-x", &names), None);
        assert_eq!(temp_owner("subuid-", &names), None);
    }

    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    #[test]
    fn interrupted_renames_are_finished_and_dead_temps_removed() {
        let d = tempfile::tempdir().unwrap();
        let etc = d.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        let root = Sysroot::new(d.path());
        let pid = dead_pid();
        // A killed edit: passwd already renamed, group's temp still there.
        std::fs::write(etc.join("passwd"), "new passwd\n").unwrap();
        std::fs::write(etc.join("group"), "old group\n").unwrap();
        std::fs::write(etc.join(format!(".group.hostmatch-{pid}")), "new group\n").unwrap();
        let j = Journal {
            pid,
            renames: ["passwd", "group"]
                .map(|n| Rename {
                    dir: "etc".into(),
                    tmp: format!(".{n}.hostmatch-{pid}"),
                    name: n.into(),
                })
                .to_vec(),
        };
        std::fs::write(etc.join(journal_name(pid)), serde_json::to_vec(&j).unwrap()).unwrap();
        // A leftover of another killed edit, a live one, and someone else's file.
        std::fs::write(etc.join(format!(".subuid.hostmatch-{pid}")), "x").unwrap();
        let live = format!(".subuid.hostmatch-{}", std::process::id());
        std::fs::write(etc.join(&live), "mine").unwrap();
        std::fs::write(etc.join("subuid.12345"), "shadow's").unwrap();
        assert_eq!(pending_files(&root).unwrap(), ["etc/passwd", "etc/group"]);
        // Without the locks of both files, the journal is not touched.
        assert!(recover(&root, &["etc/group".into()]).unwrap().is_empty());
        let both = pending_files(&root).unwrap();
        assert_eq!(recover(&root, &both).unwrap(), ["etc/group"]);
        assert_eq!(
            std::fs::read_to_string(etc.join("group")).unwrap(),
            "new group\n"
        );
        assert_eq!(
            std::fs::read_to_string(etc.join("passwd")).unwrap(),
            "new passwd\n"
        );
        assert!(pending_files(&root).unwrap().is_empty());
        let files = vec!["etc/subuid".to_string(), "etc/group".to_string()];
        assert_eq!(sweep(&root, &files).unwrap(), 1);
        let mut left: Vec<String> = std::fs::read_dir(&etc)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [live.as_str(), "group", "passwd", "subuid.12345"]);
    }
}
