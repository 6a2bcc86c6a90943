//! Whole-state snapshots: the canonical codec encoding of every entry map, and a decoder
//! that treats the bytes as adversarial (bounded lengths, strictly sorted maps, and the
//! state's internal invariants re-checked) before rebuilding the leaf cache.

use crate::entry::{Account, Liveness, Meta, ParamsCodec, SlashRecord, Validator};
use crate::error::SnapshotError;
use crate::infer::{DisputeRecord, Inference, Model};
use crate::state::State;
use crate::task::{RoundRecord, Task};
use bytes::BytesMut;
use cairn_types::infer::model_id;
use cairn_types::{Address, Amount, PublicKey, limits};
use commonware_codec::{Buf, Copying, RangeCfg, Read, ReadExt, Write};
use std::collections::BTreeMap;

/// Snapshot format version; bump on any change to the layout below.
pub const SNAPSHOT_VERSION: u8 = 5;
/// Most entries in any one map of a snapshot (bounds allocation on decode).
pub const SNAPSHOT_ENTRIES_MAX: usize = 1 << 26;

fn inconsistent(what: impl Into<String>) -> SnapshotError {
    SnapshotError::Inconsistent(what.into())
}

fn read_map<K, V>(r: &mut impl Buf) -> Result<BTreeMap<K, V>, commonware_codec::Error>
where
    K: Read + Ord,
    V: Read,
    K::Cfg: Default,
    V::Cfg: Default,
{
    BTreeMap::<K, V>::read_cfg(
        r,
        &(
            RangeCfg::new(0..=SNAPSHOT_ENTRIES_MAX),
            (K::Cfg::default(), V::Cfg::default()),
        ),
    )
}

impl State {
    /// The canonical encoding of the whole state (for persistence).
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut w = BytesMut::new();
        SNAPSHOT_VERSION.write(&mut w);
        self.meta.write(&mut w);
        ParamsCodec(self.params.clone()).write(&mut w);
        self.accounts.write(&mut w);
        self.validators.write(&mut w);
        self.delegations.write(&mut w);
        self.unbondings.write(&mut w);
        self.hot_keys.write(&mut w);
        self.slashes.write(&mut w);
        self.active_set.write(&mut w);
        self.tasks.write(&mut w);
        self.round_records.write(&mut w);
        self.models.write(&mut w);
        self.inferences.write(&mut w);
        self.liveness.write(&mut w);
        self.disputes.write(&mut w);
        w.to_vec()
    }

    /// Decodes [State::encode_snapshot]'s bytes, rejecting anything corrupt or inconsistent.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<State, SnapshotError> {
        let mut r = Copying(bytes);
        let version = u8::read(&mut r)?;
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version {
                expected: SNAPSHOT_VERSION,
                got: version,
            });
        }
        let meta = Meta::read(&mut r)?;
        let ParamsCodec(params) = ParamsCodec::read(&mut r)?;
        let accounts: BTreeMap<Address, Account> = read_map(&mut r)?;
        let validators: BTreeMap<PublicKey, Validator> = read_map(&mut r)?;
        let delegations: BTreeMap<(PublicKey, Address), Amount> = read_map(&mut r)?;
        let unbondings: BTreeMap<crate::state::UnbondingKey, Amount> = read_map(&mut r)?;
        let hot_keys: BTreeMap<PublicKey, Address> = read_map(&mut r)?;
        let slashes: BTreeMap<(PublicKey, u64, u64), SlashRecord> = read_map(&mut r)?;
        let cfg = (RangeCfg::new(0..=params.validators_max as usize), ((), ()));
        let active_set = Vec::<(PublicKey, Amount)>::read_cfg(&mut r, &cfg)?;
        let tasks: BTreeMap<u64, Task> = read_map(&mut r)?;
        let round_records: BTreeMap<(u64, u32), RoundRecord> = read_map(&mut r)?;
        let models: BTreeMap<[u8; 32], Model> = read_map(&mut r)?;
        let inferences: BTreeMap<u64, Inference> = read_map(&mut r)?;
        let liveness: BTreeMap<PublicKey, Liveness> = read_map(&mut r)?;
        let disputes: BTreeMap<(u64, u32), DisputeRecord> = read_map(&mut r)?;
        let left = bytes::Buf::remaining(&r);
        if left > 0 {
            return Err(commonware_codec::Error::ExtraData(left).into());
        }

        check_params(&meta, &params)?;
        if tasks.iter().any(|(id, t)| *id != t.id) {
            return Err(inconsistent("a task entry holds another task's id"));
        }
        if models
            .iter()
            .any(|(id, m)| *id != m.id || m.id != model_id(&m.owner, &m.registration.graph))
        {
            return Err(inconsistent(
                "a model entry's key is not the id of its owner and graph",
            ));
        }
        if liveness.values().any(Liveness::is_default) {
            return Err(inconsistent("a liveness entry holds the default record"));
        }
        if liveness.keys().any(|k| !validators.contains_key(k)) {
            return Err(inconsistent("a liveness entry names no validator"));
        }
        if inferences.iter().any(|(id, i)| *id != i.id) {
            return Err(inconsistent(
                "an inference entry holds another request's id",
            ));
        }
        check_disputes(&inferences, &disputes)?;
        let held = tasks
            .values()
            .try_fold(0u64, |acc, t| t.held().and_then(|h| acc.checked_add(h)))
            .and_then(|tasks| {
                inferences
                    .values()
                    .try_fold(tasks, |acc, i| i.held().and_then(|h| acc.checked_add(h)))
            })
            .and_then(|held| {
                models
                    .values()
                    .try_fold(held, |acc, m| acc.checked_add(m.deposit))
            })
            .ok_or_else(|| inconsistent("task, inference and model funds overflow u64"))?;
        check_stake(
            &meta,
            &accounts,
            &validators,
            &delegations,
            &unbondings,
            held,
        )?;
        if !active_set.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err(inconsistent("active set is not strictly sorted by key"));
        }
        if hot_keys
            .iter()
            .any(|(hot, cold)| hot == cold || hot_keys.contains_key(cold))
        {
            return Err(inconsistent(
                "a hot key is linked to itself or to another hot key",
            ));
        }

        let mut state = State::empty(meta, params);
        accounts
            .into_iter()
            .for_each(|(k, v)| state.put_account(k, v));
        validators
            .into_values()
            .for_each(|v| state.put_validator(v));
        delegations
            .into_iter()
            .for_each(|(k, v)| state.put_delegation(k, v));
        unbondings
            .into_iter()
            .for_each(|(k, v)| state.put_unbonding(k, v));
        hot_keys
            .into_iter()
            .for_each(|(k, v)| state.put_hot_key(k, Some(v)));
        slashes.into_iter().for_each(|(k, v)| state.put_slash(k, v));
        tasks.into_values().for_each(|t| state.put_task(t));
        round_records
            .into_iter()
            .for_each(|(k, v)| state.put_round_record(k, v));
        models.into_values().for_each(|m| state.put_model(m));
        inferences
            .into_values()
            .for_each(|i| state.put_inference(i));
        liveness
            .into_iter()
            .for_each(|(k, v)| state.put_liveness(k, v));
        disputes.into_values().for_each(|d| state.put_dispute(d));
        state.set_active_set(active_set);
        state.journal_clear();
        Ok(state)
    }
}

/// Every dispute belongs to a request that counts it: its index is below the request's count
/// of disputes opened, and each request's open disputes and their bonds match its counters.
fn check_disputes(
    inferences: &BTreeMap<u64, Inference>,
    disputes: &BTreeMap<(u64, u32), DisputeRecord>,
) -> Result<(), SnapshotError> {
    let mut open: BTreeMap<u64, (u32, Amount)> = BTreeMap::new();
    for ((request, index), d) in disputes {
        if d.request != *request || d.index != *index {
            return Err(inconsistent("a dispute entry holds another dispute's key"));
        }
        let Some(i) = inferences.get(request) else {
            return Err(inconsistent("a dispute names no request"));
        };
        if *index >= i.disputes {
            return Err(inconsistent("a dispute index is past its request's count"));
        }
        if d.is_open() {
            let entry = open.entry(*request).or_insert((0, 0));
            entry.0 = entry.0.saturating_add(1);
            entry.1 = entry.1.saturating_add(d.challenge.bond);
        }
    }
    for (id, i) in inferences {
        let (count, bonds) = open.get(id).copied().unwrap_or((0, 0));
        if count != i.open_disputes || bonds != i.challenge_bonds {
            return Err(inconsistent(format!(
                "request {id} counts {} open disputes holding {}, its records {count} holding {bonds}",
                i.open_disputes, i.challenge_bonds
            )));
        }
    }
    Ok(())
}

fn check_params(meta: &Meta, params: &cairn_types::Params) -> Result<(), SnapshotError> {
    let id = &meta.chain_id;
    if id.is_empty()
        || id.len() > limits::CHAIN_ID_MAX_BYTES
        || !id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(inconsistent(format!("chain id {id:?} is invalid")));
    }
    if params.epoch_length_blocks < 2
        || params.validators_max == 0
        || params.validators_max > limits::VALIDATORS_ACTIVE_MAX
        || params.slash_fraction_bps > 10_000
    {
        return Err(inconsistent("parameters are out of range"));
    }
    if meta.epoch != crate::block::epoch_after(meta.height, params.epoch_length_blocks) {
        return Err(inconsistent(format!(
            "epoch {} does not match height {}",
            meta.epoch, meta.height
        )));
    }
    Ok(())
}

/// Zero entries are never stored; delegations sum to each validator's `delegated`; and
/// balances + bonds + unbondings + task funds equal the total supply.
fn check_stake(
    meta: &Meta,
    accounts: &BTreeMap<Address, Account>,
    validators: &BTreeMap<PublicKey, Validator>,
    delegations: &BTreeMap<(PublicKey, Address), Amount>,
    unbondings: &BTreeMap<crate::state::UnbondingKey, Amount>,
    task_funds: Amount,
) -> Result<(), SnapshotError> {
    let overflow = || inconsistent("amounts overflow u64");
    if delegations
        .values()
        .chain(unbondings.values())
        .any(|a| *a == 0)
    {
        return Err(inconsistent("a delegation or unbonding of zero is stored"));
    }
    let mut delegated: BTreeMap<&PublicKey, Amount> = BTreeMap::new();
    for ((validator, _), amount) in delegations {
        let sum = delegated.entry(validator).or_insert(0);
        *sum = sum.checked_add(*amount).ok_or_else(overflow)?;
    }
    let mut supply: Amount = task_funds;
    for (key, v) in validators {
        if *key != v.consensus_key {
            return Err(inconsistent(format!(
                "validator entry {key} holds key {}",
                v.consensus_key
            )));
        }
        if delegated.remove(key).unwrap_or(0) != v.delegated {
            return Err(inconsistent(format!(
                "delegations to {key} do not sum to its delegated stake"
            )));
        }
        supply = supply.checked_add(v.self_bond).ok_or_else(overflow)?;
        supply = supply.checked_add(v.delegated).ok_or_else(overflow)?;
    }
    if let Some((key, _)) = delegated.into_iter().next() {
        return Err(inconsistent(format!(
            "delegation to unknown validator {key}"
        )));
    }
    for amount in accounts
        .values()
        .map(|a| a.balance)
        .chain(unbondings.values().copied())
    {
        supply = supply.checked_add(amount).ok_or_else(overflow)?;
    }
    if supply != meta.total_supply {
        return Err(inconsistent(format!(
            "entries hold {supply} tokens but the supply is {}",
            meta.total_supply
        )));
    }
    Ok(())
}
