//! A fuzz harness for every parser of untrusted input, runnable here on stable Rust (cargo
//! fuzz needs nightly): inputs are the seed corpus in `fuzz/corpus/`, mutated (bytes
//! flipped, inserted, deleted, segments repeated, truncated, markup characters spliced
//! in) by a seeded generator, plus random bytes. The property: every parser returns a value
//! or an error, never panics; keys that validate encode to what decodes back to them.
//!
//! `cargo test --lib fuzz` runs 3,000 inputs per target; for a long run:
//! `FUZZ_ITERATIONS=2000000 FUZZ_SEED=7 cargo test --release --lib fuzz -- --nocapture`.

use crate::credentials::json;
use crate::credentials::profile::{self, FileKind};
use crate::{keys, request, xml};

const CORPUS: &[(&str, &str)] = &[
    ("list.xml", include_str!("../fuzz/corpus/list.xml")),
    ("error.xml", include_str!("../fuzz/corpus/error.xml")),
    ("uploads.xml", include_str!("../fuzz/corpus/uploads.xml")),
    ("complete.xml", include_str!("../fuzz/corpus/complete.xml")),
    ("initiate.xml", include_str!("../fuzz/corpus/initiate.xml")),
    ("sts.xml", include_str!("../fuzz/corpus/sts.xml")),
    ("delete.xml", include_str!("../fuzz/corpus/delete.xml")),
    ("credentials.ini", include_str!("../fuzz/corpus/credentials.ini")),
    ("creds.json", include_str!("../fuzz/corpus/creds.json")),
    ("key.txt", include_str!("../fuzz/corpus/key.txt")),
    ("content-range.txt", include_str!("../fuzz/corpus/content-range.txt")),
    ("metadata.txt", include_str!("../fuzz/corpus/metadata.txt")),
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SPLICES: &[&[u8]] = &[
    b"<",
    b">",
    b"</",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#x110000;",
    b"<![CDATA[",
    b"<!--",
    b"<?",
    b"\"",
    b"\\u",
    b"\\ud800",
    b"[",
    b"]",
    b"=",
    b"#",
    b";",
    b"\n",
    b"\r\n",
    b" ",
    b"\0",
    b"\xff",
    b"\xc3",
    b"%",
    b"%2F",
    b"..",
    b"/",
    b"{",
    b"}",
    b":",
    b",",
    b"-",
    b"*",
    b"\xf0\x9f\x98\x80",
];

/// A mutation of `seed` (or, now and then, random bytes), as text.
fn mutate(rng: &mut Rng, seed: &str) -> String {
    let mut b = seed.as_bytes().to_vec();
    if rng.below(20) == 0 {
        return String::from_utf8_lossy(&(0..rng.below(300)).map(|_| rng.next() as u8).collect::<Vec<_>>()).into_owned();
    }
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] ^= 1 << rng.below(8);
            }
            1 => b.splice(at..at, SPLICES[rng.below(SPLICES.len())].iter().copied()).for_each(drop),
            2 if at < b.len() => {
                let end = (at + rng.below(40)).min(b.len());
                b.drain(at..end);
            }
            3 if at < b.len() => {
                let end = (at + rng.below(60)).min(b.len());
                let piece = b[at..end].to_vec();
                for _ in 0..1 + rng.below(50) {
                    b.splice(at..at, piece.iter().copied()).for_each(drop);
                }
            }
            4 => b.truncate(at),
            _ => b.insert(at.min(b.len()), rng.next() as u8),
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn run(target: &str, mut check: impl FnMut(&str)) {
    let iterations: usize = std::env::var("FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed);
    let mut rng = Rng(seed ^ target.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)) | 1);
    for (_, seed_text) in CORPUS {
        check(seed_text);
    }
    for _ in 0..iterations {
        let (_, base) = CORPUS[rng.below(CORPUS.len())];
        let input = mutate(&mut rng, base);
        check(&input);
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
fn fuzz_xml_parsers() {
    run("xml", |text| {
        let _ = xml::parse_list(text);
        let _ = xml::parse_error(text);
        let _ = xml::parse_uploads(text);
        let _ = xml::parse_complete(text);
        let _ = xml::parse_upload_id(text);
        let _ = xml::parse_sts_credentials(text);
        let _ = xml::parse_delete_result(text);
    });
}

#[test]
fn fuzz_keys_and_encoding() {
    run("keys", |text| {
        for prefix in ["", "tenant-a/"] {
            if let Ok(full) = keys::full_key(prefix, text) {
                let encoded = keys::encode_path(&full);
                let decoded = percent_encoding::percent_decode_str(&encoded).decode_utf8().expect("encoding keeps UTF-8");
                assert_eq!(decoded, full, "encode_path must round-trip");
                assert!(encoded.bytes().all(|b| b.is_ascii_graphic()), "{encoded:?}");
                assert_eq!(keys::listed(prefix, &full), Ok(Some(text)));
            }
            let _ = keys::full_list_prefix(prefix, text);
        }
        let q = keys::encode_query(text);
        assert_eq!(percent_encoding::percent_decode_str(&q).decode_utf8().unwrap(), text);
        let _ = request::parse_content_range(text);
        let _ = request::unsatisfied_range_size(text);
        let _ = request::decode_metadata_value(text);
        let _ = request::check_content_type(text);
    });
}

#[test]
fn fuzz_credentials_files_and_replies() {
    run("credentials", |text| {
        for kind in [FileKind::Credentials, FileKind::Config] {
            for name in ["default", "work"] {
                if let Err(message) = profile::parse(text, kind, name) {
                    assert!(message.starts_with("line "), "{message}");
                }
            }
        }
        if let Ok(members) = json::parse_flat_object(text) {
            // A parsed object, written back as JSON strings, parses to the same members.
            let again = format!("{{{}}}", members.iter().map(|(k, v)| format!("{}:{}", json_string(k), json_string(v))).collect::<Vec<_>>().join(","));
            assert_eq!(json::parse_flat_object(&again), Ok(members), "{again}");
        }
    });
}
