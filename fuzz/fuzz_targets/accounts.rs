//! passwd/group: parse is lossless, and an edit keeps every other line.
#![no_main]

use hostmatch::accounts::{GroupFile, PasswdFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut p = PasswdFile::parse(text);
    assert_eq!(p.render(), text);
    let before = p.records().count();
    p.update(|u| u.uid == 0, |u| u.shell = "/bin/sh".into());
    assert_eq!(p.records().count(), before);
    let g = GroupFile::parse(text);
    assert_eq!(g.render(), text);
});
