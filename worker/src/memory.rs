//! A job's measured memory, and the cap that fails the job (not the worker) when it goes over
//! (issue 20: "a worker caps its own memory per job and fails the job, not the process").
//!
//! `protocols::stats::cost` refuses a job *before* it runs, from an estimate; this module
//! measures while it runs. The measure is the bytes live in the process's allocator, read
//! through a probe the binary registers ([`set_probe`]: the `quorate` binary wraps the system
//! allocator in a counting one), or, with no probe, the process's resident set (Linux
//! `/proc/self/status`). A job is charged the growth of that measure over its value when the job
//! started; jobs running at once share one process, so each is charged the others' growth too
//! (conservative: a job may fail for a neighbour's memory, never pass over its own cap).
//!
//! [`capped`] runs a job's future beside a watch that samples the measure before every poll of
//! the job (so whenever it yields: at every round of its session) and at least every [`POLL`];
//! once the growth passes the cap the
//! job's future is dropped — its engine state and buffers with it, the other workers see this
//! worker leave the session and fail the job too — and the job fails with [`OverMemory`].
//!
//! What it does not do: stop an allocation before it happens (a job that allocates past its cap
//! in one step is stopped at the next sample, so the cap bounds a job's memory up to what one
//! step between two rounds allocates), or bound the process as a whole (the operating system's
//! part). Off Linux with no probe nothing is measured and no cap applies.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

/// How often a running job's memory is sampled.
pub const POLL: Duration = Duration::from_millis(10);

/// A job over its memory cap.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "job used {used_mib} MiB, over its cap of {cap_mib} MiB set in worker.toml [limits] max_job_memory_mib; the job was stopped, the worker goes on"
)]
pub struct OverMemory {
    /// The job's growth in live memory when it was stopped, MiB.
    pub used_mib: u64,
    /// The cap, MiB.
    pub cap_mib: u64,
}

static PROBE: OnceLock<fn() -> u64> = OnceLock::new();

/// Registers how to read the bytes live in the process's allocator (once; later calls are
/// ignored). The `quorate` binary registers its counting allocator's figure.
pub fn set_probe(probe: fn() -> u64) {
    let _ = PROBE.set(probe);
}

/// The process's memory now, in bytes: the probe's figure, or the resident set without one
/// (`None` when neither can be read).
pub fn live_bytes() -> Option<u64> {
    match PROBE.get() {
        Some(probe) => Some(probe()),
        None => resident_bytes(),
    }
}

/// The resident set from `/proc/self/status` (`VmRSS`), in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `job`, failing it with [`OverMemory`] (converted into the job's error) once the
/// process's memory has grown by more than `cap_mib` MiB since the job started.
pub async fn capped<T, E, J>(cap_mib: u64, job: J) -> Result<T, E>
where
    J: Future<Output = Result<T, E>>,
    E: From<OverMemory>,
{
    let Some(start) = live_bytes() else {
        return job.await;
    };
    let cap = cap_mib.saturating_mul(1 << 20);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Checked whenever the task wakes (the job yields at every round) and at least every POLL.
    let watch = std::future::poll_fn(|cx| {
        let used = live_bytes().unwrap_or(start).saturating_sub(start);
        if used > cap {
            return std::task::Poll::Ready(OverMemory {
                used_mib: used >> 20,
                cap_mib,
            });
        }
        while tick.poll_tick(cx).is_ready() {}
        std::task::Poll::Pending
    });
    tokio::select! {
        biased;
        over = watch => {
            tracing::warn!(used_mib = over.used_mib, cap_mib, "job over its memory cap, stopped");
            Err(over.into())
        }
        done = job => done,
    }
}
