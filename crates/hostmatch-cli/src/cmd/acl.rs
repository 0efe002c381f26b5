//! `hostmatch acl grant|revoke USER PATH...`.

use hostmatch::accounts::Accounts;
use hostmatch::own::{spec, AclChange, Depth, Rule};

use crate::cli::AclCommand;
use crate::ui::{Context, Outcome};

pub fn run(ctx: &Context, cmd: &AclCommand) -> anyhow::Result<Outcome> {
    let accounts = Accounts::load(&ctx.root)?;
    let (user, paths, recursive, default, change, walk) = match cmd {
        AclCommand::Grant {
            user,
            paths,
            recursive,
            default,
            perms,
            walk,
        } => {
            let change = spec::acl_grant(perms)?;
            (user, paths, recursive, default, change, walk)
        }
        AclCommand::Revoke {
            user,
            paths,
            recursive,
            default,
            walk,
        } => (user, paths, recursive, default, AclChange::Revoke, walk),
    };
    let uid = spec::user_id(&accounts, user)?;
    let rule = Rule::Acl {
        uid,
        change,
        default: *default,
    };
    let depth = if *recursive {
        Depth::Recursive
    } else {
        Depth::SelfOnly
    };
    super::walk::run(ctx, paths, &rule, depth, walk)
}
