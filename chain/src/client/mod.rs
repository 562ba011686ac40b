//! [`ChainClient`]: one HTTP JSON-RPC connection plus one local signing key.
//!
//! - **Connect**: parses the key (hex; never logged — `Debug` shows only the address, and the RPC
//!   URL without its path/query, where providers put API keys), checks `eth_chainId` against the
//!   configured chain id.
//! - **Sending** ([`ChainClient::send_and_confirm`]): `eth_estimateGas` first (a revert is reported
//!   as [`ChainError::Reverted`] before any nonce is taken), then under a submission lock alloy's
//!   fillers set fees, the nonce (alloy's `NonceFiller` with a cached, resettable manager) and chain
//!   id, the wallet signs, and the *signed bytes* are submitted with bounded exponential back-off
//!   (resubmitting identical bytes is idempotent; "already known" on a retry counts as accepted).
//!   Only nonce allocation + submission are serialised, so concurrent callers never share a nonce;
//!   waiting for confirmations runs concurrently. If a submission fails for good the cached nonce is
//!   dropped and re-read from the node (`pending` count), so a lost nonce cannot wedge later
//!   transactions behind a gap.
//! - **Confirmations**: polls the receipt until it is `confirmations` blocks deep (1 = mined),
//!   with a timeout; a mined-but-failed transaction is [`ChainError::TxReverted`].
//! - **Reads**: `block_number`, ERC-20 `token_balance`, ERC-3009 `authorization_state`, EIP-1271
//!   `is_valid_signature_1271`, all retried on transient transport errors only.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{Ethereum, EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, TxHash, B256, U256};
use alloy::providers::fillers::{
    ChainIdFiller, FillProvider, GasFiller, JoinFill, NonceFiller, NonceManager, WalletFiller,
};
use alloy::providers::{Identity, Provider, ProviderBuilder, RootProvider, SendableTx};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::SolCall;
use alloy::transports::{RpcError, TransportErrorKind, TransportResult};
use tokio::sync::Mutex;

use crate::error::ChainError;

sol! {
    interface IERC20Read {
        function balanceOf(address owner) external view returns (uint256);
    }
    interface IERC3009Read {
        function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
    }
    interface IERC1271 {
        function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4 magicValue);
    }
}

/// EIP-1271 success value: `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`.
pub const EIP1271_MAGIC_VALUE: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

/// Connection settings. `Debug` hides the URL's path and query (API keys live there).
#[derive(Clone)]
pub struct ChainConfig {
    pub rpc_url: String,
    /// Expected chain id; connecting to another chain fails. `None` accepts any (tests, tools).
    pub chain_id: Option<u64>,
    /// Blocks deep a transaction must be before `send_and_confirm` returns (1 = mined).
    pub confirmations: u64,
    pub confirmation_timeout: Duration,
    /// Receipt / block polling interval.
    pub poll_interval: Duration,
    /// Retries after the first attempt for transient transport errors (timeouts, connection
    /// errors, HTTP 429/5xx, provider rate limits).
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Gas limit = estimate × this / 100.
    pub gas_limit_percent: u64,
}

impl ChainConfig {
    pub fn new(rpc_url: impl Into<String>) -> Self {
        ChainConfig {
            rpc_url: rpc_url.into(),
            chain_id: None,
            confirmations: 1,
            confirmation_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_secs(1),
            max_retries: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            gas_limit_percent: 120,
        }
    }

    pub fn with_chain_id(mut self, chain_id: u64) -> Self {
        self.chain_id = Some(chain_id);
        self
    }

    pub fn with_confirmations(mut self, confirmations: u64) -> Self {
        self.confirmations = confirmations.max(1);
        self
    }
}

impl fmt::Debug for ChainConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainConfig")
            .field("rpc_url", &redact_url(&self.rpc_url))
            .field("chain_id", &self.chain_id)
            .field("confirmations", &self.confirmations)
            .field("confirmation_timeout", &self.confirmation_timeout)
            .field("poll_interval", &self.poll_interval)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

/// `scheme://host[:port]` plus `/…` when there was more (paths and queries carry API keys).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host); // drop user:pass@
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    let tail = if tail.trim_matches('/').is_empty() {
        ""
    } else {
        "/…"
    };
    if scheme.is_empty() {
        format!("{host}{tail}")
    } else {
        format!("{scheme}://{host}{tail}")
    }
}

/// Parses a hex private key (with or without `0x`). The error never contains the input.
pub fn parse_private_key(hex_key: &str) -> Result<PrivateKeySigner, ChainError> {
    let trimmed = hex_key.trim();
    let trimmed = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    if trimmed.len() != 64 {
        return Err(ChainError::InvalidKey);
    }
    trimmed
        .parse::<PrivateKeySigner>()
        .map_err(|_| ChainError::InvalidKey)
}

/// Nonce manager for alloy's `NonceFiller`: caches the next nonce per address (so concurrent
/// allocations never repeat) and can forget it ([`Self::reset`]) after a failed submission.
#[derive(Clone, Debug, Default)]
pub struct ResettableNonceManager {
    next: Arc<Mutex<HashMap<Address, u64>>>,
}

impl ResettableNonceManager {
    /// Forget the cached nonce; the next allocation re-reads the node's `pending` count.
    pub async fn reset(&self, address: Address) {
        self.next.lock().await.remove(&address);
    }
}

#[async_trait::async_trait]
impl NonceManager for ResettableNonceManager {
    async fn get_next_nonce<P, N>(&self, provider: &P, address: Address) -> TransportResult<u64>
    where
        P: Provider<N>,
        N: alloy::network::Network,
    {
        let mut next = self.next.lock().await;
        let nonce = match next.get(&address) {
            Some(n) => *n,
            None => provider.get_transaction_count(address).pending().await?,
        };
        next.insert(address, nonce + 1);
        Ok(nonce)
    }
}

type Fillers = JoinFill<
    JoinFill<
        JoinFill<JoinFill<Identity, GasFiller>, NonceFiller<ResettableNonceManager>>,
        ChainIdFiller,
    >,
    WalletFiller<EthereumWallet>,
>;

/// The alloy provider inside [`ChainClient`] (fills gas, nonce, chain id; signs with the key).
pub type SigningProvider = FillProvider<Fillers, RootProvider<Ethereum>, Ethereum>;

/// HTTP provider + local signer. Cheap to clone (shared state).
#[derive(Clone)]
pub struct ChainClient {
    inner: Arc<Inner>,
}

struct Inner {
    provider: SigningProvider,
    nonces: ResettableNonceManager,
    /// Serialises nonce allocation + submission (not confirmation waiting).
    submit: Mutex<()>,
    address: Address,
    chain_id: u64,
    config: ChainConfig,
}

impl fmt::Debug for ChainClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainClient")
            .field("address", &self.inner.address)
            .field("chain_id", &self.inner.chain_id)
            .field("rpc_url", &redact_url(&self.inner.config.rpc_url))
            .field("key", &"<redacted>")
            .finish()
    }
}

fn install_tls_provider() {
    static ONCE: Once = Once::new();
    // reqwest 0.13 is built with `rustls-no-provider`; use ring (already in the tree). Ignore
    // the error when the host process installed a provider first.
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl ChainClient {
    /// Connects and checks the chain id. `private_key_hex` is typically read from an env var by
    /// the caller; it is not stored anywhere but in the signer.
    pub async fn connect(config: ChainConfig, private_key_hex: &str) -> Result<Self, ChainError> {
        let signer = parse_private_key(private_key_hex)?;
        Self::connect_with_signer(config, signer).await
    }

    pub async fn connect_with_signer(
        config: ChainConfig,
        signer: PrivateKeySigner,
    ) -> Result<Self, ChainError> {
        install_tls_provider();
        let url = config
            .rpc_url
            .parse()
            .map_err(|e| ChainError::InvalidUrl(format!("{}: {e}", redact_url(&config.rpc_url))))?;
        let address = signer.address();
        let nonces = ResettableNonceManager::default();
        let provider: SigningProvider = ProviderBuilder::default()
            .with_gas_estimation()
            .with_nonce_management(nonces.clone())
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer))
            .connect_http(url);
        let chain_id = retry_rpc(&config, "eth_chainId", || {
            provider.get_chain_id().into_future()
        })
        .await?;
        if let Some(expected) = config.chain_id {
            if expected != chain_id {
                return Err(ChainError::ChainIdMismatch {
                    expected,
                    actual: chain_id,
                });
            }
        }
        Ok(ChainClient {
            inner: Arc::new(Inner {
                provider,
                nonces,
                submit: Mutex::new(()),
                address,
                chain_id,
                config,
            }),
        })
    }

    /// The signer's address (facilitator / operator / deployer, depending on the key).
    pub fn address(&self) -> Address {
        self.inner.address
    }

    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    pub fn config(&self) -> &ChainConfig {
        &self.inner.config
    }

    /// The underlying alloy provider (reads, contract instances, deployments).
    pub fn provider(&self) -> &SigningProvider {
        &self.inner.provider
    }

    // -------------------------------------------------------------------------------- retries

    /// [`retry_rpc`] with this client's settings.
    pub(crate) async fn retry<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = TransportResult<T>>,
    {
        retry_rpc(&self.inner.config, op, f).await
    }

    /// `eth_call` of a typed call, retried; a revert is [`ChainError::Reverted`].
    pub async fn call<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return, ChainError> {
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_input(call.abi_encode());
        let out = self
            .retry("eth_call", || {
                self.inner.provider.call(tx.clone()).into_future()
            })
            .await?;
        C::abi_decode_returns(&out).map_err(|e| ChainError::Abi(format!("{}: {e}", C::SIGNATURE)))
    }

    // -------------------------------------------------------------------------------- reads

    pub async fn block_number(&self) -> Result<u64, ChainError> {
        self.retry("eth_blockNumber", || {
            self.inner.provider.get_block_number().into_future()
        })
        .await
    }

    /// ERC-20 `balanceOf(owner)`.
    pub async fn token_balance(&self, token: Address, owner: Address) -> Result<U256, ChainError> {
        self.call(token, IERC20Read::balanceOfCall { owner }).await
    }

    /// ERC-3009 `authorizationState(authorizer, nonce)`: true once used or canceled.
    pub async fn authorization_state(
        &self,
        token: Address,
        authorizer: Address,
        nonce: B256,
    ) -> Result<bool, ChainError> {
        self.call(
            token,
            IERC3009Read::authorizationStateCall { authorizer, nonce },
        )
        .await
    }

    /// EIP-1271: does `contract` accept `signature` over `hash`? False when the address has no
    /// code, when the call reverts, or when it returns anything but `0x1626ba7e`.
    pub async fn is_valid_signature_1271(
        &self,
        contract: Address,
        hash: B256,
        signature: &[u8],
    ) -> Result<bool, ChainError> {
        let code = self
            .retry("eth_getCode", || {
                self.inner.provider.get_code_at(contract).into_future()
            })
            .await?;
        if code.is_empty() {
            return Ok(false);
        }
        let call = IERC1271::isValidSignatureCall {
            hash,
            signature: Bytes::copy_from_slice(signature),
        };
        let tx = TransactionRequest::default()
            .with_to(contract)
            .with_input(call.abi_encode());
        match self
            .retry("eth_call", || {
                self.inner.provider.call(tx.clone()).into_future()
            })
            .await
        {
            // Decode leniently: only the first word matters, and non-conforming returns are "no".
            Ok(out) => Ok(out.len() >= 4
                && out[..4] == EIP1271_MAGIC_VALUE
                && out[4..out.len().min(32)].iter().all(|b| *b == 0)),
            Err(ChainError::Reverted { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The receipt, if mined.
    pub async fn receipt(&self, tx_hash: TxHash) -> Result<Option<TransactionReceipt>, ChainError> {
        self.retry("eth_getTransactionReceipt", || {
            self.inner
                .provider
                .get_transaction_receipt(tx_hash)
                .into_future()
        })
        .await
    }

    // -------------------------------------------------------------------------------- sending

    /// Estimates, signs, submits and waits for `config.confirmations`. `from` is set to the
    /// client's address. See the module docs for nonce handling and retries.
    pub async fn send_and_confirm(
        &self,
        tx: TransactionRequest,
    ) -> Result<TransactionReceipt, ChainError> {
        let tx_hash = self.send(tx).await?;
        self.wait_for_confirmations(tx_hash, self.inner.config.confirmations)
            .await
    }

    /// Estimates, signs and submits; returns the hash without waiting.
    pub async fn send(&self, mut tx: TransactionRequest) -> Result<TxHash, ChainError> {
        tx.set_from(self.inner.address);
        if tx.gas.is_none() {
            let estimate = self
                .retry("eth_estimateGas", || {
                    self.inner.provider.estimate_gas(tx.clone()).into_future()
                })
                .await?;
            tx.set_gas_limit(estimate.saturating_mul(self.inner.config.gas_limit_percent) / 100);
        }
        let _guard = self.inner.submit.lock().await;
        let mut rebuilt = false;
        loop {
            let result = self.fill_and_submit(tx.clone()).await;
            if result.is_err() {
                // The nonce may have been allocated without reaching the node: re-read it next time.
                self.inner.nonces.reset(self.inner.address).await;
            }
            match result {
                // Our cached nonce was stale (the key was used elsewhere). The node rejected these
                // bytes outright, so signing again with a fresh nonce cannot double-send. Once.
                Err(ChainError::Rpc {
                    attempts: 1,
                    ref source,
                    ..
                }) if !rebuilt && is_nonce_too_low(source) => {
                    log::warn!(
                        "chain: nonce too low for {}; re-reading the nonce and re-signing",
                        self.inner.address
                    );
                    rebuilt = true;
                }
                other => return other,
            }
        }
    }

    async fn fill_and_submit(&self, tx: TransactionRequest) -> Result<TxHash, ChainError> {
        let sendable = self
            .retry("fill transaction", || self.inner.provider.fill(tx.clone()))
            .await?;
        let SendableTx::Envelope(envelope) = sendable else {
            return Err(ChainError::Signing(
                "fillers did not produce a signed transaction".into(),
            ));
        };
        let tx_hash = *envelope.tx_hash();
        let raw = envelope.encoded_2718();
        let cfg = &self.inner.config;
        let mut delay = cfg.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.inner.provider.send_raw_transaction(&raw).await {
                Ok(_) => {
                    log::debug!("chain: submitted {tx_hash}");
                    return Ok(tx_hash);
                }
                // A retry of bytes the node already has (first attempt went through).
                Err(e) if attempt > 1 && is_already_known(&e) => return Ok(tx_hash),
                Err(e) if attempt <= cfg.max_retries && is_transient(&e) => {
                    log::warn!("chain: submitting {tx_hash} failed ({e}); retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(cfg.max_backoff);
                }
                Err(e) => return Err(classify("eth_sendRawTransaction", attempt, e)),
            }
        }
    }

    /// Polls until `tx_hash` is `confirmations` blocks deep (1 = in a block), up to
    /// `config.confirmation_timeout`. Fails with [`ChainError::TxReverted`] if it was mined but
    /// failed.
    pub async fn wait_for_confirmations(
        &self,
        tx_hash: TxHash,
        confirmations: u64,
    ) -> Result<TransactionReceipt, ChainError> {
        let confirmations = confirmations.max(1);
        let cfg = &self.inner.config;
        let started = Instant::now();
        loop {
            if let Some(receipt) = self.receipt(tx_hash).await? {
                let block = receipt.block_number.unwrap_or_default();
                if !receipt.status() {
                    return Err(ChainError::TxReverted { tx_hash, block });
                }
                let head = self.block_number().await?;
                if head + 1 >= block + confirmations {
                    return Ok(receipt);
                }
            }
            if started.elapsed() >= cfg.confirmation_timeout {
                return Err(ChainError::ConfirmationTimeout {
                    tx_hash,
                    confirmations,
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(cfg.poll_interval).await;
        }
    }

    /// Number of confirmations of a mined receipt (1 = in the head block).
    pub async fn confirmations_of(&self, receipt: &TransactionReceipt) -> Result<u64, ChainError> {
        let head = self.block_number().await?;
        Ok(match receipt.block_number {
            Some(b) if head >= b => head - b + 1,
            _ => 0,
        })
    }

    /// A raw JSON-RPC request (tests use it for `evm_mine`).
    pub async fn raw_request<R>(
        &self,
        method: &'static str,
        params: serde_json::Value,
    ) -> Result<R, ChainError>
    where
        R: serde::de::DeserializeOwned + fmt::Debug + Send + Sync + Unpin + 'static,
    {
        self.retry(method, || {
            self.inner
                .provider
                .raw_request::<_, R>(Cow::Borrowed(method), params.clone())
        })
        .await
    }
}

/// Runs `f` up to `1 + max_retries` times while it fails with a transient transport error,
/// sleeping with exponential back-off (capped at `max_backoff`) in between.
async fn retry_rpc<T, F, Fut>(
    cfg: &ChainConfig,
    op: &'static str,
    mut f: F,
) -> Result<T, ChainError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = TransportResult<T>>,
{
    let mut delay = cfg.initial_backoff;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt <= cfg.max_retries && is_transient(&e) => {
                log::warn!("chain: {op} attempt {attempt} failed ({e}); retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(cfg.max_backoff);
            }
            Err(e) => return Err(classify(op, attempt, e)),
        }
    }
}

/// Transport-level trouble worth retrying: connection/timeout errors, HTTP 429/5xx, provider
/// rate-limit error codes. JSON-RPC errors (reverts, bad params, nonce too low) are not.
fn is_transient(e: &RpcError<TransportErrorKind>) -> bool {
    match e {
        RpcError::Transport(kind) => match kind {
            TransportErrorKind::HttpError(h) => h.status == 429 || h.status >= 500,
            TransportErrorKind::HttpErrorWithRetryAfter { .. }
            | TransportErrorKind::MissingBatchResponse(_)
            | TransportErrorKind::BackendGone
            | TransportErrorKind::Custom(_) => true,
            _ => false,
        },
        RpcError::ErrorResp(payload) => payload.is_retry_err(),
        _ => false,
    }
}

fn is_nonce_too_low(e: &RpcError<TransportErrorKind>) -> bool {
    e.as_error_resp()
        .is_some_and(|p| p.message.to_ascii_lowercase().contains("nonce too low"))
}

fn is_already_known(e: &RpcError<TransportErrorKind>) -> bool {
    e.as_error_resp().is_some_and(|p| {
        let m = p.message.to_ascii_lowercase();
        m.contains("already known")
            || m.contains("known transaction")
            || m.contains("already imported")
    })
}

/// Maps a final RPC error: reverts (revert data, or a "revert" message) become
/// [`ChainError::Reverted`], everything else [`ChainError::Rpc`].
fn classify(op: &'static str, attempts: u32, e: RpcError<TransportErrorKind>) -> ChainError {
    if let Some(payload) = e.as_error_resp() {
        let data = payload.as_revert_data();
        if data.is_some() || payload.message.to_ascii_lowercase().contains("revert") {
            let reason = data
                .as_ref()
                .and_then(|d| alloy::sol_types::decode_revert_reason(d))
                .unwrap_or_else(|| payload.message.to_string());
            return ChainError::Reverted { reason, data };
        }
    }
    ChainError::Rpc {
        op,
        attempts,
        source: e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_urls() {
        assert_eq!(
            redact_url("https://base-mainnet.g.alchemy.com/v2/SECRETKEY"),
            "https://base-mainnet.g.alchemy.com/…"
        );
        assert_eq!(redact_url("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
        assert_eq!(
            redact_url("http://127.0.0.1:8545/"),
            "http://127.0.0.1:8545"
        );
        assert_eq!(
            redact_url("https://user:pass@rpc.example?key=abc"),
            "https://rpc.example/…"
        );
    }

    #[test]
    fn bad_keys_do_not_echo_input() {
        let secret = "0xdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeZZ";
        let err = parse_private_key(secret).unwrap_err();
        assert!(matches!(err, ChainError::InvalidKey));
        assert!(!err.to_string().contains("deadbeef"));
        assert!(parse_private_key("0x1234").is_err());
        // anvil's first dev key
        let k =
            parse_private_key("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
                .unwrap();
        assert_eq!(
            k.address(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
                .parse::<Address>()
                .unwrap()
        );
        assert!(parse_private_key(
            "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
        )
        .is_ok());
    }

    #[test]
    fn config_debug_hides_url_secrets() {
        let c = ChainConfig::new("https://rpc.example/v2/SECRETKEY");
        let s = format!("{c:?}");
        assert!(!s.contains("SECRETKEY"), "{s}");
    }

    #[tokio::test]
    async fn connect_to_nothing_fails_with_rpc_error_after_retries() {
        let mut cfg = ChainConfig::new("http://127.0.0.1:9"); // discard port: connection refused
        cfg.max_retries = 2;
        cfg.initial_backoff = Duration::from_millis(1);
        let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let err = ChainClient::connect(cfg, key).await.unwrap_err();
        match &err {
            ChainError::Rpc { attempts, .. } => assert_eq!(*attempts, 3),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!err.to_string().contains("ac0974bec"));
    }

    #[tokio::test]
    async fn https_urls_build_a_tls_client() {
        // reqwest is built with rustls-no-provider: connecting must not panic for lack of a
        // crypto provider; it fails like any unreachable node.
        let mut cfg = ChainConfig::new("https://127.0.0.1:9");
        cfg.max_retries = 0;
        let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        assert!(matches!(
            ChainClient::connect(cfg, key).await,
            Err(ChainError::Rpc { .. })
        ));
    }
}
