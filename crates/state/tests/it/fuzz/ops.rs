//! What the state-machine fuzzer does, as data: blocks of [Op]s, each decoded from
//! [OP_BYTES] bytes (a kind, three selectors and a seed), so proptest (which draws the bytes
//! from a seeded RNG) and cargo-fuzz (which mutates them) drive the same sequences.
//!
//! An op names *what* to attempt with small selectors; the driver resolves them against the
//! state when the block is built (which request, whose turn, which nonce), so random bytes
//! reach deep states: a dispute mid-game, a task in its reveal phase, a jailed validator.

/// Bytes one op decodes from: kind, three selectors, and a 64-bit seed or amount.
pub const OP_BYTES: usize = 12;
/// Most ops in one block (the decoder's bound; proptest draws as many).
pub const BLOCK_OPS_MAX: usize = 10;
/// Most blocks one input drives (idle stretches add empty blocks on top).
pub const BLOCKS_MAX: usize = 64;

/// What an op attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Transfer,
    Bond,
    Unbond,
    LinkHotKey,
    UnlinkHotKey,
    SetMoniker,
    CreateValidator,
    Unjail,
    ProposeTask,
    VoteTask,
    JoinTask,
    SubmitUpdate,
    CommitScores,
    RevealScores,
    AttestCheckpoint,
    RegisterModel,
    RetireModel,
    RequestInference,
    PostResult,
    Challenge,
    DisputeMove,
    /// Block-level: slashing evidence against `who`'s validator key (or a stranger), for the
    /// current epoch mostly (`target`), view `env % 4`.
    Evidence,
    /// Block-level: `target % 6` leader slots that `who`'s validator skipped.
    Misses,
    /// Block-level: `who` proposes (fees go to its operator, or are burnt).
    Proposer,
    /// After this block, `who` selects how many empty blocks (timeouts, maturities, windows).
    Idle,
    /// Before this block, try it broken in way `who` (a duplicate, a refused tx, a wrong
    /// height, too many missed slots) at position `target`: it must be refused and change
    /// nothing.
    BadBlock,
}

/// One thing to attempt. For a transaction: `who` selects the signer, `target` what it acts
/// on (a validator, task, model, request or dispute, among the live ones mostly), `env` the
/// envelope (right, or a wrong nonce, fee, chain id or signature) and `x` the amounts and
/// how right or wrong the action is. Block-level kinds read the fields as they say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    pub kind: Kind,
    pub who: u8,
    pub target: u8,
    pub env: u8,
    pub x: u64,
}

/// Op kinds with their weights: the dispute game, the market and the task rounds get the
/// most draws, as that is where a transaction has the most to check.
const KINDS: &[(Kind, u8)] = &[
    (Kind::Transfer, 3),
    (Kind::Bond, 2),
    (Kind::Unbond, 2),
    (Kind::LinkHotKey, 2),
    (Kind::UnlinkHotKey, 1),
    (Kind::SetMoniker, 1),
    (Kind::CreateValidator, 1),
    (Kind::Unjail, 2),
    (Kind::ProposeTask, 2),
    (Kind::VoteTask, 3),
    (Kind::JoinTask, 3),
    (Kind::SubmitUpdate, 4),
    (Kind::CommitScores, 4),
    (Kind::RevealScores, 4),
    (Kind::AttestCheckpoint, 4),
    (Kind::RegisterModel, 3),
    (Kind::RetireModel, 1),
    (Kind::RequestInference, 3),
    (Kind::PostResult, 3),
    (Kind::Challenge, 3),
    (Kind::DisputeMove, 8),
    (Kind::Evidence, 1),
    (Kind::Misses, 2),
    (Kind::Proposer, 1),
    (Kind::Idle, 2),
    (Kind::BadBlock, 1),
];

fn kind_of(byte: u8) -> Kind {
    let total: u32 = KINDS.iter().map(|(_, w)| u32::from(*w)).sum();
    let mut at = u32::from(byte) % total;
    for (kind, weight) in KINDS {
        if at < u32::from(*weight) {
            return *kind;
        }
        at -= u32::from(*weight);
    }
    Kind::Transfer
}

impl Op {
    /// The op `bytes` encode (every byte string is some op).
    pub fn decode(bytes: &[u8; OP_BYTES]) -> Op {
        let [k, who, target, env, rest @ ..] = *bytes;
        Op {
            kind: kind_of(k),
            who,
            target,
            env,
            x: u64::from_le_bytes(rest),
        }
    }

    /// Whether it is a transaction (not a block-level op).
    pub fn is_tx(&self) -> bool {
        !matches!(
            self.kind,
            Kind::Evidence | Kind::Misses | Kind::Proposer | Kind::Idle | Kind::BadBlock
        )
    }

    /// The same selectors, attempting `kind`.
    pub fn as_kind(self, kind: Kind) -> Op {
        Op { kind, ..self }
    }
}

/// Blocks from raw fuzzer bytes: per block, one byte gives its op count (mod
/// [BLOCK_OPS_MAX] + 1), then that many ops of [OP_BYTES] bytes (zero-padded at the end).
pub fn decode_blocks(mut bytes: &[u8]) -> Vec<Vec<Op>> {
    let mut blocks = Vec::new();
    while let Some((&count, rest)) = bytes.split_first() {
        if blocks.len() >= BLOCKS_MAX {
            break;
        }
        bytes = rest;
        let mut ops = Vec::new();
        for _ in 0..usize::from(count) % (BLOCK_OPS_MAX + 1) {
            let mut op = [0u8; OP_BYTES];
            let n = bytes.len().min(OP_BYTES);
            op[..n].copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            ops.push(Op::decode(&op));
        }
        blocks.push(ops);
    }
    blocks
}
