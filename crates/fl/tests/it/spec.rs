use cairn_fl::{Attack, FlError, ModelSpec, Partition, Rule};
use proptest::prelude::*;

#[test]
fn named_specs_round_trip() {
    for s in [
        "2nn",
        "cnn",
        "mlp:784-64-10",
        "mlp:784-10",
        "mlp:784-200-200-10",
    ] {
        let spec: ModelSpec = s.parse().expect(s);
        assert_eq!(spec.to_string(), s);
    }
    assert_eq!(
        " 2NN ".parse::<ModelSpec>().expect("case"),
        ModelSpec::TwoNn
    );
    let mlp: ModelSpec = "mlp:784-200-200-10".parse().expect("mlp");
    assert_eq!(mlp.arch(), ModelSpec::TwoNn.arch());
    assert_eq!(ModelSpec::TwoNn.parameter_count(), 199_210);
    assert_eq!(ModelSpec::Cnn.parameter_count(), 1_663_370);
    assert_eq!(mlp.parameter_count(), 199_210);
}

#[test]
fn bad_specs_say_what_is_wrong() {
    for (input, needle) in [
        ("", "empty"),
        ("rnn", "unknown architecture"),
        ("mlp:", "empty width"),
        ("mlp:784", "at least an input"),
        ("mlp:784--10", "empty width"),
        ("mlp:784-0-10", "width 0"),
        ("mlp:784-x-10", "\"x\" is not a number"),
        ("mlp:784-70000-10", "width 70000"),
        ("mlp:65536-65536-65536", "parameters"),
        ("mlp:1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1", "hidden layers"),
    ] {
        let err = input.parse::<ModelSpec>().expect_err(input);
        assert!(matches!(err, FlError::BadSpec { .. }), "{input}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains(needle), "{input}: {msg}");
        assert!(msg.contains(&format!("{input:?}")), "{input}: {msg}");
    }
}

#[test]
fn rule_attack_and_partition_names_round_trip() {
    for s in [
        "fedavg",
        "median",
        "trimmed-mean:100",
        "krum:2",
        "multi-krum:2:5",
    ] {
        assert_eq!(s.parse::<Rule>().expect(s).to_string(), s);
    }
    for s in [
        "trimmed-mean:500",
        "krum",
        "multi-krum:1:0",
        "avg",
        "krum:-1",
    ] {
        assert!(s.parse::<Rule>().is_err(), "{s}");
    }
    for s in ["sign-flip", "scaled", "scaled:-4", "label-flip", "noise"] {
        assert_eq!(s.parse::<Attack>().expect(s).to_string(), s);
    }
    assert_eq!(
        "scaled".parse::<Attack>().expect("scaled"),
        Attack::Scaled(10)
    );
    assert!("scaled:x".parse::<Attack>().is_err());
    for s in ["iid", "dirichlet:0.5", "shards:2"] {
        assert_eq!(s.parse::<Partition>().expect(s).to_string(), s);
    }
    for s in ["dirichlet:0", "dirichlet:nan", "shards:0", "noniid"] {
        assert!(s.parse::<Partition>().is_err(), "{s}");
    }
}

proptest! {
    #[test]
    fn mlp_specs_round_trip(widths in proptest::collection::vec(1usize..=2048, 2..6)) {
        let text = format!(
            "mlp:{}",
            widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join("-")
        );
        match text.parse::<ModelSpec>() {
            Ok(spec) => prop_assert_eq!(spec.to_string(), text),
            // Only the parameter limit may refuse these widths.
            Err(e) => prop_assert!(e.to_string().contains("parameters"), "{}", e),
        }
    }

    #[test]
    fn junk_never_panics(s in "\\PC{0,24}") {
        let _ = s.parse::<ModelSpec>();
        let _ = s.parse::<Rule>();
        let _ = s.parse::<Attack>();
        let _ = s.parse::<Partition>();
    }
}
