//! Provider payouts and buyer withdrawals against a real anvil running the repo's contracts, a
//! real Postgres and real `tollgate` processes: pay once, survive a crash between send and
//! receipt, refuse a replayed batch on chain, withdraw and roll back, and `ledger check` after
//! each. Needs anvil (`bash scripts/contracts.sh install`) and Postgres (`scripts/pg.sh`).


use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};
use crate::common::ledger::*;
use crate::common::siwe::SiweMsg;
use crate::common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};
use tollgate_chain::anvil::{Anvil, ANVIL_CHAIN_ID, DEV_KEYS};
use tollgate_chain::contracts::{PayoutVault, TreasuryVault};
use tollgate_chain::deploy::{deploy, mint, DeployOptions, Deployment};
use tollgate_chain::{ChainClient, ChainConfig, ChainError};

/// The gateway reads its operator key from here (`operator_key: ${…}`).
const OPERATOR_ENV: &str = "TOLLGATE_TEST_OPERATOR_KEY";
const USDC: i64 = 1_000_000;
const BUYER: &str = "0x00000000000000000000000000000000000000b1";

async fn chain_client(anvil: &Anvil, key: &str) -> ChainClient {
    let mut c = ChainConfig::new(anvil.url()).with_chain_id(ANVIL_CHAIN_ID);
    c.poll_interval = Duration::from_millis(20);
    c.confirmation_timeout = Duration::from_secs(20);
    ChainClient::connect(c, key).await.unwrap()
}

/// anvil with MockUSDC + vaults; dev key 0 is the admin, dev key 2 operates both vaults (and is
/// the gateway's key); dev key 1 deposited 500 USDC into the TreasuryVault pool.
struct Chain {
    anvil: Anvil,
    dep: Deployment,
    admin: ChainClient,
    operator: ChainClient,
    file: tempfile_path::TempPath,
}

impl Chain {
    async fn start() -> Chain {
        let anvil = Anvil::spawn().expect("anvil (run `bash scripts/contracts.sh install`)");
        let admin = chain_client(&anvil, DEV_KEYS[0]).await;
        let operator = chain_client(&anvil, DEV_KEYS[2]).await;
        let depositor = chain_client(&anvil, DEV_KEYS[1]).await;
        let options = DeployOptions {
            treasury_operator: Some(operator.address()),
            payout_operator: Some(operator.address()),
            mint: vec![(depositor.address(), U256::from(1_000 * USDC))],
            ..Default::default()
        };
        let dep = deploy(&admin, &options).await.unwrap();
        depositor
            .approve_and_deposit(dep.usdc, dep.treasury_vault, U256::from(500 * USDC))
            .await
            .unwrap();
        let path = std::env::temp_dir().join(format!("tollgate-deployment-{}.json", free_port()));
        dep.write(&path).unwrap();
        Chain {
            anvil,
            dep,
            admin,
            operator,
            file: tempfile_path::TempPath(path),
        }
    }

    /// The gateway's `chain:` section.
    fn yaml(&self, payouts: &str, receipt_timeout: &str) -> String {
        format!(
            "chain:\n  chain_id: {ANVIL_CHAIN_ID}\n  rpc_url: {}\n  deployment: \"{}\"\n  operator_key: \"${{{OPERATOR_ENV}}}\"\n  confirmations: 1\n  receipt_timeout: {receipt_timeout}\n  payouts: {{ {payouts} }}\n",
            self.anvil.url(),
            self.file.0.display()
        )
    }

    async fn usdc_of(&self, who: Address) -> i64 {
        let b = self.admin.token_balance(self.dep.usdc, who).await.unwrap();
        i64::try_from(b).unwrap()
    }

    async fn rpc(&self, method: &'static str, params: Value) -> Value {
        self.admin
            .raw_request::<Value>(method, params)
            .await
            .unwrap()
    }

    async fn automine(&self, on: bool) {
        self.rpc("evm_setAutomine", json!([on])).await;
    }

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

    /// The admin pauses (or unpauses) a vault.
    async fn pause(&self, vault: Address, paused: bool) {
        let input = if paused {
            TreasuryVault::pauseCall {}.abi_encode()
        } else {
            TreasuryVault::unpauseCall {}.abi_encode()
        };
        let tx = TransactionRequest::default()
            .with_to(vault)
            .with_input(input);
        self.admin.send_and_confirm(tx).await.unwrap();
    }
}

/// A chain, a migrated database, a gateway on both with provider `pa` paid to `payee` and `pb`
/// not paid on chain.
struct Stack {
    chain: Chain,
    gw: Gateway,
    url: String,
    payee: PrivateKeySigner,
    _mock: Mock,
}

impl Stack {
    async fn start(payouts: &str, receipt_timeout: &str) -> Stack {
        let chain = Chain::start().await;
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
        opts.extra = chain.yaml(payouts, receipt_timeout);
        opts.env = vec![(OPERATOR_ENV.into(), DEV_KEYS[2].into())];
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
    async fn earn(&self, provider: &str, micro: i64) {
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

    fn payouts_run(&self) -> (bool, String) {
        let out = self.gw.cli(&["payouts", "run"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// `tollgate payouts run` as a child process (to kill it mid-way).
    fn spawn_payouts_run(&self) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("-c")
            .arg(&self.gw.config.0)
            .args(["payouts", "run"])
            .env("RUST_LOG", "warn")
            .env(OPERATOR_ENV, DEV_KEYS[2])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// (batch_id, seq, amount, status, tx_hash, error) of every payout, by seq.
    async fn payouts(&self) -> Vec<(String, i64, i64, String, Option<String>, Option<String>)> {
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

    async fn earnings_balance(&self, provider: &str) -> i64 {
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

    async fn wallet_balance(&self, wallet: &str) -> i64 {
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
    async fn withdrawals(&self) -> Vec<(String, i64, Option<String>)> {
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

    async fn withdraw(&self, signer: &PrivateKeySigner, amount: Value) -> (u16, Value) {
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

    async fn earnings(&self, signer: &PrivateKeySigner) -> (u16, Value) {
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
    async fn age_withdrawals(&self) {
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

const EVERY_RUN: &str = "threshold_usd: 0.000001, min_interval: 1ms";

fn wallet_of(s: &PrivateKeySigner) -> String {
    format!("{:#x}", s.address())
}

async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> F,
) {
    let deadline = Instant::now() + limit;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn payout_run_pays_a_provider_once_and_shows_in_its_earnings() {
    let s = Stack::start(EVERY_RUN, "20s").await;
    let pool_before = s
        .chain
        .admin
        .pool_balance(s.chain.dep.treasury_vault)
        .await
        .unwrap();
    s.earn("pa", 3 * USDC).await;
    s.earn("pb", USDC).await; // no payout_address: never paid on chain

    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    assert!(out.contains("paid 3000000 micro-USDC"), "{out}");
    let rows = s.payouts().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (batch, seq, amount, status, tx, _) = &rows[0];
    assert_eq!((*seq, *amount, status.as_str()), (1, 3 * USDC, "paid"));
    assert!(tx.as_deref().is_some_and(|t| t.len() == 66), "{tx:?}");

    // On chain: one PaidOut for this batch, the provider holds the USDC, the PayoutVault was
    // funded from the pool by exactly what it lacked.
    let paid = s.chain.paid_out().await;
    assert_eq!(
        paid,
        vec![(
            B256::from_str(batch).unwrap(),
            s.payee.address(),
            U256::from(3 * USDC)
        )]
    );
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, 3 * USDC);
    let pool_after = s
        .chain
        .admin
        .pool_balance(s.chain.dep.treasury_vault)
        .await
        .unwrap();
    assert_eq!(pool_before - pool_after, U256::from(3 * USDC));
    assert_eq!(s.earnings_balance("pa").await, 0);
    assert_eq!(s.earnings_balance("pb").await, USDC);
    ledger_check(&s.gw);

    // A second run pays nothing new.
    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    assert!(!out.contains("paid "), "{out}");
    assert_eq!(s.payouts().await.len(), 1);
    assert_eq!(s.chain.paid_out().await.len(), 1);
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, 3 * USDC);
    ledger_check(&s.gw);

    // The payout address sees its provider's earnings over SIWE; any other wallet is refused.
    s.earn("pa", 250_000).await;
    let (status, v) = s.earnings(&s.payee).await;
    assert_eq!(status, 200, "{v}");
    let d = &v["data"][0];
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(d["provider"], "pa");
    assert_eq!(d["payout_address"], wallet_of(&s.payee));
    assert_eq!(d["pending_usdc"], 250_000);
    assert_eq!(d["in_flight_usdc"], 0);
    assert_eq!(d["paid_usdc"], 3 * USDC);
    assert!(d["last_payout_at"].as_str().unwrap().ends_with('Z'), "{v}");
    let p = &d["payouts"][0];
    assert_eq!(p["batch_id"], batch.as_str());
    assert_eq!(p["amount_usdc"], 3 * USDC);
    assert_eq!(p["status"], "paid");
    assert_eq!(p["tx_hash"], tx.as_deref().unwrap());
    let (status, v) = s.earnings(&PrivateKeySigner::random()).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (403, Some("FORBIDDEN")),
        "{v}"
    );
}

#[tokio::test]
async fn payout_interrupted_between_send_and_receipt_is_reconciled() {
    let s = Stack::start(EVERY_RUN, "20s").await;
    // Enough in the PayoutVault already: the run sends only the payout itself.
    mint(
        &s.chain.admin,
        s.chain.dep.usdc,
        s.chain.dep.payout_vault,
        U256::from(10 * USDC),
    )
    .await
    .unwrap();

    // 1. Killed while its payout waits to be mined; the transaction is mined afterwards.
    s.earn("pa", 2 * USDC).await;
    s.chain.automine(false).await;
    let mut child = s.spawn_payouts_run();
    wait_until(
        "the payout in the mempool",
        Duration::from_secs(30),
        || async { s.chain.pool_pending().await >= 1 },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let rows = s.payouts().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].3, "pending", "written before sending: {rows:?}");
    assert_eq!(s.earnings_balance("pa").await, 0, "moved out with the row");
    s.chain.rpc("evm_mine", json!([])).await;
    s.chain.automine(true).await;

    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    let rows = s.payouts().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].3, "paid");
    assert_eq!(
        s.chain.paid_out().await.len(),
        1,
        "paid exactly once on chain"
    );
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, 2 * USDC);
    ledger_check(&s.gw);

    // 2. Killed while its payout waits; the transaction is lost: the next run sends it again.
    s.earn("pa", USDC).await;
    s.chain.automine(false).await;
    let mut child = s.spawn_payouts_run();
    wait_until(
        "the payout in the mempool",
        Duration::from_secs(30),
        || async { s.chain.pool_pending().await >= 1 },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    s.chain.rpc("anvil_dropAllTransactions", json!([])).await;
    s.chain.automine(true).await;
    assert_eq!(s.payouts().await[1].3, "pending");

    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    let rows = s.payouts().await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r.3 == "paid"), "{rows:?}");
    let paid = s.chain.paid_out().await;
    assert_eq!(paid.len(), 2, "{paid:?}");
    assert_eq!(paid[1].0, B256::from_str(&rows[1].0).unwrap());
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, 3 * USDC);
    ledger_check(&s.gw);
}

#[tokio::test]
async fn replayed_batch_reverts_and_a_paused_vault_leaves_the_payout_pending() {
    let s = Stack::start(EVERY_RUN, "20s").await;
    s.earn("pa", USDC).await;
    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    let batch = B256::from_str(&s.payouts().await[0].0).unwrap();

    // The same batchId again, straight to the vault: refused on chain, nothing paid.
    let err = s
        .chain
        .operator
        .payout(
            s.chain.dep.payout_vault,
            s.payee.address(),
            U256::from(USDC),
            batch,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChainError::BatchAlreadyExecuted(b) if b == batch),
        "{err:?}"
    );
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, USDC);

    // Paused: the payout is written, cannot be sent, stays pending; the run says so (exit 1).
    s.chain.pause(s.chain.dep.payout_vault, true).await;
    s.earn("pa", 2 * USDC).await;
    let (ok, out) = s.payouts_run();
    assert!(!ok, "{out}");
    assert!(out.contains("PENDING"), "{out}");
    let rows = s.payouts().await;
    assert_eq!(rows[1].3, "pending");
    assert!(
        rows[1].5.as_deref().unwrap_or_default().contains("paused"),
        "{rows:?}"
    );
    ledger_check(&s.gw);

    // An operator gives it up: earnings return to the provider.
    let out = s.gw.cli(&["payouts", "cancel", &rows[1].0]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.payouts().await[1].3, "failed");
    assert_eq!(s.earnings_balance("pa").await, 2 * USDC);
    ledger_check(&s.gw);
    // A cancelled payout cannot be cancelled again.
    assert!(!s
        .gw
        .cli(&["payouts", "cancel", &rows[1].0])
        .status
        .success());

    // Unpaused, the next run pays the earnings under a new batch.
    s.chain.pause(s.chain.dep.payout_vault, false).await;
    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    let rows = s.payouts().await;
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (rows[2].1, rows[2].2, rows[2].3.as_str()),
        (3, 2 * USDC, "paid")
    );
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, 3 * USDC);
    assert_eq!(s.chain.paid_out().await.len(), 2);
    ledger_check(&s.gw);
}

#[tokio::test]
async fn withdrawal_pays_the_wallet_on_chain_and_refuses_bad_amounts() {
    let s = Stack::start(EVERY_RUN, "20s").await;
    let buyer = PrivateKeySigner::random();
    let wallet = wallet_of(&buyer);
    credit(&s.gw, &wallet, "5");

    let (status, v) = s.withdraw(&buyer, json!(2)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "paid");
    assert_eq!(v["amount_usdc"], 2 * USDC);
    assert_eq!(v["balance_usdc"], 3 * USDC);
    assert_eq!(v["withdrawal_id"].as_str().unwrap().len(), 66);
    assert_eq!(v["tx_hash"].as_str().unwrap().len(), 66);
    assert_eq!(s.chain.usdc_of(buyer.address()).await, 2 * USDC);
    assert_eq!(s.wallet_balance(&wallet).await, 3 * USDC);
    let executed = s
        .chain
        .admin
        .executed_withdrawal(
            s.chain.dep.treasury_vault,
            B256::from_str(v["withdrawal_id"].as_str().unwrap()).unwrap(),
        )
        .await
        .unwrap();
    assert!(executed);
    // A decimal string works too.
    let (status, v) = s.withdraw(&buyer, json!("0.25")).await;
    assert_eq!(
        (status, &v["balance_usdc"]),
        (200, &json!(2_750_000)),
        "{v}"
    );
    ledger_check(&s.gw);

    // More than available: 402, nothing moved.
    let (status, v) = s.withdraw(&buyer, json!(10)).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (402, Some("INSUFFICIENT_BALANCE")),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap().contains("2750000 available"),
        "{v}"
    );
    // Not a positive USD amount with ≤ 6 decimals: 400.
    for bad in [
        json!(0),
        json!(-1),
        json!("abc"),
        json!(0.0000001),
        json!(null),
        json!([1]),
    ] {
        let (status, v) = s.withdraw(&buyer, bad.clone()).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (400, Some("VALIDATION_ERROR")),
            "{bad}: {v}"
        );
    }
    // A wallet the ledger never saw has nothing to withdraw.
    let (status, _) = s.withdraw(&PrivateKeySigner::random(), json!(1)).await;
    assert_eq!(status, 402);
    // No SIWE, no withdrawal.
    let r = reqwest::Client::new()
        .post(s.gw.url("/v1/withdraw"))
        .json(&json!({"amount": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(s.wallet_balance(&wallet).await, 2_750_000);
    assert_eq!(s.chain.usdc_of(buyer.address()).await, 2_250_000);
    assert_eq!(s.withdrawals().await.len(), 2);
    ledger_check(&s.gw);
}

#[tokio::test]
async fn withdrawal_is_rolled_back_when_the_vault_refuses() {
    let s = Stack::start(EVERY_RUN, "20s").await;
    let buyer = PrivateKeySigner::random();
    let wallet = wallet_of(&buyer);
    credit(&s.gw, &wallet, "5");
    s.chain.pause(s.chain.dep.treasury_vault, true).await;

    let (status, v) = s.withdraw(&buyer, json!(1)).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"], "CHAIN_UNAVAILABLE");
    assert!(v["message"].as_str().unwrap().contains("paused"), "{v}");
    assert_eq!(s.wallet_balance(&wallet).await, 5 * USDC, "credited back");
    assert_eq!(s.chain.usdc_of(buyer.address()).await, 0);
    let rows = s.withdrawals().await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("failed", USDC));
    ledger_check(&s.gw);

    s.chain.pause(s.chain.dep.treasury_vault, false).await;
    let (status, v) = s.withdraw(&buyer, json!(1)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(s.wallet_balance(&wallet).await, 4 * USDC);
    ledger_check(&s.gw);

    // `ledger check` notices a row that disagrees with its transfers.
    pg::client(&s.url)
        .await
        .execute(
            "UPDATE withdrawals SET status = 'failed' WHERE status = 'paid'",
            &[],
        )
        .await
        .unwrap();
    let out = s.gw.cli(&["ledger", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("withdrawal 0x") && text.contains("reversal none"),
        "{text}"
    );
}

#[tokio::test]
async fn withdrawal_with_an_unknown_outcome_is_reconciled() {
    let s = Stack::start(EVERY_RUN, "2s").await;
    let buyer = PrivateKeySigner::random();
    let wallet = wallet_of(&buyer);
    credit(&s.gw, &wallet, "5");

    // Sent, never confirmed in time: 202 pending, the debit stands.
    s.chain.automine(false).await;
    let (status, v) = s.withdraw(&buyer, json!(1)).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["status"], "pending");
    assert!(v["tx_hash"].is_string(), "{v}");
    assert_eq!(s.wallet_balance(&wallet).await, 4 * USDC);
    // Mined later: the reconciler marks it paid.
    s.chain.rpc("evm_mine", json!([])).await;
    s.chain.automine(true).await;
    s.age_withdrawals().await;
    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    assert!(out.contains("paid (reconciled)"), "{out}");
    assert_eq!(s.withdrawals().await[0].0, "paid");
    assert_eq!(s.chain.usdc_of(buyer.address()).await, USDC);
    ledger_check(&s.gw);

    // Lost instead: the reconciler credits it back.
    s.chain.automine(false).await;
    let (status, v) = s.withdraw(&buyer, json!(2)).await;
    assert_eq!(status, 202, "{v}");
    s.chain.rpc("anvil_dropAllTransactions", json!([])).await;
    s.chain.automine(true).await;
    s.age_withdrawals().await;
    let (ok, out) = s.payouts_run();
    assert!(ok, "{out}");
    assert!(out.contains("reversed"), "{out}");
    let rows = s.withdrawals().await;
    assert_eq!(rows[1].0, "failed", "{rows:?}");
    assert_eq!(s.wallet_balance(&wallet).await, 4 * USDC);
    assert_eq!(s.chain.usdc_of(buyer.address()).await, USDC);
    ledger_check(&s.gw);
}

#[tokio::test]
async fn scheduled_payout_pays_earnings_from_real_traffic() {
    // Every second in the gateway; at most one payout an hour per provider.
    let s = Stack::start(
        "threshold_usd: 0.000001, min_interval: 1h, schedule: 1s",
        "20s",
    )
    .await;
    let key = create_key(&s.gw, BUYER);
    credit(&s.gw, BUYER, "1");
    let body =
        json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..3 {
        let r = post_json(&s.gw.url("/v1/chat/completions"), Some(&key), &body, &[]).await;
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
    }
    wait_until("a paid payout", Duration::from_secs(30), || async {
        s.payouts().await.iter().any(|r| r.3 == "paid")
    })
    .await;
    // Let the last usage batches land, then: what was paid plus what is still pending is
    // exactly what the provider earned.
    wait_until("all requests settled", Duration::from_secs(10), || async {
        let c = pg::client(&s.url).await;
        let n: i64 = c
            .query_one("SELECT COUNT(*) FROM request_log", &[])
            .await
            .unwrap()
            .get(0);
        n == 3
    })
    .await;
    let earned: i64 = pg::client(&s.url)
        .await
        .query_one(
            "SELECT SUM(provider_cost)::BIGINT FROM request_log WHERE provider = 'pa'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let rows = s.payouts().await;
    assert_eq!(rows.len(), 1, "min_interval: one payout: {rows:?}");
    let paid = rows[0].2;
    assert!(paid > 0);
    assert_eq!(paid + s.earnings_balance("pa").await, earned);
    assert_eq!(s.chain.usdc_of(s.payee.address()).await, paid);
    assert_eq!(s.chain.paid_out().await.len(), 1);
    ledger_check(&s.gw);
}

#[tokio::test]
async fn without_settlement_the_endpoints_answer_404() {
    let url = migrated_db().await;
    let mock = Mock::start().await;
    let mut opts = GatewayOpts::new(format!(
        r#"
  - {{ id: pa, kind: openai, base_url: "http://{}/v1", models: [{{ id: m, pricing: {{ prompt: 1, completion: 2 }} }}] }}
"#,
        mock.addr
    ));
    opts.billing = billing_yaml(&url, "");
    opts.public_url = Some(String::new());
    opts.extra = format!("chain: {{ chain_id: {ANVIL_CHAIN_ID} }}\n");
    let gw = Gateway::start(opts).await;
    let r = reqwest::Client::new()
        .post(gw.url("/v1/withdraw"))
        .json(&json!({"message": "m", "signature": "0x", "amount": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["message"].as_str().unwrap().contains("not configured"),
        "{v}"
    );
    let r = reqwest::get(gw.url("/provider/earnings?message=m&signature=0x"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Wrong methods are told so.
    let r = reqwest::get(gw.url("/v1/withdraw")).await.unwrap();
    assert_eq!(r.status(), 405);
}
