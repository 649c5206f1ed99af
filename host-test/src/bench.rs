//! `storage-host bench`: throughput, latency, memory and size, side by side in one run
//! against one server. Figures go to stdout as Markdown (BENCHMARKS.md keeps a run).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::AsyncWriteExt;

use crate::runtime::{HostOptions, Runtime, Storage, backend};
use crate::testkit::s3_server::EmbeddedS3;
use crate::{Config, PutOptions, UploadChecksum};

const MIB: u64 = 1 << 20;

pub struct Bench {
    pub size_mib: u64,
    pub small_ops: usize,
    /// Rounds of the side-by-side transfers (the order of clients alternates).
    pub rounds: usize,
    /// Size of the transfers over the simulated wide-area path.
    pub wan_mib: u64,
    /// `None`: the embedded server.
    pub endpoint: Option<Config>,
    /// Only the WASI 0.2 build beside the 0.3 build ([`generations`]).
    pub generations: bool,
}

fn mib_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / MIB as f64 / took.as_secs_f64()
}

async fn open(config: &Config, host: &HostOptions) -> anyhow::Result<Storage> {
    open_on(Runtime::shared()?, config, host).await
}

async fn open_on(runtime: &Runtime, config: &Config, host: &HostOptions) -> anyhow::Result<Storage> {
    Storage::open(runtime, host, config.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))
}

async fn curl(args: &[&str]) -> anyhow::Result<Duration> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let start = Instant::now();
    let out = tokio::task::spawn_blocking(move || std::process::Command::new("curl").args(["-sS", "-f", "-o", "/dev/null"]).args(&args).output())
        .await?
        .context("running curl")?;
    if !out.status.success() {
        bail!("curl failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(start.elapsed())
}

async fn write_test_file(path: &Path, size: u64) -> anyhow::Result<()> {
    let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(path).await?);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut chunk = vec![0u8; MIB as usize];
    for _ in 0..size / MIB {
        for word in chunk.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(())
}

/// `n` 1 KiB PUT/GET pairs through `s` on keys `key(i)`: each operation's time, sorted.
async fn small_pairs(s: &mut Storage, n: usize, key: impl Fn(usize) -> String) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let payload = vec![7u8; 1024];
    let (mut puts, mut gets) = (Vec::new(), Vec::new());
    for i in 0..n {
        let key = key(i);
        let start = Instant::now();
        s.put(&key, &payload, &crate::put_options()).await?;
        puts.push(start.elapsed());
        let start = Instant::now();
        s.get_bytes(&key).await?;
        gets.push(start.elapsed());
    }
    puts.sort();
    gets.sort();
    Ok((puts, gets))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub async fn run(bench: Bench) -> anyhow::Result<()> {
    let server = match bench.endpoint {
        None => Some(EmbeddedS3::start().await?),
        Some(_) => None,
    };
    let base = match (&bench.endpoint, &server) {
        (Some(config), _) => config.clone(),
        (None, Some(server)) => server.config("bench/"),
        (None, None) => unreachable!(),
    };
    if bench.generations {
        return generations(&bench, &base).await;
    }
    let size = bench.size_mib * MIB;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("payload.bin");
    write_test_file(&file, size).await?;
    println!("| measurement | result |\n|---|---|");
    println!("| release component size | {} bytes |", backend().len());

    peers(&bench, &base, &file, size).await?;
    let wan_file = dir.path().join("wan.bin");
    write_test_file(&wan_file, bench.wan_mib * MIB).await?;
    wan(&base, &wan_file, bench.wan_mib * MIB).await?;
    tls_reuse(bench.small_ops).await?;

    // Multipart speedup from parts in flight.
    let mut first = None;
    for in_flight in [1u32, 4, 8] {
        let mut config = base.clone();
        config.max_pool_connections = Some(in_flight);
        let mut s = open(&config, &HostOptions::default()).await?;
        let start = Instant::now();
        s.put_stream("mp.bin", tokio::fs::File::open(&file).await?, &crate::put_options()).await?;
        let took = start.elapsed();
        let speedup = first.get_or_insert(took).as_secs_f64() / took.as_secs_f64();
        println!(
            "| multipart PUT, {in_flight} part(s) in flight | {:.0} MiB/s ({speedup:.2}×), peak {:.1} MiB |",
            mib_per_s(size, took),
            s.peak_memory() as f64 / MIB as f64
        );
        s.delete("mp.bin").await?;
    }

    // Small objects: latency per operation, with a new connection each and with reuse.
    for (mode, host) in
        [("new connection each", HostOptions::default()), ("reused connections", HostOptions { connection_pool: Some(10), ..Default::default() })]
    {
        let mut s = open(&base, &host).await?;
        let (puts, gets) = small_pairs(&mut s, bench.small_ops, |i| format!("small/{i}")).await?;
        for (name, times) in [("PUT", &puts), ("GET", &gets)] {
            println!(
                "| 1 KiB {name} latency over {} ops, {mode} | median {:.2} ms, p99 {:.2} ms |",
                times.len(),
                percentile(times, 0.5).as_secs_f64() * 1e3,
                percentile(times, 0.99).as_secs_f64() * 1e3
            );
        }
        for i in 0..bench.small_ops {
            s.delete(&format!("small/{i}")).await?;
        }
    }

    // The component alone: the host answers every request with a canned reply.
    guest_cost(Runtime::shared()?, "", &base).await?;
    Ok(())
}

/// The WASI 0.2 build beside the 0.3 build, in one run against one server, the order
/// alternated between rounds: sizes, in-guest cost, and many operations from one instance
/// (64 × 1 KiB GETs, 8 × 64 MiB stream PUTs: one after another on 0.2, whose exports
/// block; all at once on 0.3), on the local server and over a simulated far path.
async fn generations(bench: &Bench, base: &Config) -> anyhow::Result<()> {
    let p2 = Runtime::of(crate::runtime::COMPONENT, crate::api::Generation::P2)?;
    let p3 = Runtime::p3()?;
    println!("| measurement | WASI 0.2 build | WASI 0.3 build | 0.3 / 0.2 |\n|---|---|---|---|");
    let (a, b) = (crate::runtime::COMPONENT.len(), crate::runtime::P3_COMPONENT.len());
    println!("| component size | {a} bytes | {b} bytes | {:.2}× |", b as f64 / a as f64);
    // Setup through the 0.2 build: the objects every round reads.
    let mut setup = open_on(&p2, base, &HostOptions::default()).await?;
    let keys: Vec<String> = (0..64).map(|i| format!("many/{i}.bin")).collect();
    for key in &keys {
        setup.put(key, &[7u8; 1024], &crate::put_options()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let far = crate::sender::Shaping { rtt: Duration::from_millis(40), bits_per_second: 1 << 30 };
    for (path, shaping) in [("local server", None), ("simulated far path (40 ms round trip)", Some(far))] {
        let host = HostOptions { shaping, ..Default::default() };
        let mut gets = [Vec::new(), Vec::new()];
        let mut puts = [Vec::new(), Vec::new()];
        let mut peaks = [0usize, 0];
        for round in 0..bench.rounds.max(1) {
            let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let runtime = if which == 0 { &p2 } else { p3 };
                let mut s = open_on(runtime, base, &host).await?;
                let start = Instant::now();
                for body in s.get_bytes_many(&keys).await.map_err(|e| anyhow::anyhow!("{e}"))? {
                    if body.map_err(|e| anyhow::anyhow!("{e}"))?.len() != 1024 {
                        bail!("a 1 KiB GET came back another size");
                    }
                }
                gets[which].push(start.elapsed());
                // Big transfers only locally: the far path's bandwidth cap is not the point.
                if shaping.is_none() {
                    let items = (0..8)
                        .map(|i| {
                            let reader = tokio::io::AsyncReadExt::take(tokio::io::repeat(i as u8), 64 * MIB);
                            (format!("big/{i}.bin"), Box::new(reader) as Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>)
                        })
                        .collect();
                    let start = Instant::now();
                    for stored in s.put_stream_many(items, &crate::put_options()).await.map_err(|e| anyhow::anyhow!("{e}"))? {
                        stored.map_err(|e| anyhow::anyhow!("{e}"))?;
                    }
                    puts[which].push(start.elapsed());
                    peaks[which] = peaks[which].max(s.peak_memory());
                }
            }
        }
        let median = |mut v: Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let [g2, g3] = gets.map(median);
        println!(
            "| 64 × 1 KiB `get-bytes` from one instance, {path} (median of {}) | {:.1} ms | {:.1} ms | {:.2}× faster |",
            bench.rounds.max(1),
            g2.as_secs_f64() * 1e3,
            g3.as_secs_f64() * 1e3,
            g2.as_secs_f64() / g3.as_secs_f64()
        );
        if shaping.is_none() {
            let [p2t, p3t] = puts.map(median);
            let total = 8 * 64 * MIB;
            println!(
                "| 8 × 64 MiB `put-stream` from one instance, {path} (median; guest peak) | {:.0} MiB/s ({:.0} MiB) | {:.0} MiB/s ({:.0} MiB) | {:.2}× |",
                mib_per_s(total, p2t),
                peaks[0] as f64 / MIB as f64,
                mib_per_s(total, p3t),
                peaks[1] as f64 / MIB as f64,
                p2t.as_secs_f64() / p3t.as_secs_f64()
            );
        }
    }
    file_servers(bench, base).await?;
    println!();
    println!("In-guest cost (the host answers every request at once):\n\n| measurement | result |\n|---|---|");
    for (label, runtime) in [("0.2", &p2), ("0.3", p3)] {
        guest_cost(runtime, label, base).await?;
    }
    Ok(())
}

/// `app` plugged with `storage` by `examples/compose.sh` (wac), as users compose them.
fn compose(app: &str, storage: &str) -> anyhow::Result<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("the repository")?;
    let out = tempfile::tempdir()?;
    let path = out.path().join("composed.wasm");
    let status = std::process::Command::new(root.join("examples/compose.sh")).args([app, storage]).arg(&path).stdout(std::process::Stdio::null()).status()?;
    if !status.success() {
        bail!("examples/compose.sh failed");
    }
    Ok(std::fs::read(&path)?)
}

/// How much faster the 0.3 time `new` is than the 0.2 time `old`, said the right way round.
fn speedup(old: Duration, new: Duration) -> String {
    let ratio = old.as_secs_f64() / new.as_secs_f64();
    if ratio >= 1.0 { format!("{ratio:.2}× faster") } else { format!("{ratio:.2}× (slower)") }
}

/// The file server composed with the S3 component, 0.2 builds beside 0.3 builds, served
/// as `serve-http` serves them (0.2: an instance per request; 0.3: one instance, requests
/// at once), driven over HTTP: 32 × 1 KiB downloads and 32 × 1 MiB uploads all at once,
/// and one 256 MiB upload and download. The order alternates between rounds.
async fn file_servers(bench: &Bench, base: &Config) -> anyhow::Result<()> {
    let apps = [
        compose(env!("FILE_SERVER_COMPONENT_PATH"), env!("STORAGE_COMPONENT_PATH"))?,
        compose(env!("P3_FILE_SERVER_COMPONENT_PATH"), env!("P3_STORAGE_COMPONENT_PATH"))?,
    ];
    let mut env = vec![("FILE_SERVER_BUCKET".to_string(), base.bucket.clone())];
    for (name, value) in [
        ("AWS_ENDPOINT_URL", &base.endpoint_url),
        ("AWS_ACCESS_KEY_ID", &base.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", &base.secret_access_key),
        ("AWS_REGION", &base.region),
        ("FILE_SERVER_PREFIX", &base.prefix),
    ] {
        if let Some(value) = value {
            env.push((name.to_string(), value.clone()));
        }
    }
    let small = vec![7u8; 1024];
    let mid: Vec<u8> = (0..MIB as usize).map(|i| (i % 251) as u8).collect();
    let big: Vec<u8> = (0..256 * MIB as usize).map(|i| (i % 253) as u8).collect();
    // (downloads, uploads, big PUT, big GET) per build.
    let mut times: [[Vec<Duration>; 4]; 2] = Default::default();
    let mut peaks = [0usize; 2];
    for round in 0..bench.rounds.max(1) {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let host = HostOptions { env: env.clone(), ..Default::default() };
            let server = crate::http_server::HttpServer::start(&apps[which], host, "127.0.0.1:0".parse()?).await?;
            let base_url = server.url();
            let tag = format!("fs{which}-{round}");
            for i in 0..32 {
                let reply = crate::http_client::request("POST", &format!("{base_url}/upload?key={tag}-small-{i}"), &[], small.clone()).await?;
                if reply.status != 201 {
                    bail!("seeding a download: {} {}", reply.status, String::from_utf8_lossy(&reply.body));
                }
            }
            let start = Instant::now();
            let downloads = (0..32).map(|i| {
                let url = format!("{base_url}/files/uploads/{tag}-small-{i}");
                async move { crate::http_client::get(&url).await }
            });
            for reply in futures::future::join_all(downloads).await {
                let reply = reply?;
                if reply.status != 200 || reply.body.len() != 1024 {
                    bail!("a 1 KiB download came back {} with {} bytes", reply.status, reply.body.len());
                }
            }
            times[which][0].push(start.elapsed());
            let start = Instant::now();
            let uploads = (0..32).map(|i| {
                let (url, body) = (format!("{base_url}/upload?key={tag}-mid-{i}"), mid.clone());
                async move { crate::http_client::request("POST", &url, &[], body).await }
            });
            for reply in futures::future::join_all(uploads).await {
                let reply = reply?;
                if reply.status != 201 {
                    bail!("a 1 MiB upload: {} {}", reply.status, String::from_utf8_lossy(&reply.body));
                }
            }
            times[which][1].push(start.elapsed());
            let start = Instant::now();
            let reply = crate::http_client::request("POST", &format!("{base_url}/upload?key={tag}-big"), &[], big.clone()).await?;
            if reply.status != 201 {
                bail!("the 256 MiB upload: {} {}", reply.status, String::from_utf8_lossy(&reply.body));
            }
            times[which][2].push(start.elapsed());
            let start = Instant::now();
            let reply = crate::http_client::get(&format!("{base_url}/files/uploads/{tag}-big")).await?;
            if reply.status != 200 || reply.body != big {
                bail!("the 256 MiB download came back {} with {} bytes", reply.status, reply.body.len());
            }
            times[which][3].push(start.elapsed());
            peaks[which] = peaks[which].max(server.peak_memory());
        }
    }
    let median = |v: &Vec<Duration>| {
        let mut v = v.clone();
        v.sort();
        v[v.len() / 2]
    };
    let rounds = bench.rounds.max(1);
    let [d2, d3] = [median(&times[0][0]), median(&times[1][0])];
    println!(
        "| file server: 32 × 1 KiB downloads at once (median of {rounds}) | {:.1} ms | {:.1} ms | {} |",
        d2.as_secs_f64() * 1e3,
        d3.as_secs_f64() * 1e3,
        speedup(d2, d3)
    );
    let [u2, u3] = [median(&times[0][1]), median(&times[1][1])];
    println!(
        "| file server: 32 × 1 MiB uploads at once (median) | {:.1} ms | {:.1} ms | {} |",
        u2.as_secs_f64() * 1e3,
        u3.as_secs_f64() * 1e3,
        speedup(u2, u3)
    );
    for (row, label) in [(2, "256 MiB upload"), (3, "256 MiB download")] {
        let [a, b] = [median(&times[0][row]), median(&times[1][row])];
        println!(
            "| file server: one {label} (median) | {:.0} MiB/s | {:.0} MiB/s | {:.2}× |",
            mib_per_s(256 * MIB, a),
            mib_per_s(256 * MIB, b),
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
    println!(
        "| file server: guest memory peak (0.2: the largest instance; 0.3: its one instance) | {:.1} MiB | {:.1} MiB | |",
        peaks[0] as f64 / MIB as f64,
        peaks[1] as f64 / MIB as f64
    );
    Ok(())
}

/// Per-operation cost inside the guest (signing, request building, XML parsing): the send
/// hook answers at once, so what remains is the component plus the wasi:http plumbing.
/// `label` names the build in each row.
async fn guest_cost(runtime: &Runtime, label: &str, base: &Config) -> anyhow::Result<()> {
    let tag = if label.is_empty() { String::new() } else { format!(" ({label})") };
    let listing = {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><IsTruncated>false</IsTruncated>");
        for i in 0..1000 {
            xml.push_str(&format!("<Contents><Key>bench/dir/file-{i:04}.txt</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified><ETag>&quot;0123456789abcdef0123456789abcdef&quot;</ETag><Size>{i}</Size><StorageClass>STANDARD</StorageClass></Contents>"));
        }
        xml.push_str("</ListBucketResult>");
        xml.into_bytes()
    };
    let reply: crate::sender::CannedReply = std::sync::Arc::new(move |parts: &http::request::Parts| {
        let etag = ("etag", "\"0123456789abcdef0123456789abcdef\"".to_string());
        match (parts.method.as_str(), parts.uri.query().unwrap_or("")) {
            ("GET", q) if q.contains("list-type=2") => (200, vec![("content-length", listing.len().to_string())], listing.clone()),
            ("HEAD", _) => (
                200,
                vec![("content-length", "1024".into()), ("content-type", "text/plain".into()), ("last-modified", "Tue, 02 Jan 2024 03:04:05 GMT".into()), etag],
                vec![],
            ),
            _ => (200, vec![("content-length", "0".into()), etag], vec![]),
        }
    });
    let host = HostOptions { canned: Some(reply), ..Default::default() };
    let mut s = open_on(runtime, base, &host).await?;
    const N: u32 = 2000;
    let payload = vec![7u8; 1024];
    let time = |took: Duration, n: u32| took.as_secs_f64() * 1e6 / f64::from(n);
    let start = Instant::now();
    for _ in 0..N {
        s.info("dir/file.txt").await?;
    }
    let head = time(start.elapsed(), N);
    let start = Instant::now();
    for _ in 0..N {
        s.put("dir/file.txt", &payload, &crate::put_options()).await?;
    }
    let put = time(start.elapsed(), N);
    let start = Instant::now();
    for _ in 0..N {
        s.url("dir/file.txt", None).await?;
    }
    let presign = time(start.elapsed(), N);
    let start = Instant::now();
    for _ in 0..N / 20 {
        let page = s.list("dir/", Some(1000)).await?;
        if page.len() != 1000 {
            bail!("canned listing gave {} files", page.len());
        }
    }
    let list = time(start.elapsed(), N / 20);
    let big = vec![7u8; 8 << 20];
    let mut big_put = Vec::new();
    for mode in [UploadChecksum::Crc64nvme, UploadChecksum::Crc32c, UploadChecksum::ContentMd5, UploadChecksum::SignedSha256, UploadChecksum::None] {
        let mut config = base.clone();
        config.upload_checksum = Some(mode);
        let mut s = open_on(runtime, &config, &host).await?;
        let start = Instant::now();
        for _ in 0..8 {
            s.put("dir/big.bin", &big, &crate::put_options()).await?;
        }
        big_put.push(mib_per_s(8 * big.len() as u64, start.elapsed()));
    }
    println!("| in-guest cost{tag}, `info` (HEAD, headers parsed) | {head:.0} µs |");
    println!("| in-guest cost{tag}, `put` of 1 KiB (CRC64NVME) | {put:.0} µs |");
    println!("| in-guest cost{tag}, `url` (presign) | {presign:.0} µs |");
    println!("| in-guest cost{tag}, `list` of a 1,000-key page (~190 KB of XML) | {list:.0} µs |");
    println!(
        "| in-guest `put`{tag} of 8 MiB bytes (copy in, hash, copy out to the host): CRC64NVME / CRC32C / Content-MD5 / signed SHA-256 / none | {:.0} / {:.0} / {:.0} / {:.0} / {:.0} MiB/s |",
        big_put[0], big_put[1], big_put[2], big_put[3], big_put[4]
    );
    // The hash's own cost per byte: the mode's time per MiB less `none`'s.
    let alone = |i: usize| 1.0 / (1.0 / big_put[i] - 1.0 / big_put[4]);
    println!(
        "| … the hash alone, in the guest{tag} (1 / (1/mode − 1/none)): CRC64NVME / CRC32C / MD5 / SHA-256 | {:.0} / {:.0} / {:.0} / {:.0} MiB/s |",
        alone(0),
        alone(1),
        alone(2),
        alone(3)
    );
    Ok(())
}

/// What one client measured in one round.
#[derive(Default, Clone)]
struct Sample {
    put: Option<Duration>,
    /// The component's PUT less the server's CompleteMultipartUpload (s3s-fs re-reads and
    /// rewrites every part there).
    put_without_join: Option<Duration>,
    get: Option<Duration>,
    /// A second GET figure: the component's single streamed GET beside its parallel one.
    get_single: Option<Duration>,
    small_put: Vec<Duration>,
    small_get: Vec<Duration>,
}

/// A client's medians: PUT, GET, and the component's single streamed GET.
type Figures = (Client, Option<Duration>, Option<Duration>, Option<Duration>);

#[derive(Clone, Copy, PartialEq, Debug)]
enum Client {
    /// Defaults: CRC64NVME, 8 MiB parts, 8 in flight; GET in parallel ranges, checked.
    Component,
    /// `upload-checksum = none` and the size known: the host splices the file.
    Spliced,
    /// The old default, for comparison.
    ComponentMd5,
    Boto3,
    Sdk,
    Curl,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Component => "component (CRC64NVME; GET: parallel ranges, checked / one streamed GET)",
            Client::Spliced => "component, spliced PUT (`upload-checksum = none`, size known)",
            Client::ComponentMd5 => "component, `content-md5`",
            Client::Boto3 => "boto3 `upload_file` / `download_file` (CRC32)",
            Client::Sdk => "AWS SDK for Rust `put_object` / `get_object` (CRC32 trailer)",
            Client::Curl => "curl, presigned URLs (no checksum)",
        }
    }
}

/// The side-by-side rounds: the component and the clients people would use instead, PUT
/// and GET of the same file against the same server, the order alternated between
/// rounds; then 1 KiB latencies; ratios to the faster of boto3 and the SDK.
async fn peers(bench: &Bench, base: &Config, file: &Path, size: u64) -> anyhow::Result<()> {
    let sdk = sdk_binary().await;
    let boto3 = python_has_boto3().await;
    let mut clients = vec![Client::Component, Client::Spliced, Client::ComponentMd5, Client::Curl];
    match &sdk {
        Ok(_) => clients.push(Client::Sdk),
        Err(why) => println!("| AWS SDK for Rust | skipped: {why} |"),
    }
    match &boto3 {
        Ok(()) => clients.push(Client::Boto3),
        Err(why) => println!("| boto3 | skipped: {why} |"),
    }
    let mut samples: Vec<(Client, Vec<Sample>)> = clients.iter().map(|c| (*c, Vec::new())).collect();
    let mut peak = 0usize;
    for round in 0..bench.rounds.max(1) {
        let mut order = clients.clone();
        if round % 2 == 1 {
            order.reverse();
        }
        for client in order {
            let sample = match client {
                Client::Component | Client::Spliced | Client::ComponentMd5 => {
                    let (sample, p) = component_round(client, base, file, size, bench.small_ops).await?;
                    peak = peak.max(p);
                    sample
                }
                Client::Curl => curl_round(base, file, size).await?,
                Client::Boto3 => peer_round("boto3", &["python3".into(), boto3_script()], base, file, bench.small_ops).await?,
                Client::Sdk => peer_round("sdk", &[sdk.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?.clone()], base, file, bench.small_ops).await?,
            };
            samples.iter_mut().find(|(c, _)| *c == client).context("client")?.1.push(sample);
        }
    }

    let median = |mut v: Vec<Duration>| -> Option<Duration> {
        v.sort();
        (!v.is_empty()).then(|| v[v.len() / 2])
    };
    let figures: Vec<Figures> = samples
        .iter()
        .map(|(c, s)| {
            (
                *c,
                median(s.iter().filter_map(|x| x.put).collect()),
                median(s.iter().filter_map(|x| x.get).collect()),
                median(s.iter().filter_map(|x| x.get_single).collect()),
            )
        })
        .collect();
    let best = |f: &dyn Fn(&Figures) -> Option<Duration>| figures.iter().filter(|x| matches!(x.0, Client::Boto3 | Client::Sdk)).filter_map(f).min();
    let best_put = best(&|x| x.1);
    let best_get = best(&|x| x.2);
    let rate = |d: Option<Duration>| d.map_or("–".to_string(), |d| format!("{:.0}", mib_per_s(size, d)));
    let ratio = |d: Option<Duration>, peer: Option<Duration>| match (d, peer) {
        (Some(d), Some(p)) => format!("{:.2}×", p.as_secs_f64() / d.as_secs_f64()),
        _ => "–".into(),
    };
    println!();
    println!("{} MiB, median of {} rounds (MiB/s; ratio = this client's throughput / the faster of boto3 and the SDK):", size / MIB, bench.rounds.max(1));
    println!();
    println!("| client | PUT MiB/s | GET MiB/s | PUT ratio | GET ratio |\n|---|---|---|---|---|");
    for (client, put, get, single) in &figures {
        let get_text = match single {
            Some(single) => format!("{} / {}", rate(*get), rate(Some(*single))),
            None => rate(*get),
        };
        let get_ratio = match single {
            Some(single) => format!("{} / {}", ratio(*get, best_get), ratio(Some(*single), best_get)),
            None => ratio(*get, best_get),
        };
        println!("| {} | {} | {get_text} | {} | {get_ratio} |", client.name(), rate(*put), ratio(*put, best_put));
    }
    for (client, s) in &samples {
        if let Some(unjoined) = median(s.iter().filter_map(|x| x.put_without_join).collect())
            && matches!(client, Client::Component | Client::ComponentMd5)
        {
            println!("| … {}, PUT less the server joining the parts | {} | | {} | |", client.name(), rate(Some(unjoined)), ratio(Some(unjoined), best_put));
        }
    }
    println!("| guest linear memory peak, component PUT and parallel GET | {:.1} MiB | | | |", peak as f64 / MIB as f64);

    println!();
    println!("1 KiB objects, {} PUT/GET pairs per round on one client (reused connections), all rounds:", bench.small_ops);
    println!();
    println!("| client | PUT median | PUT p99 | GET median | GET p99 | PUT / GET median vs SDK |\n|---|---|---|---|---|---|");
    let sdk_small = samples.iter().find(|(c, _)| *c == Client::Sdk).map(|(_, s)| {
        let all = |f: &dyn Fn(&Sample) -> &Vec<Duration>| {
            let mut v: Vec<Duration> = s.iter().flat_map(|x| f(x).clone()).collect();
            v.sort();
            v
        };
        (all(&|x| &x.small_put), all(&|x| &x.small_get))
    });
    for (client, s) in &samples {
        let mut puts: Vec<Duration> = s.iter().flat_map(|x| x.small_put.clone()).collect();
        let mut gets: Vec<Duration> = s.iter().flat_map(|x| x.small_get.clone()).collect();
        if puts.is_empty() {
            continue;
        }
        puts.sort();
        gets.sort();
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        let vs = match &sdk_small {
            Some((sp, sg)) if !sp.is_empty() => format!(
                "{:.2}× / {:.2}×",
                percentile(&puts, 0.5).as_secs_f64() / percentile(sp, 0.5).as_secs_f64(),
                percentile(&gets, 0.5).as_secs_f64() / percentile(sg, 0.5).as_secs_f64()
            ),
            _ => "–".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {vs} |",
            client.name(),
            ms(percentile(&puts, 0.5)),
            ms(percentile(&puts, 0.99)),
            ms(percentile(&gets, 0.5)),
            ms(percentile(&gets, 0.99))
        );
    }
    println!();
    println!("| measurement | result |\n|---|---|");
    Ok(())
}

/// One round of the component as `client`: PUT of the file, GETs, small operations; the
/// guest's memory peak.
async fn component_round(client: Client, base: &Config, file: &Path, size: u64, small_ops: usize) -> anyhow::Result<(Sample, usize)> {
    let mut config = base.clone();
    config.max_pool_connections = Some(8);
    config.upload_checksum = match client {
        Client::Spliced => Some(UploadChecksum::None),
        Client::ComponentMd5 => Some(UploadChecksum::ContentMd5),
        _ => None,
    };
    // Reused connections, as the CLI and the other clients do. The host times
    // CompleteMultipartUpload: the server joining the parts, which one request doesn't have.
    let joining = Arc::new(Mutex::new(Duration::ZERO));
    let log = joining.clone();
    let observer: crate::sender::Observer = Arc::new(move |sent: crate::sender::Sent| {
        if sent.method == "POST" && sent.uri.query().is_some_and(|q| q.starts_with("uploadId=")) {
            *log.lock().unwrap() += sent.took;
        }
    });
    let host = HostOptions { connection_pool: Some(10), observer: Some(observer), ..Default::default() };
    let mut s = open(&config, &host).await?;
    let key = format!("peer-{client:?}.bin");
    let options = PutOptions { size: (client == Client::Spliced).then_some(size), ..crate::put_options() };
    let start = Instant::now();
    s.put_stream(&key, tokio::fs::File::open(file).await?, &options).await?;
    let put = start.elapsed();
    let join = *joining.lock().unwrap();
    let mut sample = Sample { put: Some(put), put_without_join: Some(put.saturating_sub(join)), ..Sample::default() };
    if client == Client::Component {
        let parallel = crate::GetOptions { parallel: true, ..crate::get_options(None) };
        let mut got = 0u64;
        let start = Instant::now();
        s.get_checked_with(&key, &parallel, |c| {
            got += c.len() as u64;
            Ok(())
        })
        .await?;
        sample.get = Some(start.elapsed());
        let start = Instant::now();
        s.get(&key, |c| {
            got += c.len() as u64;
            Ok(())
        })
        .await?;
        sample.get_single = Some(start.elapsed());
        if got != 2 * size {
            bail!("the component's GETs returned {got} of {} bytes", 2 * size);
        }
        (sample.small_put, sample.small_get) = small_pairs(&mut s, small_ops, |i| format!("{key}-small-{}", i % 10)).await?;
        for i in 0..small_ops.min(10) {
            s.delete(&format!("{key}-small-{i}")).await?;
        }
    }
    let peak = s.peak_memory();
    s.delete(&key).await?;
    Ok((sample, peak))
}

/// One round of curl with presigned URLs (one request each way, no checksum).
async fn curl_round(base: &Config, file: &Path, _size: u64) -> anyhow::Result<Sample> {
    let mut s = open(base, &HostOptions::default()).await?;
    let file = file.to_str().context("temp path")?;
    let put_url = s.presigned_put_url("peer-curl.bin", Some(3600), None).await?;
    let put = curl(&["-T", file, &put_url]).await?;
    let get_url = s.url("peer-curl.bin", Some(3600)).await?;
    let get = curl(&[&get_url]).await?;
    s.delete("peer-curl.bin").await?;
    Ok(Sample { put: Some(put), get: Some(get), ..Sample::default() })
}

/// One round of a peer run as a program (`command` + ENDPOINT BUCKET FILE KEY SMALL_OPS),
/// which prints its own timings as JSON.
async fn peer_round(name: &str, command: &[String], base: &Config, file: &Path, small_ops: usize) -> anyhow::Result<Sample> {
    let endpoint = base.endpoint_url.clone().context("the peers need an endpoint URL")?;
    // Under the store's prefix, as the component's own objects are.
    let prefix = base.prefix.clone().unwrap_or_default();
    let relative = format!("peer-{name}.bin");
    let key = match prefix.trim_end_matches('/') {
        "" => relative.clone(),
        p => format!("{p}/{relative}"),
    };
    let mut cmd = std::process::Command::new(&command[0]);
    cmd.args(&command[1..]).args([endpoint.as_str(), base.bucket.as_str(), file.to_str().context("temp path")?, key.as_str(), &small_ops.to_string()]);
    // Loopback only: no credential source may reach an instance metadata service.
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    if let (Some(id), Some(secret)) = (&base.access_key_id, &base.secret_access_key) {
        cmd.env("AWS_ACCESS_KEY_ID", id).env("AWS_SECRET_ACCESS_KEY", secret);
    }
    cmd.env("AWS_REGION", base.region.clone().or_else(|| std::env::var("AWS_REGION").ok()).unwrap_or_else(|| "us-east-1".into()));
    let out = tokio::task::spawn_blocking(move || cmd.output()).await?.with_context(|| format!("running {}", command.join(" ")))?;
    if !out.status.success() {
        bail!("{} failed: {}", command.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).with_context(|| format!("{} printed {}", command[0], String::from_utf8_lossy(&out.stdout)))?;
    let secs = |name: &str| json[name].as_f64().map(Duration::from_secs_f64);
    let micros = |name: &str| json[name].as_array().map(|a| a.iter().filter_map(|v| v.as_u64()).map(Duration::from_micros).collect()).unwrap_or_default();
    // Its objects go, so the next round starts alike.
    let mut s = open(base, &HostOptions::default()).await?;
    let _ = s.delete(&relative).await;
    for i in 0..small_ops.min(10) {
        let _ = s.delete(&format!("{relative}-small-{i}")).await;
    }
    Ok(Sample { put: secs("put_s"), get: secs("get_s"), small_put: micros("small_put_us"), small_get: micros("small_get_us"), ..Sample::default() })
}

fn boto3_script() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench-boto3.py").to_string()
}

async fn python_has_boto3() -> Result<(), String> {
    let check = tokio::task::spawn_blocking(|| std::process::Command::new("python3").args(["-c", "import boto3"]).output());
    let ok = check.await.is_ok_and(|o| o.is_ok_and(|o| o.status.success()));
    if ok { Ok(()) } else { Err("python3 can't import boto3 (`python3 -m pip install boto3`)".into()) }
}

/// The SDK peer's binary, built on first use outside the workspace (its build is long).
async fn sdk_binary() -> Result<String, String> {
    let home = std::env::var("HOME").map_err(|_| "HOME is not set".to_string())?;
    let target = format!("{home}/.cache/wasm-storages/bench-sdk-target");
    let binary = format!("{target}/release/bench-sdk");
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/bench-sdk/Cargo.toml");
    eprintln!("bench: building the AWS SDK for Rust peer ({manifest}; the first build takes minutes)");
    let build =
        std::process::Command::new("cargo").args(["build", "--quiet", "--release", "--manifest-path", manifest]).env("CARGO_TARGET_DIR", &target).status();
    let built = build.map_err(|e| format!("running cargo: {e}"))?;
    if !built.success() {
        return Err(format!("cargo build --release --manifest-path {manifest} failed"));
    }
    Ok(binary)
}

/// The simulated far server (`sender::Shaping`): 40 ms round trip, 100 Mbit/s per
/// connection. Parts and ranges in flight, and connection reuse, where they pay.
async fn wan(base: &Config, file: &Path, size: u64) -> anyhow::Result<()> {
    let shaping = crate::sender::Shaping { rtt: Duration::from_millis(40), bits_per_second: 100_000_000 };
    let mut first: Option<(Duration, Duration)> = None;
    for in_flight in [1u32, 4, 8] {
        let mut config = base.clone();
        config.max_pool_connections = Some(in_flight);
        let host = HostOptions { connection_pool: Some(in_flight as usize), shaping: Some(shaping), ..Default::default() };
        let mut s = open(&config, &host).await?;
        let start = Instant::now();
        s.put_stream("wan.bin", tokio::fs::File::open(file).await?, &crate::put_options()).await?;
        let put = start.elapsed();
        let parallel = crate::GetOptions { parallel: true, ..crate::get_options(None) };
        let start = Instant::now();
        s.get_checked_with("wan.bin", &parallel, |_| Ok(())).await?;
        let get = start.elapsed();
        let (put1, get1) = *first.get_or_insert((put, get));
        println!(
            "| simulated WAN (40 ms RTT, 100 Mbit/s per connection), {} MiB, {in_flight} part(s) / range(s) in flight: PUT, parallel GET | {:.1} MiB/s ({:.2}×), {:.1} MiB/s ({:.2}×) |",
            size / MIB,
            mib_per_s(size, put),
            put1.as_secs_f64() / put.as_secs_f64(),
            mib_per_s(size, get),
            get1.as_secs_f64() / get.as_secs_f64()
        );
        if in_flight == 8 {
            let start = Instant::now();
            s.get("wan.bin", |_| Ok(())).await?;
            println!("| simulated WAN, {} MiB, one streamed GET | {:.1} MiB/s |", size / MIB, mib_per_s(size, start.elapsed()));
        }
        s.delete("wan.bin").await?;
    }
    for (mode, pool) in [("a new connection each", None), ("reused connections", Some(10))] {
        let host = HostOptions { connection_pool: pool, shaping: Some(shaping), ..Default::default() };
        let mut s = open(base, &host).await?;
        let (puts, gets) = small_pairs(&mut s, 20, |i| format!("wan-small/{}", i % 10)).await?;
        for i in 0..10 {
            s.delete(&format!("wan-small/{i}")).await?;
        }
        println!(
            "| simulated WAN, 1 KiB PUT / GET median over 20, {mode} | {:.1} / {:.1} ms |",
            percentile(&puts, 0.5).as_secs_f64() * 1e3,
            percentile(&gets, 0.5).as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// 1 KiB operations against the embedded server over https, with a new TLS connection per
/// request and with the host's pool (`sender::tls::TlsPool`).
async fn tls_reuse(ops: usize) -> anyhow::Result<()> {
    let server = EmbeddedS3::start_with(crate::testkit::s3_server::ServerOptions { tls: true, ..Default::default() }).await?;
    let mut config = server.config("bench-tls/");
    config.verify_ssl = Some(false);
    let mut medians = Vec::new();
    for pool in [None, Some(10)] {
        let host = HostOptions { connection_pool: pool, insecure_tls: true, ..Default::default() };
        let mut s = open(&config, &host).await?;
        let (puts, gets) = small_pairs(&mut s, ops, |i| format!("small/{}", i % 10)).await?;
        let mode = if pool.is_some() { "reused connections" } else { "a new connection each" };
        println!(
            "| 1 KiB PUT / GET over https (embedded TLS server), {mode}, {ops} ops | median {:.2} / {:.2} ms, p99 {:.2} / {:.2} ms |",
            percentile(&puts, 0.5).as_secs_f64() * 1e3,
            percentile(&gets, 0.5).as_secs_f64() * 1e3,
            percentile(&puts, 0.99).as_secs_f64() * 1e3,
            percentile(&gets, 0.99).as_secs_f64() * 1e3
        );
        medians.push(percentile(&puts, 0.5) + percentile(&gets, 0.5));
    }
    println!("| … https PUT+GET median, new connection each / reused | {:.2}× |", medians[0].as_secs_f64() / medians[1].as_secs_f64());
    Ok(())
}
