//! The least any setuid entrypoint can cost: a static binary that does
//! nothing but exec its arguments. scripts/bench/entrypoint.sh installs it
//! setuid root beside hostmatch-entrypoint, so that what is left between the
//! two is hostmatch-entrypoint's own work.
use std::os::unix::process::CommandExt;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(prog) = args.next() else {
        std::process::exit(2);
    };
    let err = std::process::Command::new(prog).args(args).exec();
    eprintln!("exec-floor: {err}");
    std::process::exit(127);
}
