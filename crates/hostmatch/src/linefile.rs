//! Lossless models of colon-separated system files (passwd, group, subuid, ...).
//!
//! A file is a list of lines. A line that parses as a record is kept as the
//! record and its original text; every other line (comments, blank lines, NIS
//! `+`/`-` lines, malformed lines) is kept byte for byte. Rendering writes the
//! original text of every line that was not changed, so `render(parse(x)) == x`.

use std::path::Path;

use crate::{Error, Result};

/// A record type stored one per line.
pub trait Record: Sized + Clone {
    /// Parses one line (without its newline). `Err` carries a short reason.
    fn parse_line(line: &str) -> std::result::Result<Self, String>;
    /// Renders the record as one line (without a newline).
    fn render(&self) -> String;
    /// Whether a line is kept as-is without being parsed (default: blank
    /// lines and `#` comments).
    fn passthrough(line: &str) -> bool {
        let t = line.trim_start();
        t.is_empty() || t.starts_with('#')
    }
}

/// A byte range of the text a file was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: usize,
    end: usize,
}

/// What a line of the file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<T> {
    /// A record, with the span of text it was parsed from (`None` once
    /// changed or new).
    Record { rec: T, raw: Option<Span> },
    /// A comment (`#...`), blank line, or (passwd/group) NIS compat line.
    Other(Span),
    /// A line that does not parse; kept verbatim, with the reason.
    Invalid { raw: Span, reason: String },
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFile<T> {
    /// The text as read: unchanged lines are rendered from it.
    text: String,
    lines: Vec<Line<T>>,
    /// Whether the text ended with a newline (or was empty).
    trailing_newline: bool,
}

impl<T> Default for LineFile<T> {
    fn default() -> Self {
        LineFile {
            text: String::new(),
            lines: Vec::new(),
            trailing_newline: true,
        }
    }
}

impl<T: Record> LineFile<T> {
    /// Parses text leniently: bad lines become [`Line::Invalid`].
    pub fn parse(text: &str) -> Self {
        let trailing_newline = text.is_empty() || text.ends_with('\n');
        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut lines = Vec::with_capacity(body.len() / 32 + 1);
        if !text.is_empty() {
            let mut start = 0;
            let ends = memchr::memchr_iter(b'\n', body.as_bytes()).chain([body.len()]);
            for end in ends {
                let span = Span { start, end };
                start = end + 1;
                lines.push(Self::classify(&body[span.start..end], span));
            }
        }
        LineFile {
            text: text.to_string(),
            lines,
            trailing_newline,
        }
    }

    /// Parses text strictly: the first bad line is an error naming `path:line`.
    pub fn parse_strict(text: &str, path: &Path) -> Result<Self> {
        let f = Self::parse(text);
        if let Some((line, reason)) = f.invalid_lines().next() {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line,
                msg: reason.to_string(),
            });
        }
        Ok(f)
    }

    fn classify(line: &str, span: Span) -> Line<T> {
        if T::passthrough(line) {
            return Line::Other(span);
        }
        match T::parse_line(line) {
            Ok(rec) => Line::Record {
                rec,
                raw: Some(span),
            },
            Err(reason) => Line::Invalid { raw: span, reason },
        }
    }

    fn slice(&self, span: Span) -> &str {
        &self.text[span.start..span.end]
    }

    /// All lines.
    pub fn lines(&self) -> &[Line<T>] {
        &self.lines
    }

    /// Records with their 1-based line numbers.
    pub fn records(&self) -> impl Iterator<Item = (usize, &T)> {
        self.lines.iter().enumerate().filter_map(|(i, l)| match l {
            Line::Record { rec, .. } => Some((i + 1, rec)),
            _ => None,
        })
    }

    /// Invalid lines as (1-based line number, reason).
    pub fn invalid_lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.lines.iter().enumerate().filter_map(|(i, l)| match l {
            Line::Invalid { reason, .. } => Some((i + 1, reason.as_str())),
            _ => None,
        })
    }

    /// The first record matching `pred`.
    pub fn find(&self, pred: impl Fn(&T) -> bool) -> Option<&T> {
        self.records().map(|(_, r)| r).find(|r| pred(r))
    }

    /// Changes every record matching `pred` with `f`; returns how many changed.
    pub fn update(&mut self, pred: impl Fn(&T) -> bool, mut f: impl FnMut(&mut T)) -> usize {
        let mut n = 0;
        for l in &mut self.lines {
            if let Line::Record { rec, raw } = l {
                if pred(rec) {
                    f(rec);
                    *raw = None;
                    n += 1;
                }
            }
        }
        n
    }

    /// Removes every record matching `pred`; returns how many were removed.
    pub fn remove(&mut self, pred: impl Fn(&T) -> bool) -> usize {
        let before = self.lines.len();
        self.lines
            .retain(|l| !matches!(l, Line::Record { rec, .. } if pred(rec)));
        before - self.lines.len()
    }

    /// Appends a record at the end of the file.
    pub fn push(&mut self, rec: T) {
        self.lines.push(Line::Record { rec, raw: None });
    }

    /// Renders the file: unchanged lines byte for byte.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 64);
        for (i, l) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            match l {
                Line::Record { raw: Some(raw), .. } => out.push_str(self.slice(*raw)),
                Line::Record { rec, raw: None } => out.push_str(&rec.render()),
                Line::Other(raw) | Line::Invalid { raw, .. } => out.push_str(self.slice(*raw)),
            }
        }
        // A file that lost its final newline gets it back once we append.
        let appended = matches!(self.lines.last(), Some(Line::Record { raw: None, .. }));
        if !self.lines.is_empty() && (self.trailing_newline || appended) {
            out.push('\n');
        }
        out
    }
}

/// Splits a line into exactly `n` colon-separated fields.
pub fn fields(line: &str, n: usize) -> std::result::Result<Vec<&str>, String> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() != n {
        return Err(format!(
            "expected {n} ':'-separated fields, found {}",
            f.len()
        ));
    }
    Ok(f)
}

/// Splits a line into exactly `N` colon-separated fields, without allocating.
pub fn split_fields<const N: usize>(line: &str) -> std::result::Result<[&str; N], String> {
    let mut out = [""; N];
    let mut rest = line;
    for (i, slot) in out.iter_mut().enumerate() {
        let colon = rest.bytes().position(|b| b == b':');
        if i + 1 == N {
            if colon.is_some() {
                return Err(format!(
                    "expected {N} ':'-separated fields, found {}",
                    line.split(':').count()
                ));
            }
            *slot = rest;
        } else {
            let Some(c) = colon else {
                return Err(format!(
                    "expected {N} ':'-separated fields, found {}",
                    i + 1
                ));
            };
            *slot = &rest[..c];
            rest = &rest[c + 1..];
        }
    }
    Ok(out)
}

/// Parses a numeric id field.
pub fn id_field(s: &str, what: &str) -> std::result::Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} '{s}' is not a number"));
    }
    s.bytes()
        .try_fold(0u32, |n, d| {
            n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
        })
        .ok_or_else(|| format!("{what} {s} is out of range (at most {})", u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_fields_counts_fields_in_errors() {
        assert_eq!(split_fields::<3>("a:b:c"), Ok(["a", "b", "c"]));
        assert_eq!(split_fields::<3>("::"), Ok(["", "", ""]));
        let short = "expected 3 ':'-separated fields, found";
        assert_eq!(split_fields::<3>(""), Err(format!("{short} 1")));
        assert_eq!(split_fields::<3>("a:b"), Err(format!("{short} 2")));
        assert_eq!(split_fields::<3>("a:b:c:d:e"), Err(format!("{short} 5")));
    }

    #[test]
    fn id_field_rejects_non_numbers_and_overflow() {
        assert_eq!(id_field("0", "uid"), Ok(0));
        assert_eq!(id_field("4294967295", "uid"), Ok(u32::MAX));
        assert_eq!(id_field("007", "uid"), Ok(7));
        assert!(id_field("4294967296", "uid")
            .unwrap_err()
            .contains("out of range"));
        assert!(id_field("-1", "uid").unwrap_err().contains("not a number"));
        assert!(id_field("", "uid").unwrap_err().contains("not a number"));
    }
}
