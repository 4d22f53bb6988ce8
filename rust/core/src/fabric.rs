//! Running traffic on a fabric: validate, build, drive, report.

use crate::engine::{self, Stop};
use crate::error::{Error, Result};
use crate::network::{Network, NEVER};
use crate::result::{LinkRecord, RunResult, NEVER_PS};
use crate::spec::link::ns_to_ps;
use crate::spec::{FabricSpec, RunOptions};
use crate::time::Cycle;
use crate::traffic::MessageTraffic;
use std::time::Instant;

/// Runs `traffic` on `spec` to completion.
///
/// Errors: `Spec` for bad input (nothing ran), `Deadlock` and `Limit` with
/// the partial result so far, `Invariant` if a checked invariant broke.
pub fn run_messages(
    spec: &FabricSpec,
    traffic: &MessageTraffic,
    opts: &RunOptions,
) -> Result<RunResult> {
    spec.validate()?;
    opts.validate().map_err(|e| e.within("options"))?;
    let params = spec.link.resolve().map_err(|e| e.within("link"))?;
    traffic.validate(spec.topology.num_endpoints(), params.vcs)?;
    let clock = params.clock;
    let mut limit = opts.max_cycles.unwrap_or(Cycle::MAX);
    if let Some(t) = opts.max_time_ns {
        limit = limit.min(clock.cycle_at_or_after(ns_to_ps(t).saturating_add(1)));
    }
    for (i, f) in opts.faults.iter().enumerate() {
        f.validate(i, 2 * spec.topology.links().len())?;
    }
    let mut net = Network::new(spec, params, traffic, opts.seed, &opts.faults);
    let started = Instant::now();
    let stop = engine::drive(&mut net, opts, limit)?;
    let wall = started.elapsed().as_secs_f64();
    match stop {
        Stop::Done { last } => Ok(report(&net, last + 1, true, wall)),
        Stop::Deadlock { cycle, .. } => {
            let waiting = engine::Model::waiting(&net);
            let message = engine::deadlock_message(&stop, &waiting, net.undelivered());
            Err(Error::Deadlock {
                cycle,
                time_ps: clock.start_ps(cycle),
                message,
                waiting,
                partial: Box::new(report(&net, cycle + 1, false, wall)),
            })
        }
        Stop::Limit { limit } => {
            let message = format!(
                "run limit reached at cycle {limit} ({} ps) with {} of {} messages delivered (max_cycles={:?}, max_time_ns={:?})",
                clock.start_ps(limit),
                net.delivered(),
                traffic.len(),
                opts.max_cycles,
                opts.max_time_ns
            );
            Err(engine::limit_error(
                message,
                report(&net, limit, false, wall),
            ))
        }
    }
}

fn report(net: &Network, cycles: u64, complete: bool, wall_seconds: f64) -> RunResult {
    let clock = net.params.clock;
    let to_ps = |c: &Cycle| {
        if *c == NEVER {
            NEVER_PS
        } else {
            clock.start_ps(*c)
        }
    };
    let links = net
        .dirs
        .iter()
        .map(|d| {
            let tx = &net.endpoints[d.src].tx;
            let occupancy = d.occupancy_histogram(cycles);
            let st = &d.stats;
            LinkRecord {
                src: d.src.0,
                dst: d.dst.0,
                flits: st.flits,
                payload_bytes: st.payload_bytes,
                credit_stall_cycles: tx.credit_stall_cycles,
                max_occupancy: st.max_occupancy,
                occupancy_width: occupancy.width,
                occupancy_cycles: occupancy.counts,
                flits_replayed: st.flits_replayed,
                flits_corrupted: st.flits_corrupted,
                flits_fec_corrected: st.flits_fec_corrected,
                flits_undetected: st.flits_undetected,
                flits_lost: st.flits_lost,
                replay_stall_cycles: st.replay_stall_cycles,
                naks: d.receiver.as_ref().map_or(0, |r| r.naks_sent),
                acks: d.receiver.as_ref().map_or(0, |r| r.acks_sent),
                replay_timeouts: d.sender.as_ref().map_or(0, |s| s.replay_timeouts),
                credits_dropped: st.credits_dropped,
                acks_dropped: st.acks_dropped,
            }
        })
        .collect();
    let log = &net.tally.log;
    RunResult {
        complete,
        cycles,
        cycle_ps: clock.ratio(),
        end_ps: clock.start_ps(cycles),
        events: net.tally.events,
        send_ps: log.send.iter().map(to_ps).collect(),
        deliver_ps: log.deliver.iter().map(to_ps).collect(),
        deliver_order: log.order.as_slice().to_vec(),
        corrupt: log.corrupt.as_slice().to_vec(),
        links,
        wall_seconds,
    }
}
