//! `hostmatch audit`: what a container can do to the host, from what real
//! containers were seen doing.
//!
//! - [`probe`]: the part that runs INSIDE a probe container (`hostmatch __probe`):
//!   reads its id maps and tries to create, modify, delete and chown root-owned
//!   files of a scratch host directory, and to read a 0600 file; prints a
//!   [`ProbeReport`] as JSON.
//! - [`image`]: the probe image, a tar stream holding only the hostmatch binary
//!   (and, for a dynamically linked one, its ELF interpreter and libraries).
//! - [`run`]: the host side: scratch directory, `docker import`, the probe
//!   containers, host facts, cleanup (also on a signal).
//! - This module: the finding model and the verdicts, pure functions of
//!   [`Observations`].

pub mod image;
pub mod probe;
#[cfg(feature = "engine")]
pub mod run;

use serde::{Deserialize, Serialize};

use crate::engine::EngineKind;
use crate::ids::{Id, IdMap};
use crate::report::{Finding, Status};

/// The version of the probe report format.
pub const PROBE_FORMAT: u32 = 1;

/// Names of the scratch files (relative to the scratch directory).
pub mod files {
    /// Root-owned 0644 file the probe appends to.
    pub const ROOT_MODIFY: &str = "root-owned";
    /// Root-owned file the probe tries to delete.
    pub const ROOT_DELETE: &str = "root-delete";
    /// Root-owned file the probe tries to chown to 1:1.
    pub const ROOT_CHOWN: &str = "root-chown";
    /// Root-owned 0600 file the probe tries to read.
    pub const PRIVATE: &str = "private";
    /// File owned by a non-root host user (0644) the probe appends to.
    pub const USER_OWNED: &str = "user-owned";
    /// The file the probe tries to create in the root-owned directory.
    pub const CREATED: &str = "created-by-probe";
    /// The content the scratch files start with.
    pub const CONTENT: &str = "hostmatch audit scratch file\n";
}

/// The outcome of one operation the probe tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub ok: bool,
    /// The error when it failed (e.g. "Permission denied (os error 13)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Attempt {
    pub fn from_result<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Self {
        match r {
            Ok(_) => Attempt {
                ok: true,
                error: None,
            },
            Err(e) => Attempt {
                ok: false,
                error: Some(e.to_string()),
            },
        }
    }

    fn word(&self) -> &'static str {
        word(self.ok)
    }
}

/// How an attempt ended, in a sentence.
fn word(succeeded: bool) -> &'static str {
    if succeeded {
        "succeeded"
    } else {
        "refused"
    }
}

/// What the probe prints (JSON), inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub format: u32,
    /// The probe's uid and gid inside the container.
    pub uid: Id,
    pub gid: Id,
    /// `/proc/self/uid_map` and `gid_map` as read.
    pub uid_map: String,
    pub gid_map: String,
    /// The scratch operations; None when the probe ran without `--dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops: Option<ProbeOps>,
}

/// The operations on the scratch directory (as container root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeOps {
    /// Read the root-owned 0644 file (before modifying it): if even this
    /// fails, the scratch directory was not reachable and refusals prove nothing.
    pub read_public: Attempt,
    /// Create a file in the root-owned directory.
    pub create: Attempt,
    /// Append to a root-owned 0644 file.
    pub modify: Attempt,
    /// Delete a root-owned file.
    pub delete: Attempt,
    /// chown a root-owned file to 1:1.
    pub chown: Attempt,
    /// Read a root-owned 0600 file.
    pub read_private: Attempt,
    /// Append to a file of a non-root host user.
    pub modify_user: Attempt,
}

impl ProbeReport {
    /// The observed maps, parsed.
    pub fn maps(&self) -> crate::Result<(IdMap, IdMap)> {
        Ok((IdMap::parse(&self.uid_map)?, IdMap::parse(&self.gid_map)?))
    }
}

/// How the daemon answered a `docker run` with a risky option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", content = "detail", rename_all = "lowercase")]
pub enum Trial {
    /// The container ran (with the probe's report).
    Allowed(Option<Box<ProbeReport>>),
    /// The daemon refused it (its message).
    Refused(String),
    /// The daemon accepted the option, but the container could not start on this
    /// host (the runtime's message): the daemon's policy allows it.
    StartFailed(String),
    /// Something else went wrong (the message); says nothing either way.
    Error(String),
}

impl Trial {
    fn describe(&self, what: &str) -> String {
        match self {
            Trial::Allowed(_) => format!("a container with {what} ran"),
            Trial::Refused(msg) => format!("the daemon refused {what}: {msg}"),
            Trial::StartFailed(msg) => format!(
                "the daemon accepted {what} (the container then failed to start here: {msg})"
            ),
            Trial::Error(msg) => format!("could not tell whether {what} is allowed: {msg}"),
        }
    }
}

/// Who can reach the Docker socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketFacts {
    pub path: String,
    pub mode: u32,
    pub uid: Id,
    pub gid: Id,
    /// The group's name, if known.
    pub group: Option<String>,
    /// Members of the group (from /etc/group) and users whose primary group it is.
    pub members: Vec<String>,
}

/// What the host saw of the probe's operations (stat of the scratch files afterwards).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEffects {
    /// Owner (uid, gid) of the file the probe created, as the host sees it.
    pub created_owner: Option<(Id, Id)>,
    pub root_file_changed: bool,
    pub root_file_deleted: bool,
    pub root_file_chowned: bool,
    pub user_file_changed: bool,
    /// The owner of the user-owned scratch file (uid, account name).
    pub user_owner: (Id, Option<String>),
}

/// The engine's remap mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DaemonMode {
    /// The engine runs as this user (rootless Docker or Podman).
    Rootless {
        user: String,
    },
    /// Docker's userns-remap with the setting when known.
    UsernsRemap(Option<String>),
    /// Rootful Podman giving containers a user namespace by default (its `userns`).
    PodmanUserns(String),
    Plain,
}

/// The prediction `hostmatch map SPEC` makes for the daemon's setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Predicted {
    /// Maps predicted for SPEC.
    Maps {
        spec: String,
        uid_map: IdMap,
        gid_map: IdMap,
    },
    /// No remap: the identity map.
    Identity,
    /// The setting is unknown or the prediction failed (why).
    Unknown(String),
}

/// A host account whose uid container ids map onto.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedAccount {
    pub name: String,
    pub host_uid: Id,
    pub container_uid: Id,
}

/// Everything the verdicts are computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observations {
    /// The engine, as named to the user (`Docker 20.10.24`, `rootless Podman 4.3.1`).
    pub engine: String,
    pub kind: EngineKind,
    pub probe: ProbeReport,
    pub host: HostEffects,
    pub privileged: Trial,
    pub net_host: Trial,
    pub pid_host: Trial,
    pub userns_host: Trial,
    pub predicted: Predicted,
    pub mode: DaemonMode,
    pub socket: Option<SocketFacts>,
    /// `/proc/sys/user/max_user_namespaces`.
    pub max_user_namespaces: Option<u64>,
    /// Host accounts in the observed uid map (container root's first).
    pub mapped_accounts: Vec<MappedAccount>,
    /// Whether the scratch files were root-owned (audit ran as root).
    pub scratch_root_owned: bool,
}

/// The audit's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    pub container_root: ContainerRoot,
    pub verdict: String,
    pub findings: Vec<Finding>,
}

/// Container root's host ids, as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRoot {
    pub uid: Option<Id>,
    pub gid: Option<Id>,
}

impl Audit {
    /// Whether any finding failed.
    pub fn failed(&self) -> bool {
        crate::report::failed(&self.findings)
    }
}

/// What to do about containers running as host root, in the engine's terms.
fn hint_enable(kind: EngineKind) -> &'static str {
    match kind {
        EngineKind::Docker => "hostmatch docker enable default, then restart dockerd (its images must be imported again)",
        EngineKind::Podman => "run Podman rootless, or give containers their own ids: hostmatch subid add containers, then podman run --userns=auto (or userns = \"auto\" in containers.conf)",
    }
}

/// Who can use the engine, for the verdict.
fn who_can(kind: EngineKind) -> &'static str {
    match kind {
        EngineKind::Docker => "any docker user",
        EngineKind::Podman => "whoever can reach Podman's socket",
    }
}

/// Container root's host ids: the owner of the file it created when the host
/// saw one, else what its maps say.
pub fn container_root(o: &Observations) -> ContainerRoot {
    let maps = o.probe.maps().ok();
    let from_maps = |m: Option<&IdMap>| m.and_then(|m| m.to_host(0));
    match o.host.created_owner {
        Some((u, g)) => ContainerRoot {
            uid: Some(u),
            gid: Some(g),
        },
        None => ContainerRoot {
            uid: from_maps(maps.as_ref().map(|m| &m.0)),
            gid: from_maps(maps.as_ref().map(|m| &m.1)),
        },
    }
}

/// The accounts whose uid lies in `uid_map`'s host ranges, by container uid.
pub fn mapped_accounts(uid_map: &IdMap, accounts: &[(String, Id)]) -> Vec<MappedAccount> {
    let mut out: Vec<MappedAccount> = accounts
        .iter()
        .filter_map(|(name, uid)| {
            uid_map.to_container(*uid).map(|c| MappedAccount {
                name: name.clone(),
                host_uid: *uid,
                container_uid: c,
            })
        })
        .collect();
    out.sort_by_key(|a| (a.container_uid, a.name.clone()));
    out
}

/// The host uid of a probe's root, from the maps it read.
fn root_of(r: &ProbeReport) -> Option<Id> {
    r.maps().ok().and_then(|(u, _)| u.to_host(0))
}

fn refusal_finding(
    o: &Observations,
    id: &'static str,
    what: &str,
    t: &Trial,
    allowed: Status,
) -> Finding {
    let remapped = !matches!(o.mode, DaemonMode::Plain);
    match (t, &o.mode) {
        (Trial::Refused(_), _) => Finding::new(id, Status::Ok, t.describe(what), ""),
        (Trial::Allowed(_) | Trial::StartFailed(_), DaemonMode::Rootless { user }) => Finding::new(
            id,
            Status::Ok,
            format!(
                "{}, with no more rights than {user}, who runs {}",
                t.describe(what),
                o.engine
            ),
            "",
        ),
        // It ran, and its own maps show its root is not host root (a user namespace:
        // Podman's --userns=auto keeps one even for --privileged).
        (Trial::Allowed(Some(r)), _) if root_of(r).is_some_and(|u| u != 0) => Finding::new(
            id,
            Status::Ok,
            format!(
                "{}, in a user namespace: its root is host uid {}, not host root",
                t.describe(what),
                root_of(r).unwrap_or_default()
            ),
            "",
        ),
        (Trial::Allowed(_) | Trial::StartFailed(_), _) => Finding::new(
            id,
            allowed,
            t.describe(what),
            if remapped {
                "the daemon allows it despite remapping: check authorization plugins and daemon flags"
            } else {
                hint_enable(o.kind)
            },
        ),
        (Trial::Error(_), _) => Finding::new(id, Status::Warn, t.describe(what), ""),
    }
}

/// What the verdicts share, derived from the observations once.
struct Derived<'a> {
    root: ContainerRoot,
    /// Whether containers get a user namespace (rootless or remapped).
    remapped: bool,
    /// A rootless engine's user: its container root is that user, by design.
    rootless_user: Option<&'a str>,
    /// The host account container root is, when it is one (neither host root
    /// nor the rootless engine's user).
    account: Option<&'a MappedAccount>,
}

impl<'a> Derived<'a> {
    fn of(o: &'a Observations) -> Self {
        let rootless_user = match &o.mode {
            DaemonMode::Rootless { user } => Some(user.as_str()),
            _ => None,
        };
        let account = o
            .mapped_accounts
            .iter()
            .find(|a| a.container_uid == 0 && a.host_uid != 0)
            .filter(|a| Some(a.name.as_str()) != rootless_user);
        Derived {
            root: container_root(o),
            remapped: !matches!(o.mode, DaemonMode::Plain),
            rootless_user,
            account,
        }
    }
}

/// Computes the findings and the one-line verdict.
pub fn evaluate(o: &Observations) -> Audit {
    let d = Derived::of(o);
    let mut out = vec![container_root_finding(o, &d)];
    out.extend(mapped_accounts_finding(o, &d));
    out.extend(scratch_findings(o, &d));
    // Risky options.
    for (id, what, trial, allowed) in [
        ("privileged", "--privileged", &o.privileged, Status::Fail),
        ("net-host", "--net=host", &o.net_host, Status::Warn),
        ("pid-host", "--pid=host", &o.pid_host, Status::Warn),
    ] {
        out.push(refusal_finding(o, id, what, trial, allowed));
    }
    out.push(userns_host_finding(o, &d));
    out.push(mapping_finding(o));
    out.push(daemon_mode_finding(o));
    out.extend(
        o.socket
            .as_ref()
            .map(|s| socket_finding(s, d.remapped, o.kind)),
    );
    out.push(userns_limit_finding(o));
    let write = out
        .iter()
        .find(|f| f.id == "write-root-owned")
        .map(|f| f.status);
    Audit {
        verdict: verdict(o, &d, write),
        container_root: d.root,
        findings: out,
    }
}

/// Who container root is on the host.
fn container_root_finding(o: &Observations, d: &Derived) -> Finding {
    let (root, account, rootless_user) = (d.root, d.account, d.rootless_user);
    match (root.uid, account) {
        (Some(u), None) if rootless_user.is_some() && u != 0 => Finding::new(
            "container-root",
            Status::Ok,
            format!(
                "container root is host uid {u}, the user running {}: containers can do what that user can, no more",
                o.engine
            ),
            "",
        ),
        (Some(0), _) => Finding::new(
            "container-root",
            Status::Fail,
            "container root is host root (uid 0)",
            hint_enable(o.kind),
        ),
        (Some(u), Some(a)) => Finding::new(
            "container-root",
            Status::Fail,
            format!(
                "container root is host uid {u}, the account '{}': every container owns that account's files",
                a.name
            ),
            format!(
                "give '{}' sub-ids that are not its own uid (hostmatch subid remove {0}; hostmatch subid add {0} --self), or remap to a dedicated user: hostmatch docker enable default",
                a.name
            ),
        ),
        (Some(u), None) => Finding::new(
            "container-root",
            Status::Ok,
            format!(
                "container root is host uid {u}, gid {}, no host account",
                root.gid.map_or("?".into(), |g| g.to_string())
            ),
            "",
        ),
        (None, _) => Finding::new(
            "container-root",
            Status::Warn,
            "container root's host uid could not be observed",
            "",
        ),
    }
}

/// Other host accounts the remapped uid range reaches (only when remapped).
fn mapped_accounts_finding(o: &Observations, d: &Derived) -> Option<Finding> {
    if !d.remapped {
        return None;
    }
    let others: Vec<String> = o
        .mapped_accounts
        .iter()
        .filter(|a| a.host_uid != 0 && a.container_uid != 0)
        .map(|a| {
            format!(
                "{} (host uid {} = container uid {})",
                a.name, a.host_uid, a.container_uid
            )
        })
        .collect();
    Some(if others.is_empty() {
        Finding::new(
            "mapped-accounts",
            Status::Ok,
            "no host account lies in the remapped uid range",
            "",
        )
    } else {
        Finding::new(
            "mapped-accounts",
            Status::Fail,
            format!(
                "container users own these host accounts' files: {}",
                others.join(", ")
            ),
            "move the remap user's sub-ids above every account (hostmatch subid check; hostmatch subid add USER --self)",
        )
    })
}

/// What container root did to the scratch files: write, chown, read, and
/// write a user's file.
fn scratch_findings(o: &Observations, d: &Derived) -> Vec<Finding> {
    let mut out = vec![write_finding(o, d)];
    if let Some(ops) = &o.probe.ops {
        let chowned = ops.chown.ok || o.host.root_file_chowned;
        out.push(tried(
            o,
            "chown-root-owned",
            "chown of a root-owned file",
            chowned,
        ));
        let read = ops.read_private.ok;
        out.push(tried(
            o,
            "read-private",
            "reading a root-owned 0600 file",
            read,
        ));
        let (uid, name) = &o.host.user_owner;
        let who = match name {
            Some(n) => format!("{n} (uid {uid})"),
            None => format!("uid {uid}"),
        };
        let what = format!("modifying a 0644 file of host user {who}");
        let changed = ops.modify_user.ok || o.host.user_file_changed;
        out.push(tried(o, "write-user-owned", &what, changed));
    }
    out
}

/// One thing container root tried: a failure (with what to do) when it
/// succeeded.
fn tried(o: &Observations, id: &'static str, what: &str, succeeded: bool) -> Finding {
    let text = format!("container root: {what} {}", word(succeeded));
    if succeeded {
        Finding::new(id, Status::Fail, text, hint_enable(o.kind))
    } else {
        Finding::new(id, Status::Ok, text, "")
    }
}

/// Whether container root could create, modify or delete root-owned files.
fn write_finding(o: &Observations, d: &Derived) -> Finding {
    let root_is_root = d.root.uid == Some(0);
    let ops = o.probe.ops.as_ref();
    let scratch_note = if o.scratch_root_owned {
        ""
    } else {
        " (audit did not run as root: the scratch files belong to the invoking user)"
    };
    match ops {
        Some(ops) if !ops.read_public.ok => Finding::new(
            "write-root-owned",
            Status::Warn,
            format!(
                "inconclusive: the probe could not even read a world-readable scratch file ({}); is the scratch directory's path traversable by container root?",
                ops.read_public.error.as_deref().unwrap_or("refused")
            ),
            "set TMPDIR to a directory every uid can traverse (e.g. /tmp) and run hostmatch audit again",
        ),
        Some(ops) => {
            let (create, modify, delete) = (
                ops.create.ok,
                ops.modify.ok || o.host.root_file_changed,
                ops.delete.ok || o.host.root_file_deleted,
            );
            let text = format!(
                "container root: create in a root-owned dir {}, modify a root-owned file {}, delete one {}{scratch_note}",
                ops.create.word(),
                word(modify),
                word(delete),
            );
            if create || modify || delete {
                let text = if root_is_root {
                    format!("{text}: {} can modify /etc", who_can(o.kind))
                } else {
                    text
                };
                Finding::new("write-root-owned", Status::Fail, text, hint_enable(o.kind))
            } else {
                Finding::new("write-root-owned", Status::Ok, text, "")
            }
        }
        None => Finding::new(
            "write-root-owned",
            Status::Warn,
            "the probe did not run against the scratch directory",
            "",
        ),
    }
}

/// The user-namespace opt-out, `--userns=host`.
fn userns_host_finding(o: &Observations, d: &Derived) -> Finding {
    let (remapped, rootless_user) = (d.remapped, d.rootless_user);
    match (&o.userns_host, remapped) {
        (Trial::Allowed(_) | Trial::StartFailed(_), true) if rootless_user.is_some() => Finding::new(
            "userns-host",
            Status::Ok,
            format!("--userns=host runs in the namespace of the user running {}, not the host's", o.engine),
            "",
        ),
        (Trial::Allowed(_) | Trial::StartFailed(_), true) => Finding::new(
            "userns-host",
            Status::Warn,
            "--userns=host is allowed: anyone who can reach the socket can run a container as host root (the remap opt-out)",
            "only trusted users may reach the engine's socket (see docker-socket); an authorization plugin can refuse --userns=host",
        ),
        (Trial::Allowed(_) | Trial::StartFailed(_), false) => Finding::new(
            "userns-host",
            Status::Fail,
            "no remapping: every container already runs in the host user namespace",
            hint_enable(o.kind),
        ),
        (Trial::Refused(msg), _) => Finding::new(
            "userns-host",
            Status::Ok,
            format!("the daemon refused --userns=host: {msg}"),
            "",
        ),
        (Trial::Error(msg), _) => Finding::new(
            "userns-host",
            Status::Warn,
            format!("could not tell whether --userns=host is allowed: {msg}"),
            "",
        ),
    }
}

/// How the engine runs: rootless, with user namespaces, or neither.
fn daemon_mode_finding(o: &Observations) -> Finding {
    match &o.mode {
        DaemonMode::Rootless { user } => Finding::new(
            "daemon-mode",
            Status::Ok,
            format!("{}: the engine runs as {user}, not root", o.engine),
            "",
        ),
        DaemonMode::PodmanUserns(u) => Finding::new(
            "daemon-mode",
            Status::Ok,
            format!(
                "{} gives containers their own user namespace (userns '{u}')",
                o.engine
            ),
            "",
        ),
        DaemonMode::UsernsRemap(spec) => Finding::new(
            "daemon-mode",
            Status::Ok,
            match spec {
                Some(s) => format!("userns-remap is on ({s})"),
                None => "userns-remap is on".to_string(),
            },
            "",
        ),
        DaemonMode::Plain => Finding::new(
            "daemon-mode",
            Status::Fail,
            format!(
                "{}: neither rootless nor remapping: containers run as host root",
                o.engine
            ),
            hint_enable(o.kind),
        ),
    }
}

/// Whether the kernel allows user namespaces at all.
fn userns_limit_finding(o: &Observations) -> Finding {
    match o.max_user_namespaces {
        Some(0) => Finding::new(
            "userns-limit",
            Status::Warn,
            "user namespaces are disabled (max_user_namespaces = 0)",
            "sysctl -w user.max_user_namespaces=15000 (and in /etc/sysctl.d/)",
        ),
        Some(n) => Finding::new(
            "userns-limit",
            Status::Ok,
            format!("max_user_namespaces = {n}"),
            "",
        ),
        None => Finding::new(
            "userns-limit",
            Status::Warn,
            "max_user_namespaces could not be read",
            "",
        ),
    }
}

/// The one-line verdict: who container root is, and whether root-owned host
/// files were safe (`write`: the write-root-owned finding's status).
fn verdict(o: &Observations, d: &Derived, write: Option<Status>) -> String {
    let (root, account) = (d.root, d.account);
    match (root.uid, account) {
        (Some(0), _) => format!(
            "container root is host root: {} can modify /etc",
            who_can(o.kind)
        ),
        (Some(u), Some(a)) => format!(
            "container root is host uid {u} ({}): containers own that account's files",
            a.name
        ),
        (Some(u), None) => match write {
            Some(Status::Ok) => {
                format!("container root is uid {u}: root-owned host files are safe")
            }
            Some(Status::Fail) => {
                format!("container root is uid {u}: but root-owned host files were NOT safe")
            }
            _ => format!(
                "container root is uid {u}: whether root-owned host files are safe could not be proved"
            ),
        },
        (None, _) => "container root's host uid could not be observed".to_string(),
    }
}

fn mapping_finding(o: &Observations) -> Finding {
    let observed = match o.probe.maps() {
        Ok(m) => m,
        Err(e) => {
            return Finding::new(
                "mapping-matches",
                Status::Warn,
                format!("the probe's id maps could not be parsed: {e}"),
                "",
            )
        }
    };
    let show = |m: &IdMap| {
        m.to_string()
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    match &o.predicted {
        Predicted::Maps {
            spec,
            uid_map,
            gid_map,
        } => {
            if (uid_map, gid_map) == (&observed.0, &observed.1) {
                Finding::new(
                    "mapping-matches",
                    Status::Ok,
                    format!(
                        "observed uid_map {} and gid_map {} = hostmatch map {spec}",
                        show(&observed.0),
                        show(&observed.1)
                    ),
                    "",
                )
            } else {
                Finding::new(
                    "mapping-matches",
                    Status::Fail,
                    format!(
                        "observed uid_map {} gid_map {}, but hostmatch map {spec} predicts uid_map {} gid_map {}",
                        show(&observed.0),
                        show(&observed.1),
                        show(uid_map),
                        show(gid_map)
                    ),
                    "the subuid/subgid files changed since dockerd started (restart it), or the daemon reads other files (hostmatch docker status)",
                )
            }
        }
        Predicted::Identity => {
            let id = IdMap::identity();
            if observed.0 == id && observed.1 == id {
                Finding::new(
                    "mapping-matches",
                    Status::Ok,
                    "no remap: identity maps observed, as predicted",
                    "",
                )
            } else {
                Finding::new(
                    "mapping-matches",
                    Status::Warn,
                    format!(
                        "no remap setting found, but the container had uid_map {} gid_map {}",
                        show(&observed.0),
                        show(&observed.1)
                    ),
                    "hostmatch docker status",
                )
            }
        }
        Predicted::Unknown(why) => Finding::new(
            "mapping-matches",
            Status::Warn,
            format!(
                "observed uid_map {} gid_map {}; no prediction: {why}",
                show(&observed.0),
                show(&observed.1)
            ),
            "hostmatch docker status",
        ),
    }
}

fn socket_finding(s: &SocketFacts, remapped: bool, kind: EngineKind) -> Finding {
    let group = s.group.clone().unwrap_or_else(|| s.gid.to_string());
    let members = if s.members.is_empty() {
        "no members".to_string()
    } else {
        format!("members: {}", s.members.join(", "))
    };
    let base = format!(
        "{} mode {:04o}, group {group} ({members})",
        s.path,
        s.mode & 0o7777
    );
    if s.mode & 0o002 != 0 {
        Finding::new(
            "docker-socket",
            Status::Fail,
            format!("{base}: every local user can start containers"),
            format!("chmod 660 {}", s.path),
        )
    } else if !remapped && !s.members.is_empty() && s.mode & 0o020 != 0 {
        Finding::new(
            "docker-socket",
            Status::Warn,
            format!("{base}: each of them is effectively host root"),
            hint_enable(kind),
        )
    } else {
        Finding::new("docker-socket", Status::Ok, base, "")
    }
}

#[cfg(test)]
mod tests;
