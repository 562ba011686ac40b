//! `X-PAYMENT-RESPONSE` / `PAYMENT-RESPONSE`: what the gateway answers once it has settled.

use super::encode_header;
use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

/// `X-PAYMENT-RESPONSE` / `PAYMENT-RESPONSE` content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementResponse {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Address>,
    /// Transaction hash; empty string when settlement failed.
    #[serde(default)]
    pub transaction: String,
    /// v1 network name or v2 CAIP-2 id, matching the request's version.
    pub network: String,
}

impl SettlementResponse {
    pub fn success(transaction: B256, network: impl Into<String>, payer: Address) -> Self {
        SettlementResponse {
            success: true,
            error_reason: None,
            payer: Some(payer),
            transaction: transaction.to_string(),
            network: network.into(),
        }
    }

    pub fn failure(
        reason: impl Into<String>,
        network: impl Into<String>,
        payer: Option<Address>,
    ) -> Self {
        SettlementResponse {
            success: false,
            error_reason: Some(reason.into()),
            payer,
            transaction: String::new(),
            network: network.into(),
        }
    }

    /// Base64 header value.
    pub fn to_header(&self) -> String {
        encode_header(self)
    }
}
