//! The probe: runs INSIDE a probe container (`hostmatch __probe [--dir DIR]`).
//! It reads its own id maps and, with a scratch directory, tries what a
//! container's root might do to host files there. It never follows the
//! scratch files out of DIR: every path is `DIR/<fixed name>`.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use super::{files, Attempt, ProbeOps, ProbeReport, PROBE_FORMAT};

/// Runs the probe and returns its report.
pub fn run(dir: Option<&Path>) -> ProbeReport {
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    ProbeReport {
        format: PROBE_FORMAT,
        uid: rustix::process::getuid().as_raw(),
        gid: rustix::process::getgid().as_raw(),
        uid_map: read("/proc/self/uid_map"),
        gid_map: read("/proc/self/gid_map"),
        ops: dir.map(ops),
    }
}

fn append(path: &Path) -> std::io::Result<()> {
    let mut f = OpenOptions::new().append(true).open(path)?;
    f.write_all(b"written by the hostmatch audit probe\n")
}

fn ops(dir: &Path) -> ProbeOps {
    let read_public = Attempt::from_result(fs::read(dir.join(files::ROOT_MODIFY)));
    let create = Attempt::from_result(
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(files::CREATED))
            .and_then(|mut f| f.write_all(b"probe\n")),
    );
    let modify = Attempt::from_result(append(&dir.join(files::ROOT_MODIFY)));
    let delete = Attempt::from_result(fs::remove_file(dir.join(files::ROOT_DELETE)));
    let chown = Attempt::from_result(std::os::unix::fs::lchown(
        dir.join(files::ROOT_CHOWN),
        Some(1),
        Some(1),
    ));
    let read_private =
        Attempt::from_result(fs::File::open(dir.join(files::PRIVATE)).and_then(|mut f| {
            let mut s = Vec::new();
            f.read_to_end(&mut s)
        }));
    let modify_user = Attempt::from_result(append(&dir.join(files::USER_OWNED)));
    ProbeOps {
        read_public,
        create,
        modify,
        delete,
        chown,
        read_private,
        modify_user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_on_a_writable_dir_reports_every_operation() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            files::ROOT_MODIFY,
            files::ROOT_DELETE,
            files::ROOT_CHOWN,
            files::PRIVATE,
            files::USER_OWNED,
        ] {
            fs::write(d.path().join(f), files::CONTENT).unwrap();
        }
        let r = run(Some(d.path()));
        assert!(r.uid_map.contains(' '), "{r:?}");
        let ops = r.ops.unwrap();
        assert!(
            ops.read_public.ok
                && ops.create.ok
                && ops.modify.ok
                && ops.delete.ok
                && ops.read_private.ok
        );
        assert!(!d.path().join(files::ROOT_DELETE).exists());
        assert!(fs::read_to_string(d.path().join(files::ROOT_MODIFY))
            .unwrap()
            .contains("probe"));
        // A second run cannot create the file again: create_new never overwrites.
        let again = run(Some(d.path())).ops.unwrap();
        assert!(!again.create.ok && again.create.error.is_some());
        assert!(!again.delete.ok);
    }
}
