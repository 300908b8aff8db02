//! Batches of field elements as bytes: contiguous fixed-size elements, nothing else. The
//! receiver always knows how many elements to expect, so a length mismatch is an error, and
//! nothing is allocated from a length the peer chose.

use bytes::Bytes;

use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::party::PartyId;

/// Encodes elements back to back in their wire form.
pub fn encode<F: Field>(elems: &[F]) -> Bytes {
    encode_iter(elems.iter().copied(), elems.len())
}

/// Encodes several batches into one message.
pub fn encode_many<F: Field>(parts: &[&[F]]) -> Bytes {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    encode_iter(parts.iter().flat_map(|p| p.iter().copied()), total)
}

/// Encodes `len` elements from an iterator (which must yield exactly that many).
pub fn encode_iter<F: Field>(elems: impl Iterator<Item = F>, len: usize) -> Bytes {
    let mut out = vec![0u8; len * F::BYTES];
    let mut written = 0;
    for (chunk, e) in out.chunks_exact_mut(F::BYTES).zip(elems) {
        e.write_bytes(chunk);
        written += 1;
    }
    debug_assert_eq!(written, len, "encode_iter: iterator length");
    Bytes::from(out)
}

/// Decodes exactly `expected` elements sent by `from`.
pub fn decode<F: Field>(bytes: &[u8], expected: usize, from: PartyId) -> Result<Vec<F>> {
    if bytes.len() != expected * F::BYTES {
        return Err(MpcError::Malformed {
            from,
            reason: format!(
                "expected {expected} field elements ({} bytes), got {} bytes",
                expected * F::BYTES,
                bytes.len()
            ),
        });
    }
    // Allocated once: collecting through `Result` loses the length, and growing a vector of
    // a million elements by doubling copies it and faults its pages in again.
    let mut out = Vec::with_capacity(expected);
    for (i, c) in bytes.chunks_exact(F::BYTES).enumerate() {
        out.push(F::read_bytes(c).ok_or_else(|| MpcError::Malformed {
            from,
            reason: format!("element {i} is not a valid field element"),
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fr;

    #[test]
    fn roundtrip_and_errors() {
        let v: Vec<Fr> = (0..5).map(|i| Fr::from_i128(i - 2)).collect();
        let bytes = encode(&v);
        assert_eq!(decode::<Fr>(&bytes, 5, PartyId(1)).unwrap(), v);
        let err = decode::<Fr>(&bytes[..100], 5, PartyId(1)).unwrap_err();
        assert!(err.to_string().contains("party 1"), "{err}");
        let mut bad = bytes.to_vec();
        bad[32..64].fill(0xff);
        let err = decode::<Fr>(&bad, 5, PartyId(2)).unwrap_err();
        assert!(err.to_string().contains("element 1"), "{err}");
        assert_eq!(encode_many(&[&v[..2], &v[2..]]), bytes);
    }
}
