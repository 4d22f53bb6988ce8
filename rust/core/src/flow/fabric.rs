//! The fabric as the flow model sees it: link directions numbered as the
//! cycle engine numbers them, each a capacity (flits per ps) and a latency,
//! and the route of a message as the directions it crosses.
//!
//! ```text
//!  spec --link_layout--> directions (same rows as the cycle engine's `links`)
//!       --LinkParams---> capacity = pace / cycle x retry efficiency (x drain)
//!       --routing------> path(src, dst) = [injection, router hops..., ejection]
//! ```
//!
//! Nothing here allocates per message: a path is written into a buffer the
//! caller reuses.

use crate::error::{Error, Result};
use crate::ids::EndpointId;
use crate::network::ports::EndpointPorts;
use crate::network::{is_network_dir, link_layout, network_links, Node};
use crate::routing::Routing;
use crate::spec::{FabricSpec, LinkParams};
use crate::time::Ps;
use crate::topology::{Graph, Peer};

pub(crate) struct FlowFabric {
    pub params: LinkParams,
    pub endpoints: usize,
    /// Per direction: its ends (for the result's rows).
    pub ends: Vec<(Node, Node)>,
    /// Per direction: flits per ps it carries at most.
    pub capacity: Vec<f64>,
    /// Per direction: a scale-out network link (the fabric's `network_link`).
    pub network: Vec<bool>,
    /// Per direction: flits per fabric cycle as `(num, den)`.
    pub pace: Vec<(u64, u64)>,
    /// Per direction: the flits per ps one VC can carry, its credits over
    /// their round trip (a message's own limit where it enters: it leaves
    /// its source on one VC).
    pub vc_window: Vec<f64>,
    /// Per direction: cycles a head flit spends on it (serialization of
    /// one flit, propagation, and the pipeline of the router sending it).
    wire_cycles: Vec<u64>,
    /// Cycles a head flit waits in each router before switch allocation
    /// (route computation to VC allocation to switch allocation).
    router_cycles: u64,
    /// Per router: the index of its port 0 in `out_dir`.
    first_port: Vec<u32>,
    /// Per router port: the direction leaving it.
    out_dir: Vec<u32>,
    /// Per endpoint port (the cycle engine's numbering): the direction it sends on.
    inj_dir: Vec<u32>,
    ports: EndpointPorts,
    routed: Option<(Graph, Routing)>,
    /// Per direction: failed for the whole run (`Fault::LinkFailed`):
    /// ports and routes avoid it. Empty while none has.
    failed: Vec<bool>,
    /// A path `pick_port` tries (kept between messages).
    trial: Vec<u32>,
}

/// How many of a multipath route's choices a message tries for one that
/// avoids the failed links (a Valiant route has a choice per router).
const REROUTE_TRIES: u32 = 64;

impl FlowFabric {
    /// The flow view of a validated `spec`.
    pub fn new(spec: &FabricSpec) -> Result<Self> {
        let (params, net_params, net_pace) = spec.link_kinds()?;
        let graph = crate::build::graph(&spec.topology);
        let ends = link_layout(&spec.topology, graph.as_ref());
        let kinds = network_links(spec);
        let endpoints = spec.topology.num_endpoints();
        let timing = spec.router.timing();
        let cycle_ps = params.clock.period_ps_f64();
        // An endpoint drains at most `drain_gbps` of wire bytes.
        let drain = spec
            .endpoint
            .drain_gbps
            .map(|g| g * 1e-3 / 8.0 / params.flit_bytes as f64);
        let (mut capacity, mut pace, mut wire_cycles) = (Vec::new(), Vec::new(), Vec::new());
        let mut network = Vec::new();
        let mut vc_window = Vec::new();
        let mut out_of: Vec<Vec<(u32, u32)>> = vec![Vec::new(); endpoints];
        let first_port: Vec<u32> = graph.as_ref().map_or(Vec::new(), |g| {
            let mut at = 0;
            g.routers
                .iter()
                .map(|r| {
                    let first = at;
                    at += r.ports.len() as u32;
                    first
                })
                .collect()
        });
        let ports_total = graph
            .as_ref()
            .map_or(0, |g| g.routers.iter().map(|r| r.ports.len()).sum());
        let mut out_dir = vec![u32::MAX; ports_total];
        for (d, &e) in ends.iter().enumerate() {
            network.push(is_network_dir(kinds, e));
            let (p, (num, den)) = if is_network_dir(kinds, e) {
                (&net_params, (net_pace.num, net_pace.den))
            } else {
                (&params, (1, 1))
            };
            // Credits: a VC's buffer at the receiver, freed a round trip after
            // the flit left (plus, into a router, the stages it waits in there).
            let (credits, in_router) = match (e.1, spec.router.buffer_flits) {
                (Node::Router(..), Some(flits)) => (flits, true),
                (to, _) => (p.credits_per_vc, matches!(to, Node::Router(..))),
            };
            let stages = if in_router {
                timing.route_to_va + timing.va_to_sa
            } else {
                0
            };
            let round_trip = (p.credit_round_trip_cycles() + stages) as f64;
            let window = credits as f64 / round_trip;
            let rate = (num as f64 / den as f64).min(p.vcs as f64 * window);
            let mut cap = rate / cycle_ps * p.retry_efficiency();
            if let (Some(rate), Node::Endpoint(_)) = (drain, e.1) {
                cap = cap.min(rate);
            }
            capacity.push(cap);
            vc_window.push(window / cycle_ps);
            pace.push((num, den));
            let pipeline = if matches!(e.0, Node::Router(..)) {
                timing.output_delay
            } else {
                0
            };
            wire_cycles.push(1 + pipeline + p.latency_cycles);
            match e {
                (Node::Endpoint(a), to) => {
                    let router = match to {
                        Node::Router(r, _) => r,
                        Node::Endpoint(_) => u32::MAX,
                    };
                    out_of[a.index()].push((router, d as u32));
                }
                (Node::Router(r, p), _) => {
                    out_dir[(first_port[r as usize] + p) as usize] = d as u32
                }
            }
        }
        let routers: Vec<Vec<u32>> = out_of
            .iter()
            .map(|o| o.iter().map(|&(r, _)| r).collect())
            .collect();
        let inj_dir = out_of.iter().flatten().map(|&(_, d)| d).collect();
        let routed = match graph {
            Some(g) => {
                let routing =
                    crate::build::routing(spec, &g).expect("a graph has a routing function");
                Some((g, routing))
            }
            None => None,
        };
        let uniform = routed.as_ref().is_none_or(|(_, r)| !r.restricts_ports());
        Ok(Self {
            params,
            endpoints,
            ends,
            capacity,
            network,
            pace,
            vc_window,
            wire_cycles,
            router_cycles: timing.route_to_va + timing.va_to_sa,
            first_port,
            out_dir,
            inj_dir,
            ports: EndpointPorts::new(&routers, uniform),
            routed,
            failed: Vec::new(),
            trial: Vec::new(),
        })
    }

    /// Direction `link` has failed for the whole run: messages leave on
    /// other ports and take other paths of a multipath route.
    pub fn fail(&mut self, link: u32) {
        if self.failed.is_empty() {
            self.failed = vec![false; self.num_dirs()];
        }
        self.failed[link as usize] = true;
    }

    /// The first failed direction of `path`, if any.
    fn failed_on(&self, path: &[u32]) -> Option<u32> {
        if self.failed.is_empty() {
            return None;
        }
        path.iter().copied().find(|&d| self.failed[d as usize])
    }

    pub fn num_dirs(&self) -> usize {
        self.ends.len()
    }

    /// Endpoint ports (network interfaces) over all endpoints.
    pub fn num_ports(&self) -> usize {
        self.inj_dir.len()
    }

    /// The port a new message from `src` to `dst` leaves on: round `src`'s
    /// ports as the cycle engine's messages go (call once per message, in
    /// the order they are offered).
    pub fn pick_port(&mut self, src: u32, dst: u32) -> u32 {
        if !self.failed.is_empty() {
            // only the ports with a path to `dst` that avoids the failed
            // links (an endpoint has at most 128 ports: a bit each)
            let mut path = std::mem::take(&mut self.trial);
            let ports = self.ports.of(src);
            let mut ok = 0u128;
            for (i, p) in ports.clone().enumerate().take(128) {
                if self.enters(src, p, dst)
                    && self.choice_avoiding(p, dst, 0, 0, &mut path).is_some()
                {
                    ok |= 1 << i;
                }
            }
            self.trial = path;
            return self
                .ports
                .pick_port_where(src, |p| ok >> (p - ports.start).min(127) & 1 == 1);
        }
        match &self.routed {
            Some((g, routing)) => self.ports.pick(src, |r| routing.enters_at(g, src, r, dst)),
            None => self.ports.pick(src, |_| true),
        }
    }

    /// Whether `src`'s port `port` leads toward `dst` (the routing's say).
    fn enters(&self, src: u32, port: u32, dst: u32) -> bool {
        match &self.routed {
            Some((g, routing)) => routing.enters_at(g, src, self.ports.router_of(port), dst),
            None => true,
        }
    }

    /// The first of a multipath route's choices, from `first` on, whose
    /// path from `port` to `dst` on `vc` avoids the failed links (left in
    /// `path`).
    fn choice_avoiding(
        &self,
        port: u32,
        dst: u32,
        vc: u32,
        first: u32,
        path: &mut Vec<u32>,
    ) -> Option<u32> {
        let choices = self
            .routed
            .as_ref()
            .map_or(1, |(_, r)| r.alternatives().clamp(1, REROUTE_TRIES));
        (0..choices).map(|k| first.wrapping_add(k)).find(|&c| {
            self.route_choice(port, dst, vc, c, path).is_ok() && self.failed_on(path).is_none()
        })
    }

    /// The directions message `msg` leaving on endpoint port `port` for
    /// `dst` on `vc` crosses, written into `path` (cleared first), and its
    /// *tail*: the time from its last flit leaving to its delivery, ps (its
    /// head's latency over the path, less the one flit time at the path's
    /// slowest link that the transfer itself counts). A
    /// randomized route takes the choice the cycle engine hashes from the
    /// message's id, an adaptive one its minimal route (the flow model has
    /// no queues to adapt to).
    pub fn route(&self, msg: u32, port: u32, dst: u32, vc: u32, path: &mut Vec<u32>) -> Result<Ps> {
        let choice = match &self.routed {
            Some((_, routing)) if routing.choices() > 1 => routing
                .adaptive_minimal(EndpointId(dst))
                .unwrap_or(crate::rng::flow_hash(msg, 0) as u32),
            _ => 0,
        };
        let tail = match self.route_choice(port, dst, vc, choice, path) {
            // (no port of `src` had a way around: `pick_port` gave its first)
            Err(_) if !self.failed.is_empty() => return Err(self.no_way_around(port, dst)),
            r => r?,
        };
        if self.failed_on(path).is_none() {
            return Ok(tail);
        }
        // a failed link on the way: the route's next choices, in turn
        match self.choice_avoiding(port, dst, vc, choice.wrapping_add(1), path) {
            Some(c) => self.route_choice(port, dst, vc, c, path),
            None => Err(self.no_way_around(port, dst)),
        }
    }

    /// The error of a message from `port`'s endpoint to `dst` that no
    /// route takes around the failed links.
    fn no_way_around(&self, port: u32, dst: u32) -> Error {
        let src = self.ends[self.inj_dir[port as usize] as usize]
            .0
            .index(self.endpoints);
        let failed: Vec<String> = (0..self.num_dirs())
            .filter(|&d| self.failed[d])
            .take(4)
            .map(|d| {
                let (a, b) = self.ends[d];
                format!(
                    "{d} ({} -> {})",
                    a.index(self.endpoints),
                    b.index(self.endpoints)
                )
            })
            .collect();
        Error::spec(
            "options.faults",
            format!(
                "every route from endpoint {src} to {dst} crosses a failed link (link_failed: direction {}); the fabric has no path around it",
                failed.join(", ")
            ),
        )
    }

    /// The directions from endpoint port `port` to `dst` on `vc` with the
    /// multipath choice `choice`, and the tail (see [`FlowFabric::route`]).
    fn route_choice(
        &self,
        port: u32,
        dst: u32,
        vc: u32,
        choice: u32,
        path: &mut Vec<u32>,
    ) -> Result<Ps> {
        path.clear();
        let src = match self.ends[self.inj_dir[port as usize] as usize].0 {
            Node::Endpoint(e) => e.0,
            Node::Router(..) => unreachable!("an endpoint port's direction leaves an endpoint"),
        };
        let first = self.inj_dir[port as usize];
        path.push(first);
        let mut cycles = self.wire_cycles[first as usize];
        let Some((g, routing)) = &self.routed else {
            return Ok(self.tail_ps(cycles, path));
        };
        let Node::Router(mut r, mut in_port) = self.ends[first as usize].1 else {
            return Ok(self.tail_ps(cycles, path));
        };
        let target = EndpointId(dst);
        let mut class = routing.class_of_vc(vc, self.params.vcs);
        // A route longer than every router twice over has looped.
        let max_hops = 2 * g.routers.len() + 2;
        loop {
            let hop = routing.route(g, r, in_port, class, target, choice);
            let router = &g.routers[r as usize];
            let Some(&peer) = router.ports.get(hop.port as usize) else {
                return Err(bad_route(r, hop.port, src, dst));
            };
            let d = self.out_dir[(self.first_port[r as usize] + hop.port) as usize];
            path.push(d);
            cycles += self.router_cycles + self.wire_cycles[d as usize];
            match peer {
                Peer::Endpoint(e) if e == target => break,
                Peer::Router(r2, p2) if path.len() <= max_hops => {
                    (r, in_port, class) = (r2, p2, hop.class);
                }
                _ => return Err(bad_route(r, hop.port, src, dst)),
            }
        }
        Ok(self.tail_ps(cycles, path))
    }

    /// A path's tail (see [`FlowFabric::route`]) from its head's latency
    /// in cycles.
    fn tail_ps(&self, head_cycles: u64, path: &[u32]) -> Ps {
        let (num, den) = path
            .iter()
            .map(|&d| self.pace[d as usize])
            .min_by(|a, b| (a.0 * b.1).cmp(&(b.0 * a.1)))
            .unwrap_or((1, 1));
        let flit_ps = self.params.clock.period_ps_f64() * den as f64 / num as f64;
        (self.params.clock.start_ps(head_cycles) as f64 - flit_ps)
            .round()
            .max(0.0) as Ps
    }
}

fn bad_route(r: u32, port: u32, src: u32, dst: u32) -> Error {
    Error::spec(
        "topology",
        format!("the routing sends a message from {src} to {dst} out of router {r} port {port}, which does not lead there"),
    )
}
