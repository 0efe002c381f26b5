//! The harness itself, against a real dockerd: start/stop, storage drivers, images,
//! cleanup after panics and killed runs, and the host fixtures.

use std::fs;
use std::path::Path;
use std::process::Command;

use testkit::images::{self, ExtraFile};
use testkit::{Dockerd, DockerdConfig, HostSubids, HostUser, StorageDriver};

fn start(driver: StorageDriver) -> Dockerd {
    Dockerd::start(DockerdConfig {
        storage_driver: driver,
        ..Default::default()
    })
    .expect("private dockerd starts")
}

fn busybox_in(d: &Dockerd) {
    let tar = images::busybox_rootfs_tar().expect("busybox image");
    d.import(tar, "busybox");
}

/// Asserts that nothing of a stopped daemon is left: no process, no mount, no directory.
fn assert_gone(dir: &Path, pid: u32) {
    assert!(!dir.exists(), "{} still exists", dir.display());
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "dockerd {pid} still runs"
    );
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&*dir.to_string_lossy()),
        "mounts left below {}",
        dir.display()
    );
    let procs: Vec<String> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| fs::read(e.path().join("cmdline")).ok())
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .filter(|c| c.contains(&*dir.to_string_lossy()))
        .collect();
    assert!(procs.is_empty(), "processes left: {procs:?}");
}

#[test]
fn e2e_overlay2_daemon_runs_busybox_with_the_image_accounts() {
    testkit::prereq_dockerd!();
    let d = start(StorageDriver::Overlay2);
    let info = d.run_ok(["info", "--format", "{{.Driver}}"]);
    assert_eq!(info.trim(), "overlay2");
    busybox_in(&d);
    let script = "id app; id www-data; id nobody; stat -c '%u:%g %a' /home/app /var/www /tmp /root";
    let out = d.run_ok(["run", "--rm", "busybox", "sh", "-c", script]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("uid=1234(app) gid=1234(app)"), "{out}");
    assert!(
        lines[1].starts_with("uid=33(www-data) gid=33(www-data)"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("uid=65534(nobody) gid=65534(nobody)"),
        "{out}"
    );
    assert_eq!(
        &lines[3..],
        ["1234:1234 755", "33:33 755", "0:0 1777", "0:0 700"],
        "{out}"
    );
}

#[test]
fn e2e_vfs_daemon_runs_busybox() {
    testkit::prereq_dockerd!();
    let d = start(StorageDriver::Vfs);
    assert_eq!(d.run_ok(["info", "--format", "{{.Driver}}"]).trim(), "vfs");
    busybox_in(&d);
    let script = "echo hi > /home/app/f && stat -c %u /home/app/f";
    let out = d.run_ok([
        "run", "--rm", "--user", "app", "busybox", "sh", "-c", script,
    ]);
    assert_eq!(out.trim(), "1234");
}

#[test]
fn e2e_daemons_run_side_by_side_with_separate_state() {
    testkit::prereq_dockerd!();
    let a = start(StorageDriver::Overlay2);
    let b = start(StorageDriver::Overlay2);
    assert_ne!(a.host(), b.host());
    busybox_in(&a);
    let images_b = b.run_ok(["images", "-q"]);
    assert!(images_b.trim().is_empty(), "b sees a's image: {images_b}");
}

#[test]
fn e2e_dropping_a_daemon_stops_it_and_removes_everything() {
    testkit::prereq_dockerd!();
    let d = start(StorageDriver::Overlay2);
    busybox_in(&d);
    // A running container: its shim and overlay mount must go too.
    d.run_ok(["run", "-d", "--name", "sleeper", "busybox", "sleep", "600"]);
    let (dir, pid) = (d.dir().to_path_buf(), d.pid().unwrap());
    drop(d);
    assert_gone(&dir, pid);
}

#[test]
fn e2e_a_socket_activated_daemon_serves_its_socket_and_is_stopped_like_the_others() {
    testkit::prereq_dockerd!();
    testkit::prereq!(
        testkit::have_cmd("systemd-socket-activate"),
        "systemd-socket-activate (apt-get install systemd)"
    );
    let d = Dockerd::start_socket_activated(DockerdConfig {
        storage_driver: StorageDriver::Vfs,
        ..Default::default()
    })
    .expect("socket-activated private dockerd");
    // The activator exec'd dockerd in its place: one pid, `-H fd://`, the socket as fd 3.
    let pid = d.pid().unwrap();
    let argv = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let argv = String::from_utf8_lossy(&argv).replace('\0', " ");
    assert!(
        argv.contains("dockerd") && argv.contains("--host=fd://"),
        "{argv}"
    );
    assert!(!argv.contains("systemd-socket-activate"), "{argv}");
    let pidfile = fs::read_to_string(d.dir().join("dockerd.pid")).unwrap();
    assert_eq!(pidfile.trim(), pid.to_string());
    assert_eq!(d.run_ok(["info", "--format", "{{.Driver}}"]).trim(), "vfs");
    let dir = d.dir().to_path_buf();
    drop(d);
    assert_gone(&dir, pid);
}

#[test]
fn e2e_a_panicking_test_still_stops_its_daemon() {
    testkit::prereq_dockerd!();
    let (tx, rx) = std::sync::mpsc::channel();
    let r = std::panic::catch_unwind(move || {
        let d = start(StorageDriver::Vfs);
        tx.send((d.dir().to_path_buf(), d.pid().unwrap())).unwrap();
        panic!("test failure with a live daemon");
    });
    assert!(r.is_err());
    let (dir, pid) = rx.recv().unwrap();
    assert_gone(&dir, pid);
}

#[test]
fn e2e_a_daemon_that_cannot_start_reports_its_log() {
    testkit::prereq_dockerd!();
    let err = Dockerd::start(DockerdConfig {
        userns_remap: Some("hmt-no-such-user".into()),
        ..Default::default()
    })
    .err()
    .expect("dockerd must refuse an unknown remap user");
    let msg = format!("{err:#}");
    assert!(msg.contains("exited during start-up"), "{msg}");
    assert!(msg.contains("hmt-no-such-user"), "log tail missing: {msg}");
}

#[test]
fn e2e_leftovers_of_a_killed_run_are_swept() {
    testkit::prereq!(testkit::is_root(), "root (mounts)");
    // A dead owner: a process that has exited.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let dir = testkit::state_dir().join("d").join(format!("{dead}-999"));
    fs::create_dir_all(dir.join("exec/mnt")).unwrap();
    fs::write(dir.join("owner"), format!("{dead}\n")).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "hmt-sweep-test"])
        .arg(dir.join("exec/mnt"))
        .status()
        .unwrap();
    assert!(st.success());
    // Any sweep removes it: ours, or that of a dockerd test starting in parallel.
    testkit::sweep_dead_daemons();
    assert_gone(&dir, dead);
}

#[test]
fn e2e_debian_image_has_sudo_and_apt() {
    testkit::prereq_dockerd!();
    testkit::prereq!(testkit::have_cmd("debootstrap"), "debootstrap");
    let tar = images::debian_rootfs_tar().expect("debian image");
    let d = start(StorageDriver::Overlay2);
    d.import(&tar, "debian");
    let script =
        "sudo --version | head -1; . /etc/os-release; echo $VERSION_CODENAME; command -v useradd";
    let out = d.run_ok(["run", "--rm", "debian", "sh", "-c", script]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("Sudo version"), "{out}");
    assert_eq!(lines[1], "bookworm");
    assert_eq!(lines[2], "/usr/sbin/useradd");
}

#[test]
fn e2e_scratch_image_with_a_setuid_file_keeps_mode_and_owner() {
    testkit::prereq_dockerd!();
    let bb = testkit::which("busybox").unwrap();
    let scratch = images::scratch_tar(&[(&bb, "/bin/busybox", 0o755)]).unwrap();
    let with = images::with_extra_files(
        &scratch,
        &[
            ExtraFile::root(&bb, "/usr/local/bin/suid", 0o4755),
            ExtraFile {
                src: bb.clone(),
                dest: "/home/app/own".into(),
                mode: 0o700,
                uid: 1234,
                gid: 1234,
            },
        ],
    )
    .unwrap();
    let d = start(StorageDriver::Overlay2);
    d.import(&*with, "scratch");
    let out = d.run_ok([
        "run",
        "--rm",
        "scratch",
        "/bin/busybox",
        "stat",
        "-c",
        "%a %u:%g",
        "/usr/local/bin/suid",
        "/home/app/own",
        "/bin/busybox",
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["4755 0:0", "700 1234:1234", "755 0:0"]
    );
    let path = with.to_path_buf();
    drop(with);
    assert!(!path.exists(), "temporary tarball removed on drop");
}

#[test]
fn host_subids_adds_and_removes_exactly_its_lines() {
    testkit::prereq!(testkit::is_root(), "root (edits the real /etc/subuid)");
    let user = HostUser::unique().unwrap();
    let line = format!("{}:4000000:10", user.name);
    {
        let _s = HostSubids::add(&[line.as_str(), line.as_str()], &[line.as_str()]).unwrap();
        let uid = fs::read_to_string("/etc/subuid").unwrap();
        assert_eq!(uid.lines().filter(|l| *l == line).count(), 2);
        assert!(fs::read_to_string("/etc/subgid")
            .unwrap()
            .lines()
            .any(|l| l == line));
    }
    assert!(!fs::read_to_string("/etc/subuid").unwrap().contains(&line));
    assert!(!fs::read_to_string("/etc/subgid").unwrap().contains(&line));
    assert!(
        HostSubids::add(&["garbage"], &[] as &[&str]).is_err(),
        "malformed lines are refused"
    );
}

#[test]
fn host_user_exists_until_dropped() {
    testkit::prereq!(testkit::is_root(), "root (useradd)");
    let u = HostUser::unique().unwrap();
    let entry = testkit::getent("passwd", &u.name).unwrap().unwrap();
    assert!(entry.starts_with(&format!("{}:x:{}:{}:", u.name, u.uid, u.gid)));
    assert!(testkit::getent("group", &u.name).unwrap().is_some());
    let name = u.name.clone();
    drop(u);
    assert!(testkit::getent("passwd", &name).unwrap().is_none());
    assert!(testkit::getent("group", &name).unwrap().is_none());
}

fn guarded(ran: &mut bool) {
    testkit::prereq!(false, "a thing that is never there");
    *ran = true;
}

fn met(ran: &mut bool) {
    let missing: Result<(), String> = Ok(());
    // The message is formatted only when the prerequisite is missing.
    testkit::prereq!(missing.is_ok(), "{}", missing.as_ref().unwrap_err());
    *ran = true;
}

#[test]
fn prereq_formats_its_message_only_when_missing() {
    let mut ran = false;
    met(&mut ran);
    assert!(ran);
}

#[test]
fn prereq_skips_locally_and_fails_in_ci() {
    std::env::remove_var("CI");
    let mut ran = false;
    guarded(&mut ran);
    assert!(
        !ran,
        "the test body after a missing prerequisite must not run"
    );
    std::env::set_var("CI", "true");
    let r = std::panic::catch_unwind(|| guarded(&mut false));
    let msg = r.expect_err("CI=true: a missing prerequisite fails");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("missing prerequisite: a thing that is never there"),
        "{msg}"
    );
}

#[test]
fn subid_fixtures_can_be_dropped_while_the_lock_is_held() {
    testkit::prereq!(testkit::is_root(), "root (edits the real /etc/subuid)");
    let lock = testkit::SubidLock::acquire().unwrap();
    let u = HostUser::unique().unwrap();
    let line = format!("{}:4100000:10", u.name);
    let s = HostSubids::add_locked(&lock, &[line.as_str()], &[] as &[&str]).unwrap();
    drop(s); // re-locks: must not deadlock
    assert!(!fs::read_to_string("/etc/subuid").unwrap().contains(&line));
    drop(lock);
    // Released: another open file description can take it now.
    let f = fs::File::create(testkit::state_dir().join("subid.lock")).unwrap();
    assert!(
        f.try_lock().is_ok(),
        "the lock is free after the last guard"
    );
}

#[test]
fn e2e_a_killed_test_process_leaves_nothing_after_the_sweep() {
    testkit::prereq_dockerd!();
    let mut holder = Command::new(env!("CARGO_BIN_EXE_hostmatch-testkit"))
        .arg("hold-dockerd")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let line = testkit::first_line(&mut holder);
    let (pid, dir) = line.trim().split_once(' ').expect("pid and dir");
    let (pid, dir): (u32, std::path::PathBuf) = (pid.parse().unwrap(), dir.into());
    assert!(dir.exists());
    holder.kill().unwrap(); // SIGKILL: no Drop runs
    holder.wait().unwrap();
    // The daemon got SIGTERM from the kernel (parent death signal) and stops by itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while fs::metadata(format!("/proc/{pid}")).is_ok() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        fs::metadata(format!("/proc/{pid}")).is_err(),
        "dockerd {pid} outlived its killed owner"
    );
    // Any sweep removes it: ours, or that of a dockerd test starting in parallel.
    testkit::sweep_dead_daemons();
    assert_gone(&dir, pid);
}
