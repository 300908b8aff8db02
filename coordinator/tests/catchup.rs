//! The coordinator's ledger catching up from replicas ([`coordinator::ledger::catchup`]): a
//! ledger one or more entries short adopts the replicas' quorum-signed entries; a replica that
//! offers an entry short of a quorum, signed by a stranger, or a fork of what the coordinator
//! holds is refused with the height and the reason, and the next replica is used.

use coordinator::keys::Identity;
use coordinator::ledger::catchup::{AdoptError, adopt, catch_up};
use coordinator::ledger::{
    Entry, EntryBody, Hash256, Head, JobRequest, JobSubmitted, Ledger, Roster, RosterWorker,
    sign_genesis, sign_if_extends,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn key(seed: u64) -> Identity {
    Identity::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

struct Cluster {
    workers: Vec<Identity>,
    roster: Roster,
}

fn cluster() -> Cluster {
    let workers: Vec<Identity> = (0..3).map(key).collect();
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
        clients: vec![],
    };
    Cluster { workers, roster }
}

impl Cluster {
    fn signed(&self, head: Option<&Head>, mut entry: Entry, signers: &[(u16, &Identity)]) -> Entry {
        for &(w, id) in signers {
            let sig = match head {
                Some(head) => sign_if_extends(id, w, head, &entry).unwrap(),
                None => sign_genesis(id, w, &self.roster, &entry).unwrap(),
            };
            entry.signatures.push(sig);
        }
        entry
    }

    fn quorum(&self) -> Vec<(u16, &Identity)> {
        vec![(0, &self.workers[0]), (2, &self.workers[2])]
    }

    /// A job-submitted entry for job `job` extending `head`, signed by `signers`.
    fn next(&self, head: &Head, job: u64, signers: &[(u16, &Identity)]) -> Entry {
        let request = JobRequest {
            spec: "kind = \"statistics\"\nquery = \"SELECT COUNT(*) FROM t\"\n".into(),
            protocol: mpc::MulProtocol::Grr,
            security: mpc::SecurityLevel::SemiHonest,
            nonce: Hash256([job as u8; 32]),
        };
        let body = EntryBody::JobSubmitted(JobSubmitted {
            job,
            signatures: vec![request.sign(&key(11))],
            request,
        });
        self.signed(Some(head), Entry::next(head, 1_000 + job, body), signers)
    }

    /// A full chain of `len` entries (genesis included), every one signed by a quorum.
    fn chain(&self, len: usize) -> Vec<Entry> {
        let genesis = self.signed(
            None,
            Entry::genesis(1_000, self.roster.clone()),
            &self.quorum(),
        );
        let mut chain = vec![genesis];
        for job in 1..len as u64 {
            let head = Head::of(chain.last().unwrap());
            chain.push(self.next(&head, job, &self.quorum()));
        }
        chain
    }
}

/// A ledger on disk holding the first `held` entries of `chain`.
fn ledger_with(dir: &std::path::Path, chain: &[Entry], held: usize) -> Ledger {
    let mut ledger = Ledger::create(dir, chain[0].clone()).unwrap();
    for e in &chain[1..held] {
        ledger.append(e.clone()).unwrap();
    }
    ledger
}

#[test]
fn a_ledger_one_entry_short_adopts_the_replicas_entries_and_reopens_verified() {
    let c = cluster();
    let chain = c.chain(6);
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger_with(dir.path(), &chain, 5);
    // The replica sends everything from height 3 (two entries the ledger holds, one it lacks).
    assert_eq!(adopt(&mut ledger, chain[3..].to_vec()).unwrap(), 1);
    assert_eq!(ledger.head().height, 5);
    assert_eq!(ledger.head().hash, chain[5].hash());
    // On disk too: the file reopens, verified, at the replica's head.
    drop(ledger);
    let reopened = Ledger::open(dir.path(), &c.roster).unwrap();
    assert_eq!(reopened.head().hash, chain[5].hash());
}

#[test]
fn entries_short_of_a_quorum_signed_by_strangers_or_forking_are_refused() {
    let c = cluster();
    let chain = c.chain(4);
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger_with(dir.path(), &chain, 3);
    let head = ledger.head();

    let lone = c.next(&head, 3, &[(0, &c.workers[0])]);
    let e = adopt(&mut ledger, vec![lone]).unwrap_err().to_string();
    assert!(e.contains("height 3"), "{e}");

    let stranger = key(42);
    let forged = c.next(&head, 3, &[(0, &c.workers[0]), (1, &stranger)]);
    let e = adopt(&mut ledger, vec![forged]).unwrap_err().to_string();
    assert!(e.contains("height 3"), "{e}");

    // A replica whose entry at height 2 is not the coordinator's: a fork, refused by height.
    let before = Head::of(&chain[1]);
    let fork = c.next(&before, 99, &c.quorum());
    let e = adopt(&mut ledger, vec![fork]).unwrap_err();
    assert!(matches!(e, AdoptError::Fork { height: 2 }), "{e}");
    let e = e.to_string();
    assert!(e.contains("height 2") && e.contains("differs"), "{e}");
    assert_eq!(ledger.head().hash, head.hash, "nothing was appended");
}

#[test]
fn catching_up_asks_every_worker_and_names_those_it_could_not_use() {
    let c = cluster();
    let chain = c.chain(7);
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger_with(dir.path(), &chain, 4);
    let head = ledger.head();
    let forged = c.next(&head, 4, &[(0, &c.workers[0])]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (chain2, forged2) = (chain.clone(), forged.clone());
    let done = rt.block_on(catch_up(&mut ledger, &[0, 1, 2], move |w, from| {
        let (chain, forged) = (chain2.clone(), forged2.clone());
        async move {
            match w {
                0 => Err("unreachable".to_string()),
                1 => Ok(vec![forged]),
                // Worker 2 is one entry behind the others but ahead of the coordinator.
                _ => Ok(chain[from as usize..6].to_vec()),
            }
        }
    }));
    assert_eq!(done.appended, 2);
    assert_eq!(ledger.head().hash, chain[5].hash());
    assert_eq!(done.skipped.len(), 2, "{:?}", done.skipped);
    assert!(done.skipped[0].starts_with("worker 0: unreachable"));
    assert!(done.skipped[1].starts_with("worker 1: its entry at height 4"));
}
