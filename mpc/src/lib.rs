//! The Quorate MPC engine.
//!
//! Secret-shared computation among `n` parties with an honest majority (`2t < n`), semi-honest:
//! - [`field`]: the ristretto255 scalar field and integer/fixed-point encodings;
//! - [`shamir`]: dealing and reconstruction with error detection;
//! - [`net`]: the [`net::Network`] trait every transport implements, an in-memory mesh and a
//!   meter;
//! - [`identity`]: Ed25519 node identities, key files, signatures;
//! - [`quic`]: the QUIC transport, a mesh of mutually authenticated connections pinned to the
//!   roster's keys, carrying any number of sessions;
//! - [`engine`]: a party's context, with batched inputs, openings, multiplication (GRR or DN07),
//!   random sharings and bits (dealt, or by pseudo-random secret sharing, [`engine::prss`]),
//!   comparisons (with bit circuits on field elements, or edaBits in GF(2^8)), fixed point and
//!   selection, and Pedersen commitments computed from shares ([`engine::commit`]);
//! - [`share::Shared`]: shares with a public magnitude bound that every operation propagates, so
//!   that overflow is refused before anything is sent, never silently wrapped.
//!
//! The engine never opens a socket, reads a file or a clock, or spawns a task: protocol code
//! sees the world only through [`net::Network`].

// Denied, not forbidden: the one exception is `engine/verify/clmul.rs`'s `run` (a call of a
// function compiled for PCLMULQDQ after run-time detection), allowed there alone.
#![deny(unsafe_code)]

pub mod engine;
pub mod error;
pub mod field;
pub mod identity;
pub mod net;
pub mod params;
pub mod party;
pub mod quic;
pub mod shamir;
pub mod share;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;

/// What the exported macros name; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::identity::decode_hex;
    pub use hex;
    pub use serde;
}

pub use engine::{
    BitProtocol, CHECK_BASE, Commitment, Engine, EngineConfig, EngineStats, MulProtocol, Opening,
    OwnerInput, Randomness, SecurityLevel,
};
pub use error::{EncodeError, MpcError, Result, UnknownChoice};
pub use field::{Field, Fr};
pub use params::Params;
pub use party::PartyId;
pub use share::Shared;
