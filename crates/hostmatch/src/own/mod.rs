//! The ownership engine: re-owning and shifting of trees by an fd-relative,
//! parallel walk that never follows symlinks and never crosses mount points.
//!
//! This file fixes the engine's interface; the walk itself lands with the
//! ownership-engine issue.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::ids::{Id, IdMap};
use crate::{Error, Result};

/// What to change on each entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Entries whose uid is `uid.0` get `uid.1`; independently entries whose gid
    /// is `gid.0` get `gid.1`. `None`: that side is left alone.
    Chown {
        uid: Option<(Id, Id)>,
        gid: Option<(Id, Id)>,
    },
    /// Every entry gets these ids (`None`: leave that side alone).
    Set { uid: Option<Id>, gid: Option<Id> },
    /// Every uid/gid inside a map's range moves by it (container -> host);
    /// ids outside every range are left alone and counted. ACLs and file
    /// capabilities move too; setuid/setgid bits are kept.
    Shift { uid_map: IdMap, gid_map: IdMap },
}

/// How deep to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// The whole tree below the path.
    #[default]
    Recursive,
    /// The path itself and its direct entries only.
    Top,
    /// The path itself only.
    SelfOnly,
}

/// Whether to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Apply,
    /// Count what would change, write nothing.
    DryRun,
}

/// Walk options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub depth: Depth,
    pub mode: Mode,
    /// Worker threads; 0: one per CPU.
    pub threads: usize,
}

/// A per-entry failure; the walk goes on past it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryError {
    pub path: PathBuf,
    pub error: String,
}

/// What a walk saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub scanned: u64,
    pub changed: u64,
    pub skipped_mounts: u64,
    /// Ids left alone by a shift because no range holds them.
    pub unmapped: u64,
    pub errors: Vec<EntryError>,
}

/// Progress callback: called now and then with the number of entries scanned.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Applies `rule` to the tree at `path`.
pub fn apply(path: &Path, rule: &Rule, opts: &Options, progress: Progress<'_>) -> Result<Report> {
    let _ = (path, rule, opts, progress);
    Err(Error::Unsupported(
        "the ownership engine is not built yet".into(),
    ))
}
