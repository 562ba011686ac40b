//! Lock order between the control plane and settlement. Settlement and leasing lock a wallet's
//! row and then its account; creating an API key used to upsert the account and then the
//! wallet — the reverse order — so a key created while that wallet's requests were settling
//! could deadlock (CI saw `40P01` and a 503 from `POST /v1/auth/keys`).

use crate::common::ledger::*;
use crate::common::pg;
use std::time::Duration;
use tollgate_billing::ledger::{Ledger, LOCK_WALLET};

const WALLET: &str = "0x00000000000000000000000000000000000000c4";

#[tokio::test]
async fn a_key_is_created_while_settlement_holds_the_wallet_locked() {
    let url = migrated_db().await;
    let ledger = Ledger::connect(&url, 4).await.unwrap();
    ledger
        .credit(WALLET, 1_000, "credit", "lock-order-test", "test")
        .await
        .unwrap();

    // Settlement's first step, held open: the wallet row `FOR UPDATE`.
    let mut settling = pg::client(&url).await;
    let tx = settling.transaction().await.unwrap();
    tx.execute(LOCK_WALLET, &[&WALLET]).await.unwrap();

    // Key creation must not wait for that lock: the old code waited for it holding the
    // account's lock, which settlement's next step needs (a deadlock), and its `api_keys`
    // foreign-key check waited behind settlement's `FOR UPDATE`.
    let key = tokio::time::timeout(
        Duration::from_secs(10),
        ledger.create_api_key(WALLET, "during settlement"),
    )
    .await
    .expect("key creation waited for the settling wallet's lock")
    .unwrap();
    assert_eq!(key.wallet, WALLET);

    // Settlement's second step goes through, and so does a provider's first sight.
    tx.execute(
        "UPDATE accounts SET balance = balance WHERE id = (SELECT account_id FROM wallets WHERE address = $1)",
        &[&WALLET],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let a = ledger.ensure_provider("p-lock").await.unwrap();
    assert_eq!(ledger.ensure_provider("p-lock").await.unwrap(), a);
}
