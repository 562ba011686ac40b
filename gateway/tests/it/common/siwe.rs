//! SIWE messages signed the way a wallet signs them (EIP-191 personal_sign, alloy's signer).

use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The fields tests vary; `SiweMsg::for_gateway` fills in a valid message.
#[derive(Clone)]
pub struct SiweMsg {
    pub domain: String,
    pub address: String,
    pub uri: String,
    pub chain_id: u64,
    pub nonce: String,
    pub issued_at: SystemTime,
}

static NONCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl SiweMsg {
    /// A valid message for the gateway at `base` (`http://127.0.0.1:PORT`) on `chain_id`.
    pub fn for_gateway(signer: &PrivateKeySigner, base: &str, chain_id: u64) -> SiweMsg {
        let n = NONCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        SiweMsg {
            domain: base.trim_start_matches("http://").to_string(),
            address: signer.address().to_checksum(None),
            uri: format!("{base}/v1/auth/keys"),
            chain_id,
            nonce: format!("test{}n{n}", std::process::id()),
            issued_at: SystemTime::now(),
        }
    }

    pub fn text(&self) -> String {
        let secs = self.issued_at.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let iso = time::OffsetDateTime::from_unix_timestamp(secs)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        format!(
            "{} wants you to sign in with your Ethereum account:\n{}\n\nManage Tollgate API keys\n\nURI: {}\nVersion: 1\nChain ID: {}\nNonce: {}\nIssued At: {}",
            self.domain, self.address, self.uri, self.chain_id, self.nonce, iso
        )
    }

    pub fn aged(mut self, by: Duration) -> SiweMsg {
        self.issued_at -= by;
        self
    }

    /// `(message, signature)` signed by `signer`.
    pub fn signed(&self, signer: &PrivateKeySigner) -> (String, String) {
        let text = self.text();
        let sig = signer.sign_message_sync(text.as_bytes()).unwrap();
        (text, format!("0x{}", hex_encode(&sig.as_bytes())))
    }
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
