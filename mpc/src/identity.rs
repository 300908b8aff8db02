//! Node identities: an Ed25519 key pair per worker, coordinator and client. A node *is* its
//! key: the roster lists public keys, TLS certificates are pinned to them (see
//! [`crate::quic::tls`]), and ledger entries are signed with them.
//!
//! - [`Identity`]: a private key. Generated from a caller-supplied RNG, never printed (its
//!   `Debug` shows only the public key), written to disk with mode 0600 and refused on read
//!   when other users may read it.
//! - [`PublicKey`] (alias [`PeerKey`]): 32 bytes, shown and parsed as lowercase hex, serialized
//!   as a hex string in human-readable formats (TOML, JSON) and as raw bytes otherwise
//!   (postcard).
//! - [`Signature`]: 64 bytes, verified strictly ([`PublicKey::verify`] rejects malleable and
//!   small-order forms).
//!
//! Key files are one line of text: a label naming what the file holds, a space, and the key in
//! hex (`quorate-ed25519-secret-v1 <64 hex>` or `quorate-ed25519-public-v1 <64 hex>`), so a
//! public key file is never mistaken for a private one. This module does no TLS and no
//! networking.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

/// Label of a private key file.
const SECRET_LABEL: &str = "quorate-ed25519-secret-v1";
/// Label of a public key file.
const PUBLIC_LABEL: &str = "quorate-ed25519-public-v1";
/// Key files are tiny; anything larger is not one of ours and is not read.
const MAX_KEY_FILE: u64 = 1024;

/// Why an identity operation failed. Each variant names the file or the key involved.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Reading or writing a key file failed.
    #[error("key file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A private key file may be read by other users.
    #[error("private key file {} has mode {mode:o}: it must not be readable by group or others (chmod 600)", path.display())]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file (or a key string) does not hold what it should.
    #[error("{what}: {reason}")]
    Malformed {
        /// The file, or "public key" for a string.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A key (in a file or a string) is not the hex it should be.
    #[error("{what}: {source}")]
    BadHex {
        /// The file, or "public key" for a string.
        what: String,
        /// What is wrong with the digits.
        source: HexError,
    },
    /// A signature does not verify under the key.
    #[error("signature does not verify under key {0}")]
    BadSignature(PublicKey),
}

/// An Ed25519 private key. `Debug` shows only the public half.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
}

impl Identity {
    /// A fresh key drawn from `rng` (the caller chooses: `OsRng`-seeded in production, a fixed
    /// seed in tests).
    pub fn generate<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Identity {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut seed[..]);
        Identity::from_secret_bytes(&seed)
    }

    /// The identity whose 32-byte Ed25519 secret (RFC 8032 seed) is `secret`.
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Identity {
        Identity {
            signing: SigningKey::from_bytes(secret),
        }
    }

    /// The public key: what the roster lists and certificates carry.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }

    /// A 32-byte key for `purpose`, derived from the secret (SHA-512 over a domain label, the
    /// purpose and the secret, truncated): the same on every run with this identity, and
    /// independent of the signing key and of keys for other purposes.
    pub(crate) fn derive_key(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        use sha2::{Digest, Sha512};
        let mut h = Sha512::new();
        h.update(b"quorate identity key derivation v1\0");
        h.update((purpose.len() as u64).to_le_bytes());
        h.update(purpose.as_bytes());
        h.update(self.signing.as_bytes());
        let digest = h.finalize();
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&digest[..32]);
        key
    }

    /// The key as an unencrypted PKCS#8 v1 document (RFC 8410 §7), for the TLS layer.
    pub(crate) fn pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }
        const PREFIX: [u8; 16] = [
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        let mut der = Zeroizing::new(Vec::with_capacity(48));
        der.extend_from_slice(&PREFIX);
        der.extend_from_slice(self.signing.as_bytes());
        der
    }

    /// Writes the private key to a new file at `path`, readable by its owner only (mode 0600
    /// on unix, set at creation). Refuses to overwrite an existing file: losing a key is not
    /// undoable.
    pub fn write_file(&self, path: &Path) -> Result<(), IdentityError> {
        let io = |source| IdentityError::Io {
            path: path.to_owned(),
            source,
        };
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        let text = Zeroizing::new(format!(
            "{SECRET_LABEL} {}\n",
            hex::encode(self.signing.as_bytes())
        ));
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Reads a private key written by [`Identity::write_file`]. On unix, refuses a file that
    /// group or others may read.
    pub fn read_file(path: &Path) -> Result<Identity, IdentityError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = fs::metadata(path).map_err(|source| IdentityError::Io {
                path: path.to_owned(),
                source,
            })?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(IdentityError::InsecurePermissions {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        let text = Zeroizing::new(read_small(path)?);
        let bytes = Zeroizing::new(parse_labelled(&text, SECRET_LABEL, path)?);
        Ok(Identity::from_secret_bytes(&bytes))
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

/// An Ed25519 public key: a node's name on the network.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; 32]);

/// A peer's key, as the roster and the TLS layer see it.
pub type PeerKey = PublicKey;

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

    /// Checks `signature` over `message`, strictly (RFC 8032 with the malleability and
    /// small-order checks of `verify_strict`).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), IdentityError> {
        let key =
            VerifyingKey::from_bytes(&self.0).map_err(|_| IdentityError::BadSignature(*self))?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(message, &sig)
            .map_err(|_| IdentityError::BadSignature(*self))
    }

    /// Writes the public key to `path` (created or replaced).
    pub fn write_file(&self, path: &Path) -> Result<(), IdentityError> {
        fs::write(path, format!("{PUBLIC_LABEL} {self}\n")).map_err(|source| IdentityError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads a public key written by [`PublicKey::write_file`].
    pub fn read_file(path: &Path) -> Result<PublicKey, IdentityError> {
        let text = read_small(path)?;
        Ok(PublicKey(parse_labelled(&text, PUBLIC_LABEL, path)?))
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

impl FromStr for PublicKey {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<PublicKey, IdentityError> {
        decode_hex::<32>(s.trim())
            .map(PublicKey)
            .map_err(|source| IdentityError::BadHex {
                what: "public key".into(),
                source,
            })
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

fn read_small(path: &Path) -> Result<String, IdentityError> {
    let io = |source| IdentityError::Io {
        path: path.to_owned(),
        source,
    };
    let len = fs::metadata(path).map_err(io)?.len();
    if len > MAX_KEY_FILE {
        return Err(IdentityError::Malformed {
            what: path.display().to_string(),
            reason: format!("{len} bytes is too large for a key file"),
        });
    }
    fs::read_to_string(path).map_err(io)
}

fn parse_labelled(text: &str, label: &str, path: &Path) -> Result<[u8; 32], IdentityError> {
    let malformed = |reason: String| IdentityError::Malformed {
        what: path.display().to_string(),
        reason,
    };
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(l), Some(key), None) if l == label => {
            decode_hex::<32>(key).map_err(|source| IdentityError::BadHex {
                what: path.display().to_string(),
                source,
            })
        }
        (Some(l), Some(_), None) => Err(malformed(format!("labelled {l:?}, expected {label:?}"))),
        _ => Err(malformed(format!(
            "expected one line \"{label} <64 hex digits>\""
        ))),
    }
}

/// Why a hex string is not the fixed-size byte array it should spell.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HexError {
    /// The string has the wrong number of digits.
    #[error("expected {expected} hex digits, got {got}")]
    Length {
        /// Twice the array's size.
        expected: usize,
        /// The string's length.
        got: usize,
    },
    /// A character is not a hex digit.
    #[error("not hex: {0}")]
    NotHex(#[from] hex::FromHexError),
}

#[doc(hidden)]
pub fn decode_hex<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    if s.len() != 2 * N {
        return Err(HexError::Length {
            expected: 2 * N,
            got: s.len(),
        });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out)?;
    Ok(out)
}

/// Serde for a newtype over `[u8; N]`: hex text when human readable, raw bytes otherwise (the
/// form of keys, signatures, hashes and commitments everywhere in Quorate).
#[doc(hidden)]
#[macro_export]
macro_rules! serde_bytes_hex {
    ($ty:ident, $n:literal) => {
        impl $crate::__private::serde::Serialize for $ty {
            fn serialize<S: $crate::__private::serde::Serializer>(
                &self,
                s: S,
            ) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&$crate::__private::hex::encode(self.0))
                } else {
                    s.serialize_bytes(&self.0)
                }
            }
        }
        impl<'de> $crate::__private::serde::Deserialize<'de> for $ty {
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(
                d: D,
            ) -> Result<Self, D::Error> {
                struct V;
                impl<'de> $crate::__private::serde::de::Visitor<'de> for V {
                    type Value = [u8; $n];
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        write!(f, "{} bytes, or {} hex digits", $n, 2 * $n)
                    }
                    fn visit_str<E: $crate::__private::serde::de::Error>(
                        self,
                        v: &str,
                    ) -> Result<Self::Value, E> {
                        $crate::__private::decode_hex::<$n>(v).map_err(E::custom)
                    }
                    fn visit_bytes<E: $crate::__private::serde::de::Error>(
                        self,
                        v: &[u8],
                    ) -> Result<Self::Value, E> {
                        v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
                    }
                    fn visit_seq<A: $crate::__private::serde::de::SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> Result<Self::Value, A::Error> {
                        let mut out = [0u8; $n];
                        for (i, b) in out.iter_mut().enumerate() {
                            *b = seq.next_element()?.ok_or_else(|| {
                                <A::Error as $crate::__private::serde::de::Error>::invalid_length(
                                    i, &self,
                                )
                            })?;
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

crate::serde_bytes_hex!(PublicKey, 32);
crate::serde_bytes_hex!(Signature, 64);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn identity(seed: u64) -> Identity {
        Identity::generate(&mut ChaCha20Rng::seed_from_u64(seed))
    }

    #[test]
    fn sign_verify_and_redaction() {
        let id = identity(1);
        let pk = id.public_key();
        let sig = id.sign(b"entry 7");
        pk.verify(b"entry 7", &sig).unwrap();
        let err = pk.verify(b"entry 8", &sig).unwrap_err();
        assert!(err.to_string().contains(&pk.to_string()), "{err}");
        assert!(identity(2).public_key().verify(b"entry 7", &sig).is_err());
        let shown = format!("{id:?}");
        assert!(
            shown.contains("redacted") && !shown.contains(&hex::encode(id.signing.as_bytes())),
            "{shown}"
        );
        assert_eq!(identity(1).public_key(), pk, "a seed fixes the key");
        assert_eq!(pk.to_string().parse::<PublicKey>().unwrap(), pk);
        assert!("zz".parse::<PublicKey>().is_err());
    }

    #[test]
    fn a_bad_hex_key_names_its_length_or_digit() {
        let short = "ab".parse::<PublicKey>().unwrap_err();
        assert!(
            matches!(
                &short,
                IdentityError::BadHex {
                    source: HexError::Length {
                        expected: 64,
                        got: 2
                    },
                    ..
                }
            ),
            "{short}"
        );
        assert_eq!(
            short.to_string(),
            "public key: expected 64 hex digits, got 2"
        );
        let digit = "zz".repeat(32).parse::<PublicKey>().unwrap_err();
        assert!(
            matches!(
                &digit,
                IdentityError::BadHex {
                    source: HexError::NotHex(_),
                    ..
                }
            ),
            "{digit}"
        );
        assert!(
            digit.to_string().starts_with("public key: not hex: "),
            "{digit}"
        );
    }

    #[test]
    fn serde_is_hex_for_humans_and_bytes_for_postcard() {
        let id = identity(3);
        let (pk, sig) = (id.public_key(), id.sign(b"x"));
        assert_eq!(serde_json::to_string(&pk).unwrap(), format!("\"{pk}\""));
        assert_eq!(
            serde_json::from_str::<Signature>(&serde_json::to_string(&sig).unwrap()).unwrap(),
            sig
        );
        let bytes = postcard::to_allocvec(&(pk, sig)).unwrap();
        assert_eq!(
            bytes.len(),
            1 + 32 + 1 + 64,
            "raw bytes with a length prefix each"
        );
        assert_eq!(
            postcard::from_bytes::<(PublicKey, Signature)>(&bytes).unwrap(),
            (pk, sig)
        );
        assert!(serde_json::from_str::<PublicKey>("\"abcd\"").is_err());
    }

    #[test]
    fn key_files_roundtrip_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let id = identity(4);
        let secret = dir.path().join("node.key");
        id.write_file(&secret).unwrap();
        assert_eq!(
            Identity::read_file(&secret).unwrap().public_key(),
            id.public_key()
        );
        assert!(
            id.write_file(&secret).is_err(),
            "an existing key is never overwritten"
        );
        let public = dir.path().join("node.pub");
        id.public_key().write_file(&public).unwrap();
        assert_eq!(PublicKey::read_file(&public).unwrap(), id.public_key());
        #[cfg(unix)]
        fs::set_permissions(&public, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let err = Identity::read_file(&public).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected \"quorate-ed25519-secret-v1\""),
            "{err}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
                0o600
            );
            fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
            let err = Identity::read_file(&secret).unwrap_err();
            assert!(
                matches!(err, IdentityError::InsecurePermissions { mode: 0o644, .. }),
                "{err}"
            );
        }
    }
}
