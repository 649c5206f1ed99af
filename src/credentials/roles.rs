//! Roles a profile assumes (`role_arn`): STS AssumeRole, signed with the source's
//! credentials — `source_profile`'s (static keys, or a role itself: chained) or
//! `credential_source`'s (the environment, container credentials, EC2 instance metadata).
//! The source is a provider of its own, cached and refreshed as any.

use std::time::SystemTime;

use super::remote::{Failure, STS_TIMEOUT, Url, call, sts_credentials};
use super::{Credentials, Provider};
use crate::error::message;
use crate::keys::encode_query;
use crate::signing;

pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
    pub duration_seconds: Option<u32>,
    pub sts: Url,
    /// STS signs per region: the profile's, else the store's.
    pub region: String,
    pub source: Box<Provider>,
}

impl AssumeRole {
    pub fn describe(&self) -> String {
        format!("role {} assumed with {}", self.role_arn, self.source.describe())
    }

    pub async fn fetch(&self) -> Result<Credentials, Failure> {
        // Boxed: a role's source may be a role (chained profiles), a recursive future.
        let source = Box::pin(self.source.current()).await.map_err(|e| Failure::Failed(format!("the source credentials: {}", message(&e))))?;
        let mut form =
            format!("Action=AssumeRole&RoleArn={}&RoleSessionName={}&Version=2011-06-15", encode_query(&self.role_arn), encode_query(&self.session_name));
        if let Some(id) = &self.external_id {
            form.push_str(&format!("&ExternalId={}", encode_query(id)));
        }
        if let Some(seconds) = self.duration_seconds {
            form.push_str(&format!("&DurationSeconds={seconds}"));
        }
        // aws-sigv4 signs the host from the URL; wasi:http sets the header from it.
        let mut headers = vec![("content-type".to_string(), "application/x-www-form-urlencoded".to_string())];
        let url = self.sts.describe();
        let signed = signing::sign_sts(&source.identity(), &self.region, SystemTime::now(), &url, &headers, form.as_bytes())
            .map_err(|e| Failure::Failed(format!("signing AssumeRole: {}", message(&e))))?;
        headers.extend(signed);
        let (status, body) =
            call(&self.sts, "POST", &self.sts.path, headers, Some(form.as_bytes()), STS_TIMEOUT).await.map_err(|e| Failure::Failed(format!("STS: {e}")))?;
        sts_credentials(status, &body, "AssumeRole", "assumed role")
    }
}
