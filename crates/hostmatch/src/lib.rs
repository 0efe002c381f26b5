//! hostmatch: make files written by containers belong to the right people.
//!
//! The library holds all of the project's logic. Models (ID maps, subordinate-id
//! files, accounts, login.defs, daemon.json) are pure: they parse text, plan
//! changes and render text, with no I/O. [`sysroot`] and [`fsedit`] do the
//! reading and the atomic writing; [`sys`] is the only place with `unsafe`.

pub mod accounts;
pub mod acl;
pub mod audit;
pub mod daemon_json;
pub mod docker;
pub mod dockremap;
pub mod doctor;
pub mod engine;
pub mod entrypoint;
pub mod error;
pub mod escape;
pub mod fsedit;
pub mod grouplink;
pub mod idmount;
pub mod ids;
pub mod journal;
pub mod kernel;
pub mod linefile;
pub mod locks;
pub mod logindefs;
pub mod own;
pub mod podman;
pub mod procfs;
pub mod remap;
pub mod report;
pub mod rootless;
pub mod subid;
pub mod subid_files;
pub mod subid_readers;
#[allow(unsafe_code)] // the one place with system calls; each block has a SAFETY line
pub mod sys;
pub mod sysroot;
pub mod volume;

pub use error::{Error, Result};
