use cairn_fixed::AggregateError;
use cairn_fl::{FlError, Rule, aggregate, initial_model};

use crate::common::small_spec;

#[test]
fn every_rule_returns_identical_inputs_unchanged() {
    let q = initial_model(&small_spec(), 8).expect("init");
    let updates = vec![q.clone(); 7];
    let weights = [3, 1, 4, 1, 5, 9, 2];
    for rule in [
        Rule::FedAvg,
        Rule::Median,
        Rule::TrimmedMean {
            trim_per_mille: 200,
        },
        Rule::Krum { byzantine: 2 },
        Rule::MultiKrum {
            byzantine: 2,
            select: 4,
        },
    ] {
        assert_eq!(
            aggregate(&rule, &updates, &weights).expect("aggregate"),
            q,
            "{rule}"
        );
    }
}

#[test]
fn rules_agree_on_two_models_where_they_should_and_refuse_bad_input() {
    let spec = small_spec();
    let (a, b) = (
        initial_model(&spec, 1).expect("a"),
        initial_model(&spec, 2).expect("b"),
    );
    let pair = [a.clone(), b.clone()];
    // Median of two is the floor of their mean, like FedAvg with equal weights.
    assert_eq!(
        aggregate(&Rule::Median, &pair, &[]).expect("median"),
        aggregate(&Rule::FedAvg, &pair, &[1, 1]).expect("fedavg")
    );
    assert_eq!(
        aggregate(&Rule::FedAvg, &pair, &[1, 0]).expect("weighted"),
        a
    );
    let refused = |result: Result<_, FlError>| match result {
        Err(FlError::Aggregate(e)) => Some(e),
        _ => None,
    };
    assert_eq!(
        refused(aggregate(&Rule::FedAvg, &pair, &[1])),
        Some(AggregateError::WeightCountMismatch {
            updates: 2,
            weights: 1
        })
    );
    assert_eq!(
        refused(aggregate(&Rule::Krum { byzantine: 1 }, &pair, &[])),
        Some(AggregateError::TooFewForKrum {
            updates: 2,
            byzantine_max: 1,
            min_updates: 5
        })
    );
    assert_eq!(
        refused(aggregate(&Rule::Median, &[], &[])),
        Some(AggregateError::NoUpdates)
    );
    let other = initial_model(&"mlp:784-8-10".parse().expect("spec"), 0).expect("other");
    assert!(aggregate(&Rule::Median, &[a, other], &[]).is_err());
    let _ = b;
}
