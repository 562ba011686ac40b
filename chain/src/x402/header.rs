//! The header codec: base64 JSON, standard or URL-safe alphabet, padding optional.

use super::{PaymentError, PaymentPayload, EXACT_SCHEME, MAX_HEADER_BYTES};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use serde::de::DeserializeOwned;
use serde::Serialize;

const B64_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const B64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Base64 (standard alphabet, padded) of the JSON of `value`.
pub fn encode_header<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).expect("x402 types serialize to JSON");
    base64::engine::general_purpose::STANDARD.encode(json)
}

/// Decodes a base64 JSON header into `T` (standard or URL-safe alphabet, padding optional).
pub fn decode_header<T: DeserializeOwned>(value: &str) -> Result<T, PaymentError> {
    let bytes = decode_base64(value)?;
    serde_json::from_slice(&bytes).map_err(|e| PaymentError::BadJson(e.to_string()))
}

fn decode_base64(value: &str) -> Result<Vec<u8>, PaymentError> {
    let value = value.trim();
    if value.len() > MAX_HEADER_BYTES {
        return Err(PaymentError::HeaderTooLarge {
            len: value.len(),
            max: MAX_HEADER_BYTES,
        });
    }
    if value.is_empty() {
        return Err(PaymentError::BadBase64("empty header".into()));
    }
    B64_STANDARD
        .decode(value)
        .or_else(|_| B64_URL_SAFE.decode(value))
        .map_err(|e| PaymentError::BadBase64(e.to_string()))
}

/// Decodes an `X-PAYMENT` or `PAYMENT-SIGNATURE` header value (v1 or v2 by `x402Version`).
/// Scheme and version are checked before the payload shape, so a non-`exact` scheme reports
/// [`PaymentError::UnsupportedScheme`] rather than a JSON error.
pub fn decode_payment_header(value: &str) -> Result<PaymentPayload, PaymentError> {
    let raw: serde_json::Value = decode_header(value)?;
    let version = raw
        .get("x402Version")
        .ok_or_else(|| PaymentError::BadJson("missing x402Version".into()))?;
    let version = version
        .as_u64()
        .ok_or_else(|| PaymentError::BadJson(format!("x402Version is not a number: {version}")))?;
    let scheme = match version {
        1 => raw.get("scheme"),
        2 => raw.get("accepted").and_then(|a| a.get("scheme")),
        v => return Err(PaymentError::UnsupportedVersion(v)),
    };
    match scheme.and_then(|s| s.as_str()) {
        Some(EXACT_SCHEME) => {}
        Some(other) => return Err(PaymentError::UnsupportedScheme(other.to_string())),
        None => return Err(PaymentError::BadJson("missing scheme".into())),
    }
    let bad_json = |e: serde_json::Error| PaymentError::BadJson(e.to_string());
    Ok(match version {
        1 => PaymentPayload::V1(serde_json::from_value(raw).map_err(bad_json)?),
        _ => PaymentPayload::V2(serde_json::from_value(raw).map_err(bad_json)?),
    })
}
