//! login.defs: never panics; a policy read from it is always usable.
#![no_main]

use hostmatch::logindefs::LoginDefs;
use hostmatch::subid::{Kind, SubidPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let d = LoginDefs::parse(text);
    if let Ok(p) = SubidPolicy::from_defs(&d, Kind::Uid, std::path::Path::new("/etc/login.defs")) {
        assert!(p.count > 0 && p.min <= p.max);
    }
});
