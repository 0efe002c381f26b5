//! `hostmatch mount SRC DST`: an ID-mapped bind mount.

use hostmatch::idmount::{self, MappingRequest, MountRequest};

use crate::cli::MountArgs;
use crate::ui::{self, Context, Outcome};

pub fn run(ctx: &Context, args: &MountArgs) -> anyhow::Result<Outcome> {
    if !args.for_docker && (args.remap.is_some() || args.container_user.is_some()) {
        return Err(
            hostmatch::Error::invalid("--remap and --container-user go with --for-docker").into(),
        );
    }
    let engine = args
        .engine
        .as_deref()
        .map(hostmatch::engine::EngineChoice::parse)
        .transpose()?;
    let request = MappingRequest::from_options(
        &args.map,
        args.owner_as.as_deref(),
        args.for_docker
            .then_some((args.container_user.as_deref(), args.remap.as_deref())),
    )?
    .with_engine(engine);
    let (mapping, how) = request.resolve(&ctx.root, &args.src)?;
    let record = idmount::mount(
        &ctx.root,
        &MountRequest {
            src: args.src.clone(),
            dst: args.dst.clone(),
            mapping,
            recursive: args.recursive,
            read_only: args.read_only,
            how,
        },
    )?;
    if ctx.json {
        ui::print_json(&record)?;
    } else {
        println!(
            "{} {} at {} ({}{})",
            ctx.status("ok"),
            record.src.display(),
            record.dst.display(),
            record.how,
            if record.read_only { ", read-only" } else { "" }
        );
    }
    Ok(Outcome::Ok)
}
