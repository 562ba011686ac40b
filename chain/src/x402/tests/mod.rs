//! The wire types and header codec, through a fixture payment signed as a client would.

use super::*;
use alloy::primitives::{Address, Signature, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use base64::Engine as _;

const NOW: u64 = 1_790_000_000;

struct Fixture {
    payer: PrivateKeySigner,
    req: ExactRequirements,
    domain: TokenDomain,
    auth: ExactAuthorization,
}

fn fixture() -> Fixture {
    let payer = PrivateKeySigner::random();
    let asset: Address = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
        .parse()
        .unwrap();
    let pay_to: Address = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
        .parse()
        .unwrap();
    let network = Network::known("base-sepolia").unwrap();
    let domain = TokenDomain::new("USDC", "2", network.chain_id, asset);
    let req = ExactRequirements {
        network,
        asset,
        pay_to,
        amount: U256::from(5_000_000u64),
        max_timeout_seconds: 300,
        resource: "https://gw.example/v1/topup".into(),
        description: "Prepaid top-up".into(),
        mime_type: "application/json".into(),
    };
    let auth = ExactAuthorization {
        from: payer.address(),
        to: pay_to,
        value: U256::from(5_000_000u64),
        valid_after: NOW - 600,
        valid_before: NOW + 300,
        nonce: B256::repeat_byte(0x42),
    };
    Fixture {
        payer,
        req,
        domain,
        auth,
    }
}

fn signed_v1(f: &Fixture, auth: &ExactAuthorization) -> PaymentPayload {
    let signature = sign_authorization(&f.payer, auth, &f.domain).unwrap();
    PaymentPayload::v1(
        &f.req.network,
        ExactEvmPayload {
            signature,
            authorization: auth.clone(),
        },
    )
}

fn verify(f: &Fixture, p: &PaymentPayload) -> Result<VerifiedAuthorization, PaymentError> {
    verify_exact_payment(p, &f.req, &f.domain, NOW)
}

#[test]
fn v1_roundtrip_through_header_verifies() {
    let f = fixture();
    let header = signed_v1(&f, &f.auth).to_header();
    let decoded = decode_payment_header(&header).unwrap();
    let ok = verify(&f, &decoded).unwrap();
    assert_eq!(ok.payer(), f.payer.address());
    assert_eq!(ok.value(), U256::from(5_000_000u64));
    assert_eq!(ok.x402_version, 1);
    let (v, r, s) = ok.vrs();
    assert!(v == 27 || v == 28);
    assert_eq!(U256::from_be_bytes(r.0), ok.signature.r());
    assert_eq!(U256::from_be_bytes(s.0), ok.signature.s());
}

#[test]
fn v2_roundtrip_through_header_verifies() {
    let f = fixture();
    let sig = sign_authorization(&f.payer, &f.auth, &f.domain).unwrap();
    let p = PaymentPayload::v2(
        f.req.to_v2(&f.domain),
        Some(f.req.resource_info()),
        ExactEvmPayload {
            signature: sig,
            authorization: f.auth.clone(),
        },
    );
    let header = p.to_header();
    let json: serde_json::Value = decode_header(&header).unwrap();
    assert_eq!(json["x402Version"], 2);
    assert_eq!(json["accepted"]["network"], "eip155:84532");
    assert_eq!(json["accepted"]["amount"], "5000000");
    assert_eq!(json["payload"]["authorization"]["value"], "5000000");
    let decoded = decode_payment_header(&header).unwrap();
    assert_eq!(verify(&f, &decoded).unwrap().x402_version, 2);
}

#[test]
fn spec_example_payload_parses() {
    // The exact-EVM scheme spec's example header (signature is not for our domain).
    let json = r#"{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{
        "signature":"0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c",
        "authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
        "value":"10000","validAfter":"1740672089","validBefore":"1740672154",
        "nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}}}"#;
    let header = base64::engine::general_purpose::STANDARD.encode(json);
    let p = decode_payment_header(&header).unwrap();
    let a = &p.eip3009().unwrap().authorization;
    assert_eq!(a.value, U256::from(10_000u64));
    assert_eq!(a.valid_before, 1_740_672_154);
    assert_eq!(p.network(), "base-sepolia");
}

#[test]
fn hex_numbers_are_accepted() {
    let a: ExactAuthorization = serde_json::from_str(
        r#"{"from":"0x857b06519e91e3a54538791bdbb0e22373e36b66","to":"0x209693bc6afc0c5328ba36faf03c514ef312287c",
            "value":"0x2710","validAfter":1740672089,"validBefore":"0x67C0A19A","nonce":"0x01"}"#,
    )
    .unwrap();
    assert_eq!(a.value, U256::from(10_000u64));
    assert_eq!(a.valid_after, 1_740_672_089);
    assert_eq!(a.valid_before, 0x67C0A19A);
    assert_eq!(a.nonce, B256::from(U256::from(1u64)));
}

#[test]
fn payment_required_v1_body_shape() {
    let f = fixture();
    let body = payment_required_v1("X-PAYMENT header is required", vec![f.req.to_v1(&f.domain)]);
    let v = serde_json::to_value(&body).unwrap();
    assert_eq!(v["x402Version"], 1);
    assert_eq!(v["error"], "X-PAYMENT header is required");
    let a = &v["accepts"][0];
    assert_eq!(a["scheme"], "exact");
    assert_eq!(a["network"], "base-sepolia");
    assert_eq!(a["maxAmountRequired"], "5000000");
    assert_eq!(a["mimeType"], "application/json");
    assert_eq!(a["maxTimeoutSeconds"], 300);
    assert_eq!(a["extra"]["name"], "USDC");
    assert_eq!(a["extra"]["version"], "2");
    assert_eq!(
        a["payTo"].as_str().unwrap().to_lowercase(),
        f.req.pay_to.to_string().to_lowercase()
    );
    assert!(a.get("outputSchema").is_none());
    // And it parses back.
    let back: PaymentRequiredV1 = serde_json::from_value(v).unwrap();
    assert_eq!(back.accepts[0].max_amount_required.0, f.req.amount);
}

#[test]
fn payment_required_v2_header_shape() {
    let f = fixture();
    let pr = payment_required_v2(
        "PAYMENT-SIGNATURE header is required",
        f.req.resource_info(),
        vec![f.req.to_v2(&f.domain)],
    );
    let v: serde_json::Value = decode_header(&encode_header(&pr)).unwrap();
    assert_eq!(v["x402Version"], 2);
    assert_eq!(v["resource"]["url"], "https://gw.example/v1/topup");
    assert_eq!(v["resource"]["mimeType"], "application/json");
    assert_eq!(v["accepts"][0]["network"], "eip155:84532");
    assert_eq!(v["accepts"][0]["amount"], "5000000");
    assert!(v["accepts"][0].get("maxAmountRequired").is_none());
}

#[test]
fn settlement_response_shape() {
    let payer = Address::repeat_byte(0x11);
    let ok = SettlementResponse::success(B256::repeat_byte(0xab), "eip155:84532", payer);
    let v: serde_json::Value = decode_header(&ok.to_header()).unwrap();
    assert_eq!(v["success"], true);
    assert_eq!(v["transaction"].as_str().unwrap().len(), 66);
    assert_eq!(v["network"], "eip155:84532");
    assert!(v.get("errorReason").is_none());
    let bad = SettlementResponse::failure("insufficient_funds", "base", None);
    let v = serde_json::to_value(&bad).unwrap();
    assert_eq!(v["errorReason"], "insufficient_funds");
    assert_eq!(v["transaction"], "");
    // The spec's failure example omits `transaction`.
    let parsed: SettlementResponse = serde_json::from_str(
        r#"{"success":false,"errorReason":"insufficient_funds","network":"eip155:84532"}"#,
    )
    .unwrap();
    assert!(!parsed.success && parsed.transaction.is_empty());
}

#[test]
fn networks() {
    assert_eq!(Network::known("base").unwrap().chain_id, 8453);
    assert_eq!(Network::known("base-sepolia").unwrap().chain_id, 84532);
    assert_eq!(Network::known("avalanche").unwrap().chain_id, 43114);
    assert_eq!(Network::known("avalanche-fuji").unwrap().chain_id, 43113);
    assert!(Network::known("solana").is_none());
    assert!(Network::known("nope").is_none());
    assert_eq!(Network::for_chain_id(8453).name, "base");
    let anvil = Network::new("anvil", 31337);
    assert_eq!(anvil.caip2().to_string(), "eip155:31337");
    assert!(
        anvil.matches_v1("ANVIL") && anvil.matches_v1("eip155:31337") && !anvil.matches_v1("base")
    );
    assert_eq!(Network::for_chain_id(31337).name, "eip155-31337");
}

#[test]
fn header_decoding_errors() {
    assert!(matches!(
        decode_payment_header("%%%not base64"),
        Err(PaymentError::BadBase64(_))
    ));
    assert!(matches!(
        decode_payment_header(""),
        Err(PaymentError::BadBase64(_))
    ));
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert!(matches!(
        decode_payment_header(&b64("{nope")),
        Err(PaymentError::BadJson(_))
    ));
    assert!(matches!(
        decode_payment_header(&b64("{}")),
        Err(PaymentError::BadJson(_))
    ));
    assert_eq!(
        decode_payment_header(&b64(r#"{"x402Version":3}"#)).unwrap_err(),
        PaymentError::UnsupportedVersion(3)
    );
    assert_eq!(
        decode_payment_header(&b64(
            r#"{"x402Version":1,"scheme":"upto","network":"base","payload":{}}"#
        ))
        .unwrap_err(),
        PaymentError::UnsupportedScheme("upto".into())
    );
    assert!(matches!(
        decode_payment_header(&b64(
            r#"{"x402Version":1,"scheme":"exact","network":"base","payload":{}}"#
        )),
        Err(PaymentError::BadJson(_))
    ));
    let huge = "A".repeat(MAX_HEADER_BYTES + 1);
    assert!(matches!(
        decode_payment_header(&huge),
        Err(PaymentError::HeaderTooLarge { .. })
    ));
    // URL-safe alphabet without padding is tolerated.
    let f = fixture();
    let json = serde_json::to_vec(match &signed_v1(&f, &f.auth) {
        PaymentPayload::V1(p) => p,
        _ => unreachable!(),
    })
    .unwrap();
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    assert!(decode_payment_header(&url_safe).is_ok());
}

mod verification;

mod permit2;
