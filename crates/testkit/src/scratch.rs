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

/// An attacker racing a tree walk: a thread that, over and over, moves
/// `DIR/dI` (I below `count`) aside, plants a symlink to `target` in its place,
/// then puts the directory back.
pub struct DirSwapper {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl DirSwapper {
    pub fn start(dir: &Path, count: u64, target: &Path) -> DirSwapper {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (dir, target, flag) = (dir.to_path_buf(), target.to_path_buf(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let i = n % count;
                let p = dir.join(format!("d{i}"));
                let aside = dir.join(format!("aside{i}"));
                if std::fs::rename(&p, &aside).is_ok() {
                    let _ = std::os::unix::fs::symlink(&target, &p);
                    std::thread::yield_now();
                    let _ = std::fs::remove_file(&p);
                    let _ = std::fs::rename(&aside, &p);
                }
                n += 1;
            }
            n
        });
        DirSwapper { stop, thread }
    }

    /// Stops the thread; how many swaps it tried.
    pub fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("the swapper thread")
    }
}

/// A file made immutable (`chattr +i`: not even root may change it), made
/// mutable again on drop so that its temp dir can be removed.
pub struct Immutable(PathBuf);

impl Immutable {
    /// `chattr +i PATH`; None where the filesystem or the tools do not allow it.
    pub fn set(path: &Path) -> Option<Immutable> {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}
