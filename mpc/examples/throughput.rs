//! Throughput of one engine operation: n parties in one process, a batch of random inputs,
//! every output checked against the same operation in the clear.
//!
//! ```text
//! cargo run --release -p mpc --example throughput -- --parties 3 --op mul --n 1000000
//! ```
//!
//! Ends with one line:
//! `RESULT op=mul protocol=dn07 random_bits=xor randomness=dealt security=semi-honest transport=memory parties=3 threshold=1 n=1000000 seconds=S ops_per_s=X cold_seconds=S0 cold_ops_per_s=X0 rounds=R bytes_per_party=B bytes_per_op=B1 cpu_s=C peak_rss_mb=M peak_rss_mb_per_party=M1 check=ok`
//! and exits non-zero when any output differs from the clear computation. The time covers the
//! operation and all its preprocessing (the inputs are dealt beforehand, as a data owner's
//! client would); the batch runs in chunks of `--chunk` elements to bound memory. `cold_*` is
//! the first pass (what a job sees), `seconds` the last (warm) one. `cpu_s` is the CPU time
//! (user + system) the process spent over the last pass, every party together (10 ms
//! resolution): unlike `seconds`, it hardly depends on what else the machine runs. `peak_rss_mb` is the
//! process's peak resident memory (`VmHWM`: every party, the dealt inputs and the checks), and
//! `peak_rss_mb_per_party` that divided by the number of parties (an upper bound on what one
//! party of this batch needs, since the inputs and the checking are counted in it too).

use std::time::Instant;

// The batches are large and short-lived: glibc malloc maps and unmaps each one (they exceed its 32 MiB mmap threshold), and the kernel
// then spends more time zeroing fresh pages than the protocol spends computing. jemalloc keeps
// freed pages for reuse (dirty_decay_ms, 10 s by default).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::Parser;
use std::sync::Arc;
use std::time::Duration;

use mpc::engine::share_ints;
use mpc::net::Network;
use mpc::net::memory::MemoryNetwork;
use mpc::testing::run_networks;
use mpc::{
    BitProtocol, Engine, EngineConfig, EngineStats, Fr, MulProtocol, Params, Randomness,
    SecurityLevel, Shared,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Number of parties.
    #[arg(long, default_value_t = 3)]
    parties: usize,
    /// Threshold (default: the largest, (n-1)/2).
    #[arg(long)]
    threshold: Option<usize>,
    /// mul, lt, le, eq, fxmul, div, sqrt, select.
    #[arg(long, default_value = "mul")]
    op: String,
    /// grr or dn07.
    #[arg(long, default_value = "dn07")]
    protocol: MulProtocol,
    /// How random bits are made: xor (of t+1 dealt bits) or squaring (the squaring trick).
    #[arg(long = "random-bits", default_value = "xor")]
    random_bits: BitProtocol,
    /// Where random sharings and comparisons' bits come from: dealt (a dealing round; bit
    /// circuits on field elements) or prss (pseudo-random secret sharing, edaBits comparisons
    /// in GF(2^8); the default, as in the engine and the workers).
    #[arg(long, default_value = "prss")]
    randomness: Randomness,
    /// semi-honest, or malicious (with abort: every product and random bit checked before the
    /// outputs are opened, the check included in the time).
    #[arg(long, default_value = "semi-honest")]
    security: SecurityLevel,
    /// Number of operations.
    #[arg(long, default_value_t = 1_000_000)]
    n: usize,
    /// Elements per batch (default: 1,000,000 for mul and select, 100,000 for the rest).
    #[arg(long)]
    chunk: Option<usize>,
    /// Bits of the inputs' magnitude (values in [-2^bits, 2^bits)).
    #[arg(long, default_value_t = 31)]
    bits: u32,
    /// Fractional bits for fxmul.
    #[arg(long, default_value_t = 16)]
    frac: u32,
    /// RNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads of the runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Untimed warm-up passes over the whole batch before the timed one (a long-running node
    /// has its memory mapped already; a cold process spends much of its first pass in page
    /// faults). The cold figure is printed too.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// memory (channels in one process) or quic (real QUIC connections on 127.0.0.1 between
    /// the parties, with pinned Ed25519 keys).
    #[arg(long, default_value = "memory")]
    transport: String,
}

fn clear(op: &str, a: i128, b: i128, c: i128, frac: u32) -> (i128, i128) {
    // Returns (expected, tolerance).
    match op {
        "mul" => (a * b, 0),
        "lt" => ((a < b) as i128, 0),
        "le" => ((a <= b) as i128, 0),
        "eq" => ((a == b) as i128, 0),
        "select" => (if c & 1 == 1 { a } else { b }, 0),
        "fxmul" => ((a * b) >> frac, 1),
        "div" => {
            let q = (a << frac).div_euclid(if b == 0 { 1 } else { b });
            (q, 3 + q.abs() / (1 << 20))
        }
        "sqrt" => {
            let r = ((a.unsigned_abs() << frac) as f64).sqrt().floor() as i128;
            (r, 3 + r / (1 << 20))
        }
        other => panic!("unknown op {other}"),
    }
}

/// What every party runs, and its shares of the inputs.
struct Job {
    op: String,
    n: usize,
    chunk: usize,
    bits: u32,
    frac: u32,
    warmup: usize,
    a: Vec<Vec<Fr>>,
    b: Vec<Vec<Fr>>,
    c: Vec<Vec<Fr>>,
}

/// One party: `warmup` untimed passes, then the timed one, whose outputs are opened for the
/// check. Returns the outputs and, per pass, the time and cost of the operation alone.
async fn party<N: Network>(
    mut engine: Engine<N, Fr>,
    job: Arc<Job>,
) -> mpc::Result<(Vec<i128>, Vec<(Duration, EngineStats)>, CpuWindow)> {
    let me = engine.me().index();
    let (xa, xb, xc) = (&job.a[me], &job.b[me], &job.c[me]);
    let op = job.op.as_str();
    let f = if ["fxmul", "div", "sqrt"].contains(&op) {
        job.frac
    } else {
        0
    };
    let mut outputs = Vec::with_capacity(job.n);
    let mut timings = Vec::new();
    let mut window = CpuWindow::default();
    for pass in 0..=job.warmup {
        let last = pass == job.warmup;
        if last {
            window.start = process_cpu();
        }
        let mut results = Vec::new();
        let mut timed = Duration::ZERO;
        let mut cost = EngineStats::default();
        for lo in (0..job.n).step_by(job.chunk) {
            let hi = (lo + job.chunk).min(job.n);
            let x = Shared::from_fixed_shares(xa[lo..hi].to_vec(), job.bits, f)?;
            let y = Shared::from_fixed_shares(xb[lo..hi].to_vec(), job.bits, f)?;
            let before = engine.stats();
            let t0 = Instant::now();
            let z = match op {
                "mul" => engine.mul(&x, &y).await?,
                "lt" => engine.lt(&x, &y).await?,
                "le" => engine.le(&x, &y).await?,
                "eq" => engine.eq(&x, &y).await?,
                "fxmul" => engine.fx_mul(&x, &y).await?,
                "div" => engine.fx_div(&x, &y).await?,
                "sqrt" => engine.fx_sqrt(&x).await?,
                "select" => {
                    engine
                        .select(&Shared::from_bit_shares(xc[lo..hi].to_vec()), &x, &y)
                        .await?
                }
                _ => unreachable!("op checked in main"),
            };
            // Under the malicious level, the check of every product and bit is part of the
            // operation's cost (a no-op when semi-honest).
            engine.verify().await?;
            timed += t0.elapsed();
            let spent = engine.stats().since(&before);
            cost.rounds += spent.rounds;
            cost.net.bytes_sent += spent.net.bytes_sent;
            cost.net.messages_sent += spent.net.messages_sent;
            cost.multiplications += spent.multiplications;
            if last {
                results.push(z);
            }
        }
        timings.push((timed, cost));
        if last {
            window.end = process_cpu();
        }
        // Opened for the check after the timed pass, outside its CPU window.
        for z in &results {
            outputs.extend(engine.open_ints(z).await?);
        }
    }
    Ok((outputs, timings, window))
}

fn main() {
    let args = Args::parse();
    if args.transport != "memory" && args.transport != "quic" {
        eprintln!(
            "error: unknown transport '{}' (expected memory or quic)",
            args.transport
        );
        std::process::exit(2);
    }
    let params = match args.threshold {
        Some(t) => Params::new(args.parties, t),
        None => Params::max_threshold(args.parties),
    }
    .unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let op = args.op.clone();
    if !["mul", "lt", "le", "eq", "fxmul", "div", "sqrt", "select"].contains(&op.as_str()) {
        eprintln!("error: unknown op '{op}' (expected mul, lt, le, eq, fxmul, div, sqrt, select)");
        std::process::exit(2);
    }
    let chunk = args
        .chunk
        .unwrap_or(if op == "mul" || op == "select" {
            1_000_000
        } else {
            100_000
        })
        .max(1);
    let config = EngineConfig {
        mul: args.protocol,
        check_openings: true,
        bits: args.random_bits,
        randomness: args.randomness,
        security: args.security,
    };

    // Inputs, dealt by an external dealer before the session (not timed).
    let mut rng = ChaCha12Rng::seed_from_u64(args.seed);
    let half = 1i128 << args.bits;
    let mut a: Vec<i128> = (0..args.n).map(|_| rng.random_range(-half..half)).collect();
    let b: Vec<i128> = (0..args.n)
        .map(|i| {
            if i % 7 == 0 {
                a[i]
            } else {
                rng.random_range(-half..half)
            }
        })
        .collect();
    let c: Vec<i128> = (0..args.n).map(|_| rng.random_range(0..2)).collect();
    for (i, v) in [0, -1, half - 1, -half].into_iter().enumerate() {
        if i < a.len() {
            a[i] = v;
        }
    }
    let deal = |v: &[i128], bits: u32, rng: &mut ChaCha12Rng| {
        share_ints::<Fr, _>(v, bits, params, rng).expect("inputs in range")
    };
    let (sa, sb, sc) = (
        deal(&a, args.bits, &mut rng),
        deal(&b, args.bits, &mut rng),
        deal(&c, 1, &mut rng),
    );

    let (bits, frac, n, warmup) = (args.bits, args.frac, args.n, args.warmup);
    let start = Instant::now();
    let job = Arc::new(Job {
        op: op.clone(),
        n,
        chunk,
        bits,
        frac,
        warmup,
        a: sa,
        b: sb,
        c: sc,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let results = runtime.block_on(async {
        if args.transport == "quic" {
            let nets = mpc::quic::local_mesh(params.n()).await.unwrap_or_else(|e| {
                eprintln!("error: QUIC mesh on 127.0.0.1: {e}");
                std::process::exit(1)
            });
            run_networks(nets, params, config, args.seed, |e| party(e, job.clone())).await
        } else {
            run_networks(
                MemoryNetwork::mesh(params.n()),
                params,
                config,
                args.seed,
                |e| party(e, job.clone()),
            )
            .await
        }
    });
    let wall = start.elapsed();
    let mut check_ok = true;
    let mut stats = Vec::new();
    let mut op_seconds = 0f64;
    let mut cold_seconds = 0f64;
    let (mut cpu_start, mut cpu_end) = (f64::INFINITY, 0f64);
    for (party, r) in results.into_iter().enumerate() {
        let (outputs, timings, window) = r.unwrap_or_else(|e| {
            eprintln!("party {party} failed: {e}");
            std::process::exit(1)
        });
        let (timed, s) = timings.last().expect("at least one pass").clone();
        cpu_start = cpu_start.min(window.start);
        cpu_end = cpu_end.max(window.end);
        op_seconds = op_seconds.max(timed.as_secs_f64());
        cold_seconds = cold_seconds.max(timings[0].0.as_secs_f64());
        for i in 0..n {
            let (want, tol) = clear(&args.op, a[i], b[i], c[i], frac);
            if (outputs[i] - want).abs() > tol {
                if check_ok {
                    eprintln!("party {party}: element {i} differs from the clear computation");
                }
                check_ok = false;
            }
        }
        stats.push(s);
    }
    // Rounds and bytes of the operation alone (the verification openings are not counted).
    let rounds = stats[0].rounds;
    let bytes_per_party = stats.iter().map(|s| s.net.bytes_sent).sum::<u64>() / stats.len() as u64;
    eprintln!(
        "first (cold) pass: {:.3} s = {:.0} ops/s; whole run including dealing and verification: {:.3} s",
        cold_seconds,
        n as f64 / cold_seconds,
        wall.as_secs_f64()
    );
    let peak_mb = peak_rss_kb().map_or(0.0, |kb| kb as f64 / 1024.0);
    println!(
        "RESULT op={} protocol={} random_bits={} randomness={} security={} transport={} parties={} threshold={} n={} seconds={:.3} ops_per_s={:.0} cold_seconds={:.3} cold_ops_per_s={:.0} rounds={} bytes_per_party={} bytes_per_op={:.0} cpu_s={:.2} peak_rss_mb={:.0} peak_rss_mb_per_party={:.0} check={}",
        args.op,
        args.protocol,
        args.random_bits,
        args.randomness,
        args.security,
        args.transport,
        args.parties,
        params.t(),
        n,
        op_seconds,
        n as f64 / op_seconds,
        cold_seconds,
        n as f64 / cold_seconds,
        rounds,
        bytes_per_party,
        bytes_per_party as f64 / n.max(1) as f64,
        (cpu_end - cpu_start).max(0.0),
        peak_mb,
        peak_mb / args.parties as f64,
        if check_ok { "ok" } else { "FAIL" }
    );
    if !check_ok {
        std::process::exit(1);
    }
}

/// The process's CPU time (user and system, every thread) from the first party's start of the
/// timed pass to the last party's end, in seconds: the work of all parties together, which a
/// loaded machine stretches in wall time but much less in CPU time.
#[derive(Clone, Copy, Debug, Default)]
struct CpuWindow {
    start: f64,
    end: f64,
}

/// The process's user + system CPU time so far, in seconds (`/proc/self/stat`, clock ticks of
/// 10 ms); 0 off Linux.
fn process_cpu() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at state, field 3; utime and
    // stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

/// The process's peak resident set (`VmHWM` in `/proc/self/status`), in KiB; `None` off Linux.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
