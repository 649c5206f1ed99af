//! The AWS shared files: `~/.aws/credentials` and `~/.aws/config` (or
//! `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`), read through wasi:filesystem where the
//! host preopens them. INI-like: `[default]`, `[name]` in the credentials file,
//! `[profile name]` in the config file; `key = value` lines; `#` and `;` comments. Indented
//! lines continue a sub-section (`s3 =` ...) and are skipped. Errors name the file and line,
//! never the line's content (it may hold a secret).

use crate::error::{Error, invalid_config};
use crate::quote::Q;
use crate::sys::env::Env;
use crate::sys::fs::{FileError, read_to_string};

/// One profile's settings that matter here, from both files merged (credentials file first).
#[derive(Default, PartialEq)]
pub struct Profile {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    /// The file the keys came from, for messages.
    pub keys_from: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "** redacted **"))
            .field("session_token", &self.session_token.as_ref().map(|_| "** redacted **"))
            .field("region", &self.region)
            .finish()
    }
}

/// What loading found: the profile (if either file has it) and what was looked at.
pub struct Loaded {
    pub name: String,
    pub profile: Option<Profile>,
    /// e.g. "/home/me/.aws/credentials (not found)", for the "no credentials" message.
    pub tried: Vec<String>,
}

/// Reads the files and picks the profile: `profile` (the config field), else `AWS_PROFILE`,
/// else `default`. A profile asked for by name that neither file has is an error.
pub fn load(profile: Option<&str>, env: &Env) -> Result<Loaded, Error> {
    let named = profile.or(env.get("AWS_PROFILE"));
    let name = named.unwrap_or("default").to_string();
    let mut tried = Vec::new();
    let mut merged: Option<Profile> = None;
    for (kind, var, default) in
        [(FileKind::Credentials, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"), (FileKind::Config, "AWS_CONFIG_FILE", ".aws/config")]
    {
        let Some(path) = path(env, var, default) else {
            tried.push(format!("{default} (no HOME)"));
            continue;
        };
        let text = match read_to_string(&path) {
            Ok(text) => text,
            Err(e @ FileError::Missing) => {
                tried.push(format!("{path} ({e})"));
                continue;
            }
            Err(e) => return Err(invalid_config(format!("{path}: {e}"))),
        };
        tried.push(path.clone());
        if let Some(found) = parse(&text, kind, &name).map_err(|e| invalid_config(format!("{path}: {e}")))? {
            let target = merged.get_or_insert_with(Profile::default);
            // The credentials file wins over the config file, key by key.
            if target.access_key_id.is_none() && target.secret_access_key.is_none() && (found.access_key_id.is_some() || found.secret_access_key.is_some()) {
                target.access_key_id = found.access_key_id;
                target.secret_access_key = found.secret_access_key;
                target.session_token = found.session_token;
                target.keys_from = Some(path.clone());
            }
            target.region = target.region.take().or(found.region);
        }
    }
    if named.is_some() && merged.is_none() {
        return Err(invalid_config(format!("profile {name} is in none of the shared files: {}", tried.join(", "), name = Q(&name))));
    }
    Ok(Loaded { name, profile: merged, tried })
}

/// `$VAR`, else `$HOME/<default>`; a leading `~/` means `$HOME/`.
fn path(env: &Env, var: &str, default: &str) -> Option<String> {
    let home = env.get("HOME");
    match env.get(var) {
        Some(p) => match p.strip_prefix("~/") {
            Some(rest) => Some(format!("{}/{rest}", home?.trim_end_matches('/'))),
            None => Some(p.to_string()),
        },
        None => Some(format!("{}/{default}", home?.trim_end_matches('/'))),
    }
}

#[derive(Clone, Copy, PartialEq)]
pub enum FileKind {
    Credentials,
    Config,
}

/// The section for profile `name` in one file's text, if present.
pub fn parse(text: &str, kind: FileKind, name: &str) -> Result<Option<Profile>, String> {
    let mut found: Option<Profile> = None;
    let mut in_wanted = false;
    let mut in_any = false;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let header = strip_comment(rest);
            let Some(header) = header.trim_end().strip_suffix(']') else {
                return Err(format!("line {line_no}: a section header must end with ']'"));
            };
            let header = header.trim();
            let section = match kind {
                FileKind::Credentials => Some(header),
                // `[default]` or `[profile name]`; AWS also accepts `[profile default]`.
                FileKind::Config if header == "default" => Some("default"),
                FileKind::Config => header.strip_prefix("profile").filter(|r| r.starts_with([' ', '\t'])).map(str::trim),
            };
            in_any = true;
            in_wanted = section == Some(name);
            if in_wanted && found.is_none() {
                found = Some(Profile::default());
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A sub-property (`s3 =` followed by indented lines); none of them matter here.
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {line_no}: expected `key = value`"));
        };
        if !in_any {
            return Err(format!("line {line_no}: a setting before any [section]"));
        }
        if !in_wanted {
            continue;
        }
        let value = strip_comment(value).trim().to_string();
        let profile = found.as_mut().expect("set when the section started");
        let slot = match key.trim().to_ascii_lowercase().as_str() {
            "aws_access_key_id" => &mut profile.access_key_id,
            "aws_secret_access_key" => &mut profile.secret_access_key,
            "aws_session_token" => &mut profile.session_token,
            "region" => &mut profile.region,
            _ => continue,
        };
        *slot = Some(value).filter(|v| !v.is_empty());
    }
    Ok(found)
}

/// Drops a ` #` or ` ;` comment from the end of a value.
fn strip_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for i in 1..bytes.len() {
        if (bytes[i] == b'#' || bytes[i] == b';') && bytes[i - 1].is_ascii_whitespace() {
            return &value[..i];
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = "\
# a comment
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secretdefault ; inline comment

[work]
aws_access_key_id=AKIDWORK
aws_secret_access_key=secret#work
aws_session_token = tokenwork
";

    const CONFIG: &str = "\
[default]
region = eu-west-1
[profile work]
region = us-west-2
s3 =
  addressing_style = path
[profile  spaced ]
region=ap-south-1
";

    #[test]
    fn reads_the_default_and_named_profiles() {
        let p = parse(CREDENTIALS, FileKind::Credentials, "default").unwrap().unwrap();
        assert_eq!((p.access_key_id.as_deref(), p.secret_access_key.as_deref()), (Some("AKIDDEFAULT"), Some("secretdefault")));
        let p = parse(CREDENTIALS, FileKind::Credentials, "work").unwrap().unwrap();
        // `#` is a comment only after whitespace: secrets may contain it.
        assert_eq!((p.secret_access_key.as_deref(), p.session_token.as_deref()), (Some("secret#work"), Some("tokenwork")));
        assert_eq!(parse(CONFIG, FileKind::Config, "work").unwrap().unwrap().region.as_deref(), Some("us-west-2"));
        assert_eq!(parse(CONFIG, FileKind::Config, "spaced").unwrap().unwrap().region.as_deref(), Some("ap-south-1"));
        assert_eq!(parse(CONFIG, FileKind::Config, "default").unwrap().unwrap().region.as_deref(), Some("eu-west-1"));
        assert!(parse(CONFIG, FileKind::Config, "absent").unwrap().is_none());
        // In the config file a bare `[work]` is not the profile `work`.
        assert!(parse("[work]\nregion = x\n", FileKind::Config, "work").unwrap().is_none());
    }

    #[test]
    fn malformed_files_name_the_line_but_not_its_content() {
        let e = parse("[default]\naws_secret_access_key SECRETVALUE\n", FileKind::Credentials, "default").unwrap_err();
        assert!(e.contains("line 2") && !e.contains("SECRETVALUE"), "{e}");
        assert!(parse("[default\n", FileKind::Credentials, "default").unwrap_err().contains("line 1"));
        assert!(parse("key = v\n[default]\n", FileKind::Credentials, "default").unwrap_err().contains("before any"));
    }

    #[test]
    fn debug_redacts() {
        let p = parse(CREDENTIALS, FileKind::Credentials, "work").unwrap().unwrap();
        let shown = format!("{p:?}");
        assert!(shown.contains("AKIDWORK") && !shown.contains("secret#work") && !shown.contains("tokenwork"), "{shown}");
    }

    #[test]
    fn paths_come_from_the_variables_or_home() {
        let env = vec![("HOME".to_string(), "/home/me/".to_string()), ("AWS_CONFIG_FILE".to_string(), "~/alt/config".to_string())];
        let env = Env(&env);
        assert_eq!(path(&env, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials").as_deref(), Some("/home/me/.aws/credentials"));
        assert_eq!(path(&env, "AWS_CONFIG_FILE", ".aws/config").as_deref(), Some("/home/me/alt/config"));
        assert_eq!(path(&Env(&[]), "AWS_CONFIG_FILE", ".aws/config"), None);
    }
}
