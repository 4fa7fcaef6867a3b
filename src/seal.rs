//! Sealing at rest. With `[seal] keys_file`, every value that can hold personal data (a job's
//! payload, its result, the messages and Okra's answer in its failures and history, the reuse
//! store) is encrypted with AES-256-GCM-SIV (an AEAD that stays safe if a random nonce ever
//! repeats: a repeat shows only that two values are equal; from aws-lc-rs, the crypto library
//! the TLS stack already uses) before it leaves the process. Redis,
//! its snapshots, AOF files and replicas then hold ciphertext; what operators filter and count
//! on (kind, class, HTTP status, Okra type, times, attempts) stays readable, and the Lua scripts
//! never need a plaintext.
//!
//! A sealed value is text: `sealed1:<key id>:<base64url(96-bit nonce ‖ ciphertext ‖ tag)>`. Its
//! associated data binds where it lives (queue, job id, column), so a sealed value moved to
//! another job or column fails to open. The key file holds one key per line, `ID BASE64` (32
//! random bytes), `#` comments: the last line's key seals, every listed key opens, so keys
//! rotate by appending one and re-sealing (`okra-admin keys rekey`).
//!
//! Sealing is the queue's property, not a process's: the first sealed writer marks the queue
//! sealed in Redis (`okq:{Q}:sealed`), every writer refuses to put plaintext there, and a
//! reader that expects a seal treats a plaintext as not trusted ([`SealError::NotSealed`]).
//! Each key id has a key check value in Redis (`okq:keycheck`, [`Sealer::check_values`]): a
//! process whose bytes under an id differ from the ones first used under it refuses to start.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM_SIV, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// `[seal]`: where the keys are.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SealSettings {
    /// The key file (`ID BASE64` per line, readable by its owner only); unset: nothing is
    /// sealed.
    pub keys_file: Option<PathBuf>,
}

/// What every sealed value starts with.
pub const PREFIX: &str = "sealed1:";

const TAG: usize = 16;

/// The column a sealed value lives in: part of its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// A job's payload (the part of its record after the metadata line).
    Payload,
    /// A completed job's result.
    Result,
    /// A failure's message.
    ErrorMessage,
    /// A failure's excerpt of Okra's answer.
    ErrorBody,
    /// An attempt-history entry's message.
    HistoryMessage,
    /// A profile in an Okra account's reuse store.
    Reuse,
    /// The app's metadata of a job (in its record's metadata line).
    Metadata,
}

impl Column {
    /// The name bound into the associated data (and shown by `okra-admin keys status`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payload => "payload",
            Self::Result => "result",
            Self::ErrorMessage => "error.message",
            Self::ErrorBody => "error.body",
            Self::HistoryMessage => "history.message",
            Self::Reuse => "reuse",
            Self::Metadata => "metadata",
        }
    }
}

/// Where a sealed value lives: the queue (or `acct:NAME` for an account's store), the job id
/// (or the person's keyed hash), and the column.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// The queue, or `acct:NAME`.
    pub scope: &'a str,
    /// The job id, or the person's keyed hash.
    pub id: &'a str,
    /// The column.
    pub column: Column,
}

impl<'a> Place<'a> {
    /// A job's value in `queue`.
    pub fn job(queue: &'a str, id: &'a str, column: Column) -> Self {
        Self {
            scope: queue,
            id,
            column,
        }
    }

    fn aad(&self) -> Vec<u8> {
        format!(
            "okq-seal-v1\0{}\0{}\0{}",
            self.scope,
            self.id,
            self.column.as_str()
        )
        .into_bytes()
    }
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// No key file is configured here.
    #[error("sealed with key {0}, and no seal.keys_file is configured")]
    NoKeys(String),
    /// The key is not in the key file.
    #[error("sealed with key {0}, which is not in seal.keys_file")]
    UnknownKey(String),
    /// The value does not open with its key: altered, or moved from another job or column.
    #[error(
        "sealed with key {0}, but it does not open here (altered, or moved from another job or column)"
    )]
    Broken(String),
    /// A plaintext where a seal is expected (the queue is sealed): written by a process
    /// without the keys, or forged; never trusted.
    #[error("not sealed, on a sealed queue: written in clear without the keys, not trusted")]
    NotSealed,
}

/// The label whose HMAC under a key is its check value.
const CHECK_LABEL: &[u8] = b"okq-key-check-v1";

/// The keys of a key file. Never prints a key (its `Debug` lists the ids).
pub struct Sealer {
    keys: Vec<(String, LessSafeKey)>,
    /// Per key, in the same order: HMAC-SHA256 of a fixed label under the key's bytes (32 hex
    /// digits). It names the key without revealing it.
    checks: Vec<String>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sealer(keys {:?}, sealing with {})",
            self.ids(),
            self.sealing_id()
        )
    }
}

impl PartialEq for Sealer {
    fn eq(&self, other: &Self) -> bool {
        self.ids() == other.ids()
    }
}

/// Reads a file of secrets (`what` names it in errors: `seal.keys_file`, `token file`),
/// refusing one that others can read. Errors are one line naming the file, never its content.
pub fn read_private_file(path: &Path, what: &str) -> Result<String, String> {
    let shown = path.display();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta =
            std::fs::metadata(path).map_err(|e| format!("{what} {shown}: cannot read it: {e}"))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{what} {shown} can be read by others (mode {mode:04o}): `chmod 600 {shown}`"
            ));
        }
    }
    std::fs::read_to_string(path).map_err(|e| format!("{what} {shown}: cannot read it: {e}"))
}

impl Sealer {
    /// Loads a key file, refusing one that others can read. Errors are one line naming the
    /// file and the line, never a key.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = read_private_file(path, "seal.keys_file")?;
        Self::parse(&text).map_err(|e| format!("seal.keys_file {}: {e}", path.display()))
    }

    /// Parses a key file's text: `ID BASE64` per line (32 bytes), `#` comments.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys: Vec<(String, LessSafeKey)> = Vec::new();
        let mut checks = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = n + 1;
            let mut fields = line.split_whitespace();
            let (Some(id), Some(b64), None) = (fields.next(), fields.next(), fields.next()) else {
                return Err(format!(
                    "line {n}: expected `ID BASE64` (a key id, then the key)"
                ));
            };
            if id.len() > 32
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                return Err(format!(
                    "line {n}: a key id is 1 to 32 letters, digits, `_`, `-` or `.`"
                ));
            }
            let bytes = STANDARD
                .decode(b64)
                .or_else(|_| URL_SAFE_NO_PAD.decode(b64))
                .map_err(|_| format!("line {n}: key {id} is not base64"))?;
            if bytes.len() != 32 {
                return Err(format!(
                    "line {n}: key {id} is {} bytes; a key is 32 random bytes (`openssl rand -base64 32`)",
                    bytes.len()
                ));
            }
            if keys.iter().any(|(k, _)| k == id) {
                return Err(format!("line {n}: key id {id} is listed twice"));
            }
            let cipher = UnboundKey::new(&AES_256_GCM_SIV, &bytes)
                .map_err(|_| format!("line {n}: key {id} is not a key"))?;
            keys.push((id.to_string(), LessSafeKey::new(cipher)));
            checks.push(check_value(&bytes));
        }
        if keys.is_empty() {
            return Err("no keys (one per line: `ID BASE64`, 32 random bytes)".into());
        }
        Ok(Self { keys, checks })
    }

    /// `(key id, check value)` of every key: what `okq:keycheck` keeps per id, so a process
    /// holding other bytes under a known id is refused before it seals anything.
    pub fn check_values(&self) -> Vec<(&str, &str)> {
        self.keys
            .iter()
            .zip(&self.checks)
            .map(|((id, _), c)| (id.as_str(), c.as_str()))
            .collect()
    }

    /// The id of the key that seals (the file's last).
    pub fn sealing_id(&self) -> &str {
        &self.keys[self.keys.len() - 1].0
    }

    /// Every key id, in the file's order.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// Seals `plaintext` for `place` with the sealing key.
    pub fn seal(&self, place: &Place<'_>, plaintext: &str) -> String {
        let (id, cipher) = &self.keys[self.keys.len() - 1];
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system's random source answers");
        let mut raw = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(plaintext.as_bytes());
        let tag = cipher
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(place.aad()),
                &mut raw[NONCE_LEN..],
            )
            .expect("AES-256-GCM-SIV seals any length a process can hold");
        raw.extend_from_slice(tag.as_ref());
        let mut out = String::with_capacity(PREFIX.len() + id.len() + 1 + raw.len() * 4 / 3 + 4);
        out.push_str(PREFIX);
        out.push_str(id);
        out.push(':');
        URL_SAFE_NO_PAD.encode_string(&raw, &mut out);
        out
    }

    /// Opens a sealed value of `place` with any listed key. A plaintext is refused
    /// ([`SealError::NotSealed`]): where keys are configured a seal is expected, and a value
    /// in clear was written by a process without them (`okra-admin keys rekey` seals what was
    /// written before sealing was turned on).
    pub fn open<'t>(&self, place: &Place<'_>, text: &'t str) -> Result<Cow<'t, str>, SealError> {
        let Some((id, b64)) = split(text) else {
            return Err(SealError::NotSealed);
        };
        let cipher = self
            .keys
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, c)| c)
            .ok_or_else(|| SealError::UnknownKey(id.to_string()))?;
        let broken = || SealError::Broken(id.to_string());
        let mut raw = URL_SAFE_NO_PAD.decode(b64).map_err(|_| broken())?;
        if raw.len() < NONCE_LEN + TAG {
            return Err(broken());
        }
        let (nonce, sealed) = raw.split_at_mut(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| broken())?;
        let plain = cipher
            .open_in_place(nonce, Aad::from(place.aad()), sealed)
            .map_err(|_| broken())?;
        let len = plain.len();
        raw.truncate(NONCE_LEN + len);
        raw.drain(..NONCE_LEN);
        String::from_utf8(raw).map(Cow::Owned).map_err(|_| broken())
    }
}

/// A key's check value: HMAC-SHA256 of [`CHECK_LABEL`] under its bytes, 16 bytes in hex.
fn check_value(key: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(CHECK_LABEL);
    mac.finalize().into_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The one line a process with the wrong bytes under a known key id stops with (the id, never
/// the key).
pub fn mismatch_message(id: &str) -> String {
    format!(
        "seal key {id} in seal.keys_file is not the key {id} this Redis was sealed with (its check value in okq:keycheck differs): restore the right key file; a new key needs a new id"
    )
}

/// The one line a writer without keys stops with on a sealed queue.
pub fn refused_message(queue: &str) -> String {
    format!(
        "queue {queue} is sealed (okq:{{{queue}}}:sealed): refusing to write plaintext; set seal.keys_file (OKQ_SEAL__KEYS_FILE) to the queue's keys"
    )
}

/// `(key id, base64)` of a sealed value; `None` for a plaintext.
fn split(text: &str) -> Option<(&str, &str)> {
    text.strip_prefix(PREFIX)?.split_once(':')
}

/// Whether `text` is a sealed value.
pub fn is_sealed(text: &str) -> bool {
    text.starts_with(PREFIX)
}

/// The id of the key a sealed value was sealed with (`None` for a plaintext).
pub fn key_of(text: &str) -> Option<&str> {
    split(text).map(|(id, _)| id)
}

/// Seals with `sealer` when there is one; otherwise the value stays as it is.
pub fn seal<'t>(sealer: Option<&Sealer>, place: &Place<'_>, plaintext: &'t str) -> Cow<'t, str> {
    match sealer {
        Some(s) => Cow::Owned(s.seal(place, plaintext)),
        None => Cow::Borrowed(plaintext),
    }
}

/// Opens with `sealer` when there is one (a plaintext is then refused: see
/// [`Sealer::open`]); without keys a plaintext is returned as it is.
pub fn open<'t>(
    sealer: Option<&Sealer>,
    place: &Place<'_>,
    text: &'t str,
) -> Result<Cow<'t, str>, SealError> {
    open_on(sealer, false, place, text)
}

/// [`open`] on a queue that is known to be sealed (`sealed`) or not: a reader without keys
/// refuses a plaintext on a sealed queue too.
pub fn open_on<'t>(
    sealer: Option<&Sealer>,
    sealed: bool,
    place: &Place<'_>,
    text: &'t str,
) -> Result<Cow<'t, str>, SealError> {
    match (sealer, key_of(text)) {
        (Some(s), _) => s.open(place, text),
        (None, None) if sealed => Err(SealError::NotSealed),
        (None, None) => Ok(Cow::Borrowed(text)),
        (None, Some(id)) => Err(SealError::NoKeys(id.to_string())),
    }
}

/// What a reader sees in place of a value it cannot open: `sealed (key k1)`, or, for a
/// plaintext on a sealed queue, that it is not sealed and not trusted.
pub fn placeholder(text: &str) -> String {
    match key_of(text) {
        Some(id) => format!("sealed (key {id})"),
        None => "NOT SEALED: written in clear on a sealed queue, not trusted (hidden)".into(),
    }
}

/// Opens for display: the plaintext, or [`placeholder`] when it cannot be opened here.
pub fn shown<'t>(sealer: Option<&Sealer>, place: &Place<'_>, text: &'t str) -> Cow<'t, str> {
    shown_on(sealer, false, place, text)
}

/// [`shown`] on a queue known to be sealed or not (see [`open_on`]).
pub fn shown_on<'t>(
    sealer: Option<&Sealer>,
    sealed: bool,
    place: &Place<'_>,
    text: &'t str,
) -> Cow<'t, str> {
    open_on(sealer, sealed, place, text).unwrap_or_else(|_| Cow::Owned(placeholder(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "k2 HxwdGxoZGBcWFRQTEhEQDw4NDAsKCQgHBgUEAwIBAAA=";

    #[test]
    fn values_open_only_where_they_were_sealed() {
        let s = Sealer::parse(&format!("# keys\n{K1}\n")).unwrap();
        let here = Place::job("identity", "job1", Column::Payload);
        let sealed = s.seal(&here, r#"{"bvn":"22234567890"}"#);
        assert!(sealed.starts_with("sealed1:k1:"), "{sealed}");
        assert!(!sealed.contains("22234567890"));
        assert_eq!(s.open(&here, &sealed).unwrap(), r#"{"bvn":"22234567890"}"#);
        // Moved to another job, column or queue: it does not open.
        for there in [
            Place::job("identity", "job2", Column::Payload),
            Place::job("identity", "job1", Column::Result),
            Place::job("kyc", "job1", Column::Payload),
        ] {
            assert_eq!(s.open(&there, &sealed), Err(SealError::Broken("k1".into())));
        }
        // Two seals of one value differ (a random nonce each).
        assert_ne!(s.seal(&here, "x"), s.seal(&here, "x"));
        // A plaintext where keys are configured is not trusted; without keys it reads as
        // it is, unless the queue is known to be sealed.
        assert_eq!(s.open(&here, "{}"), Err(SealError::NotSealed));
        assert_eq!(open(None, &here, "{}").unwrap(), "{}");
        assert_eq!(open_on(None, true, &here, "{}"), Err(SealError::NotSealed));
        assert!(shown_on(None, true, &here, "{\"bvn\":1}").starts_with("NOT SEALED"));
    }

    #[test]
    fn the_last_key_seals_and_every_key_opens() {
        let old = Sealer::parse(K1).unwrap();
        let both = Sealer::parse(&format!("{K1}\n{K2}")).unwrap();
        let p = Place::job("q", "j", Column::Result);
        let sealed_old = old.seal(&p, "v");
        assert_eq!(both.sealing_id(), "k2");
        assert_eq!(both.open(&p, &sealed_old).unwrap(), "v");
        let sealed_new = both.seal(&p, "v");
        assert_eq!(key_of(&sealed_new), Some("k2"));
        assert_eq!(
            old.open(&p, &sealed_new),
            Err(SealError::UnknownKey("k2".into()))
        );
        assert_eq!(
            open(None, &p, &sealed_new),
            Err(SealError::NoKeys("k2".into()))
        );
        assert_eq!(shown(None, &p, &sealed_new), "sealed (key k2)");
        assert_eq!(
            format!("{both:?}"),
            r#"Sealer(keys ["k1", "k2"], sealing with k2)"#
        );
    }

    #[test]
    fn check_values_tell_keys_apart_without_showing_them() {
        let a = Sealer::parse(K1).unwrap();
        let other = Sealer::parse("k1 HxwdGxoZGBcWFRQTEhEQDw4NDAsKCQgHBgUEAwIBAAA=").unwrap();
        let (id, check) = a.check_values()[0];
        assert_eq!(id, "k1");
        assert_eq!(check.len(), 32);
        assert_eq!(a.check_values(), Sealer::parse(K1).unwrap().check_values());
        assert_ne!(a.check_values(), other.check_values());
        assert!(!check.contains("AAECAw"));
        let line = mismatch_message("k1");
        assert!(line.contains("k1") && !line.contains('\n'));
    }

    #[test]
    fn bad_key_files_say_what_and_where_without_the_key() {
        let err = |t: &str| Sealer::parse(t).unwrap_err();
        assert!(err("").contains("no keys"));
        assert!(err("k1\n").contains("line 1: expected `ID BASE64`"));
        assert!(err("k1 !!!notbase64").contains("line 1: key k1 is not base64"));
        let short = err("# c\nk1 AAECAwQFBgcICQoLDA0ODw==");
        assert!(short.contains("line 2: key k1 is 16 bytes"), "{short}");
        assert!(!short.contains("AAECAwQF"), "never the key: {short}");
        assert!(err(&format!("{K1}\n{K1}")).contains("listed twice"));
        assert!(err("k/1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").contains("key id"));
    }
}
