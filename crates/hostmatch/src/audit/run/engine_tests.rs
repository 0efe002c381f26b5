//! The probe containers' requests and the cleanup against a fake engine on a unix
//! socket, with the timings that made real runs fail now and then, every time:
//! - a creation held until an interruption arrived: nothing may be left once the
//!   handler's cleanup returned (the CLI exits right then);
//! - slow creations: no start may be sent while a creation is under way (Podman 4.3
//!   deadlocks on that with `--userns=auto`, docs/testing.md).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::engine::client::Client;
use crate::engine::endpoint::Source;

/// How long the fake holds a creation after the interruption arrived: far longer
/// than a cleanup that does not wait takes to give up (two quiet rounds of 150 ms).
const HOLD: Duration = Duration::from_millis(1500);

#[derive(Default)]
struct State {
    /// How long the first creation takes, the n-th n times that; None: held until the
    /// interruption (see [`Fake::create`]).
    create_time: Option<Duration>,
    /// Requests in the order they arrived or were answered: `create NAME`,
    /// `created NAME`, `start NAME`.
    log: Vec<String>,
    containers: BTreeSet<String>,
    creates_sent: usize,
    creates_answered: usize,
    interrupted_at: Option<Instant>,
    /// The handler's cleanup returned: the audit process would have exited.
    exited: bool,
}

#[derive(Default)]
struct Fake {
    state: Mutex<State>,
    changed: Condvar,
}

impl Fake {
    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state.lock().unwrap());
        self.changed.notify_all();
    }

    /// Waits until `ready` holds (10 s at most).
    fn wait_for(&self, ready: impl Fn(&State) -> bool) {
        let s = self.state.lock().unwrap();
        let (s, t) = self
            .changed
            .wait_timeout_while(s, Duration::from_secs(10), |s| !ready(s))
            .unwrap();
        assert!(!t.timed_out(), "the fake engine waited in vain");
        drop(s);
    }

    /// A creation: takes `create_time`, or is held until the audit process exited or
    /// [`HOLD`] after the interruption; then made (the engine finishes what it was
    /// asked, whoever still listens).
    fn create(&self, name: &str) -> (u16, String) {
        let sent = Instant::now();
        let mut n = 0;
        self.update(|s| {
            s.creates_sent += 1;
            n = s.creates_sent as u32;
            s.log.push(format!("create {name}"));
        });
        let mut s = self.state.lock().unwrap();
        loop {
            let due = match s.create_time {
                Some(t) => Some(sent.elapsed() >= t * n),
                None => s.interrupted_at.map(|t| t.elapsed() >= HOLD),
            };
            if s.exited || due == Some(true) {
                break;
            }
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(20))
                .unwrap()
                .0;
        }
        s.containers.insert(name.to_string());
        s.creates_answered += 1;
        s.log.push(format!("created {name}"));
        drop(s);
        self.changed.notify_all();
        (
            201,
            format!(r#"{{"Id":"{}","Warnings":[]}}"#, "a".repeat(64)),
        )
    }

    fn answer(&self, method: &str, path: &str) -> (u16, String) {
        let no_such = (404, r#"{"message":"no such container"}"#.to_string());
        if path.ends_with("/version") {
            let v = r#"{"Version":"99.1.0","ApiVersion":"1.41","MinAPIVersion":"1.12","Components":[{"Name":"Engine","Version":"99.1.0"}]}"#;
            return (200, v.into());
        }
        if let Some(q) = path.split_once("/containers/create?").map(|(_, q)| q) {
            let name = q
                .split('&')
                .find_map(|kv| kv.strip_prefix("name="))
                .unwrap();
            return self.create(name);
        }
        if self.state.lock().unwrap().exited {
            return (500, r#"{"message":"the audit process has exited"}"#.into());
        }
        let rest = path.split_once("/containers/").map_or("", |(_, r)| r);
        let name = rest.split(['/', '?']).next().unwrap_or("").to_string();
        let mut s = self.state.lock().unwrap();
        let action = rest
            .rsplit_once('/')
            .map(|(_, a)| a.split('?').next().unwrap_or(""));
        if !s.containers.contains(&name) {
            return no_such;
        }
        match (method, action) {
            ("DELETE", _) => {
                s.containers.remove(&name);
                (204, String::new())
            }
            ("POST", Some("start")) => {
                s.log.push(format!("start {name}"));
                (204, String::new())
            }
            ("POST", Some("wait")) => (200, r#"{"StatusCode":0}"#.into()),
            ("GET", Some("logs")) => (200, String::new()),
            _ => no_such,
        }
    }

    fn serve(self: Arc<Self>, mut c: UnixStream) {
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match c.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        };
        let head = String::from_utf8_lossy(&req[..head_end]).to_string();
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_string())
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while req.len() < head_end + len {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let mut words = head.split_whitespace();
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let (status, body) = self.answer(method, path);
        let _ = write!(
            c,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

/// A fake engine serving on a socket in `dir`, registered as the audit's engine, and a
/// client connected to it.
fn start_fake(dir: &Path, create_time: Option<Duration>) -> (Arc<Fake>, Client) {
    let socket = dir.join("engine.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let fake = Arc::new(Fake::default());
    fake.update(|s| s.create_time = create_time);
    let server = fake.clone();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            let f = server.clone();
            std::thread::spawn(move || f.serve(c));
        }
    });
    let ep = Endpoint {
        socket,
        source: Source::DockerHost,
        tried: Vec::new(),
    };
    registry().endpoint = Some(ep.clone());
    let client = Client::connect(&ep, "the fake engine", Duration::from_secs(10)).unwrap();
    (fake, client)
}

fn spec(what: &str) -> ContainerSpec {
    ContainerSpec {
        name: format!("{}{what}", container_prefix()),
        image: "sha256:probe".into(),
        cmd: vec!["/hostmatch".into()],
        env: Vec::new(),
        binds: Vec::new(),
        options: Vec::new(),
    }
}

#[test]
fn no_start_is_sent_while_a_creation_is_under_way() {
    let _serial = super::tests::serial();
    let dir = tempfile::tempdir().unwrap();
    let (fake, client) = start_fake(dir.path(), Some(Duration::from_millis(100)));
    let specs = probe_specs("sha256:probe", Path::new("/tmp/scratch"), None);
    let outcomes = client.run_all(&specs, &Registered);
    let _ = std::mem::take(&mut registry().containers);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, RunOutcome::Exited { code: 0, .. })),
        "{outcomes:?}"
    );
    let log = fake.state.lock().unwrap().log.clone();
    let first_start = log.iter().position(|l| l.starts_with("start ")).unwrap();
    let last_created = log.iter().rposition(|l| l.starts_with("created ")).unwrap();
    assert!(
        first_start > last_created,
        "a start was sent while a creation was under way: {log:#?}"
    );
    assert_eq!(log.iter().filter(|l| l.starts_with("start ")).count(), 5);
    assert!(fake.state.lock().unwrap().containers.is_empty());
}

#[test]
fn an_interruption_during_a_creation_waits_for_it_and_leaves_no_container() {
    let _serial = super::tests::serial();
    let dir = tempfile::tempdir().unwrap();
    let (fake, client) = start_fake(dir.path(), None);
    let spec = spec("race");
    // The handler's thread: Ctrl-C once the creation was sent; the process exits when
    // the cleanup returns.
    let handler = {
        let fake = fake.clone();
        std::thread::spawn(move || {
            fake.wait_for(|s| s.creates_sent > 0);
            fake.update(|s| s.interrupted_at = Some(Instant::now()));
            interrupt();
            fake.update(|s| s.exited = true);
        })
    };
    let outcomes = client.run_all(std::slice::from_ref(&spec), &Registered);
    handler.join().unwrap();
    fake.wait_for(|s| s.creates_answered == s.creates_sent);
    INTERRUPTED.store(false, Ordering::SeqCst);
    let left = fake.state.lock().unwrap().containers.clone();
    assert!(
        left.is_empty(),
        "containers left after the cleanup returned: {left:?}"
    );
    assert_eq!(outcomes, [RunOutcome::Failed("interrupted".into())]);
}
