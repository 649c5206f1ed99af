//! `open`'s validation: every field checked, every default resolved, no network call.

use crate::credentials::{self, Credentials, Provider, profile};
use crate::encryption::Encryption;
use crate::error::{Error, invalid_config};
use crate::keys;
use crate::quote::Q;
use crate::retry::Policy;
use crate::rules;
pub use crate::sys::env::Env;
use crate::sys::http::Timeouts;
use crate::types::{AddressingStyle, Config, UploadChecksum};

pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_PRESIGNED_EXPIRY: u64 = 3600;
#[cfg(test)]
use crate::rules::MAX_PRESIGNED_EXPIRY;
pub const DEFAULT_MAX_POOL_CONNECTIONS: u32 = 10;
pub const DEFAULT_PART_SIZE: u64 = 8 << 20;
/// S3's lower bound on a multipart part (the last part may be smaller). S3 allows parts up
/// to 5 GiB, but a part is held in the component's 32-bit memory: 1 GiB is the most we take
/// (10,000 parts of 1 GiB still exceed S3's 5 TiB object limit).
pub const MIN_PART_SIZE: u64 = 5 << 20;
pub const MAX_PART_SIZE: u64 = 1 << 30;
/// CopyObject's limit, and UploadPartCopy's on a part.
pub const MAX_COPY_PART_SIZE: u64 = 5 << 30;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
const MAX_ATTEMPTS: u32 = 10;
pub const DEFAULT_RETRY_BASE_DELAY_MS: u32 = 100;
pub const DEFAULT_RETRY_MAX_DELAY_MS: u32 = 20_000;
pub const DEFAULT_CONNECT_TIMEOUT_MS: u32 = 10_000;
pub const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u32 = 120_000;
pub const DEFAULT_BETWEEN_BYTES_TIMEOUT_MS: u32 = 60_000;

/// A validated configuration with every default applied.
#[derive(Debug)]
pub struct Settings {
    pub bucket: String,
    pub region: String,
    pub https: bool,
    /// `host[:port]` the requests go to (and are signed for); the port only when not the
    /// scheme's default, as the Host header carries it.
    pub authority: String,
    /// `/bucket` for path-style addressing, "" for virtual-hosted.
    pub bucket_path: String,
    /// "" or ends with `/`.
    pub prefix: String,
    pub presigned_expiry: u64,
    /// Recorded for the host's benefit: wasi:http gives the guest no say over TLS.
    #[allow(dead_code)]
    pub verify_ssl: bool,
    /// The most multipart parts in flight at once.
    pub max_pool_connections: u32,
    pub part_size: u64,
    /// Copies of larger objects go in parts of this size.
    pub copy_part_size: u64,
    pub upload_checksum: UploadChecksum,
    pub encryption: Encryption,
    pub retry: Policy,
    pub timeouts: Timeouts,
    /// Whether the server honours `If-None-Match: *` and `If-Match`, once a probe has found out.
    pub conditions_honoured: std::cell::Cell<Option<(bool, bool)>>,
    pub credentials: Provider,
}

/// `open`: the settings `config` makes with this environment (its variables, its files).
pub fn open(config: Config) -> Result<Settings, Error> {
    resolve(config, &Env(&crate::sys::env::vars()?))
}

pub fn resolve(config: Config, env: &Env) -> Result<Settings, Error> {
    crate::rules::bucket(&config.bucket).map_err(invalid_config)?;

    // Keys from the config or the environment, or else the shared files, which may also
    // hold the region: they are read only when one of the two is still missing.
    // A profile named in the config is what the caller chose: the environment's keys don't
    // override it (botocore drops them too), so its role can use them as its source.
    let no_keys = Env(&[]);
    let key_env = if config.profile.is_some() { &no_keys } else { env };
    let explicit = Credentials::explicit(config.access_key_id, config.secret_access_key, config.session_token, key_env)?;
    let explicit_region = config.region.or_else(|| env.get("AWS_REGION").or(env.get("AWS_DEFAULT_REGION")).map(str::to_string));
    let files = match explicit.is_none() || explicit_region.is_none() {
        true => Some(profile::load(config.profile.as_deref(), env)?),
        false => None,
    };
    let profile_region = files.as_ref().and_then(|f| f.profile.as_ref()).and_then(|p| p.region.clone());
    let region = match explicit_region.or(profile_region) {
        Some(region) => check_region(region)?,
        None => DEFAULT_REGION.to_string(),
    };

    let use_ssl = config.use_ssl.unwrap_or(true);
    let endpoint_url = config.endpoint_url.or_else(|| env.get("AWS_ENDPOINT_URL_S3").or(env.get("AWS_ENDPOINT_URL")).map(str::to_string));
    let (https, host, custom_endpoint, ip) = match &endpoint_url {
        Some(url) => {
            let endpoint = parse_endpoint(url, use_ssl)?;
            (endpoint.https, endpoint.host, true, endpoint.ip)
        }
        None => (use_ssl, aws_host(&region), false, false),
    };

    let path_style = match config.addressing {
        Some(AddressingStyle::Path) => true,
        Some(AddressingStyle::VirtualHosted) => {
            if ip {
                return Err(invalid_config("virtual-hosted addressing needs a host name, not an IP address, in endpoint-url; use path-style"));
            }
            if config.bucket.contains('.') && https {
                return Err(invalid_config(format!(
                    "bucket {} has dots, which break TLS certificates with virtual-hosted addressing; use path-style",
                    Q(&config.bucket)
                )));
            }
            false
        }
        // Dotted names can't match the wildcard certificate of `*.s3.amazonaws.com`.
        None => custom_endpoint || config.bucket.contains('.'),
    };
    let (authority, bucket_path) = if path_style { (host, format!("/{}", config.bucket)) } else { (format!("{}.{host}", config.bucket), String::new()) };

    let prefix = keys::store_prefix(&config.prefix.unwrap_or_default()).map_err(invalid_config)?;

    let presigned_expiry = config.presigned_expiry.unwrap_or(DEFAULT_PRESIGNED_EXPIRY);
    rules::expiry(presigned_expiry).map_err(|why| invalid_config(format!("presigned-expiry {why}")))?;

    let max_pool_connections = config.max_pool_connections.unwrap_or(DEFAULT_MAX_POOL_CONNECTIONS);
    if max_pool_connections == 0 {
        return Err(invalid_config("max-pool-connections must be at least 1"));
    }

    let part_size = config.part_size.unwrap_or(DEFAULT_PART_SIZE);
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) {
        return Err(invalid_config(format!("part-size is {part_size} bytes; it must be 5 MiB ({MIN_PART_SIZE}) to 1 GiB ({MAX_PART_SIZE})")));
    }

    let copy_part_size = config.copy_part_size.unwrap_or(MAX_COPY_PART_SIZE);
    if !(MIN_PART_SIZE..=MAX_COPY_PART_SIZE).contains(&copy_part_size) {
        return Err(invalid_config(format!("copy-part-size is {copy_part_size} bytes; it must be 5 MiB ({MIN_PART_SIZE}) to 5 GiB ({MAX_COPY_PART_SIZE})")));
    }
    let encryption = Encryption::resolve(config.server_side_encryption)?;

    let max_attempts = config.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
        return Err(invalid_config(format!("max-attempts is {max_attempts}; it must be 1 to {MAX_ATTEMPTS}")));
    }
    let base = config.retry_base_delay_ms.unwrap_or(DEFAULT_RETRY_BASE_DELAY_MS);
    let max = config.retry_max_delay_ms.unwrap_or(DEFAULT_RETRY_MAX_DELAY_MS);
    if base > max {
        return Err(invalid_config(format!("retry-base-delay-ms ({base}) is more than retry-max-delay-ms ({max})")));
    }
    let ms = |d: u32| std::time::Duration::from_millis(u64::from(d));
    let retry = Policy::new(max_attempts, ms(base), ms(max), crate::sys::time::seed());
    let mut timeouts = Timeouts::default();
    for (name, value, default, slot) in [
        ("connect-timeout-ms", config.connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS, &mut timeouts.connect),
        ("first-byte-timeout-ms", config.first_byte_timeout_ms, DEFAULT_FIRST_BYTE_TIMEOUT_MS, &mut timeouts.first_byte),
        ("between-bytes-timeout-ms", config.between_bytes_timeout_ms, DEFAULT_BETWEEN_BYTES_TIMEOUT_MS, &mut timeouts.between_bytes),
    ] {
        match value.unwrap_or(default) {
            0 => return Err(invalid_config(format!("{name} must be at least 1"))),
            v => *slot = Some(ms(v)),
        }
    }

    let credentials = credentials::chain(explicit, files.as_ref(), env, &region)?;
    let upload_checksum = config.upload_checksum.unwrap_or_else(|| default_checksum(&authority));

    Ok(Settings {
        bucket: config.bucket,
        region,
        https,
        authority,
        bucket_path,
        prefix,
        presigned_expiry,
        verify_ssl: config.verify_ssl.unwrap_or(true),
        max_pool_connections,
        part_size,
        copy_part_size,
        encryption,
        upload_checksum,
        retry,
        timeouts,
        conditions_honoured: std::cell::Cell::new(None),
        credentials,
    })
}

/// CRC64NVME, except Content-MD5 for the services that refuse `x-amz-checksum-*` headers
/// or are not known to take them (README "Providers" has the sources): a default must never
/// make a working service fail.
fn default_checksum(authority: &str) -> UploadChecksum {
    let host = authority.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(authority, |(h, _)| h);
    let host = host.to_ascii_lowercase();
    let md5_only = [".backblazeb2.com", ".linodeobjects.com", ".digitaloceanspaces.com", ".wasabisys.com"];
    if md5_only.iter().any(|domain| host.ends_with(domain)) { UploadChecksum::ContentMd5 } else { UploadChecksum::Crc64nvme }
}

/// AWS regions and the names S3-compatible services use (`auto`, `nyc3`, `us-west-004`).
fn check_region(region: String) -> Result<String, Error> {
    let ok = !region.is_empty() && region.len() <= 64 && region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(region) } else { Err(invalid_config(format!("region {region} may only contain letters, digits, '-' and '_' (1 to 64)", region = Q(&region)))) }
}

fn aws_host(region: &str) -> String {
    let domain = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    format!("s3.{region}.{domain}")
}

#[derive(Debug, PartialEq)]
struct Endpoint {
    https: bool,
    host: String,
    /// An IP address can't take the bucket as a subdomain.
    ip: bool,
}

/// `http(s)://host[:port][/]`, or `host[:port]` with the scheme from `use-ssl`.
fn parse_endpoint(url: &str, use_ssl: bool) -> Result<Endpoint, Error> {
    let shown = redact_userinfo(url);
    let bad = |why: &str| Err(invalid_config(format!("endpoint-url {shown} {why}", shown = Q(&shown))));
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else if url.contains("://") {
        return bad("must use http or https");
    } else {
        (use_ssl, url)
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return bad("has no host");
    }
    if authority.contains(['/', '?', '#']) {
        return bad("must be scheme://host[:port] with no path, query or fragment");
    }
    if authority.contains('@') {
        return bad("must not carry credentials; use access-key-id and secret-access-key");
    }
    let parsed: http::uri::Authority = match authority.parse() {
        Ok(a) => a,
        Err(_) => return bad("is not a valid host[:port]"),
    };
    let host = parsed.host();
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty() && host.split('.').all(|label| !label.is_empty() && label.len() <= 63 && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    if !host_ok {
        return bad("has an invalid host name");
    }
    // DNS's limit; the host name goes into every request's authority.
    if host.len() > 253 {
        return bad("has a host name longer than 253 characters");
    }
    let port_text = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => Some(&authority[i + 1..]),
        _ => None,
    };
    let port = match port_text.map(str::parse::<u16>) {
        None => None,
        Some(Ok(p)) if p > 0 => Some(p),
        Some(_) => return bad("has an invalid port (1 to 65535)"),
    };
    let default_port = if https { 443 } else { 80 };
    let host = match port {
        Some(p) if p != default_port => format!("{}:{p}", host.to_ascii_lowercase()),
        _ => host.to_ascii_lowercase(),
    };
    let ip = parsed.host().starts_with('[') || parsed.host().parse::<std::net::Ipv4Addr>().is_ok();
    Ok(Endpoint { https, host, ip })
}

/// `scheme://user:password@host` → `scheme://***@host`: error messages must not carry secrets.
fn redact_userinfo(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid config with explicit credentials, for tests across the crate.
    pub fn config(bucket: &str) -> Config {
        Config { bucket: bucket.into(), access_key_id: Some("AKID".into()), secret_access_key: Some("SECRET".into()), ..Default::default() }
    }

    fn rejected(config: Config, env: &[(String, String)]) -> String {
        match resolve(config, &Env(env)) {
            Err(Error::InvalidConfig(why)) => why,
            other => panic!("not rejected: {other:?}"),
        }
    }

    #[test]
    fn defaults_are_aws_virtual_hosted_https() {
        let s = resolve(config("my-bucket"), &Env(&[])).unwrap();
        assert_eq!((s.region.as_str(), s.https, s.authority.as_str(), s.bucket_path.as_str()), ("us-east-1", true, "my-bucket.s3.us-east-1.amazonaws.com", ""));
        assert_eq!((s.prefix.as_str(), s.presigned_expiry, s.verify_ssl, s.max_pool_connections), ("", 3600, true, 10));
    }

    #[test]
    fn dotted_buckets_use_path_style_on_aws() {
        let s = resolve(config("my.bucket"), &Env(&[])).unwrap();
        assert_eq!((s.authority.as_str(), s.bucket_path.as_str()), ("s3.us-east-1.amazonaws.com", "/my.bucket"));
    }

    #[test]
    fn custom_endpoint_defaults_to_path_style_and_keeps_its_port() {
        let mut c = config("b-1");
        c.endpoint_url = Some("http://127.0.0.1:9000/".into());
        let s = resolve(c, &Env(&[])).unwrap();
        assert_eq!((s.https, s.authority.as_str(), s.bucket_path.as_str()), (false, "127.0.0.1:9000", "/b-1"));
    }

    #[test]
    fn default_ports_are_not_part_of_the_authority() {
        for (url, https, host) in [
            ("https://S3.Example.com:443", true, "s3.example.com"),
            ("http://h:80", false, "h"),
            ("h:8080", true, "h:8080"),
            ("http://[::1]:9000", false, "[::1]:9000"),
        ] {
            assert_eq!((parse_endpoint(url, true).unwrap().https, parse_endpoint(url, true).unwrap().host), (https, host.to_string()), "{url}");
        }
        assert!(!parse_endpoint("minio.local:9000", false).unwrap().https);
    }

    #[test]
    fn bad_endpoints_are_rejected_precisely() {
        let long = format!("http://{}example.com", format!("{}.", "a".repeat(63)).repeat(4));
        for (url, why) in [
            (long.as_str(), "253"),
            ("ftp://h", "http or https"),
            ("http://", "no host"),
            ("http://h/path", "no path"),
            ("http://u:p@h", "credentials"),
            ("http://h:0", "invalid port"),
            ("http://h:99999", "port"),
            ("http://h_x", "invalid host"),
            ("http://h:", "port"),
        ] {
            let mut c = config("bkt");
            c.endpoint_url = Some(url.into());
            let msg = rejected(c, &[]);
            assert!(msg.contains(why), "{url}: {msg}");
        }
    }

    #[test]
    fn env_supplies_region_and_endpoint_config_wins() {
        let env = [("AWS_DEFAULT_REGION".to_string(), "eu-west-1".to_string()), ("AWS_ENDPOINT_URL".to_string(), "http://localhost:9000".to_string())];
        let s = resolve(config("bkt"), &Env(&env)).unwrap();
        assert_eq!((s.region.as_str(), s.authority.as_str()), ("eu-west-1", "localhost:9000"));
        let env2 = [env[0].clone(), ("AWS_REGION".to_string(), "us-west-2".to_string())];
        let mut c = config("bkt");
        assert_eq!(resolve(config("bkt"), &Env(&env2)).unwrap().region, "us-west-2");
        c.region = Some("ap-south-1".into());
        assert_eq!(resolve(c, &Env(&env2)).unwrap().region, "ap-south-1");
    }

    #[test]
    fn bucket_rules() {
        for (bucket, why) in [
            ("", "required"),
            ("ab", "3 to 63"),
            (&"a".repeat(64), "3 to 63"),
            ("Abc", "lowercase"),
            ("a_b", "lowercase"),
            ("-ab", "begin and end"),
            ("ab.", "begin and end"),
            ("a..b", "'..'"),
            ("192.168.1.1", "IP address"),
            ("xn--abc", "reserved prefix"),
            ("abc-s3alias", "reserved suffix"),
        ] {
            let msg = rejected(config(bucket), &[]);
            assert!(msg.contains(why), "{bucket}: {msg}");
        }
        for bucket in ["abc", "a-b.c1", "123"] {
            assert!(resolve(config(bucket), &Env(&[])).is_ok(), "{bucket}");
        }
    }

    #[test]
    fn prefix_is_a_folder_and_cannot_escape() {
        let mut c = config("bkt");
        c.prefix = Some("tenant-a".into());
        assert_eq!(resolve(c, &Env(&[])).unwrap().prefix, "tenant-a/");
        for p in ["/abs", "a/../b", "..", "a/.", "bad\u{0}"] {
            let mut c = config("bkt");
            c.prefix = Some(p.into());
            assert!(rejected(c, &[]).contains("prefix"), "{p}");
        }
    }

    #[test]
    fn expiry_pool_region_and_addressing_limits() {
        let mut c = config("bkt");
        c.presigned_expiry = Some(MAX_PRESIGNED_EXPIRY + 1);
        assert!(rejected(c, &[]).contains("7 days"));
        let mut c = config("bkt");
        c.presigned_expiry = Some(0);
        assert!(rejected(c, &[]).contains("at least 1"));
        let mut c = config("bkt");
        c.max_pool_connections = Some(0);
        assert!(rejected(c, &[]).contains("max-pool-connections"));
        for size in [MIN_PART_SIZE - 1, MAX_PART_SIZE + 1] {
            let mut c = config("bkt");
            c.part_size = Some(size);
            assert!(rejected(c, &[]).contains("part-size"));
        }
        let mut c = config("bkt");
        c.region = Some("us east".into());
        assert!(rejected(c, &[]).contains("region"));
        let mut c = config("my.bkt");
        c.addressing = Some(AddressingStyle::VirtualHosted);
        assert!(rejected(c, &[]).contains("path-style"));
        let mut c = config("bkt");
        c.endpoint_url = Some("http://127.0.0.1:9000".into());
        c.addressing = Some(AddressingStyle::VirtualHosted);
        assert!(rejected(c, &[]).contains("IP address"));
        let mut c = config("bkt");
        c.endpoint_url = Some("http://minio.local:9000".into());
        c.addressing = Some(AddressingStyle::VirtualHosted);
        assert_eq!(resolve(c, &Env(&[])).unwrap().authority, "bkt.minio.local:9000");
    }

    #[test]
    fn endpoint_errors_never_show_userinfo() {
        let mut c = config("bkt");
        c.endpoint_url = Some("http://user:hunter2@h/x".into());
        let msg = rejected(c, &[]);
        assert!(!msg.contains("hunter2") && msg.contains("***@h"), "{msg}");
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let s = resolve(config("bkt"), &Env(&[])).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }

    /// A profile named in the config wins over the environment's keys, which its role may
    /// then use (`credential_source = Environment`); `AWS_PROFILE` does not.
    #[test]
    fn a_profile_named_in_the_config_wins_over_environment_keys() {
        let dir = std::env::temp_dir().join(format!("wasm-storages-named-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config");
        std::fs::write(&file, "[profile env-role]\nrole_arn = arn:aws:iam::1:role/c\ncredential_source = Environment\n").unwrap();
        let env = vec![
            ("AWS_CONFIG_FILE".to_string(), file.display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE".to_string(), dir.join("none").display().to_string()),
            ("AWS_ACCESS_KEY_ID".to_string(), "ENVID".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "envsecret".to_string()),
            ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()),
        ];
        let mut named = Config { bucket: "bkt".into(), ..Default::default() };
        named.profile = Some("env-role".into());
        assert_eq!(resolve(named, &Env(&env)).unwrap().credentials.describe(), "role arn:aws:iam::1:role/c assumed with environment");
        let mut by_variable = env.clone();
        by_variable.push(("AWS_PROFILE".to_string(), "env-role".to_string()));
        assert_eq!(resolve(Config { bucket: "bkt".into(), ..Default::default() }, &Env(&by_variable)).unwrap().credentials.describe(), "environment");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
