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
    /// `None`: the embedded server.
    pub endpoint: Option<Config>,
}

fn mib_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / MIB as f64 / took.as_secs_f64()
}

async fn open(config: &Config, host: &HostOptions) -> anyhow::Result<Storage> {
    Storage::open(Runtime::shared()?, host, config.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))
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
    let size = bench.size_mib * MIB;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("payload.bin");
    write_test_file(&file, size).await?;
    let file_str = file.to_str().context("temp path")?;
    println!("| measurement | result |\n|---|---|");
    println!("| release component size | {} bytes |", backend().len());

    // Streamed PUT and GET through the component vs curl with presigned URLs. The host
    // times CompleteMultipartUpload: the server's work joining the parts, which a
    // one-request PUT (curl's) doesn't have.
    let completing = Arc::new(Mutex::new(Duration::ZERO));
    let log = completing.clone();
    let observer: crate::sender::Observer = Arc::new(move |sent: crate::sender::Sent| {
        if sent.method == "POST" && sent.uri.query().is_some_and(|q| q.starts_with("uploadId=")) {
            *log.lock().unwrap() += sent.took;
        }
    });
    let host = HostOptions { observer: Some(observer), ..Default::default() };
    let mut config = base.clone();
    config.max_pool_connections = Some(8);
    let mut s = open(&config, &host).await?;
    let start = Instant::now();
    s.put_stream("big.bin", tokio::fs::File::open(&file).await?, &crate::put_options()).await?;
    let put = start.elapsed();
    let joining = std::mem::take(&mut *completing.lock().unwrap());
    let start = Instant::now();
    let mut got = 0u64;
    s.get("big.bin", |c| {
        got += c.len() as u64;
        Ok(())
    })
    .await?;
    let get = start.elapsed();
    if got != size {
        bail!("GET returned {got} of {size} bytes");
    }
    let peak = s.peak_memory();
    let put_url = s.presigned_put_url("curl.bin", Some(3600), None).await?;
    let curl_put = curl(&["-T", file_str, &put_url]).await?;
    let get_url = s.url("big.bin", Some(3600)).await?;
    let curl_get = curl(&[&get_url]).await?;
    println!("| {} MiB streamed PUT, component (8 MiB parts, 8 in flight, Content-MD5) | {:.0} MiB/s |", bench.size_mib, mib_per_s(size, put));
    println!("| … of which the server joining the parts (CompleteMultipartUpload) | {:.2} s of {:.2} s |", joining.as_secs_f64(), put.as_secs_f64());
    println!("| {} MiB PUT, curl with a presigned URL (one request) | {:.0} MiB/s |", bench.size_mib, mib_per_s(size, curl_put));
    println!("| {} MiB streamed GET, component | {:.0} MiB/s |", bench.size_mib, mib_per_s(size, get));
    println!("| {} MiB GET, curl with a presigned URL | {:.0} MiB/s |", bench.size_mib, mib_per_s(size, curl_get));
    println!("| GET throughput, component / curl | {:.2}× |", curl_get.as_secs_f64() / get.as_secs_f64());
    println!("| PUT throughput, component / curl | {:.2}× |", curl_put.as_secs_f64() / put.as_secs_f64());
    println!("| PUT throughput, component without the server's joining / curl | {:.2}× |", curl_put.as_secs_f64() / (put - joining).as_secs_f64());
    println!("| guest linear memory peak during the PUT and GET | {:.1} MiB |", peak as f64 / MIB as f64);
    s.delete("big.bin").await?;
    s.delete("curl.bin").await?;

    // The same upload with the payload's SHA-256 signed instead of Content-MD5.
    let mut signed = config.clone();
    signed.upload_checksum = Some(UploadChecksum::SignedSha256);
    let mut s = open(&signed, &HostOptions::default()).await?;
    let start = Instant::now();
    s.put_stream("big.bin", tokio::fs::File::open(&file).await?, &crate::put_options()).await?;
    println!("| {} MiB streamed PUT, component, `signed-sha256` | {:.0} MiB/s |", bench.size_mib, mib_per_s(size, start.elapsed()));
    s.delete("big.bin").await?;

    // One request, like curl's, through the component: a part as large as the object, so
    // the stream is one PutObject (the component holds it all: this row is about shape).
    if size <= 1 << 30 {
        let mut whole = base.clone();
        whole.part_size = Some(size.max(5 * MIB));
        let mut s = open(&whole, &HostOptions::default()).await?;
        let start = Instant::now();
        s.put_stream("big.bin", tokio::fs::File::open(&file).await?, &crate::put_options()).await?;
        let one = start.elapsed();
        println!(
            "| {} MiB PUT, component, one PutObject copied through it (Content-MD5) | {:.0} MiB/s ({:.2}× curl) |",
            bench.size_mib,
            mib_per_s(size, one),
            curl_put.as_secs_f64() / one.as_secs_f64()
        );
        // Its ETag is its MD5: `read` copies the bytes through the component and checks them.
        let start = Instant::now();
        let mut got = 0u64;
        s.get_checked("big.bin", |c| {
            got += c.len() as u64;
            Ok(())
        })
        .await?;
        let checked = start.elapsed();
        if got != size {
            bail!("checked GET returned {got} of {size} bytes");
        }
        println!(
            "| {} MiB checked GET, component (`read`: copied through it, MD5 checked) | {:.0} MiB/s ({:.2}× curl) |",
            bench.size_mib,
            mib_per_s(size, checked),
            curl_get.as_secs_f64() / checked.as_secs_f64()
        );
        s.delete("big.bin").await?;
    }

    // Spliced: no checksum and the size known, so the host splices the file into one
    // PutObject and the bytes never enter the component.
    if size <= 5 << 30 {
        let mut none = base.clone();
        none.upload_checksum = Some(UploadChecksum::None);
        let mut s = open(&none, &HostOptions::default()).await?;
        let start = Instant::now();
        s.put_stream("big.bin", tokio::fs::File::open(&file).await?, &PutOptions { size: Some(size), ..crate::put_options() }).await?;
        let spliced = start.elapsed();
        println!(
            "| {} MiB PUT, component, spliced (`upload-checksum = none`, size known) | {:.0} MiB/s ({:.2}× curl), peak {:.1} MiB |",
            bench.size_mib,
            mib_per_s(size, spliced),
            curl_put.as_secs_f64() / spliced.as_secs_f64(),
            s.peak_memory() as f64 / MIB as f64
        );
        s.delete("big.bin").await?;
    }

    // The same PUT and GET over reused connections.
    let pooled = HostOptions { connection_pool: Some(8), ..Default::default() };
    let mut s = open(&config, &pooled).await?;
    let start = Instant::now();
    s.put_stream("big.bin", tokio::fs::File::open(&file).await?, &crate::put_options()).await?;
    let put = start.elapsed();
    let start = Instant::now();
    s.get("big.bin", |_| Ok(())).await?;
    let get = start.elapsed();
    println!("| {} MiB streamed PUT / GET, component, reused connections | {:.0} / {:.0} MiB/s |", bench.size_mib, mib_per_s(size, put), mib_per_s(size, get));
    s.delete("big.bin").await?;

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
        let payload = vec![7u8; 1024];
        let (mut puts, mut gets) = (Vec::new(), Vec::new());
        for i in 0..bench.small_ops {
            let key = format!("small/{i}");
            let start = Instant::now();
            s.put(&key, &payload, &crate::put_options()).await?;
            puts.push(start.elapsed());
            let start = Instant::now();
            s.get_bytes(&key).await?;
            gets.push(start.elapsed());
        }
        puts.sort();
        gets.sort();
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
    guest_cost(&base).await?;
    Ok(())
}

/// Per-operation cost inside the guest (signing, request building, XML parsing): the send
/// hook answers at once, so what remains is the component plus the wasi:http plumbing.
async fn guest_cost(base: &Config) -> anyhow::Result<()> {
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
    let mut s = open(base, &host).await?;
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
    for mode in [UploadChecksum::ContentMd5, UploadChecksum::SignedSha256, UploadChecksum::None] {
        let mut config = base.clone();
        config.upload_checksum = Some(mode);
        let mut s = open(&config, &host).await?;
        let start = Instant::now();
        for _ in 0..8 {
            s.put("dir/big.bin", &big, &crate::put_options()).await?;
        }
        big_put.push(mib_per_s(8 * big.len() as u64, start.elapsed()));
    }
    println!("| in-guest cost, `info` (HEAD, headers parsed) | {head:.0} µs |");
    println!("| in-guest cost, `put` of 1 KiB (Content-MD5) | {put:.0} µs |");
    println!("| in-guest cost, `url` (presign) | {presign:.0} µs |");
    println!("| in-guest cost, `list` of a 1,000-key page (~190 KB of XML) | {list:.0} µs |");
    println!(
        "| in-guest `put` of 8 MiB bytes (copy in, hash, copy out to the host): Content-MD5 / signed SHA-256 / none | {:.0} / {:.0} / {:.0} MiB/s |",
        big_put[0], big_put[1], big_put[2]
    );
    Ok(())
}
