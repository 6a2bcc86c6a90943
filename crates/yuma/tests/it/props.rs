//! Properties: permutation invariance, normalization, consensus bounds, and the weighted median
//! against two independent references (upstream's quickselect as §3.6 describes it, and brute force).

use cairn_yuma::math::{weighted_median_col, weighted_quantile};
use cairn_yuma::{
    BondsMode, EpochInput, EpochOutput, EpochParams, I32F32, LiquidAlpha, Neuron, run_epoch,
};
use proptest::prelude::*;

/// Upstream's fixed-pivot quickselect (§3.6 item 6), transcribed from the reference's description.
fn quickselect(stake: &[I32F32], score: &[I32F32], minority: I32F32) -> I32F32 {
    let mut idx: Vec<usize> = (0..stake.len()).collect();
    let (mut lo, mut hi) = (
        I32F32::ZERO,
        stake.iter().fold(I32F32::ZERO, |a, s| a.saturating_add(*s)),
    );
    loop {
        match idx.len() {
            0 => return I32F32::ZERO,
            1 => return score[idx[0]],
            _ => {}
        }
        let pivot = score[idx[idx.len() / 2]];
        let (lower, upper): (Vec<usize>, Vec<usize>) = idx
            .iter()
            .filter(|&&i| score[i] != pivot)
            .partition(|&&i| score[i] < pivot);
        let sum = |v: &[usize]| {
            v.iter()
                .fold(I32F32::ZERO, |a, &i| a.saturating_add(stake[i]))
        };
        let (lo_stake, hi_stake) = (sum(&lower), sum(&upper));
        if minority < lo.saturating_add(lo_stake) && !lower.is_empty() {
            hi = lo.saturating_add(lo_stake);
            idx = lower;
        } else if hi.saturating_sub(hi_stake) <= minority && !upper.is_empty() {
            lo = hi.saturating_sub(hi_stake);
            idx = upper;
        } else {
            return pivot;
        }
    }
}

/// Brute force of the equivalent form: the largest w with Σ_{score ≥ w} s ≥ κ, else the smallest.
fn brute_force(stake: &[I32F32], score: &[I32F32], kappa: I32F32) -> I32F32 {
    let support = |w: I32F32| {
        stake
            .iter()
            .zip(score)
            .filter(|(_, c)| **c >= w)
            .fold(I32F32::ZERO, |a, (s, _)| a.saturating_add(*s))
    };
    let supported = score.iter().copied().filter(|&w| support(w) >= kappa).max();
    supported
        .or_else(|| score.iter().copied().min())
        .unwrap_or(I32F32::ZERO)
}

/// Positive stakes normalized like the epoch's voters, and scores with heavy ties.
fn voters() -> impl Strategy<Value = (Vec<I32F32>, Vec<I32F32>)> {
    (1usize..12).prop_flat_map(|n| {
        let stake = prop::collection::vec(1i64..1_000, n);
        let score = prop::collection::vec(prop_oneof![0i64..5, 0i64..(1 << 32)], n);
        (stake, score).prop_map(|(st, sc)| {
            let st: Vec<I32F32> = st.into_iter().map(I32F32::from_int).collect();
            let total = st.iter().fold(I32F32::ZERO, |a, s| a.saturating_add(*s));
            let scale = |v: i64| {
                if v < 5 {
                    I32F32::from_bits(v << 30)
                } else {
                    I32F32::from_bits(v)
                }
            };
            (
                st.iter().map(|s| s.safe_div(total)).collect(),
                sc.into_iter().map(scale).collect(),
            )
        })
    })
}

proptest! {
    #[test]
    fn median_matches_quickselect_and_brute_force((stake, score) in voters(), kappa_bits in 0i64..=(1 << 32)) {
        let kappa = I32F32::from_bits(kappa_bits);
        let sigma = stake.iter().fold(I32F32::ZERO, |a, s| a.saturating_add(*s));
        let minority = sigma.saturating_sub(kappa);
        let got = weighted_quantile(&stake, &score, minority);
        prop_assert_eq!(got, quickselect(&stake, &score, minority));
        prop_assert_eq!(got, brute_force(&stake, &score, kappa));
    }

    /// Dyadic stakes and κ make `C(≤w) = minority` exact ties common: the boundary cases.
    #[test]
    fn median_boundaries_match_references(
        stake in prop::collection::vec(1i64..4, 1..8), score in prop::collection::vec(0i64..4, 8), k in 0i64..=32,
    ) {
        let stake: Vec<I32F32> = stake.iter().map(|s| I32F32::from_bits(s << 28)).collect();
        let score: Vec<I32F32> = score[..stake.len()].iter().map(|c| I32F32::from_bits(c << 30)).collect();
        let kappa = I32F32::from_bits(k << 28);
        let sigma = stake.iter().fold(I32F32::ZERO, |a, s| a.saturating_add(*s));
        let minority = sigma.saturating_sub(kappa);
        let got = weighted_quantile(&stake, &score, minority);
        prop_assert_eq!(got, quickselect(&stake, &score, minority));
        prop_assert_eq!(got, brute_force(&stake, &score, kappa));
    }

    #[test]
    fn median_col_is_a_cast_score_and_bounded(
        (stake, score) in voters(), kappa_bits in 0i64..=(1 << 32), zero_mask in prop::collection::vec(any::<bool>(), 12),
    ) {
        // One column; some voters carry zero stake and must not count.
        let stake: Vec<I32F32> = stake.iter().zip(&zero_mask).map(|(s, z)| if *z { I32F32::ZERO } else { *s }).collect();
        let w: Vec<Vec<I32F32>> = score.iter().map(|s| vec![*s]).collect();
        let c = weighted_median_col(&stake, &w, I32F32::from_bits(kappa_bits), 1)[0];
        let cast: Vec<I32F32> = stake.iter().zip(&score).filter(|(s, _)| **s > I32F32::ZERO).map(|(_, c)| *c).collect();
        if cast.is_empty() {
            prop_assert_eq!(c, I32F32::ZERO);
        } else {
            prop_assert!(cast.contains(&c));
            prop_assert!(c <= *cast.iter().max().unwrap());
        }
    }
}

/// A random subnet: validators 0..v (permitted), miners v..v+m (no stake, no weights).
#[derive(Clone, Debug)]
struct Net {
    params: EpochParams,
    input: EpochInput,
    validators: usize,
}

fn net() -> impl Strategy<Value = Net> {
    (1usize..6, 1usize..6).prop_flat_map(|(v, m)| {
        let n = v + m;
        let row = prop::collection::vec(prop::option::of(any::<u16>()), m);
        let validator = (1u64..1_000_000, 2u64..=100, row.clone(), row);
        let mode = prop_oneof![
            Just(BondsMode::Original),
            Just(BondsMode::Yuma3 { liquid_alpha: None }),
            Just(BondsMode::Yuma3 {
                liquid_alpha: Some(LiquidAlpha::from_stored(6_553, 19_660, 1_000))
            }),
        ];
        let params = (any::<u16>(), any::<u16>(), 0u64..=1_000_000, mode)
            .prop_map(|(k, b, bma, mode)| EpochParams::from_stored(k, b, bma, 64, mode));
        (prop::collection::vec(validator, v), params).prop_map(move |(vals, params)| {
            let sparse = |row: Vec<Option<u16>>| -> Vec<(u16, u16)> {
                row.into_iter()
                    .enumerate()
                    .filter_map(|(j, x)| x.map(|x| ((v + j) as u16, x)))
                    .collect()
            };
            let mut neurons: Vec<Neuron> = vals
                .into_iter()
                .map(|(stake, last_update, w, b)| Neuron {
                    stake,
                    last_update,
                    block_at_registration: 1,
                    validator_permit: true,
                    commit_block: None,
                    weights: sparse(w),
                    bonds: sparse(b),
                })
                .collect();
            neurons.extend((0..m).map(|_| Neuron {
                block_at_registration: 1,
                last_update: 1,
                ..Neuron::default()
            }));
            let input = EpochInput {
                current_block: 100,
                tempo: 1,
                activity_cutoff_blocks: 13,
                last_step_block: 0,
                owner_uid: None,
                emission: 1_000_000_000,
                neurons,
            };
            debug_assert_eq!(input.neurons.len(), n);
            Net {
                params,
                input,
                validators: v,
            }
        })
    })
}

fn permute(net: &Net, perm: &[usize]) -> EpochInput {
    let mut input = net.input.clone();
    for (i, &p) in perm.iter().enumerate() {
        input.neurons[p] = net.input.neurons[i].clone();
    }
    input
}

fn ulps(n: usize) -> I32F32 {
    I32F32::from_bits(n as i64)
}

fn sum(v: &[I32F32]) -> I32F32 {
    v.iter().fold(I32F32::ZERO, |a, x| a.saturating_add(*x))
}

/// Normalized to 1 within n ulps (each element is a truncated quotient), or all zero.
fn is_normalized(v: &[I32F32]) -> bool {
    let s = sum(v);
    s.is_zero() || (s <= I32F32::ONE && I32F32::ONE.saturating_sub(s) <= ulps(v.len()))
}

proptest! {
    #[test]
    fn permuting_validators_permutes_outputs(net in net(), seed in any::<u64>()) {
        let v = net.validators;
        let mut perm: Vec<usize> = (0..v).collect();
        let mut s = seed | 1;
        for i in (1..v).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            perm.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let a = run_epoch(&net.params, &net.input).unwrap();
        let b = run_epoch(&net.params, &permute(&net, &perm)).unwrap();
        for (i, &p) in perm.iter().enumerate() {
            prop_assert_eq!(a.stake[i], b.stake[p]);
            prop_assert_eq!(a.active_stake[i], b.active_stake[p]);
            prop_assert_eq!(a.dividends[i], b.dividends[p]);
            prop_assert_eq!(a.validator_trust[i], b.validator_trust[p]);
            prop_assert_eq!(a.emission[i], b.emission[p]);
            prop_assert_eq!(a.validator_emission[i], b.validator_emission[p]);
            prop_assert_eq!(&a.bonds[i], &b.bonds[p]);
        }
        let miners = v..net.input.neurons.len();
        prop_assert_eq!(&a.consensus[miners.clone()], &b.consensus[miners.clone()]);
        prop_assert_eq!(&a.incentive[miners.clone()], &b.incentive[miners.clone()]);
        prop_assert_eq!(&a.server_emission[miners.clone()], &b.server_emission[miners]);
    }

    #[test]
    fn shares_are_normalized_and_emission_is_conserved(net in net()) {
        let out = run_epoch(&net.params, &net.input).unwrap();
        let n = net.input.neurons.len() as u64;
        prop_assert!(is_normalized(&out.incentive), "incentive sums to {:?}", sum(&out.incentive));
        prop_assert!(is_normalized(&out.dividends), "dividends sum to {:?}", sum(&out.dividends));
        prop_assert!(is_normalized(&out.stake) && !sum(&out.stake).is_zero());
        let total: u64 = out.emission.iter().sum();
        // Each share floors (≤ n ulps lost in all) and each amount floors (< 1 rao each).
        prop_assert!(total <= net.input.emission && total + 2 * n >= net.input.emission, "emission {total}");
    }

    #[test]
    fn consensus_never_exceeds_the_largest_weight_received(net in net()) {
        let out = run_epoch(&net.params, &net.input).unwrap();
        check_consensus_bound(&net, &out)?;
    }
}

/// c_j is 0 or a normalized weight some voter gave j, and never above the largest such weight.
fn check_consensus_bound(net: &Net, out: &EpochOutput) -> Result<(), TestCaseError> {
    let n = net.input.neurons.len();
    let mut column_max = vec![I32F32::ZERO; n];
    let mut cast: Vec<Vec<I32F32>> = vec![vec![I32F32::ZERO]; n];
    for (i, nr) in net.input.neurons.iter().enumerate().take(net.validators) {
        if out.active_stake[i].is_zero() {
            continue;
        }
        let total = nr.weights.iter().fold(I32F32::ZERO, |a, (_, x)| {
            a.saturating_add(I32F32::from_int(i64::from(*x)))
        });
        for &(j, x) in &nr.weights {
            let w = if total > I32F32::ZERO {
                I32F32::from_int(i64::from(x)).safe_div(total)
            } else {
                I32F32::ZERO
            };
            column_max[usize::from(j)] = column_max[usize::from(j)].max(w);
            cast[usize::from(j)].push(w);
        }
    }
    for j in 0..n {
        prop_assert!(
            out.consensus[j] <= column_max[j],
            "c_{} = {:?} > max {:?}",
            j,
            out.consensus[j],
            column_max[j]
        );
        prop_assert!(cast[j].contains(&out.consensus[j]));
    }
    Ok(())
}
