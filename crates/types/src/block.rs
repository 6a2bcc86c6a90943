//! Blocks: a header committing to the post-execution state root, the transactions and any
//! equivocation evidence. The digest is recomputed from content on decode, never trusted.

use crate::{Digest, PublicKey, SignedTx, limits, sha256};
use bytes::BufMut;
use commonware_codec::Buf;
use commonware_codec::{
    Encode, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt, Write, varint::UInt,
};
use commonware_consensus::types::{Epoch, Height, Round, View};
use commonware_cryptography::{Digestible, Hasher, Sha256};

/// The consensus context a block was proposed in (round, leader, parent view and digest).
pub type BlockContext = commonware_consensus::simplex::types::Context<Digest, PublicKey>;

/// Which signed-vote conflict an [Evidence] item proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EvidenceKind {
    /// Two notarize votes for different proposals in one view.
    ConflictingNotarize = 0,
    /// Two finalize votes for different proposals in one view.
    ConflictingFinalize = 1,
    /// A nullify and a finalize vote in one view.
    NullifyFinalize = 2,
}

impl Write for EvidenceKind {
    fn write(&self, w: &mut impl BufMut) {
        (*self as u8).write(w);
    }
}

impl commonware_codec::FixedSize for EvidenceKind {
    const SIZE: usize = 1;
}

impl Read for EvidenceKind {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(r)? {
            0 => Ok(EvidenceKind::ConflictingNotarize),
            1 => Ok(EvidenceKind::ConflictingFinalize),
            2 => Ok(EvidenceKind::NullifyFinalize),
            tag => Err(CodecError::InvalidEnum(tag)),
        }
    }
}

/// Proof that `offender` signed conflicting consensus votes in `(epoch, view)`.
///
/// `proof` is the encoded commonware activity (both signed votes). Nodes verify it against the
/// epoch's validator set before voting for a block that carries it; the state machine only
/// applies the slash, once per (offender, epoch, view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub kind: EvidenceKind,
    pub offender: PublicKey,
    pub epoch: u64,
    pub view: u64,
    pub proof: Vec<u8>,
}

impl Write for Evidence {
    fn write(&self, w: &mut impl BufMut) {
        self.kind.write(w);
        self.offender.write(w);
        UInt(self.epoch).write(w);
        UInt(self.view).write(w);
        self.proof.write(w);
    }
}

impl EncodeSize for Evidence {
    // Sums of field sizes, each bounded by the decoder's limits (a few MiB at most): cannot
    // overflow a usize.
    #[allow(clippy::arithmetic_side_effects)]
    fn encode_size(&self) -> usize {
        1 + self.offender.encode_size()
            + UInt(self.epoch).encode_size()
            + UInt(self.view).encode_size()
            + self.proof.encode_size()
    }
}

impl Read for Evidence {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Evidence {
            kind: EvidenceKind::read(r)?,
            offender: PublicKey::read(r)?,
            epoch: UInt::read(r)?.into(),
            view: UInt::read(r)?.into(),
            proof: Vec::<u8>::read_cfg(
                r,
                &(RangeCfg::new(0..=limits::EVIDENCE_SIZE_MAX_BYTES), ()),
            )?,
        })
    }
}

/// A Cairn block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub context: BlockContext,
    pub parent: Digest,
    pub height: u64,
    /// Proposer's clock in ms since the Unix epoch; informational (never read by the state machine).
    pub timestamp_ms: u64,
    /// State root after executing this block.
    pub state_root: Digest,
    /// Commitment to `txs` and `evidence` (see [Block::body_root]).
    pub body_root: Digest,
    pub txs: Vec<SignedTx>,
    pub evidence: Vec<Evidence>,
    digest: Digest,
}

impl Block {
    /// Builds a block, computing its body root and digest.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        context: BlockContext,
        parent: Digest,
        height: u64,
        timestamp_ms: u64,
        state_root: Digest,
        txs: Vec<SignedTx>,
        evidence: Vec<Evidence>,
    ) -> Self {
        let body_root = Self::body_root(&txs, &evidence);
        let digest = Self::header_digest(
            &context,
            &parent,
            height,
            timestamp_ms,
            &state_root,
            &body_root,
        );
        Block {
            context,
            parent,
            height,
            timestamp_ms,
            state_root,
            body_root,
            txs,
            evidence,
            digest,
        }
    }

    /// The genesis block (height 0) for a chain whose genesis state has `state_root`.
    pub fn genesis(leader: PublicKey, state_root: Digest, genesis_time_ms: u64) -> Self {
        let zero = Digest::from([0u8; 32]);
        let context = BlockContext {
            round: Round::new(Epoch::zero(), View::zero()),
            leader,
            parent: (View::zero(), zero),
        };
        Block::new(
            context,
            zero,
            0,
            genesis_time_ms,
            state_root,
            Vec::new(),
            Vec::new(),
        )
    }

    /// SHA-256 over the tx hashes then the evidence hashes, each list length-prefixed.
    pub fn body_root(txs: &[SignedTx], evidence: &[Evidence]) -> Digest {
        let mut hasher = Sha256::default();
        hasher.update(&(txs.len() as u64).to_be_bytes());
        for tx in txs {
            hasher.update(tx.hash().as_ref());
        }
        hasher.update(&(evidence.len() as u64).to_be_bytes());
        for item in evidence {
            hasher.update(sha256(&[&item.encode()]).as_ref());
        }
        hasher.finalize().1
    }

    fn header_digest(
        context: &BlockContext,
        parent: &Digest,
        height: u64,
        timestamp_ms: u64,
        state_root: &Digest,
        body_root: &Digest,
    ) -> Digest {
        sha256(&[
            b"cairn-block-v1",
            &context.encode(),
            parent.as_ref(),
            &height.to_be_bytes(),
            &timestamp_ms.to_be_bytes(),
            state_root.as_ref(),
            body_root.as_ref(),
        ])
    }

    /// The block hash.
    pub fn hash(&self) -> Digest {
        self.digest
    }
}

impl Write for Block {
    fn write(&self, w: &mut impl BufMut) {
        self.context.write(w);
        self.parent.write(w);
        UInt(self.height).write(w);
        UInt(self.timestamp_ms).write(w);
        self.state_root.write(w);
        self.txs.write(w);
        self.evidence.write(w);
    }
}

impl EncodeSize for Block {
    // Sums of field sizes, each bounded by the decoder's limits (a few MiB at most): cannot
    // overflow a usize.
    #[allow(clippy::arithmetic_side_effects)]
    fn encode_size(&self) -> usize {
        self.context.encode_size()
            + self.parent.encode_size()
            + UInt(self.height).encode_size()
            + UInt(self.timestamp_ms).encode_size()
            + self.state_root.encode_size()
            + self.txs.encode_size()
            + self.evidence.encode_size()
    }
}

impl Read for Block {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let context = BlockContext::read(r)?;
        let parent = Digest::read(r)?;
        let height = UInt::read(r)?.into();
        let timestamp_ms = UInt::read(r)?.into();
        let state_root = Digest::read(r)?;
        let txs = Vec::<SignedTx>::read_cfg(r, &(RangeCfg::new(0..=limits::BLOCK_TXS_MAX), ()))?;
        let evidence =
            Vec::<Evidence>::read_cfg(r, &(RangeCfg::new(0..=limits::BLOCK_EVIDENCE_MAX), ()))?;
        Ok(Block::new(
            context,
            parent,
            height,
            timestamp_ms,
            state_root,
            txs,
            evidence,
        ))
    }
}

impl Digestible for Block {
    type Digest = Digest;
    fn digest(&self) -> Digest {
        self.digest
    }
}

impl commonware_consensus::Heightable for Block {
    fn height(&self) -> Height {
        Height::new(self.height)
    }
}

impl commonware_consensus::Block for Block {
    fn parent(&self) -> Digest {
        self.parent
    }
}

impl commonware_consensus::CertifiableBlock for Block {
    type Context = BlockContext;
    fn context(&self) -> BlockContext {
        self.context.clone()
    }
}

impl commonware_consensus::BoundedBlock for Block {
    fn max_encode_size(_: &()) -> usize {
        limits::BLOCK_SIZE_MAX_BYTES
    }
}
