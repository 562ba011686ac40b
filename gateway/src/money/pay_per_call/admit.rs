//! Admission of a call paid per call: the payment header → the payer (before the body is
//! read, so rate limits are per payer), then, once the call's worst case is known, the offer,
//! the payment checked against it, the chain read, and the payment claimed in Postgres under
//! the payer's limits. Everything that can refuse happens before any upstream is contacted.

use super::super::onchain::OnChain;
use super::PayPerCall;
use crate::identity::Principal;
use alloy_primitives::{Address, B256, U256};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tollgate_billing::ledger::{NewPaidCall, PaidCallRefused, PayerLimits, RailFunds};
use tollgate_billing::MicroUsdc;
use tollgate_chain::x402::{
    decode_upto_header, upto_signer, verify_upto_payment, PaymentError, UptoPaymentV2,
    UptoRequirements, PERMIT2_ADDRESS,
};
use tollgate_chain::ChainError;

/// A keyless call's payment as sent, before its body is read.
pub struct Pending {
    /// The payer when the payment's signature recovers it; else no one (the call can only be
    /// answered 402, and is not rate-limited as anyone).
    pub principal: Option<Principal>,
    payment: Option<Result<(UptoPaymentV2, Arc<OnChain>), PaymentError>>,
}

/// An admitted paid call: its payment's id (the `paid_calls` row) and signed maximum.
#[derive(Debug, Clone)]
pub struct PaidCall {
    pub id: String,
    pub max_amount: MicroUsdc,
    /// The payment's deadline less `settle_margin`: the call's response has ended by then
    /// (see [`PaidCall::attempt_window`]).
    pub ends_by: SystemTime,
    /// After this, no chunk of the current attempt's response is forwarded.
    pub cut_at: Option<Instant>,
    /// The attempt's upstream timeout is shorter than configured (the payment's, not the
    /// provider's, limit: a timeout then is not the provider's fault).
    pub shrunk: bool,
    /// The response was cut at `cut_at`.
    pub cut: bool,
}

impl PaidCall {
    /// Timeouts for an attempt that keep the response inside [`PaidCall::ends_by`]: its
    /// upstream read/write timeout (at most `read_timeout`, at most half the time left) and,
    /// kept in `cut_at`, the last instant a chunk may be forwarded. Each wait for the upstream
    /// lasts at most that timeout, and a chunk arriving after `cut_at` ends the response, so
    /// it ends by `cut_at` + timeout = `ends_by` (plus the connect, inside the margin).
    /// `None`: no time is left to serve.
    pub fn attempt_window(&mut self, read_timeout: Duration) -> Option<Duration> {
        let left = self.ends_by.duration_since(SystemTime::now()).ok()?;
        let timeout = read_timeout.min(left / 2);
        if timeout < Duration::from_millis(1) {
            return None;
        }
        self.cut_at = Some(Instant::now() + (left - timeout));
        self.shrunk = timeout < read_timeout;
        Some(timeout)
    }

    /// A chunk arriving now is past the attempt's window.
    pub fn past_cut(&self) -> bool {
        self.cut_at.is_some_and(|cut| Instant::now() >= cut)
    }

    /// What is left until [`PaidCall::ends_by`] (zero once passed).
    pub fn left(&self) -> Duration {
        self.ends_by
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }
}

/// Why a paid call was not admitted (turned into an answer by `control/pay_per_call.rs`).
#[derive(Debug)]
pub enum PayRefused {
    /// x402 402: no payment, or a payment refused (`code`: x402's reason), with the offers.
    Payment {
        code: &'static str,
        message: String,
        offers: Vec<UptoRequirements>,
    },
    /// x402 412: the payer has not approved Permit2 for the maximum.
    AllowanceRequired {
        message: String,
        offers: Vec<UptoRequirements>,
    },
    /// A settlement of this payer was refused by the chain: no more calls on credit.
    Defaulted,
    /// The payer's unsettled calls are at a limit.
    Limit(String),
    /// The fleet's money at risk is at `max_at_risk_usd`: no call is served on credit until
    /// calls settle.
    FleetAtRisk,
    ChainUnavailable,
    LedgerUnavailable,
}

impl Pending {
    /// Nothing was sent: the call is answered 402 with the offers.
    pub fn is_challenge(&self) -> bool {
        self.payment.is_none()
    }
}

impl PayPerCall {
    /// Read the `PAYMENT-SIGNATURE` header of a keyless call (`None`: none sent).
    pub fn pending(&self, header: Option<&str>) -> Pending {
        let Some(header) = header else {
            return Pending {
                principal: None,
                payment: None,
            };
        };
        let payment = decode_upto_header(header).and_then(|p| {
            let rail = self
                .rail_for(&p.accepted.network, p.accepted.asset)
                .cloned()
                .ok_or_else(|| PaymentError::WrongNetwork {
                    expected: self.networks(),
                    got: format!("{} on {}", p.accepted.asset, p.accepted.network),
                })?;
            Ok((p, rail))
        });
        let principal = match &payment {
            Ok((p, rail)) => upto_signer(&p.payload, rail.chain_id)
                .map(|payer| Principal::payer(&format!("{payer:#x}"))),
            Err(_) => None,
        };
        Pending {
            principal,
            payment: Some(payment),
        }
    }

    fn networks(&self) -> String {
        self.chains
            .all()
            .iter()
            .map(|r| r.describe())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One `upto` offer per rail for a call whose worst case is `max_cost`.
    pub async fn offers(&self, max_cost: MicroUsdc) -> Result<Vec<UptoRequirements>, PayRefused> {
        let mut offers = Vec::new();
        for rail in self.chains.all() {
            offers.push(self.offer(rail, max_cost).await?);
        }
        Ok(offers)
    }

    async fn offer(
        &self,
        rail: &OnChain,
        max_cost: MicroUsdc,
    ) -> Result<UptoRequirements, PayRefused> {
        let facilitator = rail
            .client()
            .await
            .map_err(|e| unavailable(rail, e))?
            .address();
        Ok(UptoRequirements {
            network: rail.network.clone(),
            asset: rail.asset,
            pay_to: rail.treasury_vault,
            amount: rail.units(self.maximum(max_cost)),
            max_timeout_seconds: self.config.max_timeout_seconds,
            facilitator,
            min_validity_seconds: self.config.min_validity.as_secs(),
        })
    }

    /// Admit a call of worst case `max_cost` paid by `pending`: the payment must be for this
    /// call's offer, usable on chain now, and within the payer's limits; it is then claimed
    /// (a replay, on any node, is refused).
    pub async fn admit(
        &self,
        pending: Pending,
        max_cost: MicroUsdc,
        request_id: &str,
        now: u64,
    ) -> Result<PaidCall, PayRefused> {
        // Nothing is served whose record could not be made durable (as for balance calls).
        if let Some(Err(why)) = self.spool.as_ref().map(|s| s.healthy()) {
            log::warn!("pay per call: billing spool unavailable: {why}");
            return Err(PayRefused::LedgerUnavailable);
        }
        let payment = match pending.payment {
            None => {
                return Err(PayRefused::Payment {
                    code: "PAYMENT_REQUIRED",
                    message: "This call is paid per call with x402 `upto` (or send an API key): sign one of the offers and send it in PAYMENT-SIGNATURE".into(),
                    offers: self.offers(max_cost).await?,
                })
            }
            Some(p) => p,
        };
        let refuse = |code: &'static str, message: String, offers| PayRefused::Payment {
            code,
            message,
            offers,
        };
        let (payment, rail) = match payment {
            Ok(p) => p,
            Err(e) => {
                let offers = self.offers(max_cost).await?;
                return Err(refuse(e.upto_reason(), e.to_string(), offers));
            }
        };
        let offer = self.offer(&rail, max_cost).await?;
        let verified = match verify_upto_payment(&payment, &offer, now) {
            Ok(v) => v,
            Err(e) => {
                let offers = self.offers(max_cost).await?;
                return Err(refuse(e.upto_reason(), e.to_string(), offers));
            }
        };
        let auth = &verified.authorization;
        let payer = verified.payer();
        let client = rail.client().await.map_err(|e| unavailable(&rail, e))?;
        let maximum = auth.permitted.amount;
        let (used, allowance, balance) = tokio::join!(
            client.permit2_nonce_used(payer, auth.nonce),
            client.allowance(rail.asset, payer, PERMIT2_ADDRESS),
            client.token_balance(rail.asset, payer),
        );
        let (used, allowance, balance) = match (used, allowance, balance) {
            (Ok(u), Ok(a), Ok(b)) => (u, a, b),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Err(unavailable(&rail, e)),
        };
        if used {
            let offers = self.offers(max_cost).await?;
            return Err(refuse(
                "permit2_invalid_nonce",
                "This payment's Permit2 nonce is already used".into(),
                offers,
            ));
        }
        if allowance < maximum {
            return Err(PayRefused::AllowanceRequired {
                message: format!(
                    "The payer has approved {allowance} {} units to Permit2 ({PERMIT2_ADDRESS}); the call's maximum is {maximum}: approve Permit2 for the token, then pay again",
                    rail.symbol
                ),
                offers: self.offers(max_cost).await?,
            });
        }
        if balance < maximum {
            let offers = self.offers(max_cost).await?;
            return Err(refuse(
                "permit2_insufficient_balance",
                format!(
                    "The payer holds {balance} {} units, the call's maximum is {maximum}",
                    rail.symbol
                ),
                offers,
            ));
        }
        let id = paid_call_id(rail.chain_id, payer, auth.nonce);
        let max_amount = self.maximum(max_cost);
        let wallet = format!("{payer:#x}");
        let stored = serde_json::to_string(&payment.payload).expect("x402 types serialize");
        let opened = self
            .ledger
            .open_paid_call(
                &NewPaidCall {
                    id: &id,
                    request_id,
                    payer: &wallet,
                    chain_id: rail.chain_id as i64,
                    asset: &format!("{:#x}", rail.asset),
                    max_amount,
                    payment: &stored,
                    deadline_unix: auth.deadline.min(i64::MAX as u64) as i64,
                },
                PayerLimits {
                    max_calls: self.config.max_unsettled_calls,
                    max_amount: self.config.max_unsettled,
                    funds: RailFunds {
                        balance: rail.micro(balance),
                        allowance: rail.micro(allowance),
                    },
                    fleet_at_risk: self.config.max_at_risk,
                },
            )
            .await
            .map_err(|e| {
                log::warn!("pay per call: claiming {id}: {e}");
                PayRefused::LedgerUnavailable
            })?;
        match opened {
            Ok(()) => Ok(PaidCall {
                id,
                max_amount,
                ends_by: SystemTime::UNIX_EPOCH + Duration::from_secs(auth.deadline)
                    - self.config.settle_margin,
                cut_at: None,
                shrunk: false,
                cut: false,
            }),
            Err(PaidCallRefused::Replayed) => Err(refuse(
                "permit2_invalid_nonce",
                "This payment already paid for a call".into(),
                self.offers(max_cost).await?,
            )),
            Err(PaidCallRefused::Defaulted) => Err(PayRefused::Defaulted),
            Err(PaidCallRefused::TooManyCalls { open }) => Err(PayRefused::Limit(format!(
                "This payer has {open} calls not settled yet (at most {}); retry when they are",
                self.config.max_unsettled_calls
            ))),
            Err(PaidCallRefused::TooMuchUnsettled { open }) => Err(PayRefused::Limit(format!(
                "This payer's unsettled calls are worth {open} micro-USD; with this call's maximum of {max_amount} that passes the limit of {}",
                self.config.max_unsettled
            ))),
            Err(PaidCallRefused::AllowanceShort { open }) => Err(PayRefused::AllowanceRequired {
                message: format!(
                    "The payer's calls not settled yet on {} may still draw {open} micro-USD through Permit2; with this call's maximum of {max_amount} that passes its allowance of {allowance} units: approve more, or retry when they are settled",
                    rail.describe()
                ),
                offers: self.offers(max_cost).await?,
            }),
            Err(PaidCallRefused::BalanceShort { open }) => Err(refuse(
                "permit2_insufficient_balance",
                format!(
                    "The payer's calls not settled yet on {} may still draw {open} micro-USD; with this call's maximum of {max_amount} that passes its balance of {balance} units",
                    rail.describe()
                ),
                self.offers(max_cost).await?,
            )),
            Err(PaidCallRefused::FleetAtRisk { at_risk }) => {
                log::warn!(
                    "pay per call: {at_risk} micro-USD at risk fleet-wide; refusing a call of maximum {max_amount} (max_at_risk_usd)"
                );
                Err(PayRefused::FleetAtRisk)
            }
        }
    }
}

/// `upto:<chain>:<payer>:<nonce as 32 bytes>`: Permit2 keeps one nonce bitmap per owner on a
/// chain, whatever the token, so one nonce signed for two tokens can pay only once — and is
/// one claim here (naming the token would admit both, and one settlement would fail).
pub fn paid_call_id(chain_id: u64, payer: Address, nonce: U256) -> String {
    format!("upto:{chain_id}:{payer:#x}:{:#x}", B256::from(nonce))
}

/// The chain, payer and nonce of a [`paid_call_id`].
pub fn parse_paid_call_id(id: &str) -> Option<(u64, Address, U256)> {
    let mut parts = id.strip_prefix("upto:")?.split(':');
    let chain = parts.next()?.parse().ok()?;
    let payer = parts.next()?.parse().ok()?;
    let nonce: B256 = parts.next()?.parse().ok()?;
    parts
        .next()
        .is_none()
        .then_some((chain, payer, U256::from_be_bytes(nonce.0)))
}

fn unavailable(rail: &OnChain, e: ChainError) -> PayRefused {
    log::warn!("pay per call on {}: {e}", rail.describe());
    PayRefused::ChainUnavailable
}
