//! The flow-level fidelity: each message is a flow along its route, link
//! capacities are shared max-min fairly, and time jumps from one flow's
//! start or end to the next. Same specs, same workloads, same result types
//! as the cycle engine; thousands of times fewer events.
//!
//! ```text
//!  message (src, dst, bytes, at)
//!     |  FlowFabric::path: the cycle engine's port choice and routing
//!     v
//!  flow of message_flits(bytes) flits over [dir, dir, ...]
//!     |  Sharing: max-min fair rates, recomputed for the touched component
//!     v
//!  transfer ends at t  -->  delivered at t + the head's path latency - one flit time
//! ```
//!
//! What a flow cannot see (head-of-line blocking, buffer and credit
//! limits, packet-level unfairness, deadlock) is listed in docs/fidelity.md
//! with the error measured against the cycle engine.

pub(crate) mod collective;
pub(crate) mod fabric;
pub(crate) mod messages;
pub(crate) mod nic;
pub(crate) mod sharing;

pub use collective::run_collective;
pub use messages::run_messages;

use crate::error::{Error, Result};
use crate::result::{LinkCounters, LinkRecord, RetryCounters, RunResult, NEVER_PS};
use crate::run_hook::{Poller, Progress, POLL_EVERY};
use crate::spec::{FabricSpec, RunOptions};
use crate::time::Ps;
use fabric::FlowFabric;
use sharing::Sharing;

/// What the flow model refuses, checked before anything runs.
fn check_options(opts: &RunOptions) -> Result<()> {
    if !opts.faults.is_empty() {
        return Err(Error::spec(
            "options.faults",
            "scripted faults are not modelled at fidelity \"flow\" (a link's bit-error rate is: it lowers the link's capacity); run them at fidelity \"cycle\"",
        ));
    }
    Ok(())
}

/// The end of the window a run may simulate, ps (from `max_cycles` and
/// `max_time_ns`); `Ps::MAX` without a limit.
fn limit_ps(spec: &FabricSpec, opts: &RunOptions) -> Result<Ps> {
    let clock = spec.link_params()?.clock;
    let limit = opts.limit_cycle(clock);
    Ok(if limit == u64::MAX {
        Ps::MAX
    } else {
        clock.start_ps(limit)
    })
}

/// The loop's line to the run hook (Ctrl-C, progress).
struct Polling {
    poller: Poller,
    turns: u64,
    next: u64,
}

impl Polling {
    fn new() -> Self {
        let poller = Poller::new();
        let next = poller.first_check(0);
        Self {
            poller,
            turns: 0,
            next,
        }
    }

    /// One turn of an event loop at `t`; `Err(Interrupted)` when the hook
    /// says stop.
    fn turn(&mut self, fab: &FlowFabric, t: Ps, done: u64, total: u64) -> Result<()> {
        self.turns += 1;
        if self.turns < self.next {
            return Ok(());
        }
        self.next = self.turns + POLL_EVERY;
        let cycle = fab.params.clock.cycle_at_or_after(t);
        if self.poller.look(|| Progress { cycle, done, total }) {
            Ok(())
        } else {
            Err(Error::Interrupted { cycle })
        }
    }
}

/// Nothing can move and work is left: the flows wait on links without
/// capacity (a consumer that never drains), or operations on each other.
fn stalled(fab: &FlowFabric, sh: &Sharing, t: Ps, what: String, partial: RunResult) -> Error {
    let link = sh.starved_link().map_or(String::new(), |l| {
        let (a, b) = fab.ends[l as usize];
        format!(
            "; link direction {l} ({} -> {}) has no capacity (endpoint.drain_gbps = 0?)",
            a.index(fab.endpoints),
            b.index(fab.endpoints)
        )
    });
    let cycle = fab.params.clock.cycle_at_or_after(t);
    Error::Deadlock {
        cycle,
        time_ps: t,
        message: format!("{what}{link}"),
        waiting: Vec::new(),
        partial: Box::new(partial),
    }
}

/// The run's result in the cycle engine's shape: per message the times of
/// its first flit out and its delivery, per link direction what it
/// carried; the counters a flow cannot see (stalls, occupancy, replays)
/// are zero.
#[allow(clippy::too_many_arguments)]
fn report(
    fab: &FlowFabric,
    sh: &Sharing,
    send_ps: Vec<Ps>,
    deliver_ps: Vec<Ps>,
    payload_bytes: Vec<u64>,
    complete: bool,
    end_ps: Ps,
    events: u64,
    wall_seconds: f64,
) -> RunResult {
    let clock = fab.params.clock;
    let cycles = if end_ps == 0 {
        0
    } else {
        clock.cycle_at_or_after(end_ps + 1)
    };
    let mut order: Vec<u32> = (0..deliver_ps.len() as u32)
        .filter(|&m| deliver_ps[m as usize] != NEVER_PS)
        .collect();
    order.sort_by_key(|&m| (deliver_ps[m as usize], m));
    let mut deliver_order = vec![u64::MAX; deliver_ps.len()];
    for (rank, &m) in order.iter().enumerate() {
        deliver_order[m as usize] = rank as u64;
    }
    let links = (0..fab.num_dirs())
        .map(|d| {
            let (a, b) = fab.ends[d];
            LinkRecord {
                src: a.index(fab.endpoints),
                dst: b.index(fab.endpoints),
                flits: sh.carried_flits[d],
                payload_bytes: payload_bytes[d],
                credit_stall_cycles: 0,
                max_occupancy: 0,
                occupancy_width: 1,
                occupancy_cycles: Vec::new(),
                counters: LinkCounters::default(),
                retry: RetryCounters::default(),
                pace: fab.pace[d],
            }
        })
        .collect();
    RunResult {
        complete,
        cycles,
        cycle_ps: clock.ratio(),
        end_ps: clock.start_ps(cycles),
        events,
        corrupt: vec![false; send_ps.len()],
        send_ps,
        deliver_ps,
        deliver_order,
        links,
        num_endpoints: fab.endpoints as u32,
        wall_seconds,
    }
}
