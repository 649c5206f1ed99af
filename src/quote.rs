//! Names in error messages, quoted and escaped: `"a\u{1b}b"`. What `{:?}` does for strings,
//! without its Unicode tables (14 KB of the component): control characters and the
//! invisible ones (format characters, separators, variation selectors, tags) are escaped,
//! so a message never carries a terminal escape or hides a character. (The memory backend
//! includes this file too.)

use std::fmt;

/// A string, in double quotes, escaped: `Q(&name)`.
pub struct Q<T>(pub T);

/// `c`, in single quotes, escaped.
pub struct QuotedChar(pub char);

fn invisible(c: char) -> bool {
    matches!(c as u32,
        0..=0x1f | 0x7f..=0x9f | 0xad | 0x34f | 0x61c | 0x115f | 0x1160 | 0x17b4 | 0x17b5 | 0x180b..=0x180f
        | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x206f | 0x3164 | 0xfe00..=0xfe0f | 0xfeff | 0xffa0
        | 0xfff0..=0xfffb | 0x1d173..=0x1d17a | 0xe0000..=0xe0fff)
}

fn escaped(c: char, quote: char, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match c {
        '\\' => f.write_str("\\\\"),
        '\n' => f.write_str("\\n"),
        '\r' => f.write_str("\\r"),
        '\t' => f.write_str("\\t"),
        '\0' => f.write_str("\\0"),
        c if c == quote => write!(f, "\\{c}"),
        c if invisible(c) => write!(f, "\\u{{{:x}}}", c as u32),
        c => fmt::Write::write_char(f, c),
    }
}

impl<T: AsRef<str>> fmt::Display for Q<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.as_ref().chars() {
            escaped(c, '"', f)?;
        }
        f.write_str("\"")
    }
}

impl fmt::Display for QuotedChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("'")?;
        escaped(self.0, '\'', f)?;
        f.write_str("'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_debug_where_it_matters() {
        for s in ["plain", "a\"b", "back\\slash", "tab\there", "new\nline", "caf\u{e9}", "\u{1b}[2J", "bidi\u{202e}x", "zero\u{200b}width", "\u{7f}\u{85}"] {
            assert_eq!(Q(s).to_string(), format!("{s:?}"), "{s:?}");
        }
        for c in ['a', '\'', '"', '\u{1b}', '\u{feff}'] {
            assert_eq!(QuotedChar(c).to_string(), format!("{c:?}"), "{c:?}");
        }
        // Terminal-safe whatever comes in.
        let all: String = (0..0x3000).filter_map(char::from_u32).collect();
        assert!(!Q(&all).to_string().chars().any(char::is_control));
    }
}
