//! `hostmatch doctor`: explain this host.

use crate::ui::{Context, Outcome};

pub fn run(_ctx: &Context) -> anyhow::Result<Outcome> {
    anyhow::bail!("doctor: not built yet")
}
