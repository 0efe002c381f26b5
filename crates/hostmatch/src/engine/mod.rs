//! The container engine that serves this client, found and asked in one place.
//!
//! - [`endpoint`]: which socket the client talks to (DOCKER_HOST, DOCKER_CONTEXT, the
//!   default sockets of Docker and of Podman rootful and rootless).
//! - [`procs`]: the daemon process behind a socket (`/proc`), and dockerd command lines.
//! - [`podman_conf`]: Podman's user-namespace settings (containers.conf, storage.conf).
//! - `client` (feature `engine`): the Engine API over the unix socket (bollard).
//! - `ask` (feature `engine`): asks the engine and the host once, giving an [`Engine`].
//!
//! The rules an engine applies to /etc/subuid and /etc/subgid are pure functions, one per
//! [`RuleSet`], in [`crate::remap`] (Docker) and [`crate::podman`] (Podman); this module
//! only says which set applies. Nothing here needs the feature except the two I/O modules,
//! so the setuid entrypoint, which links this library without it, links no HTTP client.

pub mod endpoint;
pub mod podman_conf;
pub mod procs;

#[cfg(feature = "engine")]
pub mod ask;
#[cfg(feature = "engine")]
pub mod client;

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::{Error, Result};

/// Docker Engine or Podman.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Docker,
    Podman,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Docker => "Docker",
            EngineKind::Podman => "Podman",
        }
    }
}

/// An engine version, `MAJOR.MINOR.PATCH` (distribution suffixes such as
/// `+dfsg1` or `-rc.1` are dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    /// Reads `20.10.24+dfsg1`, `28`, `28.5`, `v29.0.0-rc.1`. None unless it starts with a number.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim().trim_start_matches('v');
        let mut nums = s.split('.').map(|p| {
            let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        });
        let major = nums.next().flatten()?;
        let minor = nums.next().flatten().unwrap_or(0);
        let patch = nums.next().flatten().unwrap_or(0);
        Some(Version {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The rules an engine applies to /etc/subuid and /etc/subgid when it builds a
/// container's uid_map and gid_map. See docs/dockerd-remap-behaviour.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleSet {
    /// Docker Engine 20.10 to 27 `--userns-remap`: the user's uid lines, or when there are
    /// none its name lines, stacked in file order; a damaged line stops the daemon.
    DockerUpTo27,
    /// Docker Engine 28 and later `--userns-remap`: name and uid lines together, in file
    /// order; a field that is not a number reads as 0.
    DockerFrom28,
    /// Podman run by root: no user namespace unless asked (`--userns=auto` takes the
    /// `containers` ranges, lowest host ids first).
    PodmanRootful,
    /// Podman run by a user: container root is the user, container ids 1.. are the user's
    /// ranges (read by shadow's libsubid), lowest host ids first.
    PodmanRootless,
}

impl RuleSet {
    /// The rules of Docker Engine `v`.
    pub fn for_docker(v: Version) -> RuleSet {
        if v.major >= 28 {
            RuleSet::DockerFrom28
        } else {
            RuleSet::DockerUpTo27
        }
    }

    /// A short name, as printed and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            RuleSet::DockerUpTo27 => "docker-up-to-27",
            RuleSet::DockerFrom28 => "docker-28-and-later",
            RuleSet::PodmanRootful => "podman-rootful",
            RuleSet::PodmanRootless => "podman-rootless",
        }
    }

    /// One sentence: which lines are used, in which order.
    pub fn describe(self) -> &'static str {
        match self {
            RuleSet::DockerUpTo27 => "Docker 20.10 to 27: the lines written with the user's uid, or, when there are none, those written with its name, stacked from container id 0 in file order",
            RuleSet::DockerFrom28 => "Docker 28 and later: the lines written with the user's name and those written with its uid together, stacked from container id 0 in file order (a field that is not a number counts as 0)",
            RuleSet::PodmanRootful => "rootful Podman: no user namespace by default; --userns=auto takes the `containers` user's ranges, lowest host ids first",
            RuleSet::PodmanRootless => "rootless Podman: container root is the user itself, container ids from 1 are the user's ranges (name and uid lines) ordered by host id",
        }
    }

    /// Whether this is one of Docker's rule sets.
    pub fn is_docker(self) -> bool {
        matches!(self, RuleSet::DockerUpTo27 | RuleSet::DockerFrom28)
    }
}

impl Serialize for RuleSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What `--engine` names: a Docker version or Podman.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    Docker(Version),
    Podman,
}

impl EngineChoice {
    /// Parses `docker:VERSION` or `podman` (`podman:VERSION` is accepted; its rules do not
    /// depend on the version).
    pub fn parse(s: &str) -> Result<EngineChoice> {
        let (name, version) = s.split_once(':').unwrap_or((s, ""));
        match name.to_ascii_lowercase().as_str() {
            "docker" => Version::parse(version).map(EngineChoice::Docker).ok_or_else(|| {
                Error::invalid(format!(
                    "--engine {s}: give Docker's version, e.g. docker:27 or docker:28.5 (its rules changed in 28)"
                ))
            }),
            "podman" => Ok(EngineChoice::Podman),
            _ => Err(Error::invalid(format!(
                "--engine {s}: expected docker:VERSION or podman"
            ))),
        }
    }

    /// The Docker rule set, or an error for Podman (which has no userns-remap).
    pub fn docker_rules(self) -> Result<RuleSet> {
        match self {
            EngineChoice::Docker(v) => Ok(RuleSet::for_docker(v)),
            EngineChoice::Podman => Err(Error::invalid(
                "Podman has no userns-remap setting: use `hostmatch map --engine podman` without SPEC, or `hostmatch map --rootless USER`",
            )),
        }
    }
}

/// Whether the engine's daemon runs as root or as a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Privilege {
    Rootful,
    /// Run by this user (uid, and name when known).
    Rootless {
        uid: u32,
        user: Option<String>,
    },
}

/// The process serving the socket, and how it was recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerProcess {
    pub pid: u32,
    pub uid: u32,
    pub argv: Vec<String>,
    /// `holds the socket` (its open files), `command line` or `the only one`.
    pub found_by: &'static str,
}

/// Where an engine's remap setting comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RemapSource {
    /// `--userns-remap` on the daemon's command line.
    CommandLine { pid: u32 },
    /// `userns-remap` in this config file.
    ConfigFile { path: PathBuf },
}

/// The remapping an engine is configured to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "engine", rename_all = "lowercase")]
pub enum RemapConfig {
    /// Docker: the `userns-remap` setting in effect (None: off).
    Docker {
        spec: Option<String>,
        source: Option<RemapSource>,
        /// Set both on the command line and in the config file: dockerd refuses to start.
        conflict: bool,
    },
    /// Podman: its user-namespace settings.
    Podman(podman_conf::PodmanSettings),
}

/// Everything hostmatch learned about the engine serving this client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Engine {
    pub endpoint: endpoint::Endpoint,
    pub kind: EngineKind,
    /// The version the engine reports (e.g. `20.10.24+dfsg1`).
    pub version: String,
    /// The Engine API version used with it.
    pub api_version: String,
    pub privilege: Privilege,
    /// Docker: `name=userns` is among its security options (it remaps).
    pub userns_remap_active: bool,
    /// The engine's data root (`DockerRootDir`; `.../UID.GID` under Docker's remap).
    pub root_dir: String,
    pub storage_driver: String,
    pub default_runtime: String,
    pub server: Option<ServerProcess>,
    pub remap: RemapConfig,
}

impl Engine {
    /// The version, parsed (None: not a version number).
    pub fn parsed_version(&self) -> Option<Version> {
        Version::parse(&self.version)
    }

    /// The rule set this engine applies.
    pub fn rules(&self) -> RuleSet {
        match (self.kind, &self.privilege) {
            (EngineKind::Podman, Privilege::Rootless { .. }) => RuleSet::PodmanRootless,
            (EngineKind::Podman, Privilege::Rootful) => RuleSet::PodmanRootful,
            (EngineKind::Docker, _) => self
                .parsed_version()
                .map_or(RuleSet::DockerFrom28, RuleSet::for_docker),
        }
    }

    /// `Docker 20.10.24` / `rootless Podman 4.3.1`, for messages.
    pub fn label(&self) -> String {
        let rootless = if matches!(self.privilege, Privilege::Rootless { .. }) {
            "rootless "
        } else {
            ""
        };
        format!("{rootless}{} {}", self.kind.name(), self.version)
    }

    /// The choice `--engine` would make for this engine.
    pub fn choice(&self) -> EngineChoice {
        match (self.kind, self.parsed_version()) {
            (EngineKind::Docker, Some(v)) => EngineChoice::Docker(v),
            (EngineKind::Docker, None) => EngineChoice::Docker(Version {
                major: 28,
                minor: 0,
                patch: 0,
            }),
            (EngineKind::Podman, _) => EngineChoice::Podman,
        }
    }
}

/// The Docker Engine packages dpkg knows, in the order they are looked for.
const DOCKER_PACKAGES: [&str; 4] = ["docker-ce", "docker.io", "moby-engine", "docker-engine"];

/// The first of `names` that dpkg's status file lists as installed: its name and
/// version (without the epoch).
pub fn dpkg_installed(status: &str, names: &[&str]) -> Option<(String, String)> {
    let mut found: Vec<(usize, String, String)> = Vec::new();
    for para in status.split("\n\n") {
        let field = |k: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        let (Some(pkg), Some(st), Some(ver)) =
            (field("Package:"), field("Status:"), field("Version:"))
        else {
            continue;
        };
        if !st.ends_with(" installed") {
            continue;
        }
        if let Some(rank) = names.iter().position(|n| *n == pkg) {
            let ver = ver
                .split_once(':')
                .map_or(ver.as_str(), |(_, v)| v)
                .to_string();
            found.push((rank, pkg, ver));
        }
    }
    found.sort();
    found.into_iter().next().map(|(_, p, v)| (p, v))
}

/// The Docker Engine package installed below `root`, from dpkg's status file.
pub fn installed_docker(root: &crate::sysroot::Sysroot) -> Option<(String, Version)> {
    let status = root.read_opt("var/lib/dpkg/status").ok()??;
    let (pkg, ver) = dpkg_installed(&status, &DOCKER_PACKAGES)?;
    Some((pkg, Version::parse(&ver)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_docker_from_dpkg_status() {
        let status = "Package: bash\nStatus: install ok installed\nVersion: 5.2\n\n\
                      Package: docker-ce\nStatus: deinstall ok config-files\nVersion: 5:28.5.2-1~debian.12\n\n\
                      Package: docker.io\nStatus: install ok installed\nVersion: 20.10.24+dfsg1-1+deb12u1+b6\n";
        assert_eq!(
            dpkg_installed(status, &DOCKER_PACKAGES),
            Some(("docker.io".into(), "20.10.24+dfsg1-1+deb12u1+b6".into()))
        );
        let status = status.replace("deinstall ok config-files", "install ok installed");
        let (p, v) = dpkg_installed(&status, &DOCKER_PACKAGES).unwrap();
        assert_eq!(
            (p.as_str(), Version::parse(&v).unwrap().major),
            ("docker-ce", 28)
        );
        assert_eq!(dpkg_installed("", &DOCKER_PACKAGES), None);
    }

    #[test]
    fn versions_of_distributions_and_release_candidates() {
        let v = |s| Version::parse(s).map(|v| (v.major, v.minor, v.patch));
        assert_eq!(v("20.10.24+dfsg1"), Some((20, 10, 24)));
        assert_eq!(v("28"), Some((28, 0, 0)));
        assert_eq!(v("v29.0.0-rc.1"), Some((29, 0, 0)));
        assert_eq!(v("4.3.1"), Some((4, 3, 1)));
        assert_eq!(v("dev"), None);
        assert_eq!(v(""), None);
    }

    #[test]
    fn docker_rules_change_at_28() {
        let r = |s| RuleSet::for_docker(Version::parse(s).unwrap());
        assert_eq!(r("20.10.24"), RuleSet::DockerUpTo27);
        assert_eq!(r("27.5.1"), RuleSet::DockerUpTo27);
        assert_eq!(r("28.0.0"), RuleSet::DockerFrom28);
        assert_eq!(r("29.7.2"), RuleSet::DockerFrom28);
    }

    #[test]
    fn engine_option_forms() {
        assert_eq!(
            EngineChoice::parse("docker:27.5").unwrap(),
            EngineChoice::Docker(Version::parse("27.5").unwrap())
        );
        assert_eq!(EngineChoice::parse("podman").unwrap(), EngineChoice::Podman);
        assert_eq!(
            EngineChoice::parse("Podman:4.3").unwrap(),
            EngineChoice::Podman
        );
        for bad in ["docker", "docker:x", "lxc", ""] {
            assert!(
                matches!(EngineChoice::parse(bad), Err(Error::Invalid(_))),
                "{bad}"
            );
        }
        assert!(EngineChoice::Podman.docker_rules().is_err());
    }
}
