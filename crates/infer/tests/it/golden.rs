//! Golden vectors: the requantization rule and each op on hand-computed inputs.

use cairn_infer::graph::{SOFTMAX_TABLE_LEN, TensorInfo};
use cairn_infer::{Channels, ConvGeom, Graph, Multiplier, Op, PoolGeom, decode, requantize, run};

use crate::common::{input, node};

const HALF: Multiplier = Multiplier {
    m: 1 << 30,
    shift: 31,
};
const ONE: Multiplier = Multiplier {
    m: 1 << 30,
    shift: 30,
};
const QUARTER: Multiplier = Multiplier {
    m: 1 << 30,
    shift: 32,
};

#[test]
fn requantization_vectors() {
    // (acc, multiplier, zero point, expected): round half up, then zero point, then clamp.
    let third = Multiplier {
        m: 1_431_655_765,
        shift: 32,
    };
    let cases = [
        (100, HALF, 0, 50),
        (5, HALF, 0, 3),
        (-5, HALF, 0, -2),
        (-6, HALF, 0, -3),
        (
            7,
            Multiplier {
                m: 1 << 30,
                shift: 33,
            },
            0,
            1,
        ),
        (3, third, 0, 1),
        (-3, third, 0, -1),
        (1000, HALF, 10, 127),
        (-1000, HALF, 0, -128),
        (
            i32::MAX,
            Multiplier {
                m: i32::MAX,
                shift: 62,
            },
            -128,
            -127,
        ),
        (
            i32::MIN,
            Multiplier {
                m: i32::MAX,
                shift: 62,
            },
            127,
            126,
        ),
        (0, HALF, -7, -7),
    ];
    for (acc, m, zp, want) in cases {
        assert_eq!(requantize(acc, m, zp), want, "acc {acc} m {m:?} zp {zp}");
    }
}

fn run_one(nodes: Vec<cairn_infer::Node>, x: &[i8]) -> Vec<i8> {
    let g = Graph::new(nodes).expect("valid");
    run(&g, x).expect("runs").output().to_vec()
}

#[test]
fn dense_vector() {
    let mut d = node(
        Op::Dense {
            in_features: 3,
            out_features: 2,
        },
        &[0],
        &[2],
        0,
    );
    d.channels = Some(Channels {
        weights: vec![1, 0, -1, 2, 2, 2],
        bias: vec![10, 0],
        multipliers: vec![HALF, HALF],
    });
    assert_eq!(run_one(vec![input(&[3], 0), d.clone()], &[1, 2, 3]), [4, 6]);
    // Input zero point 1: centred input [0, 1, 2].
    assert_eq!(run_one(vec![input(&[3], 1), d], &[1, 2, 3]), [4, 3]);
}

#[test]
fn conv_vector() {
    let g = ConvGeom {
        in_channels: 1,
        out_channels: 1,
        kernel_h: 3,
        kernel_w: 3,
        stride: 1,
        pad: 1,
    };
    let mut c = node(Op::Conv2d(g), &[0], &[3, 3, 1], 0);
    c.channels = Some(Channels {
        weights: vec![1; 9],
        bias: vec![0],
        multipliers: vec![ONE],
    });
    let x: Vec<i8> = (1..=9).collect();
    assert_eq!(
        run_one(vec![input(&[3, 3, 1], 0), c], &x),
        [12, 21, 16, 27, 45, 33, 24, 39, 28]
    );
}

#[test]
fn elementwise_and_pool_vectors() {
    assert_eq!(
        run_one(
            vec![input(&[3], 3), node(Op::Relu, &[0], &[3], 3)],
            &[-5, 3, 10]
        ),
        [3, 3, 10]
    );
    let x = [1, 5, 2, 0, 3, 4, 8, 7];
    let p = PoolGeom {
        kernel: 2,
        stride: 2,
    };
    assert_eq!(
        run_one(
            vec![
                input(&[2, 4, 1], 0),
                node(Op::MaxPool(p), &[0], &[1, 2, 1], 0)
            ],
            &x
        ),
        [5, 8]
    );
    let avg = Op::AvgPool {
        pool: p,
        multiplier: QUARTER,
    };
    // 13/4 = 3.25 → 3, 17/4 = 4.25 → 4.
    assert_eq!(
        run_one(
            vec![input(&[2, 4, 1], 0), node(avg, &[0], &[1, 2, 1], 0)],
            &x
        ),
        [3, 4]
    );
    assert_eq!(
        run_one(
            vec![input(&[2, 4, 1], 0), node(Op::Flatten, &[0], &[8], 0)],
            &x
        ),
        x
    );
    let add = Op::Add {
        ma: 1 << 30,
        mb: 1 << 30,
        shift: 31,
    };
    let relu = node(Op::Relu, &[0], &[2], 0);
    // (10 + 10) / 2 and (-4 + 0) / 2.
    assert_eq!(
        run_one(
            vec![input(&[2], 0), relu, node(add, &[0, 1], &[2], 1)],
            &[10, -4]
        ),
        [11, -1]
    );
    assert_eq!(
        run_one(
            vec![input(&[4], 0), node(Op::Argmax, &[0], &[1], 0)],
            &[3, 7, 7, 1]
        ),
        [1]
    );
    assert_eq!(
        run_one(
            vec![input(&[2, 3], 0), node(Op::Argmax, &[0], &[2], 0)],
            &[0, 0, 1, 9, 2, 9]
        ),
        [2, 0]
    );
}

#[test]
fn softmax_vector() {
    let mut table = vec![0; SOFTMAX_TABLE_LEN];
    table[0] = 1 << 16;
    table[1] = 1 << 15;
    let sm = node(Op::Softmax { table }, &[0], &[4], -128);
    // e = [2^16, 2^16, 2^15, 0], S = 5·2^15: p = 102.4 → 102, 102, 51.2 → 51, 0.
    assert_eq!(
        run_one(vec![input(&[4], 0), sm], &[5, 5, 4, 1]),
        [-26, -26, -77, -128]
    );
}

/// [encoding_vector]'s graph hash.
const GOLDEN_GRAPH_HASH: &str = "82c15de7372d0ab5d094c0dcd5912f254e83aed711ff25466c543871d33c23bf";

/// The canonical encoding of a fixed graph, byte for byte, and its hash: any change to the
/// format or the hash context is a consensus change and must update this vector on purpose.
#[test]
fn encoding_vector() {
    let mut d = node(
        Op::Dense {
            in_features: 2,
            out_features: 1,
        },
        &[0],
        &[1],
        -3,
    );
    d.channels = Some(Channels {
        weights: vec![1, -1],
        bias: vec![-2],
        multipliers: vec![HALF],
    });
    let g = Graph::new(vec![input(&[2], 5), d]).expect("valid");
    let bytes = g.encode();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        concat!(
            "434149524e494e4601",
            "02000000",
            "00",
            "00",
            "01",
            "02000000",
            "05",
            "00",
            "01",
            "02000000",
            "01000000",
            "01",
            "00000000",
            "01",
            "01000000",
            "fd",
            "01",
            "02000000",
            "01ff",
            "01000000",
            "feffffff",
            "00000040",
            "1f",
        )
    );
    assert_eq!(decode(&bytes).expect("decodes"), g);
    // The graph hash (BLAKE3 under the graph's derive-key context), pinned like the bytes.
    let hash: String = g.hash().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hash, GOLDEN_GRAPH_HASH);
    let _: &TensorInfo = g.output();
}
