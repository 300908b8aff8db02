//! Ed25519 keys as the ledger uses them: the node identities of `mpc::identity` ([`Identity`]
//! signs, [`PublicKey`] verifies, [`Signature`] is 64 bytes; hex in human-readable formats, raw
//! bytes in postcard).

pub use mpc::identity::{Identity, PublicKey, Signature};
