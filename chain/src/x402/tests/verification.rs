//! Every refusal of [`verify_exact_payment`]: tampered or wrong terms, wrong domains,
//! malformed signatures, scheme and network mismatches, v2 `accepted`.

use super::*;

#[test]
fn tampered_fields_are_rejected() {
    let f = fixture();
    let good_sig = sign_authorization(&f.payer, &f.auth, &f.domain).unwrap();
    // Re-use the good signature over a tampered authorization.
    let tampered = |edit: &dyn Fn(&mut ExactAuthorization)| {
        let mut a = f.auth.clone();
        edit(&mut a);
        let p = PaymentPayload::v1(
            &f.req.network,
            ExactEvmPayload {
                signature: good_sig.clone(),
                authorization: a,
            },
        );
        verify(&f, &p).unwrap_err()
    };
    // `to` / `value` mismatches are caught before the signature.
    assert!(matches!(
        tampered(&|a| a.to = Address::repeat_byte(9)),
        PaymentError::WrongRecipient { .. }
    ));
    assert!(matches!(
        tampered(&|a| a.value += U256::from(1)),
        PaymentError::WrongAmount { .. }
    ));
    // Fields only the signature binds.
    assert!(matches!(
        tampered(&|a| a.nonce = B256::repeat_byte(1)),
        PaymentError::SignerMismatch { .. }
    ));
    assert!(matches!(
        tampered(&|a| a.valid_after -= 1),
        PaymentError::SignerMismatch { .. }
    ));
    assert!(matches!(
        tampered(&|a| a.valid_before -= 1),
        PaymentError::SignerMismatch { .. }
    ));
    assert!(matches!(
        tampered(&|a| a.from = Address::repeat_byte(7)),
        PaymentError::SignerMismatch { .. }
    ));
    let e = tampered(&|a| a.from = Address::repeat_byte(7));
    assert_eq!(e.reason(), "invalid_exact_evm_payload_signature");
}

#[test]
fn properly_signed_but_wrong_terms_are_rejected() {
    let f = fixture();
    let signed = |edit: &dyn Fn(&mut ExactAuthorization)| {
        let mut a = f.auth.clone();
        edit(&mut a);
        verify(&f, &signed_v1(&f, &a))
    };
    let e = signed(&|a| a.value = U256::from(4_999_999u64)).unwrap_err();
    assert_eq!(e.reason(), "invalid_exact_evm_payload_authorization_value");
    assert!(matches!(
        signed(&|a| a.value = U256::from(5_000_001u64)),
        Err(PaymentError::WrongAmount { .. })
    ));
    let e = signed(&|a| a.to = Address::repeat_byte(3)).unwrap_err();
    assert_eq!(e.reason(), "invalid_exact_evm_payload_recipient_mismatch");
    // Time window.
    assert!(matches!(
        signed(&|a| a.valid_after = NOW + 1),
        Err(PaymentError::NotYetValid { .. })
    ));
    assert!(signed(&|a| a.valid_after = NOW).is_ok());
    assert!(matches!(
        signed(&|a| a.valid_before = NOW),
        Err(PaymentError::Expired { .. })
    ));
    assert!(matches!(
        signed(&|a| a.valid_before = NOW - 1),
        Err(PaymentError::Expired { .. })
    ));
    assert!(matches!(
        signed(&|a| a.valid_before = NOW + SETTLEMENT_MARGIN_SECS),
        Err(PaymentError::Expired { .. })
    ));
    assert!(signed(&|a| a.valid_before = NOW + SETTLEMENT_MARGIN_SECS + 1).is_ok());
    assert!(signed(&|a| a.valid_before = NOW + 300 + CLOCK_SKEW_SECS).is_ok());
    assert!(matches!(
        signed(&|a| a.valid_before = NOW + 300 + CLOCK_SKEW_SECS + 1),
        Err(PaymentError::ValidityTooLong { .. })
    ));
    // Case-insensitive recipient: addresses are compared as bytes.
    let lower: Address = f.req.pay_to.to_string().to_lowercase().parse().unwrap();
    assert!(signed(&|a| a.to = lower).is_ok());
}

#[test]
fn wrong_domain_signatures_are_rejected() {
    let f = fixture();
    for other in [
        TokenDomain::new(
            "USD Coin",
            "2",
            f.domain.chain_id,
            f.domain.verifying_contract,
        ), // name
        TokenDomain::new("USDC", "1", f.domain.chain_id, f.domain.verifying_contract), // version
        TokenDomain::new("USDC", "2", 8453, f.domain.verifying_contract),              // chain
        TokenDomain::new("USDC", "2", f.domain.chain_id, Address::repeat_byte(5)),     // contract
    ] {
        let signature = sign_authorization(&f.payer, &f.auth, &other).unwrap();
        let p = PaymentPayload::v1(
            &f.req.network,
            ExactEvmPayload {
                signature,
                authorization: f.auth.clone(),
            },
        );
        assert!(
            matches!(verify(&f, &p), Err(PaymentError::SignerMismatch { .. })),
            "{other:?}"
        );
    }
}

#[test]
fn malformed_signatures_are_rejected() {
    let f = fixture();
    let good = sign_authorization(&f.payer, &f.auth, &f.domain).unwrap();
    let with_sig = |sig: Vec<u8>| {
        let p = PaymentPayload::v1(
            &f.req.network,
            ExactEvmPayload {
                signature: sig.into(),
                authorization: f.auth.clone(),
            },
        );
        verify(&f, &p)
    };
    assert!(matches!(
        with_sig(good[..64].to_vec()),
        Err(PaymentError::BadSignature(_))
    ));
    assert!(matches!(
        with_sig(vec![0u8; 130]),
        Err(PaymentError::BadSignature(_))
    ));
    let mut bad_v = good.to_vec();
    bad_v[64] = 5;
    assert!(matches!(
        with_sig(bad_v),
        Err(PaymentError::BadSignature(_))
    ));
    // v as 0/1 is accepted.
    let mut v01 = good.to_vec();
    v01[64] -= 27;
    assert!(with_sig(v01).is_ok());
    // The malleable twin (n - s, flipped v) recovers the same key but is rejected.
    let sig = Signature::from_raw(&good).unwrap();
    let n = U256::from_str_radix(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141",
        16,
    )
    .unwrap();
    let twin = Signature::new(sig.r(), n - sig.s(), !sig.v());
    assert!(matches!(
        with_sig(twin.as_bytes().to_vec()),
        Err(PaymentError::BadSignature(_))
    ));
}

#[test]
fn scheme_and_network_mismatches() {
    let f = fixture();
    let PaymentPayload::V1(mut p) = signed_v1(&f, &f.auth) else {
        unreachable!()
    };
    p.network = "base".into();
    let e = verify(&f, &PaymentPayload::V1(p.clone())).unwrap_err();
    assert!(matches!(e, PaymentError::WrongNetwork { .. }));
    assert_eq!(e.reason(), "invalid_network");
    p.network = "eip155:84532".into();
    assert!(verify(&f, &PaymentPayload::V1(p.clone())).is_ok());
    p.scheme = "upto".into();
    assert!(matches!(
        verify(&f, &PaymentPayload::V1(p)),
        Err(PaymentError::UnsupportedScheme(_))
    ));
}

#[test]
fn v2_accepted_must_match_requirements() {
    let f = fixture();
    let sig = sign_authorization(&f.payer, &f.auth, &f.domain).unwrap();
    let run = |edit: &dyn Fn(&mut RequirementsV2)| {
        let mut accepted = f.req.to_v2(&f.domain);
        edit(&mut accepted);
        let p = PaymentPayload::v2(
            accepted,
            None,
            ExactEvmPayload {
                signature: sig.clone(),
                authorization: f.auth.clone(),
            },
        );
        verify(&f, &p)
    };
    assert!(run(&|_| {}).is_ok());
    assert!(matches!(
        run(&|a| a.network = ChainId::new("eip155", "8453")),
        Err(PaymentError::WrongNetwork { .. })
    ));
    assert!(matches!(
        run(&|a| a.asset = Address::repeat_byte(1)),
        Err(PaymentError::WrongAsset { .. })
    ));
    assert!(matches!(
        run(&|a| a.pay_to = Address::repeat_byte(1)),
        Err(PaymentError::WrongRecipient { .. })
    ));
    assert!(matches!(
        run(&|a| a.amount = DecimalU256(U256::from(1))),
        Err(PaymentError::WrongAmount { .. })
    ));
    assert!(matches!(
        run(&|a| a.scheme = "upto".into()),
        Err(PaymentError::UnsupportedScheme(_))
    ));
}

#[test]
fn misconfigured_domain_is_reported() {
    let f = fixture();
    let p = signed_v1(&f, &f.auth);
    let mut d = f.domain.clone();
    d.verifying_contract = Address::repeat_byte(1);
    assert!(matches!(
        verify_exact_payment(&p, &f.req, &d, NOW),
        Err(PaymentError::DomainMismatch(_))
    ));
    let mut d = f.domain.clone();
    d.chain_id = 1;
    assert!(matches!(
        verify_exact_payment(&p, &f.req, &d, NOW),
        Err(PaymentError::DomainMismatch(_))
    ));
}

#[test]
fn every_error_has_a_message_and_reason() {
    let errors = [
        PaymentError::HeaderTooLarge { len: 1, max: 0 },
        PaymentError::BadBase64("x".into()),
        PaymentError::BadJson("x".into()),
        PaymentError::UnsupportedVersion(9),
        PaymentError::UnsupportedScheme("x".into()),
        PaymentError::WrongNetwork {
            expected: "a".into(),
            got: "b".into(),
        },
        PaymentError::WrongAsset {
            expected: Address::ZERO,
            got: Address::ZERO,
        },
        PaymentError::WrongRecipient {
            expected: Address::ZERO,
            got: Address::ZERO,
        },
        PaymentError::WrongAmount {
            expected: U256::ZERO,
            got: U256::ZERO,
        },
        PaymentError::NotYetValid {
            valid_after: 1,
            now: 0,
        },
        PaymentError::Expired {
            valid_before: 0,
            now: 1,
            margin: 6,
        },
        PaymentError::ValidityTooLong {
            valid_before: 9,
            max: 1,
        },
        PaymentError::BadSignature("x".into()),
        PaymentError::SignerMismatch {
            from: Address::ZERO,
            recovered: Address::ZERO,
        },
        PaymentError::DomainMismatch("x".into()),
    ];
    for e in errors {
        assert!(!e.to_string().is_empty());
        assert!(!e.reason().is_empty());
    }
}
