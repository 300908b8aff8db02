//! The single-threaded executor: runs the `n` parties of a session as futures over
//! [`SimNetwork`] endpoints, in virtual time.
//!
//! The loop: poll every runnable party, in `PartyId` order, with a no-op waker (the simulated
//! network marks parties runnable itself), until none is runnable; then jump virtual time to
//! the next pending event (a message arriving for a blocked party, a receive deadline, a
//! crash) and repeat. A 100 ms link therefore costs no real 100 ms, and since every delay comes
//! from the seed and every receive names its peer, a seed fixes the whole run. When every live
//! party is blocked and no event is pending the run stops with a [`Deadlock`] naming each
//! blocked party and what it waits for; it never hangs.
//!
//! Wall time is measured per poll and kept apart ([`WallStats`]); it only enters virtual time
//! under [`ComputeModel::Measured`].
//!
//! What this module does not do: model links or faults, or know what the parties compute
//! (any program over an [`Engine`] runs; see [`crate::workload`] for the engine operations).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use mpc::{Engine, EngineConfig, Params, PartyId};
use serde::{Deserialize, Serialize};

use crate::faults::FaultPlan;
use crate::link::LinkTable;
use crate::sim_net::{ComputeModel, PhaseStats, SimNetwork};
use crate::world::{Status, World};

/// Everything that shapes a simulated session besides the program.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Seeds the engines, the links and everything else random in the run.
    pub seed: u64,
    /// The links.
    pub links: LinkTable,
    /// The fault schedule.
    pub faults: FaultPlan,
    /// How computation advances virtual time.
    pub compute: ComputeModel,
    /// How long a receive waits, in virtual nanoseconds, before it fails with
    /// [`mpc::net::NetError::Timeout`]; `None` waits forever (a deadlock is still detected).
    pub recv_timeout_ns: Option<u64>,
}

/// How one party's run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum PartyEnd<T> {
    /// The program returned a value.
    Done(T),
    /// The program returned an error.
    Failed(mpc::MpcError),
    /// The party crashed (a scheduled fault) at this virtual instant.
    Crashed {
        /// Virtual nanoseconds.
        at_ns: u64,
    },
    /// The run deadlocked while the party waited for `from`'s message of `round`.
    Deadlocked {
        /// The awaited peer.
        from: PartyId,
        /// The awaited round.
        round: u32,
    },
    /// The program awaited something other than the simulated network (a bug in the
    /// program: protocol code must not use timers or other runtimes).
    Stalled,
}

/// One party's results.
#[derive(Clone, Debug, PartialEq)]
pub struct PartyRun<T> {
    /// How it ended.
    pub end: PartyEnd<T>,
    /// Its virtual clock at the end (ns).
    pub finish_ns: u64,
    /// Its counters, per phase.
    pub phases: Vec<PhaseStats>,
}

/// Wall-clock figures of a run: never part of the reproducible results.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WallStats {
    /// Wall seconds of the whole run.
    pub total_s: f64,
    /// Wall seconds spent polling each party.
    pub per_party_s: Vec<f64>,
    /// Number of polls.
    pub polls: u64,
}

/// A blocked party at a deadlock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocked {
    /// The party.
    pub party: u16,
    /// The peer it waits for.
    pub from: u16,
    /// The round it waits for.
    pub round: u32,
}

/// All parties blocked, nothing pending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlock {
    /// Virtual instant (ns).
    pub at_ns: u64,
    /// Who waits for whom.
    pub blocked: Vec<Blocked>,
}

impl std::fmt::Display for Deadlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "deadlock at {:.6} s:", crate::link::ns_to_s(self.at_ns))?;
        for b in &self.blocked {
            write!(
                f,
                " party {} waits for party {} (round {});",
                b.party, b.from, b.round
            )?;
        }
        Ok(())
    }
}

/// The results of a session.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRun<T> {
    /// Per party, in party order.
    pub parties: Vec<PartyRun<T>>,
    /// Virtual instant the last party ended at (ns).
    pub virtual_ns: u64,
    /// Per round tag, the virtual instant its last message was received.
    pub round_end_ns: Vec<u64>,
    /// Set when the run stopped on a deadlock.
    pub deadlock: Option<Deadlock>,
    /// Wall-clock figures.
    pub wall: WallStats,
}

/// The seed of party `p`'s engine, derived from the run's seed.
pub fn engine_seed(seed: u64, p: u16) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..10].copy_from_slice(&p.to_le_bytes());
    bytes[31] = 0x45; // 'E': separates engine streams from link streams
    bytes
}

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `program` once per party over simulated links, in virtual time.
pub fn run_session<T, Fut, P>(
    params: Params,
    engine: EngineConfig,
    config: &SimConfig,
    program: P,
) -> Result<SessionRun<T>, mpc::MpcError>
where
    Fut: Future<Output = mpc::Result<T>>,
    P: Fn(Engine<SimNetwork>) -> Fut,
{
    let n = params.n();
    let started = Instant::now();
    let world = Arc::new(Mutex::new(World::new(
        n,
        config.seed,
        config.links.clone(),
        config.faults.clone(),
        config.compute,
        config.recv_timeout_ns,
    )));
    let mut futures: Vec<Option<Pin<Box<Fut>>>> = Vec::with_capacity(n);
    for p in 0..n as u16 {
        let net = SimNetwork::new(PartyId(p), n, world.clone());
        let engine = Engine::new(net, params, engine, engine_seed(config.seed, p))?;
        futures.push(Some(Box::pin(program(engine))));
    }
    let mut ends: Vec<Option<PartyEnd<T>>> = (0..n).map(|_| None).collect();
    let mut wall = WallStats {
        per_party_s: vec![0.0; n],
        ..Default::default()
    };
    let mut cx = Context::from_waker(Waker::noop());
    let measured = lock(&world).measured();
    let mut deadlock = None;

    loop {
        // Poll every runnable party at the current instant until none is left.
        loop {
            let mut progressed = false;
            for p in 0..n {
                let Some(fut) = futures[p].as_mut() else {
                    continue;
                };
                {
                    let mut w = lock(&world);
                    if !std::mem::take(&mut w.runnable[p]) {
                        continue;
                    }
                    w.start_poll(p as u16, measured);
                }
                progressed = true;
                let t0 = Instant::now();
                let poll = fut.as_mut().poll(&mut cx);
                wall.per_party_s[p] += t0.elapsed().as_secs_f64();
                wall.polls += 1;
                let mut w = lock(&world);
                w.end_poll(p as u16);
                match poll {
                    Poll::Ready(result) => {
                        ends[p] = Some(match (w.parties[p].status, result) {
                            // It crashed during this poll; what it did after is void.
                            (Status::Crashed { at_ns }, _) => PartyEnd::Crashed { at_ns },
                            (_, Ok(v)) => PartyEnd::Done(v),
                            (_, Err(e)) => PartyEnd::Failed(e),
                        });
                        w.finish(p as u16);
                        futures[p] = None;
                    }
                    Poll::Pending => match w.parties[p].status {
                        Status::Crashed { at_ns } => {
                            ends[p] = Some(PartyEnd::Crashed { at_ns });
                            futures[p] = None;
                        }
                        _ if w.parties[p].wait.is_none() => {
                            ends[p] = Some(PartyEnd::Stalled);
                            w.finish(p as u16);
                            futures[p] = None;
                        }
                        _ => {}
                    },
                }
            }
            if !progressed {
                break;
            }
        }
        if futures.iter().all(Option::is_none) {
            break;
        }
        let mut w = lock(&world);
        let Some(next) = w.next_event_time() else {
            let blocked: Vec<Blocked> = (0..n)
                .filter(|&p| futures[p].is_some())
                .filter_map(|p| {
                    w.parties[p].wait.map(|wt| Blocked {
                        party: p as u16,
                        from: wt.from,
                        round: wt.round,
                    })
                })
                .collect();
            for b in &blocked {
                ends[b.party as usize] = Some(PartyEnd::Deadlocked {
                    from: PartyId(b.from),
                    round: b.round,
                });
                futures[b.party as usize] = None;
            }
            deadlock = Some(Deadlock {
                at_ns: w.now,
                blocked,
            });
            break;
        };
        for p in w.advance_to(next) {
            let at_ns = match w.parties[p as usize].status {
                Status::Crashed { at_ns } => at_ns,
                _ => w.now,
            };
            ends[p as usize] = Some(PartyEnd::Crashed { at_ns });
            futures[p as usize] = None;
        }
    }

    let w = lock(&world);
    let parties: Vec<PartyRun<T>> = ends
        .into_iter()
        .enumerate()
        .map(|(p, end)| PartyRun {
            end: end.unwrap_or(PartyEnd::Stalled),
            finish_ns: w.parties[p].clock,
            phases: w.parties[p].phases.clone(),
        })
        .collect();
    let virtual_ns = parties.iter().map(|p| p.finish_ns).max().unwrap_or(0);
    wall.total_s = started.elapsed().as_secs_f64();
    Ok(SessionRun {
        parties,
        virtual_ns,
        round_end_ns: w.round_end.clone(),
        deadlock,
        wall,
    })
}
