//! `map` and `subid check` on a 100,000-user host (issue target: under 20 ms).

use criterion::{criterion_group, criterion_main, Criterion};

use hostmatch::accounts::{Accounts, GroupFile, PasswdFile};
use hostmatch::remap::{self, Inputs};
use hostmatch::subid::{self, Kind};

mod common;
use common::{healthy_subuid, host, USERS};

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
    let healthy = healthy_subuid();
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
