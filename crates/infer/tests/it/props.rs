//! Property tests: requantization against i128, determinism, one-step = trace, proofs.

use cairn_infer::commit::{verify_node_root, verify_row};
use cairn_infer::requant::saturate_i8;
use cairn_infer::{
    ExecCommitment, Graph, ModelCommitment, Multiplier, StepVerdict, decode, prove_step,
    requantize, run, verify_step,
};
use proptest::prelude::*;

use crate::common::{Rng, random_graph};

fn reference(acc: i32, m: Multiplier, zp: i8) -> i8 {
    let num = i128::from(acc) * i128::from(m.m) + (1i128 << (m.shift - 1));
    let q = num.div_euclid(1i128 << m.shift);
    saturate_i8((q + i128::from(zp)).clamp(-1000, 1000) as i64)
}

fn random_input(graph: &Graph, seed: u64) -> Vec<i8> {
    Rng(seed).bytes(graph.input().elements())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requantize_matches_i128(acc in any::<i32>(), m in 0..i32::MAX, shift in 1u8..=62, zp in any::<i8>()) {
        let mult = Multiplier { m, shift };
        prop_assert_eq!(requantize(acc, mult, zp), reference(acc, mult, zp));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_graphs_are_deterministic_and_round_trip(seed in any::<u64>()) {
        let g = random_graph(seed);
        let bytes = g.encode();
        let back = decode(&bytes).expect("decodes");
        prop_assert_eq!(&back, &g);
        prop_assert_eq!(back.encode(), bytes);
        let x = random_input(&g, seed ^ 1);
        let a = run(&g, &x).expect("runs");
        let b = run(&back, &x).expect("runs");
        prop_assert_eq!(&a, &b);
        for (node, out) in g.nodes().iter().zip(&a.outputs) {
            prop_assert_eq!(out.len(), node.output.elements());
        }
        let (ca, cb) = (ExecCommitment::new(&g, &a), ExecCommitment::new(&back, &b));
        prop_assert_eq!(ca.root, cb.root);
    }

    #[test]
    fn one_step_recomputes_the_trace(seed in any::<u64>(), pick in any::<u64>()) {
        let g = random_graph(seed);
        let trace = run(&g, &random_input(&g, seed)).expect("runs");
        let (model, exec) = (ModelCommitment::new(&g), ExecCommitment::new(&g, &trace));
        let mut rng = Rng(pick);
        for _ in 0..8 {
            let i = 1 + rng.below(g.len() as u64 - 1) as usize;
            let e = rng.below(g.nodes()[i].output.elements() as u64) as usize;
            let proof = prove_step(&g, &model, &trace, &exec, i, e).expect("proves");
            let verdict = verify_step(&model.root, g.len(), &exec.root, &proof).expect("verifies");
            prop_assert_eq!(verdict, StepVerdict::Consistent { value: trace.outputs[i][e] });
        }
    }

    #[test]
    fn flipped_bytes_break_proofs(seed in any::<u64>(), pick in any::<u64>()) {
        let g = random_graph(seed);
        let trace = run(&g, &random_input(&g, seed)).expect("runs");
        let (model, exec) = (ModelCommitment::new(&g), ExecCommitment::new(&g, &trace));
        let mut rng = Rng(pick);
        let i = 1 + rng.below(g.len() as u64 - 1) as usize;
        let e = rng.below(g.nodes()[i].output.elements() as u64) as usize;
        let proof = prove_step(&g, &model, &trace, &exec, i, e).expect("proves");
        let bit = 1u8 << rng.below(8);

        // (a) a node root under the execution root: flip the root, a sibling, or the exec root.
        let node_proof = exec.prove_node(i).expect("node exists");
        let root = exec.node_roots[i];
        prop_assert!(verify_node_root(&exec.root, g.len(), i, &root, &node_proof).is_ok());
        let mut bad_root = root;
        bad_root[rng.below(32) as usize] ^= bit;
        prop_assert!(verify_node_root(&exec.root, g.len(), i, &bad_root, &node_proof).is_err());
        let mut bad_exec = exec.root;
        bad_exec[rng.below(32) as usize] ^= bit;
        prop_assert!(verify_node_root(&bad_exec, g.len(), i, &root, &node_proof).is_err());
        if !node_proof.siblings.is_empty() {
            let mut p = node_proof.clone();
            let s = rng.below(p.siblings.len() as u64) as usize;
            p.siblings[s][rng.below(32) as usize] ^= bit;
            prop_assert!(verify_node_root(&exec.root, g.len(), i, &root, &p).is_err());
        }

        // (b) a row under a node root: flip a data byte.
        let info = &g.nodes()[i].output;
        let row = e / info.row_len();
        let mut opening = exec.open_row(&g, &trace, i, row).expect("row exists");
        prop_assert!(verify_row(&root, info, row, &opening).is_ok());
        let k = rng.below(opening.data.len() as u64) as usize;
        opening.data[k] = (opening.data[k] as u8 ^ bit) as i8;
        prop_assert!(verify_row(&root, info, row, &opening).is_err());

        // The whole step: flip one byte of one opened component.
        let mut bad = proof.clone();
        match rng.below(5) {
            0 => bad.output_row.data[e % info.row_len()] ^= bit as i8,
            1 => {
                let h = &mut bad.node.header.header;
                let k = rng.below(h.len() as u64) as usize;
                h[k] ^= bit;
            }
            2 => bad.node.output_root[rng.below(32) as usize] ^= bit,
            3 if bad.channel.is_some() => {
                let c = bad.channel.as_mut().expect("checked");
                let k = rng.below(c.weights.len() as u64) as usize;
                c.weights[k] ^= bit as i8;
            }
            _ => {
                let r = &mut bad.inputs[0].rows[0].data;
                let k = rng.below(r.len() as u64) as usize;
                r[k] ^= bit as i8;
            }
        }
        prop_assert!(verify_step(&model.root, g.len(), &exec.root, &bad).is_err());
    }
}
