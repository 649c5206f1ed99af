//! Conditional writes (`if-absent`, `if-match`): whether the server honours them (probed
//! once per store), and what a refused condition means for the caller's key.

use std::time::SystemTime;

use crate::bindings::exports::wasm_storages::storage::types::WriteCondition;
use crate::client::{call, drain};
use crate::config::Settings;
use crate::error::Error;
use crate::keys;
use crate::request;
use crate::sys::time;

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

/// Before a store's first conditional write: does the server honour conditions? A server
/// that ignores `If-None-Match` would silently overwrite, so it is asked once, with a probe
/// object under the store's prefix: written if absent (must succeed), written if absent
/// again (must be refused), written if it matches a wrong ETag (must be refused), deleted.
/// Each kind of condition is judged on its own.
pub fn ensure_honoured(settings: &Settings, condition: Option<&WriteCondition>) -> Result<(), Error> {
    let Some(condition) = condition else { return Ok(()) };
    let (if_absent, if_match) = match settings.conditions_honoured.get() {
        Some(known) => known,
        None => {
            let nonce = time::seed() ^ SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            let probe = keys::full_key(&settings.prefix, &format!(".wasm-storages-probe-{nonce:016x}"))?;
            // Whether the write was refused with 412.
            let refused = |condition: WriteCondition| {
                let req = request::put_object(settings, &probe, None, &[], Some(&condition))?;
                match call(settings, &req, Some(b"probe"), None) {
                    Ok(resp) => {
                        drain(resp);
                        Ok(())
                    }
                    .map(|()| false),
                    Err(Error::Service(s)) if s.status == 412 => Ok(true),
                    Err(e) => Err(e),
                }
            };
            let result =
                refused(WriteCondition::IfAbsent).and_then(|_| Ok((refused(WriteCondition::IfAbsent)?, refused(WriteCondition::IfMatch("0".repeat(32)))?)));
            let _ = call(settings, &request::delete_object(settings, &probe), None, None).map(drain);
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
