//! Just enough JSON for the credential endpoints' replies (container credentials, IMDS):
//! one object whose values are strings, numbers, booleans or null. Nested values are
//! refused. A general JSON crate would cost the component tens of KB for this.

use crate::quote::Q;

/// The object's members, values as text (strings unescaped, other scalars as written).
pub fn parse_flat_object(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0, lenient: false };
    let (members, _) = p.object(None)?;
    p.end(members)
}

/// A top-level object's scalar members, any nested value passed over: for files other
/// tools write and may extend (the SSO token cache).
pub fn parse_lenient_object(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0, lenient: true };
    let (members, _) = p.object(None)?;
    p.end(members)
}

/// The members of the flat object under `name` in the top-level object (IAM Identity
/// Center's `{"roleCredentials": {...}}`); the top level's other values are scalars.
pub fn parse_member_object(text: &str, name: &str) -> Result<Vec<(String, String)>, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0, lenient: false };
    let (_, inner) = p.object(Some(name))?;
    p.end(())?;
    inner.ok_or_else(|| format!("no {name} object", name = Q(&name)))
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
    /// Pass over nested values instead of refusing them.
    lenient: bool,
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

    fn end<T>(&mut self, value: T) -> Result<T, String> {
        self.ws();
        match self.peek() {
            None => Ok(value),
            Some(_) => Err(format!("trailing data at byte {}", self.i)),
        }
    }

    /// An object of scalars; a member named `nested` may be a flat object, returned apart.
    #[allow(clippy::type_complexity)]
    fn object(&mut self, nested: Option<&str>) -> Result<(Vec<(String, String)>, Option<Vec<(String, String)>>), String> {
        self.ws();
        self.expect(b'{')?;
        let mut members = Vec::new();
        let mut inner = None;
        self.ws();
        if self.eat(b'}') {
            return Ok((members, inner));
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            self.expect(b':')?;
            self.ws();
            match self.peek() {
                Some(b'"') => members.push((key, self.string()?)),
                Some(b'{') if nested == Some(key.as_str()) && inner.is_none() => inner = Some(self.object(None)?.0),
                Some(b'{' | b'[') if self.lenient => self.skip(0)?,
                Some(b'{' | b'[') => return Err(format!("nested value for {key} at byte {}", self.i, key = Q(&key))),
                Some(_) => members.push((key, self.scalar()?)),
                None => return Err("unexpected end".into()),
            }
            self.ws();
            if self.eat(b',') {
                continue;
            }
            self.expect(b'}')?;
            return Ok((members, inner));
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

    /// Passes over one value of any kind, at most 32 levels deep.
    fn skip(&mut self, depth: usize) -> Result<(), String> {
        if depth > 32 {
            return Err(format!("nested deeper than 32 levels at byte {}", self.i));
        }
        self.ws();
        let close = match self.peek() {
            Some(b'"') => return self.string().map(drop),
            Some(b'{') => b'}',
            Some(b'[') => b']',
            Some(_) => return self.scalar().map(drop),
            None => return Err("unexpected end".into()),
        };
        self.i += 1;
        self.ws();
        if self.eat(close) {
            return Ok(());
        }
        loop {
            if close == b'}' {
                self.ws();
                self.string()?;
                self.ws();
                self.expect(b':')?;
            }
            self.skip(depth + 1)?;
            self.ws();
            if self.eat(b',') {
                continue;
            }
            return self.expect(close);
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
    fn a_lenient_object_passes_over_nested_values() {
        let m = parse_lenient_object(r#"{"accessToken":"t","scopes":["a",{"b":[1,2]}],"x":{}, "expiresAt":"2030-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!((get(&m, "accessToken"), get(&m, "expiresAt"), get(&m, "scopes")), (Some("t"), Some("2030-01-01T00:00:00Z"), None));
        assert!(parse_lenient_object(r#"{"a":[1,}"#).is_err());
        assert!(parse_lenient_object(&format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40))).is_err());
    }

    #[test]
    fn one_named_object_may_nest() {
        let text = r#"{"roleCredentials":{"accessKeyId":"ASIA","expiration":1700000000000},"other":1}"#;
        let m = parse_member_object(text, "roleCredentials").unwrap();
        assert_eq!((get(&m, "accessKeyId"), get(&m, "expiration")), (Some("ASIA"), Some("1700000000000")));
        for bad in [r#"{"other":1}"#, r#"{"roleCredentials":{"a":{"b":1}}}"#, r#"{"x":{"a":1}}"#, r#"{"roleCredentials":{}} x"#] {
            assert!(parse_member_object(bad, "roleCredentials").is_err(), "{bad}");
        }
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
