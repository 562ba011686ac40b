//! End-to-end tests against a real anvil (spawned per test, killed on drop). Needs the anvil
//! binary: `bash scripts/contracts.sh install`, or `TOLLGATE_ANVIL=/path/to/anvil`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use tollgate_chain::anvil::{Anvil, ANVIL_CHAIN_ID, DEV_KEYS};
use tollgate_chain::client::parse_private_key;
use tollgate_chain::contracts::{MockUSDC, TreasuryVault};
use tollgate_chain::deploy::{deploy, deploy_local, mint, DeployOptions, Deployment};
use tollgate_chain::x402::{
    decode_payment_header, sign_authorization, verify_exact_payment, ExactAuthorization,
    ExactEvmPayload, ExactRequirements, Network, PaymentPayload, SettlementResponse,
};
use tollgate_chain::{ChainClient, ChainConfig, ChainError};

const USDC: u64 = 1_000_000; // 6 decimals

fn usdc(n: u64) -> U256 {
    U256::from(n * USDC)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn addr(key: &str) -> Address {
    parse_private_key(key).unwrap().address()
}

fn config(anvil: &Anvil) -> ChainConfig {
    let mut c = ChainConfig::new(anvil.url()).with_chain_id(ANVIL_CHAIN_ID);
    c.poll_interval = Duration::from_millis(20);
    c.confirmation_timeout = Duration::from_secs(20);
    c
}

async fn client(anvil: &Anvil, key: &str) -> ChainClient {
    ChainClient::connect(config(anvil), key).await.unwrap()
}

/// Keys: 0 deployer/admin, 1 buyer (funded), 2 treasury operator / facilitator, 3 payout operator.
struct Env {
    _anvil: Anvil,
    dep: Deployment,
    deployer: ChainClient,
    buyer: ChainClient,
    treasury_op: ChainClient,
    payout_op: ChainClient,
}

async fn env() -> Env {
    let anvil = Anvil::spawn().expect("anvil");
    let deployer = client(&anvil, DEV_KEYS[0]).await;
    let options = DeployOptions {
        treasury_operator: Some(addr(DEV_KEYS[2])),
        payout_operator: Some(addr(DEV_KEYS[3])),
        mint: vec![(addr(DEV_KEYS[1]), usdc(1_000))],
        ..Default::default()
    };
    let dep = deploy(&deployer, &options).await.unwrap();
    Env {
        buyer: client(&anvil, DEV_KEYS[1]).await,
        treasury_op: client(&anvil, DEV_KEYS[2]).await,
        payout_op: client(&anvil, DEV_KEYS[3]).await,
        deployer,
        dep,
        _anvil: anvil,
    }
}

fn requirements(dep: &Deployment, pay_to: Address, amount: U256) -> ExactRequirements {
    ExactRequirements {
        network: Network::new("anvil", ANVIL_CHAIN_ID),
        asset: dep.usdc,
        pay_to,
        amount,
        max_timeout_seconds: 300,
        resource: "http://127.0.0.1/v1/topup".into(),
        description: "Tollgate prepaid top-up".into(),
        mime_type: "application/json".into(),
    }
}

/// What an x402 client does: sign `TransferWithAuthorization` for the token's domain and wrap
/// it in an `X-PAYMENT` header.
fn x402_client_header(
    signer: &PrivateKeySigner,
    dep: &Deployment,
    req: &ExactRequirements,
    nonce: B256,
) -> String {
    let t = now();
    let authorization = ExactAuthorization {
        from: signer.address(),
        to: req.pay_to,
        value: req.amount,
        valid_after: t - 600,
        valid_before: t + req.max_timeout_seconds,
        nonce,
    };
    let signature = sign_authorization(signer, &authorization, &dep.token_domain()).unwrap();
    PaymentPayload::v1(
        &req.network,
        ExactEvmPayload {
            signature,
            authorization,
        },
    )
    .to_header()
}

#[tokio::test]
async fn deploy_local_writes_deployment_json() {
    let anvil = Anvil::spawn().expect("anvil");
    let buyer = addr(DEV_KEYS[1]);
    let options = DeployOptions {
        mint: vec![(buyer, usdc(50))],
        ..Default::default()
    };
    let dep = deploy_local(anvil.url(), DEV_KEYS[0], &options)
        .await
        .unwrap();
    assert_eq!(dep.chain_id, 31337);
    assert_eq!(dep.token_name, "USD Coin");
    assert_eq!(dep.token_decimals, 6);
    assert_eq!(dep.admin, addr(DEV_KEYS[0]));

    let c = client(&anvil, DEV_KEYS[4]).await;
    for a in [dep.usdc, dep.treasury_vault, dep.payout_vault] {
        assert!(
            !c.provider().get_code_at(a).await.unwrap().is_empty(),
            "no code at {a}"
        );
    }
    assert_eq!(c.token_balance(dep.usdc, buyer).await.unwrap(), usdc(50));
    assert_eq!(
        c.vault_operator(dep.treasury_vault).await.unwrap(),
        dep.treasury_operator
    );
    assert_eq!(
        c.vault_operator(dep.payout_vault).await.unwrap(),
        dep.payout_operator
    );
    let payout_of_treasury = c
        .call(dep.treasury_vault, TreasuryVault::payoutVaultCall {})
        .await
        .unwrap();
    assert_eq!(payout_of_treasury, dep.payout_vault);

    let dir = std::env::temp_dir().join(format!("tollgate-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("deployment.json");
    dep.write(&path).unwrap();
    assert_eq!(Deployment::read(&path).unwrap(), dep);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(json["usdc"].as_str().unwrap().starts_with("0x"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn x402_payment_verifies_settles_and_replay_is_rejected() {
    let e = env().await;
    let buyer_key: PrivateKeySigner = DEV_KEYS[1].parse().unwrap();
    let pay_to = e.dep.treasury_vault; // top-ups land in the treasury
    let req = requirements(&e.dep, pay_to, usdc(5));
    let facilitator = &e.treasury_op; // pays the gas, is not the payee

    // Gateway side: decode, verify (pure), settle (chain).
    let header = x402_client_header(&buyer_key, &e.dep, &req, B256::repeat_byte(0x01));
    let payload = decode_payment_header(&header).unwrap();
    let verified = verify_exact_payment(&payload, &req, &e.dep.token_domain(), now()).unwrap();
    assert_eq!(verified.payer(), buyer_key.address());

    let before = facilitator.token_balance(e.dep.usdc, pay_to).await.unwrap();
    let tx = facilitator
        .settle_transfer_with_authorization(
            e.dep.usdc,
            &verified.authorization,
            &verified.signature,
        )
        .await
        .unwrap();
    assert_eq!(
        facilitator.token_balance(e.dep.usdc, pay_to).await.unwrap() - before,
        usdc(5)
    );
    assert_eq!(
        facilitator
            .token_balance(e.dep.usdc, buyer_key.address())
            .await
            .unwrap(),
        usdc(995)
    );
    assert!(facilitator
        .authorization_state(e.dep.usdc, buyer_key.address(), B256::repeat_byte(0x01))
        .await
        .unwrap());
    let resp = SettlementResponse::success(tx, payload.network(), verified.payer());
    assert!(resp.success && resp.transaction.starts_with("0x"));

    // Replay of the same header: still passes the pure check, the chain says "used".
    let again = verify_exact_payment(
        &decode_payment_header(&header).unwrap(),
        &req,
        &e.dep.token_domain(),
        now(),
    )
    .unwrap();
    let err = facilitator
        .settle_transfer_with_authorization(e.dep.usdc, &again.authorization, &again.signature)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChainError::AuthorizationAlreadyUsed { .. }),
        "{err:?}"
    );

    // A v2 PAYMENT-SIGNATURE payment settles too.
    let t = now();
    let auth = ExactAuthorization {
        from: buyer_key.address(),
        to: pay_to,
        value: usdc(5),
        valid_after: t - 600,
        valid_before: t + 120,
        nonce: B256::repeat_byte(0x02),
    };
    let signature = sign_authorization(&buyer_key, &auth, &e.dep.token_domain()).unwrap();
    let v2 = PaymentPayload::v2(
        req.to_v2(&e.dep.token_domain()),
        Some(req.resource_info()),
        ExactEvmPayload {
            signature,
            authorization: auth,
        },
    );
    let verified = verify_exact_payment(
        &decode_payment_header(&v2.to_header()).unwrap(),
        &req,
        &e.dep.token_domain(),
        now(),
    )
    .unwrap();
    facilitator
        .settle_transfer_with_authorization(
            e.dep.usdc,
            &verified.authorization,
            &verified.signature,
        )
        .await
        .unwrap();
    assert_eq!(
        facilitator
            .token_balance(e.dep.usdc, buyer_key.address())
            .await
            .unwrap(),
        usdc(990)
    );
}

#[tokio::test]
async fn settle_with_insufficient_balance_fails_before_sending() {
    let e = env().await;
    let poor: PrivateKeySigner = PrivateKeySigner::random(); // holds no USDC
    let req = requirements(&e.dep, e.dep.treasury_vault, usdc(5));
    let header = x402_client_header(&poor, &e.dep, &req, B256::repeat_byte(0x03));
    let verified = verify_exact_payment(
        &decode_payment_header(&header).unwrap(),
        &req,
        &e.dep.token_domain(),
        now(),
    )
    .unwrap();

    let facilitator = &e.treasury_op;
    let nonce_before = facilitator
        .provider()
        .get_transaction_count(facilitator.address())
        .await
        .unwrap();
    let err = facilitator
        .settle_transfer_with_authorization(
            e.dep.usdc,
            &verified.authorization,
            &verified.signature,
        )
        .await
        .unwrap_err();
    match err {
        ChainError::InsufficientBalance {
            payer,
            balance,
            required,
        } => {
            assert_eq!(payer, poor.address());
            assert_eq!(balance, U256::ZERO);
            assert_eq!(required, usdc(5));
        }
        other => panic!("expected InsufficientBalance, got {other:?}"),
    }
    let nonce_after = facilitator
        .provider()
        .get_transaction_count(facilitator.address())
        .await
        .unwrap();
    assert_eq!(nonce_before, nonce_after, "nothing may be sent");
}

#[tokio::test]
async fn deposit_then_find_deposit() {
    let e = env().await;
    let tx = e
        .buyer
        .approve_and_deposit(e.dep.usdc, e.dep.treasury_vault, usdc(20))
        .await
        .unwrap();

    let deposits = e
        .deployer
        .find_deposit(e.dep.treasury_vault, tx, 1)
        .await
        .unwrap();
    assert_eq!(deposits.len(), 1);
    assert_eq!(deposits[0].buyer, e.buyer.address());
    assert_eq!(deposits[0].amount, usdc(20));
    assert_eq!(deposits[0].tx_hash, tx);
    assert_eq!(
        e.deployer.pool_balance(e.dep.treasury_vault).await.unwrap(),
        usdc(20)
    );

    // Confirmations: automine makes no blocks on its own.
    let err = e
        .deployer
        .find_deposit(e.dep.treasury_vault, tx, 3)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::NotEnoughConfirmations {
                have: 1,
                need: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let _: serde_json::Value = e
        .deployer
        .raw_request("anvil_mine", serde_json::json!([2]))
        .await
        .unwrap();
    assert_eq!(
        e.deployer
            .find_deposit(e.dep.treasury_vault, tx, 3)
            .await
            .unwrap(),
        deposits
    );

    // Not this vault's event.
    let err = e
        .deployer
        .find_deposit(e.dep.payout_vault, tx, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::NotFromVault { .. }), "{err:?}");
    // A transaction without any Deposited event (a plain mint).
    let mint_tx = e
        .deployer
        .send_and_confirm(
            TransactionRequest::default()
                .with_to(e.dep.usdc)
                .with_input(
                    MockUSDC::mintCall {
                        to: e.buyer.address(),
                        amount: usdc(1),
                    }
                    .abi_encode(),
                ),
        )
        .await
        .unwrap()
        .transaction_hash;
    assert!(matches!(
        e.deployer
            .find_deposit(e.dep.treasury_vault, mint_tx, 1)
            .await
            .unwrap_err(),
        ChainError::NotFromVault { .. }
    ));
    // Unknown hash.
    let err = e
        .deployer
        .find_deposit(e.dep.treasury_vault, B256::repeat_byte(0xee), 1)
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::TxNotFound(_)), "{err:?}");

    // A deposit that reverted on-chain (gas set by hand, so no estimate stops it).
    let reverting = TransactionRequest::default()
        .with_to(e.dep.treasury_vault)
        .with_input(TreasuryVault::depositCall { amount: U256::ZERO }.abi_encode())
        .with_gas_limit(200_000);
    let bad_tx = e.buyer.send(reverting).await.unwrap();
    let err = e.buyer.wait_for_confirmations(bad_tx, 1).await.unwrap_err();
    assert!(matches!(err, ChainError::TxReverted { .. }), "{err:?}");
    let err = e
        .deployer
        .find_deposit(e.dep.treasury_vault, bad_tx, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::TxReverted { .. }), "{err:?}");
}

#[tokio::test]
async fn payout_executed_batch_and_replay() {
    let e = env().await;
    e.buyer
        .approve_and_deposit(e.dep.usdc, e.dep.treasury_vault, usdc(100))
        .await
        .unwrap();
    e.treasury_op
        .fund_payout_vault(e.dep.treasury_vault, usdc(60))
        .await
        .unwrap();
    assert_eq!(
        e.treasury_op
            .pool_balance(e.dep.treasury_vault)
            .await
            .unwrap(),
        usdc(40)
    );
    assert_eq!(
        e.treasury_op
            .token_balance(e.dep.usdc, e.dep.payout_vault)
            .await
            .unwrap(),
        usdc(60)
    );

    let seller = PrivateKeySigner::random().address();
    let batch = B256::repeat_byte(0xba);
    assert!(!e
        .payout_op
        .executed_batch(e.dep.payout_vault, batch)
        .await
        .unwrap());
    e.payout_op
        .payout(e.dep.payout_vault, seller, usdc(25), batch)
        .await
        .unwrap();
    assert!(e
        .payout_op
        .executed_batch(e.dep.payout_vault, batch)
        .await
        .unwrap());
    assert_eq!(
        e.payout_op.token_balance(e.dep.usdc, seller).await.unwrap(),
        usdc(25)
    );

    // Same batch id again: typed error, nothing paid.
    let err = e
        .payout_op
        .payout(e.dep.payout_vault, seller, usdc(25), batch)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        ChainError::BatchAlreadyExecuted(batch).to_string()
    );
    assert_eq!(
        e.payout_op.token_balance(e.dep.usdc, seller).await.unwrap(),
        usdc(25)
    );

    // Only the payout operator may pay; the treasury operator's key is not it.
    let err = e
        .treasury_op
        .payout(e.dep.payout_vault, seller, usdc(1), B256::repeat_byte(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChainError::NotOperator { caller } if caller == e.treasury_op.address()),
        "{err:?}"
    );
    // Funding more than the pool holds.
    let err = e
        .treasury_op
        .fund_payout_vault(e.dep.treasury_vault, usdc(41))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChainError::VaultInsufficient { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn buyer_withdrawals_by_operator() {
    let e = env().await;
    e.buyer
        .approve_and_deposit(e.dep.usdc, e.dep.treasury_vault, usdc(30))
        .await
        .unwrap();
    let to = PrivateKeySigner::random().address();
    let id = B256::repeat_byte(0x77);
    e.treasury_op
        .operator_withdraw(e.dep.treasury_vault, to, usdc(10), id)
        .await
        .unwrap();
    assert!(e
        .treasury_op
        .executed_withdrawal(e.dep.treasury_vault, id)
        .await
        .unwrap());
    assert_eq!(
        e.treasury_op.token_balance(e.dep.usdc, to).await.unwrap(),
        usdc(10)
    );
    let err = e
        .treasury_op
        .operator_withdraw(e.dep.treasury_vault, to, usdc(10), id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChainError::WithdrawalAlreadyExecuted(x) if x == id),
        "{err:?}"
    );
    // release shares the id space
    let err = e
        .treasury_op
        .release(e.dep.treasury_vault, to, usdc(1), id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChainError::WithdrawalAlreadyExecuted(_)),
        "{err:?}"
    );
    e.treasury_op
        .release(
            e.dep.treasury_vault,
            e.buyer.address(),
            usdc(5),
            B256::repeat_byte(0x78),
        )
        .await
        .unwrap();
    let released = e
        .buyer
        .call(
            e.dep.treasury_vault,
            TreasuryVault::balanceOfCall {
                user: e.buyer.address(),
            },
        )
        .await
        .unwrap();
    assert_eq!(released, usdc(5));
    let err = e
        .buyer
        .operator_withdraw(e.dep.treasury_vault, to, usdc(1), B256::repeat_byte(0x79))
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::NotOperator { .. }), "{err:?}");
}

#[tokio::test]
async fn concurrent_sends_do_not_collide() {
    let anvil = Anvil::spawn().expect("anvil");
    let c = client(&anvil, DEV_KEYS[0]).await;
    let dep = deploy(&c, &DeployOptions::default()).await.unwrap();
    let start = c
        .provider()
        .get_transaction_count(c.address())
        .await
        .unwrap();

    let sends = (0..12u64).map(|i| {
        let c = c.clone();
        tokio::spawn(async move {
            mint(
                &c,
                dep.usdc,
                Address::repeat_byte(i as u8 + 1),
                U256::from(i + 1),
            )
            .await
        })
    });
    for r in futures_join(sends).await {
        r.unwrap();
    }
    assert_eq!(
        c.provider()
            .get_transaction_count(c.address())
            .await
            .unwrap(),
        start + 12
    );
    for i in 0..12u64 {
        assert_eq!(
            c.token_balance(dep.usdc, Address::repeat_byte(i as u8 + 1))
                .await
                .unwrap(),
            U256::from(i + 1)
        );
    }

    // A call that reverts at estimation takes no nonce: the next send goes straight through.
    let err = c
        .payout(dep.payout_vault, Address::ZERO, U256::from(1), B256::ZERO)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::Reverted { .. } | ChainError::VaultInsufficient { .. }
        ),
        "{err:?}"
    );
    mint(&c, dep.usdc, Address::repeat_byte(0x99), U256::from(1))
        .await
        .unwrap();

    // The same key used by another process: our cached nonce goes stale; the client recovers.
    let other = client(&anvil, DEV_KEYS[0]).await;
    mint(&other, dep.usdc, Address::repeat_byte(0x98), U256::from(1))
        .await
        .unwrap();
    mint(&c, dep.usdc, Address::repeat_byte(0x97), U256::from(1))
        .await
        .unwrap();
    assert_eq!(
        c.token_balance(dep.usdc, Address::repeat_byte(0x97))
            .await
            .unwrap(),
        U256::from(1)
    );
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn eip1271_checks() {
    let anvil = Anvil::spawn().expect("anvil");
    let c = client(&anvil, DEV_KEYS[0]).await;
    let dep = deploy(&c, &DeployOptions::default()).await.unwrap();
    let hash = B256::repeat_byte(0x12);
    // No code: false (an EOA's signature is not checked here).
    assert!(!c
        .is_valid_signature_1271(addr(DEV_KEYS[1]), hash, &[1, 2, 3])
        .await
        .unwrap());
    // Code without isValidSignature (reverts): false.
    assert!(!c
        .is_valid_signature_1271(dep.usdc, hash, &[1, 2, 3])
        .await
        .unwrap());
    // Minimal wallets: runtime returns bytes4 X left-aligned in a 32-byte word for any input.
    let wallet = |magic: &str| {
        let runtime = format!("63{magic}60e01b60005260206000f3");
        let init = format!("6010600c60003960106000f3{runtime}");
        Bytes::from(alloy::primitives::hex::decode(init).unwrap())
    };
    let mut deployed = Vec::new();
    for magic in ["1626ba7e", "ffffffff"] {
        let r = c
            .send_and_confirm(TransactionRequest::default().with_deploy_code(wallet(magic)))
            .await
            .unwrap();
        deployed.push(r.contract_address.unwrap());
    }
    assert!(c
        .is_valid_signature_1271(deployed[0], hash, &[0u8; 65])
        .await
        .unwrap());
    assert!(!c
        .is_valid_signature_1271(deployed[1], hash, &[0u8; 65])
        .await
        .unwrap());
}

#[tokio::test]
async fn connect_checks_chain_id_and_confirmation_timeout() {
    let anvil = Anvil::spawn().expect("anvil");
    let err = ChainClient::connect(
        ChainConfig::new(anvil.url()).with_chain_id(8453),
        DEV_KEYS[0],
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::ChainIdMismatch {
                expected: 8453,
                actual: 31337
            }
        ),
        "{err:?}"
    );
    let dbg = format!("{:?}", client(&anvil, DEV_KEYS[0]).await);
    assert!(
        !dbg.contains("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"),
        "{dbg}"
    );
    assert!(dbg.contains("redacted"));

    // Waiting for 3 confirmations on an automining chain that nobody else uses: time-out.
    let mut cfg = config(&anvil).with_confirmations(3);
    cfg.confirmation_timeout = Duration::from_millis(300);
    let c = ChainClient::connect(cfg, DEV_KEYS[0]).await.unwrap();
    let tx = TransactionRequest::default()
        .with_to(addr(DEV_KEYS[1]))
        .with_value(U256::from(1));
    let err = c.send_and_confirm(tx).await.unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::ConfirmationTimeout {
                confirmations: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
}

/// x402 `exact` through Permit2 with a token that has no EIP-3009 (MockUSDT): Permit2 and the
/// x402 proxy at their canonical addresses, a client-signed authorization verified, settled by
/// anyone, read back from its transaction, and never twice.
#[tokio::test]
async fn permit2_payment_verifies_settles_once_and_is_read_back() {
    use tollgate_chain::permit2::permit2_settle_tx;
    use tollgate_chain::x402::{
        sign_permit2, verify_permit2_payment, ExactPermit2Payload, ExactWitness,
        Permit2Authorization, Permitted, TokenExtra, PERMIT2_ADDRESS, X402_EXACT_PERMIT2_PROXY,
    };
    let anvil = Anvil::spawn().expect("anvil");
    let deployer = client(&anvil, DEV_KEYS[0]).await;
    let buyer_key = DEV_KEYS[1];
    let options = DeployOptions {
        mint: vec![(addr(buyer_key), usdc(100))],
        usdt_decimals: Some(6),
        ..Default::default()
    };
    let dep = deploy(&deployer, &options).await.unwrap();
    let usdt = &dep.assets[0];
    assert_eq!(
        (usdt.symbol.as_str(), usdt.transfer.as_str()),
        ("USDT", "permit2")
    );
    let buyer = client(&anvil, buyer_key).await;
    let facilitator = client(&anvil, DEV_KEYS[2]).await;
    assert_eq!(
        buyer
            .token_balance(usdt.address, buyer.address())
            .await
            .unwrap(),
        usdc(100)
    );

    let req = ExactRequirements {
        network: Network::new("anvil", ANVIL_CHAIN_ID),
        asset: usdt.address,
        pay_to: usdt.treasury_vault,
        amount: usdc(5),
        max_timeout_seconds: 300,
        resource: "http://gw/v1/topup".into(),
        description: "top-up".into(),
        mime_type: "application/json".into(),
    };
    let auth = Permit2Authorization {
        from: buyer.address(),
        permitted: Permitted {
            token: usdt.address,
            amount: usdc(5),
        },
        spender: X402_EXACT_PERMIT2_PROXY,
        nonce: U256::from(777u64),
        deadline: now() + 300,
        witness: ExactWitness {
            to: usdt.treasury_vault,
            valid_after: 0,
        },
    };
    let signer = parse_private_key(buyer_key).unwrap();
    let signature = sign_permit2(&signer, &auth, ANVIL_CHAIN_ID).unwrap();
    let payload = PaymentPayload::v2(
        req.to_v2_with(TokenExtra::permit2()),
        Some(req.resource_info()),
        ExactPermit2Payload {
            signature: signature.clone(),
            permit2_authorization: auth.clone(),
        },
    );
    let decoded = decode_payment_header(&payload.to_header()).unwrap();
    let verified = verify_permit2_payment(&decoded, &req, now()).unwrap();

    // Not approved yet: the allowance read says so, and a send would revert.
    assert_eq!(
        buyer
            .allowance(usdt.address, buyer.address(), PERMIT2_ADDRESS)
            .await
            .unwrap(),
        U256::ZERO
    );
    assert!(facilitator
        .send_and_confirm(permit2_settle_tx(&auth, &verified.signature_bytes()))
        .await
        .is_err());
    buyer
        .approve(usdt.address, PERMIT2_ADDRESS, U256::MAX)
        .await
        .unwrap();

    assert!(!facilitator
        .permit2_nonce_used(buyer.address(), auth.nonce)
        .await
        .unwrap());
    let receipt = facilitator
        .send_and_confirm(permit2_settle_tx(&auth, &verified.signature_bytes()))
        .await
        .unwrap();
    let tx = receipt.transaction_hash;
    assert!(facilitator
        .permit2_nonce_used(buyer.address(), auth.nonce)
        .await
        .unwrap());
    let moved = facilitator
        .permit2_transfer_in(tx, usdt.address, buyer.address(), auth.nonce, 1)
        .await
        .unwrap()
        .expect("the settlement's transfer");
    assert_eq!((moved.to, moved.value), (usdt.treasury_vault, usdc(5)));
    // Another nonce is not this transaction's.
    assert_eq!(
        facilitator
            .permit2_transfer_in(tx, usdt.address, buyer.address(), U256::from(1u64), 1)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        facilitator
            .permit2_used_by(
                usdt.address,
                buyer.address(),
                usdt.treasury_vault,
                auth.nonce,
                1_000
            )
            .await
            .unwrap(),
        Some(tx)
    );
    // A replay fails: the nonce is spent.
    assert!(facilitator
        .send_and_confirm(permit2_settle_tx(&auth, &verified.signature_bytes()))
        .await
        .is_err());
    assert_eq!(
        buyer
            .token_balance(usdt.address, usdt.treasury_vault)
            .await
            .unwrap(),
        usdc(5)
    );
}
