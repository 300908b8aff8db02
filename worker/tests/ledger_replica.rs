//! The worker's ledger replica through its service, with hand-made requests as the coordinator
//! (or an impostor) would send them: a worker signs one entry per height, and remembers it
//! across a restart (no equivocation); a forged genesis is refused by a fresh replica; a job
//! gets one outcome; only the coordinator may ask for any of it.

use std::path::Path;
use std::sync::{Arc, RwLock};

use coordinator::api::{ErrorKind, Request, Response};
use coordinator::keys::Identity;
use coordinator::ledger::{
    Entry, EntryBody, Hash256, Head, JobOutcome, JobRequest, JobStatus, JobSubmitted,
};
use coordinator::roster::{Caller, ClientEntry, ClusterRoster, CoordinatorEntry, WorkerEntry};
use rand::SeedableRng;
use worker::replica::Replica;
use worker::service::{Handled, Service};
use worker::store::ShareStore;

fn key(seed: u64) -> Identity {
    Identity::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(seed))
}

/// A roster of three workers (keys from `seeds`), t = 1, a coordinator and one client.
fn roster(seeds: [u64; 3]) -> ClusterRoster {
    let addr = "127.0.0.1:1".parse().unwrap();
    ClusterRoster {
        threshold: 1,
        coordinator: CoordinatorEntry {
            address: addr,
            key: key(9).public_key(),
        },
        workers: seeds
            .iter()
            .enumerate()
            .map(|(i, &s)| WorkerEntry {
                id: i as u16,
                address: addr,
                mesh: addr,
                key: key(s).public_key(),
            })
            .collect(),
        clients: vec![ClientEntry {
            name: "acme".into(),
            key: key(10).public_key(),
        }],
    }
}

const SEEDS: [u64; 3] = [0, 1, 2];

/// Worker `me` of `roster` over the folder `dir`, as its node builds it.
fn worker(dir: &Path, me: u16, roster: &ClusterRoster) -> Service {
    let replica = Replica::open(dir.to_path_buf(), me, key(SEEDS[me as usize]), roster).unwrap();
    Service::new(format!("worker {me}"), ShareStore::open(dir).unwrap())
        .with_ledger(replica, Arc::new(RwLock::new(roster.clone())))
}

fn ask(s: &Service, caller: &Caller, r: Request) -> Response {
    match s.handle(caller, r) {
        Handled::Done(r) => r,
        Handled::RunJob(call) => panic!("a job to run: {call:?}"),
    }
}

fn forbidden(r: Response) -> String {
    match r {
        Response::Error {
            kind: ErrorKind::Forbidden,
            message,
        } => message,
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

/// The genesis of `roster`, signed by its three workers (keys from `seeds`).
fn genesis(roster: &ClusterRoster, seeds: [u64; 3]) -> Entry {
    let mut g = Entry::genesis(1, roster.ledger_roster());
    for (i, s) in seeds.iter().enumerate() {
        g.sign_as(i as u16, &key(*s));
    }
    g
}

const STATS_SPEC: &str = "kind = \"statistics\"\nquery = \"SELECT COUNT(*) FROM payroll\"\n";

fn submitted(head: &Entry, job: u64, time: u64) -> Entry {
    Entry::next(
        &Head::of(head),
        time,
        EntryBody::JobSubmitted({
            // Signed by the client acme, as the workers' admission checks require.
            let request = JobRequest {
                spec: STATS_SPEC.into(),
                protocol: mpc::MulProtocol::Grr,
                security: mpc::SecurityLevel::SemiHonest,
                nonce: Hash256([job as u8; 32]),
            };
            JobSubmitted {
                job,
                signatures: vec![request.sign(&key(10))],
                request,
            }
        }),
    )
}

/// Job 1's `JobSubmitted` entry after `g`, signed by workers 1 and 2 (a quorum without the
/// worker under test).
fn submitted_by_others(g: &Entry) -> Entry {
    let mut s = submitted(g, 1, 5);
    s.sign_as(1, &key(1));
    s.sign_as(2, &key(2));
    s
}

/// Job 1's outcome entry with `status` after `head` (unsigned).
fn outcome(head: &Entry, status: JobStatus) -> Entry {
    Entry::next(
        &Head::of(head),
        6,
        EntryBody::JobOutcome(JobOutcome {
            job: 1,
            status,
            outputs: Vec::new(),
        }),
    )
}

/// Equivocation: a worker asked to sign two different entries at one height signs the first
/// only, and still refuses the second after a restart.
#[test]
fn a_worker_signs_one_entry_per_height_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let r = roster(SEEDS);
    let g = genesis(&r, SEEDS);
    let a = submitted(&g, 1, 5);
    let b = submitted(&g, 2, 5);
    {
        let w = worker(dir.path(), 0, &r);
        assert_eq!(
            ask(
                &w,
                &Caller::Coordinator,
                Request::AppendEntries(vec![g.clone()])
            ),
            Response::Ok
        );
        let Response::Signature(first) =
            ask(&w, &Caller::Coordinator, Request::SignEntry(a.clone()))
        else {
            panic!("worker 0 signs the first entry at height 1");
        };
        // The same entry again (a retried round) is signed again.
        assert_eq!(
            ask(&w, &Caller::Coordinator, Request::SignEntry(a.clone())),
            Response::Signature(first)
        );
        let msg = forbidden(ask(&w, &Caller::Coordinator, Request::SignEntry(b.clone())));
        assert!(
            msg.contains("already signed another entry at height 1"),
            "{msg}"
        );
        // Another time is another entry too.
        let msg = forbidden(ask(
            &w,
            &Caller::Coordinator,
            Request::SignEntry(submitted(&g, 1, 6)),
        ));
        assert!(msg.contains("already signed"), "{msg}");
    }
    let w = worker(dir.path(), 0, &r);
    let msg = forbidden(ask(&w, &Caller::Coordinator, Request::SignEntry(b)));
    assert!(
        msg.contains("already signed another entry at height 1"),
        "{msg}"
    );
    assert!(matches!(
        ask(&w, &Caller::Coordinator, Request::SignEntry(a)),
        Response::Signature(_)
    ));
}

/// A fresh replica takes only the genesis of the roster it is configured with: a genesis of
/// other workers, validly signed by them, is refused.
#[test]
fn a_forged_genesis_is_refused_by_a_fresh_replica() {
    let dir = tempfile::tempdir().unwrap();
    let r = roster(SEEDS);
    let w = worker(dir.path(), 0, &r);
    let forged_seeds = [20, 21, 22];
    let forged = genesis(&roster(forged_seeds), forged_seeds);
    let msg = forbidden(ask(
        &w,
        &Caller::Coordinator,
        Request::AppendEntries(vec![forged.clone()]),
    ));
    assert!(msg.contains("not the configured roster's"), "{msg}");
    assert_eq!(w.replica().unwrap().height(), None);
    // Nor does it sign one.
    forbidden(ask(&w, &Caller::Coordinator, Request::SignEntry(forged)));
    // The real one is taken.
    assert_eq!(
        ask(
            &w,
            &Caller::Coordinator,
            Request::AppendEntries(vec![genesis(&r, SEEDS)])
        ),
        Response::Ok
    );
    assert_eq!(w.replica().unwrap().height(), Some(0));
}

/// A job has one outcome: a second outcome entry for it is refused.
#[test]
fn a_second_outcome_for_one_job_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = roster(SEEDS);
    let w = worker(dir.path(), 0, &r);
    let g = genesis(&r, SEEDS);
    let s = submitted_by_others(&g);
    let failed = |head: &Entry, reason: &str| {
        let reason = reason.into();
        outcome(head, JobStatus::Failed { reason })
    };
    let mut first = failed(&s, "worker 2: down");
    first.sign_as(1, &key(1));
    first.sign_as(2, &key(2));
    assert_eq!(
        ask(
            &w,
            &Caller::Coordinator,
            Request::AppendEntries(vec![g, s, first.clone()])
        ),
        Response::Ok
    );
    let msg = forbidden(ask(
        &w,
        &Caller::Coordinator,
        Request::SignEntry(failed(&first, "again")),
    ));
    assert!(
        msg.contains("job 1 already has its outcome at ledger height 2"),
        "{msg}"
    );
}

/// Only the coordinator runs jobs, writes the ledger and finishes jobs: a client or a worker
/// asking is refused with a message naming it and the request; nothing changes.
#[test]
fn only_the_coordinator_runs_jobs_and_writes_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let r = roster(SEEDS);
    let w = worker(dir.path(), 0, &r);
    let g = genesis(&r, SEEDS);
    let requests = [
        Request::RunJob {
            job: 1,
            session: 1,
            mesh: 0,
            spec: "kind = \"statistics\"\nquery = \"SELECT COUNT(*) FROM payroll\"\n".into(),
            protocol: mpc::MulProtocol::Grr,
            security: mpc::SecurityLevel::SemiHonest,
        },
        Request::SignEntry(g.clone()),
        Request::AppendEntries(vec![g.clone()]),
        Request::FinishJob {
            job: 1,
            session: 1,
            commit: true,
        },
    ];
    for caller in [
        Caller::Client {
            name: "acme".into(),
        },
        Caller::Worker(1),
    ] {
        for request in requests.clone() {
            let msg = forbidden(ask(&w, &caller, request));
            assert!(msg.contains("only the coordinator"), "{msg}");
            assert!(msg.starts_with(&caller.to_string()), "{msg}");
        }
    }
    assert_eq!(w.replica().unwrap().height(), None);
    assert_eq!(w.replica().unwrap().last_signed(), None);
    // The coordinator itself is let through the routing, on to the job admission checks:
    // without the job's signed submission on the replica, the worker answers that it is
    // behind; with it, the job runs.
    assert_eq!(
        ask(&w, &Caller::Coordinator, requests[0].clone()),
        Response::Behind { height: None }
    );
    let mut s = submitted(&g, 1, 5);
    s.sign_as(0, &key(SEEDS[0]));
    s.sign_as(1, &key(SEEDS[1]));
    assert_eq!(
        ask(
            &w,
            &Caller::Coordinator,
            Request::AppendEntries(vec![g.clone(), s])
        ),
        Response::Ok
    );
    let mut run = requests[0].clone();
    if let Request::RunJob { spec, .. } = &mut run {
        *spec = STATS_SPEC.into();
    }
    assert!(matches!(
        w.handle(&Caller::Coordinator, run),
        Handled::RunJob(_)
    ));
    // And the coordinator is no client: it cannot upload.
    let msg = forbidden(ask(
        &w,
        &Caller::Coordinator,
        Request::UploadAbort { upload: "x".into() },
    ));
    assert!(msg.contains("only a registered client"), "{msg}");
}

/// An outcome entry for job 1 after `head`.
fn outcome_entry(head: &Entry, outcome: JobOutcome) -> Entry {
    Entry::next(&Head::of(head), 6, EntryBody::JobOutcome(outcome))
}

/// Worker 0 over `dir` holding `report` as its result of job 1 in `session` (when given),
/// its replica at job 1's submission, which it returns.
fn worker_after_job_1(
    dir: &Path,
    r: &ClusterRoster,
    record: Option<(u64, &coordinator::api::JobReport)>,
) -> (Service, Entry) {
    if let Some((session, report)) = record {
        let store = ShareStore::open(dir).unwrap();
        let record = worker::jobs::StoredJob {
            session,
            report: report.clone(),
            outputs: Vec::new(),
            staged: Vec::new(),
        };
        let bytes = postcard::to_allocvec(&record).unwrap();
        store.put_job(1, &bytes).unwrap();
    }
    let w = worker(dir, 0, r);
    let g = genesis(r, SEEDS);
    let mut s = submitted(&g, 1, 5);
    s.sign_as(1, &key(1));
    s.sign_as(2, &key(2));
    let append = Request::AppendEntries(vec![g, s.clone()]);
    assert_eq!(ask(&w, &Caller::Coordinator, append), Response::Ok);
    (w, s)
}

fn failed(reason: &str) -> JobOutcome {
    JobOutcome {
        job: 1,
        status: JobStatus::Failed {
            reason: reason.into(),
        },
        outputs: Vec::new(),
    }
}

fn sign_outcome(w: &Service, after: &Entry, o: JobOutcome) -> Response {
    let entry = outcome_entry(after, o);
    ask(w, &Caller::Coordinator, Request::SignEntry(entry))
}

/// A worker checks an outcome against its own view (issue 13: "outcomes against its own
/// report, failures against what it saw"): it refuses a `Done` outcome whose outputs differ
/// from the report it stored, and a failed or refused outcome naming it when its last attempt
/// of the job completed; it signs a failure naming another worker.
#[test]
fn a_worker_signs_only_outcomes_that_match_its_own_view() {
    use coordinator::api::{JobReport, ReportedOutput};
    use mpc::engine::commit::Commitment;
    let dir = tempfile::tempdir().unwrap();
    let r = roster(SEEDS);
    let report = JobReport {
        public: "{\"count\":3}".into(),
        outputs: vec![ReportedOutput {
            recipient: "acme".into(),
            name: "count".into(),
            labels: vec!["n".into()],
            commitments: vec![Commitment::from_bytes([7; 32])],
        }],
        updates: Vec::new(),
        spent: Vec::new(),
    };
    let (w, s) = worker_after_job_1(dir.path(), &r, Some(((1 << 16) | 1, &report)));
    // A success whose commitments differ from this worker's own.
    let mine = coordinator::outcome::job_outcome(1, JobStatus::Done, Some(&report), &r).unwrap();
    let mut forged = report.clone();
    forged.outputs[0].commitments[0] = Commitment::from_bytes([8; 32]);
    let other = coordinator::outcome::job_outcome(1, JobStatus::Done, Some(&forged), &r).unwrap();
    let msg = forbidden(sign_outcome(&w, &s, other));
    assert!(
        msg.contains("differ from what this worker computed"),
        "{msg}"
    );
    // A failure or refusal blaming this worker, which completed the job.
    let msg = forbidden(sign_outcome(
        &w,
        &s,
        failed("workers 2, 0: no answer within 600 s"),
    ));
    assert!(
        msg.contains("says worker 0 failed or refused it") && msg.contains("completed it"),
        "{msg}"
    );
    let refused = JobOutcome {
        job: 1,
        status: JobStatus::Refused {
            reason: "worker 0: dataset acme/payroll: k < 5".into(),
        },
        outputs: Vec::new(),
    };
    assert!(forbidden(sign_outcome(&w, &s, refused)).contains("completed it"));
    // Nothing was signed so far: the honest outcome still can be (one entry per height).
    assert!(matches!(sign_outcome(&w, &s, mine), Response::Signature(_)));
    // A failure naming another worker is what this worker may have seen: signed (by a fresh
    // worker, since this one signed at that height already).
    let dir = tempfile::tempdir().unwrap();
    let (w, s) = worker_after_job_1(dir.path(), &r, Some(((1 << 16) | 1, &report)));
    let other = failed("worker 2: no answer within 600 s");
    assert!(matches!(
        sign_outcome(&w, &s, other),
        Response::Signature(_)
    ));
}

/// A newer attempt of a job started on a worker makes its record of an older one void: a
/// failure of the newer attempt naming this worker is then signed.
#[test]
fn a_newer_attempt_lets_a_worker_sign_a_failure_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = roster(SEEDS);
    let report = coordinator::api::JobReport {
        public: "{}".into(),
        outputs: Vec::new(),
        updates: Vec::new(),
        spent: Vec::new(),
    };
    let (w, s) = worker_after_job_1(dir.path(), &r, Some(((1 << 16) | 1, &report)));
    let blamed = failed("worker 0: party 2 left the session");
    assert!(forbidden(sign_outcome(&w, &s, blamed.clone())).contains("completed it"));
    let run = Request::RunJob {
        job: 1,
        session: (1 << 16) | 2,
        mesh: 0,
        spec: STATS_SPEC.into(),
        protocol: mpc::MulProtocol::Grr,
        security: mpc::SecurityLevel::SemiHonest,
    };
    assert!(matches!(
        w.handle(&Caller::Coordinator, run),
        Handled::RunJob(_)
    ));
    assert!(matches!(
        sign_outcome(&w, &s, blamed),
        Response::Signature(_)
    ));
}

/// A dataset becomes current only once its ledger entry is on the worker's replica (issue 13:
/// a client dying mid-commit leaves nothing half-visible): after `UploadCommit` it is not
/// listed, read back or found by a job, which is refused saying why; the worker vouches for
/// the sealed upload when asked to sign its entry; once the entry is appended it is current.
#[test]
fn a_dataset_is_current_only_once_its_ledger_entry_is_on_the_replica() {
    use coordinator::api::UploadHeader;
    use coordinator::ledger::DatasetCommitted;
    const SCHEMA: &str = "[[columns]]\nname = \"salary\"\ntype = \"integer\"\nbits = 31\n";
    let dir = tempfile::tempdir().unwrap();
    let r = roster(SEEDS);
    let w = worker(dir.path(), 0, &r);
    let g = genesis(&r, SEEDS);
    let append = Request::AppendEntries(vec![g.clone()]);
    assert_eq!(ask(&w, &Caller::Coordinator, append), Response::Ok);
    let acme = Caller::Client {
        name: "acme".into(),
    };
    let params = mpc::Params::new(3, 1).unwrap();
    let values: Vec<i128> = vec![0, -5, 1 << 30, 7];
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(3);
    let shares = mpc::engine::share_ints::<mpc::Fr, _>(&values, 31, params, &mut rng).unwrap();
    let header = UploadHeader {
        upload: "u1".into(),
        dataset: "payroll".into(),
        schema: SCHEMA.into(),
        policy: String::new(),
        rows: values.len() as u64,
        columns: 1,
        replace: false,
    };
    let upload = |r: Request| assert_eq!(ask(&w, &acme, r), Response::Ok);
    upload(Request::UploadBegin(header));
    upload(Request::UploadChunk {
        upload: "u1".into(),
        column: 0,
        chunk: 0,
        shares: mpc::net::codec::encode(&shares[0]).to_vec(),
    });
    upload(Request::UploadPrepare {
        upload: "u1".into(),
    });
    upload(Request::UploadCommit {
        upload: "u1".into(),
    });
    // Committed, not recorded: invisible, and a job over it is refused saying why.
    let read = Request::ReadShares {
        dataset: "payroll".into(),
        column: 0,
    };
    assert_eq!(
        ask(&w, &acme, Request::ListDatasets),
        Response::Datasets(Vec::new())
    );
    let Response::Error { message, .. } = ask(&w, &acme, read.clone()) else {
        panic!("read before the entry")
    };
    assert!(message.contains("not current yet"), "{message}");
    let Err(refused) = worker::executor::Inputs::named(w.store(), "acme/payroll") else {
        panic!("a job finds a dataset not yet recorded")
    };
    assert!(
        refused
            .to_string()
            .contains("acme/payroll' is not current yet"),
        "{refused}"
    );
    // The owner's entry: worker 0 vouches for the sealed upload, then receives the entry.
    let schema = protocols::dataset::Schema::from_toml(SCHEMA, "s").unwrap();
    let body = DatasetCommitted::signed(&key(10), "payroll", 4, Hash256(schema.digest()));
    let mut entry = Entry::next(&Head::of(&g), 5, EntryBody::DatasetCommitted(body));
    let sign = Request::SignEntry(entry.clone());
    assert!(matches!(
        ask(&w, &Caller::Coordinator, sign),
        Response::Signature(_)
    ));
    // Not current on a signature alone: only the appended entry counts.
    assert_eq!(
        ask(&w, &acme, Request::ListDatasets),
        Response::Datasets(Vec::new())
    );
    entry.sign_as(1, &key(1));
    entry.sign_as(2, &key(2));
    let append = Request::AppendEntries(vec![entry]);
    assert_eq!(ask(&w, &Caller::Coordinator, append), Response::Ok);
    let Response::Datasets(listed) = ask(&w, &acme, Request::ListDatasets) else {
        panic!("no listing")
    };
    assert_eq!(listed.len(), 1);
    let Response::Shares(bytes) = ask(&w, &acme, read) else {
        panic!("not readable once recorded")
    };
    assert_eq!(bytes, mpc::net::codec::encode(&shares[0]).to_vec());
    assert!(worker::executor::Inputs::named(w.store(), "acme/payroll").is_ok());
}

/// A compromised coordinator finishing a job with a commit: without the job's outcome on the
/// worker's replica it is answered `Behind` (the entries first), after a `Failed` outcome it
/// is refused naming the job, and a `Done` job's updates are never dropped. Through the
/// service, as the coordinator's connection reaches it.
#[test]
fn finish_job_without_its_done_outcome_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = roster(SEEDS);
    let w = worker(dir.path(), 0, &r);
    let g = genesis(&r, SEEDS);
    let s = submitted_by_others(&g);
    let finish = |commit| Request::FinishJob {
        job: 1,
        session: 1,
        commit,
    };
    let appended = ask(
        &w,
        &Caller::Coordinator,
        Request::AppendEntries(vec![g, s.clone()]),
    );
    assert_eq!(appended, Response::Ok);
    assert_eq!(
        ask(&w, &Caller::Coordinator, finish(true)),
        Response::Behind { height: Some(1) },
        "no outcome on the replica: not committed"
    );
    let signed_outcome = |status| {
        let mut o = outcome(&s, status);
        o.sign_as(1, &key(1));
        o.sign_as(2, &key(2));
        o
    };
    let failed = signed_outcome(JobStatus::Failed {
        reason: "worker 2: down".into(),
    });
    assert_eq!(
        ask(
            &w,
            &Caller::Coordinator,
            Request::AppendEntries(vec![failed])
        ),
        Response::Ok
    );
    let msg = forbidden(ask(&w, &Caller::Coordinator, finish(true)));
    assert!(
        msg.contains("job 1 did not complete") && msg.contains("not committed"),
        "{msg}"
    );
    // On a replica where the job is done, its updates are committed, never dropped.
    let dir = tempfile::tempdir().unwrap();
    let w = worker(dir.path(), 0, &r);
    let done = signed_outcome(JobStatus::Done);
    let g = genesis(&r, SEEDS);
    let appended = ask(
        &w,
        &Caller::Coordinator,
        Request::AppendEntries(vec![g, s, done]),
    );
    assert_eq!(appended, Response::Ok);
    let msg = forbidden(ask(&w, &Caller::Coordinator, finish(false)));
    assert!(msg.contains("committed, not dropped"), "{msg}");
}
