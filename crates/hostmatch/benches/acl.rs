//! The ACL model on the hot path of `shift` and `acl grant`: parse, shift,
//! render a typical ACL (owner, two named users, a named group, mask, other),
//! and a grant with mask recomputation.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hostmatch::acl::{self, Acl, Entry, Tag};
use hostmatch::ids::{Extent, IdMap};

fn typical() -> Vec<u8> {
    Acl::new(vec![
        Entry {
            tag: Tag::UserObj,
            perm: 7,
        },
        Entry {
            tag: Tag::User(33),
            perm: 7,
        },
        Entry {
            tag: Tag::User(1000),
            perm: 6,
        },
        Entry {
            tag: Tag::GroupObj,
            perm: 5,
        },
        Entry {
            tag: Tag::Group(60),
            perm: 5,
        },
        Entry {
            tag: Tag::Mask,
            perm: 7,
        },
        Entry {
            tag: Tag::Other,
            perm: 0,
        },
    ])
    .render()
}

fn bench(c: &mut Criterion) {
    let bytes = typical();
    let map = IdMap::new(vec![Extent {
        container: 0,
        host: 100_000,
        count: 65536,
    }])
    .unwrap();
    c.bench_function("acl parse+shift+render", |b| {
        b.iter(|| {
            let mut a = Acl::parse(black_box(&bytes)).unwrap();
            a.shift(|u| map.to_host(u), |g| map.to_host(g));
            black_box(a.render())
        })
    });
    c.bench_function("acl grant+mask", |b| {
        b.iter(|| {
            let mut a = Acl::from_mode(black_box(0o640));
            a.set(Tag::User(1000), acl::R | acl::W | acl::X);
            a.recompute_mask();
            black_box(a.render())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
