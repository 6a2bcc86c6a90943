//! Slashing for equivocation evidence: what the offender had at stake in the epoch of the
//! infraction is cut by `slash_fraction_bps`, and the offender is jailed for good.
//!
//! What is at stake: the self-bond, every delegation, and every unbonding that started in
//! the evidence's epoch (stake counted in that epoch's set that its owner asked back). An
//! unbonding never matures before the end of the epoch it started in, and a block carries
//! evidence of its own epoch only, so stake cannot leave before the evidence can land: unbond
//! then equivocate costs exactly what equivocating while bonded costs.

use crate::block::{BPS_ONE, overflow};
use crate::entry::{Liveness, SlashRecord};
use crate::error::BlockError;
use crate::state::{State, UnbondingKey};
use cairn_types::{Address, Amount, Evidence};

/// A stake the slash takes a share of, besides the self-bond.
enum Stake {
    Delegation(Address),
    Unbonding(UnbondingKey),
}

/// Splits `amount` over `parts` (summing to at most `total`, with `self_bond` the rest of
/// `total`): each part its floored proportional share, the remainder from `self_bond`, any
/// shortfall from the parts in order. Returns (share of each part, share of the self-bond).
fn shares(
    amount: Amount,
    total: Amount,
    parts: &[Amount],
    self_bond: Amount,
) -> Result<(Vec<Amount>, Amount), BlockError> {
    let mut takes = Vec::with_capacity(parts.len());
    for part in parts {
        // part <= total, so the share is <= amount and fits in u64.
        let share = u128::from(*part) * u128::from(amount) / u128::from(total.max(1));
        takes.push(u64::try_from(share).map_err(|_| overflow("slash share"))?);
    }
    let from_parts = takes
        .iter()
        .try_fold(0u64, |a, t| a.checked_add(*t))
        .ok_or(overflow("slash"))?;
    let mut remaining = amount
        .checked_sub(from_parts)
        .ok_or(overflow("slash remainder"))?;
    let from_self = remaining.min(self_bond);
    remaining = remaining
        .checked_sub(from_self)
        .ok_or(overflow("slash remainder"))?;
    for (part, take) in parts.iter().zip(takes.iter_mut()) {
        let extra = remaining.min(part.checked_sub(*take).ok_or(overflow("slash share"))?);
        *take = take.checked_add(extra).ok_or(overflow("slash share"))?;
        remaining = remaining
            .checked_sub(extra)
            .ok_or(overflow("slash remainder"))?;
    }
    if remaining != 0 {
        return Err(overflow("slash exceeds the stake"));
    }
    Ok((takes, from_self))
}

impl State {
    /// The offender's delegations and the unbondings from it that started in `epoch`.
    fn slashable_stakes(&self, evidence: &Evidence) -> Vec<(Stake, Amount)> {
        let offender = &evidence.offender;
        let delegations = self
            .delegations
            .iter()
            .filter(|((v, _), _)| v == offender)
            .map(|((_, owner), d)| (Stake::Delegation(owner.clone()), *d));
        let unbondings = self
            .unbondings
            .iter()
            .filter(|((_, _, v, epoch), _)| v == offender && *epoch == evidence.epoch)
            .map(|(key, a)| (Stake::Unbonding(key.clone()), *a));
        delegations.chain(unbondings).collect()
    }

    /// Burns `floor(at_stake · slash_fraction_bps / 10000)` of what the offender had at stake
    /// in the evidence's epoch (see the module docs for the split), jails it and records the
    /// slash.
    pub(crate) fn slash(&mut self, evidence: &Evidence, height: u64) -> Result<(), BlockError> {
        if evidence.epoch != self.meta.epoch {
            return Err(BlockError::EvidenceEpoch {
                got: evidence.epoch,
                expected: self.meta.epoch,
            });
        }
        let key = (evidence.offender.clone(), evidence.epoch, evidence.view);
        if self.slashes.contains_key(&key) {
            let (offender, epoch, view) = key;
            return Err(BlockError::DuplicateEvidence {
                offender,
                epoch,
                view,
            });
        }
        let Some(mut validator) = self.validators.get(&evidence.offender).cloned() else {
            return Err(BlockError::UnknownOffender {
                offender: evidence.offender.clone(),
            });
        };
        let stakes = self.slashable_stakes(evidence);
        let parts: Vec<Amount> = stakes.iter().map(|(_, a)| *a).collect();
        let total = parts
            .iter()
            .try_fold(validator.self_bond, |acc, a| acc.checked_add(*a))
            .ok_or(overflow("stake at risk"))?;
        let bps = u128::from(self.params.slash_fraction_bps).min(BPS_ONE);
        let amount =
            u64::try_from(u128::from(total) * bps / BPS_ONE).map_err(|_| overflow("slash"))?;
        let (takes, from_self) = shares(amount, total, &parts, validator.self_bond)?;
        let mut from_delegations: Amount = 0;
        for ((stake, held), take) in stakes.into_iter().zip(takes) {
            let left = held.checked_sub(take).ok_or(overflow("slashed stake"))?;
            match stake {
                Stake::Delegation(owner) => {
                    from_delegations = from_delegations
                        .checked_add(take)
                        .ok_or(overflow("slash"))?;
                    self.put_delegation((evidence.offender.clone(), owner), left);
                }
                Stake::Unbonding(key) => self.put_unbonding(key, left),
            }
        }
        validator.delegated = validator
            .delegated
            .checked_sub(from_delegations)
            .ok_or(overflow("delegated"))?;
        validator.self_bond = validator
            .self_bond
            .checked_sub(from_self)
            .ok_or(overflow("self bond"))?;
        validator.slashed_total = validator
            .slashed_total
            .checked_add(amount)
            .ok_or(overflow("slashed total"))?;
        validator.jailed = true;
        self.put_validator(validator);
        self.end_inactivity_jail(&key.0);
        self.burn(amount).ok_or(overflow("supply"))?;
        let record = SlashRecord {
            kind: evidence.kind,
            amount,
            height,
        };
        self.put_slash(key, record);
        Ok(())
    }

    /// Jailed for a fault now, not for inactivity: `Unjail` no longer frees it.
    fn end_inactivity_jail(&mut self, validator: &cairn_types::PublicKey) {
        if let Some(liveness) = self.liveness.get(validator).cloned() {
            let liveness = Liveness {
                jailed_at: None,
                ..liveness
            };
            self.put_liveness(validator.clone(), liveness);
        }
    }
}
