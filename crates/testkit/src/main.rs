//! `hostmatch-testkit`: what scripts/test.sh runs around the test suite.
//!
//!   hostmatch-testkit images [--no-debian]   build the cached test images now
//!   hostmatch-testkit cleanup                remove what dead test processes left behind
//!
//! and, for the harness's own tests, `hold-dockerd` and `hold-podman rootful|rootless`
//! (set up a fixture, print what it started, wait to be killed).

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("images") => {
            let t = Instant::now();
            let bb = testkit::images::busybox_rootfs_tar();
            report("busybox", bb, t);
            if args.iter().any(|a| a == "--no-debian") {
                return ExitCode::SUCCESS;
            }
            let t = Instant::now();
            let deb = testkit::images::debian_rootfs_tar();
            if report("debian", deb, t) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Some("cleanup") => {
            for d in testkit::sweep_dead_daemons() {
                eprintln!("removed leftover dockerd {}", d.display());
            }
            // Before the users: it also ends the processes of rootless test users.
            for d in testkit::sweep_dead_podman() {
                eprintln!("removed leftover Podman fixture {}", d.display());
            }
            for d in testkit::images::sweep_stale_builds() {
                eprintln!("removed an unfinished image build {}", d.display());
            }
            testkit::sweep_dead_users();
            if let Err(e) = testkit::sweep_dead_subids() {
                eprintln!("cleanup of subid lines: {e:#}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        // For the harness's own tests: a process that owns a daemon and can be killed.
        Some("hold-dockerd") => {
            let d = match testkit::Dockerd::start(Default::default()) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("{e:#}");
                    return ExitCode::FAILURE;
                }
            };
            println!("{} {}", d.pid().unwrap_or(0), d.dir().display());
            std::thread::sleep(std::time::Duration::from_secs(600));
            ExitCode::SUCCESS
        }
        Some("hold-podman") => match hold_podman(args.get(1).map(String::as_str)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e:#}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: hostmatch-testkit images [--no-debian] | cleanup");
            ExitCode::from(2)
        }
    }
}

fn report(what: &str, r: testkit::Result<std::path::PathBuf>, t: Instant) -> bool {
    match r {
        Ok(p) => {
            eprintln!(
                "image {what}: {} ({:.1}s)",
                p.display(),
                t.elapsed().as_secs_f64()
            );
            true
        }
        Err(e) => {
            eprintln!("image {what}: FAILED: {e:#}");
            false
        }
    }
}

/// A Podman fixture (`rootful` or `rootless`) with a running container (`sleep`, as uid
/// 1234 of the busybox image) and the API service; prints one line "DIR CONTAINER-ID
/// CONTAINER-PID SERVICE-SOCKET" and waits to be killed.
fn hold_podman(kind: Option<&str>) -> testkit::Result<()> {
    let p = match kind {
        Some("rootful") => testkit::Podman::rootful(Default::default())?,
        Some("rootless") => testkit::Podman::rootless(Default::default())?,
        _ => anyhow::bail!("usage: hostmatch-testkit hold-podman rootful|rootless"),
    };
    p.import(testkit::images::busybox_rootfs_tar()?, "busybox");
    let id = p.run_ok(["run", "-d", "--user", "1234", "busybox", "sleep", "600"]);
    let id = id.trim();
    let pid = p.run_ok(["inspect", "--format", "{{.State.Pid}}", id]);
    let svc = p.start_service()?;
    println!(
        "{} {id} {} {}",
        p.dir().display(),
        pid.trim(),
        svc.socket().display()
    );
    std::thread::sleep(std::time::Duration::from_secs(600));
    Ok(())
}
