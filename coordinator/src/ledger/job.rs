//! A job as its clients sign it and the ledger records it.
//!
//! A client asks for a job by signing a [`JobRequest`]: the specification (TOML), the
//! multiplication protocol and a nonce. The signed message is
//! `JOB_REQUEST_DOMAIN || postcard(spec, protocol, nonce)`, so a signature binds every byte of
//! the spec and cannot be moved to another request. The nonce makes two submissions of one
//! spec two different requests; for a settlement round it is derived from the round's id
//! ([`round_nonce`]), so that every firm of the round signs the very same request: their
//! signatures are the round's consent.
//!
//! The coordinator records the request in a [`JobSubmitted`] entry with the job number it gave
//! and every signature (the submitter's first). The ledger (and `ledger verify`) checks offline
//! that every signature verifies and that no key signed twice ([`JobSubmitted::check`]); each
//! worker checks, before it signs the entry, that the signers are registered clients allowed to
//! ask for this job (`worker::admission`).

use serde::{Deserialize, Serialize};

use super::hash::{Hash256, JobId};
use crate::keys::{Identity, PublicKey, Signature};

/// Prefix of the message a client signs to ask for a job. `v2`: the security level joined the
/// signed fields (between protocol and nonce); a ledger holding `v1` requests does not decode in
/// this build (no deployed ledgers existed to migrate).
pub const JOB_REQUEST_DOMAIN: &[u8] = b"quorate/ledger/job-request/v2";
/// Prefix of the hash a settlement round's nonce is derived from ([`round_nonce`]).
pub const ROUND_NONCE_DOMAIN: &[u8] = b"quorate/ledger/settlement-round/v1";

/// What a client signs to ask for a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRequest {
    /// The job's specification (TOML, `protocols::catalog::JobSpec`).
    pub spec: String,
    /// The multiplication protocol the workers use.
    pub protocol: mpc::MulProtocol,
    /// The security level of the workers' engine session (semi-honest or malicious with abort).
    pub security: mpc::SecurityLevel,
    /// Makes the request unique: random for most jobs, [`round_nonce`] for a settlement.
    pub nonce: Hash256,
}

/// A client's signature over a [`JobRequest`], with the client's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSignature {
    /// The signer.
    pub key: PublicKey,
    /// Ed25519 over [`JobRequest::signed_message`].
    pub signature: Signature,
}

impl JobRequest {
    /// What a client signs: `JOB_REQUEST_DOMAIN || postcard(self)`.
    pub fn signed_message(&self) -> Vec<u8> {
        let mut out = JOB_REQUEST_DOMAIN.to_vec();
        postcard::to_io(self, &mut out).expect("writing to a Vec");
        out
    }

    /// The request's digest (for logs and listings).
    pub fn digest(&self) -> Hash256 {
        let bytes = postcard::to_allocvec(self).expect("requests always encode");
        Hash256::of(JOB_REQUEST_DOMAIN, &bytes)
    }

    /// `identity`'s signature over the request.
    pub fn sign(&self, identity: &Identity) -> ClientSignature {
        ClientSignature {
            key: identity.public_key(),
            signature: identity.sign(&self.signed_message()),
        }
    }

    /// Whether `s` is a valid signature over this request.
    pub fn verifies(&self, s: &ClientSignature) -> bool {
        s.key.verify(&self.signed_message(), &s.signature).is_ok()
    }
}

/// The nonce of settlement round `round`: `SHA-256(ROUND_NONCE_DOMAIN || round)`.
pub fn round_nonce(round: &str) -> Hash256 {
    Hash256::of(ROUND_NONCE_DOMAIN, round.as_bytes())
}

/// A job accepted by the coordinator, as the ledger records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSubmitted {
    /// The job's number (given by the coordinator).
    pub job: JobId,
    /// The request, spec included, so anyone reading the ledger can read what ran.
    pub request: JobRequest,
    /// The submitter's signature first, then any consent the job needs (a settlement round:
    /// every other firm of the round).
    pub signatures: Vec<ClientSignature>,
}

impl JobSubmitted {
    /// The submitter's key.
    pub fn submitter(&self) -> Option<PublicKey> {
        self.signatures.first().map(|s| s.key)
    }

    /// The keys of every signer.
    pub fn signers(&self) -> Vec<PublicKey> {
        self.signatures.iter().map(|s| s.key).collect()
    }

    /// Checks what can be checked offline: at least one signature, every signature valid over
    /// the request, no key twice. The error names the signer at fault.
    pub fn check(&self) -> Result<(), RequestProblem> {
        if self.signatures.is_empty() {
            return Err(RequestProblem::Unsigned { job: self.job });
        }
        for (i, s) in self.signatures.iter().enumerate() {
            if self.signatures[..i].iter().any(|o| o.key == s.key) {
                return Err(RequestProblem::SignedTwice {
                    job: self.job,
                    client: s.key,
                });
            }
            if !self.request.verifies(s) {
                return Err(RequestProblem::BadSignature {
                    job: self.job,
                    client: s.key,
                });
            }
        }
        Ok(())
    }
}

/// Why a submitted job's client signatures do not hold ([`JobSubmitted::check`]); each names
/// the job and the client at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestProblem {
    /// No client signed.
    #[error("job {job} carries no client signature")]
    Unsigned {
        /// The job.
        job: JobId,
    },
    /// One client signed twice.
    #[error("job {job}: client {} signed twice", client.fingerprint())]
    SignedTwice {
        /// The job.
        job: JobId,
        /// The client's key.
        client: PublicKey,
    },
    /// A signature does not verify over the request.
    #[error("job {job}: the signature of client {} does not verify over the job's request", client.fingerprint())]
    BadSignature {
        /// The job.
        job: JobId,
        /// The client's key.
        client: PublicKey,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn identity(seed: u64) -> Identity {
        Identity::generate(&mut rand_chacha::ChaCha12Rng::seed_from_u64(seed))
    }

    #[test]
    fn a_signature_binds_every_byte_of_the_request() {
        let (acme, globex) = (identity(1), identity(2));
        let request = JobRequest {
            spec: "kind = \"settlement\"\nround = \"r1\"\n".into(),
            protocol: mpc::MulProtocol::Grr,
            security: mpc::SecurityLevel::SemiHonest,
            nonce: round_nonce("r1"),
        };
        let mut job = JobSubmitted {
            job: 7,
            request: request.clone(),
            signatures: vec![request.sign(&acme), request.sign(&globex)],
        };
        job.check().unwrap();
        assert_eq!(job.submitter(), Some(acme.public_key()));
        let mut tampered = job.clone();
        tampered.request.spec.push(' ');
        let err = tampered.check().unwrap_err();
        assert_eq!(
            err,
            RequestProblem::BadSignature {
                job: 7,
                client: acme.public_key()
            }
        );
        assert!(err.to_string().contains("does not verify"), "{err}");
        let mut other = job.clone();
        other.request.nonce = round_nonce("r2");
        assert!(other.check().is_err());
        // The security level is signed too: a relay cannot downgrade (or upgrade) it.
        let mut downgraded = job.clone();
        downgraded.request.security = mpc::SecurityLevel::Malicious;
        let err = downgraded.check().unwrap_err().to_string();
        assert!(err.contains("does not verify"), "{err}");
        job.signatures.push(job.signatures[0]);
        assert!(matches!(
            job.check(),
            Err(RequestProblem::SignedTwice { job: 7, .. })
        ));
        job.signatures.clear();
        let err = job.check().unwrap_err();
        assert_eq!(err, RequestProblem::Unsigned { job: 7 });
        assert!(err.to_string().contains("no client signature"));
    }
}
