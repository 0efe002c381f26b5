//! The flag table: every subcommand and option of `hostmatch`, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub const EXIT_CODES: &str = "\
Exit status:
  0  success; every check passed
  1  the command ran and found a problem (a failed check, an unmapped id)
  2  bad input: usage, a malformed file (named FILE:LINE), an unknown user, an id out of range
  3  the system refused: permission, I/O, missing kernel or daemon support";

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
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/",
        env = "HOSTMATCH_ROOT"
    )]
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
    /// Print the uid_map and gid_map dockerd installs for a userns-remap setting.
    #[command(
        after_help = "Examples:\n  hostmatch map default\n  hostmatch map alice:docker --json\n  hostmatch map --pid $(docker inspect -f '{{.State.Pid}}' web)"
    )]
    Map(MapArgs),
    /// Translate ids between a container and the host.
    #[command(
        after_help = "Examples:\n  hostmatch translate 0 33 --remap default         # container -> host\n  hostmatch translate 100032 --remap alice --to-container\n  hostmatch translate 60 --group --remap alice --json"
    )]
    Translate(TranslateArgs),
    /// Show, enable or disable Docker's userns-remap (edits /etc/docker/daemon.json).
    #[command(subcommand)]
    Docker(DockerCmd),
    /// Explain this host: user namespaces, ID-mapped mounts, subuid/subgid, Docker's remapping.
    #[command(after_help = "Examples:\n  hostmatch doctor\n  hostmatch doctor --json")]
    Doctor,
    /// Print shell completions for SHELL to standard output.
    #[command(
        after_help = "Example:\n  hostmatch completions bash > /etc/bash_completion.d/hostmatch"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages for hostmatch and every subcommand into DIR.
    #[command(
        after_help = "Example:\n  hostmatch man target/man && man -l target/man/hostmatch.1"
    )]
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
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
    /// Seed 002's safe layout: USER:UID:1 first, then COUNT-1 fresh ids.
    #[arg(long = "self")]
    pub self_: bool,
    /// Show the diff, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct MapArgs {
    /// The userns-remap setting: user, user:group, uid, uid:gid or default.
    #[arg(required_unless_present = "pid", conflicts_with = "pid")]
    pub spec: Option<String>,
    /// Read the maps of a running process instead.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
}

/// Where maps come from: a remap setting or a live process.
#[derive(Debug, Args, Clone)]
#[group(required = true, multiple = false)]
pub struct MapSource {
    /// The userns-remap setting whose maps to use.
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
