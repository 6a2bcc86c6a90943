//! The ledger state: typed entry maps, the cached leaf digest of every entry, and an undo
//! journal that makes a failed transaction or block leave no trace.
//!
//! Every write goes through [State::store] (or a singleton setter), which updates the map,
//! the entry's cached leaf digest and, while journaling, records the previous value.

use crate::entry::{
    Account, Liveness, Meta, ParamsCodec, SlashEvent, SlashRecord, Unbonding, Validator,
};
use crate::error::ProofError;
use crate::infer::{DisputeRecord, Inference, Model};
use crate::task::{RoundRecord, Task};
use cairn_types::{Address, Amount, Digest, Genesis, GenesisError, Params, PublicKey};
use commonware_codec::Encode;
use commonware_cryptography::Sha256;
use commonware_storage::bmt;
use std::collections::BTreeMap;

/// Domain separator of state leaves (never used for anything else).
pub(crate) const LEAF_NAMESPACE: &[u8] = b"_CAIRN_STATE_LEAF_V1";

/// Leaf tags: the first byte of every leaf key, so leaves sort by (tag, key). Part of the
/// consensus encoding: never renumber.
pub(crate) mod tag {
    pub const META: u8 = 0;
    pub const PARAMS: u8 = 1;
    pub const ACCOUNT: u8 = 2;
    pub const VALIDATOR: u8 = 3;
    pub const DELEGATION: u8 = 4;
    pub const UNBONDING: u8 = 5;
    pub const HOT_KEY: u8 = 6;
    pub const SLASH: u8 = 7;
    pub const ACTIVE_SET: u8 = 8;
    pub const TASK: u8 = 9;
    pub const ROUND_RECORD: u8 = 10;
    pub const MODEL: u8 = 11;
    pub const INFERENCE: u8 = 12;
    pub const LIVENESS: u8 = 13;
    pub const DISPUTE: u8 = 14;
}

/// (validator, owner): keyed by validator first so a slash walks one range.
pub(crate) type DelegationKey = (PublicKey, Address);
/// (matures_at, owner, validator, epoch the unbonding started in): keyed by maturity first so
/// end-block walks one range; the start epoch says which evidence may still slash it.
pub(crate) type UnbondingKey = (u64, Address, PublicKey, u64);
/// (offender, epoch, view): at most one slash each.
pub(crate) type SlashKey = (PublicKey, u64, u64);
/// (task, round).
pub(crate) type RoundKey = (u64, u32);
/// (request, dispute index).
pub(crate) type DisputeKey = (u64, u32);

/// The digest of one state entry: `sha256(namespace || tag || key || value)`.
pub(crate) fn leaf_digest(tag: u8, key: &[u8], value: &[u8]) -> Digest {
    cairn_types::sha256(&[LEAF_NAMESPACE, &[tag], key, value])
}

fn leaf_key(tag: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + key.len());
    out.push(tag);
    out.extend_from_slice(key);
    out
}

/// A previous value, to restore on rollback.
#[derive(Clone, Debug)]
pub(crate) enum Undo {
    Account(Address, Option<Account>),
    Validator(PublicKey, Option<Validator>),
    Delegation(DelegationKey, Option<Amount>),
    Unbonding(UnbondingKey, Option<Amount>),
    HotKey(PublicKey, Option<Address>),
    Slash(SlashKey, Option<SlashRecord>),
    ActiveSet(Vec<(PublicKey, Amount)>),
    Meta(Meta),
    Task(u64, Option<Task>),
    RoundRecord(RoundKey, Option<RoundRecord>),
    Model([u8; 32], Option<Model>),
    Inference(u64, Option<Inference>),
    Dispute(DisputeKey, Option<DisputeRecord>),
    Liveness(PublicKey, Option<Liveness>),
}

/// The whole ledger state. Cloning is a deep copy.
#[derive(Clone, Debug)]
pub struct State {
    pub(crate) meta: Meta,
    pub(crate) params: Params,
    pub(crate) accounts: BTreeMap<Address, Account>,
    pub(crate) validators: BTreeMap<PublicKey, Validator>,
    pub(crate) delegations: BTreeMap<DelegationKey, Amount>,
    pub(crate) unbondings: BTreeMap<UnbondingKey, Amount>,
    /// hot key -> the cold account it is linked to.
    pub(crate) hot_keys: BTreeMap<PublicKey, Address>,
    pub(crate) slashes: BTreeMap<SlashKey, SlashRecord>,
    /// Sorted by key.
    pub(crate) active_set: Vec<(PublicKey, Amount)>,
    /// Federated-learning tasks by id.
    pub(crate) tasks: BTreeMap<u64, Task>,
    /// Scored rounds (lineage and checkpoints) by (task, round).
    pub(crate) round_records: BTreeMap<RoundKey, RoundRecord>,
    /// Registered models by id.
    pub(crate) models: BTreeMap<[u8; 32], Model>,
    /// Inference requests by id.
    pub(crate) inferences: BTreeMap<u64, Inference>,
    /// Disputes over inference results by (request, index).
    pub(crate) disputes: BTreeMap<DisputeKey, DisputeRecord>,
    /// (deadline, id) of every live request: what end-block must look at, without a scan of
    /// every request ever made. Derived from `inferences` (not committed to by the root) and
    /// kept in step by every write and rollback.
    pub(crate) inference_deadlines: std::collections::BTreeSet<(u64, u64)>,
    /// Leader slots proposed and missed this epoch, and inactivity jail, by consensus key.
    pub(crate) liveness: BTreeMap<PublicKey, Liveness>,
    /// (tag || key) -> leaf digest of every entry; the root is built from these.
    pub(crate) leaves: BTreeMap<Vec<u8>, Digest>,
    /// Previous values since the last [State::journal_clear]; replayed backwards on rollback.
    pub(crate) journal: Vec<Undo>,
    /// Whether a block is executing (its journal is kept until the block commits).
    pub(crate) in_block: bool,
    /// Signatures already verified, shared by every clone of this state (not part of the
    /// state: it only remembers outcomes of a pure check).
    pub(crate) signatures: std::sync::Arc<cairn_types::SignatureCache>,
}

/// Writes `value` (or removes the entry when `None`) into `map` and the leaf cache; returns
/// the previous value.
fn store<K: Ord + Clone + Encode, V: Encode>(
    map: &mut BTreeMap<K, V>,
    leaves: &mut BTreeMap<Vec<u8>, Digest>,
    tag: u8,
    key: K,
    value: Option<V>,
) -> Option<V> {
    let key_bytes = key.encode();
    let lk = leaf_key(tag, &key_bytes);
    match value {
        Some(v) => {
            leaves.insert(lk, leaf_digest(tag, &key_bytes, &v.encode()));
            map.insert(key, v)
        }
        None => {
            leaves.remove(&lk);
            map.remove(&key)
        }
    }
}

/// Moves request `id` in the live-deadline index from `old`'s entry (if it was live) to
/// `deadline` (if it is live now).
fn index_deadline(
    index: &mut std::collections::BTreeSet<(u64, u64)>,
    id: u64,
    old: Option<&Inference>,
    deadline: Option<u64>,
) {
    if let Some(old) = old.filter(|i| i.status.is_live()) {
        index.remove(&(old.deadline, id));
    }
    if let Some(d) = deadline {
        index.insert((d, id));
    }
}

impl State {
    /// The state a chain starts from. Validators' genesis stake is minted as self-bond.
    pub fn from_genesis(g: &Genesis) -> Result<State, GenesisError> {
        g.validate()?;
        let balances = g.balances()?;
        let entries = g.validator_entries()?;
        let supply = balances
            .iter()
            .map(|(_, b)| *b)
            .chain(entries.iter().map(|v| v.stake))
            .try_fold(0u64, |acc, x| acc.checked_add(x))
            .ok_or(GenesisError::SupplyOverflow)?;
        let mut state = State::empty(
            Meta {
                chain_id: g.chain_id.clone(),
                height: 0,
                epoch: 0,
                total_supply: supply,
            },
            g.params.clone(),
        );
        for (address, balance) in balances {
            state.put_account(address, Account { balance, nonce: 0 });
        }
        for v in entries {
            let validator = Validator {
                consensus_key: v.consensus_key.clone(),
                operator: v.operator,
                moniker: v.moniker,
                self_bond: v.stake,
                delegated: 0,
                jailed: false,
                slashed_total: 0,
            };
            state.put_validator(validator);
        }
        let set = state.compute_validator_set();
        state.set_active_set(set);
        state.journal_clear();
        Ok(state)
    }

    /// A state with no entries but the singletons (used by genesis and snapshot decoding).
    pub(crate) fn empty(meta: Meta, params: Params) -> State {
        let mut state = State {
            meta: meta.clone(),
            params: params.clone(),
            accounts: BTreeMap::new(),
            validators: BTreeMap::new(),
            delegations: BTreeMap::new(),
            unbondings: BTreeMap::new(),
            hot_keys: BTreeMap::new(),
            slashes: BTreeMap::new(),
            active_set: Vec::new(),
            tasks: BTreeMap::new(),
            models: BTreeMap::new(),
            inferences: BTreeMap::new(),
            disputes: BTreeMap::new(),
            inference_deadlines: std::collections::BTreeSet::new(),
            liveness: BTreeMap::new(),
            round_records: BTreeMap::new(),
            leaves: BTreeMap::new(),
            journal: Vec::new(),
            in_block: false,
            signatures: Default::default(),
        };
        let params_leaf = leaf_digest(tag::PARAMS, &[], &ParamsCodec(params).encode());
        state.leaves.insert(leaf_key(tag::PARAMS, &[]), params_leaf);
        state.set_meta(meta);
        state.set_active_set(Vec::new());
        state
    }

    // ---- writes (all journaled) ----

    pub(crate) fn put_account(&mut self, address: Address, account: Account) {
        let prev = store(
            &mut self.accounts,
            &mut self.leaves,
            tag::ACCOUNT,
            address.clone(),
            Some(account),
        );
        self.journal.push(Undo::Account(address, prev));
    }

    pub(crate) fn put_validator(&mut self, validator: Validator) {
        let key = validator.consensus_key.clone();
        let prev = store(
            &mut self.validators,
            &mut self.leaves,
            tag::VALIDATOR,
            key.clone(),
            Some(validator),
        );
        self.journal.push(Undo::Validator(key, prev));
    }

    /// Sets a delegation; zero removes the entry (so the encoding stays canonical).
    pub(crate) fn put_delegation(&mut self, key: DelegationKey, amount: Amount) {
        let value = (amount > 0).then_some(amount);
        let prev = store(
            &mut self.delegations,
            &mut self.leaves,
            tag::DELEGATION,
            key.clone(),
            value,
        );
        self.journal.push(Undo::Delegation(key, prev));
    }

    /// Sets an unbonding; zero removes the entry.
    pub(crate) fn put_unbonding(&mut self, key: UnbondingKey, amount: Amount) {
        let value = (amount > 0).then_some(amount);
        let prev = store(
            &mut self.unbondings,
            &mut self.leaves,
            tag::UNBONDING,
            key.clone(),
            value,
        );
        self.journal.push(Undo::Unbonding(key, prev));
    }

    pub(crate) fn put_hot_key(&mut self, hot: PublicKey, cold: Option<Address>) {
        let prev = store(
            &mut self.hot_keys,
            &mut self.leaves,
            tag::HOT_KEY,
            hot.clone(),
            cold,
        );
        self.journal.push(Undo::HotKey(hot, prev));
    }

    pub(crate) fn put_slash(&mut self, key: SlashKey, record: SlashRecord) {
        let prev = store(
            &mut self.slashes,
            &mut self.leaves,
            tag::SLASH,
            key.clone(),
            Some(record),
        );
        self.journal.push(Undo::Slash(key, prev));
    }

    /// Sets a validator's liveness record; the default record removes the entry.
    pub(crate) fn put_liveness(&mut self, key: PublicKey, liveness: Liveness) {
        let value = (!liveness.is_default()).then_some(liveness);
        let prev = store(
            &mut self.liveness,
            &mut self.leaves,
            tag::LIVENESS,
            key.clone(),
            value,
        );
        self.journal.push(Undo::Liveness(key, prev));
    }

    pub(crate) fn put_task(&mut self, task: Task) {
        let id = task.id;
        let prev = store(&mut self.tasks, &mut self.leaves, tag::TASK, id, Some(task));
        self.journal.push(Undo::Task(id, prev));
    }

    pub(crate) fn put_model(&mut self, model: Model) {
        let id = model.id;
        let prev = store(
            &mut self.models,
            &mut self.leaves,
            tag::MODEL,
            id,
            Some(model),
        );
        self.journal.push(Undo::Model(id, prev));
    }

    pub(crate) fn put_inference(&mut self, inference: Inference) {
        let id = inference.id;
        let deadline = inference.status.is_live().then_some(inference.deadline);
        let prev = store(
            &mut self.inferences,
            &mut self.leaves,
            tag::INFERENCE,
            id,
            Some(inference),
        );
        index_deadline(&mut self.inference_deadlines, id, prev.as_ref(), deadline);
        self.journal.push(Undo::Inference(id, prev));
    }

    pub(crate) fn put_dispute(&mut self, dispute: DisputeRecord) {
        let key = (dispute.request, dispute.index);
        let prev = store(
            &mut self.disputes,
            &mut self.leaves,
            tag::DISPUTE,
            key,
            Some(dispute),
        );
        self.journal.push(Undo::Dispute(key, prev));
    }

    pub(crate) fn put_round_record(&mut self, key: RoundKey, record: RoundRecord) {
        let prev = store(
            &mut self.round_records,
            &mut self.leaves,
            tag::ROUND_RECORD,
            key,
            Some(record),
        );
        self.journal.push(Undo::RoundRecord(key, prev));
    }

    pub(crate) fn set_active_set(&mut self, set: Vec<(PublicKey, Amount)>) {
        let leaf = leaf_digest(tag::ACTIVE_SET, &[], &set.encode());
        self.leaves.insert(leaf_key(tag::ACTIVE_SET, &[]), leaf);
        let prev = std::mem::replace(&mut self.active_set, set);
        self.journal.push(Undo::ActiveSet(prev));
    }

    pub(crate) fn set_meta(&mut self, meta: Meta) {
        let leaf = leaf_digest(tag::META, &[], &meta.encode());
        self.leaves.insert(leaf_key(tag::META, &[]), leaf);
        let prev = std::mem::replace(&mut self.meta, meta);
        self.journal.push(Undo::Meta(prev));
    }

    /// Removes `amount` from the supply (fees without a recipient, slashes).
    pub(crate) fn burn(&mut self, amount: Amount) -> Option<()> {
        let mut meta = self.meta.clone();
        meta.total_supply = meta.total_supply.checked_sub(amount)?;
        self.set_meta(meta);
        Some(())
    }

    // ---- journal ----

    pub(crate) fn journal_mark(&self) -> usize {
        self.journal.len()
    }

    /// Forgets the undo history (the changes so far are final).
    pub(crate) fn journal_clear(&mut self) {
        self.journal.clear();
    }

    /// Restores every value written since `mark`, newest first.
    pub(crate) fn rollback_to(&mut self, mark: usize) {
        while self.journal.len() > mark {
            let Some(undo) = self.journal.pop() else {
                break;
            };
            let leaves = &mut self.leaves;
            match undo {
                Undo::Account(k, v) => {
                    let _ = store(&mut self.accounts, leaves, tag::ACCOUNT, k, v);
                }
                Undo::Validator(k, v) => {
                    let _ = store(&mut self.validators, leaves, tag::VALIDATOR, k, v);
                }
                Undo::Delegation(k, v) => {
                    let _ = store(&mut self.delegations, leaves, tag::DELEGATION, k, v);
                }
                Undo::Unbonding(k, v) => {
                    let _ = store(&mut self.unbondings, leaves, tag::UNBONDING, k, v);
                }
                Undo::HotKey(k, v) => {
                    let _ = store(&mut self.hot_keys, leaves, tag::HOT_KEY, k, v);
                }
                Undo::Slash(k, v) => {
                    let _ = store(&mut self.slashes, leaves, tag::SLASH, k, v);
                }
                Undo::Task(k, v) => {
                    let _ = store(&mut self.tasks, leaves, tag::TASK, k, v);
                }
                Undo::RoundRecord(k, v) => {
                    let _ = store(&mut self.round_records, leaves, tag::ROUND_RECORD, k, v);
                }
                Undo::Model(k, v) => {
                    let _ = store(&mut self.models, leaves, tag::MODEL, k, v);
                }
                Undo::Liveness(k, v) => {
                    let _ = store(&mut self.liveness, leaves, tag::LIVENESS, k, v);
                }
                Undo::Dispute(k, v) => {
                    let _ = store(&mut self.disputes, leaves, tag::DISPUTE, k, v);
                }
                Undo::Inference(k, v) => {
                    let deadline = v
                        .as_ref()
                        .filter(|i| i.status.is_live())
                        .map(|i| i.deadline);
                    let replaced = store(&mut self.inferences, leaves, tag::INFERENCE, k, v);
                    index_deadline(
                        &mut self.inference_deadlines,
                        k,
                        replaced.as_ref(),
                        deadline,
                    );
                }
                Undo::ActiveSet(set) => {
                    self.set_active_set(set);
                    self.journal.pop();
                }
                Undo::Meta(meta) => {
                    self.set_meta(meta);
                    self.journal.pop();
                }
            }
        }
    }

    // ---- reads ----

    pub fn chain_id(&self) -> &str {
        &self.meta.chain_id
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Height of the last executed block (0 = genesis).
    pub fn height(&self) -> u64 {
        self.meta.height
    }

    /// The epoch whose validator set [State::active_validator_set] holds: the epoch of the next
    /// block, `(height + 1) / epoch_length_blocks`. The last block of an epoch fixes the next.
    pub fn epoch(&self) -> u64 {
        self.meta.epoch
    }

    /// Tokens in existence: balances, bonds, unbondings, what tasks hold (escrow, stakes) and
    /// what inference requests hold (payments, bonds).
    pub fn total_supply(&self) -> Amount {
        self.meta.total_supply
    }

    pub fn account(&self, a: &Address) -> Option<Account> {
        self.accounts.get(a).cloned()
    }

    /// The cold account `hot` is linked to, if it is a linked hot key.
    pub fn hot_key_owner(&self, hot: &PublicKey) -> Option<Address> {
        self.hot_keys.get(hot).cloned()
    }

    /// Hot keys linked to `cold`, sorted.
    pub fn hot_keys_of(&self, cold: &Address) -> Vec<PublicKey> {
        self.hot_keys
            .iter()
            .filter(|(_, c)| *c == cold)
            .map(|(h, _)| h.clone())
            .collect()
    }

    pub fn validator(&self, k: &PublicKey) -> Option<Validator> {
        self.validators.get(k).cloned()
    }

    /// A validator's missed leader slots this epoch and inactivity jail, if any.
    pub fn liveness(&self, k: &PublicKey) -> Option<Liveness> {
        self.liveness.get(k).cloned()
    }

    /// All validators, jailed included, sorted by consensus key.
    pub fn validators(&self) -> Vec<Validator> {
        self.validators.values().cloned().collect()
    }

    /// What `owner` has delegated to `validator` (0 if nothing; a validator's self-bond is
    /// in [Validator::self_bond], not here).
    pub fn delegation(&self, owner: &Address, validator: &PublicKey) -> Amount {
        self.delegations
            .get(&(validator.clone(), owner.clone()))
            .copied()
            .unwrap_or(0)
    }

    /// `owner`'s pending unbondings, soonest first.
    pub fn unbondings_of(&self, owner: &Address) -> Vec<Unbonding> {
        self.unbondings
            .iter()
            .filter(|((_, o, _, _), _)| o == owner)
            .map(|((matures_at, o, v, epoch), amount)| Unbonding {
                owner: o.clone(),
                validator: v.clone(),
                amount: *amount,
                matures_at: *matures_at,
                started_epoch: *epoch,
            })
            .collect()
    }

    /// Every slash applied so far, by (offender, epoch, view).
    pub fn slashes(&self) -> Vec<SlashEvent> {
        self.slashes
            .iter()
            .map(|((offender, epoch, view), r)| SlashEvent {
                offender: offender.clone(),
                epoch: *epoch,
                view: *view,
                kind: r.kind,
                amount: r.amount,
                height: r.height,
            })
            .collect()
    }

    /// The set consensus should use from the next epoch: the top `validators_max` non-jailed
    /// validators with `self_bond >= validator_bond_min`, by total bond (ties: smaller key
    /// first), returned sorted by key with their total bond.
    pub fn compute_validator_set(&self) -> Vec<(PublicKey, Amount)> {
        let mut eligible: Vec<(PublicKey, Amount)> = self
            .validators
            .values()
            .filter(|v| !v.jailed && v.self_bond >= self.params.validator_bond_min)
            .map(|v| (v.consensus_key.clone(), v.total_bond()))
            .collect();
        eligible.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        eligible.truncate(self.params.validators_max as usize);
        eligible.sort_by(|a, b| a.0.cmp(&b.0));
        eligible
    }

    /// Consensus keys a node's p2p layer admits: the active set, then the eligible candidates
    /// (unjailed or jailed only for inactivity, self-bonded at least `validator_bond_min`) that
    /// rank next by bond, at most
    /// `validators_max` of them. A validator created by transaction can so connect and catch up
    /// before the epoch it joins. Sorted; at most `2 * validators_max` keys.
    pub fn peer_keys(&self) -> Vec<PublicKey> {
        let active: std::collections::BTreeSet<&PublicKey> =
            self.active_set.iter().map(|(k, _)| k).collect();
        let mut keys: Vec<PublicKey> = active.iter().map(|k| (*k).clone()).collect();
        let mut candidates: Vec<(PublicKey, Amount)> = self
            .validators
            .values()
            .filter(|v| {
                // A validator jailed for inactivity stays admitted: it must catch up to unjail.
                let returning = self
                    .liveness
                    .get(&v.consensus_key)
                    .is_some_and(|l| l.jailed_at.is_some());
                (!v.jailed || returning) && v.self_bond >= self.params.validator_bond_min
            })
            .filter(|v| !active.contains(&v.consensus_key))
            .map(|v| (v.consensus_key.clone(), v.total_bond()))
            .collect();
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        keys.extend(
            candidates
                .into_iter()
                .take(self.params.validators_max as usize)
                .map(|(k, _)| k),
        );
        keys.sort();
        keys
    }

    /// The set fixed at the last epoch boundary (the genesis set before the first).
    pub fn active_validator_set(&self) -> Vec<(PublicKey, Amount)> {
        self.active_set.clone()
    }

    // ---- commitment ----

    fn tree(&self) -> bmt::Tree<Digest> {
        let mut builder = bmt::Builder::<Sha256>::new(self.leaves.len());
        for leaf in self.leaves.values() {
            builder.add(leaf);
        }
        builder.build()
    }

    /// Merkle root over every state entry's leaf, leaves sorted by (tag, key).
    pub fn root(&self) -> Digest {
        self.tree().root()
    }

    /// Inclusion proof of `a`'s account entry under [State::root].
    pub fn prove_account(&self, a: &Address) -> Option<AccountProof> {
        let account = self.accounts.get(a)?.clone();
        let lk = leaf_key(tag::ACCOUNT, a.as_ref());
        let position = self.leaves.range(..lk).count();
        let leaf_index = u32::try_from(position).ok()?;
        let proof = self.tree().proof(leaf_index).ok()?;
        Some(AccountProof {
            address: a.clone(),
            account,
            leaf_index,
            leaf_count: proof.leaf_count,
            proof: proof.encode().to_vec(),
        })
    }
}

/// Proof that `address` holds `account` in the state with a given root. Checkable offline
/// by a light client holding only a trusted root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountProof {
    pub address: Address,
    pub account: Account,
    /// Position of the account's leaf among all leaves.
    pub leaf_index: u32,
    pub leaf_count: u32,
    /// Encoded `commonware_storage::bmt::Proof`.
    pub proof: Vec<u8>,
}

impl AccountProof {
    /// Checks the proof against `root`; pure and offline.
    pub fn verify(&self, root: &Digest) -> Result<(), ProofError> {
        use commonware_codec::{Copying, Decode};
        let proof = bmt::Proof::<Digest>::decode_cfg(Copying(&self.proof), &1)?;
        if proof.leaf_count != self.leaf_count {
            return Err(ProofError::LeafCount {
                proof: proof.leaf_count,
                claimed: self.leaf_count,
            });
        }
        let leaf = leaf_digest(tag::ACCOUNT, self.address.as_ref(), &self.account.encode());
        proof
            .verify_element_inclusion::<Sha256>(&leaf, self.leaf_index, root)
            .map_err(|e| ProofError::Mismatch(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::SlashRecord;
    use cairn_types::{EvidenceKind, GenesisAccount, GenesisValidator, to_hex};
    use commonware_cryptography::{Signer, ed25519::PrivateKey};

    fn pk(seed: u64) -> PublicKey {
        PrivateKey::from_seed(seed).public_key()
    }

    fn genesis(validators_max: u32, stakes: &[(u64, Amount)]) -> State {
        let g = Genesis {
            chain_id: "unit".into(),
            genesis_time_ms: 0,
            accounts: vec![GenesisAccount {
                address: to_hex(pk(1)),
                balance: 500,
            }],
            validators: stakes
                .iter()
                .map(|(seed, stake)| GenesisValidator {
                    consensus_key: to_hex(pk(*seed)),
                    operator: to_hex(pk(seed + 1000)),
                    stake: *stake,
                    moniker: String::new(),
                })
                .collect(),
            params: Params {
                validators_max,
                ..Params::default()
            },
        };
        State::from_genesis(&g).unwrap()
    }

    /// Every cached leaf, recomputed from the typed maps alone.
    fn recomputed_leaves(s: &State) -> BTreeMap<Vec<u8>, Digest> {
        fn add<K: Encode, V: Encode>(
            out: &mut BTreeMap<Vec<u8>, Digest>,
            tag: u8,
            map: &BTreeMap<K, V>,
        ) {
            for (k, v) in map {
                let kb = k.encode();
                out.insert(leaf_key(tag, &kb), leaf_digest(tag, &kb, &v.encode()));
            }
        }
        let mut out = BTreeMap::new();
        out.insert(
            leaf_key(tag::META, &[]),
            leaf_digest(tag::META, &[], &s.meta.encode()),
        );
        let params = ParamsCodec(s.params.clone()).encode();
        out.insert(
            leaf_key(tag::PARAMS, &[]),
            leaf_digest(tag::PARAMS, &[], &params),
        );
        out.insert(
            leaf_key(tag::ACTIVE_SET, &[]),
            leaf_digest(tag::ACTIVE_SET, &[], &s.active_set.encode()),
        );
        add(&mut out, tag::ACCOUNT, &s.accounts);
        add(&mut out, tag::VALIDATOR, &s.validators);
        add(&mut out, tag::DELEGATION, &s.delegations);
        add(&mut out, tag::UNBONDING, &s.unbondings);
        add(&mut out, tag::HOT_KEY, &s.hot_keys);
        add(&mut out, tag::SLASH, &s.slashes);
        add(&mut out, tag::TASK, &s.tasks);
        add(&mut out, tag::ROUND_RECORD, &s.round_records);
        add(&mut out, tag::MODEL, &s.models);
        add(&mut out, tag::INFERENCE, &s.inferences);
        add(&mut out, tag::LIVENESS, &s.liveness);
        add(&mut out, tag::DISPUTE, &s.disputes);
        out
    }

    #[test]
    fn rollback_restores_every_entry_kind() {
        let mut s = genesis(10, &[(101, 5_000)]);
        let leaves = s.leaves.clone();
        let snapshot = s.encode_snapshot();
        let mark = s.journal_mark();
        s.put_account(
            pk(1),
            Account {
                balance: 1,
                nonce: 9,
            },
        );
        s.put_account(
            pk(2),
            Account {
                balance: 2,
                nonce: 0,
            },
        );
        let mut v = s.validator(&pk(101)).unwrap();
        v.jailed = true;
        s.put_validator(v);
        s.put_delegation((pk(101), pk(1)), 7);
        s.put_unbonding((9, pk(1), pk(101), 0), 3);
        s.put_hot_key(pk(3), Some(pk(1)));
        s.put_slash(
            (pk(101), 0, 1),
            SlashRecord {
                kind: EvidenceKind::NullifyFinalize,
                amount: 1,
                height: 1,
            },
        );
        s.set_active_set(Vec::new());
        s.burn(4).unwrap();
        assert_ne!(s.leaves, leaves);
        assert_eq!(s.leaves, recomputed_leaves(&s));
        s.rollback_to(mark);
        assert!(s.journal.is_empty());
        assert_eq!(s.leaves, leaves);
        assert_eq!(s.encode_snapshot(), snapshot);
    }

    #[test]
    fn leaf_cache_matches_recomputation_after_genesis() {
        let s = genesis(10, &[(101, 5_000), (102, 6_000)]);
        assert_eq!(s.leaves, recomputed_leaves(&s));
        // Meta, params, active set, one account and two validators.
        assert_eq!(s.leaves.len(), 6);
    }

    #[test]
    fn validator_set_ties_break_by_smaller_key() {
        let s = genesis(1, &[(101, 5_000), (102, 5_000)]);
        let smaller = pk(101).min(pk(102));
        assert_eq!(s.compute_validator_set(), vec![(smaller.clone(), 5_000)]);
        assert_eq!(s.active_validator_set(), vec![(smaller, 5_000)]);
    }

    #[test]
    fn validator_set_is_sorted_by_key_and_capped() {
        let s = genesis(2, &[(101, 1_000), (102, 9_000), (103, 5_000)]);
        let set = s.compute_validator_set();
        assert_eq!(set.len(), 2);
        assert!(set.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(set.iter().all(|(k, _)| *k != pk(101)));
    }
}
