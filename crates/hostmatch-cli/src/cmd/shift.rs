//! `hostmatch shift PATH... --map CONTAINER:HOST:COUNT [--reverse]`.

use hostmatch::ids::target_map;
use hostmatch::own::{spec, Depth, Rule};

use crate::cli::ShiftArgs;
use crate::ui::{Context, Outcome};

pub fn run(ctx: &Context, a: &ShiftArgs) -> anyhow::Result<Outcome> {
    let rule = spec::shift_rule(&a.maps, a.reverse)?;
    if let Rule::Shift { uid_map, .. } = &rule {
        // One map serves uids and gids; its host side is where ids go.
        target_map(uid_map, "--map")?;
    }
    super::walk::check_paths(&a.paths)?;
    super::walk::check_root("shift", a.walk.dry_run)?;
    super::walk::run(ctx, &a.paths, &rule, Depth::Recursive, &a.walk)
}
