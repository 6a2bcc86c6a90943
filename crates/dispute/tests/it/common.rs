//! Random graphs (cairn-infer's testkit), forged traces and a game driver.

use cairn_dispute::{Clock, Dispute, Move, Outcome, Params, Player};
use cairn_infer::{Graph, ModelCommitment, Node, Op, Trace, run};

pub fn node(op: Op, inputs: &[u32], shape: &[u32], zero_point: i8) -> Node {
    Node::new(op, inputs, shape, zero_point)
}

pub use cairn_infer::rng::SplitMix as Rng;
pub use cairn_infer::testkit::random_graph;

pub use cairn_dispute::forge::{Lie, force_output_lie};

/// [`cairn_dispute::forge::forge`] on a graph it always succeeds on.
pub fn forge(graph: &Graph, truth: &Trace, lies: &[(usize, Lie)]) -> Trace {
    cairn_dispute::forge::forge(graph, truth, lies).expect("forgeable")
}

pub const CLOCK: Clock = Clock {
    move_blocks_max: 10,
    budget_blocks: 1_000,
};

pub fn params(graph: &Graph, input_trace: &Trace, p: &Player, c: &Player, k: u8) -> Params {
    let input_root = cairn_infer::ExecCommitment::new(graph, input_trace).node_roots[0];
    Params {
        model_root: ModelCommitment::new(graph).root,
        node_count: graph.len() as u32,
        input_root,
        provider: p.claim(),
        challenger: c.claim(),
        provider_bond: 1_000,
        challenger_bond: 700,
        k,
        clock: CLOCK,
        start_height: 100,
    }
}

/// A party's behaviour: its player plus how it departs from answering honestly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    /// Answers every request from its trace.
    None,
    /// Stops answering at its n-th move.
    SilentAt(u32),
    /// At its n-th move posts a corrupted version of its answer (then falls silent if
    /// rejected, as a real liar has nothing better).
    CorruptAt(u32, u64),
}

pub use cairn_dispute::forge::corrupt;

/// What a finished game looked like.
pub struct Played {
    pub outcome: Outcome,
    pub moves: u32,
    pub rejected: u32,
}

/// Plays a dispute to the end, one block per move; a side that posts nothing (or whose move
/// is rejected) is timed out.
pub fn play(d: Dispute, players: [(&Player, Tamper); 2]) -> Played {
    play_with(d, players, |_| {})
}

/// [`play`], showing `posted` every move a side posts (accepted or not).
pub fn play_with(
    mut d: Dispute,
    players: [(&Player, Tamper); 2],
    mut posted: impl FnMut(&Move),
) -> Played {
    let (mut height, mut rejected) = (d.params().start_height, 0);
    let mut count = [0u32; 2];
    while d.outcome().is_none() {
        let side = d.turn().expect("unresolved");
        let (player, tamper) = players[side as usize];
        let n = count[side as usize];
        count[side as usize] += 1;
        let honest = player.respond(side, &d.request());
        let mv = match (tamper, honest) {
            (Tamper::SilentAt(s), _) if s == n => None,
            (Tamper::CorruptAt(s, seed), Some(mv)) if s == n => Some(corrupt(&mv, seed)),
            (_, mv) => mv,
        };
        height += 1;
        if let Some(mv) = &mv {
            posted(mv);
        }
        let accepted = match &mv {
            Some(mv) => match d.apply(side, mv, height) {
                Ok(_) => true,
                Err(_) => {
                    rejected += 1;
                    false
                }
            },
            None => false,
        };
        if !accepted {
            let deadline = d.deadline().expect("unresolved");
            assert!(
                d.claim_timeout(deadline).is_err(),
                "no timeout before the deadline"
            );
            d.claim_timeout(deadline + 1).expect("deadline passed");
        }
    }
    Played {
        outcome: *d.outcome().expect("resolved"),
        moves: d.moves(),
        rejected,
    }
}

/// Input, truth trace and the honest player for `graph`.
pub fn setup(graph: &Graph, seed: u64) -> (Vec<i8>, Trace) {
    let input = Rng(seed).bytes(graph.input().elements());
    let truth = run(graph, &input).expect("runs");
    (input, truth)
}

pub fn open(graph: &Graph, truth: &Trace, p: &Player, c: &Player, k: u8) -> Option<Dispute> {
    Dispute::open(params(graph, truth, p, c, k)).ok()
}
