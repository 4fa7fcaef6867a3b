//! The identity index: which jobs verify a given BVN, NIN or account number, answered without
//! storing the number. Each indexed job gets an entry `hmac|id` in the queue's `ident` zset,
//! where `hmac` is HMAC-SHA256 under a key only producers and operators hold
//! (`queue.index_key`). Someone who can read Redis but lacks the key learns nothing from the
//! index; an 11-digit BVN is too small a space to protect with a plain hash.

mod runs;

use std::ops::Range;

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
    /// Every identifier the index knows, in the order flags and forms show them.
    pub const ALL: [IdType; 3] = [Self::Bvn, Self::Nin, Self::Nuban];

    /// The type named `name` (`bvn`, `nin`, `nuban`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// How people call it (`BVN`, `account number`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Bvn => "BVN",
            Self::Nin => "NIN",
            Self::Nuban => "account number",
        }
    }

    /// Checks the number's shape: a BVN or NIN is 11 digits, an account number 10.
    pub fn check(self, value: &str) -> Result<(), String> {
        digits(self.as_str(), value.trim(), self.digits())
    }

    /// How many digits the number has.
    pub fn digits(self) -> usize {
        match self {
            Self::Bvn | Self::Nin => 11,
            Self::Nuban => 10,
        }
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
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IndexKey(String, Hmac<Sha256>);

impl PartialEq for IndexKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for IndexKey {}

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
        // Keyed once: each hash then clones the keyed state instead of hashing the key again
        // (a worker with reuse on hashes every answer's numbers on the hot path).
        let mac =
            Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
        Ok(Self(key, mac))
    }

    /// The index entry prefix for `value` of type `ty`: 32 hex digits (128 bits) of
    /// HMAC-SHA256 over `type:value`.
    pub fn hash(&self, ty: IdType, value: &str) -> String {
        self.hash_labelled(ty.as_str(), value)
    }

    /// The key's check value (HMAC of a fixed label under it, 32 hex digits): what
    /// `okq:keycheck` keeps under [`INDEX_CHECK_ID`], so a process with another index key is
    /// refused before it hashes anything.
    pub fn check_value(&self) -> String {
        self.hash_labelled("okq-index-key-check-v1", "")
    }

    /// Keyed hashes of every identifier `text` (an answer, a failure) carries, so erasing a
    /// person finds the jobs whose answers name them, not only the jobs that asked about them:
    /// each run of exactly 11 digits is hashed as a BVN and as a NIN, each run of exactly 10
    /// as an account number. Found by shape, not by field name: a number under any key counts.
    /// Distinct, in the order found.
    pub fn carried(&self, text: &str) -> Vec<String> {
        self.carried_besides(text, None)
    }

    /// [`Self::carried`], leaving out the number whose hash (under any of its readings) is
    /// `own`: the job's own identifier, indexed already under its type. Read as another type
    /// (a BVN's digits as a NIN) it names nobody this job is about, and indexing it would cost
    /// every answer a cross-reference for nothing.
    pub fn carried_besides(&self, text: &str, own: Option<&str>) -> Vec<String> {
        self.scan(text, Own::Hash(own))
    }

    /// [`Self::carried_besides`] for a job that knows its own number as typed (`label`, as
    /// [`Self::hash_labelled`] takes it, and `number`): the number is left out by its digits,
    /// without hashing it. Same result; one HMAC less per answer on the reuse store's settle.
    pub fn carried_besides_own(&self, text: &str, label: &str, number: &str) -> Vec<String> {
        self.scan(text, Own::Plain(label, number.trim()))
    }

    fn scan(&self, text: &str, own: Own<'_>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        // Dates, times and other numbers of an answer are passed over without any work.
        for Range { start, end: i } in runs::id_runs(text.as_bytes()) {
            let types: &[IdType] = if i - start == 11 {
                &[IdType::Bvn, IdType::Nin]
            } else {
                &[IdType::Nuban]
            };
            // ASCII digits: both ends are character boundaries.
            let run = &text[start..i];
            if let Own::Plain(label, number) = own
                && run == number
                && types.iter().any(|t| t.as_str() == label)
            {
                continue;
            }
            // Hashed one reading at a time: the job's own number (the common match) stops at
            // its first reading instead of paying for the others.
            let mark = out.len();
            for ty in types {
                let h = self.hash(*ty, run);
                if let Own::Hash(Some(own)) = own
                    && own == h
                {
                    // None of this run's readings: it is the job's own number.
                    out.truncate(mark);
                    break;
                }
                if !out[..mark].contains(&h) {
                    out.push(h);
                }
            }
        }
        out
    }

    /// The keyed hash of `label:value`, for identifiers outside [`IdType`] (an Okra customer
    /// id, an RC or TIN number).
    pub fn hash_labelled(&self, label: &str, value: &str) -> String {
        let mut mac = self.1.clone();
        mac.update(label.as_bytes());
        mac.update(b":");
        mac.update(value.trim().as_bytes());
        hex(&mac.finalize().into_bytes()[..16])
    }
}

/// How a scan knows the job's own number: by its keyed hash, or as typed.
#[derive(Clone, Copy)]
enum Own<'a> {
    Hash(Option<&'a str>),
    /// The label it is hashed under and its digits.
    Plain(&'a str, &'a str),
}

/// The id the index key's check value is kept under in `okq:keycheck` (no seal key id can
/// start with `#`).
pub const INDEX_CHECK_ID: &str = "#index";

/// The one line a process with another index key stops with (never the key).
pub const INDEX_MISMATCH: &str = "queue.index_key is not the index key this Redis was written with (its check value in okq:keycheck differs): idempotency claims and the identity index are its hashes, so every producer, worker and operator must share it";

/// An idempotency key as every queue stores it: `#` and 32 hex digits, the keyed hash of
/// `idem:<key>` under `key` (what sealed queues always stored), or without an index key a
/// plain SHA-256 of it (a key made of a BVN is then guessable by trying every BVN: set
/// `queue.index_key`). An idempotency key is never stored as given.
pub fn idem_hash(key: Option<&IndexKey>, idem: &str) -> String {
    match key {
        Some(k) => format!("#{}", k.hash_labelled("idem", idem)),
        None => {
            use sha2::Digest;
            let digest = Sha256::new()
                .chain_update(b"idem:")
                .chain_update(idem.trim().as_bytes())
                .finalize();
            format!("#{}", hex(&digest[..16]))
        }
    }
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = vec![0; 2 * bytes.len()];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
    String::from_utf8(out).expect("hex digits are ASCII")
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

    #[test]
    fn answers_are_indexed_by_every_number_they_carry() {
        let k = IndexKey::new("0123456789abcdef").unwrap();
        let answer =
            r#"{"customer":"c-1","bvn":"22234567890","account":"0123456789","at":1795996800123}"#;
        let c = k.carried(answer);
        assert_eq!(c.len(), 3, "{c:?}");
        assert!(c.contains(&k.hash(IdType::Bvn, "22234567890")));
        assert!(c.contains(&k.hash(IdType::Nin, "22234567890")));
        assert!(c.contains(&k.hash(IdType::Nuban, "0123456789")));
        assert!(k.carried("no numbers, 123 and 222345678901").is_empty());
        // The job's own number is left out under every reading; others stay.
        let own = k.hash(IdType::Bvn, "22234567890");
        let besides = k.carried_besides(answer, Some(&own));
        assert!(!besides.contains(&k.hash(IdType::Nin, "22234567890")));
        assert!(!besides.contains(&own));
        assert_eq!(besides.len(), c.len() - 2, "{besides:?}");
        // Known as typed, the same: left out under every reading, without a hash.
        assert_eq!(k.carried_besides_own(answer, "bvn", "22234567890"), besides);
        let nin = k.hash(IdType::Nin, "22234567890");
        assert_eq!(
            k.carried_besides_own(answer, "nin", " 22234567890 "),
            k.carried_besides(answer, Some(&nin))
        );
        // A label no reading of the run has (a customer id of 11 digits) leaves it in.
        assert_eq!(k.carried_besides_own(answer, "customer", "22234567890"), c);
    }

    #[test]
    fn numbers_are_found_wherever_they_sit_in_the_text() {
        // The scan reads 64 bytes at a time: a number at, across or after a block's boundary,
        // or at either end, is found all the same (runs.rs tests the runs themselves).
        let k = IndexKey::new("0123456789abcdef").unwrap();
        for at in [0, 1, 15, 16, 54, 55, 63, 64, 65, 127] {
            for tail in [0, 1, 15, 16, 64] {
                let text = format!("{}0123456789{}", "x".repeat(at), "y".repeat(tail));
                assert_eq!(
                    k.carried(&text),
                    [k.hash(IdType::Nuban, "0123456789")],
                    "{at} {tail}"
                );
            }
        }
        assert!(k.carried("").is_empty());
    }

    #[test]
    fn idempotency_keys_are_always_hashed() {
        let a = IndexKey::new("0123456789abcdef").unwrap();
        let keyed = idem_hash(Some(&a), "kyc-22234567890");
        assert_eq!(
            keyed,
            format!("#{}", a.hash_labelled("idem", "kyc-22234567890"))
        );
        let plain = idem_hash(None, "kyc-22234567890");
        assert!(plain.starts_with('#') && plain.len() == 33, "{plain}");
        assert_ne!(keyed, plain);
        assert!(!plain.contains("22234567890"));
    }
}
