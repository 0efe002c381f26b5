//! `/proc/PID/mountinfo` as a model, and filesystem names from `statfs` magic
//! numbers (pure).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{Error, Result};

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountEntry {
    pub id: u64,
    pub parent: u64,
    /// The directory of the filesystem that is mounted (e.g. `/data` of a bind).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,relatime,idmapped`).
    pub options: Vec<String>,
    pub fstype: String,
    pub source: String,
}

impl MountEntry {
    /// Whether the mount is ID-mapped (the `idmapped` per-mount option).
    pub fn is_idmapped(&self) -> bool {
        self.options.iter().any(|o| o == "idmapped")
    }

    /// Whether the mount is read-only.
    pub fn is_read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(s: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Parses mountinfo text.
pub fn parse(text: &str) -> Result<Vec<MountEntry>> {
    let mut v = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || Error::invalid(format!("mountinfo line {}: cannot parse '{line}'", n + 1));
        let f: Vec<&str> = line.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-").ok_or_else(bad)?;
        if sep < 6 || f.len() < sep + 3 {
            return Err(bad());
        }
        v.push(MountEntry {
            id: f[0].parse().map_err(|_| bad())?,
            parent: f[1].parse().map_err(|_| bad())?,
            root: unescape(f[3]),
            mount_point: unescape(f[4]),
            options: f[5].split(',').map(str::to_string).collect(),
            fstype: f[sep + 1].to_string(),
            source: unescape(f[sep + 2]).to_string_lossy().into_owned(),
        });
    }
    Ok(v)
}

/// The topmost mount at `path` (the last one listed), if any.
pub fn mount_at<'a>(mounts: &'a [MountEntry], path: &Path) -> Option<&'a MountEntry> {
    mounts.iter().rev().find(|m| m.mount_point == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
140 22 259:2 /var/tmp/src\\040dir /mnt/view\\040x rw,relatime,idmapped shared:1 - ext4 /dev/nvme0n1p2 rw
141 22 0:40 / /mnt/ro ro,relatime,idmapped - tmpfs tmpfs rw,size=1024k
";

    #[test]
    fn parses_idmapped_mounts_with_escaped_paths() {
        let m = parse(SAMPLE).unwrap();
        assert_eq!(m.len(), 4);
        assert!(!m[0].is_idmapped());
        assert!(m[2].is_idmapped());
        assert_eq!(m[2].root, PathBuf::from("/var/tmp/src dir"));
        assert_eq!(m[2].mount_point, PathBuf::from("/mnt/view x"));
        assert_eq!(m[2].fstype, "ext4");
        assert!(!m[2].is_read_only());
        assert!(m[3].is_read_only() && m[3].is_idmapped());
        assert_eq!(m[3].source, "tmpfs");
        assert_eq!(mount_at(&m, Path::new("/proc")).unwrap().fstype, "proc");
        assert!(mount_at(&m, Path::new("/nowhere")).is_none());
    }

    #[test]
    fn malformed_mountinfo_is_an_error() {
        assert!(parse("1 2 3\n").is_err());
        assert!(parse("x 1 0:1 / / rw - ext4 a rw\n").is_err());
    }

    #[test]
    fn filesystem_names() {}
}
