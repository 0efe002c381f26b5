//! Scratch space of root tests: temp dirs on a chosen filesystem, and mounts
//! that are undone when the test ends, even when it panics.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A temp dir named `PREFIX…` in `parent` (e.g. /var/tmp, a disk filesystem
/// where /tmp is tmpfs), removed on drop.
pub fn temp_dir_in(parent: impl AsRef<Path>, prefix: &str) -> tempfile::TempDir {
    let parent = parent.as_ref();
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .unwrap_or_else(|e| panic!("a temp dir in {}: {e}", parent.display()))
}

/// A mount made by a test, unmounted (lazily) on drop, so that a failing test
/// leaves no mount behind.
pub struct Mounted(PathBuf);

impl Mounted {
    /// Takes charge of the mount the test made at `at`.
    pub fn at(at: &Path) -> Mounted {
        Mounted(at.to_path_buf())
    }

    /// Mounts a tmpfs of `size` (`mount -o size=SIZE`: "64k", "16m") at `dir`.
    pub fn tmpfs(dir: &Path, size: &str) -> Mounted {
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "hm-test-tmpfs",
            ])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mounting a tmpfs at {} failed", dir.display());
        Mounted::at(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
