//! The ownership engine: re-owning and shifting of trees by an fd-relative,
//! parallel walk that never follows symlinks and never crosses mount points.
//!
//! The walk itself is in `walk.rs`; this file holds the interface.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::fsedit::Apply;
use crate::ids::{Id, IdMap, IdSet};
use crate::Result;

pub mod spec;
mod walk;

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
    /// Every entry whose uid is in `uids` and whose gid is in `gids` gets
    /// `to_uid` and `to_gid` (`None`: that side is kept). An entry with an id
    /// outside its set is left alone and listed in [`Report::outside`]. This
    /// is what `reclaim` runs in its user namespace, where the sets are the
    /// ids the namespace maps and the kernel shows every other id as the
    /// overflow id.
    Gather {
        uids: IdSet,
        gids: IdSet,
        to_uid: Option<Id>,
        to_gid: Option<Id>,
    },
    /// Grants or revokes a named user's POSIX ACL entry (access ACL, and
    /// with `default` the default ACL of directories too), keeping the mask
    /// such that the entry takes effect. Owners are not changed.
    Acl {
        uid: Id,
        change: AclChange,
        default: bool,
    },
}

/// What [`Rule::Acl`] does to the user's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclChange {
    /// Add or replace the entry with these permissions (`acl::R|W|X`);
    /// `cap_x`: the `X` of `rwX`, execute only for directories and files
    /// someone can already execute.
    Grant { perms: u16, cap_x: bool },
    /// Remove the entry.
    Revoke,
}

impl Rule {
    /// The shift that undoes this one (maps inverted); `None` for other rules.
    pub fn reverse(&self) -> Option<Rule> {
        match self {
            Rule::Shift { uid_map, gid_map } => Some(Rule::Shift {
                uid_map: uid_map.inverse(),
                gid_map: gid_map.inverse(),
            }),
            _ => None,
        }
    }
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

/// Walk options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub depth: Depth,
    /// Write, or (dry run) count what would change and write nothing.
    pub mode: Apply,
    /// Worker threads; 0: one per CPU.
    pub threads: usize,
    /// Walk on behalf of one account in a tree that less trusted processes
    /// could have planted links in (see [`Guard`]). `None`: the walk of
    /// `hostmatch chown` and `shift`, unchanged.
    pub guard: Option<Guard>,
}

/// The rules of a walk done for one account (the container entrypoint's
/// re-owning), where the account itself may have prepared the tree:
///
/// - a non-directory with more than one link changes a side (uid or gid)
///   only from an id the account had ([`Guard::uids`], [`Guard::gids`]): a
///   hard link the account made to a file of someone else (`/etc/shadow`)
///   never makes that file the account's, with any rule (also
///   [`Rule::Set`]); such entries are left alone and listed in
///   [`Report::skipped`];
/// - every change goes through a descriptor opened on the entry and checked
///   to be the inode that was looked at (no change by name, which an entry
///   swapped between the look and the change would redirect);
/// - the kernel must report mount ids (`statx` `STATX_MNT_ID`, Linux 5.8):
///   without them mount points cannot be told apart and the walk refuses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    /// The uids the account had (before and after the change).
    pub uids: Vec<Id>,
    /// The gids the account had (its groups before and after the change).
    pub gids: Vec<Id>,
}

/// A per-entry failure; the walk goes on past it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryError {
    #[serde(serialize_with = "lossy_path")]
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
    /// Entries a [`Guard`] left alone (files of others linked into the tree).
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped_links: u64,
    /// The first [`MAX_ERRORS`] of them, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<EntryError>,
    pub errors: Vec<EntryError>,
    /// Errors beyond the first [`MAX_ERRORS`] are counted here, not listed.
    pub errors_omitted: u64,
    /// Entries a [`Rule::Gather`] left alone because an id of theirs is
    /// outside its sets (the first [`MAX_ERRORS`]).
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "lossy_paths")]
    pub outside: Vec<PathBuf>,
    /// Such entries beyond the first [`MAX_ERRORS`].
    #[serde(skip_serializing_if = "is_zero")]
    pub outside_omitted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Paths as text in JSON (any bytes: lossy for names that are not UTF-8).
fn lossy_path<S: serde::Serializer>(p: &Path, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

fn lossy_paths<S: serde::Serializer>(v: &[PathBuf], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|p| p.to_string_lossy()))
}

/// How many per-entry errors a [`Report`] lists.
pub const MAX_ERRORS: usize = 1000;

impl Report {
    /// Whether every entry could be handled.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty() && self.errors_omitted == 0
    }

    /// Adds another walk's counts and errors to this one.
    pub fn merge(&mut self, other: Report) {
        self.scanned += other.scanned;
        self.changed += other.changed;
        self.skipped_mounts += other.skipped_mounts;
        self.unmapped += other.unmapped;
        self.skipped_links += other.skipped_links;
        for e in other.skipped {
            if self.skipped.len() < MAX_ERRORS {
                self.skipped.push(e);
            }
        }
        self.errors_omitted += other.errors_omitted;
        self.outside_omitted += other.outside_omitted;
        for p in other.outside {
            if self.outside.len() < MAX_ERRORS {
                self.outside.push(p);
            } else {
                self.outside_omitted += 1;
            }
        }
        for e in other.errors {
            if self.errors.len() < MAX_ERRORS {
                self.errors.push(e);
            } else {
                self.errors_omitted += 1;
            }
        }
    }

    /// One line for humans: `scanned 12, changed 3, 1 mount point skipped`.
    pub fn summary(&self, dry_run: bool) -> String {
        let mut s = format!(
            "scanned {}, {} {}",
            self.scanned,
            if dry_run { "would change" } else { "changed" },
            self.changed
        );
        if self.skipped_mounts > 0 {
            s += &format!(", skipped {} mount point(s)", self.skipped_mounts);
        }
        if self.unmapped > 0 {
            s += &format!(", {} id(s) outside every range left alone", self.unmapped);
        }
        if self.skipped_links > 0 {
            s += &format!(
                ", {} file(s) of others linked into the tree left alone",
                self.skipped_links
            );
        }
        let outside = self.outside.len() as u64 + self.outside_omitted;
        if outside > 0 {
            s += &format!(", {outside} left alone (owned by ids outside the ranges)");
        }
        let errs = self.errors.len() as u64 + self.errors_omitted;
        if errs > 0 {
            s += &format!(", {errs} error(s)");
        }
        s
    }
}

/// Progress callback: called now and then with the number of entries scanned.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// A progress callback that ignores progress.
pub fn no_progress(_: u64) {}

/// Applies `rule` to the tree at `path`: the path itself (a symlink is
/// re-owned itself) and, by `opts.depth`, what is below it. Per-entry
/// failures are collected in [`Report::errors`]; `Err` only when the path
/// itself cannot be looked at.
pub fn apply(path: &Path, rule: &Rule, opts: &Options, progress: Progress<'_>) -> Result<Report> {
    walk::run(path, rule, opts, progress)
}

/// [`apply`] to the tree whose root the caller has opened already (an
/// `O_PATH` or directory descriptor, e.g. reached without following
/// symlinks): the walk starts from that inode, whatever its path names now.
/// `path` names it in the report.
pub fn apply_fd(
    root: OwnedFd,
    path: &Path,
    rule: &Rule,
    opts: &Options,
    progress: Progress<'_>,
) -> Result<Report> {
    walk::run_fd(root, path, rule, opts, progress)
}
