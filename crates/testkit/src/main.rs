//! `hostmatch-testkit`: what scripts/test.sh runs around the test suite.
//!
//!   hostmatch-testkit images [--no-debian]   build the cached test images now
//!   hostmatch-testkit cleanup                remove what dead test processes left behind
//!   hostmatch-testkit podman-run rootful|rootless [OPTION...] -- CMD [ARG...]
//!                                            run CMD inside a fresh Podman fixture (busybox
//!                                            imported), e.g. to try a recipe or benchmark it:
//!       --debian             also import the Debian image (as `debian`)
//!       --service            start the API service, DOCKER_HOST set for CMD
//!       --path DIR           put DIR first in PATH (where `hostmatch` is)
//!       --env KEY=VALUE      one more variable for CMD
//!       --subuid LINE, --subgid LINE   rootless layout (default {user}:200000:65536)
//!
//! and, for the harness's own tests, `hold-dockerd` and `hold-podman rootful|rootless`
//! (set up a fixture, print what it started, wait to be killed).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

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
        Some("podman-run") => match podman_run(&args[1..]) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("{e:#}");
                ExitCode::FAILURE
            }
        },
        Some("hold-podman") => match hold_podman(args.get(1).map(String::as_str)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e:#}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!(
                "usage: hostmatch-testkit images [--no-debian] | cleanup | \
                 podman-run rootful|rootless [--debian] [--service] -- CMD [ARG...]"
            );
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

/// The options of `podman-run` (see the module documentation).
#[derive(Default)]
struct RunOpts {
    rootless: bool,
    debian: bool,
    service: bool,
    paths: Vec<String>,
    env: Vec<(String, String)>,
    subuid: Vec<String>,
    subgid: Vec<String>,
}

fn parse_run_opts(opts: &[String]) -> testkit::Result<RunOpts> {
    let mut o = RunOpts::default();
    let mut it = opts.iter();
    match it.next().map(String::as_str) {
        Some("rootful") => {}
        Some("rootless") => o.rootless = true,
        _ => anyhow::bail!("podman-run: first say rootful or rootless"),
    }
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().context(format!("{a} needs a value"));
        match a.as_str() {
            "--debian" => o.debian = true,
            "--service" => o.service = true,
            "--path" => o.paths.push(value()?),
            "--subuid" => o.subuid.push(value()?),
            "--subgid" => o.subgid.push(value()?),
            "--env" => {
                let kv = value()?;
                let (k, v) = kv.split_once('=').context("--env wants KEY=VALUE")?;
                o.env.push((k.into(), v.into()));
            }
            _ => anyhow::bail!("podman-run: unknown option {a}"),
        }
    }
    Ok(o)
}

/// `podman-run KIND [OPTION...] -- CMD...`: CMD's exit code.
fn podman_run(args: &[String]) -> testkit::Result<ExitCode> {
    let Some(dash) = args.iter().position(|a| a == "--") else {
        anyhow::bail!("usage: podman-run rootful|rootless [OPTION...] -- CMD");
    };
    let (o, cmd) = (parse_run_opts(&args[..dash])?, &args[dash + 1..]);
    let Some((program, rest)) = cmd.split_first() else {
        anyhow::bail!("podman-run: no command after --");
    };
    let mut p = if o.rootless {
        let mut c = testkit::RootlessConfig::default();
        if !o.subuid.is_empty() {
            c.subuid = o.subuid.clone();
        }
        if !o.subgid.is_empty() {
            c.subgid = o.subgid.clone();
        }
        testkit::Podman::rootless(c)?
    } else {
        testkit::Podman::rootful(Default::default())?
    };
    for d in o.paths.iter().rev() {
        p.prepend_path(std::path::Path::new(d));
    }
    for (k, v) in &o.env {
        p.set_env(k, v);
    }
    p.import(testkit::images::busybox_rootfs_tar()?, "busybox");
    if o.debian {
        p.import(testkit::images::debian_rootfs_tar()?, "debian");
    }
    let svc = if o.service {
        Some(p.start_service()?)
    } else {
        None
    };
    eprintln!(
        "fixture {} (host ids {:?})",
        p.dir().display(),
        p.host_ids()
    );
    let mut c = p.command(program);
    c.args(rest).stdin(std::process::Stdio::inherit());
    if let Some(svc) = &svc {
        eprintln!("DOCKER_HOST={}", svc.docker_host());
        c.env("DOCKER_HOST", svc.docker_host());
    }
    let status = c.status()?;
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}
