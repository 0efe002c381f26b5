//! Kernel facts: version parsing, filesystem names, and which filesystems
//! support ID-mapped mounts from which kernel version.

/// A kernel version (major, minor).
pub type Version = (u32, u32);

/// Parses `/proc/sys/kernel/osrelease` text such as `6.1.0-18-amd64`.
pub fn parse_release(s: &str) -> Option<Version> {
    let mut it = s.trim().split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// The first kernel with ID-mapped mounts at all.
pub const IDMAP_MIN: Version = (5, 12);

/// A filesystem's name from its statfs magic (`"unknown"` when not known).
pub fn fs_name(magic: u64) -> &'static str {
    match magic {
        0xEF53 => "ext4",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x8584_58F6 => "ramfs",
        0x6969 => "nfs",
        0x9FA0 => "procfs",
        0x6265_6572 => "sysfs",
        0x6367_7270 => "cgroup2",
        0x794C_7630 => "overlayfs",
        0x6573_5546 => "fuse",
        0x4D44 => "vfat",
        0x2FC1_2FC1 => "zfs",
        0xFF53_4D42 => "cifs",
        0xFE53_4D42 => "smb2",
        0x7371_7368 => "squashfs",
        0xF2F5_2010 => "f2fs",
        0x1CD1 => "devpts",
        0x5346_544E => "ntfs",
        0x0102_1997 => "9p",
        0xCA45_1A4E => "bcachefs",
        0x2011_BAB0 => "exfat",
        0x5345_4C46 => "selinuxfs",
        0x6462_6720 => "debugfs",
        _ => "unknown",
    }
}

/// A filesystem's name for messages: [`fs_name`], or the magic number in hex.
pub fn fs_label(magic: u64) -> String {
    match fs_name(magic) {
        "unknown" => format!("unknown filesystem type 0x{magic:x}"),
        name => name.to_string(),
    }
}

/// The kernel version from which a filesystem supports ID-mapped mounts
/// (None: not supported, or unknown).
pub fn idmap_since(fs: &str) -> Option<Version> {
    match fs {
        "ext4" | "xfs" | "vfat" => Some((5, 12)),
        "btrfs" | "f2fs" => Some((5, 15)),
        "overlayfs" => Some((5, 19)),
        "9p" => Some((6, 2)),
        "tmpfs" => Some((6, 3)),
        "bcachefs" => Some((6, 7)),
        "fuse" => Some((6, 12)),
        _ => None,
    }
}

/// Whether `fs` supports ID-mapped mounts on kernel `v`.
pub fn supports_idmap(fs: &str, v: Version) -> bool {
    idmap_since(fs).is_some_and(|since| v >= since)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_parse() {
        assert_eq!(parse_release("6.18.44-fc-v657\n"), Some((6, 18)));
        assert_eq!(parse_release("5.4.0-150-generic"), Some((5, 4)));
        assert_eq!(parse_release("garbage"), None);
    }

    #[test]
    fn idmap_support_by_version() {
        assert!(supports_idmap("ext4", (5, 12)));
        assert!(!supports_idmap("ext4", (5, 11)));
        assert!(!supports_idmap("tmpfs", (6, 2)));
        assert!(!supports_idmap("nfs", (6, 18)));
        assert_eq!(fs_name(0xEF53), "ext4");
        assert_eq!(fs_name(0x9FA0), "procfs");
        assert!(supports_idmap(fs_name(0x794C_7630), (5, 19)));
        assert!(fs_label(0x1234).contains("0x1234"));
    }
}
