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
    /// Explain this host: user namespaces, ID-mapped mounts, subuid/subgid, Docker's remapping.
    #[command(after_help = "Examples:\n  hostmatch doctor\n  hostmatch doctor --json")]
    Doctor,
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
    /// Grant or revoke a user's POSIX ACL entry (setfacl -m u:USER:rwX, with the mask kept right).
    #[command(subcommand)]
    Acl(AclCommand),
    /// Prepare volume directories for a container.
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Host groups for container groups.
    #[command(subcommand)]
    Group(GroupCommand),
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
        after_help = "Example (seed 000's setfacl -Rdm u:alice:rwX plus -Rm):\n  hostmatch acl grant alice /srv/logs --recursive --default"
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
        after_help = "Examples:\n  hostmatch volume prepare /srv/www --for 33 --remap default --dirs logs,cache --writable-by alice\n  hostmatch volume prepare /srv/www --for 33:33 --host-ids 100032:100032 --files logs/access.log"
    )]
    Prepare {
        dir: PathBuf,
        /// Container uid[:gid] that will write there.
        #[arg(long = "for", value_name = "CUID[:CGID]")]
        for_ids: String,
        /// dockerd's userns-remap setting that maps them (user, user:group, default).
        #[arg(
            long,
            value_name = "SPEC",
            conflicts_with = "host_ids",
            required_unless_present = "host_ids"
        )]
        remap: Option<String>,
        /// The host ids directly.
        #[arg(long, value_name = "UID:GID")]
        host_ids: Option<String>,
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
        after_help = "Example (a container's docker.sock group 60 for host user alice):\n  hostmatch group link 60 --remap default --name ctr-sock --add alice"
    )]
    Link {
        cgid: String,
        /// dockerd's userns-remap setting.
        #[arg(long, value_name = "SPEC")]
        remap: String,
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
