//! Validator sets that change with stake: each epoch's set, fixed by the ledger at the epoch's
//! last block, runs that epoch's consensus. Deterministic runtime, simulated network, real engines.

use crate::{SIM_LIMIT, sim::*};
use cairn_node::engine::NodeHandle;
use cairn_types::{Action, Genesis, PrivateKey, Transaction};
use commonware_cryptography::Signer;
use commonware_runtime::{Clock, Runner, Spawner, Supervisor as _, deterministic};
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// Blocks per epoch in these tests (heights 0..=9 are epoch 0, and so on).
const EPOCH_BLOCKS: u64 = 10;

/// The longest the network may go without finalizing a block while its validator set changes
/// under load, with one validator crashed (its leader views wait out the 2 s timeout).
pub const SET_CHANGE_STALL_BOUND: Duration = Duration::from_secs(10);

fn short_epochs(validators: usize, accounts: usize) -> Genesis {
    let mut genesis = genesis(validators, accounts);
    genesis.params.epoch_length_blocks = EPOCH_BLOCKS;
    genesis
}

fn signed(from: &PrivateKey, nonce: u64, action: Action) -> cairn_types::SignedTx {
    Transaction {
        chain_id: CHAIN_ID.into(),
        signer: from.public_key(),
        nonce,
        fee: 1,
        action,
    }
    .sign(from)
}

fn jailed(node: &NodeHandle, key: &cairn_types::PublicKey) -> bool {
    node.chain
        .lock()
        .unwrap()
        .finalized()
        .validator(key)
        .is_some_and(|v| v.jailed)
}

fn active_keys(node: &NodeHandle) -> Vec<cairn_types::PublicKey> {
    node.chain
        .lock()
        .unwrap()
        .finalized()
        .active_validator_set()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// Watches `node`'s finalized height every 10 ms and records the longest time without progress.
fn watch_stalls(
    context: &deterministic::Context,
    node: NodeHandle,
    stop: Arc<AtomicBool>,
) -> Arc<Mutex<Duration>> {
    let longest = Arc::new(Mutex::new(Duration::ZERO));
    let record = longest.clone();
    context.child("stall_watch").spawn(move |ctx| async move {
        let (mut last_height, mut since) = (height(&node), ctx.current());
        while !stop.load(Ordering::Relaxed) {
            ctx.sleep(Duration::from_millis(10)).await;
            let now = ctx.current();
            let h = height(&node);
            if h > last_height {
                (last_height, since) = (h, now);
            }
            let stalled = now.duration_since(since).unwrap_or_default();
            let mut longest = record.lock().unwrap();
            *longest = (*longest).max(stalled);
        }
    });
    longest
}

/// Transfers from accounts 5..8, a few every 100 ms, round-robin over `nodes`, until `stop`.
fn load(
    context: &deterministic::Context,
    nodes: Vec<NodeHandle>,
    stop: Arc<AtomicBool>,
) -> Arc<Mutex<u64>> {
    let sent = Arc::new(Mutex::new(0u64));
    let count = sent.clone();
    context.child("load").spawn(move |ctx| async move {
        let recipient = account_key(9).public_key();
        let mut nonce = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for (i, s) in (5..8).enumerate() {
                let node = &nodes[(nonce as usize + i) % nodes.len()];
                if node
                    .chain
                    .lock()
                    .unwrap()
                    .submit(transfer(&account_key(s), nonce, &recipient, 1))
                    .is_ok()
                {
                    *count.lock().unwrap() += 1;
                }
            }
            nonce += 1;
            ctx.sleep(Duration::from_millis(100)).await;
        }
    });
    sent
}

#[test]
fn a_fifth_validator_joins_and_one_leaves_by_staking_under_load_without_stalling() {
    runner(31).start(|context| async move {
        // Genesis validators 0..4; validator 4's key is on the network but not in genesis.
        let net = Net::start_with(&context, short_epochs(4, 10), 5, lan(), 5).await;
        let nodes = &net.nodes;
        let stop = Arc::new(AtomicBool::new(false));
        let longest_stall = watch_stalls(&context, nodes[2].clone(), stop.clone());
        let sent = load(&context, nodes[2..4].to_vec(), stop.clone());
        let refs: Vec<_> = nodes.iter().collect();
        wait_for_height(&context, &refs[..4], 3, SIM_LIMIT).await;

        // Account 4 creates validator 4 with the largest bond; account 0 unbonds validator 0's
        // whole self-bond (below the minimum, so it leaves at the next boundary).
        let newcomer = net.keys[4].clone();
        let pop = cairn_types::sign_validator_pop(&newcomer, &account_key(4).public_key());
        let create = Action::CreateValidator {
            consensus_key: newcomer.public_key(),
            moniker: "v4".into(),
            self_bond: 2_000_000,
            proof_of_possession: pop,
        };
        nodes[1].chain.lock().unwrap().submit(signed(&account_key(4), 0, create)).expect("create-validator admitted");
        let unbond = Action::Unbond { validator: net.keys[0].public_key(), amount: 1_000_000 };
        nodes[1].chain.lock().unwrap().submit(signed(&account_key(0), 0, unbond)).expect("unbond admitted");

        // The boundary after both finalize hands the new set to consensus.
        let start = context.current();
        while !nodes[..4].iter().all(|n| active_keys(n).contains(&newcomer.public_key())) {
            assert!(context.current().duration_since(start).unwrap() < SIM_LIMIT, "the set never changed");
            context.sleep(Duration::from_millis(50)).await;
        }
        let changed_at = height(&nodes[1]);
        let set = active_keys(&nodes[1]);
        assert_eq!(set.len(), 4);
        assert!(!set.contains(&net.keys[0].public_key()), "validator 0 left");
        // The newcomer caught up from genesis and runs the same epoch.
        wait_for_height(&context, &refs, changed_at + 2, SIM_LIMIT).await;
        let epoch = nodes[1].chain.lock().unwrap().finalized().epoch();
        assert!(epoch >= 1);

        // Stop validator 0 (it left the set) and crash validator 1. The set is now {1, 2, 3, 4}:
        // 2, 3 and the newcomer are exactly a quorum, so blocks finalize only if the newcomer
        // votes (under the genesis set, 2 and 3 alone could not finalize).
        let mut tasks = net.tasks;
        tasks.remove(1).abort();
        tasks.remove(0).abort();
        let survivors: Vec<&NodeHandle> = [2, 3, 4].iter().map(|i| &nodes[*i]).collect();
        let target = height(&nodes[2]) + 2 * EPOCH_BLOCKS;
        wait_for_height(&context, &survivors, target, SIM_LIMIT).await;
        stop.store(true, Ordering::Relaxed);

        // Every survivor finalized the same chain; the load kept landing.
        let reference = chain_summary(&nodes[2], target).await;
        for node in &survivors {
            assert_eq!(chain_summary(node, target).await, reference, "nodes disagree");
        }
        let state = nodes[2].chain.lock().unwrap().finalized();
        let received = state.account(&account_key(9).public_key()).map(|a| a.balance).unwrap_or(0) - FUNDED;
        assert!(received > 0 && received <= *sent.lock().unwrap());
        assert!(state.epoch() > epoch, "consensus crossed further epoch boundaries with the new set");
        let stall = *longest_stall.lock().unwrap();
        assert!(stall < SET_CHANGE_STALL_BOUND, "finality stalled for {stall:?}");
        println!(
            "set changed at height {changed_at}; reached {target} in epoch {}; longest stall {stall:?}; {received} transfers",
            state.epoch()
        );
    });
}

#[test]
fn a_validator_down_for_several_epochs_catches_up_across_the_boundaries() {
    runner(37).start(|context| async move {
        let genesis = short_epochs(4, 6);
        let net = Net::start_with(&context, genesis.clone(), 4, lan(), 4).await;
        let Net {
            oracle,
            keys,
            nodes,
            mut tasks,
            ..
        } = net;
        let refs: Vec<_> = nodes.iter().collect();
        wait_for_height(&context, &refs, 5, SIM_LIMIT).await;

        let crashed = tasks.pop().unwrap();
        crashed.abort();
        let _ = crashed.await;
        let stopped_at = height(&nodes[3]);
        let live: Vec<_> = nodes[..3].iter().collect();
        // Three epoch boundaries pass while it is down.
        wait_for_height(
            &context,
            &live,
            stopped_at + 3 * EPOCH_BLOCKS + 2,
            SIM_LIMIT,
        )
        .await;

        let (_task, restarted) =
            start_validator(&context, &oracle, keys[3].clone(), genesis, 1).await;
        let target = height(&nodes[0]) + 3;
        assert_caught_up(&context, &nodes[..3], &restarted, target, SIM_LIMIT).await;
        // Down that long, it was jailed for inactivity (the next test brings one back): it
        // follows the chain, which the other three carry on.
        let absent = keys[3].public_key();
        assert!(jailed(&restarted, &absent));
        assert!(!active_keys(&restarted).contains(&absent));
        let further = target + EPOCH_BLOCKS + 2;
        assert_caught_up(&context, &nodes[..3], &restarted, further, SIM_LIMIT).await;
    });
}

#[test]
fn a_validator_down_for_an_epoch_is_jailed_then_unjails_and_votes_again() {
    runner(41).start(|context| async move {
        let genesis = short_epochs(4, 6);
        let Net {
            oracle,
            keys,
            nodes,
            mut tasks,
            ..
        } = Net::start_with(&context, genesis.clone(), 4, lan(), 4).await;
        let refs: Vec<_> = nodes.iter().collect();
        wait_for_height(&context, &refs, 3, SIM_LIMIT).await;

        // Validator 3 goes down: its leader views time out and are charged to it.
        let down = tasks.pop().unwrap();
        down.abort();
        let _ = down.await;
        let absent = keys[3].public_key();
        let live: Vec<_> = nodes[..3].iter().collect();
        let start = context.current();
        while !nodes[..3].iter().all(|n| jailed(n, &absent)) {
            assert!(
                context.current().duration_since(start).unwrap() < SIM_LIMIT,
                "never jailed"
            );
            context.sleep(Duration::from_millis(50)).await;
        }
        let state = nodes[0].chain.lock().unwrap().finalized();
        let jailed_at = state.liveness(&absent).unwrap().jailed_at.unwrap();
        assert!(!active_keys(&nodes[0]).contains(&absent));
        assert_eq!(
            state.validator(&absent).unwrap().slashed_total,
            0,
            "inactivity is not slashed"
        );
        // Three validators carry on, without the timeouts the absent leader cost.
        let stop = Arc::new(AtomicBool::new(false));
        let stalls = watch_stalls(&context, nodes[0].clone(), stop.clone());
        wait_for_height(&context, &live, jailed_at + EPOCH_BLOCKS, SIM_LIMIT).await;
        stop.store(true, Ordering::Relaxed);
        let stall = *stalls.lock().unwrap();
        assert!(
            stall < Duration::from_millis(1_900),
            "a jailed leader still costs timeouts: {stall:?}"
        );

        // It comes back, its operator unjails it (after sitting out an epoch), and it rejoins
        // the set at the next boundary.
        let (_task, back) = start_validator(&context, &oracle, keys[3].clone(), genesis, 1).await;
        let nonce = nodes[0]
            .chain
            .lock()
            .unwrap()
            .finalized()
            .account(&account_key(3).public_key())
            .map_or(0, |a| a.nonce);
        let unjail = signed(
            &account_key(3),
            nonce,
            Action::Unjail {
                validator: absent.clone(),
            },
        );
        nodes[0]
            .chain
            .lock()
            .unwrap()
            .submit(unjail)
            .expect("unjail admitted after an epoch");
        let start = context.current();
        while !nodes[..3].iter().all(|n| active_keys(n).contains(&absent)) {
            assert!(
                context.current().duration_since(start).unwrap() < SIM_LIMIT,
                "never back in the set"
            );
            context.sleep(Duration::from_millis(50)).await;
        }
        // And votes: with validator 0 down, 1, 2 and 3 are exactly the quorum.
        tasks.remove(0).abort();
        let quorum = [&nodes[1], &nodes[2], &back];
        let target = height(&nodes[1]) + EPOCH_BLOCKS + 2;
        wait_for_height(&context, &quorum, target, SIM_LIMIT).await;
        assert_eq!(
            chain_summary(&back, target).await,
            chain_summary(&nodes[1], target).await
        );
    });
}
