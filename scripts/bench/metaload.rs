//! The metadata-heavy workload of scripts/bench/idmount.sh: in a fresh
//! directory below DIR, create N empty files, stat each, unlink each.
//! Built by the script with `rustc -O` (std only).
use std::fs;
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: metaload DIR [N]"));
    let n: usize = args.next().map_or(20_000, |s| s.parse().expect("N is a number"));
    let work = dir.join(format!("metaload-{}", std::process::id()));
    fs::create_dir(&work).expect("create the work directory");
    let names: Vec<PathBuf> = (0..n).map(|i| work.join(format!("f{i:06}"))).collect();
    for p in &names {
        fs::File::create(p).expect("create");
    }
    let mut total = 0u64;
    for p in &names {
        total += fs::symlink_metadata(p).expect("stat").len();
    }
    for p in &names {
        fs::remove_file(p).expect("unlink");
    }
    fs::remove_dir(&work).expect("remove the work directory");
    assert_eq!(total, 0);
}
