//! Integration tests of `cairn-state`: one binary, shared fixtures below.

mod block;
mod flows;
mod fuzz;
mod hostile;
mod infer;
mod liveness;
mod props;
mod rejections;
mod tasks;

use cairn_state::State;
use cairn_types::{
    Action, Address, Amount, Genesis, GenesisAccount, GenesisValidator, Params, PrivateKey,
    PublicKey, SignedTx, Transaction, to_hex,
};
use commonware_cryptography::Signer;

pub const CHAIN: &str = "cairn-test";

/// Seeds of the fixture's keys.
pub const ALICE: u64 = 1;
pub const BOB: u64 = 2;
/// Validator i has consensus key seed 100+i and operator seed 10+i.
pub const OP1: u64 = 11;
pub const OP2: u64 = 12;
pub const OP3: u64 = 13;
pub const VAL1: u64 = 101;
pub const VAL2: u64 = 102;
pub const VAL3: u64 = 103;

pub fn key(seed: u64) -> PrivateKey {
    PrivateKey::from_seed(seed)
}

pub fn pk(seed: u64) -> PublicKey {
    key(seed).public_key()
}

pub fn params() -> Params {
    Params {
        unbonding_period_blocks: 3,
        slash_fraction_bps: 500,
        min_fee: 1,
        epoch_length_blocks: 5,
        validators_max: 2,
        validator_bond_min: 1_000,
    }
}

pub fn genesis_of(
    accounts: &[(u64, Amount)],
    validators: &[(u64, u64, Amount)],
    params: Params,
) -> Genesis {
    Genesis {
        chain_id: CHAIN.to_string(),
        genesis_time_ms: 0,
        accounts: accounts
            .iter()
            .map(|(seed, balance)| GenesisAccount {
                address: to_hex(pk(*seed)),
                balance: *balance,
            })
            .collect(),
        validators: validators
            .iter()
            .map(|(consensus, operator, stake)| GenesisValidator {
                consensus_key: to_hex(pk(*consensus)),
                operator: to_hex(pk(*operator)),
                stake: *stake,
                moniker: format!("v{consensus}"),
            })
            .collect(),
        params,
    }
}

/// Alice, Bob and three operators funded; three validators, of which the top two are active.
pub fn fixture() -> State {
    let g = genesis_of(
        &[
            (ALICE, 1_000_000),
            (BOB, 500_000),
            (OP1, 100_000),
            (OP2, 100_000),
            (OP3, 100_000),
        ],
        &[(VAL1, OP1, 10_000), (VAL2, OP2, 20_000), (VAL3, OP3, 5_000)],
        params(),
    );
    State::from_genesis(&g).expect("fixture genesis is valid")
}

pub fn tx(signer: u64, nonce: u64, fee: Amount, action: Action) -> SignedTx {
    Transaction {
        chain_id: CHAIN.to_string(),
        signer: pk(signer),
        nonce,
        fee,
        action,
    }
    .sign(&key(signer))
}

/// `cold` links hot key `hot`, with the hot key's consent on [CHAIN].
pub fn link_hot(cold: u64, hot: u64) -> Action {
    Action::LinkHotKey {
        hot: pk(hot),
        proof: cairn_types::sign_hot_key_link(&key(hot), CHAIN, &pk(cold)),
    }
}

pub fn transfer(from: u64, nonce: u64, to: u64, amount: Amount) -> SignedTx {
    tx(from, nonce, 1, Action::Transfer { to: pk(to), amount })
}

/// `signer` bonds `amount` to validator `validator` (fee 1).
pub fn bond(signer: u64, nonce: u64, validator: u64, amount: Amount) -> SignedTx {
    tx(
        signer,
        nonce,
        1,
        Action::Bond {
            validator: pk(validator),
            amount,
        },
    )
}

/// `signer` starts unbonding `amount` from validator `validator` (fee 1).
pub fn unbond(signer: u64, nonce: u64, validator: u64, amount: Amount) -> SignedTx {
    tx(
        signer,
        nonce,
        1,
        Action::Unbond {
            validator: pk(validator),
            amount,
        },
    )
}

pub fn balance(state: &State, a: &Address) -> Amount {
    state.account(a).map(|a| a.balance).unwrap_or(0)
}

/// Sum of every token the state holds; must equal `total_supply()`.
pub fn held_tokens(state: &State, owners: &[Address]) -> Amount {
    let balances: Amount = owners.iter().map(|a| balance(state, a)).sum();
    let bonds: Amount = state.validators().iter().map(|v| v.total_bond()).sum();
    let unbonding: Amount = owners
        .iter()
        .flat_map(|o| state.unbondings_of(o))
        .map(|u| u.amount)
        .sum();
    balances + bonds + unbonding
}

/// Applies `txs` as the next block proposed by validator 1, panicking on error.
pub fn block(state: &mut State, txs: &[SignedTx]) {
    let height = state.height() + 1;
    state
        .execute_block(height, &pk(VAL1), txs, &[])
        .expect("block executes");
}

/// A chain driven one block at a time, with each signer's nonce tracked.
pub struct Net {
    pub state: State,
    nonces: std::collections::BTreeMap<u64, u64>,
}

impl Net {
    /// Genesis with `accounts` funded and validators 101–103 (operators 11–13).
    pub fn with_accounts(accounts: &[(u64, Amount)]) -> Net {
        let g = genesis_of(
            accounts,
            &[(VAL1, OP1, 10_000), (VAL2, OP2, 20_000), (VAL3, OP3, 5_000)],
            params(),
        );
        Net {
            state: State::from_genesis(&g).expect("genesis is valid"),
            nonces: std::collections::BTreeMap::new(),
        }
    }

    pub fn height(&self) -> u64 {
        self.state.height()
    }

    pub fn sign(&mut self, signer: u64, action: Action) -> SignedTx {
        let nonce = self.nonces.entry(signer).or_insert(0);
        let tx = tx(signer, *nonce, 1, action);
        *nonce += 1;
        tx
    }

    /// One block with `actions`; panics if any is rejected.
    pub fn block(&mut self, actions: Vec<(u64, Action)>) {
        let txs: Vec<SignedTx> = actions.into_iter().map(|(s, a)| self.sign(s, a)).collect();
        let h = self.height() + 1;
        self.state
            .execute_block(h, &pk(VAL1), &txs, &[])
            .unwrap_or_else(|e| panic!("block {h} rejected: {e}"));
    }

    /// Applies one action expecting a rejection; checks both paths agree and nothing changed.
    pub fn reject(&mut self, signer: u64, action: Action) -> cairn_state::TxError {
        let nonce = *self.nonces.get(&signer).unwrap_or(&0);
        let tx = tx(signer, nonce, 1, action);
        let root = self.state.root();
        let checked = self.state.check_tx(&tx).expect_err("check_tx must refuse");
        let h = self.height() + 1;
        let applied = self
            .state
            .apply_tx(&tx, &pk(VAL1), h, 0)
            .expect_err("apply_tx must refuse");
        assert_eq!(checked, applied);
        assert_eq!(self.state.root(), root, "a rejection changed the state");
        applied
    }

    /// Checks `action` by `signer` as the mempool would, without applying it.
    #[allow(clippy::result_large_err)]
    pub fn check(&self, signer: u64, action: &Action) -> Result<(), cairn_state::TxError> {
        let nonce = *self.nonces.get(&signer).unwrap_or(&0);
        self.state.check_tx(&tx(signer, nonce, 1, action.clone()))
    }

    pub fn idle(&mut self, blocks: u64) {
        for _ in 0..blocks {
            self.block(Vec::new());
        }
    }
}
