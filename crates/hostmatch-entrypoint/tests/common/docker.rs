//! Helpers of the end-to-end tests: a private dockerd, images with the setuid
//! entrypoint, and running docker commands.

use std::fs;
use std::path::{Path, PathBuf};

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
    import(d, &tar, tag);
}

/// Imports the rootfs tarball `tar` as `tag`, with the entrypoint as ENTRYPOINT.
fn import(d: &Dockerd, tar: &Path, tag: &str) {
    let entry = format!("ENTRYPOINT [\"{EP}\"]");
    ok(
        d,
        &["import", "--change", &entry, tar.to_str().unwrap(), tag],
    );
}

/// Imports an image of nothing but the setuid entrypoint, the host's
/// busybox-static as /opt/busybox (no shell at /bin/sh) and `files`
/// (host path, path in the image, mode) as `tag`.
pub fn scratch_image(d: &Dockerd, busybox: PathBuf, files: &[(PathBuf, &str, u32)], tag: &str) {
    let mut all = vec![
        (super::entrypoint_bin(), EP.to_string(), 0o4755),
        (busybox, "/opt/busybox".to_string(), 0o755),
    ];
    all.extend(
        files
            .iter()
            .map(|(p, at, m)| (p.clone(), at.to_string(), *m)),
    );
    import(d, &images::scratch_tar(&all).unwrap(), tag);
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

impl super::Outcome for Out {
    fn code(&self) -> i32 {
        self.code
    }
    fn stdout(&self) -> String {
        self.stdout.clone()
    }
    fn stderr(&self) -> String {
        self.stderr.clone()
    }
}

pub fn ok(d: &Dockerd, args: &[&str]) -> String {
    d.run_ok(args)
}

/// `WORDS` split at white space (options, names, ids: words without
/// spaces), then `tail` as it is (scripts, paths).
pub fn words<'a>(words: &'a str, tail: &[&'a str]) -> Vec<&'a str> {
    words
        .split_whitespace()
        .chain(tail.iter().copied())
        .collect()
}

/// `docker WORDS TAIL...` (see [`words`]), whatever its exit.
pub fn docker_w(d: &Dockerd, w: &str, tail: &[&str]) -> Out {
    docker(d, &words(w, tail))
}

/// `docker WORDS TAIL...` (see [`words`]), which must succeed; its stdout.
pub fn ok_w(d: &Dockerd, w: &str, tail: &[&str]) -> String {
    ok(d, &words(w, tail))
}

/// Commits container `name` as `tag`, with the entrypoint as ENTRYPOINT again
/// (for a container created with another `--entrypoint`).
pub fn commit(d: &Dockerd, name: &str, tag: &str) {
    let entry = format!("ENTRYPOINT [\"{EP}\"]");
    ok(d, &["commit", "--change", &entry, name, tag]);
}

/// A file `name` with `text` in `dir`; its path.
pub fn file_in(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}
