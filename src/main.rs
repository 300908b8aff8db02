//! `quorate`: the command line of the Quorate MPC network. Sets up logging and hands over to
//! `quorate::cli`; errors are printed as their chain of causes, without a backtrace.

use std::alloc::System;
use std::process::ExitCode;

/// The system allocator, counting the bytes live: a worker charges each job the growth of this
/// figure and stops a job over its memory cap (`worker/src/memory.rs`).
#[global_allocator]
static ALLOCATOR: cap::Cap<System> = cap::Cap::new(System, usize::MAX);

fn main() -> ExitCode {
    worker::memory::set_probe(|| ALLOCATOR.allocated() as u64);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match quorate::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
