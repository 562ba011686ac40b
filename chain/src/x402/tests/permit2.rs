//! Every refusal of [`verify_permit2_payment`], and the wire round trip of a Permit2 payment.

use super::*;

fn permit2_fixture() -> (Fixture, Permit2Authorization) {
    let f = fixture();
    let auth = Permit2Authorization {
        from: f.payer.address(),
        permitted: Permitted {
            token: f.req.asset,
            amount: f.req.amount,
        },
        spender: X402_EXACT_PERMIT2_PROXY,
        nonce: U256::from(0x1234_5678u64),
        deadline: NOW + 300,
        witness: ExactWitness {
            to: f.req.pay_to,
            valid_after: 0,
        },
    };
    (f, auth)
}

fn v2(
    f: &Fixture,
    auth: &Permit2Authorization,
    signature: alloy::primitives::Bytes,
) -> PaymentPayload {
    PaymentPayload::v2(
        f.req.to_v2_with(TokenExtra::permit2()),
        Some(f.req.resource_info()),
        ExactPermit2Payload {
            signature,
            permit2_authorization: auth.clone(),
        },
    )
}

#[test]
fn a_signed_permit2_payment_round_trips_and_verifies() {
    let (f, auth) = permit2_fixture();
    let sig = sign_permit2(&f.payer, &auth, f.req.network.chain_id).unwrap();
    let header = v2(&f, &auth, sig).to_header();
    let json: serde_json::Value = decode_header(&header).unwrap();
    assert_eq!(json["accepted"]["extra"]["assetTransferMethod"], "permit2");
    assert_eq!(
        json["payload"]["permit2Authorization"]["nonce"],
        "305419896"
    );
    let decoded = decode_payment_header(&header).unwrap();
    let ok = verify_permit2_payment(&decoded, &f.req, NOW).unwrap();
    assert_eq!(ok.payer(), f.payer.address());
    assert_eq!(ok.x402_version, 2);
    // An EIP-3009 offer refuses it, and the EIP-3009 verifier too.
    assert!(matches!(
        verify_exact_payment(&decoded, &f.req, &f.domain, NOW),
        Err(PaymentError::WrongTransferMethod { .. })
    ));
}

#[test]
fn every_bad_permit2_payment_is_refused_with_its_reason() {
    let (f, auth) = permit2_fixture();
    let chain = f.req.network.chain_id;
    let signed = |edit: &dyn Fn(&mut Permit2Authorization)| {
        let mut a = auth.clone();
        edit(&mut a);
        let sig = sign_permit2(&f.payer, &a, chain).unwrap();
        verify_permit2_payment(&v2(&f, &a, sig), &f.req, NOW).unwrap_err()
    };
    let reason = |e: PaymentError| e.permit2_reason();
    assert_eq!(
        reason(signed(&|a| a.witness.to = Address::repeat_byte(9))),
        "invalid_permit2_recipient_mismatch"
    );
    assert_eq!(
        reason(signed(&|a| a.permitted.amount += U256::from(1))),
        "permit2_amount_mismatch"
    );
    assert_eq!(
        reason(signed(&|a| a.permitted.token = Address::repeat_byte(7))),
        "permit2_token_mismatch"
    );
    assert_eq!(
        reason(signed(&|a| a.spender = X402_UPTO_PERMIT2_PROXY)),
        "invalid_permit2_spender"
    );
    assert_eq!(
        reason(signed(&|a| a.deadline = NOW + 3)),
        "permit2_deadline_expired"
    );
    assert_eq!(
        reason(signed(&|a| a.deadline = NOW + 3600)),
        "permit2_deadline_expired"
    );
    assert_eq!(
        reason(signed(&|a| a.witness.valid_after = NOW + 10)),
        "permit2_not_yet_valid"
    );

    // Signed over other terms than those sent: the signature does not recover the payer.
    let good = sign_permit2(&f.payer, &auth, chain).unwrap();
    let mut other_nonce = auth.clone();
    other_nonce.nonce += U256::from(1);
    let e = verify_permit2_payment(&v2(&f, &other_nonce, good.clone()), &f.req, NOW).unwrap_err();
    assert_eq!(e.permit2_reason(), "invalid_permit2_signature");
    // Signed for another chain's Permit2 domain.
    let other_chain = sign_permit2(&f.payer, &auth, chain + 1).unwrap();
    assert!(matches!(
        verify_permit2_payment(&v2(&f, &auth, other_chain), &f.req, NOW),
        Err(PaymentError::SignerMismatch { .. })
    ));
    // Someone else's signature, or none.
    let stranger = PrivateKeySigner::random();
    let theirs = sign_permit2(&stranger, &auth, chain).unwrap();
    assert!(matches!(
        verify_permit2_payment(&v2(&f, &auth, theirs), &f.req, NOW),
        Err(PaymentError::SignerMismatch { .. })
    ));
    assert!(matches!(
        verify_permit2_payment(&v2(&f, &auth, Default::default()), &f.req, NOW),
        Err(PaymentError::BadSignature(_))
    ));
    // The v2 `accepted` must be the offer: another amount there is refused before anything else.
    let mut p = v2(&f, &auth, good);
    if let PaymentPayload::V2(v) = &mut p {
        v.accepted.amount = DecimalU256(U256::from(1u64));
    }
    assert_eq!(
        verify_permit2_payment(&p, &f.req, NOW)
            .unwrap_err()
            .permit2_reason(),
        "permit2_amount_mismatch"
    );
    // An EIP-3009 payload sent to a Permit2 offer.
    let eip3009 = signed_v1(&f, &f.auth);
    assert!(matches!(
        verify_permit2_payment(&eip3009, &f.req, NOW),
        Err(PaymentError::WrongTransferMethod { .. })
    ));
}
