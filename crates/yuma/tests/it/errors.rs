//! Malformed input is rejected with an error naming what was wrong.

use cairn_yuma::{
    BondsMode, EpochError, EpochInput, EpochParams, I32F32, LiquidAlpha, MAX_NEURONS, Neuron,
    RowKind, run_epoch,
};

fn params() -> EpochParams {
    EpochParams::from_stored(32_767, u16::MAX, 900_000, 64, BondsMode::Original)
}

fn input(stakes: &[u64]) -> EpochInput {
    EpochInput {
        current_block: 2,
        tempo: 1,
        activity_cutoff_blocks: 13,
        neurons: stakes
            .iter()
            .map(|&stake| Neuron {
                stake,
                ..Neuron::default()
            })
            .collect(),
        ..EpochInput::default()
    }
}

#[test]
fn column_out_of_range_and_duplicates() {
    let mut bad = input(&[1, 0]);
    bad.neurons[0].weights = vec![(2, 1)];
    let err = run_epoch(&params(), &bad).unwrap_err();
    assert_eq!(
        err,
        EpochError::ColumnOutOfRange {
            kind: RowKind::Weights,
            uid: 0,
            column: 2,
            n: 2
        }
    );
    assert!(err.to_string().contains("column 2"), "{err}");

    let mut bad = input(&[1, 0]);
    bad.neurons[1].bonds = vec![(0, 1), (0, 2)];
    let err = run_epoch(&params(), &bad).unwrap_err();
    assert_eq!(
        err,
        EpochError::DuplicateColumn {
            kind: RowKind::Bonds,
            uid: 1,
            column: 0
        }
    );
}

#[test]
fn zero_total_stake() {
    assert_eq!(
        run_epoch(&params(), &input(&[0, 0])),
        Err(EpochError::ZeroTotalStake)
    );
    let mut p = params();
    p.stake_threshold = 10;
    assert_eq!(
        run_epoch(&p, &input(&[5, 0])),
        Err(EpochError::ZeroTotalStake),
        "below threshold"
    );
    let mut owned = input(&[5, 0]);
    owned.owner_uid = Some(0);
    assert!(
        run_epoch(&p, &owned).is_ok(),
        "the owner is exempt from the threshold"
    );
}

#[test]
fn parameters_out_of_range() {
    let mut p = params();
    p.kappa = I32F32::from_bits((1 << 32) + 1);
    assert_eq!(
        run_epoch(&p, &input(&[1])),
        Err(EpochError::KappaOutOfRange { kappa: p.kappa })
    );
    let mut p = params();
    p.kappa = I32F32::from_bits(-1);
    assert!(matches!(
        run_epoch(&p, &input(&[1])),
        Err(EpochError::KappaOutOfRange { .. })
    ));
    let mut p = params();
    p.bonds_penalty = I32F32::from_int(2);
    assert!(matches!(
        run_epoch(&p, &input(&[1])),
        Err(EpochError::BondsPenaltyOutOfRange { .. })
    ));
    let mut p = params();
    p.bonds_moving_average = 1_000_001;
    assert_eq!(
        run_epoch(&p, &input(&[1])),
        Err(EpochError::BondsMovingAverageOutOfRange {
            got: 1_000_001,
            max: 1_000_000
        })
    );
    let mut p = params();
    p.bonds_mode = BondsMode::Yuma3 {
        liquid_alpha: Some(LiquidAlpha::from_stored(19_660, 6_553, 1_000)),
    };
    assert!(matches!(
        run_epoch(&p, &input(&[1])),
        Err(EpochError::AlphaValuesOutOfRange { .. })
    ));
}

#[test]
fn size_and_owner_limits() {
    let big = input(&vec![1; MAX_NEURONS + 1]);
    assert_eq!(
        run_epoch(&params(), &big),
        Err(EpochError::TooManyNeurons {
            got: MAX_NEURONS + 1,
            max: MAX_NEURONS
        })
    );
    let mut bad = input(&[1]);
    bad.owner_uid = Some(1);
    assert_eq!(
        run_epoch(&params(), &bad),
        Err(EpochError::OwnerUidOutOfRange { owner_uid: 1, n: 1 })
    );
}
