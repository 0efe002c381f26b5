//! Root filesystem tarballs for `docker import`, built once and cached under
//! `target/hostmatch-images/` (rebuilt only when missing).
//!
//! Concurrent test processes are safe: a build takes an exclusive lock per image, builds
//! into a temporary directory next to the cache and renames the finished tarball into
//! place, so a tarball in the cache is always complete. `scripts/test.sh` builds them
//! before the tests start (`hostmatch-testkit images`).
//!
//! ## busybox (`busybox_rootfs_tar`, about 2 MB)
//! - `/bin/busybox` (the host's static busybox, from `busybox-static`) and a symlink
//!   `/bin/APPLET -> busybox` for every applet of `busybox --list`; `/sbin`, `/usr/bin`,
//!   `/usr/sbin` are symlinks to `/bin` (so `/usr/bin/env` works).
//! - `/etc/passwd`: `root` 0:0 (`/root`, `/bin/sh`), `www-data` 33:33 (`/var/www`),
//!   `app` 1234:1234 (`/home/app`, `/bin/sh`), `nobody` 65534:65534 (`/nonexistent`).
//! - `/etc/group`: `root` 0, `www-data` 33, `app` 1234, `nobody` 65534.
//! - `/root` (0700), `/tmp` (1777), `/home/app` (0755, owned 1234:1234), `/var/www`
//!   (0755, owned 33:33), empty `/proc`, `/sys`, `/dev`. Every other entry is owned by 0:0.
//!
//! ## Debian (`debian_rootfs_tar`, about 200 MB)
//! `debootstrap --variant=minbase --include=sudo bookworm` from the Debian mirror apt
//! uses on this machine; apt's caches and `/dev`, `/proc`, `/sys` contents are left out.

use std::fs::{self, File};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use tempfile::TempPath;

/// The busybox image's accounts: (name, uid, gid, home).
pub const BUSYBOX_USERS: &[(&str, u32, u32, &str)] = &[
    ("root", 0, 0, "/root"),
    ("www-data", 33, 33, "/var/www"),
    ("app", 1234, 1234, "/home/app"),
    ("nobody", 65534, 65534, "/nonexistent"),
];

/// The cache directory, `<target>/hostmatch-images`.
pub fn cache_dir() -> PathBuf {
    crate::target_dir().join("hostmatch-images")
}

/// Runs `cmd`, failing with its output when it does not succeed.
fn run(cmd: &mut Command) -> crate::Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(20).collect();
        bail!(
            "{:?} {:?} failed ({}):\n{}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}

/// Returns `<cache>/<name>`, building it with `build(out, workdir)` when missing.
fn cached(
    name: &str,
    build: impl FnOnce(&Path, &Path) -> crate::Result<()>,
) -> crate::Result<PathBuf> {
    let dir = cache_dir();
    let out = dir.join(name);
    if out.exists() {
        return Ok(out);
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock = File::create(dir.join(format!(".{name}.lock")))?;
    lock.lock().context("locking the image cache")?;
    if out.exists() {
        return Ok(out); // another process built it while we waited
    }
    // Leftovers of a build that was killed (we hold the lock: nobody else builds `name`).
    let work_prefix = format!(".{name}.work-");
    for e in fs::read_dir(&dir)?.flatten() {
        if e.file_name().to_string_lossy().starts_with(&work_prefix) {
            crate::procs::unmount_all_under(&e.path());
            let _ = fs::remove_dir_all(e.path());
        }
    }
    let work = tempfile::Builder::new()
        .prefix(&work_prefix)
        .tempdir_in(&dir)?;
    let tmp = work.path().join("out.tar");
    let result = build(&tmp, work.path()).and_then(|()| {
        fs::rename(&tmp, &out).with_context(|| format!("renaming into {}", out.display()))
    });
    crate::procs::unmount_all_under(work.path());
    drop(work);
    result.with_context(|| format!("building test image {name}"))?;
    Ok(out)
}

/// Removes work directories of image builds that were killed (no process holds the
/// image's build lock). Returns the directories removed.
pub fn sweep_stale_builds() -> Vec<PathBuf> {
    let dir = cache_dir();
    let mut removed = Vec::new();
    for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((image, _)) = name.strip_prefix('.').and_then(|n| n.split_once(".work-")) else {
            continue;
        };
        let Ok(lock) = File::create(dir.join(format!(".{image}.lock"))) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            crate::procs::unmount_all_under(&e.path());
            if fs::remove_dir_all(e.path()).is_ok() {
                removed.push(e.path());
            }
        }
    }
    removed
}

/// Whether a 64-bit little-endian ELF file has no program interpreter (PT_INTERP), i.e.
/// is statically linked.
fn is_static(bin: &Path) -> bool {
    let Ok(b) = fs::read(bin) else {
        return false;
    };
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap_or_default()) as usize;
    let (entsize, num) = (u16_at(0x36), u16_at(0x38));
    (0..num).all(|i| {
        let o = phoff + i * entsize;
        b.get(o..o + 4)
            .map(|t| u32::from_le_bytes(t.try_into().unwrap_or_default()) != 3)
            .unwrap_or(false)
    })
}

/// The busybox rootfs tarball (contents: see the module documentation).
pub fn busybox_rootfs_tar() -> crate::Result<PathBuf> {
    cached("busybox.tar", |out, work| {
        let busybox = crate::which("busybox").context("busybox is not installed")?;
        if !is_static(&busybox) {
            bail!(
                "{} is dynamically linked: install busybox-static",
                busybox.display()
            );
        }
        let r = work.join("rootfs");
        for d in [
            "bin", "etc", "root", "tmp", "home/app", "var/www", "proc", "sys", "dev", "usr",
        ] {
            fs::create_dir_all(r.join(d))?;
        }
        fs::copy(&busybox, r.join("bin/busybox"))?;
        fs::set_permissions(r.join("bin/busybox"), fs::Permissions::from_mode(0o755))?;
        let list = Command::new(&busybox).arg("--list").output()?;
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let applet = applet.trim();
            if applet.is_empty() || applet == "busybox" || applet.contains('/') {
                continue;
            }
            symlink("busybox", r.join("bin").join(applet))?;
        }
        symlink("bin", r.join("sbin"))?;
        symlink("../bin", r.join("usr/bin"))?;
        symlink("../bin", r.join("usr/sbin"))?;
        let mut passwd = String::new();
        let mut group = String::new();
        for (name, uid, gid, home) in BUSYBOX_USERS {
            let shell = if *uid == 65534 {
                "/bin/false"
            } else {
                "/bin/sh"
            };
            passwd.push_str(&format!("{name}:x:{uid}:{gid}:{name}:{home}:{shell}\n"));
            group.push_str(&format!("{name}:x:{gid}:\n"));
        }
        fs::write(r.join("etc/passwd"), passwd)?;
        fs::write(r.join("etc/group"), group)?;
        fs::set_permissions(r.join("root"), fs::Permissions::from_mode(0o700))?;
        fs::set_permissions(r.join("tmp"), fs::Permissions::from_mode(0o1777))?;
        let tar = |owner: &str, extra: &[&str]| {
            let mut c = Command::new("tar");
            c.args(["--numeric-owner", "--sort=name", "--mtime=@0"])
                .arg(format!("--owner={owner}"))
                .arg(format!("--group={owner}"))
                .arg("-C")
                .arg(&r)
                .args(extra)
                .arg("-f")
                .arg(out);
            c
        };
        run(&mut tar(
            "0",
            &["--exclude=./home/app", "--exclude=./var/www", "-c", "."],
        ))?;
        run(&mut tar("1234", &["-r", "./home/app"]))?;
        run(&mut tar("33", &["-r", "./var/www"]))?;
        Ok(())
    })
}

/// The Debian mirror apt uses on this machine (deb822 `URIs:` or one-line `deb` entries),
/// else `http://deb.debian.org/debian`.
pub fn debian_mirror() -> String {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(d) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut v: Vec<PathBuf> = d.flatten().map(|e| e.path()).collect();
        v.sort();
        files.extend(v);
    }
    for f in files {
        let name = f.to_string_lossy();
        if !(name.ends_with(".list") || name.ends_with(".sources")) {
            continue;
        }
        let Ok(text) = fs::read_to_string(&f) else {
            continue;
        };
        for line in text.lines().map(str::trim) {
            let uris: Vec<&str> = if let Some(rest) = line.strip_prefix("URIs:") {
                rest.split_whitespace().collect()
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest.split_whitespace()
                    .filter(|w| !w.starts_with('['))
                    .take(1)
                    .collect()
            } else {
                continue;
            };
            if let Some(u) = uris
                .into_iter()
                .find(|u| u.trim_end_matches('/').ends_with("/debian"))
            {
                return u.trim_end_matches('/').to_string();
            }
        }
    }
    "http://deb.debian.org/debian".to_string()
}

/// The Debian bookworm minbase rootfs tarball (with sudo). Needs root and network to
/// the mirror the first time (35-60 s); cached afterwards.
pub fn debian_rootfs_tar() -> crate::Result<PathBuf> {
    cached("debian-bookworm-minbase.tar", |out, work| {
        if !crate::is_root() {
            bail!("debootstrap needs root");
        }
        let debootstrap = crate::which("debootstrap").context("debootstrap is not installed")?;
        let r = work.join("rootfs");
        let mirror = debian_mirror();
        run(Command::new(debootstrap)
            .args(["--variant=minbase", "--include=sudo", "bookworm"])
            .arg(&r)
            .arg(&mirror))
        .with_context(|| format!("debootstrap from {mirror}"))?;
        crate::procs::unmount_all_under(&r);
        for d in ["var/cache/apt/archives", "var/lib/apt/lists"] {
            for e in fs::read_dir(r.join(d)).into_iter().flatten().flatten() {
                if e.path().is_file() {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        run(Command::new("tar")
            .args(["--numeric-owner", "--xattrs", "-C"])
            .arg(&r)
            .args([
                "--exclude=./dev/*",
                "--exclude=./proc/*",
                "--exclude=./sys/*",
            ])
            .args(["-cf"])
            .arg(out)
            .arg("."))
    })
}

/// A fresh temporary tar path (removed when the returned value is dropped).
fn temp_tar() -> crate::Result<TempPath> {
    Ok(tempfile::Builder::new()
        .prefix("hmt-img-")
        .suffix(".tar")
        .tempfile()?
        .into_temp_path())
}

/// Copies `src` to `stage/dest` with `mode` (which may include setuid/setgid bits).
fn stage_file(stage: &Path, src: &Path, dest: &str, mode: u32) -> crate::Result<String> {
    let rel = dest.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c == "..") {
        bail!("bad destination path in image: {dest}");
    }
    let to = stage.join(rel);
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(src, &to).with_context(|| format!("copying {}", src.display()))?;
    fs::set_permissions(&to, fs::Permissions::from_mode(mode))?;
    Ok(format!("./{rel}"))
}

/// A tarball with only `files`: (source path on the host, path in the image, mode), all
/// owned by 0:0; parent directories are created 0755. For images without a shell
/// (e.g. a static binary). Removed when the returned path is dropped.
pub fn scratch_tar<P: AsRef<Path>, D: AsRef<str>>(
    files: &[(P, D, u32)],
) -> crate::Result<TempPath> {
    let stage = tempfile::tempdir()?;
    for (src, dest, mode) in files {
        stage_file(stage.path(), src.as_ref(), dest.as_ref(), *mode)?;
    }
    let out = temp_tar()?;
    run(Command::new("tar")
        .args([
            "--numeric-owner",
            "--owner=0",
            "--group=0",
            "--sort=name",
            "-C",
        ])
        .arg(stage.path())
        .arg("-cf")
        .arg(&*out)
        .arg("."))?;
    Ok(out)
}

/// A file to add to a rootfs tarball.
#[derive(Debug, Clone)]
pub struct ExtraFile {
    /// The file on the host.
    pub src: PathBuf,
    /// Its path in the image, e.g. `/usr/local/bin/hostmatch-entrypoint`.
    pub dest: String,
    /// Its mode, e.g. `0o4755` for a setuid-root binary.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl ExtraFile {
    /// A root-owned file.
    pub fn root(src: impl Into<PathBuf>, dest: &str, mode: u32) -> ExtraFile {
        ExtraFile {
            src: src.into(),
            dest: dest.to_string(),
            mode,
            uid: 0,
            gid: 0,
        }
    }
}

/// A copy of the rootfs tarball `base` with `files` appended (`tar --append`: an entry
/// for a path already in `base` replaces it when the image is imported, as the later
/// entry wins on extraction). Removed when the returned path is dropped.
pub fn with_extra_files(base: &Path, files: &[ExtraFile]) -> crate::Result<TempPath> {
    let out = temp_tar()?;
    fs::copy(base, &*out).with_context(|| format!("copying {}", base.display()))?;
    let stage = tempfile::tempdir()?;
    for f in files {
        let member = stage_file(stage.path(), &f.src, &f.dest, f.mode)?;
        run(Command::new("tar")
            .arg("--numeric-owner")
            .arg(format!("--owner={}", f.uid))
            .arg(format!("--group={}", f.gid))
            .arg("-C")
            .arg(stage.path())
            .arg("-rf")
            .arg(&*out)
            .arg(member))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_and_dynamic_binaries_are_told_apart() {
        assert!(!is_static(Path::new("/bin/sh")), "/bin/sh is dynamic");
        assert!(!is_static(Path::new("/etc/passwd")), "not ELF");
        if let Some(bb) = crate::which("busybox") {
            assert!(is_static(&bb), "busybox-static");
        }
    }

    #[test]
    fn the_mirror_is_a_debian_archive_url() {
        let m = debian_mirror();
        assert!(m.starts_with("http"), "{m}");
        assert!(m.ends_with("/debian"), "{m}");
    }
}
