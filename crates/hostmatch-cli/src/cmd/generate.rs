//! Shell completions and man pages, generated from the clap definitions.

use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::ui::Outcome;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Outcome> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "hostmatch", &mut std::io::stdout());
    Ok(Outcome::Ok)
}

pub fn man(dir: &Path) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir).with_context(|| format!("{}", dir.display()))?;
    Ok(Outcome::Ok)
}
