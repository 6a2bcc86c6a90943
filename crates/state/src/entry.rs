//! The values the state holds, and their canonical encodings (which enter leaf hashes and
//! snapshots, so they are consensus-critical: never reorder or widen a field).

use bytes::BufMut;
use cairn_types::{Address, Amount, Digest, EvidenceKind, Params, PublicKey, limits};
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write,
};

/// A (cold or hot) account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    pub balance: Amount,
    /// Next nonce this account must sign with.
    pub nonce: u64,
}

impl Write for Account {
    fn write(&self, w: &mut impl BufMut) {
        self.balance.write(w);
        self.nonce.write(w);
    }
}

impl FixedSize for Account {
    const SIZE: usize = 2 * u64::SIZE;
}

impl Read for Account {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Account {
            balance: u64::read(r)?,
            nonce: u64::read(r)?,
        })
    }
}

/// A validator: its consensus key, the account that operates it and its stake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub consensus_key: PublicKey,
    pub operator: Address,
    pub moniker: String,
    pub self_bond: Amount,
    pub delegated: Amount,
    pub jailed: bool,
    pub slashed_total: Amount,
}

impl Validator {
    /// Self-bond plus delegations. Cannot overflow while the supply invariant holds (every
    /// bonded token is counted once in a `u64` supply); saturates rather than panic if it did.
    pub fn total_bond(&self) -> Amount {
        self.self_bond.saturating_add(self.delegated)
    }
}

pub(crate) fn write_string(s: &str, w: &mut impl BufMut) {
    s.as_bytes().write(w);
}

pub(crate) fn string_size(s: &str) -> usize {
    s.as_bytes().encode_size()
}

pub(crate) fn read_string(r: &mut impl Buf, max: usize) -> Result<String, CodecError> {
    let bytes = Vec::<u8>::read_cfg(r, &(RangeCfg::new(0..=max), ()))?;
    String::from_utf8(bytes).map_err(|_| CodecError::Invalid("string", "not utf-8"))
}

impl Write for Validator {
    fn write(&self, w: &mut impl BufMut) {
        self.consensus_key.write(w);
        self.operator.write(w);
        write_string(&self.moniker, w);
        self.self_bond.write(w);
        self.delegated.write(w);
        self.jailed.write(w);
        self.slashed_total.write(w);
    }
}

impl EncodeSize for Validator {
    fn encode_size(&self) -> usize {
        2 * PublicKey::SIZE + string_size(&self.moniker) + 3 * u64::SIZE + bool::SIZE
    }
}

impl Read for Validator {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Validator {
            consensus_key: PublicKey::read(r)?,
            operator: PublicKey::read(r)?,
            moniker: read_string(r, limits::MEMO_MAX_BYTES)?,
            self_bond: u64::read(r)?,
            delegated: u64::read(r)?,
            jailed: bool::read(r)?,
            slashed_total: u64::read(r)?,
        })
    }
}

/// Tokens on their way back from a validator to `owner`'s balance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unbonding {
    pub owner: Address,
    pub validator: PublicKey,
    pub amount: Amount,
    /// Height at whose end the tokens return to the balance (never before the epoch it
    /// started in has ended).
    pub matures_at: u64,
    /// The epoch it started in: evidence of that epoch still slashes it.
    pub started_epoch: u64,
}

/// What one applied transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub tx_hash: Digest,
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    pub signer: PublicKey,
    /// The account acted for: the signer's cold account when the signer is a linked hot key.
    pub account: Address,
    pub action: &'static str,
    pub fee: Amount,
}

/// One applied slash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlashEvent {
    pub offender: PublicKey,
    pub epoch: u64,
    pub view: u64,
    pub kind: EvidenceKind,
    /// Tokens burnt.
    pub amount: Amount,
    /// Height of the block that carried the evidence.
    pub height: u64,
}

/// The value half of a slash entry (the key is offender, epoch, view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SlashRecord {
    pub kind: EvidenceKind,
    pub amount: Amount,
    pub height: u64,
}

impl Write for SlashRecord {
    fn write(&self, w: &mut impl BufMut) {
        self.kind.write(w);
        self.amount.write(w);
        self.height.write(w);
    }
}

impl FixedSize for SlashRecord {
    const SIZE: usize = 1 + 2 * u64::SIZE;
}

impl Read for SlashRecord {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(SlashRecord {
            kind: EvidenceKind::read(r)?,
            amount: u64::read(r)?,
            height: u64::read(r)?,
        })
    }
}

/// Chain-wide scalars that change over time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub chain_id: String,
    pub height: u64,
    pub epoch: u64,
    pub total_supply: Amount,
}

impl Write for Meta {
    fn write(&self, w: &mut impl BufMut) {
        write_string(&self.chain_id, w);
        self.height.write(w);
        self.epoch.write(w);
        self.total_supply.write(w);
    }
}

impl EncodeSize for Meta {
    fn encode_size(&self) -> usize {
        string_size(&self.chain_id) + 3 * u64::SIZE
    }
}

impl Read for Meta {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Meta {
            chain_id: read_string(r, limits::CHAIN_ID_MAX_BYTES)?,
            height: u64::read(r)?,
            epoch: u64::read(r)?,
            total_supply: u64::read(r)?,
        })
    }
}

/// [Params] with a canonical encoding (the type lives in `cairn-types`, which has no codec
/// for it, so this crate owns its consensus encoding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParamsCodec(pub Params);

impl Write for ParamsCodec {
    fn write(&self, w: &mut impl BufMut) {
        let p = &self.0;
        p.unbonding_period_blocks.write(w);
        p.slash_fraction_bps.write(w);
        p.min_fee.write(w);
        p.epoch_length_blocks.write(w);
        p.validators_max.write(w);
        p.validator_bond_min.write(w);
    }
}

impl FixedSize for ParamsCodec {
    const SIZE: usize = 5 * u64::SIZE + u32::SIZE;
}

impl Read for ParamsCodec {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(ParamsCodec(Params {
            unbonding_period_blocks: u64::read(r)?,
            slash_fraction_bps: u64::read(r)?,
            min_fee: u64::read(r)?,
            epoch_length_blocks: u64::read(r)?,
            validators_max: u32::read(r)?,
            validator_bond_min: u64::read(r)?,
        }))
    }
}

/// A validator's missed leader slots in the current epoch, and whether it sits out for
/// inactivity. Stored only while non-default (a ledger where every leader proposes keeps its
/// root).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Liveness {
    /// Views it led in this epoch that consensus skipped (nullified) for want of its block.
    pub missed: u32,
    /// Height of the epoch's last block that jailed it for inactivity, until it unjails.
    pub jailed_at: Option<u64>,
}

impl Liveness {
    pub(crate) fn is_default(&self) -> bool {
        *self == Liveness::default()
    }
}

impl Write for Liveness {
    fn write(&self, w: &mut impl BufMut) {
        self.missed.write(w);
        self.jailed_at.write(w);
    }
}

impl EncodeSize for Liveness {
    fn encode_size(&self) -> usize {
        u32::SIZE + self.jailed_at.encode_size()
    }
}

impl Read for Liveness {
    type Cfg = ();
    fn read_cfg(r: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Liveness {
            missed: u32::read(r)?,
            jailed_at: Option::<u64>::read(r)?,
        })
    }
}
