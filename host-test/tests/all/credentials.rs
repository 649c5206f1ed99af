//! The credential chain, end to end: each source hands the component keys that the
//! embedded S3 server accepts, so a successful upload proves the chain. The temporary ones
//! come from loopback stand-ins for STS, the container endpoint and IMDSv2
//! (`host_test::testkit::credential_servers`), which issue fresh keys into the server's key ring.
//! Always against the embedded server, whatever the test target.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use host_test::sender::{Fault, Sent};
use host_test::testkit::credential_servers::{Behaviour, CONTAINER_TOKEN, CredentialServers, SSO_TOKEN, WEB_IDENTITY_TOKEN};
use host_test::testkit::s3_server::{ACCESS_KEY, EmbeddedS3, KeyRing, SECRET_KEY, ServerOptions};
use host_test::{Config, Error, Failure, HostOptions, PutOptions, Runtime, Storage};

struct World {
    server: EmbeddedS3,
    keys: KeyRing,
    creds: CredentialServers,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    let keys = KeyRing::default();
    let server = EmbeddedS3::start_with(ServerOptions { keys: Some(keys.clone()), ..Default::default() }).await.unwrap();
    let creds = CredentialServers::start(keys.clone()).await.unwrap();
    World { server, keys, creds, dir: tempfile::tempdir().unwrap() }
}

impl World {
    /// The server's config with no keys in it: they must come from the chain.
    fn config(&self) -> Config {
        let mut c = self.server.config("creds/");
        c.access_key_id = None;
        c.secret_access_key = None;
        c.region = None;
        c
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn dir(&self) -> std::path::PathBuf {
        self.dir.path().to_path_buf()
    }
}

type Log = Arc<Mutex<Vec<Sent>>>;

/// A store with exactly `env` (plus IMDS off unless `env` mentions it) and `preopens`,
/// its requests recorded.
async fn open(config: Config, env: &[(&str, String)], preopens: Vec<std::path::PathBuf>) -> (Result<Storage, Failure>, Log) {
    let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    if !env.iter().any(|(k, _)| k.starts_with("AWS_EC2_METADATA")) {
        env.push(("AWS_EC2_METADATA_DISABLED".into(), "true".into()));
    }
    let log: Log = Arc::default();
    let sink = log.clone();
    let host = HostOptions { env, preopens, observer: Some(Arc::new(move |s| sink.lock().unwrap().push(s))), ..Default::default() };
    (Storage::open(Runtime::shared().unwrap(), &host, config).await, log)
}

fn plain() -> PutOptions {
    PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: host_test::no_attributes(), tags: Vec::new() }
}

/// The access key and region the last S3 request was signed with.
fn signed_with(log: &Log) -> (String, String) {
    let log = log.lock().unwrap();
    let auth = log.iter().rev().find_map(|s| s.headers.get("authorization")).expect("a signed request").to_str().unwrap().to_string();
    let scope = auth.split("Credential=").nth(1).unwrap().split(',').next().unwrap().to_string();
    let parts: Vec<&str> = scope.split('/').collect();
    (parts[0].to_string(), parts[2].to_string())
}

fn credentials_error<T: std::fmt::Debug>(r: Result<T, Failure>) -> String {
    match r {
        Err(Failure::Storage(Error::Credentials(m))) => m,
        other => panic!("expected a credentials error, got {other:?}"),
    }
}

async fn round_trip(s: &mut Storage, key: &str) {
    s.put(key, key.as_bytes(), &plain()).await.unwrap();
    assert_eq!(s.get_bytes(key).await.unwrap(), key.as_bytes());
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_files_in_a_preopened_directory() {
    if common::skip_on_memory("the credential chain is the S3 component's") {
        return;
    }
    let w = world().await;
    w.keys.add("AKIDWORK", "work-secret");
    let credentials = w.file("credentials", &format!("[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n\n[work]\naws_access_key_id = AKIDWORK\naws_secret_access_key = work-secret\n"));
    let config = w.file("config", "[default]\nregion = us-east-1\n[profile work]\nregion = eu-central-1\n");
    let env = vec![("AWS_SHARED_CREDENTIALS_FILE", credentials.clone()), ("AWS_CONFIG_FILE", config.clone())];

    let (s, log) = open(w.config(), &env, vec![w.dir()]).await;
    round_trip(&mut s.unwrap(), "default-profile").await;
    assert_eq!(signed_with(&log), (ACCESS_KEY.to_string(), "us-east-1".to_string()));

    // AWS_PROFILE picks the keys and the region.
    let mut with_profile = env.clone();
    with_profile.push(("AWS_PROFILE", "work".into()));
    let (s, log) = open(w.config(), &with_profile, vec![w.dir()]).await;
    round_trip(&mut s.unwrap(), "work-profile").await;
    assert_eq!(signed_with(&log), ("AKIDWORK".to_string(), "eu-central-1".to_string()));

    // The config field beats AWS_PROFILE; a profile that isn't there is an error.
    let mut named = w.config();
    named.profile = Some("absent".into());
    let (s, _) = open(named, &with_profile, vec![w.dir()]).await;
    match s {
        Err(Failure::Storage(Error::InvalidConfig(m))) => assert!(m.contains("\"absent\""), "{m}"),
        other => panic!("{other:?}"),
    }

    // Not preopened: to the component the files are not there, and the error says where
    // it looked.
    let (s, _) = open(w.config(), &env, vec![]).await;
    let m = credentials_error(s);
    assert!(m.starts_with("no credentials found") && m.contains(&format!("{credentials} (not found)")), "{m}");

    // A malformed file names itself and the line, never the line's content.
    let broken = w.file("broken", "[default]\naws_secret_access_key SECRETVALUE\n");
    let (s, _) = open(w.config(), &[("AWS_SHARED_CREDENTIALS_FILE", broken.clone())], vec![w.dir()]).await;
    match s {
        Err(Failure::Storage(Error::InvalidConfig(m))) => assert!(m.contains(&broken) && m.contains("line 2") && !m.contains("SECRETVALUE"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn web_identity_through_sts() {
    if common::skip_on_memory("the credential chain is the S3 component's") {
        return;
    }
    let w = world().await;
    let token = w.file("token", WEB_IDENTITY_TOKEN);
    let sts = format!("{}/sts/", w.creds.endpoint);
    let env = vec![
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.clone()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/test".into()),
        ("AWS_ENDPOINT_URL_STS", sts.clone()),
    ];
    let (s, log) = open(w.config(), &env, vec![w.dir()]).await;
    round_trip(&mut s.unwrap(), "irsa").await;
    assert_eq!(w.creds.issued(), 1);
    assert_eq!(signed_with(&log).0, "ASIATEST0001");
    let token_header = log.lock().unwrap().iter().rev().find_map(|s| s.headers.get("x-amz-security-token").cloned());
    assert_eq!(token_header.unwrap(), "session-token-1");

    // A token STS refuses: the error names the source and STS's code.
    w.file("token", "not-the-token");
    let (s, _) = open(w.config(), &env, vec![w.dir()]).await;
    let m = credentials_error(s.unwrap().put("x", b"x", &plain()).await);
    assert!(m.contains("web identity") && m.contains("InvalidIdentityToken"), "{m}");

    // A malformed STS reply.
    w.file("token", WEB_IDENTITY_TOKEN);
    w.creds.set(Behaviour { garbage: Some("<html>oops".into()), ..Default::default() });
    let (s, _) = open(w.config(), &env, vec![w.dir()]).await;
    let m = credentials_error(s.unwrap().put("x", b"x", &plain()).await);
    assert!(m.contains("STS") && m.contains("unreadable"), "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn container_credentials_with_a_token_file() {
    if common::skip_on_memory("the credential chain is the S3 component's") {
        return;
    }
    let w = world().await;
    let token = w.file("container-token", CONTAINER_TOKEN);
    let url = format!("{}/container", w.creds.endpoint);
    let env = vec![("AWS_CONTAINER_CREDENTIALS_FULL_URI", url.clone()), ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token)];
    let (s, log) = open(w.config(), &env, vec![w.dir()]).await;
    round_trip(&mut s.unwrap(), "ecs").await;
    assert_eq!((w.creds.issued(), signed_with(&log).0.as_str()), (1, "ASIATEST0001"));

    // A wrong token (given inline this time) is refused by the endpoint.
    let env = vec![("AWS_CONTAINER_CREDENTIALS_FULL_URI", url.clone()), ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong".into())];
    let (s, _) = open(w.config(), &env, vec![]).await;
    let m = credentials_error(s.unwrap().put("x", b"x", &plain()).await);
    assert!(m.contains("container credentials") && m.contains("403"), "{m}");

    // A malformed reply, and one missing a field.
    let env = vec![("AWS_CONTAINER_CREDENTIALS_FULL_URI", url), ("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_TOKEN.into())];
    for (garbage, expect) in [("not json", "malformed JSON"), (r#"{"AccessKeyId":"A","Token":"t"}"#, "SecretAccessKey")] {
        w.creds.set(Behaviour { garbage: Some(garbage.into()), ..Default::default() });
        let (s, _) = open(w.config(), &env, vec![]).await;
        let m = credentials_error(s.unwrap().put("x", b"x", &plain()).await);
        assert!(m.contains("container credentials") && m.contains(expect), "{m}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_metadata_v2() {
    if common::skip_on_memory("the credential chain is the S3 component's") {
        return;
    }
    let w = world().await;
    let (s, log) = open(w.config(), &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", w.creds.endpoint.clone())], vec![]).await;
    round_trip(&mut s.unwrap(), "ec2").await;
    assert_eq!((w.creds.issued(), signed_with(&log).0.as_str()), (1, "ASIATEST0001"));
    // The session token came first: a PUT with its TTL, then GETs carrying it.
    let log = log.lock().unwrap();
    let imds: Vec<_> = log.iter().filter(|s| s.uri.path().starts_with("/latest/")).collect();
    assert_eq!(imds[0].method, "PUT");
    assert!(imds[1..].iter().all(|s| s.headers.contains_key("x-aws-ec2-metadata-token")));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_source_the_error_lists_what_was_tried() {
    if common::skip_on_memory("the credential chain is the S3 component's") {
        return;
    }
    let w = world().await;
    // IMDS disabled: `open` already knows there is nothing.
    let (s, _) = open(w.config(), &[], vec![]).await;
    let m = credentials_error(s);
    for source in ["config", "AWS_ACCESS_KEY_ID", "shared files", "web identity", "container credentials", "AWS_EC2_METADATA_DISABLED"] {
        assert!(m.contains(source), "{source} missing from {m}");
    }
    // IMDS where nothing listens: the first operation fails at once, saying so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (s, _) = open(w.config(), &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", format!("http://{closed}"))], vec![]).await;
    let started = std::time::Instant::now();
    let m = credentials_error(s.unwrap().put("x", b"x", &plain()).await);
    assert!(m.starts_with("no credentials found") && m.contains("EC2 instance metadata"), "{m}");
    eprintln!("no IMDS: failed after {:?}", started.elapsed());

    // An IMDS address that takes connections and never answers (as a firewalled
    // 169.254.169.254 may): the 1 s timeouts end it, not the host's 600 s default.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (s, _) = open(w.config(), &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", format!("http://{}", silent.local_addr().unwrap()))], vec![]).await;
    let started = std::time::Instant::now();
    let m = credentials_error(s.unwrap().put("x", b"x", &plain()).await);
    assert!(m.starts_with("no credentials found") && m.contains("EC2 instance metadata"), "{m}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    eprintln!("silent IMDS: failed after {:?}: {m}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn temporary_credentials_are_cached_and_refreshed() {
    if common::skip_on_memory("the credential chain is the S3 component's") {
        return;
    }
    let w = world().await;
    let env =
        vec![("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{}/container", w.creds.endpoint)), ("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_TOKEN.into())];

    // An hour's credentials serve every request.
    let (s, _) = open(w.config(), &env, vec![]).await;
    let mut s = s.unwrap();
    for i in 0..5 {
        round_trip(&mut s, &format!("cached-{i}")).await;
    }
    assert_eq!(w.creds.issued(), 1);

    // Credentials that expire within the refresh window are fetched anew for each request.
    w.creds.set(Behaviour { lifetime: Duration::from_secs(120), ..Default::default() });
    let (s, _) = open(w.config(), &env, vec![]).await;
    let mut s = s.unwrap();
    s.put("short-1", b"x", &plain()).await.unwrap();
    s.put("short-2", b"x", &plain()).await.unwrap();
    assert_eq!(w.creds.issued(), 3);

    // After `ExpiredToken` the store fetches new keys once and the request goes through.
    w.creds.set(Behaviour::default());
    let (s, log) = open(w.config(), &env, vec![]).await;
    let mut s = s.unwrap();
    s.put("before", b"x", &plain()).await.unwrap();
    let first = w.creds.last_key().unwrap();
    w.keys.expire(&first);
    s.put("after", b"x", &plain()).await.unwrap();
    assert_eq!(w.creds.issued(), 5);
    let statuses: Vec<_> = log.lock().unwrap().iter().filter(|r| r.method == "PUT").map(|r| r.status).collect();
    assert_eq!(statuses, [Some(200), Some(400), Some(200)], "the expired request, then its retry");
    assert_ne!(signed_with(&log).0, first);
}

/// The unit tests cover every pair of sources; this is the pair a deployment most often
/// has both of: keys in the environment win over the container endpoint, never called.
#[tokio::test(flavor = "multi_thread")]
async fn environment_keys_win_over_the_container_endpoint() {
    if common::skip_on_memory("the credential chain is the S3 component's") {
        return;
    }
    let w = world().await;
    let env = vec![
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{}/container", w.creds.endpoint)),
    ];
    let (s, log) = open(w.config(), &env, vec![]).await;
    round_trip(&mut s.unwrap(), "env-wins").await;
    assert_eq!((w.creds.issued(), signed_with(&log).0.as_str()), (0, ACCESS_KEY));
}

/// A multipart upload that outlives its credentials: the part refused with `ExpiredToken`
/// (injected by the host, as a server revoking the token would answer) is signed with
/// fresh credentials and sent again, and the object is whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_part_refused_as_expired_is_sent_again() {
    if common::skip_on_memory("the credential chain is the S3 component's") {
        return;
    }
    let w = world().await;
    w.creds.set(Behaviour { same_key: true, ..Default::default() });
    let mut config = w.config();
    config.part_size = Some(5 << 20);
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{}/container", w.creds.endpoint)),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_TOKEN.to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ];
    let log: Log = Arc::default();
    let sink = log.clone();
    let host = HostOptions {
        env: env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        fault: Some(Fault::ExpiredTokenOnce("partNumber=2&")),
        observer: Some(Arc::new(move |s| sink.lock().unwrap().push(s))),
        ..Default::default()
    };
    let mut s = Storage::open(Runtime::shared().unwrap(), &host, config).await.unwrap();
    let data: Vec<u8> = (0..12u32 << 20).map(|i| (i % 251) as u8).collect();
    s.put_stream("big", std::io::Cursor::new(data.clone()), &plain()).await.unwrap();
    assert_eq!(w.creds.issued(), 2, "fetched once more after the refusal");
    let mut parts: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.uri.query().is_some_and(|q| q.contains("partNumber=")))
        .map(|r| (r.uri.query().unwrap().split('&').next().unwrap().to_string(), r.status))
        .collect();
    parts.sort();
    assert_eq!(
        parts,
        [
            ("partNumber=1".to_string(), Some(200)),
            ("partNumber=2".to_string(), Some(200)),
            ("partNumber=2".to_string(), Some(400)),
            ("partNumber=3".to_string(), Some(200))
        ]
    );
    let tokens: Vec<_> = log.lock().unwrap().iter().filter_map(|r| r.headers.get("x-amz-security-token").cloned()).collect();
    assert!(tokens.contains(&"session-token-1".parse().unwrap()) && tokens.contains(&"session-token-2".parse().unwrap()), "{tokens:?}");
    assert_eq!(s.get_bytes("big").await.unwrap(), data);
}

/// Credentials too long for a header or a URL are a typed `credentials` error, never a
/// trap: lengths driven across the limit through the real host, from the shared files
/// (read by `open`) and from a credential endpoint (fetched at the first request or
/// presigned URL). Within the limits, the store works (the server refuses the made-up
/// keys, which is a typed answer too).
#[tokio::test(flavor = "multi_thread")]
async fn oversized_credentials_are_typed_errors_never_traps() {
    if common::skip_on_memory("the credential chain is the S3 component's") {
        return;
    }
    let w = world().await;
    const MAX_TOKEN: usize = 16 * 1024;
    const MAX_KEY: usize = 1024;
    for (id_len, token_len, fits) in
        [(20, MAX_TOKEN, true), (20, MAX_TOKEN + 1, false), (20, 131 * 1024, false), (MAX_KEY, 0, true), (MAX_KEY + 1, 0, false), (200 * 1024, 0, false)]
    {
        let token = match token_len {
            0 => String::new(),
            n => format!("aws_session_token = {}\n", "T".repeat(n)),
        };
        let path = w.file("big-credentials", &format!("[default]\naws_access_key_id = {}\naws_secret_access_key = secret\n{token}", "A".repeat(id_len)));
        let (s, _) = open(w.config(), &[("AWS_SHARED_CREDENTIALS_FILE", path)], vec![w.dir()]).await;
        let what = format!("key id of {id_len} bytes, token of {token_len}");
        match (s, fits) {
            (Ok(mut s), true) => {
                let put = s.put("k", b"x", &plain()).await;
                assert!(matches!(put, Err(Failure::Storage(Error::AccessDenied(_)))), "{what}: {put:?}");
                assert!(s.url("k", None).await.is_ok(), "{what}");
            }
            (s, false) => {
                let m = credentials_error(s.map(|_| ()));
                assert!(m.contains("at most") && !m.contains("TTTT") && !m.contains("AAAA"), "{what}: {m}");
            }
            (Err(e), true) => panic!("{what}: {e:?}"),
        }
    }

    // A 65 KB token from the container endpoint: presigning with it would overflow a URL.
    let url = format!("{}/container", w.creds.endpoint);
    let env = vec![("AWS_CONTAINER_CREDENTIALS_FULL_URI", url), ("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_TOKEN.into())];
    let reply = format!(r#"{{"AccessKeyId":"ASIABIG","SecretAccessKey":"s","Token":"{}","Expiration":"2099-01-01T00:00:00Z"}}"#, "t".repeat(65_000));
    w.creds.set(Behaviour { garbage: Some(reply), ..Default::default() });
    let (s, _) = open(w.config(), &env, vec![]).await;
    let mut s = s.unwrap();
    let m = credentials_error(s.url("k", None).await);
    assert!(m.contains("session token") && m.contains("at most"), "{m}");
    credentials_error(s.put("k", b"x", &plain()).await);
}

/// The container endpoint is 169.254.170.2 plus a path: a relative URI that isn't a path
/// (`.evil.example.com/creds`, `:1234/creds`) would move the request, and its token, to
/// another host or port. And the web identity token never goes in clear to another
/// machine.
#[tokio::test(flavor = "multi_thread")]
async fn credential_requests_never_go_where_they_should_not() {
    if common::skip_on_memory("the credential chain is the S3 component's") {
        return;
    }
    let w = world().await;
    for relative in [".evil.example.com/creds", ":39402/creds", "@evil.example.com/creds", "creds"] {
        let env = vec![("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", relative.to_string()), ("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_TOKEN.into())];
        let (s, log) = open(w.config(), &env, vec![]).await;
        let m = credentials_error(s.map(|_| ()));
        assert!(m.contains("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), "{relative}: {m}");
        assert!(log.lock().unwrap().is_empty(), "{relative}: nothing was sent");
    }
    let token = w.file("jwt", WEB_IDENTITY_TOKEN);
    for (sts, refused) in [
        ("http://sts.example.com", true),
        ("http://10.0.0.1:8080/", true),
        ("https://sts.example.com", false),
        ("http://127.0.0.1:1/", false),
        ("http://localhost:1/", false),
    ] {
        let env =
            vec![("AWS_WEB_IDENTITY_TOKEN_FILE", token.clone()), ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r".into()), ("AWS_ENDPOINT_URL_STS", sts.to_string())];
        let (s, _) = open(w.config(), &env, vec![w.dir()]).await;
        match refused {
            true => assert!(credentials_error(s.map(|_| ())).contains("in clear"), "{sts}"),
            false => assert!(s.is_ok(), "{sts}"),
        }
    }
}

/// Profiles that assume roles: STS AssumeRole signed with the source's keys (checked by the
/// stand-in as STS checks it), chained, with the external id, session name and duration
/// the profile gives; the assumed keys sign the S3 requests; one AssumeRole per role while
/// the keys last.
#[tokio::test(flavor = "multi_thread")]
async fn profiles_assume_roles_with_their_source_credentials() {
    if common::skip_on_memory("the credential chain is the S3 component's") {
        return;
    }
    let w = world().await;
    let sts = format!("{}/sts/", w.creds.endpoint);
    let config = w.file(
        "config",
        &format!(
            "[profile base]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n\
             [profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\nsource_profile = base\nexternal_id = ext-42\nrole_session_name = ci run\nduration_seconds = 1800\n\
             [profile admin]\nrole_arn = arn:aws:iam::123456789012:role/admin\nsource_profile = deploy\n\
             [profile from-env]\nrole_arn = arn:aws:iam::123456789012:role/env\ncredential_source = Environment\n\
             [profile web]\nrole_arn = arn:aws:iam::123456789012:role/web\nweb_identity_token_file = {}\n\
             [profile script]\ncredential_process = /usr/local/bin/get-creds\n",
            w.file("jwt", WEB_IDENTITY_TOKEN)
        ),
    );
    let env = |profile: &str| vec![("AWS_CONFIG_FILE", config.clone()), ("AWS_PROFILE", profile.to_string()), ("AWS_ENDPOINT_URL_STS", sts.clone())];

    let (s, log) = open(w.config(), &env("deploy"), vec![w.dir()]).await;
    let mut s = s.unwrap();
    round_trip(&mut s, "role").await;
    round_trip(&mut s, "role-again").await;
    let assumed = w.creds.assumed();
    assert_eq!(assumed.len(), 1, "cached while the keys last: {assumed:?}");
    let deploy = &assumed[0];
    assert_eq!(
        (deploy.signed_by.as_str(), deploy.role_arn.as_str(), deploy.session_name.as_str(), deploy.external_id.as_deref(), deploy.duration_seconds.as_deref()),
        (ACCESS_KEY, "arn:aws:iam::123456789012:role/deploy", "ci run", Some("ext-42"), Some("1800"))
    );
    assert_eq!(signed_with(&log).0, deploy.issued);

    // Chained: the second role is assumed with the first one's keys.
    let (s, log) = open(w.config(), &env("admin"), vec![w.dir()]).await;
    round_trip(&mut s.unwrap(), "chained").await;
    let assumed = w.creds.assumed();
    let (first, second) = (&assumed[1], &assumed[2]);
    assert_eq!((first.role_arn.as_str(), first.signed_by.as_str()), ("arn:aws:iam::123456789012:role/deploy", ACCESS_KEY));
    assert_eq!((second.role_arn.as_str(), second.signed_by.as_str()), ("arn:aws:iam::123456789012:role/admin", first.issued.as_str()));
    assert_eq!(signed_with(&log).0, second.issued);

    // credential_source = Environment: the environment's keys sign AssumeRole.
    let mut from_env = env("from-env");
    from_env.extend([("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()), ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string())]);
    let (s, _) = open(w.config(), &from_env, vec![w.dir()]).await;
    // Environment keys come first in the chain: a profile that names them as its source is
    // for when they should be the source, not the signer. Here they sign directly.
    round_trip(&mut s.unwrap(), "env-keys").await;
    let (s, _) = open(w.config(), &env("from-env"), vec![w.dir()]).await;
    let m = credentials_error(s);
    assert!(m.contains("credential_source") && m.contains("Environment"), "{m}");

    // web_identity_token_file in the profile: AssumeRoleWithWebIdentity.
    let issued = w.creds.issued();
    let (s, _) = open(w.config(), &env("web"), vec![w.dir()]).await;
    round_trip(&mut s.unwrap(), "web").await;
    assert_eq!(w.creds.issued(), issued + 1);

    // credential_process can't run in a component: the error says so, naming the profile.
    let (s, _) = open(w.config(), &env("script"), vec![w.dir()]).await;
    let m = credentials_error(s);
    assert!(m.contains("\"script\"") && m.contains("credential_process") && m.contains("can't run programs"), "{m}");

    // A wrong source secret (of a known key): STS refuses the signature, and the error says
    // where it failed.
    let wrong = w.file("wrong", &format!("[profile base]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = nope\n[profile deploy]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = base\n"));
    let (s, _) = open(w.config(), &[("AWS_CONFIG_FILE", wrong), ("AWS_PROFILE", "deploy".into()), ("AWS_ENDPOINT_URL_STS", sts.clone())], vec![w.dir()]).await;
    let e = common::storage_error(s.unwrap().put("k", b"v", &plain()).await);
    assert!(matches!(&e, Error::Credentials(m) if m.contains("STS refused AssumeRole") && !m.contains("nope")), "{e:?}");
}

/// IAM Identity Center profiles, both forms: the token `aws sso login` cached (named by the
/// SHA-1 of the session name or start URL) exchanged at the portal stand-in.
#[tokio::test(flavor = "multi_thread")]
async fn sso_profiles_exchange_the_cached_token_at_the_portal() {
    if common::skip_on_memory("the credential chain is the S3 component's") {
        return;
    }
    let w = world().await;
    let home = w.dir.path().join("home");
    let cache = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let config = home.join(".aws/config");
    std::fs::write(
        &config,
        "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Developer\nregion = us-east-1\n\
         [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n\
         [profile legacy]\nsso_start_url = https://legacy.awsapps.com/start\nsso_region = eu-west-1\nsso_account_id = 111122223333\nsso_role_name = Reader\n",
    )
    .unwrap();
    use sha1_name::name;
    let token = |expires: &str| {
        format!(r#"{{"startUrl":"x","region":"eu-west-1","accessToken":"{SSO_TOKEN}","expiresAt":"{expires}","scopes":["sso:account:access"]}}"#)
    };
    std::fs::write(cache.join(name("corp")), token("2099-01-01T00:00:00Z")).unwrap();
    std::fs::write(cache.join(name("https://legacy.awsapps.com/start")), token("2099-01-01T00:00:00Z")).unwrap();
    let env = |profile: &str| {
        vec![
            ("HOME", home.display().to_string()),
            ("AWS_PROFILE", profile.to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/none").display().to_string()),
            ("AWS_ENDPOINT_URL_SSO", w.creds.endpoint.clone()),
        ]
    };
    for profile in ["dev", "legacy"] {
        let issued = w.creds.issued();
        let (s, log) = open(w.config(), &env(profile), vec![home.join(".aws")]).await;
        round_trip(&mut s.unwrap(), profile).await;
        assert_eq!(w.creds.issued(), issued + 1, "{profile}");
        assert_eq!(Some(signed_with(&log).0), w.creds.last_key());
        let portal = log.lock().unwrap().iter().find(|s| s.uri.path() == "/federation/credentials").map(|s| s.uri.query().unwrap_or("").to_string());
        assert!(portal.is_some_and(|q| q.contains("account_id=111122223333")), "{profile}");
    }

    // An expired login says to log in again.
    std::fs::write(cache.join(name("corp")), token("2001-01-01T00:00:00Z")).unwrap();
    let (s, _) = open(w.config(), &env("dev"), vec![home.join(".aws")]).await;
    let e = common::storage_error(s.unwrap().put("k", b"v", &plain()).await);
    assert!(matches!(&e, Error::Credentials(m) if m.contains("aws sso login --profile dev") && !m.contains(SSO_TOKEN)), "{e:?}");
}

/// The cache file name the AWS CLI gives a login: the SHA-1 of the session name or start URL.
mod sha1_name {
    pub fn name(key: &str) -> String {
        use sha1::Digest;
        let digest = sha1::Sha1::digest(key.as_bytes());
        format!("{}.json", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }
}
