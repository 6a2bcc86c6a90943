use cairn_fixed::{QModel, QTensor};
use cairn_fl::score::{SCORE_MARGIN_MIN_PPM, score_for};
use cairn_fl::{
    Attack, ModelSpec, ScoreConfig, Verdict, attacked_update, evaluate_fixed, initial_model,
    local_train, score_updates, shard, try_score_updates,
};

use crate::common::{demo, small_spec, train_cfg};

fn cfg(copy_tolerance: i32) -> ScoreConfig {
    ScoreConfig {
        copy_tolerance,
        threads: 1,
    }
}

/// `q` with `delta` added to one value of its first tensor.
fn nudged(q: &QModel, index: usize, delta: i32) -> QModel {
    let mut tensors = q.tensors().to_vec();
    let t = &tensors[0].1;
    let mut values = t.values().to_vec();
    values[index] += delta;
    tensors[0].1 = QTensor::new(t.shape().to_vec(), t.frac_bits(), values).expect("tensor");
    QModel::new(tensors).expect("model")
}

#[test]
fn copies_of_the_global_model_and_of_earlier_updates_are_flagged() {
    let spec = small_spec();
    let (train, validation, _) = demo();
    let global = initial_model(&spec, 4).expect("init");
    let (honest, _) =
        local_train(&spec, &global, &shard(train, 10, 0, 1), &train_cfg(1)).expect("train");
    let updates = vec![
        global.encode(),                   // 0: exact copy of global
        nudged(&global, 7, 3).encode(),    // 1: within tolerance 3 of global
        nudged(&global, 7, -4).encode(),   // 2: just outside: a (bad) real update
        honest.encode(),                   // 3: honest
        honest.encode(),                   // 4: exact copy of 3
        nudged(&honest, 100, -3).encode(), // 5: near copy of 3
        nudged(&global, 7, -5).encode(),   // 6: within 3 of update 2 → copy of 2
    ];
    let verdicts = score_updates(&spec, &global, &updates, validation, &cfg(3));
    assert_eq!(verdicts[0], Verdict::CopyOfGlobal);
    assert_eq!(verdicts[1], Verdict::CopyOfGlobal);
    assert!(
        matches!(verdicts[2], Verdict::Valid { .. }),
        "{:?}",
        verdicts[2]
    );
    assert!(verdicts[3].score() > 0, "{:?}", verdicts[3]);
    assert_eq!(verdicts[4], Verdict::CopyOf(3));
    assert_eq!(verdicts[5], Verdict::CopyOf(3));
    assert_eq!(verdicts[6], Verdict::CopyOf(2));
    assert_eq!(verdicts[0].score(), 0);
    assert_eq!(verdicts[4].score(), 0);

    // Tolerance 0 catches exact copies only; a negative one disables the checks.
    let exact = score_updates(&spec, &global, &updates, validation, &cfg(0));
    assert_eq!(exact[0], Verdict::CopyOfGlobal);
    assert!(matches!(exact[1], Verdict::Valid { .. }));
    assert_eq!(exact[4], Verdict::CopyOf(3));
    assert!(matches!(exact[5], Verdict::Valid { .. }));
    let off = score_updates(&spec, &global, &updates, validation, &cfg(-1));
    assert!(
        off.iter().all(|v| matches!(v, Verdict::Valid { .. })),
        "{off:?}"
    );
}

#[test]
fn malformed_updates_are_invalid_with_a_reason() {
    let spec = small_spec();
    let (_, validation, _) = demo();
    let global = initial_model(&spec, 4).expect("init");
    let good = global.encode();
    let wrong_shape = initial_model(&"mlp:784-17-10".parse::<ModelSpec>().expect("spec"), 4)
        .expect("init")
        .encode();
    let wrong_frac = {
        let tensors = global
            .tensors()
            .iter()
            .map(|(n, t)| (n.clone(), t.rescale(12).expect("rescale")))
            .collect();
        QModel::new(tensors).expect("model").encode()
    };
    let huge = vec![0u8; 3 * good.len()];
    let updates = vec![
        b"not a model".to_vec(),
        good[..good.len() - 1].to_vec(),
        wrong_shape,
        wrong_frac,
        huge,
        Vec::new(),
    ];
    let verdicts = score_updates(&spec, &global, &updates, validation, &cfg(0));
    let reasons: Vec<&str> = verdicts
        .iter()
        .map(|v| match v {
            Verdict::Invalid(r) => r.as_str(),
            other => panic!("expected Invalid, got {other:?}"),
        })
        .collect();
    assert!(
        reasons[0].contains("magic") || reasons[0].contains("truncated"),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[1].to_lowercase().contains("truncated"),
        "{}",
        reasons[1]
    );
    assert!(
        reasons[2].contains("fc1.weight") && reasons[2].contains("shape"),
        "{}",
        reasons[2]
    );
    assert!(reasons[3].contains("frac_bits"), "{}", reasons[3]);
    assert!(reasons[4].contains("bytes"), "{}", reasons[4]);
    assert!(verdicts.iter().all(|v| v.score() == 0));
}

#[test]
fn a_validator_that_cannot_score_says_so() {
    let spec = small_spec();
    let (_, validation, _) = demo();
    let wrong_global = initial_model(&ModelSpec::TwoNn, 0).expect("init");
    let updates = vec![wrong_global.encode()];
    assert!(try_score_updates(&spec, &wrong_global, &updates, validation, &cfg(0)).is_err());
    let verdicts = score_updates(&spec, &wrong_global, &updates, validation, &cfg(0));
    assert!(matches!(&verdicts[0], Verdict::Invalid(r) if r.contains("validator cannot score")));
}

#[test]
fn poisoned_updates_score_below_honest_ones_and_threads_do_not_matter() {
    let spec = small_spec();
    let (train, validation, _) = demo();
    // A global model that has already learned something, as in a later round.
    let init = initial_model(&spec, 4).expect("init");
    let (global, _) = local_train(&spec, &init, train, &train_cfg(1)).expect("warm-up");
    let data = shard(train, 10, 2, 1);
    let train_cfg = train_cfg(1);
    let (honest, _) = local_train(&spec, &global, &data, &train_cfg).expect("train");
    let attack = |a: Attack| {
        attacked_update(&a, &spec, &global, &data, &train_cfg, 9)
            .expect("attack")
            .encode()
    };
    let updates = vec![
        honest.encode(),
        attack(Attack::SignFlip),
        attack(Attack::Noise),
        attack(Attack::Scaled(-10)),
        attack(Attack::LabelFlip),
    ];
    let verdicts = score_updates(&spec, &global, &updates, validation, &cfg(0));
    let global_ppm = evaluate_fixed(&spec, &global, validation, 1)
        .expect("eval")
        .accuracy_ppm;
    let honest_score = verdicts[0].score();
    assert!(honest_score > 0, "{verdicts:?}");
    for (i, v) in verdicts.iter().enumerate().skip(1) {
        assert!(
            v.score() < honest_score,
            "update {i}: {v:?} vs honest {honest_score}"
        );
    }
    for (i, v) in verdicts.iter().enumerate().skip(2) {
        assert_eq!(
            v.score(),
            0,
            "update {i}: {v:?}, global at {global_ppm} ppm"
        );
    }
    let threaded = score_updates(
        &spec,
        &global,
        &updates,
        validation,
        &ScoreConfig {
            copy_tolerance: 0,
            threads: 2,
        },
    );
    assert_eq!(threaded, verdicts);
}

#[test]
fn score_mapping() {
    // (accuracy, global) → score, 10 classes: chance 10 %, margin 5 % + (g − 10 %) / 4.
    for (a, g, want) in [
        (1_000_000, 1_000_000, u16::MAX),
        (1_000_000, 0, u16::MAX),
        (0, 0, 0),
        (50_000, 100_000, 0),       // floor 5 %: at the floor scores nothing
        (550_000, 100_000, 34_492), // (55 − 5) / 95 of the range
        (900_000, 900_000, 46_810), // margin 5 + 20 = 25: floor 65 %, (90 − 65) / 35
        (650_000, 900_000, 0),      // at the floor
        (700_000, 900_000, 9_362),  // a late sign flip: a fifth of the honest score
        (490_000, 500_000, 14_115), // margin 5 + 10: floor 35 %
        (340_000, 500_000, 0),
    ] {
        assert_eq!(score_for(a, g, 10), want, "a {a} g {g}");
    }
    let minimum = SCORE_MARGIN_MIN_PPM;
    assert_eq!(
        score_for(500_000 - minimum, 500_000, 1),
        0,
        "one class: chance is 100 %"
    );
    assert!(score_for(510_000 - minimum, 500_000, 1) > 0);
    assert_eq!(score_for(u32::MAX, u32::MAX, 0), u16::MAX);
}

#[test]
fn attacks_do_what_they_say() {
    let spec = small_spec();
    let (train, _, _) = demo();
    let global = initial_model(&spec, 4).expect("init");
    let data = shard(train, 10, 5, 1);
    let cfg = train_cfg(1);
    let (honest, _) = local_train(&spec, &global, &data, &cfg).expect("train");
    let flip = attacked_update(&Attack::SignFlip, &spec, &global, &data, &cfg, 0).expect("flip");
    let big =
        attacked_update(&Attack::Scaled(i32::MAX), &spec, &global, &data, &cfg, 0).expect("scaled");
    for (((g, h), f), b) in global
        .tensors()
        .iter()
        .zip(honest.tensors())
        .zip(flip.tensors())
        .zip(big.tensors())
    {
        for (((&g, &h), &f), &b) in
            g.1.values()
                .iter()
                .zip(h.1.values())
                .zip(f.1.values())
                .zip(b.1.values())
        {
            assert_eq!(i64::from(f), 2 * i64::from(g) - i64::from(h));
            let exact = i128::from(g) + i128::from(i32::MAX) * (i128::from(h) - i128::from(g));
            let want = exact.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32;
            assert_eq!(b, want);
        }
    }
    let noise1 = attacked_update(&Attack::Noise, &spec, &global, &data, &cfg, 1).expect("noise");
    let noise2 = attacked_update(&Attack::Noise, &spec, &global, &data, &cfg, 1).expect("noise");
    let noise3 = attacked_update(&Attack::Noise, &spec, &global, &data, &cfg, 2).expect("noise");
    assert_eq!(noise1, noise2);
    assert_ne!(noise1, noise3);
    let flipped = cairn_fl::attack::flip_labels(&data);
    assert!(
        flipped
            .labels()
            .iter()
            .zip(data.labels())
            .all(|(&f, &y)| f == 9 - y)
    );
}
