//! The ledger end to end on disk: a chain signed by 2 of 3 workers verifies; every single-byte
//! change and every truncation is reported with the height of the entry it hits; entries
//! short of a quorum, signed by strangers or not extending the head are refused; commitments
//! computed by a real MPC session verify against their openings.

use std::fs;
use std::path::Path;

use coordinator::keys::Identity;
use coordinator::ledger::file::{ENTRIES_FILE, LEDGER_DIR, MAGIC};
use coordinator::ledger::{
    DatasetCommitted, Entry, EntryBody, EntryKind, Hash256, Head, JobOutcome, JobOutput,
    JobRequest, JobStatus, JobSubmitted, Ledger, LedgerError, Reason, Roster, RosterClient,
    RosterWorker, VerifyError, sign_genesis, sign_if_extends, verify, verify_opening,
};
use mpc::testing::run_parties;
use mpc::{Commitment, EngineConfig, Field, Fr, Opening, Params, PartyId};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// Three workers (t = 1), a coordinator, two clients; keys from fixed seeds.
struct Cluster {
    workers: Vec<Identity>,
    owner: Identity,
    analyst: Identity,
    roster: Roster,
}

/// Job `job`'s request (a statistics query tagged `tag`), signed by `who`.
fn submitted(job: u64, tag: u8, who: &Identity) -> JobSubmitted {
    let request = JobRequest {
        spec: format!("kind = \"statistics\"\nquery = \"SELECT COUNT(*) FROM t{tag}\"\n"),
        protocol: mpc::MulProtocol::Grr,
        security: mpc::SecurityLevel::SemiHonest,
        nonce: Hash256([tag; 32]),
    };
    JobSubmitted {
        job,
        signatures: vec![request.sign(who)],
        request,
    }
}

fn key(seed: u64) -> Identity {
    Identity::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

fn cluster() -> Cluster {
    let workers: Vec<Identity> = (0..3).map(key).collect();
    let (owner, analyst) = (key(10), key(11));
    let roster = Roster {
        workers: workers
            .iter()
            .enumerate()
            .map(|(i, w)| RosterWorker {
                id: i as u16,
                key: w.public_key(),
                address: format!("127.0.0.1:{}", 7000 + i),
            })
            .collect(),
        threshold: 1,
        coordinator: key(9).public_key(),
        clients: vec![
            RosterClient {
                name: "acme".into(),
                key: owner.public_key(),
            },
            RosterClient {
                name: "analyst".into(),
                key: analyst.public_key(),
            },
        ],
    };
    Cluster {
        workers,
        owner,
        analyst,
        roster,
    }
}

impl Cluster {
    /// The entry signed by the given workers, each through its check-then-sign.
    fn signed(&self, head: Option<&Head>, mut entry: Entry, signers: &[u16]) -> Entry {
        for &w in signers {
            let id = &self.workers[w as usize];
            let sig = match head {
                Some(head) => sign_if_extends(id, w, head, &entry).unwrap(),
                None => sign_genesis(id, w, &self.roster, &entry).unwrap(),
            };
            entry.signatures.push(sig);
        }
        entry
    }
}

/// Commitments to `values` computed from shares by a 3-party session, and the openings
/// revealed to party 2 (the recipient).
fn mpc_commitments(values: &[i128]) -> (Vec<Commitment>, Vec<Opening>) {
    let values = values.to_vec();
    let params = Params::new(3, 1).unwrap();
    let results = run_parties(params, EngineConfig::default(), 4, move |mut e| {
        let values = values.clone();
        async move {
            let me = e.me();
            let len = values.len();
            let v = e
                .input_ints(
                    PartyId(0),
                    (me == PartyId(0)).then_some(&values[..]),
                    len,
                    64,
                )
                .await?;
            let (commitments, r) = e.commit(&v).await?;
            Ok((commitments, e.reveal_to(&v, &r, PartyId(2)).await?))
        }
    });
    let recipient = results.into_iter().nth(2).unwrap().unwrap();
    (recipient.0, recipient.1.unwrap())
}

/// Writes a ledger of five entries (genesis, dataset, job submitted, job done, job refused)
/// in `dir`, signed by varying pairs of the three workers. Returns the cluster and the
/// recipient's openings of the outcome at height 3.
fn five_entries(dir: &Path) -> (Cluster, Vec<Opening>) {
    let c = cluster();
    let genesis = c.signed(None, Entry::genesis(1_000, c.roster.clone()), &[0, 1]);
    let mut ledger = Ledger::create(dir, genesis).unwrap();
    let dataset = DatasetCommitted::signed(&c.owner, "payroll", 120, Hash256([7; 32]));
    let submitted = submitted(1, 8, &c.analyst);
    let (commitments, openings) = mpc_commitments(&[52_000, -3]);
    let outcome = JobOutcome {
        job: 1,
        status: JobStatus::Done,
        outputs: vec![
            JobOutput {
                name: "mean".into(),
                commitment: commitments[0],
                recipients: vec![c.analyst.public_key()],
                public: None,
            },
            JobOutput {
                name: "count".into(),
                commitment: commitments[1],
                recipients: vec![],
                public: Some(openings[1]),
            },
        ],
    };
    let refused = JobOutcome {
        job: 2,
        status: JobStatus::Refused {
            reason: "dataset payroll: policy allows 3+ owners".into(),
        },
        outputs: vec![],
    };
    let bodies = [
        EntryBody::DatasetCommitted(dataset),
        EntryBody::JobSubmitted(submitted),
        EntryBody::JobOutcome(outcome),
        EntryBody::JobOutcome(refused),
    ];
    let pairs: [&[u16]; 4] = [&[1, 2], &[0, 2], &[2, 0], &[0, 1, 2]];
    for (i, (body, signers)) in bodies.into_iter().zip(pairs).enumerate() {
        let head = ledger.head();
        let entry = c.signed(
            Some(&head),
            ledger.candidate(2_000 + i as u64, body),
            signers,
        );
        ledger.append(entry).unwrap();
    }
    (c, openings)
}

fn entries_file(dir: &Path) -> std::path::PathBuf {
    dir.join(LEDGER_DIR).join(ENTRIES_FILE)
}

/// Byte offsets where each entry's frame starts, and the file's length.
fn frame_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = MAGIC.len();
    while at < bytes.len() {
        starts.push(at);
        at += 4 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    assert_eq!(at, bytes.len());
    starts
}

fn height_of(starts: &[usize], offset: usize) -> u64 {
    (starts.iter().rposition(|&s| s <= offset).unwrap()) as u64
}

#[test]
fn a_chain_of_five_signed_by_two_of_three_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = five_entries(dir.path());
    let ledger = Ledger::open(dir.path(), &c.roster).unwrap();
    assert_eq!(ledger.entries().len(), 5);
    assert_eq!(ledger.head().height, 4);
    let kinds: Vec<EntryKind> = ledger.entries().iter().map(Entry::kind).collect();
    assert_eq!(
        kinds,
        [
            EntryKind::Genesis,
            EntryKind::DatasetCommitted,
            EntryKind::JobSubmitted,
            EntryKind::JobOutcome,
            EntryKind::JobOutcome
        ]
    );
    let chain = verify(ledger.entries(), &c.roster).unwrap();
    assert_eq!(chain.head(), ledger.head());
    assert_eq!(chain.hash(3), Some(ledger.entries()[3].hash()));
    assert_eq!(ledger.entries()[4].prev, ledger.entries()[3].hash());
    // Another trusted roster does not accept this genesis.
    let mut other = c.roster.clone();
    other.workers[2].address = "10.0.0.3:7002".into();
    let err = verify(ledger.entries(), &other).unwrap_err();
    assert_eq!((err.height, err.reason), (0, Reason::RosterMismatch));
    // The JSON form (for `ledger show --json`) round-trips, keys and hashes as hex.
    let json = serde_json::to_string(&ledger.entries()[3]).unwrap();
    assert!(json.contains(&c.analyst.public_key().to_string()), "{json}");
    let back: Entry = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ledger.entries()[3]);
}

#[test]
fn every_flipped_byte_is_reported_at_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = five_entries(dir.path());
    let path = entries_file(dir.path());
    let good = fs::read(&path).unwrap();
    let starts = frame_starts(&good);
    for offset in 0..good.len() {
        for mask in [0x01u8, 0x80] {
            let mut bad = good.clone();
            bad[offset] ^= mask;
            fs::write(&path, &bad).unwrap();
            let err = Ledger::open(dir.path(), &c.roster).unwrap_err();
            if offset < MAGIC.len() {
                assert!(matches!(err, LedgerError::NotALedger { .. }), "{err}");
                continue;
            }
            let expected = height_of(&starts, offset);
            assert_eq!(
                err.height(),
                Some(expected),
                "byte {offset} ^ {mask:#x} (entry {expected}): {err}"
            );
            assert!(
                err.to_string().contains(&format!("height {expected}")),
                "{err}"
            );
        }
    }
    fs::write(&path, &good).unwrap();
    Ledger::open(dir.path(), &c.roster).unwrap();
}

#[test]
fn a_truncated_file_is_reported_at_the_cut_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = five_entries(dir.path());
    let path = entries_file(dir.path());
    let good = fs::read(&path).unwrap();
    let starts = frame_starts(&good);
    for len in (0..good.len()).rev() {
        fs::write(&path, &good[..len]).unwrap();
        let opened = Ledger::open(dir.path(), &c.roster);
        if len < MAGIC.len() {
            assert!(
                matches!(opened, Err(LedgerError::NotALedger { .. })),
                "len {len}"
            );
        } else if len == MAGIC.len() {
            let err = opened.unwrap_err();
            assert_eq!(err.height(), Some(0), "an empty chain: {err}");
        } else if let Some(h) = starts.iter().position(|&s| s == len) {
            // A cut between frames leaves a shorter valid chain (see the file module doc).
            assert_eq!(opened.unwrap().head().height, h as u64 - 1);
        } else {
            let err = opened.unwrap_err();
            let expected = height_of(&starts, len);
            assert!(
                matches!(err, LedgerError::Truncated { height, .. } if height == expected),
                "cut at {len}: {err}"
            );
        }
    }
}

#[test]
fn entries_short_of_a_quorum_or_from_strangers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = five_entries(dir.path());
    let mut ledger = Ledger::open(dir.path(), &c.roster).unwrap();
    let head = ledger.head();
    let body = || EntryBody::JobSubmitted(submitted(3, 9, &c.analyst));
    let refused = |ledger: &mut Ledger, entry: Entry| -> VerifyError {
        match ledger.append(entry).unwrap_err() {
            LedgerError::Invalid(e) => e,
            other => panic!("expected a verification error, got {other}"),
        }
    };
    // Only t = 1 signature.
    let only_t = c.signed(Some(&head), ledger.candidate(3_000, body()), &[2]);
    let err = refused(&mut ledger, only_t.clone());
    assert_eq!(err.height, 5);
    assert_eq!(
        err.reason,
        Reason::TooFewSignatures {
            valid: 1,
            needed: 2
        }
    );
    // A stranger's key under a roster id, and under an unknown id.
    let stranger = key(99);
    let mut forged = only_t.clone();
    forged.sign_as(1, &stranger);
    assert_eq!(refused(&mut ledger, forged).reason, Reason::BadSignature(1));
    let mut unknown = only_t.clone();
    unknown.sign_as(7, &stranger);
    assert_eq!(
        refused(&mut ledger, unknown).reason,
        Reason::UnknownSigner(7)
    );
    // One worker twice does not make a quorum.
    let mut twice = only_t.clone();
    twice.sign_as(2, &c.workers[2]);
    assert_eq!(
        refused(&mut ledger, twice).reason,
        Reason::DuplicateSigner(2)
    );
    // A third, bad signature spoils an otherwise complete entry.
    let mut extra = c.signed(Some(&head), ledger.candidate(3_000, body()), &[0, 1]);
    extra.sign_as(2, &stranger);
    assert_eq!(refused(&mut ledger, extra).reason, Reason::BadSignature(2));
    // Nothing was written: the file still verifies at the old head, and a good entry goes in.
    assert_eq!(ledger.head(), head);
    let good = c.signed(Some(&head), ledger.candidate(3_000, body()), &[0, 1]);
    ledger.append(good).unwrap();
    let reopened = Ledger::open(dir.path(), &c.roster).unwrap();
    assert_eq!(reopened.head().height, 5);
    // The same checks apply to a chain handed to `verify`.
    let mut entries = reopened.entries().to_vec();
    entries[5].signatures.truncate(1);
    let err = verify(&entries, &c.roster).unwrap_err();
    assert_eq!(err.height, 5);
    assert!(
        err.to_string()
            .contains("1 valid worker signatures, 2 needed"),
        "{err}"
    );
}

#[test]
fn a_worker_signs_only_what_extends_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = five_entries(dir.path());
    let ledger = Ledger::open(dir.path(), &c.roster).unwrap();
    let head = ledger.head();
    let w = &c.workers[1];
    let body = EntryBody::JobSubmitted(submitted(4, 1, &c.analyst));
    let good = ledger.candidate(5_000, body.clone());
    sign_if_extends(w, 1, &head, &good).unwrap();

    let refusal = |candidate: &Entry| sign_if_extends(w, 1, &head, candidate).unwrap_err().reason;
    let mut same_height = good.clone();
    same_height.height = head.height;
    assert_eq!(refusal(&same_height), Reason::Height { found: 4 });
    let mut skips = good.clone();
    skips.height += 1;
    assert_eq!(refusal(&skips), Reason::Height { found: 6 });
    let mut fork = good.clone();
    fork.prev = ledger.entries()[3].hash();
    assert!(matches!(refusal(&fork), Reason::BrokenLink { .. }));
    let mut early = good.clone();
    early.time = head.time - 1;
    assert!(matches!(refusal(&early), Reason::TimeWentBack { .. }));
    let second_genesis = Entry::next(&head, 5_000, EntryBody::Genesis(c.roster.clone()));
    assert!(matches!(refusal(&second_genesis), Reason::Kind(_)));
    let mut dataset = DatasetCommitted::signed(&c.owner, "payroll", 120, Hash256([7; 32]));
    dataset.rows = 121;
    let tampered = Entry::next(&head, 5_000, EntryBody::DatasetCommitted(dataset));
    assert_eq!(
        refusal(&tampered),
        Reason::BadOwnerSignature("payroll".into())
    );
    let err = sign_if_extends(w, 1, &head, &fork).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("worker 1 refuses to sign the entry at height 5"),
        "{err}"
    );

    // Genesis: only the configured roster, and only under one's own roster entry.
    let genesis = Entry::genesis(1, c.roster.clone());
    sign_genesis(w, 1, &c.roster, &genesis).unwrap();
    assert!(sign_genesis(w, 2, &c.roster, &genesis).is_err());
    let mut other = c.roster.clone();
    other.threshold = 0;
    assert_eq!(
        sign_genesis(w, 1, &c.roster, &Entry::genesis(1, other))
            .unwrap_err()
            .reason,
        Reason::RosterMismatch
    );
}

#[test]
fn outcome_commitments_open_for_the_recipient_only_with_the_right_value() {
    let dir = tempfile::tempdir().unwrap();
    let (c, openings) = five_entries(dir.path());
    let ledger = Ledger::open(dir.path(), &c.roster).unwrap();
    let outcome = &ledger.entries()[3];
    assert!(verify_opening(outcome, 0, &openings[0]));
    assert_eq!(openings[0].value_int(), Some(52_000));
    assert!(
        verify_opening(outcome, 1, &openings[1]),
        "the public output"
    );
    let wrong = Opening::new(Fr::from_i128(52_001), openings[0].blinding().unwrap());
    assert!(!verify_opening(outcome, 0, &wrong), "a wrong value");
    assert!(
        !verify_opening(outcome, 1, &openings[0]),
        "another output's opening"
    );
    assert!(!verify_opening(outcome, 2, &openings[0]), "no such output");
    assert!(
        !verify_opening(&ledger.entries()[2], 0, &openings[0]),
        "not an outcome"
    );

    // An outcome whose public opening does not match its commitment is refused.
    let EntryBody::JobOutcome(mut bad) = outcome.body.clone() else {
        unreachable!()
    };
    bad.outputs[1].public = Some(wrong);
    let head = ledger.head();
    let err = sign_if_extends(
        &c.workers[0],
        0,
        &head,
        &ledger.candidate(9_000, EntryBody::JobOutcome(bad)),
    )
    .unwrap_err();
    assert!(matches!(err.reason, Reason::BadOutcome(_)), "{err}");
}

#[test]
fn create_refuses_an_existing_ledger_and_an_unsigned_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = five_entries(dir.path());
    let genesis = c.signed(None, Entry::genesis(1_000, c.roster.clone()), &[0, 1]);
    assert!(matches!(
        Ledger::create(dir.path(), genesis).unwrap_err(),
        LedgerError::Exists { .. }
    ));
    let fresh = tempfile::tempdir().unwrap();
    let unsigned = Entry::genesis(1_000, c.roster.clone());
    let err = Ledger::create(fresh.path(), unsigned).unwrap_err();
    assert_eq!(err.height(), Some(0), "{err}");
    assert!(!entries_file(fresh.path()).exists());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Any chain whose entries carry at least t + 1 distinct signers verifies; removing
    /// signatures below the quorum at any height is reported at that height.
    #[test]
    fn quorum_decides(signers in prop::collection::vec(prop::sample::subsequence(vec![0u16, 1, 2], 1..=3), 1..5), cut in 0usize..5) {
        let c = cluster();
        let mut entries = vec![c.signed(None, Entry::genesis(0, c.roster.clone()), &[0, 2])];
        for (i, s) in signers.iter().enumerate() {
            let head = Head::of(entries.last().unwrap());
            let body = EntryBody::JobSubmitted(submitted(i as u64, i as u8, &c.analyst));
            entries.push(c.signed(Some(&head), Entry::next(&head, i as u64, body), s));
        }
        let first_short = signers.iter().position(|s| s.len() < 2).map(|i| i as u64 + 1);
        match (verify(&entries, &c.roster), first_short) {
            (Ok(chain), None) => {
                prop_assert_eq!(chain.len(), entries.len());
                let h = cut % entries.len();
                entries[h].signatures.truncate(1);
                prop_assert_eq!(verify(&entries, &c.roster).unwrap_err().height, h as u64);
            }
            (Err(e), Some(h)) => prop_assert_eq!(e.height, h),
            (got, want) => prop_assert!(false, "got {:?}, first short entry {:?}", got.map(|c| c.len()), want),
        }
    }
}

/// `ledger verify` checks client signatures offline: a job whose spec was changed after its
/// client signed it (even re-signed by a quorum of workers) fails at its height, and a worker
/// will not sign such an entry in the first place.
#[test]
fn a_tampered_job_spec_fails_verification_at_its_height() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = five_entries(dir.path());
    let ledger = Ledger::open(dir.path(), &c.roster).unwrap();
    let mut entries = ledger.entries().to_vec();
    // Height 2 is job 1's submission: change a word of its spec and re-sign the chain from
    // there with two worker keys (more than t: the worst case), so links and quorums hold.
    let EntryBody::JobSubmitted(job) = &mut entries[2].body else {
        panic!("height 2 is not a submission")
    };
    job.request.spec = job.request.spec.replace("COUNT", "SUM");
    for h in 2..entries.len() {
        let head = Head::of(&entries[h - 1]);
        let mut e = entries[h].clone();
        e.prev = head.hash;
        e.signatures.clear();
        // Unchecked signing (a worker's check-then-sign would refuse height 2).
        e.sign_as(0, &c.workers[0]);
        e.sign_as(1, &c.workers[1]);
        entries[h] = e;
    }
    let err = verify(&entries, &c.roster).unwrap_err();
    assert_eq!(err.height, 2);
    assert!(matches!(err.reason, Reason::BadJobRequest(_)), "{err}");
    assert!(err.to_string().contains("does not verify"), "{err}");
    // A worker refuses to sign it.
    let head = Head::of(&entries[1]);
    let mut candidate = entries[2].clone();
    candidate.signatures.clear();
    let refusal = sign_if_extends(&c.workers[2], 2, &head, &candidate).unwrap_err();
    assert!(
        matches!(refusal.reason, Reason::BadJobRequest(_)),
        "{refusal}"
    );
}

/// The privacy budget on the ledger: a DP query's outcome records what it spent on each
/// dataset; the spending is recomputed offline from the signed specs (as `ledger verify`
/// does), and an outcome that records less than its spec asked is caught at its height, even
/// signed by a quorum. A ledger written before the budget existed shows no spending.
#[test]
fn privacy_spending_is_recorded_and_recomputed_offline() {
    use coordinator::ledger::budget::{self, Spent};
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = five_entries(dir.path());
    let mut ledger = Ledger::open(dir.path(), &c.roster).unwrap();
    assert!(budget::recompute(ledger.entries()).unwrap().is_empty());
    let request = JobRequest {
        spec: "kind = \"statistics\"\nquery = \"SELECT SUM(salary) FROM payroll\"\nepsilon = 0.4\n"
            .into(),
        protocol: mpc::MulProtocol::Grr,
        security: mpc::SecurityLevel::SemiHonest,
        nonce: Hash256([9; 32]),
    };
    let dp = JobSubmitted {
        job: 3,
        signatures: vec![request.sign(&c.analyst)],
        request,
    };
    let outcome = |epsilon| JobOutcome {
        job: 3,
        status: JobStatus::Done,
        outputs: vec![Spent::new("acme/payroll", epsilon).output()],
    };
    for body in [
        EntryBody::JobSubmitted(dp),
        EntryBody::JobOutcome(outcome(0.4)),
    ] {
        let head = ledger.head();
        let entry = c.signed(Some(&head), ledger.candidate(3_000, body), &[0, 1]);
        ledger.append(entry).unwrap();
    }
    let reopened = Ledger::open(dir.path(), &c.roster).unwrap();
    verify(reopened.entries(), &c.roster).unwrap();
    let spending = budget::recompute(reopened.entries()).unwrap();
    assert_eq!(spending["acme/payroll"], (budget::units(0.4), vec![3]));
    // A quorum records less than the spec asked: the chain verifies, the budget does not.
    let mut entries = reopened.entries().to_vec();
    let last = entries.len() - 1;
    entries[last].body = EntryBody::JobOutcome(outcome(0.1));
    let err = budget::recompute(&entries).unwrap_err();
    assert!(
        err.contains("job 3") && err.contains("0.1") && err.contains("0.4"),
        "{err}"
    );
}
