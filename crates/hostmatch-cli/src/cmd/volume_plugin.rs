//! `hostmatch volume-plugin`: the Docker volume plugin protocol over a unix
//! socket. HTTP/1.1 by hyper on a single-threaded tokio runtime; the protocol
//! and the volumes are the library's [`Plugin`], owned by one worker thread
//! that answers the requests in the order they arrive.
//!
//! No client can stall another or grow the plugin (docs/idmount.md has the
//! figures):
//! - a connection gets one request (`Connection: close`); it must send its
//!   whole request head within the read timeout of connecting, then its
//!   whole body within the read timeout again, or it is cut off (408 for a
//!   late body);
//! - request heads over 16 KiB (431) and bodies over 64 KiB (413) are refused
//!   unread;
//! - at most `--max-connections` are open: beyond, the oldest connection
//!   that has not sent a whole head yet is closed to make room, or, when
//!   every one is in a request, the newcomer gets 503 and is closed;
//! - mounts (blocking system calls) run on the worker thread, never on the
//!   thread that accepts and reads; a request waits for the worker at most
//!   [`WORKER_TIMEOUT`], and a whole connection lives at most a bounded time.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot, Notify};

use hostmatch::idmount::plugin::{Plugin, PluginConfig};

use crate::cli::VolumePluginArgs;
use crate::ui::{Context, Outcome};

const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.2+json";
/// Largest request body (Docker's requests are a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;
/// Largest request head (hyper's read buffer; it answers 431 beyond).
const MAX_HEAD: usize = 16 * 1024;
/// Requests queued for the worker; further ones wait (within their timeout).
const QUEUE: usize = 64;
/// How long a request waits for the worker's answer. Docker itself gives a
/// volume Mount two minutes.
const WORKER_TIMEOUT: Duration = Duration::from_secs(120);
/// Open files kept for other uses than connections.
const SPARE_FILES: u64 = 64;

pub fn run(ctx: &Context, args: &VolumePluginArgs) -> anyhow::Result<Outcome> {
    let plugin = Plugin::open(PluginConfig {
        state_dir: args.state.clone(),
        allow: args.allow.clone(),
        root: ctx.root.clone(),
    })?;
    let listener = bind(&args.socket)?;
    // A client that leaves before its answer must not end the plugin.
    hostmatch::sys::ignore_sigpipe();
    let nofile = hostmatch::sys::fs::raise_nofile_limit();
    let limits = Limits::new(args, nofile.current());
    eprintln!(
        "hostmatch volume-plugin: serving {} (state {}; at most {} connections, read timeout {} s)",
        args.socket.display(),
        args.state.display(),
        limits.max_connections,
        limits.read_timeout.as_secs()
    );
    let (tx, rx) = mpsc::channel(QUEUE);
    let worker = std::thread::Builder::new()
        .name("plugin-state".into())
        .spawn(move || serve_jobs(plugin, rx))
        .context("starting the plugin's worker thread")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("starting the plugin's event loop")?;
    let served = rt.block_on(serve(listener, tx, limits));
    // Dropping the runtime drops every connection and so every sender: the
    // worker finishes the request in hand and stops.
    drop(rt);
    let _ = worker.join();
    drop(nofile);
    served?;
    Ok(Outcome::Ok)
}

/// Listens on `socket`, created with mode 0600 (only root, i.e. dockerd, may
/// connect). A stale socket of an earlier run is replaced, nothing else is.
fn bind(socket: &Path) -> anyhow::Result<std::os::unix::net::UnixListener> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    if let Ok(m) = std::fs::symlink_metadata(socket) {
        use std::os::unix::fs::FileTypeExt;
        if !m.file_type().is_socket() {
            anyhow::bail!("{}: exists and is not a socket", socket.display());
        }
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            anyhow::bail!(
                "{}: another plugin is serving this socket",
                socket.display()
            );
        }
        std::fs::remove_file(socket).with_context(|| socket.display().to_string())?;
    }
    // The umask makes the socket 0600 from its creation on: no moment in
    // which others could connect.
    let old = hostmatch::sys::process::set_umask(0o177);
    let listener = std::os::unix::net::UnixListener::bind(socket);
    hostmatch::sys::process::set_umask(old);
    let listener =
        listener.map_err(|e| anyhow::anyhow!("{}: cannot listen: {e}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .with_context(|| socket.display().to_string())?;
    listener
        .set_nonblocking(true)
        .with_context(|| socket.display().to_string())?;
    Ok(listener)
}

/// The server's limits.
#[derive(Debug, Clone, Copy)]
struct Limits {
    read_timeout: Duration,
    max_connections: usize,
}

impl Limits {
    /// From the flags, with the connection cap kept below the open-file
    /// limit `nofile`.
    fn new(args: &VolumePluginArgs, nofile: Option<u64>) -> Self {
        let files = nofile.map_or(u64::MAX, |n| n.saturating_sub(SPARE_FILES).max(1));
        let max = u64::from(args.max_connections).min(files);
        if max < u64::from(args.max_connections) {
            eprintln!(
                "hostmatch volume-plugin: at most {max} connections: the open-file limit is {}",
                nofile.unwrap_or_default()
            );
        }
        Limits {
            read_timeout: Duration::from_secs(args.read_timeout),
            max_connections: max as usize,
        }
    }

    /// The longest a connection can live: head, body, the worker's answer,
    /// and a margin to write the reply.
    fn lifetime(&self) -> Duration {
        self.read_timeout * 2 + WORKER_TIMEOUT + Duration::from_secs(10)
    }
}

/// Accepts connections until SIGTERM or SIGINT.
async fn serve(
    listener: std::os::unix::net::UnixListener,
    tx: mpsc::Sender<Job>,
    limits: Limits,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let listener = tokio::net::UnixListener::from_std(listener)?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let slots = Arc::new(Mutex::new(Slots::default()));
    let mut refusals = Refusals::default();
    loop {
        let accepted = tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            // Only a panic ends the worker: stop, and let systemd restart us.
            _ = tx.closed() => anyhow::bail!("the plugin's worker thread stopped"),
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of files or memory: wait for connections to end.
                refusals.note(&format!("accepting a connection: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        match Slots::admit(&slots, limits.max_connections) {
            Some(ticket) => {
                tokio::spawn(connection(stream, ticket, tx.clone(), limits));
                // Let the new connection read what it was sent before the
                // next accept, which may need to evict a waiting one.
                tokio::task::yield_now().await;
            }
            None => {
                refuse(stream, limits.max_connections);
                refusals.note(&format!(
                    "refused a connection: {} connections are in a request",
                    limits.max_connections
                ));
            }
        }
    }
}

/// Logs refusals and accept errors, at most one line every 10 s.
#[derive(Default)]
struct Refusals {
    last: Option<Instant>,
    unlogged: u64,
}

impl Refusals {
    fn note(&mut self, what: &str) {
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
        {
            self.unlogged += 1;
            return;
        }
        let more = std::mem::take(&mut self.unlogged);
        let more = if more > 0 {
            format!(" (and {more} more since the last message)")
        } else {
            String::new()
        };
        eprintln!("hostmatch volume-plugin: {what}{more}");
        self.last = Some(Instant::now());
    }
}

/// Answers 503 without reading the request, and closes the connection.
fn refuse(stream: UnixStream, limit: usize) {
    use std::io::Write;
    let body = json!({
        "Err": format!(
            "hostmatch volume-plugin: too many connections ({limit} in a request); try again"
        )
    })
    .to_string();
    let text = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: {CONTENT_TYPE}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // A new socket's buffer takes these few hundred bytes at once (the write
    // does not block: the socket is non-blocking); a client that cannot
    // receive them gets the close alone.
    if let Ok(s) = stream.into_std() {
        let _ = (&s).write(text.as_bytes());
    }
}

/// Open connections, and which of them have not sent a whole request head
/// yet (those may be closed to make room for a new one).
#[derive(Debug, Default)]
struct Slots {
    open: usize,
    waiting: BTreeMap<u64, Arc<Notify>>,
    next: u64,
}

/// A connection's place among the [`Slots`]; freed when the last clone of
/// its `Arc` is dropped.
struct Ticket {
    id: u64,
    slots: Arc<Mutex<Slots>>,
    evict: Arc<Notify>,
    busy: AtomicBool,
}

impl Slots {
    /// A place for a new connection: a free one, or the one of the oldest
    /// connection still waiting for its request (which is told to close);
    /// `None` when all `max` are in a request.
    fn admit(slots: &Arc<Mutex<Slots>>, max: usize) -> Option<Arc<Ticket>> {
        let mut s = slots.lock().unwrap_or_else(PoisonError::into_inner);
        if s.open >= max {
            let (_, oldest) = s.waiting.pop_first()?;
            oldest.notify_one();
            s.open -= 1;
        }
        s.open += 1;
        let id = s.next;
        s.next += 1;
        let evict = Arc::new(Notify::new());
        s.waiting.insert(id, evict.clone());
        Some(Arc::new(Ticket {
            id,
            slots: slots.clone(),
            evict,
            busy: AtomicBool::new(false),
        }))
    }
}

impl Ticket {
    /// The connection has sent a whole request head: it keeps its place from
    /// now on. False when it was already told to make room.
    fn start_request(&self) -> bool {
        let mut s = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let busy = s.waiting.remove(&self.id).is_some() || self.busy.load(Ordering::Relaxed);
        self.busy.store(busy, Ordering::Relaxed);
        busy
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut s = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        // A connection told to make room has already handed its place on.
        if s.waiting.remove(&self.id).is_some() || self.busy.load(Ordering::Relaxed) {
            s.open -= 1;
        }
    }
}

/// One connection, one request. Until its head has arrived (within the read
/// timeout) the connection may be told to make room for a newer one.
async fn connection(
    stream: UnixStream,
    ticket: Arc<Ticket>,
    tx: mpsc::Sender<Job>,
    limits: Limits,
) {
    let evict = ticket.evict.clone();
    let read_timeout = limits.read_timeout;
    let service = hyper::service::service_fn(move |req| {
        let admitted = ticket.start_request();
        handle(req, admitted, tx.clone(), read_timeout)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(read_timeout)
        .keep_alive(false)
        .max_buf_size(MAX_HEAD)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = tokio::time::timeout(limits.lifetime(), conn) => {}
        _ = evict.notified() => {}
    }
}

/// A request for the worker.
struct Job {
    path: String,
    body: Bytes,
    reply: oneshot::Sender<Value>,
}

/// Reads one request's body (within the read timeout and the size limit)
/// and has the worker answer it.
async fn handle(
    req: Request<Incoming>,
    admitted: bool,
    tx: mpsc::Sender<Job>,
    read_timeout: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if !admitted {
        let msg = "too many connections: closed to make room for a newer one";
        return Ok(refusal(StatusCode::SERVICE_UNAVAILABLE, msg.into()));
    }
    let path = req.uri().path().to_string();
    if req.body().size_hint().lower() > MAX_BODY as u64 {
        return Ok(refusal(StatusCode::PAYLOAD_TOO_LARGE, too_large()));
    }
    let body = Limited::new(req.into_body(), MAX_BODY).collect();
    let body = match tokio::time::timeout(read_timeout, body).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(refusal(StatusCode::PAYLOAD_TOO_LARGE, too_large()))
        }
        Ok(Err(e)) => {
            return Ok(refusal(
                StatusCode::BAD_REQUEST,
                format!("reading the request: {e}"),
            ))
        }
        Err(_) => {
            let msg = format!(
                "the request body did not arrive within {} s",
                read_timeout.as_secs()
            );
            return Ok(refusal(StatusCode::REQUEST_TIMEOUT, msg));
        }
    };
    let (reply, answer) = oneshot::channel();
    let asked = async {
        tx.send(Job { path, body, reply }).await.ok()?;
        answer.await.ok()
    };
    Ok(match tokio::time::timeout(WORKER_TIMEOUT, asked).await {
        Ok(Some(v)) => response(StatusCode::OK, v.to_string()),
        Ok(None) => refusal(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into()),
        Err(_) => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "busy: no answer within {} s (an earlier mount is still running)",
                WORKER_TIMEOUT.as_secs()
            ),
        ),
    })
}

fn too_large() -> String {
    format!("request body over {MAX_BODY} bytes")
}

/// A reply the transport gives on its own, in the protocol's error shape.
fn refusal(status: StatusCode, msg: String) -> Response<Full<Bytes>> {
    let body = json!({ "Err": format!("hostmatch volume-plugin: {msg}") });
    response(status, body.to_string())
}

fn response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(CONTENT_TYPE),
    );
    r
}

/// The worker: the only owner of the plugin's state, answering requests one
/// after the other. A request whose client has given up is skipped.
fn serve_jobs(mut plugin: Plugin, mut rx: mpsc::Receiver<Job>) {
    while let Some(job) = rx.blocking_recv() {
        if job.reply.is_closed() {
            continue;
        }
        let reply = plugin.handle(&job.path, &job.body);
        if let Some(err) = reply
            .get("Err")
            .and_then(|e| e.as_str())
            .filter(|e| !e.is_empty())
        {
            eprintln!("hostmatch volume-plugin: {}: {err}", job.path);
        }
        let _ = job.reply.send(reply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots() -> Arc<Mutex<Slots>> {
        Arc::new(Mutex::new(Slots::default()))
    }

    fn open(s: &Arc<Mutex<Slots>>) -> usize {
        s.lock().unwrap().open
    }

    #[test]
    fn a_full_server_makes_room_by_closing_the_oldest_waiting_connection() {
        let s = slots();
        let first = Slots::admit(&s, 2).unwrap();
        let second = Slots::admit(&s, 2).unwrap();
        assert_eq!(open(&s), 2);
        // Both still waiting: the third takes the first one's place.
        let third = Slots::admit(&s, 2).unwrap();
        assert_eq!(open(&s), 2);
        assert!(!first.start_request(), "the oldest was told to close");
        drop(first);
        assert_eq!(open(&s), 2, "an evicted connection frees nothing twice");
        drop(second);
        assert_eq!(open(&s), 1);
        drop(third);
        assert_eq!(open(&s), 0);
    }

    #[test]
    fn connections_in_a_request_are_never_evicted_and_beyond_them_new_ones_are_refused() {
        let s = slots();
        let a = Slots::admit(&s, 2).unwrap();
        let b = Slots::admit(&s, 2).unwrap();
        assert!(a.start_request() && b.start_request());
        assert!(Slots::admit(&s, 2).is_none());
        assert_eq!(open(&s), 2);
        drop(a);
        let c = Slots::admit(&s, 2).expect("a place was freed");
        assert_eq!(open(&s), 2);
        drop((b, c));
        assert_eq!(open(&s), 0);
    }

    #[test]
    fn the_connection_cap_stays_below_the_open_file_limit() {
        let args = |max| VolumePluginArgs {
            socket: "/s".into(),
            state: "/st".into(),
            allow: vec![],
            max_connections: max,
            read_timeout: 5,
        };
        assert_eq!(Limits::new(&args(256), Some(1024)).max_connections, 256);
        assert_eq!(Limits::new(&args(2000), Some(1024)).max_connections, 960);
        assert_eq!(Limits::new(&args(2000), None).max_connections, 2000);
        assert_eq!(Limits::new(&args(10), Some(3)).max_connections, 1);
        assert!(Limits::new(&args(1), None).lifetime() > WORKER_TIMEOUT);
    }

    #[test]
    fn refusals_are_in_the_protocols_error_shape() {
        let r = refusal(StatusCode::PAYLOAD_TOO_LARGE, too_large());
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.headers()[hyper::header::CONTENT_TYPE], CONTENT_TYPE);
    }
}
