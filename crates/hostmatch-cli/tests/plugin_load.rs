//! The volume plugin under load on its unix socket: clients that never finish
//! their request, idle connections by the thousand, 200 requests at once, a
//! connection cap, and kills in the middle of state writes. No client may
//! stall another; threads and memory stay bounded.
//!
//! The latency figures printed here are a check, not a benchmark:
//! scripts/bench/plugin.sh measures them on a release build.

mod plugin_harness;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use plugin_harness::load::{self, Load, Outcome};
use plugin_harness::{err, PluginProc};
use serde_json::json;

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        let dir = testkit::temp_dir_in(std::env::temp_dir(), "hm-plugin-load-");
        std::fs::create_dir(dir.path().join("allowed")).unwrap();
        Scratch { dir }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn plugin(&self, extra: &[&str]) -> PluginProc {
        PluginProc::start(
            &self.path("plugin.sock"),
            &self.path("state"),
            &[&self.path("allowed")],
            extra,
            &[],
        )
    }
}

fn load(p: &PluginProc, concurrent: usize, slow: usize, idle: usize) -> load::Report {
    let r = load::run(&Load {
        socket: p.socket.clone(),
        pid: p.pid(),
        concurrent,
        slow,
        idle,
        timeout: Duration::from_secs(20),
    });
    eprintln!(
        "{concurrent} requests, {slow} slow and {idle} idle clients: {}",
        r.line()
    );
    r
}

#[test]
fn clients_that_never_finish_their_request_delay_no_one() {
    plugin_harness::raise_nofile_limit();
    let s = Scratch::new();
    let p = s.plugin(&[]);
    let r = load(&p, 200, 10, 100);
    assert_eq!(r.stalled, 0, "{}", r.line());
    assert_eq!(r.latencies.len(), 200, "{}", r.line());
    // The slow and idle clients were not closed to make room (200 + 110 is
    // over the cap of 256, but idle ones go first and the slow ones are
    // still within their read timeout).
    assert!(r.held_open >= 10, "{}", r.line());
}

#[test]
fn a_thousand_idle_connections_keep_threads_and_memory_bounded() {
    let nofile = plugin_harness::raise_nofile_limit();
    testkit::prereq!(
        nofile > 1300,
        "an open-file hard limit over 1300 for 1,210 connections (ulimit -Hn is {nofile})"
    );
    let s = Scratch::new();
    let p = s.plugin(&[]);
    let r = load(&p, 200, 10, 1000);
    assert_eq!(r.stalled, 0, "{}", r.line());
    assert_eq!(r.latencies.len(), 200, "{}", r.line());
    // One thread for the event loop, one for the plugin's state.
    assert!(r.threads_peak <= 4, "{}", r.line());
    // Connections beyond the cap were closed, oldest silent ones first.
    assert!(r.held_open <= 256, "{}", r.line());
    assert!(r.rss_peak_kib < 64 * 1024, "{}", r.line());
}

/// Reads what the plugin sends until it closes the connection or `limit`
/// passes; returns the text and whether it closed.
fn read_until_closed(s: &mut UnixStream, limit: Duration) -> (String, bool) {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = Vec::new();
    let closed = loop {
        let mut chunk = [0u8; 1024];
        match s.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&buf).into_owned(), closed)
}

#[test]
fn slow_and_silent_clients_are_cut_off_after_the_read_timeout() {
    let s = Scratch::new();
    let p = s.plugin(&["--read-timeout", "1"]);
    let connect = || UnixStream::connect(&p.socket).unwrap();
    let mut silent = connect();
    let mut half_head = connect();
    half_head
        .write_all(b"POST /VolumeDriver.List HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut half_body = connect();
    half_body
        .write_all(b"POST /VolumeDriver.List HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    let t = Instant::now();
    for (name, conn) in [
        ("silent", &mut silent),
        ("half a head", &mut half_head),
        ("half a body", &mut half_body),
    ] {
        let (text, closed) = read_until_closed(conn, Duration::from_secs(10));
        assert!(closed, "{name}: still open after {:?}", t.elapsed());
        if name == "half a body" {
            assert!(text.starts_with("HTTP/1.1 408"), "{name}: {text}");
            assert!(text.contains("did not arrive within 1 s"), "{name}: {text}");
        }
    }
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    assert_eq!(err(&p.call("/VolumeDriver.List", json!({}))), "");
}

#[test]
fn bodies_over_the_limit_are_refused_unread() {
    let s = Scratch::new();
    let p = s.plugin(&[]);
    let mut c = UnixStream::connect(&p.socket).unwrap();
    c.write_all(
        b"POST /VolumeDriver.Create HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n{",
    )
    .unwrap();
    let (text, closed) = read_until_closed(&mut c, Duration::from_secs(10));
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("request body over 65536 bytes"), "{text}");
    assert!(closed);
}

#[test]
fn beyond_the_connection_cap_new_clients_get_a_clear_refusal() {
    let s = Scratch::new();
    let p = s.plugin(&["--max-connections", "20"]);
    let slow = |n| {
        let held = load::hold(&Load {
            socket: p.socket.clone(),
            pid: p.pid(),
            concurrent: 0,
            slow: n,
            idle: 0,
            timeout: Duration::from_secs(20),
        });
        std::thread::sleep(Duration::from_millis(300));
        held
    };
    // 20 clients in a request (each has sent its head, not its body) fill
    // the plugin; 5 more are refused, and the 20 are left alone.
    let busy = slow(20);
    let more = slow(5);
    assert_eq!(load::count_refused(&more), 5);
    assert_eq!(load::count_refused(&busy), 0);
    let (outcome, text) = load::call(
        &p.socket,
        &load::request("/VolumeDriver.List", "{}"),
        Duration::from_secs(10),
    );
    assert_eq!(outcome, Outcome::Refused, "{text}");
    assert!(
        text.contains("too many connections (20 in a request)"),
        "{text}"
    );
    // Once the busy clients leave, requests are served again.
    drop((busy, more));
    let t = Instant::now();
    loop {
        let (outcome, text) = load::call(
            &p.socket,
            &load::request("/VolumeDriver.List", "{}"),
            Duration::from_secs(10),
        );
        if matches!(outcome, Outcome::Answered(_)) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "{outcome:?} {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn clients_that_leave_before_their_answer_do_not_end_the_plugin() {
    let s = Scratch::new();
    let mut p = s.plugin(&[]);
    for _ in 0..20 {
        let mut c = UnixStream::connect(&p.socket).unwrap();
        c.write_all(load::request("/VolumeDriver.List", "{}").as_bytes())
            .unwrap();
        drop(c);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(err(&p.call("/VolumeDriver.List", json!({}))), "");
    assert!(p.try_wait().is_none(), "the plugin exited");
}

fn temp_files(state: &Path) -> Vec<String> {
    std::fs::read_dir(state)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".hostmatch-"))
        .collect()
}

#[test]
fn a_plugin_killed_while_saving_leaves_no_temp_files_after_its_restart() {
    let s = Scratch::new();
    let src = s.path("allowed/ws");
    std::fs::create_dir(&src).unwrap();
    let mut p = s.plugin(&[]);
    let socket = p.socket.clone();
    let mut seen_leftovers = 0;
    for round in 0..40 {
        // Volumes created back to back (each one a state write), killed at a
        // moment that varies from round to round.
        let creator = {
            let (socket, src) = (socket.clone(), src.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    let body = json!({"Name": format!("v{round}-{i}"),
                                      "Opts": {"source": src, "owner-as": "1234"}});
                    let req = load::request("/VolumeDriver.Create", &body.to_string());
                    if !matches!(
                        load::call(&socket, &req, Duration::from_secs(5)).0,
                        Outcome::Answered(_)
                    ) {
                        break;
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(5 + (round * 7) % 40));
        p.kill();
        creator.join().unwrap();
        seen_leftovers += temp_files(&s.path("state")).len();
        p.restart();
        let left = temp_files(&s.path("state"));
        assert!(
            left.is_empty(),
            "round {round}: left after the restart: {left:?}"
        );
        let list = p.call("/VolumeDriver.List", json!({}));
        assert_eq!(err(&list), "", "round {round}: {list}");
    }
    eprintln!("temp files found after a kill (removed by the restart): {seen_leftovers}");
}
