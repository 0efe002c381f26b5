//! Profiling aid: runs `subid check` and `map` once on a 100,000-user host.
//! `valgrind --tool=callgrind target/release/examples/bigsubid check|map|parse`

use hostmatch::accounts::{Accounts, GroupFile, PasswdFile};
use hostmatch::remap::{self, Inputs};
use hostmatch::subid::{self, Kind, SubidFile};

fn main() {
    let (mut passwd, mut group, mut subuid) = (String::new(), String::new(), String::new());
    for i in 0..100_000u32 {
        passwd.push_str(&format!(
            "u{i}:x:{}:{}::/home/u{i}:/bin/sh\n",
            1000 + i,
            1000 + i
        ));
        group.push_str(&format!("u{i}:x:{}:\n", 1000 + i));
        subuid.push_str(&format!("u{i}:{}:42000\n", 200_000 + i * 42_000));
    }
    let what = std::env::args().nth(1).unwrap_or_default();
    let accounts = Accounts {
        passwd: PasswdFile::parse(&passwd),
        group: GroupFile::parse(&group),
    };
    match what.as_str() {
        "check" => {
            let f = SubidFile::parse(&subuid);
            println!(
                "{}",
                subid::check(&f, Kind::Uid, "/etc/subuid", &accounts).len()
            );
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
