//! Test-only fault injection: the entrypoint passes named points between
//! the steps of an account change; a build with the cargo feature
//! `fault-injection` (never the release or setuid build: see
//! docs/threat-model.md) can kill itself or fail at one of them, so that a
//! test can check that the next start finishes the change.
//!
//! With the feature, `HOSTMATCH_ENTRYPOINT_FAULT=POINT:kill` (abort, no clean-up) or
//! `POINT:fail` (an I/O error, the ordinary error path) picks the point, and
//! `HOSTMATCH_ENTRYPOINT_FAULT_TRACE=1` prints `fault point: POINT` on stderr at each
//! point passed. Without the feature every function here is a no-op and the
//! environment is never read.

#[cfg(feature = "fault-injection")]
mod imp {
    use std::ffi::OsString;
    use std::sync::OnceLock;

    use crate::{Error, Result};

    struct Plan {
        point: Option<(String, bool)>,
        trace: bool,
    }

    static PLAN: OnceLock<Plan> = OnceLock::new();

    /// Whether this build has fault injection.
    pub const ENABLED: bool = true;

    /// Reads the fault plan from the caller's environment (a copy taken
    /// before the process environment is cleared).
    pub fn init(env: &[(OsString, OsString)]) {
        let get = |k: &str| {
            env.iter()
                .find(|(a, _)| a == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        let point = get("HOSTMATCH_ENTRYPOINT_FAULT").and_then(|v| {
            let (p, kind) = v.rsplit_once(':')?;
            Some((p.to_string(), kind == "kill"))
        });
        let trace = get("HOSTMATCH_ENTRYPOINT_FAULT_TRACE").is_some_and(|v| v == "1");
        let _ = PLAN.set(Plan { point, trace });
    }

    /// A point between two steps.
    pub fn point(name: &str) -> Result<()> {
        let Some(plan) = PLAN.get() else {
            return Ok(());
        };
        if plan.trace {
            eprintln!("fault point: {name}");
        }
        match &plan.point {
            Some((p, true)) if p == name => std::process::abort(),
            Some((p, false)) if p == name => Err(Error::io(
                name,
                std::io::Error::other("fault injected by the test build"),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(not(feature = "fault-injection"))]
mod imp {
    use std::ffi::OsString;

    /// Whether this build has fault injection.
    pub const ENABLED: bool = false;

    /// No-op without the `fault-injection` feature.
    #[inline(always)]
    pub fn init(_env: &[(OsString, OsString)]) {}

    /// No-op without the `fault-injection` feature.
    #[inline(always)]
    pub fn point(_name: &str) -> crate::Result<()> {
        Ok(())
    }
}

pub use imp::{init, point, ENABLED};
