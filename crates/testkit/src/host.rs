//! Fixtures on the host's real account and subordinate-id files.
//!
//! dockerd's `--userns-remap` reads only the real `/etc/passwd`, `/etc/group`,
//! `/etc/subuid` and `/etc/subgid`, so remap tests must edit them. These guards make
//! those edits small, exact and undone: test users get unique names `hmt-<pid>-<n>`,
//! subid lines are appended under an exclusive lock and exactly those lines are removed
//! on drop. What a killed run left behind (its pid is dead) is removed by the next run.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::procs;

/// The prefix of the names of test users.
pub const USER_PREFIX: &str = "hmt";

const SUBUID: &str = "/etc/subuid";
const SUBGID: &str = "/etc/subgid";

/// An exclusive lock (flock on `/tmp/hostmatch-testkit/subid.lock`) that every harness
/// edit of `/etc/subuid`/`/etc/subgid` takes. Hold it yourself around anything that must
/// see the files unchanged, e.g. predicting `default`'s allocation and starting dockerd.
/// Re-entrant within a thread: fixtures created and dropped while the caller holds it
/// do not deadlock.
pub struct SubidLock {
    // Thread-bound: the depth counter and the locked file are thread-local.
    _not_send: std::marker::PhantomData<*const ()>,
}

thread_local! {
    static SUBID_LOCK: std::cell::RefCell<(usize, Option<File>)> =
        const { std::cell::RefCell::new((0, None)) };
}

impl SubidLock {
    pub fn acquire() -> crate::Result<SubidLock> {
        SUBID_LOCK.with(|l| -> crate::Result<()> {
            let mut l = l.borrow_mut();
            if l.0 == 0 {
                let path = crate::state_dir().join("subid.lock");
                let file =
                    File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                file.lock()
                    .with_context(|| format!("locking {}", path.display()))?;
                l.1 = Some(file);
            }
            l.0 += 1;
            Ok(())
        })?;
        Ok(SubidLock {
            _not_send: std::marker::PhantomData,
        })
    }
}

impl Drop for SubidLock {
    fn drop(&mut self) {
        SUBID_LOCK.with(|l| {
            let mut l = l.borrow_mut();
            l.0 -= 1;
            if l.0 == 0 {
                l.1 = None; // closing the file releases the flock
            }
        });
    }
}

/// A lock for account creation and removal (useradd/userdel of parallel tests).
fn accounts_lock() -> crate::Result<File> {
    let path = crate::state_dir().join("accounts.lock");
    let file = File::create(&path)?;
    file.lock()?;
    Ok(file)
}

/// A system user created for a test (`useradd -r`, no home), removed on drop with its
/// group (and, by userdel, its subid lines).
#[derive(Debug)]
pub struct HostUser {
    pub name: String,
    pub uid: u32,
    /// The primary gid.
    pub gid: u32,
}

impl HostUser {
    /// Creates system user `name` with a group of the same name.
    pub fn create(name: &str) -> crate::Result<HostUser> {
        Self::create_with(name, &["-U"])
    }

    /// Creates a system user with a unique name `hmt-<pid>-<n>` (recognised and removed by
    /// later runs if this process is killed).
    pub fn unique() -> crate::Result<HostUser> {
        Self::create(&crate::unique_name(USER_PREFIX))
    }

    /// Creates a system user with a unique name whose uid equals the gid of its group of
    /// the same name (needed for `--userns-remap=UID` without a group part: dockerd then
    /// wants a group whose gid is the uid). Ids are taken from 3000..4000.
    pub fn unique_with_uid_eq_gid() -> crate::Result<HostUser> {
        let name = crate::unique_name(USER_PREFIX);
        let first = 3000 + (std::process::id() * 7) % 1000;
        for k in 0..1000 {
            let id = 3000 + (first - 3000 + k) % 1000;
            let ids = id.to_string();
            if getent("passwd", &ids)?.is_some() || getent("group", &ids)?.is_some() {
                continue;
            }
            if HostGroup::create_with(&name, &["-g", &ids])
                .map(std::mem::forget)
                .is_err()
            {
                continue; // taken meanwhile
            }
            match Self::create_with(&name, &["-u", &ids, "-g", &ids]) {
                Ok(u) => return Ok(u),
                Err(_) => remove_user(&name),
            }
        }
        bail!("no free uid/gid pair in 3000..4000")
    }

    /// Creates system user `name` with extra `useradd` arguments, e.g. `["-u", "4321",
    /// "-N", "-g", "nogroup"]` (without `-U`, no group of the user's name is made).
    pub fn create_with(name: &str, useradd_args: &[&str]) -> crate::Result<HostUser> {
        sweep_dead_users();
        {
            let _lock = accounts_lock()?;
            let out = Command::new("useradd")
                .args(["-r", "-M", "-s", "/usr/sbin/nologin"])
                .args(useradd_args)
                .arg(name)
                .output()
                .context("running useradd")?;
            if !out.status.success() {
                bail!(
                    "useradd {name} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        let entry = getent("passwd", name)?.with_context(|| format!("{name} not in passwd"))?;
        let f: Vec<&str> = entry.split(':').collect();
        Ok(HostUser {
            name: name.to_string(),
            uid: f.get(2).and_then(|s| s.parse().ok()).context("bad uid")?,
            gid: f.get(3).and_then(|s| s.parse().ok()).context("bad gid")?,
        })
    }
}

impl Drop for HostUser {
    fn drop(&mut self) {
        remove_user(&self.name);
    }
}

/// SIGKILLs every process whose real uid is `uid` (a test user's), until none is left.
pub(crate) fn kill_user_processes(uid: u32) {
    for _ in 0..50 {
        let pids = procs::pids_of_uid(uid);
        if pids.is_empty() {
            return;
        }
        procs::kill_pids(&pids);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn remove_user(name: &str) {
    // userdel also rewrites /etc/subuid and /etc/subgid (it removes the user's lines):
    // not while another test appends to them.
    let _subid_lock = SubidLock::acquire();
    let _lock = accounts_lock();
    let _ = Command::new("userdel").arg(name).output();
    if getent("group", name).ok().flatten().is_some() {
        let _ = Command::new("groupdel").arg(name).output();
    }
}

/// A group created for a test, removed on drop.
#[derive(Debug)]
pub struct HostGroup {
    pub name: String,
    pub gid: u32,
}

impl HostGroup {
    /// Creates system group `name` (extra `groupadd` arguments, e.g. `["-g", "4321"]`).
    pub fn create_with(name: &str, groupadd_args: &[&str]) -> crate::Result<HostGroup> {
        {
            let _lock = accounts_lock()?;
            let out = Command::new("groupadd")
                .arg("-r")
                .args(groupadd_args)
                .arg(name)
                .output()
                .context("running groupadd")?;
            if !out.status.success() {
                bail!(
                    "groupadd {name} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        let entry = getent("group", name)?.with_context(|| format!("{name} not in group"))?;
        Ok(HostGroup {
            name: name.to_string(),
            gid: entry
                .split(':')
                .nth(2)
                .and_then(|s| s.parse().ok())
                .context("bad gid")?,
        })
    }

    /// A group with a unique name `hmt-<pid>-<n>`.
    pub fn unique() -> crate::Result<HostGroup> {
        Self::create_with(&crate::unique_name(USER_PREFIX), &[])
    }
}

impl Drop for HostGroup {
    fn drop(&mut self) {
        let _lock = accounts_lock();
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

/// `getent DB KEY`: the entry's line, None when there is none.
pub fn getent(db: &str, key: &str) -> crate::Result<Option<String>> {
    let out = Command::new("getent").args([db, key]).output()?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// Removes test users and groups (`hmt-<pid>-<n>`) of processes that no longer exist.
/// Processes still running as such a user (a rootless Podman's pause process, its
/// service) are killed first: `userdel` refuses a user that has processes.
pub fn sweep_dead_users() {
    for (db, file) in [("passwd", "/etc/passwd"), ("group", "/etc/group")] {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines() {
            let mut fields = line.split(':');
            let name = fields.next().unwrap_or_default();
            if procs::pid_in_name(name, USER_PREFIX).is_some_and(|p| !procs::pid_alive(p)) {
                if let (true, Some(uid)) = (db == "passwd", fields.nth(1)) {
                    if let Ok(uid) = uid.parse::<u32>() {
                        kill_user_processes(uid);
                    }
                }
                let _subid_lock = SubidLock::acquire();
                let _lock = accounts_lock();
                let tool = if db == "passwd" {
                    "userdel"
                } else {
                    "groupdel"
                };
                let _ = Command::new(tool).arg(name).output();
            }
        }
    }
}

/// Lines appended to the real `/etc/subuid` and `/etc/subgid`; exactly these lines (one
/// occurrence each) are removed again on drop. Every line must be `owner:start:count`
/// with numbers: a malformed line would stop EVERY dockerd with userns-remap on this host.
#[derive(Debug)]
pub struct HostSubids {
    subuid: Vec<String>,
    subgid: Vec<String>,
    record: PathBuf,
}

fn check_line(line: &str) -> crate::Result<()> {
    let f: Vec<&str> = line.split(':').collect();
    let ok = f.len() == 3
        && !f[0].is_empty()
        && !f[0].contains(char::is_whitespace)
        && f[1].parse::<u32>().is_ok()
        && f[2].parse::<u32>().is_ok();
    if !ok {
        bail!("refusing to write '{line}' to the host's subid files: not owner:start:count");
    }
    Ok(())
}

impl HostSubids {
    /// Appends `subuid` lines to /etc/subuid and `subgid` lines to /etc/subgid (each an
    /// `owner:start:count` string without newline), under [`SubidLock`].
    pub fn add<U, G>(subuid: &[U], subgid: &[G]) -> crate::Result<HostSubids>
    where
        U: AsRef<str>,
        G: AsRef<str>,
    {
        let lock = SubidLock::acquire()?;
        Self::add_locked(&lock, subuid, subgid)
    }

    /// Like [`HostSubids::add`] for a caller that already holds the lock.
    pub fn add_locked<U, G>(
        _lock: &SubidLock,
        subuid: &[U],
        subgid: &[G],
    ) -> crate::Result<HostSubids>
    where
        U: AsRef<str>,
        G: AsRef<str>,
    {
        let subuid: Vec<String> = subuid.iter().map(|l| l.as_ref().to_string()).collect();
        let subgid: Vec<String> = subgid.iter().map(|l| l.as_ref().to_string()).collect();
        for l in subuid.iter().chain(&subgid) {
            check_line(l)?;
        }
        sweep_dead_subids_locked();
        let dir = crate::state_dir().join("subids");
        fs::create_dir_all(&dir)?;
        let record = dir.join(crate::unique_name("lines").trim_start_matches("lines-"));
        // Record first: if we are killed between the append and the drop, a later run
        // removes the lines.
        let mut rec = String::new();
        for l in &subuid {
            rec.push_str(&format!("uid {l}\n"));
        }
        for l in &subgid {
            rec.push_str(&format!("gid {l}\n"));
        }
        fs::write(&record, rec)?;
        append_lines(Path::new(SUBUID), &subuid)?;
        append_lines(Path::new(SUBGID), &subgid)?;
        Ok(HostSubids {
            subuid,
            subgid,
            record,
        })
    }
}

impl Drop for HostSubids {
    fn drop(&mut self) {
        let _lock = SubidLock::acquire();
        if let Err(e) = remove_lines(Path::new(SUBUID), &self.subuid)
            .and_then(|_| remove_lines(Path::new(SUBGID), &self.subgid))
        {
            eprintln!("testkit: removing test lines from the subid files: {e:#}");
        }
        let _ = fs::remove_file(&self.record);
    }
}

/// Removes the subid lines recorded by test processes that no longer exist.
pub fn sweep_dead_subids() -> crate::Result<()> {
    let _lock = SubidLock::acquire()?;
    sweep_dead_subids_locked();
    Ok(())
}

/// Removes the lines recorded by processes that no longer exist. Caller holds the lock.
fn sweep_dead_subids_locked() {
    let dir = crate::state_dir().join("subids");
    for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(procs::pid_alive) {
            continue;
        }
        let Ok(text) = fs::read_to_string(e.path()) else {
            continue;
        };
        let (mut u, mut g) = (Vec::new(), Vec::new());
        for l in text.lines() {
            match l.split_once(' ') {
                Some(("uid", line)) => u.push(line.to_string()),
                Some(("gid", line)) => g.push(line.to_string()),
                _ => {}
            }
        }
        let _ = remove_lines(Path::new(SUBUID), &u);
        let _ = remove_lines(Path::new(SUBGID), &g);
        let _ = fs::remove_file(e.path());
    }
}

fn append_lines(path: &Path, lines: &[String]) -> crate::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let existing = fs::read(path).unwrap_or_default();
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    if path.metadata()?.len() == 0 {
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    let mut text = String::new();
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        text.push('\n');
    }
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    f.write_all(text.as_bytes())
        .with_context(|| format!("appending to {}", path.display()))
}

/// Removes one occurrence of each of `lines` (the last one), keeping every other byte;
/// writes a temp file and renames it over the original, keeping its mode.
fn remove_lines(path: &Path, lines: &[String]) -> crate::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut kept: Vec<&str> = text.split_inclusive('\n').collect();
    let mut changed = false;
    for l in lines {
        if let Some(i) = kept.iter().rposition(|k| k.trim_end_matches('\n') == l) {
            kept.remove(i);
            changed = true;
        }
    }
    if !changed {
        return Ok(());
    }
    let mode = path.metadata()?.permissions().mode();
    let tmp = path.with_extension("hmt-tmp");
    fs::write(&tmp, kept.concat())?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
    fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

/// A private copy of the host's `/etc` in a temporary directory `<root>/etc`, for a daemon
/// started with [`crate::Dockerd::start_with_etc`] and for `hostmatch --root <root>`.
/// Removed on drop.
pub struct EtcCopy {
    dir: tempfile::TempDir,
}

impl EtcCopy {
    /// Copies `/etc` (`cp -a`, about 4 MB here).
    pub fn new() -> crate::Result<EtcCopy> {
        let dir = tempfile::Builder::new().prefix("hmt-etc-").tempdir()?;
        let out = Command::new("cp")
            .arg("-a")
            .arg("/etc")
            .arg(dir.path().join("etc"))
            .output()?;
        // Files that vanish while copying (lock files of a concurrent useradd) are fine.
        let err = String::from_utf8_lossy(&out.stderr);
        let real: Vec<&str> = err
            .lines()
            .filter(|l| !l.contains("No such file or directory"))
            .collect();
        if !out.status.success() && !real.is_empty() {
            bail!("copying /etc failed: {}", real.join("; "));
        }
        // Lock files copied from a moment when the host's were held would block
        // useradd/usermod in the copy.
        for e in fs::read_dir(dir.path().join("etc"))?.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".lock") || n == ".pwd.lock" {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(EtcCopy { dir })
    }

    /// The directory that holds `etc` (for `hostmatch --root`).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The copy of `/etc`.
    pub fn etc(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// The text of `etc/<name>` in the copy ("" if missing).
    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.etc().join(name)).unwrap_or_default()
    }

    /// Replaces `etc/<name>` in the copy, keeping its mode.
    pub fn write(&self, name: &str, text: &str) -> crate::Result<()> {
        let p = self.etc().join(name);
        fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
    }

    /// Removes from the copy's passwd, group, shadow, gshadow, subuid and subgid every line
    /// whose first field is `name` (e.g. to start without `dockremap`).
    pub fn remove_account(&self, name: &str) -> crate::Result<()> {
        for f in ["passwd", "group", "shadow", "gshadow", "subuid", "subgid"] {
            let text = self.read(f);
            let kept: String = text
                .split_inclusive('\n')
                .filter(|l| l.split(':').next() != Some(name))
                .collect();
            if kept != text {
                self.write(f, &kept)?;
            }
        }
        Ok(())
    }

    /// Appends lines to `etc/<name>` in the copy.
    pub fn append(&self, name: &str, lines: &[&str]) -> crate::Result<()> {
        let mut text = self.read(name);
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        self.write(name, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_lines_may_reach_the_host_files() {
        assert!(check_line("hmt-1-2:100000:65536").is_ok());
        assert!(check_line("1234:1:1").is_ok());
        for bad in ["", "a:b:c", "a:1", "a:1:2:3", ":1:2", "a:-1:2", "a b:1:2"] {
            assert!(check_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn removing_lines_keeps_every_other_byte() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("subuid");
        fs::write(&p, "a:1:1\nb:2:2\na:1:1\nc:3:3").unwrap();
        remove_lines(&p, &["a:1:1".to_string(), "zz:1:1".to_string()]).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "a:1:1\nb:2:2\nc:3:3");
        append_lines(&p, &["d:4:4".to_string()]).unwrap();
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            "a:1:1\nb:2:2\nc:3:3\nd:4:4\n"
        );
    }
}
