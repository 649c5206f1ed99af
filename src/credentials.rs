//! Where the signing keys come from. The secret and the session token are never shown:
//! `Debug` redacts them, and no error message includes them.

use crate::bindings::wasm_storages::storage::types::Error;
use crate::config::Env;
use crate::error::invalid_config;

pub struct Credentials {
    pub access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    /// Where they came from, for error messages.
    pub source: &'static str,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("session_token", &self.session_token.as_ref().map(|_| "** redacted **"))
            .field("source", &self.source)
            .finish()
    }
}

impl Credentials {
    /// Explicit config first, then `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
    /// `AWS_SESSION_TOKEN`. A session token is only taken from the same source as the keys,
    /// so an environment token is never paired with explicit keys.
    pub fn resolve(access_key_id: Option<String>, secret_access_key: Option<String>, session_token: Option<String>, env: &Env) -> Result<Self, Error> {
        match (access_key_id, secret_access_key) {
            (Some(id), Some(secret)) => Self::new(id, secret, session_token, "config"),
            (Some(_), None) => Err(invalid_config("access-key-id is set but secret-access-key is not")),
            (None, Some(_)) => Err(invalid_config("secret-access-key is set but access-key-id is not")),
            (None, None) if session_token.is_some() => Err(invalid_config("session-token is set without access-key-id and secret-access-key")),
            (None, None) => match (env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => Self::new(id.into(), secret.into(), env.get("AWS_SESSION_TOKEN").map(str::to_string), "environment"),
                (Some(_), None) => Err(invalid_config("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")),
                (None, Some(_)) => Err(invalid_config("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")),
                (None, None) => Err(invalid_config(
                    "no credentials found: tried config (access-key-id, secret-access-key) and environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
                )),
            },
        }
    }

    fn new(access_key_id: String, secret_access_key: String, session_token: Option<String>, source: &'static str) -> Result<Self, Error> {
        // They go into an HTTP header; anything else would fail later and less clearly.
        let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
        if !printable(&access_key_id) {
            return Err(invalid_config(format!("access key id from {source} must be non-empty printable ASCII without spaces")));
        }
        if !printable(&secret_access_key) {
            return Err(invalid_config(format!("secret access key from {source} must be non-empty printable ASCII without spaces")));
        }
        if session_token.as_deref().is_some_and(|t| !printable(t)) {
            return Err(invalid_config(format!("session token from {source} must be printable ASCII without spaces")));
        }
        Ok(Self { access_key_id, secret_access_key, session_token, source })
    }

    /// What aws-sigv4 signs with.
    pub fn identity(&self) -> aws_smithy_runtime_api::client::identity::Identity {
        aws_credential_types::Credentials::new(&self.access_key_id, &self.secret_access_key, self.session_token.clone(), None, "wasm-storages").into()
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
        let c = Credentials::resolve(Some("CFGID".into()), Some("cfgsecret".into()), None, &Env(&e)).unwrap();
        assert_eq!((c.access_key_id.as_str(), c.source, c.session_token.is_none()), ("CFGID", "config", true));
        let c = Credentials::resolve(None, None, None, &Env(&e)).unwrap();
        assert_eq!((c.access_key_id.as_str(), c.source, c.session_token.as_deref()), ("ENVID", "environment", Some("envtoken")));
    }

    #[test]
    fn half_credentials_and_none_are_clear_errors() {
        let err = |r: Result<Credentials, Error>| match r {
            Err(Error::InvalidConfig(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(err(Credentials::resolve(Some("id".into()), None, None, &Env(&[]))).contains("secret-access-key is not"));
        assert!(err(Credentials::resolve(None, None, Some("t".into()), &Env(&[]))).contains("session-token"));
        assert!(err(Credentials::resolve(None, None, None, &Env(&env(&[("AWS_ACCESS_KEY_ID", "x")])))).contains("AWS_SECRET_ACCESS_KEY is not"));
        assert!(err(Credentials::resolve(None, None, None, &Env(&[]))).contains("no credentials found"));
        let m = err(Credentials::resolve(Some("id".into()), Some("se cret".into()), None, &Env(&[])));
        assert!(!m.contains("se cret"), "{m}");
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Credentials::resolve(Some("AKID".into()), Some("TOPSECRET".into()), Some("TOKENVALUE".into()), &Env(&[])).unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("AKID") && !shown.contains("TOPSECRET") && !shown.contains("TOKENVALUE"), "{shown}");
    }
}
