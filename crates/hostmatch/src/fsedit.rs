//! Atomic, lossless edits of system files: a plan of whole-file replacements
//! that can be shown as a diff (`--dry-run`) or applied (temp file in the same
//! directory, fsync, rename, same mode and owner, directory fsync).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// One file's new content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    pub path: PathBuf,
    /// The content before (None: the file does not exist yet).
    pub old: Option<String>,
    pub new: String,
    /// Mode for a new file (an existing file keeps its own).
    pub mode: u32,
}

impl FileEdit {
    /// Whether the edit changes anything.
    pub fn is_change(&self) -> bool {
        self.old.as_deref() != Some(self.new.as_str())
    }

    /// A unified diff of the edit (empty when nothing changes).
    pub fn diff(&self) -> String {
        if !self.is_change() {
            return String::new();
        }
        let old = self.old.as_deref().unwrap_or("");
        let name = self.path.display().to_string();
        let old_name = if self.old.is_some() {
            name.clone()
        } else {
            "/dev/null".to_string()
        };
        similar::TextDiff::from_lines(old, &self.new)
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
            self.edits.retain(|e| e.path != edit.path);
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

    /// Writes every edit atomically. Files are checked first, so that a stale
    /// plan (a file changed since it was read) writes nothing.
    pub fn apply(&self) -> Result<()> {
        for e in &self.edits {
            let now = read_opt(&e.path)?;
            if now != e.old {
                return Err(Error::invalid(format!(
                    "{}: changed while hostmatch was editing it; nothing written",
                    e.path.display()
                )));
            }
        }
        for e in &self.edits {
            write_atomic(&e.path, e.new.as_bytes(), e.mode)?;
        }
        Ok(())
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
/// written and fsynced, given the old file's mode and owner (or `new_mode`),
/// renamed over the old file, then the directory fsynced. A reader sees the
/// old file or the new one, never a half-written one.
pub fn write_atomic(path: &Path, data: &[u8], new_mode: u32) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid(format!("{}: not a file path", path.display())))?;
    let meta = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(Error::invalid(format!(
                "{}: is a symbolic link; refusing to replace it",
                path.display()
            )))
        }
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(path, e)),
    };
    let mode = meta.as_ref().map_or(new_mode, |m| m.mode() & 0o7777);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".hostmatch-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| -> Result<()> {
        let create = || {
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)
        };
        // A temp file of this name is left by a killed process that had our
        // pid (a container's entrypoint is always pid 1): remove it once.
        let f = match create() {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e))?;
                create()
            }
            r => r,
        };
        let mut f = f.map_err(|e| Error::io(&tmp, e))?;
        f.write_all(data).map_err(|e| Error::io(&tmp, e))?;
        if let Some(m) = &meta {
            // Owner first: chown may clear setuid/setgid bits set by chmod.
            std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()))
                .map_err(|e| Error::io(&tmp, e))?;
        }
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_stale_temp_file_of_a_killed_process_does_not_stop_the_write() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, "old\n").unwrap();
        let stale = d
            .path()
            .join(format!(".f.hostmatch-{}", std::process::id()));
        fs::write(&stale, "half").unwrap();
        write_atomic(&p, b"new\n", 0o644).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new\n");
        assert!(!stale.exists());
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
    fn stale_plan_writes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, "a\n").unwrap();
        let mut plan = Plan::default();
        plan.push(FileEdit {
            path: p.clone(),
            old: Some("a\n".into()),
            new: "b\n".into(),
            mode: 0o644,
        });
        fs::write(&p, "changed\n").unwrap();
        assert!(plan.apply().is_err());
        assert_eq!(fs::read_to_string(&p).unwrap(), "changed\n");
    }

    #[test]
    fn diff_shows_added_line() {
        let e = FileEdit {
            path: "/etc/subuid".into(),
            old: Some("a:1:2\n".into()),
            new: "a:1:2\nb:3:4\n".into(),
            mode: 0o644,
        };
        let d = e.diff();
        assert!(d.contains("+b:3:4"), "{d}");
        assert!(d.starts_with("--- /etc/subuid"), "{d}");
    }
}
