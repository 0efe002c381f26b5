//! Opening files below a root directory with `RESOLVE_IN_ROOT` (openat2):
//! `..` and absolute symlinks are resolved as if the root were `/`, so a link
//! `etc/subuid -> /etc/shadow` in a sysroot names the sysroot's shadow file,
//! never the host's. Magic links (`/proc/self/fd/N`) are refused.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// Opens the root directory itself (an `O_PATH` handle).
pub fn open_root(root: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens `rel` below the directory `root_fd` with `RESOLVE_IN_ROOT |
/// RESOLVE_NO_MAGICLINKS`; `rel` is taken as relative even with a leading `/`.
pub fn open_in_root(root_fd: &OwnedFd, rel: &str, flags: OFlags, mode: u32) -> io::Result<OwnedFd> {
    let rel = rel.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    Ok(rustix::fs::openat2(
        root_fd,
        rel,
        flags | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::from_raw_mode(mode),
        resolve,
    )?)
}

/// Reads the whole file `rel` below `root` (resolved inside the root).
pub fn read_in_root(root: &Path, rel: &str) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let dir = open_root(root)?;
    let fd = open_in_root(&dir, rel, OFlags::RDONLY, 0)?;
    let mut f = std::fs::File::from(fd);
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Opens the directory `rel_dir` below `root` (resolved inside the root) for
/// `*at` calls.
pub fn open_dir_in_root(root: &Path, rel_dir: &str) -> io::Result<OwnedFd> {
    let dir = open_root(root)?;
    open_in_root(&dir, rel_dir, OFlags::RDONLY | OFlags::DIRECTORY, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_symlink_resolves_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/inside"), "inside\n").unwrap();
        std::os::unix::fs::symlink("/etc/inside", d.path().join("etc/link")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/inside", d.path().join("etc/dots")).unwrap();
        assert_eq!(read_in_root(d.path(), "etc/link").unwrap(), b"inside\n");
        assert_eq!(read_in_root(d.path(), "/etc/dots").unwrap(), b"inside\n");
        // A link to a host file that the root does not have is not found.
        std::os::unix::fs::symlink("/etc/hostname", d.path().join("etc/host")).unwrap();
        let e = read_in_root(d.path(), "etc/host").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
