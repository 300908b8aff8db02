//! The mesh's wire format, as pure functions: fixed-size headers checked before anything is
//! read or allocated after them, and the rules a stream's frames must follow to reassemble a
//! payload. No IO here, so every decoder is a fuzz target as it stands.
//!
//! Two things travel between mesh nodes besides TLS:
//!
//! - **Hello / Ack** (once per connection, on the first bidirectional stream, opened by the
//!   dialer): `Hello` = `[VERSION, b'H', from: u16, to: u16, parties: u16]` (little endian), so
//!   both ends agree on who is who and how many parties there are. The accepting side already
//!   knows the dialer's key from TLS; the hello must name the same party. `Ack` =
//!   `[VERSION, status]`, status 0 for accepted.
//! - **Frames** (on one unidirectional stream per session and ordered pair of parties, opened
//!   by the sender on its first message): a 33-byte header
//!   `[VERSION, session: u64, round: u32, total: u64, offset: u64, len: u32]` (little endian)
//!   then `len` payload bytes. A round's payload (one [`crate::net::Network::send`]) of
//!   `total` bytes travels as one or more frames, its **chunks**, sent back to back: each
//!   carries the payload's `total` and the `offset` of its bytes in it, the first at offset 0,
//!   each next one where the previous ended, the last ending at `total`. An empty payload is
//!   one frame with `total = len = 0`. Every frame of a stream carries the same session id;
//!   the first frame's id routes the stream to its session.
//!
//! What a receiver checks, on each header before it reads (or allocates for) what follows
//! ([`FrameHeader::check`]): the version; the session; `len` against its
//! [`Limits::max_frame`]; on a payload's first chunk, `total` against
//! [`Limits::max_round_bytes`], so the announced size of a whole round is refused before any
//! of it is buffered; on the others, the same round and total as the first chunk and the
//! offset where the previous chunk ended (so no gap, no overlap and no other round in the
//! middle of a payload); and that no chunk runs past `total` or is empty inside a non-empty
//! payload. Senders never interleave payloads on a stream (one writer owns it), so any of
//! these is a broken or malicious peer.
//!
//! Version 1 had a 17-byte header and one frame per payload, limited to `max_frame`. The
//! version also appears in the TLS ALPN (`quorate-mesh/2`, [`super::tls::ALPN`]), so two
//! builds that disagree fail the handshake rather than the first frame.

use crate::net::{Round, SessionId};
use crate::party::PartyId;

/// The wire version this build speaks.
pub const VERSION: u8 = 2;
/// Bytes in a frame header.
pub const HEADER_LEN: usize = 33;
/// Bytes in a hello.
pub const HELLO_LEN: usize = 8;
/// Bytes in an ack.
pub const ACK_LEN: usize = 2;

/// What a receiver accepts (from [`super::MeshConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload of one frame (one chunk).
    pub max_frame: usize,
    /// Largest payload of one round, over all its chunks.
    pub max_round_bytes: u64,
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A version this build does not speak.
    #[error("wire version {0}, this node speaks {VERSION}")]
    Version(u8),
    /// The frame's payload length exceeds the receiver's limit.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    Oversize {
        /// Announced frame payload length.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The round's announced total exceeds the receiver's limit.
    #[error("round {round} announced a payload of {total} bytes, over the limit of {limit} bytes")]
    RoundOversize {
        /// The round tag.
        round: u32,
        /// Announced total.
        total: u64,
        /// The limit.
        limit: u64,
    },
    /// A frame on a stream carries another session's id.
    #[error("frame for session {got} on the stream of session {expected}")]
    WrongSession {
        /// The stream's session.
        expected: u64,
        /// The frame's.
        got: u64,
    },
    /// A frame of another round arrived in the middle of a payload.
    #[error("a frame of round {got} inside the payload of round {expected}")]
    Interleaved {
        /// The round being reassembled.
        expected: u32,
        /// The frame's round.
        got: u32,
    },
    /// A chunk announces another total than the payload's first chunk.
    #[error("a chunk of round {round} announces {got} bytes in all, its first chunk {expected}")]
    TotalChanged {
        /// The round tag.
        round: u32,
        /// The first chunk's total.
        expected: u64,
        /// This chunk's.
        got: u64,
    },
    /// A chunk does not start where the previous one ended (a gap or an overlap), or a
    /// payload's first chunk not at 0.
    #[error("a chunk of round {round} at offset {got}, expected at {expected}")]
    Offset {
        /// The round tag.
        round: u32,
        /// Where the chunk should start.
        expected: u64,
        /// Where it says it starts.
        got: u64,
    },
    /// A chunk runs past its payload's end, or is empty inside a non-empty payload.
    #[error("a chunk of {len} bytes at offset {offset} of round {round}'s {total} bytes")]
    BadLength {
        /// The round tag.
        round: u32,
        /// The chunk's offset.
        offset: u64,
        /// Its length.
        len: u32,
        /// The payload's total.
        total: u64,
    },
    /// A hello that is not one.
    #[error("malformed hello")]
    BadHello,
}

/// Where a stream stands between two frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The next frame starts a payload.
    Boundary,
    /// The next frame continues the payload of `round`, `total` bytes long, at `offset`.
    Inside {
        /// The payload's round.
        round: Round,
        /// Its length.
        total: u64,
        /// Bytes of it received so far.
        offset: u64,
    },
}

/// A frame header: which session, round and payload the chunk belongs to, and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The session.
    pub session: SessionId,
    /// The round tag.
    pub round: Round,
    /// Bytes of the whole payload this chunk belongs to.
    pub total: u64,
    /// Where this chunk's bytes start in that payload.
    pub offset: u64,
    /// Payload bytes that follow this header.
    pub len: u32,
}

impl FrameHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = VERSION;
        out[1..9].copy_from_slice(&self.session.0.to_le_bytes());
        out[9..13].copy_from_slice(&self.round.0.to_le_bytes());
        out[13..21].copy_from_slice(&self.total.to_le_bytes());
        out[21..29].copy_from_slice(&self.offset.to_le_bytes());
        out[29..33].copy_from_slice(&self.len.to_le_bytes());
        out
    }

    /// Parses a header, refusing another version. Everything else is checked separately
    /// ([`FrameHeader::check`]), once the stream's session and position are known.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<FrameHeader, FrameError> {
        if bytes[0] != VERSION {
            return Err(FrameError::Version(bytes[0]));
        }
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        Ok(FrameHeader {
            session: SessionId(u64_at(1)),
            round: Round(u32_at(9)),
            total: u64_at(13),
            offset: u64_at(21),
            len: u32_at(29),
        })
    }

    /// Checks that the frame belongs to `session`, fits the `limits`, and continues the
    /// stream from `at` (see the module's rules); returns the payload length to read.
    pub fn check(
        &self,
        session: SessionId,
        at: Position,
        limits: Limits,
    ) -> Result<usize, FrameError> {
        if self.session != session {
            return Err(FrameError::WrongSession {
                expected: session.0,
                got: self.session.0,
            });
        }
        let round = self.round.0;
        let expected_offset = match at {
            Position::Boundary => {
                if self.total > limits.max_round_bytes {
                    return Err(FrameError::RoundOversize {
                        round,
                        total: self.total,
                        limit: limits.max_round_bytes,
                    });
                }
                0
            }
            Position::Inside {
                round: expected,
                total,
                offset,
            } => {
                if self.round != expected {
                    return Err(FrameError::Interleaved {
                        expected: expected.0,
                        got: round,
                    });
                }
                if self.total != total {
                    return Err(FrameError::TotalChanged {
                        round,
                        expected: total,
                        got: self.total,
                    });
                }
                offset
            }
        };
        if self.offset != expected_offset {
            return Err(FrameError::Offset {
                round,
                expected: expected_offset,
                got: self.offset,
            });
        }
        let size = self.len as usize;
        if size > limits.max_frame {
            return Err(FrameError::Oversize {
                size,
                limit: limits.max_frame,
            });
        }
        let remaining = self.total - self.offset; // offset <= total: 0, or below total inside
        if u64::from(self.len) > remaining || (self.len == 0 && remaining > 0) {
            return Err(FrameError::BadLength {
                round,
                offset: self.offset,
                len: self.len,
                total: self.total,
            });
        }
        Ok(size)
    }

    /// Where the stream stands once this (checked) frame's payload is read.
    pub fn after(&self) -> Position {
        let offset = self.offset + u64::from(self.len);
        if offset >= self.total {
            Position::Boundary
        } else {
            Position::Inside {
                round: self.round,
                total: self.total,
                offset,
            }
        }
    }
}

/// The frames that carry a payload of `total` bytes for `round`, in chunks of at most
/// `max_chunk` bytes (positive, at most `u32::MAX`): one empty frame for an empty payload.
pub fn chunks(
    session: SessionId,
    round: Round,
    total: u64,
    max_chunk: u32,
) -> impl Iterator<Item = FrameHeader> {
    let step = u64::from(max_chunk.max(1));
    let count = total.div_ceil(step).max(1);
    (0..count).map(move |i| {
        let offset = i * step;
        FrameHeader {
            session,
            round,
            total,
            offset,
            len: (total - offset).min(step) as u32,
        }
    })
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

    const LIMITS: Limits = Limits {
        max_frame: 1000,
        max_round_bytes: 5000,
    };

    fn header(round: u32, total: u64, offset: u64, len: u32) -> FrameHeader {
        FrameHeader {
            session: SessionId(7),
            round: Round(round),
            total,
            offset,
            len,
        }
    }

    fn inside(round: u32, total: u64, offset: u64) -> Position {
        Position::Inside {
            round: Round(round),
            total,
            offset,
        }
    }

    #[test]
    fn headers_roundtrip_and_are_checked() {
        let h = header(3, 1000, 0, 1000);
        let bytes = h.encode();
        assert_eq!(FrameHeader::decode(&bytes).unwrap(), h);
        let at = Position::Boundary;
        assert_eq!(h.check(SessionId(7), at, LIMITS), Ok(1000));
        assert_eq!(h.after(), Position::Boundary);
        let small = Limits {
            max_frame: 999,
            ..LIMITS
        };
        assert_eq!(
            h.check(SessionId(7), at, small),
            Err(FrameError::Oversize {
                size: 1000,
                limit: 999
            })
        );
        assert!(matches!(
            h.check(SessionId(8), at, LIMITS),
            Err(FrameError::WrongSession { .. })
        ));
        let mut bad = bytes;
        bad[0] = 1;
        assert_eq!(FrameHeader::decode(&bad), Err(FrameError::Version(1)));
        let hello = Hello {
            from: PartyId(1),
            to: PartyId(4),
            parties: 5,
        };
        assert_eq!(Hello::decode(&hello.encode()).unwrap(), hello);
        assert_eq!(decode_ack(&encode_ack(0)), Ok(0));
        assert_eq!(decode_ack(&[1, 0]), Err(FrameError::Version(1)));
        let alpn = super::super::tls::ALPN;
        assert!(
            alpn.ends_with(format!("/{VERSION}").as_bytes()),
            "ALPN carries the version"
        );
    }

    #[test]
    fn chunk_sequences_are_checked() {
        let s = SessionId(7);
        let start = Position::Boundary;
        // A round over the limit is refused on its first header, whatever the chunk.
        assert_eq!(
            header(2, 5001, 0, 10).check(s, start, LIMITS),
            Err(FrameError::RoundOversize {
                round: 2,
                total: 5001,
                limit: 5000
            })
        );
        assert!(matches!(
            header(2, u64::MAX, 0, 10).check(s, start, LIMITS),
            Err(FrameError::RoundOversize { .. })
        ));
        // A good sequence: 1000 + 1000 + 500.
        let first = header(2, 2500, 0, 1000);
        assert_eq!(first.check(s, start, LIMITS), Ok(1000));
        let at = first.after();
        assert_eq!(at, inside(2, 2500, 1000));
        let second = header(2, 2500, 1000, 1000);
        assert_eq!(second.check(s, at, LIMITS), Ok(1000));
        let last = header(2, 2500, 2000, 500);
        assert_eq!(last.check(s, second.after(), LIMITS), Ok(500));
        assert_eq!(last.after(), Position::Boundary);
        // Gaps, overlaps, another round or total mid-payload, a first chunk not at 0.
        assert_eq!(
            header(2, 2500, 1500, 500).check(s, at, LIMITS),
            Err(FrameError::Offset {
                round: 2,
                expected: 1000,
                got: 1500
            })
        );
        assert!(matches!(
            header(2, 2500, 500, 500).check(s, at, LIMITS),
            Err(FrameError::Offset { .. })
        ));
        assert_eq!(
            header(3, 2500, 1000, 500).check(s, at, LIMITS),
            Err(FrameError::Interleaved {
                expected: 2,
                got: 3
            })
        );
        assert_eq!(
            header(3, 100, 0, 100).check(s, at, LIMITS),
            Err(FrameError::Interleaved {
                expected: 2,
                got: 3
            })
        );
        assert_eq!(
            header(2, 3000, 1000, 500).check(s, at, LIMITS),
            Err(FrameError::TotalChanged {
                round: 2,
                expected: 2500,
                got: 3000
            })
        );
        assert!(matches!(
            header(2, 2500, 100, 500).check(s, start, LIMITS),
            Err(FrameError::Offset { expected: 0, .. })
        ));
        // Past the end, or empty while bytes are missing (no progress).
        assert!(matches!(
            header(2, 2500, 2000, 600).check(s, second.after(), LIMITS),
            Err(FrameError::BadLength { .. })
        ));
        assert!(matches!(
            header(2, 10, 0, 20).check(s, start, LIMITS),
            Err(FrameError::BadLength { .. })
        ));
        assert!(matches!(
            header(2, 2500, 1000, 0).check(s, at, LIMITS),
            Err(FrameError::BadLength { .. })
        ));
        // An empty payload is one empty frame.
        let empty = header(4, 0, 0, 0);
        assert_eq!(empty.check(s, start, LIMITS), Ok(0));
        assert_eq!(empty.after(), Position::Boundary);
    }

    proptest! {
        #[test]
        fn decoders_never_panic(h in proptest::collection::vec(any::<u8>(), HEADER_LEN), m in proptest::array::uniform8(any::<u8>()), at in (any::<u32>(), any::<u64>(), any::<u64>())) {
            let h: [u8; HEADER_LEN] = h.try_into().unwrap();
            if let Ok(header) = FrameHeader::decode(&h) {
                prop_assert_eq!(header.encode(), h);
                let limits = Limits { max_frame: 1 << 20, max_round_bytes: u64::MAX };
                if header.check(header.session, Position::Boundary, limits).is_ok() {
                    let _ = header.after();
                }
                let (round, total, offset) = at;
                let within = Position::Inside { round: Round(round), total, offset: offset % total.max(1) };
                if header.check(header.session, within, limits).is_ok() {
                    let _ = header.after();
                }
            }
            if let Ok(hello) = Hello::decode(&m) {
                prop_assert_eq!(hello.encode(), m);
            }
        }

        #[test]
        fn what_a_sender_chunks_a_receiver_accepts(total in 0u64..100_000, max_chunk in 1u32..20_000) {
            let limits = Limits { max_frame: max_chunk as usize, max_round_bytes: total };
            let mut at = Position::Boundary;
            let mut received = 0u64;
            let mut frames = 0u64;
            for h in chunks(SessionId(1), Round(9), total, max_chunk) {
                prop_assert_eq!(h.check(SessionId(1), at, limits), Ok(h.len as usize));
                received += u64::from(h.len);
                frames += 1;
                at = h.after();
                prop_assert_eq!(at == Position::Boundary, received == total);
            }
            prop_assert_eq!(received, total);
            prop_assert_eq!(frames, total.div_ceil(u64::from(max_chunk)).max(1));
        }
    }
}
