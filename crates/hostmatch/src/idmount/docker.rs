//! `--for-docker`: the mapping that makes a directory's owner appear as the
//! host ids a container user has under the engine's remapping.
//!
//! The engine serving the client is found and asked by [`crate::engine`]
//! (DOCKER_HOST, DOCKER_CONTEXT, the default sockets of Docker and Podman, the
//! dockerd or Podman process behind the socket, `fd://` included): Docker's
//! security options say whether it remaps and its root directory
//! (`/var/lib/docker/UID.GID`) tells the remapped root; the remap setting comes
//! from `--remap`, the daemon's command line or its config file, and the maps are
//! predicted by the rules of that engine's version. Rootless Podman's maps come
//! from the user's ranges.

use std::path::Path;
#[cfg(feature = "engine")]
use std::time::Duration;

use crate::daemon_json::DaemonJson;
use crate::engine::{EngineChoice, RuleSet};
use crate::ids::{Id, IdMap};
use crate::remap::{Inputs, Target};
use crate::sysroot::Sysroot;
use crate::{Error, Result};

use super::Mapping;

/// How long to wait for the engine to answer.
#[cfg(feature = "engine")]
const ASK_TIMEOUT: Duration = Duration::from_secs(20);

/// The host (uid, gid) of container root, from a remapping daemon's root
/// directory (`.../UID.GID`).
pub fn remapped_root(root_dir: &str) -> Option<(Id, Id)> {
    let last = Path::new(root_dir).file_name()?.to_str()?;
    let (u, g) = last.split_once('.')?;
    Some((u.parse().ok()?, g.parse().ok()?))
}

/// The `userns-remap` key of a daemon.json.
pub fn remap_from_daemon_json(path: &Path, text: &str) -> Result<Option<String>> {
    let dj = DaemonJson::parse(text, path)?;
    Ok(dj.userns_remap(path)?.filter(|s| !s.is_empty()))
}

/// Where the daemon's remapping comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remap {
    /// The daemon does not remap: container ids are host ids.
    None,
    /// The daemon remaps by these (container -> host) maps.
    Maps { uid_map: IdMap, gid_map: IdMap },
    /// Only container root's host ids are known (from the daemon's root dir).
    RootOnly(Id, Id),
}

impl Remap {
    /// The host ids of container user (uid, gid).
    pub fn host_ids(&self, user: (Id, Id)) -> Result<(Id, Id)> {
        match self {
            Remap::None => Ok(user),
            Remap::RootOnly(u, g) if user == (0, 0) => Ok((*u, *g)),
            Remap::RootOnly(..) => Err(Error::Invalid(format!(
                "cannot tell the host ids of container user {}:{}: the daemon's userns-remap \
                 spec was not found; pass --remap SPEC",
                user.0, user.1
            ))),
            Remap::Maps { uid_map, gid_map } => {
                let u = uid_map.to_host(user.0).ok_or_else(|| {
                    Error::Invalid(format!(
                        "container uid {} is not mapped by the daemon's userns-remap",
                        user.0
                    ))
                })?;
                let g = gid_map.to_host(user.1).ok_or_else(|| {
                    Error::Invalid(format!(
                        "container gid {} is not mapped by the daemon's userns-remap",
                        user.1
                    ))
                })?;
                Ok((u, g))
            }
        }
    }
}

/// The mapping that shows `owner`'s files as the host ids of `container_user`.
pub fn plan(owner: (Id, Id), container_user: (Id, Id), remap: &Remap) -> Result<Mapping> {
    Mapping::owner_as(owner, remap.host_ids(container_user)?)
}

/// The container -> host maps of a userns-remap spec on this system, by `rules`
/// (None: the Docker version is unknown, Docker's rule sets must agree).
pub fn maps_of_spec(root: &Sysroot, spec: &str, rules: Option<RuleSet>) -> Result<(IdMap, IdMap)> {
    let accounts = crate::accounts::Accounts::load(root)?;
    crate::remap::check_spec(&accounts, spec)?;
    let inputs = Inputs::load(root)?;
    let p = match rules {
        Some(r) => crate::remap::predict_from_with(&inputs, spec, r)?,
        None => crate::remap::predict_any_docker(&inputs, spec)?.0,
    };
    Ok((p.uid_map, p.gid_map))
}

/// A remapping and the rules that gave it (for the mount's description).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    pub remap: Remap,
    /// `docker-up-to-27 (Docker 20.10.24)`, `podman-rootless (rootless Podman 4.3.1)`.
    pub rules: String,
}

fn learned(remap: Remap, rules: Option<RuleSet>, why: &str) -> Learned {
    let names = match rules {
        Some(r) => r.name().to_string(),
        None => "docker-up-to-27 and docker-28-and-later, which agree here".to_string(),
    };
    Learned {
        remap,
        rules: format!("{names} ({why})"),
    }
}

/// Learns the remapping of the engine serving the client (or of `spec`, by the
/// running engine's rules when it answers, else the installed Docker package's).
pub fn learn_remap(root: &Sysroot, spec: Option<&str>) -> Result<Remap> {
    learn(root, spec, None).map(|l| l.remap)
}

/// Like [`learn_remap`], with the rules of `engine` (`--engine`) for `spec`, and says
/// which rules it applied.
pub fn learn(root: &Sysroot, spec: Option<&str>, engine: Option<EngineChoice>) -> Result<Learned> {
    if let (Some(spec), Some(choice)) = (spec, engine) {
        let rules = choice.docker_rules()?;
        let (u, g) = maps_of_spec(root, spec, Some(rules))?;
        return Ok(learned(remap_or_none(u, g), Some(rules), "--engine"));
    }
    ask_engine(root, spec)
}

/// `spec`'s remapping by the installed Docker package's rules (or, without one, by
/// Docker's rule sets where they agree).
fn by_package(root: &Sysroot, spec: &str, no_engine: &str) -> Result<Learned> {
    let installed = crate::engine::installed_docker(root);
    let rules = installed.as_ref().map(|(_, v)| RuleSet::for_docker(*v));
    let (u, g) = maps_of_spec(root, spec, rules)?;
    let why = match installed {
        Some((pkg, v)) => format!("the installed package {pkg} {v}; {no_engine}"),
        None => no_engine.to_string(),
    };
    Ok(learned(remap_or_none(u, g), rules, &why))
}

#[cfg(not(feature = "engine"))]
fn ask_engine(root: &Sysroot, spec: Option<&str>) -> Result<Learned> {
    match spec {
        Some(spec) => by_package(root, spec, "no engine asked"),
        None => Err(Error::Unsupported(
            "this build cannot ask the engine (no `engine` feature); pass --remap SPEC".into(),
        )),
    }
}

#[cfg(feature = "engine")]
fn ask_engine(root: &Sysroot, spec: Option<&str>) -> Result<Learned> {
    use crate::engine::endpoint::ClientEnv;
    let asked = crate::engine::ask::ask(root, &ClientEnv::from_process(), ASK_TIMEOUT);
    let engine = match (asked, spec) {
        (Ok(a), _) => a.engine,
        (Err(e), Some(spec)) => return by_package(root, spec, &format!("no engine answered: {e}")),
        (Err(e), None) => return Err(e),
    };
    let remap = remap_of_engine(root, &engine, spec)?;
    Ok(learned(remap, Some(engine.rules()), &engine.label()))
}

/// The remapping of an engine that answered (for `spec`, or its own setting).
pub fn remap_of_engine(
    root: &Sysroot,
    engine: &crate::engine::Engine,
    spec: Option<&str>,
) -> Result<Remap> {
    use crate::engine::{EngineKind, Privilege, RemapConfig};
    let rules = engine.rules();
    if engine.kind == EngineKind::Podman {
        return podman_remap(root, engine, spec);
    }
    if let Privilege::Rootless { .. } = engine.privilege {
        return Err(Error::Unsupported(format!(
            "{} is rootless Docker: its maps are not predicted; show the directory with --owner-as or --map",
            engine.label()
        )));
    }
    let configured = match &engine.remap {
        RemapConfig::Docker { spec, .. } => spec.clone(),
        _ => None,
    };
    let spec = spec.map(String::from).or(configured);
    if spec.is_none() && !engine.userns_remap_active {
        return Ok(Remap::None);
    }
    let Some(spec) = spec else {
        return match remapped_root(&engine.root_dir) {
            Some((u, g)) => Ok(Remap::RootOnly(u, g)),
            None => Err(Error::Unsupported(format!(
                "{} remaps user namespaces but its mapping could not be learned; pass --remap SPEC",
                engine.label()
            ))),
        };
    };
    let (uid_map, gid_map) = maps_of_spec(root, &spec, Some(rules))?;
    let remap = remap_or_none(uid_map, gid_map);
    if let (true, Some(r), Remap::Maps { uid_map, gid_map }) = (
        engine.userns_remap_active,
        remapped_root(&engine.root_dir),
        &remap,
    ) {
        if (uid_map.to_host(0), gid_map.to_host(0)) != (Some(r.0), Some(r.1)) {
            return Err(Error::Invalid(format!(
                "{}'s root runs as {}:{} but its userns-remap '{spec}' predicts otherwise by the rules {} (were /etc/subuid or /etc/subgid changed since it started?)",
                engine.label(),
                r.0,
                r.1,
                rules.name()
            )));
        }
    }
    Ok(remap)
}

/// Podman's remapping for a new container: rootless, its user's namespace; rootful
/// without a user namespace, none; rootful with `--userns=auto` by default, refused (each
/// container gets other ids).
fn podman_remap(
    root: &Sysroot,
    engine: &crate::engine::Engine,
    spec: Option<&str>,
) -> Result<Remap> {
    if let Some(spec) = spec {
        return Err(Error::invalid(format!(
            "--remap {spec} is Docker's userns-remap setting, but the engine is {}; leave it out to use Podman's own mapping",
            engine.label()
        )));
    }
    let settings = match &engine.remap {
        crate::engine::RemapConfig::Podman(s) => s.clone(),
        _ => Default::default(),
    };
    match Target::of_engine(engine) {
        None | Some(Target::PodmanRootful(crate::podman::Userns::Host)) => Ok(Remap::None),
        Some(Target::PodmanRootful(_)) => Err(Error::Unsupported(format!(
            "{} gives every container its own ids (userns '{}'): show the directory with --owner-as or --map instead",
            engine.label(),
            settings.userns
        ))),
        Some(t) => {
            let p = crate::remap::predict_target(&Inputs::load(root)?, &t, engine.rules(), &settings)?;
            Ok(remap_or_none(p.uid_map, p.gid_map))
        }
    }
}

fn remap_or_none(uid_map: IdMap, gid_map: IdMap) -> Remap {
    if uid_map.is_empty() && gid_map.is_empty() {
        Remap::None
    } else {
        Remap::Maps { uid_map, gid_map }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdRange;

    #[test]
    fn remapped_root_from_the_root_dir() {
        assert_eq!(
            remapped_root("/tmp/x/data/100000.100000"),
            Some((100000, 100000))
        );
        assert_eq!(remapped_root("/var/lib/docker"), None);
        assert_eq!(remapped_root("/var/lib/docker/1.x"), None);
    }

    #[test]
    fn daemon_json_remap_key() {
        let p = Path::new("/etc/docker/daemon.json");
        assert_eq!(
            remap_from_daemon_json(p, r#"{"userns-remap":"default"}"#).unwrap(),
            Some("default".into())
        );
        assert_eq!(remap_from_daemon_json(p, "{}").unwrap(), None);
        assert!(remap_from_daemon_json(p, "{").is_err());
    }

    #[test]
    fn container_root_under_remap_sees_the_owner_as_itself() {
        let map = IdMap::stacked(&[IdRange::new(100000, 65536).unwrap()]).unwrap();
        let remap = Remap::Maps {
            uid_map: map.clone(),
            gid_map: map,
        };
        let m = plan((1000, 1000), (0, 0), &remap).unwrap();
        assert_eq!(m.seen(1000, 1000), (Some(100000), Some(100000)));
        let m = plan((1000, 1000), (1234, 1234), &remap).unwrap();
        assert_eq!(m.seen(1000, 1000), (Some(101234), Some(101234)));
        assert!(plan((1000, 1000), (70000, 0), &remap).is_err());
    }

    #[test]
    fn without_remap_the_container_user_is_the_host_id() {
        let m = plan((1000, 1000), (1234, 1234), &Remap::None).unwrap();
        assert_eq!(m.seen(1000, 1000), (Some(1234), Some(1234)));
        let r = Remap::RootOnly(100000, 100000);
        assert_eq!(r.host_ids((0, 0)).unwrap(), (100000, 100000));
        assert!(r.host_ids((5, 5)).is_err());
    }
}
