//! Loopback stand-ins for the services temporary credentials come from, for tests: EC2
//! instance metadata (IMDSv2), the container credentials endpoint and STS
//! `AssumeRoleWithWebIdentity`. Each issues fresh keys, adds them to the embedded S3
//! server's [`KeyRing`], and counts the credentials it handed out, so a successful upload
//! proves the component's chain end to end.
//!
//! One server answers all three, by path:
//! - `PUT /latest/api/token`, `GET /latest/meta-data/iam/security-credentials/[ROLE]` (IMDSv2,
//!   the session token required);
//! - `GET /container` (the `Authorization` header must be [`CONTAINER_TOKEN`]);
//! - `POST /sts/` (the form's `WebIdentityToken` must be [`WEB_IDENTITY_TOKEN`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::testkit::s3_server::KeyRing;

pub const CONTAINER_TOKEN: &str = "container-auth-token";
pub const WEB_IDENTITY_TOKEN: &str = "web-identity-jwt";
pub const IMDS_ROLE: &str = "test-role";
const IMDS_SESSION: &str = "imds-session-token";

/// How the stand-ins answer.
#[derive(Clone)]
pub struct Behaviour {
    /// Lifetime of the credentials issued.
    pub lifetime: Duration,
    /// Answer credential requests with this body (status 200) instead: malformed replies.
    pub garbage: Option<String>,
    /// Reissue the first access key with a new session token each time, as STS does not but
    /// s3s-fs needs: it lets only the key that started a multipart upload continue it.
    pub same_key: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour { lifetime: Duration::from_secs(3600), garbage: None, same_key: false }
    }
}

pub struct CredentialServers {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    issued: Arc<AtomicUsize>,
    last_key: Arc<Mutex<Option<String>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    task: tokio::task::JoinHandle<()>,
}

impl CredentialServers {
    pub async fn start(keys: KeyRing) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let state = State { keys, issued: Arc::default(), last_key: Arc::default(), behaviour: Arc::default() };
        let (issued, last_key, behaviour) = (state.issued.clone(), state.last_key.clone(), state.behaviour.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(state.answer(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(socket), service).await;
                });
            }
        });
        Ok(Self { endpoint, issued, last_key, behaviour, task })
    }

    /// Credentials handed out so far.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }

    /// The access key issued last.
    pub fn last_key(&self) -> Option<String> {
        self.last_key.lock().unwrap().clone()
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }
}

impl Drop for CredentialServers {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct State {
    keys: KeyRing,
    issued: Arc<AtomicUsize>,
    last_key: Arc<Mutex<Option<String>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

type Reply = hyper::Response<Full<Bytes>>;

fn reply(status: u16, body: impl Into<String>) -> Reply {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r
}

impl State {
    /// Fresh keys the S3 server accepts: (id, secret, token, expiration).
    fn issue(&self) -> (String, String, String, String) {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let key = if self.behaviour.lock().unwrap().same_key { 1 } else { n };
        let (id, secret) = (format!("ASIATEST{key:04}"), format!("temporary-secret-{key}"));
        self.keys.add(&id, &secret);
        *self.last_key.lock().unwrap() = Some(id.clone());
        let expires = SystemTime::now() + self.behaviour.lock().unwrap().lifetime;
        let expiration = rfc3339(expires);
        (id, secret, format!("session-token-{n}"), expiration)
    }

    fn json_credentials(&self) -> Reply {
        if let Some(garbage) = self.behaviour.lock().unwrap().garbage.clone() {
            return reply(200, garbage);
        }
        let (id, secret, token, expiration) = self.issue();
        reply(
            200,
            format!(
                r#"{{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"{id}","SecretAccessKey":"{secret}","Token":"{token}","Expiration":"{expiration}"}}"#
            ),
        )
    }

    async fn answer(&self, req: hyper::Request<hyper::body::Incoming>) -> Reply {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let path = parts.uri.path();
        let imds_base = "/latest/meta-data/iam/security-credentials/";
        match (parts.method.as_str(), path) {
            ("PUT", "/latest/api/token") if !header("x-aws-ec2-metadata-token-ttl-seconds").is_empty() => reply(200, IMDS_SESSION),
            ("PUT", "/latest/api/token") => reply(400, "missing TTL"),
            ("GET", p) if p.starts_with(imds_base) => {
                if header("x-aws-ec2-metadata-token") != IMDS_SESSION {
                    return reply(401, "");
                }
                match &p[imds_base.len()..] {
                    "" => reply(200, IMDS_ROLE),
                    IMDS_ROLE => self.json_credentials(),
                    _ => reply(404, ""),
                }
            }
            ("GET", "/container") if header("authorization") == CONTAINER_TOKEN => self.json_credentials(),
            ("GET", "/container") => reply(403, r#"{"code":"AccessDenied","message":"bad token"}"#),
            ("POST", "/sts/") => {
                let form = String::from_utf8_lossy(&body).into_owned();
                let field = |name: &str| form.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap_or("").to_string();
                if field("Action") != "AssumeRoleWithWebIdentity" || field("RoleArn").is_empty() || field("RoleSessionName").is_empty() {
                    return reply(400, "<ErrorResponse><Error><Code>InvalidParameterValue</Code><Message>bad request</Message></Error></ErrorResponse>");
                }
                if field("WebIdentityToken") != WEB_IDENTITY_TOKEN {
                    return reply(
                        400,
                        "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>The token is not valid</Message></Error></ErrorResponse>",
                    );
                }
                if let Some(garbage) = self.behaviour.lock().unwrap().garbage.clone() {
                    return reply(200, garbage);
                }
                let (id, secret, token, expiration) = self.issue();
                reply(
                    200,
                    format!(
                        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>{id}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
                    ),
                )
            }
            _ => reply(404, ""),
        }
    }
}

/// RFC 3339 UTC, as AWS writes expirations.
fn rfc3339(t: SystemTime) -> String {
    aws_smithy_types::DateTime::from(t).fmt(aws_smithy_types::date_time::Format::DateTime).unwrap_or_default()
}
