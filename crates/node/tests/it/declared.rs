//! The blob policy over a real chain: a blob a pending transaction declares is free for the
//! size it declares, stays declared once the transaction is final, and a peer's push of it is
//! kept without charging that peer; an undeclared push is charged to the peer that sent it.

use crate::sim::*;
use cairn_blobs::BlobId;
use cairn_node::blobs::{ChainDeclared, DeclaredBlobs, Uploader};
use cairn_node::engine::NodeHandle;
use commonware_cryptography::Signer;
use commonware_runtime::{Clock, Runner};
use std::sync::Arc;
use std::time::Duration;

/// Longest the test waits (simulated time) for a push or a block.
const BOUND: Duration = Duration::from_secs(30);

fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(17).wrapping_add(seed))
        .collect()
}

/// A model registration naming `graph` of `graph_bytes`, signed by account 0.
fn register_model(graph: [u8; 32], graph_bytes: u64) -> cairn_types::SignedTx {
    let owner = account_key(0);
    cairn_types::Transaction {
        chain_id: CHAIN_ID.into(),
        signer: owner.public_key(),
        nonce: 0,
        fee: 1,
        action: cairn_types::Action::RegisterModel {
            model: cairn_types::ModelRegistration {
                graph,
                graph_bytes,
                model_root: [9; 32],
                node_count: 3,
                input_shape: vec![4],
                output_shape: vec![2],
                name: "declared-test".into(),
                licence: "MIT".into(),
                price: 0,
                lineage: None,
            },
        },
    }
    .sign(&owner)
}

/// Waits (simulated time) until `done` holds, or panics after [BOUND].
async fn wait_until(
    context: &commonware_runtime::deterministic::Context,
    what: &str,
    done: impl Fn() -> bool,
) {
    let start = context.current();
    while !done() {
        let waited = context.current().duration_since(start).unwrap_or_default();
        assert!(waited < BOUND, "{what}: not after {waited:?}");
        context.sleep(Duration::from_millis(20)).await;
    }
}

fn declared(node: &NodeHandle) -> Arc<ChainDeclared> {
    let declared = Arc::new(ChainDeclared::new(node.chain.clone()));
    node.blobs.policy().set_declared(declared.clone());
    declared
}

#[test]
fn a_declared_blob_is_free_pending_and_final_and_an_undeclared_push_is_charged() {
    runner(41).start(|context| async move {
        let net = Net::start(&context, 4, 4, lan(), 4).await;
        let nodes = &net.nodes;
        let watched: Vec<_> = nodes.iter().map(declared).collect();
        let graph = blob(50_000, 1);
        let id = BlobId::of(&graph);
        assert_eq!(watched[1].declared_size(id), None);

        // Pending on node 1: declared there at once, with the size the transaction names.
        let tx = register_model(id.into(), graph.len() as u64);
        nodes[1].chain.lock().unwrap().submit(tx).expect("admitted");
        assert_eq!(watched[1].declared_size(id), Some(graph.len() as u64));
        assert!(watched[1].declared().contains(&id));

        // Final everywhere: declared by the ledger on every node.
        wait_until(&context, "declared by the ledger", || {
            watched.iter().all(|d| d.declared_size(id).is_some())
        })
        .await;

        // Node 0 pushes it: every peer keeps it, charging node 0 nothing.
        nodes[0].blobs.put(graph.clone()).await.expect("put");
        wait_until(&context, "declared blob on every peer", || {
            nodes.iter().all(|n| n.blobs.has(id))
        })
        .await;
        let pusher = Uploader::Peer(net.keys[0].public_key());
        for node in &nodes[1..] {
            assert_eq!(node.blobs.policy().quota().used_by(&pusher), 0);
        }

        // An undeclared blob: kept by peers within node 0's quota, charged to node 0.
        let stray = blob(20_000, 2);
        let stray_id = nodes[0].blobs.put(stray.clone()).await.expect("put");
        wait_until(&context, "undeclared blob on every peer", || {
            nodes.iter().all(|n| n.blobs.has(stray_id))
        })
        .await;
        for node in &nodes[1..] {
            let quota = node.blobs.policy().quota();
            assert_eq!(quota.used_by(&pusher), stray.len() as u64);
            assert_eq!(quota.charged(), vec![stray_id]);
        }
    });
}
