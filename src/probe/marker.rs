//! The marker that says "the operator wrote this probe object": an
//! HMAC-SHA256, under a key only the operator holds, over the connection's
//! UID, the object's key and its body. Whoever can write to the bucket sees
//! the UID (it is in the key and the body) but cannot compute the MAC, so an
//! object they put at a probe key is never taken for the operator's own,
//! and a MAC copied onto other content does not verify.
//!
//! The key is read from a Secret in the operator's namespace
//! ([`super::keys`]); `current` signs, `previous` (while it is kept there
//! after a rotation) still verifies.

use std::sync::{Arc, RwLock};

use aws_lc_rs::hmac;

/// User metadata holding the MAC of a probe object.
pub const MAC: &str = "s3connection-mac";

/// User metadata naming the connection (its UID) that wrote a probe object:
/// for people reading the bucket. It proves nothing; [`MAC`] does.
pub const MARKER: &str = "s3connection-uid";

/// The shortest key accepted: the size of the hash.
pub const MIN_KEY_LEN: usize = 32;

/// The longest key accepted: a bound on what a Secret can make the operator
/// hold.
pub const MAX_KEY_LEN: usize = 1024;

/// Domain separation: a MAC of this kind means nothing anywhere else.
const CONTEXT: &[u8] = b"s3connection-probe-mac-v1";

/// The signing key and, during a rotation, the one before it.
#[derive(Clone)]
pub struct MarkerKeys {
    current: hmac::Key,
    previous: Option<hmac::Key>,
}

impl std::fmt::Debug for MarkerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarkerKeys")
            .field("previous", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

/// What is wrong with a key from the Secret (never its value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFlaw {
    /// Fewer than [`MIN_KEY_LEN`] bytes.
    #[error("shorter than {MIN_KEY_LEN} bytes")]
    TooShort,
    /// More than [`MAX_KEY_LEN`] bytes.
    #[error("longer than {MAX_KEY_LEN} bytes")]
    TooLong,
}

fn key_of(bytes: &[u8]) -> Result<hmac::Key, KeyFlaw> {
    if bytes.len() < MIN_KEY_LEN {
        return Err(KeyFlaw::TooShort);
    }
    if bytes.len() > MAX_KEY_LEN {
        return Err(KeyFlaw::TooLong);
    }
    Ok(hmac::Key::new(hmac::HMAC_SHA256, bytes))
}

/// `N` random bytes from the system's generator (through aws-lc). Should
/// that ever fail, the bytes come from the hasher keys the standard library
/// draws from the operating system for each `RandomState`.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if aws_lc_rs::rand::fill(&mut out).is_err() {
        use std::hash::{BuildHasher, Hasher};
        for chunk in out.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(chunk.len());
            let n = chunk.len();
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..n]);
        }
    }
    out
}

/// A fresh random key, as the operator writes into a new Secret.
pub fn new_key() -> [u8; MIN_KEY_LEN] {
    random_bytes()
}

/// `bytes` in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The signed message: each part with its length, after the context.
fn message(uid: &str, key: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + uid.len() + key.len() + body.len() + 24);
    m.extend_from_slice(CONTEXT);
    for part in [uid.as_bytes(), key.as_bytes(), body] {
        m.extend_from_slice(&(part.len() as u64).to_be_bytes());
        m.extend_from_slice(part);
    }
    m
}

impl MarkerKeys {
    /// Keys from the Secret's values: `current` signs, `previous` verifies.
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> Result<Self, KeyFlaw> {
        Ok(Self {
            current: key_of(current)?,
            previous: previous.map(key_of).transpose()?,
        })
    }

    /// A random key held only by this process: for a run without the
    /// Secret (development, tests). Probe objects it leaves behind are
    /// foreign to every other process.
    pub fn ephemeral() -> Self {
        Self {
            current: hmac::Key::new(hmac::HMAC_SHA256, &new_key()),
            previous: None,
        }
    }

    /// The MAC of the probe object at `key` with `body`, written for
    /// connection `uid`, as its metadata carries it.
    pub fn sign(&self, uid: &str, key: &str, body: &[u8]) -> String {
        hex(hmac::sign(&self.current, &message(uid, key, body)).as_ref())
    }

    /// Whether `mac` is the MAC of that object under the current or the
    /// previous key (compared in constant time).
    pub fn verify(&self, uid: &str, key: &str, body: &[u8], mac: &str) -> bool {
        let Some(tag) = unhex(mac) else {
            return false;
        };
        let m = message(uid, key, body);
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .any(|k| hmac::verify(k, &m, &tag).is_ok())
    }
}

/// The keys every validation uses, replaced when the Secret changes.
#[derive(Debug, Clone)]
pub struct SharedKeys(Arc<RwLock<Arc<MarkerKeys>>>);

impl Default for SharedKeys {
    fn default() -> Self {
        Self::new(MarkerKeys::ephemeral())
    }
}

impl SharedKeys {
    /// Shared `keys`.
    pub fn new(keys: MarkerKeys) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(keys))))
    }

    /// The keys now.
    pub fn get(&self) -> Arc<MarkerKeys> {
        match self.0.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Use `keys` from now on.
    pub fn set(&self, keys: MarkerKeys) {
        match self.0.write() {
            Ok(mut k) => *k = Arc::new(keys),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(keys),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [7; 32];
    const B: [u8; 32] = [9; 32];

    #[test]
    fn a_mac_verifies_only_for_the_same_uid_key_and_body() {
        let k = MarkerKeys::new(&A, None).unwrap();
        let mac = k.sign("uid-1", "p/.s3connection-probe/uid-1", b"body");
        assert_eq!(mac.len(), 64);
        assert!(k.verify("uid-1", "p/.s3connection-probe/uid-1", b"body", &mac));
        assert!(!k.verify("uid-2", "p/.s3connection-probe/uid-1", b"body", &mac));
        assert!(!k.verify("uid-1", "q/.s3connection-probe/uid-1", b"body", &mac));
        assert!(!k.verify("uid-1", "p/.s3connection-probe/uid-1", b"other", &mac));
        // Moving bytes between parts changes the message.
        assert!(!k.verify("uid-1p/", ".s3connection-probe/uid-1", b"body", &mac));
    }

    #[test]
    fn what_a_tenant_can_compute_does_not_verify() {
        let k = MarkerKeys::new(&A, None).unwrap();
        for forged in ["uid-1", "", "zz", &"0".repeat(64), &"0".repeat(4096)] {
            assert!(!k.verify("uid-1", "k", b"b", forged), "{forged}");
        }
        let other = MarkerKeys::new(&B, None).unwrap().sign("uid-1", "k", b"b");
        assert!(!k.verify("uid-1", "k", b"b", &other), "another key's MAC");
    }

    #[test]
    fn after_a_rotation_the_previous_key_still_verifies_until_it_is_dropped() {
        let old = MarkerKeys::new(&A, None).unwrap().sign("u", "k", b"b");
        let rotated = MarkerKeys::new(&B, Some(&A)).unwrap();
        assert!(rotated.verify("u", "k", b"b", &old));
        assert!(rotated.verify("u", "k", b"b", &rotated.sign("u", "k", b"b")));
        let dropped = MarkerKeys::new(&B, None).unwrap();
        assert!(!dropped.verify("u", "k", b"b", &old));
    }

    #[test]
    fn keys_outside_the_bounds_are_refused() {
        assert_eq!(
            MarkerKeys::new(&[1; 31], None).unwrap_err(),
            KeyFlaw::TooShort
        );
        assert_eq!(
            MarkerKeys::new(&A, Some(&[1; 1025])).unwrap_err(),
            KeyFlaw::TooLong
        );
    }

    #[test]
    fn ephemeral_keys_differ() {
        let (a, b) = (MarkerKeys::ephemeral(), MarkerKeys::ephemeral());
        assert!(!b.verify("u", "k", b"b", &a.sign("u", "k", b"b")));
    }
}
