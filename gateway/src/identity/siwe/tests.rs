//! Every check of [`SiweVerifier`], with messages signed by alloy's local signer exactly as a
//! wallet would (EIP-191 personal_sign).

use super::*;
use crate::identity::nonces::MemoryNonces;
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;

const DOMAIN: &str = "gw.example.com";
const ORIGIN: &str = "https://gw.example.com";
const NOW: u64 = 1_790_000_000;

fn verifier() -> SiweVerifier {
    SiweVerifier::new(
        SiwePolicy {
            domain: DOMAIN.into(),
            origin: ORIGIN.into(),
            chain_ids: vec![8453, 42161],
            max_age: Duration::from_secs(300),
            clock_skew: Duration::from_secs(30),
        },
        Arc::new(MemoryNonces::new(1000)),
        None,
    )
}

fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

fn iso(unix: u64) -> String {
    siwe::TimeStamp::from(time::OffsetDateTime::from_unix_timestamp(unix as i64).unwrap())
        .to_string()
}

/// The fields a test varies; the rest is a valid message.
struct Msg {
    domain: &'static str,
    address: String,
    uri: String,
    chain_id: u64,
    nonce: &'static str,
    issued_at: u64,
    expiration: Option<u64>,
    not_before: Option<u64>,
}

impl Msg {
    fn new(signer: &PrivateKeySigner) -> Msg {
        Msg {
            domain: DOMAIN,
            address: signer.address().to_checksum(None),
            uri: format!("{ORIGIN}/v1/auth/keys"),
            chain_id: 8453,
            nonce: "n0nce12345",
            issued_at: NOW - 10,
            expiration: None,
            not_before: None,
        }
    }
    fn text(&self) -> String {
        let mut s = format!(
            "{} wants you to sign in with your Ethereum account:\n{}\n\nManage Tollgate API keys\n\nURI: {}\nVersion: 1\nChain ID: {}\nNonce: {}\nIssued At: {}",
            self.domain, self.address, self.uri, self.chain_id, self.nonce, iso(self.issued_at)
        );
        if let Some(e) = self.expiration {
            s += &format!("\nExpiration Time: {}", iso(e));
        }
        if let Some(n) = self.not_before {
            s += &format!("\nNot Before: {}", iso(n));
        }
        s
    }
}

fn sign(signer: &PrivateKeySigner, text: &str) -> String {
    let sig = signer.sign_message_sync(text.as_bytes()).unwrap();
    format!("0x{}", hex::encode(sig.as_bytes()))
}

async fn check(m: &Msg, signer: &PrivateKeySigner) -> Result<SiweIdentity, SiweError> {
    let text = m.text();
    verifier()
        .verify(&text, &sign(signer, &text), at(NOW))
        .await
}

#[tokio::test]
async fn a_valid_message_proves_the_wallet() {
    let s = PrivateKeySigner::random();
    let id = check(&Msg::new(&s), &s).await.unwrap();
    assert_eq!(id.wallet, format!("{:#x}", s.address()));
    assert_eq!(id.wallet, id.wallet.to_lowercase());
}

#[tokio::test]
async fn a_replayed_message_is_refused_but_a_failed_one_does_not_burn_its_nonce() {
    let s = PrivateKeySigner::random();
    let v = verifier();
    let text = Msg::new(&s).text();
    let sig = sign(&s, &text);
    // A bad signature first: refused, and the nonce stays usable.
    let other = PrivateKeySigner::random();
    assert_eq!(
        v.verify(&text, &sign(&other, &text), at(NOW)).await,
        Err(SiweError::WrongSigner)
    );
    assert!(v.verify(&text, &sig, at(NOW)).await.is_ok());
    assert_eq!(
        v.verify(&text, &sig, at(NOW)).await,
        Err(SiweError::NonceReused)
    );
}

#[tokio::test]
async fn issued_at_must_be_recent_and_not_in_the_future() {
    let s = PrivateKeySigner::random();
    let mut m = Msg::new(&s);
    m.issued_at = NOW - 6 * 60;
    assert_eq!(
        check(&m, &s).await,
        Err(SiweError::IssuedTooLongAgo { max_age_secs: 300 })
    );
    m.issued_at = NOW + 120;
    assert_eq!(check(&m, &s).await, Err(SiweError::IssuedInFuture));
    // Within the clock-skew allowance either way.
    m.issued_at = NOW + 20;
    assert!(check(&m, &s).await.is_ok());
    m.issued_at = NOW - 300 - 20;
    assert!(check(&m, &s).await.is_ok());
}

#[tokio::test]
async fn expiration_and_not_before_are_honoured() {
    let s = PrivateKeySigner::random();
    let mut m = Msg::new(&s);
    m.expiration = Some(NOW - 60);
    assert_eq!(check(&m, &s).await, Err(SiweError::Expired));
    m.expiration = Some(NOW + 60);
    assert!(check(&m, &s).await.is_ok());
    let mut m = Msg::new(&s);
    m.not_before = Some(NOW + 120);
    assert_eq!(check(&m, &s).await, Err(SiweError::NotYetValid));
}

#[tokio::test]
async fn domain_uri_and_chain_must_be_this_gateways() {
    let s = PrivateKeySigner::random();
    let mut m = Msg::new(&s);
    m.domain = "evil.example.com";
    assert!(matches!(check(&m, &s).await, Err(SiweError::Domain { .. })));
    let mut m = Msg::new(&s);
    m.uri = "https://evil.example.com/v1/auth/keys".into();
    assert!(matches!(check(&m, &s).await, Err(SiweError::Uri { .. })));
    m.uri = "https://gw.example.com.evil.com/".into();
    assert!(matches!(check(&m, &s).await, Err(SiweError::Uri { .. })));
    m.uri = "http://gw.example.com/".into();
    assert!(matches!(check(&m, &s).await, Err(SiweError::Uri { .. })));
    m.uri = ORIGIN.into();
    assert!(check(&m, &s).await.is_ok());
    let mut m = Msg::new(&s);
    m.chain_id = 1;
    assert_eq!(
        check(&m, &s).await,
        Err(SiweError::ChainId {
            got: 1,
            want: vec![8453, 42161]
        })
    );
    // Any configured chain is accepted.
    let mut m = Msg::new(&s);
    m.chain_id = 42161;
    assert!(check(&m, &s).await.is_ok());
}

#[tokio::test]
async fn a_tampered_message_or_another_signer_is_refused() {
    let s = PrivateKeySigner::random();
    let text = Msg::new(&s).text();
    let sig = sign(&s, &text);
    let tampered = text.replace("Manage Tollgate API keys", "Manage Tollgate API keyz");
    assert_eq!(
        verifier().verify(&tampered, &sig, at(NOW)).await,
        Err(SiweError::WrongSigner)
    );
    // Signed by B, claiming to be A.
    let b = PrivateKeySigner::random();
    assert_eq!(
        verifier().verify(&text, &sign(&b, &text), at(NOW)).await,
        Err(SiweError::WrongSigner)
    );
}

#[tokio::test]
async fn malformed_input_gets_a_reason() {
    let s = PrivateKeySigner::random();
    let text = Msg::new(&s).text();
    for bad in ["zz", "0xzz", "0x", "deadbeef"] {
        assert_eq!(
            verifier().verify(&text, bad, at(NOW)).await,
            Err(SiweError::BadSignatureEncoding),
            "{bad}"
        );
    }
    // Right length, garbage content.
    let junk = format!("0x{}", "11".repeat(65));
    assert_eq!(
        verifier().verify(&text, &junk, at(NOW)).await,
        Err(SiweError::WrongSigner)
    );
    assert!(matches!(
        verifier()
            .verify("hello", &sign(&s, "hello"), at(NOW))
            .await,
        Err(SiweError::Malformed(_))
    ));
    assert_eq!(
        verifier().verify("", "", at(NOW)).await,
        Err(SiweError::Missing)
    );
    // A lower-case (non EIP-55) address is refused by the parser.
    let mut m = Msg::new(&s);
    m.address = m.address.to_lowercase();
    let err = check(&m, &s).await.unwrap_err();
    assert!(
        matches!(err, SiweError::Malformed(ref e) if e.contains("EIP-55")),
        "{err}"
    );
}

/// A stand-in for a contract wallet: accepts exactly one signature.
struct OneContract(Address, Vec<u8>);

#[async_trait]
impl ContractSignatures for OneContract {
    async fn is_valid_signature(&self, a: Address, _h: B256, sig: &[u8]) -> Result<bool, String> {
        Ok(a == self.0 && sig == self.1.as_slice())
    }
}

#[tokio::test]
async fn contract_wallets_are_asked_through_eip1271() {
    let owner = PrivateKeySigner::random();
    let contract = Address::repeat_byte(0x42);
    let mut m = Msg::new(&owner);
    m.address = contract.to_checksum(None);
    let text = m.text();
    let sig = sign(&owner, &text);
    let raw = hex::decode(&sig[2..]).unwrap();
    let v = |c: Option<Arc<dyn ContractSignatures>>| {
        SiweVerifier::new(
            verifier().policy.clone(),
            Arc::new(MemoryNonces::new(10)),
            c,
        )
    };
    assert_eq!(
        v(None).verify(&text, &sig, at(NOW)).await,
        Err(SiweError::WrongSigner)
    );
    let id = v(Some(Arc::new(OneContract(contract, raw))))
        .verify(&text, &sig, at(NOW))
        .await
        .unwrap();
    assert_eq!(id.wallet, format!("{contract:#x}"));
}
