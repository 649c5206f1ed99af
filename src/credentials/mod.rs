//! Where the signing keys come from, in the order AWS's SDKs use; the first source that
//! is configured wins:
//! 1. `access-key-id` / `secret-access-key` / `session-token` in the config;
//! 2. `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`;
//! 3. the profile in the shared files (`profile`), read through wasi:filesystem: its keys,
//!    the role it assumes (`roles`), its web identity token file, or its IAM Identity
//!    Center login (`sso`); `credential_process` can't run in a component and says so;
//! 4. web identity, 5. container credentials, 6. EC2 instance metadata (`remote`).
//!
//! `open` decides which source applies without a network call; temporary credentials are
//! fetched on first use, cached per store, refreshed 5 minutes before they expire, and
//! dropped after an `ExpiredToken` reply. The secret and the session token are never shown:
//! `Debug` redacts them, and no error message includes them.

pub(crate) mod json;
pub mod profile;
mod remote;
mod roles;
mod sso;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use crate::error::{Error, invalid_config};
use crate::quote::Q;
use crate::sys::env::Env;
use remote::{Container, Failure, Imds, WebIdentity};
use roles::AssumeRole;
use sso::Sso;

/// The longest a request waits for another's credential fetch before fetching itself.
const GATE_WAIT: Duration = Duration::from_secs(3);

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
    AssumeRole(AssumeRole),
    Sso(Sso),
}

/// Roles assumed from roles, at most: a chain this long is a mistake (AWS allows no loops).
const MAX_ROLE_CHAIN: usize = 10;
/// STS's bounds on a role session.
const ROLE_DURATION: std::ops::RangeInclusive<u32> = 900..=43_200;

fn provider(source: Source, passed: Vec<String>) -> Provider {
    Provider { source, cached: RefCell::new(None), passed, fetching: std::cell::Cell::new(false), waiting: RefCell::new(Vec::new()) }
}

/// Where profile `name`'s credentials come from, `None` when it names none (the chain goes
/// on). `chain` lists the profiles followed so far (`source_profile`): a source profile's
/// own keys win over its role, as in the AWS SDKs.
fn profile_source(loaded: &profile::Loaded, name: &str, env: &Env, region: &str, chain: &mut Vec<String>) -> Result<Option<Source>, Error> {
    let files = &loaded.files;
    let p = files.profile(name).ok_or_else(|| credentials_error(format!("source_profile {} is in none of the shared files", Q(&name))))?;
    let quoted = Q(&name);
    let keys = match (&p.access_key_id, &p.secret_access_key) {
        (Some(id), Some(secret)) => Some(Credentials::new(id.clone(), secret.clone(), p.session_token.clone(), "shared files", None)?),
        (None, None) => None,
        _ => {
            return Err(credentials_error(format!(
                "profile {quoted} in {} has only one of aws_access_key_id and aws_secret_access_key",
                p.keys_from.clone().unwrap_or_default()
            )));
        }
    };
    let source_of_another = !chain.is_empty();
    if chain.iter().any(|n| n == name) {
        chain.push(name.to_string());
        return Err(credentials_error(format!("the profiles' source_profile settings go round in a loop: {}", chain.join(" -> "))));
    }
    chain.push(name.to_string());
    if chain.len() > MAX_ROLE_CHAIN {
        return Err(credentials_error(format!("more than {MAX_ROLE_CHAIN} roles are chained: {}", chain.join(" -> "))));
    }
    match (keys, &p.role_arn) {
        (Some(keys), Some(_)) if source_of_another => return Ok(Some(Source::Fixed(Rc::new(keys)))),
        (Some(keys), None) => return Ok(Some(Source::Fixed(Rc::new(keys)))),
        _ => {}
    }
    if let Some(role_arn) = &p.role_arn {
        let region = p.region.as_deref().unwrap_or(region);
        let base = match (&p.source_profile, &p.credential_source, &p.web_identity_token_file) {
            (Some(_), Some(_), _) => return Err(credentials_error(format!("profile {quoted} has both source_profile and credential_source"))),
            // A role of its own keys (`source_profile` naming itself).
            (Some(source), None, _) if source == name => match &p.access_key_id {
                Some(_) => profile_keys(p)?,
                None => return Err(credentials_error(format!("profile {quoted} is its own source_profile but has no keys"))),
            },
            (Some(source), None, _) => match profile_source(loaded, source, env, region, chain)? {
                Some(source) => provider(source, Vec::new()),
                None => return Err(credentials_error(format!("source_profile {} of profile {quoted} has no credentials", Q(source)))),
            },
            (None, Some(named), _) => provider(credential_source(named, env)?, Vec::new()),
            (None, None, Some(token_file)) => {
                let w = WebIdentity::new(token_file, role_arn, p.role_session_name.as_deref(), env, region).map_err(credentials_error)?;
                return Ok(Some(Source::WebIdentity(w)));
            }
            (None, None, None) => {
                return Err(credentials_error(format!(
                    "profile {quoted} sets role_arn but none of source_profile, credential_source and web_identity_token_file"
                )));
            }
        };
        let duration_seconds = match &p.duration_seconds {
            Some(text) => match text.parse::<u32>() {
                Ok(n) if ROLE_DURATION.contains(&n) => Some(n),
                _ => return Err(invalid_config(format!("profile {quoted}: duration_seconds must be 900 to 43200, not {}", Q(text)))),
            },
            None => None,
        };
        return Ok(Some(Source::AssumeRole(AssumeRole {
            role_arn: role_arn.clone(),
            session_name: remote::session_name(p.role_session_name.as_deref()),
            external_id: p.external_id.clone(),
            duration_seconds,
            sts: remote::sts_endpoint(env, region, "assuming a role").map_err(credentials_error)?,
            region: region.to_string(),
            source: Box::new(base),
        })));
    }
    if p.sso_session.is_some() || p.sso_start_url.is_some() {
        return Sso::from_profile(name, p, files, env).map(|s| Some(Source::Sso(s))).map_err(credentials_error);
    }
    if p.credential_process.is_some() {
        return Err(credentials_error(format!(
            "profile {quoted} gets its credentials from credential_process, a program to run: a WebAssembly component can't run programs (WASI has no processes); give the component keys, a role, web identity or IAM Identity Center instead"
        )));
    }
    Ok(None)
}

/// A profile's own keys, as a provider.
fn profile_keys(p: &profile::Profile) -> Result<Provider, Error> {
    let (Some(id), Some(secret)) = (&p.access_key_id, &p.secret_access_key) else { return Err(credentials_error("a profile's keys are incomplete")) };
    Ok(provider(Source::Fixed(Rc::new(Credentials::new(id.clone(), secret.clone(), p.session_token.clone(), "shared files", None)?)), Vec::new()))
}

/// `credential_source`: where a role's base credentials come from outside the files.
fn credential_source(named: &str, env: &Env) -> Result<Source, Error> {
    let missing = |what: &str| credentials_error(format!("credential_source {named} names {what}, which is not configured here", named = Q(&named)));
    match named {
        "Environment" => match Credentials::explicit(None, None, None, env)? {
            Some(c) => Ok(Source::Fixed(Rc::new(c))),
            None => Err(missing("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")),
        },
        "EcsContainer" => Container::from_env(env).map_err(credentials_error)?.map(Source::Container).ok_or_else(|| missing("container credentials")),
        "Ec2InstanceMetadata" => Imds::from_env(env).map_err(credentials_error)?.map(Source::Imds).ok_or_else(|| missing("EC2 instance metadata (disabled)")),
        other => Err(credentials_error(format!("credential_source {} is not one of Environment, EcsContainer, Ec2InstanceMetadata", Q(&other)))),
    }
}

/// A store's credentials: fixed, or fetched and cached.
pub struct Provider {
    source: Source,
    cached: RefCell<Option<Rc<Credentials>>>,
    /// The sources passed over before this one, for "no credentials found".
    passed: Vec<String>,
    /// A fetch is under way: requests that need credentials meanwhile wait for it rather than
    /// fetch again (parts in flight after an `ExpiredToken`).
    fetching: std::cell::Cell<bool>,
    waiting: RefCell<Vec<std::task::Waker>>,
}

/// The fetch under way, while it lasts: ending (done, failed or dropped) lets the waiting
/// requests look again.
struct Fetching<'a>(&'a Provider);

impl Drop for Fetching<'_> {
    fn drop(&mut self) {
        self.0.fetching.set(false);
        for waker in self.0.waiting.take() {
            waker.wake();
        }
    }
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Sources 3 to 6, after `explicit` (sources 1 and 2) found nothing. `files` is the
/// loaded profile, `region` the store's (for STS's default endpoint). No network call.
pub fn chain(explicit: Option<Credentials>, files: Option<&profile::Loaded>, env: &Env, region: &str) -> Result<Provider, Error> {
    let provider = |source, passed| Ok(provider(source, passed));
    if let Some(c) = explicit {
        return provider(Source::Fixed(Rc::new(c)), Vec::new());
    }
    let mut passed = vec!["config (access-key-id, secret-access-key)".to_string(), "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".to_string()];
    if let Some(loaded) = files {
        let found = match loaded.profile {
            Some(_) => profile_source(loaded, &loaded.name, env, region, &mut Vec::new())?,
            None => None,
        };
        match found {
            Some(source) => return provider(source, passed),
            None => passed.push(format!("shared files, profile {}: {}", Q(&loaded.name), loaded.tried.join(", "))),
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
    pub async fn current(&self) -> Result<Rc<Credentials>, Error> {
        if let Source::Fixed(c) = &self.source {
            return Ok(c.clone());
        }
        // One fetch at a time: whoever comes while one is under way waits for its result,
        // for a while. The fetch belongs to the request that started it, which may be
        // parked (a part left in flight between a writer's calls): after `GATE_WAIT`, a
        // waiter fetches for itself rather than hang on it.
        let mut gave_up = std::pin::pin!(crate::sys::time::sleep(GATE_WAIT));
        std::future::poll_fn(|cx| {
            if !self.fetching.get() || gave_up.as_mut().poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
            let mut waiting = self.waiting.borrow_mut();
            if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                waiting.push(cx.waker().clone());
            }
            std::task::Poll::Pending
        })
        .await;
        let now = SystemTime::now();
        let cached = self.cached.borrow().clone();
        if let Some(c) = cached.as_ref().filter(|c| c.fresh(now)) {
            return Ok(c.clone());
        }
        self.fetching.set(true);
        let _fetching = Fetching(self);
        let fetched = match &self.source {
            Source::Fixed(_) => unreachable!("returned above"),
            Source::WebIdentity(w) => w.fetch().await,
            Source::Container(c) => c.fetch().await,
            Source::Imds(i) => i.fetch().await,
            Source::AssumeRole(r) => r.fetch().await,
            Source::Sso(s) => s.fetch().await,
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

    /// Forgets fetched credentials the server called expired: those a request was
    /// `signed_with` (all, if not known), not fresher ones another request in flight has
    /// fetched since. Returns whether there is anything new to sign with (fixed credentials
    /// stay as they are).
    pub fn invalidate(&self, signed_with: Option<&Rc<Credentials>>) -> bool {
        if matches!(self.source, Source::Fixed(_)) {
            return false;
        }
        let mut cached = self.cached.borrow_mut();
        if signed_with.is_none_or(|used| cached.as_ref().is_some_and(|c| Rc::ptr_eq(c, used))) {
            *cached = None;
        }
        true
    }

    pub fn describe(&self) -> String {
        match &self.source {
            Source::Fixed(c) => c.source.to_string(),
            Source::WebIdentity(w) => w.describe(),
            Source::Container(c) => c.describe(),
            Source::Imds(i) => i.describe(),
            Source::AssumeRole(r) => r.describe(),
            Source::Sso(s) => s.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// An `ExpiredToken` for a request signed before another request fetched fresh
    /// credentials forgets nothing: those fresh ones are what the retry signs with.
    #[test]
    fn expired_credentials_are_forgotten_and_fresher_ones_kept() {
        let imds = remote::Imds::from_env(&Env(&env(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")]))).unwrap().unwrap();
        let p = provider(Source::Imds(imds), Vec::new());
        let fetched = |key: &str| Rc::new(Credentials::new(key.into(), "secret".into(), Some("token".into()), "test", None).unwrap());
        let (old, fresh) = (fetched("OLD"), fetched("FRESH"));
        *p.cached.borrow_mut() = Some(fresh.clone());
        assert!(p.invalidate(Some(&old)));
        assert!(p.cached.borrow().as_ref().is_some_and(|c| Rc::ptr_eq(c, &fresh)), "fresher credentials kept");
        assert!(p.invalidate(Some(&fresh)));
        assert!(p.cached.borrow().is_none(), "the expired ones forgotten");
        *p.cached.borrow_mut() = Some(old);
        assert!(p.invalidate(None));
        assert!(p.cached.borrow().is_none(), "unknown: forgotten");
        let fixed = provider(Source::Fixed(fresh.clone()), Vec::new());
        assert!(!fixed.invalidate(Some(&fresh)), "fixed credentials are not fetched anew");
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

    /// What each kind of profile resolves to, and the errors profiles can make.
    #[test]
    fn profiles_resolve_to_keys_roles_web_identity_or_sso() {
        let dir = std::env::temp_dir().join(format!("wasm-storages-profiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config");
        std::fs::write(
            &config,
            "[profile base]\naws_access_key_id = BASEID\naws_secret_access_key = basesecret\n\
             [profile role]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\nexternal_id = ext\nduration_seconds = 900\n\
             [profile chained]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = role\n\
             [profile env-role]\nrole_arn = arn:aws:iam::1:role/c\ncredential_source = Environment\n\
             [profile web]\nrole_arn = arn:aws:iam::1:role/d\nweb_identity_token_file = /t/token\n\
             [profile sso]\nsso_session = corp\nsso_account_id = 123\nsso_role_name = Dev\n\
             [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n\
             [profile process]\ncredential_process = /bin/creds\n\
             [profile loop-a]\nrole_arn = arn:aws:iam::1:role/e\nsource_profile = loop-b\n\
             [profile loop-b]\nrole_arn = arn:aws:iam::1:role/f\nsource_profile = loop-a\n\
             [profile orphan]\nrole_arn = arn:aws:iam::1:role/g\n\
             [profile bad-duration]\nrole_arn = arn:aws:iam::1:role/h\nsource_profile = base\nduration_seconds = 60\n",
        )
        .unwrap();
        let vars = |profile: &str| {
            vec![
                ("AWS_CONFIG_FILE".to_string(), config.display().to_string()),
                ("AWS_SHARED_CREDENTIALS_FILE".to_string(), dir.join("none").display().to_string()),
                ("AWS_PROFILE".to_string(), profile.to_string()),
                ("HOME".to_string(), "/home/me".to_string()),
                ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()),
            ]
        };
        let resolve = |profile: &str| {
            let pairs = vars(profile);
            let e = Env(&pairs);
            let loaded = profile::load(None, &e).unwrap();
            chain(None, Some(&loaded), &e, "us-east-1").map(|p| p.describe())
        };
        assert_eq!(resolve("base").unwrap(), "shared files");
        assert_eq!(resolve("role").unwrap(), "role arn:aws:iam::1:role/a assumed with shared files");
        assert_eq!(resolve("chained").unwrap(), "role arn:aws:iam::1:role/b assumed with role arn:aws:iam::1:role/a assumed with shared files");
        let mut with_env = vars("env-role");
        with_env.extend([("AWS_ACCESS_KEY_ID".to_string(), "E".to_string()), ("AWS_SECRET_ACCESS_KEY".to_string(), "e".to_string())]);
        let loaded = profile::load(None, &Env(&with_env)).unwrap();
        assert_eq!(chain(None, Some(&loaded), &Env(&with_env), "us-east-1").unwrap().describe(), "role arn:aws:iam::1:role/c assumed with environment");
        assert!(resolve("web").unwrap().starts_with("web identity (/t/token via STS at https://sts.us-east-1.amazonaws.com/"));
        assert_eq!(resolve("sso").unwrap(), "IAM Identity Center (profile \"sso\", role Dev in account 123)");
        let message = |profile: &str| match resolve(profile) {
            Err(Error::Credentials(m) | Error::InvalidConfig(m)) => m,
            other => panic!("{profile}: {other:?}"),
        };
        assert!(message("process").contains("credential_process") && message("process").contains("\"process\""));
        assert!(message("loop-a").contains("loop-a -> loop-b -> loop-a"), "{}", message("loop-a"));
        assert!(message("orphan").contains("none of source_profile"));
        assert!(message("bad-duration").contains("900 to 43200"));
        assert!(message("env-role").contains("Environment"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
