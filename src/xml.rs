//! Parsing the S3 XML responses we use: ListObjectsV2, errors, CopyObject.
//!
//! One small walker feeds each leaf element's text, with its path of element names, to a
//! closure. Namespaces are ignored (local names only) and unknown elements skipped, so
//! servers that add fields or omit the namespace parse the same.

use crate::quote::Q;
use quick_xml::Reader;
use quick_xml::events::Event;

/// Deeper than any S3 response; refusing more bounds the work a hostile reply can cause.
const MAX_DEPTH: usize = 32;

#[derive(Debug, PartialEq)]
pub struct XmlError(pub String);

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unreadable XML from the server: {}", self.0)
    }
}

enum Node<'a> {
    /// An element's text.
    Text(&'a [String], &'a str),
    /// An element closed.
    End(&'a [String]),
}

/// Calls `on` with each element's text and each element's end, the path being the local
/// names from the root down.
fn walk(xml: &str, mut on: impl FnMut(Node)) -> Result<(), XmlError> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        // Where, not quick-xml's own text: its messages format with `Debug` (Unicode tables).
        let event = reader.read_event().map_err(|_| XmlError(format!("malformed XML at byte {}", reader.error_position())))?;
        match event {
            Event::Start(e) => {
                if path.len() >= MAX_DEPTH {
                    return Err(XmlError(format!("nested deeper than {MAX_DEPTH} elements")));
                }
                let name = e.local_name().into_inner();
                path.push(name.to_string());
                text.clear();
            }
            Event::End(_) => {
                if !text.is_empty() {
                    on(Node::Text(&path, &text));
                    text.clear();
                }
                on(Node::End(&path));
                path.pop();
            }
            Event::Empty(e) => {
                let name = e.local_name().into_inner();
                path.push(name.to_string());
                on(Node::End(&path));
                path.pop();
            }
            Event::Text(e) => text.push_str(&e.xml10_content()),
            Event::CData(e) => text.push_str(&e),
            Event::GeneralRef(r) => {
                match r.resolve_char_ref().map_err(|_| XmlError(format!("invalid character reference at byte {}", reader.buffer_position())))? {
                    Some(c) => text.push(c),
                    None => text.push_str(match &*r {
                        "lt" => "<",
                        "gt" => ">",
                        "amp" => "&",
                        "apos" => "'",
                        "quot" => "\"",
                        other => return Err(XmlError(format!("unknown entity &{other};"))),
                    }),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if path.is_empty() { Ok(()) } else { Err(XmlError("document ends inside an element".into())) }
}

fn is(path: &[String], names: &[&str]) -> bool {
    path.len() == names.len() && path.iter().zip(names).all(|(a, b)| a == b)
}

/// An `<Error>` document. `Ok(None)` when the document is some other XML.
#[derive(Debug, Default, PartialEq)]
pub struct S3Error {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

/// Whether the document's root element is `<Error>`: read up to the first element only.
pub fn is_error_document(xml: &str) -> bool {
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => return e.local_name().into_inner() == "Error",
            Ok(Event::Eof) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

pub fn parse_error(xml: &str) -> Result<Option<S3Error>, XmlError> {
    let mut err = S3Error::default();
    let mut root = None;
    walk(xml, |node| match node {
        Node::Text(path, text) => {
            if path.len() == 2 && path[0] == "Error" {
                match path[1].as_str() {
                    "Code" => err.code = text.to_string(),
                    "Message" => err.message = text.to_string(),
                    "RequestId" => err.request_id = Some(text.to_string()),
                    _ => {}
                }
            }
        }
        Node::End(path) => {
            if path.len() == 1 {
                root = Some(path[0].clone());
            }
        }
    })?;
    Ok((root.as_deref() == Some("Error")).then_some(err))
}

#[derive(Debug, Default, PartialEq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// In a ListObjectVersions page.
    pub version: Option<ListedVersion>,
}

#[derive(Debug, Default, PartialEq)]
pub struct ListedVersion {
    pub id: String,
    pub is_latest: bool,
    pub is_delete_marker: bool,
}

#[derive(Debug, Default, PartialEq)]
pub struct ListPage {
    pub objects: Vec<ListedObject>,
    /// The common prefixes (full), with a delimiter.
    pub prefixes: Vec<String>,
    pub is_truncated: bool,
    /// ListObjectsV2's NextContinuationToken; for ListObjectVersions, NextKeyMarker and
    /// NextVersionIdMarker joined by a NUL (no key holds one), as one place to go on from.
    pub next_continuation_token: Option<String>,
}

/// A ListObjectsV2 result (requested without `encoding-type`: keys are plain XML text).
pub fn parse_list(xml: &str) -> Result<ListPage, XmlError> {
    parse_page(xml, "ListBucketResult")
}

/// A ListObjectVersions result: its versions and delete markers in the order sent.
pub fn parse_versions(xml: &str) -> Result<ListPage, XmlError> {
    parse_page(xml, "ListVersionsResult")
}

fn parse_page(xml: &str, root: &str) -> Result<ListPage, XmlError> {
    let mut page = ListPage::default();
    let mut current = ListedObject::default();
    let mut bad: Option<XmlError> = None;
    let mut root_ok = false;
    let (mut key_marker, mut version_marker) = (None, None);
    let versions = root == "ListVersionsResult";
    let entry = |name: &str| if versions { name == "Version" || name == "DeleteMarker" } else { name == "Contents" };
    walk(xml, |node| match node {
        Node::Text(path, text) if path.first().map(String::as_str) == Some(root) => match (&path[1..], path.len()) {
            ([field], _) if field == "IsTruncated" => page.is_truncated = text == "true",
            ([field], _) if field == "NextContinuationToken" && !versions => page.next_continuation_token = Some(text.to_string()),
            ([field], _) if field == "NextKeyMarker" && versions => key_marker = Some(text.to_string()),
            ([field], _) if field == "NextVersionIdMarker" && versions => version_marker = Some(text.to_string()),
            ([group, field], _) if group == "CommonPrefixes" && field == "Prefix" => page.prefixes.push(text.to_string()),
            ([group, field], _) if entry(group) => match field.as_str() {
                "Key" => current.key = text.to_string(),
                "Size" => match text.parse() {
                    Ok(size) => current.size = size,
                    Err(_) => bad = Some(XmlError(format!("object size {text} is not a number", text = Q(&text)))),
                },
                "ETag" => current.etag = Some(text.to_string()),
                "LastModified" => current.last_modified = Some(text.to_string()),
                "VersionId" if versions => current.version.get_or_insert_default().id = text.to_string(),
                "IsLatest" if versions => current.version.get_or_insert_default().is_latest = text == "true",
                _ => {}
            },
            _ => {}
        },
        Node::Text(..) => {}
        Node::End(path) => {
            if path.len() == 2 && path[0] == root && entry(&path[1]) {
                if versions {
                    let version = current.version.get_or_insert_default();
                    version.is_delete_marker = path[1] == "DeleteMarker";
                }
                page.objects.push(std::mem::take(&mut current));
            } else if is(path, &[root]) {
                root_ok = true;
            }
        }
    })?;
    if let Some(e) = bad {
        return Err(e);
    }
    if !root_ok {
        return Err(XmlError(format!("expected a {root} document")));
    }
    if page.objects.iter().any(|o| o.key.is_empty()) {
        return Err(XmlError("a listed object has no key".into()));
    }
    if page.objects.iter().any(|o| o.version.as_ref().is_some_and(|v| v.id.is_empty())) {
        return Err(XmlError("a listed version has no VersionId".into()));
    }
    if versions && page.is_truncated {
        // Where to go on from: the key marker, and within it the version marker (if any).
        page.next_continuation_token = key_marker.map(|k| format!("{k}\0{}", version_marker.unwrap_or_default()));
    }
    if page.is_truncated && page.next_continuation_token.is_none() {
        return Err(XmlError("listing is truncated but says nowhere to go on from".into()));
    }
    Ok(page)
}

/// The text of the element at `path` (local names from the root), if any.
fn leaf(xml: &str, want: &[&str]) -> Result<Option<String>, XmlError> {
    let mut found = None;
    walk(xml, |node| {
        if let Node::Text(path, text) = node
            && found.is_none()
            && is(path, want)
        {
            found = Some(text.to_string());
        }
    })?;
    Ok(found)
}

/// GetObjectTagging's tags, in order.
pub fn parse_tagging(xml: &str) -> Result<Vec<(String, String)>, XmlError> {
    let mut tags = Vec::new();
    let mut current = (String::new(), String::new());
    let mut root_ok = false;
    walk(xml, |node| match node {
        Node::Text(path, text) if path.len() == 4 && path[0] == "Tagging" && path[1] == "TagSet" && path[2] == "Tag" => match path[3].as_str() {
            "Key" => current.0 = text.to_string(),
            "Value" => current.1 = text.to_string(),
            _ => {}
        },
        Node::Text(..) => {}
        Node::End(path) if is(path, &["Tagging", "TagSet", "Tag"]) => tags.push(std::mem::take(&mut current)),
        Node::End(path) => root_ok |= is(path, &["Tagging"]),
    })?;
    if !root_ok {
        return Err(XmlError("expected a Tagging document".into()));
    }
    Ok(tags)
}

/// CopyObject's result: the new object's ETag and LastModified.
pub fn parse_copy_result(xml: &str) -> Result<(Option<String>, Option<String>), XmlError> {
    Ok((leaf(xml, &["CopyObjectResult", "ETag"])?, leaf(xml, &["CopyObjectResult", "LastModified"])?))
}

/// UploadPartCopy's result: the part's ETag.
pub fn parse_copy_part(xml: &str) -> Result<String, XmlError> {
    leaf(xml, &["CopyPartResult", "ETag"])?.ok_or_else(|| XmlError("UploadPartCopy answered without a CopyPartResult ETag".into()))
}

/// CreateMultipartUpload's `UploadId`.
pub fn parse_upload_id(xml: &str) -> Result<String, XmlError> {
    leaf(xml, &["InitiateMultipartUploadResult", "UploadId"])?
        .filter(|id| !id.is_empty())
        .ok_or_else(|| XmlError("CreateMultipartUpload answered without an UploadId".into()))
}

/// The temporary credentials in an STS `AssumeRoleWithWebIdentity` reply.
#[derive(Default)]
pub struct StsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub expiration: Option<String>,
}

/// An STS reply: the credentials, or STS's `<ErrorResponse>`.
pub fn parse_sts_credentials(xml: &str) -> Result<Result<StsCredentials, S3Error>, XmlError> {
    let mut creds = StsCredentials::default();
    let mut error: Option<S3Error> = None;
    walk(xml, |node| {
        let Node::Text(path, text) = node else { return };
        match path.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            // AssumeRoleResponse/AssumeRoleResult, AssumeRoleWithWebIdentity's likewise.
            [response, result, "Credentials", field] if response.strip_suffix("Response") == result.strip_suffix("Result") => match *field {
                "AccessKeyId" => creds.access_key_id = text.to_string(),
                "SecretAccessKey" => creds.secret_access_key = text.to_string(),
                "SessionToken" => creds.session_token = Some(text.to_string()),
                "Expiration" => creds.expiration = Some(text.to_string()),
                _ => {}
            },
            ["ErrorResponse", "Error", field] => {
                let e = error.get_or_insert_with(S3Error::default);
                match *field {
                    "Code" => e.code = text.to_string(),
                    "Message" => e.message = text.to_string(),
                    _ => {}
                }
            }
            _ => {}
        }
    })?;
    match error {
        Some(e) => Ok(Err(e)),
        None if creds.access_key_id.is_empty() || creds.secret_access_key.is_empty() => Err(XmlError("no credentials in the reply".into())),
        None => Ok(Ok(creds)),
    }
}

/// CompleteMultipartUpload's result: the object's ETag, if it says. S3 names the root
/// `CompleteMultipartUploadResult`; moto (and so LocalStack) `...Response`. (Its other
/// answer, an `<Error>` after the 200, is caught before: `client::call_read`.)
pub fn parse_complete(xml: &str) -> Result<Option<String>, XmlError> {
    match leaf(xml, &["CompleteMultipartUploadResult", "ETag"])? {
        Some(etag) => Ok(Some(etag)),
        None => leaf(xml, &["CompleteMultipartUploadResponse", "ETag"]),
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct Upload {
    pub key: String,
    pub upload_id: String,
    pub initiated: Option<String>,
}

#[derive(Debug, Default, PartialEq)]
pub struct UploadsPage {
    pub uploads: Vec<Upload>,
    /// The markers to continue from, when the listing is truncated.
    pub next: Option<(String, String)>,
}

/// The keys a DeleteObjects reply says were not deleted, with the service's code and
/// message; or the `<Error>` that answered the whole request.
pub fn parse_delete_result(xml: &str) -> Result<Result<Vec<(String, S3Error)>, S3Error>, XmlError> {
    if let Some(e) = parse_error(xml)? {
        return Ok(Err(e));
    }
    let mut failed: Vec<(String, S3Error)> = Vec::new();
    let mut current: Option<(String, S3Error)> = None;
    let mut root = None;
    walk(xml, |node| match node {
        Node::Text(path, text) if path.len() == 3 && path[0] == "DeleteResult" && path[1] == "Error" => {
            let entry = current.get_or_insert_with(Default::default);
            match path[2].as_str() {
                "Key" => entry.0 = text.to_string(),
                "Code" => entry.1.code = text.to_string(),
                "Message" => entry.1.message = text.to_string(),
                _ => {}
            }
        }
        Node::End(path) if path.len() == 2 && path[0] == "DeleteResult" && path[1] == "Error" => failed.extend(current.take()),
        Node::End(path) if path.len() == 1 => root = Some(path[0].clone()),
        _ => {}
    })?;
    match root.as_deref() {
        Some("DeleteResult") => Ok(Ok(failed)),
        _ => Err(XmlError("not a DeleteResult".into())),
    }
}

/// A ListMultipartUploads result.
pub fn parse_uploads(xml: &str) -> Result<UploadsPage, XmlError> {
    let mut page = UploadsPage::default();
    let mut current = Upload::default();
    let (mut truncated, mut next_key, mut next_id, mut root_ok) = (false, None, None, false);
    walk(xml, |node| match node {
        Node::Text(path, text) => match (path.len(), path.get(1).map(String::as_str), path.last().map(String::as_str)) {
            (2, Some("IsTruncated"), _) => truncated = text == "true",
            (2, Some("NextKeyMarker"), _) => next_key = Some(text.to_string()),
            (2, Some("NextUploadIdMarker"), _) => next_id = Some(text.to_string()),
            (3, Some("Upload"), Some("Key")) => current.key = text.to_string(),
            (3, Some("Upload"), Some("UploadId")) => current.upload_id = text.to_string(),
            (3, Some("Upload"), Some("Initiated")) => current.initiated = Some(text.to_string()),
            _ => {}
        },
        Node::End(path) => {
            if is(path, &["ListMultipartUploadsResult", "Upload"]) {
                page.uploads.push(std::mem::take(&mut current));
            } else if is(path, &["ListMultipartUploadsResult"]) {
                root_ok = true;
            }
        }
    })?;
    if !root_ok {
        return Err(XmlError("expected a ListMultipartUploadsResult document".into()));
    }
    if page.uploads.iter().any(|u| u.key.is_empty() || u.upload_id.is_empty()) {
        return Err(XmlError("a listed upload has no key or no upload id".into()));
    }
    if truncated {
        match (next_key, next_id) {
            (Some(k), Some(i)) => page.next = Some((k, i)),
            _ => return Err(XmlError("upload listing is truncated but has no next markers".into())),
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>p/a b+c</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>p/ü😀</Key><LastModified>2024-01-02T03:04:05Z</LastModified><ETag>"d"</ETag><Size>0</Size></Contents>
<NextContinuationToken>tok/=+</NextContinuationToken></ListBucketResult>"#;

    #[test]
    fn parses_a_listing() {
        let page = parse_list(LIST).unwrap();
        assert_eq!(page.objects.len(), 2);
        assert_eq!(
            page.objects[0],
            ListedObject {
                key: "p/a b+c".into(),
                size: 12,
                etag: Some("\"abc\"".into()),
                last_modified: Some("2024-01-02T03:04:05.000Z".into()),
                version: None
            }
        );
        assert_eq!(page.objects[1].key, "p/ü😀");
        assert!(page.is_truncated);
        assert_eq!(page.next_continuation_token.as_deref(), Some("tok/=+"));
    }

    #[test]
    fn keys_are_unescaped_and_percent_signs_kept() {
        let xml = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>100%25 &amp; &#x263A;</Key><Size>1</Size></Contents></ListBucketResult>";
        assert_eq!(parse_list(xml).unwrap().objects[0].key, "100%25 & ☺");
    }

    #[test]
    fn empty_listing() {
        let page = parse_list("<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>").unwrap();
        assert!(page.objects.is_empty() && !page.is_truncated);
    }

    #[test]
    fn malformed_listings_are_errors() {
        for xml in [
            "",
            "<ListBucketResult>",
            "<Other/>",
            "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
            "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
            "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
            "<ListBucketResult><Contents><Key>&bogus;</Key></Contents></ListBucketResult>",
            "<a></b>",
        ] {
            assert!(parse_list(xml).is_err(), "{xml:?}");
        }
        let deep = "<a>".repeat(1000) + &"</a>".repeat(1000);
        assert!(parse_list(&deep).unwrap_err().0.contains("deeper"));
    }

    #[test]
    fn parses_multipart_answers() {
        let init = r#"<?xml version="1.0"?><InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>abc/123</UploadId></InitiateMultipartUploadResult>"#;
        assert_eq!(parse_upload_id(init).unwrap(), "abc/123");
        assert!(parse_upload_id("<InitiateMultipartUploadResult/>").is_err());
        assert!(parse_upload_id("<Error><Code>X</Code></Error>").is_err());
        let done = "<CompleteMultipartUploadResult><Location>l</Location><ETag>&quot;e-3&quot;</ETag></CompleteMultipartUploadResult>";
        assert_eq!(parse_complete(done).unwrap().as_deref(), Some("\"e-3\""));
        // moto's root, with S3's namespace.
        let moto = r#"<?xml version="1.0" encoding="utf-8"?>
<CompleteMultipartUploadResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>http://b.s3.amazonaws.com/y.bin</Location><Bucket>b</Bucket><Key>y.bin</Key><ETag>"af5da9f45af7a300e3aded972f8ff687-1"</ETag></CompleteMultipartUploadResponse>"#;
        assert_eq!(parse_complete(moto).unwrap().as_deref(), Some("\"af5da9f45af7a300e3aded972f8ff687-1\""));
        assert_eq!(parse_complete("<Other><ETag>x</ETag></Other>").unwrap(), None);
        assert!(is_error_document("<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code></Error>"));
        assert!(!is_error_document(done) && !is_error_document("") && !is_error_document("not xml"));
    }

    #[test]
    fn parses_delete_results() {
        let xml = "<DeleteResult><Deleted><Key>gone</Key></Deleted><Error><Key>a&amp;b</Key><Code>AccessDenied</Code><Message>no</Message></Error><Error><Key>c</Key><Code>InternalError</Code><Message>later</Message></Error></DeleteResult>";
        let failed = parse_delete_result(xml).unwrap().unwrap();
        assert_eq!(failed.iter().map(|(k, e)| (k.as_str(), e.code.as_str())).collect::<Vec<_>>(), [("a&b", "AccessDenied"), ("c", "InternalError")]);
        assert!(parse_delete_result("<DeleteResult/>").unwrap().unwrap().is_empty());
        assert!(parse_delete_result("<Error><Code>SlowDown</Code></Error>").unwrap().is_err());
        assert!(parse_delete_result("<Other/>").is_err());
    }

    #[test]
    fn parses_sts_replies() {
        let ok = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s/ecret</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"#;
        let c = parse_sts_credentials(ok).unwrap().unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.as_str(), c.session_token.as_deref(), c.expiration.as_deref()),
            ("ASIA1", "s/ecret", Some("tok"), Some("2030-01-01T00:00:00Z"))
        );
        let refused = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>bad token</Message></Error></ErrorResponse>";
        let Ok(Err(e)) = parse_sts_credentials(refused) else { panic!("not an STS error") };
        assert_eq!((e.code.as_str(), e.message.as_str()), ("InvalidIdentityToken", "bad token"));
        assert!(parse_sts_credentials("<AssumeRoleWithWebIdentityResponse/>").is_err());
        assert!(parse_sts_credentials("<a><b>").is_err());
    }

    #[test]
    fn parses_upload_listings() {
        let xml = "<ListMultipartUploadsResult><Bucket>b</Bucket><IsTruncated>true</IsTruncated><NextKeyMarker>p/b</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker><Upload><Key>p/a &amp; b</Key><UploadId>u1</UploadId><Initiated>2024-01-02T03:04:05.000Z</Initiated></Upload><Upload><Key>p/b</Key><UploadId>u2</UploadId></Upload></ListMultipartUploadsResult>";
        let page = parse_uploads(xml).unwrap();
        assert_eq!(page.uploads.len(), 2);
        assert_eq!((page.uploads[0].key.as_str(), page.uploads[0].upload_id.as_str()), ("p/a & b", "u1"));
        assert_eq!(page.next, Some(("p/b".into(), "u2".into())));
        assert!(parse_uploads("<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>").is_err());
        assert!(parse_uploads("<ListBucketResult/>").is_err());
        assert!(parse_uploads("<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>").unwrap().uploads.is_empty());
    }

    #[test]
    fn parses_errors_and_ignores_other_documents() {
        let e =
            parse_error("<Error><Code>NoSuchKey</Code><Message>gone &amp; lost</Message><RequestId>R</RequestId><HostId>H</HostId></Error>").unwrap().unwrap();
        assert_eq!(e, S3Error { code: "NoSuchKey".into(), message: "gone & lost".into(), request_id: Some("R".into()) });
        assert_eq!(parse_error("<CopyObjectResult><ETag>x</ETag></CopyObjectResult>").unwrap(), None);
        assert!(parse_error("<Error><Code>InternalError</Code></Error>").unwrap().is_some());
    }

    #[test]
    fn versions_and_delete_markers_keep_their_order_and_markers() {
        let xml = r#"<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>true</IsTruncated>
<NextKeyMarker>p/b</NextKeyMarker><NextVersionIdMarker>v2</NextVersionIdMarker>
<DeleteMarker><Key>p/a</Key><VersionId>d1</VersionId><IsLatest>true</IsLatest><LastModified>2024-01-03T00:00:00.000Z</LastModified></DeleteMarker>
<Version><Key>p/a</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest><Size>3</Size><ETag>"e"</ETag></Version>
<CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes></ListVersionsResult>"#;
        let page = parse_versions(xml).unwrap();
        let got: Vec<_> = page.objects.iter().map(|o| (o.key.as_str(), o.version.as_ref().map(|v| (v.id.as_str(), v.is_latest, v.is_delete_marker)))).collect();
        assert_eq!(got, [("p/a", Some(("d1", true, true))), ("p/a", Some(("v1", false, false)))]);
        assert_eq!(page.objects[1].size, 3);
        assert_eq!(page.prefixes, ["p/d/"]);
        assert_eq!(page.next_continuation_token.as_deref(), Some("p/b\0v2"));
        // A list of objects is no list of versions, and a version needs an id.
        assert!(parse_versions("<ListBucketResult></ListBucketResult>").is_err());
        assert!(parse_versions("<ListVersionsResult><Version><Key>k</Key></Version></ListVersionsResult>").is_err());
        assert!(parse_versions("<ListVersionsResult><IsTruncated>true</IsTruncated></ListVersionsResult>").is_err());
    }

    #[test]
    fn tags_come_in_order() {
        let xml = r#"<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>team</Key><Value>a &amp; b</Value></Tag><Tag><Key>empty</Key><Value></Value></Tag></TagSet></Tagging>"#;
        assert_eq!(parse_tagging(xml).unwrap(), [("team".to_string(), "a & b".to_string()), ("empty".to_string(), String::new())]);
        assert!(parse_tagging("<Error><Code>NoSuchKey</Code></Error>").is_err());
    }
}
