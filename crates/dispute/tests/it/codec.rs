//! The move, claim and proof codecs: exact inverses of the encoders, strict, canonical and
//! panic-free on any input.

use std::sync::OnceLock;

use cairn_dispute::encode::{BYTES_MAX, CHILDREN_MAX, decode_proof, encode_proof};
use cairn_dispute::{ARITIES, Claim, DecodeError, Move, Player, Reveal};
use cairn_infer::graph::NODE_INPUTS_MAX;
use cairn_infer::merkle::{PROOF_DEPTH_MAX, Proof};
use cairn_infer::step::STEP_ROWS_MAX;
use proptest::prelude::*;

use crate::common::{
    Lie, Rng, Tamper, force_output_lie, forge, open, play_with, random_graph, setup,
};
use crate::games::{liar_trace, tamper};

/// Every move posted in one game (accepted or not) and both sides' claims. The liar is the
/// provider when `provider_lies`, else the challenger; it tampers as `how` says.
fn game(seed: u64, lie: u64, how: u64, k: u8, provider_lies: bool) -> (Vec<Move>, [Claim; 2]) {
    let g = random_graph(seed);
    let (_, truth) = setup(&g, seed ^ 7);
    let mut rng = Rng(how);
    let honest = Player::new(g.clone(), truth.clone());
    let liar = Player::new(g.clone(), liar_trace(&g, &truth, lie));
    let t = tamper(&mut rng);
    let (provider, challenger, players) = if provider_lies {
        (&liar, &honest, [(&liar, t), (&honest, Tamper::None)])
    } else {
        (&honest, &liar, [(&honest, Tamper::None), (&liar, t)])
    };
    let d = open(&g, &truth, provider, challenger, k).expect("outputs differ");
    let mut moves = Vec::new();
    play_with(d, players, |m| moves.push(m.clone()));
    (moves, [provider.claim(), challenger.claim()])
}

/// The moves of an untampered game whose provider lies at a computed node, so it ends with
/// a step.
fn step_game(seed: u64, k: u8) -> Vec<Move> {
    let g = random_graph(seed);
    let (_, truth) = setup(&g, seed ^ 7);
    let mut rng = Rng(seed ^ 0x5eed);
    let at = 1 + rng.below(g.len() as u64 - 1) as usize;
    let mut forged = forge(&g, &truth, &[(at, Lie::Garbage(rng.next()))]);
    force_output_lie(&truth, &mut forged, rng.next());
    let provider = Player::new(g.clone(), forged);
    let challenger = Player::new(g.clone(), truth.clone());
    let d = open(&g, &truth, &provider, &challenger, k).expect("outputs differ");
    let mut moves = Vec::new();
    play_with(
        d,
        [(&provider, Tamper::None), (&challenger, Tamper::None)],
        |m| moves.push(m.clone()),
    );
    moves
}

/// Moves from a handful of real games: splits, picks with and without reveals, and steps
/// with and without a channel.
fn corpus() -> &'static [Move] {
    static CORPUS: OnceLock<Vec<Move>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut moves = Vec::new();
        for seed in 0..12u64 {
            moves.extend(step_game(seed, ARITIES[seed as usize % 4]));
            let (m, _) = game(
                seed,
                seed ^ 0xabc,
                seed ^ 0xdef,
                ARITIES[(seed as usize + 1) % 4],
                seed % 2 == 0,
            );
            moves.extend(m);
        }
        moves
    })
}

/// A step move with at least one opened input row (and a channel when `with_channel`).
fn a_step(with_channel: bool) -> Move {
    corpus()
        .iter()
        .find(|m| match m {
            Move::Step(p) => {
                p.channel.is_some() == with_channel && p.inputs.iter().any(|i| !i.rows.is_empty())
            }
            _ => false,
        })
        .cloned()
        .expect("the corpus has such a step")
}

/// Whatever decodes re-encodes to the same bytes; nothing panics.
fn assert_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(m) = Move::decode(bytes) {
        prop_assert_eq!(m.encode(), bytes);
    }
    if let Ok(c) = Claim::decode(bytes) {
        prop_assert_eq!(c.encode(), bytes);
    }
    if let Ok(p) = decode_proof(bytes) {
        let mut out = Vec::new();
        encode_proof(&mut out, &p);
        prop_assert_eq!(out, bytes);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_move_of_a_real_game_round_trips(seed in any::<u64>(), lie in any::<u64>(), how in any::<u64>(), ki in 0usize..4, provider_lies in any::<bool>()) {
        let (moves, claims) = game(seed, lie, how, ARITIES[ki], provider_lies);
        for m in moves {
            prop_assert_eq!(Move::decode(&m.encode()), Ok(m));
        }
        for c in claims {
            prop_assert_eq!(Claim::decode(&c.encode()), Ok(c.clone()));
            let mut out = Vec::new();
            encode_proof(&mut out, &c.output_proof);
            prop_assert_eq!(decode_proof(&out), Ok(c.output_proof));
        }
    }

    #[test]
    fn every_move_of_a_game_ending_in_a_step_round_trips(seed in any::<u64>(), ki in 0usize..4) {
        let moves = step_game(seed, ARITIES[ki]);
        prop_assert!(matches!(moves.last(), Some(Move::Step(_))));
        for m in moves {
            prop_assert_eq!(Move::decode(&m.encode()), Ok(m));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic_and_decode_canonically(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        assert_canonical(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_tag_never_panic(tag in 1u8..=3, small in 0u8..=17, rest in proptest::collection::vec(any::<u8>(), 0..4096)) {
        // A plausible tag and count byte take the decoder past its first checks.
        let mut bytes = vec![tag, small];
        bytes.extend(rest);
        assert_canonical(&bytes)?;
    }

    #[test]
    fn mutated_real_moves_never_panic_and_decode_canonically(pick in any::<prop::sample::Index>(), edits in proptest::collection::vec((0u8..4, any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut bytes = pick.get(corpus()).encode();
        for (op, at, v) in edits {
            match op {
                0 if !bytes.is_empty() => { let i = at.index(bytes.len()); bytes[i] = v; }
                1 if !bytes.is_empty() => { let i = at.index(bytes.len()); bytes.remove(i); }
                2 => { let i = at.index(bytes.len() + 1); bytes.insert(i, v); }
                _ => { let i = at.index(bytes.len() + 1); bytes.truncate(i); }
            }
        }
        assert_canonical(&bytes)?;
    }
}

#[test]
fn the_corpus_covers_every_move_kind() {
    let c = corpus();
    assert!(c.iter().any(|m| matches!(m, Move::Split { .. })));
    assert!(
        c.iter()
            .any(|m| matches!(m, Move::Pick { reveal, .. } if reveal.header.is_some()))
    );
    assert!(
        c.iter()
            .any(|m| matches!(m, Move::Pick { reveal, .. } if reveal.row.is_some()))
    );
    assert!(
        c.iter()
            .any(|m| matches!(m, Move::Pick { reveal, .. } if *reveal == Reveal::default()))
    );
    a_step(true);
    a_step(false);
}

#[test]
fn every_strict_prefix_of_a_step_is_truncated() {
    for with_channel in [false, true] {
        let bytes = a_step(with_channel).encode();
        for end in 0..bytes.len() {
            let got = Move::decode(&bytes[..end]);
            assert!(
                matches!(got, Err(DecodeError::Truncated { .. })),
                "prefix of {end} of {} bytes: {got:?}",
                bytes.len()
            );
        }
        assert_eq!(
            Move::decode(&[]),
            Err(DecodeError::Truncated {
                what: "the move tag"
            })
        );
    }
}

#[test]
fn flags_must_be_zero_or_one() {
    // The pick's header and row flags.
    let pick = Move::Pick {
        children: vec![[7; 32]; 4],
        index: 1,
        reveal: Reveal::default(),
    };
    let bytes = pick.encode();
    let n = bytes.len();
    assert_eq!(Move::decode(&bytes), Ok(pick));
    for (at, what) in [
        (n - 2, "the pick's header flag"),
        (n - 1, "the pick's row flag"),
    ] {
        let mut b = bytes.clone();
        b[at] = 2;
        assert_eq!(
            Move::decode(&b),
            Err(DecodeError::BadFlag { what, value: 2 })
        );
        b[at] = 0xff;
        assert_eq!(
            Move::decode(&b),
            Err(DecodeError::BadFlag { what, value: 0xff })
        );
    }
    // The step's channel flag: everything before it is the same in a copy with no channel
    // and no inputs, whose encoding ends with `flag:0 inputs:0`.
    for with_channel in [false, true] {
        let step = a_step(with_channel);
        let Move::Step(p) = &step else { unreachable!() };
        let mut bare = p.clone();
        bare.channel = None;
        bare.inputs.clear();
        let at = Move::Step(bare).encode().len() - 2;
        let mut b = step.encode();
        assert_eq!(b[at], u8::from(with_channel));
        b[at] = 2;
        assert_eq!(
            Move::decode(&b),
            Err(DecodeError::BadFlag {
                what: "the step's channel flag",
                value: 2
            })
        );
    }
}

#[test]
fn trailing_bytes_and_unknown_tags_are_rejected() {
    for m in corpus().iter().take(40) {
        let mut b = m.encode();
        b.push(0);
        assert_eq!(
            Move::decode(&b),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
    }
    for with_channel in [false, true] {
        let mut b = a_step(with_channel).encode();
        b.extend_from_slice(&[0, 0, 0]);
        assert_eq!(
            Move::decode(&b),
            Err(DecodeError::TrailingBytes { extra: 3 })
        );
    }
    for tag in [0u8, 4, 0x80, 0xff] {
        let mut b = a_step(false).encode();
        b[0] = tag;
        assert_eq!(Move::decode(&b), Err(DecodeError::UnknownTag { tag }));
        assert_eq!(Move::decode(&[tag]), Err(DecodeError::UnknownTag { tag }));
    }
}

#[test]
fn declared_lengths_are_capped() {
    let too_many = |what, len, max| DecodeError::TooLong { what, len, max };
    let split = Move::Split {
        children: vec![[1; 32]; CHILDREN_MAX + 1],
    };
    assert_eq!(
        Move::decode(&split.encode()),
        Err(too_many(
            "the split's children",
            CHILDREN_MAX + 1,
            CHILDREN_MAX
        ))
    );
    let split = Move::Split {
        children: vec![[1; 32]; CHILDREN_MAX],
    };
    assert_eq!(Move::decode(&split.encode()), Ok(split));

    let proof = Proof {
        index: 0,
        count: 1,
        siblings: vec![[2; 32]; PROOF_DEPTH_MAX + 1],
    };
    let mut b = Vec::new();
    encode_proof(&mut b, &proof);
    assert_eq!(
        decode_proof(&b),
        Err(too_many("the proof", PROOF_DEPTH_MAX + 1, PROOF_DEPTH_MAX))
    );

    let Move::Step(p) = a_step(false) else {
        unreachable!()
    };
    let mut three = p.clone();
    while three.inputs.len() <= NODE_INPUTS_MAX {
        three.inputs.push(p.inputs[0].clone());
    }
    assert_eq!(
        Move::decode(&Move::Step(three).encode()),
        Err(too_many(
            "the step's inputs",
            NODE_INPUTS_MAX + 1,
            NODE_INPUTS_MAX
        ))
    );
    let mut rows = p.clone();
    let row = p.inputs[0].rows[0].clone();
    rows.inputs[0].rows = vec![row; STEP_ROWS_MAX + 1];
    assert_eq!(
        Move::decode(&Move::Step(rows).encode()),
        Err(too_many(
            "a step input's rows",
            STEP_ROWS_MAX + 1,
            STEP_ROWS_MAX
        ))
    );

    // A pick revealing a row: `2 n=0 index flag=0 flag=1 len:u32 ...`.
    let row_pick = |len: u32, body: usize| {
        let mut b = vec![2, 0, 0, 0, 1];
        b.extend_from_slice(&len.to_le_bytes());
        b.extend(std::iter::repeat_n(0u8, body));
        Move::decode(&b)
    };
    assert_eq!(
        row_pick(u32::MAX, 16),
        Err(too_many("the pick's row", u32::MAX as usize, BYTES_MAX))
    );
    assert_eq!(
        row_pick(BYTES_MAX as u32 + 1, 0),
        Err(too_many("the pick's row", BYTES_MAX + 1, BYTES_MAX))
    );
    // A declared length in range but longer than what follows is truncated (nothing is
    // allocated for it).
    assert_eq!(
        row_pick(BYTES_MAX as u32, 16),
        Err(DecodeError::Truncated {
            what: "the pick's row"
        })
    );
    assert!(
        matches!(row_pick(3, 3), Ok(Move::Pick { reveal, .. }) if reveal.row == Some(vec![0; 3]))
    );
}

#[test]
fn claims_round_trip() {
    for seed in 0..8u64 {
        let g = random_graph(seed);
        let (_, truth) = setup(&g, seed);
        let p = Player::new(g.clone(), truth.clone());
        let c = p.claim();
        let bytes = c.encode();
        assert_eq!(bytes.len(), 64 + 9 + 32 * c.output_proof.siblings.len());
        assert_eq!(Claim::decode(&bytes), Ok(c));
        for end in 0..bytes.len() {
            assert!(matches!(
                Claim::decode(&bytes[..end]),
                Err(DecodeError::Truncated { .. })
            ));
        }
        let mut long = bytes.clone();
        long.push(9);
        assert_eq!(
            Claim::decode(&long),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
    }
}

#[test]
fn error_messages_name_the_part() {
    let e = DecodeError::Truncated {
        what: "the step's output row",
    };
    assert_eq!(
        e.to_string(),
        "truncated while reading the step's output row"
    );
    assert_eq!(
        DecodeError::UnknownTag { tag: 9 }.to_string(),
        "unknown move tag 0x09"
    );
}
