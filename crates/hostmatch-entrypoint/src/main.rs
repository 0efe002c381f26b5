//! hostmatch-entrypoint: matches the container account to the host user's
//! uid/gid and drops privileges. (Being built: see the entrypoint issue.)

fn main() {
    eprintln!("hostmatch-entrypoint: not built yet");
    std::process::exit(3);
}
