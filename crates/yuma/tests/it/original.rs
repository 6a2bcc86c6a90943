//! Original-Yuma vectors: B (`test_bonds`), C (`test_active_stake`), F (`test_512_graph`) and the
//! small fallback vectors of §4.11. All exact (bit-exact u16 / u64), as the reference asserts.

use crate::harness::{Subnet, original_params};

/// What changes before a vector-B step.
enum Change {
    None,
    /// The uid sets a self-weight only (masked, so its row becomes empty).
    SelfWeight(usize),
    /// The uid sets these `(uid, value)` weights.
    Set(usize, &'static [(u16, u16)]),
}

struct StepB {
    change: Change,
    block: u64,
    bond_col: usize,
    bonds: [u16; 4],
    consensus: [u16; 8],
    incentive: [u16; 8],
    validator_trust: [u16; 8],
    dividends: [u16; 8],
    emission: [u64; 8],
}

const C_123: [u16; 8] = [0, 0, 0, 0, 6_553, 13_107, 19_660, 26_214];
const ZERO8: [u16; 8] = [0; 8];
const C_567: [u16; 8] = [0, 0, 0, 0, 0, 0, 0, 26_214];
const I_567: [u16; 8] = [0, 0, 0, 0, 0, 0, 0, 65_535];
const E_MINERS: [u64; 4] = [49_998_779, 100_000_610, 149_996_337, 200_004_272];

fn with_miners(v: [u64; 4], m: [u64; 4]) -> [u64; 8] {
    [v[0], v[1], v[2], v[3], m[0], m[1], m[2], m[3]]
}

fn steps_b() -> Vec<StepB> {
    let vt = |v: [u16; 4]| [v[0], v[1], v[2], v[3], 0, 0, 0, 0];
    let miners_567 = [0, 0, 0, 500_000_000];
    vec![
        StepB {
            change: Change::None,
            block: 2,
            bond_col: 4,
            bonds: [16_383, 32_767, 49_151, 65_535],
            consensus: C_123,
            incentive: C_123,
            validator_trust: vt([65_534; 4]),
            dividends: vt([6_553, 13_106, 19_660, 26_214]),
            emission: with_miners([49_999_998, 99_999_999, 150_000_000, 200_000_001], E_MINERS),
        },
        StepB {
            change: Change::SelfWeight(0),
            block: 3,
            bond_col: 4,
            bonds: [14_582, 32_767, 49_151, 65_535],
            consensus: C_123,
            incentive: C_123,
            validator_trust: vt([0, 65_534, 65_534, 65_534]),
            dividends: vt([5_897, 13_252, 19_879, 26_505]),
            emission: with_miners(
                [44_998_351, 101_110_561, 151_667_215, 202_223_870],
                E_MINERS,
            ),
        },
        StepB {
            change: Change::SelfWeight(1),
            block: 4,
            bond_col: 4,
            bonds: [12_603, 28_321, 49_151, 65_535],
            consensus: C_123,
            incentive: C_123,
            validator_trust: vt([0, 0, 65_534, 65_534]),
            dividends: vt([5_307, 11_927, 20_699, 27_599]),
            emission: with_miners([40_496_805, 90_999_783, 157_929_636, 210_573_773], E_MINERS),
        },
        StepB {
            change: Change::SelfWeight(2),
            block: 5,
            bond_col: 7,
            bonds: [12_602, 28_320, 49_150, 65_535],
            consensus: ZERO8,
            incentive: ZERO8,
            validator_trust: ZERO8,
            dividends: ZERO8,
            emission: with_miners([99_999_999, 199_999_999, 299_999_999, 399_999_999], [0; 4]),
        },
        StepB {
            change: Change::Set(2, &[(7, u16::MAX)]),
            block: 6,
            bond_col: 7,
            bonds: [10_951, 24_609, 49_150, 65_535],
            consensus: C_567,
            incentive: I_567,
            validator_trust: vt([0, 0, 26_214, 26_214]),
            dividends: vt([4_776, 10_734, 21_438, 28_585]),
            emission: with_miners(
                [36_443_733, 81_898_628, 163_565_493, 218_092_144],
                miners_567,
            ),
        },
        StepB {
            change: Change::None,
            block: 7,
            bond_col: 7,
            bonds: [9_559, 21_482, 49_150, 65_535],
            consensus: C_567,
            incentive: I_567,
            validator_trust: vt([0, 0, 26_214, 26_214]),
            dividends: vt([4_299, 9_660, 22_103, 29_471]),
            emission: with_miners(
                [32_799_427, 73_706_612, 168_638_129, 224_855_830],
                miners_567,
            ),
        },
        StepB {
            change: Change::None,
            block: 8,
            bond_col: 7,
            bonds: [8_376, 18_824, 49_150, 65_535],
            consensus: C_567,
            incentive: I_567,
            validator_trust: vt([0, 0, 26_214, 26_214]),
            dividends: vt([3_868, 8_694, 22_701, 30_269]),
            emission: with_miners(
                [29_518_068, 66_336_137, 173_203_134, 230_942_659],
                miners_567,
            ),
        },
    ]
}

/// Vector B (§4.2): bonds asserted upstream, the other columns derived by the reference (and matching
/// the trace comments of the upstream test).
#[test]
fn vector_b_test_bonds() {
    let mut net = Subnet::new(
        &[1, 2, 3, 4, 0, 0, 0, 0],
        1,
        1,
        original_params(u16::MAX, 8),
    );
    let setup = net.epoch(1);
    assert_eq!(
        setup.new_validator_permits,
        [true, true, true, true, false, false, false, false]
    );
    for uid in 0..4 {
        net.set_weights(uid, &[4, 5, 6, 7], &[16_383, 32_767, 49_149, 65_535], 2);
    }
    for (k, step) in steps_b().into_iter().enumerate() {
        let set_at = step.block - 1;
        match step.change {
            Change::None => {}
            Change::SelfWeight(uid) => net.set_weights(uid, &[uid as u16], &[u16::MAX], set_at),
            Change::Set(uid, row) => {
                let (uids, vals): (Vec<u16>, Vec<u16>) = row.iter().copied().unzip();
                net.set_weights(uid, &uids, &vals, set_at);
            }
        }
        let out = net.epoch(step.block);
        let bonds: Vec<u16> = (0..4).map(|i| out.bond(i, step.bond_col)).collect();
        let s = k + 1;
        assert_eq!(
            bonds, step.bonds,
            "step {s}: bonds in column {}",
            step.bond_col
        );
        assert_eq!(out.consensus_u16(), step.consensus, "step {s}: consensus");
        assert_eq!(out.incentive_u16(), step.incentive, "step {s}: incentive");
        assert_eq!(
            out.validator_trust_u16(),
            step.validator_trust,
            "step {s}: validator trust"
        );
        assert_eq!(out.dividends_u16(), step.dividends, "step {s}: dividends");
        assert_eq!(out.emission, step.emission, "step {s}: emission");
    }
}

/// Vector C (§4.3): activity masking; an inactive permit holder keeps earning on old bonds.
#[test]
fn vector_c_test_active_stake() {
    let mut net = Subnet::new(&[1, 1, 1, 1], 0, 1, original_params(u16::MAX, 4));
    assert_eq!(net.epoch(0).new_validator_permits, [true; 4]);
    // (who sets weights at which block, epoch block, dividends 0/1, emission 0/1, bonds row 0/1 cols 2,3)
    type Case = (&'static [(usize, u64)], u64, [u16; 2], [u64; 2], [u16; 2]);
    let cases: [Case; 3] = [
        (
            &[(0, 1), (1, 1)],
            1,
            [32_767, 32_767],
            [250_000_000, 250_000_000],
            [65_535, 65_535],
        ),
        (
            &[(0, 5_002)],
            5_002,
            [36_044, 29_490],
            [274_999_999, 224_999_999],
            [65_535, 53_619],
        ),
        (
            &[(1, 5_002)],
            5_003,
            [35_716, 29_818],
            [272_501_132, 227_498_866],
            [65_535, 54_712],
        ),
    ];
    for (k, (setters, block, dividends, emission, bonds)) in cases.into_iter().enumerate() {
        for &(uid, at) in setters {
            net.set_weights(uid, &[2, 3], &[32_767, 32_767], at);
        }
        let out = net.epoch(block);
        let d = out.dividends_u16();
        assert_eq!([d[0], d[1]], dividends, "epoch {k}: dividends");
        assert_eq!(
            [out.emission[0], out.emission[1]],
            emission,
            "epoch {k}: emission"
        );
        if k == 0 {
            assert_eq!(out.emission, [250_000_000; 4], "epoch a: every uid");
        }
        for (row, expected) in bonds.into_iter().enumerate() {
            let got = [0, 1, 2, 3].map(|j| out.bond(row, j));
            assert_eq!(
                got,
                [0, 0, expected, expected],
                "epoch {k}: bonds row {row}"
            );
        }
        assert_eq!(
            &out.consensus_u16()[2..],
            [32_767, 32_767],
            "epoch {k}: consensus"
        );
        assert_eq!(
            &out.incentive_u16()[2..],
            [32_767, 32_767],
            "epoch {k}: incentive"
        );
        assert_eq!(
            &out.validator_trust_u16()[..2],
            [65_535, 65_535],
            "epoch {k}: trust"
        );
    }
}

/// A fixed permutation of 0..n (xorshift Fisher–Yates) standing in for upstream's random interleave.
fn permutation(n: usize, mut seed: u64) -> Vec<u16> {
    let mut v: Vec<u16> = (0..n as u16).collect();
    for i in (1..n).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    v
}

/// `distribute_nodes`: blockwise, regular interleave, or a (fixed) random interleave.
fn distribute(interleave: usize, validators_n: usize, n: usize) -> (Vec<u16>, Vec<u16>) {
    match interleave {
        0 => (
            (0..validators_n as u16).collect(),
            (validators_n as u16..n as u16).collect(),
        ),
        1 => (0..n as u16).partition(|i| usize::from(*i) % (n / validators_n) == 0),
        _ => {
            let p = permutation(n, 0x9E37_79B9_7F4A_7C15);
            (p[..validators_n].to_vec(), p[validators_n..].to_vec())
        }
    }
}

/// Vector F (§4.10): 512 uids, 64 equal validators weighting every miner, 3 epochs; exact.
#[test]
fn vector_f_test_512_graph() {
    const N: usize = 512;
    const VALIDATORS: usize = 64;
    for interleave in 0..3 {
        for server_self in [false, true] {
            let (validators, servers) = distribute(interleave, VALIDATORS, N);
            let mut stakes = vec![0u64; N];
            for &v in &validators {
                stakes[usize::from(v)] = 328_125_000_000_000;
            }
            let mut net = Subnet::new(&stakes, 0, 65_534, original_params(u16::MAX, 64));
            net.epoch(1);
            let weights = vec![u16::MAX / N as u16; servers.len()];
            for &v in &validators {
                net.set_weights(usize::from(v), &servers, &weights, 1);
            }
            if server_self {
                for &s in &servers {
                    net.set_weights(usize::from(s), &[s], &[u16::MAX], 1);
                }
            }
            let mut out = net.epoch(1);
            for _ in 0..2 {
                out = net.epoch(1);
            }
            let (v0, s0) = (usize::from(validators[0]), usize::from(servers[0]));
            let ctx = format!("interleave {interleave}, server_self {server_self}");
            let (c, inc, d) = (
                out.consensus_u16(),
                out.incentive_u16(),
                out.dividends_u16(),
            );
            for &v in &validators {
                let v = usize::from(v);
                assert_eq!(
                    (c[v], inc[v], d[v], out.emission[v]),
                    (0, 0, 1_023, 7_812_500),
                    "{ctx}: validator {v}"
                );
                assert_eq!(
                    (out.bond(v, v0), out.bond(v, s0)),
                    (0, 65_535),
                    "{ctx}: validator {v} bonds"
                );
            }
            for &s in &servers {
                let s = usize::from(s);
                assert_eq!(
                    (c[s], inc[s], d[s], out.emission[s]),
                    (146, 146, 0, 1_116_071),
                    "{ctx}: server {s}"
                );
                assert_eq!(
                    (out.bond(s, v0), out.bond(s, s0)),
                    (0, 0),
                    "{ctx}: server {s} bonds"
                );
            }
        }
    }
}

/// §4.11 `test_10_graph`: self-weights only, no permits yet: emission falls back to stake, floored.
#[test]
fn vector_test_10_graph() {
    let mut net = Subnet::new(&[1; 10], 0, 65_534, original_params(u16::MAX, 64));
    for uid in 0..10 {
        net.set_weights(uid, &[uid as u16], &[u16::MAX], 1);
    }
    let out = net.epoch(1);
    assert_eq!(out.emission, [99_999_999; 10]);
    assert_eq!(out.consensus_u16(), [0; 10]);
    assert_eq!(out.incentive_u16(), [0; 10]);
    assert_eq!(out.dividends_u16(), [0; 10]);
    assert_eq!(out.ranks, vec![cairn_yuma::I32F32::ZERO; 10]);
}

/// §4.11 `test_zero_weights`: no weights, self-weights, and weights to a uid re-registered after they
/// were set all give [10⁹, 0]; fresh weights then split 50/50.
#[test]
fn vector_test_zero_weights() {
    let mut net = Subnet::new(&[1, 0], 0, 65_534, original_params(u16::MAX, 64));
    assert_eq!(net.epoch(0).emission, [1_000_000_000, 0], "no weights");
    net.set_weights(1, &[1], &[u16::MAX], 1);
    assert_eq!(
        net.epoch(1).emission,
        [1_000_000_000, 0],
        "self-weight only"
    );
    net.set_weights(0, &[1], &[u16::MAX / 2], 2);
    // uid 1 is replaced at block 2 (§3.14): its rows go. uid 0's weight to it, set at block 2, is
    // kept non-zero here so that only the outdated mask (last_update ≤ registration) removes it.
    let replaced = &mut net.input.neurons[1];
    (replaced.weights, replaced.bonds) = (Vec::new(), Vec::new());
    (replaced.block_at_registration, replaced.last_update) = (2, 2);
    assert_eq!(
        net.epoch(2).emission,
        [1_000_000_000, 0],
        "weights to a re-registered uid"
    );
    net.set_weights(0, &[1], &[u16::MAX / 2], 3);
    assert_eq!(
        net.epoch(3).emission,
        [500_000_000, 500_000_000],
        "fresh weights"
    );
}
