//! Every bound the HTTP server enforces, as named constants (units last, or in the type), and
//! [RpcLimits], the set one server runs with. The numbers and why: `crates/rpc/README.md`.

use std::time::Duration;

/// Most connections open at once (the node lowers it to a share of its file-handle limit, see
/// [connections_max_for_fd_limit]). At the cap the oldest connection with no request in flight
/// (idle, or still sending its head) is closed to make room; if every one has a request in
/// flight the new connection is closed at once.
pub const RPC_CONNECTIONS_MAX: usize = 512;

/// The RPC server may use at most 1/this of the process's file handles: consensus journals,
/// archives and p2p keep the rest, so no flood of connections can make them fail to open a file.
pub const RPC_CONNECTIONS_FD_SHARE_DIVISOR: u64 = 4;

/// Fewest connections the server allows whatever the file-handle limit says (a tiny limit
/// still leaves the operator a way in).
pub const RPC_CONNECTIONS_MIN: usize = 8;

/// Requests handled at once (a JSON-RPC call once its body is read; a GET at once); beyond it
/// the request is refused with HTTP 503 rather than queued.
pub const RPC_REQUESTS_IN_FLIGHT_MAX: usize = 64;

/// Blob uploads streaming at once; beyond it `PUT /blobs` is refused with HTTP 503 before a
/// byte of the body is read.
pub const BLOB_UPLOADS_IN_FLIGHT_MAX: usize = 4;

/// Blob downloads at once (each holds up to one blob in memory while it is verified and
/// sent); beyond it `GET /blobs/{id}` is refused with HTTP 503.
pub const BLOB_DOWNLOADS_IN_FLIGHT_MAX: usize = 8;

/// Longest wait for a request's head (request line and headers), counted from when the server
/// starts reading it, so it also closes a kept-alive connection idle this long.
pub const RPC_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for a JSON-RPC body in full, and for the next chunk of a blob body.
pub const RPC_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a request may take from its head to the last byte of its answer (a 32 MiB blob at
/// about 0.5 MiB/s); past it the connection is closed.
pub const RPC_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest read buffer of one connection, and so the largest request head.
pub const RPC_READ_BUFFER_MAX_BYTES: usize = 64 * 1024;

/// Most headers in one request.
pub const RPC_HEADERS_MAX: usize = 64;

/// Bytes of an upload gathered before they are handed to the disk writer: the memory one
/// upload holds, apart from the connection's read buffer.
pub const UPLOAD_WRITE_BATCH_BYTES: usize = 256 * 1024;

/// Most bytes of a refused upload's body read and discarded so the client sees the refusal
/// (see [REFUSED_BODY_DRAIN_TIMEOUT]); a larger declared body is not read at all.
pub const REFUSED_BODY_DRAIN_MAX_BYTES: usize = crate::BLOB_BODY_MAX_BYTES;

/// Longest a refused upload's body is read and discarded. Clients that send
/// `Expect: 100-continue` (the CLI does) never send a refused body at all.
pub const REFUSED_BODY_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause after `accept` fails for lack of resources (file handles), so the loop does not spin.
pub const RPC_ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// The bounds one server runs with. [Default] is the constants above; tests shrink them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcLimits {
    pub connections_max: usize,
    pub requests_in_flight_max: usize,
    pub uploads_in_flight_max: usize,
    pub downloads_in_flight_max: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for RpcLimits {
    fn default() -> Self {
        Self {
            connections_max: RPC_CONNECTIONS_MAX,
            requests_in_flight_max: RPC_REQUESTS_IN_FLIGHT_MAX,
            uploads_in_flight_max: BLOB_UPLOADS_IN_FLIGHT_MAX,
            downloads_in_flight_max: BLOB_DOWNLOADS_IN_FLIGHT_MAX,
            header_read_timeout: RPC_HEADER_READ_TIMEOUT,
            body_read_timeout: RPC_BODY_READ_TIMEOUT,
            request_timeout: RPC_REQUEST_TIMEOUT,
        }
    }
}

/// The connection cap for a process allowed `fd_soft_limit` open files:
/// min([RPC_CONNECTIONS_MAX], limit / [RPC_CONNECTIONS_FD_SHARE_DIVISOR]), at least
/// [RPC_CONNECTIONS_MIN]. Under `ulimit -n 1024` that is 256.
pub fn connections_max_for_fd_limit(fd_soft_limit: u64) -> usize {
    let share = fd_soft_limit / RPC_CONNECTIONS_FD_SHARE_DIVISOR;
    usize::try_from(share)
        .unwrap_or(usize::MAX)
        .clamp(RPC_CONNECTIONS_MIN, RPC_CONNECTIONS_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_is_a_quarter_of_the_file_handles_within_bounds() {
        assert_eq!(connections_max_for_fd_limit(1_024), 256);
        assert_eq!(connections_max_for_fd_limit(1 << 20), RPC_CONNECTIONS_MAX);
        assert_eq!(connections_max_for_fd_limit(16), RPC_CONNECTIONS_MIN);
        assert_eq!(connections_max_for_fd_limit(u64::MAX), RPC_CONNECTIONS_MAX);
    }
}
