//! The models the state-machine fuzzer registers and the parties that play their disputes:
//! valid graphs (played by cairn-dispute's honest [Player]) and hostile registrations over
//! raw, unvalidated nodes (played by [RawParty], the same moves computed from a [RawModel]),
//! each with honest and lying traces. Shared by the proptest fuzzer and the cargo-fuzz target,
//! so it depends on nothing but the workspace crates.

use cairn_dispute::{Move, Player, Request, Reveal, Side, Tree, forge, tree};
use cairn_infer::merkle::Hash;
use cairn_infer::testkit::{RawModel, random_graph};
use cairn_infer::{Channels, ExecCommitment, Graph, ModelCommitment, Multiplier, Node, Op};
use cairn_types::infer::ModelRegistration;

/// A model the fuzzer can register and serve.
pub enum Source {
    /// A valid graph: any input runs; lies are forged at a chosen node.
    Graph(Graph),
    /// Raw nodes with one fixed trace (its node 0 is the input).
    Raw {
        raw: RawModel,
        outputs: Vec<Vec<i8>>,
    },
}

/// (output bytes, execution root, encoded output proof): what a result or a challenge posts.
pub type ClaimBytes = (Vec<u8>, [u8; 32], Vec<u8>);

fn node(op: Op, inputs: &[u32], shape: &[u32], zero_point: i8) -> Node {
    Node::new(op, inputs, shape, zero_point)
}

fn dense(in_features: u32, out_features: u32, inputs: &[u32], bias: i32, shift: u8) -> Node {
    let mut n = node(
        Op::Dense {
            in_features,
            out_features,
        },
        inputs,
        &[out_features.max(1)],
        -5,
    );
    n.channels = Some(Channels {
        weights: (0..in_features * out_features.max(1))
            .map(|i| (i * 37 % 255) as u8 as i8)
            .collect(),
        bias: vec![bias; out_features.max(1) as usize],
        multipliers: vec![Multiplier { m: 1 << 30, shift }; out_features.max(1) as usize],
    });
    n
}

/// input [2, 4] → flatten [8] → dense 8→3 → relu [3].
fn tiny_graph() -> Graph {
    Graph::new(vec![
        node(Op::Input, &[], &[2, 4], 3),
        node(Op::Flatten, &[0], &[8], 3),
        dense(8, 3, &[1], 120, 38),
        node(Op::Relu, &[2], &[3], -5),
    ])
    .expect("valid graph")
}

/// The crafted registrations of the hostile-input attacks: nodes that no valid graph has.
fn hostile_cases() -> Vec<(Vec<Node>, Vec<Vec<i8>>)> {
    let input = || node(Op::Input, &[], &[4], 0);
    let add = |shift| Op::Add {
        ma: 1 << 20,
        mb: 1 << 20,
        shift,
    };
    let add_nodes = |shift| {
        vec![
            input(),
            node(Op::Relu, &[0], &[4], 0),
            node(add(shift), &[0, 1], &[4], 0),
        ]
    };
    let add_trace = vec![vec![-5, 7, 0, 100], vec![0, 7, 0, 100], vec![9; 4]];
    let mut no_outputs = dense(4, 0, &[0], 0, 40);
    no_outputs.output.shape = vec![1];
    vec![
        (
            vec![input(), node(Op::Relu, &[], &[4], 0)],
            vec![vec![1; 4]; 2],
        ),
        (vec![input(), no_outputs], vec![vec![1; 4], vec![0]]),
        (vec![input(), input()], vec![vec![1; 4]; 2]),
        (add_nodes(0), add_trace.clone()),
        (add_nodes(64), add_trace),
        (
            vec![input(), dense(4, 1, &[0], i32::MAX, 40)],
            vec![vec![100; 4], vec![5]],
        ),
    ]
}

/// Every model the fuzzer knows how to serve: two valid graphs and six hostile ones.
pub fn catalogue() -> Vec<Source> {
    let mut out = vec![Source::Graph(tiny_graph()), Source::Graph(random_graph(7))];
    out.extend(
        hostile_cases()
            .into_iter()
            .map(|(nodes, outputs)| Source::Raw {
                raw: RawModel::new(nodes),
                outputs,
            }),
    );
    out
}

impl Source {
    fn nodes(&self) -> &[Node] {
        match self {
            Source::Graph(g) => g.nodes(),
            Source::Raw { raw, .. } => raw.nodes(),
        }
    }

    /// Node `i`'s header opening under the model root (for adversarial swaps into moves).
    pub fn header(&self, i: usize) -> Option<cairn_infer::commit::HeaderOpening> {
        match self {
            Source::Graph(g) => RawModel::new(g.nodes().to_vec()).open_header(i),
            Source::Raw { raw, .. } => raw.open_header(i),
        }
    }

    pub fn model_root(&self) -> [u8; 32] {
        match self {
            Source::Graph(g) => ModelCommitment::new(g).root,
            Source::Raw { raw, .. } => raw.root(),
        }
    }

    /// Its registration (graph hash `graph` for raw nodes, which have no canonical bytes).
    pub fn registration(&self, graph: [u8; 32], price: u64) -> ModelRegistration {
        let nodes = self.nodes();
        let (graph, graph_bytes) = match self {
            Source::Graph(g) => (g.blob_id(), g.encode().len() as u64),
            Source::Raw { .. } => (graph, 2_000),
        };
        ModelRegistration {
            graph,
            graph_bytes,
            model_root: self.model_root(),
            node_count: nodes.len() as u32,
            input_shape: nodes[0].output.shape.clone(),
            output_shape: nodes[nodes.len() - 1].output.shape.clone(),
            name: "fuzz-model".into(),
            licence: "MIT".into(),
            price,
            lineage: None,
        }
    }

    /// An input of the right length for the model, drawn from `seed`.
    pub fn input(&self, seed: u64) -> Vec<u8> {
        match self {
            Source::Graph(g) => {
                let n = g.nodes()[0].output.elements();
                (0..n as u64).map(|i| mix(seed ^ i) as u8).collect()
            }
            Source::Raw { outputs, .. } => outputs[0].iter().map(|&v| v as u8).collect(),
        }
    }

    /// The party serving `input` with trace `variant`: 0 is honest; others lie at a node
    /// chosen by the variant (from that node on, for raw nodes).
    pub fn party(&self, input: &[u8], variant: u8) -> Option<Party> {
        match self {
            Source::Graph(g) => {
                let input: Vec<i8> = input.iter().map(|&b| b as i8).collect();
                let truth = cairn_infer::run(g, &input).ok()?;
                let trace = match usize::from(variant) % g.len() {
                    0 => truth,
                    at => forge::lie_at(g, &truth, at, u64::from(variant))?,
                };
                Some(Party::Graph(Box::new(Player::new(g.clone(), trace))))
            }
            Source::Raw { raw, outputs } => {
                let mut outputs = outputs.clone();
                let lie = usize::from(variant) % raw.len();
                if lie > 0 {
                    outputs[lie..]
                        .iter_mut()
                        .flatten()
                        .for_each(|v| *v = v.wrapping_add(1));
                }
                Some(Party::Raw(Box::new(RawParty::new(raw.clone(), outputs))))
            }
        }
    }
}

/// SplitMix64's output function: a cheap, deterministic scramble.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One side of a dispute, honest with respect to the trace it committed to.
pub enum Party {
    Graph(Box<Player>),
    Raw(Box<RawParty>),
}

impl Party {
    pub fn claim(&self) -> ClaimBytes {
        match self {
            Party::Graph(p) => {
                let claim = p.claim();
                let mut proof = Vec::new();
                cairn_dispute::encode::encode_proof(&mut proof, &claim.output_proof);
                let output = p.trace().output().iter().map(|&v| v as u8).collect();
                (output, claim.exec_root, proof)
            }
            Party::Raw(p) => p.claim(),
        }
    }

    pub fn respond(&self, side: Side, request: &Request<'_>) -> Option<Move> {
        match self {
            Party::Graph(p) => p.respond(side, request),
            Party::Raw(p) => p.respond(side, request),
        }
    }
}

/// [Player] over raw nodes: the moves of a party whose model root commits to `raw`.
pub struct RawParty {
    raw: RawModel,
    outputs: Vec<Vec<i8>>,
    exec: ExecCommitment,
    levels: Vec<Vec<Hash>>,
}

impl RawParty {
    fn new(raw: RawModel, outputs: Vec<Vec<i8>>) -> Self {
        let exec = raw.commit_outputs(&outputs);
        let leaves = exec.node_roots.iter().map(tree::node_leaf).collect();
        RawParty {
            levels: tree::levels(leaves),
            raw,
            outputs,
            exec,
        }
    }

    fn claim(&self) -> ClaimBytes {
        let last = self.raw.len() - 1;
        let mut proof = Vec::new();
        let output_proof = self.exec.prove_node(last).expect("last node");
        cairn_dispute::encode::encode_proof(&mut proof, &output_proof);
        let output = self.outputs[last].iter().map(|&v| v as u8).collect();
        (output, self.exec.root, proof)
    }

    fn row_len(&self, node: usize) -> Option<usize> {
        Some(self.raw.nodes().get(node)?.output.row_len().max(1))
    }

    fn row(&self, node: u32, row: u64) -> Option<Vec<i8>> {
        let len = self.row_len(node as usize)?;
        let start = usize::try_from(row).ok()?.checked_mul(len)?;
        Some(
            self.outputs
                .get(node as usize)?
                .get(start..start + len)?
                .to_vec(),
        )
    }

    fn subtrees(&self, t: &Tree, level: u32, first: u64, count: u64) -> Option<Vec<Hash>> {
        let start = usize::try_from(first).ok()?;
        let range = start..start.checked_add(usize::try_from(count).ok()?)?;
        let level_hashes = match t {
            Tree::Exec if level == 0 => self.exec.node_roots.clone(),
            Tree::Exec => self.levels.get(level as usize)?.clone(),
            Tree::Rows { node, .. } => {
                let data = self.outputs.get(*node as usize)?;
                let rows = data.chunks(self.row_len(*node as usize)?);
                let leaves = rows.map(tree::row_leaf).collect();
                tree::levels(leaves).into_iter().nth(level as usize)?
            }
        };
        level_hashes.get(range).map(<[Hash]>::to_vec)
    }

    fn reveal(&self, t: &Tree, level: u32, at: u64) -> Option<Reveal> {
        match t {
            _ if level > 0 => Some(Reveal::default()),
            Tree::Exec if at == 0 => Some(Reveal::default()),
            Tree::Exec => {
                let single = self.raw.nodes().get(at as usize)?.output.rows() == 1;
                Some(Reveal {
                    header: Some(self.raw.open_header(at as usize)?),
                    row: if single { self.row(at as u32, 0) } else { None },
                })
            }
            Tree::Rows { node, .. } => Some(Reveal {
                header: None,
                row: Some(self.row(*node, at)?),
            }),
        }
    }

    fn respond(&self, side: Side, request: &Request<'_>) -> Option<Move> {
        match (side, request) {
            (
                Side::Provider,
                Request::Split {
                    tree,
                    level,
                    first,
                    count,
                },
            ) => Some(Move::Split {
                children: self.subtrees(tree, *level, *first, *count)?,
            }),
            (
                Side::Challenger,
                Request::Pick {
                    tree,
                    level,
                    first,
                    provider,
                },
            ) => {
                let children = self.subtrees(tree, *level, *first, provider.len() as u64)?;
                let index = provider.iter().zip(&children).position(|(p, c)| p != c)?;
                let reveal = self.reveal(tree, *level, first + index as u64)?;
                let index = u8::try_from(index).ok()?;
                Some(Move::Pick {
                    children,
                    index,
                    reveal,
                })
            }
            (
                Side::Provider,
                Request::Step {
                    node,
                    row,
                    challenger_row,
                },
            ) => {
                let mine = self.row(*node, u64::from(*row))?;
                let e = mine.iter().zip(*challenger_row).position(|(a, b)| a != b)?;
                let element = *row as usize * mine.len() + e;
                let index = *node as usize;
                let proof = self
                    .raw
                    .prove_step(&self.exec, &self.outputs, index, element);
                Some(Move::Step(Box::new(proof)))
            }
            _ => None,
        }
    }
}
