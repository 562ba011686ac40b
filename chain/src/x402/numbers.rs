//! Lenient number strings: the exact-EVM scheme allows decimal and `0x` hex for
//! `value`/`validAfter`/`validBefore`; decimal is emitted.

use alloy::primitives::{B256, U256};
use serde::Deserialize;

fn parse_uint(s: &str) -> Result<U256, String> {
    let s = s.trim();
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() => U256::from_str_radix(hex, 16),
        Some(_) => return Err("empty hex number".into()),
        None if !s.is_empty() => U256::from_str_radix(s, 10),
        None => return Err("empty number".into()),
    };
    parsed.map_err(|e| format!("invalid number {s:?}: {e}"))
}

/// A string (decimal or `0x` hex) or a JSON integer.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberRepr {
    Str(String),
    Int(u64),
}

impl NumberRepr {
    fn into_u256(self) -> Result<U256, String> {
        match self {
            NumberRepr::Str(s) => parse_uint(&s),
            NumberRepr::Int(n) => Ok(U256::from(n)),
        }
    }
}

pub(super) mod uint_string {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        NumberRepr::deserialize(d)?
            .into_u256()
            .map_err(serde::de::Error::custom)
    }
}

pub(super) mod u64_string {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let v = NumberRepr::deserialize(d)?
            .into_u256()
            .map_err(serde::de::Error::custom)?;
        u64::try_from(v).map_err(|_| serde::de::Error::custom("timestamp out of range"))
    }
}

pub(super) mod nonce_string {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &B256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<B256, D::Error> {
        let v = NumberRepr::deserialize(d)?
            .into_u256()
            .map_err(serde::de::Error::custom)?;
        Ok(B256::from(v))
    }
}
