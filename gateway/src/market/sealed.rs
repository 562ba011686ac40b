//! Upstream API keys at rest: AES-256-GCM under the operator's master key. The stored form
//! is `nonce (12 bytes) || ciphertext || tag`, with the upstream id as associated data (a
//! sealed key copied to another row does not open), beside the master key's id so that
//! `tollgate keys rotate-master` knows which key opens which row.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

pub struct MasterKey {
    cipher: Aes256Gcm,
    /// First 16 hex digits of SHA-256 of the key's hex text: names the key, reveals nothing.
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// From 64 hex digits (what `marketplace.master_key` holds).
    pub fn from_hex(hex_key: &str) -> Result<MasterKey, String> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_key.trim(), &mut bytes)
            .map_err(|_| "a master key is 64 hex digits (32 bytes)".to_string())?;
        let hash = tollgate_billing::ledger::hash_api_key(&hex_key.trim().to_ascii_lowercase());
        Ok(MasterKey {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
            id: hex::encode(&hash[..8]),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seal `secret` for the upstream `upstream_id`.
    pub fn seal(&self, upstream_id: &str, secret: &str) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.as_bytes(),
                    aad: upstream_id.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short key cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// Open what [`Self::seal`] produced for the same upstream id.
    pub fn open(&self, upstream_id: &str, sealed: &[u8]) -> Result<String, String> {
        if sealed.len() < 12 + 16 {
            return Err("sealed key is truncated".into());
        }
        let (nonce, ct) = sealed.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: upstream_id.as_bytes(),
                },
            )
            .map_err(|_| "sealed key does not open under this master key".to_string())?;
        String::from_utf8(plain).map_err(|_| "sealed key is not text".into())
    }
}

/// The master key new seals are made with, and the previous ones rows may still be sealed
/// under (`marketplace.previous_master_keys`, during a rotation).
#[derive(Debug)]
pub struct Keyring {
    pub current: MasterKey,
    pub previous: Vec<MasterKey>,
}

impl Keyring {
    pub fn from_hex(current: &str, previous: &[String]) -> Result<Keyring, String> {
        Ok(Keyring {
            current: MasterKey::from_hex(current)?,
            previous: previous
                .iter()
                .map(|k| MasterKey::from_hex(k))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The key named `master_id`.
    pub fn get(&self, master_id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id() == master_id)
    }

    /// Open a row sealed under whichever of the keys `master_id` names.
    pub fn open(
        &self,
        upstream_id: &str,
        sealed: &[u8],
        master_id: &str,
    ) -> Result<String, String> {
        self.get(master_id)
            .ok_or_else(|| {
                format!("sealed under master key {master_id}, which this node does not have")
            })?
            .open(upstream_id, sealed)
    }
}

/// The last four characters of a key: all that is ever shown of it.
pub fn last4(secret: &str) -> String {
    let n = secret.chars().count();
    secret.chars().skip(n.saturating_sub(4)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

    #[test]
    fn seals_open_only_with_their_key_and_row() {
        let k = MasterKey::from_hex(K1).unwrap();
        let sealed = k.seal("acme", "sk-upstream-secret");
        assert!(!sealed
            .windows(b"upstream-secret".len())
            .any(|w| w == b"upstream-secret"));
        assert_eq!(k.open("acme", &sealed).unwrap(), "sk-upstream-secret");
        assert!(
            k.open("other", &sealed).is_err(),
            "bound to its upstream id"
        );
        let k2 = MasterKey::from_hex(K2).unwrap();
        assert!(k2.open("acme", &sealed).is_err());
        assert_ne!(k.id(), k2.id());
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(k.open("acme", &flipped).is_err());
        assert_ne!(
            k.seal("acme", "x"),
            k.seal("acme", "x"),
            "fresh nonce each time"
        );
        assert!(MasterKey::from_hex("abcd").is_err());
        assert_eq!(last4("sk-abcdef"), "cdef");
        assert_eq!(last4("ab"), "ab");
    }
}
