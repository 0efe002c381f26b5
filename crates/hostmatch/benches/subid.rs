//! `map` and `subid check` on a 100,000-user host (issue target: under 20 ms).

use criterion::{criterion_group, criterion_main, Criterion};

use hostmatch::accounts::{Accounts, GroupFile, PasswdFile};
use hostmatch::remap::{self, Inputs};
use hostmatch::subid::{self, Kind};

const USERS: u32 = 100_000;
/// 100,000 ranges must fit below 2^32: 42,000 ids each (so every user also
/// gets a too-small warning: the worst case for `check`).
const COUNT: u32 = 42_000;

fn host() -> (String, String, String) {
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
    let mut group = String::from("root:x:0:\n");
    let mut subuid = String::new();
    for i in 0..USERS {
        passwd.push_str(&format!(
            "u{i}:x:{}:{}::/home/u{i}:/bin/sh\n",
            1000 + i,
            1000 + i
        ));
        group.push_str(&format!("u{i}:x:{}:\n", 1000 + i));
        subuid.push_str(&format!("u{i}:{}:{COUNT}\n", 200_000 + i * COUNT));
    }
    (passwd, group, subuid)
}

fn bench(c: &mut Criterion) {
    let (passwd, group, subuid) = host();
    let accounts = Accounts {
        passwd: PasswdFile::parse(&passwd),
        group: GroupFile::parse(&group),
    };
    c.bench_function("subid check, 100k users (parse + check)", |b| {
        b.iter(|| subid::check(subuid.as_bytes(), Kind::Uid, "/etc/subuid", &accounts))
    });
    let inputs = Inputs {
        accounts: accounts.clone(),
        subuid: subuid.clone(),
        subgid: subuid.clone(),
        subuid_path: "/etc/subuid".into(),
        subgid_path: "/etc/subgid".into(),
    };
    c.bench_function("map, 100k users (last user)", |b| {
        b.iter(|| remap::predict_from(&inputs, &format!("u{}", USERS - 1)).unwrap())
    });
    // A healthy host: 65,535 users with full ranges (the most that fit below 2^32).
    let healthy: String = (0..65_535u32)
        .map(|i| format!("u{i}:{}:65536\n", 100_000 + i as u64 * 65_536))
        .collect();
    c.bench_function("subid check, 65k users, no problems (parse + check)", |b| {
        b.iter(|| subid::check(healthy.as_bytes(), Kind::Uid, "/etc/subuid", &accounts))
    });
    c.bench_function("accounts parse, 100k users", |b| {
        b.iter(|| Accounts {
            passwd: PasswdFile::parse(&passwd),
            group: GroupFile::parse(&group),
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
