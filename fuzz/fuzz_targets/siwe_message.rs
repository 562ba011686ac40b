//! SIWE messages and signatures: never panic, and a random input is never a signed-in wallet
//! (the verifier checks the signature before it claims the nonce).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use tollgate_gateway::identity::nonces::MemoryNonces;
use tollgate_gateway::identity::siwe::{SiwePolicy, SiweVerifier};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (message, signature) = text.split_once('\0').unwrap_or((text, "0x00"));
    let verifier = SiweVerifier::new(
        SiwePolicy {
            domain: "gateway.example".into(),
            origin: "https://gateway.example".into(),
            chain_id: 8453,
            max_age: Duration::from_secs(300),
            clock_skew: Duration::from_secs(30),
        },
        Arc::new(MemoryNonces::new(1024)),
        None,
    );
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let verdict = futures_executor::block_on(verifier.verify(message, signature, now));
    assert!(verdict.is_err(), "a fuzzed message signed in: {message:?}");
});
