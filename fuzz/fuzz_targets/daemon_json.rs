//! daemon.json: never panics; setting userns-remap changes only that member
//! (the result is JSON with the value set), and setting then removing it
//! gives the original bytes back.
#![no_main]

use hostmatch::daemon_json::DaemonJson;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = std::path::Path::new("/etc/docker/daemon.json");
    let Ok(mut d) = DaemonJson::parse(text, path) else { return };
    let had = d.userns_remap_count() > 0;
    d.set_userns_remap("default");
    let on = d.render();
    let re = DaemonJson::parse(&on, path).expect("rendered JSON parses");
    assert_eq!(re.userns_remap(path).unwrap().as_deref(), Some("default"));
    let v: serde_json::Value = serde_json::from_str(on.trim_start_matches('\u{feff}')).unwrap();
    assert_eq!(v["userns-remap"], "default");
    if !had && !text.trim_start_matches('\u{feff}').trim_ascii().is_empty() {
        assert!(d.remove_userns_remap());
        assert_eq!(d.render(), text);
    }
});
