//! Uploads that cost their size: streamed to disk as they arrive, refused before the body when
//! the client's quota for unreferenced blobs is spent (429 with the numbers) or every upload
//! slot is taken (503), let in past the quota when the ledger declares the blob, and giving
//! their quota back when they fail.

// Deadlines are measured against the wall clock of real sockets.
#![allow(clippy::disallowed_methods)]

use crate::fake::FAKE_QUOTA;
use crate::{Harness, start, start_with};
use cairn_blobs::BlobId;
use cairn_rpc::error::{
    CODE_BLOB_HASH_MISMATCH, CODE_BLOB_QUOTA_EXCEEDED, CODE_BLOB_TOO_LARGE, CODE_BODY_TIMEOUT,
    CODE_BUSY,
};
use cairn_rpc::{RpcLimits, UploadRefusal};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const PATIENCE: Duration = Duration::from_secs(10);

/// Distinct bytes per `seed`.
fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u8)
                .wrapping_mul(131)
                .wrapping_add(seed)
                .rotate_left(3)
        })
        .collect()
}

/// A raw upload: the head of `PUT path` declaring `len` bytes.
fn upload_head(path: &str, len: usize, expect_continue: bool) -> Vec<u8> {
    let expect = if expect_continue {
        "Expect: 100-continue\r\n"
    } else {
        ""
    };
    format!("PUT {path} HTTP/1.1\r\nHost: cairn\r\nContent-Length: {len}\r\n{expect}\r\n")
        .into_bytes()
}

/// Reads an answer to its end (the server closes or it is complete); returns the status and
/// the JSON body.
fn answer(stream: &mut TcpStream) -> (u16, Value) {
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..at]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if head.starts_with("http/1.1 100") {
                raw.drain(..at + 4);
                continue;
            }
            if raw.len() >= at + 4 + length {
                let status = head[9..12].parse().expect("status");
                let body = serde_json::from_slice(&raw[at + 4..at + 4 + length]);
                return (status, body.unwrap_or(Value::Null));
            }
        }
        let n = stream.read(&mut buf).expect("answer");
        assert!(
            n > 0,
            "closed before a full answer: {}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
    }
}

impl Harness {
    fn put(&self, path: &str, body: &[u8]) -> (u16, Value) {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .write_all(&upload_head(path, body.len(), false))
            .expect("head");
        stream.write_all(body).expect("body");
        answer(&mut stream)
    }

    /// The sizes of the store's files in progress.
    fn uploads_in_progress(&self) -> Vec<u64> {
        std::fs::read_dir(self.node.blob_tmp_dir())
            .expect("tmp dir")
            .map(|e| e.expect("entry").metadata().expect("metadata").len())
            .collect()
    }

    fn wait_for(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn an_upload_reaches_disk_as_it_arrives_not_after_it_is_buffered() {
    let h = start();
    let body = blob(3 * MIB, 1);
    let mut stream = TcpStream::connect(h.addr).expect("connect");
    stream
        .write_all(&upload_head("/blobs", body.len(), false))
        .expect("head");
    let (first, rest) = body.split_at(2 * MIB);
    stream.write_all(first).expect("first part");
    // With a third of the body still unsent, most of what was sent is already on disk: the
    // server holds batches, not the body.
    h.wait_for("streamed bytes on disk", || {
        h.uploads_in_progress().iter().any(|&len| len >= MIB as u64)
    });
    assert!(!h.client.has_blob(&BlobId::of(&body).to_hex()).expect("has"));
    stream.write_all(rest).expect("rest");
    let (status, reply) = answer(&mut stream);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["id"], BlobId::of(&body).to_hex());
    assert!(h.uploads_in_progress().is_empty());
    assert_eq!(
        h.client.get_blob(&BlobId::of(&body).to_hex()).expect("get"),
        body
    );
}

#[test]
fn over_the_quota_is_429_with_the_limit_used_and_requested_bytes() {
    let h = start();
    let per_client = FAKE_QUOTA.per_uploader_max_bytes;
    let (status, reply) = h.put("/blobs", &blob(3 * MIB, 2));
    assert_eq!(status, 200, "{reply}");
    // Sent without `Expect: 100-continue`: the body is read and dropped, the answer arrives.
    let (status, reply) = h.put("/blobs", &blob(2 * MIB, 3));
    assert_eq!(status, 429, "{reply}");
    let error = &reply["error"];
    assert_eq!(error["code"], CODE_BLOB_QUOTA_EXCEEDED);
    assert_eq!(error["data"]["limit"], "per_uploader");
    assert_eq!(error["data"]["used"], 3 * MIB);
    assert_eq!(error["data"]["requested"], 2 * MIB);
    assert_eq!(error["data"]["max"], per_client);
    let message = error["message"].as_str().expect("message");
    for number in [3 * MIB as u64, 2 * MIB as u64, per_client] {
        assert!(message.contains(&number.to_string()), "{message}");
    }
    assert_eq!(h.node.quota_used_by(LOCALHOST), 3 * MIB as u64);
    assert_eq!(h.stats.uploads_refused(UploadRefusal::Quota), 1);
    // The CLI's client (Expect: 100-continue) gets the same refusal in its words.
    let error = h
        .client
        .put_blob(&blob(2 * MIB, 4))
        .expect_err("over quota");
    assert_eq!(error.rpc_code(), Some(CODE_BLOB_QUOTA_EXCEEDED), "{error}");
}

#[test]
fn a_declared_blob_is_let_in_past_the_quota_within_its_declared_size() {
    let h = start();
    let (status, _) = h.put("/blobs", &blob(4 * MIB, 5));
    assert_eq!(status, 200);
    assert_eq!(h.put("/blobs", &blob(1, 6)).0, 429, "the quota is spent");
    let checkpoint = blob(2 * MIB, 7);
    let id = BlobId::of(&checkpoint);
    h.node.declare_blob(id, checkpoint.len() as u64);
    let (status, reply) = h.put(&format!("/blobs/{id}"), &checkpoint);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        h.node.quota_used_by(LOCALHOST),
        4 * MIB as u64,
        "not charged"
    );
    // Declared smaller than sent: refused before the body, naming the declared size.
    let update = blob(MIB, 8);
    let update_id = BlobId::of(&update);
    h.node.declare_blob(update_id, 1_000);
    let (status, reply) = h.put(&format!("/blobs/{update_id}"), &update);
    assert_eq!(status, 413, "{reply}");
    assert_eq!(reply["error"]["code"], CODE_BLOB_TOO_LARGE);
    assert_eq!(reply["error"]["data"]["max"], 1_000);
}

#[test]
fn a_failed_upload_gives_its_quota_back_and_leaves_nothing() {
    let h = start_with(RpcLimits {
        body_read_timeout: Duration::from_millis(300),
        ..RpcLimits::default()
    });
    let body = blob(3 * MIB, 9);
    let wrong = BlobId::of(b"not these bytes");
    let (status, reply) = h.put(&format!("/blobs/{wrong}"), &body);
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["error"]["code"], CODE_BLOB_HASH_MISMATCH);
    assert_eq!(h.node.quota_used_by(LOCALHOST), 0);
    assert!(h.uploads_in_progress().is_empty());
    assert!(!h.client.has_blob(&BlobId::of(&body).to_hex()).expect("has"));
    assert_eq!(h.stats.uploads_refused(UploadRefusal::HashMismatch), 1);
    // A body that stalls halfway: 408, and its reservation is released too.
    let mut stream = TcpStream::connect(h.addr).expect("connect");
    stream
        .write_all(&upload_head("/blobs", 2 * MIB, false))
        .expect("head");
    stream.write_all(&body[..MIB]).expect("half");
    let (status, reply) = answer(&mut stream);
    assert_eq!(status, 408, "{reply}");
    assert_eq!(reply["error"]["code"], CODE_BODY_TIMEOUT);
    assert_eq!(h.node.quota_used_by(LOCALHOST), 0);
    assert!(h.uploads_in_progress().is_empty());
    // The whole quota is there again.
    let (status, _) = h.put("/blobs", &blob(4 * MIB, 10));
    assert_eq!(status, 200);
}

#[test]
fn past_the_upload_slots_an_upload_is_503_before_its_body() {
    let h = start_with(RpcLimits {
        uploads_in_flight_max: 1,
        ..RpcLimits::default()
    });
    let mut slow = TcpStream::connect(h.addr).expect("connect");
    slow.write_all(&upload_head("/blobs", MIB, true))
        .expect("head");
    h.wait_for("the first upload holds its slot", || {
        h.node.quota_used_by(LOCALHOST) > 0
    });
    let mut second = TcpStream::connect(h.addr).expect("connect");
    second
        .write_all(&upload_head("/blobs", MIB, true))
        .expect("head");
    let (status, reply) = answer(&mut second);
    assert_eq!(status, 503, "{reply}");
    assert_eq!(reply["error"]["code"], CODE_BUSY);
    assert_eq!(reply["error"]["data"]["limit"], "uploads_in_flight_max");
    assert_eq!(reply["error"]["data"]["max"], 1);
    assert_eq!(h.stats.uploads_refused(UploadRefusal::Busy), 1);
    // The first upload goes on and completes.
    let body = blob(MIB, 11);
    slow.write_all(&body).expect("body");
    let (status, reply) = answer(&mut slow);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["id"], BlobId::of(&body).to_hex());
}

#[test]
fn a_client_that_hangs_up_after_its_last_byte_leaves_no_blob_uncharged() {
    // Hanging up drops the request's handler; if that happened between the blob's move into
    // place and its charge, the blob would stay stored for free. The backend is made slow to
    // settle so the hang-up lands in that window every time.
    let h = start();
    h.node.delay_settling(Duration::from_millis(300));
    let body = blob(MIB, 77);
    let id = BlobId::of(&body).to_hex();
    let mut stream = TcpStream::connect(h.addr).expect("connect");
    stream
        .write_all(&upload_head("/blobs", body.len(), false))
        .expect("head");
    stream.write_all(&body).expect("body");
    h.wait_for("the blob to be in place", || {
        h.client.has_blob(&id).expect("has")
    });
    drop(stream);
    std::thread::sleep(Duration::from_millis(600));
    assert!(h.client.has_blob(&id).expect("has"));
    assert_eq!(
        h.node.quota_used_by(LOCALHOST),
        MIB as u64,
        "a stored blob nothing references is charged to its uploader"
    );
}
