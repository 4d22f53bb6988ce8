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
//! What a flow cannot see (head-of-line blocking, buffers, packet-level
//! unfairness, deadlock) is listed in docs/fidelity.md with the error
//! measured against the cycle engine. Scripted link-down windows are
//! capacity changes (`capacity_changes`).

pub(crate) mod collective;
pub(crate) mod fabric;
pub(crate) mod memory;
pub(crate) mod messages;
pub(crate) mod nic;
pub(crate) mod sharing;

pub use collective::run_collective;
pub use memory::run_memory_fabric;
pub use messages::run_messages;

use crate::error::{Error, Result};
use crate::result::{LinkCounters, LinkRecord, RetryCounters, RunResult, NEVER_PS};
use crate::run_hook::{Poller, Progress, POLL_EVERY};
use crate::spec::faults::Fault;
use crate::spec::{FabricSpec, RunOptions};
use crate::time::Ps;
use fabric::FlowFabric;
use sharing::Sharing;

/// A link direction's capacity changing at a time (a scripted link-down
/// window: 0 from its start, the link's own again at its end).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CapacityChange {
    pub at_ps: Ps,
    pub link: u32,
    pub capacity: f64,
}

/// The scripted faults as capacity changes, in time order. A link that is
/// down carries nothing (its go-back-N recovers what was sent, so the
/// window's traffic waits); a slow link carries its `rate` of its capacity;
/// overlapping windows on one link compose (down wins, rates multiply). The
/// per-flit faults (a corrupted flit, a lost ACK or credit) and a link down
/// without retry (whose flits would be lost) have no flow-level meaning and
/// are refused, naming the fault.
fn capacity_changes(
    opts: &RunOptions,
    fab: &mut FlowFabric,
    spec: &FabricSpec,
) -> Result<Vec<CapacityChange>> {
    let links = fab.num_dirs();
    // per link, its windows [from, to) and the factor each applies (0: down)
    let mut windows: Vec<(u32, Ps, Ps, f64)> = Vec::new();
    for (i, f) in opts.faults.iter().enumerate() {
        f.validate(i, links)?;
        let (link, at_ns, duration_ns, factor) = match *f {
            Fault::LinkDown {
                link,
                at_ns,
                duration_ns,
            } => {
                if spec.link.retry == crate::spec::reliability::Retry::None {
                    return Err(Error::spec(
                        format!("options.faults[{i}]"),
                        "link_down on links without retry loses flits, which the flow model cannot; run it at fidelity \"cycle\"",
                    ));
                }
                (link, at_ns, duration_ns, 0.0)
            }
            Fault::LinkSlow {
                link,
                at_ns,
                duration_ns,
                rate,
            } => (link, at_ns, duration_ns, rate),
            Fault::LinkBer {
                link,
                at_ns,
                duration_ns,
                ber,
            } => {
                // the retry efficiency at that rate over the spec's: a capacity,
                // as the flow model takes a link kind's bit-error rate
                let network = fab.network[link as usize];
                let retry = match (&spec.network_link, network) {
                    (Some(net), true) => net.retry,
                    _ => spec.link.retry,
                };
                if retry == crate::spec::reliability::Retry::None {
                    return Err(Error::spec(
                        format!("options.faults[{i}]"),
                        "link_ber on a link without retry loses flits, which the flow model cannot; run it at fidelity \"cycle\" with a lossier link spec",
                    ));
                }
                let factor = spec.ber_capacity_factor(network, ber)?;
                if factor <= 0.0 {
                    return Err(Error::spec(
                        format!("options.faults[{i}].ber"),
                        format!("at a bit-error rate of {ber:e} the link delivers nothing (every flit fails its check); give a lower one"),
                    ));
                }
                (link, at_ns, duration_ns, factor)
            }
            Fault::LinkFailed { link } => {
                // not a capacity: the routes go around it
                fab.fail(link);
                continue;
            }
            _ => {
                return Err(Error::spec(
                    format!("options.faults[{i}]"),
                    "only link_down, link_slow and link_failed are modelled at fidelity \"flow\" (a per-flit fault has no flow; a link's bit-error rate is modelled, as a capacity); run it at fidelity \"cycle\"",
                ))
            }
        };
        let from = crate::spec::link::ns_to_ps(at_ns);
        let to = crate::spec::link::ns_to_ps(at_ns + duration_ns);
        if to > from {
            windows.push((link, from, to, factor));
        }
    }
    windows.sort_by_key(|a| (a.0, a.1));
    let mut out = Vec::new();
    for group in windows.chunk_by(|a, b| a.0 == b.0) {
        let link = group[0].0;
        let base = fab.capacity[link as usize];
        let mut edges: Vec<Ps> = group.iter().flat_map(|w| [w.1, w.2]).collect();
        edges.sort_unstable();
        edges.dedup();
        let mut current = base;
        for &t in &edges {
            let factor: f64 = group
                .iter()
                .filter(|w| w.1 <= t && t < w.2)
                .map(|w| w.3)
                .product();
            let capacity = base * factor;
            if capacity != current {
                out.push(CapacityChange {
                    at_ps: t,
                    link,
                    capacity,
                });
                current = capacity;
            }
        }
    }
    out.sort_by(|a, b| a.at_ps.cmp(&b.at_ps).then(a.link.cmp(&b.link)));
    Ok(out)
}

/// Applies the changes due at `t` (from `next` on); returns the new `next`.
fn apply_changes(changes: &[CapacityChange], mut next: usize, t: Ps, sh: &mut Sharing) -> usize {
    while let Some(c) = changes.get(next) {
        if c.at_ps > t {
            break;
        }
        sh.set_capacity(c.link, c.capacity);
        next += 1;
    }
    next
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

/// Starts the link samples the options ask for (the first a cycle in).
fn start_link_samples(sh: &mut Sharing, fab: &FlowFabric, opts: &RunOptions) {
    if opts.link_samples > 0 {
        let cycle_ps = fab.params.clock.period_ps_f64().round().max(1.0) as u64;
        sh.start_link_samples(opts.link_samples as usize, cycle_ps);
    }
    if opts.link_spans > 0 {
        sh.start_link_spans(opts.link_spans as usize);
    }
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
/// are zero. Without `keep` (the options' `keep_messages`), the
/// per-message columns are left out.
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
    keep: bool,
) -> RunResult {
    let (send_ps, deliver_ps) = if keep {
        (send_ps, deliver_ps)
    } else {
        (Vec::new(), Vec::new())
    };
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
        messages_kept: keep,
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
        link_samples: sh.link_samples(clock.start_ps(cycles)),
        link_spans: sh.link_spans(),
        wall_seconds,
    }
}
