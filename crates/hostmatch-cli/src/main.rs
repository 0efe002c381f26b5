//! `hostmatch`: the admin CLI. `main` parses the flags, runs one subcommand,
//! and prints an error once, on one line.

mod cli;
mod cmd;
mod ui;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    hostmatch::sys::reset_sigpipe();
    let cli = cli::Cli::parse();
    let ctx = ui::Context::from_cli(&cli.global);
    match ctx.check().and_then(|()| cmd::run(&ctx, cli.command)) {
        Ok(code) => code.into(),
        Err(err) => {
            ui::print_error(&err);
            ui::exit_code_for(&err).into()
        }
    }
}
