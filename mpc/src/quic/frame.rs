//! The mesh's wire format, as pure functions: fixed-size headers checked before anything is
//! read or allocated after them. No IO here, so every decoder is a fuzz target as it stands.
//!
//! Two things travel between mesh nodes besides TLS:
//!
//! - **Hello / Ack** (once per connection, on the first bidirectional stream, opened by the
//!   dialer): `Hello` = `[VERSION, b'H', from: u16, to: u16, parties: u16]` (little endian), so
//!   both ends agree on who is who and how many parties there are. The accepting side already
//!   knows the dialer's key from TLS; the hello must name the same party. `Ack` =
//!   `[VERSION, status]`, status 0 for accepted.
//! - **Frames** (on one unidirectional stream per session and ordered pair of parties, opened
//!   by the sender on its first message): a 17-byte header `[VERSION, session: u64, round: u32,
//!   len: u32]` then `len` payload bytes. Every frame of a stream carries the same session id;
//!   the first frame's id routes the stream to its session.
//!
//! The protocol version also appears in the TLS ALPN (`quorate-mesh/1`), so two builds that
//! disagree fail the handshake rather than the first frame.

use crate::net::{Round, SessionId};
use crate::party::PartyId;

/// The wire version this build speaks.
pub const VERSION: u8 = 1;
/// Bytes in a frame header.
pub const HEADER_LEN: usize = 17;
/// Bytes in a hello.
pub const HELLO_LEN: usize = 8;
/// Bytes in an ack.
pub const ACK_LEN: usize = 2;

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A version this build does not speak.
    #[error("wire version {0}, this node speaks {VERSION}")]
    Version(u8),
    /// The payload length exceeds the receiver's limit.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    Oversize {
        /// Announced payload length.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A frame on a stream carries another session's id.
    #[error("frame for session {got} on the stream of session {expected}")]
    WrongSession {
        /// The stream's session.
        expected: u64,
        /// The frame's.
        got: u64,
    },
    /// A hello that is not one.
    #[error("malformed hello")]
    BadHello,
}

/// A frame header: which session and round the payload belongs to, and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The session.
    pub session: SessionId,
    /// The round tag.
    pub round: Round,
    /// Payload bytes that follow.
    pub len: u32,
}

impl FrameHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = VERSION;
        out[1..9].copy_from_slice(&self.session.0.to_le_bytes());
        out[9..13].copy_from_slice(&self.round.0.to_le_bytes());
        out[13..17].copy_from_slice(&self.len.to_le_bytes());
        out
    }

    /// Parses a header, refusing another version. The length is checked separately
    /// ([`FrameHeader::check`]), once the stream's session is known.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<FrameHeader, FrameError> {
        if bytes[0] != VERSION {
            return Err(FrameError::Version(bytes[0]));
        }
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        Ok(FrameHeader {
            session: SessionId(u64_at(1)),
            round: Round(u32_at(9)),
            len: u32_at(13),
        })
    }

    /// Checks that the frame belongs to `session` and fits in `max_frame`; returns the payload
    /// length to read.
    pub fn check(&self, session: SessionId, max_frame: usize) -> Result<usize, FrameError> {
        if self.session != session {
            return Err(FrameError::WrongSession {
                expected: session.0,
                got: self.session.0,
            });
        }
        let size = self.len as usize;
        if size > max_frame {
            return Err(FrameError::Oversize {
                size,
                limit: max_frame,
            });
        }
        Ok(size)
    }
}

/// The dialer's first message on a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// The dialing party.
    pub from: PartyId,
    /// The party it meant to reach.
    pub to: PartyId,
    /// Parties in the mesh, as the dialer sees it.
    pub parties: u16,
}

impl Hello {
    /// The hello's bytes.
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut out = [VERSION, b'H', 0, 0, 0, 0, 0, 0];
        out[2..4].copy_from_slice(&self.from.0.to_le_bytes());
        out[4..6].copy_from_slice(&self.to.0.to_le_bytes());
        out[6..8].copy_from_slice(&self.parties.to_le_bytes());
        out
    }

    /// Parses a hello.
    pub fn decode(bytes: &[u8; HELLO_LEN]) -> Result<Hello, FrameError> {
        if bytes[0] != VERSION {
            return Err(FrameError::Version(bytes[0]));
        }
        if bytes[1] != b'H' {
            return Err(FrameError::BadHello);
        }
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        Ok(Hello {
            from: PartyId(u16_at(2)),
            to: PartyId(u16_at(4)),
            parties: u16_at(6),
        })
    }
}

/// The accepting side's answer to a hello: 0 for accepted, anything else refused.
pub fn encode_ack(status: u8) -> [u8; ACK_LEN] {
    [VERSION, status]
}

/// Parses an ack into its status.
pub fn decode_ack(bytes: &[u8; ACK_LEN]) -> Result<u8, FrameError> {
    if bytes[0] != VERSION {
        return Err(FrameError::Version(bytes[0]));
    }
    Ok(bytes[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn headers_roundtrip_and_are_checked() {
        let h = FrameHeader {
            session: SessionId(7),
            round: Round(3),
            len: 1000,
        };
        let bytes = h.encode();
        assert_eq!(FrameHeader::decode(&bytes).unwrap(), h);
        assert_eq!(h.check(SessionId(7), 1000), Ok(1000));
        assert_eq!(
            h.check(SessionId(7), 999),
            Err(FrameError::Oversize {
                size: 1000,
                limit: 999
            })
        );
        assert!(matches!(
            h.check(SessionId(8), 1000),
            Err(FrameError::WrongSession { .. })
        ));
        let mut bad = bytes;
        bad[0] = 2;
        assert_eq!(FrameHeader::decode(&bad), Err(FrameError::Version(2)));
        let hello = Hello {
            from: PartyId(1),
            to: PartyId(4),
            parties: 5,
        };
        assert_eq!(Hello::decode(&hello.encode()).unwrap(), hello);
        assert_eq!(decode_ack(&encode_ack(0)), Ok(0));
    }

    proptest! {
        #[test]
        fn decoders_never_panic(h in proptest::array::uniform17(any::<u8>()), m in proptest::array::uniform8(any::<u8>())) {
            if let Ok(header) = FrameHeader::decode(&h) {
                prop_assert_eq!(header.encode(), h);
                let _ = header.check(header.session, 1 << 20);
            }
            if let Ok(hello) = Hello::decode(&m) {
                prop_assert_eq!(hello.encode(), m);
            }
        }
    }
}
