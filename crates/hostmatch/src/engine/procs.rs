//! The daemon processes of the host (from the proc directory), their command
//! lines, and which of them holds a given socket.
//!
//! A daemon is matched to the client's socket in three ways, best first:
//! 1. it holds the listening socket open (`/proc/net/unix` gives the socket's inode,
//!    `/proc/PID/fd` who holds it; needs root to see other users' processes);
//! 2. its command line names the socket (`-H unix://PATH`; no `-H`: Docker's default
//!    socket; `-H fd://`: the sockets systemd's `docker.socket` listens on);
//! 3. its data root is the one the engine reports (`-H fd://` on a socket of its own);
//! 4. it is the only daemon of its kind.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::endpoint::{unix_socket, DOCKER_SOCKET};
use crate::procfs::{pids, split_nul, status_uid};
use crate::sysroot::Sysroot;

/// A process of the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    pub pid: u32,
    /// Its real uid.
    pub uid: u32,
    pub argv: Vec<String>,
}

impl Process {
    /// The file name of `argv[0]` (`dockerd`, `podman`).
    pub fn program(&self) -> &str {
        self.argv
            .first()
            .map(|a| a.rsplit('/').next().unwrap_or(a))
            .unwrap_or("")
    }
}

/// Every process whose program is one of `programs`, by pid.
pub fn processes(root: &Sysroot, programs: &[&str]) -> Vec<Process> {
    let dir = root.proc_path("");
    let mut out = Vec::new();
    for pid in pids(&dir).unwrap_or_default() {
        let Ok(pid) = u32::try_from(pid) else {
            continue;
        };
        let path = dir.join(pid.to_string());
        let Ok(raw) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let argv = split_nul(&raw);
        let p = Process { pid, uid: 0, argv };
        if !programs.contains(&p.program()) {
            continue;
        }
        let uid = std::fs::read_to_string(path.join("status"))
            .ok()
            .and_then(|s| status_uid(&s))
            .unwrap_or(0);
        out.push(Process { uid, ..p });
    }
    out.sort_by_key(|p| p.pid);
    out
}

/// dockerd's flags that take a value, with their short forms.
const VALUE_SHORTS: &[char] = &['H', 'G', 'g', 'p', 'b', 'l'];

/// A dockerd command line, as far as sockets and remapping go. Flags are read the
/// way dockerd's flag library reads them: `--flag V`, `--flag=V`, `-H V`, `-H=V`,
/// `-HV`, short flags grouped (`-DH V`); `--` ends the flags; a repeated single-value
/// flag keeps its last value, `-H` accumulates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DockerdArgs {
    /// Every `-H`/`--host`, in order (empty: Docker's default socket).
    pub hosts: Vec<String>,
    /// Every `--userns-remap` value, in order (dockerd uses the last).
    pub userns_remap_values: Vec<String>,
    pub config_file: Option<String>,
    pub data_root: Option<String>,
}

impl DockerdArgs {
    /// Parses a process's argv; None when the program is not dockerd.
    pub fn parse(argv: &[String]) -> Option<DockerdArgs> {
        let prog = argv.first()?;
        if prog.rsplit('/').next() != Some("dockerd") {
            return None;
        }
        let mut a = DockerdArgs::default();
        let mut it = argv[1..].iter();
        while let Some(arg) = it.next() {
            if arg == "--" {
                break;
            }
            if let Some(long) = arg.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                if matches!(
                    name,
                    "host" | "userns-remap" | "config-file" | "data-root" | "graph"
                ) {
                    if let Some(v) = inline.or_else(|| it.next().cloned()) {
                        a.set(name, v);
                    }
                }
            } else if let Some(shorts) = arg.strip_prefix('-') {
                a.shorts(shorts, &mut it);
            }
        }
        Some(a)
    }

    fn shorts<'a>(&mut self, shorts: &str, it: &mut impl Iterator<Item = &'a String>) {
        for (i, c) in shorts.char_indices() {
            if !VALUE_SHORTS.contains(&c) {
                continue;
            }
            let rest = &shorts[i + c.len_utf8()..];
            let value = if rest.is_empty() {
                it.next().cloned()
            } else {
                Some(rest.trim_start_matches('=').to_string())
            };
            if let Some(v) = value {
                match c {
                    'H' => self.set("host", v),
                    'g' => self.set("graph", v),
                    _ => {}
                }
            }
            return;
        }
    }

    fn set(&mut self, name: &str, v: String) {
        match name {
            "host" => self.hosts.push(v),
            "userns-remap" => self.userns_remap_values.push(v),
            "config-file" => self.config_file = Some(v),
            _ => self.data_root = Some(v),
        }
    }

    /// The `--userns-remap` dockerd applies (its last value).
    pub fn userns_remap(&self) -> Option<&str> {
        self.userns_remap_values.last().map(String::as_str)
    }

    /// The daemon.json it reads (`--config-file`, else `/etc/docker/daemon.json`).
    pub fn config_path(&self) -> &str {
        self.config_file
            .as_deref()
            .unwrap_or("/etc/docker/daemon.json")
    }

    /// The unix sockets it listens on. `activation`: the sockets systemd hands over
    /// for `fd://` (socket activation, as the stock `docker.service` starts dockerd).
    pub fn sockets(&self, activation: &[PathBuf]) -> Vec<PathBuf> {
        if self.hosts.is_empty() {
            return vec![PathBuf::from(DOCKER_SOCKET)];
        }
        let mut out = Vec::new();
        for h in &self.hosts {
            if h.starts_with("fd://") {
                out.extend(activation.iter().cloned());
            } else if let Some(p) = unix_socket(h) {
                out.push(p);
            }
        }
        out
    }
}

/// The sockets `podman system service` listens on: its URI argument, else (no
/// URI: socket activation or the default) the default socket for its user.
pub fn podman_service_sockets(p: &Process) -> Option<Vec<PathBuf>> {
    if p.program() != "podman" {
        return None;
    }
    let pos = p
        .argv
        .windows(2)
        .position(|w| w[0] == "system" && w[1] == "service")?;
    let uri = p.argv[pos + 2..]
        .iter()
        .find_map(|a| a.strip_prefix("unix://").map(PathBuf::from));
    Some(match uri {
        Some(s) => vec![s],
        None if p.uid == 0 => vec![PathBuf::from(super::endpoint::PODMAN_ROOTFUL_SOCKET)],
        None => vec![PathBuf::from(format!(
            "/run/user/{}/podman/podman.sock",
            p.uid
        ))],
    })
}

/// `ListenStream=` paths of a systemd socket unit.
pub fn listen_streams(unit: &str) -> Vec<PathBuf> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix("ListenStream="))
        .map(str::trim)
        .filter(|v| v.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

/// The sockets systemd's `docker.socket` listens on (`/run/docker.sock` when no unit
/// file is found below the root).
pub fn docker_activation_sockets(root: &Sysroot) -> Vec<PathBuf> {
    for dir in [
        "etc/systemd/system",
        "run/systemd/system",
        "lib/systemd/system",
        "usr/lib/systemd/system",
    ] {
        if let Ok(Some(text)) = root.read_opt(&format!("{dir}/docker.socket")) {
            let s = listen_streams(&text);
            if !s.is_empty() {
                return s;
            }
        }
    }
    vec![PathBuf::from("/run/docker.sock")]
}

/// Whether two socket paths name the same socket (`/var/run` is `/run` on every
/// current distribution; existing paths are compared after resolving symlinks).
pub fn same_socket(a: &Path, b: &Path) -> bool {
    let norm = |p: &Path| -> PathBuf {
        if let Ok(c) = std::fs::canonicalize(p) {
            return c;
        }
        match p.strip_prefix("/var/run") {
            Ok(rest) => Path::new("/run").join(rest),
            Err(_) => p.to_path_buf(),
        }
    };
    a == b || norm(a) == norm(b)
}

/// The inode of the listening unix socket bound at `path`, from `/proc/net/unix`
/// (`Num RefCount Protocol Flags Type St Inode Path`; listening sockets have the
/// `__SO_ACCEPTCON` flag 0x10000).
pub fn listening_inode(net_unix: &str, path: &Path) -> Option<u64> {
    net_unix.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let flags = u32::from_str_radix(f.get(3)?, 16).ok()?;
        let bound = Path::new(f.get(7)?);
        (flags & 0x10000 != 0 && same_socket(bound, path))
            .then(|| f.get(6)?.parse().ok())
            .flatten()
    })
}

/// Among `candidates`, the pids with an open file on socket `inode` (processes
/// whose fds cannot be read are left out).
pub fn holders(root: &Sysroot, inode: u64, candidates: &[u32]) -> Vec<u32> {
    let target = format!("socket:[{inode}]");
    candidates
        .iter()
        .copied()
        .filter(|pid| {
            let Ok(fds) = std::fs::read_dir(root.proc_path(&format!("{pid}/fd"))) else {
                return false;
            };
            fds.flatten().any(|fd| {
                std::fs::read_link(fd.path())
                    .map(|t| t.as_os_str() == target.as_str())
                    .unwrap_or(false)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    /// One table of dockerd command lines: what each listens on and which remap it applies.
    #[test]
    fn dockerd_command_lines() {
        let act = [PathBuf::from("/run/docker.sock")];
        /// (command line, sockets, userns-remap in effect, config file)
        type Case<'a> = (&'a str, &'a [&'a str], Option<&'a str>, Option<&'a str>);
        let cases: &[Case] = &[
            ("/usr/bin/dockerd", &["/var/run/docker.sock"], None, None),
            (
                "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock",
                &["/run/docker.sock"],
                None,
                None,
            ),
            (
                "dockerd -H unix:///a.sock --host=unix:///b.sock -Hunix:///c.sock -H=unix:///d.sock --host tcp://0.0.0.0:2375",
                &["/a.sock", "/b.sock", "/c.sock", "/d.sock"],
                None,
                None,
            ),
            (
                "dockerd -DH unix:///grouped.sock --debug",
                &["/grouped.sock"],
                None,
                None,
            ),
            (
                "dockerd --userns-remap=alice --userns-remap bob",
                &["/var/run/docker.sock"],
                Some("bob"),
                None,
            ),
            (
                "dockerd --config-file /srv/d.json --config-file=/etc/other.json -H fd://",
                &["/run/docker.sock"],
                None,
                Some("/etc/other.json"),
            ),
            (
                "dockerd --iptables=false --userns-remap default -- --userns-remap=late",
                &["/var/run/docker.sock"],
                Some("default"),
                None,
            ),
            ("dockerd -H unix://", &["/var/run/docker.sock"], None, None),
        ];
        for (line, sockets, remap, config) in cases {
            let a = DockerdArgs::parse(&argv(line)).unwrap_or_else(|| panic!("{line}"));
            let want: Vec<PathBuf> = sockets.iter().map(PathBuf::from).collect();
            assert_eq!(a.sockets(&act), want, "sockets of {line}");
            assert_eq!(a.userns_remap(), *remap, "remap of {line}");
            assert_eq!(a.config_file.as_deref(), *config, "config of {line}");
        }
        let twice = DockerdArgs::parse(&argv("dockerd --userns-remap=a --userns-remap=b")).unwrap();
        assert_eq!(twice.userns_remap_values, ["a", "b"]);
        assert_eq!(
            DockerdArgs::parse(&argv("dockerd --data-root /d -g /old"))
                .unwrap()
                .data_root
                .as_deref(),
            Some("/old")
        );
        assert!(DockerdArgs::parse(&argv("/usr/bin/containerd --config x")).is_none());
        assert!(DockerdArgs::parse(&argv("dockerd-rootless.sh")).is_none());
    }

    #[test]
    fn podman_service_sockets_by_uri_or_user() {
        let p = |uid, s: &str| Process {
            pid: 1,
            uid,
            argv: argv(s),
        };
        assert_eq!(
            podman_service_sockets(&p(
                0,
                "/usr/bin/podman --root /x system service --time=0 unix:///tmp/p.sock"
            )),
            Some(vec![PathBuf::from("/tmp/p.sock")])
        );
        assert_eq!(
            podman_service_sockets(&p(1000, "podman system service")),
            Some(vec![PathBuf::from("/run/user/1000/podman/podman.sock")])
        );
        assert_eq!(
            podman_service_sockets(&p(0, "podman system service --time 0")),
            Some(vec![PathBuf::from("/run/podman/podman.sock")])
        );
        assert_eq!(podman_service_sockets(&p(0, "podman run x")), None);
    }

    #[test]
    fn proc_files_are_read() {
        assert_eq!(
            split_nul(b"/usr/bin/dockerd\0-H\0fd://\0"),
            ["/usr/bin/dockerd", "-H", "fd://"]
        );
        assert_eq!(
            status_uid("Name:\tx\nUid:\t1000\t1000\t1000\t1000\n"),
            Some(1000)
        );
        let net = "Num       RefCount Protocol Flags    Type St Inode Path\n\
                   0000000000000000: 00000002 00000000 00010000 0001 01 4242 /run/docker.sock\n\
                   0000000000000000: 00000003 00000000 00000000 0001 03 4343 /run/docker.sock\n";
        assert_eq!(
            listening_inode(net, Path::new("/run/docker.sock")),
            Some(4242)
        );
        assert_eq!(
            listening_inode(net, Path::new("/var/run/docker.sock")),
            Some(4242)
        );
        assert_eq!(listening_inode(net, Path::new("/tmp/other.sock")), None);
        assert_eq!(
            listen_streams("[Socket]\nListenStream=/run/docker.sock\nListenStream=2375\n"),
            [PathBuf::from("/run/docker.sock")]
        );
    }

    #[test]
    fn daemons_are_found_in_a_fake_proc() {
        let d = tempfile::tempdir().unwrap();
        for (pid, argv, uid) in [
            ("10", "/usr/bin/dockerd\0-H\0fd://\0--userns-remap=bob\0", 0),
            ("11", "bash\0", 0),
            ("12", "dockerd-wrapper\0", 0),
            ("13", "/usr/bin/podman\0system\0service\0", 1000),
        ] {
            std::fs::create_dir_all(d.path().join(pid)).unwrap();
            std::fs::write(d.path().join(pid).join("cmdline"), argv).unwrap();
            std::fs::write(
                d.path().join(pid).join("status"),
                format!("Uid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
            )
            .unwrap();
        }
        let root = Sysroot::default().with_proc(d.path());
        let p = processes(&root, &["dockerd", "podman"]);
        assert_eq!(
            p.iter().map(|p| (p.pid, p.uid)).collect::<Vec<_>>(),
            [(10, 0), (13, 1000)]
        );
        assert_eq!(
            DockerdArgs::parse(&p[0].argv).unwrap().userns_remap(),
            Some("bob")
        );
    }
}
