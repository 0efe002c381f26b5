//! A load client for the volume plugin's unix socket, used by
//! scripts/bench/plugin.sh (built there with `rustc -O`, std only) and by the
//! test crates/hostmatch-cli/tests/plugin_load.rs (included as a module).
//!
//! It opens IDLE connections that never send a byte and SLOW ones that send a
//! request head announcing a body they never finish, then fires CONCURRENT
//! `VolumeDriver.List` requests at once, each on its own connection, and
//! reports their latencies, how many were answered, refused (503) or stalled
//! (no answer within the timeout), and the plugin's threads and resident
//! memory (from /proc/PID/status) while all of that is open.
//!
//!   pluginload SOCKET PID [CONCURRENT [SLOW [IDLE [TIMEOUT_SECS]]]]
//!
//! The process needs an open-file limit above SLOW + IDLE + CONCURRENT.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// What to throw at the plugin.
#[derive(Debug, Clone)]
pub struct Load {
    pub socket: PathBuf,
    /// The plugin's pid (for /proc/PID/status).
    pub pid: u32,
    pub concurrent: usize,
    pub slow: usize,
    pub idle: usize,
    /// A request not answered within this is counted as stalled.
    pub timeout: Duration,
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// HTTP 200, after this long.
    Answered(Duration),
    /// HTTP 503: the plugin refused the connection (its cap).
    Refused,
    /// No full answer within the timeout.
    Stalled,
    /// Anything else (connection refused or reset, another status).
    Failed,
}

/// What the plugin did under the load.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Latencies of the answered requests, sorted.
    pub latencies: Vec<Duration>,
    pub refused: usize,
    pub stalled: usize,
    pub failed: usize,
    /// Slow and idle connections the plugin accepted (kept open) and refused.
    pub held_open: usize,
    pub held_refused: usize,
    /// Threads and VmRSS (KiB) once the slow and idle connections are open.
    pub threads_held: u64,
    pub rss_held_kib: u64,
    /// Peaks while the concurrent requests ran.
    pub threads_peak: u64,
    pub rss_peak_kib: u64,
}

impl Report {
    /// The q-quantile (0..=1) of the answered requests' latencies.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 * q).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1]
    }

    pub fn line(&self) -> String {
        // "-" when no request was answered.
        let ms = |d: Option<Duration>| {
            d.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1000.0))
        };
        let some = !self.latencies.is_empty();
        format!(
            "answered={} refused={} stalled={} failed={} p50_ms={} p99_ms={} max_ms={} \
             held_open={} held_refused={} threads_held={} rss_held_kib={} threads_peak={} \
             rss_peak_kib={}",
            self.latencies.len(),
            self.refused,
            self.stalled,
            self.failed,
            ms(some.then(|| self.quantile(0.50))),
            ms(some.then(|| self.quantile(0.99))),
            ms(self.latencies.last().copied()),
            self.held_open,
            self.held_refused,
            self.threads_held,
            self.rss_held_kib,
            self.threads_peak,
            self.rss_peak_kib,
        )
    }
}

/// (Threads, VmRSS in KiB) of process `pid`.
pub fn threads_and_rss(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("Threads:"), field("VmRSS:"))
}

/// A whole request for `path` with a JSON `body`, on a connection of its own.
pub fn request(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: plugin\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Sends `req` on a new connection and reads the answer until the plugin
/// closes the connection or `timeout` passes.
pub fn call(socket: &std::path::Path, req: &str, timeout: Duration) -> (Outcome, String) {
    let t = Instant::now();
    let Ok(mut s) = UnixStream::connect(socket) else {
        return (Outcome::Failed, String::new());
    };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    if s.write_all(req.as_bytes()).is_err() {
        // The plugin may have answered (a refusal) and closed before reading.
        return read_answer(&mut s, t, timeout);
    }
    read_answer(&mut s, t, timeout)
}

fn read_answer(s: &mut UnixStream, t: Instant, timeout: Duration) -> (Outcome, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (Outcome::Stalled, String::from_utf8_lossy(&buf).into_owned());
            }
            Err(_) if !buf.is_empty() => break,
            Err(_) => return (Outcome::Failed, String::new()),
        }
        if t.elapsed() > timeout {
            return (Outcome::Stalled, String::from_utf8_lossy(&buf).into_owned());
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let outcome = if text.starts_with("HTTP/1.1 200") {
        Outcome::Answered(t.elapsed())
    } else if text.starts_with("HTTP/1.1 503") {
        Outcome::Refused
    } else if text.is_empty() && t.elapsed() >= timeout {
        Outcome::Stalled
    } else {
        Outcome::Failed
    };
    (outcome, text)
}

/// Opens the slow and idle connections: slow ones announce a 4096-byte body
/// and send one byte of it. Returns them (kept open by the caller).
pub fn hold(load: &Load) -> Vec<UnixStream> {
    let mut held = Vec::with_capacity(load.slow + load.idle);
    for i in 0..load.slow + load.idle {
        let Ok(mut s) = UnixStream::connect(&load.socket) else {
            continue;
        };
        if i < load.slow {
            let head = "POST /VolumeDriver.List HTTP/1.1\r\nHost: plugin\r\n\
                        Content-Length: 4096\r\n\r\n{";
            let _ = s.write_all(head.as_bytes());
        }
        held.push(s);
    }
    held
}

/// How many of the held connections the plugin refused (a 503 waiting to be
/// read, or already closed) rather than kept open.
pub fn count_refused(held: &[UnixStream]) -> usize {
    held.iter()
        .filter(|s| {
            let _ = s.set_nonblocking(true);
            let mut b = [0u8; 64];
            let r = (&**s).read(&mut b);
            let _ = s.set_nonblocking(false);
            r.is_ok()
        })
        .count()
}

/// Runs the load and reports.
pub fn run(load: &Load) -> Report {
    let held = hold(load);
    std::thread::sleep(Duration::from_millis(500));
    let held_refused = count_refused(&held);
    let (threads_held, rss_held_kib) = threads_and_rss(load.pid);
    let done = Arc::new(AtomicBool::new(false));
    let (peak_t, peak_r) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let sampler = {
        let (done, peak_t, peak_r, pid) = (done.clone(), peak_t.clone(), peak_r.clone(), load.pid);
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let (t, r) = threads_and_rss(pid);
                peak_t.fetch_max(t, Ordering::Relaxed);
                peak_r.fetch_max(r, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let barrier = Arc::new(Barrier::new(load.concurrent));
    let req = request("/VolumeDriver.List", "{}");
    let workers: Vec<_> = (0..load.concurrent)
        .map(|_| {
            let (barrier, socket, req, timeout) = (
                barrier.clone(),
                load.socket.clone(),
                req.clone(),
                load.timeout,
            );
            std::thread::spawn(move || {
                barrier.wait();
                call(&socket, &req, timeout).0
            })
        })
        .collect();
    let outcomes: Vec<Outcome> = workers
        .into_iter()
        .map(|w| w.join().unwrap_or(Outcome::Failed))
        .collect();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let mut r = Report {
        held_open: held.len() - held_refused,
        held_refused,
        threads_held,
        rss_held_kib,
        threads_peak: peak_t.load(Ordering::Relaxed).max(threads_held),
        rss_peak_kib: peak_r.load(Ordering::Relaxed).max(rss_held_kib),
        ..Report::default()
    };
    for o in outcomes {
        match o {
            Outcome::Answered(d) => r.latencies.push(d),
            Outcome::Refused => r.refused += 1,
            Outcome::Stalled => r.stalled += 1,
            Outcome::Failed => r.failed += 1,
        }
    }
    r.latencies.sort();
    drop(held);
    r
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: pluginload SOCKET PID [CONCURRENT [SLOW [IDLE [TIMEOUT_SECS]]]]";
    let num = |i: usize, default: u64| -> u64 {
        args.get(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    let load = Load {
        socket: PathBuf::from(args.first().expect(usage)),
        pid: args.get(1).expect(usage).parse().expect("PID is a number"),
        concurrent: num(2, 200) as usize,
        slow: num(3, 10) as usize,
        idle: num(4, 1000) as usize,
        timeout: Duration::from_secs(num(5, 30)),
    };
    println!("{}", run(&load).line());
}
