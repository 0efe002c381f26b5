//! A `hostmatch volume-plugin` process for tests, killed on drop, and a small
//! HTTP client for its unix socket (the load client of scripts/bench).
//!
//! `HM_PLUGIN_BIN=/path/to/hostmatch` runs the tests against another build
//! (e.g. one without a fix, to see a regression test fail).
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../../../scripts/bench/pluginload.rs"]
pub mod load;

/// The hostmatch binary under test.
pub fn bin() -> PathBuf {
    std::env::var_os("HM_PLUGIN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hostmatch")))
}

/// Raises this process's soft open-file limit to its hard limit (the load
/// tests hold over a thousand connections); children inherit it.
pub fn raise_nofile_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    l.current = l.maximum;
    let _ = setrlimit(Resource::Nofile, l);
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// A running plugin.
pub struct PluginProc {
    pub socket: PathBuf,
    pub state: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl PluginProc {
    /// Starts `hostmatch volume-plugin --socket SOCKET --state STATE --allow
    /// A...` plus `extra` arguments, with `env` added, and waits until it listens.
    pub fn start(
        socket: &Path,
        state: &Path,
        allow: &[&Path],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut args: Vec<OsString> = vec!["volume-plugin".into(), "--socket".into()];
        args.push(socket.into());
        args.push("--state".into());
        args.push(state.into());
        for a in allow {
            args.push("--allow".into());
            args.push(a.into());
        }
        args.extend(extra.iter().map(OsString::from));
        let mut p = PluginProc {
            socket: socket.to_path_buf(),
            state: state.to_path_buf(),
            args,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
        };
        p.restart();
        p
    }

    /// Starts the plugin again (after [`PluginProc::kill`]).
    pub fn restart(&mut self) {
        let mut cmd = Command::new(bin());
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("starting the volume plugin");
        let t = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            if let Ok(Some(st)) = child.try_wait() {
                panic!("the plugin exited before listening: {st}");
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "the plugin did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The plugin's exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// SIGKILLs the plugin and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// One request; the JSON reply (panics when the plugin does not answer
    /// within 30 s or answers with something that is not JSON).
    pub fn call(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let (outcome, text) = load::call(
            &self.socket,
            &load::request(path, &body.to_string()),
            Duration::from_secs(30),
        );
        assert!(
            !matches!(outcome, load::Outcome::Stalled),
            "{path}: no answer within 30 s"
        );
        let json = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{path}: {e}: {text:?}"))
    }
}

impl Drop for PluginProc {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The `Err` of a reply ("" when none).
pub fn err(v: &serde_json::Value) -> &str {
    v["Err"].as_str().unwrap_or("")
}

/// Unmounts every mount below `dir`, deepest first.
pub fn unmount_below(dir: &Path) {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = Command::new("umount").arg(&p).output();
    }
}
