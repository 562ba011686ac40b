//! Calls paid per call (`paid_calls`, x402 `upto`): claimed at admission under the payer's
//! limits, told their cost once served, booked once their settlement moved the money.
//!
//! Between serving and settling the books hold nothing for the call: no provider earnings, no
//! fees, nothing owed by anyone. [`Ledger::book_paid_call`] then writes, in one transaction, the
//! transfer of what moved on chain (external → provider earnings + platform fees, keyed by the
//! payment's id) and points the request-log row at it. A call whose settlement the chain
//! refuses is never booked: its provider earns nothing from it, which is the loss the per-payer
//! limits bound.

use super::{Ledger, LedgerError};
use crate::settlement::{add_provider_daily, insert_request_log};
use crate::{MicroUsdc, Outcome};

/// What a payer may still open (per payer, fleet-wide: enforced in Postgres).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayerLimits {
    /// Calls admitted or served but not settled.
    pub max_calls: i64,
    /// Their worth: the maximum of those being served plus the cost of those served.
    pub max_amount: MicroUsdc,
    /// What the payer can pay on this call's rail right now (the least of its token balance
    /// and its allowance to Permit2, in µUSD, read at admission): its open calls on the rail
    /// plus this one must fit in it, or one signature pays for several settlements that
    /// cannot all succeed.
    pub funds: RailFunds,
    /// What all payers' calls may put at risk together (see [`Refused::FleetAtRisk`]).
    pub fleet_at_risk: MicroUsdc,
}

/// The payer's token balance and Permit2 allowance on the call's rail, in µUSD (rounded down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RailFunds {
    pub balance: MicroUsdc,
    pub allowance: MicroUsdc,
}

/// A new paid call's row.
#[derive(Debug, Clone)]
pub struct NewPaidCall<'a> {
    pub id: &'a str,
    pub request_id: &'a str,
    pub payer: &'a str,
    pub chain_id: i64,
    pub asset: &'a str,
    pub max_amount: MicroUsdc,
    /// The signed payment as JSON text.
    pub payment: &'a str,
    pub deadline_unix: i64,
}

/// Why a paid call was not opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// This payment already paid (or is paying) for a call.
    Replayed,
    /// The payer has a settlement the chain refused.
    Defaulted,
    TooManyCalls {
        open: i64,
    },
    TooMuchUnsettled {
        open: MicroUsdc,
    },
    /// The payer's open calls on the rail (`open` µUSD) and this one's maximum pass its
    /// allowance to Permit2.
    AllowanceShort {
        open: MicroUsdc,
    },
    /// ... or its token balance.
    BalanceShort {
        open: MicroUsdc,
    },
    /// All payers' open calls, the losses of the last 24 hours (`failed`, `expired` at their
    /// cost, `lost` at their maximum: `at_risk` µUSD) and this call's maximum pass the fleet's
    /// cap: per-payer limits alone let fresh addresses add up
    /// without bound, so the money the operator can lose to defaults is capped here.
    FleetAtRisk {
        at_risk: MicroUsdc,
    },
}

/// A served call to settle (from [`Ledger::paid_calls_to_settle`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToSettle {
    pub id: String,
    pub status: String,
    pub chain_id: i64,
    pub asset: String,
    pub amount: Option<MicroUsdc>,
    /// The signed payment as JSON text.
    pub payment: String,
    pub tx_hash: Option<String>,
    pub attempts: i32,
    pub deadline_unix: i64,
}

impl Ledger {
    /// Claim a payment for one call, under the payer's limits. One transaction holding the
    /// payer's advisory lock, so concurrent calls of one payer on any node are counted together.
    pub async fn open_paid_call(
        &self,
        call: &NewPaidCall<'_>,
        limits: PayerLimits,
    ) -> Result<Result<(), Refused>, LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('paid_calls:' || $1, 0))",
            &[&call.payer],
        )
        .await?;
        let row = tx
            .query_one(
                "SELECT COUNT(*) FILTER (WHERE status IN ('serving', 'unsettled')),
                        COALESCE(SUM(CASE status WHEN 'serving' THEN max_amount WHEN 'unsettled' THEN amount END), 0)::BIGINT,
                        COALESCE(BOOL_OR(status = 'failed' OR (status = 'unsettled' AND error IS NOT NULL)), false),
                        COALESCE(SUM(CASE status WHEN 'serving' THEN max_amount WHEN 'unsettled' THEN amount END)
                                 FILTER (WHERE chain_id = $2 AND asset = $3), 0)::BIGINT
                 FROM paid_calls WHERE payer = $1 AND status IN ('serving', 'unsettled', 'failed')",
                &[&call.payer, &call.chain_id, &call.asset],
            )
            .await?;
        let (open, worth, defaulted, on_rail): (i64, i64, bool, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if defaulted {
            return Ok(Err(Refused::Defaulted));
        }
        if open >= limits.max_calls {
            return Ok(Err(Refused::TooManyCalls { open }));
        }
        if worth.saturating_add(call.max_amount) > limits.max_amount {
            return Ok(Err(Refused::TooMuchUnsettled { open: worth }));
        }
        let needed = on_rail.saturating_add(call.max_amount);
        if needed > limits.funds.allowance {
            return Ok(Err(Refused::AllowanceShort { open: on_rail }));
        }
        if needed > limits.funds.balance {
            return Ok(Err(Refused::BalanceShort { open: on_rail }));
        }
        // Then the fleet's lock (always after a payer's: no two admissions wait on each other
        // in opposite orders), so concurrent admissions of different payers are summed together.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('paid_calls:fleet', 0))",
            &[],
        )
        .await?;
        let at_risk: i64 = tx
            .query_one(
                "SELECT COALESCE(SUM(CASE WHEN status IN ('serving', 'lost') THEN max_amount ELSE amount END), 0)::BIGINT
                 FROM paid_calls
                 WHERE status IN ('serving', 'unsettled')
                    OR (status IN ('failed', 'expired', 'lost') AND updated_at > now() - interval '24 hours')",
                &[],
            )
            .await?
            .get(0);
        if at_risk.saturating_add(call.max_amount) > limits.fleet_at_risk {
            return Ok(Err(Refused::FleetAtRisk { at_risk }));
        }
        let inserted = tx
            .execute(
                "INSERT INTO paid_calls (id, request_id, payer, chain_id, asset, max_amount, payment, deadline, status)
                 VALUES ($1, $2, $3, $4, $5, $6, $7::TEXT::JSONB, to_timestamp($8::BIGINT), 'serving')
                 ON CONFLICT DO NOTHING",
                &[
                    &call.id,
                    &call.request_id,
                    &call.payer,
                    &call.chain_id,
                    &call.asset,
                    &call.max_amount,
                    &call.payment,
                    &call.deadline_unix,
                ],
            )
            .await?;
        if inserted == 0 {
            return Ok(Err(Refused::Replayed));
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// The call was served (or failed): log it, and keep what it cost to settle. Its provider's
    /// hourly row counts the request and tokens now, its earnings only when the money moved.
    /// Idempotent: a row no longer `serving` is left alone.
    pub async fn served_paid_call(&self, id: &str, outcome: &Outcome) -> Result<(), LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let status: Option<String> = tx
            .query_opt(
                "SELECT status FROM paid_calls WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await?
            .map(|r| r.get(0));
        if status.as_deref() != Some("serving") {
            return Ok(());
        }
        let amount = outcome.buyer_cost_usdc;
        tx.execute(
            "UPDATE paid_calls SET amount = $2, provider = $3, provider_cost = $4, platform_fee = $5,
                 model = $6, started_at_ms = $7, status = CASE WHEN $2::BIGINT = 0 THEN 'free' ELSE 'unsettled' END,
                 updated_at = now()
             WHERE id = $1",
            &[
                &id,
                &amount,
                &outcome.provider,
                &outcome.provider_cost_usdc,
                &outcome.platform_fee_usdc,
                &outcome.model,
                &(outcome.started_at_ms as i64),
            ],
        )
        .await?;
        insert_request_log(&tx, &[outcome], None).await?;
        tx.execute(
            "UPDATE request_log SET paid_call = $1 WHERE request_id = $2",
            &[&id, &outcome.request_id],
        )
        .await?;
        let mut unearned = outcome.clone();
        unearned.provider_cost_usdc = 0;
        add_provider_daily(&tx, &[&unearned]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claim calls to work on for `hold_secs` (no other node takes them meanwhile): served and
    /// unsettled, or still `serving` past their deadline.
    pub async fn claim_paid_calls(
        &self,
        limit: i64,
        hold_secs: i64,
    ) -> Result<Vec<ToSettle>, LedgerError> {
        let c = self.conn().await?;
        Ok(c.query(
            "UPDATE paid_calls p SET claimed_until = now() + $2 * interval '1 second'
             FROM (SELECT id FROM paid_calls
                   WHERE (status = 'unsettled' OR (status = 'serving' AND deadline < now()))
                     AND (claimed_until IS NULL OR claimed_until < now())
                   ORDER BY deadline LIMIT $1 FOR UPDATE SKIP LOCKED) due
             WHERE p.id = due.id
             RETURNING p.id, p.status, p.chain_id, p.asset, p.amount, p.payment::TEXT, p.tx_hash, p.attempts,
                       EXTRACT(EPOCH FROM p.deadline)::BIGINT",
            &[&limit, &(hold_secs as f64)],
        )
        .await?
        .iter()
        .map(|r| ToSettle {
            id: r.get(0),
            status: r.get(1),
            chain_id: r.get(2),
            asset: r.get(3),
            amount: r.get(4),
            payment: r.get(5),
            tx_hash: r.get(6),
            attempts: r.get(7),
            deadline_unix: r.get(8),
        })
        .collect())
    }

    /// Let other nodes (or the next pass) take a claimed call at once.
    pub async fn release_paid_call(&self, id: &str) -> Result<(), LedgerError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE paid_calls SET claimed_until = NULL WHERE id = $1",
            &[&id],
        )
        .await?;
        Ok(())
    }

    /// The settlement transaction was sent (kept before waiting, so a crash finds it).
    pub async fn paid_call_sent(&self, id: &str, tx_hash: &str) -> Result<(), LedgerError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE paid_calls SET tx_hash = $2, attempts = attempts + 1, updated_at = now() WHERE id = $1",
            &[&id, &tx_hash],
        )
        .await?;
        Ok(())
    }

    /// A settlement attempt failed: `last` = the deadline has passed, so it never will settle
    /// (the payer's default); otherwise the error is kept (the payer is refused meanwhile) and
    /// the call is tried again.
    pub async fn paid_call_refused(
        &self,
        id: &str,
        error: &str,
        last: bool,
    ) -> Result<(), LedgerError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE paid_calls SET error = $2, tx_hash = NULL, attempts = attempts + 1, updated_at = now(),
                 status = CASE WHEN $3 THEN 'failed' ELSE status END
             WHERE id = $1 AND status = 'unsettled'",
            &[&id, &error, &last],
        )
        .await?;
        Ok(())
    }

    /// The payment's deadline came before the call settled: `expired` when the payer could
    /// still have paid (`ours`: its nonce unused, allowance and balance enough — the delay was
    /// ours: not charged, not held against it), else `failed` (its default: refused from now
    /// on). `None`: the row was no longer unsettled; else whether it `failed`.
    pub async fn paid_call_expired(
        &self,
        id: &str,
        why: &str,
        ours: bool,
    ) -> Result<Option<bool>, LedgerError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "UPDATE paid_calls SET status = CASE WHEN $3 THEN 'expired' ELSE 'failed' END,
                     error = COALESCE(error, $2), tx_hash = NULL, updated_at = now()
                 WHERE id = $1 AND status = 'unsettled' RETURNING status = 'failed'",
                &[&id, &why, &ours],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// A call admitted but never reported by its node (a crash) whose deadline passed: nothing
    /// can be settled for it any more; not charged (as a SIGKILL loses unwritten records).
    pub async fn paid_call_lost(&self, id: &str) -> Result<(), LedgerError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE paid_calls SET status = 'lost', updated_at = now() WHERE id = $1 AND status = 'serving'",
            &[&id],
        )
        .await?;
        Ok(())
    }

    /// The settlement moved `moved` µUSD to the vault in `tx_hash`: book it, once. The
    /// provider is credited its cost out of what moved (never more), the platform the rest.
    pub async fn book_paid_call(
        &self,
        id: &str,
        moved: MicroUsdc,
        tx_hash: &str,
    ) -> Result<bool, LedgerError> {
        if moved <= 0 {
            return Err(LedgerError::Invalid("a settlement must move money".into()));
        }
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "SELECT status, provider, provider_cost, model, started_at_ms, request_id
                 FROM paid_calls WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await?
        else {
            return Ok(false);
        };
        let status: String = row.get(0);
        if status != "unsettled" {
            return Ok(false);
        }
        let provider: String = row.get(1);
        let provider_cost: i64 = row.get(2);
        let (model, started_ms, request_id): (String, i64, String) =
            (row.get(3), row.get(4), row.get(5));
        let earned = provider_cost.clamp(0, moved);
        let fee = moved - earned;
        let transfer: i64 = tx
            .query_one(
                "INSERT INTO transfers (kind, idempotency_key, memo) VALUES ('paid_call', $1, $2) RETURNING id",
                &[&id, &format!("pay per call, settled in {tx_hash}")],
            )
            .await?
            .get(0);
        tx.execute(
            "WITH a AS (INSERT INTO accounts (kind, ref) VALUES ('provider', $1)
                        ON CONFLICT (kind, ref) DO NOTHING RETURNING id, ref)
             INSERT INTO providers (id, account_id) SELECT ref, id FROM a ON CONFLICT (id) DO NOTHING",
            &[&provider],
        )
        .await?;
        let kinds = ["external", "provider", "platform"];
        let refs = ["usdc", provider.as_str(), "fees"];
        let amounts = [-moved, earned, fee];
        let (kinds, refs, amounts): (Vec<&str>, Vec<&str>, Vec<i64>) = (0..3)
            .filter(|i| amounts[*i] != 0)
            .map(|i| (kinds[i], refs[i], amounts[i]))
            .fold((vec![], vec![], vec![]), |mut v, (k, r, a)| {
                v.0.push(k);
                v.1.push(r);
                v.2.push(a);
                v
            });
        tx.execute(
            "INSERT INTO entries (transfer_id, account_id, amount)
             SELECT $1, a.id, d.amount FROM UNNEST($2::TEXT[], $3::TEXT[], $4::BIGINT[]) AS d(kind, ref, amount)
             JOIN accounts a ON a.kind = d.kind AND a.ref = d.ref",
            &[&transfer, &kinds, &refs, &amounts],
        )
        .await?;
        tx.execute(
            "UPDATE accounts a SET balance = a.balance + d.amount
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[]) AS d(kind, ref, amount)
             WHERE a.kind = d.kind AND a.ref = d.ref",
            &[&kinds, &refs, &amounts],
        )
        .await?;
        tx.execute(
            "UPDATE paid_calls SET status = 'settled', amount = $2, tx_hash = $3, transfer_id = $4,
                 error = NULL, updated_at = now() WHERE id = $1",
            &[&id, &moved, &tx_hash, &transfer],
        )
        .await?;
        tx.execute(
            "UPDATE request_log SET transfer_id = $2 WHERE request_id = $1",
            &[&request_id, &transfer],
        )
        .await?;
        // The earnings of the hour the call started in (its row was made when it was served).
        let short = model
            .strip_prefix(provider.as_str())
            .and_then(|m| m.strip_prefix('/'))
            .unwrap_or(&model)
            .to_string();
        tx.execute(
            "UPDATE provider_daily SET earned = earned + $4
             WHERE provider = $1 AND model = $2 AND hour = to_timestamp(($3::BIGINT / 3600000) * 3600)",
            &[&provider, &short, &started_ms, &earned],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Settled calls of a rail the vault has not counted yet, grouped under a batch id (the
    /// same rows keep it until counted). Returns `(batch, total µUSD)`.
    pub async fn paid_calls_to_record(
        &self,
        chain_id: i64,
        asset: &str,
        new_batch: &str,
    ) -> Result<Option<(String, MicroUsdc)>, LedgerError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('paid_calls_vault', 0))",
            &[],
        )
        .await?;
        let open: Option<String> = tx
            .query_opt(
                "SELECT vault_batch FROM paid_calls WHERE chain_id = $1 AND asset = $2 AND status = 'settled'
                 AND NOT vault_recorded AND vault_batch IS NOT NULL LIMIT 1",
                &[&chain_id, &asset],
            )
            .await?
            .map(|r| r.get(0));
        let batch = match open {
            Some(b) => b,
            None => {
                let n = tx
                    .execute(
                        "UPDATE paid_calls SET vault_batch = $3 WHERE id IN (
                             SELECT id FROM paid_calls WHERE chain_id = $1 AND asset = $2 AND status = 'settled'
                             AND NOT vault_recorded AND vault_batch IS NULL LIMIT 1000)",
                        &[&chain_id, &asset, &new_batch],
                    )
                    .await?;
                if n == 0 {
                    return Ok(None);
                }
                new_batch.to_string()
            }
        };
        let total: i64 = tx
            .query_one(
                "SELECT COALESCE(SUM(amount), 0)::BIGINT FROM paid_calls WHERE vault_batch = $1",
                &[&batch],
            )
            .await?
            .get(0);
        tx.commit().await?;
        Ok(Some((batch, total)))
    }

    /// The vault counted batch `batch`.
    pub async fn paid_calls_recorded(&self, batch: &str) -> Result<(), LedgerError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE paid_calls SET vault_recorded = true WHERE vault_batch = $1",
            &[&batch],
        )
        .await?;
        Ok(())
    }
}
