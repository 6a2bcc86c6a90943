//! Whole games between an honest party and an adversary: the honest side always wins.

use cairn_dispute::{ARITIES, Player, Reason, Side, tree};
use proptest::prelude::*;

use crate::common::{Lie, Rng, Tamper, force_output_lie, forge, open, play, random_graph, setup};

/// A liar's trace: a first lie at a random node (node 0 = another input), perhaps a
/// "repair" to the truth at a later node, consistent recomputation elsewhere, and an output
/// that differs from the truth.
pub fn liar_trace(
    g: &cairn_infer::Graph,
    truth: &cairn_infer::Trace,
    seed: u64,
) -> cairn_infer::Trace {
    let mut rng = Rng(seed);
    let n = g.len();
    let first = rng.below(n as u64) as usize;
    let mut lies = vec![(first, Lie::Garbage(rng.next()))];
    if first + 1 < n && rng.below(2) == 0 {
        lies.push((
            first + 1 + rng.below((n - first - 1) as u64) as usize,
            Lie::Truth,
        ));
    }
    let mut forged = forge(g, truth, &lies);
    force_output_lie(truth, &mut forged, rng.next());
    forged
}

pub fn tamper(rng: &mut Rng) -> Tamper {
    match rng.below(3) {
        0 => Tamper::None,
        1 => Tamper::SilentAt(rng.below(8) as u32),
        _ => Tamper::CorruptAt(rng.below(8) as u32, rng.next()),
    }
}

/// Rounds (provider moves) a dispute over `nodes` nodes and at most `rows` rows takes at most.
fn rounds_max(nodes: u64, rows: u64, k: u8) -> u32 {
    let m = u32::from(k).trailing_zeros();
    tree::height(nodes).div_ceil(m) + tree::height(rows).div_ceil(m) + 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn honest_challenger_beats_a_lying_provider(seed in any::<u64>(), lie in any::<u64>(), how in any::<u64>(), ki in 0usize..4) {
        let g = random_graph(seed);
        let (_, truth) = setup(&g, seed ^ 7);
        let k = ARITIES[ki];
        let mut rng = Rng(how);
        let provider = Player::new(g.clone(), liar_trace(&g, &truth, lie));
        let challenger = Player::new(g.clone(), truth.clone());
        let d = open(&g, &truth, &provider, &challenger, k).expect("outputs differ");
        let played = play(d, [(&provider, tamper(&mut rng)), (&challenger, Tamper::None)]);
        prop_assert_eq!(played.outcome.winner, Side::Challenger, "{:?}", played.outcome);
        prop_assert_eq!(played.outcome.payout, 1_700);
        prop_assert_eq!(played.outcome.slashed, 1_000);
        let consistent = matches!(played.outcome.reason, Reason::StepConsistent { .. });
        prop_assert!(!consistent, "{:?}", played.outcome);
        let rows = g.nodes().iter().map(|n| n.output.rows() as u64).max().unwrap_or(1);
        prop_assert!(played.moves < 2 * rounds_max(g.len() as u64, rows, k));
    }

    #[test]
    fn honest_provider_beats_a_lying_challenger(seed in any::<u64>(), lie in any::<u64>(), how in any::<u64>(), ki in 0usize..4) {
        let g = random_graph(seed);
        let (_, truth) = setup(&g, seed ^ 7);
        let k = ARITIES[ki];
        let mut rng = Rng(how);
        let provider = Player::new(g.clone(), truth.clone());
        let challenger = Player::new(g.clone(), liar_trace(&g, &truth, lie));
        let d = open(&g, &truth, &provider, &challenger, k).expect("outputs differ");
        let played = play(d, [(&provider, Tamper::None), (&challenger, tamper(&mut rng))]);
        prop_assert_eq!(played.outcome.winner, Side::Provider, "{:?}", played.outcome);
        prop_assert_eq!(played.outcome.payout, 1_700);
        prop_assert_eq!(played.outcome.slashed, 700);
    }

    #[test]
    fn a_liar_caught_in_the_step_loses_by_mismatch(seed in any::<u64>(), lie in any::<u64>(), ki in 0usize..4) {
        let g = random_graph(seed);
        let (_, truth) = setup(&g, seed ^ 7);
        let mut rng = Rng(lie);
        // The lie is at a computed node, so the game must end in the one step.
        let at = 1 + rng.below(g.len() as u64 - 1) as usize;
        let mut forged = forge(&g, &truth, &[(at, Lie::Garbage(rng.next()))]);
        force_output_lie(&truth, &mut forged, rng.next());
        let provider = Player::new(g.clone(), forged);
        let challenger = Player::new(g.clone(), truth.clone());
        let d = open(&g, &truth, &provider, &challenger, ARITIES[ki]).expect("outputs differ");
        let played = play(d, [(&provider, Tamper::None), (&challenger, Tamper::None)]);
        prop_assert_eq!(played.rejected, 0);
        let mismatch = matches!(played.outcome.reason, Reason::StepMismatch { .. });
        prop_assert!(mismatch, "{:?}", played.outcome);
    }
}
