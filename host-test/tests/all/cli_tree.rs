//! `storage-host` on folders, as `aws s3` users work: `cp`/`mv`/`rm --recursive`, `sync`
//! both ways with `--delete` and `--dryrun`, filters, `ls` as aws prints it, `mb`/`rb`,
//! interrupts that leave nothing behind, and the progress a terminal shows.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::cli::{Cli, Running, code, one_line_error, signal, stdout, until};
use crate::common::{self, Target};

/// Every file below `root`, by its `/`-separated path, with its bytes.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut all = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_str().unwrap().replace('\\', "/");
                all.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    all
}

/// A tree with nested folders, unicode and spaces in names, an empty file and a file over
/// the part size (8 MiB), so it goes up in parts and comes down in ranges.
fn make_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let tree: [(&str, Vec<u8>); 6] = [
        ("a/b/c/deep.txt", b"deep down\n".to_vec()),
        ("ü/日本/naïve café.txt", "unicode ✓\n".as_bytes().to_vec()),
        ("empty.bin", Vec::new()),
        ("big.bin", common::bytes((8 << 20) + 4097, 7)),
        ("site/index.html", b"<h1>hi</h1>".to_vec()),
        ("a/notes.tmp", b"scratch".to_vec()),
    ];
    for (name, bytes) in &tree {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    files(root)
}

/// The keys below `folder` (`s3://…/`), by their names below it, via `ls --recursive --json`.
async fn keys_below(cli: &Cli<'_>, folder: &str) -> Vec<String> {
    let out = cli.run(&["ls", "--recursive", "--json", folder]).await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let below = folder.split_once("://").unwrap().1.split_once('/').unwrap().1;
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["key"].as_str().unwrap().strip_prefix(below).unwrap().to_string())
        .collect()
}

/// The lines a command printed, sorted (files finish in any order).
fn lines(out: &std::process::Output) -> Vec<String> {
    assert_eq!(code(out), 0, "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let mut lines: Vec<String> = stdout(out).lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn a_directory_tree_round_trips_with_cp_recursive_and_sync_both_ways() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let t = Target::new("cli-tree").await;
    let cli = Cli::new(&t);
    let b = &t.bucket;
    let work = tempfile::tempdir().unwrap();
    let (src, down) = (work.path().join("src"), work.path().join("down"));
    let tree = make_tree(&src);
    let remote = format!("s3://{b}/tree/");

    // Up: every file, one line each, and the keys are the paths below the folder.
    let out = cli.run(&["cp", "--recursive", src.to_str().unwrap(), &remote, "--jobs", "3"]).await;
    let printed = lines(&out);
    assert_eq!(printed.len(), tree.len(), "{printed:?}");
    assert!(printed.iter().all(|l| l.starts_with("upload: ") && l.contains(&format!(" to {remote}"))), "{printed:?}");
    assert_eq!(keys_below(&cli, &remote).await, tree.keys().cloned().collect::<Vec<_>>());
    let info = crate::cli::json(&cli.run(&["info", &format!("{remote}site/index.html")]).await);
    assert_eq!(info["content_type"], "text/html", "guessed from the extension");

    // Down (the folder named without its slash): the same bytes under the same names.
    let out = cli.run(&["cp", "-r", &format!("s3://{b}/tree"), down.to_str().unwrap()]).await;
    assert_eq!(lines(&out).len(), tree.len());
    assert_eq!(files(&down), tree);

    // Nothing changed: sync copies nothing either way.
    assert_eq!(lines(&cli.run(&["sync", src.to_str().unwrap(), &remote]).await), Vec::<String>::new());
    assert_eq!(lines(&cli.run(&["sync", &remote, down.to_str().unwrap()]).await), Vec::<String>::new());

    // A changed file, a new one, a deleted one: --dryrun says so and changes nothing.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    std::fs::write(src.join("a/b/c/deep.txt"), b"deeper still\n").unwrap();
    std::fs::create_dir_all(src.join("new")).unwrap();
    std::fs::write(src.join("new/file.txt"), b"fresh").unwrap();
    std::fs::remove_file(src.join("empty.bin")).unwrap();
    let src_s = src.to_str().unwrap();
    let dry = lines(&cli.run(&["sync", src_s, &remote, "--delete", "--dryrun"]).await);
    assert_eq!(
        dry,
        [
            format!("(dryrun) delete: {remote}empty.bin"),
            format!("(dryrun) upload: {src_s}/a/b/c/deep.txt to {remote}a/b/c/deep.txt"),
            format!("(dryrun) upload: {src_s}/new/file.txt to {remote}new/file.txt"),
        ]
    );
    assert!(keys_below(&cli, &remote).await.contains(&"empty.bin".to_string()), "a dry run deletes nothing");
    let synced = lines(&cli.run(&["sync", src_s, &remote, "--delete"]).await);
    assert_eq!(synced, dry.iter().map(|l| l.trim_start_matches("(dryrun) ").to_string()).collect::<Vec<_>>());
    let now = files(&src);
    assert_eq!(keys_below(&cli, &remote).await, now.keys().cloned().collect::<Vec<_>>());

    // And down again, with --delete: the local copy is the source's.
    let down_s = down.to_str().unwrap();
    let synced = lines(&cli.run(&["sync", &remote, down_s, "--delete"]).await);
    assert_eq!(
        synced,
        [
            format!("delete: {down_s}/empty.bin"),
            format!("download: {remote}a/b/c/deep.txt to {down_s}/a/b/c/deep.txt"),
            format!("download: {remote}new/file.txt to {down_s}/new/file.txt"),
        ]
    );
    assert_eq!(files(&down), now);
    assert_eq!(lines(&cli.run(&["sync", &remote, down_s]).await), Vec::<String>::new(), "downloads keep their object's time");

    // S3 to S3: a recursive copy, then a sync finds nothing to do.
    let copy = format!("s3://{b}/copy/");
    assert_eq!(lines(&cli.run(&["cp", "-r", &remote, &copy]).await).len(), now.len());
    assert_eq!(keys_below(&cli, &copy).await, now.keys().cloned().collect::<Vec<_>>());
    assert_eq!(lines(&cli.run(&["sync", &remote, &copy]).await), Vec::<String>::new());

    // Filters: the last that matches decides.
    let only = format!("s3://{b}/only/");
    cli.run(&["cp", "-r", src_s, &only, "--exclude", "*", "--include", "*.txt", "--exclude", "new/*"]).await;
    assert_eq!(keys_below(&cli, &only).await, ["a/b/c/deep.txt", "ü/日本/naïve café.txt"]);
    let out = cli.run(&["sync", src_s, &only, "--exclude", "*.tmp", "--exclude", "*.bin", "--delete", "--dryrun"]).await;
    assert_eq!(
        lines(&out),
        [format!("(dryrun) upload: {src_s}/new/file.txt to {only}new/file.txt"), format!("(dryrun) upload: {src_s}/site/index.html to {only}site/index.html")]
    );

    // rm --recursive: everything below the folder, and nothing beside it.
    let removed = lines(&cli.run(&["rm", "--recursive", &format!("s3://{b}/only")]).await);
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert!(keys_below(&cli, &only).await.is_empty());
    assert_eq!(keys_below(&cli, &copy).await.len(), now.len());

    // mv --recursive: the copies arrive and the sources go.
    let moved = work.path().join("moved");
    assert_eq!(lines(&cli.run(&["mv", "-r", &copy, moved.to_str().unwrap()]).await).len(), now.len());
    assert_eq!(files(&moved), now);
    assert!(keys_below(&cli, &copy).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_reads_like_aws_s3_ls() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let t = Target::new("cli-ls").await;
    let cli = Cli::new(&t);
    let b = &t.bucket;
    let work = tempfile::tempdir().unwrap();
    make_tree(work.path());
    assert_eq!(code(&cli.run(&["cp", "-r", "-q", work.path().to_str().unwrap(), &format!("s3://{b}/")]).await), 0);

    let out = stdout(&cli.run(&["ls", &format!("s3://{b}/")]).await);
    let shown: Vec<&str> = out.lines().collect();
    assert_eq!(shown.len(), 5, "{out}");
    for folder in ["a/", "site/", "ü/"] {
        assert!(shown.contains(&format!("{:>30} {folder}", "PRE").as_str()), "{folder} in\n{out}");
    }
    let big = shown.iter().find(|l| l.ends_with(" big.bin")).unwrap();
    // `YYYY-MM-DD HH:MM:SS`, then the size right-aligned in 10 columns.
    assert_eq!((big.len(), &big[4..5], &big[13..14], &big[19..31]), ("2026-01-01 00:00:00    8392705 big.bin".len(), "-", ":", "    8392705 "), "{big}");
    let folder = stdout(&cli.run(&["ls", &format!("s3://{b}/a/b/")]).await);
    assert_eq!(folder, format!("{:>30} c/\n", "PRE"));
    let out = stdout(&cli.run(&["ls", "--recursive", "--human-readable", "--summarize", &format!("s3://{b}/a/")]).await);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with("   10 Bytes a/b/c/deep.txt") && lines[1].ends_with("    7 Bytes a/notes.tmp"), "{out}");
    assert_eq!(&lines[2..], ["", "Total Objects: 2", "   Total Size: 17 Bytes"], "{out}");
    let human = stdout(&cli.run(&["ls", "-r", "--human-readable", &format!("s3://{b}/big")]).await);
    assert!(human.contains("   8.0 MiB big.bin"), "{human}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mb_and_rb_make_and_remove_buckets() {
    if common::skip_on_memory("in memory every bucket exists") {
        return;
    }
    let t = Target::new("cli-buckets").await;
    let cli = Cli::new(&t);
    let bucket = common::unique_bucket(&t, "cli");
    let out = cli.run(&["mb", &format!("s3://{bucket}")]).await;
    if code(&out) != 0 && !t.is_embedded() && String::from_utf8_lossy(&out.stderr).contains("access denied") {
        eprintln!("skipped: this server's key may not create buckets");
        return;
    }
    assert_eq!((code(&out), stdout(&out)), (0, format!("make_bucket: {bucket}\n")), "{}", String::from_utf8_lossy(&out.stderr));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"x").unwrap();
    assert_eq!(code(&cli.run(&["cp", file.path().to_str().unwrap(), &format!("s3://{bucket}/k")]).await), 0);
    let out = cli.run(&["rb", &format!("s3://{bucket}")]).await;
    assert_eq!(code(&out), 1);
    assert!(one_line_error(&out).contains("BucketNotEmpty"));
    let out = cli.run(&["rb", "--force", &format!("s3://{bucket}")]).await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).ends_with(&format!("remove_bucket: {bucket}\n")), "{}", stdout(&out));
    let out = cli.run(&["ls", &format!("s3://{bucket}/")]).await;
    assert_eq!(code(&out), 1);
    assert!(one_line_error(&out).contains("NoSuchBucket"), "the bucket is gone");
    let out = cli.run(&["rb", &format!("s3://{bucket}/key")]).await;
    assert_eq!(code(&out), 2, "rb takes a bucket, not a key");
}

/// Ctrl-C during recursive copies, up and down: uploads in flight are aborted (none stays
/// pending; every key there is a whole file) and downloads leave no partial file.
#[tokio::test(flavor = "multi_thread")]
async fn interrupting_a_recursive_copy_leaves_no_pending_upload_and_no_partial_file() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let t = Target::new("cli-tree-interrupt").await;
    let cli = Cli::new(&t);
    let b = &t.bucket;
    let mut s = t.store("").await;
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..4 {
        std::fs::write(src.join(format!("f{i}.bin")), common::bytes(20 << 20, i)).unwrap();
    }
    let slow = common::slow_proxy(&t.endpoint, 4 << 20).await;

    let running = Running::spawn(cli.command(&["--endpoint", &slow, "cp", "-r", "--jobs", "2", src.to_str().unwrap(), &format!("s3://{b}/up/")]));
    until("the multipart uploads to begin", || async { !common::pending_uploads(&t, &mut t.store("").await).await.is_empty() }).await;
    signal(running.child.id(), "INT");
    let (status, _, err) = running.finish().await;
    assert_eq!(status, 130, "{err}");
    assert!(err.lines().last().unwrap_or_default().starts_with("storage-host: interrupted (SIGINT)"), "{err}");
    common::assert_no_pending_uploads(&t, &mut s).await;
    for file in s.list("up/", None).await.unwrap() {
        assert_eq!(file.size, 20 << 20, "{} is whole or absent", file.key);
    }

    // Down: the files are stored, and the copy is stopped partway.
    assert_eq!(code(&cli.run(&["cp", "-r", "-q", src.to_str().unwrap(), &format!("s3://{b}/down/")]).await), 0);
    let dest = work.path().join("dest");
    let running = Running::spawn(cli.command(&["--endpoint", &slow, "cp", "-r", "--jobs", "2", &format!("s3://{b}/down/"), dest.to_str().unwrap()]));
    let started = || files_if_any(&dest).values().any(|len| *len > 0);
    until("the downloads to be under way", || async { started() }).await;
    signal(running.child.id(), "INT");
    let (status, _, err) = running.finish().await;
    assert_eq!(status, 130, "{err}");
    for (name, len) in files_if_any(&dest) {
        assert!(!name.ends_with(".part"), "a partial file was left: {name}");
        assert_eq!(len, 20 << 20, "{name} is whole or absent");
    }
}

/// Names and sizes of the files below `root` (none if it doesn't exist).
fn files_if_any(root: &Path) -> BTreeMap<String, u64> {
    match root.exists() {
        true => files(root).into_iter().map(|(k, v)| (k, v.len() as u64)).collect(),
        false => BTreeMap::new(),
    }
}

/// Runs `cmd` with its stderr on a new pseudo-terminal (120 columns): its exit code, stdout
/// and everything the terminal was sent.
async fn on_terminal(mut cmd: Command, stdin: Option<Vec<u8>>) -> (i32, String, String) {
    use std::io::{Read as _, Write as _};
    use std::os::fd::{FromRawFd as _, OwnedFd};
    let (mut leader, mut follower) = (0, 0);
    let size = libc::winsize { ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty writes two new descriptors, which are then owned here.
    let opened = unsafe { libc::openpty(&mut leader, &mut follower, std::ptr::null_mut(), std::ptr::null(), &size) };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    let (leader, follower) = unsafe { (std::fs::File::from(OwnedFd::from_raw_fd(leader)), OwnedFd::from_raw_fd(follower)) };
    // indicatif draws nothing on a terminal without TERM (or `dumb`), as it should.
    cmd.env("TERM", "xterm-256color").stderr(Stdio::from(follower)).stdout(Stdio::piped()).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().unwrap();
    // The parent's copy of the follower goes with `cmd`: the terminal ends when the child does.
    drop(cmd);
    let reader = std::thread::spawn(move || {
        let (mut leader, mut seen) = (leader, Vec::new());
        let mut buf = [0u8; 65536];
        // EIO once every follower descriptor is closed.
        while let Ok(n) = leader.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    if let Some(bytes) = stdin {
        let mut input = child.stdin.take().unwrap();
        std::thread::spawn(move || input.write_all(&bytes));
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let seen = tokio::task::spawn_blocking(move || reader.join().unwrap()).await.unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), seen)
}

/// What a person sees on a terminal: a bar with bytes, total, percent, rate and ETA for
/// `put` and `get`, a spinner with bytes and rate for stdin, an overall bar for a recursive
/// copy; and nothing with `--quiet` or when stderr is not a terminal.
#[tokio::test(flavor = "multi_thread")]
async fn progress_bars_show_on_a_terminal_only() {
    if common::skip_on_memory("the CLI is an S3 tool: it runs against the embedded S3 server") {
        return;
    }
    let t = Target::new("cli-progress").await;
    let cli = Cli::new(&t);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("big.bin");
    std::fs::write(&file, common::bytes(48 << 20, 5)).unwrap();
    // Slow enough for several frames.
    let slow = common::slow_proxy(&t.endpoint, 48 << 20).await;
    let path = file.to_str().unwrap();

    let (status, out, seen) = on_terminal(cli.command(&["--endpoint", &slow, "put", "big.bin", path]), None).await;
    assert_eq!(status, 0, "{seen}");
    assert!(out.contains("\"size\":50331648"), "the JSON result stays on stdout: {out}");
    for part in ["big.bin", "/48.00 MiB", "%", "MiB/s", "ETA"] {
        assert!(seen.contains(part), "{part:?} not on the terminal: {seen:?}");
    }
    let percents: Vec<u32> = seen.split('%').filter_map(|before| before.rsplit(' ').next()?.parse().ok()).collect();
    assert!(percents.iter().any(|p| (1..100).contains(p)), "the bar moves as the bytes go: {percents:?}");
    assert!(
        seen.ends_with("\u{1b}[2K") || seen.trim_end().ends_with("\u{1b}[2K"),
        "the bar is cleared at the end: {:?}",
        &seen[seen.len().saturating_sub(80)..]
    );

    // A download comes in `max-pool-connections` ranges side by side, and the bar moves with
    // the first of them: slower per connection, so that it takes about a second (frames
    // are drawn at most 20 times a second).
    let slower = common::slow_proxy(&t.endpoint, 8 << 20).await;
    let got = work.path().join("got.bin");
    let (status, _, seen) = on_terminal(cli.command(&["--endpoint", &slower, "get", "big.bin", got.to_str().unwrap()]), None).await;
    assert_eq!(status, 0, "{seen}");
    for part in ["/48.00 MiB", "%", "MiB/s", "ETA"] {
        assert!(seen.contains(part), "{part:?} not on the terminal for get: {seen:?}");
    }
    assert_eq!(std::fs::metadata(&got).unwrap().len(), 48 << 20);

    let (status, _, seen) = on_terminal(cli.command(&["--endpoint", &slow, "put", "piped.bin", "-"]), Some(common::bytes(24 << 20, 6))).await;
    assert_eq!(status, 0, "{seen}");
    assert!(seen.contains("stdin") && seen.contains("MiB/s") && !seen.contains("ETA"), "a spinner with bytes and rate: {seen:?}");

    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    for (i, name) in ["one.bin", "two.bin", "sub/three.bin"].iter().enumerate() {
        std::fs::write(tree.join(name), common::bytes(16 << 20, i as u64)).unwrap();
    }
    let dest = format!("s3://{}/tree/", t.bucket);
    let (status, out, seen) = on_terminal(cli.command(&["--endpoint", &slow, "cp", "-r", "--jobs", "2", tree.to_str().unwrap(), &dest]), None).await;
    assert_eq!(status, 0, "{seen}");
    assert_eq!(out.lines().count(), 3, "a line per file on stdout: {out}");
    for part in ["copy 0/3 files", "/3 files", "/48.00 MiB", "/16.00 MiB", "sub/three.bin"] {
        assert!(seen.contains(part), "{part:?} not on the terminal for cp -r: {seen:?}");
    }

    let (status, _, seen) = on_terminal(cli.command(&["--endpoint", &slow, "--quiet", "put", "quiet.bin", path]), None).await;
    assert_eq!((status, seen.as_str()), (0, ""), "--quiet draws nothing");
    let out = cli.run(&["put", "piped-again.bin", path]).await;
    assert_eq!((code(&out), out.stderr.as_slice()), (0, &b""[..]), "stderr not a terminal: nothing drawn");
}

#[tokio::test(flavor = "multi_thread")]
async fn shell_completions_come_from_clap() {
    let out = Command::new(env!("CARGO_BIN_EXE_storage-host")).args(["completions", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("_storage-host()") || script.contains("_storage__host()"), "{}", &script[..200.min(script.len())]);
    for word in ["sync", "--recursive", "--endpoint-url", "--exclude"] {
        assert!(script.contains(word), "{word} in the bash completions");
    }
    for shell in ["zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_storage-host")).args(["completions", shell]).output().unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("sync"), "{shell}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_storage-host")).args(["url", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("GET") && help.contains("PUT"), "url says it presigns GET and PUT: {help}");
    let (own, global) = (help.find("--expires").unwrap(), help.find("--endpoint").unwrap());
    assert!(own < global, "a command's own options come before the global ones: {help}");
}
