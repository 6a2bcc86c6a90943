//! Transaction validation and application.
//!
//! [State::check_tx] runs every check without writing; [State::apply_tx] runs the same
//! checks, then writes through the journal and rolls back if any checked arithmetic fails,
//! so a rejected transaction never leaves a trace.

use crate::entry::Receipt;
use crate::error::TxError;
use crate::state::State;
use cairn_types::{Action, Address, Amount, PublicKey, SignedTx, limits};
use commonware_codec::EncodeSize;

/// Most hot keys one cold account may link.
pub const HOT_KEYS_PER_ACCOUNT_MAX: usize = 16;
/// Most validators the chain registers (active or not): bounds the epoch-boundary sort.
pub const VALIDATORS_REGISTERED_MAX: usize = 10_000;

/// What validation resolved about a transaction.
struct Checked {
    /// The account acted for: the signer's cold account if it is a linked hot key.
    acting: Address,
}

fn overflow(what: &'static str) -> TxError {
    TxError::Overflow { what }
}

impl State {
    /// Every validity check of `tx` against the current state, without changing it (mempool
    /// admission). Checks run in the order of [TxError]'s variants.
    pub fn check_tx(&self, tx: &SignedTx) -> Result<(), TxError> {
        let height = self.meta.height.saturating_add(1);
        contain_panic(|| self.validate(tx, height)).map(|_| ())
    }

    /// Checks `tx`, then applies it: the signer's nonce advances, the fee goes to the
    /// operator of `proposer` (burnt if `proposer` is not a validator) and the action runs.
    /// On `Err` the state is unchanged.
    pub fn apply_tx(
        &mut self,
        tx: &SignedTx,
        proposer: &PublicKey,
        height: u64,
        index: u32,
    ) -> Result<Receipt, TxError> {
        let mark = self.journal_mark();
        let outcome = contain_panic(|| {
            let checked = self.validate(tx, height)?;
            self.execute(tx, &checked, proposer, height)?;
            Ok(checked)
        });
        let checked = match outcome {
            Ok(checked) => checked,
            Err(error) => {
                self.rollback_to(mark);
                return Err(error);
            }
        };
        if !self.in_block {
            self.journal_clear();
        }
        Ok(Receipt {
            tx_hash: tx.hash(),
            height,
            index,
            signer: tx.tx.signer.clone(),
            account: checked.acting,
            action: tx.tx.action.name(),
            fee: tx.tx.fee,
        })
    }

    fn validate(&self, signed: &SignedTx, height: u64) -> Result<Checked, TxError> {
        let size = signed.encode_size();
        if size > limits::TX_SIZE_MAX_BYTES {
            return Err(TxError::TooLarge {
                size,
                max: limits::TX_SIZE_MAX_BYTES,
            });
        }
        let tx = &signed.tx;
        if tx.chain_id != self.meta.chain_id {
            return Err(TxError::WrongChainId {
                expected: self.meta.chain_id.clone(),
                got: tx.chain_id.clone(),
            });
        }
        if !self.signatures.verify(signed) {
            return Err(TxError::BadSignature {
                signer: tx.signer.clone(),
            });
        }
        let Some(account) = self.accounts.get(&tx.signer) else {
            return Err(TxError::UnknownAccount {
                address: tx.signer.clone(),
            });
        };
        let (expected, got) = (account.nonce, tx.nonce);
        if got < expected {
            return Err(TxError::StaleNonce {
                account: tx.signer.clone(),
                expected,
                got,
            });
        }
        if got > expected {
            return Err(TxError::FutureNonce {
                account: tx.signer.clone(),
                expected,
                got,
            });
        }
        if tx.fee < self.params.min_fee {
            return Err(TxError::FeeTooLow {
                fee: tx.fee,
                min: self.params.min_fee,
            });
        }
        let acting = match self.hot_keys.get(&tx.signer) {
            Some(cold) if !tx.action.allowed_for_hot_key(&tx.signer) => {
                return Err(TxError::HotKeyNotAllowed {
                    action: tx.action.name(),
                    cold: cold.clone(),
                });
            }
            Some(cold) => cold.clone(),
            None => tx.signer.clone(),
        };
        let needed = tx
            .fee
            .checked_add(spent(&tx.action)?)
            .ok_or(overflow("fee plus amount"))?;
        if account.balance < needed {
            return Err(TxError::InsufficientBalance {
                needed,
                available: account.balance,
            });
        }
        self.validate_action(&tx.signer, &acting, &tx.action, height)?;
        self.validate_task_action(&acting, &tx.action, height)?;
        self.validate_infer_action(&acting, &tx.action, height)?;
        Ok(Checked { acting })
    }

    fn validate_action(
        &self,
        signer: &PublicKey,
        acting: &Address,
        action: &Action,
        height: u64,
    ) -> Result<(), TxError> {
        match action {
            Action::Transfer { to, amount } => {
                if *amount == 0 {
                    return Err(TxError::ZeroAmount);
                }
                // Existing accounts were checked when they were created.
                if !self.accounts.contains_key(to) {
                    require_valid_key("recipient", to)?;
                }
            }
            Action::Bond { validator, amount } => {
                self.known_validator(validator)?;
                if *amount == 0 {
                    return Err(TxError::ZeroAmount);
                }
            }
            Action::Unbond { validator, amount } => {
                self.known_validator(validator)?;
                if *amount == 0 {
                    return Err(TxError::ZeroAmount);
                }
                let bonded = self.bond_of(acting, validator);
                if bonded < *amount {
                    return Err(TxError::InsufficientBond {
                        bonded,
                        requested: *amount,
                    });
                }
            }
            Action::SetValidatorMoniker { validator, moniker } => {
                self.operated_validator(validator, acting)?;
                if moniker.len() > limits::MEMO_MAX_BYTES {
                    return Err(TxError::MonikerTooLong {
                        len: moniker.len(),
                        max: limits::MEMO_MAX_BYTES,
                    });
                }
            }
            Action::LinkHotKey { hot, proof } => self.validate_link(signer, hot, proof)?,
            Action::Unjail { validator } => {
                let v = self.operated_validator(validator, acting)?;
                let jailed_at = self
                    .liveness
                    .get(validator)
                    .and_then(|l| l.jailed_at)
                    .filter(|_| v.jailed)
                    .ok_or_else(|| TxError::NotJailedForInactivity {
                        validator: validator.clone(),
                    })?;
                let free_from = jailed_at.saturating_add(self.params.epoch_length_blocks);
                if height < free_from {
                    return Err(TxError::UnjailTooEarly {
                        validator: validator.clone(),
                        height: free_from,
                    });
                }
            }
            Action::CreateValidator {
                consensus_key,
                moniker,
                self_bond,
                proof_of_possession,
            } => {
                if self.validators.contains_key(consensus_key) {
                    return Err(TxError::ValidatorExists {
                        validator: consensus_key.clone(),
                    });
                }
                if self.validators.len() >= VALIDATORS_REGISTERED_MAX {
                    return Err(TxError::TooManyValidators {
                        max: VALIDATORS_REGISTERED_MAX,
                    });
                }
                if moniker.len() > limits::MEMO_MAX_BYTES {
                    return Err(TxError::MonikerTooLong {
                        len: moniker.len(),
                        max: limits::MEMO_MAX_BYTES,
                    });
                }
                if *self_bond < self.params.validator_bond_min {
                    return Err(TxError::SelfBondTooLow {
                        bond: *self_bond,
                        min: self.params.validator_bond_min,
                    });
                }
                require_valid_key("consensus key", consensus_key)?;
                if !cairn_types::verify_validator_pop(consensus_key, acting, proof_of_possession) {
                    return Err(TxError::BadProofOfPossession);
                }
            }
            // Task actions: see State::validate_task_action.
            Action::ProposeTask { .. }
            | Action::VoteTask { .. }
            | Action::JoinTask { .. }
            | Action::SubmitUpdate { .. }
            | Action::CommitScores { .. }
            | Action::RevealScores { .. }
            | Action::AttestCheckpoint { .. } => {}
            // Registry and market actions: see State::validate_infer_action.
            Action::RegisterModel { .. }
            | Action::RequestInference { .. }
            | Action::PostResult { .. }
            | Action::Challenge { .. }
            | Action::DisputeMove { .. }
            | Action::RetireModel { .. } => {}
            Action::UnlinkHotKey { hot } => {
                // Signed by the cold account, or by the hot key itself (then `acting` is its
                // cold account too).
                if self.hot_keys.get(hot) != Some(acting) {
                    let reason = "it is not linked to the signing account";
                    return Err(TxError::HotKeyInvalid {
                        hot: hot.clone(),
                        reason,
                    });
                }
            }
        }
        Ok(())
    }

    /// A hot key must consent to the link (`proof`: its signature over the chain id and the
    /// cold account) and be a fresh key: not the signer, not linked anywhere, and not an
    /// account that holds funds, stake or hot keys of its own (it would be ambiguous whom it
    /// acts for).
    fn validate_link(
        &self,
        signer: &PublicKey,
        hot: &PublicKey,
        proof: &cairn_types::Signature,
    ) -> Result<(), TxError> {
        let invalid = |reason| {
            Err(TxError::HotKeyInvalid {
                hot: hot.clone(),
                reason,
            })
        };
        if hot == signer {
            return invalid("an account cannot be its own hot key");
        }
        require_valid_key("hot key", hot)?;
        if !cairn_types::verify_hot_key_link(hot, &self.meta.chain_id, signer, proof) {
            return invalid(
                "its consent does not verify: the hot key must sign the link to this account (cairn tx link-hot-key --hot-key-file)",
            );
        }
        if self.hot_keys.contains_key(hot) {
            return invalid("it is already linked to an account");
        }
        if self.accounts.get(hot).is_some_and(|a| a.balance > 0) {
            return invalid("it is an account holding a balance; use a fresh key");
        }
        let holds_stake = self.validators.values().any(|v| v.operator == *hot)
            || self.delegations.keys().any(|(_, owner)| owner == hot)
            || self.unbondings.keys().any(|(_, owner, _, _)| owner == hot);
        if holds_stake {
            return invalid("it is an account holding stake; use a fresh key");
        }
        if self.hot_keys.values().any(|cold| cold == hot) {
            return invalid("it has hot keys of its own");
        }
        if self
            .hot_keys
            .values()
            .filter(|cold| *cold == signer)
            .count()
            >= HOT_KEYS_PER_ACCOUNT_MAX
        {
            return invalid("the account already has the maximum number of hot keys");
        }
        Ok(())
    }

    pub(crate) fn known_validator(
        &self,
        validator: &PublicKey,
    ) -> Result<&crate::Validator, TxError> {
        self.validators
            .get(validator)
            .ok_or_else(|| TxError::UnknownValidator {
                validator: validator.clone(),
            })
    }

    /// `validator`, when `acting` is its operator.
    pub(crate) fn operated_validator(
        &self,
        validator: &PublicKey,
        acting: &Address,
    ) -> Result<&crate::Validator, TxError> {
        let v = self.known_validator(validator)?;
        if v.operator != *acting {
            return Err(TxError::NotOperator {
                account: acting.clone(),
                validator: validator.clone(),
                operator: v.operator.clone(),
            });
        }
        Ok(v)
    }

    /// What `owner` has bonded to `validator`: the self-bond for its operator, else the delegation.
    fn bond_of(&self, owner: &Address, validator: &PublicKey) -> Amount {
        match self.validators.get(validator) {
            Some(v) if v.operator == *owner => v.self_bond,
            Some(_) => self.delegation(owner, validator),
            None => 0,
        }
    }

    /// Writes a validated transaction. Any error leaves partial writes for the caller to roll back.
    fn execute(
        &mut self,
        signed: &SignedTx,
        checked: &Checked,
        proposer: &PublicKey,
        height: u64,
    ) -> Result<(), TxError> {
        let tx = &signed.tx;
        let mut payer = self
            .accounts
            .get(&tx.signer)
            .cloned()
            .ok_or(overflow("payer"))?;
        payer.nonce = payer.nonce.checked_add(1).ok_or(overflow("nonce"))?;
        payer.balance = payer.balance.checked_sub(tx.fee).ok_or(overflow("fee"))?;
        self.put_account(tx.signer.clone(), payer);
        match self.validators.get(proposer).map(|v| v.operator.clone()) {
            Some(operator) => self.credit(&operator, tx.fee)?,
            None => self.burn(tx.fee).ok_or(overflow("burnt fee"))?,
        }
        let acting = &checked.acting;
        match &tx.action {
            Action::Transfer { to, amount } => {
                self.debit(acting, *amount)?;
                self.credit(to, *amount)?;
            }
            Action::Bond { validator, amount } => {
                self.debit(acting, *amount)?;
                self.add_bond(acting, validator, *amount)?;
            }
            Action::Unbond { validator, amount } => {
                self.remove_bond(acting, validator, *amount)?;
                // The stake counted in this epoch's set: it stays slashable (and so in the
                // queue) at least until the epoch ends, as evidence lands in its own epoch.
                let epoch = self.meta.epoch;
                let epoch_end = epoch
                    .checked_add(1)
                    .and_then(|e| e.checked_mul(self.params.epoch_length_blocks))
                    .ok_or(overflow("epoch end"))?;
                let matures_at = height
                    .checked_add(self.params.unbonding_period_blocks)
                    .ok_or(overflow("unbonding maturity"))?
                    .max(epoch_end);
                let key = (matures_at, acting.clone(), validator.clone(), epoch);
                let pending = self.unbondings.get(&key).copied().unwrap_or(0);
                let total = pending
                    .checked_add(*amount)
                    .ok_or(overflow("unbonding amount"))?;
                self.put_unbonding(key, total);
            }
            Action::LinkHotKey { hot, .. } => {
                self.put_hot_key(hot.clone(), Some(acting.clone()))
            }
            Action::UnlinkHotKey { hot } => self.put_hot_key(hot.clone(), None),
            Action::SetValidatorMoniker { validator, moniker } => {
                let mut v = self.known_validator(validator)?.clone();
                v.moniker = moniker.clone();
                self.put_validator(v);
            }
            Action::Unjail { validator } => {
                let mut v = self.known_validator(validator)?.clone();
                v.jailed = false;
                self.put_validator(v);
                let liveness = self.liveness.get(validator).cloned().unwrap_or_default();
                self.put_liveness(
                    validator.clone(),
                    crate::Liveness {
                        jailed_at: None,
                        ..liveness
                    },
                );
            }
            Action::CreateValidator {
                consensus_key,
                moniker,
                self_bond,
                ..
            } => {
                self.debit(acting, *self_bond)?;
                self.put_validator(crate::Validator {
                    consensus_key: consensus_key.clone(),
                    operator: acting.clone(),
                    moniker: moniker.clone(),
                    self_bond: *self_bond,
                    delegated: 0,
                    jailed: false,
                    slashed_total: 0,
                });
            }
            Action::ProposeTask { .. }
            | Action::VoteTask { .. }
            | Action::JoinTask { .. }
            | Action::SubmitUpdate { .. }
            | Action::CommitScores { .. }
            | Action::RevealScores { .. }
            | Action::AttestCheckpoint { .. } => {
                self.execute_task_action(acting, &tx.action, height)?
            }
            Action::RegisterModel { .. }
            | Action::RequestInference { .. }
            | Action::PostResult { .. }
            | Action::Challenge { .. }
            | Action::DisputeMove { .. }
            | Action::RetireModel { .. } => {
                self.execute_infer_action(acting, &tx.action, height)?
            }
        }
        Ok(())
    }

    /// Adds to `address`'s balance, creating the account if new.
    pub(crate) fn credit(&mut self, address: &Address, amount: Amount) -> Result<(), TxError> {
        let mut account = self.accounts.get(address).cloned().unwrap_or_default();
        account.balance = account
            .balance
            .checked_add(amount)
            .ok_or(overflow("balance"))?;
        self.put_account(address.clone(), account);
        Ok(())
    }

    pub(crate) fn debit(&mut self, address: &Address, amount: Amount) -> Result<(), TxError> {
        let mut account = self.accounts.get(address).cloned().unwrap_or_default();
        let available = account.balance;
        account.balance = available
            .checked_sub(amount)
            .ok_or(TxError::InsufficientBalance {
                needed: amount,
                available,
            })?;
        self.put_account(address.clone(), account);
        Ok(())
    }

    fn add_bond(
        &mut self,
        owner: &Address,
        validator: &PublicKey,
        amount: Amount,
    ) -> Result<(), TxError> {
        let mut v = self.known_validator(validator)?.clone();
        v.self_bond
            .checked_add(v.delegated)
            .and_then(|total| total.checked_add(amount))
            .ok_or(overflow("total bond"))?;
        if v.operator == *owner {
            v.self_bond = v
                .self_bond
                .checked_add(amount)
                .ok_or(overflow("self bond"))?;
        } else {
            v.delegated = v
                .delegated
                .checked_add(amount)
                .ok_or(overflow("delegated"))?;
            let key = (validator.clone(), owner.clone());
            let prior = self.delegations.get(&key).copied().unwrap_or(0);
            self.put_delegation(
                key,
                prior.checked_add(amount).ok_or(overflow("delegation"))?,
            );
        }
        self.put_validator(v);
        Ok(())
    }

    fn remove_bond(
        &mut self,
        owner: &Address,
        validator: &PublicKey,
        amount: Amount,
    ) -> Result<(), TxError> {
        let mut v = self.known_validator(validator)?.clone();
        let bonded = self.bond_of(owner, validator);
        let short = TxError::InsufficientBond {
            bonded,
            requested: amount,
        };
        if v.operator == *owner {
            v.self_bond = v.self_bond.checked_sub(amount).ok_or(short)?;
        } else {
            v.delegated = v.delegated.checked_sub(amount).ok_or(short.clone())?;
            let key = (validator.clone(), owner.clone());
            self.put_delegation(key, bonded.checked_sub(amount).ok_or(short)?);
        }
        self.put_validator(v);
        Ok(())
    }
}

/// What `action` takes from the acting account's balance besides the fee (stake, escrow,
/// deposits, bonds); the balance check before validation compares it with the balance.
fn spent(action: &Action) -> Result<Amount, TxError> {
    Ok(match action {
        Action::Transfer { amount, .. } | Action::Bond { amount, .. } => *amount,
        Action::ProposeTask { spec } => {
            let deposit = spec.blob_deposit().ok_or(overflow("blob deposit"))?;
            spec.reward_pool
                .checked_add(deposit)
                .ok_or(overflow("reward pool plus deposit"))?
        }
        Action::JoinTask { stake, .. } => *stake,
        Action::RegisterModel { model } => crate::infer::model_deposit(model)?,
        Action::RequestInference { payment, .. } => *payment,
        Action::PostResult { bond, .. } | Action::Challenge { bond, .. } => *bond,
        Action::CreateValidator { self_bond, .. } => *self_bond,
        Action::Unbond { .. }
        | Action::LinkHotKey { .. }
        | Action::UnlinkHotKey { .. }
        | Action::SetValidatorMoniker { .. }
        | Action::VoteTask { .. }
        | Action::SubmitUpdate { .. }
        | Action::CommitScores { .. }
        | Action::RevealScores { .. }
        | Action::AttestCheckpoint { .. }
        | Action::DisputeMove { .. }
        | Action::Unjail { .. }
        | Action::RetireModel { .. } => 0,
    })
}

/// Refuses a key nobody can sign for (see [cairn_types::is_valid_public_key]).
fn require_valid_key(what: &'static str, key: &PublicKey) -> Result<(), TxError> {
    if cairn_types::is_valid_public_key(key) {
        Ok(())
    } else {
        Err(TxError::InvalidKey {
            what,
            key: key.clone(),
        })
    }
}

/// Runs `check`, turning a panic into [TxError::Internal]: a backstop, never how a known case
/// is handled. A panic is a bug, but one hostile transaction must not stop every node that
/// sees it; the same bytes panic the same way on every node, so the refusal is deterministic.
/// The panic hook has already printed the message and location to stderr.
fn contain_panic<T>(check: impl FnOnce() -> Result<T, TxError>) -> Result<T, TxError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
        Ok(outcome) => outcome,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Err(TxError::Internal { message })
        }
    }
}
