//! The admission rules on hand-made chains (no signatures between entries are needed: the
//! rules read the replica's content, which the replica verified when it appended it).

use coordinator::keys::Identity;
use coordinator::ledger::{
    ClientSignature, Entry, EntryBody, Hash256, JobOutcome, JobRequest, JobStatus, JobSubmitted,
    round_nonce,
};
use coordinator::roster::{ClientEntry, ClusterRoster, CoordinatorEntry, WorkerEntry};
use rand::SeedableRng;

use super::*;

const FIRMS: [&str; 3] = ["acme", "globex", "initech"];
const ROUND: &str =
    "kind = \"settlement\"\nround = \"2026-12-06\"\nfirms = [\"acme\", \"globex\", \"initech\"]\n";
const STATS: &str = "kind = \"statistics\"\nquery = \"SELECT AVG(x) FROM t\"\n";

struct World {
    roster: ClusterRoster,
    clients: Vec<(String, Identity)>,
}

fn identity(seed: u64) -> Identity {
    Identity::generate(&mut rand_chacha::ChaCha12Rng::seed_from_u64(seed))
}

fn world() -> World {
    let names = ["acme", "globex", "initech", "mallory", "analyst"];
    let clients: Vec<(String, Identity)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), identity(10 + i as u64)))
        .collect();
    let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
    let roster = ClusterRoster {
        threshold: 1,
        coordinator: CoordinatorEntry {
            address: addr(7000),
            key: identity(1).public_key(),
        },
        workers: (0..3)
            .map(|i| WorkerEntry {
                id: i,
                address: addr(7100 + i),
                mesh: addr(7200 + i),
                key: identity(2 + u64::from(i)).public_key(),
            })
            .collect(),
        clients: clients
            .iter()
            .map(|(n, id)| ClientEntry {
                name: n.clone(),
                key: id.public_key(),
            })
            .collect(),
    };
    World { roster, clients }
}

impl World {
    fn who(&self, name: &str) -> &Identity {
        &self.clients.iter().find(|(n, _)| n == name).unwrap().1
    }
    fn signed(&self, job: u64, spec: &str, nonce: Hash256, signers: &[&str]) -> JobSubmitted {
        let request = JobRequest {
            spec: spec.into(),
            protocol: mpc::MulProtocol::Grr,
            security: mpc::SecurityLevel::SemiHonest,
            nonce,
        };
        let signatures: Vec<ClientSignature> =
            signers.iter().map(|s| request.sign(self.who(s))).collect();
        JobSubmitted {
            job,
            request,
            signatures,
        }
    }
}

/// A chain holding `bodies` after a genesis (heights in order; no worker signatures).
fn chain(bodies: Vec<EntryBody>) -> Vec<Entry> {
    let w = world();
    let mut out = vec![Entry::genesis(0, w.roster.ledger_roster())];
    for body in bodies {
        let head = coordinator::ledger::Head::of(out.last().unwrap());
        out.push(Entry::next(&head, 1, body));
    }
    out
}

fn outcome(job: u64, status: JobStatus) -> EntryBody {
    EntryBody::JobOutcome(JobOutcome {
        job,
        status,
        outputs: Vec::new(),
    })
}

fn refused<T: std::fmt::Debug>(r: Result<T, Admission>) -> String {
    match r {
        Err(Admission::Refused(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

const SH: mpc::SecurityLevel = mpc::SecurityLevel::SemiHonest;

#[test]
fn a_settlement_needs_every_firm_and_no_stranger() {
    let w = world();
    let nonce = round_nonce("2026-12-06");
    let all = w.signed(1, ROUND, nonce, &FIRMS);
    check_submission(&w.roster, &chain(vec![]), &all).unwrap();
    // Submitted by a client that is not a firm of the round.
    let m = refused(check_submission(
        &w.roster,
        &chain(vec![]),
        &w.signed(1, ROUND, nonce, &["mallory", "acme", "globex", "initech"]),
    ));
    assert!(m.contains("mallory is not a firm"), "{m}");
    // One firm missing.
    let m = refused(check_submission(
        &w.roster,
        &chain(vec![]),
        &w.signed(1, ROUND, nonce, &["acme", "globex"]),
    ));
    assert!(
        m.contains("lacks the consent") && m.contains("initech"),
        "{m}"
    );
    // A stranger's extra signature.
    let m = refused(check_submission(
        &w.roster,
        &chain(vec![]),
        &w.signed(1, ROUND, nonce, &["acme", "globex", "initech", "mallory"]),
    ));
    assert!(m.contains("mallory signed"), "{m}");
}

#[test]
fn a_tampered_spec_or_an_unregistered_signer_is_refused() {
    let w = world();
    let mut job = w.signed(1, STATS, Hash256([1; 32]), &["analyst"]);
    check_submission(&w.roster, &chain(vec![]), &job).unwrap();
    job.request.spec = STATS.replace("AVG", "SUM");
    let m = refused(check_submission(&w.roster, &chain(vec![]), &job));
    assert!(m.contains("does not verify"), "{m}");
    let stranger = identity(99);
    let request = JobRequest {
        spec: STATS.into(),
        protocol: mpc::MulProtocol::Grr,
        security: mpc::SecurityLevel::SemiHonest,
        nonce: Hash256([2; 32]),
    };
    let job = JobSubmitted {
        job: 1,
        signatures: vec![request.sign(&stranger)],
        request,
    };
    let m = refused(check_submission(&w.roster, &chain(vec![]), &job));
    assert!(m.contains("not a registered client"), "{m}");
}

#[test]
fn a_replayed_request_or_round_is_refused_naming_it() {
    let w = world();
    let nonce = round_nonce("2026-12-06");
    let first = w.signed(1, ROUND, nonce, &FIRMS);
    // The same signed round again, while job 1 has not ended, or after it was applied.
    let pending = chain(vec![EntryBody::JobSubmitted(first.clone())]);
    let again = JobSubmitted {
        job: 2,
        ..first.clone()
    };
    let m = refused(check_submission(&w.roster, &pending, &again));
    assert!(m.contains("\"2026-12-06\" is already job 1"), "{m}");
    let applied = chain(vec![
        EntryBody::JobSubmitted(first.clone()),
        outcome(1, JobStatus::Done),
    ]);
    let m = refused(check_submission(&w.roster, &applied, &again));
    assert!(m.contains("already applied by job 1"), "{m}");
    // The same round id under another spec (say, another order of firms) is the same round.
    let reordered = ROUND.replace(
        "[\"acme\", \"globex\", \"initech\"]",
        "[\"initech\", \"globex\", \"acme\"]",
    );
    let other = w.signed(2, &reordered, nonce, &FIRMS);
    let m = refused(check_submission(&w.roster, &applied, &other));
    assert!(m.contains("already applied by job 1"), "{m}");
    // After a failure (nothing applied) the firms may run the round again.
    let failed = chain(vec![
        EntryBody::JobSubmitted(first.clone()),
        outcome(
            1,
            JobStatus::Failed {
                reason: "worker 2 left".into(),
            },
        ),
    ]);
    check_submission(&w.roster, &failed, &again).unwrap();
    // A plain job's signed request is not recorded twice either.
    let stats = w.signed(3, STATS, Hash256([3; 32]), &["analyst"]);
    let held = chain(vec![EntryBody::JobSubmitted(stats.clone())]);
    let m = refused(check_submission(
        &w.roster,
        &held,
        &JobSubmitted {
            job: 4,
            ..stats.clone()
        },
    ));
    assert!(m.contains("already job 3"), "{m}");
    let m = refused(check_submission(&w.roster, &held, &stats));
    assert!(m.contains("already recorded"), "{m}");
}

#[test]
fn run_job_without_its_ledger_entry_or_after_its_end_is_refused() {
    let w = world();
    let stats = w.signed(1, STATS, Hash256([1; 32]), &["analyst"]);
    // Not on the replica: the coordinator must catch the worker up first (and cannot run an
    // unlogged job: it cannot make the entry without the client's signature).
    let empty = chain(vec![]);
    assert_eq!(
        check_run(&empty, 1, STATS, mpc::MulProtocol::Grr, SH).unwrap_err(),
        Admission::Behind(Some(0))
    );
    let held = chain(vec![EntryBody::JobSubmitted(stats.clone())]);
    check_run(&held, 1, STATS, mpc::MulProtocol::Grr, SH).unwrap();
    // Another spec than the signed one.
    let m = refused(check_run(
        &held,
        1,
        &STATS.replace("AVG", "SUM"),
        mpc::MulProtocol::Grr,
        SH,
    ));
    assert!(m.contains("differs"), "{m}");
    let m = refused(check_run(&held, 1, STATS, mpc::MulProtocol::Dn07, SH));
    assert!(m.contains("differs"), "{m}");
    // A coordinator cannot downgrade the level the clients signed for (nor change it at all).
    let m = refused(check_run(
        &held,
        1,
        STATS,
        mpc::MulProtocol::Grr,
        mpc::SecurityLevel::Malicious,
    ));
    assert!(m.contains("security level") && m.contains("differs"), "{m}");
    // An entry whose client signature does not verify (a replica never holds one, since
    // appends verify; checked again all the same).
    let mut forged = stats.clone();
    forged.request.spec = STATS.replace("AVG", "SUM");
    let bad = chain(vec![EntryBody::JobSubmitted(forged)]);
    assert!(
        check_run(
            &bad,
            1,
            &STATS.replace("AVG", "SUM"),
            mpc::MulProtocol::Grr,
            SH
        )
        .is_err()
    );
    // Ended: never again.
    let ended = chain(vec![
        EntryBody::JobSubmitted(stats),
        outcome(1, JobStatus::Done),
    ]);
    let m = refused(check_run(&ended, 1, STATS, mpc::MulProtocol::Grr, SH));
    assert!(m.contains("already ended"), "{m}");
}

#[test]
fn a_requeued_round_is_not_applied_twice() {
    // A coordinator that lost track (crashed between the commit and recording the job done)
    // asks again: for the same job, or for a new job of the same round.
    let w = world();
    let nonce = round_nonce("2026-12-06");
    let first = w.signed(1, ROUND, nonce, &FIRMS);
    let second = JobSubmitted {
        job: 2,
        ..first.clone()
    };
    let replica = chain(vec![
        EntryBody::JobSubmitted(first),
        outcome(1, JobStatus::Done),
        EntryBody::JobSubmitted(second),
    ]);
    let m = refused(check_run(&replica, 1, ROUND, mpc::MulProtocol::Grr, SH));
    assert!(m.contains("already ended"), "{m}");
    let m = refused(check_run(&replica, 2, ROUND, mpc::MulProtocol::Grr, SH));
    assert!(
        m.contains("\"2026-12-06\" was already applied by job 1"),
        "{m}"
    );
}

#[test]
fn finish_job_follows_the_ledger_outcome() {
    let w = world();
    let stats = w.signed(1, STATS, Hash256([1; 32]), &["analyst"]);
    let submitted = chain(vec![EntryBody::JobSubmitted(stats.clone())]);
    // No outcome yet: a commit waits for it; an abort is fine.
    assert_eq!(
        check_finish(&submitted, 1, true),
        Err(Admission::Behind(Some(1)))
    );
    check_finish(&submitted, 1, false).unwrap();
    let done = chain(vec![
        EntryBody::JobSubmitted(stats.clone()),
        outcome(1, JobStatus::Done),
    ]);
    check_finish(&done, 1, true).unwrap();
    let m = refused(check_finish(&done, 1, false));
    assert!(m.contains("committed, not dropped"), "{m}");
    let failed = chain(vec![
        EntryBody::JobSubmitted(stats),
        outcome(1, JobStatus::Failed { reason: "x".into() }),
    ]);
    let m = refused(check_finish(&failed, 1, true));
    assert!(m.contains("did not complete"), "{m}");
    check_finish(&failed, 1, false).unwrap();
    // A job that was never submitted cannot have its updates committed.
    assert!(check_finish(&chain(vec![]), 9, true).is_err());
}

#[test]
fn an_outcome_needs_its_submission_and_comes_once() {
    let w = world();
    let stats = w.signed(1, STATS, Hash256([1; 32]), &["analyst"]);
    let o = JobOutcome {
        job: 1,
        status: JobStatus::Done,
        outputs: Vec::new(),
    };
    let m = refused(check_outcome(&chain(vec![]), &o));
    assert!(m.contains("no JobSubmitted"), "{m}");
    check_outcome(&chain(vec![EntryBody::JobSubmitted(stats.clone())]), &o).unwrap();
    let ended = chain(vec![
        EntryBody::JobSubmitted(stats),
        outcome(1, JobStatus::Done),
    ]);
    let m = refused(check_outcome(&ended, &o));
    assert!(m.contains("already has its outcome"), "{m}");
}

#[test]
fn a_market_lists_registered_participants_each_once() {
    let w = world();
    let market = |participants: &str| {
        format!(
            "kind = \"auction\"\ndataset = \"bids\"\ngrid = [1, 2]\nparticipants = {participants}\n"
        )
    };
    let job = |spec: &str| w.signed(1, spec, Hash256([3; 32]), &["analyst"]);
    check_submission(
        &w.roster,
        &chain(vec![]),
        &job(&market("[\"acme\", \"globex\"]")),
    )
    .unwrap();
    let m = refused(check_submission(
        &w.roster,
        &chain(vec![]),
        &job(&market("[\"acme\", \"umbrella\"]")),
    ));
    assert!(
        m.contains("participant \"umbrella\" is not a registered client"),
        "{m}"
    );
    let m = refused(check_submission(
        &w.roster,
        &chain(vec![]),
        &job(&market("[\"acme\", \"acme\"]")),
    ));
    assert!(m.contains("participant \"acme\" appears twice"), "{m}");
    let qualified = market("[\"acme\"]").replace("\"bids\"", "\"acme/bids\"");
    let m = refused(check_submission(
        &w.roster,
        &chain(vec![]),
        &job(&qualified),
    ));
    assert!(m.contains("bare name"), "{m}");
}
