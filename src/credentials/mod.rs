//! Where the signing keys come from, in the order AWS's SDKs use; the first source that
//! is configured wins:
//! 1. `access-key-id` / `secret-access-key` / `session-token` in the config;
//! 2. `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`;
//! 3. the profile in the shared files (`profile`), read through wasi:filesystem;
//! 4. web identity, 5. container credentials, 6. EC2 instance metadata (`remote`).
//!
//! `open` decides which source applies without a network call; temporary credentials are
//! fetched on first use, cached per store, refreshed 5 minutes before they expire, and
//! dropped after an `ExpiredToken` reply. The secret and the session token are never shown:
//! `Debug` redacts them, and no error message includes them.

pub(crate) mod json;
pub mod profile;
mod remote;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use crate::error::{Error, invalid_config};
use crate::quote::Q;
use crate::sys::env::Env;
use crate::sys::http;
use remote::{Container, Failure, Imds, WebIdentity};

/// How a credential endpoint's request goes out: the client's pipeline, handed in so that
/// this module (which the client signs with) does not depend on it.
pub type Send<'a> = &'a dyn Fn(http::Request, Option<&[u8]>) -> Result<http::Response, Error>;

/// Temporary credentials are replaced this long before they expire.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);
/// Access key ids are at most 128 characters (IAM); secrets 40 (AWS) to 64 (others).
const MAX_KEY_BYTES: usize = 1024;
/// STS session tokens are a few KB; S3 takes at most 8 KB of request headers in all. A
/// token goes once into the headers and once, percent-encoded, into a presigned URL: this
/// bound keeps both far inside what any host or URL parser takes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

pub struct Credentials {
    pub access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    /// Where they came from, for error messages.
    pub source: &'static str,
    /// When temporary credentials stop working.
    pub expires: Option<SystemTime>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("session_token", &self.session_token.as_ref().map(|_| "** redacted **"))
            .field("source", &self.source)
            .field("expires", &self.expires)
            .finish()
    }
}

fn credentials_error(what: impl std::fmt::Display) -> Error {
    Error::Credentials(what.to_string())
}

impl Credentials {
    /// Sources 1 and 2: explicit config, then the environment. A session token is only
    /// taken from the same source as the keys, so an environment token is never paired
    /// with explicit keys. `None`: neither has keys.
    pub fn explicit(access_key_id: Option<String>, secret_access_key: Option<String>, session_token: Option<String>, env: &Env) -> Result<Option<Self>, Error> {
        match (access_key_id, secret_access_key) {
            (Some(id), Some(secret)) => Self::new(id, secret, session_token, "config", None).map(Some),
            (Some(_), None) => Err(invalid_config("access-key-id is set but secret-access-key is not")),
            (None, Some(_)) => Err(invalid_config("secret-access-key is set but access-key-id is not")),
            (None, None) if session_token.is_some() => Err(invalid_config("session-token is set without access-key-id and secret-access-key")),
            (None, None) => match (env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => {
                    Self::new(id.into(), secret.into(), env.get("AWS_SESSION_TOKEN").map(str::to_string), "environment", None).map(Some)
                }
                (Some(_), None) => Err(credentials_error("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")),
                (None, Some(_)) => Err(credentials_error("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")),
                (None, None) => Ok(None),
            },
        }
    }

    fn new(
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
        source: &'static str,
        expires: Option<SystemTime>,
    ) -> Result<Self, Error> {
        // They go into HTTP headers and presigned URLs: anything else would fail later and
        // less clearly, or (past what the host takes) trap.
        let check = |what: &str, value: &str, max: usize| {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(credentials_error(format!("the {what} from {source} must be non-empty printable ASCII without spaces")));
            }
            if value.len() > max {
                return Err(credentials_error(format!("the {what} from {source} is {} bytes; at most {max} are accepted", value.len())));
            }
            Ok(())
        };
        check("access key id", &access_key_id, MAX_KEY_BYTES)?;
        check("secret access key", &secret_access_key, MAX_KEY_BYTES)?;
        if let Some(token) = &session_token {
            check("session token", token, MAX_TOKEN_BYTES)?;
        }
        Ok(Self { access_key_id, secret_access_key, session_token, source, expires })
    }

    /// What aws-sigv4 signs with.
    pub fn identity(&self) -> aws_smithy_runtime_api::client::identity::Identity {
        aws_credential_types::Credentials::new(&self.access_key_id, &self.secret_access_key, self.session_token.clone(), None, "wasm-storages").into()
    }

    /// Still good for a while (or permanent).
    fn fresh(&self, now: SystemTime) -> bool {
        self.expires.is_none_or(|t| now + REFRESH_BEFORE < t)
    }
}

enum Source {
    Fixed(Rc<Credentials>),
    WebIdentity(WebIdentity),
    Container(Container),
    Imds(Imds),
}

/// A store's credentials: fixed, or fetched and cached.
pub struct Provider {
    source: Source,
    cached: RefCell<Option<Rc<Credentials>>>,
    /// The sources passed over before this one, for "no credentials found".
    passed: Vec<String>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Sources 3 to 6, after `explicit` (sources 1 and 2) found nothing. `files` is the
/// loaded profile, `region` the store's (for STS's default endpoint). No network call.
pub fn chain(explicit: Option<Credentials>, files: Option<&profile::Loaded>, env: &Env, region: &str) -> Result<Provider, Error> {
    let provider = |source, passed| Ok(Provider { source, cached: RefCell::new(None), passed });
    if let Some(c) = explicit {
        return provider(Source::Fixed(Rc::new(c)), Vec::new());
    }
    let mut passed = vec!["config (access-key-id, secret-access-key)".to_string(), "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".to_string()];
    if let Some(loaded) = files {
        let keys = loaded.profile.as_ref().map(|p| (p.access_key_id.clone(), p.secret_access_key.clone(), p.session_token.clone(), p.keys_from.clone()));
        match keys {
            Some((Some(id), Some(secret), token, _)) => {
                return provider(Source::Fixed(Rc::new(Credentials::new(id, secret, token, "shared files", None)?)), passed);
            }
            Some((Some(_), None, _, from) | (None, Some(_), _, from)) => {
                return Err(credentials_error(format!(
                    "profile {} in {} has only one of aws_access_key_id and aws_secret_access_key",
                    Q(&loaded.name),
                    from.unwrap_or_default()
                )));
            }
            _ => passed.push(format!("shared files, profile {}: {}", Q(&loaded.name), loaded.tried.join(", "))),
        }
    }
    if let Some(w) = WebIdentity::from_env(env, region).map_err(credentials_error)? {
        return provider(Source::WebIdentity(w), passed);
    }
    passed.push("web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN not set)".into());
    if let Some(c) = Container::from_env(env).map_err(credentials_error)? {
        return provider(Source::Container(c), passed);
    }
    passed.push("container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI not set)".into());
    match Imds::from_env(env).map_err(credentials_error)? {
        Some(i) => provider(Source::Imds(i), passed),
        None => {
            passed.push("EC2 instance metadata (AWS_EC2_METADATA_DISABLED)".into());
            Err(no_credentials(&passed))
        }
    }
}

fn no_credentials(tried: &[String]) -> Error {
    credentials_error(format!("no credentials found; tried: {}", tried.join("; ")))
}

impl Provider {
    /// The credentials to sign with now: fetched on first use, and again when they near
    /// expiry (the old ones serve until they actually expire if a refresh fails).
    pub fn current(&self, send: Send) -> Result<Rc<Credentials>, Error> {
        let now = SystemTime::now();
        if let Source::Fixed(c) = &self.source {
            return Ok(c.clone());
        }
        let cached = self.cached.borrow().clone();
        if let Some(c) = cached.as_ref().filter(|c| c.fresh(now)) {
            return Ok(c.clone());
        }
        let fetched = match &self.source {
            Source::Fixed(_) => unreachable!("returned above"),
            Source::WebIdentity(w) => w.fetch(send),
            Source::Container(c) => c.fetch(send),
            Source::Imds(i) => i.fetch(send),
        };
        match fetched {
            Ok(c) => {
                let c = Rc::new(c);
                *self.cached.borrow_mut() = Some(c.clone());
                Ok(c)
            }
            Err(_) if cached.as_ref().is_some_and(|c| c.expires.is_some_and(|t| now < t)) => Ok(cached.expect("checked")),
            Err(Failure::Unavailable(why)) => {
                let mut tried = self.passed.clone();
                tried.push(format!("{} ({why})", self.describe()));
                Err(no_credentials(&tried))
            }
            Err(Failure::Failed(why)) => Err(credentials_error(format!("{}: {why}", self.describe()))),
        }
    }

    /// Forgets fetched credentials the server called expired. Returns whether there is
    /// anything to fetch anew (fixed credentials stay as they are).
    pub fn invalidate(&self) -> bool {
        if matches!(self.source, Source::Fixed(_)) {
            return false;
        }
        *self.cached.borrow_mut() = None;
        true
    }

    pub fn describe(&self) -> String {
        match &self.source {
            Source::Fixed(c) => c.source.to_string(),
            Source::WebIdentity(w) => w.describe(),
            Source::Container(c) => c.describe(),
            Source::Imds(i) => i.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn config_beats_environment_and_env_token_is_not_mixed_in() {
        let e = env(&[("AWS_ACCESS_KEY_ID", "ENVID"), ("AWS_SECRET_ACCESS_KEY", "envsecret"), ("AWS_SESSION_TOKEN", "envtoken")]);
        let c = Credentials::explicit(Some("CFGID".into()), Some("cfgsecret".into()), None, &Env(&e)).unwrap().unwrap();
        assert_eq!((c.access_key_id.as_str(), c.source, c.session_token.is_none()), ("CFGID", "config", true));
        let c = Credentials::explicit(None, None, None, &Env(&e)).unwrap().unwrap();
        assert_eq!((c.access_key_id.as_str(), c.source, c.session_token.as_deref()), ("ENVID", "environment", Some("envtoken")));
        assert!(Credentials::explicit(None, None, None, &Env(&[])).unwrap().is_none());
    }

    #[test]
    fn half_credentials_are_clear_errors_without_the_secret() {
        let err = |r: Result<Option<Credentials>, Error>| match r {
            Err(Error::InvalidConfig(m) | Error::Credentials(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(err(Credentials::explicit(Some("id".into()), None, None, &Env(&[]))).contains("secret-access-key is not"));
        assert!(err(Credentials::explicit(None, None, Some("t".into()), &Env(&[]))).contains("session-token"));
        assert!(err(Credentials::explicit(None, None, None, &Env(&env(&[("AWS_ACCESS_KEY_ID", "x")])))).contains("AWS_SECRET_ACCESS_KEY is not"));
        let m = err(Credentials::explicit(Some("id".into()), Some("se cret".into()), None, &Env(&[])));
        assert!(!m.contains("se cret"), "{m}");
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Credentials::explicit(Some("AKID".into()), Some("TOPSECRET".into()), Some("TOKENVALUE".into()), &Env(&[])).unwrap().unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("AKID") && !shown.contains("TOPSECRET") && !shown.contains("TOKENVALUE"), "{shown}");
    }

    /// Every subset of the six sources: the first configured one in the documented order
    /// wins (which covers every pair), and with none, the error lists all six.
    #[test]
    fn the_first_configured_source_wins() {
        let dir = std::env::temp_dir().join(format!("wasm-storages-chain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let creds_file = dir.join("credentials");
        std::fs::write(&creds_file, "[default]\naws_access_key_id = FILEID\naws_secret_access_key = filesecret\n").unwrap();
        let names = ["config", "environment", "shared files", "web identity", "container", "imds"];
        for set in 0u32..64 {
            let has = |i: usize| set & (1 << i) != 0;
            let mut pairs = vec![(
                "AWS_SHARED_CREDENTIALS_FILE".to_string(),
                if has(2) { creds_file.display().to_string() } else { dir.join("absent").display().to_string() },
            )];
            pairs.push(("AWS_CONFIG_FILE".into(), dir.join("absent-config").display().to_string()));
            if has(1) {
                pairs.push(("AWS_ACCESS_KEY_ID".into(), "ENVID".into()));
                pairs.push(("AWS_SECRET_ACCESS_KEY".into(), "envsecret".into()));
            }
            if has(3) {
                pairs.push(("AWS_WEB_IDENTITY_TOKEN_FILE".into(), "/var/run/token".into()));
                pairs.push(("AWS_ROLE_ARN".into(), "arn:aws:iam::1:role/r".into()));
            }
            if has(4) {
                pairs.push(("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI".into(), "/creds".into()));
            }
            if !has(5) {
                pairs.push(("AWS_EC2_METADATA_DISABLED".into(), "true".into()));
            }
            let e = Env(&pairs);
            let (id, secret) = if has(0) { (Some("CFGID".to_string()), Some("cfgsecret".to_string())) } else { (None, None) };
            let explicit = Credentials::explicit(id, secret, None, &e).unwrap();
            let files = if explicit.is_none() { Some(profile::load(None, &e).unwrap()) } else { None };
            let result = chain(explicit, files.as_ref(), &e, "us-east-1");
            let expected = (0..6).find(|&i| has(i));
            match (expected, result) {
                (None, Err(Error::Credentials(m))) => {
                    assert!(m.starts_with("no credentials found"), "{m}");
                    for source in ["config", "environment", "shared files", "web identity", "container credentials", "EC2 instance metadata"] {
                        assert!(m.contains(source), "{source} missing from: {m}");
                    }
                }
                (Some(i), Ok(p)) => {
                    let shown = p.describe();
                    let want = match i {
                        4 => "container credentials",
                        5 => "EC2 instance metadata",
                        _ => names[i],
                    };
                    assert!(shown.starts_with(want), "sources {set:06b}: expected {want}, got {shown}");
                }
                (expected, other) => panic!("sources {set:06b}: expected {expected:?}, got {other:?}"),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
