//! Epochs: the validator set that staking state fixes at the last block of each epoch runs the
//! next epoch's consensus, in a simplex engine of its own (commonware's pattern).
//!
//! The finalizer tells the [Orchestrator] about every block it applies ([Notice]). When the
//! block ends an epoch, the orchestrator registers the next epoch's scheme in [EpochSchemes]
//! (which marshal and the evidence checks read), retires the running engine and starts the next
//! one from the boundary block, on vote/certificate/resolver subchannels numbered by epoch.
//! Whenever the admitted validator keys change (`State::peer_keys`), it tracks them with the p2p
//! layer, so a validator created by transaction can connect and catch up before its epoch.
//!
//! A node that is behind hears votes of a later epoch on the muxers' backup channels; it then
//! asks marshal for the finalization of its own epoch's last block from that peer, which carries
//! it across the boundary (the same catch-up path commonware's reshare example uses).

use crate::chain::LockChain;
use crate::{Scheme, chain::Chain};
use cairn_state::State;
use cairn_types::{BlockContext, Digest, PrivateKey, PublicKey};
use commonware_consensus::{
    CertifiableAutomaton, Relay, Reporter,
    marshal::{core::Mailbox as MarshalMailbox, standard::Standard},
    simplex::{self, Plan, elector::RoundRobin, types::Activity},
    types::{Epoch, Epocher, FixedEpocher, ViewDelta},
};
use commonware_cryptography::{
    Sha256,
    certificate::{Provider, Scheme as _, Scoped},
};
use commonware_macros::select;
use commonware_p2p::{
    Blocker, Manager, Receiver, Sender,
    utils::mux::{Builder as _, MuxHandle, Muxer},
};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_utils::{NZDuration, NZUsize, ordered::Set, vec::NonEmptyVec};
use futures::{StreamExt, channel::mpsc};
use std::{
    collections::BTreeMap,
    num::NonZeroU64,
    sync::{Arc, Mutex},
    time::Duration,
};
use tracing::{debug, info, warn};

/// How many recent epochs' schemes a node keeps (to verify certificates and evidence that
/// arrive late); older ones are dropped.
pub const EPOCHS_RETAINED: u64 = 4;

/// The consensus scheme of each recent epoch, built from the set the state fixed for it.
#[derive(Clone)]
pub struct EpochSchemes {
    signer: PrivateKey,
    schemes: Arc<Mutex<BTreeMap<u64, Arc<Scheme>>>>,
}

impl EpochSchemes {
    pub fn new(signer: PrivateKey) -> Self {
        EpochSchemes {
            signer,
            schemes: Arc::default(),
        }
    }

    /// Registers epoch `epoch`'s participants (a signing scheme when this node is one of them)
    /// and forgets epochs older than [EPOCHS_RETAINED] before it.
    pub fn insert(&self, epoch: u64, participants: Set<PublicKey>) -> Arc<Scheme> {
        let scheme = Scheme::signer(
            crate::engine::CONSENSUS_NAMESPACE,
            participants.clone(),
            self.signer.clone(),
        )
        .unwrap_or_else(|| Scheme::verifier(crate::engine::CONSENSUS_NAMESPACE, participants));
        let scheme = Arc::new(scheme);
        // Inserts and lookups cannot panic, so the map is never left half-updated.
        let mut schemes = self.schemes.lock().unwrap_or_else(|e| e.into_inner());
        schemes.insert(epoch, scheme.clone());
        let keep_from = epoch.saturating_sub(EPOCHS_RETAINED - 1);
        schemes.retain(|e, _| *e >= keep_from);
        scheme
    }

    pub fn get(&self, epoch: u64) -> Option<Arc<Scheme>> {
        self.schemes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&epoch)
            .cloned()
    }
}

impl Provider for EpochSchemes {
    type Scope = Epoch;
    type Scheme = Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<Scheme>> {
        let scheme = self.get(epoch.get())?;
        Some(if scheme.me().is_some() {
            Scoped::scheme(scheme)
        } else {
            Scoped::verifier(scheme)
        })
    }
}

/// A finalized block the finalizer applied, with the state after it.
pub struct Notice {
    pub height: u64,
    pub digest: Digest,
    pub state: Arc<State>,
}

/// The sending half the finalizer holds.
pub type NoticeSender = mpsc::UnboundedSender<Notice>;

/// Simplex settings every epoch's engine uses.
#[derive(Clone)]
pub struct SimplexSettings {
    pub partition_prefix: String,
    pub leader_timeout: Duration,
    pub certification_timeout: Duration,
    pub timeout_retry: Duration,
    pub page_cache: CacheRef,
}

/// Starts and retires one simplex engine per epoch.
pub struct Orchestrator<B, M, A, F> {
    pub chain: Arc<Mutex<Chain>>,
    pub schemes: EpochSchemes,
    pub marshal: MarshalMailbox<Scheme, Standard<cairn_types::Block>>,
    pub blocker: B,
    pub manager: M,
    /// The marshal wrapper: automaton and relay of every engine.
    pub automaton: A,
    /// Consensus activity goes to marshal (through the wrapper) and to the evidence reporter.
    pub reporter: F,
    pub notices: mpsc::UnboundedReceiver<Notice>,
    pub blocks_per_epoch: NonZeroU64,
    pub genesis_hash: Digest,
    pub settings: SimplexSettings,
}

/// The engine running now.
struct Active {
    epoch: u64,
    handle: Handle<()>,
}

/// Where an epoch's engine starts: its number, participants and the block it builds on.
struct EpochStart {
    epoch: u64,
    participants: Set<PublicKey>,
    floor: Digest,
}

fn key_set(keys: impl IntoIterator<Item = PublicKey>) -> Set<PublicKey> {
    Set::from_iter_dedup(keys)
}

impl<B, M, A, F> Orchestrator<B, M, A, F>
where
    B: Blocker<PublicKey = PublicKey>,
    M: Manager<PublicKey = PublicKey>,
    A: CertifiableAutomaton<Context = BlockContext, Digest = Digest>
        + Relay<Digest = Digest, PublicKey = PublicKey, Plan = Plan<PublicKey>>,
    F: Reporter<Activity = Activity<Scheme, Digest>>,
{
    /// Runs until the node stops. `votes`, `certificates` and `resolver` are the raw consensus
    /// channels; each epoch gets its own subchannel of each.
    pub async fn run<E, S, R>(
        mut self,
        context: E,
        votes: (S, R),
        certificates: (S, R),
        resolver: (S, R),
    ) where
        E: Spawner + Metrics + Clock + Storage + rand_core::CryptoRng,
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
    {
        let epocher = FixedEpocher::new(self.blocks_per_epoch);
        let (vote_mux, mut vote_handle, mut vote_backup) =
            Muxer::builder(context.child("vote_mux"), votes.0, votes.1)
                .with_backup()
                .build();
        vote_mux.start();
        let (cert_mux, mut cert_handle, mut cert_backup) = Muxer::builder(
            context.child("certificate_mux"),
            certificates.0,
            certificates.1,
        )
        .with_backup()
        .build();
        cert_mux.start();
        let (resolver_mux, mut resolver_handle) =
            Muxer::new(context.child("resolver_mux"), resolver.0, resolver.1);
        resolver_mux.start();

        // Resume where the persisted state stands: the epoch of the next block.
        let (state, tracked_at) = {
            let chain = self.chain.locked();
            (chain.finalized(), chain.finalized_height())
        };
        let mut peer_keys = state.peer_keys();
        self.track(tracked_at, &peer_keys);
        let Some(start) = self.resume(&state, &epocher).await else {
            tracing::error!(
                epoch = state.epoch(),
                "the block this epoch starts from is not in the archive; consensus not started"
            );
            return;
        };
        let mut active = match self
            .enter(
                &context,
                start,
                &mut vote_handle,
                &mut cert_handle,
                &mut resolver_handle,
            )
            .await
        {
            Some(active) => active,
            None => return,
        };

        loop {
            select! {
                backup = vote_backup.recv() => {
                    let Some((their_epoch, (from, _))) = backup else { break };
                    self.behind(&epocher, active.epoch, their_epoch, from);
                },
                backup = cert_backup.recv() => {
                    let Some((their_epoch, (from, _))) = backup else { break };
                    self.behind(&epocher, active.epoch, their_epoch, from);
                },
                notice = self.notices.next() => {
                    let Some(notice) = notice else { break };
                    // Catching up, many notices may wait: take them all, enter only the newest
                    // epoch they reach.
                    let mut next: Option<EpochStart> = None;
                    let mut notice = Some(notice);
                    while let Some(n) = notice.take() {
                        let keys = n.state.peer_keys();
                        if keys != peer_keys {
                            self.track(n.height, &keys);
                            peer_keys = keys;
                        }
                        if let Some(epoch) = cairn_state::next_epoch_after(n.height, self.blocks_per_epoch.get()) {
                            next = Some(EpochStart {
                                epoch,
                                participants: key_set(n.state.active_validator_set().into_iter().map(|(k, _)| k)),
                                floor: n.digest,
                            });
                        }
                        notice = self.notices.try_recv().ok();
                    }
                    if let Some(start) = next.filter(|s| s.epoch > active.epoch) {
                        active.handle.abort();
                        info!(from = active.epoch, to = start.epoch, "epoch boundary finalized; switching engines");
                        active = match self.enter(&context, start, &mut vote_handle, &mut cert_handle, &mut resolver_handle).await {
                            Some(active) => active,
                            None => break,
                        };
                    }
                },
                result = &mut active.handle => {
                    if let Err(err) = result {
                        warn!(epoch = active.epoch, %err, "consensus engine stopped");
                    }
                    break;
                },
            }
        }
        active.handle.abort();
    }

    /// Tracks the validator keys this node admits as p2p peer set `id` (a block height, so every
    /// node tracks the same sets under the same ids).
    fn track(&mut self, id: u64, keys: &[PublicKey]) {
        let _ = self.manager.track(id, key_set(keys.iter().cloned()));
        debug!(id, peers = keys.len(), "tracking validator peer set");
    }

    /// The epoch a restarted node resumes: the one its state holds the set for, built on the
    /// last block of the epoch before (genesis for epoch 0).
    async fn resume(&mut self, state: &State, epocher: &FixedEpocher) -> Option<EpochStart> {
        let epoch = state.epoch();
        let participants = key_set(state.active_validator_set().into_iter().map(|(k, _)| k));
        let floor = match epoch.checked_sub(1) {
            None => self.genesis_hash,
            Some(previous) => {
                let boundary = epocher.last(Epoch::new(previous))?;
                if boundary.get() == state.height() {
                    self.chain.locked().finalized_hash()
                } else {
                    self.marshal.get_block(boundary).await?.inner().hash()
                }
            }
        };
        Some(EpochStart {
            epoch,
            participants,
            floor,
        })
    }

    /// Registers `start`'s scheme and starts its engine on fresh subchannels.
    async fn enter<E, S>(
        &mut self,
        context: &E,
        start: EpochStart,
        votes: &mut MuxHandle<S>,
        certificates: &mut MuxHandle<S>,
        resolver: &mut MuxHandle<S>,
    ) -> Option<Active>
    where
        E: Spawner + Metrics + Clock + Storage + rand_core::CryptoRng,
        S: Sender<PublicKey = PublicKey>,
    {
        let EpochStart {
            epoch,
            participants,
            floor,
        } = start;
        let me = commonware_cryptography::Signer::public_key(&self.schemes.signer);
        let member = participants.iter().any(|k| *k == me);
        let scheme = self.schemes.insert(epoch, participants.clone());
        let settings = &self.settings;
        let engine = simplex::Engine::new(
            context.child("consensus").with_attribute("epoch", epoch),
            simplex::Config {
                scheme: scheme.as_ref().clone(),
                elector: RoundRobin::<Sha256>::default(),
                blocker: self.blocker.clone(),
                automaton: self.automaton.clone(),
                relay: self.automaton.clone(),
                reporter: self.reporter.clone(),
                strategy: Sequential,
                partition: format!("{}-consensus-{epoch}", settings.partition_prefix),
                mailbox_size: NZUsize!(4_096),
                epoch: Epoch::new(epoch),
                floor: simplex::Floor::Genesis(floor),
                replay_buffer: NZUsize!(1024 * 1024),
                write_buffer: NZUsize!(1024 * 1024),
                page_cache: settings.page_cache.clone(),
                leader_timeout: settings.leader_timeout,
                certification_timeout: settings.certification_timeout,
                timeout_retry: settings.timeout_retry,
                view_retention: ViewDelta::new(64),
                skip: simplex::SkipPolicy::Disabled,
                fetch_timeout: NZDuration!(Duration::from_secs(1)),
                fetch_retry_delay: Duration::from_millis(100),
                forward: simplex::ForwardPolicy::SilentLeader,
                track_historical_votes: false,
            },
        );
        let subchannel = |handle: &mut MuxHandle<S>| {
            let mut handle = handle.clone();
            async move { handle.register(epoch).await.ok() }
        };
        let votes = subchannel(votes).await?;
        let certificates = subchannel(certificates).await?;
        let resolver = subchannel(resolver).await?;
        let handle = engine.start(votes, certificates, resolver);
        info!(
            epoch,
            validators = participants.len(),
            member,
            "entered epoch"
        );
        Some(Active { epoch, handle })
    }

    /// A peer spoke in a later epoch than ours: we are behind. Ask marshal for the finalization
    /// of our epoch's last block from that peer; finalizing it carries us to the next epoch.
    fn behind(&self, epocher: &FixedEpocher, ours: u64, theirs: u64, from: PublicKey) {
        if theirs <= ours {
            return;
        }
        let Some(boundary) = epocher.last(Epoch::new(ours)) else {
            return;
        };
        debug!(ours, theirs, %boundary, "peer is in a later epoch; fetching our epoch's last finalization");
        self.marshal
            .hint_finalized(boundary, NonEmptyVec::new(from));
    }
}
