//! The Podman fixtures against real Podman (Debian's 4.3 with runc): rootful and rootless
//! containers and their ID maps, keep-id, the Docker-compatible API, `kube play`,
//! isolation from the host's Podman state, and cleanup after a killed test process.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{images, Podman, RootlessConfig};

fn busybox_in(p: &Podman) {
    p.import(
        images::busybox_rootfs_tar().expect("busybox image"),
        "busybox",
    );
}

/// An ID map: its lines as (inside, outside, count).
type IdMap = Vec<(u64, u64, u64)>;

fn map_lines(text: &str) -> IdMap {
    text.lines()
        .map(|l| {
            let f: Vec<u64> = l.split_whitespace().map(|n| n.parse().unwrap()).collect();
            assert_eq!(f.len(), 3, "not an ID map line: {l:?}");
            (f[0], f[1], f[2])
        })
        .collect()
}

/// Runs a busybox container printing its uid_map, a blank line and its gid_map.
fn container_maps(p: &Podman, extra: &[&str]) -> (IdMap, IdMap) {
    let mut args = vec!["run", "--rm"];
    args.extend(extra);
    args.extend([
        "busybox",
        "sh",
        "-c",
        "cat /proc/self/uid_map; echo; cat /proc/self/gid_map",
    ]);
    let out = p.run_ok(args);
    let (u, g) = out.split_once("\n\n").expect("two maps");
    (map_lines(u), map_lines(g))
}

#[test]
fn e2e_podman_rootful_container_has_the_identity_map_and_private_state() {
    testkit::prereq_podman!();
    let p = Podman::rootful(Default::default()).unwrap();
    busybox_in(&p);
    let (u, g) = container_maps(&p, &[]);
    assert_eq!(u, [(0, 0, 4_294_967_295)]);
    assert_eq!(g, [(0, 0, 4_294_967_295)]);
    let info = p.run_ok([
        "info",
        "--format",
        "{{.Store.GraphRoot}} {{.Host.OCIRuntime.Name}} {{.Host.Security.Rootless}}",
    ]);
    let want = format!("{} runc false", p.graph_root().display());
    assert_eq!(info.trim(), want);
    // Podman writes its blob cache to /var/lib/containers/cache whatever --root says:
    // the fixture's overlay on /var/lib catches it.
    let cache = p
        .dir()
        .join("ns/varlib/upper/containers/cache/blob-info-cache-v1.boltdb");
    assert!(cache.exists(), "{} missing", cache.display());
    // runc's state goes to the fixture, not /run/runc.
    let id = p.run_ok(["run", "-d", "busybox", "sleep", "60"]);
    let state = p.dir().join("runc").join(id.trim()).join("state.json");
    assert!(state.exists(), "{} missing", state.display());
}

#[test]
fn e2e_podman_rootful_kube_play_runs_a_pod_with_run_as_user_and_a_host_path() {
    testkit::prereq_podman!(kube_play);
    let p = Podman::rootful(Default::default()).unwrap();
    busybox_in(&p);
    let data = shared_dir(&p);
    let yaml = p.work_dir().join("pod.yaml");
    fs::write(&yaml, pod_manifest(&data)).unwrap();
    // The default network works: netavark's bridge and rules stay in the fixture's
    // network namespace.
    p.run_ok(["kube", "play", "pod.yaml"]);
    let out = wait_for_logs(&p, "demo-app");
    assert!(out.contains("uid=1234(app) gid=1234(app)"), "{out}");
    // shareProcessNamespace: the infra process (catatonit) is PID 1.
    assert!(out.contains("1 root catatonit"), "{out}");
    let meta = fs::metadata(data.join("made-by-pod")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid()), (1234, 1234));
    p.run_ok(["kube", "down", "pod.yaml"]);
    assert_eq!(p.run_ok(["pod", "ps", "-q"]).trim(), "");
}

/// `<work>/data`, writable by every container user (mode 0777).
fn shared_dir(p: &Podman) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let data = p.work_dir().join("data");
    fs::create_dir(&data).unwrap();
    fs::set_permissions(&data, fs::Permissions::from_mode(0o777)).unwrap();
    data
}

fn pod_manifest(data: &Path) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: demo
spec:
  shareProcessNamespace: true
  restartPolicy: Never
  securityContext:
    runAsUser: 1234
    runAsGroup: 1234
  containers:
  - name: app
    image: localhost/busybox:latest
    args: ["sh", "-c", "id; ps -o pid,user,comm | sed 's/  */ /g; s/^ //'; touch /data/made-by-pod"]
    volumeMounts:
    - name: data
      mountPath: /data
  volumes:
  - name: data
    hostPath:
      path: {}
      type: Directory
"#,
        data.display()
    )
}

/// The logs of container `name` once it has exited (10 s at most).
fn wait_for_logs(p: &Podman, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let st = p.run_ok(["inspect", "--format", "{{.State.Status}}", name]);
        if st.trim() == "exited" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    p.run_ok(["logs", name])
}

#[test]
fn e2e_podman_rootless_uid_map_is_the_user_then_its_ranges_by_host_start() {
    testkit::prereq_podman!(rootless);
    // Lines out of order, by name and by uid, another owner's line in between.
    let p = Podman::rootless(RootlessConfig {
        subuid: vec![
            "{user}:300000:65536".into(),
            "hmt-nobody-0:250000:10".into(),
            "{uid}:200000:1000".into(),
        ],
        subgid: vec!["{user}:400000:5000".into()],
        ..Default::default()
    })
    .unwrap();
    busybox_in(&p);
    let (uid, gid) = p.host_ids();
    let (u, g) = container_maps(&p, &[]);
    let (uid, gid) = (uid as u64, gid as u64);
    assert_eq!(
        u,
        [(0, uid, 1), (1, 200_000, 1000), (1001, 300_000, 65_536)]
    );
    assert_eq!(g, [(0, gid, 1), (1, 400_000, 5000)]);
    // `podman unshare` runs in the same user namespace.
    let outer = p.run_ok(["unshare", "cat", "/proc/self/uid_map"]);
    assert_eq!(map_lines(&outer), u);
}

#[test]
fn e2e_podman_rootless_keep_id_maps_the_user_to_itself() {
    testkit::prereq_podman!(rootless);
    let p = Podman::rootless(Default::default()).unwrap();
    busybox_in(&p);
    let (uid, gid) = p.host_ids();
    // A file written through a bind mount with keep-id belongs to the user on the host;
    // without it, container uid 1234 lands on a subordinate id.
    let out = p.sh_ok(
        "chmod 777 . && \
         podman run --rm --userns=keep-id -v \"$PWD:/w\" busybox sh -c 'id -u; touch /w/kept' && \
         podman run --rm --user 1234:1234 -v \"$PWD:/w\" busybox touch /w/sub && \
         podman run --rm --userns=keep-id busybox cat /proc/self/uid_map",
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(uid.to_string().as_str()), "{out}");
    // keep-id nests a user namespace in the rootless one: its map is relative to that
    // one (the user's uid is 0 there).
    let nested = map_lines(&lines.collect::<Vec<_>>().join("\n"));
    assert!(
        nested.contains(&(uid as u64, 0, 1)),
        "keep-id maps the user's uid to the rootless namespace's 0: {nested:?}"
    );
    use std::os::unix::fs::MetadataExt;
    let kept = fs::metadata(p.work_dir().join("kept")).unwrap();
    assert_eq!((kept.uid(), kept.gid()), (uid, gid));
    let sub = fs::metadata(p.work_dir().join("sub")).unwrap();
    // Default layout: {user}:200000:65536; container 1234 is host 200000 + 1233.
    assert_eq!((sub.uid(), sub.gid()), (201_233, 201_233));
}

#[test]
fn e2e_podman_rootless_kube_play_runs_a_pod() {
    testkit::prereq_podman!(rootless, kube_play);
    let p = Podman::rootless(Default::default()).unwrap();
    busybox_in(&p);
    let data = shared_dir(&p);
    fs::write(p.work_dir().join("pod.yaml"), pod_manifest(&data)).unwrap();
    // Rootless pods get slirp4netns by default, which needs /dev/net/tun: not every
    // machine lets users open it, so the fixture's pods run without a network.
    p.run_ok(["kube", "play", "--network", "none", "pod.yaml"]);
    let out = wait_for_logs(&p, "demo-app");
    assert!(out.contains("uid=1234(app) gid=1234(app)"), "{out}");
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(data.join("made-by-pod")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (201_233, 201_233));
    p.run_ok(["kube", "down", "pod.yaml"]);
}

fn info_json(svc: &testkit::PodmanService<'_>) -> serde_json::Value {
    let (status, body) = svc.get("/v1.40/info").unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn e2e_podman_rootful_api_socket_answers_info() {
    testkit::prereq_podman!();
    let p = Podman::rootful(Default::default()).unwrap();
    let svc = p.start_service().unwrap();
    let info = info_json(&svc);
    assert_eq!(info["Rootless"], false, "{info}");
    assert!(info["ServerVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with('4')));
    assert_eq!(info["DockerRootDir"], p.graph_root().display().to_string());
    assert!(svc.docker_host().starts_with("unix:///"));
    let socket = svc.socket().to_path_buf();
    svc.stop();
    assert!(testkit::api_get(&socket, "/_ping").is_err(), "stopped");
}

#[test]
fn e2e_podman_rootless_api_socket_answers_info() {
    testkit::prereq_podman!(rootless);
    let p = Podman::rootless(Default::default()).unwrap();
    let svc = p.start_service().unwrap();
    let info = info_json(&svc);
    assert_eq!(info["Rootless"], true, "{info}");
    // The Docker CLI's view of the same socket.
    if testkit::have_cmd("docker") {
        let out = Command::new("docker")
            .args(["-H", &svc.docker_host(), "info", "--format", "{{.Driver}}"])
            .env("DOCKER_CONFIG", p.dir())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "overlay");
    }
}

/// Starts `hostmatch-testkit hold-podman KIND`, reads its line, kills it (SIGKILL: no
/// Drop runs), sweeps, and checks that nothing of the fixture is left.
fn killed_holder_leaves_nothing(kind: &str) {
    let mut holder = Command::new(env!("CARGO_BIN_EXE_hostmatch-testkit"))
        .args(["hold-podman", kind])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = testkit::first_line(&mut holder);
    let f: Vec<&str> = line.split_whitespace().collect();
    let [dir, id, pid, socket] = f[..] else {
        panic!("hold-podman printed {line:?}")
    };
    let (dir, pid): (&Path, i32) = (Path::new(dir), pid.parse().unwrap());
    let user = fs::read_to_string(dir.join("user")).ok();
    assert!(alive(pid), "the container runs");
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Any sweep removes it: ours, or that of a Podman test starting in parallel.
    testkit::sweep_dead_podman();
    testkit::sweep_dead_users();
    testkit::sweep_dead_subids().unwrap();
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(!alive(pid), "container process {pid} survived the sweep");
    assert!(testkit::api_get(Path::new(socket), "/_ping").is_err());
    let needle = dir.to_string_lossy();
    let naming: Vec<String> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| alive(e.file_name().to_string_lossy().parse().unwrap()))
        .map(|e| {
            let read = |f: &str| fs::read(e.path().join(f)).unwrap_or_default();
            String::from_utf8_lossy(&[read("cmdline"), read("environ")].concat()).into_owned()
        })
        .filter(|text| text.contains(&*needle))
        .collect();
    assert!(
        naming.is_empty(),
        "processes naming {needle} left: {naming:?}"
    );
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&*needle), "mounts left below {needle}");
    for cg in fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let c = cg.path().join(format!("libpod_parent/libpod-{id}"));
        assert!(!c.exists(), "cgroup {} left", c.display());
    }
    if let Some(user) = user {
        let name = user.split_whitespace().next().unwrap();
        assert!(
            testkit::getent("passwd", name).unwrap().is_none(),
            "{name} left"
        );
        let subuid = fs::read_to_string("/etc/subuid").unwrap();
        assert!(!subuid.contains(name), "subuid lines of {name} left");
    }
}

fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .unwrap()
                .1
                .trim_start()
                .starts_with(['Z', 'X'])
        })
        .unwrap_or(false)
}

#[test]
fn e2e_podman_killed_rootful_test_leaves_nothing_after_the_sweep() {
    testkit::prereq_podman!();
    killed_holder_leaves_nothing("rootful");
}

#[test]
fn e2e_podman_killed_rootless_test_leaves_nothing_after_the_sweep() {
    testkit::prereq_podman!(rootless);
    killed_holder_leaves_nothing("rootless");
}

#[test]
fn e2e_podman_dropping_a_fixture_removes_its_user_lines_and_directory() {
    testkit::prereq_podman!(rootless);
    let p = Podman::rootless(RootlessConfig::ranges(
        &[(500_000, 65_536)],
        &[(500_000, 65_536)],
    ))
    .unwrap();
    busybox_in(&p);
    p.run_ok(["run", "-d", "--user", "1234", "busybox", "sleep", "600"]);
    let (dir, name, uid) = (
        p.dir().to_path_buf(),
        p.user().unwrap().name.clone(),
        p.host_ids().0,
    );
    let line = format!("{name}:500000:65536");
    assert!(fs::read_to_string("/etc/subuid").unwrap().contains(&line));
    drop(p);
    assert!(!dir.exists());
    assert!(testkit::getent("passwd", &name).unwrap().is_none());
    assert!(!fs::read_to_string("/etc/subuid").unwrap().contains(&line));
    let left: Vec<_> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| fs::read_to_string(e.path().join("status")).ok())
        .filter(|s| {
            s.lines().any(|l| {
                l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some(&uid.to_string())
            }) && !s.contains("State:\tZ")
        })
        .collect();
    assert!(left.is_empty(), "processes of {name} left: {left:?}");
}

#[test]
fn e2e_podman_rootful_with_etc_reads_the_copy_s_containers_ranges_for_userns_auto() {
    testkit::prereq_podman!();
    let etc = testkit::EtcCopy::new().unwrap();
    // File order is not the order of use: the lower range comes first.
    let lines = ["containers:2000000:300000", "containers:1000000:70000"];
    etc.append("subuid", &lines).unwrap();
    etc.append("subgid", &["containers:3000000:300000"])
        .unwrap();
    let p = Podman::rootful_with_etc(Default::default(), &etc.etc()).unwrap();
    busybox_in(&p);
    let (u, g) = container_maps(&p, &["--userns=auto"]);
    // The size: the highest id in the image's passwd and group (app, 1234) + 1.
    assert_eq!(u, [(0, 1_000_000, 1235)]);
    assert_eq!(g, [(0, 3_000_000, 1235)]);
    let host = fs::read_to_string("/etc/subuid").unwrap();
    assert!(
        !host.contains(lines[0]),
        "the host's /etc/subuid is not the copy"
    );
}

#[test]
fn e2e_podman_sweep_leaves_live_fixtures_alone() {
    testkit::prereq_podman!(rootless);
    let rootful = Podman::rootful(Default::default()).unwrap();
    let rootless = Podman::rootless(Default::default()).unwrap();
    for p in [&rootful, &rootless] {
        busybox_in(p);
        p.run_ok(["run", "-d", "--name", "live", "busybox", "sleep", "600"]);
    }
    let removed = testkit::sweep_dead_podman();
    testkit::sweep_dead_users();
    for p in [&rootful, &rootless] {
        assert!(
            !removed.iter().any(|d| d == p.dir()),
            "swept a live fixture"
        );
        let state = p.run_ok(["inspect", "--format", "{{.State.Status}}", "live"]);
        assert_eq!(state.trim(), "running");
    }
    let name = &rootless.user().unwrap().name;
    assert!(testkit::getent("passwd", name).unwrap().is_some());
}

#[test]
fn e2e_podman_dropping_a_rootful_fixture_ends_a_container_in_the_host_pid_namespace() {
    testkit::prereq_podman!();
    let p = Podman::rootful(Default::default()).unwrap();
    busybox_in(&p);
    // With --pid=host the container's init ending does not end its other processes.
    let id = p.run_ok([
        "run",
        "-d",
        "--pid=host",
        "busybox",
        "sh",
        "-c",
        "sleep 600 & sleep 600",
    ]);
    let pid: i32 = p
        .run_ok(["inspect", "--format", "{{.State.Pid}}", id.trim()])
        .trim()
        .parse()
        .unwrap();
    let children: Vec<i32> = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap()
        .split_whitespace()
        .map(|c| c.parse().unwrap())
        .collect();
    assert!(!children.is_empty());
    drop(p);
    for c in children {
        assert!(!alive(c), "process {c} of the container survived");
    }
}

#[test]
fn e2e_podman_run_tool_runs_a_command_as_the_rootless_user_and_cleans_up() {
    testkit::prereq_podman!(rootless);
    let out = Command::new(env!("CARGO_BIN_EXE_hostmatch-testkit"))
        .args(["podman-run", "rootless", "--subuid", "{user}:700000:70000"])
        .args(["--env", "GREETING=hi", "--", "sh", "-c"])
        .arg("echo $GREETING; podman run --rm busybox cat /proc/self/uid_map; exit 7")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    let (greeting, map) = stdout.split_once('\n').unwrap();
    assert_eq!(greeting, "hi");
    let map = map_lines(map);
    assert_eq!(map[1..], [(1, 700_000, 70_000)], "{stdout}");
    let dir = stderr
        .split_whitespace()
        .skip_while(|w| *w != "fixture")
        .nth(1)
        .expect("the fixture's directory on stderr");
    assert!(!Path::new(dir).exists(), "{dir} left");
}
