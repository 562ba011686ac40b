//! The stack the payout and withdrawal tests run on: a chain with a funded pool, a migrated
//! database, a gateway settling on both, and the readers those tests share.

use crate::common::chain::{Chain, USDC};
use crate::common::ledger::*;
use crate::common::siwe::SiweMsg;
use crate::common::*;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use tollgate_chain::anvil::ANVIL_CHAIN_ID;
use tollgate_chain::contracts::PayoutVault;

pub(super) const BUYER: &str = "0x00000000000000000000000000000000000000b1";

/// What only the payout tests read from the chain.
pub(super) trait PayoutChain {
    async fn pool_pending(&self) -> u64;
    async fn paid_out(&self) -> Vec<(B256, Address, U256)>;
}

impl PayoutChain for Chain {
    /// Transactions waiting in anvil's pool.
    async fn pool_pending(&self) -> u64 {
        let s = self.rpc("txpool_status", json!([])).await;
        match &s["pending"] {
            Value::String(h) => u64::from_str_radix(h.trim_start_matches("0x"), 16).unwrap(),
            v => v.as_u64().unwrap(),
        }
    }

    /// Every `PaidOut(batchId, to, amount)` the PayoutVault emitted.
    async fn paid_out(&self) -> Vec<(B256, Address, U256)> {
        let filter = Filter::new()
            .address(self.dep.payout_vault)
            .event_signature(PayoutVault::PaidOut::SIGNATURE_HASH)
            .from_block(0u64);
        self.admin
            .provider()
            .get_logs(&filter)
            .await
            .unwrap()
            .iter()
            .map(|l| {
                let e = PayoutVault::PaidOut::decode_log_data(l.data()).unwrap();
                (e.batchId, e.to, e.amount)
            })
            .collect()
    }
}

/// A chain, a migrated database, a gateway on both with provider `pa` paid to `payee` and `pb`
/// not paid on chain.
pub(super) struct Stack {
    pub(super) chain: Chain,
    pub(super) gw: Gateway,
    pub(super) url: String,
    pub(super) payee: PrivateKeySigner,
    pub(super) _mock: Mock,
}

impl Stack {
    pub(super) async fn start(payouts: &str, receipt_timeout: &str) -> Stack {
        let chain = Chain::with_funded_pool().await;
        let url = migrated_db().await;
        let mock = Mock::start().await;
        let payee = PrivateKeySigner::random();
        let providers = format!(
            r#"
  - {{ id: pa, kind: openai, base_url: "http://{m}/v1", payout_address: "{p:#x}", models: [{{ id: m, pricing: {{ prompt: 1, completion: 2 }} }}] }}
  - {{ id: pb, kind: anthropic, base_url: "http://{m}", models: [{{ id: c, pricing: {{ prompt: 1, completion: 2 }} }}] }}
"#,
            m = mock.addr,
            p = payee.address()
        );
        let mut opts = GatewayOpts::new(providers);
        opts.billing = billing_yaml(&url, "");
        opts.public_url = Some(String::new());
        opts.extra = chain.yaml(&format!(
            "  receipt_timeout: {receipt_timeout}\n  payouts: {{ {payouts} }}\n"
        ));
        opts.env = vec![chain.env()];
        let gw = Gateway::start(opts).await;
        Stack {
            chain,
            gw,
            url,
            payee,
            _mock: mock,
        }
    }

    /// `provider` earns `micro` (a usage transfer from a credited buyer, as a settlement
    /// batch would write it).
    pub(super) async fn earn(&self, provider: &str, micro: i64) {
        credit(&self.gw, BUYER, &format!("{}", micro as f64 / USDC as f64));
        let mut c = pg::client(&self.url).await;
        let tx = c.transaction().await.unwrap();
        let key = format!("test-usage-{}", free_port());
        let id: i64 = tx
            .query_one(
                "INSERT INTO transfers (kind, idempotency_key, memo) VALUES ('usage', $1, 'test') RETURNING id",
                &[&key],
            )
            .await
            .unwrap()
            .get(0);
        let wallet: i64 = tx
            .query_one(
                "SELECT account_id FROM wallets WHERE address = $1",
                &[&BUYER],
            )
            .await
            .unwrap()
            .get(0);
        let prov: i64 = tx
            .query_one(
                "SELECT account_id FROM providers WHERE id = $1",
                &[&provider],
            )
            .await
            .unwrap()
            .get(0);
        for (account, amount) in [(wallet, -micro), (prov, micro)] {
            tx.execute(
                "INSERT INTO entries (transfer_id, account_id, amount) VALUES ($1, $2, $3)",
                &[&id, &account, &amount],
            )
            .await
            .unwrap();
            tx.execute(
                "UPDATE accounts SET balance = balance + $2 WHERE id = $1",
                &[&account, &amount],
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }

    pub(super) fn payouts_run(&self) -> (bool, String) {
        let out = self.gw.cli(&["payouts", "run"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// `tollgate payouts run` as a child process (to kill it mid-way).
    pub(super) fn spawn_payouts_run(&self) -> std::process::Child {
        Command::new(crate::common::tollgate_bin())
            .arg("-c")
            .arg(&self.gw.config.0)
            .args(["payouts", "run"])
            .env("RUST_LOG", "warn")
            .envs([self.chain.env()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// (batch_id, seq, amount, status, tx_hash, error) of every payout, by seq.
    pub(super) async fn payouts(
        &self,
    ) -> Vec<(String, i64, i64, String, Option<String>, Option<String>)> {
        pg::client(&self.url)
            .await
            .query(
                "SELECT batch_id, seq, amount, status, tx_hash, error FROM payouts ORDER BY provider, seq",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
            .collect()
    }

    pub(super) async fn earnings_balance(&self, provider: &str) -> i64 {
        pg::client(&self.url)
            .await
            .query_one(
                "SELECT a.balance FROM providers p JOIN accounts a ON a.id = p.account_id WHERE p.id = $1",
                &[&provider],
            )
            .await
            .unwrap()
            .get(0)
    }

    pub(super) async fn wallet_balance(&self, wallet: &str) -> i64 {
        pg::client(&self.url)
            .await
            .query_opt(
                "SELECT a.balance FROM wallets w JOIN accounts a ON a.id = w.account_id WHERE w.address = $1",
                &[&wallet],
            )
            .await
            .unwrap()
            .map_or(0, |r| r.get(0))
    }

    /// (status, amount, error) of every withdrawal, oldest first.
    pub(super) async fn withdrawals(&self) -> Vec<(String, i64, Option<String>)> {
        pg::client(&self.url)
            .await
            .query(
                "SELECT status, amount, error FROM withdrawals ORDER BY created_at",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    pub(super) async fn withdraw(&self, signer: &PrivateKeySigner, amount: Value) -> (u16, Value) {
        let (message, signature) =
            SiweMsg::for_gateway(signer, &self.gw.base, ANVIL_CHAIN_ID).signed(signer);
        let r = reqwest::Client::new()
            .post(self.gw.url("/v1/withdraw"))
            .json(&json!({"message": message, "signature": signature, "amount": amount}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub(super) async fn earnings(&self, signer: &PrivateKeySigner) -> (u16, Value) {
        let (message, signature) =
            SiweMsg::for_gateway(signer, &self.gw.base, ANVIL_CHAIN_ID).signed(signer);
        let r = reqwest::Client::new()
            .get(self.gw.url("/provider/earnings"))
            .query(&[("message", &message), ("signature", &signature)])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// Pretend the request that left a withdrawal pending is long gone.
    pub(super) async fn age_withdrawals(&self) {
        pg::client(&self.url)
            .await
            .execute(
                "UPDATE withdrawals SET updated_at = now() - interval '1 day' WHERE status = 'pending'",
                &[],
            )
            .await
            .unwrap();
    }
}

pub(super) const EVERY_RUN: &str = "threshold_usd: 0.000001, min_interval: 1ms";
