//! Helpers for CLI tests: a temporary sysroot and a way to run `hostmatch`.
#![allow(dead_code)]

pub mod layouts;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Sysroot {
    pub dir: tempfile::TempDir,
}

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nagent:x:999:999::/var/lib/agent:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n";
pub const GROUP: &str =
    "root:x:0:\ndocker:x:982:alice\nagent:x:999:\nalice:x:1000:\nbob:x:1001:\nnogroup:x:65534:\n";

impl Sysroot {
    /// A sysroot with passwd, group, and the given subuid/subgid (None: absent).
    pub fn new(subuid: Option<&str>, subgid: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("passwd"), PASSWD).unwrap();
        std::fs::write(etc.join("group"), GROUP).unwrap();
        if let Some(s) = subuid {
            std::fs::write(etc.join("subuid"), s).unwrap();
        }
        if let Some(s) = subgid {
            std::fs::write(etc.join("subgid"), s).unwrap();
        }
        Sysroot { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).unwrap()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.file(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Runs `hostmatch --root SYSROOT ARGS...`.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut c = hostmatch_command();
        c.arg("--root").arg(self.path()).args(args);
        Run::from(c.output().unwrap())
    }

    /// Runs `hostmatch --root SYSROOT WORDS`, split at white space.
    pub fn run_w(&self, words: &str) -> Run {
        self.run(&words.split_whitespace().collect::<Vec<_>>())
    }
}

/// The `hostmatch` binary under test, with no HOSTMATCH_ROOT from the caller.
pub fn hostmatch_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hostmatch"));
    c.env_remove("HOSTMATCH_ROOT");
    c
}

/// Runs `hostmatch ARGS...` on the real system (no `--root`).
pub fn hostmatch(args: &[&str]) -> Run {
    Run::from(hostmatch_command().args(args).output().unwrap())
}

/// Runs `hostmatch WORDS`, split at white space (options, ids, and paths
/// without spaces, such as temp dirs).
pub fn hostmatch_w(words: &str) -> Run {
    hostmatch(&words.split_whitespace().collect::<Vec<_>>())
}

/// A temp dir on /var/tmp (a real disk filesystem on hosts where /tmp is tmpfs).
pub fn disk_tmp(prefix: &str) -> tempfile::TempDir {
    testkit::temp_dir_in("/var/tmp", prefix)
}

/// (uid, gid) of `p`, not following a symlink.
pub fn owner(p: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
}

/// The JSON string `v`.
pub fn text(v: &serde_json::Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// The entry of `v[list]` whose `id` is `id` (a doctor check, an audit finding).
pub fn entry<'a>(v: &'a serde_json::Value, list: &str, id: &str) -> &'a serde_json::Value {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {v}"))
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {v:#}"))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    fn report(&self) -> String {
        format!(
            "exit {}\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Exit 0.
    pub fn ok(&self) -> &Self {
        self.assert_code(0)
    }

    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "{}", self.report());
        self
    }

    pub fn assert_stdout_has(&self, text: &str) -> &Self {
        assert!(self.stdout.contains(text), "{}", self.report());
        self
    }

    pub fn assert_stderr_has(&self, text: &str) -> &Self {
        assert!(self.stderr.contains(text), "{}", self.report());
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// Asserts a clean one-line error with this exit code.
    pub fn assert_one_line_error(&self, code: i32, needle: &str) {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert_eq!(self.stderr.lines().count(), 1, "stderr: {}", self.stderr);
        assert!(
            self.stderr.starts_with("hostmatch: error: "),
            "stderr: {}",
            self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "expected {needle:?} in: {}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }
}
