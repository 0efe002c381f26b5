//! Profiling aid: runs `subid check` and `map` once on a 100,000-user host.
//! `valgrind --tool=callgrind target/release/examples/bigsubid check|healthy|map|parse`
//!
//! `check` is the worst case (100,000 users, every one with a warning);
//! `healthy` is 65,535 users with full ranges. To count parse + check alone,
//! build with symbols (`CARGO_PROFILE_RELEASE_STRIP=false`) and add
//! `--toggle-collect=bigsubid::parse_and_check`.

#[path = "../benches/common/mod.rs"]
mod common;

use hostmatch::accounts::{Accounts, GroupFile, PasswdFile};
use hostmatch::remap::{self, Inputs};
use hostmatch::subid::{self, Kind};

/// Reads a subuid file and checks it: what `subid check` does per file.
#[inline(never)]
fn parse_and_check(text: &str, accounts: &Accounts) -> usize {
    subid::check(text.as_bytes(), Kind::Uid, "/etc/subuid", accounts).len()
}

fn main() {
    let (passwd, group, subuid) = common::host();
    let what = std::env::args().nth(1).unwrap_or_default();
    let accounts = Accounts {
        passwd: PasswdFile::parse(&passwd),
        group: GroupFile::parse(&group),
    };
    match what.as_str() {
        "check" => println!("{}", parse_and_check(&subuid, &accounts)),
        "healthy" => {
            println!("{}", parse_and_check(&common::healthy_subuid(), &accounts));
        }
        "map" => {
            let i = Inputs {
                accounts,
                subuid: subuid.clone(),
                subgid: subuid,
                subuid_path: "a".into(),
                subgid_path: "b".into(),
            };
            println!("{}", remap::predict_from(&i, "u99999").unwrap().uid_map);
        }
        _ => println!("{}", accounts.passwd.records().count()),
    }
}
