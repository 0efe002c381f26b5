//! One small function per subcommand.

mod acl;
mod audit;
mod chown;
mod docker;
mod doctor;
mod engine;
mod generate;
mod group;
mod map;
mod mount;
mod mounts;
mod reclaim;
mod repair;
mod shift;
mod subid;
mod umount;
mod volume;
mod volume_plugin;
mod walk;

use crate::cli::Command;
use crate::ui::{Context, Outcome};

/// Runs one subcommand. Every handler takes the context first, then its
/// arguments by reference.
pub fn run(ctx: &Context, cmd: Command) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Subid(c) => subid::run(ctx, &c),
        Command::Map(a) => map::map(ctx, &a),
        Command::Translate(a) => map::translate(ctx, &a),
        Command::Docker(c) => docker::run(ctx, &c),
        Command::Doctor(a) => doctor::run(ctx, &a),
        Command::Chown(a) => chown::run(ctx, &a),
        Command::Shift(a) => shift::run(ctx, &a),
        Command::Reclaim(a) => reclaim::run(ctx, &a),
        Command::Acl(a) => acl::run(ctx, &a),
        Command::Volume(a) => volume::run(ctx, &a),
        Command::Group(a) => group::run(ctx, &a),
        Command::Audit(a) => audit::run(ctx, &a),
        Command::Probe { dir } => audit::probe(dir.as_deref()),
        Command::Completions { shell } => generate::completions(shell),
        Command::Man { dir } => generate::man(&dir),
        Command::Repair => repair::run(ctx),
        Command::Mount(a) => mount::run(ctx, &a),
        Command::Mounts => mounts::run(ctx),
        Command::Umount { dst } => umount::run(ctx, &dst),
        Command::VolumePlugin(a) => volume_plugin::run(ctx, &a),
    }
}
