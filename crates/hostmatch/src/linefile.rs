//! Lossless models of colon-separated system files (passwd, group, shadow,
//! gshadow, subuid, ...).
//!
//! A file is bytes, not text: shadow's tools accept names and GECOS fields
//! that are not UTF-8 (a Latin-1 GECOS is common on old systems), so every
//! field is a [`Field`] of bytes, shown escaped ([`crate::escape`]).
//!
//! A file is a list of lines. A line that parses as a record is kept as the
//! record and its original bytes; every other line (comments, blank lines, NIS
//! `+`/`-` lines, malformed lines) is kept byte for byte. Rendering writes the
//! original bytes of every line that was not changed, so `render(parse(x)) == x`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::Path;

use compact_str::CompactString;

use crate::{Error, Result};

/// One field of a line: bytes, usually (but not always) UTF-8.
///
/// UTF-8 fields of up to 24 bytes (all real names) are stored inline, so
/// parsing a file does not allocate one string per field.
#[derive(Clone)]
pub struct Field(Repr);

#[derive(Clone)]
enum Repr {
    Text(CompactString),
    Bytes(Box<[u8]>),
}

impl Field {
    /// A field from bytes (kept as they are).
    #[inline]
    pub fn from_bytes(b: &[u8]) -> Self {
        match std::str::from_utf8(b) {
            Ok(s) => Field(Repr::Text(s.into())),
            Err(_) => Field(Repr::Bytes(b.into())),
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Text(s) => s.as_bytes(),
            Repr::Bytes(b) => b,
        }
    }

    /// The text, when the field is UTF-8.
    #[inline]
    pub fn to_str(&self) -> Option<&str> {
        match &self.0 {
            Repr::Text(s) => Some(s),
            Repr::Bytes(_) => None,
        }
    }

    /// The field as a number (ASCII digits only), when it is one.
    pub fn to_id(&self) -> Option<u32> {
        id_of(self.as_bytes())
    }
}

impl Default for Field {
    fn default() -> Self {
        Field(Repr::Text(CompactString::default()))
    }
}

impl std::ops::Deref for Field {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for Field {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Field {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<&str> for Field {
    #[inline]
    fn from(s: &str) -> Self {
        Field(Repr::Text(s.into()))
    }
}

impl From<String> for Field {
    #[inline]
    fn from(s: String) -> Self {
        Field(Repr::Text(s.into()))
    }
}

impl From<&String> for Field {
    #[inline]
    fn from(s: &String) -> Self {
        Field(Repr::Text(s.as_str().into()))
    }
}

impl From<&[u8]> for Field {
    #[inline]
    fn from(b: &[u8]) -> Self {
        Field::from_bytes(b)
    }
}

impl PartialEq for Field {
    #[inline]
    fn eq(&self, other: &Field) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Field {}

impl Hash for Field {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_bytes().hash(h)
    }
}

impl PartialOrd for Field {
    fn partial_cmp(&self, other: &Field) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Field {
    fn cmp(&self, other: &Field) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

/// `Field == text` and `text == Field`: the bytes compared.
macro_rules! eq_text {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for Field {
            #[inline]
            fn eq(&self, other: &$t) -> bool {
                self.as_bytes() == other.as_bytes()
            }
        }

        impl PartialEq<Field> for $t {
            #[inline]
            fn eq(&self, other: &Field) -> bool {
                self.as_bytes() == other.as_bytes()
            }
        }
    )*};
}

eq_text!(str, &str, String);

/// Shown escaped: bytes that are not UTF-8 and control characters never
/// reach a terminal raw.
impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&crate::escape::line(self.as_bytes()))
    }
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", crate::escape::line(self.as_bytes()))
    }
}

/// Serialized as its escaped text (JSON strings are Unicode).
impl serde::Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&crate::escape::line(self.as_bytes()))
    }
}

/// A record type stored one per line.
pub trait Record: Sized + Clone {
    /// Parses one line (without its newline). `Err` carries a short reason.
    fn parse_line(line: &[u8]) -> std::result::Result<Self, String>;
    /// Appends the record as one line (without a newline).
    fn render_into(&self, out: &mut Vec<u8>);
    /// Parses a line of a file that is all UTF-8 (a faster path a record
    /// may provide: its fields need no UTF-8 check of their own).
    fn parse_str(line: &str) -> std::result::Result<Self, String> {
        Self::parse_line(line.as_bytes())
    }
    /// Whether a line is kept as-is without being parsed (default: blank
    /// lines and `#` comments).
    fn passthrough(line: &[u8]) -> bool {
        let t = line.trim_ascii_start();
        t.is_empty() || t[0] == b'#'
    }
    /// The record as one line of bytes.
    fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.render_into(&mut out);
        out
    }
}

/// Whether a passwd/group line is a NIS compat line (`+...`, `-...`), kept as it is.
pub fn nis_or_comment(line: &[u8]) -> bool {
    let t = line.trim_ascii_start();
    t.is_empty() || matches!(t[0], b'#' | b'+' | b'-')
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
    /// The bytes as read: unchanged lines are rendered from them.
    text: Vec<u8>,
    lines: Vec<Line<T>>,
    /// Whether the text ended with a newline (or was empty).
    trailing_newline: bool,
}

impl<T> Default for LineFile<T> {
    fn default() -> Self {
        LineFile {
            text: Vec::new(),
            lines: Vec::new(),
            trailing_newline: true,
        }
    }
}

impl<T: Record> LineFile<T> {
    /// Parses bytes leniently: bad lines become [`Line::Invalid`].
    pub fn parse(text: impl AsRef<[u8]>) -> Self {
        let text = text.as_ref();
        let trailing_newline = text.is_empty() || text.ends_with(b"\n");
        let body = text.strip_suffix(b"\n").unwrap_or(text);
        let mut lines = Vec::with_capacity(body.len() / 32 + 1);
        if !text.is_empty() {
            // One UTF-8 check of the whole file spares one per field.
            let utf8 = std::str::from_utf8(body).ok();
            let mut start = 0;
            let ends = memchr::memchr_iter(b'\n', body).chain([body.len()]);
            for end in ends {
                let span = Span { start, end };
                start = end + 1;
                let line = &body[span.start..end];
                lines.push(if T::passthrough(line) {
                    Line::Other(span)
                } else if let Some(s) = utf8 {
                    Self::classify(T::parse_str(&s[span.start..end]), span)
                } else {
                    Self::classify(T::parse_line(line), span)
                });
            }
        }
        LineFile {
            text: text.to_vec(),
            lines,
            trailing_newline,
        }
    }

    /// Parses bytes strictly: the first bad line is an error naming `path:line`.
    pub fn parse_strict(text: impl AsRef<[u8]>, path: &Path) -> Result<Self> {
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

    #[inline]
    fn classify(parsed: std::result::Result<T, String>, span: Span) -> Line<T> {
        match parsed {
            Ok(rec) => Line::Record {
                rec,
                raw: Some(span),
            },
            Err(reason) => Line::Invalid { raw: span, reason },
        }
    }

    fn slice(&self, span: Span) -> &[u8] {
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

    /// Changes every record matching `pred` with `f`; returns how many matched.
    /// A record that `f` leaves as it was keeps its original bytes.
    pub fn update(&mut self, pred: impl Fn(&T) -> bool, mut f: impl FnMut(&mut T)) -> usize
    where
        T: PartialEq,
    {
        let mut n = 0;
        for l in &mut self.lines {
            if let Line::Record { rec, raw } = l {
                if pred(rec) {
                    let before = rec.clone();
                    f(rec);
                    if *rec != before {
                        *raw = None;
                    }
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
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 64);
        for (i, l) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push(b'\n');
            }
            match l {
                Line::Record { raw: Some(raw), .. } => out.extend_from_slice(self.slice(*raw)),
                Line::Record { rec, raw: None } => rec.render_into(&mut out),
                Line::Other(raw) | Line::Invalid { raw, .. } => {
                    out.extend_from_slice(self.slice(*raw))
                }
            }
        }
        // A file that lost its final newline gets it back once we append.
        let appended = matches!(self.lines.last(), Some(Line::Record { raw: None, .. }));
        if !self.lines.is_empty() && (self.trailing_newline || appended) {
            out.push(b'\n');
        }
        out
    }
}

/// Splits a line into exactly `N` colon-separated fields, without allocating.
pub fn split_fields<const N: usize>(line: &[u8]) -> std::result::Result<[&[u8]; N], String> {
    let mut out: [&[u8]; N] = [&[]; N];
    let mut rest = line;
    for (i, slot) in out.iter_mut().enumerate() {
        let colon = memchr::memchr(b':', rest);
        if i + 1 == N {
            if colon.is_some() {
                return Err(format!(
                    "expected {N} ':'-separated fields, found {}",
                    line.iter().filter(|&&b| b == b':').count() + 1
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

/// A comma-separated list (group and gshadow member lists); empty: no members.
pub fn list_field(field: &[u8]) -> Vec<Field> {
    if field.is_empty() {
        Vec::new()
    } else {
        field.split(|&b| b == b',').map(Field::from_bytes).collect()
    }
}

/// Appends a comma-separated list.
pub fn render_list(out: &mut Vec<u8>, list: &[Field]) {
    for (i, m) in list.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(m);
    }
}

/// Appends fields joined by `:`.
pub fn render_fields(out: &mut Vec<u8>, fields: &[&[u8]]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        out.extend_from_slice(f);
    }
}

/// Bytes as a number, when they are one: ASCII digits only (leading zeros
/// allowed), at most `u32::MAX`.
pub fn id_of(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |n, d| {
        n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

/// Parses a numeric id field.
pub fn id_field(s: &[u8], what: &str) -> std::result::Result<u32, String> {
    id_of(s).ok_or_else(|| {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            format!("{what} '{}' is not a number", crate::escape::line(s))
        } else {
            format!(
                "{what} {} is out of range (at most {})",
                crate::escape::line(s),
                u32::MAX
            )
        }
    })
}

/// Test helper: rendered bytes as text (panics on non-UTF-8).
#[cfg(test)]
pub(crate) fn as_text(b: Vec<u8>) -> String {
    String::from_utf8(b).expect("UTF-8 in a test")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_fields_counts_fields_in_errors() {
        let abc: [&[u8]; 3] = [b"a", b"b", b"c"];
        assert_eq!(split_fields::<3>(b"a:b:c"), Ok(abc));
        let empty: [&[u8]; 3] = [b"", b"", b""];
        assert_eq!(split_fields::<3>(b"::"), Ok(empty));
        let short = "expected 3 ':'-separated fields, found";
        assert_eq!(split_fields::<3>(b""), Err(format!("{short} 1")));
        assert_eq!(split_fields::<3>(b"a:b"), Err(format!("{short} 2")));
        assert_eq!(split_fields::<3>(b"a:b:c:d:e"), Err(format!("{short} 5")));
    }

    #[test]
    fn id_field_rejects_non_numbers_and_overflow() {
        assert_eq!(id_field(b"0", "uid"), Ok(0));
        assert_eq!(id_field(b"4294967295", "uid"), Ok(u32::MAX));
        assert_eq!(id_field(b"007", "uid"), Ok(7));
        assert!(id_field(b"4294967296", "uid")
            .unwrap_err()
            .contains("out of range"));
        assert!(id_field(b"-1", "uid").unwrap_err().contains("not a number"));
        assert!(id_field(b"", "uid").unwrap_err().contains("not a number"));
        assert_eq!(
            id_field(b"1\x1b[2J", "uid").unwrap_err(),
            "uid '1\\x1b[2J' is not a number"
        );
    }

    #[test]
    fn fields_compare_with_text_and_show_escaped() {
        let latin1 = Field::from_bytes(b"Jos\xe9");
        assert_eq!(latin1.as_bytes(), b"Jos\xe9");
        assert_eq!(latin1.to_str(), None);
        assert_eq!(latin1.to_string(), "Jos\\xe9");
        assert_eq!(Field::from("root"), "root");
        assert_eq!(format!("{:<6}|", Field::from("ab")), "ab    |");
        assert_eq!(serde_json::to_string(&latin1).unwrap(), "\"Jos\\\\xe9\"");
    }
}
