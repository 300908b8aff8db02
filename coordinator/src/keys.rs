//! Ed25519 keys as the ledger uses them: the node identities of `mpc::identity` ([`Identity`]
//! signs, [`PublicKey`] verifies, [`Signature`] is 64 bytes; hex in human-readable formats, raw
//! bytes in postcard), and the serde helper the ledger's own byte arrays share.

pub use mpc::identity::{Identity, PublicKey, Signature};

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
