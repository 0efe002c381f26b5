//! What `hostmatch doctor` and `hostmatch audit` report: findings, each with
//! a status, what was seen, and what to do about it.

use serde::Serialize;

/// A finding's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    /// Not looked at: nothing to look at, or not asked.
    Skip,
}

impl Status {
    /// The word users see (`ok`, `warn`, `fail`, `skip`), as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// One finding: what was seen, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable name (`userns`, `container-root`).
    pub id: &'static str,
    pub status: Status,
    /// What was seen, as a sentence.
    pub observed: String,
    /// What to run or do about it ("" when nothing).
    pub hint: String,
}

impl Finding {
    pub fn new(
        id: &'static str,
        status: Status,
        observed: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Finding {
            id,
            status,
            observed: observed.into(),
            hint: hint.into(),
        }
    }
}

/// Whether any finding failed.
pub fn failed(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.status == Status::Fail)
}
