//! A local chain for the money tests: anvil with the repo's contracts deployed, and the
//! `chain:` section a gateway needs to settle on it.
//!
//! Two shapes, because the tests cover two deployments: [`Chain::deployed_by_cli`] runs
//! `tollgate chain deploy-local` as the demo does (dev key 0 deploys and operates both vaults),
//! [`Chain::with_funded_pool`] deploys through the library with dev key 2 as the operator and
//! 500 USDC deposited into the TreasuryVault pool by dev key 1 (payouts and withdrawals draw on
//! it). Either way the gateway reads the operator key from [`OPERATOR_ENV`].

use super::ledger::billing_yaml;
use super::{tempfile_path::TempPath, temp_path, Gateway, GatewayOpts, Mock};
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use serde_json::{json, Value};
use std::str::FromStr;
use std::time::Duration;
use tollgate_chain::anvil::{Anvil, ANVIL_CHAIN_ID, DEV_KEYS};
use tollgate_chain::contracts::TreasuryVault;
use tollgate_chain::deploy::{deploy, DeployOptions, Deployment};
use tollgate_chain::x402::{self, ExactAuthorization, ExactEvmPayload, PaymentPayload};
use tollgate_chain::{ChainClient, ChainConfig};

/// The gateway reads its operator key from this variable (`operator_key: ${…}`).
pub const OPERATOR_ENV: &str = "TOLLGATE_TEST_OPERATOR_KEY";
/// One USDC in micro-USDC (and in MockUSDC units: 6 decimals).
pub const USDC: i64 = 1_000_000;

pub struct Chain {
    pub anvil: Anvil,
    pub dep: Deployment,
    /// Dev key 0: the deployer and admin of both vaults.
    pub admin: ChainClient,
    /// The vaults' operator (the gateway's key).
    pub operator: ChainClient,
    operator_key: &'static str,
    pub file: TempPath,
    /// `chain.confirmations` in the gateway's config (`None`: the chain's default).
    confirmations: Option<u64>,
}

/// A client of `anvil` signing with `key`, polling quickly.
pub async fn chain_client(anvil: &Anvil, key: &str) -> ChainClient {
    let mut c = ChainConfig::new(anvil.url()).with_chain_id(anvil.chain_id());
    c.poll_interval = Duration::from_millis(20);
    c.confirmation_timeout = Duration::from_secs(20);
    ChainClient::connect(c, key).await.unwrap()
}

impl Chain {
    /// anvil + `tollgate chain deploy-local` (the CLI the demo uses), minting `USD` to each
    /// address; dev key 0 deploys and operates.
    pub async fn deployed_by_cli(mint: &[(Address, u64)]) -> Chain {
        Self::deployed_by_cli_on(ANVIL_CHAIN_ID, &[], mint).await
    }

    /// [`Self::deployed_by_cli`] on an anvil posing as `chain_id`, started with `args`.
    pub async fn deployed_by_cli_on(
        chain_id: u64,
        args: &[&str],
        mint: &[(Address, u64)],
    ) -> Chain {
        Self::deployed(chain_id, args, mint, None).await
    }

    /// [`Self::deployed_by_cli_on`] with a MockUSDT of `decimals` (paid through Permit2, its
    /// own vaults; the mints are made in it too) and Permit2 + the x402 proxies placed.
    pub async fn with_usdt_on(chain_id: u64, decimals: u8, mint: &[(Address, u64)]) -> Chain {
        Self::deployed(chain_id, &[], mint, Some(decimals)).await
    }

    async fn deployed(
        chain_id: u64,
        args: &[&str],
        mint: &[(Address, u64)],
        usdt: Option<u8>,
    ) -> Chain {
        let anvil = Anvil::spawn_on_chain(chain_id, args)
            .expect("anvil (run `bash scripts/contracts.sh install`)");
        let file = temp_path("tollgate-deploy", ".json");
        let mut args = vec![
            "chain".to_string(),
            "deploy-local".into(),
            "--rpc".into(),
            anvil.url().to_string(),
            "--out".into(),
            file.display().to_string(),
        ];
        for (a, usd) in mint {
            args.push("--mint".into());
            args.push(format!("{a:#x}={usd}"));
        }
        if let Some(d) = usdt {
            args.push("--usdt".into());
            args.push(d.to_string());
        }
        let out = std::process::Command::new(crate::common::tollgate_bin())
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dep = Deployment::read(&file).unwrap();
        let admin = chain_client(&anvil, DEV_KEYS[0]).await;
        Chain {
            operator: admin.clone(),
            admin,
            anvil,
            dep,
            operator_key: DEV_KEYS[0],
            file: TempPath(file),
            confirmations: Some(1),
        }
    }

    /// Leave `chain.confirmations` out of the gateway's config: the chain's default applies.
    pub fn with_default_confirmations(mut self) -> Chain {
        self.confirmations = None;
        self
    }

    /// MockUSDC + vaults deployed by dev key 0, operated by dev key 2; dev key 1 deposited 500
    /// USDC into the TreasuryVault pool.
    pub async fn with_funded_pool() -> Chain {
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
        let path = temp_path("tollgate-deployment", ".json");
        dep.write(&path).unwrap();
        Chain {
            anvil,
            dep,
            admin,
            operator,
            operator_key: DEV_KEYS[2],
            file: TempPath(path),
            confirmations: Some(1),
        }
    }

    /// The gateway's `chain:` section; `extra` holds more of its lines, each indented by two
    /// spaces (`receipt_timeout`, `payouts`, …).
    pub fn yaml(&self, extra: &str) -> String {
        let confirmations = self
            .confirmations
            .map(|n| format!("  confirmations: {n}\n"))
            .unwrap_or_default();
        format!(
            "chain:\n  chain_id: {}\n  rpc_url: \"{}\"\n  deployment: \"{}\"\n  operator_key: \"${{{OPERATOR_ENV}}}\"\n{confirmations}{extra}",
            self.anvil.chain_id(),
            self.anvil.url(),
            self.file.0.display()
        )
    }

    /// This chain as an entry of a `chain:` list; `extra` holds more of its lines, each
    /// indented by four spaces.
    pub fn list_entry(&self, extra: &str) -> String {
        format!(
            "  - chain_id: {}\n    rpc_url: \"{}\"\n    deployment: \"{}\"\n    operator_key: \"${{{OPERATOR_ENV}}}\"\n    confirmations: 1\n    receipt_timeout: 20s\n    reconcile_every: 300ms\n{extra}",
            self.anvil.chain_id(),
            self.anvil.url(),
            self.file.0.display()
        )
    }

    /// The environment a gateway (or CLI) settling on this chain needs.
    pub fn env(&self) -> (String, String) {
        (OPERATOR_ENV.to_string(), self.operator_key.to_string())
    }

    pub async fn usdc_of(&self, who: Address) -> i64 {
        let b = self.admin.token_balance(self.dep.usdc, who).await.unwrap();
        i64::try_from(b).unwrap()
    }

    /// A JSON-RPC call to anvil (its test-only methods too).
    pub async fn rpc(&self, method: &'static str, params: Value) -> Value {
        self.admin
            .raw_request::<Value>(method, params)
            .await
            .unwrap()
    }

    pub async fn automine(&self, on: bool) {
        self.rpc("evm_setAutomine", json!([on])).await;
    }

    /// The admin pauses (or unpauses) a vault.
    pub async fn pause(&self, vault: Address, paused: bool) {
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

// === x402 from the client side: what a buyer's client sends ===

pub async fn gateway_on(url: &str, chain: &Chain, mock: &Mock) -> Gateway {
    gateway_with(url, chain, mock, "20s", "").await
}

/// `chain_extra`: more lines of the `chain:` section (indented by two spaces).
pub async fn gateway_with(
    url: &str,
    chain: &Chain,
    mock: &Mock,
    receipt_timeout: &str,
    chain_extra: &str,
) -> Gateway {
    let mut opts = GatewayOpts::new(format!(
        "\n  - {{ id: pa, kind: openai, base_url: \"http://{}/v1\", models: [{{ id: m, pricing: {{ prompt: 1, completion: 2 }} }}] }}\n",
        mock.addr
    ));
    opts.billing = billing_yaml(url, "");
    opts.public_url = Some(String::new());
    // The operator key is anvil's public dev key 0 (the deployer holds every role).
    opts.extra = chain.yaml(&format!(
        "  receipt_timeout: {receipt_timeout}\n  reconcile_every: 300ms\n{chain_extra}"
    ));
    opts.env = vec![chain.env()];
    Gateway::start(opts).await
}

/// An EIP-3009 authorization signed by `payer` for the 402's `accepts[0]`, as an x402 client
/// signs it; `tweak` changes the authorization before it is signed.
pub fn signed_authorization(
    accepts: &Value,
    payer: &PrivateKeySigner,
    chain: &Chain,
    tweak: impl FnOnce(&mut ExactAuthorization),
) -> ExactEvmPayload {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut auth = ExactAuthorization {
        from: payer.address(),
        to: Address::from_str(accepts["payTo"].as_str().unwrap()).unwrap(),
        value: U256::from_str(accepts["maxAmountRequired"].as_str().unwrap()).unwrap(),
        valid_after: now - 10,
        valid_before: now + 120,
        nonce: random_nonce(),
    };
    tweak(&mut auth);
    let signature = x402::sign_authorization(payer, &auth, &chain.dep.token_domain()).unwrap();
    ExactEvmPayload {
        signature,
        authorization: auth,
    }
}

/// The v1 `X-PAYMENT` header carrying `payload`.
pub fn payment_header(accepts: &Value, payload: ExactEvmPayload) -> String {
    let network = x402::Network::new(accepts["network"].as_str().unwrap(), 31337);
    PaymentPayload::v1(&network, payload).to_header()
}

/// A payment header for the 402's `accepts[0]` from `payer` (see [`signed_authorization`]).
pub fn payment(
    accepts: &Value,
    payer: &PrivateKeySigner,
    chain: &Chain,
    tweak: impl FnOnce(&mut ExactAuthorization),
) -> String {
    payment_header(accepts, signed_authorization(accepts, payer, chain, tweak))
}

pub fn random_nonce() -> B256 {
    // A fresh key's address bytes are as random as anything else at hand.
    let mut b = [0u8; 32];
    b[..20].copy_from_slice(PrivateKeySigner::random().address().as_slice());
    b[20..].copy_from_slice(&PrivateKeySigner::random().address().as_slice()[..12]);
    B256::from(b)
}

pub async fn post_topup(
    gw: &Gateway,
    amount: Value,
    header: Option<(&str, String)>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(gw.url("/v1/topup"))
        .json(&json!({ "amount": amount }));
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    req.send().await.unwrap()
}

pub async fn accepts_for(gw: &Gateway, usd: u64) -> Value {
    let r = post_topup(gw, json!(usd), None).await;
    assert_eq!(r.status(), 402);
    let v: Value = r.json().await.unwrap();
    v["accepts"][0].clone()
}

pub async fn balance(gw: &Gateway, wallet: Address) -> i64 {
    let v: Value = reqwest::get(gw.url(&format!("/v1/balance/{wallet:#x}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["available_usdc"].as_i64().unwrap()
}

// === x402 through Permit2, from the client side ===

/// The v2 `PAYMENT-REQUIRED` of a 402 (decoded) and its v1 body.
pub async fn offers_for(gw: &Gateway, usd: Value) -> (Value, Value) {
    let r = post_topup(gw, usd, None).await;
    assert_eq!(r.status(), 402);
    let header = r.headers()["payment-required"]
        .to_str()
        .unwrap()
        .to_string();
    let v2: Value = x402::decode_header(&header).unwrap();
    (v2, r.json().await.unwrap())
}

/// The v2 offer for `asset` on `chain_id`.
pub fn offer(v2: &Value, chain_id: u64, asset: Address) -> Value {
    v2["accepts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["network"] == format!("eip155:{chain_id}")
                && Address::from_str(a["asset"].as_str().unwrap()).unwrap() == asset
        })
        .unwrap_or_else(|| panic!("no offer for {asset} on {chain_id}: {v2}"))
        .clone()
}

/// A Permit2 authorization for the v2 `offer`, as an x402 client builds it (spender = x402's
/// exact proxy, witness.to = payTo, deadline = now + 120); `tweak` changes it before signing.
pub fn permit2_authorization(
    offer: &Value,
    payer: Address,
    tweak: impl FnOnce(&mut x402::Permit2Authorization),
) -> x402::Permit2Authorization {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut auth = x402::Permit2Authorization {
        from: payer,
        permitted: x402::Permitted {
            token: Address::from_str(offer["asset"].as_str().unwrap()).unwrap(),
            amount: U256::from_str(offer["amount"].as_str().unwrap()).unwrap(),
        },
        spender: x402::X402_EXACT_PERMIT2_PROXY,
        nonce: U256::from_be_bytes(random_nonce().0),
        deadline: now + 120,
        witness: x402::ExactWitness {
            to: Address::from_str(offer["payTo"].as_str().unwrap()).unwrap(),
            valid_after: 0,
        },
    };
    tweak(&mut auth);
    auth
}

/// The v2 `PAYMENT-SIGNATURE` header carrying `auth` signed by `signer` for `offer`.
pub fn permit2_header(
    offer: &Value,
    signer: &PrivateKeySigner,
    auth: &x402::Permit2Authorization,
) -> String {
    let chain_id: u64 = offer["network"].as_str().unwrap()["eip155:".len()..]
        .parse()
        .unwrap();
    let signature = x402::sign_permit2(signer, auth, chain_id).unwrap();
    let accepted: x402::RequirementsV2 = serde_json::from_value(offer.clone()).unwrap();
    PaymentPayload::v2(
        accepted,
        None,
        x402::ExactPermit2Payload {
            signature,
            permit2_authorization: auth.clone(),
        },
    )
    .to_header()
}

/// `token` balance of `who` on `chain`.
pub async fn token_of(chain: &Chain, token: Address, who: Address) -> U256 {
    chain.admin.token_balance(token, who).await.unwrap()
}
