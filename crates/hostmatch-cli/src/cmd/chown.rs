//! `hostmatch chown PATH... --from UID:GID --to UID:GID`.

use hostmatch::accounts::Accounts;
use hostmatch::own::{spec, Depth};

use crate::cli::ChownArgs;
use crate::ui::{Context, Outcome};

pub fn run(a: ChownArgs, ctx: &Context) -> anyhow::Result<Outcome> {
    let accounts = Accounts::load(&ctx.root)?;
    let rule = spec::chown_rule(&accounts, &a.from, &a.to)?;
    super::walk::check_paths(&a.paths)?;
    super::walk::check_root("chown", a.walk.dry_run)?;
    super::walk::run(&a.paths, &rule, Depth::Recursive, &a.walk, ctx)
}
