//! The identity index: which jobs verify a given BVN, NIN or account number, answered without
//! storing the number. Each indexed job gets an entry `hmac|id` in the queue's `ident` zset,
//! where `hmac` is HMAC-SHA256 under a key only producers and operators hold
//! (`queue.index_key`). Someone who can read Redis but lacks the key learns nothing from the
//! index; an 11-digit BVN is too small a space to protect with a plain hash.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The kinds of identifier the index knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// Bank Verification Number.
    Bvn,
    /// National Identification Number.
    Nin,
    /// Bank account number.
    Nuban,
}

/// Checks that `value` is exactly `len` ASCII digits; the error names `field` and the length
/// it got, never the value.
pub fn digits(field: &str, value: &str, len: usize) -> Result<(), String> {
    if value.len() == len && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "{field} must be exactly {len} digits (got {} characters)",
            value.chars().count()
        ))
    }
}

impl IdType {
    /// Checks the number's shape: a BVN or NIN is 11 digits, an account number 10.
    pub fn check(self, value: &str) -> Result<(), String> {
        let len = match self {
            Self::Bvn | Self::Nin => 11,
            Self::Nuban => 10,
        };
        digits(self.as_str(), value.trim(), len)
    }

    /// The name used in flags and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bvn => "bvn",
            Self::Nin => "nin",
            Self::Nuban => "nuban",
        }
    }
}

/// The secret the index is keyed with. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IndexKey(String);

impl TryFrom<String> for IndexKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::new(s)
    }
}

impl From<IndexKey> for String {
    fn from(k: IndexKey) -> String {
        k.0
    }
}

impl IndexKey {
    /// A key from its text; at least 16 bytes, so it cannot be guessed like the numbers it hides.
    pub fn new(key: impl Into<String>) -> Result<Self, String> {
        let key = key.into();
        if key.len() < 16 {
            return Err("queue.index_key must be at least 16 bytes long".into());
        }
        Ok(Self(key))
    }

    /// The index entry prefix for `value` of type `ty`: 32 hex digits (128 bits) of
    /// HMAC-SHA256 over `type:value`.
    pub fn hash(&self, ty: IdType, value: &str) -> String {
        self.hash_labelled(ty.as_str(), value)
    }

    /// The keyed hash of `label:value`, for identifiers outside [`IdType`] (an Okra customer
    /// id, an RC or TIN number).
    pub fn hash_labelled(&self, label: &str, value: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.0.as_bytes()).expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        mac.update(b":");
        mac.update(value.trim().as_bytes());
        mac.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl std::fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndexKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_depend_on_key_type_and_value() {
        let a = IndexKey::new("0123456789abcdef").unwrap();
        let b = IndexKey::new("fedcba9876543210").unwrap();
        let h = a.hash(IdType::Bvn, "22234567890");
        assert_eq!(h.len(), 32);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, a.hash(IdType::Bvn, " 22234567890 "));
        assert_ne!(h, b.hash(IdType::Bvn, "22234567890"));
        assert_ne!(h, a.hash(IdType::Nin, "22234567890"));
        assert!(!h.contains("22234567890"));
        assert!(IndexKey::new("short").is_err());
        assert_eq!(format!("{a:?}"), "IndexKey(***)");
    }
}
