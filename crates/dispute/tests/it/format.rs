//! The hash formats the game restates match cairn-infer's commitments.

use cairn_dispute::tree;
use cairn_infer::ExecCommitment;
use proptest::prelude::*;

use crate::common::{random_graph, setup};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn tree_hashes_match_the_execution_commitment(seed in any::<u64>()) {
        let g = random_graph(seed);
        let (_, truth) = setup(&g, seed);
        let exec = ExecCommitment::new(&g, &truth);
        let leaves: Vec<_> = exec.node_roots.iter().map(tree::node_leaf).collect();
        prop_assert_eq!(tree::exec_root(g.len() as u32, &tree::fold(&leaves)), exec.root);
        for (i, node) in g.nodes().iter().enumerate() {
            let rows: Vec<_> = truth.outputs[i].chunks(node.output.row_len()).map(tree::row_leaf).collect();
            prop_assert_eq!(tree::tensor_root(&node.output.shape, &tree::fold(&rows)), exec.node_roots[i]);
            // Every aligned block climbs to the node above it.
            let levels = tree::levels(rows.clone());
            let n = rows.len() as u64;
            for level in 1..levels.len() as u32 {
                for index in 0..tree::width(n, level) {
                    let (first, count) = tree::children(n, level, index, 0);
                    let block = &rows[first as usize..(first + count) as usize];
                    prop_assert_eq!(tree::fold(block), levels[level as usize][index as usize]);
                }
            }
        }
    }
}

#[test]
fn geometry() {
    assert_eq!(
        (
            tree::height(1),
            tree::height(2),
            tree::height(4096),
            tree::height(4097)
        ),
        (0, 1, 12, 13)
    );
    assert_eq!(tree::width(6, 1), 3);
    assert_eq!(tree::children(6, 3, 0, 1), (0, 3));
    // 5 leaves: the root's right child is the carried leaf 4; normalizing skips nothing at
    // the root, but the right child at level 2 has one child at level 1.
    assert_eq!(tree::normalize(5, 3, 0), (3, 0));
    assert_eq!(tree::normalize(5, 2, 1), (0, 4));
}
