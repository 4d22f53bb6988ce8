//! A network of endpoints joined directly by links (the point-to-point
//! fabric); routers join it in a later stage.
//!
//! ```text
//!  endpoint a                  link direction a->b                endpoint b
//!  +---------+   flits   +--------------------------+   +------------------+
//!  | TxPort  |---------->| wire (1 + latency cycles)|-->| RxPort: VC bufs  |
//!  | credits |<----------| credits, ACK/NAK (return)|<--| drain -> deliver |
//!  +---------+           +--------------------------+   +------------------+
//! ```
//!
//! Per cycle `c`, every link direction first takes in what arrives at `c`
//! (flits at the receiver, ACK/NAKs and credits at the sender) and drains its
//! receiver; then every sender sends at most one flit (a replay first).
//! Wires have a latency of at least one cycle, so visiting order never
//! matters. The link layer of one direction is in [`link_dir`].

pub mod link_dir;

use crate::endpoint::TxPort;
use crate::engine::{Activity, Model};
use crate::error::{Error, Result, WaitingChannel};
use crate::ids::{EndpointId, IdVec, LinkDirId, MsgId};
use crate::spec::endpoint::DrainParams;
use crate::spec::faults::{Fault, LinkFaults};
use crate::spec::{FabricSpec, LinkParams};
use crate::time::Cycle;
use crate::traffic::MessageTraffic;
pub use link_dir::{LinkDir, LinkDirStats, LinkState, Tally};

/// Marks a cycle that never came (message not sent / not delivered).
pub const NEVER: Cycle = Cycle::MAX;

/// An endpoint's network interface. With no routers, its single transmit
/// port drives link direction `out`.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub out: LinkDirId,
    pub tx: TxPort,
}

/// Per-message timestamps (cycles) and flags, indexed by message.
#[derive(Clone, Debug)]
pub struct MessageLog {
    pub send: IdVec<MsgId, Cycle>,
    pub deliver: IdVec<MsgId, Cycle>,
    /// Rank of each message in the order of delivery (ties in time broken
    /// by the order the receiver drained them); `NEVER` if not delivered.
    pub order: IdVec<MsgId, u64>,
    /// A flit of the message was passed up with errors the CRC missed.
    pub corrupt: IdVec<MsgId, bool>,
}

pub struct Network {
    pub params: LinkParams,
    pub endpoints: IdVec<EndpointId, Endpoint>,
    pub dirs: IdVec<LinkDirId, LinkDir>,
    pub tally: Tally,
    drain: Option<DrainParams>,
    admitted: usize,
    total: usize,
}

impl Network {
    /// Builds the network of `spec` loaded with `traffic` and the scripted
    /// `faults` (all validated); random streams derive from `seed`.
    pub fn new(
        spec: &FabricSpec,
        params: LinkParams,
        traffic: &MessageTraffic,
        seed: u64,
        faults: &[Fault],
    ) -> Self {
        let n = spec.topology.num_endpoints();
        let drain = spec.endpoint.drain_params(params.clock, params.flit_bytes);
        let mut dirs: IdVec<LinkDirId, LinkDir> = IdVec::new();
        let mut out_of: Vec<Option<LinkDirId>> = vec![None; n];
        for (a, b) in spec.topology.links() {
            for (s, d) in [(a, b), (b, a)] {
                let index = dirs.len() as u32;
                let link_faults = LinkFaults::for_link(faults, index, params.clock);
                let dir = LinkDir::new(
                    index,
                    EndpointId(s),
                    EndpointId(d),
                    &params,
                    drain,
                    seed,
                    link_faults,
                );
                out_of[s as usize] = Some(dirs.push(dir));
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
            tally: Tally {
                log: MessageLog {
                    send: IdVec::from_vec(vec![NEVER; m]),
                    deliver: IdVec::from_vec(vec![NEVER; m]),
                    order: IdVec::from_vec(vec![NEVER; m]),
                    corrupt: IdVec::from_vec(vec![false; m]),
                },
                delivered: 0,
                events: 0,
            },
            drain,
            admitted: 0,
            total: m,
        }
    }

    pub fn delivered(&self) -> usize {
        self.tally.delivered
    }

    pub fn undelivered(&self) -> usize {
        self.total - self.tally.delivered
    }

    /// Offers a new message at cycle `at` (validated by the caller); returns its id.
    pub fn inject(&mut self, src: u32, bytes: u64, vc: u8, at: Cycle) -> MsgId {
        let id = MsgId(self.total as u32);
        self.total += 1;
        let log = &mut self.tally.log;
        log.send.push(NEVER);
        log.deliver.push(NEVER);
        log.order.push(NEVER);
        log.corrupt.push(false);
        self.endpoints[EndpointId(src)].tx.offer(at, id, bytes, vc);
        id
    }

    /// Adds a scripted fault mid-run (validated by the caller).
    pub fn inject_fault(&mut self, fault: &Fault) {
        self.dirs[LinkDirId(fault.link())].add_fault(fault, &self.params);
    }

    /// Every link direction's state, in `res.links` order.
    pub fn state(&self) -> Vec<LinkState> {
        let vcs = self.params.vcs as usize;
        self.dirs
            .iter()
            .map(|d| d.state(&self.endpoints[d.src].tx, vcs))
            .collect()
    }
}

impl Model for Network {
    #[inline]
    fn step(&mut self, c: Cycle) -> Result<Activity> {
        let Network {
            params,
            endpoints,
            dirs,
            tally,
            admitted,
            ..
        } = self;
        let mut act = Activity::default();
        // Directions where nothing can happen this cycle are skipped (cheap
        // exact checks; see `inputs_idle`, `output_idle`).
        for d in dirs.iter_mut() {
            if !d.inputs_idle(c) {
                d.inputs(c, params, tally, &mut act)?;
            }
        }
        for e in endpoints.iter_mut() {
            *admitted += e.tx.admit(c);
            let d = &mut dirs[e.out];
            if !d.output_idle(c, &e.tx) {
                d.output(c, params, &mut e.tx, tally, &mut act);
            }
        }
        Ok(act)
    }

    fn account_idle(&mut self, from: Cycle, to: Cycle) {
        for e in self.endpoints.iter_mut() {
            self.dirs[e.out].account_idle(&mut e.tx, to - from);
        }
    }

    fn next_event(&self) -> Option<Cycle> {
        let dirs = self.dirs.iter().map(LinkDir::next_event);
        let injections = self.endpoints.iter().map(|e| e.tx.next_injection());
        dirs.chain(injections).flatten().min()
    }

    fn done(&self) -> bool {
        self.tally.delivered == self.total
    }

    fn work_in_system(&self) -> bool {
        self.admitted > self.tally.delivered
    }

    fn min_watchdog_cycles(&self) -> u64 {
        // A credit round trip, a replay timeout, and the longest gap a paced
        // receiver may take between two drains are legal stretches without
        // progress.
        let drain_gap = self
            .drain
            .and_then(|d| d.cost.checked_div(d.add))
            .map_or(0, |g| g as u64 + 1);
        let r = &self.params.reliability;
        2 * (self.params.credit_round_trip_cycles() + r.replay_timeout_cycles) + drain_gap
    }

    fn check_invariants(&self, c: Cycle) -> Result<()> {
        let initial = self.params.credits_per_vc;
        for d in self.dirs.iter() {
            for vc in 0..self.params.vcs as usize {
                let (a, w, b, r) = d.credit_census(vc);
                if a + w + b + r != initial {
                    return Err(Error::Invariant {
                        cycle: c,
                        message: format!(
                            "credits not conserved on link {}->{} VC {vc}: {a} at sender + {w} spent on flits not yet accepted + {b} buffered + {r} returning or held != {initial}",
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
            for (vc, queued) in ep.tx.credit_starved_vcs(&d.credits) {
                let held = d.rx.len(vc);
                let drains = if d.rx.drains_at_all() {
                    "drains"
                } else {
                    "never drains (drain_gbps = 0)"
                };
                let lost = d.stats.credits_dropped;
                let lost = if lost > 0 {
                    format!("; {lost} credit(s) of this link were lost on the way back")
                } else {
                    String::new()
                };
                out.push(WaitingChannel {
                    node: e.0,
                    port: 0,
                    vc: vc as u32,
                    reason: format!(
                        "{queued} message(s) wait for a credit; receiver endpoint {} holds {held}/{} flits of this VC and {drains}{lost}",
                        d.dst.0, self.params.credits_per_vc
                    ),
                });
            }
        }
        out
    }
}
