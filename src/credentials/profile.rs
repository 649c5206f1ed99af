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
#[derive(Default, PartialEq, Clone)]
pub struct Profile {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    /// The file the keys came from, for messages.
    pub keys_from: Option<String>,
    /// An IAM role to assume (STS AssumeRole), with the credentials of `source_profile` or
    /// of `credential_source`, or (AssumeRoleWithWebIdentity) `web_identity_token_file`'s.
    pub role_arn: Option<String>,
    pub source_profile: Option<String>,
    pub credential_source: Option<String>,
    pub external_id: Option<String>,
    pub role_session_name: Option<String>,
    pub duration_seconds: Option<String>,
    pub web_identity_token_file: Option<String>,
    /// IAM Identity Center: an `[sso-session NAME]`, or the legacy settings in the profile.
    pub sso_session: Option<String>,
    pub sso_start_url: Option<String>,
    pub sso_region: Option<String>,
    pub sso_account_id: Option<String>,
    pub sso_role_name: Option<String>,
    pub credential_process: Option<String>,
}

/// The sections of both files: profiles by name, and the config file's `[sso-session]`s.
#[derive(Default)]
pub struct Files {
    pub profiles: Vec<(String, Profile)>,
    pub sso_sessions: Vec<(String, Profile)>,
}

impl Files {
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }

    pub fn sso_session(&self, name: &str) -> Option<&Profile> {
        self.sso_sessions.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }
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

/// What loading found: the profile (if either file has it), every section (for the
/// profiles a role names as its source) and what was looked at.
pub struct Loaded {
    pub name: String,
    pub profile: Option<Profile>,
    pub files: Files,
    /// e.g. "/home/me/.aws/credentials (not found)", for the "no credentials" message.
    pub tried: Vec<String>,
}

/// Reads the files and picks the profile: `profile` (the config field), else `AWS_PROFILE`,
/// else `default`. A profile asked for by name that neither file has is an error.
pub fn load(profile: Option<&str>, env: &Env) -> Result<Loaded, Error> {
    let named = profile.or(env.get("AWS_PROFILE"));
    let name = named.unwrap_or("default").to_string();
    let mut tried = Vec::new();
    let mut files = Files::default();
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
        for (section, found) in parse_all(&text, kind).map_err(|e| invalid_config(format!("{path}: {e}")))? {
            let (profile_name, list) = match section {
                Section::Profile(n) => (n, &mut files.profiles),
                Section::SsoSession(n) => (n, &mut files.sso_sessions),
            };
            let target = match list.iter().position(|(n, _)| *n == profile_name) {
                Some(i) => &mut list[i].1,
                None => {
                    list.push((profile_name, Profile::default()));
                    &mut list.last_mut().expect("just pushed").1
                }
            };
            merge(target, found, &path);
        }
    }
    let merged = files.profile(&name).cloned();
    if named.is_some() && merged.is_none() {
        return Err(invalid_config(format!("profile {name} is in none of the shared files: {}", tried.join(", "), name = Q(&name))));
    }
    Ok(Loaded { name, profile: merged, files, tried })
}

/// Adds what `found` (from `path`) says to `target`; what `target` has wins: the
/// credentials file is read first. The keys go together.
fn merge(target: &mut Profile, found: Profile, path: &str) {
    if target.access_key_id.is_none() && target.secret_access_key.is_none() && (found.access_key_id.is_some() || found.secret_access_key.is_some()) {
        target.access_key_id = found.access_key_id;
        target.secret_access_key = found.secret_access_key;
        target.session_token = found.session_token;
        target.keys_from = Some(path.to_string());
    }
    let Profile {
        region,
        role_arn,
        source_profile,
        credential_source,
        external_id,
        role_session_name,
        duration_seconds,
        web_identity_token_file,
        sso_session,
        sso_start_url,
        sso_region,
        sso_account_id,
        sso_role_name,
        credential_process,
        ..
    } = found;
    for (slot, value) in [
        (&mut target.region, region),
        (&mut target.role_arn, role_arn),
        (&mut target.source_profile, source_profile),
        (&mut target.credential_source, credential_source),
        (&mut target.external_id, external_id),
        (&mut target.role_session_name, role_session_name),
        (&mut target.duration_seconds, duration_seconds),
        (&mut target.web_identity_token_file, web_identity_token_file),
        (&mut target.sso_session, sso_session),
        (&mut target.sso_start_url, sso_start_url),
        (&mut target.sso_region, sso_region),
        (&mut target.sso_account_id, sso_account_id),
        (&mut target.sso_role_name, sso_role_name),
        (&mut target.credential_process, credential_process),
    ] {
        if slot.is_none() {
            *slot = value;
        }
    }
}

/// A section of a shared file.
#[derive(Debug, PartialEq)]
pub enum Section {
    Profile(String),
    /// `[sso-session NAME]` (config file only).
    SsoSession(String),
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
#[cfg(test)]
pub fn parse(text: &str, kind: FileKind, name: &str) -> Result<Option<Profile>, String> {
    Ok(parse_all(text, kind)?.into_iter().find(|(s, _)| *s == Section::Profile(name.to_string())).map(|(_, p)| p))
}

/// Every section of one file's text (a section given twice: its settings merged, the first
/// one's winning).
pub fn parse_all(text: &str, kind: FileKind) -> Result<Vec<(Section, Profile)>, String> {
    let mut sections: Vec<(Section, Profile)> = Vec::new();
    // The index of the section being read; `None` before any or in one that doesn't count.
    let mut current: Option<usize> = None;
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
            let named = |prefix: &str| header.strip_prefix(prefix).filter(|r| r.starts_with([' ', '\t'])).map(|r| r.trim().to_string());
            let section = match kind {
                FileKind::Credentials => Some(Section::Profile(header.to_string())),
                // `[default]` or `[profile name]`; AWS also accepts `[profile default]`.
                FileKind::Config if header == "default" => Some(Section::Profile("default".into())),
                FileKind::Config => named("profile").map(Section::Profile).or_else(|| named("sso-session").map(Section::SsoSession)),
            };
            in_any = true;
            current = section.map(|section| match sections.iter().position(|(s, _)| *s == section) {
                Some(i) => i,
                None => {
                    sections.push((section, Profile::default()));
                    sections.len() - 1
                }
            });
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
        let Some(i) = current else { continue };
        let value = strip_comment(value).trim().to_string();
        let profile = &mut sections[i].1;
        let slot = match key.trim().to_ascii_lowercase().as_str() {
            "aws_access_key_id" => &mut profile.access_key_id,
            "aws_secret_access_key" => &mut profile.secret_access_key,
            "aws_session_token" => &mut profile.session_token,
            "region" => &mut profile.region,
            "role_arn" => &mut profile.role_arn,
            "source_profile" => &mut profile.source_profile,
            "credential_source" => &mut profile.credential_source,
            "external_id" => &mut profile.external_id,
            "role_session_name" => &mut profile.role_session_name,
            "duration_seconds" => &mut profile.duration_seconds,
            "web_identity_token_file" => &mut profile.web_identity_token_file,
            "sso_session" => &mut profile.sso_session,
            "sso_start_url" => &mut profile.sso_start_url,
            "sso_region" => &mut profile.sso_region,
            "sso_account_id" => &mut profile.sso_account_id,
            "sso_role_name" => &mut profile.sso_role_name,
            "credential_process" => &mut profile.credential_process,
            _ => continue,
        };
        *slot = Some(value).filter(|v| !v.is_empty());
    }
    Ok(sections)
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
