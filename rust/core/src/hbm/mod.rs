//! HBM at cycle level: one controller per pseudo-channel (queues, FR-FCFS or
//! FCFS, page policy, write drain, refresh) over the JEDEC timing state of
//! its banks, with the channel's row and column command buses shared by its
//! pseudo-channels.
//!
//! ```text
//!  requests (addr, bytes, R/W, arrival) --admit (outstanding limit)--> split into
//!  accesses --mapping--> pseudo-channel queues --scan--> ACT/PRE/REF (row bus)
//!                                                       RD/WR       (column bus)
//!                                    --> completions (CL/CWL + BL later) --> results
//! ```
//!
//! The engine drives it like any model: a controller that cannot issue
//! sleeps until the first cycle one of its commands becomes legal (or a new
//! access arrives, or refresh falls due), so light load costs nothing and a
//! saturated stack ticks every cycle.

pub mod controller;
pub mod mapping;
pub mod queues;
pub mod refresh;
pub mod scheduler;
pub mod sink;
pub mod system;
pub mod timing;

use crate::engine::{self, Stop};
use crate::error::{Error, Result};
use crate::spec::hbm::HbmSpec;
use crate::spec::memory::ControllerSpec;
use crate::spec::RunOptions;
pub use sink::{CommandRecord, Counters, StackTotals};
pub use system::{MemoryRequests, MemorySystem};

/// What a memory run returns.
#[derive(Clone, Debug)]
pub struct MemoryResult {
    /// Every request finished (false when a limit stopped the run).
    pub complete: bool,
    /// CK cycles simulated.
    pub cycles: u64,
    pub tck_ns: f64,
    /// Per request: cycle admitted by the front end, cycle its last data beat
    /// finished (`u64::MAX` if it did not).
    pub admitted: Vec<u64>,
    pub finished: Vec<u64>,
    pub counters: Counters,
    /// (sid, bank group, bank) of each bank index within a pseudo-channel.
    pub bank_split: Vec<(u32, u32, u32)>,
    pub trace: Vec<CommandRecord>,
    pub wall_seconds: f64,
}

/// Runs `reqs` on one stack.
pub fn run_memory(
    hbm: &HbmSpec,
    ctrl: &ControllerSpec,
    reqs: MemoryRequests,
    opts: &RunOptions,
    record_commands: bool,
) -> Result<MemoryResult> {
    opts.validate().map_err(|e| e.within("options"))?;
    // An HBM stack is the same cycle-level model at both fidelities (the
    // flow model keeps its memory devices cycle-level: docs/fidelity.md).
    let mut sys = MemorySystem::new(hbm, ctrl, reqs, record_commands)?;
    let mut limit = opts.max_cycles.unwrap_or(u64::MAX);
    if let Some(ns) = opts.max_time_ns {
        limit = limit.min((ns / hbm.tck_ns).ceil() as u64);
    }
    let started = std::time::Instant::now();
    let stop = engine::drive(&mut sys, opts, limit)?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let cycles = match stop {
        Stop::Done { .. } => sys.last_done() + 1,
        Stop::Limit { limit } => limit,
        Stop::Interrupted { cycle } => return Err(Error::Interrupted { cycle }),
        Stop::Deadlock { .. } => {
            let waiting = engine::Model::waiting(&sys);
            let undelivered = sys.admitted.len() - sys.completed;
            return Err(Error::Invariant {
                cycle: match stop {
                    Stop::Deadlock { cycle, .. } => cycle,
                    _ => 0,
                },
                message: format!(
                    "the memory model stopped making progress (a bug: please report it with the inputs): {}",
                    engine::deadlock_message(&stop, &waiting, undelivered)
                ),
            });
        }
    };
    let bank_split = (0..sys.banks_per_pc() as u32)
        .map(|b| sys.split_bank(b))
        .collect();
    Ok(MemoryResult {
        complete: matches!(stop, Stop::Done { .. }),
        cycles,
        tck_ns: hbm.tck_ns,
        admitted: std::mem::take(&mut sys.admitted),
        finished: std::mem::take(&mut sys.finished),
        counters: std::mem::take(&mut sys.sink.counters),
        bank_split,
        trace: std::mem::take(&mut sys.sink.trace),
        wall_seconds,
    })
}
