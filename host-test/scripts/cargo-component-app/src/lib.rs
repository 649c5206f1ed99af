#[allow(warnings)]
mod bindings;

use bindings::exports::wasi::http::incoming_handler::Guest;
use bindings::wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use bindings::wasm_storages::storage::storage::Store;
use bindings::wasm_storages::storage::types::{Attributes, Config, PutOptions};

struct Component;

impl Guest for Component {
    /// Stores "hello from cargo-component" under the request's path and answers with
    /// what reading it back gave.
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let env = std::env::vars().collect::<Vec<_>>();
        let bucket = env.iter().find(|(k, _)| k == "S3_BUCKET").map(|(_, v)| v.clone()).unwrap_or_default();
        let key = request.path_with_query().unwrap_or_default().trim_start_matches('/').to_string();
        let config = Config {
            bucket, region: None, endpoint_url: None, access_key_id: None, secret_access_key: None, session_token: None,
            profile: None, prefix: None, presigned_expiry: None, use_ssl: None, verify_ssl: None, max_pool_connections: None,
            part_size: None, upload_checksum: None, max_attempts: None, retry_base_delay_ms: None, retry_max_delay_ms: None,
            connect_timeout_ms: None, first_byte_timeout_ms: None, between_bytes_timeout_ms: None, addressing: None,
            copy_part_size: None, server_side_encryption: None,
        };
        let text = match Store::open(&config)
            .and_then(|store| store.put(&key, b"hello from cargo-component", &PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: Attributes { cache_control: None, content_disposition: None, content_encoding: None, content_language: None, expires: None, storage_class: None }, tags: vec![] }).map(|_| store))
            .and_then(|store| store.get_bytes(&key))
        {
            Ok(bytes) => bytes,
            Err(e) => format!("{e:?}").into_bytes(),
        };
        let response = OutgoingResponse::new(Fields::new());
        let body = response.body().unwrap();
        ResponseOutparam::set(out, Ok(response));
        let stream = body.write().unwrap();
        stream.blocking_write_and_flush(&text).unwrap();
        drop(stream);
        OutgoingBody::finish(body, None).unwrap();
    }
}

bindings::export!(Component with_types_in bindings);
