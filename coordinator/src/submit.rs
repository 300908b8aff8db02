//! What the coordinator does with a client's signed job request ([`admit`]): refuse it with
//! a reason, queue a new job, or — for a settlement round — add the sender's consent to the
//! job already waiting for that very request.
//!
//! A settlement round runs only once every firm it lists has signed the same request (the
//! spec, with the round's id, and the nonce derived from that id). Each firm sends it with
//! `quorate run --as FIRM settlement.toml`: the first queues the job in
//! [`JobState::AwaitingConsent`], each later one adds its signature; the last makes it
//! [`JobState::Queued`]. A round that does not gather every firm within the coordinator's
//! `consent_timeout_s` fails, naming the firms that did not sign ([`consent_expired`]).
//!
//! These checks give early, clear errors; they are not what protects the firms: every worker
//! checks the signatures again before it signs the job's ledger entry or runs it
//! (`worker::admission`), so a coordinator that skipped them gets nowhere.

use crate::api::{ErrorKind, JobInfo, JobState};
use crate::ledger::{ClientSignature, JobRequest, round_nonce};
use crate::roster::ClusterRoster;
use protocols::catalog::JobSpec;

/// What a submission does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submission {
    /// A new job, to be stored (its id is assigned then).
    New(JobInfo),
    /// The sender's consent added to an existing job (to be stored again).
    Consent(JobInfo),
    /// The sender had already signed this job: nothing changes.
    Known(u64),
}

/// A refusal: its class and message.
pub type Refusal = (ErrorKind, String);

fn refuse<T>(kind: ErrorKind, message: String) -> Result<T, Refusal> {
    Err((kind, message))
}

/// Decides what `client`'s request does, given the jobs the coordinator holds (see the
/// module doc). `now_ms` stamps a new job.
pub fn admit(
    roster: &ClusterRoster,
    client: &str,
    request: JobRequest,
    signature: ClientSignature,
    jobs: &[JobInfo],
    now_ms: u64,
) -> Result<Submission, Refusal> {
    let spec = JobSpec::from_toml(&request.spec)
        .map_err(|e| (ErrorKind::BadRequest, format!("job spec: {e}")))?;
    let key = roster.client(client).map(|c| c.key);
    if key != Some(signature.key) {
        return refuse(
            ErrorKind::Forbidden,
            format!("the request is signed with another key than {client}'s"),
        );
    }
    if !request.verifies(&signature) {
        return refuse(
            ErrorKind::BadRequest,
            "the request's signature does not verify".into(),
        );
    }
    if let Some((role, r)) = spec
        .named_clients()
        .into_iter()
        .find(|(_, r)| roster.client(r).is_none())
    {
        return refuse(
            ErrorKind::BadRequest,
            format!("job spec: {role} {r:?} is not a registered client"),
        );
    }
    spec.check_participants()
        .map_err(|e| (ErrorKind::BadRequest, format!("job spec: {e}")))?;
    let recipients = spec.recipients();
    if let Some(r) = recipients
        .iter()
        .enumerate()
        .find_map(|(i, r)| recipients[..i].contains(r).then_some(r))
    {
        return refuse(
            ErrorKind::BadRequest,
            format!("job spec: recipient {r:?} appears twice"),
        );
    }
    let mut awaiting = Vec::new();
    if let JobSpec::Settlement(round) = &spec {
        round
            .validate()
            .map_err(|e| (ErrorKind::BadRequest, format!("job spec: {e}")))?;
        if !round.firms.iter().any(|f| f == client) {
            return refuse(
                ErrorKind::Forbidden,
                format!(
                    "{client} is not a firm of settlement round {:?}: only its firms ({}) submit or consent to it",
                    round.round,
                    round.firms.join(", ")
                ),
            );
        }
        if request.nonce != round_nonce(&round.round) {
            return refuse(
                ErrorKind::BadRequest,
                format!(
                    "the nonce of settlement round {:?} must be derived from its id",
                    round.round
                ),
            );
        }
        // The same signed request, not failed: this is consent to it.
        let same = jobs.iter().rev().find(|j| {
            j.spec == request.spec
                && j.protocol == request.protocol
                && j.security == request.security
                && j.nonce == request.nonce
                && !matches!(j.state, JobState::Failed(_) | JobState::Refused(_))
        });
        if let Some(job) = same {
            if job.state == JobState::Done {
                return refuse(
                    ErrorKind::Conflict,
                    format!(
                        "settlement round {:?} was already applied by job {}: a round applies once (see `quorate result {}`)",
                        round.round, job.id, job.id
                    ),
                );
            }
            if job.signatures.iter().any(|s| s.key == signature.key) {
                return Ok(Submission::Known(job.id));
            }
            if job.state != JobState::AwaitingConsent {
                return refuse(
                    ErrorKind::Conflict,
                    format!(
                        "settlement round {:?} is already under way as job {} without {client}'s signature",
                        round.round, job.id
                    ),
                );
            }
            let mut job = job.clone();
            job.signatures.push(signature);
            job.awaiting.retain(|f| f != client);
            if job.awaiting.is_empty() {
                job.state = JobState::Queued;
            }
            return Ok(Submission::Consent(job));
        }
        awaiting = round
            .firms
            .iter()
            .filter(|f| *f != client)
            .cloned()
            .collect();
    }
    Ok(Submission::New(JobInfo {
        id: 0,
        submitter: client.into(),
        kind: spec.kind().into(),
        spec: request.spec,
        protocol: request.protocol,
        security: request.security,
        nonce: request.nonce,
        signatures: vec![signature],
        state: if awaiting.is_empty() {
            JobState::Queued
        } else {
            JobState::AwaitingConsent
        },
        awaiting,
        submitted_ms: now_ms,
        finished_ms: None,
        attempts: 0,
        report: None,
        submitted_height: None,
        outcome_height: None,
    }))
}

/// The failure of a round still awaiting consent at `now_ms`, if its `timeout_ms` has passed.
pub fn consent_expired(job: &JobInfo, now_ms: u64, timeout_ms: u64) -> Option<JobState> {
    (job.state == JobState::AwaitingConsent && now_ms >= job.submitted_ms + timeout_ms).then(|| {
        JobState::Failed(format!(
            "{} did not consent to the round within {} s",
            job.awaiting.join(", "),
            timeout_ms / 1000
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Identity;
    use crate::ledger::Hash256;
    use crate::roster::{ClientEntry, CoordinatorEntry};
    use rand::SeedableRng;

    const ROUND: &str = "kind = \"settlement\"\nround = \"r7\"\nfirms = [\"acme\", \"globex\"]\n";

    fn identity(seed: u64) -> Identity {
        Identity::generate(&mut rand_chacha::ChaCha12Rng::seed_from_u64(seed))
    }

    fn roster(clients: &[(&str, &Identity)]) -> ClusterRoster {
        ClusterRoster {
            threshold: 1,
            coordinator: CoordinatorEntry {
                address: "127.0.0.1:1".parse().unwrap(),
                key: identity(0).public_key(),
            },
            workers: Vec::new(),
            clients: clients
                .iter()
                .map(|(n, i)| ClientEntry {
                    name: n.to_string(),
                    key: i.public_key(),
                })
                .collect(),
        }
    }

    fn request(spec: &str, nonce: Hash256) -> JobRequest {
        JobRequest {
            spec: spec.into(),
            protocol: mpc::MulProtocol::Grr,
            security: mpc::SecurityLevel::SemiHonest,
            nonce,
        }
    }

    #[test]
    fn a_round_waits_for_every_firm_and_refuses_strangers() {
        let (acme, globex, mallory) = (identity(1), identity(2), identity(3));
        let r = roster(&[("acme", &acme), ("globex", &globex), ("mallory", &mallory)]);
        let req = request(ROUND, round_nonce("r7"));
        let Ok(Submission::New(mut job)) = admit(&r, "acme", req.clone(), req.sign(&acme), &[], 5)
        else {
            panic!("not a new job")
        };
        assert_eq!(job.state, JobState::AwaitingConsent);
        assert_eq!(job.awaiting, vec!["globex".to_string()]);
        job.id = 1;
        let jobs = vec![job];
        assert_eq!(
            admit(&r, "acme", req.clone(), req.sign(&acme), &jobs, 6),
            Ok(Submission::Known(1))
        );
        let (kind, m) =
            admit(&r, "mallory", req.clone(), req.sign(&mallory), &jobs, 6).unwrap_err();
        assert_eq!(kind, ErrorKind::Forbidden);
        assert!(
            m.contains("mallory is not a firm of settlement round \"r7\""),
            "{m}"
        );
        // Signed with someone else's key.
        let (kind, _) = admit(&r, "globex", req.clone(), req.sign(&acme), &jobs, 6).unwrap_err();
        assert_eq!(kind, ErrorKind::Forbidden);
        let Ok(Submission::Consent(job)) =
            admit(&r, "globex", req.clone(), req.sign(&globex), &jobs, 6)
        else {
            panic!("not a consent")
        };
        assert_eq!(job.state, JobState::Queued);
        assert_eq!(job.signatures.len(), 2);
        // Once it ran, the same round is refused, naming it.
        let mut done = job.clone();
        done.state = JobState::Done;
        done.signatures.truncate(1);
        let (kind, m) = admit(
            &r,
            "globex",
            req.clone(),
            req.sign(&globex),
            &[done.clone()],
            9,
        )
        .unwrap_err();
        assert_eq!(kind, ErrorKind::Conflict);
        assert!(m.contains("\"r7\" was already applied by job 1"), "{m}");
        // By a firm that signed it, too.
        let (_, m) = admit(&r, "acme", req.clone(), req.sign(&acme), &[done], 9).unwrap_err();
        assert!(m.contains("already applied by job 1"), "{m}");
    }

    #[test]
    fn a_round_without_consent_expires_naming_the_firms() {
        let acme = identity(1);
        let r = roster(&[("acme", &acme), ("globex", &identity(2))]);
        let req = request(ROUND, round_nonce("r7"));
        let Ok(Submission::New(job)) = admit(&r, "acme", req.clone(), req.sign(&acme), &[], 1_000)
        else {
            panic!("not a new job")
        };
        assert_eq!(consent_expired(&job, 2_000, 5_000), None);
        let Some(JobState::Failed(m)) = consent_expired(&job, 6_000, 5_000) else {
            panic!("not expired")
        };
        assert!(m.contains("globex did not consent"), "{m}");
        // The nonce of a round comes from its id.
        let wrong = request(ROUND, Hash256([1; 32]));
        assert!(admit(&r, "acme", wrong.clone(), wrong.sign(&acme), &[], 1).is_err());
    }
}
