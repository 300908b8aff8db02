//! The mesh's connection handshake (`Hello`, `Ack`) and a bare batch of field elements: each
//! decoder on every window of the input, and a decoded hello re-encodes to its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpc::Fr;
use mpc::net::codec;
use mpc::party::PartyId;
use mpc::quic::frame::{ACK_LEN, HELLO_LEN, Hello, decode_ack};

fuzz_target!(|data: &[u8]| {
    if let Some(bytes) = data.first_chunk::<HELLO_LEN>() {
        if let Ok(hello) = Hello::decode(bytes) {
            assert_eq!(&hello.encode(), bytes);
        }
    }
    if let Some(bytes) = data.first_chunk::<ACK_LEN>() {
        let _ = decode_ack(bytes);
    }
    let (expected, elems) = match data.split_first() {
        Some((&count, elems)) => (usize::from(count), elems),
        None => (0, data),
    };
    if let Ok(decoded) = codec::decode::<Fr>(elems, expected, PartyId(2)) {
        assert_eq!(codec::encode(&decoded).as_ref(), elems);
    }
});
