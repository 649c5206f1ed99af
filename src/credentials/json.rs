//! Just enough JSON for the credential endpoints' replies (container credentials, IMDS):
//! one object whose values are strings, numbers, booleans or null. Nested values are
//! refused. A general JSON crate would cost the component tens of KB for this.

use crate::quote::Q;

/// The object's members, values as text (strings unescaped, other scalars as written).
pub fn parse_flat_object(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    p.ws();
    p.expect(b'{')?;
    let mut members = Vec::new();
    p.ws();
    if p.eat(b'}') {
        return p.end(members);
    }
    loop {
        p.ws();
        let key = p.string()?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        let value = match p.peek() {
            Some(b'"') => p.string()?,
            Some(b'{' | b'[') => return Err(format!("nested value for {key} at byte {}", p.i, key = Q(&key))),
            Some(_) => p.scalar()?,
            None => return Err("unexpected end".into()),
        };
        members.push((key, value));
        p.ws();
        if p.eat(b',') {
            continue;
        }
        p.expect(b'}')?;
        return p.end(members);
    }
}

/// JSON's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. (Not
/// `str::parse::<f64>`: float parsing would add ~20 KB to the component for no use.)
fn is_number(word: &str) -> bool {
    let b = word.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int_start = i;
    let n = digits(&mut i);
    if n == 0 || (n > 1 && b[int_start] == b'0') {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// The value of `key` in `members`.
pub fn get<'a>(members: &'a [(String, String)], key: &str) -> Option<&'a str> {
    members.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.i += usize::from(hit);
        hit
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.eat(b) { Ok(()) } else { Err(format!("expected '{}' at byte {}", b as char, self.i)) }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn end(mut self, members: Vec<(String, String)>) -> Result<Vec<(String, String)>, String> {
        self.ws();
        match self.peek() {
            None => Ok(members),
            Some(_) => Err(format!("trailing data at byte {}", self.i)),
        }
    }

    fn scalar(&mut self) -> Result<String, String> {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E' | b'a'..=b'z')) {
            self.i += 1;
        }
        let word = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| "invalid UTF-8".to_string())?;
        if is_number(word) || matches!(word, "true" | "false" | "null") { Ok(word.to_string()) } else { Err(format!("invalid value at byte {start}")) }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.i;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.s[start..self.i]).map_err(|_| "invalid UTF-8 in a string".to_string())?);
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let escaped = self.peek().ok_or("unexpected end in a string")?;
                    self.i += 1;
                    match escaped {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return Err(format!("invalid escape at byte {}", self.i - 1)),
                    }
                }
                Some(_) => return Err(format!("control character in a string at byte {}", self.i)),
                None => return Err("unterminated string".into()),
            }
        }
    }

    /// After `\u`: four hex digits, and a second `\uXXXX` for a surrogate pair.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !(self.eat(b'\\') && self.eat(b'u')) {
                return Err(format!("unpaired surrogate at byte {}", self.i));
            }
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(format!("invalid surrogate pair at byte {}", self.i));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| format!("invalid \\u escape at byte {}", self.i))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.s.get(self.i..self.i + 4).ok_or("truncated \\u escape")?;
        let text = std::str::from_utf8(digits).map_err(|_| "invalid \\u escape".to_string())?;
        let value = u32::from_str_radix(text, 16).map_err(|_| format!("invalid \\u escape at byte {}", self.i))?;
        self.i += 4;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_credentials_reply() {
        let text = r#"{
          "Code" : "Success", "LastUpdated" : "2026-11-25T10:00:00Z", "Type" : "AWS-HMAC",
          "AccessKeyId" : "ASIAEXAMPLE", "SecretAccessKey" : "se\/cr\"et\u00e9\ud83d\ude00",
          "Token" : "tok", "Expiration" : "2026-11-25T16:00:00Z", "Count": -1.5e3, "Ok": true, "N": null
        }"#;
        let m = parse_flat_object(text).unwrap();
        assert_eq!(get(&m, "AccessKeyId"), Some("ASIAEXAMPLE"));
        assert_eq!(get(&m, "SecretAccessKey"), Some("se/cr\"eté😀"));
        assert_eq!((get(&m, "Count"), get(&m, "Ok"), get(&m, "N")), (Some("-1.5e3"), Some("true"), Some("null")));
        assert_eq!(parse_flat_object(" {} ").unwrap(), vec![]);
    }

    #[test]
    fn refuses_what_is_not_a_flat_object() {
        for bad in [
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":1e}",
            "{\"a\":-}",
            "{\"a\":+1}",
            "",
            "[]",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":{\"b\":1}}",
            "{\"a\":[1]}",
            "{\"a\":\"x\"} x",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\q\"}",
            "{\"a\":nope}",
            "{\"a\":\"\u{1}\"}",
            "{\"a\":\"\\u12\"}",
        ] {
            assert!(parse_flat_object(bad).is_err(), "{bad:?}");
        }
    }
}
