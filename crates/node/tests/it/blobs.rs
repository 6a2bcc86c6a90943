//! Blob replication on the deterministic runtime and simulated network: a put is pushed to
//! every peer, a missing blob is fetched on demand, and bytes that do not hash to the wanted
//! id are rejected (from a lying peer, the honest answer still wins).

use crate::sim::*;
use cairn_blobs::BlobId;
use cairn_node::blobs::{BLOB_CHANNEL_RATE_PER_SECOND, BLOB_FETCH_TIMEOUT, Message};
use cairn_node::engine::{NodeHandle, channel};
use commonware_codec::{Decode as _, Encode as _};
use commonware_cryptography::Signer;
use commonware_p2p::{Receiver as _, Recipients, Sender as _};
use commonware_runtime::{Clock, Quota, Runner, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::NZU32;
use std::time::Duration;

/// Longest a pushed blob may take to reach every peer (simulated time).
const PUSH_BOUND: Duration = Duration::from_secs(10);

/// Deterministic bytes of a given length (distinct per `seed`).
fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Waits (simulated time) until every node holds `id`, or panics after [PUSH_BOUND].
async fn wait_for_blob(context: &deterministic::Context, nodes: &[&NodeHandle], id: BlobId) {
    let start = context.current();
    while !nodes.iter().all(|n| n.blobs.has(id)) {
        let elapsed = context.current().duration_since(start).unwrap_or_default();
        assert!(
            elapsed < PUSH_BOUND,
            "blob {id} not everywhere after {elapsed:?}"
        );
        context.sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn blob_put_on_one_node_is_pushed_to_every_peer() {
    runner(31).start(|context| async move {
        let net = Net::start(&context, 4, 4, lan(), 4).await;
        let nodes = &net.nodes;
        // Bigger than a block (the old p2p message limit): the blob channel carries it whole.
        let bytes = blob(cairn_types::limits::BLOCK_SIZE_MAX_BYTES + 1, 1);
        let id = nodes[0].blobs.put(bytes.clone()).await.expect("put");
        assert_eq!(id, BlobId::of(&bytes));
        let refs: Vec<_> = nodes.iter().collect();
        wait_for_blob(&context, &refs, id).await;
        assert_eq!(nodes[3].blobs.store().get(id).expect("read"), Some(bytes));
    });
}

#[test]
fn missing_blob_is_fetched_from_the_peer_that_has_it() {
    runner(32).start(|context| async move {
        let net = Net::start(&context, 4, 4, lan(), 4).await;
        let nodes = &net.nodes;
        // Only node 1 holds it (stored directly: nothing is pushed).
        let bytes = blob(200_000, 2);
        let id = nodes[1].blobs.store().put(&bytes).expect("store");
        assert!(!nodes[3].blobs.has(id));

        let start = context.current();
        let fetched = nodes[3]
            .blobs
            .get_or_fetch(id)
            .await
            .expect("no storage fault");
        assert_eq!(fetched, Some(bytes.clone()));
        assert!(
            context.current().duration_since(start).unwrap() < BLOB_FETCH_TIMEOUT,
            "answered, not timed out"
        );
        assert!(nodes[3].blobs.has(id), "a fetched blob is kept");
        assert!(
            !nodes[2].blobs.has(id),
            "a fetch does not spread the blob further"
        );

        // Concurrent gets of one id share one fetch.
        let other = blob(1_000, 3);
        let other_id = nodes[1].blobs.store().put(&other).expect("store");
        let (a, b) = futures::join!(
            nodes[2].blobs.get_or_fetch(other_id),
            nodes[2].blobs.get_or_fetch(other_id)
        );
        assert_eq!((a.unwrap(), b.unwrap()), (Some(other.clone()), Some(other)));

        // No one has it: the wait is bounded.
        let unknown = BlobId::of(b"nobody stored this");
        let start = context.current();
        assert_eq!(
            nodes[0]
                .blobs
                .get_or_fetch(unknown)
                .await
                .expect("no storage fault"),
            None
        );
        let waited = context.current().duration_since(start).unwrap();
        assert!(
            waited >= BLOB_FETCH_TIMEOUT && waited < 2 * BLOB_FETCH_TIMEOUT,
            "waited {waited:?}"
        );
    });
}

#[test]
fn bytes_that_do_not_hash_to_the_wanted_id_are_rejected() {
    runner(33).start(|context| async move {
        // Validator 3 is a liar on the blob channel: it answers every want with junk bytes
        // under the wanted id, and pushes junk under a made-up id.
        let net = Net::start(&context, 4, 4, lan(), 3).await;
        let nodes = &net.nodes;
        let liar = net.oracle.control(net.keys[3].public_key());
        let quota = Quota::per_second(NZU32!(BLOB_CHANNEL_RATE_PER_SECOND));
        let (mut sender, mut receiver) = liar
            .register(channel::BLOBS, quota)
            .await
            .expect("register");
        let junk = blob(5_000, 9);
        let liar_junk = junk.clone();
        let mut pusher = sender.clone();
        context.child("liar").spawn(move |_| async move {
            while let Ok((peer, message)) = receiver.recv().await {
                if let Ok(Message::Want(id)) = Message::decode_cfg(message, &u64::MAX) {
                    let lie = Message::Blob {
                        id,
                        bytes: liar_junk.clone(),
                    };
                    sender.send(Recipients::One(peer), lie.encode(), false);
                }
            }
        });

        // Only the liar "has" it: junk is refused, so the fetch finds nothing.
        let wanted = BlobId::of(b"the real weights");
        assert_eq!(
            nodes[0]
                .blobs
                .get_or_fetch(wanted)
                .await
                .expect("no storage fault"),
            None
        );
        assert!(!nodes[0].blobs.has(wanted));
        assert!(
            !nodes[0].blobs.has(BlobId::of(&junk)),
            "junk is not stored under its own hash either"
        );

        // An honest peer holds it too: whatever the liar says, the right bytes win.
        let bytes = blob(50_000, 4);
        let id = nodes[1].blobs.store().put(&bytes).expect("store");
        assert_eq!(
            nodes[2]
                .blobs
                .get_or_fetch(id)
                .await
                .expect("no storage fault"),
            Some(bytes)
        );

        // An unsolicited push of junk under someone else's id is refused everywhere.
        let claimed = BlobId::of(b"claimed");
        pusher.send(
            Recipients::All,
            Message::Blob {
                id: claimed,
                bytes: junk.clone(),
            }
            .encode(),
            false,
        );
        context.sleep(Duration::from_secs(1)).await;
        for node in nodes {
            assert!(!node.blobs.has(claimed) && !node.blobs.has(BlobId::of(&junk)));
        }
    });
}

#[test]
fn a_late_joiner_backfills_the_blobs_the_ledger_references() {
    use cairn_node::blobs::sync::BLOB_SYNC_INTERVAL;
    runner(34).start(|context| async move {
        // Three of four validators run (a quorum); the fourth is down.
        let net = Net::start(&context, 4, 4, lan(), 3).await;
        let nodes = &net.nodes;
        let bytes = blob(60_000, 4);
        let id = nodes[0].blobs.put(bytes.clone()).await.expect("put");
        let graph: [u8; 32] = id.into();
        // The ledger references it: a model registered with this graph.
        let owner = account_key(0);
        let tx = cairn_types::Transaction {
            chain_id: CHAIN_ID.into(),
            signer: owner.public_key(),
            nonce: 0,
            fee: 1,
            action: cairn_types::Action::RegisterModel {
                model: cairn_types::ModelRegistration {
                    graph,
                    graph_bytes: 60_000,
                    model_root: [9; 32],
                    node_count: 3,
                    input_shape: vec![4],
                    output_shape: vec![2],
                    name: "late-joiner-test".into(),
                    licence: "MIT".into(),
                    price: 0,
                    lineage: None,
                },
            },
        }
        .sign(&owner);
        nodes[0].chain.lock().unwrap().submit(tx).expect("admitted");
        let start = context.current();
        while nodes[0]
            .chain
            .lock()
            .unwrap()
            .finalized()
            .model(&cairn_types::infer::model_id(&owner.public_key(), &graph))
            .is_none()
        {
            assert!(context.current().duration_since(start).unwrap() < Duration::from_secs(30));
            context.sleep(Duration::from_millis(50)).await;
        }

        // The fourth validator starts from nothing: it backfills the blocks, then the blob.
        let (_task, late) = start_validator(
            &context,
            &net.oracle,
            net.keys[3].clone(),
            net.genesis.clone(),
            0,
        )
        .await;
        assert!(!late.blobs.has(id));
        let start = context.current();
        let bound = BLOB_SYNC_INTERVAL * 2 + BLOB_FETCH_TIMEOUT * 2;
        while !late.blobs.has(id) {
            let waited = context.current().duration_since(start).unwrap();
            assert!(waited < bound, "blob not backfilled after {waited:?}");
            context.sleep(Duration::from_millis(100)).await;
        }
        assert!(
            late.chain
                .lock()
                .unwrap()
                .finalized()
                .model(&cairn_types::infer::model_id(&owner.public_key(), &graph))
                .is_some()
        );
        assert_eq!(late.blobs.store().get(id).expect("read"), Some(bytes));
    });
}
