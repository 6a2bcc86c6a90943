//! [`Actor`]: the loop that owns the blob channel, answers peers' wants, stores their blobs
//! and completes local fetches.

use super::ingress::{BlobService, Request};
use super::policy::{BlobPolicy, Uploader};
use super::{
    BLOB_FETCH_TIMEOUT, BLOB_FETCHES_PENDING_MAX, BLOB_MAILBOX_SIZE, BLOB_SIZE_MAX_BYTES,
    BLOB_WAITERS_PER_ID_MAX, Message,
};
use cairn_blobs::{BlobError, BlobId, BlobStore, QuotaLimits};
use cairn_types::PublicKey;
use commonware_codec::{Decode as _, Encode as _};
use commonware_macros::select;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Clock, IoBuf};
use futures::StreamExt as _;
use futures::channel::{mpsc, oneshot};
use futures::future::Either;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;
use tracing::{debug, warn};

/// A blob being fetched: when to give up, and who is waiting.
struct Fetch {
    deadline: SystemTime,
    waiters: Vec<oneshot::Sender<Option<Vec<u8>>>>,
}

/// The blob actor; [`run`](Self::run) it in its own task.
pub struct Actor<E, S, R> {
    context: E,
    store: Arc<BlobStore>,
    policy: Arc<BlobPolicy>,
    sender: S,
    receiver: R,
    mailbox: mpsc::Receiver<Request>,
    fetches: BTreeMap<BlobId, Fetch>,
}

impl<E, S, R> Actor<E, S, R>
where
    E: Clock,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    /// The actor over `store` and the blob channel, and the service the node calls.
    pub fn new(
        context: E,
        store: Arc<BlobStore>,
        (sender, receiver): (S, R),
    ) -> (Self, BlobService) {
        let (tx, mailbox) = mpsc::channel(BLOB_MAILBOX_SIZE);
        let policy = Arc::new(BlobPolicy::new(QuotaLimits::default()));
        let service = BlobService::new(store.clone(), policy.clone(), tx);
        let actor = Actor {
            context,
            store,
            policy,
            sender,
            receiver,
            mailbox,
            fetches: BTreeMap::new(),
        };
        (actor, service)
    }

    /// Runs until the mailbox (every [`BlobService`]) or the channel is gone.
    pub async fn run(mut self) {
        loop {
            let deadline = self.fetches.values().map(|f| f.deadline).min();
            let expiry = match deadline {
                Some(deadline) => Either::Left(self.context.sleep_until(deadline)),
                None => Either::Right(futures::future::pending::<()>()),
            };
            select! {
                request = self.mailbox.next() => {
                    let Some(request) = request else { return };
                    self.on_request(request);
                },
                message = self.receiver.recv() => {
                    let Ok((peer, message)) = message else { return };
                    self.on_message(peer, message);
                },
                _ = expiry => self.expire(),
            }
        }
    }

    fn on_request(&mut self, request: Request) {
        match request {
            Request::Push { id, bytes } => {
                let sent =
                    self.sender
                        .send(Recipients::All, Message::Blob { id, bytes }.encode(), false);
                debug!(%id, peers = sent.len(), "blob pushed");
            }
            Request::Fetch { id, reply } => self.fetch(id, reply),
        }
    }

    fn fetch(&mut self, id: BlobId, reply: oneshot::Sender<Option<Vec<u8>>>) {
        // It may have arrived since the caller looked.
        if let Ok(Some(bytes)) = self.store.get(id) {
            let _ = reply.send(Some(bytes));
            return;
        }
        if let Some(fetch) = self.fetches.get_mut(&id) {
            if fetch.waiters.len() < BLOB_WAITERS_PER_ID_MAX {
                fetch.waiters.push(reply);
            } else {
                let _ = reply.send(None);
            }
            return;
        }
        if self.fetches.len() >= BLOB_FETCHES_PENDING_MAX {
            warn!(%id, max = BLOB_FETCHES_PENDING_MAX, "too many blob fetches pending; refusing one");
            let _ = reply.send(None);
            return;
        }
        let now = self.context.current();
        let deadline = now.checked_add(BLOB_FETCH_TIMEOUT).unwrap_or(now);
        self.fetches.insert(
            id,
            Fetch {
                deadline,
                waiters: vec![reply],
            },
        );
        let asked = self
            .sender
            .send(Recipients::All, Message::Want(id).encode(), false);
        debug!(%id, peers = asked.len(), "blob wanted");
    }

    fn on_message(&mut self, peer: PublicKey, message: IoBuf) {
        let max = BLOB_SIZE_MAX_BYTES.min(self.store.limits().blob_size_max_bytes);
        let message = match Message::decode_cfg(message, &max) {
            Ok(message) => message,
            Err(err) => {
                debug!(?peer, %err, "undecodable blob message");
                return;
            }
        };
        match message {
            Message::Want(id) => self.answer_want(peer, id),
            Message::Blob { id, bytes } => self.receive_blob(peer, id, bytes),
        }
    }

    fn answer_want(&mut self, peer: PublicKey, id: BlobId) {
        match self.store.get(id) {
            Ok(Some(bytes)) => {
                self.sender.send(
                    Recipients::One(peer),
                    Message::Blob { id, bytes }.encode(),
                    false,
                );
            }
            Ok(None) => {}
            Err(err) => warn!(%id, %err, "cannot read a blob a peer wants"),
        }
    }

    /// A blob from `peer`: stored only if it hashes to `id` and is declared (within its
    /// declared size) or fits the peer's quota for undeclared blobs. Waiting fetches get the
    /// bytes whenever they hash right, stored or not.
    fn receive_blob(&mut self, peer: PublicKey, id: BlobId, bytes: Vec<u8>) {
        if self.store.has(id) {
            return; // Already held (and verified when stored); nothing to do.
        }
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        let kept = match self
            .policy
            .admit(Uploader::Peer(peer.clone()), Some(id), size)
        {
            Ok(admission) if size <= admission.max_bytes() => {
                match self.store.put_expected(id, &bytes) {
                    Ok(()) => {
                        self.policy.settle(admission, id, size);
                        debug!(%id, ?peer, size, "blob stored from peer");
                        true
                    }
                    Err(BlobError::HashMismatch { expected, got }) => {
                        warn!(?peer, %expected, %got, "peer sent bytes that do not hash to their id; rejected");
                        return;
                    }
                    Err(err) => {
                        debug!(%id, ?peer, %err, "blob from peer not stored");
                        false
                    }
                }
            }
            Ok(admission) => {
                let max = admission.max_bytes();
                debug!(%id, ?peer, size, max, "blob from peer over its declared size; not kept");
                false
            }
            Err(refused) => {
                debug!(%id, ?peer, %refused, "undeclared blob from peer; not kept");
                false
            }
        };
        // Not kept: still serve a waiting fetch if the bytes are right.
        if !kept && (!self.fetches.contains_key(&id) || BlobId::of(&bytes) != id) {
            return;
        }
        if let Some(fetch) = self.fetches.remove(&id) {
            for waiter in fetch.waiters {
                let _ = waiter.send(Some(bytes.clone()));
            }
        }
    }

    /// Ends every fetch whose deadline has passed: its waiters get `None`.
    fn expire(&mut self) {
        let now = self.context.current();
        let expired: Vec<BlobId> = self
            .fetches
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            debug!(%id, "no peer sent the blob in time");
            if let Some(fetch) = self.fetches.remove(&id) {
                for waiter in fetch.waiters {
                    let _ = waiter.send(None);
                }
            }
        }
    }
}
