//! `/etc/docker/daemon.json` as a JSON value: every key and value is kept (in
//! order) when hostmatch sets or removes `userns-remap`.

use std::path::Path;

use serde_json::{Map, Value};

use crate::{Error, Result};

/// The key dockerd reads for user-namespace remapping.
pub const USERNS_REMAP: &str = "userns-remap";

/// A parsed daemon.json.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonJson {
    map: Map<String, Value>,
    indent: String,
    /// The text and value as read, so that an unchanged file renders as it was.
    original: Option<(String, Map<String, Value>)>,
}

impl Default for DaemonJson {
    fn default() -> Self {
        DaemonJson {
            map: Map::new(),
            indent: "  ".into(),
            original: None,
        }
    }
}

impl DaemonJson {
    /// Parses the file's text (empty text is an empty object). Invalid JSON or
    /// a non-object is an error naming `path:line`.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(DaemonJson::default());
        }
        let v: Value = serde_json::from_str(text).map_err(|e| Error::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            msg: format!("invalid JSON: {e}"),
        })?;
        let Value::Object(map) = v else {
            return Err(Error::InvalidFile {
                path: path.to_path_buf(),
                msg: "the top level must be a JSON object".into(),
            });
        };
        Ok(DaemonJson {
            original: Some((text.to_string(), map.clone())),
            map,
            indent: detect_indent(text),
        })
    }

    /// The `userns-remap` setting, if any (a non-string value is an error).
    pub fn userns_remap(&self, path: &Path) -> Result<Option<&str>> {
        match self.map.get(USERNS_REMAP) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::InvalidFile {
                path: path.to_path_buf(),
                msg: format!("\"{USERNS_REMAP}\" must be a string"),
            }),
        }
    }

    /// A string value of another key (e.g. `data-root`).
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.map.get(key).and_then(Value::as_str)
    }

    /// Sets `userns-remap` (kept in place if present, else appended).
    pub fn set_userns_remap(&mut self, spec: &str) {
        self.map
            .insert(USERNS_REMAP.into(), Value::String(spec.into()));
    }

    /// Removes `userns-remap`; returns whether it was there.
    pub fn remove_userns_remap(&mut self) -> bool {
        self.map.shift_remove(USERNS_REMAP).is_some()
    }

    /// Renders the object: the original text when the value is unchanged,
    /// else pretty-printed with the file's own indentation.
    pub fn render(&self) -> String {
        if let Some((text, map)) = &self.original {
            if *map == self.map {
                return text.clone();
            }
        }
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(self.indent.as_bytes());
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        serde::Serialize::serialize(&self.map, &mut ser).expect("a JSON map always serializes");
        let mut s = String::from_utf8(buf).expect("serde_json writes UTF-8");
        s.push('\n');
        s
    }
}

fn detect_indent(text: &str) -> String {
    text.lines()
        .skip(1)
        .find_map(|l| {
            let ws: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
            (!ws.is_empty()).then_some(ws)
        })
        .unwrap_or_else(|| "  ".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/etc/docker/daemon.json";

    #[test]
    fn other_keys_and_order_are_kept() {
        let text = "{\n    \"log-driver\": \"journald\",\n    \"storage-opts\": [\"a\", \"b\"],\n    \"debug\": true\n}\n";
        let mut d = DaemonJson::parse(text, Path::new(P)).unwrap();
        // Unchanged: byte for byte, whatever the formatting.
        assert_eq!(d.render(), text);
        d.set_userns_remap("x");
        d.remove_userns_remap();
        assert_eq!(d.render(), text);
        d.set_userns_remap("default");
        assert_eq!(
            d.render(),
            "{\n    \"log-driver\": \"journald\",\n    \"storage-opts\": [\n        \"a\",\n        \"b\"\n    ],\n    \"debug\": true,\n    \"userns-remap\": \"default\"\n}\n"
        );
        assert!(d.remove_userns_remap());
        assert!(!d.remove_userns_remap());
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
    }

    #[test]
    fn empty_file_is_an_empty_object() {
        let d = DaemonJson::parse("  \n", Path::new(P)).unwrap();
        assert_eq!(d.userns_remap(Path::new(P)).unwrap(), None);
        assert_eq!(d.render(), "{}\n");
    }

    #[test]
    fn non_string_remap_is_an_error() {
        let d = DaemonJson::parse("{\"userns-remap\": 5}", Path::new(P)).unwrap();
        assert!(d.userns_remap(Path::new(P)).is_err());
    }
}
