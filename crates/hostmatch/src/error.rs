//! Typed errors. Every variant renders as one line that names the file (and
//! line) where there is one.

use std::path::PathBuf;

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in hostmatch's library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A line of a system file could not be parsed.
    #[error("{}:{line}: {msg}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    /// A whole file is invalid (e.g. daemon.json is not JSON).
    #[error("{}: {msg}", path.display())]
    InvalidFile { path: PathBuf, msg: String },
    /// An I/O operation on a named path failed. (The cause is part of the
    /// message, not a separate source, so that it is printed once.)
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{call}: {source}")]
    Sys {
        call: &'static str,
        source: std::io::Error,
    },
    /// A user name or uid that does not exist.
    #[error("unknown user '{0}'")]
    UnknownUser(String),
    /// A group name or gid that does not exist.
    #[error("unknown group '{0}'")]
    UnknownGroup(String),
    /// Input that is out of range or contradictory (ids, ranges, maps, specs).
    #[error("{0}")]
    Invalid(String),
    /// The operation needs privileges the process does not have.
    #[error("{0}")]
    Permission(String),
    /// The kernel, filesystem or daemon lacks a needed feature.
    #[error("{0}")]
    Unsupported(String),
    /// Talking to a container engine failed (see `crate::engine`).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Another program holds a lock or changed a file during the edit:
    /// nothing was written; trying again later can succeed.
    #[error("{0}")]
    Busy(String),
    /// An edit of several files stopped after some were replaced; the next
    /// edit (or `hostmatch repair`) finishes it.
    #[error("{0}")]
    Interrupted(String),
}

/// Why a container engine could not be used. Each names the engine (or what was
/// expected at the socket) and the socket, on one line.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Nothing answers at the socket.
    #[error("cannot reach {who} at {endpoint}: {reason}")]
    Unreachable {
        who: String,
        endpoint: String,
        reason: String,
    },
    /// The socket exists but this user may not use it.
    #[error("no permission to use the socket of {who} at {endpoint}: {detail}")]
    Permission {
        who: String,
        endpoint: String,
        detail: String,
    },
    /// The engine did not answer before the deadline (`secs`).
    #[error(
        "{who} at {endpoint} did not answer {what} within {secs} s (expected an Engine API answer)"
    )]
    Timeout {
        who: String,
        endpoint: String,
        what: String,
        secs: u64,
    },
    /// The engine's answer is not what the Engine API describes.
    #[error("{who} at {endpoint} answered {what} unexpectedly: {detail}")]
    Unexpected {
        who: String,
        endpoint: String,
        what: String,
        detail: String,
    },
    /// The engine's API is older than hostmatch supports.
    #[error("{who} at {endpoint} speaks Engine API {server}; hostmatch needs {min} or newer")]
    ApiTooOld {
        who: String,
        endpoint: String,
        server: String,
        min: String,
    },
    /// The engine no longer accepts any API version hostmatch speaks.
    #[error("{who} at {endpoint} needs Engine API {min} or newer; hostmatch speaks up to {max}")]
    ApiTooNew {
        who: String,
        endpoint: String,
        min: String,
        max: String,
    },
    /// The engine answered a request with an error.
    #[error("{who} refused {what}: {message} (HTTP {status})")]
    Refused {
        who: String,
        what: String,
        status: u16,
        message: String,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Invalid`] from anything printable.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    /// Whether the error means "another program holds a lock or changed the
    /// file meanwhile; nothing was written" (exit code 4 of the binaries).
    pub fn is_busy(&self) -> bool {
        matches!(self, Error::Busy(_))
    }

    /// Whether an engine is there but cannot be used: it did not answer in time, answered
    /// what the Engine API does not describe, speaks an API version hostmatch does not, or
    /// refused a question. (Nothing listening, or no permission to the socket, is not.)
    pub fn is_engine_misbehaving(&self) -> bool {
        matches!(
            self,
            Error::Engine(
                EngineError::Timeout { .. }
                    | EngineError::Unexpected { .. }
                    | EngineError::ApiTooOld { .. }
                    | EngineError::ApiTooNew { .. }
                    | EngineError::Refused { .. }
            )
        )
    }

    /// Whether the error means "the input was bad" (as opposed to "the system
    /// failed"): binaries map this to a different exit code.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::Parse { .. }
                | Error::InvalidFile { .. }
                | Error::UnknownUser(_)
                | Error::UnknownGroup(_)
                | Error::Invalid(_)
        )
    }
}
