//! Running all parties of a session in one process, for tests, examples and benchmarks.

use std::future::Future;

use crate::engine::{Engine, EngineConfig};
use crate::error::Result;
use crate::field::Fr;
use crate::net::Network;
use crate::net::memory::MemoryNetwork;
use crate::params::Params;
use crate::party::PartyId;

/// Runs `program` once per party over an in-memory mesh, each party as a task of a tokio
/// runtime with `threads` worker threads, and returns each party's result in party order.
/// Party `i`'s engine is seeded from `(seed, i)`, so a run replays exactly.
pub fn run_parties_with<T, Fut, P>(
    params: Params,
    config: EngineConfig,
    seed: u64,
    threads: usize,
    program: P,
) -> Vec<Result<T>>
where
    T: Send + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
    P: Fn(Engine<MemoryNetwork, Fr>) -> Fut,
{
    runtime(threads).block_on(run_networks(
        MemoryNetwork::mesh(params.n()),
        params,
        config,
        seed,
        program,
    ))
}

/// A tokio runtime with `threads` worker threads (at least one).
fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Drives `future` to completion on a new two-thread runtime: for tests that run the parties
/// over their own networks ([`run_networks`]) from synchronous code.
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime(2).block_on(future)
}

/// Runs `program` once per party over the given endpoints (party `i` is `nets[i]`), each as a
/// task of the current tokio runtime; returns each party's result in party order.
pub async fn run_networks<N, T, Fut, P>(
    nets: Vec<N>,
    params: Params,
    config: EngineConfig,
    seed: u64,
    program: P,
) -> Vec<Result<T>>
where
    N: Network + 'static,
    T: Send + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
    P: Fn(Engine<N, Fr>) -> Fut,
{
    let handles: Vec<_> = nets
        .into_iter()
        .enumerate()
        .map(|(i, net)| {
            let mut seed_bytes = [0u8; 32];
            seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
            seed_bytes[8..16].copy_from_slice(&(i as u64).to_le_bytes());
            let engine = Engine::new(net, params, config, seed_bytes).expect("valid engine");
            tokio::spawn(program(engine))
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(r) => out.push(r),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("party task failed: {e}"),
        }
    }
    out
}

/// [`run_parties_with`] on two threads.
pub fn run_parties<T, Fut, P>(
    params: Params,
    config: EngineConfig,
    seed: u64,
    program: P,
) -> Vec<Result<T>>
where
    T: Send + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
    P: Fn(Engine<MemoryNetwork, Fr>) -> Fut,
{
    run_parties_with(params, config, seed, 2, program)
}

/// Unwraps every party's result and checks they all agree; returns party 0's.
pub fn agreed<T: PartialEq + std::fmt::Debug>(results: Vec<Result<T>>) -> T {
    let mut values: Vec<T> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("party {i}: {e}")))
        .collect();
    let first = values.remove(0);
    for (i, v) in values.iter().enumerate() {
        assert_eq!(&first, v, "party {} disagrees with party 0", i + 1);
    }
    first
}

/// The settings the tests of naming an opening's cheaters attack (issue 15): `(n, t, cheaters)`,
/// one or two cheaters, with `n >= 3t + 1` (they are named) and below (nobody is).
pub const OPENING_CHEATS: [(usize, usize, &[u16]); 6] = [
    (4, 1, &[2]),
    (7, 2, &[5]),
    (5, 1, &[0]),
    (7, 2, &[1, 6]),
    (3, 1, &[1]),
    (5, 2, &[3]),
];

/// Whom every honest party names when `cheaters` send opening shares off the polynomial: all
/// of them when `n >= 3t + 1`, nobody otherwise (`engine/decode.rs`).
pub fn named(n: usize, t: usize, cheaters: &[u16]) -> Vec<PartyId> {
    match n > 3 * t {
        true => cheaters.iter().map(|&p| PartyId(p)).collect(),
        false => Vec::new(),
    }
}
