//! `hostmatch chown PATH... --from UID:GID --to UID:GID`.

use hostmatch::accounts::Accounts;
use hostmatch::ids::target_id;
use hostmatch::own::{spec, Depth, Rule};

use crate::cli::ChownArgs;
use crate::ui::{Context, Outcome};

pub fn run(ctx: &Context, a: &ChownArgs) -> anyhow::Result<Outcome> {
    let accounts = Accounts::load(&ctx.root)?;
    let rule = spec::chown_rule(&accounts, &a.from, &a.to)?;
    if let Rule::Chown { uid, gid } = &rule {
        if let Some((_, to)) = uid {
            target_id(*to, "--to uid")?;
        }
        if let Some((_, to)) = gid {
            target_id(*to, "--to gid")?;
        }
    }
    super::walk::check_paths(&a.paths)?;
    super::walk::check_root("chown", a.walk.dry_run)?;
    super::walk::run(ctx, &a.paths, &rule, Depth::Recursive, &a.walk)
}
