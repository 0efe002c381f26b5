//! Root tests of the ID-mapped mount API on ext4 (a directory under /var/tmp)
//! and tmpfs. Each test uses its own sysroot for the state file, so that the
//! host's /run/hostmatch is never touched.

use std::fs;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use hostmatch::idmount::{self, MapSpec, Mapping, MountRequest};
use hostmatch::sysroot::Sysroot;
use hostmatch::Error;

fn mounts_at(p: &Path) -> usize {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let all = idmount::mountinfo::parse(&text).unwrap();
    let canon = fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    all.iter().filter(|m| m.mount_point == canon).count()
}

/// A scratch directory (ext4 under /var/tmp, or a fresh tmpfs) with src/,
/// a state sysroot, and a place for DST; unmounts everything on drop.
struct Scratch {
    // Unmounted before `dir` is removed (fields drop in this order).
    tmpfs: Option<testkit::Mounted>,
    dir: tempfile::TempDir,
}

impl Scratch {
    fn ext4() -> Self {
        let dir = testkit::temp_dir_in("/var/tmp", "hm-idmount-");
        let s = Scratch { dir, tmpfs: None };
        fs::create_dir(s.src()).unwrap();
        s
    }

    fn tmpfs() -> Self {
        let dir = testkit::temp_dir_in("/var/tmp", "hm-idmount-");
        let fsdir = dir.path().join("fs");
        fs::create_dir(&fsdir).unwrap();
        let tmpfs = Some(testkit::Mounted::tmpfs(&fsdir, "16m"));
        let s = Scratch { dir, tmpfs };
        fs::create_dir(s.src()).unwrap();
        s
    }

    fn base(&self) -> PathBuf {
        match &self.tmpfs {
            Some(t) => t.path().to_path_buf(),
            None => self.dir.path().to_path_buf(),
        }
    }
    fn src(&self) -> PathBuf {
        self.base().join("src")
    }
    fn dst(&self) -> PathBuf {
        self.dir.path().join("view/dst")
    }
    fn root(&self) -> Sysroot {
        let r = self.dir.path().join("sysroot");
        fs::create_dir_all(&r).unwrap();
        Sysroot::new(r)
    }
    fn req(&self, mapping: Mapping) -> MountRequest {
        MountRequest {
            src: self.src(),
            dst: self.dst(),
            mapping,
            recursive: false,
            read_only: false,
            how: "test".into(),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let dst = self.dst();
        while mounts_at(&dst) > 0 {
            if Command::new("umount")
                .arg(&dst)
                .status()
                .map(|s| !s.success())
                .unwrap_or(true)
            {
                break;
            }
        }
    }
}

fn maps(specs: &[&str]) -> Mapping {
    let v: Vec<MapSpec> = specs.iter().map(|s| MapSpec::parse(s).unwrap()).collect();
    Mapping::from_specs(&v).unwrap()
}

/// Creates `path` as (uid, gid) by running `touch` with those credentials.
fn touch_as(path: &Path, uid: u32, gid: u32) -> std::process::ExitStatus {
    Command::new("touch")
        .arg(path)
        .uid(uid)
        .gid(gid)
        .status()
        .unwrap()
}

fn ids(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
}

fn stored_and_seen_ids_both_ways(s: Scratch) {
    let src = s.src();
    chown(&src, Some(1000), Some(1000)).unwrap();
    fs::write(src.join("mine"), "x").unwrap();
    chown(src.join("mine"), Some(1000), Some(1000)).unwrap();
    fs::write(src.join("roots"), "x").unwrap();
    let root = s.root();
    let rec = idmount::mount(&root, &s.req(maps(&["1000:100000:1"]))).unwrap();
    let dst = s.dst();
    assert_eq!(rec.dst, fs::canonicalize(&dst).unwrap());
    assert_eq!(mounts_at(&dst), 1);
    // Stored 1000 is seen as 100000.
    assert_eq!(ids(&dst), (100000, 100000));
    assert_eq!(ids(&dst.join("mine")), (100000, 100000));
    // Unmapped owners (root) are seen as the overflow id.
    assert_eq!(ids(&dst.join("roots")), (65534, 65534));
    // Created through DST as 100000, stored as 1000.
    assert!(touch_as(&dst.join("new"), 100000, 100000).success());
    assert_eq!(ids(&src.join("new")), (1000, 1000));
    assert_eq!(ids(&dst.join("new")), (100000, 100000));
    // A caller with an unmapped id cannot create files through DST.
    fs::set_permissions(&src, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(!touch_as(&dst.join("nope"), 4242, 4242).success());
    assert!(!src.join("nope").exists());
    // Listed, with the recorded mapping.
    let listed = idmount::list(&root).unwrap();
    let mine: Vec<_> = listed.iter().filter(|m| m.dst == rec.dst).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].record.as_ref().unwrap().mapping, rec.mapping);
    assert_eq!(mine[0].src, fs::canonicalize(&src).unwrap());
    // Unmounted: the created DST goes away, and so does the record.
    idmount::umount(&root, &dst).unwrap();
    assert_eq!(mounts_at(&dst), 0);
    assert!(!dst.exists(), "the DST hostmatch created is removed");
    assert!(!s.dir.path().join("view").exists());
    assert!(idmount::list(&root)
        .unwrap()
        .iter()
        .all(|m| m.dst != rec.dst));
    assert!(src.join("new").exists(), "host data stays");
}

#[test]
fn ext4_stored_and_seen_ids_both_ways() {
    testkit::prereq!(testkit::is_root(), "root (ID-mapped mounts need it)");
    stored_and_seen_ids_both_ways(Scratch::ext4());
}

#[test]
fn tmpfs_stored_and_seen_ids_both_ways() {
    testkit::prereq!(testkit::is_root(), "root (ID-mapped mounts need it)");
    stored_and_seen_ids_both_ways(Scratch::tmpfs());
}

#[test]
fn owner_as_maps_the_owner_and_keeps_other_ids() {
    testkit::prereq!(testkit::is_root(), "root (ID-mapped mounts need it)");
    let s = Scratch::ext4();
    let src = s.src();
    chown(&src, Some(1000), Some(1001)).unwrap();
    fs::write(src.join("roots"), "x").unwrap();
    let mapping = Mapping::owner_as((1000, 1001), (1234, 1234)).unwrap();
    idmount::mount(&s.root(), &s.req(mapping)).unwrap();
    let dst = s.dst();
    assert_eq!(ids(&dst), (1234, 1234));
    assert_eq!(ids(&dst.join("roots")), (0, 0));
    assert!(touch_as(&dst.join("by-1234"), 1234, 1234).success());
    assert_eq!(ids(&src.join("by-1234")), (1000, 1001));
    // Root writes through DST as root.
    fs::write(dst.join("by-root"), "x").unwrap();
    assert_eq!(ids(&src.join("by-root")), (0, 0));
}

#[test]
fn read_only_mount_refuses_writes_and_source_stays_writable() {
    testkit::prereq!(testkit::is_root(), "root (ID-mapped mounts need it)");
    let s = Scratch::ext4();
    let mut req = s.req(maps(&["0:0:65536"]));
    req.read_only = true;
    let root = s.root();
    idmount::mount(&root, &req).unwrap();
    let err = fs::write(s.dst().join("x"), "x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    fs::write(s.src().join("y"), "y").unwrap();
    assert!(s.dst().join("y").exists());
    let listed = idmount::list(&root).unwrap();
    assert!(listed
        .iter()
        .any(|m| m.read_only && m.dst == fs::canonicalize(s.dst()).unwrap()));
}

#[test]
fn procfs_is_refused_by_name_and_nothing_is_left_mounted() {
    testkit::prereq!(testkit::is_root(), "root (ID-mapped mounts need it)");
    let s = Scratch::ext4();
    let mut req = s.req(maps(&["0:1000:1"]));
    req.src = PathBuf::from("/proc/sys");
    let err = idmount::mount(&s.root(), &req).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("procfs"), "{err}");
    assert!(!err.is_bad_input());
    assert!(!s.dst().exists(), "the DST hostmatch created is removed");
    assert_eq!(mounts_at(&s.dst()), 0);
}

#[test]
fn missing_source_is_bad_input_and_creates_nothing() {
    testkit::prereq!(testkit::is_root(), "root (ID-mapped mounts need it)");
    let s = Scratch::ext4();
    let mut req = s.req(maps(&["0:1000:1"]));
    req.src = s.dir.path().join("does-not-exist");
    let err = idmount::mount(&s.root(), &req).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!s.dst().exists());
}

#[test]
fn busy_target_is_refused_and_the_first_mount_stays() {
    testkit::prereq!(testkit::is_root(), "root (ID-mapped mounts need it)");
    let s = Scratch::ext4();
    let root = s.root();
    idmount::mount(&root, &s.req(maps(&["0:0:65536"]))).unwrap();
    let err = idmount::mount(&root, &s.req(maps(&["0:1000:1"]))).unwrap_err();
    assert!(err.to_string().contains("busy"), "{err}");
    assert_eq!(mounts_at(&s.dst()), 1);
    // A target that is a file is refused too.
    let file = s.dir.path().join("file");
    fs::write(&file, "").unwrap();
    let mut req = s.req(maps(&["0:0:1"]));
    req.dst = file.clone();
    assert!(idmount::mount(&root, &req).unwrap_err().is_bad_input());
    assert_eq!(mounts_at(&file), 0);
}

#[test]
fn overlapping_maps_never_reach_the_kernel() {
    let specs: Vec<MapSpec> = ["1000:100000:10", "1005:200000:1"]
        .iter()
        .map(|s| MapSpec::parse(s).unwrap())
        .collect();
    let err = Mapping::from_specs(&specs).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
}

#[test]
fn umount_refuses_a_plain_directory_and_a_non_idmapped_mount() {
    testkit::prereq!(testkit::is_root(), "root (ID-mapped mounts need it)");
    let s = Scratch::ext4();
    let err = idmount::umount(&s.root(), &s.src()).unwrap_err();
    assert!(err.to_string().contains("nothing is mounted"), "{err}");
    let err = idmount::umount(&s.root(), Path::new("/proc")).unwrap_err();
    assert!(err.to_string().contains("not an ID-mapped mount"), "{err}");
    assert_eq!(mounts_at(Path::new("/proc")), 1);
}

#[test]
fn recursive_mount_maps_submounts_and_umount_removes_all() {
    testkit::prereq!(testkit::is_root(), "root (ID-mapped mounts need it)");
    let s = Scratch::ext4();
    let sub = s.src().join("sub");
    fs::create_dir(&sub).unwrap();
    assert!(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "hm-test-sub"])
        .arg(&sub)
        .status()
        .unwrap()
        .success());
    fs::write(sub.join("f"), "x").unwrap();
    chown(sub.join("f"), Some(1000), Some(1000)).unwrap();
    let mut req = s.req(maps(&["1000:2000:1"]));
    req.recursive = true;
    let root = s.root();
    let r = idmount::mount(&root, &req).map(|_| {
        let seen = ids(&s.dst().join("sub/f"));
        let top = ids(&s.dst());
        let gone = idmount::umount(&root, &s.dst());
        (seen, top, gone)
    });
    let _ = Command::new("umount").arg(&sub).status();
    let (seen, top, gone) = r.unwrap();
    gone.unwrap();
    assert_eq!(seen, (2000, 2000));
    assert_eq!(top, (65534, 65534));
    assert_eq!(mounts_at(&s.dst()), 0);
    assert_eq!(mounts_at(&s.dst().join("sub")), 0);
}
