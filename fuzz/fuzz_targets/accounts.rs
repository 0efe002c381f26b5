//! passwd/group/shadow/gshadow: parse is lossless on any bytes, and an edit
//! keeps every other line.
#![no_main]

use hostmatch::accounts::{GroupFile, GshadowFile, PasswdFile, ShadowFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut p = PasswdFile::parse(data);
    assert_eq!(p.render(), data);
    let before = p.records().count();
    p.update(|u| u.uid == 0, |u| u.shell = "/bin/sh".into());
    assert_eq!(p.records().count(), before);
    assert_eq!(GroupFile::parse(data).render(), data);
    assert_eq!(ShadowFile::parse(data).render(), data);
    let mut gs = GshadowFile::parse(data);
    assert_eq!(gs.render(), data);
    hostmatch::accounts::add_gshadow_members(&mut gs, &"g".into(), &["m".into()]);
    assert!(gs.render().starts_with(data.strip_suffix(b"\n").unwrap_or(data)));
});
