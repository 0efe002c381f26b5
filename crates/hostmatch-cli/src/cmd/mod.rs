//! One small function per subcommand.

mod doctor;
mod generate;

use crate::cli::Command;
use crate::ui::{Context, Outcome};

pub fn run(cmd: Command, ctx: &Context) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Doctor => doctor::run(ctx),
        Command::Completions { shell } => generate::completions(shell),
        Command::Man { dir } => generate::man(&dir),
    }
}
