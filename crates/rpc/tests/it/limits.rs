//! The server under abuse, through raw sockets: half-sent heads time out, idle keep-alive
//! connections close, the connection cap evicts idle or half-sent connections but never one
//! with a request in flight, requests past the in-flight limit get 503, a stalled body 408, and
//! a request past the request timeout loses its connection.

// Deadlines are measured against the wall clock of real sockets.
#![allow(clippy::disallowed_methods)]

use crate::{Harness, start_with};
use cairn_rpc::error::{CODE_BODY_TIMEOUT, CODE_BUSY};
use cairn_rpc::{RpcClient, RpcLimits};
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A short timeout for the tests that wait one out.
const SHORT: Duration = Duration::from_millis(300);
/// Longest any step here may take before the test calls it hung.
const PATIENCE: Duration = Duration::from_secs(10);

/// A head cut off before its blank line: the server is still waiting for the rest.
const HALF_SENT_HEAD: &[u8] =
    b"POST / HTTP/1.1\r\nHost: cairn\r\nContent-Type: application/json\r\n";

fn status_request() -> Vec<u8> {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"cairn_status"}"#;
    format!(
        "POST / HTTP/1.1\r\nHost: cairn\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl Harness {
    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream
    }

    /// A connection that sent `bytes`, once the server counts `open` connections.
    fn open_with(&self, bytes: &[u8], open: u64) -> TcpStream {
        let mut stream = self.connect();
        stream.write_all(bytes).expect("send");
        self.wait_until("connections registered", || {
            self.stats.connections_open() >= open
        });
        stream
    }

    fn wait_until(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Whether the server closed `stream` (EOF or reset) within `within`; reads and drops any
/// answer first.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true, // reset
        }
    }
}

/// Reads one HTTP answer (head and `Content-Length` body): status and body as JSON.
fn read_answer(stream: &mut TcpStream) -> (u16, String, Value) {
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("read timeout");
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).expect("answer");
        assert!(n > 0, "connection closed before an answer");
        raw.extend_from_slice(&buf[..n]);
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    let status = head[9..12].parse().expect("status code");
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while raw.len() < head_end + length {
        let n = stream.read(&mut buf).expect("answer body");
        assert!(n > 0, "connection closed mid-answer");
        raw.extend_from_slice(&buf[..n]);
    }
    let body = serde_json::from_slice(&raw[head_end..head_end + length]).unwrap_or(Value::Null);
    (status, head, body)
}

#[test]
fn a_half_sent_head_is_closed_after_the_header_timeout() {
    let h = start_with(RpcLimits {
        header_read_timeout: SHORT,
        ..RpcLimits::default()
    });
    let started = Instant::now();
    let mut stream = h.open_with(HALF_SENT_HEAD, 1);
    assert!(
        closed_within(&mut stream, PATIENCE),
        "half-sent head kept open"
    );
    let waited = started.elapsed();
    assert!(
        waited >= SHORT,
        "closed after {waited:?}, before the timeout"
    );
    assert!(waited < SHORT * 5, "closed only after {waited:?}");
    h.wait_until("connection forgotten", || h.stats.connections_open() == 0);
}

#[test]
fn an_idle_kept_alive_connection_is_closed_after_the_header_timeout() {
    let h = start_with(RpcLimits {
        header_read_timeout: SHORT,
        ..RpcLimits::default()
    });
    let mut stream = h.connect();
    stream.write_all(&status_request()).expect("send");
    let (status, _, _) = read_answer(&mut stream);
    assert_eq!(status, 200);
    let idle_since = Instant::now();
    assert!(
        closed_within(&mut stream, PATIENCE),
        "idle connection kept open"
    );
    assert!(idle_since.elapsed() >= SHORT);
}

#[test]
fn at_the_cap_the_oldest_idle_or_half_sent_connection_is_evicted() {
    let h = start_with(RpcLimits {
        connections_max: 3,
        ..RpcLimits::default()
    });
    let mut oldest = h.open_with(HALF_SENT_HEAD, 1);
    let mut middle = h.open_with(HALF_SENT_HEAD, 2);
    let mut newest = h.open_with(b"", 3);
    // A fourth client is served: the oldest waiting connection made room for it.
    let client = RpcClient::new(h.url.clone());
    assert_eq!(client.status().expect("status at the cap").height, 0);
    assert!(closed_within(&mut oldest, PATIENCE), "oldest not evicted");
    assert!(
        !closed_within(&mut middle, SHORT),
        "a newer connection was evicted"
    );
    assert!(
        !closed_within(&mut newest, SHORT),
        "the newest connection was evicted"
    );
    assert!(h.stats.connections_evicted() >= 1);
    assert_eq!(h.stats.connections_refused(), 0);
    assert!(h.stats.connections_open() <= 3);
}

#[test]
fn a_connection_with_a_request_in_flight_is_never_evicted() {
    let h = start_with(RpcLimits {
        connections_max: 2,
        ..RpcLimits::default()
    });
    h.node.hold_status();
    let mut busy = h.open_with(&status_request(), 1);
    h.wait_until("first request in flight", || h.node.status_waiting() == 1);
    let mut half = h.open_with(HALF_SENT_HEAD, 2);
    // At the cap: the half-sent one goes, the busy one stays.
    let mut second = h.connect();
    second.write_all(&status_request()).expect("send");
    h.wait_until("second request in flight", || h.node.status_waiting() == 2);
    assert!(closed_within(&mut half, PATIENCE), "half-sent not evicted");
    // Every open connection now has a request in flight: a new one is refused at once.
    let mut refused = h.connect();
    refused.write_all(&status_request()).expect("send");
    assert!(closed_within(&mut refused, PATIENCE), "not refused");
    h.wait_until("refusal counted", || h.stats.connections_refused() == 1);
    assert_eq!(h.stats.connections_evicted(), 1);
    // The busy connections were kept, and answer once released.
    h.node.release_status();
    assert_eq!(read_answer(&mut busy).0, 200);
    assert_eq!(read_answer(&mut second).0, 200);
}

#[test]
fn past_the_in_flight_limit_a_request_gets_503_naming_the_limit() {
    let h = start_with(RpcLimits {
        requests_in_flight_max: 1,
        ..RpcLimits::default()
    });
    h.node.hold_status();
    let mut held = h.open_with(&status_request(), 1);
    h.wait_until("request in flight", || h.node.status_waiting() == 1);
    let mut second = h.connect();
    second.write_all(&status_request()).expect("send");
    let (status, head, body) = read_answer(&mut second);
    assert_eq!(status, 503, "{body}");
    assert!(head.to_lowercase().contains("retry-after: 1"), "{head}");
    let error = &body["error"];
    assert_eq!(error["code"], CODE_BUSY, "{body}");
    assert_eq!(error["data"]["limit"], "requests_in_flight_max");
    assert_eq!(error["data"]["max"], 1);
    let message = error["message"].as_str().expect("message");
    assert!(message.contains("requests_in_flight_max"), "{message}");
    assert_eq!(h.stats.requests_shed(), 1);
    // The client reports the refusal as the node's words.
    let refused = RpcClient::new(h.url.clone()).status().expect_err("busy");
    assert!(refused.to_string().contains("busy"), "{refused}");
    h.node.release_status();
    assert_eq!(read_answer(&mut held).0, 200);
}

#[test]
fn a_stalled_body_is_408_and_holds_no_request_slot() {
    let h = start_with(RpcLimits {
        requests_in_flight_max: 1,
        body_read_timeout: SHORT * 3,
        ..RpcLimits::default()
    });
    let mut stalled = h.connect();
    let head = "POST / HTTP/1.1\r\nHost: cairn\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":";
    stalled.write_all(head.as_bytes()).expect("send");
    // While that body stalls, the only in-flight slot is free for others.
    let client = RpcClient::new(h.url.clone());
    client.status().expect("status while a body stalls");
    let (status, _, body) = read_answer(&mut stalled);
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["error"]["code"], CODE_BODY_TIMEOUT);
    assert!(body["error"]["data"]["timeout_ms"].as_u64().is_some());
}

#[test]
fn a_request_past_the_request_timeout_loses_its_connection() {
    let h = start_with(RpcLimits {
        request_timeout: SHORT,
        ..RpcLimits::default()
    });
    h.node.hold_status();
    let started = Instant::now();
    let mut held = h.open_with(&status_request(), 1);
    assert!(
        closed_within(&mut held, PATIENCE),
        "overdue request kept open"
    );
    assert!(started.elapsed() >= SHORT);
    h.wait_until("timeout counted", || h.stats.connections_timed_out() == 1);
    h.node.release_status();
}
