//! `hostmatch reclaim` end to end: the real binary run by a real unprivileged
//! user (a test account with lines in the host's real /etc/subuid and
//! /etc/subgid, which newuidmap reads), on trees on disk. Needs root (to make
//! the user and the files), setpriv and the uidmap package.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::owner;
use testkit::{HostSubids, HostUser};

/// A test user with subordinate ranges of its own (far from every range a
/// real host gives out, and different for each test process).
struct Rootless {
    user: HostUser,
    _subids: HostSubids,
    /// First id of the user's main range (both files).
    sub: u32,
    /// A directory the user owns, inside a directory everyone may enter.
    home: tempfile::TempDir,
}

const COUNT: u32 = 65536;

/// A start id for test ranges: 3e9 plus a slot per process and call.
fn free_start() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let slot = (std::process::id() * 8 + N.fetch_add(1, Ordering::Relaxed)) % 18000;
    3_000_000_000 + slot * COUNT
}

impl Rootless {
    /// A user with `name:START:65536` in both files, plus `extra` lines
    /// (written with the user's name in place of `{u}`).
    fn new(extra: &[String]) -> Rootless {
        let user = HostUser::unique().expect("creating a test user");
        let sub = free_start();
        let mut lines = vec![format!("{}:{sub}:{COUNT}", user.name)];
        lines.extend(extra.iter().map(|l| l.replace("{u}", &user.name)));
        let subids = HostSubids::add(&lines, &lines).expect("adding subid lines");
        let home = common::disk_tmp("hm-reclaim-");
        fs::set_permissions(home.path(), fs::Permissions::from_mode(0o755)).unwrap();
        Rootless {
            user,
            _subids: subids,
            sub,
            home,
        }
    }

    /// A fresh project directory owned by the user.
    fn project(&self, name: &str) -> PathBuf {
        let p = self.home.path().join(name);
        fs::create_dir(&p).unwrap();
        self.own(&p, self.user.uid, self.user.gid);
        p
    }

    fn own(&self, p: &Path, uid: u32, gid: u32) {
        std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
    }

    /// The host id of container id `n` (rootless Podman, one range).
    fn host(&self, n: u32) -> u32 {
        self.sub + n - 1
    }

    /// Runs `hostmatch ARGS` as the user, with `path` as PATH.
    fn hm_path(&self, path: &str, args: &[&str]) -> common::Run {
        let out = Command::new(testkit::which("setpriv").expect("setpriv"))
            .arg(format!("--reuid={}", self.user.uid))
            .arg(format!("--regid={}", self.user.gid))
            .args(["--init-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_hostmatch"))
            .args(args)
            .env("PATH", path)
            .env_remove("HOSTMATCH_ROOT")
            .output()
            .unwrap();
        common::Run::from(out)
    }

    fn hm(&self, args: &[&str]) -> common::Run {
        self.hm_path("/usr/local/bin:/usr/bin:/bin", args)
    }
}

fn prereqs() -> bool {
    testkit::is_root() && testkit::have_cmd("setpriv") && testkit::have_cmd("newuidmap")
}

macro_rules! need {
    () => {
        testkit::prereq!(
            prereqs(),
            "root, setpriv (util-linux) and newuidmap/newgidmap (uidmap)"
        );
    };
}

/// A test user with one subordinate range, and a project directory of its own.
fn user_with_project() -> (Rootless, PathBuf) {
    let r = Rootless::new(&[]);
    let dir = r.project("proj");
    (r, dir)
}

fn ctime(p: &Path) -> (i64, i64) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.ctime(), m.ctime_nsec())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What a rootless container running as uid/gid 1000 leaves: files and
/// directories (one private), a symlink, a file only its group is the
/// container's, and one already the user's.
/// What [`written_by_container`] gives the container's uid and gid.
const BY_THE_CONTAINER: [&str; 6] = [
    "build",
    "build/obj",
    "build/obj/a.o",
    "build/link",
    "private",
    "private/key",
];

fn written_by_container(r: &Rootless, dir: &Path) {
    let c = r.host(1000);
    fs::create_dir_all(dir.join("build/obj")).unwrap();
    fs::create_dir(dir.join("private")).unwrap();
    fs::write(dir.join("build/obj/a.o"), "x").unwrap();
    fs::write(dir.join("private/key"), "k").unwrap();
    fs::write(dir.join("gid-only"), "g").unwrap();
    fs::write(dir.join("mine"), "m").unwrap();
    symlink("/etc/passwd", dir.join("build/link")).unwrap();
    for p in BY_THE_CONTAINER {
        r.own(&dir.join(p), c, c);
    }
    fs::set_permissions(dir.join("private"), fs::Permissions::from_mode(0o700)).unwrap();
    r.own(&dir.join("gid-only"), r.user.uid, c);
    r.own(&dir.join("mine"), r.user.uid, r.user.gid);
}

#[test]
fn reclaim_gives_back_what_a_rootless_container_wrote() {
    need!();
    let (r, dir) = user_with_project();
    written_by_container(&r, &dir);
    let before_mine = ctime(&dir.join("mine"));
    let run = r.hm(&["reclaim", s(&dir)]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout.trim(), "scanned 9, changed 7", "{}", run.stderr);
    let me = (r.user.uid, r.user.gid);
    for p in BY_THE_CONTAINER.iter().chain(&["gid-only", "mine"]) {
        assert_eq!(owner(&dir.join(p)), me, "{p}");
    }
    assert_eq!(
        owner(Path::new("/etc/passwd")),
        (0, 0),
        "the symlink's target"
    );
    assert_eq!(
        ctime(&dir.join("mine")),
        before_mine,
        "an entry already the user's is not written"
    );
    // Nothing left to do the second time.
    let again = r.hm(&["reclaim", s(&dir)]);
    assert_eq!(
        again.stdout.trim(),
        "scanned 9, changed 0",
        "{}",
        again.stderr
    );
}

#[test]
fn reclaim_dry_run_counts_and_writes_nothing() {
    need!();
    let (r, dir) = user_with_project();
    written_by_container(&r, &dir);
    let run = r.hm(&["reclaim", s(&dir), "--dry-run", "--json"]);
    run.ok();
    let j = run.json();
    assert_eq!(j["changed"], 7);
    assert_eq!(j["dry_run"], true);
    assert_eq!(j["to_uid"], r.user.uid);
    assert_eq!(
        owner(&dir.join("build/obj/a.o")),
        (r.host(1000), r.host(1000))
    );
}

#[test]
fn reclaim_lists_and_leaves_alone_entries_outside_the_users_ranges() {
    need!();
    let (r, dir) = user_with_project();
    fs::write(dir.join("root-file"), "").unwrap();
    fs::write(dir.join("past-range"), "").unwrap();
    fs::write(dir.join("ok"), "").unwrap();
    r.own(&dir.join("past-range"), r.sub + COUNT, r.sub);
    r.own(&dir.join("ok"), r.sub, r.sub);
    let run = r.hm(&["reclaim", s(&dir)]);
    assert_eq!(run.code, 1, "a problem found: {}{}", run.stdout, run.stderr);
    run.assert_stdout_has("changed 1, 2 left alone");
    for p in ["root-file", "past-range"] {
        assert!(
            run.stderr.contains(&format!(
                "{}: owned by an id neither yours",
                dir.join(p).display()
            )),
            "{p} listed: {}",
            run.stderr
        );
    }
    assert_eq!(owner(&dir.join("root-file")), (0, 0));
    assert_eq!(owner(&dir.join("past-range")), (r.sub + COUNT, r.sub));
    assert_eq!(owner(&dir.join("ok")), (r.user.uid, r.user.gid));
    let j = r.hm(&["reclaim", s(&dir), "--json"]).json();
    assert_eq!(j["outside"].as_array().unwrap().len(), 2, "{j}");
}

#[test]
fn reclaim_for_a_container_user_computes_the_engines_host_ids() {
    need!();
    // A second, lower range written after the main one: rootless Podman
    // sorts the ranges (container 1 = the lower range), RootlessKit does not.
    let low = free_start();
    let r = Rootless::new(&[format!("{{u}}:{low}:{COUNT}")]);
    let (first, second) = if low < r.sub {
        (low, r.sub)
    } else {
        (r.sub, low)
    };
    let dir = r.project("proj");
    fs::write(dir.join("f"), "").unwrap();
    r.own(&dir.join("f"), r.user.uid, r.user.gid);

    let run = r.hm(&["reclaim", s(&dir), "--for", "1000:1000", "--rootless"]);
    if first != r.sub {
        // Lines out of order: the engines disagree, so the user must say which.
        run.assert_one_line_error(2, "--engine podman");
    }
    let run = r.hm(&[
        "reclaim",
        s(&dir),
        "--for",
        "1000:1000",
        "--engine",
        "podman",
    ]);
    run.ok();
    assert_eq!(owner(&dir.join("f")), (first + 999, first + 999));
    assert_eq!(
        owner(&dir),
        (first + 999, first + 999),
        "the directory itself too"
    );
    let run = r.hm(&["reclaim", s(&dir), "--for", "1000", "--engine", "docker"]);
    run.ok();
    let file_order = if r.sub < low { first } else { second };
    assert_eq!(
        owner(&dir.join("f")),
        (file_order + 999, first + 999),
        "uid only"
    );
    // And back: the directory owned by a subordinate id is still the user's to reclaim.
    let run = r.hm(&["reclaim", s(&dir)]);
    run.ok();
    assert_eq!(owner(&dir.join("f")), (r.user.uid, r.user.gid));
}

#[test]
fn reclaim_without_subordinate_ids_says_how_to_add_them() {
    need!();
    let user = HostUser::unique().unwrap();
    let r = Rootless {
        _subids: HostSubids::add(&[] as &[&str], &[] as &[&str]).unwrap(),
        sub: 0,
        home: tempfile::tempdir().unwrap(),
        user,
    };
    let run = r.hm(&["reclaim", "/tmp"]);
    run.assert_one_line_error(2, "has no subordinate ids in /etc/subuid or /etc/subgid");
    assert!(run.stderr.contains(&format!(
        "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {}",
        r.user.name
    )));
}

#[test]
fn reclaim_refuses_a_directory_the_user_does_not_own() {
    need!();
    let (r, dir) = user_with_project();
    let other = r.home.path().join("other");
    fs::create_dir(&other).unwrap();
    r.hm(&["reclaim", s(&other)])
        .assert_one_line_error(2, "owned by uid 0, neither you");
    symlink(&dir, r.home.path().join("link")).unwrap();
    r.hm(&["reclaim", s(&r.home.path().join("link"))])
        .assert_one_line_error(2, "a symlink; give the directory itself");
}

#[test]
fn reclaim_without_newuidmap_says_what_to_install() {
    need!();
    let (r, dir) = user_with_project();
    r.hm_path("/nonexistent", &["reclaim", s(&dir)])
        .assert_one_line_error(
            3,
            "newuidmap not found in PATH: install it (Debian, Ubuntu: apt-get install uidmap",
        );
    // A copy without its setuid bit cannot map anything.
    let bin = tempfile::tempdir().unwrap();
    fs::set_permissions(bin.path(), fs::Permissions::from_mode(0o755)).unwrap();
    for t in ["newuidmap", "newgidmap"] {
        let to = bin.path().join(t);
        fs::copy(testkit::which(t).unwrap(), &to).unwrap();
        fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).unwrap();
    }
    r.hm_path(s(bin.path()), &["reclaim", s(&dir)])
        .assert_one_line_error(3, "is neither setuid root nor has file capabilities");
}

#[test]
fn reclaim_as_root_points_to_chown() {
    need!();
    let out = Command::new(env!("CARGO_BIN_EXE_hostmatch"))
        .args(["reclaim", "/tmp"])
        .output()
        .unwrap();
    common::Run::from(out).assert_one_line_error(2, "hostmatch chown");
}

/// The user's ranges cover a host account (a layout like `agent:UID:65536`
/// that `hostmatch subid check` warns about): newuidmap would map that
/// account's uid, so a hard link to one of its files, planted in the
/// project, would be the user's after a reclaim that trusted the ranges.
#[test]
fn hard_link_to_a_file_of_an_account_in_the_users_range_is_not_taken() {
    need!();
    let victim = HostUser::unique().unwrap();
    let r = Rootless::new(&[format!("{{u}}:{}:1", victim.uid)]);
    let _g = HostSubids::add(
        &[] as &[&str],
        &[format!("{}:{}:1", r.user.name, victim.gid)],
    )
    .unwrap();
    let dir = r.project("proj");
    let vdir = tempfile::tempdir().unwrap();
    let secret = vdir.path().join("secret");
    fs::write(&secret, "victim's").unwrap();
    r.own(&secret, victim.uid, victim.gid);
    fs::hard_link(&secret, dir.join("planted")).unwrap();
    let run = r.hm(&["reclaim", s(&dir)]);
    assert_eq!(
        owner(&secret),
        (victim.uid, victim.gid),
        "the account's file stays its own"
    );
    assert!(
        run.stderr.contains(&format!(
            "left out of the namespace: uid {}: the host account {}",
            victim.uid, victim.name
        )),
        "{}",
        run.stderr
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
}

/// Another user's lines overlap the user's: files owned by the shared ids
/// may be the other user's containers', and are left alone.
#[test]
fn hard_link_to_a_file_of_another_users_range_is_not_taken() {
    need!();
    let other = HostUser::unique().unwrap();
    let r = Rootless::new(&[]);
    let shared = r.sub + 100;
    let line = format!("{}:{shared}:10", other.name);
    let _o = HostSubids::add(&[&line], &[&line]).unwrap();
    let dir = r.project("proj");
    let odir = tempfile::tempdir().unwrap();
    let theirs = odir.path().join("theirs");
    fs::write(&theirs, "").unwrap();
    r.own(&theirs, shared + 1, shared + 1);
    fs::hard_link(&theirs, dir.join("planted")).unwrap();
    let run = r.hm(&["reclaim", s(&dir)]);
    assert_eq!(
        owner(&theirs),
        (shared + 1, shared + 1),
        "the other user's file stays"
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains(&format!("/etc/subuid gives it to {} too", other.name)),
        "{}",
        run.stderr
    );
}

#[test]
fn hard_link_to_a_root_file_is_left_alone() {
    need!();
    let (r, dir) = user_with_project();
    let rdir = tempfile::tempdir().unwrap();
    let rootfile = rdir.path().join("shadow-like");
    fs::write(&rootfile, "").unwrap();
    fs::set_permissions(&rootfile, fs::Permissions::from_mode(0o4755)).unwrap();
    fs::hard_link(&rootfile, dir.join("planted")).unwrap();
    let run = r.hm(&["reclaim", s(&dir)]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(owner(&rootfile), (0, 0));
    assert_eq!(fs::metadata(&rootfile).unwrap().mode() & 0o7777, 0o4755);
}

/// A file with file capabilities that count on the host (set by real root)
/// and owned by a subordinate id must never become a capable file of the
/// user's: the kernel drops capabilities on chown, and a capability written
/// from inside the namespace can only be one of the namespace's.
#[test]
fn reclaim_never_leaves_host_file_capabilities_on_a_file_it_gives_the_user() {
    need!();
    testkit::prereq!(testkit::have_cmd("setcap"), "setcap (libcap2-bin)");
    let (r, dir) = user_with_project();
    let f = dir.join("tool");
    fs::copy("/bin/true", &f).unwrap();
    let st = Command::new("setcap")
        .args(["cap_net_raw+ep", s(&f)])
        .status()
        .unwrap();
    assert!(st.success());
    r.own(&f, r.host(1), r.host(1));
    let run = r.hm(&["reclaim", s(&dir)]);
    let caps = Command::new("getcap").arg(&f).output().unwrap();
    let caps = String::from_utf8_lossy(&caps.stdout);
    let o = owner(&f);
    eprintln!("{}{}owner {o:?}, caps {caps:?}", run.stdout, run.stderr);
    assert!(
        !(o.0 == r.user.uid && caps.contains("cap_net_raw")),
        "the user got a host-capable file: {caps}"
    );
}

#[test]
fn reclaim_does_not_cross_into_a_mount_inside_the_directory() {
    need!();
    let (r, dir) = user_with_project();
    let mnt = dir.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let _u = testkit::Mounted::tmpfs(&mnt, "1m");
    fs::write(mnt.join("inside"), "").unwrap();
    r.own(&mnt.join("inside"), r.host(1), r.host(1));
    r.own(&mnt, r.host(1), r.host(1));
    let run = r.hm(&["reclaim", s(&dir)]);
    run.ok();
    run.assert_stdout_has("skipped 1 mount point");
    assert_eq!(owner(&mnt.join("inside")), (r.host(1), r.host(1)));
}

/// Directories swapped for symlinks to a directory of subordinate-owned
/// files (which the namespace could re-own) while reclaim walks: nothing
/// outside the project changes.
#[test]
fn dir_swapped_for_a_symlink_during_reclaim_is_not_followed() {
    need!();
    let (r, dir) = user_with_project();
    let outside = r.home.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("victim"), "").unwrap();
    let c = r.host(1000);
    r.own(&outside, c, c);
    r.own(&outside.join("victim"), c, c);
    for i in 0..40 {
        let p = dir.join(format!("d{i}"));
        fs::create_dir(&p).unwrap();
        for j in 0..20 {
            fs::write(p.join(format!("f{j}")), "").unwrap();
        }
    }
    let swapper = testkit::DirSwapper::start(&dir, 40, &outside);
    for round in 0..8 {
        // Everything the container's again, then reclaim.
        let _ = Command::new("chown")
            .args(["-R", &format!("{c}:{c}"), s(&dir)])
            .status();
        r.own(&dir, r.user.uid, r.user.gid);
        let run = r.hm(&["reclaim", s(&dir)]);
        assert!(run.code <= 1, "{}{}", run.stdout, run.stderr);
        assert_eq!(owner(&outside.join("victim")), (c, c), "round {round}");
        assert_eq!(owner(&outside), (c, c), "round {round}");
    }
    assert!(swapper.stop() > 0);
}
