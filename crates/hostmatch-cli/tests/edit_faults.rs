//! Fault injection for edits of system files: kills and failures at every
//! step, random kills, a full disk, an immutable file, 20 parallel runs, and
//! rounds against shadow-utils' own tools. Every test prints a `FAULTS:` line
//! with its counts (docs/testing.md records them) and asserts they are 0:
//!
//! - torn: a file that is neither its old nor its new content;
//! - partial: after the next run, files of one edit not all old or all new;
//! - lost: a run that said success whose change is not there;
//! - leftovers: hostmatch temp files, journals or lock files after the next run.
//!
//! The fault points come from `HOSTMATCH_FAULT=ACTION:STEP:N` (see `fsedit::fault`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::Sysroot;

const DAEMON_JSON: &str = "{\n  \"debug\": true,\n  \"max-concurrent-downloads\": 123456789012345678901234,\n  \"x\": 1e2\n}\n";
/// The files `docker enable default` writes (all of them change on a fresh sysroot).
const FILES: [&str; 7] = [
    "etc/passwd",
    "etc/shadow",
    "etc/group",
    "etc/gshadow",
    "etc/subuid",
    "etc/subgid",
    "etc/docker/daemon.json",
];

const ENABLE: &[&str] = &["docker", "enable", "default"];

fn hostmatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hostmatch"));
    c.env_remove("HOSTMATCH_FAULT");
    c
}

/// A sysroot with every file `docker enable default` edits, and a GECOS that
/// is not UTF-8.
fn full_sysroot() -> Sysroot {
    let s = Sysroot::new(Some("alice:100000:65536\n"), Some("alice:100000:65536\n"));
    let passwd = format!(
        "{}jose:x:1002:1002:Jos\u{e9}:/home/jose:/bin/sh\n",
        common::PASSWD
    );
    let mut bytes = passwd.into_bytes();
    // Latin-1 é instead of UTF-8.
    let i = bytes.windows(2).position(|w| w == "é".as_bytes()).unwrap();
    bytes.splice(i..i + 2, [0xe9]);
    std::fs::write(s.file("etc/passwd"), bytes).unwrap();
    s.write(
        "etc/shadow",
        "root:*:19000:0:99999:7:::\nalice:!:19000::::::\n",
    );
    s.write("etc/gshadow", "root:*::\nalice:!::\n");
    s.write("etc/docker/daemon.json", DAEMON_JSON);
    s
}

/// The content of each of [`FILES`] (None: missing).
type Snapshot = BTreeMap<&'static str, Option<Vec<u8>>>;

fn snapshot(root: &Path) -> Snapshot {
    FILES
        .iter()
        .map(|f| (*f, std::fs::read(root.join(f)).ok()))
        .collect()
}

/// hostmatch's temp files, journals and lock files below etc/ (shadow's
/// `.pwd.lock` is an empty file every tool leaves; it is not counted).
fn leftovers(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["etc", "etc/docker"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in rd {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.contains(".hostmatch-") || name.ends_with(".lock") && name != ".pwd.lock" {
                out.push(format!("{dir}/{name}"));
            }
        }
    }
    out.sort();
    out
}

#[derive(Default, Debug)]
struct Counts {
    runs: usize,
    torn: usize,
    partial: usize,
    lost: usize,
    leftovers: usize,
}

impl Counts {
    fn report(&self, what: &str) {
        eprintln!(
            "FAULTS: {what}: runs {} torn {} partial {} lost {} leftovers {}",
            self.runs, self.torn, self.partial, self.lost, self.leftovers
        );
        assert_eq!(
            (self.torn, self.partial, self.lost, self.leftovers),
            (0, 0, 0, 0),
            "{what}: {self:?}"
        );
    }

    /// Files that are neither old nor new.
    fn count_torn(&mut self, now: &Snapshot, old: &Snapshot, new: &Snapshot) {
        for f in FILES {
            if now[f] != old[f] && now[f] != new[f] {
                eprintln!("torn: {f}");
                self.torn += 1;
            }
        }
    }

    /// `docker enable default` on a fresh sysroot with the fault `fault`.
    fn run_with_fault(&mut self, fault: &str) -> (Sysroot, Output) {
        let s = full_sysroot();
        let o = enable(s.path(), Some(fault));
        self.runs += 1;
        (s, o)
    }

    /// `hostmatch ARGS` after a cut run, which must succeed and leave every
    /// file new (the edit finished).
    fn finish(&mut self, s: &Sysroot, args: &[&str], new: &Snapshot) {
        let o = under(s.path(), args).output().unwrap();
        self.runs += 1;
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        self.count_final(s.path(), new);
    }

    /// After the next run every file must be new (the edit finished).
    fn count_final(&mut self, root: &Path, new: &Snapshot) {
        let now = snapshot(root);
        if &now != new {
            eprintln!(
                "partial: {:?}",
                FILES
                    .iter()
                    .filter(|f| now[**f] != new[**f])
                    .collect::<Vec<_>>()
            );
            self.partial += 1;
        }
        let left = leftovers(root);
        if !left.is_empty() {
            eprintln!("leftovers: {left:?}");
        }
        self.leftovers += left.len();
    }
}

/// `hostmatch --root ROOT ARGS...`.
fn under(root: &Path, args: &[&str]) -> Command {
    let mut c = hostmatch();
    c.arg("--root").arg(root).args(args);
    c
}

fn enable(root: &Path, fault: Option<&str>) -> Output {
    let mut c = under(root, ENABLE);
    if let Some(f) = fault {
        c.env("HOSTMATCH_FAULT", f);
    }
    c.output().unwrap()
}

/// The files after a clean `docker enable default` on a fresh sysroot.
fn expected() -> (Snapshot, Snapshot) {
    let s = full_sysroot();
    let old = snapshot(s.path());
    let o = enable(s.path(), None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let new = snapshot(s.path());
    assert!(FILES.iter().all(|f| old[f] != new[f]), "every file changes");
    (old, new)
}

/// Every fault point of `docker enable default` on 7 files.
fn steps() -> Vec<String> {
    let mut v = vec!["lock:1".to_string(), "journal:1".into(), "done:1".into()];
    for step in ["create", "write", "fsync", "rename"] {
        for n in 1..=FILES.len() {
            v.push(format!("{step}:{n}"));
        }
    }
    v
}

#[test]
fn a_kill_at_every_step_is_finished_by_the_next_run() {
    let (old, new) = expected();
    let mut c = Counts::default();
    for step in steps() {
        let (s, o) = c.run_with_fault(&format!("kill:{step}"));
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&o.status),
            Some(9),
            "{step}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        c.count_torn(&snapshot(s.path()), &old, &new);
        c.finish(&s, ENABLE, &new);
    }
    c.report("kill at each of 31 steps of docker enable default, then the same command");
}

#[test]
fn a_failure_before_the_renames_changes_nothing_and_during_them_names_repair() {
    let (old, new) = expected();
    let mut c = Counts::default();
    for step in steps() {
        let (s, o) = c.run_with_fault(&format!("fail:{step}"));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{step} succeeded");
        assert_eq!(err.lines().count(), 1, "{step}: {err}");
        let now = snapshot(s.path());
        c.count_torn(&now, &old, &new);
        if step.starts_with("rename") && step != "rename:1" {
            // Interrupted in the middle: the error names the repair.
            assert_eq!(o.status.code(), Some(3), "{step}: {err}");
            assert!(err.contains("hostmatch repair --root"), "{step}: {err}");
            c.finish(&s, &["repair"], &new);
        } else if step == "done:1" {
            // Every file replaced; only the journal is left, for the next edit.
            assert_eq!(now, new);
            c.finish(&s, &["repair"], &new);
        } else {
            if now != old {
                eprintln!("partial after {step}");
                c.partial += 1;
            }
            let left = leftovers(s.path());
            c.leftovers += left.len();
            assert!(left.is_empty(), "{step}: {left:?}");
        }
    }
    c.report("a failing step of docker enable default (31 steps)");
}

/// A tiny pseudo-random sequence (the seed is printed to replay a run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[test]
fn kills_at_random_moments_are_finished_by_the_next_run() {
    let (old, new) = expected();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut rng = Lcg(seed);
    let mut c = Counts::default();
    let mut killed = 0;
    for _ in 0..60 {
        let s = full_sysroot();
        let mut child = under(s.path(), ENABLE)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.next(40_000)));
        let _ = child.kill();
        let status = child.wait().unwrap();
        killed += usize::from(!status.success());
        c.runs += 1;
        c.count_torn(&snapshot(s.path()), &old, &new);
        c.finish(&s, ENABLE, &new);
    }
    eprintln!("{killed} of 60 runs were killed before they finished");
    c.report("SIGKILL at a random moment of docker enable default, then the same command");
}

#[test]
fn twenty_parallel_subid_adds_lose_no_update() {
    let mut c = Counts::default();
    for round in 0..20 {
        let users: String = (0..20)
            .map(|i| format!("u{i}:x:{}:{}::/home/u{i}:/bin/sh\n", 2000 + i, 2000 + i))
            .collect();
        let s = Sysroot::new(Some("# managed\n"), Some(""));
        s.write("etc/passwd", &format!("{}{users}", common::PASSWD));
        let children: Vec<_> = (0..20)
            .map(|i| {
                under(s.path(), &["subid", "add", &format!("u{i}")])
                    .env("HOSTMATCH_LOCK_TIMEOUT", "60")
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let codes: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        c.runs += codes.len();
        let (uid, gid) = (s.read("etc/subuid"), s.read("etc/subgid"));
        for (i, o) in codes.iter().enumerate() {
            assert!(
                o.status.success(),
                "round {round}: u{i}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let mine = |t: &str| {
                t.lines()
                    .filter(|l| l.starts_with(&format!("u{i}:")))
                    .count()
            };
            if mine(&uid) != 1 || mine(&gid) != 1 {
                c.lost += 1;
            }
        }
        let v = s.run(&["subid", "check", "--json"]).json();
        let problems = v["problems"].as_array().unwrap();
        c.lost += problems.iter().filter(|p| p["kind"] == "overlap").count();
        c.leftovers += leftovers(s.path()).len();
    }
    c.report("20 rounds of 20 parallel subid add");
}

/// `subid add alice`, giving up on a held lock after 0.3 s.
fn add_alice_waiting_briefly(s: &Sysroot) -> common::Run {
    let o = under(s.path(), &["subid", "add", "alice"])
        .env("HOSTMATCH_LOCK_TIMEOUT", "0.3")
        .output()
        .unwrap();
    common::Run::from(o)
}

#[test]
fn a_lock_held_by_a_running_tool_makes_hostmatch_wait_then_exit_4_naming_it() {
    let s = Sysroot::new(Some(""), Some(""));
    let mut holder = Command::new("sleep").arg("30").spawn().unwrap();
    s.write("etc/subuid.lock", &format!("{}\0", holder.id()));
    let r = add_alice_waiting_briefly(&s);
    r.assert_one_line_error(4, &format!("locked by sleep (pid {})", holder.id()));
    assert_eq!(s.read("etc/subuid"), "", "nothing written");
    // Once the holder is gone, its lock is stale and is taken over.
    holder.kill().unwrap();
    holder.wait().unwrap();
    let r = s.run(&["subid", "add", "alice"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(s.read("etc/subuid").starts_with("alice:"));
    assert!(!s.file("etc/subuid.lock").exists());
}

#[test]
fn pwd_lock_held_with_fcntl_by_another_process_is_waited_for() {
    testkit::prereq!(testkit::have_cmd("perl"), "perl (holds lckpwdf's lock)");
    let s = Sysroot::new(Some(""), Some(""));
    // The same POSIX write lock glibc's lckpwdf() takes, held for 30 s.
    let script = r#"use Fcntl; open(my $f, ">", $ARGV[0]) or die;
        my $l = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0);
        fcntl($f, F_SETLK, $l) or die "lock: $!";
        print "locked\n"; $| = 1; sleep 30;"#;
    let mut holder = Command::new("perl")
        .args(["-e", script])
        .arg(s.file("etc/.pwd.lock"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(testkit::first_line(&mut holder), "locked");
    add_alice_waiting_briefly(&s).assert_one_line_error(4, &format!("perl (pid {})", holder.id()));
    assert_eq!(s.read("etc/subuid"), "");
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(s.run(&["subid", "add", "alice"]).code, 0);
}

#[test]
fn a_full_disk_changes_nothing_and_says_so() {
    testkit::prereq!(testkit::is_root(), "root (mounts a small tmpfs)");
    let s = full_sysroot();
    let etc = s.file("etc");
    let saved = tempfile::tempdir().unwrap();
    let cp = |from: &Path, to: &Path| {
        assert!(Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", from.display()))
            .arg(to)
            .status()
            .unwrap()
            .success())
    };
    cp(&etc, saved.path());
    let _fs = testkit::Mounted::tmpfs(&etc, "64k");
    cp(saved.path(), &etc);
    // Fill the file system.
    let _ = std::fs::write(etc.join("filler"), vec![b'x'; 128 * 1024]);
    enable_refused_without_change(
        &s,
        "no space left on the device; nothing written",
        "docker enable default on a full disk",
    );
}

/// Runs `docker enable default`, which must fail with exit 3 and `needle`,
/// leaving every file and no temp file behind.
fn enable_refused_without_change(s: &Sysroot, needle: &str, what: &str) {
    let before = snapshot(s.path());
    let r = common::Run::from(enable(s.path(), None));
    let c = Counts {
        runs: 1,
        partial: usize::from(snapshot(s.path()) != before),
        leftovers: leftovers(s.path()).len(),
        ..Counts::default()
    };
    r.assert_one_line_error(3, needle);
    c.report(what);
}

#[test]
fn an_immutable_file_changes_nothing_and_says_so() {
    testkit::prereq!(testkit::is_root(), "root (chattr +i)");
    let s = full_sysroot();
    let set = |flag: &str| {
        Command::new("chattr")
            .arg(flag)
            .arg(s.file("etc/gshadow"))
            .status()
    };
    let supported = set("+i").is_ok_and(|st| st.success());
    testkit::prereq!(
        supported,
        "a file system with chattr +i below {}",
        s.path().display()
    );
    // chattr -i again even when the assertions fail (tempdir removal needs it).
    struct Mutable<'a>(&'a dyn Fn(&str) -> std::io::Result<std::process::ExitStatus>);
    impl Drop for Mutable<'_> {
        fn drop(&mut self) {
            let _ = (self.0)("-i");
        }
    }
    let _undo = Mutable(&set);
    enable_refused_without_change(
        &s,
        "etc/gshadow: is immutable or append-only",
        "docker enable default with an immutable gshadow",
    );
}

#[test]
fn a_read_only_file_system_says_so() {
    testkit::prereq!(testkit::is_root(), "root (mounts a read-only bind mount)");
    let s = full_sysroot();
    let etc = s.file("etc");
    let ok = |args: &[&str]| {
        Command::new("mount")
            .args(args)
            .arg(&etc)
            .arg(&etc)
            .status()
            .unwrap()
            .success()
    };
    assert!(ok(&["--bind"]));
    let _guard = testkit::Mounted::at(&etc);
    assert!(ok(&["-o", "remount,ro,bind"]));
    let r = s.run(&["subid", "add", "bob"]);
    r.assert_one_line_error(3, "read-only file system");
    assert!(!r.stderr.contains("needs root"), "{}", r.stderr);
}

#[test]
fn acls_and_xattrs_are_kept_by_an_edit() {
    testkit::prereq!(
        testkit::have_cmd("setfacl"),
        "setfacl (apt-get install acl)"
    );
    let s = full_sysroot();
    let shadow = s.file("etc/shadow");
    let st = Command::new("setfacl")
        .args(["-m", "u:1000:r"])
        .arg(&shadow)
        .status()
        .unwrap();
    testkit::prereq!(
        st.success(),
        "ACLs on the file system of {}",
        s.path().display()
    );
    let acl = |p: &Path| {
        String::from_utf8(
            Command::new("getfacl")
                .args(["-c", "-n"])
                .arg(p)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
    };
    let before = acl(&shadow);
    assert!(before.contains("user:1000:r--"), "{before}");
    let o = enable(s.path(), None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(s.read("etc/shadow").contains("dockremap:!"));
    assert_eq!(acl(&shadow), before);
}

/// `useradd`, `usermod` and `groupadd` (shadow-utils, with `--root`) run at
/// the same time as hostmatch on one sysroot.
#[test]
fn shadow_tools_and_hostmatch_side_by_side_lose_no_update() {
    testkit::prereq!(testkit::is_root(), "root (useradd --root chroots)");
    for t in ["useradd", "usermod", "groupadd"] {
        testkit::prereq!(testkit::have_cmd(t), "{t} (apt-get install passwd)");
    }
    let s = Sysroot::new(Some(""), Some(""));
    let hosts: String = (0..30)
        .map(|i| format!("h{i}:x:{}:{}::/home/h{i}:/bin/sh\n", 3000 + i, 3000 + i))
        .collect();
    s.write("etc/passwd", &format!("{}{hosts}", common::PASSWD));
    s.write("etc/shadow", "root:*:19000:0:99999:7:::\n");
    s.write("etc/gshadow", "root:*::\n");
    if let Ok(defs) = std::fs::read_to_string("/etc/login.defs") {
        s.write("etc/login.defs", &defs);
    }
    let mut c = Counts::default();
    let mut tool_refusals = 0;
    for k in 0..30 {
        let root = s.path().to_str().unwrap().to_string();
        let spawn = |prog: &str, args: Vec<String>| {
            Command::new(prog)
                .args(&args)
                .env("HOSTMATCH_LOCK_TIMEOUT", "60")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let range = format!("{}-{}", 500_000_000 + k * 10, 500_000_000 + k * 10 + 9);
        let jobs = vec![
            (
                "useradd",
                spawn(
                    "useradd",
                    vec!["--root".into(), root.clone(), "-M".into(), format!("s{k}")],
                ),
            ),
            (
                "usermod",
                spawn(
                    "usermod",
                    vec![
                        "--root".into(),
                        root.clone(),
                        "-v".into(),
                        range.clone(),
                        format!("h{k}"),
                    ],
                ),
            ),
            (
                "groupadd",
                spawn(
                    "groupadd",
                    vec!["--root".into(), root.clone(), format!("g{k}")],
                ),
            ),
            (
                "hostmatch",
                spawn(
                    env!("CARGO_BIN_EXE_hostmatch"),
                    vec![
                        "--root".into(),
                        root.clone(),
                        "subid".into(),
                        "add".into(),
                        format!("h{k}"),
                    ],
                ),
            ),
        ];
        let outs: Vec<(&str, Output)> = jobs
            .into_iter()
            .map(|(n, ch)| (n, ch.wait_with_output().unwrap()))
            .collect();
        c.runs += outs.len();
        let has = |f: &str, prefix: &str| s.read(f).lines().any(|l| l.starts_with(prefix));
        for (name, o) in &outs {
            if !o.status.success() {
                // A tool may give up on a lock (it says so); that is not a lost update.
                eprintln!(
                    "{name} round {k}: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                tool_refusals += 1;
                continue;
            }
            let present = match *name {
                "useradd" => {
                    has("etc/passwd", &format!("s{k}:"))
                        && has("etc/shadow", &format!("s{k}:"))
                        && has("etc/subuid", &format!("s{k}:"))
                }
                "usermod" => s
                    .read("etc/subuid")
                    .lines()
                    .any(|l| l == format!("h{k}:{}:10", 500_000_000 + k * 10)),
                "groupadd" => {
                    has("etc/group", &format!("g{k}:")) && has("etc/gshadow", &format!("g{k}:"))
                }
                _ => has("etc/subuid", &format!("h{k}:")) && has("etc/subgid", &format!("h{k}:")),
            };
            if !present {
                eprintln!("lost: {name} round {k}");
                c.lost += 1;
            }
        }
    }
    c.leftovers = leftovers(s.path()).len();
    eprintln!("tool refusals (no change, said so): {tool_refusals}");
    c.report("30 rounds of useradd, usermod -v, groupadd and hostmatch subid add on one sysroot");
}
