//! daemon.json: never panics; setting then removing userns-remap gives the
//! text back unchanged.
#![no_main]

use hostmatch::daemon_json::DaemonJson;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = std::path::Path::new("/etc/docker/daemon.json");
    let Ok(mut d) = DaemonJson::parse(text, path) else { return };
    let had = d.userns_remap(path).ok().flatten().map(String::from);
    d.set_userns_remap("default");
    assert_eq!(d.userns_remap(path).unwrap(), Some("default"));
    let re = DaemonJson::parse(&d.render(), path).expect("rendered JSON parses");
    assert_eq!(re.userns_remap(path).unwrap(), Some("default"));
    if had.is_none() {
        d.remove_userns_remap();
        if !text.trim().is_empty() {
            assert_eq!(d.render(), text);
        }
    }
});
