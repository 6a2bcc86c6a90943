//! Untrusted bytes → blocks of ops → a chain run from genesis, with every invariant of the
//! state-machine fuzzer checked after every block (no panic or caught panic, supply
//! conservation, refused transactions and blocks change nothing, snapshots round-trip).
//! The driver is the test suite's (`crates/state/tests/it/fuzz/`), so a crash found here
//! replays there as a proptest case or a named regression test.
#![no_main]
// The test suite reads what a fuzz run has no use for (run statistics).
#![allow(dead_code)]
use libfuzzer_sys::fuzz_target;

#[path = "../../crates/state/tests/it/fuzz/actions.rs"]
mod actions;
#[path = "../../crates/state/tests/it/fuzz/ops.rs"]
mod ops;
#[path = "../../crates/state/tests/it/fuzz/party.rs"]
mod party;
#[path = "../../crates/state/tests/it/fuzz/steer.rs"]
mod steer;
#[path = "../../crates/state/tests/it/fuzz/world.rs"]
mod world;

fuzz_target!(|data: &[u8]| {
    let blocks = ops::decode_blocks(data);
    world::run(&blocks);
});
