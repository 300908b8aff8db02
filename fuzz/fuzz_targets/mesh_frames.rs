//! The mesh's frame stream as a receiver reads it (`mpc::quic::stream::read_stream`, without
//! the IO): headers decoded and checked against the stream's position before their payload is
//! read, chunks reassembled into round payloads, each payload decoded as field elements.
//! Invariants checked: a payload never grows past the total its first chunk announced, and
//! a completed payload is exactly that long.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpc::Fr;
use mpc::field::Field;
use mpc::net::codec;
use mpc::party::PartyId;
use mpc::quic::frame::{FrameHeader, HEADER_LEN, Limits, Position};

const LIMITS: Limits = Limits {
    max_frame: 4096,
    max_round_bytes: 1 << 16,
};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let mut session = None;
    let mut at = Position::Boundary;
    let mut payload: Vec<u8> = Vec::new();
    while let Some((bytes, after)) = rest.split_first_chunk::<HEADER_LEN>() {
        let Ok(header) = FrameHeader::decode(bytes) else {
            return;
        };
        let session = *session.get_or_insert(header.session);
        let Ok(len) = header.check(session, at, LIMITS) else {
            return;
        };
        assert!(len <= LIMITS.max_frame);
        if after.len() < len {
            return; // the stream ended inside a frame
        }
        let (chunk, next) = after.split_at(len);
        payload.extend_from_slice(chunk);
        assert!(
            payload.len() as u64 <= header.total,
            "payload past its total"
        );
        at = header.after();
        if at == Position::Boundary {
            assert_eq!(
                payload.len() as u64,
                header.total,
                "payload short of its total"
            );
            let elems = payload.len() / Fr::BYTES;
            let _ = codec::decode::<Fr>(&payload, elems, PartyId(1));
            payload.clear();
        }
        rest = next;
    }
});
