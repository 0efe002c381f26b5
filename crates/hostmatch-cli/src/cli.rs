//! The flag table: every subcommand and option of `hostmatch`, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub const EXIT_CODES: &str = "\
Exit status:
  0  success; every check passed
  1  the command ran and found a problem (a failed check, an unmapped id)
  2  bad input: usage, a malformed file (named FILE:LINE), an unknown user, an id out of range
  3  the system refused: permission, a read-only file system, a full disk, I/O, missing kernel or
     daemon support; an edit of several files interrupted (run `hostmatch repair`); a container
     engine that does not answer within its deadline (10 s a question; audit 15 s, mount
     --for-docker 20 s) or answers what the Engine API does not describe
  4  busy: another program (useradd, usermod, groupadd, another hostmatch) holds the lock of a
     file to edit or changed it meanwhile; nothing was written: try again";

/// Make files written by containers belong to the right people.
#[derive(Debug, Parser)]
#[command(
    name = "hostmatch",
    version,
    about,
    long_about = "hostmatch manages container file ownership: subordinate ids (/etc/subuid, \
/etc/subgid), Docker's userns-remap mapping, ID-mapped volumes and re-owning of trees.",
    after_long_help = EXIT_CODES,
    after_help = "Start with: hostmatch doctor",
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Read and edit system files below DIR instead of / (like `useradd --root`).
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Read process information from DIR instead of /proc.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/proc",
        hide_short_help = true
    )]
    pub proc: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// When to use colours: auto (only on a terminal, never with NO_COLOR), always, never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: ColorWhen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, add, remove and check subordinate id ranges (/etc/subuid, /etc/subgid).
    #[command(subcommand)]
    Subid(SubidCmd),
    /// Print the uid_map and gid_map an engine installs: Docker's userns-remap, rootful or rootless Podman.
    #[command(
        after_help = "Examples:\n  hostmatch map                              # what the running engine does\n  hostmatch map default\n  hostmatch map alice:docker --engine docker:28 --json\n  hostmatch map --rootless alice --keep-id\n  hostmatch map --engine podman --auto=2000\n  hostmatch map --pid $(docker inspect -f '{{.State.Pid}}' web)"
    )]
    Map(MapArgs),
    /// Translate ids between a container and the host.
    #[command(
        after_help = "Examples:\n  hostmatch translate 0 33 --remap default         # container -> host\n  hostmatch translate 100032 --remap alice --to-container\n  hostmatch translate 60 --group --remap alice --engine docker:28 --json\n  hostmatch translate 0 1000 --rootless alice --keep-id"
    )]
    Translate(TranslateArgs),
    /// Show, enable or disable Docker's userns-remap (edits /etc/docker/daemon.json).
    #[command(subcommand)]
    Docker(DockerCmd),
    /// Explain this host: user namespaces, ID-mapped mounts, subuid/subgid, the engine and its remapping.
    #[command(
        after_help = "No engine at the socket is a skipped check. An engine that is there but cannot be used (silent for 10 s, an answer that is not the Engine API's, an API version hostmatch does not speak): the whole report, then one line on stderr, exit 3.\n\nExamples:\n  hostmatch doctor\n  hostmatch doctor --engine docker:28 --json\n  DOCKER_HOST=unix:///run/user/1000/podman/podman.sock hostmatch doctor"
    )]
    Doctor(DoctorArgs),
    /// Re-own entries whose uid (and, independently, gid) is the old one.
    #[command(
        after_help = "Examples:\n  hostmatch chown /srv/data --from 1234:1234 --to 1000:1000\n  hostmatch chown /srv/data --from 1234: --to alice: --dry-run"
    )]
    Chown(ChownArgs),
    /// Move every uid and gid inside a range by an ID map (LXD's fuidshift for Docker volumes).
    #[command(
        after_help = "Examples:\n  hostmatch shift /srv/vol --map 0:100000:65536\n  hostmatch shift /srv/vol --map 0:100000:65536 --reverse"
    )]
    Shift(ShiftArgs),
    /// Take back files your rootless containers wrote (owned by your subordinate ids), without sudo.
    #[command(
        long_about = "Take back files your rootless containers wrote: every entry under DIR owned by one \
of your subordinate uids or gids (/etc/subuid, /etc/subgid) becomes yours, uid and gid each on its own; \
everything else is left alone and listed. Run it as the owner of DIR, without sudo: it sets up a user \
namespace with your own ranges through newuidmap/newgidmap (as rootless Podman and rootless Docker do) \
and re-owns inside it, never following symlinks, never leaving DIR's filesystem, writing only what must \
change. Ids of your ranges that belong to host accounts or to another user's ranges are never touched.\n\n\
With --for, the reverse: the tree is given to a container user, at the host ids a rootless engine maps \
that user to (what `podman unshare chown -R UID:GID DIR` does).",
        after_help = "Examples:\n  \
hostmatch reclaim ~/project                  # what your containers wrote is yours again\n  \
hostmatch reclaim ~/project --dry-run --json\n  \
hostmatch reclaim ~/project --for 1000:1000 --rootless   # for container user 1000\n  \
hostmatch reclaim ~/project --for 33 --engine podman\n\n\
Exit status: 0 every entry handled; 1 entries left alone (listed) or errors; 2 bad input (no \
subordinate ids, a directory not yours); 3 the system refused (newuidmap, user namespaces)."
    )]
    Reclaim(ReclaimArgs),
    /// Grant or revoke a user's POSIX ACL entry (setfacl -m u:USER:rwX, with the mask kept right).
    #[command(subcommand)]
    Acl(AclCommand),
    /// Prepare volume directories for a container.
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Host groups for container groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Prove what a container can do to the host: run real probe containers and report.
    #[command(
        after_help = "Needs a running engine: Docker or Podman (DOCKER_HOST, DOCKER_CONTEXT, /var/run/docker.sock, Podman's socket), over its API; no docker CLI. Run as root so that the scratch files are root-owned.\nBuilds image hostmatch-probe:<version> from this binary (no registry) and removes it unless --keep.\n\nExamples:\n  hostmatch audit\n  DOCKER_HOST=unix:///run/user/1000/podman/podman.sock hostmatch audit --json"
    )]
    Audit(AuditArgs),
    /// Internal: the probe that runs inside an audit container.
    #[command(name = "__probe", hide = true)]
    Probe {
        /// The scratch directory to try writes in.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print shell completions for SHELL to standard output.
    #[command(
        after_help = "Example:\n  hostmatch completions bash > /etc/bash_completion.d/hostmatch"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Mount SRC at DST with its owners mapped (an ID-mapped bind mount, Linux 5.12+).
    #[command(
        after_help = "FROM is the id stored on disk, TO the id seen through DST.\n\n\
Examples:\n  hostmatch mount /srv/ws /mnt/ws --owner-as 1234\n  \
hostmatch mount /srv/ws /mnt/ws --map u:1000:100000:1 --map g:1000:100000:1\n  \
hostmatch mount /srv/ws /mnt/ws --for-docker            # container root under userns-remap\n  \
docker run -v /mnt/ws:/work IMAGE"
    )]
    Mount(MountArgs),
    /// List ID-mapped mounts, with the source and mapping of those hostmatch made.
    #[command(after_help = "Examples:\n  hostmatch mounts\n  hostmatch mounts --json")]
    Mounts,
    /// Unmount an ID-mapped mount made with `hostmatch mount`.
    #[command(after_help = "Example:\n  hostmatch umount /mnt/ws")]
    Umount {
        #[arg(value_name = "DST")]
        dst: PathBuf,
    },
    /// Serve ID-mapped volumes to Docker (a volume plugin on a unix socket).
    #[command(after_help = "Examples:\n  \
hostmatch volume-plugin --allow /srv/workspaces\n  \
docker volume create -d hostmatch -o source=/srv/workspaces/ann -o owner-as=1234 ws\n  \
docker run -v ws:/work IMAGE\n\n\
Volume options: source=DIR (required, below an --allow dir), and one of owner-as=UID[:GID], \
map=SPEC[,SPEC...], for-docker=UID[:GID] (with optional remap=SPEC).")]
    VolumePlugin(VolumePluginArgs),
    /// Finish an edit of system files that was interrupted, and remove hostmatch's dead temp files.
    #[command(
        after_help = "Every edit of several files (docker enable, group link, subid add) is one change: if \
it is killed while it replaces the files, the next edit finishes it, or this command does.\n\n\
Examples:\n  hostmatch repair\n  hostmatch repair --root /srv/image-root --json"
    )]
    Repair,
    /// Write man pages for hostmatch and every subcommand into DIR.
    #[command(
        after_help = "Example:\n  hostmatch man target/man && man -l target/man/hostmatch.1"
    )]
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// `hostmatch doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Predict with this engine's rules: docker:VERSION or podman (default: the running
    /// engine's, else the installed Docker package's).
    #[arg(long, value_name = "docker:VERSION|podman")]
    pub engine: Option<String>,
}

/// `hostmatch mount`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mapping").required(true).args(["map", "owner_as", "for_docker"])))]
pub struct MountArgs {
    /// The directory to show.
    #[arg(value_name = "SRC")]
    pub src: PathBuf,
    /// Where to show it (created if missing).
    #[arg(value_name = "DST")]
    pub dst: PathBuf,
    /// Ids stored as FROM.. are seen as TO.. (u: uids, g: gids, b: both, the default).
    #[arg(long, value_name = "[u|g|b:]FROM:TO:COUNT", conflicts_with_all = ["owner_as", "for_docker"])]
    pub map: Vec<String>,
    /// Show SRC's owner as UID:GID (GID defaults to UID); files created as UID:GID land as SRC's owner.
    #[arg(long, value_name = "UID[:GID]", conflicts_with = "for_docker")]
    pub owner_as: Option<String>,
    /// Show SRC's owner as the host ids of a container user under the engine's remapping
    /// (Docker's userns-remap, rootless Podman).
    #[arg(long)]
    pub for_docker: bool,
    /// With --for-docker: the daemon's userns-remap spec (default: ask the daemon).
    #[arg(long, value_name = "SPEC")]
    pub remap: Option<String>,
    /// With --for-docker: the container user (default 0, root).
    #[arg(long, value_name = "UID[:GID]")]
    pub container_user: Option<String>,
    /// With --for-docker --remap: predict by this Docker's rules (docker:VERSION; default:
    /// the running engine's).
    #[arg(long, value_name = "docker:VERSION", requires = "remap")]
    pub engine: Option<String>,
    /// Also map the mounts below SRC.
    #[arg(long)]
    pub recursive: bool,
    /// Make DST read-only.
    #[arg(long)]
    pub read_only: bool,
}

/// `hostmatch volume-plugin`.
#[derive(Debug, Args)]
pub struct VolumePluginArgs {
    /// The unix socket to serve (its file name is the driver name Docker uses).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/run/docker/plugins/hostmatch.sock"
    )]
    pub socket: PathBuf,
    /// Where volumes are recorded and mounted.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/hostmatch/volumes")]
    pub state: PathBuf,
    /// A directory below which sources may be mapped (repeatable; at least one).
    #[arg(long, value_name = "DIR", required = true)]
    pub allow: Vec<PathBuf>,
    /// Most client connections open at once. Beyond it the oldest connection
    /// that has not sent a whole request head is closed to make room; when
    /// every connection is in a request, the new one is refused (HTTP 503).
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub max_connections: u32,
    /// Seconds a client has to send its whole request head after connecting,
    /// and again its whole body; a slower one is cut off.
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub read_timeout: u64,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Keep the probe image hostmatch-probe:<version> afterwards.
    #[arg(long)]
    pub keep: bool,
}

/// Options of the ownership walks.
#[derive(Debug, Args, Clone)]
pub struct WalkArgs {
    /// Count what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Worker threads (0: one per CPU).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
}

#[derive(Debug, Args)]
pub struct ChownArgs {
    /// Trees to re-own (symlinks are re-owned themselves, never followed).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Old owner UID:GID (names or numbers; either side may be empty: `1234:`).
    #[arg(long, value_name = "UID:GID")]
    pub from: String,
    /// New owner UID:GID.
    #[arg(long, value_name = "UID:GID")]
    pub to: String,
    #[command(flatten)]
    pub walk: WalkArgs,
}

/// `hostmatch reclaim`.
#[derive(Debug, Args)]
pub struct ReclaimArgs {
    /// Your directory (owned by you or one of your subordinate uids).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Give the tree to this container user instead: UID, UID:GID or :GID, as ids inside the container.
    #[arg(long = "for", value_name = "UID[:GID]", requires = "stacking")]
    pub for_ids: Option<String>,
    /// With --for: map the container ids as rootless engines do (Podman and Docker must agree).
    #[arg(long, group = "stacking", requires = "for_ids")]
    pub rootless: bool,
    /// With --for: map the container ids as this rootless engine does.
    #[arg(long, value_enum, group = "stacking", requires = "for_ids")]
    pub engine: Option<EngineArg>,
    #[command(flatten)]
    pub walk: WalkArgs,
}

/// A rootless engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    /// Rootless Podman (ranges sorted by start id).
    Podman,
    /// Rootless Docker (RootlessKit; ranges in file order).
    Docker,
}

#[derive(Debug, Args)]
pub struct ShiftArgs {
    /// Trees to shift.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Container ids CONTAINER.. move to HOST.. (COUNT ids); repeatable, no overlaps.
    #[arg(long = "map", required = true, value_name = "CONTAINER:HOST:COUNT")]
    pub maps: Vec<String>,
    /// Shift back (host ids to container ids).
    #[arg(long)]
    pub reverse: bool,
    #[command(flatten)]
    pub walk: WalkArgs,
}

#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Give USER (name or uid) an ACL entry; with --default also on directories' default ACLs.
    #[command(
        after_help = "Example (what setfacl -Rdm u:alice:rwX and setfacl -Rm u:alice:rwX do together):\n  hostmatch acl grant alice /srv/logs --recursive --default"
    )]
    Grant {
        user: String,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Every entry below the paths too.
        #[arg(long, short = 'R')]
        recursive: bool,
        /// Also the default ACL of directories (inherited by new files).
        #[arg(long, short = 'd')]
        default: bool,
        /// Permissions: r, w, x, X (execute for directories and executables only), -.
        #[arg(long, default_value = "rwX")]
        perms: String,
        #[command(flatten)]
        walk: WalkArgs,
    },
    /// Remove USER's ACL entry (and with --default, from default ACLs).
    Revoke {
        user: String,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[arg(long, short = 'R')]
        recursive: bool,
        #[arg(long, short = 'd')]
        default: bool,
        #[command(flatten)]
        walk: WalkArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create DIR (and dirs/files in it) owned by the host ids container ids map to.
    #[command(
        after_help = "The host ids are predicted by the rules of the engine that will read /etc/subuid and /etc/subgid (Docker up to 27 and 28+ read them differently): the running engine's, else --engine's, else the installed Docker package's; the first line printed says which.\n\nExamples:\n  hostmatch volume prepare /srv/www --for 33 --remap default --dirs logs,cache --writable-by alice\n  hostmatch volume prepare /srv/www --for 33 --remap ci-agent --engine docker:28\n  hostmatch volume prepare /srv/www --for 33 --rootless alice        # rootless Podman\n  hostmatch volume prepare /srv/www --for 33:33 --host-ids 100032:100032 --files logs/access.log"
    )]
    Prepare {
        dir: PathBuf,
        /// Container uid[:gid] that will write there.
        #[arg(long = "for", value_name = "CUID[:CGID]")]
        for_ids: String,
        /// Docker's userns-remap setting that maps them (user, user:group, uid, uid:gid,
        /// default). Without it and --host-ids: the running engine's own setting.
        #[arg(long, value_name = "SPEC", conflicts_with = "host_ids")]
        remap: Option<String>,
        /// The host ids directly.
        #[arg(
            long,
            value_name = "UID:GID",
            conflicts_with_all = ["engine", "rootless", "keep_id", "auto"]
        )]
        host_ids: Option<String>,
        #[command(flatten)]
        engine: EngineArgs,
        /// Directories to create below DIR.
        #[arg(long, value_delimiter = ',', value_name = "D,...")]
        dirs: Vec<String>,
        /// Files to create below DIR (never truncated).
        #[arg(long, value_delimiter = ',', value_name = "F,...")]
        files: Vec<String>,
        /// Host user (name or uid) who can edit everything too (ACL, access and default).
        #[arg(long, value_name = "HOSTUSER")]
        writable_by: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create or update host group NAME with the gid container gid CGID maps to.
    #[command(
        after_help = "The gid is predicted by the rules of the engine that will read /etc/subgid (Docker up to 27 and 28+ read it differently): the running engine's, else --engine's, else the installed Docker package's; the first line printed says which.\n\nExamples (a container's docker.sock group 60 for host user alice):\n  hostmatch group link 60 --remap default --name ctr-sock --add alice\n  hostmatch group link 60 --remap default --engine docker:28 --name ctr-sock --dry-run"
    )]
    Link {
        cgid: String,
        /// Docker's userns-remap setting (default: the running engine's own setting).
        #[arg(long, value_name = "SPEC")]
        remap: Option<String>,
        #[command(flatten)]
        engine: EngineArgs,
        /// Host group name.
        #[arg(long)]
        name: String,
        /// Users to add as members.
        #[arg(long, value_name = "USER", num_args = 1..)]
        add: Vec<String>,
        /// Show the diff; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `hostmatch subid ...`
#[derive(Debug, Subcommand)]
pub enum SubidCmd {
    /// List the ranges of every user, or of USER (name or uid).
    #[command(
        after_help = "Examples:\n  hostmatch subid list\n  hostmatch subid list alice --json"
    )]
    List { user: Option<String> },
    /// Give USER ranges in both files, like useradd does (also for system users).
    #[command(
        after_help = "Examples:\n  hostmatch subid add alice\n  hostmatch subid add ci-agent --self        # container root = ci-agent's own uid/gid\n  hostmatch subid add bob --count 131072 --dry-run"
    )]
    Add(SubidAdd),
    /// Remove every range of USER (lines by name or by uid) from both files.
    #[command(after_help = "Example:\n  hostmatch subid remove alice --dry-run")]
    Remove {
        #[arg(required = true, value_name = "USER")]
        users: Vec<String>,
        /// Show the diff, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check both files: syntax, overlaps, ranges covering host accounts, small ranges.
    #[command(
        after_help = "Exit status 1 when any error is found.\n\nExample:\n  hostmatch subid check --json"
    )]
    Check,
}

#[derive(Debug, Args)]
pub struct SubidAdd {
    /// The user (name or uid).
    pub user: String,
    /// How many ids (default: SUB_UID_COUNT / SUB_GID_COUNT from login.defs, else 65536).
    #[arg(long, value_name = "N")]
    pub count: Option<u32>,
    /// The first id (default: the lowest free range in SUB_UID_MIN..SUB_UID_MAX).
    #[arg(long, value_name = "ID")]
    pub start: Option<u32>,
    /// Container root is USER itself: USER:UID:1 first, then COUNT-1 fresh ids (files
    /// container root writes belong to USER, and no other account is covered).
    #[arg(long = "self")]
    pub self_: bool,
    /// Show the diff, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct MapArgs {
    /// Docker's userns-remap setting: user, user:group, uid, uid:gid or default (default:
    /// the running Docker's own setting).
    #[arg(conflicts_with_all = ["pid", "rootless"])]
    pub spec: Option<String>,
    /// Read the maps of a running process instead.
    #[arg(long, value_name = "PID", conflicts_with_all = ["rootless", "engine", "keep_id", "auto"])]
    pub pid: Option<u32>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Which engine's rules a prediction follows, and Podman's modes.
#[derive(Debug, Args, Clone, Default)]
pub struct EngineArgs {
    /// Apply this engine's rules: docker:VERSION (e.g. docker:27, docker:28.5) or podman.
    /// Default: the running engine's (DOCKER_HOST, DOCKER_CONTEXT, the default sockets),
    /// else the installed Docker package's; without either, Docker's rule sets must agree.
    #[arg(long, value_name = "docker:VERSION|podman")]
    pub engine: Option<String>,
    /// Predict rootless Podman run by USER: container root is USER, container ids 1.. are
    /// USER's subordinate ranges (lowest host ids first).
    #[arg(long, value_name = "USER")]
    pub rootless: Option<String>,
    /// Podman's --userns=keep-id: the user's uid and gid (or UID:GID) stay themselves in
    /// the container.
    #[arg(
        long,
        value_name = "UID:GID",
        num_args = 0..=1,
        require_equals = true,
        conflicts_with = "auto"
    )]
    pub keep_id: Option<Option<String>>,
    /// Podman's --userns=auto: SIZE ids from the lowest unused ones (default: Podman's
    /// minimum, 1024; Podman gives more when the image needs it).
    #[arg(long, value_name = "SIZE", num_args = 0..=1, require_equals = true)]
    pub auto: Option<Option<u32>>,
}

/// Where maps come from: a remap setting, a rootless user, or a live process.
#[derive(Debug, Args, Clone)]
#[group(required = false, multiple = false)]
pub struct MapSource {
    /// Docker's userns-remap setting whose maps to use.
    #[arg(long, value_name = "SPEC")]
    pub remap: Option<String>,
    /// The process whose maps to use.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// Ids to translate (container ids; host ids with --to-container).
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<u32>,
    #[command(flatten)]
    pub source: MapSource,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Translate host ids to container ids.
    #[arg(long)]
    pub to_container: bool,
    /// Translate gids (default: uids).
    #[arg(long)]
    pub group: bool,
}

/// `hostmatch docker ...`
#[derive(Debug, Subcommand)]
pub enum DockerCmd {
    /// Show the userns-remap setting (daemon.json, dockerd's command line, the daemon) and its mapping.
    #[command(after_help = "Example:\n  hostmatch docker status --json")]
    Status,
    /// Set userns-remap in daemon.json; `default` also creates dockremap and its ranges as dockerd does.
    #[command(
        after_help = "Examples:\n  hostmatch docker enable                # = default\n  hostmatch docker enable ci-agent --dry-run"
    )]
    Enable {
        /// user, user:group, uid, uid:gid or default.
        #[arg(default_value = "default")]
        spec: String,
        /// Show the diff, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove userns-remap from daemon.json.
    #[command(after_help = "Example:\n  hostmatch docker disable --dry-run")]
    Disable {
        /// Show the diff, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}
