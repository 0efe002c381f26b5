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

pub fn run(cmd: Command, ctx: &Context) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Subid(c) => subid::run(c, ctx),
        Command::Map(a) => map::map(ctx, &a),
        Command::Translate(a) => map::translate(ctx, &a),
        Command::Docker(c) => docker::run(c, ctx),
        Command::Doctor(a) => doctor::run(ctx, &a),
        Command::Chown(a) => chown::run(a, ctx),
        Command::Shift(a) => shift::run(a, ctx),
        Command::Reclaim(a) => reclaim::run(a, ctx),
        Command::Acl(a) => acl::run(a, ctx),
        Command::Volume(a) => volume::run(a, ctx),
        Command::Group(a) => group::run(a, ctx),
        Command::Audit(a) => audit::run(&a, ctx),
        Command::Probe { dir } => audit::probe(dir.as_deref()),
        Command::Completions { shell } => generate::completions(shell),
        Command::Man { dir } => generate::man(&dir),
        Command::Repair => repair::run(ctx),
        Command::Mount(args) => mount::run(ctx, args),
        Command::Mounts => mounts::run(ctx),
        Command::Umount { dst } => umount::run(ctx, &dst),
        Command::VolumePlugin(args) => volume_plugin::run(ctx, args),
    }
}
