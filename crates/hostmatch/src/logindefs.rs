//! `/etc/login.defs`: the settings shadow's tools use to allocate ids.

use std::collections::HashMap;
use std::path::Path;

use crate::ids::Id;
use crate::{Error, Result};

/// The parsed `KEY VALUE` lines (the last one of a key wins, as in shadow).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginDefs {
    values: HashMap<String, (String, usize)>,
}

impl LoginDefs {
    /// Parses login.defs text; comments and blank lines are skipped.
    pub fn parse(text: &str) -> Self {
        let mut values = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let mut parts = t.splitn(2, char::is_whitespace);
            let key = parts.next().unwrap_or_default();
            let value = parts.next().unwrap_or_default().trim().trim_matches('"');
            values.insert(key.to_string(), (value.to_string(), i + 1));
        }
        LoginDefs { values }
    }

    /// A raw value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|(v, _)| v.as_str())
    }

    /// A numeric value (decimal, 0x hex or 0 octal, like shadow), or `default`
    /// when absent; a malformed value is an error naming `path:line`.
    pub fn get_id(&self, key: &str, default: Id, path: &Path) -> Result<Id> {
        let Some((v, line)) = self.values.get(key) else {
            return Ok(default);
        };
        parse_c_number(v).ok_or_else(|| Error::Parse {
            path: path.to_path_buf(),
            line: *line,
            msg: format!("{key} '{v}' is not a number from 0 to {}", u32::MAX),
        })
    }
}

fn parse_c_number(s: &str) -> Option<u32> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// The subordinate-id allocation settings, with shadow's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubidPolicy {
    pub min: Id,
    pub max: Id,
    pub count: u32,
}

impl SubidPolicy {
    /// `SUB_UID_*` (or `SUB_GID_*` for `gid`), defaults 100000 / 600100000 / 65536.
    pub fn from_defs(defs: &LoginDefs, kind: crate::subid::Kind, path: &Path) -> Result<Self> {
        let p = match kind {
            crate::subid::Kind::Uid => "SUB_UID",
            crate::subid::Kind::Gid => "SUB_GID",
        };
        let policy = SubidPolicy {
            min: defs.get_id(&format!("{p}_MIN"), 100_000, path)?,
            max: defs.get_id(&format!("{p}_MAX"), 600_100_000, path)?,
            count: defs.get_id(&format!("{p}_COUNT"), 65_536, path)?,
        };
        if policy.count == 0 || policy.min > policy.max {
            return Err(Error::InvalidFile {
                path: path.to_path_buf(),
                msg: format!("{p}_MIN..{p}_MAX is empty or {p}_COUNT is 0"),
            });
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subid::Kind;

    #[test]
    fn defaults_apply_when_keys_are_missing() {
        let d = LoginDefs::parse("# nothing\nUMASK 022\n");
        let p = SubidPolicy::from_defs(&d, Kind::Uid, Path::new("x")).unwrap();
        assert_eq!(
            p,
            SubidPolicy {
                min: 100000,
                max: 600100000,
                count: 65536
            }
        );
    }

    #[test]
    fn values_are_read_like_shadow_does() {
        let d = LoginDefs::parse("SUB_GID_MIN\t0x30000\nSUB_GID_COUNT 010\nSUB_GID_MAX 900000\n");
        let p = SubidPolicy::from_defs(&d, Kind::Gid, Path::new("x")).unwrap();
        assert_eq!(
            p,
            SubidPolicy {
                min: 0x30000,
                max: 900000,
                count: 8
            }
        );
    }

    #[test]
    fn malformed_value_names_the_line() {
        let d = LoginDefs::parse("\nSUB_UID_MIN lots\n");
        let e = SubidPolicy::from_defs(&d, Kind::Uid, Path::new("/etc/login.defs")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/login.defs:2: SUB_UID_MIN 'lots' is not a number from 0 to 4294967295"
        );
        let d = LoginDefs::parse("SUB_UID_MIN 4294967296\n");
        assert!(SubidPolicy::from_defs(&d, Kind::Uid, Path::new("x")).is_err());
    }
}
