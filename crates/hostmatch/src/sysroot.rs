//! Where system files are read from: a root directory (like `useradd --root`)
//! and a `/proc` directory, both injectable so that tests and image builds work
//! on a sysroot.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The files hostmatch reads and edits, relative to the root.
pub mod paths {
    pub const PASSWD: &str = "etc/passwd";
    pub const GROUP: &str = "etc/group";
    pub const SHADOW: &str = "etc/shadow";
    pub const GSHADOW: &str = "etc/gshadow";
    pub const SUBUID: &str = "etc/subuid";
    pub const SUBGID: &str = "etc/subgid";
    pub const LOGIN_DEFS: &str = "etc/login.defs";
    pub const DAEMON_JSON: &str = "etc/docker/daemon.json";
}

/// A root directory for system files and a proc directory for process state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysroot {
    root: PathBuf,
    proc: PathBuf,
}

impl Default for Sysroot {
    fn default() -> Self {
        Sysroot {
            root: PathBuf::from("/"),
            proc: PathBuf::from("/proc"),
        }
    }
}

impl Sysroot {
    /// A sysroot at `root`, with `/proc` of the running system.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Sysroot {
            root: root.into(),
            proc: PathBuf::from("/proc"),
        }
    }

    /// The same sysroot with another proc directory.
    pub fn with_proc(mut self, proc: impl Into<PathBuf>) -> Self {
        self.proc = proc.into();
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether this is the running system's root.
    pub fn is_host_root(&self) -> bool {
        self.root == Path::new("/")
    }

    /// A path below the root (`rel` is relative, like [`paths::PASSWD`]).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// A path below the proc directory (`rel` like `self/uid_map`).
    pub fn proc_path(&self, rel: &str) -> PathBuf {
        self.proc.join(rel.trim_start_matches('/'))
    }

    /// Reads a file below the root, resolved inside the root
    /// (`RESOLVE_IN_ROOT`: absolute symlinks and `..` stay below it).
    pub fn read_bytes(&self, rel: &str) -> Result<Vec<u8>> {
        crate::sys::resolve::read_in_root(&self.root, rel).map_err(|e| Error::io(self.path(rel), e))
    }

    /// Reads a file below the root (inside the root); a missing file is `None`.
    pub fn read_bytes_opt(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        match crate::sys::resolve::read_in_root(&self.root, rel) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(self.path(rel), e)),
        }
    }

    /// Reads a file below the root (inside the root) as UTF-8 text.
    pub fn read(&self, rel: &str) -> Result<String> {
        self.utf8(rel, self.read_bytes(rel)?)
    }

    /// Reads a text file below the root (inside the root); a missing file is `None`.
    pub fn read_opt(&self, rel: &str) -> Result<Option<String>> {
        self.read_bytes_opt(rel)?
            .map(|b| self.utf8(rel, b))
            .transpose()
    }

    fn utf8(&self, rel: &str, bytes: Vec<u8>) -> Result<String> {
        String::from_utf8(bytes).map_err(|e| Error::InvalidFile {
            path: self.path(rel),
            msg: format!(
                "not UTF-8 text (byte {} is not valid UTF-8)",
                e.utf8_error().valid_up_to()
            ),
        })
    }

    /// Reads a file below the proc directory as text.
    pub fn read_proc(&self, rel: &str) -> Result<String> {
        let p = self.proc_path(rel);
        std::fs::read_to_string(&p).map_err(|e| Error::io(p, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_joined_below_the_root() {
        let r = Sysroot::new("/tmp/x").with_proc("/tmp/p");
        assert_eq!(r.path(paths::SUBUID), PathBuf::from("/tmp/x/etc/subuid"));
        assert_eq!(r.path("/etc/group"), PathBuf::from("/tmp/x/etc/group"));
        assert_eq!(
            r.proc_path("self/uid_map"),
            PathBuf::from("/tmp/p/self/uid_map")
        );
        assert!(!r.is_host_root());
        assert!(Sysroot::default().is_host_root());
    }

    #[test]
    fn reads_below_the_root_never_leave_it() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/shadow"), "root:!:1::::::\n").unwrap();
        std::os::unix::fs::symlink("/etc/shadow", d.path().join("etc/subuid")).unwrap();
        let r = Sysroot::new(d.path());
        assert_eq!(r.read("etc/subuid").unwrap(), "root:!:1::::::\n");
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("etc/subgid")).unwrap();
        assert_eq!(r.read_opt("etc/subgid").unwrap(), None);
        std::fs::write(d.path().join("etc/latin1"), b"caf\xe9\n").unwrap();
        assert_eq!(r.read_bytes("etc/latin1").unwrap(), b"caf\xe9\n");
        assert!(r
            .read("etc/latin1")
            .unwrap_err()
            .to_string()
            .contains("not UTF-8"));
    }
}
