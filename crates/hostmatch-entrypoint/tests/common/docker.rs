//! Helpers of the end-to-end tests: a private dockerd, images with the setuid
//! entrypoint, and running docker commands.

use std::fs;
use std::path::Path;

use testkit::images::{self, ExtraFile};
use testkit::{Dockerd, DockerdConfig, StorageDriver};

/// Where the images have the entrypoint.
pub const EP: &str = "/usr/local/bin/hostmatch-entrypoint";

pub fn start(driver: StorageDriver) -> Dockerd {
    Dockerd::start(DockerdConfig {
        storage_driver: driver,
        ..Default::default()
    })
    .expect("private dockerd starts")
}

/// Imports `base` plus the setuid entrypoint and `config` as `tag`, with the
/// entrypoint as ENTRYPOINT.
pub fn image(d: &Dockerd, base: &Path, config: Option<&str>, tag: &str, extra: &[ExtraFile]) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![ExtraFile::root(super::entrypoint_bin(), EP, 0o4755)];
    if let Some(c) = config {
        let p = dir.path().join("entrypoint.toml");
        fs::write(&p, c).unwrap();
        files.push(ExtraFile::root(p, "/etc/hostmatch/entrypoint.toml", 0o644));
    }
    files.extend_from_slice(extra);
    let tar = images::with_extra_files(base, &files).unwrap();
    d.run_ok([
        "import",
        "--change",
        &format!("ENTRYPOINT [\"{EP}\"]"),
        tar.to_str().unwrap(),
        tag,
    ]);
}

/// The busybox test image (account app 1234:1234, www-data 33) with the
/// entrypoint, `config` and `extra` files.
pub fn busybox(d: &Dockerd, config: Option<&str>, tag: &str) {
    busybox_with(d, config, tag, &[]);
}

pub fn busybox_with(d: &Dockerd, config: Option<&str>, tag: &str, extra: &[ExtraFile]) {
    image(
        d,
        &images::busybox_rootfs_tar().unwrap(),
        config,
        tag,
        extra,
    );
}

/// An extra root-owned file with `content` for [`image`] (kept in `dir`).
pub fn extra_file(dir: &Path, dest: &str, content: &str, mode: u32) -> ExtraFile {
    let src = dir.join(dest.trim_start_matches('/').replace('/', "_"));
    fs::write(&src, content).unwrap();
    ExtraFile::root(src, dest, mode)
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn docker(d: &Dockerd, args: &[&str]) -> Out {
    let o = d.docker(args);
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

pub fn ok(d: &Dockerd, args: &[&str]) -> String {
    d.run_ok(args)
}

/// Commits container `name` as `tag`, with the entrypoint as ENTRYPOINT again
/// (for a container created with another `--entrypoint`).
pub fn commit(d: &Dockerd, name: &str, tag: &str) {
    let entry = format!("ENTRYPOINT [\"{EP}\"]");
    ok(d, &["commit", "--change", &entry, name, tag]);
}
