//! The 100,000-user host the subid benchmark and `examples/bigsubid.rs` measure.

/// Users on the host.
pub const USERS: u32 = 100_000;

/// 100,000 ranges must fit below 2^32: 42,000 ids each (so every user also
/// gets a too-small warning: the worst case for `check`).
pub const COUNT: u32 = 42_000;

/// `/etc/passwd`, `/etc/group` and `/etc/subuid`: user `uI` has uid and gid
/// 1000 + I and the I-th range from 200,000.
pub fn host() -> (String, String, String) {
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
    let mut group = String::from("root:x:0:\n");
    let mut subuid = String::new();
    for i in 0..USERS {
        let id = 1000 + i;
        passwd.push_str(&format!("u{i}:x:{id}:{id}::/home/u{i}:/bin/sh\n"));
        group.push_str(&format!("u{i}:x:{id}:\n"));
        subuid.push_str(&format!("u{i}:{}:{COUNT}\n", 200_000 + i * COUNT));
    }
    (passwd, group, subuid)
}

/// A healthy host's `/etc/subuid`: 65,535 users with full ranges (the most
/// that fit below 2^32).
pub fn healthy_subuid() -> String {
    (0..65_535u32)
        .map(|i| format!("u{i}:{}:65536\n", 100_000 + u64::from(i) * 65_536))
        .collect()
}
