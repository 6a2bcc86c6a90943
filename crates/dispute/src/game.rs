//! The dispute state machine: opening, the two bisections, the one step, clocks and payout.
//!
//! Invariant: [`Dispute`] is a pure function of its opening [`Params`] and the sequence of
//! accepted moves and timeout claims with their block heights; it reads no clock, no RNG,
//! no float, and a rejected move or claim changes nothing.
//!
//! Invariant: no move, claim or parameter makes it panic. The chain rebuilds a dispute by
//! replaying recorded moves, so every value here is the worst sender's: counts and indices
//! are converted with `try_from`, heights and budgets with saturating arithmetic, and the
//! header a pick reveals is validated ([`verify_valid_header`]) before its shape is used.
#![deny(clippy::float_arithmetic)]

use cairn_infer::commit::{HeaderOpening, verify_node_root};
use cairn_infer::graph::NODES_MAX;
use cairn_infer::merkle::{Hash, Proof};
use cairn_infer::{
    ProofError, StepError, StepProof, StepVerdict, verify_step, verify_valid_header,
};

use crate::tree;

/// Accepted fan-outs: the execution tree is binary, so a split aligned with it descends
/// `log2 k` levels and `k` must be a power of two.
pub const ARITIES: [u8; 4] = [2, 4, 8, 16];
/// Fewest graph nodes a dispute can be about (the input and one computed node).
pub const NODES_MIN: u32 = 2;

/// A party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// Served the result and committed its execution root.
    Provider,
    /// Disputes it with another execution root.
    Challenger,
}

impl Side {
    /// The other party.
    pub fn other(self) -> Side {
        match self {
            Side::Provider => Side::Challenger,
            Side::Challenger => Side::Provider,
        }
    }

    /// `(provider's, challenger's)` → this side's.
    fn pick<T>(self, [provider, challenger]: [T; 2]) -> T {
        match self {
            Side::Provider => provider,
            Side::Challenger => challenger,
        }
    }
}

/// One side's claim: its execution root and the output node's tensor root under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Root over every node's output tensor root (`cairn_infer::ExecCommitment::root`).
    pub exec_root: Hash,
    /// Tensor root of the claimed output (node `node_count - 1`).
    pub output_root: Hash,
    /// Proof of `output_root` under `exec_root`.
    pub output_proof: Proof,
}

/// Chess clock: each side's `budget_blocks` runs only on its turn, and one move may take at
/// most `move_blocks_max` of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Longest a single move may take.
    pub move_blocks_max: u64,
    /// Each side's total thinking time over the whole dispute.
    pub budget_blocks: u64,
}

/// Everything a dispute is opened with (all of it already on chain or posted by the parties).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Model root of the registered graph.
    pub model_root: Hash,
    /// Its node count.
    pub node_count: u32,
    /// Tensor root of the input (node 0's output root).
    pub input_root: Hash,
    /// The served result.
    pub provider: Claim,
    /// The challenge (another output).
    pub challenger: Claim,
    /// Provider's bond.
    pub provider_bond: u64,
    /// Challenger's bond.
    pub challenger_bond: u64,
    /// Children per split, one of [`ARITIES`].
    pub k: u8,
    /// Time control.
    pub clock: Clock,
    /// Height at which the dispute opens (the provider's clock starts here).
    pub start_height: u64,
}

/// Why a dispute cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// `k` is not a power of two in 2..=16.
    #[error("k = {k} is not one of 2, 4, 8, 16")]
    Arity {
        /// Requested.
        k: u8,
    },
    /// Node count out of range.
    #[error("node count {got} is not in {min}..={max}")]
    NodeCount {
        /// Given.
        got: u32,
        /// Least.
        min: u32,
        /// Most.
        max: usize,
    },
    /// The challenger claims the provider's output: nothing to dispute.
    #[error("the challenger claims the same output as the provider")]
    SameOutput,
    /// A claim's output proof fails.
    #[error("{side:?}'s output root is not under its execution root: {error}")]
    ClaimProof {
        /// Whose.
        side: Side,
        /// Why.
        error: ProofError,
    },
    /// A bond is zero.
    #[error("{side:?}'s bond is zero")]
    ZeroBond {
        /// Whose.
        side: Side,
    },
    /// A clock limit is zero.
    #[error("clock limits must be at least one block")]
    ZeroClock,
}

/// Which tree a bisection runs over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tree {
    /// Over graph nodes; leaves are `H(NODE_OUTPUT ‖ tensor root)`, splits at level 0 post
    /// the tensor roots themselves.
    Exec,
    /// Over the rows of one node's output (its shape from the model root).
    Rows {
        /// The node.
        node: u32,
        /// Its output shape.
        shape: Vec<u32>,
    },
}

/// What a side's subtree hash must climb to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Anchor {
    Node(Hash),
    Exec(Hash),
    Tensor(Hash),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Bisect {
    tree: Tree,
    leaves: u64,
    level: u32,
    index: u64,
    anchors: [Anchor; 2],
    /// The provider's children, awaiting the challenger's pick.
    split: Option<Vec<Hash>>,
    /// In a row bisection: the provider's tensor root of the node, from the execution split.
    provider_tensor_root: Option<Hash>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct StepTask {
    node: u32,
    row: u32,
    provider_tensor_root: Hash,
    challenger_row: Vec<i8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Bisect(Bisect),
    Step(StepTask),
    Resolved(Outcome),
}

/// Why the loser lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// It did not move by its deadline.
    Timeout,
    /// The provider's node-0 root is not the registered input.
    InputMismatch,
    /// The one step found the provider's committed element wrong.
    StepMismatch {
        /// Committed by the provider.
        committed: i8,
        /// Recomputed from its committed inputs and the model.
        recomputed: i8,
    },
    /// The one step found the provider's element right: the challenger's claim was false.
    StepConsistent {
        /// The element.
        value: i8,
    },
    /// A header or channel proven under the registered model root is invalid (no valid graph
    /// has it): the provider served a result for a model that cannot run. The challenger
    /// wins; an honest provider checks the graph against the model root before serving, so
    /// it never loses this way.
    InvalidModel {
        /// The node whose header (revealed by the pick) or opened channel is invalid.
        node: u32,
    },
}

/// The end of a dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Who won.
    pub winner: Side,
    /// Who lost.
    pub loser: Side,
    /// Why.
    pub reason: Reason,
    /// Height of the deciding move or timeout claim.
    pub height: u64,
    /// The loser's bond, all of it moved to the winner (no split, so no rounding).
    pub slashed: u64,
    /// What the winner receives: its own bond back plus `slashed`.
    pub payout: u128,
}

/// A move. Provider: [`Move::Split`], [`Move::Step`]; challenger: [`Move::Pick`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Move {
    /// The provider's children of the current subtree ([`Request::Split`]).
    Split {
        /// Child subtree hashes, left to right (tensor roots at the execution tree's leaves).
        children: Vec<Hash>,
    },
    /// The challenger's children of its own subtree and the first child where it disagrees.
    Pick {
        /// Its children, as [`Move::Split`].
        children: Vec<Hash>,
        /// Position of the first child that differs from the provider's.
        index: u8,
        /// Data the pick must carry when it isolates a node or a row.
        reveal: Reveal,
    },
    /// The provider's one-step proof for the element the chain derived.
    Step(Box<StepProof>),
}

impl Move {
    /// Stable name for errors.
    pub fn name(&self) -> &'static str {
        match self {
            Move::Split { .. } => "split",
            Move::Pick { .. } => "pick",
            Move::Step(_) => "step",
        }
    }
}

/// What a pick reveals when it isolates a node (its header, so the row tree's shape is known;
/// and its only row if it has one) or a row (the challenger's row data).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reveal {
    /// The isolated node's header under the model root.
    pub header: Option<HeaderOpening>,
    /// The challenger's isolated row.
    pub row: Option<Vec<i8>>,
}

/// What the side to move must post.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// Provider: children `first..first + count` at `level` of `tree`.
    Split {
        /// The tree.
        tree: &'a Tree,
        /// Level of the children.
        level: u32,
        /// First child's index at that level.
        first: u64,
        /// Number of children.
        count: u64,
    },
    /// Challenger: its own children at the same positions, and the first disagreement.
    Pick {
        /// The tree.
        tree: &'a Tree,
        /// Level of the children.
        level: u32,
        /// First child's index.
        first: u64,
        /// The provider's children.
        provider: &'a [Hash],
    },
    /// Provider: a step proof for node `node`, element `row · row_len + e` where `e` is the
    /// first position at which its committed row `row` differs from `challenger_row`.
    Step {
        /// The disputed node.
        node: u32,
        /// The disputed row.
        row: u32,
        /// The challenger's version of that row.
        challenger_row: &'a [i8],
    },
    /// Nothing: the dispute is over.
    Done(&'a Outcome),
}

/// Why a move was rejected (the dispute is unchanged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    /// The dispute is over.
    #[error("the dispute is resolved")]
    Resolved,
    /// The other side is to move.
    #[error("{expected:?} is to move, not {got:?}")]
    NotYourTurn {
        /// Side to move.
        expected: Side,
        /// Sender.
        got: Side,
    },
    /// Heights only go forward.
    #[error("height {height} is before the turn began at {turn_started}")]
    HeightInPast {
        /// Given.
        height: u64,
        /// Start of the turn.
        turn_started: u64,
    },
    /// Too late: the mover has lost; anyone may claim the timeout.
    #[error("height {height} is past the deadline {deadline}")]
    DeadlinePassed {
        /// Given.
        height: u64,
        /// Last height at which the move was allowed.
        deadline: u64,
    },
    /// A move of the wrong kind for the phase.
    #[error("expected a {expected} move, got {got}")]
    UnexpectedMove {
        /// Kind required.
        expected: &'static str,
        /// Kind sent.
        got: &'static str,
    },
    /// Wrong number of children.
    #[error("expected {expected} children, got {got}")]
    ChildCount {
        /// Required.
        expected: u64,
        /// Posted.
        got: usize,
    },
    /// The children do not climb to the mover's committed subtree.
    #[error("{side:?}'s children do not climb to its committed subtree")]
    RootMismatch {
        /// The mover.
        side: Side,
    },
    /// The pick is not the first child where the two sides differ.
    #[error("picked child {index}, but the first disagreement is {first:?}")]
    NotFirstDisagreement {
        /// Picked.
        index: u8,
        /// The first differing child (None: they agree everywhere).
        first: Option<u8>,
    },
    /// A picked leaf's index does not fit the tree (a leaf is a node index or a row index,
    /// both below 2^32; the tree geometry never yields one past that).
    #[error("picked leaf {leaf} is outside the tree")]
    LeafOutOfRange {
        /// The leaf position.
        leaf: u64,
    },
    /// The challenger's node-0 root is not the registered input: it cannot dispute there.
    #[error("the challenger's input root is not the registered input")]
    InputNotRegistered,
    /// The pick lacks data it must reveal.
    #[error("the pick must reveal {0}")]
    MissingReveal(&'static str),
    /// The pick reveals data it must not.
    #[error("the pick must not reveal {0}")]
    UnexpectedReveal(&'static str),
    /// The revealed header does not verify.
    #[error("revealed header: {0}")]
    Header(ProofError),
    /// A row of the wrong length.
    #[error("row has {got} values, expected {expected}")]
    RowLength {
        /// Required.
        expected: usize,
        /// Posted.
        got: usize,
    },
    /// The challenger's row does not hash to its committed leaf.
    #[error("the challenger's row is not its committed row")]
    RowMismatch,
    /// The step proof is for another node.
    #[error("step proof is for node {got}, the dispute is about node {expected}")]
    WrongNode {
        /// The disputed node.
        expected: u32,
        /// Proof's node.
        got: u32,
    },
    /// The step proof's node root is not the provider's root from the bisection.
    #[error("step proof's output root is not the one the provider posted in the bisection")]
    UnboundOutputRoot,
    /// The provider's opened row equals the challenger's: it cannot be its committed row.
    #[error("the opened row does not differ from the challenger's")]
    RowNotDisputed,
    /// The step proof is for another element.
    #[error("step proof is for element {got}, the dispute is about element {expected}")]
    WrongElement {
        /// Derived by the chain.
        expected: u32,
        /// Proof's.
        got: u32,
    },
    /// The step proof does not verify.
    #[error("step proof: {0}")]
    Step(StepError),
}

/// Why a timeout claim was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeoutError {
    /// The dispute is over.
    #[error("the dispute is resolved")]
    Resolved,
    /// The side to move still has time.
    #[error("deadline {deadline} has not passed at height {height}")]
    NotExpired {
        /// Claimed at.
        height: u64,
        /// Last height the mover may move at.
        deadline: u64,
    },
}

/// A dispute between one provider and one challenger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispute {
    params: Params,
    m: u32,
    phase: Phase,
    budget_left: [u64; 2],
    turn_started: u64,
    moves: u32,
}

impl Dispute {
    /// Opens a dispute; the provider moves first.
    pub fn open(params: Params) -> Result<Self, OpenError> {
        if !ARITIES.contains(&params.k) {
            return Err(OpenError::Arity { k: params.k });
        }
        let n = params.node_count;
        if n < NODES_MIN || n as usize > NODES_MAX {
            return Err(OpenError::NodeCount {
                got: n,
                min: NODES_MIN,
                max: NODES_MAX,
            });
        }
        for (side, claim) in [
            (Side::Provider, &params.provider),
            (Side::Challenger, &params.challenger),
        ] {
            let last = (n as usize).saturating_sub(1); // n >= NODES_MIN = 2
            verify_node_root(
                &claim.exec_root,
                n as usize,
                last,
                &claim.output_root,
                &claim.output_proof,
            )
            .map_err(|error| OpenError::ClaimProof { side, error })?;
        }
        if params.provider.output_root == params.challenger.output_root {
            return Err(OpenError::SameOutput);
        }
        if params.provider_bond == 0 {
            return Err(OpenError::ZeroBond {
                side: Side::Provider,
            });
        }
        if params.challenger_bond == 0 {
            return Err(OpenError::ZeroBond {
                side: Side::Challenger,
            });
        }
        if params.clock.move_blocks_max == 0 || params.clock.budget_blocks == 0 {
            return Err(OpenError::ZeroClock);
        }
        let leaves = u64::from(n);
        let (level, index) = tree::normalize(leaves, tree::height(leaves), 0);
        let bisect = Bisect {
            tree: Tree::Exec,
            leaves,
            level,
            index,
            anchors: [
                Anchor::Exec(params.provider.exec_root),
                Anchor::Exec(params.challenger.exec_root),
            ],
            split: None,
            provider_tensor_root: None,
        };
        Ok(Self {
            m: u32::from(params.k).trailing_zeros(),
            budget_left: [params.clock.budget_blocks; 2],
            turn_started: params.start_height,
            phase: Phase::Bisect(bisect),
            moves: 0,
            params,
        })
    }

    /// The opening parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Accepted moves so far.
    pub fn moves(&self) -> u32 {
        self.moves
    }

    /// The outcome, once resolved.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.phase {
            Phase::Resolved(o) => Some(o),
            _ => None,
        }
    }

    /// The side to move (None once resolved).
    pub fn turn(&self) -> Option<Side> {
        match &self.phase {
            Phase::Bisect(b) if b.split.is_some() => Some(Side::Challenger),
            Phase::Bisect(_) | Phase::Step(_) => Some(Side::Provider),
            Phase::Resolved(_) => None,
        }
    }

    /// Last height at which the side to move may move.
    pub fn deadline(&self) -> Option<u64> {
        let side = self.turn()?;
        let allowed = self
            .params
            .clock
            .move_blocks_max
            .min(self.budget_left(side));
        Some(self.turn_started.saturating_add(allowed))
    }

    /// A side's remaining clock budget.
    pub fn budget_left(&self, side: Side) -> u64 {
        side.pick(self.budget_left)
    }

    /// What the side to move must post.
    pub fn request(&self) -> Request<'_> {
        match &self.phase {
            Phase::Resolved(o) => Request::Done(o),
            Phase::Step(s) => Request::Step {
                node: s.node,
                row: s.row,
                challenger_row: &s.challenger_row,
            },
            Phase::Bisect(b) => {
                let level = b.level.saturating_sub(self.m);
                let (first, count) = tree::children(b.leaves, b.level, b.index, level);
                match &b.split {
                    None => Request::Split {
                        tree: &b.tree,
                        level,
                        first,
                        count,
                    },
                    Some(p) => Request::Pick {
                        tree: &b.tree,
                        level,
                        first,
                        provider: p,
                    },
                }
            }
        }
    }

    /// Resolves the dispute against the side to move if its deadline has passed.
    pub fn claim_timeout(&mut self, height: u64) -> Result<&Outcome, TimeoutError> {
        let (Some(side), Some(deadline)) = (self.turn(), self.deadline()) else {
            return Err(TimeoutError::Resolved);
        };
        if height <= deadline {
            return Err(TimeoutError::NotExpired { height, deadline });
        }
        let outcome = self.outcome_for(side.other(), Reason::Timeout, height);
        self.phase = Phase::Resolved(outcome);
        self.outcome().ok_or(TimeoutError::Resolved) // just resolved: always Some
    }

    /// Applies `side`'s move at `height`. On error nothing changes.
    pub fn apply(
        &mut self,
        side: Side,
        mv: &Move,
        height: u64,
    ) -> Result<Option<&Outcome>, MoveError> {
        let expected = self.turn().ok_or(MoveError::Resolved)?;
        if side != expected {
            return Err(MoveError::NotYourTurn {
                expected,
                got: side,
            });
        }
        if height < self.turn_started {
            return Err(MoveError::HeightInPast {
                height,
                turn_started: self.turn_started,
            });
        }
        // turn() is Some, so deadline() is too; the fallback is never taken.
        let deadline = self.deadline().unwrap_or(self.turn_started);
        if height > deadline {
            return Err(MoveError::DeadlinePassed { height, deadline });
        }
        let next = self.judge(mv, height)?;
        // turn_started <= height <= deadline <= turn_started + budget: no saturation.
        let used = height.saturating_sub(self.turn_started);
        let [p, c] = &mut self.budget_left;
        let budget = side.pick([p, c]);
        *budget = budget.saturating_sub(used);
        self.turn_started = height;
        self.moves = self.moves.saturating_add(1);
        self.phase = next;
        Ok(self.outcome())
    }

    fn outcome_for(&self, winner: Side, reason: Reason, height: u64) -> Outcome {
        let bond = |s: Side| match s {
            Side::Provider => self.params.provider_bond,
            Side::Challenger => self.params.challenger_bond,
        };
        let loser = winner.other();
        Outcome {
            winner,
            loser,
            reason,
            height,
            slashed: bond(loser),
            // Two u64s cannot overflow a u128.
            payout: u128::from(bond(winner)).saturating_add(u128::from(bond(loser))),
        }
    }

    /// The phase after `mv`, or why `mv` is rejected.
    fn judge(&self, mv: &Move, height: u64) -> Result<Phase, MoveError> {
        match (&self.phase, mv) {
            (Phase::Bisect(b), Move::Split { children }) if b.split.is_none() => {
                self.judge_split(b, children)
            }
            (
                Phase::Bisect(b),
                Move::Pick {
                    children,
                    index,
                    reveal,
                },
            ) if b.split.is_some() => self.judge_pick(b, children, *index, reveal, height),
            (Phase::Step(s), Move::Step(proof)) => self.judge_step(s, proof, height),
            (phase, mv) => Err(MoveError::UnexpectedMove {
                expected: match phase {
                    Phase::Bisect(b) if b.split.is_some() => "pick",
                    Phase::Bisect(_) => "split",
                    _ => "step",
                },
                got: mv.name(),
            }),
        }
    }

    /// Checks `children` against the request and the mover's anchor; returns the child level.
    fn check_children(&self, b: &Bisect, side: Side, children: &[Hash]) -> Result<u32, MoveError> {
        let level = b.level.saturating_sub(self.m);
        let (_, count) = tree::children(b.leaves, b.level, b.index, level);
        if u64::try_from(children.len()).ok() != Some(count) {
            return Err(MoveError::ChildCount {
                expected: count,
                got: children.len(),
            });
        }
        let climbed = if level == 0 && b.tree == Tree::Exec {
            let leaves: Vec<Hash> = children.iter().map(tree::node_leaf).collect();
            tree::fold(&leaves)
        } else {
            tree::fold(children)
        };
        let [p, c] = &b.anchors;
        let ok = match (side.pick([p, c]), &b.tree) {
            (Anchor::Node(h), _) => climbed == *h,
            (Anchor::Exec(root), _) => tree::exec_root(self.params.node_count, &climbed) == *root,
            (Anchor::Tensor(root), Tree::Rows { shape, .. }) => {
                tree::tensor_root(shape, &climbed) == *root
            }
            (Anchor::Tensor(_), Tree::Exec) => false,
        };
        if ok {
            Ok(level)
        } else {
            Err(MoveError::RootMismatch { side })
        }
    }

    fn judge_split(&self, b: &Bisect, children: &[Hash]) -> Result<Phase, MoveError> {
        self.check_children(b, Side::Provider, children)?;
        let mut next = b.clone();
        next.split = Some(children.to_vec());
        Ok(Phase::Bisect(next))
    }

    fn judge_pick(
        &self,
        b: &Bisect,
        children: &[Hash],
        index: u8,
        reveal: &Reveal,
        height: u64,
    ) -> Result<Phase, MoveError> {
        let level = self.check_children(b, Side::Challenger, children)?;
        // judge() routes a pick here only after a split, so the fallback is never taken.
        let provider = b.split.as_deref().unwrap_or(&[]);
        // At most 16 children (one per arity step), so the position fits a u8.
        let first = provider
            .iter()
            .zip(children)
            .position(|(p, c)| p != c)
            .and_then(|i| u8::try_from(i).ok());
        if first != Some(index) {
            return Err(MoveError::NotFirstDisagreement { index, first });
        }
        let i = usize::from(index);
        let (Some(&p), Some(&c)) = (provider.get(i), children.get(i)) else {
            return Err(MoveError::NotFirstDisagreement { index, first });
        };
        let (start, _) = tree::children(b.leaves, b.level, b.index, level);
        let at = start.saturating_add(u64::from(index));
        if level > 0 {
            no_reveal(reveal)?;
            let (level, index) = tree::normalize(b.leaves, level, at);
            return Ok(Phase::Bisect(Bisect {
                tree: b.tree.clone(),
                leaves: b.leaves,
                level,
                index,
                anchors: [Anchor::Node(p), Anchor::Node(c)],
                split: None,
                provider_tensor_root: b.provider_tensor_root,
            }));
        }
        // A leaf index is below the leaf count: node_count (u32) or a validated row count.
        let at = u32::try_from(at).map_err(|_| MoveError::LeafOutOfRange { leaf: at })?;
        match &b.tree {
            Tree::Exec => self.isolate_node(at, p, c, reveal, height),
            Tree::Rows { node, shape } => {
                if reveal.header.is_some() {
                    return Err(MoveError::UnexpectedReveal("a header"));
                }
                let row = reveal
                    .row
                    .as_ref()
                    .ok_or(MoveError::MissingReveal("its row"))?;
                check_row_len(shape, row)?;
                if tree::row_leaf(row) != c {
                    return Err(MoveError::RowMismatch);
                }
                Ok(Phase::Step(StepTask {
                    node: *node,
                    row: at,
                    // isolate_node sets it on every row bisection it opens.
                    provider_tensor_root: b.provider_tensor_root.unwrap_or([0; 32]),
                    challenger_row: row.clone(),
                }))
            }
        }
    }

    /// The challenger picked leaf `node` of the execution tree, where the provider posted
    /// tensor root `p` and it posts `c`. Node 0 is settled against the registered input; any
    /// other node's revealed header is proven and validated on its own (an invalid one ends
    /// the game against the provider), then the game moves to its row tree (or straight to
    /// the step if it has one row).
    fn isolate_node(
        &self,
        node: u32,
        p: Hash,
        c: Hash,
        reveal: &Reveal,
        height: u64,
    ) -> Result<Phase, MoveError> {
        if node == 0 {
            no_reveal(reveal)?;
            if c != self.params.input_root {
                return Err(MoveError::InputNotRegistered);
            }
            // p != c == the registered input: the provider ran another input.
            let outcome = self.outcome_for(Side::Challenger, Reason::InputMismatch, height);
            return Ok(Phase::Resolved(outcome));
        }
        let header = reveal
            .header
            .as_ref()
            .ok_or(MoveError::MissingReveal("the node header"))?;
        let count = self.params.node_count as usize;
        let verified = verify_valid_header(&self.params.model_root, count, node as usize, header)
            .map_err(MoveError::Header)?;
        let Ok(decoded) = verified else {
            // Proven under the registered root, and no valid graph has it.
            let reason = Reason::InvalidModel { node };
            return Ok(Phase::Resolved(self.outcome_for(
                Side::Challenger,
                reason,
                height,
            )));
        };
        // Validated: at most TENSOR_ELEMENTS_MAX (2^22) rows.
        let rows = u64::try_from(decoded.output.rows()).unwrap_or(u64::MAX);
        let shape = decoded.output.shape;
        if rows == 1 {
            let row = reveal
                .row
                .as_ref()
                .ok_or(MoveError::MissingReveal("its only row"))?;
            check_row_len(&shape, row)?;
            if tree::tensor_root(&shape, &tree::row_leaf(row)) != c {
                return Err(MoveError::RowMismatch);
            }
            return Ok(Phase::Step(StepTask {
                node,
                row: 0,
                provider_tensor_root: p,
                challenger_row: row.clone(),
            }));
        }
        if reveal.row.is_some() {
            return Err(MoveError::UnexpectedReveal(
                "a row before the row bisection",
            ));
        }
        let (level, index) = tree::normalize(rows, tree::height(rows), 0);
        Ok(Phase::Bisect(Bisect {
            tree: Tree::Rows { node, shape },
            leaves: rows,
            level,
            index,
            anchors: [Anchor::Tensor(p), Anchor::Tensor(c)],
            split: None,
            provider_tensor_root: Some(p),
        }))
    }

    /// Phase B: the node, the row and the element all come from the bisection's final state;
    /// the provider only supplies openings, checked against its own commitments.
    fn judge_step(&self, s: &StepTask, proof: &StepProof, height: u64) -> Result<Phase, MoveError> {
        if proof.node.index != s.node {
            return Err(MoveError::WrongNode {
                expected: s.node,
                got: proof.node.index,
            });
        }
        if proof.node.output_root != s.provider_tensor_root {
            return Err(MoveError::UnboundOutputRoot);
        }
        let data = &proof.output_row.data;
        if data.len() != s.challenger_row.len() {
            return Err(MoveError::RowLength {
                expected: s.challenger_row.len(),
                got: data.len(),
            });
        }
        let e = data
            .iter()
            .zip(&s.challenger_row)
            .position(|(a, b)| a != b)
            .ok_or(MoveError::RowNotDisputed)?;
        // row · row_len + e is below the node's validated element count (<= 2^22); were it
        // ever past u32, u32::MAX would name no element and verify_step would reject it.
        let expected = (s.row as usize)
            .saturating_mul(data.len())
            .saturating_add(e);
        let expected = u32::try_from(expected).unwrap_or(u32::MAX);
        if proof.element != expected {
            return Err(MoveError::WrongElement {
                expected,
                got: proof.element,
            });
        }
        let p = &self.params;
        let verdict = verify_step(
            &p.model_root,
            p.node_count as usize,
            &p.provider.exec_root,
            proof,
        )
        .map_err(MoveError::Step)?;
        let (winner, reason) = match verdict {
            StepVerdict::Mismatch {
                committed,
                recomputed,
            } => (
                Side::Challenger,
                Reason::StepMismatch {
                    committed,
                    recomputed,
                },
            ),
            StepVerdict::Consistent { value } => (Side::Provider, Reason::StepConsistent { value }),
            StepVerdict::InvalidModel { node, .. } => {
                (Side::Challenger, Reason::InvalidModel { node })
            }
        };
        Ok(Phase::Resolved(self.outcome_for(winner, reason, height)))
    }
}

fn no_reveal(reveal: &Reveal) -> Result<(), MoveError> {
    if reveal.header.is_some() {
        return Err(MoveError::UnexpectedReveal("a header"));
    }
    if reveal.row.is_some() {
        return Err(MoveError::UnexpectedReveal("a row"));
    }
    Ok(())
}

fn check_row_len(shape: &[u32], row: &[i8]) -> Result<(), MoveError> {
    let expected = shape.last().map_or(1, |&d| d as usize); // u32 → usize: lossless
    if row.len() != expected {
        return Err(MoveError::RowLength {
            expected,
            got: row.len(),
        });
    }
    Ok(())
}
