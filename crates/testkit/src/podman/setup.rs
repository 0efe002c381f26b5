//! Creating a Podman fixture: its directory, configuration files, the namespace holder
//! (rootful) or the test user (rootless).

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use super::{Holder, Podman, PodmanConfig, Rootless, RootlessConfig, DEFAULT_PATH};
use crate::{procs, HostSubids, HostUser};

/// Where the fixtures' directories live: `/tmp/hostmatch-testkit/p`.
pub(super) fn fixtures_dir() -> PathBuf {
    crate::state_dir().join("p")
}

/// Sweeps dead fixtures, then creates `p/<pid>-<n>/` (mode 0755: a rootless user must
/// reach its home below it) with the `owner` record.
fn new_dir() -> crate::Result<PathBuf> {
    super::sweep_dead_podman();
    let top = fixtures_dir();
    fs::create_dir_all(&top).with_context(|| format!("creating {}", top.display()))?;
    for d in [crate::state_dir(), top.clone()] {
        let mode = d.metadata()?.permissions().mode();
        if mode & 0o005 != 0o005 {
            fs::set_permissions(&d, fs::Permissions::from_mode(mode | 0o755))?;
        }
    }
    let name = crate::unique_name("").trim_start_matches('-').to_string();
    let dir = top.join(name);
    if dir.exists() {
        // Same pid and counter as a dead run's directory: clear it first.
        procs::teardown_dir(&dir).map_err(anyhow::Error::msg)?;
    }
    fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
    fs::write(dir.join("owner"), format!("{}\n", std::process::id()))?;
    Ok(dir)
}

fn mkdirs(base: &Path, dirs: &[&str]) -> crate::Result<()> {
    for d in dirs {
        let p = base.join(d);
        fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    }
    Ok(())
}

/// `containers.conf`: the settings this machine needs (see docs/testing.md), the
/// fixture's private paths, and the caller's extra lines, grouped by table.
fn containers_conf(tables: &[(&str, String)], extra: &[(String, String)]) -> String {
    let mut by_table: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let base = [
        (
            "containers",
            r#"default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]"#,
        ),
        ("containers", r#"netns = "none""#),
        ("engine", r#"runtime = "runc""#),
        ("engine", r#"cgroup_manager = "cgroupfs""#),
        ("engine", r#"events_logger = "file""#),
        ("engine", r#"lock_type = "file""#),
    ];
    for (t, l) in base {
        by_table.entry(t).or_default().push(l);
    }
    for (t, l) in tables {
        by_table.entry(t).or_default().push(l);
    }
    for (t, l) in extra {
        by_table.entry(t).or_default().push(l);
    }
    // Sub-tables after their parent ("engine" < "engine.runtimes" in byte order).
    let mut text = String::from("# hostmatch test fixture (crates/testkit/src/podman)\n");
    for (t, lines) in by_table {
        text.push_str(&format!("\n[{t}]\n"));
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
    }
    text
}

fn storage_conf(driver: &str, graphroot: &Path, runroot: &Path) -> String {
    format!(
        "[storage]\ndriver = {driver:?}\ngraphroot = {}\nrunroot = {}\n",
        toml_str(graphroot),
        toml_str(runroot)
    )
}

/// A path as a TOML basic string (Rust's escapes of `"` and `\\` are TOML's).
fn toml_str(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// See [`Podman::rootful`] and [`Podman::rootful_with_etc`].
pub(super) fn rootful(config: PodmanConfig, etc: Option<&Path>) -> crate::Result<Podman> {
    let runc = crate::which("runc").context("runc is not installed (apt-get install runc)")?;
    crate::which("podman").context("podman is not installed (apt-get install podman)")?;
    let dir = new_dir()?;
    // From here on, dropping `podman` removes what was made.
    let mut podman = Podman {
        dir: dir.clone(),
        holder: None,
        rootless: None,
        env: base_env(&dir.join("home"), &dir.join("tmpdir")),
        config: config.clone(),
    };
    mkdirs(
        &dir,
        &[
            "root", "runroot", "tmp", "tmpdir", "net", "runc", "bin", "home", "work",
        ],
    )?;
    let ns_dirs = ["upper", "work"].map(|d| ["varlib", "run"].map(|m| format!("ns/{m}/{d}")));
    mkdirs(
        &dir,
        &ns_dirs
            .iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )?;
    let (conf, storage) = write_rootful_files(&dir, &runc, &config)?;
    podman.env.extend([
        ("CONTAINERS_CONF".into(), conf.display().to_string()),
        (
            "CONTAINERS_STORAGE_CONF".into(),
            storage.display().to_string(),
        ),
    ]);
    if !config.storage_on_disk {
        mount_tmpfs(&dir.join("root"), 0, 0)?;
    }
    podman.holder = Some(start_holder(&dir, etc)?);
    Ok(podman)
}

/// The runc wrapper, `containers.conf` and `storage.conf` of a rootful fixture; returns
/// the paths of the two configuration files.
fn write_rootful_files(
    dir: &Path,
    runc: &Path,
    config: &PodmanConfig,
) -> crate::Result<(PathBuf, PathBuf)> {
    // runc keeps its state in /run/runc unless told `--root`; Podman has no setting for
    // that, so its runtime is a wrapper that adds it.
    let wrapper = dir.join("bin/runc");
    let runc_root = dir.join("runc");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {} --root {} \"$@\"\n",
            runc.display(),
            runc_root.display()
        ),
    )?;
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))?;
    let setting = |key: &str, path: &Path| format!("{key} = {}", toml_str(path));
    let tables = [
        ("engine", setting("tmp_dir", &dir.join("tmp"))),
        (
            "engine",
            setting("events_logfile_path", &dir.join("events.log")),
        ),
        ("engine", setting("image_copy_tmp_dir", &dir.join("tmpdir"))),
        (
            "engine.runtimes",
            format!("runc = [{}]", toml_str(&wrapper)),
        ),
        ("network", setting("network_config_dir", &dir.join("net"))),
    ];
    let conf = dir.join("containers.conf");
    fs::write(&conf, containers_conf(&tables, &config.containers_conf))?;
    let storage = dir.join("storage.conf");
    let driver = config.storage_driver.as_str();
    let text = storage_conf(driver, &dir.join("root"), &dir.join("runroot"));
    fs::write(&storage, text)?;
    Ok((conf, storage))
}

/// The environment of every command: nothing of the test's own.
fn base_env(home: &Path, tmp: &Path) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOME".into(), home.display().to_string()),
        ("TMPDIR".into(), tmp.display().to_string()),
        ("LANG".into(), "C.UTF-8".into()),
    ]
}

/// The holder: `sh` in new mount and network namespaces, with overlays on `/var/lib` and
/// `/run` whose upper layers are in the fixture; it waits for EOF on its stdin.
/// `$0`: the fixture's directory; `$1`, if given: a directory to bind-mount over `/etc`.
const HOLDER_SCRIPT: &str = r#"set -e
if [ -n "$1" ]; then mount --bind "$1" /etc; fi
for d in varlib:/var/lib run:/run; do
  n=${d%%:*} m=${d#*:}
  mount -t overlay "hmt-podman-$n" -o "lowerdir=$m,upperdir=$0/ns/$n/upper,workdir=$0/ns/$n/work" "$m"
done
echo ready
read -r _ || :
"#;

fn start_holder(dir: &Path, etc: Option<&Path>) -> crate::Result<Holder> {
    let unshare = crate::which("unshare").context("unshare (util-linux) is missing")?;
    let log = fs::File::create(dir.join("ns.log"))?;
    let mut child = Command::new(unshare)
        .args(["--mount", "--net", "--propagation", "private", "--"])
        .args(["/bin/sh", "-c", HOLDER_SCRIPT])
        .arg(dir)
        .args(etc)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("starting the namespace holder (unshare)")?;
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    let _ = BufReader::new(stdout).read_line(&mut line);
    let pid = child.id() as i32;
    let mnt = procs::mount_ns(pid);
    let ours = procs::mount_ns(std::process::id() as i32);
    match mnt {
        Some(mnt) if line.trim() == "ready" && Some(&mnt) != ours.as_ref() => {
            fs::write(dir.join("mnt"), format!("{mnt}\n"))?;
            Ok(Holder { child, mnt })
        }
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the namespace holder did not start: {}",
                fs::read_to_string(dir.join("ns.log")).unwrap_or_default()
            )
        }
    }
}

/// See [`Podman::rootless`].
pub(super) fn rootless(config: RootlessConfig) -> crate::Result<Podman> {
    crate::which("podman").context("podman is not installed (apt-get install podman)")?;
    crate::which("newuidmap").context("newuidmap is not installed (apt-get install uidmap)")?;
    let dir = new_dir()?;
    let home = dir.join("home");
    removing_on_error(&dir, || {
        let home_arg = home.display().to_string();
        let name = crate::unique_name(crate::host::USER_PREFIX);
        let user = HostUser::create_with(&name, &["-U", "-d", home_arg.as_str()])?;
        fs::write(dir.join("user"), format!("{} {}\n", user.name, user.uid))?;
        rootless_with_user(config, dir.clone(), user)
    })
}

fn rootless_with_user(
    config: RootlessConfig,
    dir: PathBuf,
    user: HostUser,
) -> crate::Result<Podman> {
    let (home, run) = (dir.join("home"), dir.join("run"));
    let fill = |l: &String| {
        l.replace("{user}", &user.name)
            .replace("{uid}", &user.uid.to_string())
            .replace("{gid}", &user.gid.to_string())
    };
    let subuid: Vec<String> = config.subuid.iter().map(fill).collect();
    let subgid: Vec<String> = config.subgid.iter().map(fill).collect();
    let subids = HostSubids::add(&subuid, &subgid)?;
    let mut env = base_env(&home, &home.join("tmp"));
    env.extend([
        ("USER".into(), user.name.clone()),
        ("LOGNAME".into(), user.name.clone()),
        ("XDG_RUNTIME_DIR".into(), run.display().to_string()),
    ]);
    let podman = Podman {
        dir: dir.clone(),
        holder: None,
        rootless: Some(Rootless {
            _subids: subids,
            user,
        }),
        env,
        config: config.podman.clone(),
    };
    write_user_files(&podman, &config.podman)?;
    Ok(podman)
}

/// Runs `f`; when it fails before a [`Podman`] owns `dir`, removes `dir`.
fn removing_on_error(
    dir: &Path,
    f: impl FnOnce() -> crate::Result<Podman>,
) -> crate::Result<Podman> {
    let r = f();
    if r.is_err() {
        let _ = procs::teardown_dir(dir);
    }
    r
}

/// The rootless user's home (configuration in `~/.config/containers`, so that a plain
/// `podman` in a recipe uses it), runtime directory and work directory, all its own.
fn write_user_files(p: &Podman, config: &PodmanConfig) -> crate::Result<()> {
    let (dir, home) = (p.dir(), p.home());
    mkdirs(&home, &[".config/containers", "tmp"])?;
    mkdirs(dir, &["run", "work"])?;
    // Events go to the default file, $XDG_RUNTIME_DIR/libpod/tmp/events/events.log.
    let conf_dir = home.join(".config/containers");
    fs::write(
        conf_dir.join("containers.conf"),
        containers_conf(&[], &config.containers_conf),
    )?;
    fs::write(
        conf_dir.join("storage.conf"),
        storage_conf(
            config.storage_driver.as_str(),
            &p.graph_root(),
            &dir.join("run/containers"),
        ),
    )?;
    let (uid, gid) = p.host_ids();
    if !config.storage_on_disk && tmpfs_has_user_xattrs() {
        let store = home.join(".local/share/containers");
        fs::create_dir_all(&store)?;
        mount_tmpfs(&store, uid, gid)?;
    }
    chown_tree(&home, uid, gid)?;
    for d in ["run", "work"] {
        std::os::unix::fs::chown(dir.join(d), Some(uid), Some(gid))?;
    }
    fs::set_permissions(dir.join("run"), fs::Permissions::from_mode(0o700))?;
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Mounts a tmpfs (mode 0700, owned by `uid`:`gid`) on `dir`, for Podman's storage:
/// this machine's disk discards on delete, and removing a synced Debian image from ext4
/// took 19 s here (tmpfs: nothing). Unmounted by the teardown (it detaches every mount
/// below the fixture's directory).
fn mount_tmpfs(dir: &Path, uid: u32, gid: u32) -> crate::Result<()> {
    use rustix::mount::{mount, MountFlags};
    let data = std::ffi::CString::new(format!("mode=0700,uid={uid},gid={gid}"))?;
    mount(
        "hmt-podman-storage",
        dir,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        Some(data.as_c_str()),
    )
    .with_context(|| format!("mounting a tmpfs on {}", dir.display()))
}

/// Whether tmpfs keeps `user.*` extended attributes (Linux >= 6.6): rootless overlay
/// needs them on its upper layer (`userxattr`), so before 6.6 rootless storage stays on disk.
fn tmpfs_has_user_xattrs() -> bool {
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    kernel_at_least(&release, 6, 6)
}

fn kernel_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) -> crate::Result<()> {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid))?;
    if dir.symlink_metadata()?.is_dir() {
        for e in fs::read_dir(dir)? {
            chown_tree(&e?.path(), uid, gid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_conf_groups_lines_by_table_with_sub_tables_after_their_parent() {
        let text = containers_conf(
            &[("engine.runtimes", "runc = [\"/x/runc\"]".into())],
            &[("containers".into(), "userns = \"auto\"".into())],
        );
        let tables: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
        assert_eq!(tables, ["[containers]", "[engine]", "[engine.runtimes]"]);
        let containers = text.split("[engine]").next().unwrap();
        assert!(containers.contains("userns = \"auto\""), "{text}");
        assert!(containers.contains("nofile=20000:20000"), "{text}");
        assert!(text.contains("runtime = \"runc\""), "{text}");
    }

    #[test]
    fn kernel_releases_compare_by_major_and_minor() {
        assert!(kernel_at_least("6.18.44-fc-v669", 6, 6));
        assert!(kernel_at_least("6.6.0", 6, 6));
        assert!(!kernel_at_least("6.1.0-37-amd64", 6, 6));
        assert!(!kernel_at_least("5.19.1", 6, 6));
        assert!(!kernel_at_least("garbage", 6, 6));
    }

    #[test]
    fn rootless_ranges_become_lines_of_the_user() {
        let c = RootlessConfig::ranges(&[(300_000, 10), (200_000, 5)], &[(1, 2)]);
        assert_eq!(c.subuid, ["{user}:300000:10", "{user}:200000:5"]);
        assert_eq!(c.subgid, ["{user}:1:2"]);
    }
}
