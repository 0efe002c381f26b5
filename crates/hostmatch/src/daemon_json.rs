//! `/etc/docker/daemon.json`, edited in place: hostmatch changes only the
//! bytes of the `userns-remap` member and keeps every other byte of the file
//! (formatting, key order, numbers such as `123456789012345678901234` or
//! `1e2`, a byte-order mark). Setting the key and removing it again gives
//! back the original bytes.
//!
//! The file is read the way dockerd reads it (docs/dockerd-remap-behaviour.md):
//! - it must be one JSON object (whitespace only counts as empty);
//! - a repeated top-level key: the last one wins (Go's `encoding/json`), so
//!   hostmatch reads and changes the last `userns-remap` and `disable`
//!   removes all of them;
//! - a key spelled with other letter case (`Userns-Remap`) is refused: dockerd
//!   refuses keys it does not know;
//! - a UTF-8 byte-order mark is kept (Docker 23+ skips it; 20.10 refuses to
//!   start with it, which `status` reports); UTF-16 files are refused (Docker
//!   23+ reads them; hostmatch edits UTF-8 only).

use std::path::Path;

use serde_json::Value;

use crate::{Error, Result};

/// The key dockerd reads for user-namespace remapping.
pub const USERNS_REMAP: &str = "userns-remap";

const BOM: &str = "\u{feff}";

/// One top-level member: byte offsets into the text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    key: String,
    key_start: usize,
    value_start: usize,
    value_end: usize,
}

/// A parsed daemon.json: its text and where its top-level members are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonJson {
    text: String,
    /// Offsets of the object's `{` and `}` (None: an empty file).
    braces: Option<(usize, usize)>,
    members: Vec<Member>,
}

impl DaemonJson {
    /// Parses the file's text (whitespace only is an empty object). Invalid
    /// JSON or a non-object is an error naming `path:line`.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let body = text.strip_prefix(BOM).unwrap_or(text);
        let offset = text.len() - body.len();
        if body.trim_ascii().is_empty() {
            return Ok(DaemonJson {
                text: text.to_string(),
                ..DaemonJson::default()
            });
        }
        serde_json::from_str::<serde::de::IgnoredAny>(body).map_err(|e| Error::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            msg: format!("invalid JSON: {e}"),
        })?;
        let open = offset + (body.len() - body.trim_ascii_start().len());
        if text.as_bytes()[open] != b'{' {
            return Err(Error::InvalidFile {
                path: path.to_path_buf(),
                msg: "the top level must be a JSON object".into(),
            });
        }
        let (members, close) = scan_object(text, open);
        if let Some(m) = members
            .iter()
            .find(|m| m.key != USERNS_REMAP && m.key.eq_ignore_ascii_case(USERNS_REMAP))
        {
            return Err(Error::InvalidFile {
                path: path.to_path_buf(),
                msg: format!(
                    "\"{}\": keys are case-sensitive and dockerd refuses this one; write \"{USERNS_REMAP}\"",
                    crate::escape::line(m.key.as_bytes())
                ),
            });
        }
        Ok(DaemonJson {
            text: text.to_string(),
            braces: Some((open, close)),
            members,
        })
    }

    fn reparse(&mut self) {
        *self = DaemonJson::parse(&self.text, Path::new("daemon.json"))
            .expect("an edit of valid JSON stays valid");
    }

    /// The value of the last top-level member named `key` (dockerd's choice).
    fn last(&self, key: &str) -> Option<&Member> {
        self.members.iter().rev().find(|m| m.key == key)
    }

    fn value(&self, m: &Member) -> Value {
        serde_json::from_str(&self.text[m.value_start..m.value_end])
            .expect("a validated JSON value parses")
    }

    /// The `userns-remap` setting, if any (a non-string value is an error).
    pub fn userns_remap(&self, path: &Path) -> Result<Option<String>> {
        match self.last(USERNS_REMAP).map(|m| self.value(m)) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::InvalidFile {
                path: path.to_path_buf(),
                msg: format!("\"{USERNS_REMAP}\" must be a string"),
            }),
        }
    }

    /// How many times `userns-remap` is written (more than once: only the
    /// last counts).
    pub fn userns_remap_count(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.key == USERNS_REMAP)
            .count()
    }

    /// Whether the file starts with a UTF-8 byte-order mark (Docker 20.10
    /// refuses such a file; 23 and later skip the mark).
    pub fn has_bom(&self) -> bool {
        self.text.starts_with(BOM)
    }

    /// A string value of another key (e.g. `data-root`).
    pub fn get_str(&self, key: &str) -> Option<String> {
        match self.last(key).map(|m| self.value(m)) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// Sets `userns-remap`: the value of its last member is replaced in
    /// place; without one, a member is appended in the file's own style.
    pub fn set_userns_remap(&mut self, spec: &str) {
        let value = serde_json::to_string(spec).expect("a string serializes");
        if let Some(m) = self.last(USERNS_REMAP).cloned() {
            self.text.replace_range(m.value_start..m.value_end, &value);
        } else {
            self.insert_member(&value);
        }
        self.reparse();
    }

    fn insert_member(&mut self, value: &str) {
        let key = serde_json::to_string(USERNS_REMAP).expect("a string serializes");
        let Some((open, close)) = self.braces else {
            // An empty file (whitespace only): a whole object.
            let bom = if self.has_bom() { BOM } else { "" };
            self.text = format!("{bom}{{\n  {key}: {value}\n}}\n");
            return;
        };
        match (self.members.first(), self.members.last()) {
            (Some(first), Some(last)) => {
                // The whitespace before the first key and around its colon.
                let lead = &self.text[open + 1..first.key_start];
                let key_len = scan_string(&self.text, first.key_start) - first.key_start;
                let colon = &self.text[first.key_start + key_len..first.value_start];
                let member = format!(",{lead}{key}{colon}{value}");
                self.text.insert_str(last.value_end, &member);
            }
            _ => {
                let inner = &self.text[open + 1..close];
                let member = if inner.contains('\n') {
                    format!("\n  {key}: {value}")
                } else {
                    format!("{key}: {value}")
                };
                self.text.insert_str(open + 1, &member);
            }
        }
    }

    /// Removes every `userns-remap` member (with its comma and the
    /// whitespace before it); returns whether there was one.
    pub fn remove_userns_remap(&mut self) -> bool {
        let mut removed = false;
        while let Some(i) = self.members.iter().rposition(|m| m.key == USERNS_REMAP) {
            let (open, _) = self.braces.expect("a member lies inside braces");
            let m = &self.members[i];
            let range = if self.members.len() == 1 {
                open + 1..m.value_end
            } else if i + 1 == self.members.len() {
                self.members[i - 1].value_end..m.value_end
            } else {
                m.key_start..self.members[i + 1].key_start
            };
            self.text.replace_range(range, "");
            self.reparse();
            removed = true;
        }
        removed
    }

    /// The text: byte for byte the file as read, but for the edited member.
    pub fn render(&self) -> String {
        self.text.clone()
    }
}

/// The end (one past the closing quote) of the string starting at `start`.
fn scan_string(text: &str, start: usize) -> usize {
    let b = text.as_bytes();
    let mut i = start + 1;
    while b[i] != b'"' {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end of the (valid) JSON value starting at `start`.
fn scan_value(text: &str, start: usize) -> usize {
    let b = text.as_bytes();
    match b[start] {
        b'"' => scan_string(text, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            loop {
                match b[i] {
                    b'"' => {
                        i = scan_string(text, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = start;
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                i += 1;
            }
            i
        }
    }
}

/// The members of the (valid) object whose `{` is at `open`, and its `}`.
fn scan_object(text: &str, open: usize) -> (Vec<Member>, usize) {
    let b = text.as_bytes();
    let mut members = Vec::new();
    let mut i = skip_ws(b, open + 1);
    if b[i] == b'}' {
        return (members, i);
    }
    loop {
        let key_start = i;
        let key_end = scan_string(text, key_start);
        let key: String =
            serde_json::from_str(&text[key_start..key_end]).expect("a validated JSON key parses");
        i = skip_ws(b, key_end);
        i = skip_ws(b, i + 1); // the ':'
        let value_start = i;
        let value_end = scan_value(text, value_start);
        members.push(Member {
            key,
            key_start,
            value_start,
            value_end,
        });
        i = skip_ws(b, value_end);
        if b[i] == b'}' {
            return (members, i);
        }
        i = skip_ws(b, i + 1); // the ','
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/etc/docker/daemon.json";

    fn parse(text: &str) -> DaemonJson {
        DaemonJson::parse(text, Path::new(P)).unwrap()
    }

    fn round_trip(text: &str) -> String {
        let mut d = parse(text);
        d.set_userns_remap("default");
        let on = d.render();
        assert_eq!(
            parse(&on).userns_remap(Path::new(P)).unwrap().as_deref(),
            Some("default"),
            "{on}"
        );
        assert!(d.remove_userns_remap());
        assert_eq!(d.render(), text, "enable then disable gives the bytes back");
        on
    }

    #[test]
    fn numbers_and_formatting_are_kept_byte_for_byte() {
        let text = "{\n    \"max-concurrent-downloads\": 123456789012345678901234,\n    \"x\": 1e2,\n    \"storage-opts\": [\"a\",   \"b\"],\n    \"debug\": true\n}\n";
        let on = round_trip(text);
        assert_eq!(
            on,
            "{\n    \"max-concurrent-downloads\": 123456789012345678901234,\n    \"x\": 1e2,\n    \"storage-opts\": [\"a\",   \"b\"],\n    \"debug\": true,\n    \"userns-remap\": \"default\"\n}\n"
        );
    }

    #[test]
    fn compact_empty_and_nested_objects_round_trip() {
        assert_eq!(round_trip("{}"), "{\"userns-remap\": \"default\"}");
        assert_eq!(
            round_trip("{\n}\n"),
            "{\n  \"userns-remap\": \"default\"\n}\n"
        );
        assert_eq!(
            round_trip("{\"a\":{\"userns-remap\":\"x\"},\"b\":[1,{\"c\":\"}\"}]}"),
            "{\"a\":{\"userns-remap\":\"x\"},\"b\":[1,{\"c\":\"}\"}],\"userns-remap\":\"default\"}"
        );
        round_trip("\u{feff}{ \"debug\" : false }");
        round_trip("  {\t\"a\\\"b\": \"\\u00e9\" }  \n\n");
    }

    #[test]
    fn an_existing_value_is_replaced_in_place() {
        let mut d = parse("{\"userns-remap\": \"old\",\n \"debug\": true}");
        d.set_userns_remap("new\"one");
        assert_eq!(
            d.render(),
            "{\"userns-remap\": \"new\\\"one\",\n \"debug\": true}"
        );
        assert_eq!(
            d.userns_remap(Path::new(P)).unwrap().as_deref(),
            Some("new\"one")
        );
    }

    #[test]
    fn removal_takes_the_comma_on_the_right_side() {
        let mut d = parse("{\n  \"userns-remap\": \"a\",\n  \"debug\": true\n}");
        d.remove_userns_remap();
        assert_eq!(d.render(), "{\n  \"debug\": true\n}");
        let mut d = parse("{\"a\": 1, \"userns-remap\": \"x\" , \"b\": 2}");
        d.remove_userns_remap();
        assert_eq!(d.render(), "{\"a\": 1, \"b\": 2}");
    }

    #[test]
    fn duplicate_keys_are_read_like_dockerd_the_last_wins() {
        let text = "{\"userns-remap\": \"first\", \"userns-remap\": \"last\"}";
        let mut d = parse(text);
        assert_eq!(d.userns_remap_count(), 2);
        assert_eq!(
            d.userns_remap(Path::new(P)).unwrap().as_deref(),
            Some("last")
        );
        d.set_userns_remap("new");
        assert_eq!(
            d.render(),
            "{\"userns-remap\": \"first\", \"userns-remap\": \"new\"}"
        );
        assert!(d.remove_userns_remap());
        assert_eq!(d.render(), "{}");
        assert_eq!(d.userns_remap(Path::new(P)).unwrap(), None);
    }

    #[test]
    fn a_byte_order_mark_is_kept() {
        let d = parse("\u{feff}{\"userns-remap\": \"x\"}");
        assert!(d.has_bom());
        assert_eq!(d.userns_remap(Path::new(P)).unwrap().as_deref(), Some("x"));
    }

    #[test]
    fn invalid_json_names_the_line() {
        let e = DaemonJson::parse("{\n  \"a\": 1,\n  oops\n}\n", Path::new(P)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/etc/docker/daemon.json:3: invalid JSON"),
            "{e}"
        );
        assert!(DaemonJson::parse("[1]", Path::new(P)).is_err());
        assert!(DaemonJson::parse("{} {}", Path::new(P)).is_err());
        assert!(DaemonJson::parse("{\"Userns-Remap\": \"x\"}", Path::new(P)).is_err());
    }

    #[test]
    fn empty_file_is_an_empty_object() {
        let d = DaemonJson::parse("  \n", Path::new(P)).unwrap();
        assert_eq!(d.userns_remap(Path::new(P)).unwrap(), None);
        assert_eq!(d.render(), "  \n");
        let mut d = DaemonJson::parse("", Path::new(P)).unwrap();
        d.set_userns_remap("default");
        assert_eq!(d.render(), "{\n  \"userns-remap\": \"default\"\n}\n");
    }

    #[test]
    fn non_string_remap_is_an_error() {
        let d = DaemonJson::parse("{\"userns-remap\": 5}", Path::new(P)).unwrap();
        assert!(d.userns_remap(Path::new(P)).is_err());
    }
}
