//! `demo`: the seed's story, end to end against the embedded server.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use host_test::runtime::describe;
use host_test::testkit::s3_server::EmbeddedS3;
use host_test::{Error, Failure, HostOptions, PutOptions, Runtime, Storage};

use super::output::{Problem, file_json};

/// The seed's story, end to end against the embedded server.
pub async fn demo() -> Result<ExitCode, Problem> {
    let server = EmbeddedS3::start().await?;
    println!("1. Started the embedded S3 server at {} (bucket {:?}, SigV4 on)", server.endpoint, server.bucket);
    let config = server.config("app-name/uploads/");
    let mut storage = Storage::open(Runtime::shared()?, &HostOptions::default(), config).await?;
    println!("   Opened a store with prefix \"app-name/uploads/\": every key below lives under it.");

    let report = b"Quarterly report\n".repeat(4096);
    let options = PutOptions {
        content_type: Some("text/plain".into()),
        metadata: vec![("original-name".into(), "report.txt".into()), ("uploaded-by".into(), "user-123".into())],
        size: None,
        condition: None,
        attributes: host_test::no_attributes(),
        tags: Vec::new(),
    };
    let stored = storage.put("drafts/report.txt", &report, &options).await?;
    println!("2. put drafts/report.txt with a content type and metadata:\n   {}", file_json(&stored));

    println!("3. info drafts/report.txt (HEAD):\n   {}", file_json(&storage.info("drafts/report.txt").await?));

    let (mut chunks, mut bytes) = (0, 0);
    let info = storage
        .get("drafts/report.txt", |chunk| {
            chunks += 1;
            bytes += chunk.len();
            Ok(())
        })
        .await?;
    println!(
        "4. Streamed download: {bytes} bytes in {chunks} chunk(s), content type {:?}; matches the upload: {}",
        info.content_type.unwrap_or_default(),
        bytes == report.len()
    );

    for name in ["images/photo.jpg", "images/logo.png", "docs/readme.md"] {
        storage
            .put(
                name,
                name.as_bytes(),
                &PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: host_test::no_attributes(), tags: Vec::new() },
            )
            .await?;
    }
    println!("5. list \"images/\" (keys come back relative to the prefix):");
    for file in storage.list("images/", None).await? {
        println!("   {} ({} bytes)", file.key, file.size);
    }
    let on_disk = server.dir.join(&server.bucket).join("app-name/uploads/images/photo.jpg");
    println!("   On the server the object is {}: {}", on_disk.display(), on_disk.exists());

    let url = storage.url("drafts/report.txt", Some(900)).await?;
    println!("6. Presigned URL (15 minutes): {}...", &url[..url.find('?').unwrap_or(url.len())]);
    let reply = host_test::http_client::get(&url).await?;
    println!("   A plain HTTP GET of it: HTTP {}, {} bytes", reply.status, reply.body.len());

    let published = storage.copy("drafts/report.txt", "published/report.txt").await?;
    storage.delete("drafts/report.txt").await?;
    println!("7. Published the draft (server-side copy, then delete):\n   {}", file_json(&published));

    match storage.get_bytes("drafts/report.txt").await {
        Err(Failure::Storage(e @ Error::NotFound(_))) => println!("8. The draft is gone: get-bytes gives a typed error: {}", describe(&e)),
        Err(e) => return Err(e.into()),
        Ok(_) => println!("8. Unexpected: the draft is still there"),
    }
    println!("   exists(\"drafts/report.txt\") = {}", storage.exists("drafts/report.txt").await?);
    if std::io::stdout().is_terminal() {
        println!("Done. Try `storage-host serve-s3` and the other commands next.");
    }
    Ok(ExitCode::SUCCESS)
}
