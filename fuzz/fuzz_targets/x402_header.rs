//! x402 payment headers: decoding and verification never panic, and a payment that verifies
//! pays exactly what was asked, to the vault, in the configured token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_chain::x402::{
    decode_payment_header, verify_exact_payment, ExactRequirements, Network, TokenDomain,
};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(payload) = decode_payment_header(header) else {
        return;
    };
    let asset = "0x036CbD53842c5426634e7929541eC2318f3dCF7e".parse().unwrap();
    let requirements = ExactRequirements {
        network: Network::new("base-sepolia", 84532),
        asset,
        pay_to: "0x00000000000000000000000000000000000000aa".parse().unwrap(),
        amount: 1_000_000u64.try_into().unwrap(),
        max_timeout_seconds: 300,
        resource: "http://gateway/v1/topup".into(),
        description: "top-up".into(),
        mime_type: "application/json".into(),
    };
    let domain = TokenDomain::usdc(84532, asset);
    if let Ok(v) = verify_exact_payment(&payload, &requirements, &domain, 1_800_000_000) {
        assert_eq!(v.authorization.to, requirements.pay_to);
        assert_eq!(v.authorization.value, requirements.amount);
    }
});
