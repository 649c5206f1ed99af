//! Conditional writes (`if-absent`, `if-match`): whether the server honours them (probed
//! once per store), and what a refused condition means for the caller's key. Conditional
//! reads (HTTP's `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`):
//! what the server's refusal means, and the same conditions judged again on its reply.

use std::time::SystemTime;

use crate::client::{call, drain};
use crate::config::Settings;
use crate::error::Error;
use crate::keys;
use crate::precondition::{self, Asked, Verdict};
use crate::request;
use crate::sys::time;
use crate::types::{PutOptions, ReadConditions, StoredFile, WriteCondition};

/// What a refused write condition means for `key`: S3 answers 412 for both kinds, and
/// 404 to `If-Match` when nothing is stored.
pub fn refused(e: Error, condition: Option<&WriteCondition>, key: &str) -> Error {
    match (condition, &e) {
        (Some(WriteCondition::IfAbsent), Error::Service(s)) if s.status == 412 => Error::AlreadyExists(key.to_string()),
        (Some(WriteCondition::IfMatch(_)), Error::Service(s)) if s.status == 412 => Error::PreconditionFailed(key.to_string()),
        (Some(WriteCondition::IfMatch(_)), Error::NotFound(_)) => Error::PreconditionFailed(key.to_string()),
        _ => e,
    }
}

/// What a read's refused condition means for `key`: 412 and 304 (S3 sends no body with 304,
/// nor with any reply to a HEAD).
pub fn read_refused(e: Error, key: &str) -> Error {
    match &e {
        Error::Service(s) if s.status == 412 => Error::PreconditionFailed(key.to_string()),
        Error::Service(s) if s.status == 304 => Error::NotModified(key.to_string()),
        _ => e,
    }
}

/// Whether `conditions` hold for `file`, what a 200 or 206 reply says of the object. The
/// server judged them already; a server that ignores them (s3s-fs does) answers anyway, and
/// then this is the judge: the caller never gets bytes its conditions exclude.
pub fn read_allowed(conditions: &ReadConditions, file: &StoredFile) -> Result<(), Error> {
    let asked = Asked {
        if_match: conditions.if_match.as_deref(),
        if_none_match: conditions.if_none_match.as_deref(),
        if_modified_since: conditions.if_modified_since.map(|d| d.seconds),
        if_unmodified_since: conditions.if_unmodified_since.map(|d| d.seconds),
    };
    match precondition::judge(&asked, file.etag.as_deref(), file.last_modified.map(|d| d.seconds)) {
        Verdict::Proceed => Ok(()),
        Verdict::PreconditionFailed => Err(Error::PreconditionFailed(file.key.clone())),
        Verdict::NotModified => Err(Error::NotModified(file.key.clone())),
    }
}

/// Before a store's first conditional write: does the server honour conditions? A server
/// that ignores `If-None-Match` would silently overwrite, so it is asked once, with a probe
/// object under the store's prefix: written if absent (must succeed), written if absent
/// again (must be refused), written if it matches a wrong ETag (must be refused), deleted.
/// Each kind of condition is judged on its own.
pub async fn ensure_honoured(settings: &Settings, condition: Option<&WriteCondition>) -> Result<(), Error> {
    let Some(condition) = condition else { return Ok(()) };
    let (if_absent, if_match) = match settings.conditions_honoured.get() {
        Some(known) => known,
        None => {
            let nonce = time::seed() ^ SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            let probe = keys::full_key(&settings.prefix, &format!(".wasm-storages-probe-{nonce:016x}"))?;
            // Whether the write was refused with 412.
            let refused = async |condition: WriteCondition| {
                let req = request::put_object(settings, &probe, &PutOptions { condition: Some(condition), ..Default::default() })?;
                match call(settings, &req, Some(b"probe"), None).await {
                    Ok(resp) => {
                        drain(resp).await;
                        Ok(false)
                    }
                    Err(Error::Service(s)) if s.status == 412 => Ok(true),
                    Err(e) => Err(e),
                }
            };
            let result = async {
                refused(WriteCondition::IfAbsent).await?;
                Ok::<_, Error>((refused(WriteCondition::IfAbsent).await?, refused(WriteCondition::IfMatch("0".repeat(32))).await?))
            }
            .await;
            if let Ok(resp) = call(settings, &request::delete_object(settings, &probe), None, None).await {
                drain(resp).await;
            }
            let known = result?;
            settings.conditions_honoured.set(Some(known));
            known
        }
    };
    let (honoured, header) = match condition {
        WriteCondition::IfAbsent => (if_absent, "If-None-Match"),
        WriteCondition::IfMatch(_) => (if_match, "If-Match"),
    };
    match honoured {
        true => Ok(()),
        false => Err(Error::Unsupported(format!("the server ignores {header}, so this conditional write can't be trusted there; nothing was written"))),
    }
}
