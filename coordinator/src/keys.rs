//! Ed25519 keys as the ledger uses them: [`Identity`] signs, [`PublicKey`] verifies,
//! [`Signature`] is 64 bytes.
//!
//! This is a stand-in for `mpc::identity` (being written on another branch) with the same
//! names, the same methods the ledger calls and the same serde form — hex text in
//! human-readable formats, raw bytes with a length prefix in postcard — so that replacing this
//! module by `pub use mpc::identity::{Identity, PublicKey, Signature};` changes neither the
//! ledger's code nor its files. It does no key files and no TLS.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

/// An Ed25519 private key. `Debug` shows only the public half.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
}

impl Identity {
    /// A fresh key drawn from `rng` (the caller chooses: `OsRng`-seeded in production, a fixed
    /// seed in tests).
    pub fn generate<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Identity {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let id = Identity::from_secret_bytes(&seed);
        seed.fill(0);
        id
    }

    /// The key with this 32-byte secret seed.
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Identity {
        Identity {
            signing: SigningKey::from_bytes(secret),
        }
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs `message` (deterministic Ed25519, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public", &self.public_key())
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A signature that does not verify under a key (the key is named).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signature does not verify under key {0}")]
pub struct BadSignature(pub PublicKey);

/// An Ed25519 public key: a node's name on the network.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The key from its 32 bytes. Any 32 bytes are accepted here; a key that is not a valid
    /// curve point fails every verification.
    pub fn from_bytes(bytes: [u8; 32]) -> PublicKey {
        PublicKey(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short form for logs: the first 8 bytes in hex.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.0[..8])
    }

    /// Checks `signature` over `message` strictly (`verify_strict`: no malleable or
    /// small-order forms).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), BadSignature> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| BadSignature(*self))?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(message, &sig)
            .map_err(|_| BadSignature(*self))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

/// An Ed25519 signature, 64 bytes; hex in `Display` and in human-readable formats.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; 64]);

impl Signature {
    /// The signature from its 64 bytes.
    pub fn from_bytes(bytes: [u8; 64]) -> Signature {
        Signature(bytes)
    }
    /// The 64 bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}..)", hex::encode(&self.0[..8]))
    }
}

/// Serde for a newtype over `[u8; N]`: hex text when human readable, raw bytes otherwise.
macro_rules! serde_bytes_hex {
    ($ty:ident, $n:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&hex::encode(self.0))
                } else {
                    s.serialize_bytes(&self.0)
                }
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                use serde::de::{self, Visitor};
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = [u8; $n];
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "{} bytes, or {} hex digits", $n, 2 * $n)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                        let mut out = [0u8; $n];
                        hex::decode_to_slice(v, &mut out).map_err(E::custom)?;
                        Ok(out)
                    }
                    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                        v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
                    }
                    fn visit_seq<A: de::SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> Result<Self::Value, A::Error> {
                        let mut out = [0u8; $n];
                        for (i, b) in out.iter_mut().enumerate() {
                            *b = seq
                                .next_element()?
                                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                        }
                        Ok(out)
                    }
                }
                let bytes = if d.is_human_readable() {
                    d.deserialize_str(V)?
                } else {
                    d.deserialize_bytes(V)?
                };
                Ok($ty(bytes))
            }
        }
    };
}
pub(crate) use serde_bytes_hex;

serde_bytes_hex!(PublicKey, 32);
serde_bytes_hex!(Signature, 64);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn sign_verify_serde_and_redaction() {
        let id = Identity::generate(&mut ChaCha20Rng::seed_from_u64(1));
        let pk = id.public_key();
        let sig = id.sign(b"entry 7");
        pk.verify(b"entry 7", &sig).unwrap();
        let err = pk.verify(b"entry 8", &sig).unwrap_err();
        assert!(err.to_string().contains(&pk.to_string()), "{err}");
        assert!(format!("{id:?}").contains("redacted"));
        let bytes = postcard::to_allocvec(&(pk, sig)).unwrap();
        assert_eq!(bytes.len(), 1 + 32 + 1 + 64);
        assert_eq!(
            postcard::from_bytes::<(PublicKey, Signature)>(&bytes).unwrap(),
            (pk, sig)
        );
        assert_eq!(serde_json::to_string(&pk).unwrap(), format!("\"{pk}\""));
    }
}
