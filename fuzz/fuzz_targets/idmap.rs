//! uid_map text: parse never panics; a parsed map prints and re-parses to
//! itself, and translation round-trips.
#![no_main]

use hostmatch::ids::IdMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(m) = IdMap::parse(text) else { return };
    assert_eq!(IdMap::parse(&m.to_string()).unwrap(), m);
    for e in m.extents() {
        for id in [e.container, e.container.saturating_add(e.count - 1)] {
            let h = m.to_host(id).unwrap();
            assert_eq!(m.to_container(h), Some(id));
        }
    }
});
