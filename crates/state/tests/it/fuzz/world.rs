//! The fuzzer's driver: a small chain (six funded users, six validators for five seats,
//! epochs of six blocks, an unbonding period of three) run block by block from [Op]s, with every
//! invariant checked after every block:
//!
//! - no panic anywhere, and no [TxError::Internal] (the state's panic backstop: seeing it
//!   means a panic was caught, which is a bug);
//! - a transaction `check_tx` refuses is refused by `apply_tx` with the same error, and
//!   changes nothing; one it admits, `apply_tx` applies;
//! - a refused block leaves `root()` and `encode_snapshot()` byte for byte as they were;
//! - `total_supply()` equals every holding (balances, bonds, unbondings, task funds,
//!   inference escrow, model deposits) and never grows;
//! - `decode_snapshot(encode_snapshot())` gives the same root, bytes and live index, and a
//!   node restarted from the snapshot before a block executes it to the same receipts and root;
//! - keys nobody can sign for never get an account.

use super::ops::{Kind, Op};
use super::party::{Party, Source, catalogue};
use cairn_state::{BlockError, MISSED_SLOTS_PER_BLOCK_MAX, State, TxError};
use cairn_types::{
    Action, Amount, Digest, Evidence, EvidenceKind, Genesis, GenesisAccount, GenesisValidator,
    Params, PrivateKey, PublicKey, SignedTx, Transaction, to_hex,
};
use commonware_cryptography::Signer;
use std::collections::BTreeMap;
use std::sync::OnceLock;

pub const CHAIN: &str = "cairn-fuzz";
/// Funded accounts.
pub const USERS: [u64; 6] = [1, 2, 3, 4, 5, 6];
/// Genesis validators' consensus keys, with their operators and stakes.
pub const GENESIS_VALIDATORS: [(u64, u64, Amount); 6] = [
    (101, 11, 10_000),
    (102, 12, 20_000),
    (103, 13, 15_000),
    (104, 14, 5_000),
    (105, 15, 8_000),
    (106, 16, 1_000),
];
/// Consensus keys the ops name: the genesis six, two that `CreateValidator` may register,
/// and one that is never a validator.
pub const VALIDATOR_KEYS: [u64; 9] = [101, 102, 103, 104, 105, 106, 107, 108, 99];
/// Who may sign: users, operators, an unfunded key and four keys meant as hot keys.
pub const SIGNERS: [u64; 17] = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16, 60, 70, 71, 72, 73];
pub const HOT_KEYS: [u64; 4] = [70, 71, 72, 73];
/// Users and operators: the signers that can pay.
pub const FUNDED: [u64; 12] = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16];

/// A funded signer seven times in eight; else the unfunded key or a hot key.
pub fn any_signer(who: u8) -> u64 {
    match who % 8 {
        7 => [60, 70, 71, 72, 73][usize::from(who / 8) % 5],
        _ => FUNDED[usize::from(who) % FUNDED.len()],
    }
}
/// Recipients nobody signs for yet.
const FRESH: [u64; 2] = [80, 81];

pub fn params() -> Params {
    Params {
        unbonding_period_blocks: 3,
        slash_fraction_bps: 500,
        min_fee: 1,
        epoch_length_blocks: 6,
        // Five of six seats: one validator jailed for inactivity can still be a third.
        validators_max: 5,
        validator_bond_min: 1_000,
    }
}

fn genesis(fx: &Fixtures) -> Genesis {
    let funded = USERS
        .iter()
        .map(|s| (*s, 200_000))
        .chain(GENESIS_VALIDATORS.iter().map(|(_, op, _)| (*op, 50_000)));
    Genesis {
        chain_id: CHAIN.into(),
        genesis_time_ms: 0,
        accounts: funded
            .map(|(seed, balance)| GenesisAccount {
                address: to_hex(fx.pk(seed)),
                balance,
            })
            .collect(),
        validators: GENESIS_VALIDATORS
            .iter()
            .map(|(consensus, operator, stake)| GenesisValidator {
                consensus_key: to_hex(fx.pk(*consensus)),
                operator: to_hex(fx.pk(*operator)),
                stake: *stake,
                moniker: format!("v{consensus}"),
            })
            .collect(),
        params: params(),
    }
}

/// What every run shares, built once: keys, the model catalogue, and keys nobody can hold.
pub struct Fixtures {
    keys: BTreeMap<u64, (PrivateKey, PublicKey)>,
    seeds: BTreeMap<PublicKey, u64>,
    pub catalogue: Vec<Source>,
    /// Model root of each catalogue entry.
    pub roots: Vec<[u8; 32]>,
    /// Public keys that decode but that nobody can sign for (small-order points).
    pub weak: Vec<PublicKey>,
}

fn weak_keys() -> Vec<PublicKey> {
    use commonware_codec::DecodeExt;
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    [identity, minus_one]
        .iter()
        .filter_map(|b| PublicKey::decode(commonware_codec::Copying(b.as_slice())).ok())
        .collect()
}

pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let seeds = SIGNERS.iter().chain(&FRESH).chain(&VALIDATOR_KEYS);
        let keys: BTreeMap<u64, (PrivateKey, PublicKey)> = seeds
            .map(|s| {
                let k = PrivateKey::from_seed(*s);
                (*s, (k.clone(), k.public_key()))
            })
            .collect();
        let catalogue = catalogue();
        Fixtures {
            seeds: keys.iter().map(|(s, (_, p))| (p.clone(), *s)).collect(),
            roots: catalogue.iter().map(Source::model_root).collect(),
            keys,
            catalogue,
            weak: weak_keys(),
        }
    })
}

impl Fixtures {
    pub fn key(&self, seed: u64) -> &PrivateKey {
        &self.keys[&seed].0
    }

    pub fn pk(&self, seed: u64) -> PublicKey {
        self.keys[&seed].1.clone()
    }

    /// The seed of a key the fuzzer holds.
    pub fn seed_of(&self, key: &PublicKey) -> Option<u64> {
        self.seeds.get(key).copied()
    }

    /// Every address the fuzzer can make hold tokens.
    fn universe(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.values().map(|(_, p)| p).chain(&self.weak)
    }
}

/// What a run did: transactions admitted and refused by action, and notable events.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub txs: BTreeMap<&'static str, [u64; 2]>,
    /// Refusals by action and error variant.
    pub refusals: BTreeMap<String, u64>,
    pub events: BTreeMap<String, u64>,
}

impl Stats {
    pub fn count(&mut self, event: impl Into<String>) {
        *self.events.entry(event.into()).or_default() += 1;
    }

    pub fn add(&mut self, other: &Stats) {
        for (k, [a, r]) in &other.txs {
            let e = self.txs.entry(k).or_default();
            e[0] += a;
            e[1] += r;
        }
        for (k, n) in &other.events {
            *self.events.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &other.refusals {
            *self.refusals.entry(k.clone()).or_default() += n;
        }
    }
}

/// One block as the ops planned it.
#[derive(Default)]
struct Plan {
    txs: Vec<SignedTx>,
    refused: Vec<SignedTx>,
    evidence: Vec<Evidence>,
    missed: Vec<PublicKey>,
    idle_blocks: u64,
    defects: Vec<(u8, u8)>,
}

/// The state's root and snapshot bytes, to prove a refusal changed nothing.
struct Before {
    root: Digest,
    snapshot: Vec<u8>,
}

impl Before {
    fn of(s: &State) -> Before {
        Before {
            root: s.root(),
            snapshot: s.encode_snapshot(),
        }
    }

    fn assert_unchanged(&self, s: &State, what: &str) {
        assert_eq!(s.root(), self.root, "{what} changed the state root");
        assert!(
            s.encode_snapshot() == self.snapshot,
            "{what} changed the snapshot bytes"
        );
    }
}

pub fn assert_not_internal(e: &TxError, what: &str) {
    assert!(
        !matches!(e, TxError::Internal { .. }),
        "{what}: a panic was caught inside the state: {e}"
    );
}

/// `action: Variant` or `action: Outer(Inner`, from the error's debug form.
fn refusal(action: &str, e: &TxError) -> String {
    let debug = format!("{e:?}");
    let end = debug
        .char_indices()
        .filter(|(_, c)| matches!(c, '{' | '(' | ' '))
        .nth(1)
        .map_or(debug.len(), |(i, _)| i);
    format!("{action}: {}", &debug[..end])
}

fn assert_block_not_internal(e: &BlockError) {
    match e {
        BlockError::Internal { .. } => panic!("block: internal fault: {e}"),
        BlockError::InvalidTx { error, .. }
        | BlockError::Tasks(error)
        | BlockError::Inference(error) => assert_not_internal(error, "block"),
        _ => {}
    }
}

/// The chain under test and what the driver remembers to play it.
pub struct World {
    pub state: State,
    pub fx: &'static Fixtures,
    /// The party behind every execution root the driver posted (to answer for it later).
    pub parties: BTreeMap<[u8; 32], Party>,
    supply_max: Amount,
    pub stats: Stats,
    /// Every executed block's height, state root and receipts digest, in order: what the
    /// golden chain pins.
    pub chain: Vec<BlockRecord>,
}

/// One executed block as the golden chain pins it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRecord {
    pub height: u64,
    pub root: Digest,
    pub receipts: Digest,
}

/// A digest of a block's receipts: every field of each, in order.
fn receipts_digest(receipts: &[cairn_state::Receipt]) -> Digest {
    let mut bytes = Vec::new();
    for r in receipts {
        bytes.extend_from_slice(r.tx_hash.as_ref());
        bytes.extend_from_slice(&r.height.to_be_bytes());
        bytes.extend_from_slice(&r.index.to_be_bytes());
        bytes.extend_from_slice(r.signer.as_ref());
        bytes.extend_from_slice(r.account.as_ref());
        bytes.extend_from_slice(&(r.action.len() as u32).to_be_bytes());
        bytes.extend_from_slice(r.action.as_bytes());
        bytes.extend_from_slice(&r.fee.to_be_bytes());
    }
    cairn_types::sha256(&[&bytes])
}

/// Runs `blocks` from genesis, checking every invariant after every block; panics on the
/// first violation. Returns what the run covered.
pub fn run(blocks: &[Vec<Op>]) -> Stats {
    let mut world = World::new();
    for ops in blocks {
        world.block(ops);
    }
    world.census();
    world.stats
}

impl World {
    pub fn new() -> World {
        let fx = fixtures();
        let state = State::from_genesis(&genesis(fx)).expect("fuzz genesis is valid");
        World {
            supply_max: state.total_supply(),
            state,
            fx,
            parties: BTreeMap::new(),
            stats: Stats::default(),
            chain: Vec::new(),
        }
    }

    /// The proposer of the next block: the key a [Kind::Proposer] op names, else the
    /// genesis validators in turn.
    fn proposer(&self, ops: &[Op]) -> PublicKey {
        let named = ops.iter().find(|op| op.kind == Kind::Proposer);
        let named = named.map(|op| VALIDATOR_KEYS[usize::from(op.who) % VALIDATOR_KEYS.len()]);
        let height = self.state.height() + 1;
        let turn = GENESIS_VALIDATORS[(height % 6) as usize].0;
        self.fx.pk(named.unwrap_or(turn))
    }

    /// Plans, probes and executes one block, then checks every invariant.
    pub fn block(&mut self, ops: &[Op]) {
        let proposer = self.proposer(ops);
        let plan = self.plan(ops, &proposer);
        let before = Before::of(&self.state);
        self.try_defects(&plan, &proposer, &before);
        self.execute(&plan, &proposer, &before);
        self.check_invariants();
        for _ in 0..plan.idle_blocks {
            let proposer = self.proposer(&[]);
            let before = Before::of(&self.state);
            self.execute(&Plan::default(), &proposer, &before);
            self.check_invariants();
        }
    }

    fn plan(&mut self, ops: &[Op], proposer: &PublicKey) -> Plan {
        let mut plan = Plan::default();
        let mut scratch = self.state.clone();
        for op in ops {
            let Op { who, target, .. } = *op;
            match op.kind {
                Kind::Evidence => plan.evidence.push(self.evidence(op)),
                Kind::Misses => {
                    let key = self.fx.pk(VALIDATOR_KEYS[usize::from(who) % 8]);
                    plan.missed
                        .extend(std::iter::repeat_n(key, usize::from(target) % 6));
                }
                // Long enough, one time in four, for a move deadline or a challenge window
                // (30 blocks) to pass; one in 32, for a result window (300).
                Kind::Idle => {
                    plan.idle_blocks = match (target % 32, who % 4) {
                        (31, _) => 301,
                        (_, 0) => 31 + u64::from(who) % 10,
                        _ => 1 + u64::from(who) % 8,
                    };
                }
                Kind::BadBlock => plan.defects.push((who, target)),
                Kind::Proposer => {}
                _ => {
                    if let Some(tx) = self.tx_for(&scratch, op) {
                        self.offer(&mut scratch, tx, proposer, &mut plan);
                    }
                }
            }
        }
        plan
    }

    fn evidence(&self, op: &Op) -> Evidence {
        let Op {
            who,
            target,
            env,
            x,
            ..
        } = *op;
        let current = self.state.epoch();
        Evidence {
            kind: match x % 3 {
                0 => EvidenceKind::ConflictingNotarize,
                1 => EvidenceKind::ConflictingFinalize,
                _ => EvidenceKind::NullifyFinalize,
            },
            offender: self
                .fx
                .pk(VALIDATOR_KEYS[usize::from(who) % VALIDATOR_KEYS.len()]),
            epoch: match target % 8 {
                0 => current + 1,
                1 => current.saturating_sub(1),
                _ => current,
            },
            view: u64::from(env % 4),
            proof: vec![x as u8; (x >> 8) as usize % 8],
        }
    }

    /// Offers `tx` to the block being built on `scratch` (the state as the block's earlier
    /// transactions leave it): admitted, it joins the block; refused, `apply_tx` must refuse
    /// it the same way and change nothing.
    fn offer(&mut self, scratch: &mut State, tx: SignedTx, proposer: &PublicKey, plan: &mut Plan) {
        let name = tx.tx.action.name();
        let height = scratch.height() + 1;
        let index = plan.txs.len() as u32;
        match scratch.check_tx(&tx) {
            Ok(()) => {
                self.count_reach(scratch, &tx);
                if let Err(e) = scratch.apply_tx(&tx, proposer, height, index) {
                    assert_not_internal(&e, name);
                    panic!("check_tx admitted a {name} that apply_tx refused: {e}");
                }
                self.stats.txs.entry(name).or_default()[0] += 1;
                plan.txs.push(tx);
            }
            Err(checked) => {
                assert_not_internal(&checked, name);
                let root = scratch.root();
                let applied = scratch.apply_tx(&tx, proposer, height, index);
                assert_eq!(
                    applied.err().as_ref(),
                    Some(&checked),
                    "{name}: apply_tx and check_tx disagree"
                );
                assert_eq!(scratch.root(), root, "a refused {name} changed the state");
                self.stats.txs.entry(name).or_default()[1] += 1;
                *self
                    .stats
                    .refusals
                    .entry(refusal(name, &checked))
                    .or_default() += 1;
                plan.refused.push(tx);
            }
        }
    }

    /// Counts admitted transactions that reach the rarer paths.
    fn count_reach(&mut self, s: &State, tx: &SignedTx) {
        if s.hot_key_owner(&tx.tx.signer).is_some() {
            self.stats
                .count(format!("admitted from a hot key: {}", tx.tx.action.name()));
        }
        if let Action::RegisterModel { model } = &tx.tx.action
            && model.lineage.is_some()
        {
            self.stats.count("admitted: model with lineage");
        }
    }

    /// Executes the planned block. Only its evidence may be refused (it was not checked
    /// ahead): then the state must be untouched, and the block goes again without it. A
    /// node restarted from the snapshot before the block must execute it to the same state.
    fn execute(&mut self, plan: &Plan, proposer: &PublicKey, before: &Before) {
        let h = self.state.height() + 1;
        let (missed, txs) = (&plan.missed, &plan.txs);
        let mut evidence = &plan.evidence[..];
        let result = self
            .state
            .execute_block_with_misses(h, proposer, missed, txs, evidence);
        let receipts = match result {
            Ok(receipts) => receipts,
            Err(e) => {
                assert_block_not_internal(&e);
                before.assert_unchanged(&self.state, &format!("refused block ({e})"));
                assert!(
                    !evidence.is_empty(),
                    "a block of admitted txs was refused: {e}"
                );
                self.stats.count("block refused: evidence");
                evidence = &[];
                self.state
                    .execute_block_with_misses(h, proposer, missed, txs, evidence)
                    .unwrap_or_else(|e| panic!("block {h} of admitted txs was refused: {e}"))
            }
        };
        assert_eq!(receipts.len(), txs.len(), "one receipt per transaction");
        let receipts_hash = receipts_digest(&receipts);
        assert_eq!(self.state.height(), h);
        let mut restarted = State::decode_snapshot(&before.snapshot).expect("decodes");
        let again = restarted.execute_block_with_misses(h, proposer, missed, txs, evidence);
        assert_eq!(
            again.ok(),
            Some(receipts),
            "a restarted node executed block {h} differently"
        );
        assert_eq!(
            restarted.root(),
            self.state.root(),
            "a restarted node reached another root"
        );
        self.chain.push(BlockRecord {
            height: h,
            root: self.state.root(),
            receipts: receipts_hash,
        });
        self.stats.count("block");
    }

    /// Tries the block broken in each way the ops asked; each must be refused and change
    /// nothing (the admitted txs plus a refused one run on a copy: they may be valid there).
    fn try_defects(&mut self, plan: &Plan, proposer: &PublicKey, before: &Before) {
        let h = self.state.height() + 1;
        for &(how, at) in &plan.defects {
            let at = usize::from(at);
            let mut txs = plan.txs.clone();
            let (height, missed, on_copy) = match how % 4 {
                0 if !txs.is_empty() => {
                    let dup = txs[at % txs.len()].clone();
                    txs.insert(at % (txs.len() + 1), dup);
                    (h, 0, false)
                }
                1 if !plan.refused.is_empty() => {
                    let bad = plan.refused[at % plan.refused.len()].clone();
                    txs.insert(at % (txs.len() + 1), bad);
                    (h, 0, true)
                }
                2 => (h + 1 + at as u64 % 3, 0, false),
                3 => (h, MISSED_SLOTS_PER_BLOCK_MAX + 1, false),
                _ => continue,
            };
            let missed = vec![proposer.clone(); missed];
            let mut copy = on_copy.then(|| self.state.clone());
            let target = copy.as_mut().unwrap_or(&mut self.state);
            let refused = target
                .execute_block_with_misses(height, proposer, &missed, &txs, &[])
                .err();
            match refused {
                Some(e) => {
                    assert_block_not_internal(&e);
                    before.assert_unchanged(target, &format!("refused block ({e})"));
                    self.stats
                        .count(format!("block refused: defect {}", how % 4));
                }
                None => assert!(on_copy, "a broken block (defect {}) was executed", how % 4),
            }
        }
    }

    /// Tokens held anywhere, summed independently of the state's own bookkeeping.
    fn holdings(&self) -> u128 {
        let s = &self.state;
        let universe = || self.fx.universe();
        let balances: u128 = universe()
            .filter_map(|a| s.account(a))
            .map(|a| u128::from(a.balance))
            .sum();
        let bonds: u128 = s
            .validators()
            .iter()
            .map(|v| u128::from(v.total_bond()))
            .sum();
        let unbonding: u128 = universe()
            .flat_map(|o| s.unbondings_of(o))
            .map(|u| u128::from(u.amount))
            .sum();
        let tasks: u128 = s
            .tasks()
            .iter()
            .map(|t| u128::from(t.held().expect("task funds overflow")))
            .sum();
        let inference = u128::from(s.inference_funds().expect("inference funds overflow"));
        let models = u128::from(s.model_deposits().expect("model deposits overflow"));
        balances + bonds + unbonding + tasks + inference + models
    }

    pub fn check_invariants(&mut self) {
        let s = &self.state;
        let supply = s.total_supply();
        assert!(
            supply <= self.supply_max,
            "supply grew from {} to {supply}",
            self.supply_max
        );
        self.supply_max = supply;
        assert_eq!(
            self.holdings(),
            u128::from(supply),
            "holdings differ from total_supply"
        );
        for weak in &self.fx.weak {
            assert!(
                s.account(weak).is_none(),
                "a key nobody can hold got an account"
            );
        }
        assert!(s.active_validator_set().len() <= params().validators_max as usize);
        let bytes = s.encode_snapshot();
        let copy = State::decode_snapshot(&bytes)
            .unwrap_or_else(|e| panic!("snapshot at height {} does not decode: {e}", s.height()));
        assert_eq!(
            copy.root(),
            s.root(),
            "snapshot round trip changed the root"
        );
        assert!(
            copy.encode_snapshot() == bytes,
            "snapshot round trip changed the bytes"
        );
        assert_eq!(
            copy.live_inference_deadlines(),
            s.live_inference_deadlines()
        );
    }

    /// Counts where the run left things (what the ops managed to reach).
    pub fn census(&mut self) {
        let s = self.state.clone();
        for i in s.inferences(0, usize::MAX) {
            self.stats.count(format!("request {}", i.status.name()));
            for d in s.disputes_of(i.id) {
                let verdict = d.end.as_ref().map_or("open", |e| e.verdict.name());
                self.stats.count(format!("dispute {verdict}"));
                if let Some(end) = d.end.filter(|e| e.reason.contains("node")) {
                    self.stats
                        .count(format!("dispute reason: {}", &end.reason[..20]));
                }
            }
        }
        for m in s.models() {
            self.stats.count(format!("model {}", m.status.name()));
        }
        for t in s.tasks() {
            self.stats.count(format!("task {}", t.status.name()));
            if !s.round_records(t.id).is_empty() {
                self.stats.count("task round recorded");
            }
        }
        self.stats
            .count(format!("slashes: {}", s.slashes().len().min(3)));
        let jailed = s.validators().iter().filter(|v| v.jailed).count();
        self.stats
            .count(format!("validators jailed: {}", jailed.min(3)));
    }

    /// `action` signed by `signer`, with the envelope `env` asks for: mostly right; from
    /// 216 up, a stale or future nonce, a zero or huge fee, another chain, or another key's
    /// signature.
    pub fn sign(&self, s: &State, signer: u64, action: Action, env: u8) -> SignedTx {
        let pk = self.fx.pk(signer);
        let nonce = s.account(&pk).map_or(0, |a| a.nonce);
        let mut tx = Transaction {
            chain_id: CHAIN.into(),
            signer: pk,
            nonce,
            fee: 1 + u64::from(env % 3),
            action,
        };
        let mut key = signer;
        if env >= 216 {
            match env % 6 {
                0 => tx.nonce = nonce.wrapping_sub(1),
                1 => tx.nonce = nonce + 1,
                2 => tx.fee = 0,
                3 => tx.fee = u64::MAX,
                4 => tx.chain_id = "cairn-other".into(),
                _ => {
                    key = if signer == USERS[0] {
                        USERS[1]
                    } else {
                        USERS[0]
                    }
                }
            }
        }
        tx.sign(self.fx.key(key))
    }
}
