//! `hostmatch volume-plugin`: the Docker volume plugin protocol over a unix
//! socket (HTTP by tiny_http; the protocol itself is the library's).

use std::io::Read;
use std::os::unix::fs::PermissionsExt;

use anyhow::Context as _;
use hostmatch::idmount::plugin::{Plugin, PluginConfig};

use crate::cli::VolumePluginArgs;
use crate::ui::{Context, Outcome};

const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.2+json";

pub fn run(ctx: &Context, args: VolumePluginArgs) -> anyhow::Result<Outcome> {
    let mut plugin = Plugin::open(PluginConfig {
        state_dir: args.state.clone(),
        allow: args.allow.clone(),
        root: ctx.root.clone(),
    })?;
    if let Some(dir) = args.socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    // A stale socket from an earlier run is replaced; anything else is not.
    if let Ok(m) = std::fs::symlink_metadata(&args.socket) {
        use std::os::unix::fs::FileTypeExt;
        if !m.file_type().is_socket() {
            anyhow::bail!("{}: exists and is not a socket", args.socket.display());
        }
        if std::os::unix::net::UnixStream::connect(&args.socket).is_ok() {
            anyhow::bail!(
                "{}: another plugin is serving this socket",
                args.socket.display()
            );
        }
        std::fs::remove_file(&args.socket).with_context(|| args.socket.display().to_string())?;
    }
    let server = tiny_http::Server::http_unix(&args.socket)
        .map_err(|e| anyhow::anyhow!("{}: cannot listen: {e}", args.socket.display()))?;
    // Only root (dockerd) may talk to the plugin.
    std::fs::set_permissions(&args.socket, std::fs::Permissions::from_mode(0o600))
        .with_context(|| args.socket.display().to_string())?;
    eprintln!(
        "hostmatch volume-plugin: serving {} (state {})",
        args.socket.display(),
        args.state.display()
    );
    for mut request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("").to_string();
        let mut body = Vec::new();
        let reply = match request.as_reader().take(1 << 20).read_to_end(&mut body) {
            Ok(_) => plugin.handle(&path, &body),
            Err(e) => serde_json::json!({ "Err": format!("reading the request: {e}") }),
        };
        if let Some(err) = reply
            .get("Err")
            .and_then(|e| e.as_str())
            .filter(|e| !e.is_empty())
        {
            eprintln!("hostmatch volume-plugin: {path}: {err}");
        }
        let header = tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE)
            .expect("static header is valid");
        let response = tiny_http::Response::from_string(reply.to_string()).with_header(header);
        if let Err(e) = request.respond(response) {
            eprintln!("hostmatch volume-plugin: {path}: replying: {e}");
        }
    }
    Ok(Outcome::Ok)
}
