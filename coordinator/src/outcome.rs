//! From the workers' agreed [`JobReport`] to the ledger's [`JobOutcome`]: one function that the
//! coordinator uses to build the entry and every worker uses to check it before signing, so
//! the two cannot drift apart.
//!
//! The outputs of an outcome, in order:
//! - `result`: the public result, committed as `SHA-512("quorate/ledger/public-result/v1" ||
//!   JSON)` reduced mod `l`, with a zero blinding and its opening on the ledger, so anyone
//!   holding the result's JSON can check it;
//! - `<recipient>/<name>/<label>` (or `<recipient>/<name>` for an unlabelled single value):
//!   one per private value, the commitment the workers computed from shares, readable only by
//!   the recipient, who fetches the opening's shares from the workers.

use mpc::engine::commit::{Commitment, Opening};
use mpc::{Field as _, Fr};
use sha2::{Digest, Sha512};

use crate::api::JobReport;
use crate::ledger::{JobOutcome, JobOutput, JobStatus, OutcomeProblem};
use crate::roster::ClusterRoster;

/// Domain of the public result's digest.
pub const PUBLIC_RESULT_DOMAIN: &[u8] = b"quorate/ledger/public-result/v1";

/// The field element a public result's JSON is committed as.
pub fn public_digest(json: &str) -> Fr {
    let digest: [u8; 64] = Sha512::new()
        .chain_update(PUBLIC_RESULT_DOMAIN)
        .chain_update(json.as_bytes())
        .finalize()
        .into();
    let scalar = curve25519_dalek::Scalar::from_bytes_mod_order_wide(&digest);
    Fr::from_canonical_bytes(&scalar.to_bytes()).expect("a reduced scalar is canonical")
}

/// The name of private value `i` of an output in the ledger.
pub fn output_name(recipient: &str, name: &str, labels: &[String], i: usize) -> String {
    match labels.get(i) {
        Some(label) => format!("{recipient}/{name}/{label}"),
        None if i == 0 => format!("{recipient}/{name}"),
        None => format!("{recipient}/{name}/{i}"),
    }
}

/// The outcome entry body for job `job`: the report's outputs when `status` is done, none
/// otherwise. Fails when a recipient is not a registered client or the report is malformed.
pub fn job_outcome(
    job: u64,
    status: JobStatus,
    report: Option<&JobReport>,
    roster: &ClusterRoster,
) -> Result<JobOutcome, OutcomeError> {
    let mut outputs = Vec::new();
    if status == JobStatus::Done {
        let report = report.ok_or(OutcomeError::NoReport { job })?;
        let digest = public_digest(&report.public);
        outputs.push(JobOutput {
            name: "result".into(),
            commitment: Commitment::to_value(digest, Fr::from_u128(0)),
            recipients: Vec::new(),
            public: Some(Opening::new(digest, Fr::from_u128(0))),
        });
        for out in &report.outputs {
            let key = roster
                .client(&out.recipient)
                .ok_or_else(|| OutcomeError::UnknownRecipient(out.recipient.clone()))?
                .key;
            if !out.labels.is_empty() && out.labels.len() != out.commitments.len() {
                return Err(OutcomeError::Labels {
                    output: format!("{}/{}", out.recipient, out.name),
                    labels: out.labels.len(),
                    values: out.commitments.len(),
                });
            }
            for (i, c) in out.commitments.iter().enumerate() {
                outputs.push(JobOutput {
                    name: output_name(&out.recipient, &out.name, &out.labels, i),
                    commitment: *c,
                    recipients: vec![key],
                    public: None,
                });
            }
        }
        outputs.extend(report.spent.iter().map(|s| s.output()));
    }
    let outcome = JobOutcome {
        job,
        status,
        outputs,
    };
    outcome.check()?;
    Ok(outcome)
}

/// Why a job's report cannot become an outcome entry ([`job_outcome`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutcomeError {
    /// The job is done but no report was kept.
    #[error("job {job} finished without a report")]
    NoReport {
        /// The job.
        job: u64,
    },
    /// An output goes to a name the roster does not register.
    #[error("output recipient {0:?} is not registered")]
    UnknownRecipient(String),
    /// An output's labels do not match its values.
    #[error("output {output} has {labels} labels for {values} values")]
    Labels {
        /// `recipient/name`.
        output: String,
        /// Labels given.
        labels: usize,
        /// Values given.
        values: usize,
    },
    /// The outcome built is malformed.
    #[error(transparent)]
    Malformed(#[from] OutcomeProblem),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_digest_opens_its_commitment_and_depends_on_every_byte() {
        let a = public_digest("{\"x\":1}");
        assert_ne!(a, public_digest("{\"x\":2}"));
        let c = Commitment::to_value(a, Fr::from_u128(0));
        assert!(c.verify(&Opening::new(a, Fr::from_u128(0))));
        assert!(!c.verify(&Opening::new(public_digest("{\"x\":2}"), Fr::from_u128(0))));
    }

    #[test]
    fn output_names_carry_recipient_name_and_label() {
        let labels = vec!["order 3".to_string()];
        assert_eq!(
            output_name("acme", "fills", &labels, 0),
            "acme/fills/order 3"
        );
        assert_eq!(output_name("acme", "balance", &[], 0), "acme/balance");
    }
}
