//! The store's bucket itself: create it, delete it (for wasi:blobstore's containers).

use crate::client::{Failed, counted, drain};
use crate::config::Settings;
use crate::error::Error;
use crate::request;

pub async fn create(settings: &Settings) -> Result<(), Error> {
    let (req, body) = request::create_bucket(settings);
    match counted(settings, &req, Some(body.as_bytes()).filter(|b| !b.is_empty()), None, async |resp| {
        drain(resp).await;
        Ok(())
    })
    .await
    {
        Ok(()) => Ok(()),
        // Ours already, on a retry: the attempt whose answer was lost made it.
        Err(Failed { error: Error::Service(e), attempts }) if attempts.retried && e.code == "BucketAlreadyOwnedByYou" => Ok(()),
        Err(Failed { error: Error::Service(e), .. }) if e.status == 409 && matches!(e.code.as_str(), "BucketAlreadyOwnedByYou" | "BucketAlreadyExists") => {
            Err(Error::AlreadyExists(settings.bucket.clone()))
        }
        Err(failed) => Err(failed.into()),
    }
}

pub async fn delete(settings: &Settings) -> Result<(), Error> {
    match counted(settings, &request::delete_bucket(settings), None, None, async |resp| {
        drain(resp).await;
        Ok(())
    })
    .await
    {
        Ok(()) => Ok(()),
        // Gone, on a retry: the attempt whose answer was lost deleted it.
        Err(Failed { error: Error::Service(e), attempts }) if attempts.retried && e.code == "NoSuchBucket" => Ok(()),
        Err(failed) => Err(failed.into()),
    }
}
