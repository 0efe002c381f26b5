//! One small function per subcommand.

mod doctor;
mod generate;
mod mount;
mod mounts;
mod umount;
mod volume_plugin;

use crate::cli::Command;
use crate::ui::{Context, Outcome};

pub fn run(cmd: Command, ctx: &Context) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Doctor => doctor::run(ctx),
        Command::Completions { shell } => generate::completions(shell),
        Command::Man { dir } => generate::man(&dir),
        Command::Mount(args) => mount::run(ctx, args),
        Command::Mounts => mounts::run(ctx),
        Command::Umount { dst } => umount::run(ctx, &dst),
        Command::VolumePlugin(args) => volume_plugin::run(ctx, args),
    }
}
