//! A network of endpoints joined directly by links (the point-to-point
//! fabric); routers join it in a later stage.
//!
//! ```text
//!  endpoint a                  link direction a->b                endpoint b
//!  +---------+   flits   +--------------------------+   +------------------+
//!  | TxPort  |---------->| wire (1 + latency cycles)|-->| RxPort: VC bufs  |
//!  | credits |<----------| credit wire (return cyc.)|<--| drain -> deliver |
//!  +---------+  credits  +--------------------------+   +------------------+
//! ```
//!
//! Per cycle `c`, every link direction first takes in what arrives at `c`
//! (flits into receive buffers, credits into the sender's counters), then
//! drains its receiver (each drained flit sends a credit back); then every
//! transmit port admits due messages and sends at most one flit. Wires have
//! a latency of at least one cycle, so visiting order never matters.

use crate::endpoint::{RxPort, TxPort};
use crate::engine::{Activity, Model};
use crate::error::{Error, Result, WaitingChannel};
use crate::ids::{EndpointId, IdVec, LinkDirId, MsgId};
use crate::link::{DelayLine, Flit};
use crate::spec::endpoint::DrainParams;
use crate::spec::{FabricSpec, LinkParams};
use crate::stats::Histogram;
use crate::time::Cycle;
use crate::traffic::MessageTraffic;

/// Marks a cycle that never came (message not sent / not delivered).
pub const NEVER: Cycle = Cycle::MAX;

/// One direction of a link, with the receive port at its far end.
#[derive(Clone, Debug)]
pub struct LinkDir {
    pub src: EndpointId,
    pub dst: EndpointId,
    wire: DelayLine<Flit>,
    /// Credits on their way back, as the VC they return to.
    credit_wire: DelayLine<u8>,
    pub rx: RxPort,
    pub stats: LinkDirStats,
}

/// Counters of one link direction.
#[derive(Clone, Debug)]
pub struct LinkDirStats {
    pub flits: u64,
    pub payload_bytes: u64,
    /// Cycles the receive buffers held each number of flits (all VCs).
    pub occupancy: Histogram,
    pub max_occupancy: u32,
}

/// An endpoint's network interface. With no routers, its single transmit
/// port drives link direction `out`.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub out: LinkDirId,
    pub tx: TxPort,
}

/// Per-message timestamps (cycles), indexed by message.
#[derive(Clone, Debug)]
pub struct MessageLog {
    pub send: IdVec<MsgId, Cycle>,
    pub deliver: IdVec<MsgId, Cycle>,
    /// Rank of each message in the order of delivery (ties in time broken
    /// by the order the receiver drained them); `NEVER` if not delivered.
    pub order: IdVec<MsgId, u64>,
}

pub struct Network {
    pub params: LinkParams,
    pub endpoints: IdVec<EndpointId, Endpoint>,
    pub dirs: IdVec<LinkDirId, LinkDir>,
    pub log: MessageLog,
    drain: Option<DrainParams>,
    admitted: usize,
    delivered: usize,
    total: usize,
    /// Flits sent + flits arrived + credits arrived + flits drained.
    pub events: u64,
}

impl Network {
    /// Builds the network of `spec` loaded with `traffic` (both validated).
    pub fn new(spec: &FabricSpec, params: LinkParams, traffic: &MessageTraffic) -> Self {
        let n = spec.topology.num_endpoints();
        let drain = spec.endpoint.drain_params(params.clock, params.flit_bytes);
        let mut dirs: IdVec<LinkDirId, LinkDir> = IdVec::new();
        let mut out_of: Vec<Option<LinkDirId>> = vec![None; n];
        for (a, b) in spec.topology.links() {
            for (s, d) in [(a, b), (b, a)] {
                let id = dirs.push(LinkDir::new(EndpointId(s), EndpointId(d), &params, drain));
                out_of[s as usize] = Some(id);
            }
        }
        let mut plans: Vec<Vec<(Cycle, MsgId, u64, u8)>> = vec![Vec::new(); n];
        for i in 0..traffic.len() {
            let at = params.clock.cycle_at_or_after(traffic.inject_ps[i]);
            plans[traffic.src[i] as usize].push((
                at,
                MsgId(i as u32),
                traffic.bytes[i],
                traffic.vc[i] as u8,
            ));
        }
        let endpoints = IdVec::from_vec(
            plans
                .into_iter()
                .enumerate()
                .map(|(e, plan)| Endpoint {
                    out: out_of[e].expect("every endpoint of a point-to-point fabric has a link"),
                    tx: TxPort::new(&params, plan),
                })
                .collect(),
        );
        let m = traffic.len();
        Self {
            params,
            endpoints,
            dirs,
            log: MessageLog {
                send: IdVec::from_vec(vec![NEVER; m]),
                deliver: IdVec::from_vec(vec![NEVER; m]),
                order: IdVec::from_vec(vec![NEVER; m]),
            },
            drain,
            admitted: 0,
            delivered: 0,
            total: m,
            events: 0,
        }
    }

    pub fn delivered(&self) -> usize {
        self.delivered
    }

    pub fn undelivered(&self) -> usize {
        self.total - self.delivered
    }

    /// Credits of `vc` on `dir` in each place they can be:
    /// `(at sender, flits on wire, in receive buffer, returning)`. Counts
    /// what the wires hold rather than trusting counters (used by checks).
    pub fn credit_census(&self, dir: LinkDirId, vc: usize) -> (u32, u32, u32, u32) {
        let d = &self.dirs[dir];
        let tx = &self.endpoints[d.src].tx;
        let on_wire = d.wire.iter().filter(|(_, f)| f.vc as usize == vc).count() as u32;
        let returning = d
            .credit_wire
            .iter()
            .filter(|(_, v)| *v as usize == vc)
            .count() as u32;
        (tx.credits.get(vc), on_wire, d.rx.len(vc) as u32, returning)
    }
}

impl LinkDir {
    /// Cycles the receive buffers spent at each occupancy over a run of
    /// `cycles` cycles.
    pub fn occupancy_histogram(&self, cycles: u64) -> Histogram {
        let mut h = self.stats.occupancy.clone();
        if self.rx.is_unpaced() {
            h.add(0, cycles);
        }
        h
    }

    fn new(src: EndpointId, dst: EndpointId, p: &LinkParams, drain: Option<DrainParams>) -> Self {
        Self {
            src,
            dst,
            wire: DelayLine::default(),
            credit_wire: DelayLine::default(),
            rx: RxPort::new(p.vcs, p.credits_per_vc, drain),
            stats: LinkDirStats {
                flits: 0,
                payload_bytes: 0,
                occupancy: Histogram::covering(p.vcs as u64 * p.credits_per_vc as u64),
                max_occupancy: 0,
            },
        }
    }
}

/// The receiver is done with `flit`: its credit starts back to the sender,
/// and a message's last flit delivers the message.
#[inline(always)]
fn consume(
    flit: Flit,
    c: Cycle,
    credit_arrive: Cycle,
    credit_wire: &mut DelayLine<u8>,
    log: &mut MessageLog,
    delivered: &mut usize,
) -> Result<()> {
    credit_wire.push(credit_arrive, flit.vc);
    if flit.is(Flit::MSG_TAIL) {
        let slot = &mut log.deliver[flit.msg];
        if *slot != NEVER {
            return Err(Error::Invariant {
                cycle: c,
                message: format!("message {} delivered twice", flit.msg.0),
            });
        }
        *slot = c;
        log.order[flit.msg] = *delivered as u64;
        *delivered += 1;
    }
    Ok(())
}

impl Model for Network {
    #[inline]
    fn step(&mut self, c: Cycle) -> Result<Activity> {
        let Network {
            params,
            endpoints,
            dirs,
            log,
            events,
            delivered,
            admitted,
            ..
        } = self;
        let mut act = Activity::default();
        let credit_arrive = c + params.credit_return_cycles;
        // Inputs: arrivals, then the receivers drain.
        for d in dirs.iter_mut() {
            let LinkDir {
                wire,
                credit_wire,
                rx,
                dst,
                ..
            } = d;
            // An unpaced receiver drains everything every cycle, so its buffers
            // are empty when a cycle starts, and at most one flit arrives per
            // cycle: consuming the arrival at once is exactly accept + drain.
            let unpaced = rx.is_unpaced();
            while let Some(flit) = wire.pop_due(c) {
                *events += 1;
                act.progressed = true;
                if unpaced {
                    debug_assert!(rx.is_empty());
                    consume(flit, c, credit_arrive, credit_wire, log, delivered)?;
                    *events += 1;
                } else {
                    rx.accept(flit).map_err(|o| Error::Invariant {
                        cycle: c,
                        message: format!(
                            "endpoint {} received a flit on VC {} whose buffer already held {} flits: sent without a credit",
                            dst.0, o.vc, o.capacity
                        ),
                    })?;
                }
            }
            let tx = &mut endpoints[d.src].tx;
            while let Some(vc) = d.credit_wire.pop_due(c) {
                tx.credits.give(vc as usize);
                *events += 1;
                act.progressed = true;
            }
            if !unpaced {
                let LinkDir {
                    rx, credit_wire, ..
                } = d;
                let mut result = Ok(());
                rx.drain(|flit| {
                    *events += 1;
                    act.progressed = true;
                    if result.is_ok() {
                        result = consume(flit, c, credit_arrive, credit_wire, log, delivered);
                    }
                });
                result?;
                // Sample here: nothing later in the cycle touches receive
                // buffers. Unpaced receivers end every cycle empty: their
                // histogram is derived in `occupancy_histogram` instead.
                let occ = d.rx.occupancy();
                d.stats.occupancy.add(occ as u64, 1);
                d.stats.max_occupancy = d.stats.max_occupancy.max(occ);
                act.busy |= d.rx.will_drain();
            }
        }
        // Outputs: every transmit port admits due messages and sends a flit.
        let arrive = c + 1 + params.latency_cycles;
        for e in endpoints.iter_mut() {
            *admitted += e.tx.admit(c);
            if let Some(sent) = e.tx.send(params) {
                let d = &mut dirs[e.out];
                d.wire.push(arrive, sent.flit);
                d.stats.flits += 1;
                d.stats.payload_bytes += sent.flit.payload_bytes as u64;
                if sent.first_of_message {
                    log.send[sent.flit.msg] = c;
                }
                *events += 1;
                act.progressed = true;
            }
            act.busy |= e.tx.sendable() != 0;
        }
        Ok(act)
    }

    fn account_idle(&mut self, from: Cycle, to: Cycle) {
        let k = to - from;
        for e in self.endpoints.iter_mut() {
            e.tx.account_idle(k);
        }
        for d in self.dirs.iter_mut() {
            d.rx.account_idle(k);
            if !d.rx.is_unpaced() {
                d.stats.occupancy.add(d.rx.occupancy() as u64, k);
            }
        }
    }

    fn next_event(&self) -> Option<Cycle> {
        let wires = self
            .dirs
            .iter()
            .flat_map(|d| [d.wire.next_arrival(), d.credit_wire.next_arrival()]);
        let injections = self.endpoints.iter().map(|e| e.tx.next_injection());
        wires.chain(injections).flatten().min()
    }

    fn done(&self) -> bool {
        self.delivered == self.total
    }

    fn work_in_system(&self) -> bool {
        self.admitted > self.delivered
    }

    fn min_watchdog_cycles(&self) -> u64 {
        // A credit round trip, and the longest gap a paced receiver may take
        // between two drains, are legal stretches without progress.
        let drain_gap = self
            .drain
            .and_then(|d| d.cost.checked_div(d.add))
            .map_or(0, |g| g as u64 + 1);
        2 * self.params.credit_round_trip_cycles() + drain_gap
    }

    fn check_invariants(&self, c: Cycle) -> Result<()> {
        let initial = self.params.credits_per_vc;
        for (id, d) in self.dirs.iter_enumerated() {
            for vc in 0..self.params.vcs as usize {
                let (a, w, b, r) = self.credit_census(id, vc);
                if a + w + b + r != initial {
                    return Err(Error::Invariant {
                        cycle: c,
                        message: format!(
                            "credits not conserved on link {}->{} VC {vc}: {a} at sender + {w} flits on wire + {b} buffered + {r} returning != {initial}",
                            d.src.0, d.dst.0
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    fn waiting(&self) -> Vec<WaitingChannel> {
        let mut out = Vec::new();
        for (e, ep) in self.endpoints.iter_enumerated() {
            let d = &self.dirs[ep.out];
            for (vc, queued) in ep.tx.credit_starved_vcs() {
                let held = d.rx.len(vc);
                let drains = if d.rx.drains_at_all() {
                    "drains"
                } else {
                    "never drains (drain_gbps = 0)"
                };
                out.push(WaitingChannel {
                    node: e.0,
                    port: 0,
                    vc: vc as u32,
                    reason: format!(
                        "{queued} message(s) wait for a credit; receiver endpoint {} holds {held}/{} flits of this VC and {drains}",
                        d.dst.0, self.params.credits_per_vc
                    ),
                });
            }
        }
        out
    }
}
