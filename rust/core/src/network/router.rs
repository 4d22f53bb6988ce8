//! An input-queued virtual-channel router (BookSim, Garnet): per input port
//! and VC a buffer (in the network's dense [`RouterPorts`]), and per
//! cycle route computation, VC allocation, switch allocation and traversal.
//!
//! Wormhole switching: a packet's head flit is routed and wins an output VC
//! of the class the routing function asks for; its flits follow on that VC;
//! its tail frees it. On links that pack several packets into a flit, a
//! message is the unit instead (a flit may end one packet and start the next).
//! VCs go to waiting input VCs in one pass; the switch allocator is
//! separable, input first (each input port offers one VC, each output port
//! grants one input). Every stage is round-robin or oldest-first. The pipeline's depth adds
//! `pipeline_cycles` before a forwarded flit reaches its output link.

use super::link_dir::{LinkDir, Tally};
use super::port_set::{for_each_port, PortSet};
use super::router_ports::RouterPorts;
use crate::dense::{at, at_mut};
use crate::engine::Activity;
use crate::error::{Error, Result};
use crate::ids::{IdVec, LinkDirId, MsgId};
use crate::link::credits::{low_bits, pick_round_robin};
use crate::link::Flit;
use crate::routing::Routing;
use crate::spec::{
    Allocator, LinkParams, Packing, RouterSpec, RouterTiming, Switching, VcAllocator,
};
use crate::time::Cycle;
use crate::topology::{Graph, RouterId};

/// What a blocked input VC waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A credit of `vc` on output link direction `dir`.
    Credit { dir: LinkDirId, vc: u32 },
    /// An output VC that the worm on this router's input `(port, vc)` holds.
    Vc { port: u32, vc: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VcState {
    Idle,
    /// Routed, waiting for an output VC of `class` on `out`, from cycle `at`
    /// (the routing stage's delay).
    Routed {
        out: u32,
        class: u8,
        at: Cycle,
    },
    /// Holds `out_vc` of output port `out` until the worm's tail; its head
    /// may cross the switch from cycle `at` (the VC-allocation stage's delay).
    Active {
        out: u32,
        out_vc: u32,
        at: Cycle,
    },
}

/// The output VCs `lo..hi` a head may take, also as a mask.
#[derive(Clone, Copy, Debug)]
struct OutVcs {
    lo: u32,
    hi: u32,
    mask: u64,
}

impl OutVcs {
    fn new(lo: u32, hi: u32) -> Self {
        Self {
            lo,
            hi,
            mask: low_bits(hi) & !low_bits(lo),
        }
    }
}

/// A router whose port sets are `P` bit masks (see [`PortSet`]: `u64` up
/// to 64 ports, `u128` up to 128).
///
/// What every step reads comes first, in declaration order (`repr(C)`;
/// Rust's own layout orders fields by alignment, not by use), and the
/// per-port tables are boxed slices (no capacity word), so a busy router's
/// step reads fewer of its struct's lines (16x16 mesh: +1 to +2.6%).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Router<P: PortSet> {
    /// Per input (port, VC).
    state: Box<[VcState]>,
    /// Per output port: its VCs no worm holds, as a mask (what VC
    /// allocation searches; an input VC's `Active` state says which it holds).
    free_vcs: Box<[u64]>,
    /// Per output port: where the search for a free output VC starts (VCs
    /// are handed out in turn, as BookSim's allocator does, so that a stream
    /// of short packets spreads over the VCs and their credits).
    vc_rr: Box<[u32]>,
    /// Round-robin pointers: per input port over its VCs, per output port
    /// over input ports, and one over input VCs for VC allocation (as its
    /// port and VC: no division per cycle).
    in_rr: Box<[u32]>,
    out_rr: Box<[u32]>,
    /// Per port: the link direction arriving at / leaving it.
    pub inputs: Box<[Option<LinkDirId>]>,
    pub outputs: Box<[Option<LinkDirId>]>,
    /// Per input VC: its packets' routing class; per input VC and routing
    /// class (`v * classes + class`): the output VCs a head may take.
    /// (Tables: the divisions and masks they replace sat on every head
    /// flit's path.)
    vc_class: Box<[u8]>,
    out_range: Box<[OutVcs]>,
    classes: usize,
    vcs: usize,
    timing: RouterTiming,
    /// The outputs whose link takes every flit given (see
    /// [`LinkDir::always_accepts`]): nothing to ask it per flit.
    plain_outputs: P,
    pub id: RouterId,
    /// Port `p`'s input buffers and output credits are port `first_port + p`
    /// of the [`RouterPorts`].
    pub first_port: u32,
    va_port: u32,
    va_vc: u32,
    allocator: Allocator,
    /// Virtual cut-through: a head wins an output VC only with credits for
    /// its whole packet.
    cut_through: bool,
    /// Heads are routed when VC allocation visits them, in the same pass
    /// (no routing stage delay, a routing function that reads no router
    /// state, round-robin order); else in a pass of their own before it.
    route_in_va: bool,
    // What only iSLIP and contended steps (two or more input VCs holding
    // flits) read.
    /// The input ports whose `ready` is non-zero and the outputs whose
    /// `grants` entry is set, as of the last step: loops visit only these
    /// (a switch has up to 128 ports, few of them busy in a cycle).
    ready_ports: P,
    granted_outputs: P,
    /// Per input port: the VCs whose head flit could move this cycle; and
    /// iSLIP's accept pointer over output ports.
    ready: Box<[u64]>,
    accept_rr: Box<[u32]>,
    /// This cycle's switch requests per input port (the VC it offers) and
    /// iSLIP's grants per output port, as (port, VC); kept to reuse their
    /// memory (no allocation per cycle).
    offered: Box<[u32]>,
    grants: Box<[Option<(u32, u32)>]>,
    /// Per output port: the input ports asking for it; per input port: the
    /// outputs granting it (reused each cycle).
    asking: Box<[P]>,
    granted: Box<[P]>,
    /// The order of this cycle's VC allocation pass (memory reused).
    va_order: Vec<u32>,
    /// Rounds of each iSLIP allocator.
    islip_rounds: u32,
    /// VC allocation by iSLIP (BookSim's) instead of one pass.
    va_islip: Option<Box<VaIslip>>,
    /// Per input VC: the VCs its packet may take into an endpoint (its
    /// message class's whole share: an ejection buffer closes no cycle of
    /// channel dependencies, so routing's VC classes do not restrict it,
    /// as in BookSim's torus routing). Read for hops into endpoints only.
    eject_range: Box<[OutVcs]>,
    /// The outputs whose link leads to an endpoint, when a routing class
    /// restricts their VCs (empty under one class: `out_range` serves).
    eject_outputs: P,
}

/// iSLIP VC allocation's state: round-robin pointers per output VC (over
/// input VCs) and per input VC (over output VCs), both numbered
/// `port * vcs + vc`; and this cycle's requests and grants (memory reused).
#[derive(Clone, Debug)]
struct VaIslip {
    grant_rr: Box<[u32]>,
    accept_rr: Box<[u32]>,
    /// Per waiting input VC, in ascending order: (input VC, output port,
    /// the output's VCs it may take), the mask cleared once it is matched.
    requests: Vec<(u32, u32, u64)>,
    /// Per output VC: the input VC it grants this round (`u32::MAX`: none).
    grants: Box<[u32]>,
    granted: Vec<u32>,
}

/// The flits routers forward in a cycle, by output link direction.
pub struct Outbox {
    /// To links with retry or pacing (which need their cycle even when
    /// given none): dense by direction, so nothing is searched.
    pub timed: IdVec<LinkDirId, Option<Flit>>,
    /// To links that take every flit given: a list, so that the cycle loop
    /// never visits the idle ones.
    pub plain: Vec<(LinkDirId, Flit)>,
}

/// What the router needs to know about the network to decide.
pub struct RouterCtx<'a> {
    pub graph: &'a Graph,
    pub routing: &'a Routing,
    pub params: &'a LinkParams,
}

/// A message whose first router has not chosen its route yet.
pub const NO_CHOICE: u32 = u32::MAX;

/// UGAL's bias toward minimal routes, in flits of queue.
const UGAL_THRESHOLD: u32 = 4;

impl<P: PortSet> Router<P> {
    /// Router `id` with `wiring`'s ports, `vcs` VCs per port, routing by
    /// `routing`.
    pub fn new(
        id: RouterId,
        wiring: Wiring,
        vcs: usize,
        spec: &RouterSpec,
        routing: &Routing,
    ) -> Self {
        let ports = wiring.inputs.len();
        assert!(
            ports <= P::BITS,
            "a router's port sets hold {} ports",
            P::BITS
        );
        fn per_port<T: Clone>(x: T, n: usize) -> Box<[T]> {
            vec![x; n].into_boxed_slice()
        }
        let mut router = Self {
            state: per_port(VcState::Idle, ports * vcs),
            free_vcs: per_port(low_bits(vcs as u32), ports),
            vc_rr: per_port(0, ports),
            in_rr: per_port(0, ports),
            out_rr: per_port(0, ports),
            inputs: wiring.inputs.into_boxed_slice(),
            outputs: wiring.outputs.into_boxed_slice(),
            vc_class: Box::default(),
            out_range: Box::default(),
            eject_range: Box::default(),
            eject_outputs: P::EMPTY,
            classes: 1,
            vcs,
            timing: spec.timing(),
            plain_outputs: P::EMPTY,
            id,
            first_port: 0,
            va_port: 0,
            va_vc: 0,
            allocator: spec.allocator,
            cut_through: spec.switching == Switching::VirtualCutThrough,
            route_in_va: false,
            ready_ports: P::EMPTY,
            granted_outputs: P::EMPTY,
            ready: per_port(0, ports),
            accept_rr: per_port(0, ports),
            offered: per_port(0, ports),
            grants: per_port(None, ports),
            asking: per_port(P::EMPTY, ports),
            granted: per_port(P::EMPTY, ports),
            va_order: Vec::with_capacity(ports * vcs),
            islip_rounds: spec.islip_rounds(),
            va_islip: (spec.vc_allocator == VcAllocator::Islip).then(|| {
                Box::new(VaIslip {
                    grant_rr: per_port(0, ports * vcs),
                    accept_rr: per_port(0, ports * vcs),
                    requests: Vec::with_capacity(ports * vcs),
                    grants: per_port(u32::MAX, ports * vcs),
                    granted: Vec::with_capacity(ports * vcs),
                })
            }),
        };
        router.set_message_classes(1, routing);
        router
    }

    fn ports(&self) -> usize {
        self.inputs.len()
    }

    /// Port `p`'s number in the [`RouterPorts`].
    #[inline]
    fn port_no(&self, p: usize) -> u32 {
        self.first_port + p as u32
    }

    /// Notes which outputs' links take every flit given.
    pub fn note_outputs(&mut self, dirs: &IdVec<LinkDirId, LinkDir>) {
        self.plain_outputs = P::EMPTY;
        self.eject_outputs = P::EMPTY;
        for (o, d) in self.outputs.iter().enumerate() {
            if d.is_some_and(|d| dirs[d].always_accepts()) {
                self.plain_outputs |= P::of(o);
            }
            let into_endpoint =
                d.is_some_and(|d| matches!(dirs[d].dst, crate::network::Node::Endpoint(_)));
            if into_endpoint && self.classes > 1 {
                self.eject_outputs |= P::of(o);
            }
        }
    }

    /// A message's route choice at its first router: a pinned hash of its
    /// id (Valiant's intermediate group), or, with adaptive routing (UGAL),
    /// the minimal route unless its first hop's queue (flits waiting here
    /// for it, plus flits in the next buffer not yet credited back) exceeds
    /// twice the Valiant first hop's plus `UGAL_THRESHOLD`.
    #[allow(clippy::too_many_arguments)]
    fn choose(
        &self,
        ctx: &RouterCtx<'_>,
        dirs: &IdVec<LinkDirId, LinkDir>,
        rp: &RouterPorts,
        p: usize,
        class: u8,
        dst: crate::ids::EndpointId,
        msg: MsgId,
    ) -> u32 {
        let hashed = crate::rng::flow_hash(msg.0, 0) as u32;
        let Some(minimal) = ctx.routing.adaptive_minimal(dst) else {
            return hashed;
        };
        let route = |choice| {
            ctx.routing
                .route(ctx.graph, self.id, p as u32, class, dst, choice)
        };
        let (min_port, val_port) = (route(minimal).port, route(hashed).port);
        if min_port == val_port {
            return minimal;
        }
        // The flits waiting for each port here, and those sent toward the
        // next buffer and not yet credited back.
        let queued = |port: u32| {
            let waiting: usize = (0..self.state.len())
                .filter(|&i| match self.state[i] {
                    VcState::Routed { out, .. } | VcState::Active { out, .. } => out == port,
                    VcState::Idle => false,
                })
                .map(|i| rp.len(self.port_no(i / self.vcs), i % self.vcs))
                .sum();
            let downstream = self.outputs[port as usize].map_or(0, |d| {
                (0..self.vcs)
                    .map(|v| {
                        dirs[d].timing.credits_per_vc - rp.credits(self.port_no(port as usize), v)
                    })
                    .sum::<u32>()
            });
            waiting as u32 + downstream
        };
        if queued(min_port) <= 2 * queued(val_port) + UGAL_THRESHOLD {
            minimal
        } else {
            hashed
        }
    }

    /// Splits the VCs into `k` message-class shares (`k` divides the VCs)
    /// and sets the VC tables for `routing`'s classes (done once at build).
    pub fn set_message_classes(&mut self, k: usize, routing: &Routing) {
        // (VCs split into equal shares, one per message class: requests,
        // responses, ...; a packet never leaves its class's share, and within
        // a share the routing's VC classes apply)
        let share = self.vcs / k.max(1);
        self.vc_class = (0..self.vcs)
            .map(|v| routing.class_of_vc((v % share) as u32, share as u32))
            .collect();
        self.classes = routing.classes() as usize;
        self.out_range = (0..self.vcs)
            .flat_map(|v| {
                // the VC's message-class share, then the routing class's VCs in it
                let base = (v / share * share) as u32;
                (0..routing.classes()).map(move |class| {
                    let (lo, hi) = routing.vc_range(class, share as u32);
                    OutVcs::new(base + lo, base + hi)
                })
            })
            .collect();
        self.eject_range = (0..self.vcs)
            .map(|v| {
                let base = (v / share * share) as u32;
                OutVcs::new(base, base + share as u32)
            })
            .collect();
        self.route_in_va = self.timing.route_to_va == 0
            && !routing.is_adaptive()
            && self.allocator != Allocator::OldestFirst
            && self.va_islip.is_none();
    }

    /// The routing class of a packet on input VC `v` (within its message class's share).
    #[inline]
    fn routing_class(&self, v: usize) -> u8 {
        self.vc_class[v]
    }

    /// The VCs of output `o` a packet on input VC `v` may take for routing
    /// class `class`.
    #[inline]
    fn out_vcs(&self, o: usize, v: usize, class: u8) -> OutVcs {
        if self.eject_outputs.has(o) {
            return self.eject_range[v];
        }
        // (routing functions give classes below their `classes()`)
        self.out_range[v * self.classes + class as usize]
    }

    /// Route computation, VC allocation and switch allocation for cycle `c`
    /// over the ports holding flits, `held` (never empty: the cycle loop
    /// skips an idle router; see [`RouterPorts::held`]); the winners' flits
    /// are taken from their input buffers (returning the credits) and
    /// handed to their output port's link.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        c: Cycle,
        held: u128,
        ctx: &RouterCtx<'_>,
        dirs: &mut IdVec<LinkDirId, LinkDir>,
        wake: &mut IdVec<LinkDirId, Cycle>,
        rp: &mut RouterPorts,
        tally: &mut Tally,
        act: &mut Activity,
        outbox: &mut Outbox,
        choices: &mut IdVec<MsgId, u32>,
    ) -> Result<()> {
        let vcs = self.vcs;
        let held_ports = P::from_u128(held);
        let mut h = Heads {
            c,
            ctx,
            dirs,
            rp,
            choices,
        };
        if !self.route_in_va {
            // Route computation for worms whose head reached the front
            // (only idle VCs that hold a flit look at it: bit masks).
            let mut ports = held_ports;
            while !ports.is_empty() {
                let p = ports.lowest();
                ports = ports.without_lowest();
                let mut waiting = rp.nonempty(self.port_no(p));
                while waiting != 0 {
                    let v = waiting.trailing_zeros() as usize;
                    waiting &= waiting - 1;
                    if *at(&self.state, p * vcs + v) == VcState::Idle {
                        self.route_head(p, v, &mut h)?;
                    }
                }
            }
        }
        // Flits wait in the buffers: the next cycle may move them.
        act.busy = true;
        // One input VC holds flits (most routers, most cycles, below
        // saturation): it is every stage's only candidate, so it wins
        // wherever it is ready, and the same pointers move as in the passes.
        // (The iSLIP allocators with one requester give what their rounds
        // would: it is granted everything it asks and accepts from its
        // pointer; the pointers move as a first-round match moves them.)
        let mut only = None;
        if held_ports.without_lowest().is_empty() {
            let p = held_ports.lowest();
            let held = rp.nonempty(self.port_no(p));
            if held & (held - 1) == 0 {
                let v = held.trailing_zeros() as usize;
                if self.va_islip.is_some() {
                    self.allocate_vc_islip_alone(p, v, c, h.rp);
                } else {
                    self.allocate_head(p, v, &mut h)?;
                }
                only = Some((p, v));
            }
        }
        // VC allocation: one pass over the input VCs waiting for one, in
        // round-robin or age order; each takes a free VC of the class it
        // asked for on its output.
        match self.allocator {
            _ if only.is_some() => {}
            _ if self.va_islip.is_some() => self.allocate_vcs_islip(held_ports, c, h.rp),
            Allocator::RoundRobin | Allocator::Islip => {
                self.allocate_vcs_in_turn(held_ports, &mut h)?
            }
            Allocator::OldestFirst => {
                let mut order = std::mem::take(&mut self.va_order);
                order.clear();
                order.extend(
                    (0..(self.ports() * vcs) as u32)
                        .filter(|&i| matches!(self.state[i as usize], VcState::Routed { .. })),
                );
                let front = |i: u32| {
                    let input = self.port_no(i as usize / vcs);
                    rp.front(input, i as usize % vcs).expect("routed").msg
                };
                order.sort_unstable_by_key(|&i| age(tally, front(i)));
                for &i in &order {
                    self.allocate_vc(i as usize / vcs, i as usize % vcs, c, rp);
                }
                self.va_order = order;
            }
        }
        // Switch allocation over the VCs whose head flit has a credit
        // downstream and an output link that takes it; the winners cross.
        let mut out = Crossing {
            c,
            ctx,
            dirs,
            wake,
            rp,
            tally,
            act,
            outbox,
        };
        if let Some((p, v)) = only {
            return match self.ready_output(p, v, c, out.dirs, out.rp) {
                Some(o) => {
                    if self.allocator == Allocator::Islip {
                        *at_mut(&mut self.accept_rr, p) = next_after(o, self.ports());
                    }
                    self.grant(o, p, v, &mut out)
                }
                None => Ok(()),
            };
        }
        match self.allocator {
            Allocator::Islip => {
                let was_ready = std::mem::replace(&mut self.ready_ports, P::EMPTY);
                for_each_port(was_ready, |p| *at_mut(&mut self.ready, p) = 0);
                for_each_port(held_ports, |p| {
                    let ready = self.ready_vcs(p, c, out.dirs, out.rp);
                    *at_mut(&mut self.ready, p) = ready;
                    if ready != 0 {
                        self.ready_ports |= P::of(p);
                    }
                });
                let was_granted = std::mem::replace(&mut self.granted_outputs, P::EMPTY);
                for_each_port(was_granted, |o| *at_mut(&mut self.grants, o) = None);
                self.islip();
                let mut granted = self.granted_outputs;
                while !granted.is_empty() {
                    let o = granted.lowest();
                    granted = granted.without_lowest();
                    let (p, v) = at(&self.grants, o).expect("a granted output has a grant");
                    self.cross(o, p as usize, v as usize, &mut out)?;
                }
                Ok(())
            }
            Allocator::RoundRobin | Allocator::OldestFirst => self.separable(held_ports, &mut out),
        }
    }

    /// Routes the head flit at the front of input VC `v` of port `p`.
    #[inline]
    fn route_head(&mut self, p: usize, v: usize, h: &mut Heads<'_, '_>) -> Result<()> {
        let c = h.c;
        let front = *h
            .rp
            .front(self.port_no(p), v)
            .expect("a nonempty VC has a front");
        let class = self.routing_class(v);
        let dst = crate::ids::EndpointId(front.dst);
        // Randomized and adaptive routing pick once per message, at its
        // first router; others ignore the choice.
        let choice = if h.ctx.routing.choices() > 1 {
            if h.choices[front.msg] == NO_CHOICE {
                h.choices[front.msg] = self.choose(h.ctx, h.dirs, h.rp, p, class, dst, front.msg);
            }
            h.choices[front.msg]
        } else {
            0
        };
        let hop = h
            .ctx
            .routing
            .route(h.ctx.graph, self.id, p as u32, class, dst, choice);
        // (the stages index by the output port unchecked: see `dense`)
        if hop.port as usize >= self.ports() {
            return Err(bad_port(c, self.id, hop.port, self.ports()));
        }
        *at_mut(&mut self.state, p * self.vcs + v) = VcState::Routed {
            out: hop.port,
            class: hop.class,
            at: c + self.timing.route_to_va,
        };
        Ok(())
    }

    /// Round-robin VC allocation over the held input ports' VCs, from the
    /// one after the last winner: the start port's VCs from the start VC
    /// on, the ports after it, those before it, the start port's VCs
    /// before the start VC. Only VCs holding a flit can be waiting (a
    /// routed head stays at the front until it wins).
    fn allocate_vcs_in_turn(&mut self, held_ports: P, h: &mut Heads<'_, '_>) -> Result<()> {
        let (p0, v0) = (self.va_port as usize, self.va_vc);
        let from_v0 = !low_bits(v0);
        let below_p0 = P::below(p0);
        let mut visit = |p: usize, only: u64, me: &mut Self| -> Result<()> {
            let mut waiting = h.rp.nonempty(me.port_no(p)) & only;
            while waiting != 0 {
                let v = waiting.trailing_zeros() as usize;
                waiting &= waiting - 1;
                me.allocate_head(p, v, h)?;
            }
            Ok(())
        };
        let mut after = held_ports & !below_p0;
        while !after.is_empty() {
            let p = after.lowest();
            after = after.without_lowest();
            visit(p, if p == p0 { from_v0 } else { u64::MAX }, self)?;
        }
        let mut before = held_ports & below_p0;
        while !before.is_empty() {
            let p = before.lowest();
            before = before.without_lowest();
            visit(p, u64::MAX, self)?;
        }
        if held_ports.has(p0) {
            visit(p0, !from_v0, self)?;
        }
        Ok(())
    }

    /// VC allocation's visit of input VC `(p, v)`, which holds a flit: an
    /// idle one is routed first (only when routing is done in this pass:
    /// see `route_in_va`), a routed one tries for an output VC.
    #[inline]
    fn allocate_head(&mut self, p: usize, v: usize, h: &mut Heads<'_, '_>) -> Result<()> {
        match *at(&self.state, p * self.vcs + v) {
            VcState::Idle => {
                debug_assert!(self.route_in_va, "a held idle VC was routed before");
                self.route_head(p, v, h)?;
                self.allocate_vc(p, v, h.c, h.rp);
            }
            VcState::Routed { .. } => self.allocate_vc(p, v, h.c, h.rp),
            VcState::Active { .. } => {}
        }
        Ok(())
    }

    /// Input VC `(p, v)`'s head flit crosses the switch to output port `o`:
    /// taken from its buffer (its credit heads back), sent on the output's
    /// link; its tail frees the output VC.
    #[inline(always)]
    fn cross(&mut self, o: usize, p: usize, v: usize, x: &mut Crossing<'_, '_>) -> Result<()> {
        let (c, vcs) = (x.c, self.vcs);
        let VcState::Active { out_vc, .. } = *at(&self.state, p * vcs + v) else {
            unreachable!()
        };
        let input = self.port_no(p);
        let mut flit = x.rp.pop(input, v, c);
        // Its credit heads back: through the router ports' calendar, or
        // on the link direction's return wire.
        if x.rp.return_upstream(input, v, c) {
            x.tally.events += 1;
        } else {
            let in_dir = at(&self.inputs, p).expect("granted input has a link");
            let at = x.dirs[in_dir].forwarded(flit, c, x.tally, x.rp)?;
            x.wake[in_dir] = x.wake[in_dir].min(at);
        }
        flit.vc = out_vc as u8;
        // The last hop's channel verdict was handled at its receiver.
        flit.flags &= !(Flit::DETECTED | Flit::UNDETECTED | Flit::CORRECTED);
        let out = self.port_no(o);
        x.rp.take_credit(out, out_vc as usize);
        // To the next router through the ports' calendar, or to the link
        // direction (a list of those that take every flit, a slot per
        // direction for the others).
        if x.rp.send_downstream(out, flit, c) {
            x.tally.events += 1;
        } else {
            let out_dir = at(&self.outputs, o).expect("granted output has a link");
            if self.plain_outputs.has(o) {
                x.outbox.plain.push((out_dir, flit));
            } else {
                x.outbox.timed[out_dir] = Some(flit);
            }
        }
        x.act.progressed = true;
        let worm_ends = match x.ctx.params.packing {
            Packing::Padded => flit.is(Flit::TAIL),
            Packing::Packed => flit.is(Flit::MSG_TAIL),
        };
        if worm_ends {
            *at_mut(&mut self.free_vcs, o) |= 1 << out_vc;
            *at_mut(&mut self.state, p * vcs + v) = VcState::Idle;
        }
        Ok(())
    }

    /// The VCs of input port `p` whose head flit could cross the switch
    /// this cycle, as a mask.
    fn ready_vcs(
        &self,
        p: usize,
        c: Cycle,
        dirs: &IdVec<LinkDirId, LinkDir>,
        rp: &RouterPorts,
    ) -> u64 {
        let mut ready = 0u64;
        let mut held = rp.nonempty(self.port_no(p));
        while held != 0 {
            let v = held.trailing_zeros() as usize;
            held &= held - 1;
            ready |= u64::from(self.ready_output(p, v, c, dirs, rp).is_some()) << v;
        }
        ready
    }

    /// The output port the head flit of input VC `(p, v)` could cross the
    /// switch to this cycle, if any: it holds an output VC (past VC
    /// allocation's stage) with a credit, on a link that takes it.
    #[inline]
    fn ready_output(
        &self,
        p: usize,
        v: usize,
        c: Cycle,
        dirs: &IdVec<LinkDirId, LinkDir>,
        rp: &RouterPorts,
    ) -> Option<usize> {
        let VcState::Active {
            out,
            out_vc,
            at: from,
        } = *at(&self.state, p * self.vcs + v)
        else {
            return None;
        };
        let od = (*at(&self.outputs, out as usize))?;
        let o = out as usize;
        // (`from > c`: the head is still in VC allocation's stage)
        let ready = from <= c
            && rp.credits(self.port_no(o), out_vc as usize) > 0
            && (self.plain_outputs.has(o) || dirs[od].accepts_new(c));
        ready.then_some(o)
    }

    /// Separable input-first allocation: each held input port offers one
    /// ready VC, then each output port grants one offer, whose flit
    /// crosses at once (a crossing changes nothing a later grant reads:
    /// each input offers to one output); round-robin or oldest-first at
    /// both stages.
    fn separable(&mut self, held_ports: P, x: &mut Crossing<'_, '_>) -> Result<()> {
        let vcs = self.vcs;
        // (`asking` is all zero between calls; `offered[p]` is read only
        // for ports that offered in this call)
        let mut asked = P::EMPTY;
        let mut inputs = held_ports;
        while !inputs.is_empty() {
            let p = inputs.lowest();
            inputs = inputs.without_lowest();
            let ready = self.ready_vcs(p, x.c, x.dirs, x.rp);
            if ready == 0 {
                continue;
            }
            let v = match self.allocator {
                Allocator::OldestFirst => oldest(ready, |v| head_age(x, self.port_no(p), v)),
                _ => pick_round_robin(ready, *at(&self.in_rr, p)),
            };
            if let VcState::Active { out, .. } = *at(&self.state, p * vcs + v) {
                *at_mut(&mut self.offered, p) = v as u32;
                *at_mut(&mut self.asking, out as usize) |= P::of(p);
                asked |= P::of(out as usize);
            }
        }
        while !asked.is_empty() {
            let o = asked.lowest();
            asked = asked.without_lowest();
            let mask = std::mem::replace(at_mut(&mut self.asking, o), P::EMPTY);
            let p = match self.allocator {
                Allocator::OldestFirst => oldest(mask, |p| {
                    head_age(x, self.port_no(p), *at(&self.offered, p) as usize)
                }),
                _ => mask.pick_from(*at(&self.out_rr, o)),
            };
            let v = *at(&self.offered, p) as usize;
            self.grant(o, p, v, x)?;
        }
        Ok(())
    }

    /// Output `o` grants input VC `(p, v)` (round-robin pointers move past
    /// both), whose flit crosses.
    #[inline(always)]
    fn grant(&mut self, o: usize, p: usize, v: usize, x: &mut Crossing<'_, '_>) -> Result<()> {
        *at_mut(&mut self.out_rr, o) = next_after(p, self.ports());
        *at_mut(&mut self.in_rr, p) = next_after(v, self.vcs);
        self.cross(o, p, v, x)
    }

    /// iSLIP (McKeown 1999) over this cycle's ready VCs: every input port
    /// requests each output one of its ready VCs is bound for; unmatched
    /// outputs grant round-robin, unmatched inputs accept round-robin, for
    /// `ISLIP_ITERATIONS` rounds; pointers move only on first-round accepts
    /// (which desynchronizes them). A matched input sends its round-robin
    /// pick among its VCs bound for the output.
    fn islip(&mut self) {
        let (ports, vcs) = (self.ports(), self.vcs);
        let bound_for = |state: &[VcState], p: usize, ready: u64, o: usize| {
            (0..vcs).fold(0u64, |m, v| match state[p * vcs + v] {
                VcState::Active { out, .. } if ready >> v & 1 == 1 && out as usize == o => {
                    m | 1 << v
                }
                _ => m,
            })
        };
        // per output: the input ports asking for it
        let mut requests = std::mem::take(&mut self.asking);
        requests.iter_mut().for_each(|r| *r = P::EMPTY);
        let mut granted = std::mem::take(&mut self.granted);
        for p in 0..ports {
            for v in 0..vcs {
                if self.ready[p] >> v & 1 == 1 {
                    if let VcState::Active { out, .. } = self.state[p * vcs + v] {
                        requests[out as usize] |= P::of(p);
                    }
                }
            }
        }
        let (mut free_in, mut free_out) = (P::ALL, P::ALL);
        for round in 0..self.islip_rounds {
            granted.iter_mut().for_each(|g| *g = P::EMPTY); // per input: the outputs granting it
            for o in (0..ports).filter(|&o| free_out.has(o)) {
                let asking = requests[o] & free_in;
                if !asking.is_empty() {
                    granted[asking.pick_from(self.out_rr[o])] |= P::of(o);
                }
            }
            let mut matched = false;
            for p in (0..ports).filter(|&p| !granted[p].is_empty()) {
                let o = granted[p].pick_from(self.accept_rr[p]);
                let v =
                    pick_round_robin(bound_for(&self.state, p, self.ready[p], o), self.in_rr[p]);
                self.grants[o] = Some((p as u32, v as u32));
                self.granted_outputs |= P::of(o);
                free_in &= !P::of(p);
                free_out &= !P::of(o);
                matched = true;
                if round == 0 {
                    self.out_rr[o] = next_after(p, ports);
                    self.accept_rr[p] = next_after(o, ports);
                }
                self.in_rr[p] = next_after(v, vcs);
            }
            if !matched {
                break;
            }
        }
        self.asking = requests;
        self.granted = granted;
    }

    /// Gives input VC `v` of port `p`, if routed, a free VC of its class on its output.
    #[inline]
    fn allocate_vc(&mut self, p: usize, v: usize, c: Cycle, rp: &RouterPorts) {
        let i = p * self.vcs + v;
        let VcState::Routed {
            out,
            class,
            at: from,
        } = *at(&self.state, i)
        else {
            return;
        };
        if from > c {
            return; // still in the routing stage
        }
        let vcs = self.vcs;
        let o = out as usize;
        let range = self.out_vcs(o, v, class);
        let free = self.takeable_vcs(p, v, o, range.mask, rp);
        if free != 0 {
            // the first free VC from where the last search left off, wrapping
            let first = (*at(&self.vc_rr, o)).clamp(range.lo, range.hi.max(range.lo + 1) - 1);
            let out_vc = pick_round_robin(free, first) as u32;
            *at_mut(&mut self.vc_rr, o) = out_vc + 1;
            self.take_vc(i, out, out_vc, c);
            (self.va_port, self.va_vc) = if v + 1 == vcs {
                (next_after(p, self.ports()), 0)
            } else {
                (p as u32, v as u32 + 1)
            };
        }
    }

    /// The VCs of output `o` within `range` that input VC `(p, v)`'s head
    /// may take now: free ones, and under virtual cut-through only those
    /// with room for its whole packet.
    #[inline(always)]
    fn takeable_vcs(&self, p: usize, v: usize, o: usize, range: u64, rp: &RouterPorts) -> u64 {
        let free = *at(&self.free_vcs, o) & range;
        if !self.cut_through || free == 0 {
            return free;
        }
        let need = rp.front(self.port_no(p), v).expect("routed").packet_flits as u32;
        let wired = self.outputs[o].is_some();
        let mut room = 0;
        for_each_port(free, |w| {
            if wired && rp.credits(self.port_no(o), w) >= need {
                room |= 1 << w;
            }
        });
        room
    }

    /// Input VC `i` (`port * vcs + vc`) takes VC `out_vc` of output `out`;
    /// its head may cross from the VC-allocation stage's end.
    #[inline(always)]
    fn take_vc(&mut self, i: usize, out: u32, out_vc: u32, c: Cycle) {
        *at_mut(&mut self.free_vcs, out as usize) &= !(1 << out_vc);
        *at_mut(&mut self.state, i) = VcState::Active {
            out,
            out_vc,
            at: c + self.timing.va_to_sa,
        };
    }

    /// iSLIP VC allocation when input VC `(p, v)` is the router's only one
    /// holding flits: a routed head past the routing stage is granted every
    /// VC it may take and accepts the first from its pointer on.
    #[inline(never)] // (kept out of `step`: only iSLIP VC allocation calls it)
    fn allocate_vc_islip_alone(&mut self, p: usize, v: usize, c: Cycle, rp: &RouterPorts) {
        let (vcs, i) = (self.vcs, p * self.vcs + v);
        let VcState::Routed { out, class, at } = *at(&self.state, i) else {
            return;
        };
        let o = out as usize;
        let range = self.out_vcs(o, v, class).mask;
        let may = self.takeable_vcs(p, v, o, range, rp);
        if at > c || may == 0 {
            return;
        }
        let n = self.ports() * vcs;
        let va = self.va_islip.as_mut().expect("iSLIP VC allocation");
        let (base, pointer) = (o * vcs, va.accept_rr[i] as usize);
        // from the pointer on: this output's VCs from it if it points among them, else from its first
        let from = if (base..base + vcs).contains(&pointer) {
            pointer - base
        } else {
            0
        };
        let w = pick_round_robin(may, from as u32);
        va.grant_rr[base + w] = next_after(i, n);
        va.accept_rr[i] = next_after(base + w, n);
        self.take_vc(i, out, w as u32, c);
    }

    /// BookSim's VC allocation (`vc_allocator = "islip"`): every routed
    /// input VC past the routing stage requests each free output VC it may
    /// take; for `islip_rounds` rounds each unmatched output VC grants the
    /// first requesting unmatched input VC from its pointer on, and each
    /// input VC accepts the first grant from its pointer on; pointers move
    /// past a match made in the first round only (McKeown 1999).
    #[inline(never)] // (kept out of `step`: only iSLIP VC allocation calls it)
    fn allocate_vcs_islip(&mut self, held_ports: P, c: Cycle, rp: &RouterPorts) {
        let vcs = self.vcs;
        let n = (self.ports() * vcs) as u32;
        let mut va = self.va_islip.take().expect("iSLIP VC allocation");
        va.requests.clear();
        for_each_port(held_ports, |p| {
            let mut waiting = rp.nonempty(self.port_no(p));
            while waiting != 0 {
                let v = waiting.trailing_zeros() as usize;
                waiting &= waiting - 1;
                if let VcState::Routed { out, class, at } = self.state[p * vcs + v] {
                    let range = self.out_vcs(out as usize, v, class).mask;
                    let may = self.takeable_vcs(p, v, out as usize, range, rp);
                    if at <= c && may != 0 {
                        va.requests.push(((p * vcs + v) as u32, out, may));
                    }
                }
            }
        });
        // (distance from a round-robin pointer, without a division)
        let from = |x: u32, ptr: u32| if x >= ptr { x - ptr } else { x + n - ptr };
        for round in 0..self.islip_rounds {
            // grant: each output VC to its nearest requester from its pointer
            for &(iv, out, may) in &va.requests {
                let mut ws = may & self.free_vcs[out as usize];
                while ws != 0 {
                    let ov = out * vcs as u32 + ws.trailing_zeros();
                    ws &= ws - 1;
                    let g = va.grants[ov as usize];
                    if g == u32::MAX {
                        va.granted.push(ov);
                        va.grants[ov as usize] = iv;
                    } else if from(iv, va.grant_rr[ov as usize]) < from(g, va.grant_rr[ov as usize])
                    {
                        va.grants[ov as usize] = iv;
                    }
                }
            }
            // accept: each input VC its nearest grant from its pointer
            let mut matched = false;
            for r in 0..va.requests.len() {
                let (iv, out, may) = va.requests[r];
                let base = out * vcs as u32;
                let mut ws = may & self.free_vcs[out as usize];
                let mut best = None;
                while ws != 0 {
                    let ov = base + ws.trailing_zeros();
                    ws &= ws - 1;
                    let nearer = best.is_none_or(|b| {
                        from(ov, va.accept_rr[iv as usize]) < from(b, va.accept_rr[iv as usize])
                    });
                    if va.grants[ov as usize] == iv && nearer {
                        best = Some(ov);
                    }
                }
                let Some(ov) = best else { continue };
                self.take_vc(iv as usize, out, ov - base, c);
                va.requests[r].2 = 0;
                matched = true;
                if round == 0 {
                    va.grant_rr[ov as usize] = if iv + 1 == n { 0 } else { iv + 1 };
                    va.accept_rr[iv as usize] = if ov + 1 == n { 0 } else { ov + 1 };
                }
            }
            for &ov in &va.granted {
                va.grants[ov as usize] = u32::MAX;
            }
            va.granted.clear();
            if !matched {
                break;
            }
        }
        self.va_islip = Some(va);
    }

    /// What blocked input VC `(port, vc)` waits for: a credit downstream,
    /// or the output VC another worm of this router holds.
    pub fn waits_for(&self, port: u32, vc: u32) -> Option<Wait> {
        let vcs = self.vcs;
        match self.state[port as usize * vcs + vc as usize] {
            VcState::Active { out, out_vc, .. } => {
                self.outputs[out as usize].map(|dir| Wait::Credit { dir, vc: out_vc })
            }
            VcState::Routed { out, class, .. } => {
                let OutVcs { lo, hi, .. } = self.out_vcs(out as usize, vc as usize, class);
                // The input VC whose worm holds output VC `w` (kept in no
                // table: this runs only for a deadlock's report).
                let holder = |w: u32| {
                    self.state.iter().position(|s| {
                        matches!(*s, VcState::Active { out: o, out_vc, .. } if o == out && out_vc == w)
                    })
                };
                match (lo..hi).find_map(holder) {
                    Some(i) => Some(Wait::Vc {
                        port: (i / vcs) as u32,
                        vc: (i % vcs) as u32,
                    }),
                    // A free VC short of credits for the whole packet (cut-through).
                    None => self.outputs[out as usize].map(|dir| Wait::Credit { dir, vc: lo }),
                }
            }
            VcState::Idle => None,
        }
    }

    /// Input VCs that hold flits and cannot move: `(port, VC, why)`.
    pub fn blocked(&self, rp: &RouterPorts) -> Vec<(u32, u32, String)> {
        let vcs = self.vcs;
        let mut out = Vec::new();
        for p in 0..self.ports() {
            for v in 0..vcs {
                if rp.front(self.port_no(p), v).is_none() {
                    continue;
                }
                let why = match self.state[p * vcs + v] {
                    VcState::Idle => "waits to be routed".to_string(),
                    VcState::Routed { out, class, .. } => {
                        format!("waits for a free VC of class {class} on output port {out}")
                    }
                    VcState::Active { out, out_vc, .. } => {
                        format!("waits for a credit on output port {out} VC {out_vc}")
                    }
                };
                out.push((p as u32, v as u32, why));
            }
        }
        out
    }
}

/// The round-robin position after `i` among `n` (no division: this runs per grant).
#[inline]
fn next_after(i: usize, n: usize) -> u32 {
    if i + 1 == n {
        0
    } else {
        i as u32 + 1
    }
}

/// A routing function's output port beyond the router's ports.
#[cold]
fn bad_port(c: Cycle, r: RouterId, port: u32, ports: usize) -> Error {
    Error::Invariant {
        cycle: c,
        message: format!("routing sent a packet at router {r} to port {port} of {ports}"),
    }
}

/// What routing and VC allocation read (the cycle, the routing function,
/// the links and buffers UGAL weighs) and the per-message
/// route choices they write, borrowed once for a router's step.
struct Heads<'a, 'b> {
    c: Cycle,
    ctx: &'a RouterCtx<'b>,
    dirs: &'a IdVec<LinkDirId, LinkDir>,
    rp: &'a RouterPorts,
    choices: &'a mut IdVec<MsgId, u32>,
}

/// What a flit crossing the switch touches (the cycle, the network's
/// buffers, links and tallies), borrowed once for all of a router's crossings.
struct Crossing<'a, 'b> {
    c: Cycle,
    ctx: &'a RouterCtx<'b>,
    dirs: &'a mut IdVec<LinkDirId, LinkDir>,
    wake: &'a mut IdVec<LinkDirId, Cycle>,
    rp: &'a mut RouterPorts,
    tally: &'a mut Tally,
    act: &'a mut Activity,
    outbox: &'a mut Outbox,
}

/// The age key of the head flit of VC `vc` of input `input` (see [`age`]).
fn head_age(x: &Crossing<'_, '_>, input: u32, vc: usize) -> (Cycle, u32) {
    age(x.tally, x.rp.front(input, vc).expect("ready").msg)
}

/// A message's age key: the cycle it was offered at its source (not when
/// it left: a source held back by the network would look young), then its id.
fn age(tally: &Tally, msg: MsgId) -> (Cycle, u32) {
    (tally.log.offer[msg], msg.0)
}

/// The set bit of `mask` whose key is least.
fn oldest<P: PortSet, K: Ord>(mask: P, key: impl Fn(usize) -> K) -> usize {
    let mut best = mask.lowest();
    let mut best_key = key(best);
    for_each_port(mask.without_lowest(), |i| {
        let k = key(i);
        if k < best_key {
            (best, best_key) = (i, k);
        }
    });
    best
}

/// One router's links, per port: the link direction arriving at it and
/// the one leaving it (`None` on an unwired port).
#[derive(Clone, Debug, Default)]
pub struct Wiring {
    pub inputs: Vec<Option<LinkDirId>>,
    pub outputs: Vec<Option<LinkDirId>>,
}

/// A network's routers, all of one port-set width: `u64` masks when every
/// router has at most 64 ports, else `u128` (see [`PortSet`]).
pub enum Routers {
    Narrow(Vec<Router<u64>>),
    Wide(Vec<Router<u128>>),
}

/// Evaluates `$body` with `$rs` bound to the routers' vector, whichever
/// width they are (the body is compiled once per width).
macro_rules! with_routers {
    ($routers:expr, $rs:ident => $body:expr) => {
        match $routers {
            $crate::network::router::Routers::Narrow($rs) => $body,
            $crate::network::router::Routers::Wide($rs) => $body,
        }
    };
}
pub(crate) use with_routers;

impl Routers {
    /// Routers with the given per-port link directions arriving and
    /// leaving, VC tables set for `routing` (one message class).
    pub fn new(wiring: Vec<Wiring>, vcs: usize, spec: &RouterSpec, routing: &Routing) -> Self {
        fn build<P: PortSet>(
            wiring: Vec<Wiring>,
            vcs: usize,
            spec: &RouterSpec,
            routing: &Routing,
        ) -> Vec<Router<P>> {
            let wired = wiring.into_iter().enumerate();
            wired
                .map(|(r, w)| Router::new(r as u32, w, vcs, spec, routing))
                .collect()
        }
        if wiring.iter().all(|w| w.inputs.len() <= u64::BITS as usize) {
            Routers::Narrow(build(wiring, vcs, spec, routing))
        } else {
            Routers::Wide(build(wiring, vcs, spec, routing))
        }
    }

    /// What blocked input VC `(port, vc)` of router `r` waits for.
    pub fn waits_for(&self, r: RouterId, port: u32, vc: u32) -> Option<Wait> {
        with_routers!(self, rs => rs[r as usize].waits_for(port, vc))
    }

    /// Splits every router's VCs into `k` message-class shares.
    pub fn set_message_classes(&mut self, k: usize, routing: &Routing) {
        with_routers!(self, rs => rs.iter_mut().for_each(|r| r.set_message_classes(k, routing)))
    }

    /// Every router's blocked input VCs: `(router, port, VC, why)`.
    pub fn blocked(&self, rp: &RouterPorts) -> Vec<(RouterId, u32, u32, String)> {
        with_routers!(self, rs => rs
            .iter()
            .flat_map(|r| r.blocked(rp).into_iter().map(|(p, v, why)| (r.id, p, v, why)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3-port router with 2 VCs and one routing class (VCs 0..2), its
    /// output 2 wired to link direction 7.
    fn router() -> Router<u64> {
        let wiring = Wiring {
            inputs: vec![None; 3],
            outputs: vec![None, None, Some(LinkDirId(7))],
        };
        Router::new(0, wiring, 2, &RouterSpec::default(), &Routing::Direct)
    }

    /// Input VCs (0, 0) and (1, 0) of a 3-port, 2-VC router both routed to
    /// output 2, their heads in the buffers; VC allocation by `vc_allocator`.
    fn two_heads_for_output_2(
        vc_allocator: VcAllocator,
        rounds: u32,
    ) -> (Router<u64>, RouterPorts) {
        let wiring = Wiring {
            inputs: vec![None; 3],
            outputs: vec![None; 3],
        };
        let spec = RouterSpec {
            vc_allocator,
            islip_iterations: Some(rounds),
            stages: Some(crate::spec::RouterStages {
                routing: 1,
                vc_allocation: 1,
                switch_allocation: 1,
                traversal: 1,
            }),
            ..RouterSpec::default()
        };
        let mut r = Router::new(0, wiring, 2, &spec, &Routing::Direct);
        let mut rp = RouterPorts::new(2, &[8; 3], &[8; 3], [1, 1]);
        let head = Flit {
            flags: Flit::HEAD | Flit::TAIL | Flit::MSG_TAIL,
            packet_flits: 1,
            ..Flit::default()
        };
        for p in [0, 1] {
            rp.accept(p, &head, 0).unwrap();
            r.state[p as usize * 2] = VcState::Routed {
                out: 2,
                class: 0,
                at: 0,
            };
        }
        (r, rp)
    }

    fn holds(r: &Router<u64>, i: usize) -> Option<u32> {
        match r.state[i] {
            VcState::Active { out: 2, out_vc, .. } => Some(out_vc),
            _ => None,
        }
    }

    #[test]
    fn islip_vc_allocation_with_one_round_matches_one_of_two_heads_per_output() {
        // Both output VCs grant input VC 0 (nearest their pointers at 0); it
        // accepts VC 0, and VC 1 goes unmatched this cycle (iSLIP's price
        // for a separable match; BookSim's router pays it too).
        let (mut r, rp) = two_heads_for_output_2(VcAllocator::Islip, 1);
        r.allocate_vcs_islip(0b11, 0, &rp);
        assert_eq!((holds(&r, 0), holds(&r, 2)), (Some(0), None));
        assert_eq!(r.free_vcs[2], 0b10);
        // next cycle the other head takes the VC left
        r.allocate_vcs_islip(0b11, 1, &rp);
        assert_eq!(holds(&r, 2), Some(1));
        assert_eq!(r.free_vcs[2], 0);
        // pointers moved past the first round's match only: output VC 0 now
        // starts its search after input VC 0, input VC 0 after output VC 0
        let va = r.va_islip.as_ref().unwrap();
        assert_eq!((va.grant_rr[4], va.accept_rr[0]), (1, 5));
        assert_eq!((va.grant_rr[5], va.accept_rr[2]), (3, 0));
    }

    #[test]
    fn islip_vc_allocation_with_two_rounds_or_in_turn_matches_both_heads() {
        let (mut r, rp) = two_heads_for_output_2(VcAllocator::Islip, 2);
        r.allocate_vcs_islip(0b11, 0, &rp);
        assert_eq!((holds(&r, 0), holds(&r, 2)), (Some(0), Some(1)));
        let (mut r, rp) = two_heads_for_output_2(VcAllocator::InTurn, 1);
        for p in [0, 1] {
            r.allocate_vc(p, 0, 0, &rp);
        }
        assert_eq!((holds(&r, 0), holds(&r, 2)), (Some(0), Some(1)));
    }

    #[test]
    fn islip_vc_allocation_waits_out_the_routing_stage() {
        let (mut r, rp) = two_heads_for_output_2(VcAllocator::Islip, 1);
        r.state[0] = VcState::Routed {
            out: 2,
            class: 0,
            at: 1,
        };
        r.allocate_vcs_islip(0b11, 0, &rp);
        // input VC 0 is still being routed: input VC (1, 0) is the only requester
        assert_eq!((holds(&r, 0), holds(&r, 2)), (None, Some(0)));
    }

    #[test]
    fn a_head_waits_for_the_worm_holding_its_output_vc_or_for_a_credit() {
        let mut r = router();
        // the head at input (1, VC 0) asks for a VC of output 2
        r.state[2] = VcState::Routed {
            out: 2,
            class: 0,
            at: 0,
        };
        // no worm holds one: it waits for credits (cut-through) on the output's link
        assert_eq!(
            r.waits_for(1, 0),
            Some(Wait::Credit {
                dir: LinkDirId(7),
                vc: 0
            })
        );
        // the worm at input (0, VC 1) holds output 2's VC 1 (and one at input
        // (2, VC 0) holds output 1's VC 0, which does not count)
        r.state[1] = VcState::Active {
            out: 2,
            out_vc: 1,
            at: 0,
        };
        r.state[4] = VcState::Active {
            out: 1,
            out_vc: 0,
            at: 0,
        };
        assert_eq!(r.waits_for(1, 0), Some(Wait::Vc { port: 0, vc: 1 }));
        // a worm on VC 0 of the same output comes first in the class's range
        r.state[5] = VcState::Active {
            out: 2,
            out_vc: 0,
            at: 0,
        };
        assert_eq!(r.waits_for(1, 0), Some(Wait::Vc { port: 2, vc: 1 }));
        // an idle VC waits for nothing; a worm waits for its output VC's credit
        assert_eq!(r.waits_for(0, 0), None);
        assert_eq!(
            r.waits_for(0, 1),
            Some(Wait::Credit {
                dir: LinkDirId(7),
                vc: 1
            })
        );
    }
}
