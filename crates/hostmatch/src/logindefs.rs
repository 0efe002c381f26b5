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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_value_of_a_key_wins_and_numbers_read_like_shadow() {
        let d = LoginDefs::parse("# c\nA 1\nA \"0x10\"\n  B\t010 \nC\n");
        let p = Path::new("/etc/login.defs");
        assert_eq!(d.get("A"), Some("0x10"));
        assert_eq!(d.get_id("A", 7, p).unwrap(), 16);
        assert_eq!(d.get_id("B", 7, p).unwrap(), 8);
        assert_eq!(d.get_id("missing", 7, p).unwrap(), 7);
        assert_eq!(
            d.get_id("C", 7, p).unwrap_err().to_string(),
            "/etc/login.defs:5: C '' is not a number from 0 to 4294967295"
        );
    }
}
