//! Root tests of the volume plugin against a workload that controls a
//! directory inside an allowed tree: swapping a path component for a symlink
//! while the plugin mounts must never get a directory outside the allow list
//! mounted.

mod plugin_harness;

use std::fs;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_harness::{err, unmount_below, PluginProc};
use serde_json::json;
use testkit::prereq;

/// A scratch tree under /var/tmp (ext4: ID-mapped mounts work there):
/// `allowed/` (the plugin's --allow), `outside/` (not allowed) and the
/// plugin's state; everything mounted below it is unmounted on drop.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        let dir = testkit::temp_dir_in("/var/tmp", "hm-plugin-root-");
        for d in ["allowed", "outside"] {
            fs::create_dir(dir.path().join(d)).unwrap();
        }
        Tree { dir }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn plugin(&self) -> PluginProc {
        PluginProc::start(
            &self.path("plugin.sock"),
            &self.path("state"),
            &[&self.path("allowed")],
            &[],
            &[],
        )
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        unmount_below(self.dir.path());
    }
}

/// A directory holding one marker file, owned by `owner`.
fn marked_dir(p: &Path, marker: &str, owner: u32) {
    fs::create_dir_all(p).unwrap();
    fs::write(p.join(marker), "x").unwrap();
    chown(p, Some(owner), Some(owner)).unwrap();
}

/// Swaps `a` and `b` (renameat2 RENAME_EXCHANGE) in a tight loop until
/// stopped; returns the number of swaps.
fn swapper(a: PathBuf, b: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                &a,
                rustix::fs::CWD,
                &b,
                rustix::fs::RenameFlags::EXCHANGE,
            )
            .expect("renameat2 RENAME_EXCHANGE");
            n += 1;
        }
        n
    })
}

#[derive(Debug, Default)]
struct Race {
    tries: u64,
    mounted_inside: u64,
    escapes: u64,
    refused: u64,
    swaps: u64,
}

/// Creates volume `v` of SOURCE (below allowed/), then mounts and unmounts it
/// up to `tries` times (at most `limit` long) while SWAP_A and SWAP_B are
/// exchanged: one of them is a directory inside the allowed tree, the other
/// a symlink to a directory outside it. A mount that is not the allowed
/// source (its marker) is an escape.
fn race(t: &Tree, source: &Path, swap: (PathBuf, PathBuf), tries: u64, limit: Duration) -> Race {
    let plugin = t.plugin();
    let r = plugin.call(
        "/VolumeDriver.Create",
        json!({"Name": "v", "Opts": {"source": source, "owner-as": "1234:1234"}}),
    );
    assert_eq!(err(&r), "", "{r}");
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = swapper(swap.0, swap.1, stop.clone());
    let mut race = Race::default();
    let counter = AtomicU64::new(0);
    let start = Instant::now();
    while race.tries < tries && start.elapsed() < limit {
        race.tries += 1;
        let id = format!("c{}", counter.fetch_add(1, Ordering::Relaxed));
        let r = plugin.call("/VolumeDriver.Mount", json!({"Name": "v", "ID": id}));
        if !err(&r).is_empty() {
            race.refused += 1;
            continue;
        }
        let mp = PathBuf::from(r["Mountpoint"].as_str().unwrap());
        // Anything but the allowed source (the outside marker, or neither)
        // is an escape.
        if mp.join("inside-marker").exists() && !mp.join("outside-marker").exists() {
            race.mounted_inside += 1;
        } else {
            race.escapes += 1;
        }
        let r = plugin.call("/VolumeDriver.Unmount", json!({"Name": "v", "ID": id}));
        assert_eq!(err(&r), "", "{r}");
    }
    stop.store(true, Ordering::Relaxed);
    race.swaps = swaps.join().unwrap();
    eprintln!("{race:?}");
    race
}

fn assert_no_escape(race: &Race) {
    assert_eq!(
        race.escapes, 0,
        "a directory outside the allow list was mounted: {race:?}"
    );
    assert!(
        race.mounted_inside > 0,
        "the allowed source was never mounted, so the race proved nothing: {race:?}"
    );
    assert!(race.swaps > race.tries, "the swapper barely ran: {race:?}");
}

#[test]
fn source_swapped_for_a_symlink_while_mounting_never_mounts_outside() {
    prereq!(testkit::is_root(), "root (ID-mapped mounts)");
    let t = Tree::new();
    let ws = t.path("allowed/team/ws");
    marked_dir(&ws, "inside-marker", 4000);
    marked_dir(&t.path("outside/ws"), "outside-marker", 0);
    std::os::unix::fs::symlink(t.path("outside/ws"), t.path("allowed/team/link")).unwrap();
    let race = race(
        &t,
        &ws,
        (ws.clone(), t.path("allowed/team/link")),
        300,
        Duration::from_secs(60),
    );
    assert_no_escape(&race);
}

#[test]
fn parent_of_the_source_swapped_for_a_symlink_while_mounting_never_mounts_outside() {
    prereq!(testkit::is_root(), "root (ID-mapped mounts)");
    let t = Tree::new();
    let team = t.path("allowed/team");
    marked_dir(&team.join("ws"), "inside-marker", 4000);
    marked_dir(&t.path("outside/ws"), "outside-marker", 0);
    std::os::unix::fs::symlink(t.path("outside"), t.path("allowed/link")).unwrap();
    let race = race(
        &t,
        &team.join("ws"),
        (team.clone(), t.path("allowed/link")),
        300,
        Duration::from_secs(60),
    );
    assert_no_escape(&race);
}
