//! The blob routes (`PUT /blobs`, `PUT /blobs/{id}`, `GET /blobs/{id}`) and `cairn_hasBlob`,
//! through real HTTP: the client's round trip, and each refusal with its status and JSON error.

use crate::fake::FAKE_BLOB_STORE_MAX_BYTES;
use crate::{Harness, rpc_error, start};
use cairn_blobs::BlobId;
use cairn_rpc::error::{
    CODE_BLOB_HASH_MISMATCH, CODE_BLOB_STORE_FULL, CODE_BLOB_TOO_LARGE, CODE_INVALID_PARAMS,
    CODE_NOT_FOUND,
};
use cairn_rpc::{BLOB_BODY_MAX_BYTES, ClientError, RPC_BODY_MAX_BYTES, UploadRefusal};
use serde_json::{Value, json};

/// What a blob route answered: status, content type and body.
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl Harness {
    fn blob_request(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Answer {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.url);
        let sent = match (method, body) {
            // As the CLI does: a refusal comes before the body is sent.
            ("PUT", Some(body)) => agent.put(url).header("expect", "100-continue").send(body),
            ("GET", None) => agent.get(url).call(),
            other => panic!("unsupported request {other:?}"),
        };
        let mut response = sent.expect("request");
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().expect("ascii").to_string())
            .unwrap_or_default();
        let body = response
            .body_mut()
            .with_config()
            .limit(2 * BLOB_BODY_MAX_BYTES as u64)
            .read_to_vec()
            .expect("body");
        Answer {
            status: response.status().as_u16(),
            content_type,
            body,
        }
    }
}

/// Deterministic bytes of a given length (distinct per `seed`).
fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn blob_round_trips_through_the_client() {
    let h = start();
    let blob = bytes(10_000, 1);
    let id = h.client.put_blob(&blob).expect("put");
    assert_eq!(id, BlobId::of(&blob).to_hex());
    assert_eq!(h.client.get_blob(&id).expect("get"), blob);
    assert!(h.client.has_blob(&id).expect("has"));
    // Ids are accepted in any case, as pasted.
    assert!(h.client.has_blob(&id.to_uppercase()).expect("has"));
    assert_eq!(h.client.get_blob(&id.to_uppercase()).expect("get"), blob);
    let absent = BlobId::of(b"never stored").to_hex();
    assert!(!h.client.has_blob(&absent).expect("has"));
}

#[test]
fn put_without_id_answers_id_and_size_and_get_serves_octets() {
    let h = start();
    // Over the JSON-RPC body limit, under the blob limit: the blob routes have their own.
    let blob = bytes(RPC_BODY_MAX_BYTES + 1, 2);
    let put = h.blob_request("PUT", "/blobs", Some(blob.clone()));
    assert_eq!(put.status, 200, "{}", put.json());
    let id = BlobId::of(&blob).to_hex();
    assert_eq!(put.json(), json!({ "id": id, "size": blob.len() }));

    let get = h.blob_request("GET", &format!("/blobs/{id}"), None);
    assert_eq!(get.status, 200);
    assert_eq!(get.content_type, "application/octet-stream");
    assert_eq!(get.body, blob);
}

#[test]
fn put_under_the_wrong_id_is_400_naming_both_hashes() {
    let h = start();
    let blob = bytes(100, 3);
    let claimed = BlobId::of(b"something else").to_hex();
    let answer = h.blob_request("PUT", &format!("/blobs/{claimed}"), Some(blob.clone()));
    assert_eq!(answer.status, 400);
    let error = &answer.json()["error"];
    let got = BlobId::of(&blob).to_hex();
    assert_eq!(error["code"], CODE_BLOB_HASH_MISMATCH);
    assert_eq!(error["data"], json!({ "expected": claimed, "got": got }));
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&claimed) && message.contains(&got),
        "{message}"
    );
    assert!(
        !h.client.has_blob(&got).expect("has"),
        "a refused blob is not stored"
    );

    // Under its own id, the same bytes are fine.
    let answer = h.blob_request("PUT", &format!("/blobs/{got}"), Some(blob));
    assert_eq!(answer.status, 200, "{}", answer.json());
}

#[test]
fn malformed_ids_are_400() {
    let h = start();
    let cases = ["xyz", "ab", &"zz".repeat(32), &"a".repeat(65)];
    for id in cases {
        for answer in [
            h.blob_request("GET", &format!("/blobs/{id}"), None),
            h.blob_request("PUT", &format!("/blobs/{id}"), Some(vec![1, 2, 3])),
        ] {
            assert_eq!(answer.status, 400, "{id}");
            let error = &answer.json()["error"];
            assert_eq!(error["code"], CODE_INVALID_PARAMS, "{id}: {error}");
            assert_eq!(error["data"]["param"], "id");
            assert!(
                error["message"]
                    .as_str()
                    .unwrap()
                    .contains("is not a blob id")
            );
        }
        let reply = h.call_raw("cairn_hasBlob", json!([id]));
        assert_eq!(reply["error"]["code"], CODE_INVALID_PARAMS, "{id}: {reply}");
    }
    let error = h.client.get_blob("nope").expect_err("malformed id");
    assert!(
        matches!(error, ClientError::InvalidBlobId { .. }),
        "{error}"
    );
}

#[test]
fn oversize_blob_is_413_with_the_limit() {
    let h = start();
    let answer = h.blob_request("PUT", "/blobs", Some(vec![7u8; BLOB_BODY_MAX_BYTES + 1]));
    assert_eq!(answer.status, 413);
    let error = &answer.json()["error"];
    assert_eq!(error["code"], CODE_BLOB_TOO_LARGE);
    assert_eq!(error["data"]["max"], BLOB_BODY_MAX_BYTES);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("limit of {BLOB_BODY_MAX_BYTES} bytes")),
        "{message}"
    );
}

#[test]
fn unknown_blob_is_404() {
    let h = start();
    let id = BlobId::of(b"nobody has this").to_hex();
    let answer = h.blob_request("GET", &format!("/blobs/{id}"), None);
    assert_eq!(answer.status, 404);
    let error = &answer.json()["error"];
    assert_eq!(error["code"], CODE_NOT_FOUND);
    assert!(error["message"].as_str().unwrap().contains(&id));
    assert_eq!(rpc_error(h.client.get_blob(&id)).0, CODE_NOT_FOUND);
}

#[test]
fn full_store_is_507() {
    let h = start();
    let big = FAKE_BLOB_STORE_MAX_BYTES as usize / 2 + 1;
    // Declared on chain, so no quota stands in the way: only the store's room does.
    let (first, second) = (bytes(big, 4), bytes(big, 5));
    for blob in [&first, &second] {
        h.node.declare_blob(BlobId::of(blob), big as u64);
    }
    h.client.put_blob(&first).expect("first fits");
    let answer = h.blob_request(
        "PUT",
        &format!("/blobs/{}", BlobId::of(&second)),
        Some(second),
    );
    assert_eq!(answer.status, 507);
    assert_eq!(answer.json()["error"]["code"], CODE_BLOB_STORE_FULL);
    assert_eq!(h.stats.uploads_refused(UploadRefusal::StoreFull), 1);
}

#[test]
fn client_refuses_bytes_that_do_not_hash_to_the_id() {
    let h = start();
    let id = h.client.put_blob(&bytes(64, 6)).expect("put");
    h.node.corrupt_blob(&id);
    let error = h.client.get_blob(&id).expect_err("corrupt bytes");
    match &error {
        ClientError::BlobHashMismatch { expected, got, .. } => {
            assert_eq!(expected, &id);
            assert_ne!(got, &id);
        }
        other => panic!("expected a hash mismatch, got {other}"),
    }
}
