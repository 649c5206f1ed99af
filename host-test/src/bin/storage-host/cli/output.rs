//! What the CLI prints: one JSON object per line on stdout, and one line on stderr for a
//! problem, with its exit code. Text from elsewhere (a server's error message, a key) is
//! never written to the terminal raw: control characters are shown escaped, so a hostile
//! server cannot move the cursor, clear the screen or retitle the window.

use std::borrow::Cow;
use std::process::ExitCode;

use host_test::{Error, Failure, StoredFile};
use serde_json::json;

use super::interrupt::Signal;

/// Why a command did not do what it was asked.
#[derive(Debug)]
pub enum Problem {
    /// The component's typed error, or the runtime failing.
    Failure(Failure),
    /// What was typed can't work (a directory where a file goes, a reversed range): exit 2.
    Usage(String),
    /// A local file or directory could not be read or written: exit 1.
    Local(String),
    /// SIGINT or SIGTERM stopped it, after what was done to leave nothing behind: exit
    /// 128 + the signal's number.
    Interrupted(Signal, String),
}

impl From<Failure> for Problem {
    fn from(failure: Failure) -> Self {
        Problem::Failure(failure)
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        Problem::Failure(Failure::Storage(e))
    }
}

impl From<anyhow::Error> for Problem {
    fn from(e: anyhow::Error) -> Self {
        Problem::Failure(Failure::Host(e))
    }
}

/// A local file problem, naming the path.
pub fn local(path: impl std::fmt::Display, e: std::io::Error) -> Problem {
    Problem::Local(format!("{path}: {e}"))
}

/// One line on stderr and the documented exit code.
pub fn fail(problem: &Problem) -> ExitCode {
    let line = match problem {
        Problem::Failure(f) => f.to_string(),
        Problem::Usage(why) | Problem::Local(why) => why.clone(),
        Problem::Interrupted(signal, what) => format!("interrupted ({}): {what}", signal.name()),
    };
    // A multi-line (host) error keeps its first line; a message's own newlines are escaped.
    let first = match problem {
        Problem::Failure(Failure::Host(_)) => line.lines().next().unwrap_or_default(),
        _ => line.as_str(),
    };
    eprintln!("storage-host: {}", terminal_safe(first));
    ExitCode::from(exit_code(problem))
}

fn exit_code(problem: &Problem) -> u8 {
    match problem {
        Problem::Failure(Failure::Storage(Error::NotFound(_))) => 3,
        Problem::Failure(Failure::Storage(Error::InvalidConfig(_) | Error::InvalidKey(_) | Error::InvalidArgument(_) | Error::RangeNotSatisfiable(_))) => 2,
        Problem::Usage(_) => 2,
        Problem::Interrupted(signal, _) => signal.exit_code(),
        Problem::Failure(_) | Problem::Local(_) => 1,
    }
}

/// `text` with every control character (C0, DEL, C1: ESC and CSI among them, newlines too)
/// shown as an escape, as Rust writes them (`\u{1b}`).
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect::<String>()
        .into()
}

/// `value` as one line of JSON. serde_json escapes the C0 controls; DEL and the C1
/// controls (which some terminals take as escapes) are escaped here too. Inside JSON they
/// can only stand in strings, where `\u00XX` means the same character.
pub fn json_line(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if !text.chars().any(|c| ('\u{7f}'..='\u{9f}').contains(&c)) {
        return text;
    }
    text.chars()
        .map(|c| match c {
            '\u{7f}'..='\u{9f}' => format!("\\u{:04x}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

pub fn file_json(file: &StoredFile) -> serde_json::Value {
    let metadata: serde_json::Map<String, serde_json::Value> = file.metadata.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({
        "key": file.key,
        "size": file.size,
        "content_type": file.content_type,
        "etag": file.etag,
        "last_modified": file.last_modified.map(|d| rfc3339(d.seconds)),
        "metadata": metadata,
        "attributes": attributes_json(&file.attributes),
        "version_id": file.version_id,
        "tags": file.tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<String, serde_json::Value>>(),
    })
}

/// The attributes that are set, by their HTTP header names.
fn attributes_json(a: &host_test::Attributes) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    let texts = [
        ("cache-control", &a.cache_control),
        ("content-disposition", &a.content_disposition),
        ("content-encoding", &a.content_encoding),
        ("content-language", &a.content_language),
        ("storage-class", &a.storage_class),
    ];
    for (name, value) in texts {
        if let Some(value) = value {
            map.insert(name.into(), json!(value));
        }
    }
    if let Some(when) = a.expires {
        map.insert("expires".into(), json!(rfc3339(when.seconds)));
    }
    serde_json::Value::Object(map)
}

/// One version of a ListObjectVersions listing.
pub fn version_json(v: &host_test::ObjectVersion) -> serde_json::Value {
    json!({
        "key": v.key,
        "version_id": v.version_id,
        "latest": v.is_latest,
        "delete_marker": v.is_delete_marker,
        "size": v.size,
        "etag": v.etag,
        "last_modified": v.last_modified.map(|d| rfc3339(d.seconds)),
    })
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (days-to-civil, proleptic Gregorian).
pub fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let secs = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(terminal_safe("plain ü text"), "plain ü text");
        let shown = terminal_safe("a\u{1b}[2Jb\u{9b}31m\r\n\u{7}");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.contains("\\u{1b}[2J"), "{shown:?}");
        let line = json_line(&json!({"k": "x\u{1b}\u{7f}\u{9b}y"}));
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&line).unwrap()["k"], "x\u{1b}\u{7f}\u{9b}y");
    }

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
