//! A network of endpoints joined by links, directly (the point-to-point
//! fabric) or through routers.
//!
//! ```text
//!  endpoint a                  link direction a->b                endpoint b
//!  +---------+   flits   +--------------------------+   +------------------+
//!  | TxPort  |---------->| wire (1 + latency cycles)|-->| RxPort: VC bufs  |
//!  | credits |<----------| credits, ACK/NAK (return)|<--| drain -> deliver |
//!  +---------+           +--------------------------+   +------------------+
//! ```
//!
//! Per cycle `c`, the router ports first take what their calendars bring
//! at `c` over plain links between routers ([`calendar`]); every other link
//! direction takes in what arrives at `c` (flits at the receiver, ACK/NAKs
//! and credits at the sender) and drains its receiver; then the routers
//! step; then every sender sends at most one flit (a replay first). Wires
//! have a latency of at least one cycle, so visiting order never matters.
//! The link layer of one direction is in [`link_dir`].

pub mod calendar;
pub mod link_dir;
pub mod occupancy;
pub mod port_set;
pub mod ports;
pub mod router;
pub mod router_ports;
pub mod schedule;

use crate::endpoint::tx::{Offer, Unstarted};
use crate::endpoint::TxPort;
use crate::engine::{Activity, Model};
use crate::error::{Error, Result, WaitingChannel};
use crate::ids::{EndpointId, IdVec, LinkDirId, MsgId};
use crate::link::Flit;
use crate::link_samples::{LinkSampler, SampledLinks};
use crate::link_spans::LinkSpanLog;
use crate::routing::Routing;
use crate::spec::endpoint::DrainParams;
use crate::spec::faults::{Fault, LinkFaults};
use crate::spec::{FabricSpec, LinkParams, NetworkLinks};
use crate::time::Cycle;
use crate::topology::{Graph, Peer};
use crate::traffic::MessageTraffic;
pub use link_dir::{LinkDir, LinkDirStats, LinkState, Node, Pace, Source, Tally};
use ports::EndpointPorts;
use router::{with_routers, Outbox, RouterCtx, Routers, Wait, Wiring};
use router_ports::RouterPorts;
use schedule::Schedule;

/// In [`MessageLog::in_flight`]: the message's last flit was taken.
pub const LAST_FLIT_IN: u32 = 1 << 31;

/// Marks a cycle that never came (message not sent / not delivered).
pub const NEVER: Cycle = Cycle::MAX;

/// Routers are limited to this many ports (allocators use 128-bit port masks).
pub const MAX_ROUTER_PORTS: usize = 128;

/// One port of an endpoint's network interface: its transmit port drives
/// link direction `out` (to the other endpoint, or to a router). An
/// endpoint has one per plane it is attached to.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub endpoint: EndpointId,
    /// Which of the endpoint's ports (its plane).
    pub plane: u32,
    pub out: LinkDirId,
    pub tx: TxPort,
    /// `out` has retry (timers and replays that run without new flits);
    /// without, an idle port's link direction is not visited at all.
    retry: bool,
}

/// Per-message timestamps (cycles) and flags, indexed by message.
#[derive(Clone, Debug)]
pub struct MessageLog {
    /// Destination endpoint of each message (what routers route on, and
    /// what every delivery is checked against).
    pub dst: IdVec<MsgId, u32>,
    /// The cycle each message is offered at its source (its age for
    /// oldest-first allocation).
    pub offer: IdVec<MsgId, Cycle>,
    pub send: IdVec<MsgId, Cycle>,
    pub deliver: IdVec<MsgId, Cycle>,
    /// Rank of each message in the order of delivery (ties in time broken
    /// by the order the receiver drained them); `NEVER` if not delivered.
    pub order: IdVec<MsgId, u64>,
    /// A flit of the message was passed up with errors the CRC missed.
    pub corrupt: IdVec<MsgId, bool>,
    /// Flits of the message its source sent (new ones, not replays) that
    /// have been neither taken at its destination nor lost for good, and
    /// [`LAST_FLIT_IN`] once its last flit was taken: a message is
    /// delivered when that is all (its packets may overtake each other on
    /// different VCs: its last flit is not always its last to arrive).
    pub in_flight: IdVec<MsgId, u32>,
}

/// Routers, the graph they form and how they route.
pub struct Routed {
    pub graph: Graph,
    pub routing: Routing,
    pub routers: Routers,
    /// The flits routers forward this cycle.
    outbox: Outbox,
    /// Router-sent link directions with retry or pacing: they need their
    /// cycle (timers, replays) even when given no flit. The others are
    /// visited only when given one.
    timed_outputs: Vec<LinkDirId>,
}

pub struct Network {
    pub params: LinkParams,
    /// Endpoint ports (network interfaces), endpoint by endpoint.
    pub endpoints: Vec<Endpoint>,
    /// Per endpoint port: the first cycle it may have something to do (a
    /// message to admit, a flit queued, a retry timer); the sweep skips a
    /// port before it without reading it (its struct is a cache miss, and
    /// most ports are idle in most cycles).
    port_due: Vec<Cycle>,
    /// The messages given before the run (see [`Schedule`]).
    schedule: Schedule,
    /// Which port of its endpoint each message leaves on.
    ports: EndpointPorts,
    /// Per link direction sent by an endpoint port: that port's index.
    port_of_dir: IdVec<LinkDirId, u32>,
    pub dirs: IdVec<LinkDirId, LinkDir>,
    /// Per link direction: no earlier than [`LinkDir::wakes_at`]'s first
    /// cycle with something to do: exact after its inputs, lowered to the
    /// arrival of what is sent on it since (the per-cycle sweep reads only
    /// this for idle directions).
    wake: IdVec<LinkDirId, Cycle>,
    /// The directions the sweep visits, in order: all but the plain links
    /// between routers, whose flits and credits the router ports carry.
    swept: Vec<LinkDirId>,
    /// Every router port's input buffers and output credits (empty without routers).
    pub router_ports: RouterPorts,
    pub tally: Tally,
    pub routed: Option<Routed>,
    /// Each message's route choice (randomized and adaptive routing).
    msg_choice: IdVec<MsgId, u32>,
    drain: Option<DrainParams>,
    admitted: usize,
    total: usize,
    /// Routers switch by virtual cut-through (checked as an invariant).
    cut_through: bool,
    /// Link counters read during the run (`RunOptions::link_samples`).
    pub link_sampler: Option<LinkSampler>,
}

/// Virtual cut-through's promise on every receive buffer (routers' inputs
/// and endpoints'): every packet whose head entered it fits in it whole,
/// next to what is left of the packet at the front (a head only starts
/// toward a buffer with room for its packet, at sources and at routers).
fn cut_through_holds(d: &LinkDir, vc: usize, c: Cycle, rp: &RouterPorts) -> Result<()> {
    // Packets whose head is here count whole; the flits ahead of the first
    // head belong to a packet whose head has left, and count as they are.
    let mut need = 0u64;
    let mut before_head = true;
    let (front, wrapped) = d.buffered(vc, rp);
    let capacity = d.buffer_capacity(rp);
    for f in front.iter().chain(wrapped) {
        if f.is(Flit::HEAD) {
            before_head = false;
            need += f.packet_flits as u64;
        } else if before_head {
            need += 1;
        }
    }
    if need > capacity as u64 {
        return Err(Error::Invariant {
            cycle: c,
            message: format!(
                "virtual cut-through: VC {vc} of link {:?}->{:?} holds packets needing {need} flits of buffer, more than its {}",
                d.src,
                d.dst,
                capacity
            ),
        });
    }
    Ok(())
}

/// A flit arrived at router port `input` (of the [`RouterPorts`]) on a VC
/// it could not buffer (full, or no buffer for that VC).
fn overflow(c: Cycle, input: u32, o: router_ports::Overflow) -> Error {
    Error::Invariant {
        cycle: c,
        message: router_ports::overflow_message(format!("router port {input}"), o.vc, o.capacity),
    }
}

/// The link directions with something for the per-cycle sweep to do: all
/// but those whose flits and credits both go through the router ports.
fn swept(dirs: &IdVec<LinkDirId, LinkDir>) -> Vec<LinkDirId> {
    let carried = |d: &LinkDir| d.plain_downstream().is_some() && d.plain_return().is_some();
    dirs.ids().filter(|&d| !carried(&dirs[d])).collect()
}

/// Tells the router ports whether they carry link direction `d`'s flits
/// and credits themselves (a plain link between routers: see `calendar.rs`)
/// or leave them to it.
fn through_ports(d: &mut LinkDir, rp: &mut RouterPorts) {
    match (d.plain_return(), d.router_input()) {
        (Some((input, output, cycles)), _) => rp.set_upstream(input, output, cycles),
        (None, Some(input)) => rp.set_upstream(input, router_ports::NO_PORT, 0),
        (None, None) => {}
    }
    match d.plain_downstream() {
        Some((output, input, delay)) => rp.set_downstream(output, input, delay),
        None => {
            d.take_port_counts(rp);
            if let Some(output) = d.router_output() {
                rp.set_downstream(output, router_ports::NO_PORT, 0);
            }
        }
    }
}

/// The port of `src` a new message to `dst` leaves on.
fn pick_port(ports: &mut EndpointPorts, routed: Option<&Routed>, src: u32, dst: u32) -> u32 {
    ports.pick(src, |r| {
        routed.is_none_or(|rt| rt.routing.enters_at(&rt.graph, src, r, dst))
    })
}

/// Which directions run the fabric's second kind of link (`network_link`):
/// on a cluster, every direction touching its scale-out routers; elsewhere
/// the directions between routers; `None` without a second kind.
pub fn network_links(spec: &FabricSpec) -> Option<NetworkLinks> {
    spec.network_link
        .as_ref()
        .and(spec.topology.network_links())
}

/// A direction with these ends runs the second kind of link.
pub fn is_network_dir(kinds: Option<NetworkLinks>, (a, b): (Node, Node)) -> bool {
    match kinds {
        Some(NetworkLinks::ScaleOutFrom(first)) => {
            matches!(a, Node::Router(r, _) if r >= first)
                || matches!(b, Node::Router(r, _) if r >= first)
        }
        Some(NetworkLinks::BetweenRouters) => {
            matches!((a, b), (Node::Router(..), Node::Router(..)))
        }
        None => false,
    }
}

/// The fabric's link directions, as every model numbers them (the rows of
/// a result's `links`, what a fault's `link` names): without routers, both
/// directions of each link in turn; with, per endpoint port its injection
/// then its ejection direction, then every channel between routers, router
/// by router and port by port.
pub fn link_layout(
    topology: &crate::spec::TopologySpec,
    graph: Option<&Graph>,
) -> Vec<(Node, Node)> {
    let Some(g) = graph else {
        return topology
            .links()
            .into_iter()
            .flat_map(|(a, b)| {
                let (ea, eb) = (Node::Endpoint(EndpointId(a)), Node::Endpoint(EndpointId(b)));
                [(ea, eb), (eb, ea)]
            })
            .collect();
    };
    let mut out = Vec::new();
    for (e, r, p) in g.all_attachments() {
        let (end, port) = (Node::Endpoint(EndpointId(e as u32)), Node::Router(r, p));
        out.push((end, port));
        out.push((port, end));
    }
    for (r, router) in g.routers.iter().enumerate() {
        for (p, peer) in router.ports.iter().enumerate() {
            if let Peer::Router(r2, p2) = *peer {
                out.push((Node::Router(r as u32, p as u32), Node::Router(r2, p2)));
            }
        }
    }
    out
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
    ) -> Result<Self> {
        for (i, f) in faults.iter().enumerate() {
            f.require_cycle_model(i)?;
        }
        let n = spec.topology.num_endpoints();
        let drain = spec.endpoint.drain_params(params.clock, params.flit_bytes);
        let pipeline = spec.router.timing().output_delay;
        let (_, net_params, net_pace) = spec.link_kinds()?;
        let scale_out = network_links(spec);
        let mut dirs: IdVec<LinkDirId, LinkDir> = IdVec::new();
        let add = |dirs: &mut IdVec<LinkDirId, LinkDir>, ends: (Node, Node)| {
            let index = dirs.len() as u32;
            let faults = LinkFaults::for_link(faults, index, params.clock);
            let delay = if matches!(ends.0, Node::Router(..)) {
                pipeline
            } else {
                0
            };
            let (p, pace) = if is_network_dir(scale_out, ends) {
                (&net_params, net_pace)
            } else {
                (&params, Pace::new(1, 1))
            };
            // A router input's buffers: `router.buffer_flits` when given.
            let into_router;
            let p = match (ends.1, spec.router.buffer_flits) {
                (Node::Router(..), Some(flits)) => {
                    into_router = LinkParams {
                        credits_per_vc: flits,
                        ..p.clone()
                    };
                    &into_router
                }
                _ => p,
            };
            dirs.push(LinkDir::new(
                index, ends, p, drain, seed, faults, delay, pace,
            ))
        };
        // Per endpoint, the link directions its ports send on (one per plane).
        let mut out_of: Vec<Vec<LinkDirId>> = vec![Vec::new(); n];
        let graph = crate::build::graph(&spec.topology);
        if let Some(r) = graph.as_ref().and_then(|g| {
            g.routers
                .iter()
                .position(|x| x.ports.len() > MAX_ROUTER_PORTS)
        }) {
            return Err(Error::spec(
                "topology",
                format!(
                    "router {r} has {} ports; the router model supports up to {MAX_ROUTER_PORTS}",
                    graph.as_ref().expect("a graph").routers[r].ports.len()
                ),
            ));
        }
        // Per router: the link direction arriving at / leaving each port.
        let mut wiring: Vec<Wiring> = graph.as_ref().map_or(Vec::new(), |g| {
            g.routers
                .iter()
                .map(|x| Wiring {
                    inputs: vec![None; x.ports.len()],
                    outputs: vec![None; x.ports.len()],
                })
                .collect()
        });
        for ends in link_layout(&spec.topology, graph.as_ref()) {
            let d = add(&mut dirs, ends);
            match ends {
                (Node::Endpoint(e), Node::Router(r, p)) => {
                    out_of[e.index()].push(d);
                    wiring[r as usize].inputs[p as usize] = Some(d);
                }
                (Node::Endpoint(e), Node::Endpoint(_)) => out_of[e.index()].push(d),
                (Node::Router(r, p), Node::Endpoint(_)) => {
                    wiring[r as usize].outputs[p as usize] = Some(d);
                }
                (Node::Router(r, p), Node::Router(r2, p2)) => {
                    wiring[r as usize].outputs[p as usize] = Some(d);
                    wiring[r2 as usize].inputs[p2 as usize] = Some(d);
                }
            }
        }
        let mut routed = graph.map(|graph| {
            let routing =
                crate::build::routing(spec, &graph).expect("a graph has a routing function");
            let timed_outputs = dirs
                .ids()
                .filter(|&d| matches!(dirs[d].src, Node::Router(..)))
                .filter(|&d| !dirs[d].always_accepts())
                .collect();
            let routers = Routers::new(wiring, params.vcs as usize, &spec.router, &routing);
            Routed {
                graph,
                routing,
                routers,
                outbox: Outbox {
                    timed: IdVec::from_vec(vec![None; dirs.len()]),
                    plain: Vec::new(),
                },
                timed_outputs,
            }
        });
        // Router ports' buffers and credits in one dense store, router by router.
        let (mut capacity, mut credits, mut first) = (Vec::new(), Vec::new(), Vec::new());
        if let Some(rt) = &mut routed {
            with_routers!(&mut rt.routers, rs => for r in rs.iter_mut() {
                r.first_port = capacity.len() as u32;
                first.push(r.first_port);
                for p in 0..r.inputs.len() {
                    let at = r.first_port + p as u32;
                    capacity.push(r.inputs[p].map_or(0, |d| {
                        dirs[d].feed_router_input(at);
                        dirs[d].timing.credits_per_vc
                    }));
                    credits.push(r.outputs[p].map_or(0, |d| {
                        dirs[d].leave_router_output(at);
                        dirs[d].timing.credits_per_vc
                    }));
                }
                r.note_outputs(&dirs);
            });
        }
        let longest = |f: fn(&LinkDir) -> u64| dirs.iter().map(f).max().unwrap_or(0);
        let mut rp = RouterPorts::new(
            params.vcs as usize,
            &capacity,
            &credits,
            [
                longest(LinkDir::wire_delay),
                longest(|d| d.timing.credit_return_cycles),
            ],
        );
        first.push(capacity.len() as u32);
        rp.set_routers(&first);
        for d in dirs.iter_mut() {
            through_ports(d, &mut rp);
        }
        // An endpoint's messages go round its ports (planes) in the order given.
        let port_routers: Vec<Vec<u32>> = out_of
            .iter()
            .map(|o| {
                o.iter()
                    .map(|&d| match dirs[d].dst {
                        Node::Router(r, _) => r,
                        Node::Endpoint(_) => u32::MAX,
                    })
                    .collect()
            })
            .collect();
        let uniform = routed
            .as_ref()
            .is_none_or(|rt: &Routed| !rt.routing.restricts_ports());
        let mut ports = EndpointPorts::new(&port_routers, uniform);
        let mut schedule = Vec::with_capacity(traffic.len());
        for i in 0..traffic.len() {
            let at = params.clock.cycle_at_or_after(traffic.inject_ps[i]);
            let (src, dst) = (traffic.src[i], traffic.dst[i]);
            let port = pick_port(&mut ports, routed.as_ref(), src, dst);
            schedule.push((
                port,
                Offer {
                    at,
                    msg: MsgId(i as u32),
                    bytes: traffic.bytes[i],
                    vc: traffic.vc[i] as u8,
                    dst,
                },
            ));
        }
        let cut_through = spec.router.switching == crate::spec::Switching::VirtualCutThrough;
        let mut port_of_dir = IdVec::from_vec(vec![u32::MAX; dirs.len()]);
        let mut endpoints = Vec::with_capacity(ports.total());
        for (e, outs) in out_of.iter().enumerate() {
            assert!(!outs.is_empty(), "every endpoint has a link");
            for (plane, &out) in outs.iter().enumerate() {
                port_of_dir[out] = endpoints.len() as u32;
                endpoints.push(Endpoint {
                    endpoint: EndpointId(e as u32),
                    plane: plane as u32,
                    out,
                    retry: dirs[out].sender.is_some(),
                    tx: TxPort::new(&params, cut_through),
                });
            }
        }
        let m = traffic.len();
        let port_due = vec![0; endpoints.len()];
        let wake = IdVec::from_vec(dirs.iter().map(LinkDir::wakes_at).collect());
        let swept = swept(&dirs);
        let offer = traffic
            .inject_ps
            .iter()
            .map(|&t| params.clock.cycle_at_or_after(t))
            .collect();
        Ok(Self {
            params,
            endpoints,
            port_due,
            schedule: Schedule::new(schedule),
            ports,
            port_of_dir,
            dirs,
            wake,
            swept,
            router_ports: rp,
            tally: Tally {
                log: MessageLog {
                    dst: IdVec::from_vec(traffic.dst.clone()),
                    offer: IdVec::from_vec(offer),
                    send: IdVec::from_vec(vec![NEVER; m]),
                    deliver: IdVec::from_vec(vec![NEVER; m]),
                    order: IdVec::from_vec(vec![NEVER; m]),
                    corrupt: IdVec::from_vec(vec![false; m]),
                    in_flight: IdVec::from_vec(vec![0; m]),
                },
                delivered: 0,
                events: 0,
                fresh: None,
                sent: None,
                spans: None,
            },
            routed,
            msg_choice: IdVec::from_vec(vec![router::NO_CHOICE; m]),
            drain,
            admitted: 0,
            total: m,
            cut_through,
            link_sampler: None,
        })
    }

    pub fn delivered(&self) -> usize {
        self.tally.delivered
    }

    pub fn undelivered(&self) -> usize {
        self.total - self.tally.delivered
    }

    /// How many link directions the fabric of `spec` has (the rows of
    /// `res.links`): two per direct link; with routers, injection and
    /// ejection per endpoint, then one per router port wired to a router.
    pub fn count_link_directions(spec: &FabricSpec) -> usize {
        match crate::build::graph(&spec.topology) {
            None => 2 * spec.topology.links().len(),
            Some(g) => 2 * g.all_attachments().count() + g.router_channels().count(),
        }
    }

    pub fn num_endpoints(&self) -> usize {
        self.ports.num_endpoints()
    }

    /// The endpoint port sending on link direction `d`, if an endpoint's.
    pub fn tx_of(&self, d: LinkDirId) -> Option<&TxPort> {
        let i = self.port_of_dir[d];
        (i != u32::MAX).then(|| &self.endpoints[i as usize].tx)
    }

    /// Offers a new message at cycle `at` (validated by the caller); returns its id.
    pub fn inject(&mut self, src: u32, dst: u32, bytes: u64, vc: u8, at: Cycle) -> MsgId {
        let id = MsgId(self.total as u32);
        self.total += 1;
        let log = &mut self.tally.log;
        log.offer.push(at);
        log.send.push(NEVER);
        log.deliver.push(NEVER);
        log.order.push(NEVER);
        log.corrupt.push(false);
        log.in_flight.push(0);
        log.dst.push(dst);
        self.msg_choice.push(router::NO_CHOICE);
        let port = pick_port(&mut self.ports, self.routed.as_ref(), src, dst);
        self.endpoints[port as usize].tx.offer(Offer {
            at,
            msg: id,
            bytes,
            vc,
            dst,
        });
        self.port_due[port as usize] = self.port_due[port as usize].min(at);
        id
    }

    /// Makes endpoint `e`'s receivers hold arriving flits until taken with
    /// [`Network::take`] (a memory device taking requests as it has room).
    pub fn hold_inputs_of(&mut self, e: u32) {
        let params = self.params.clone();
        for d in self.dirs.iter_mut() {
            if d.dst == Node::Endpoint(EndpointId(e)) {
                d.hold(&params);
            }
        }
        self.rewake_all();
    }

    /// Link directions arriving at endpoint `e`.
    pub fn inputs_of(&self, e: u32) -> Vec<LinkDirId> {
        self.dirs
            .ids()
            .filter(|&d| self.dirs[d].dst == Node::Endpoint(EndpointId(e)))
            .collect()
    }

    /// Takes the head flit of `vc` from held link direction `d` at cycle `c`
    /// (its credit heads back; a message's last flit delivers it).
    pub fn take(&mut self, d: LinkDirId, vc: usize, c: Cycle) -> Result<Flit> {
        let flit = self.dirs[d].take_held(vc, c, &mut self.tally, &mut self.router_ports)?;
        self.wake[d] = self.dirs[d].wakes_at();
        Ok(flit)
    }

    /// Recomputes every direction's wake cycle (after a change outside the cycle loop).
    fn rewake_all(&mut self) {
        for (w, d) in self.wake.iter_mut().zip(self.dirs.iter()) {
            *w = d.wakes_at();
        }
    }

    /// Splits every router's VCs into `k` message-class shares.
    pub fn set_message_classes(&mut self, k: usize) {
        if let Some(rt) = &mut self.routed {
            rt.routers.set_message_classes(k, &rt.routing);
        }
    }

    /// A message endpoint `src` offered on `vc` for `dst` that has not sent a
    /// flit yet, among the last `depth` unstarted ones of each of its ports
    /// (the newest first), and for which `wanted` holds: `(port, message)`.
    /// (Among messages offered with [`Network::inject`]: its users, the
    /// memory fabric, give no traffic before the run.)
    pub fn unstarted_to(
        &self,
        src: u32,
        dst: u32,
        vc: u8,
        depth: usize,
        wanted: impl Fn(MsgId) -> bool,
    ) -> Option<(u32, Unstarted)> {
        debug_assert!(self.schedule.is_empty(), "no traffic given before the run");
        self.ports.of(src).find_map(|p| {
            self.endpoints[p as usize]
                .tx
                .find_unstarted(vc, depth, |m| self.tally.log.dst[m] == dst && wanted(m))
                .map(|u| (p, u))
        })
    }

    /// Grows an unstarted message found with [`Network::unstarted_to`].
    pub fn grow(&mut self, port: u32, vc: u8, u: Unstarted) {
        self.endpoints[port as usize]
            .tx
            .grow(vc, u.msg, u.bytes, u.extra);
    }

    /// Adds a scripted fault mid-run (validated by the caller).
    pub fn inject_fault(&mut self, fault: &Fault) {
        let d = LinkDirId(fault.link());
        self.dirs[d].add_fault(fault, &self.params);
        self.wake[d] = self.dirs[d].wakes_at();
        // (a fault plan may drop credits and corrupt flits: the link
        // direction carries them from now)
        through_ports(&mut self.dirs[d], &mut self.router_ports);
        self.swept = swept(&self.dirs);
    }

    /// Follows what blocked router input VCs wait for (a credit of the
    /// downstream input VC their output feeds, or an output VC another worm
    /// holds) until a channel repeats: the deadlock's cycle, or empty.
    fn wait_cycle(&self, rt: &Routed, blocked: &[WaitingChannel]) -> Vec<WaitingChannel> {
        let n = self.num_endpoints() as u32;
        let next = |w: &WaitingChannel| -> Option<(u32, u32, u32)> {
            let r = w.node - n;
            match rt.routers.waits_for(r, w.port, w.vc)? {
                Wait::Credit { dir, vc } => match self.dirs[dir].dst {
                    Node::Router(r2, p2) => Some((n + r2, p2, vc)),
                    Node::Endpoint(_) => None,
                },
                Wait::Vc { port, vc } => Some((w.node, port, vc)),
            }
        };
        let find = |key: (u32, u32, u32)| blocked.iter().find(|w| (w.node, w.port, w.vc) == key);
        for start in blocked {
            let mut path: Vec<&WaitingChannel> = vec![start];
            while let Some(w) = next(path[path.len() - 1]).and_then(find) {
                if let Some(at) = path
                    .iter()
                    .position(|p| (p.node, p.port, p.vc) == (w.node, w.port, w.vc))
                {
                    return path[at..].iter().map(|&w| w.clone()).collect();
                }
                if path.len() > blocked.len() {
                    break;
                }
                path.push(w);
            }
        }
        Vec::new()
    }

    /// The flits link direction `d`'s receiver holds on `vc`, front first, as two runs.
    pub fn buffered<'a>(&'a self, d: &'a LinkDir, vc: usize) -> (&'a [Flit], &'a [Flit]) {
        d.buffered(vc, &self.router_ports)
    }

    /// Every link direction's flits on the wire so far (replays included),
    /// in `res.links` order.
    pub fn link_flits(&self) -> impl Iterator<Item = u64> + '_ {
        self.dirs
            .iter()
            .map(|d| d.transmissions(&self.router_ports))
    }

    /// Every link direction's state, in `res.links` order.
    pub fn state(&self) -> Vec<LinkState> {
        let vcs = self.params.vcs as usize;
        let n = self.num_endpoints();
        self.dirs
            .iter_enumerated()
            .map(|(id, d)| d.state(self.tx_of(id), vcs, n, &self.router_ports))
            .collect()
    }
}

impl SampledLinks for Network {
    fn start_link_samples(&mut self, samples: usize) {
        self.link_sampler = Some(LinkSampler::new(samples, self.dirs.len(), 1));
    }

    fn next_link_sample(&self) -> Cycle {
        self.link_sampler
            .as_ref()
            .map_or(Cycle::MAX, |s| s.next_at())
    }

    fn link_sample(&mut self, at: Cycle) {
        if let Some(mut s) = self.link_sampler.take() {
            s.record(at, self.link_flits());
            self.link_sampler = Some(s);
        }
    }

    fn start_link_spans(&mut self, max: usize) {
        let vcs = self.params.vcs as usize;
        self.tally.spans = Some(Box::new(LinkSpanLog::new(self.dirs.len(), vcs, max)));
        // every flit through its link direction, where it is recorded
        for d in self.dirs.ids() {
            self.dirs[d].trace();
            through_ports(&mut self.dirs[d], &mut self.router_ports);
        }
        self.swept = swept(&self.dirs);
    }
}

impl Model for Network {
    #[inline]
    fn step(&mut self, c: Cycle) -> Result<Activity> {
        let Network {
            params,
            endpoints,
            port_due,
            schedule,
            dirs,
            wake,
            swept,
            router_ports: rp,
            tally,
            admitted,
            routed,
            msg_choice,
            ..
        } = self;
        let mut act = Activity::default();
        // Credits and flits landing at router ports over plain links first
        // (what their directions' input halves would have done).
        match rp.arrive(c) {
            Ok((credits, flits)) => {
                tally.events += (credits + flits) as u64;
                act.progressed |= flits > 0;
            }
            Err((input, o)) => return Err(overflow(c, input, o)),
        }
        // Directions where nothing can happen this cycle are skipped (cheap
        // exact checks; see `wakes_at`, `inputs_idle`, `output_idle`).
        for &i in swept.iter() {
            let w = wake[i];
            if w > c {
                continue; // (an idle direction is not even read)
            }
            let d = &mut dirs[i];
            // (a wake other than 0 is an arrival due now: nothing to ask)
            if w != 0 || !d.inputs_idle(c) {
                d.inputs(c, tally, &mut act, rp)?;
                wake[i] = d.wakes_at();
            }
        }
        if let Some(rt) = routed {
            let ctx = RouterCtx {
                graph: &rt.graph,
                routing: &rt.routing,
                params,
            };
            let outbox = &mut rt.outbox;
            with_routers!(&mut rt.routers, rs => for (r, router) in rs.iter_mut().enumerate() {
                // (an idle router is not even read: its struct is a cache
                // miss, and most routers are idle in most cycles)
                let held = rp.held(r as u32);
                if held != 0 {
                    router.step(c, held, &ctx, dirs, wake, rp, tally, &mut act, outbox, msg_choice)?;
                }
            });
            for (d, flit) in rt.outbox.plain.drain(..) {
                let dir = &mut dirs[d];
                dir.output_given(c, params, flit, tally, &mut act);
                wake[d] = wake[d].min(c + dir.wire_delay());
            }
            for &d in &rt.timed_outputs {
                let given = rt.outbox.timed[d].take();
                if given.is_some() || !dirs[d].output_idle(c, false) {
                    dirs[d].output(c, params, Source::Given(given), tally, &mut act);
                    wake[d] = wake[d].min(c + dirs[d].wire_delay());
                }
            }
        }
        // The messages given before the run whose cycle has come join their
        // ports' queues (as `admit` does with those offered since).
        *admitted += schedule.admit_due(c, |port, o| {
            endpoints[port as usize].tx.enqueue(o);
            port_due[port as usize] = c;
        });
        for (e, due) in endpoints.iter_mut().zip(port_due.iter_mut()) {
            if *due > c {
                continue;
            }
            *admitted += e.tx.admit(c);
            let queued = e.tx.has_queued();
            if queued || e.retry {
                // (else what `output_idle` would say, without its cache miss)
                let d = &mut dirs[e.out];
                if !d.output_idle(c, queued) {
                    d.output(c, params, Source::Port(&mut e.tx), tally, &mut act);
                    if !e.retry {
                        // (with retry it stays 0)
                        wake[e.out] = wake[e.out].min(c + d.wire_delay());
                    }
                }
            }
            // Queued flits and retry timers need every cycle; an idle port
            // only its next admission (or an `inject`).
            *due = if e.tx.has_queued() || e.retry {
                c + 1
            } else {
                e.tx.next_injection().unwrap_or(Cycle::MAX)
            };
        }
        Ok(act)
    }

    fn account_idle(&mut self, from: Cycle, to: Cycle) {
        let Network {
            endpoints,
            dirs,
            port_of_dir,
            ..
        } = self;
        for (i, d) in dirs.iter_mut().enumerate() {
            let port = port_of_dir.as_slice()[i];
            let tx = (port != u32::MAX).then(|| &mut endpoints[port as usize].tx);
            d.account_idle(tx, to - from);
        }
    }

    fn next_event(&self) -> Option<Cycle> {
        // (plain loops: the tick-all engine asks this every idle cycle, and
        // a chain of iterators over both vectors cost it a fifth more)
        let mut next: Option<Cycle> = None;
        let mut at = |t: Option<Cycle>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        at(self.schedule.next_at());
        at(self.router_ports.next_arrival());
        for d in self.dirs.iter() {
            at(d.next_event());
        }
        for e in &self.endpoints {
            at(e.tx.next_injection());
        }
        next
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
        // the slowest kind of link's round trip (a paced link's flits are
        // spaced further apart, its credits come back as late)
        let slowest = self
            .dirs
            .iter()
            .map(|d| {
                let t = &d.timing;
                (1 + t.latency_cycles + t.credit_return_cycles) * t.pace.den.div_ceil(t.pace.num)
            })
            .max()
            .unwrap_or(0)
            .max(self.params.credit_round_trip_cycles());
        2 * (slowest + r.replay_timeout_cycles) + drain_gap
    }

    fn check_invariants(&self, c: Cycle) -> Result<()> {
        for d in self.dirs.iter() {
            let initial = d.timing.credits_per_vc;
            for vc in 0..self.params.vcs as usize {
                let (a, w, b, r) = d.credit_census(vc, &self.router_ports);
                if a + w + b + r != initial {
                    return Err(Error::Invariant {
                        cycle: c,
                        message: format!(
                            "credits not conserved on link {:?}->{:?} VC {vc}: {a} at sender + {w} spent on flits not yet accepted + {b} buffered + {r} returning or held != {initial}",
                            d.src, d.dst
                        ),
                    });
                }
                if self.cut_through {
                    cut_through_holds(d, vc, c, &self.router_ports)?;
                }
            }
        }
        Ok(())
    }

    fn progress(&self) -> (u64, u64) {
        (self.tally.delivered as u64, self.total as u64)
    }

    fn sampled_links(&mut self) -> Option<&mut dyn SampledLinks> {
        Some(self)
    }

    fn cyclic_wait(&self) -> bool {
        self.routed.as_ref().is_some_and(|rt| {
            let n = self.num_endpoints() as u32;
            let blocked: Vec<WaitingChannel> = rt
                .routers
                .blocked(&self.router_ports)
                .into_iter()
                .map(|(r, port, vc, _)| WaitingChannel {
                    node: n + r,
                    port,
                    vc,
                    reason: String::new(),
                })
                .collect();
            !self.wait_cycle(rt, &blocked).is_empty()
        })
    }

    fn waiting(&self) -> Vec<WaitingChannel> {
        let mut out = Vec::new();
        for ep in &self.endpoints {
            let (e, d) = (ep.endpoint, &self.dirs[ep.out]);
            for (vc, queued) in ep.tx.credit_starved_vcs(&d.credits) {
                let held = d.buffered_len(vc, &self.router_ports);
                let drains = match d.dst {
                    Node::Router(r, p) => format!("is router {r}'s input port {p}"),
                    Node::Endpoint(_) if d.rx.drains_at_all() => "drains".to_string(),
                    Node::Endpoint(_) => "never drains (drain_gbps = 0)".to_string(),
                };
                let lost = d.stats.counters.credits_dropped;
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
                        "{queued} message(s) wait for a credit; the receiver holds {held}/{} flits of this VC and {drains}{lost}",
                        d.timing.credits_per_vc
                    ),
                });
            }
        }
        if let Some(rt) = &self.routed {
            let n = self.num_endpoints() as u32;
            let mut blocked = Vec::new();
            for (r, port, vc, why) in rt.routers.blocked(&self.router_ports) {
                blocked.push(WaitingChannel {
                    node: n + r,
                    port,
                    vc,
                    reason: format!("router {r} input port {port} VC {vc} {why}"),
                });
            }
            // The cycle of waits, if there is one, first.
            let cycle = self.wait_cycle(rt, &blocked);
            for (i, w) in cycle.iter().enumerate() {
                let mut w = w.clone();
                w.reason = format!("in the cycle ({} of {}): {}", i + 1, cycle.len(), w.reason);
                out.push(w);
            }
            out.extend(blocked.into_iter().filter(|w| !cycle.contains(w)));
        }
        out
    }
}
