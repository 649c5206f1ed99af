//! `ls` as `aws s3 ls` prints it: folders as `PRE name/`, files as date, time, size and
//! name (names below the listed folder; whole keys with `--recursive`), and with
//! `--summarize` the count and total. Times are UTC.

use indicatif::BinaryBytes;

use super::output;

pub struct Style {
    pub human: bool,
    pub recursive: bool,
}

/// The folder part of what `ls` was given: names are shown below it (`ls s3://b/do` lists
/// `PRE docs/`, `ls s3://b/docs/` lists `report.txt`).
pub fn shown_below(prefix: &str) -> &str {
    prefix.rfind('/').map_or("", |i| &prefix[..=i])
}

/// One folder's line.
pub fn folder_line(folder: &str, prefix: &str) -> String {
    let name = folder.strip_prefix(shown_below(prefix)).unwrap_or(folder);
    output::terminal_safe(&format!("{:>30} {name}", "PRE")).into_owned()
}

/// One file's line.
pub fn file_line(key: &str, size: u64, modified: Option<u64>, prefix: &str, style: &Style) -> String {
    let name = match style.recursive {
        true => key,
        false => key.strip_prefix(shown_below(prefix)).unwrap_or(key),
    };
    let when = modified.map(output::rfc3339).map_or_else(|| " ".repeat(19), |t| t[..19].replace('T', " "));
    let size = match style.human {
        true => human(size),
        false => size.to_string(),
    };
    output::terminal_safe(&format!("{when} {size:>10} {name}")).into_owned()
}

/// `--summarize`'s lines.
pub fn summary(objects: u64, bytes: u64, style: &Style) -> String {
    let size = match style.human {
        true => human(bytes),
        false => format!("{bytes}"),
    };
    format!("\nTotal Objects: {objects}\n   Total Size: {size}")
}

/// Sizes as aws-cli's `--human-readable` writes them: `17 Bytes`, `1.5 KiB`.
fn human(bytes: u64) -> String {
    match bytes {
        1 => "1 Byte".into(),
        b if b < 1024 => format!("{b} Bytes"),
        b => BinaryBytes(b).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_aws_s3_ls() {
        let style = Style { human: false, recursive: false };
        assert_eq!(folder_line("docs/sub/", "docs/"), format!("{}PRE sub/", " ".repeat(27)));
        assert_eq!(folder_line("docs/", "do"), format!("{}PRE docs/", " ".repeat(27)));
        assert_eq!(file_line("docs/a.txt", 18, Some(0), "docs/", &style), "1970-01-01 00:00:00         18 a.txt");
        let human_style = Style { human: true, recursive: true };
        assert_eq!(file_line("docs/a.txt", 1536, Some(0), "docs/", &human_style), "1970-01-01 00:00:00   1.50 KiB docs/a.txt");
        assert_eq!(human(17), "17 Bytes");
        assert_eq!(summary(2, 1536, &human_style), "\nTotal Objects: 2\n   Total Size: 1.50 KiB");
    }
}
