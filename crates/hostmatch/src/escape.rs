//! The one escaping function for text that came from files and goes to a
//! terminal: bytes that are not UTF-8 and control characters are shown as
//! escapes (`\xNN`, `\t`, `\r`, `\u{85}`), so that a name, a GECOS field or a
//! line of a system file can never move the cursor, clear the screen or hide
//! text. Everything else is shown as it is.
//!
//! The escaping is idempotent (a backslash is not doubled): applying it twice
//! gives the same text, so every printer may apply it without knowing whether
//! a caller already did.

use std::borrow::Cow;

/// Whether newlines are kept (multi-line output such as a diff) or escaped
/// (one-line output such as an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Newlines {
    Keep,
    Escape,
}

/// Whether a character must not reach a terminal as it is: C0 and C1 control
/// characters, DEL, and the bidirectional overrides that reorder what is shown.
fn is_unsafe(c: char, newlines: Newlines) -> bool {
    match c {
        '\n' => newlines == Newlines::Escape,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

fn push_escaped_char(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

fn push_safe_str(out: &mut String, s: &str, newlines: Newlines) {
    let mut rest = s;
    while let Some((i, c)) = rest.char_indices().find(|&(_, c)| is_unsafe(c, newlines)) {
        out.push_str(&rest[..i]);
        push_escaped_char(out, c);
        rest = &rest[i + c.len_utf8()..];
    }
    out.push_str(rest);
}

/// `bytes` made safe for a terminal (see the module documentation).
pub fn escape(bytes: &[u8], newlines: Newlines) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        if !s.chars().any(|c| is_unsafe(c, newlines)) {
            return Cow::Borrowed(s);
        }
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        push_safe_str(&mut out, chunk.valid(), newlines);
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    Cow::Owned(out)
}

/// One line of text safe for a terminal (newlines escaped too).
pub fn line(bytes: &[u8]) -> Cow<'_, str> {
    escape(bytes, Newlines::Escape)
}

/// Multi-line text safe for a terminal (newlines kept).
pub fn text(bytes: &[u8]) -> Cow<'_, str> {
    escape(bytes, Newlines::Keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn latin1_gecos_is_shown_escaped() {
        assert_eq!(line(b"Jos\xe9 Garc\xeda"), "Jos\\xe9 Garc\\xeda");
    }

    #[test]
    fn terminal_control_sequences_are_escaped() {
        assert_eq!(line(b"a\x1b[2Jb\rc\td"), "a\\x1b[2Jb\\rc\\td");
        assert_eq!(line("x\u{9b}y\u{202e}z".as_bytes()), "x\\u{9b}y\\u{202e}z");
        assert_eq!(line(b"a\nb"), "a\\nb");
        assert_eq!(text(b"a\nb\x07"), "a\nb\\x07");
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(line("caf\u{e9} ok".as_bytes()), Cow::Borrowed(_)));
    }

    proptest! {
        #[test]
        fn escaping_is_idempotent_and_safe(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let once = line(&bytes).into_owned();
            prop_assert_eq!(line(once.as_bytes()).into_owned(), once.clone());
            prop_assert!(!once.chars().any(|c| is_unsafe(c, Newlines::Escape)));
        }
    }
}
