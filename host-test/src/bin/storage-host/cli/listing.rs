//! `ls` as `aws s3 ls` prints it: folders as `PRE name/`, files as date, time, size and
//! name (names below the listed folder; whole keys with `--recursive`), and with
//! `--summarize` the count and total. Times are UTC.

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

/// Sizes as aws-cli's `--human-readable` writes them (its `human_readable_size`):
/// `1 Byte`, `17 Bytes`, `1.5 KiB`, `8.0 MiB` — one decimal, the largest unit under 1,024.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    match bytes {
        1 => "1 Byte".into(),
        b if b < 1024 => format!("{b} Bytes"),
        b => {
            let mut value = b as f64 / 1024.0;
            let mut unit = 0;
            while value.round() >= 1024.0 && unit + 1 < UNITS.len() {
                value /= 1024.0;
                unit += 1;
            }
            format!("{value:.1} {}", UNITS[unit])
        }
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
        assert_eq!(file_line("docs/a.txt", 1536, Some(0), "docs/", &human_style), "1970-01-01 00:00:00    1.5 KiB docs/a.txt");
        assert_eq!(human(17), "17 Bytes");
        assert_eq!(human(1), "1 Byte");
        assert_eq!(human(1024), "1.0 KiB");
        assert_eq!(human(1_048_575), "1.0 MiB", "rounds up into the next unit, as aws-cli");
        assert_eq!(human(8_392_705), "8.0 MiB");
        assert_eq!(human(1_048_166), "1.0 MiB", "1023.6 KiB rounds to 1024: aws-cli moves up a unit");
        assert_eq!(human(5 << 30), "5.0 GiB");
        assert_eq!(summary(2, 1536, &human_style), "\nTotal Objects: 2\n   Total Size: 1.5 KiB");
    }
}
