//! The accept loop: HTTP/1.1 connections served by hyper under the server's bounds.
//!
//! - A request head must arrive within the header timeout (hyper starts that clock whenever it
//!   starts reading a head, so an idle kept-alive connection is closed by it too).
//! - A request must be answered within the request timeout, or its connection is closed.
//! - At most `connections_max` connections are open. At the cap the loop keeps accepting (a
//!   full kernel backlog would lock everyone out): it closes the oldest connection that has no
//!   request in flight (idle, or still sending its head) to make room, and if every connection
//!   has a request in flight it closes the new one at once. A connection with a request in
//!   flight is never evicted: eviction and the start of a request are decided under the same
//!   lock; a request whose head arrived as its connection was evicted is refused with 503.
//!
//! Invariant: nothing a client sends can stop the loop; accept errors are logged by count and
//! retried after a pause.

use crate::error::{RpcError, error_response};
use crate::limits::{
    RPC_ACCEPT_ERROR_BACKOFF, RPC_HEADERS_MAX, RPC_READ_BUFFER_MAX_BYTES, RpcLimits,
};
use crate::stats::RpcStats;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, header};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt as _;

/// Shortest interval at which a connection checks its request deadline.
const DEADLINE_CHECK_MIN: Duration = Duration::from_millis(10);

/// Serves `router` on `listener` within `limits`, counting into `stats`, until `shutdown`
/// completes; then stops accepting, lets requests in flight finish (each within the request
/// timeout) and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: RpcLimits,
    stats: Arc<RpcStats>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry::new(limits.connections_max, stats.clone()));
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        // Reap finished connection tasks so the set holds only live ones.
        while tasks.try_join_next().is_some() {}
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                accept_failed(&err).await;
                continue;
            }
        };
        stats.accepted();
        let Some(slot) = registry.admit() else {
            drop(stream); // every connection is busy: refuse this one at once
            continue;
        };
        let connection = Connection {
            router: router.clone(),
            registry: registry.clone(),
            slot,
            remote,
            limits,
            stopping: stopping.clone(),
        };
        tasks.spawn(connection.run(stream));
    }
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// An error about one connection (it was reset before we took it) is skipped. Anything else
/// is a lack of resources (out of file handles: the kernel keeps the connection in its
/// backlog), so pause rather than spin, and try again.
async fn accept_failed(err: &std::io::Error) {
    use std::io::ErrorKind;
    let one_connection = matches!(
        err.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    );
    if !one_connection {
        tracing::debug!(%err, "accept failed; pausing");
        tokio::time::sleep(RPC_ACCEPT_ERROR_BACKOFF).await;
    }
}

/// The open connections, oldest first.
struct Registry {
    connections_max: usize,
    stats: Arc<RpcStats>,
    open: Mutex<Open>,
}

struct Open {
    next_id: u64,
    slots: BTreeMap<u64, Arc<Slot>>,
}

/// One open connection as the registry sees it.
struct Slot {
    id: u64,
    state: Mutex<SlotState>,
    /// Woken when the registry evicts this connection.
    evicted: Notify,
}

#[derive(Default)]
struct SlotState {
    in_flight: usize,
    evicted: bool,
    /// When the connection last went from no request to one (for the request deadline).
    busy_since: Option<Instant>,
}

impl Registry {
    fn new(connections_max: usize, stats: Arc<RpcStats>) -> Self {
        Self {
            connections_max: connections_max.max(1),
            stats,
            open: Mutex::new(Open {
                next_id: 0,
                slots: BTreeMap::new(),
            }),
        }
    }

    fn open(&self) -> MutexGuard<'_, Open> {
        // Each update is one insert or remove: a panic elsewhere cannot leave it half-done.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes room for a new connection (evicting the oldest idle one at the cap) and
    /// registers it; `None` when every open connection has a request in flight.
    fn admit(&self) -> Option<Arc<Slot>> {
        let mut open = self.open();
        if open.slots.len() >= self.connections_max {
            let victim = open
                .slots
                .values()
                .find(|slot| slot.try_evict())
                .map(|slot| slot.id);
            match victim.and_then(|id| open.slots.remove(&id)) {
                Some(slot) => {
                    slot.evicted.notify_one();
                    self.stats.evicted();
                }
                None => {
                    self.stats.refused();
                    return None;
                }
            }
        }
        let id = open.next_id;
        open.next_id = open.next_id.wrapping_add(1);
        let slot = Arc::new(Slot {
            id,
            state: Mutex::new(SlotState::default()),
            evicted: Notify::new(),
        });
        open.slots.insert(id, slot.clone());
        self.stats.opened();
        Some(slot)
    }

    fn remove(&self, slot: &Slot) {
        self.open().slots.remove(&slot.id);
        self.stats.closed();
    }
}

impl Slot {
    fn state(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the connection evicted if it has no request in flight.
    fn try_evict(&self) -> bool {
        let mut state = self.state();
        if state.in_flight == 0 {
            state.evicted = true;
        }
        state.evicted
    }

    /// Counts a request in; `None` if the connection is being evicted.
    fn begin(self: &Arc<Self>) -> Option<InFlight> {
        let mut state = self.state();
        if state.evicted {
            return None;
        }
        if state.in_flight == 0 {
            state.busy_since = Some(Instant::now());
        }
        state.in_flight = state.in_flight.saturating_add(1);
        Some(InFlight { slot: self.clone() })
    }

    /// Whether a request has been in flight longer than `timeout`.
    fn overdue(&self, timeout: Duration) -> bool {
        self.state()
            .busy_since
            .is_some_and(|since| since.elapsed() > timeout)
    }
}

/// A request in flight on a connection, from its head until its answer's body is done.
struct InFlight {
    slot: Arc<Slot>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.slot.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.busy_since = None;
        }
    }
}

/// One accepted connection and what it needs to serve itself.
struct Connection {
    router: Router,
    registry: Arc<Registry>,
    slot: Arc<Slot>,
    remote: SocketAddr,
    limits: RpcLimits,
    stopping: watch::Receiver<bool>,
}

impl Connection {
    /// Serves the connection until the client is done, it is evicted, a request overruns the
    /// request timeout, or the server stops (then open requests finish first).
    async fn run(mut self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let (slot, router, remote) = (self.slot.clone(), self.router.clone(), self.remote);
        let connections_max = self.registry.connections_max;
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let router = router.clone();
            let in_flight = slot.begin();
            handle(router, request, remote, in_flight, connections_max)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .max_buf_size(RPC_READ_BUFFER_MAX_BYTES)
            .max_headers(RPC_HEADERS_MAX);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let mut connection = pin!(connection);
        let timeout = self.limits.request_timeout;
        let tick = timeout
            .checked_div(4)
            .unwrap_or(timeout)
            .max(DEADLINE_CHECK_MIN);
        let mut draining = false;
        loop {
            tokio::select! {
                _ = connection.as_mut() => break,
                () = self.slot.evicted.notified() => break,
                _ = self.stopping.changed(), if !draining => {
                    connection.as_mut().graceful_shutdown();
                    draining = true;
                }
                () = tokio::time::sleep(tick) => {
                    if self.slot.overdue(timeout) {
                        self.registry.stats.timed_out();
                        break;
                    }
                }
            }
        }
        self.registry.remove(&self.slot);
    }
}

/// Runs one request through the router, tagged with the client's address; the answer's body
/// carries the in-flight mark until it is sent. A request whose connection was evicted before
/// it began is not run: it is refused as [evicted_refusal].
async fn handle(
    router: Router,
    request: Request<Incoming>,
    remote: SocketAddr,
    in_flight: Option<InFlight>,
    connections_max: usize,
) -> Result<Response<HeldBody<Option<InFlight>>>, Infallible> {
    if in_flight.is_none() {
        let refusal = evicted_refusal(connections_max);
        return Ok(refusal.map(|body| HeldBody::new(body, None)));
    }
    let mut request = request.map(Body::new);
    request.extensions_mut().insert(ConnectInfo(remote));
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    Ok(response.map(|inner| HeldBody::new(inner, in_flight)))
}

/// The answer to a request whose connection the cap evicted between its head and its start
/// (the connection is closing): 503 with the limit named, never a bare 200 a client could take
/// for success.
fn evicted_refusal(connections_max: usize) -> Response<Body> {
    let busy = RpcError::Busy {
        what: "connections".to_string(),
        limit: "connections_max".to_string(),
        max: u64::try_from(connections_max).unwrap_or(u64::MAX),
    };
    let mut response = error_response(&busy);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Largest frame a [HeldBody] hands to hyper at once.
const RESPONSE_FRAME_MAX_BYTES: usize = 64 * 1024;

/// A response body that holds `guard` (an in-flight mark, a download slot) until it is
/// dropped, and hands its bytes out in frames of at most [RESPONSE_FRAME_MAX_BYTES]: hyper asks
/// for the next frame only when it has sent most of the last, so a client that stops reading
/// keeps its request in flight (and under the request timeout) instead of parking the whole
/// answer in the connection's write buffer.
pub(crate) struct HeldBody<G> {
    inner: Body,
    /// The rest of a frame larger than [RESPONSE_FRAME_MAX_BYTES].
    pending: Bytes,
    _guard: G,
}

impl<G> HeldBody<G> {
    pub(crate) fn new(inner: Body, guard: G) -> Self {
        Self {
            inner,
            pending: Bytes::new(),
            _guard: guard,
        }
    }

    fn next_piece(&mut self) -> Frame<Bytes> {
        let at = self.pending.len().min(RESPONSE_FRAME_MAX_BYTES);
        Frame::data(self.pending.split_to(at))
    }
}

impl<G: Unpin> hyper::body::Body for HeldBody<G> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if !self.pending.is_empty() {
            return Poll::Ready(Some(Ok(self.next_piece())));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    self.pending = data;
                    Poll::Ready(Some(Ok(self.next_piece())))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.inner.size_hint();
        let pending = u64::try_from(self.pending.len()).unwrap_or(u64::MAX);
        hint.set_lower(hint.lower().saturating_add(pending));
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper.saturating_add(pending));
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn a_request_on_an_evicted_connection_is_refused_with_503_naming_the_cap() {
        let response = evicted_refusal(256);
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["data"]["limit"], "connections_max");
        assert_eq!(body["error"]["data"]["max"], 256);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("256 connections"), "{message}");
    }
}
