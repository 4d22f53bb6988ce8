//! A run you can step: advance some cycles, look at the state, inject
//! messages and faults, then finish. `run_messages` is `new` + `finish`.

use crate::engine::{self, Driver, Model, Stop};
use crate::error::{Error, Result};
use crate::network::{LinkState, Network, NEVER};
use crate::result::{LinkRecord, RetryCounters, RunResult, NEVER_PS};
use crate::spec::faults::Fault;
use crate::spec::{FabricSpec, RunOptions};
use crate::time::{Cycle, Ps};
use crate::traffic::MessageTraffic;
use std::time::Instant;

pub struct Simulation {
    net: Network,
    opts: RunOptions,
    driver: Driver,
    /// The first cycle not to simulate (from `max_cycles` / `max_time_ns`).
    limit: Cycle,
    /// Every message so far: the traffic given, then the ones injected.
    traffic: MessageTraffic,
    endpoints: usize,
    /// The topology, for the routes of messages injected later.
    topology: crate::spec::TopologySpec,
    links: usize,
    /// Wall time spent in the cycle loop.
    wall_seconds: f64,
    /// Set when a cycle failed half-way (an invariant broke): the state is
    /// inconsistent, so the run cannot go on.
    broken: Option<String>,
}

impl Simulation {
    /// Validates everything and builds the fabric at cycle 0.
    pub fn new(spec: &FabricSpec, traffic: &MessageTraffic, opts: &RunOptions) -> Result<Self> {
        spec.validate()?;
        opts.validate().map_err(|e| e.within("options"))?;
        if opts.fidelity != crate::spec::run::Fidelity::Cycle {
            return Err(Error::spec(
                "options.fidelity",
                "a stepped simulation runs at fidelity \"cycle\" only; run the traffic to its end (Fabric.run) at fidelity \"flow\"",
            ));
        }
        let params = spec.link_params()?;
        let endpoints = spec.topology.num_endpoints();
        traffic.validate(endpoints, params.vcs)?;
        traffic.validate_routes(&spec.topology)?;
        let links = Network::count_link_directions(spec);
        for (i, f) in opts.faults.iter().enumerate() {
            f.validate(i, links)?;
        }
        let limit = opts.limit_cycle(params.clock);
        let mut net = Network::new(spec, params, traffic, opts.seed, &opts.faults)?;
        let driver = Driver::new(&mut net, opts);
        Ok(Self {
            net,
            opts: opts.clone(),
            driver,
            limit,
            traffic: traffic.clone(),
            endpoints,
            topology: spec.topology.clone(),
            links,
            wall_seconds: 0.0,
            broken: None,
        })
    }

    /// The next cycle to simulate (`0..cycle()` are done).
    pub fn cycle(&self) -> Cycle {
        self.driver.cycle()
    }

    /// The start time of the next cycle.
    pub fn time_ps(&self) -> Ps {
        self.net.params.clock.start_ps(self.cycle())
    }

    /// Simulates the next `cycles` cycles. Finishing all work does not stop
    /// it (more may be injected); a deadlock or a limit does, as an error.
    pub fn step(&mut self, cycles: u64) -> Result<()> {
        let until = self.cycle().saturating_add(cycles);
        match self.advance(Some(until))? {
            None => Ok(()),
            Some(stop) => Err(self.stop_error(stop)),
        }
    }

    /// Offers a message from `src` to `dst` now (at `time_ps()`); returns its
    /// row in the results.
    pub fn inject(&mut self, src: u32, dst: u32, bytes: u64, vc: u32) -> Result<u32> {
        let at = self.time_ps();
        let row = MessageTraffic {
            src: vec![src],
            dst: vec![dst],
            bytes: vec![bytes],
            inject_ps: vec![at],
            vc: vec![vc],
        };
        row.validate(self.endpoints, self.net.params.vcs)
            .and_then(|()| row.validate_routes(&self.topology))
            .map_err(|e| match e {
                Error::Spec { path, message } => Error::spec(path.replace("[0]", ""), message),
                other => other,
            })?;
        let t = &mut self.traffic;
        t.src.push(src);
        t.dst.push(dst);
        t.bytes.push(bytes);
        t.inject_ps.push(at);
        t.vc.push(vc);
        Ok(self.net.inject(src, dst, bytes, vc as u8, self.cycle()).0)
    }

    /// Adds a scripted fault; times in it are absolute (a time already past
    /// fires at the next opportunity).
    pub fn inject_fault(&mut self, fault: &Fault) -> Result<()> {
        fault
            .validate(0, self.links)
            .and_then(|()| fault.require_cycle_model(0))
            .map_err(|e| match e {
                Error::Spec { path, message } => {
                    Error::spec(path.replace("options.faults[0]", "fault"), message)
                }
                other => other,
            })?;
        self.net.inject_fault(fault);
        Ok(())
    }

    /// Every link direction's state now.
    pub fn state(&self) -> Vec<LinkState> {
        self.net.state()
    }

    pub fn delivered(&self) -> usize {
        self.net.delivered()
    }

    /// Every message so far (the traffic given, then the injected ones).
    pub fn traffic(&self) -> &MessageTraffic {
        &self.traffic
    }

    /// Runs until every message is delivered and returns the result.
    pub fn finish(&mut self) -> Result<RunResult> {
        match self.advance(None)? {
            Some(Stop::Done { last }) => {
                let mut res = self.report(last + 1, true);
                res.keep_messages(self.opts.keep_messages);
                Ok(res)
            }
            Some(stop) => Err(self.stop_error(stop)),
            None => unreachable!("a run without an end cycle always stops"),
        }
    }

    /// The result so far, marked partial.
    pub fn partial(&self) -> RunResult {
        self.report(self.cycle(), false)
    }

    fn advance(&mut self, until: Option<Cycle>) -> Result<Option<Stop>> {
        if let Some(why) = &self.broken {
            return Err(Error::spec(
                "simulation",
                format!("cannot continue after an error broke a cycle half-way ({why}); start a new one"),
            ));
        }
        let started = Instant::now();
        let stop = self
            .driver
            .advance(&mut self.net, &self.opts, self.limit, until);
        self.wall_seconds += started.elapsed().as_secs_f64();
        if let Err(e @ Error::Invariant { .. }) = &stop {
            self.broken = Some(e.to_string());
        }
        stop
    }

    fn stop_error(&self, stop: Stop) -> Error {
        let clock = self.net.params.clock;
        match stop {
            Stop::Deadlock { cycle, .. } => {
                let waiting = self.net.waiting();
                let message = engine::deadlock_message(&stop, &waiting, self.net.undelivered());
                Error::Deadlock {
                    cycle,
                    time_ps: clock.start_ps(cycle),
                    message,
                    waiting,
                    partial: Box::new(self.report(cycle + 1, false)),
                }
            }
            Stop::Limit { limit } => {
                let message = format!(
                    "run limit reached at cycle {limit} ({} ps) with {} of {} messages delivered (max_cycles={:?}, max_time_ns={:?})",
                    clock.start_ps(limit),
                    self.net.delivered(),
                    self.traffic.len(),
                    self.opts.max_cycles,
                    self.opts.max_time_ns
                );
                engine::limit_error(message, self.report(limit, false))
            }
            Stop::Interrupted { cycle } => Error::Interrupted { cycle },
            Stop::Done { last } => Error::Invariant {
                cycle: last,
                message: "a finished run was reported as an error".into(),
            },
        }
    }

    fn report(&self, cycles: u64, complete: bool) -> RunResult {
        network_report(&self.net, cycles, complete, self.wall_seconds)
    }
}

/// The result of a network run over `0..cycles`: per-message times and
/// per-link counters.
/// Drives `model`, which wraps the network `net(model)`, to its end: the
/// cycles simulated, whether all work finished (else a limit stopped it),
/// and the wall seconds; a deadlock becomes an error saying `what` stalled.
pub(crate) fn drive_to_end<M: crate::engine::Model>(
    model: &mut M,
    opts: &RunOptions,
    limit: Cycle,
    what: &str,
    net: impl Fn(&M) -> &Network,
) -> Result<(u64, bool, f64)> {
    let started = std::time::Instant::now();
    let stop = engine::drive(model, opts, limit)?;
    let wall = started.elapsed().as_secs_f64();
    match stop {
        Stop::Done { last } => Ok((last + 1, true, wall)),
        Stop::Limit { limit } => Ok((limit, false, wall)),
        Stop::Interrupted { cycle } => Err(Error::Interrupted { cycle }),
        Stop::Deadlock { cycle, .. } => {
            let waiting = model.waiting();
            let n = net(model);
            let message = engine::deadlock_message(&stop, &waiting, n.undelivered());
            Err(Error::Deadlock {
                cycle,
                time_ps: n.params.clock.start_ps(cycle),
                message: format!("{what} stalled: {message}"),
                waiting,
                partial: Box::new(network_report(n, cycle + 1, false, wall)),
            })
        }
    }
}

pub(crate) fn network_report(
    net: &Network,
    cycles: u64,
    complete: bool,
    wall_seconds: f64,
) -> RunResult {
    {
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
            .iter_enumerated()
            .map(|(id, d)| {
                let stalls = net.tx_of(id).map_or(0, |tx| tx.credit_stall_cycles);
                let n = net.num_endpoints();
                let held = d.occupancy(&net.router_ports);
                let (flits, payload_bytes) = d.sent(&net.router_ports);
                let occupancy = held.histogram(cycles);
                let st = &d.stats;
                LinkRecord {
                    src: d.src.index(n),
                    dst: d.dst.index(n),
                    flits,
                    payload_bytes,
                    credit_stall_cycles: stalls,
                    max_occupancy: held.max(),
                    occupancy_width: occupancy.width,
                    occupancy_cycles: occupancy.counts,
                    counters: st.counters,
                    retry: RetryCounters {
                        naks: d.receiver.as_ref().map_or(0, |r| r.naks_sent),
                        acks: d.receiver.as_ref().map_or(0, |r| r.acks_sent),
                        replay_timeouts: d.sender.as_ref().map_or(0, |s| s.replay_timeouts),
                    },
                    pace: (d.timing.pace.num, d.timing.pace.den),
                }
            })
            .collect();
        let log = &net.tally.log;
        RunResult {
            messages_kept: true,
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
            num_endpoints: net.num_endpoints() as u32,
            link_samples: net
                .link_sampler
                .as_ref()
                .map(|s| s.finish(cycles, net.link_flits(), |c| clock.start_ps(c))),
            link_spans: net
                .tally
                .spans
                .as_ref()
                .map(|s| s.finish(|c| clock.start_ps(c))),
            wall_seconds,
        }
    }
}
