//! `bench-sdk ENDPOINT BUCKET FILE KEY SMALL_OPS`: the AWS SDK for Rust's PUT and GET of
//! FILE (PutObject from the file, its default CRC32 sent as a trailer; GetObject streamed
//! and checked with its default response validation), then SMALL_OPS 1 KiB PutObject and
//! GetObject on one client (reused connections). Credentials and region from the
//! environment. Prints one JSON object: seconds per transfer, latencies in microseconds.

use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, endpoint, bucket, file, key, small_ops] = &args[..] else {
        return Err("usage: bench-sdk ENDPOINT BUCKET FILE KEY SMALL_OPS".into());
    };
    let small_ops: usize = small_ops.parse()?;
    let config = aws_config::from_env().endpoint_url(endpoint).load().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());

    let start = Instant::now();
    s3.put_object().bucket(bucket).key(key).body(ByteStream::from_path(file).await?).send().await?;
    let put = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut body = s3.get_object().bucket(bucket).key(key).send().await?.body;
    let mut got = 0u64;
    while let Some(chunk) = body.try_next().await? {
        got += chunk.len() as u64;
    }
    let get = start.elapsed().as_secs_f64();
    let size = std::fs::metadata(file)?.len();
    if got != size {
        return Err(format!("GET returned {got} of {size} bytes").into());
    }

    let small = vec![7u8; 1024];
    let (mut puts, mut gets) = (Vec::new(), Vec::new());
    for i in 0..small_ops {
        let k = format!("{key}-small-{}", i % 10);
        let start = Instant::now();
        s3.put_object().bucket(bucket).key(&k).body(ByteStream::from(small.clone())).send().await?;
        puts.push(start.elapsed().as_micros());
        let start = Instant::now();
        let data = s3.get_object().bucket(bucket).key(&k).send().await?.body.collect().await?.into_bytes();
        gets.push(start.elapsed().as_micros());
        if data.len() != 1024 {
            return Err("small GET returned the wrong size".into());
        }
    }
    println!("{{\"put_s\": {put}, \"get_s\": {get}, \"small_put_us\": {puts:?}, \"small_get_us\": {gets:?}}}");
    Ok(())
}
