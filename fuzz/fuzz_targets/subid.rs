//! subuid/subgid: parse is lossless; check, allocation and the dockerd
//! scanner never panic on any text.
#![no_main]

use hostmatch::accounts::{Accounts, GroupFile, PasswdFile};
use hostmatch::subid::{self, Kind, SubidFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = SubidFile::parse(data);
    assert_eq!(f.render(), data);
    let acc = Accounts {
        passwd: PasswdFile::parse("alice:x:1000:1000::/h:/bin/sh\nbob:x:100000:100000::/h:/bin/sh\n"),
        group: GroupFile::parse("alice:x:1000:\n"),
    };
    let _ = subid::check(data, Kind::Uid, "/etc/subuid", &acc);
    let ranges = subid::all_ranges(&f);
    if let Some(start) = subid::lowest_free(&ranges, 100_000, 600_100_000, 65_536) {
        let new = hostmatch::ids::IdRange::new(start, 65_536).unwrap();
        assert!(ranges.iter().all(|r| !r.overlaps(&new)));
    }
    let _ = subid::dockerd_next_start(&ranges);
    let user = acc.passwd.find(|u| u.name == "alice").unwrap();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = hostmatch::remap::dockerd_ranges(text, std::path::Path::new("/etc/subuid"), user);
    }
});
