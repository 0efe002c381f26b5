//! One small function per subcommand.

mod docker;
mod doctor;
mod generate;
mod map;
mod subid;

use crate::cli::Command;
use crate::ui::{Context, Outcome};

pub fn run(cmd: Command, ctx: &Context) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Subid(c) => subid::run(c, ctx),
        Command::Map(a) => map::map(ctx, &a),
        Command::Translate(a) => map::translate(ctx, &a),
        Command::Docker(c) => docker::run(c, ctx),
        Command::Doctor => doctor::run(ctx),
        Command::Completions { shell } => generate::completions(shell),
        Command::Man { dir } => generate::man(&dir),
    }
}
