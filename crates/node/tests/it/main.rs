//! Integration tests of the Cairn node on commonware's deterministic runtime and simulated
//! network: whole networks of real engines, seeded, replayable.

mod blobs;
mod declared;
mod epochs;
mod faults;
mod fl_task;
mod sim;

use cairn_node::Scheme;
use commonware_consensus::simplex::mocks::conflicter;
use commonware_cryptography::{Sha256, Signer};
use commonware_runtime::{Clock, Quota, Runner, Supervisor as _};
use commonware_utils::NZU32;
use sim::*;
use std::time::Duration;

const SIM_LIMIT: Duration = Duration::from_secs(600);

/// 4 validators, transfers flowing, until every node has finalized `blocks`; returns node 0's
/// (height, block hash, state root) list and the final balances of the recipients.
fn four_validators_with_transfers(
    seed: u64,
    blocks: u64,
) -> (Vec<(u64, String, String)>, Vec<u64>) {
    runner(seed).start(|context| async move {
        let n = 4;
        let net = Net::start(&context, n, 9, lan(), n).await;
        let nodes = &net.nodes;
        // Senders 4..8 each send 20 transfers to account 8 (not an operator, so it earns no
        // fees), through rotating nodes.
        let recipient = account_key(8).public_key();
        for round in 0..20u64 {
            for s in 4..8 {
                let tx = transfer(&account_key(s), round, &recipient, 10 + s as u64);
                let node = &nodes[(round as usize + s) % n];
                node.chain
                    .lock()
                    .unwrap()
                    .submit(tx)
                    .expect("valid transfer admitted");
            }
            context.sleep(Duration::from_millis(150)).await;
        }
        let refs: Vec<_> = nodes.iter().collect();
        wait_for_height(&context, &refs, blocks, SIM_LIMIT).await;
        // Every transfer lands, exactly once, identically everywhere (bounded wait: the last
        // ones may still be in flight when the height target is reached).
        let sent: u64 = (4..8u64).map(|s| 20 * (10 + s)).sum();
        let balance_of = |n: &cairn_node::engine::NodeHandle| {
            n.chain
                .lock()
                .unwrap()
                .finalized()
                .account(&recipient)
                .unwrap()
                .balance
        };
        let start = context.current();
        while nodes.iter().any(|n| balance_of(n) < FUNDED + sent) {
            assert!(
                context.current().duration_since(start).unwrap() < SIM_LIMIT,
                "transfers never all finalized"
            );
            context.sleep(Duration::from_millis(50)).await;
        }
        let balances: Vec<u64> = nodes.iter().map(balance_of).collect();
        assert!(
            balances.iter().all(|b| *b == FUNDED + sent),
            "every transfer finalized exactly once: {balances:?}"
        );

        // Every node finalized the same blocks with the same state roots.
        let reference = chain_summary(&nodes[0], blocks).await;
        for node in &nodes[1..] {
            assert_eq!(
                chain_summary(node, blocks).await,
                reference,
                "nodes disagree"
            );
        }
        (reference, balances)
    })
}

#[test]
fn four_validators_finalize_fifty_blocks_and_agree_on_every_root() {
    // The helper asserts the nodes' agreement and the transfers' balances; here, that the
    // fifty blocks are fifty (no height repeats a block) and that the transfers moved the state.
    let (summary, _) = four_validators_with_transfers(7, 50);
    let hashes: std::collections::BTreeSet<&String> = summary.iter().map(|(_, h, _)| h).collect();
    assert_eq!(hashes.len(), 50, "a block repeats: {summary:?}");
    let roots: std::collections::BTreeSet<&String> = summary.iter().map(|(_, _, r)| r).collect();
    assert!(roots.len() > 1, "no block changed the state: {summary:?}");
}

#[test]
fn same_seed_replays_the_same_chain() {
    let a = four_validators_with_transfers(42, 20);
    let b = four_validators_with_transfers(42, 20);
    assert_eq!(
        a, b,
        "same seed must give the same blocks, roots and balances"
    );
}

#[test]
fn crashed_validator_restarts_and_catches_up_with_equal_root() {
    runner(3).start(|context| async move {
        let Net {
            oracle,
            keys,
            genesis,
            nodes,
            mut tasks,
            ..
        } = Net::start(&context, 4, 6, lan(), 4).await;
        let refs: Vec<_> = nodes.iter().collect();
        wait_for_height(&context, &refs, 10, SIM_LIMIT).await;

        // Crash node 3; the other three keep finalizing (3 of 4 is a quorum) with transfers.
        let crashed = tasks.pop().unwrap();
        crashed.abort();
        let _ = crashed.await;
        let stopped_at = height(&nodes[3]);
        for nonce in 0..10 {
            let tx = transfer(&account_key(4), nonce, &account_key(5).public_key(), 7);
            nodes[0].chain.lock().unwrap().submit(tx).unwrap();
        }
        let live: Vec<_> = nodes[..3].iter().collect();
        wait_for_height(&context, &live, stopped_at + 30, SIM_LIMIT).await;

        // Restart from its storage: it resumes at its persisted height and catches up.
        let (_task, restarted) =
            start_validator(&context, &oracle, keys[3].clone(), genesis.clone(), 1).await;
        assert!(
            height(&restarted) >= stopped_at.saturating_sub(1),
            "restart lost persisted progress"
        );
        let target = height(&nodes[0]) + 5;
        assert_caught_up(&context, &nodes[..3], &restarted, target, SIM_LIMIT).await;
        let balance = |n: &cairn_node::engine::NodeHandle| {
            n.chain
                .lock()
                .unwrap()
                .finalized()
                .account(&account_key(5).public_key())
                .unwrap()
                .balance
        };
        assert_eq!(balance(&restarted), FUNDED + 70);
    });
}

#[test]
fn equivocating_validator_is_slashed_on_chain() {
    runner(11).start(|context| async move {
        let net = Net::start(&context, 4, 4, lan(), 3).await;
        let nodes = &net.nodes;
        // Validator 3 runs commonware's Byzantine conflicter: it signs two different
        // notarize/finalize votes in every view it sees.
        let byzantine = net.keys[3].clone();
        let scheme = net.scheme(3);
        let quota = Quota::per_second(NZU32!(10_000));
        let votes = epoch_zero_channel(
            &context,
            &net.oracle,
            &byzantine.public_key(),
            cairn_node::engine::channel::VOTES,
            quota,
        )
        .await;
        conflicter::Conflicter::<_, Scheme, Sha256>::new(
            context.child("byzantine"),
            conflicter::Config { scheme },
        )
        .start(votes);

        let offender = byzantine.public_key();
        let start = context.current();
        loop {
            let slashed = nodes.iter().all(|node| {
                let state = node.chain.lock().unwrap().finalized();
                state
                    .validator(&offender)
                    .is_some_and(|v| v.jailed && v.slashed_total > 0)
            });
            if slashed {
                break;
            }
            assert!(
                context.current().duration_since(start).unwrap() < SIM_LIMIT,
                "offender never slashed"
            );
            context.sleep(Duration::from_millis(100)).await;
        }
        // Honest validators keep finalizing and agree on the slash.
        let refs: Vec<_> = nodes.iter().collect();
        let target = height(&nodes[0]) + 5;
        wait_for_height(&context, &refs, target, SIM_LIMIT).await;
        assert_eq!(
            chain_summary(&nodes[1], target).await,
            chain_summary(&nodes[0], target).await
        );
        let state = nodes[0].chain.lock().unwrap().finalized();
        let validator = state.validator(&offender).unwrap();
        let slashes: Vec<_> = state
            .slashes()
            .into_iter()
            .filter(|s| s.offender == offender)
            .collect();
        assert_eq!(
            slashes.len(),
            1,
            "one equivocating validator is slashed once (then jailed)"
        );
        assert_eq!(validator.slashed_total, slashes[0].amount);
        assert!(
            !state
                .compute_validator_set()
                .iter()
                .any(|(k, _)| *k == offender)
        );
    });
}
