//! The entrypoint's inputs from the image: its configuration (TOML, with
//! the lines of refused values) and the record of a change in progress.
#![no_main]

use std::path::Path;

use hostmatch::entrypoint::config::Config;
use hostmatch::entrypoint::steps::parse_pending;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text, Path::new("/etc/hostmatch/entrypoint.toml"));
    }
    if let Ok(steps) = parse_pending(data) {
        // A record that passes the check names only account files and
        // trees outside the system trees.
        for t in &steps.trees {
            assert!(hostmatch::entrypoint::config::check_tree(&t.path).is_ok());
        }
    }
});
