//! The golden chain: one fixed sequence of blocks, played by the fuzzer's driver from genesis,
//! with each executed block's state root and receipts digest and the final snapshot's digest
//! pinned in `tests/fixtures/golden_chain.txt`. Any change to what the state machine computes
//! (a table's encoding, an action's effect, an end-block step, the order of anything) moves a
//! root, and this test names the first block where it moved.
//!
//! The fixture is regenerated only as an explicit decision, never by a failing run:
//! `CAIRN_REGENERATE_GOLDEN=1 cargo test -p cairn-state --test it golden_chain`, committed
//! with a message that says why the chain changed.
//!
//! The blocks come from fixed [SplitMix] streams (cairn-infer's SplitMix64) decoded as fuzzer
//! ops, so the sequence depends on nothing but this file, that generator and the driver
//! (`world.rs`, `actions.rs`, `steer.rs`): a change to the driver changes the chain too, and
//! is regenerated the same way.

use super::ACTIONS;
use super::ops::{BLOCK_OPS_MAX, OP_BYTES, Op};
use super::world::World;
use cairn_infer::rng::SplitMix;
use cairn_types::to_hex;

/// The fixture, relative to the crate.
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/golden_chain.txt"
);
/// Set to `1` to rewrite the fixture from this run.
const REGENERATE: &str = "CAIRN_REGENERATE_GOLDEN";
/// The streams' seeds, played one after the other on one chain; chosen so that the run admits
/// and refuses every action kind and reaches every outcome in [OUTCOMES].
pub const SEEDS: [u64; 2] = [34, 23];
/// Planned blocks per seed (each may be followed by idle ones that its ops ask for).
pub const BLOCKS: usize = 60;
/// What the run must reach, as the driver counts it (by prefix): the end-block paths of
/// inference (settle, refute, expire, a cancelled dispute, a proven-invalid model), of tasks
/// (completion, rejection) and of staking (evidence refused and applied, jailing).
const OUTCOMES: [&str; 14] = [
    "request settled",
    "request refuted",
    "request expired",
    "dispute cancelled",
    "dispute challenger",
    "dispute provider",
    "model invalid",
    "model retired",
    "admitted: model with lineage",
    "task completed",
    "task rejected",
    "block refused: evidence",
    "slashes",
    "validators jailed",
];

/// The next op from `stream`: [OP_BYTES] bytes of its output, little-endian.
fn next_op(stream: &mut SplitMix) -> Op {
    let mut bytes = [0u8; OP_BYTES];
    for chunk in bytes.chunks_mut(8) {
        let word = stream.next().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    Op::decode(&bytes)
}

/// [BLOCKS] blocks of [BLOCK_OPS_MAX] ops from the stream seeded with `seed`.
pub fn blocks(seed: u64) -> Vec<Vec<Op>> {
    let mut stream = SplitMix(seed);
    (0..BLOCKS)
        .map(|_| (0..BLOCK_OPS_MAX).map(|_| next_op(&mut stream)).collect())
        .collect()
}

/// Plays the golden blocks of `seeds`, in turn, from genesis (every invariant checked after
/// every block).
pub fn play(seeds: &[u64]) -> World {
    let mut world = World::new();
    for ops in seeds.iter().flat_map(|seed| blocks(*seed)) {
        world.block(&ops);
    }
    world.census();
    world
}

/// The fixture's text for a played chain: a line per executed block, then the snapshot.
fn render(world: &World) -> String {
    let mut text = format!(
        "# golden chain: seeds {SEEDS:?}, {BLOCKS} planned blocks each of {BLOCK_OPS_MAX} ops; \
         regenerate only with {REGENERATE}=1 (see crates/state/tests/it/fuzz/golden.rs)\n\
         # height state_root receipts_digest\n"
    );
    for b in &world.chain {
        text.push_str(&format!(
            "{} {} {}\n",
            b.height,
            to_hex(b.root),
            to_hex(b.receipts)
        ));
    }
    let snapshot = cairn_types::sha256(&[&world.state.encode_snapshot()]);
    text.push_str(&format!("snapshot {}\n", to_hex(snapshot)));
    text
}

/// The action kinds the run never admitted or never refused, and the outcomes it never reached.
fn uncovered(world: &World) -> Vec<String> {
    let actions = ACTIONS.iter().filter_map(|action| {
        let [admitted, refused] = world.stats.txs.get(action).copied().unwrap_or_default();
        (admitted == 0 || refused == 0)
            .then(|| format!("{action} (admitted {admitted}, refused {refused})"))
    });
    let events = &world.stats.events;
    let outcomes = OUTCOMES
        .iter()
        .filter(|outcome| !events.keys().any(|event| event.starts_with(*outcome)))
        .map(|outcome| format!("outcome {outcome}"));
    actions.chain(outcomes).collect()
}

#[test]
fn golden_chain_is_byte_for_byte_the_same() {
    let world = play(&SEEDS);
    let missing = uncovered(&world);
    assert!(
        missing.is_empty(),
        "the golden chain no longer reaches everything it pins: {missing:?}"
    );
    // The final state has an entry in every table: the undo journal must restore each.
    let rolled_back = cairn_state::testkit::rollback_every_table(&world.state);
    assert_eq!(rolled_back, Ok(cairn_state::testkit::TABLES.to_vec()));
    let text = render(&world);
    if std::env::var(REGENERATE).as_deref() == Ok("1") {
        std::fs::write(FIXTURE, &text).expect("write the golden fixture");
        println!("regenerated {FIXTURE}: {} blocks", world.chain.len());
        return;
    }
    let pinned = std::fs::read_to_string(FIXTURE)
        .unwrap_or_else(|e| panic!("{FIXTURE} unreadable ({e}); generate it with {REGENERATE}=1"));
    let mismatch = pinned
        .lines()
        .zip(text.lines())
        .find(|(want, got)| want != got);
    if let Some((want, got)) = mismatch {
        panic!(
            "the chain moved from the golden fixture:\n  pinned: {want}\n  now:    {got}\n\
             (regenerate only as a decision: {REGENERATE}=1, and say why in the commit)"
        );
    }
    assert_eq!(
        pinned.lines().count(),
        text.lines().count(),
        "the chain has another length than the golden fixture"
    );
}
