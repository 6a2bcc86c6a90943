//! Test tooling (feature `testkit`): checks that the undo journal restores every table.
//!
//! [rollback_every_table] writes one entry of every table of a populated state (changing an
//! existing entry, or adding a copy under a new key), checks that the writes moved the root,
//! rolls them back and checks that the root, the leaf cache, the live-deadline index and the
//! snapshot bytes are exactly what they were. The golden chain runs it on its final state, so
//! every table has an entry to copy. [table] matches every [Undo] variant without a wildcard:
//! a new table does not compile until it is named here, and [TABLES] lists it.

use crate::State;
use crate::entry::SlashRecord;
use crate::state::Undo;
use cairn_types::EvidenceKind;

/// Every table the journal restores, in [Undo]'s order.
pub const TABLES: [&str; 14] = [
    "account",
    "validator",
    "delegation",
    "unbonding",
    "hot_key",
    "slash",
    "active_set",
    "meta",
    "task",
    "round_record",
    "model",
    "inference",
    "dispute",
    "liveness",
];

/// The table an undo entry restores.
fn table(undo: &Undo) -> &'static str {
    match undo {
        Undo::Account(..) => "account",
        Undo::Validator(..) => "validator",
        Undo::Delegation(..) => "delegation",
        Undo::Unbonding(..) => "unbonding",
        Undo::HotKey(..) => "hot_key",
        Undo::Slash(..) => "slash",
        Undo::ActiveSet(..) => "active_set",
        Undo::Meta(..) => "meta",
        Undo::Task(..) => "task",
        Undo::RoundRecord(..) => "round_record",
        Undo::Model(..) => "model",
        Undo::Inference(..) => "inference",
        Undo::Dispute(..) => "dispute",
        Undo::Liveness(..) => "liveness",
    }
}

/// Writes every table of a copy of `state`, rolls the writes back and checks that nothing
/// remains of them. Returns the tables written (in [TABLES]'s order), or what went wrong.
pub fn rollback_every_table(state: &State) -> Result<Vec<&'static str>, String> {
    let mut s = state.clone();
    let (root, leaves) = (s.root(), s.leaves.clone());
    let (snapshot, deadlines) = (s.encode_snapshot(), s.live_inference_deadlines());
    let mark = s.journal_mark();
    write_ledger_tables(&mut s)?;
    write_market_tables(&mut s)?;
    let written = s.journal.get(mark..).unwrap_or_default();
    let mut tables: Vec<&'static str> = written.iter().map(table).collect();
    tables.sort_by_key(|t| TABLES.iter().position(|x| x == t));
    tables.dedup();
    if s.root() == root {
        return Err("the writes did not move the root".into());
    }
    s.rollback_to(mark);
    if s.journal_mark() != mark {
        return Err("the journal kept entries past the mark".into());
    }
    if s.root() != root || s.leaves != leaves {
        return Err("the root or the leaf cache differs after the rollback".into());
    }
    if s.live_inference_deadlines() != deadlines {
        return Err("the live-deadline index differs after the rollback".into());
    }
    if s.encode_snapshot() != snapshot {
        return Err("the snapshot bytes differ after the rollback".into());
    }
    Ok(tables)
}

/// Accounts, validators, delegations, unbondings, hot keys, slashes, liveness, the active
/// set and the meta entry.
fn write_ledger_tables(s: &mut State) -> Result<(), String> {
    let (address, mut account) = first(&s.accounts, "account")?;
    account.balance ^= 1;
    s.put_account(address.clone(), account);
    let (key, mut validator) = first(&s.validators, "validator")?;
    validator.jailed = !validator.jailed;
    s.put_validator(validator);
    let delegation = (key.clone(), address.clone());
    let amount = s.delegations.get(&delegation).copied().unwrap_or(0);
    s.put_delegation(delegation, amount.wrapping_add(1).max(1));
    let unbonding = (0, address.clone(), key.clone(), 0);
    let amount = s.unbondings.get(&unbonding).copied().unwrap_or(0);
    s.put_unbonding(unbonding, amount.wrapping_add(1).max(1));
    let linked = s.hot_keys.get(&address).cloned();
    s.put_hot_key(address.clone(), linked.is_none().then(|| key.clone()));
    let record = SlashRecord {
        kind: EvidenceKind::NullifyFinalize,
        amount: 1,
        height: 0,
    };
    s.put_slash((key.clone(), u64::MAX, u64::MAX), record);
    let mut liveness = s.liveness.get(&key).cloned().unwrap_or_default();
    liveness.missed = liveness.missed.wrapping_add(1).max(1);
    s.put_liveness(key, liveness);
    s.set_active_set(Vec::new());
    let mut meta = s.meta.clone();
    meta.height = meta.height.wrapping_add(1);
    s.set_meta(meta);
    Ok(())
}

/// Tasks, round records, models, inference requests and disputes: a copy of the first entry
/// under a key no entry has.
fn write_market_tables(s: &mut State) -> Result<(), String> {
    let (id, mut task) = first(&s.tasks, "task")?;
    task.id = id.wrapping_add(1 << 40);
    s.put_task(task);
    let ((task, round), record) = first(&s.round_records, "round record")?;
    s.put_round_record((task, round.wrapping_add(1 << 30)), record);
    let (_, mut model) = first(&s.models, "model")?;
    if let Some(byte) = model.id.first_mut() {
        *byte ^= 0xff;
    }
    s.put_model(model);
    let (id, mut inference) = first(&s.inferences, "inference request")?;
    inference.id = id.wrapping_add(1 << 40);
    s.put_inference(inference);
    let (_, mut dispute) = first(&s.disputes, "dispute")?;
    dispute.index = dispute.index.wrapping_add(1 << 30);
    s.put_dispute(dispute);
    Ok(())
}

/// The first entry of `table`, or an error naming the empty table.
fn first<K: Clone, V: Clone>(
    table: &std::collections::BTreeMap<K, V>,
    name: &str,
) -> Result<(K, V), String> {
    let (k, v) = table
        .iter()
        .next()
        .ok_or_else(|| format!("no {name} to copy: run on a state with every table filled"))?;
    Ok((k.clone(), v.clone()))
}
