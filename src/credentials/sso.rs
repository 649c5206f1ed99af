//! IAM Identity Center (SSO) profiles: `sso_session` (naming an `[sso-session]` section) or
//! the legacy `sso_start_url` + `sso_region` in the profile, with `sso_account_id` and
//! `sso_role_name`. The access token `aws sso login` left in `~/.aws/sso/cache/` (named by
//! the SHA-1 of the session name, or of the start URL) is exchanged at the portal
//! (`GetRoleCredentials`; `AWS_ENDPOINT_URL_SSO` moves it). An expired token is an error
//! that says to log in again: refreshing it needs the SSO OIDC client the CLI registered.

use std::time::{Duration, SystemTime};

use sha1::Digest as _;

use super::Credentials;
use super::json;
use super::profile::{Files, Profile};
use super::remote::{Failure, Url, call};
use crate::keys::encode_query;
use crate::quote::Q;
use crate::sys::env::Env;
use crate::sys::fs::read_to_string;

const PORTAL_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Sso {
    profile: String,
    cache_file: String,
    account_id: String,
    role_name: String,
    portal: Url,
}

impl Sso {
    /// Profile `name`'s SSO settings, or why they don't do.
    pub fn from_profile(name: &str, profile: &Profile, files: &Files, env: &Env) -> Result<Sso, String> {
        let what = |setting: &str| format!("profile {} uses IAM Identity Center but has no {setting}", Q(&name));
        let (cache_key, region) = match &profile.sso_session {
            Some(session) => {
                let section = files
                    .sso_session(session)
                    .ok_or_else(|| format!("profile {} names sso_session {}, which has no [sso-session] section", Q(&name), Q(session)))?;
                (session.clone(), section.sso_region.clone().ok_or_else(|| format!("[sso-session {session}] has no sso_region"))?)
            }
            None => (profile.sso_start_url.clone().ok_or_else(|| what("sso_start_url"))?, profile.sso_region.clone().ok_or_else(|| what("sso_region"))?),
        };
        let account_id = profile.sso_account_id.clone().ok_or_else(|| what("sso_account_id"))?;
        let role_name = profile.sso_role_name.clone().ok_or_else(|| what("sso_role_name"))?;
        let home = env.get("HOME").ok_or("IAM Identity Center: HOME is not set, so ~/.aws/sso/cache can't be found")?;
        let digest = sha1::Sha1::digest(cache_key.as_bytes());
        let cache_file = format!("{}/.aws/sso/cache/{}.json", home.trim_end_matches('/'), crate::verify::hex(&digest));
        let portal = match env.get("AWS_ENDPOINT_URL_SSO") {
            Some(url) => Url::parse(url).map_err(|e| format!("AWS_ENDPOINT_URL_SSO: {e}"))?,
            None => Url::parse(&format!("https://portal.sso.{region}.amazonaws.com")).map_err(|e| format!("sso_region: {e}"))?,
        };
        // The access token is a bearer credential.
        if !portal.https && !portal.is_loopback() {
            return Err(format!("IAM Identity Center: the portal {} is plain http to another machine; the token would travel in clear", portal.describe()));
        }
        Ok(Sso { profile: name.to_string(), cache_file, account_id, role_name, portal })
    }

    pub fn describe(&self) -> String {
        format!("IAM Identity Center (profile {}, role {} in account {})", Q(&self.profile), self.role_name, self.account_id)
    }

    pub async fn fetch(&self) -> Result<Credentials, Failure> {
        let login = format!("run `aws sso login --profile {}`", self.profile);
        let text = read_to_string(&self.cache_file).map_err(|e| Failure::Failed(format!("the token cache {}: {e}; {login}", self.cache_file)))?;
        let cached = json::parse_lenient_object(&text).map_err(|e| Failure::Failed(format!("the token cache {} is malformed ({e})", self.cache_file)))?;
        let token =
            json::get(&cached, "accessToken").ok_or_else(|| Failure::Failed(format!("the token cache {} holds no accessToken; {login}", self.cache_file)))?;
        let expires = super::remote::expiration(json::get(&cached, "expiresAt"), "the SSO token cache").map_err(Failure::Failed)?;
        if expires.is_some_and(|t| t <= SystemTime::now()) {
            return Err(Failure::Failed(format!("the IAM Identity Center token has expired; {login}")));
        }
        if token.is_empty() || token.len() > super::MAX_TOKEN_BYTES || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Failure::Failed(format!("the token cache {} holds an unusable accessToken ({} bytes)", self.cache_file, token.len())));
        }
        let path = format!(
            "{}/federation/credentials?account_id={}&role_name={}",
            self.portal.path.trim_end_matches('/'),
            encode_query(&self.account_id),
            encode_query(&self.role_name)
        );
        let headers = vec![("x-amz-sso_bearer_token".to_string(), token.to_string())];
        let (status, body) = call(&self.portal, "GET", &path, headers, None, PORTAL_TIMEOUT).await.map_err(|e| Failure::Failed(format!("the portal: {e}")))?;
        match status {
            200 => {}
            401 | 403 => return Err(Failure::Failed(format!("the portal refused the token ({status}); {login}"))),
            _ => return Err(Failure::Failed(format!("the portal answered {status} to GetRoleCredentials"))),
        }
        let creds = json::parse_member_object(&body, "roleCredentials").map_err(|e| Failure::Failed(format!("the portal's reply is malformed ({e})")))?;
        let field = |name: &str| json::get(&creds, name).map(str::to_string).ok_or_else(|| Failure::Failed(format!("the portal's reply has no {name}")));
        // Milliseconds since 1970.
        let expires = match json::get(&creds, "expiration") {
            Some(ms) => Some(
                ms.parse::<u64>()
                    .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
                    .map_err(|_| Failure::Failed("the portal gave an unreadable expiration".into()))?,
            ),
            None => None,
        };
        Credentials::new(
            field("accessKeyId")?,
            field("secretAccessKey")?,
            json::get(&creds, "sessionToken").map(str::to_string),
            "IAM Identity Center",
            expires,
        )
        .map_err(|e| Failure::Failed(crate::error::message(&e)))
    }
}
