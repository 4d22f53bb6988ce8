//! `FabricSpec`: topology + the link and endpoint types it is built of.

use super::{ensure, EndpointSpec, LinkParams, LinkSpec, Packing};
use crate::error::{Error, Result};
use crate::network::link_dir::Pace;
use crate::topology::cluster::Cluster;
use crate::topology::dragonfly::Dragonfly;
use crate::topology::fat_tree3::FatTree3;
use crate::topology::user;
use serde::{Deserialize, Serialize};

/// How a fat-tree leaf picks the spine for a packet going up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpineChoice {
    /// `destination mod spines`: deterministic, the routes to one endpoint
    /// form a tree.
    #[default]
    DModK,
    /// A fixed hash of (source, destination), like ECMP.
    Ecmp,
}

/// Which routing a dragonfly uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DragonflyRoutingChoice {
    #[default]
    Minimal,
    Valiant,
    /// UGAL-L: at the source router, minimal unless its first hop's queue is
    /// more than twice the Valiant first hop's (Valiant's VC scheme).
    Ugal,
}

/// The shape of the fabric. Tagged by `type` so that new topologies are new
/// variants, never a breaking change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TopologySpec {
    /// Two endpoints joined by one bidirectional link (no routers).
    PointToPoint,
    /// `n` routers in a ring, one endpoint each.
    Ring { n: u32 },
    /// A mesh of `dims` routers (any number of dimensions), one endpoint each.
    Mesh { dims: Vec<u32> },
    /// A torus of `dims` routers, one endpoint each.
    Torus { dims: Vec<u32> },
    /// `n` routers, each linked to every other, one endpoint each.
    FullyConnected { n: u32 },
    /// `n` endpoints on one switch, or on `planes` switches (each endpoint
    /// with one port per plane; its messages spread over the planes).
    SwitchStar {
        n: u32,
        #[serde(default = "one_plane")]
        planes: u32,
        /// In-network reduction (NVLS-like): every switch gets this many
        /// reduction units, each an endpoint on one more port of its switch
        /// only (endpoints `n + plane * reduction_ports + k`). A unit
        /// receives, reduces and multicasts at its port's rate, so
        /// `reduction_ports = n` reduces at the switch's full port rate.
        #[serde(default, skip_serializing_if = "is_zero")]
        reduction_ports: u32,
    },
    /// A two-level fat-tree (leaf-spine): `leaves` leaf switches with `down`
    /// endpoints each and one link to each of `up` spines
    /// (oversubscription `down / up`).
    FatTree {
        leaves: u32,
        down: u32,
        up: u32,
        #[serde(default)]
        spine: SpineChoice,
    },
    /// A three-level fat-tree (k-ary folded Clos): `k` pods of `k/2` edge
    /// switches with `down` endpoints and `up` aggregation switches each.
    FatTree3 {
        k: u32,
        down: u32,
        up: u32,
        #[serde(default)]
        spine: SpineChoice,
    },
    /// A dragonfly: groups of `a` fully connected routers with `p` endpoints
    /// and `h` global links each; `a*h + 1` groups joined all-to-all.
    Dragonfly {
        p: u32,
        a: u32,
        h: u32,
        /// `"minimal"` (default) or `"valiant"`.
        #[serde(default)]
        routing: DragonflyRoutingChoice,
    },
    /// A cluster of `nodes` nodes of `gpus` endpoints each on `planes` node
    /// switches, every endpoint's NIC on a rail-optimized two-level
    /// fat-tree (leaf `i` takes endpoint `i` of every node; `spines`
    /// spines). The scale-out part (NICs, leaves, spines) uses the fabric's
    /// `network_link`.
    Cluster {
        nodes: u32,
        gpus: u32,
        planes: u32,
        spines: u32,
    },
    /// Any graph: `routers` routers, bidirectional `edges` between them, and
    /// `endpoints[e]` = the router endpoint `e` attaches to. Routed by
    /// shortest-path tables.
    Graph {
        routers: u32,
        edges: Vec<(u32, u32)>,
        endpoints: Vec<u32>,
    },
}

/// Topologies are capped at this many routers/endpoints.
pub const MAX_NODES: u64 = 1 << 20;

impl TopologySpec {
    pub fn num_endpoints(&self) -> usize {
        match self {
            TopologySpec::PointToPoint => 2,
            TopologySpec::Ring { n } | TopologySpec::FullyConnected { n } => *n as usize,
            TopologySpec::SwitchStar {
                n,
                planes,
                reduction_ports,
            } => (n + planes * reduction_ports) as usize,
            TopologySpec::Mesh { dims } | TopologySpec::Torus { dims } => {
                dims.iter().map(|&k| k as usize).product()
            }
            TopologySpec::Graph { endpoints, .. } => endpoints.len(),
            TopologySpec::Cluster { nodes, gpus, .. } => (nodes * gpus) as usize,
            TopologySpec::Dragonfly { p, a, h, .. } => {
                (dragonfly_shape(*p, *a, *h).routers() * p) as usize
            }
            TopologySpec::FatTree { leaves, down, .. } => (*leaves * *down) as usize,
            TopologySpec::FatTree3 { k, down, up, .. } => {
                fat_tree3_shape(*k, *down, *up).endpoints() as usize
            }
        }
    }

    /// The cluster's shape, for a cluster.
    pub fn cluster(&self) -> Option<Cluster> {
        match *self {
            TopologySpec::Cluster {
                nodes,
                gpus,
                planes,
                spines,
            } => Some(Cluster {
                nodes,
                gpus,
                planes,
                spines,
            }),
            _ => None,
        }
    }

    /// The first router of the scale-out network (whose links are the
    /// fabric's `network_link`), if the topology has one.
    pub fn scale_out_from(&self) -> Option<u32> {
        self.cluster().map(|c| c.scale_out_from())
    }

    /// Which link directions take the fabric's `network_link`: a cluster's
    /// scale-out network (every direction touching one of its routers);
    /// on the other routed topologies the links between routers (the
    /// injection and ejection links keep `link`, as BookSim's channels
    /// between routers may differ from its injection and ejection
    /// channels); `None` where no link joins two routers.
    pub fn network_links(&self) -> Option<NetworkLinks> {
        match self {
            TopologySpec::Cluster { .. } => self.scale_out_from().map(NetworkLinks::ScaleOutFrom),
            TopologySpec::PointToPoint | TopologySpec::SwitchStar { .. } => None,
            _ => Some(NetworkLinks::BetweenRouters),
        }
    }

    /// Endpoints that are not switch reduction units (`0..this`): the ones
    /// with memory, requesters and collective ranks.
    pub fn memory_endpoints(&self) -> usize {
        match self {
            TopologySpec::SwitchStar { n, .. } => *n as usize,
            _ => self.num_endpoints(),
        }
    }

    /// Why a message from `src` to `dst` has no route, if it has none:
    /// reduction units of different switches cannot reach each other, and
    /// a point-to-point link cannot turn a message back to its source.
    pub fn unroutable(&self, src: u32, dst: u32) -> Option<String> {
        if src == dst && !self.has_routers() {
            return Some(format!(
                "equals src ({src}); on a point-to-point link a message must go to the other endpoint (on routed topologies it loops back through its router)"
            ));
        }
        let TopologySpec::SwitchStar {
            n,
            reduction_ports: k,
            ..
        } = self
        else {
            return None;
        };
        let plane = |e: u32| (e >= *n).then(|| (e - n) / k);
        match (plane(src), plane(dst)) {
            (Some(a), Some(b)) if a != b => Some(format!(
                "endpoints {src} and {dst} are reduction units of switches {a} and {b}; a unit reaches only the endpoints and units of its own switch"
            )),
            _ => None,
        }
    }

    /// Bidirectional direct links as `(a, b)` endpoint pairs, for topologies
    /// without routers; each gives two link directions, `a -> b` then `b -> a`.
    pub fn links(&self) -> Vec<(u32, u32)> {
        match self {
            TopologySpec::PointToPoint => vec![(0, 1)],
            _ => Vec::new(),
        }
    }

    /// Whether the topology has routers (and so needs the router model).
    pub fn has_routers(&self) -> bool {
        !matches!(self, TopologySpec::PointToPoint)
    }

    pub fn validate(&self) -> Result<()> {
        match self {
            TopologySpec::PointToPoint => Ok(()),
            TopologySpec::Ring { n } => ensure(
                (3..=MAX_NODES as u32).contains(n),
                "n",
                &format!("in 3..={MAX_NODES}"),
                n,
            ),
            TopologySpec::FullyConnected { n } => ensure(
                (2..=MAX_NODES as u32).contains(n),
                "n",
                &format!("in 2..={MAX_NODES}"),
                n,
            ),
            TopologySpec::SwitchStar {
                n,
                planes,
                reduction_ports,
            } => {
                ensure(
                    (2..=MAX_NODES as u32).contains(n),
                    "n",
                    &format!("in 2..={MAX_NODES}"),
                    n,
                )?;
                ensure((1..=64).contains(planes), "planes", "in 1..=64", planes)?;
                let most = (crate::network::MAX_ROUTER_PORTS as u32).saturating_sub(*n);
                ensure(
                    *reduction_ports <= (*n).min(most),
                    "reduction_ports",
                    &format!(
                        "in 0..={} (at most one per endpoint, and {} router ports in all)",
                        (*n).min(most),
                        crate::network::MAX_ROUTER_PORTS
                    ),
                    reduction_ports,
                )
            }
            TopologySpec::Mesh { dims } | TopologySpec::Torus { dims } => {
                ensure(
                    !dims.is_empty(),
                    "dims",
                    "a list of at least one dimension size",
                    "[]",
                )?;
                for (i, &k) in dims.iter().enumerate() {
                    ensure(k >= 2, &format!("dims[{i}]"), ">= 2", k)?;
                }
                let total: u64 = dims.iter().map(|&k| k as u64).product();
                ensure(
                    total <= MAX_NODES,
                    "dims",
                    &format!("at most {MAX_NODES} routers in all"),
                    total,
                )
            }
            TopologySpec::Graph {
                routers,
                edges,
                endpoints,
            } => validate_graph(*routers, edges, endpoints),
            TopologySpec::Cluster {
                nodes,
                gpus,
                planes,
                spines,
            } => {
                // (the cycle engine refuses a leaf of more than 128 ports when it
                // builds: a rail's leaf has a port per node; the flow model has no limit)
                ensure((2..=4096).contains(nodes), "nodes", "in 2..=4096", nodes)?;
                ensure((1..=64).contains(gpus), "gpus", "in 1..=64", gpus)?;
                ensure((1..=16).contains(planes), "planes", "in 1..=16", planes)?;
                ensure((1..=4096).contains(spines), "spines", "in 1..=4096", spines)
            }
            TopologySpec::FatTree3 { k, down, up, .. } => {
                ensure(
                    (4..=64).contains(k) && k % 2 == 0,
                    "k",
                    "an even radix in 4..=64",
                    k,
                )?;
                ensure((1..=63).contains(down), "down", "in 1..=63", down)?;
                ensure(
                    (1..=64 - down).contains(up),
                    "up",
                    &format!("in 1..={} (edge radix 64 with {down} down)", 64 - down),
                    up,
                )
            }
            TopologySpec::Dragonfly { p, a, h, .. } => {
                ensure(
                    (1..=64).contains(p),
                    "p",
                    "in 1..=64 endpoints per router",
                    p,
                )?;
                ensure((1..=64).contains(a), "a", "in 1..=64 routers per group", a)?;
                ensure(
                    (1..=64).contains(h),
                    "h",
                    "in 1..=64 global links per router",
                    h,
                ) // so at most 64 * (64*64 + 1) routers, within MAX_NODES
            }
            TopologySpec::FatTree {
                leaves, down, up, ..
            } => {
                ensure(
                    (2..=64).contains(leaves),
                    "leaves",
                    "in 2..=64 (spine radix)",
                    leaves,
                )?;
                ensure((1..=63).contains(down), "down", "in 1..=63", down)?;
                ensure((1..=63).contains(up), "up", "in 1..=63", up)?;
                ensure(
                    down + up <= 64,
                    "up",
                    &format!("at most {} (leaf radix 64 with {down} down)", 64 - down),
                    up,
                )
            }
        }
    }
}

pub(crate) fn fat_tree3_shape(k: u32, down: u32, up: u32) -> FatTree3 {
    FatTree3 { k, down, up }
}

pub(crate) fn dragonfly_shape(p: u32, a: u32, h: u32) -> Dragonfly {
    Dragonfly { p, a, h }
}

/// Indices in range, no self loops, every endpoint reachable from every other.
fn validate_graph(routers: u32, edges: &[(u32, u32)], endpoints: &[u32]) -> Result<()> {
    ensure(
        (1..=MAX_NODES as u32).contains(&routers),
        "routers",
        &format!("in 1..={MAX_NODES}"),
        routers,
    )?;
    ensure(
        (2..=MAX_NODES as usize).contains(&endpoints.len()),
        "endpoints",
        &format!("a list of 2..={MAX_NODES} routers (one per endpoint), of length"),
        endpoints.len(),
    )?;
    for (e, &r) in endpoints.iter().enumerate() {
        ensure(
            r < routers,
            &format!("endpoints[{e}]"),
            &format!("a router in 0..{routers}"),
            r,
        )?;
    }
    for (i, &(a, b)) in edges.iter().enumerate() {
        for x in [a, b] {
            ensure(
                x < routers,
                &format!("edges[{i}]"),
                &format!("a pair of routers in 0..{routers}"),
                x,
            )?;
        }
        ensure(
            a != b,
            &format!("edges[{i}]"),
            "two different routers (no self loops)",
            a,
        )?;
    }
    let g = user::user_graph(routers, edges, endpoints);
    let cut = user::unreachable_from(&g, endpoints[0]);
    match endpoints.iter().find(|r| cut.contains(r)) {
        Some(r) => Err(Error::spec(
            "edges",
            format!(
                "leave router {r} (with an endpoint) unreachable from router {}: the graph must connect every endpoint",
                endpoints[0]
            ),
        )),
        None => Ok(()),
    }
}

/// The routers of a routed topology (all alike).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSpec {
    /// A preset's name, what it is and the public sources of its numbers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Cycles a forwarded flit spends in the router pipeline beyond the one
    /// cycle in which it is routed, allocated and switched (0: a flit that
    /// arrives can leave in the same cycle). The lumped form of `stages`.
    #[serde(default)]
    pub pipeline_cycles: u32,
    /// Per-stage delays instead of the lumped `pipeline_cycles`: a head flit
    /// is routed when it reaches the front of its buffer, may win an output
    /// VC `routing` cycles later, the switch `vc_allocation` cycles after
    /// that, and reaches its output link `switch_allocation + traversal`
    /// cycles after winning the switch. Body flits only pass switch
    /// allocation and traversal.
    #[serde(default)]
    pub stages: Option<RouterStages>,
    /// Lookahead routing: the next hop's route is computed one router ahead,
    /// so a head flit skips the routing stage (needs `stages`).
    #[serde(default)]
    pub lookahead_routing: bool,
    /// How the switch allocator breaks ties.
    #[serde(default)]
    pub allocator: Allocator,
    /// How waiting heads get output VCs: in one pass (default), or by an
    /// iSLIP match between input VCs and free output VCs (BookSim's).
    #[serde(default)]
    pub vc_allocator: VcAllocator,
    /// Rounds of request, grant and accept in each iSLIP allocator
    /// (`allocator` or `vc_allocator` = `islip`); default 3.
    #[serde(default)]
    pub islip_iterations: Option<u32>,
    /// Wormhole, or virtual cut-through: a head flit wins an output VC only
    /// when the buffer behind it has room for its whole packet.
    #[serde(default)]
    pub switching: Switching,
    /// VCs per port. When given, every link of the fabric carries this many
    /// in place of `link.vcs` (a packet keeps its VC class end to end, so
    /// all links have the same VCs).
    #[serde(default)]
    pub vcs: Option<u32>,
    /// Flits of buffer per VC at each router input: the credits of every
    /// link into a router. Default: the link's `credits_per_vc`, which
    /// endpoints' receive buffers keep either way.
    #[serde(default)]
    pub buffer_flits: Option<u32>,
    /// The routing function: the topology's own, or one chosen apart from
    /// the topology where that is meaningful.
    #[serde(default)]
    pub routing: RoutingChoice,
}

/// Which routing function the routers run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingChoice {
    /// The topology's own: dimension-order on grids (dateline classes on
    /// rings and tori), direct on stars and cliques, up/down on fat-trees,
    /// the dragonfly's choice, shortest-path tables on user graphs.
    #[default]
    Topology,
    /// Shortest-path tables on the router graph, on any topology whose
    /// routers form one connected graph (deadlock freedom is not built in:
    /// the static check proves or refutes it).
    ShortestPath,
}

/// Which link directions of a fabric are its `network_link`s
/// ([`TopologySpec::network_links`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkLinks {
    /// Every direction touching a router from this one on (a cluster's
    /// scale-out network).
    ScaleOutFrom(u32),
    /// Every direction from a router to a router.
    BetweenRouters,
}

fn one_plane() -> u32 {
    1
}

/// The payload share of a link's wire with full packets, as a fraction
/// (`LinkParams::goodput_fraction`, exactly).
fn payload_share(l: &LinkSpec) -> (u128, u128) {
    let (mtu, oh, fb) = (
        u128::from(l.mtu_bytes),
        u128::from(l.packet_overhead_bytes),
        u128::from(l.flit_bytes),
    );
    let fp = fb - u128::from(l.flit_overhead_bytes);
    match l.packing {
        Packing::Padded => (mtu, (mtu + oh).div_ceil(fp) * fb),
        Packing::Packed => (mtu * fp, (mtu + oh) * fb),
    }
}

fn gcd128(a: u128, b: u128) -> u128 {
    if b == 0 {
        a
    } else {
        gcd128(b, a % b)
    }
}

fn is_zero(k: &u32) -> bool {
    *k == 0
}

fn one_cycle() -> u32 {
    1
}

/// The delay of each router pipeline stage, in cycles (BookSim's
/// routing_delay, vc_alloc_delay, sw_alloc_delay, st_final_delay).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterStages {
    #[serde(default = "one_cycle")]
    pub routing: u32,
    #[serde(default = "one_cycle")]
    pub vc_allocation: u32,
    #[serde(default = "one_cycle")]
    pub switch_allocation: u32,
    #[serde(default = "one_cycle")]
    pub traversal: u32,
}

/// Flow control of a packet through the routers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Switching {
    /// A packet advances flit by flit and may span several routers.
    #[default]
    Wormhole,
    /// A packet's head advances only into a buffer that can hold the whole
    /// packet, so a blocked packet collects in one router.
    VirtualCutThrough,
}

/// The router timing the engine runs: gates on a head flit's VC and switch
/// allocation, and the extra delay of every forwarded flit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouterTiming {
    /// Cycles from routing a head flit to its first VC-allocation attempt.
    pub route_to_va: u64,
    /// Cycles from winning a VC to the first switch-allocation attempt.
    pub va_to_sa: u64,
    /// Extra cycles after winning the switch before the output link.
    pub output_delay: u64,
}

/// Switch-allocation policy. Both are separable, input first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Allocator {
    /// Round-robin at the inputs and at the outputs.
    #[default]
    RoundRobin,
    /// The flit whose message was offered at its source earliest wins, at
    /// the inputs and at the outputs (ties: lower message id). Fairer to far-away
    /// sources than round-robin, whose shares halve at every merge.
    OldestFirst,
    /// Switch allocation by iSLIP (3 iterations of request, grant, accept
    /// over all ready VCs); VC allocation round-robin.
    Islip,
}

/// VC-allocation policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VcAllocator {
    /// One pass over the waiting input VCs from the one after the last
    /// winner (or oldest first with `allocator = "oldest_first"`); each
    /// takes the first free VC of its class from where its output's last
    /// search left off.
    #[default]
    InTurn,
    /// BookSim's: each waiting input VC requests every free output VC its
    /// packet may take; output VCs grant and input VCs accept round-robin,
    /// `islip_iterations` rounds (a separable match: an input VC may lose
    /// although another free VC of its output went unrequested this round).
    Islip,
}

/// iSLIP's rounds when a spec leaves `islip_iterations` out.
pub const DEFAULT_ISLIP_ITERATIONS: u32 = 3;

impl RouterSpec {
    /// Rounds of each iSLIP allocator.
    pub fn islip_rounds(&self) -> u32 {
        self.islip_iterations.unwrap_or(DEFAULT_ISLIP_ITERATIONS)
    }

    pub fn validate(&self) -> Result<()> {
        use crate::spec::link::{MAX_CREDITS_PER_VC, MAX_VCS};
        // (the link's own bounds; left out, the link's value stands)
        for (field, value, max, link_field) in [
            ("vcs", self.vcs, MAX_VCS, "vcs"),
            (
                "buffer_flits",
                self.buffer_flits,
                MAX_CREDITS_PER_VC,
                "credits_per_vc",
            ),
        ] {
            if let Some(v) = value {
                ensure(
                    (1..=max).contains(&v),
                    field,
                    &format!("1..={max} (or left out: the link's {link_field})"),
                    v,
                )?;
            }
        }
        if let Some(k) = self.islip_iterations {
            ensure((1..=16).contains(&k), "islip_iterations", "1..=16", k)?;
        }
        ensure(
            self.pipeline_cycles <= 1000,
            "pipeline_cycles",
            "<= 1000",
            self.pipeline_cycles,
        )?;
        if let Some(s) = &self.stages {
            for (name, v) in [
                ("routing", s.routing),
                ("vc_allocation", s.vc_allocation),
                ("switch_allocation", s.switch_allocation),
                ("traversal", s.traversal),
            ] {
                ensure(v <= 1000, &format!("stages.{name}"), "<= 1000", v)?;
            }
            ensure(
                s.switch_allocation + s.traversal >= 1,
                "stages.traversal",
                "at least 1 together with stages.switch_allocation (a flit takes a cycle to cross)",
                s.traversal,
            )?;
            ensure(
                self.pipeline_cycles == 0,
                "pipeline_cycles",
                "0 when stages are given (stages replace the lumped pipeline)",
                self.pipeline_cycles,
            )?;
        } else if self.lookahead_routing {
            return Err(Error::spec(
                "lookahead_routing",
                "needs stages (it removes the routing stage's delay; the lumped pipeline_cycles has no stages)",
            ));
        }
        Ok(())
    }

    /// The timing the engine runs. Per hop, a head flit spends
    /// `routing + vc_allocation + switch_allocation + traversal` cycles in a
    /// router (without `routing` under lookahead); the lumped form spends
    /// `1 + pipeline_cycles`.
    pub fn timing(&self) -> RouterTiming {
        match &self.stages {
            None => RouterTiming {
                route_to_va: 0,
                va_to_sa: 0,
                output_delay: self.pipeline_cycles as u64,
            },
            Some(s) => RouterTiming {
                route_to_va: if self.lookahead_routing {
                    0
                } else {
                    s.routing as u64
                },
                va_to_sa: s.vc_allocation as u64,
                output_delay: (s.switch_allocation + s.traversal) as u64 - 1,
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FabricSpec {
    /// A preset's name, what it is and the public sources of its numbers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    pub topology: TopologySpec,
    pub link: LinkSpec,
    /// The link of the scale-out network (NICs, leaves and spines of a
    /// `cluster`), or of the links between routers; `link` when absent. It
    /// shares `link`'s flits and VCs (packets cross both) and may carry
    /// another packet format (`mtu_bytes`, `packet_overhead_bytes`: a NIC
    /// repacketizes): it moves `link`'s flits at the payload rate its own
    /// format gives, `(its rate x its payload share) / (link's rate x
    /// link's payload share)` flits per cycle, at most 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_link: Option<LinkSpec>,
    #[serde(default)]
    pub endpoint: EndpointSpec,
    #[serde(default)]
    pub router: RouterSpec,
    /// A preset's memory per endpoint: the name of an HBM preset (one stack
    /// per endpoint), which `Fabric.preset` attaches as `hbm`; empty for none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub memory: String,
}

impl FabricSpec {
    /// A fabric of `topology` and `link` with default endpoints and routers.
    pub fn new(topology: TopologySpec, link: LinkSpec) -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            sources: Vec::new(),
            topology,
            link,
            network_link: None,
            endpoint: EndpointSpec::default(),
            router: RouterSpec::default(),
            memory: String::new(),
        }
    }

    /// The VCs every link of the fabric carries: `router.vcs` if given,
    /// else `link.vcs`.
    pub fn vcs(&self) -> u32 {
        self.router.vcs.unwrap_or(self.link.vcs)
    }

    /// The field that sets [`FabricSpec::vcs`], for error messages.
    pub fn vcs_field(&self) -> &'static str {
        if self.router.vcs.is_some() {
            "router.vcs"
        } else {
            "link.vcs"
        }
    }

    /// `link` as the fabric runs it: with `router.vcs` when given.
    pub fn effective(&self, link: &LinkSpec) -> LinkSpec {
        let mut link = link.clone();
        link.vcs = self.vcs();
        link
    }

    /// The main link's parameters as the fabric runs them (see `effective`).
    pub fn link_params(&self) -> Result<LinkParams> {
        self.effective(&self.link)
            .resolve()
            .map_err(|e| e.within("link"))
    }

    /// The link parameters of the fabric's link kinds, times in cycles of
    /// `link`'s clock: `link`'s, then the scale-out network's with its pace
    /// (flits per cycle as `num / den`). Validated spec.
    pub fn link_kinds(&self) -> Result<(LinkParams, LinkParams, Pace)> {
        let base = self.link_params()?;
        let Some(net) = &self.network_link else {
            return Ok((base.clone(), base, Pace::new(1, 1)));
        };
        // (it carries `link`'s flits and packets; its own format sets only its pace)
        let mut carried = self.effective(net);
        carried.mtu_bytes = self.link.mtu_bytes;
        carried.packet_overhead_bytes = self.link.packet_overhead_bytes;
        let p = carried.resolve_on(base.clock);
        let (num, den) = self.network_pace(net);
        Ok((base, p, Pace::new(num, den)))
    }

    /// How much of its capacity a link of the fabric keeps at bit-error rate
    /// `ber` against its spec's own (its retry efficiency at `ber` over the
    /// one at the spec's `ber`): the scale-out network's link if `network`.
    /// Validated spec.
    pub fn ber_capacity_factor(&self, network: bool, ber: f64) -> Result<f64> {
        let efficiency = |ber: Option<f64>| -> Result<f64> {
            let p = match (&self.network_link, network) {
                (Some(net), true) => {
                    let mut carried = self.effective(net);
                    carried.mtu_bytes = self.link.mtu_bytes;
                    carried.packet_overhead_bytes = self.link.packet_overhead_bytes;
                    if let Some(b) = ber {
                        carried.ber = b;
                    }
                    carried.resolve_on(self.link_params()?.clock)
                }
                _ => {
                    let mut link = self.effective(&self.link);
                    if let Some(b) = ber {
                        link.ber = b;
                    }
                    link.resolve().map_err(|e| e.within("link"))?
                }
            };
            Ok(p.retry_efficiency())
        };
        Ok(efficiency(Some(ber))? / efficiency(None)?)
    }

    /// The scale-out link's flits (of `link`'s format) per cycle of `link`'s
    /// clock, `num / den` in lowest terms: the ratio of the two links'
    /// payload rates, each at its own packet format with full packets.
    fn network_pace(&self, net: &LinkSpec) -> (u64, u64) {
        let ((sn, sd), (ln, ld)) = (payload_share(net), payload_share(&self.link));
        let mut num = u128::from(net.rate_kbps()) * sn * ld;
        let mut den = u128::from(self.link.rate_kbps()) * ln * sd;
        let g = gcd128(num, den);
        (num, den) = (num / g, den / g);
        // (exact unless the terms are large: then within 2^-24 of it; the pacer
        // multiplies the cycle count by `num`, which must not overflow in 2^40 cycles)
        while num > 1 << 24 || den > 1 << 24 {
            (num, den) = (num.div_ceil(2), den.div_ceil(2));
        }
        (num as u64, den as u64)
    }

    fn validate_network_link(&self, net: &LinkSpec) -> Result<()> {
        net.validate()?;
        let (a, b) = (&self.link, net);
        for (field, mine, theirs) in [
            ("flit_bytes", b.flit_bytes, a.flit_bytes),
            (
                "flit_overhead_bytes",
                b.flit_overhead_bytes,
                a.flit_overhead_bytes,
            ),
            ("vcs", self.effective(b).vcs, self.effective(a).vcs),
        ] {
            ensure(
                mine == theirs,
                field,
                &format!("{theirs}, as link's (packets cross both kinds of link)"),
                mine,
            )?;
        }
        ensure(
            b.packing == a.packing,
            "packing",
            "link's (packets cross both kinds of link)",
            format!("{:?}", b.packing),
        )?;
        ensure(
            b.rate_kbps() <= a.rate_kbps(),
            "gbps_per_lane",
            &format!(
                "a rate (lanes x gbps_per_lane) of at most link's {} Gb/s (the fabric's clock is link's flit time)",
                a.rate_kbps() as f64 / 1e6
            ),
            b.rate_kbps() as f64 / 1e6,
        )?;
        let (num, den) = self.network_pace(b);
        let payload_gbps = |l: &LinkSpec| {
            let (n, d) = payload_share(l);
            l.rate_kbps() as f64 / 1e6 * n as f64 / d as f64
        };
        ensure(
            num <= den,
            "mtu_bytes",
            &format!(
                "a packet format whose payload rate is at most link's {:.1} Gb/s (the fabric's clock is link's flit time)",
                payload_gbps(a)
            ),
            format!("{} ({:.1} Gb/s of payload)", b.mtu_bytes, payload_gbps(b)),
        )
    }

    /// A routing function chosen apart from the topology must fit it:
    /// shortest-path tables need one connected router graph that every
    /// endpoint port reaches alike (not the planes of a multi-plane star or
    /// a cluster, whose endpoints enter at chosen ports).
    fn validate_routing_choice(&self) -> Result<()> {
        if self.router.routing == RoutingChoice::Topology {
            return Ok(());
        }
        let fits = match &self.topology {
            TopologySpec::PointToPoint => Some("a point-to-point fabric has no routers"),
            TopologySpec::SwitchStar {
                planes,
                reduction_ports,
                ..
            } if *planes > 1 || *reduction_ports > 0 => {
                Some("a star of several planes or with reduction units is not one connected graph")
            }
            TopologySpec::Cluster { .. } => {
                Some("a cluster's endpoints enter at chosen ports (its own routing decides)")
            }
            _ => None,
        };
        match fits {
            Some(why) => Err(Error::spec(
                "router.routing",
                format!("shortest_path does not fit this topology: {why}; use \"topology\""),
            )),
            None => Ok(()),
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.topology.validate().map_err(|e| e.within("topology"))?;
        self.link.validate().map_err(|e| e.within("link"))?;
        self.router.validate().map_err(|e| e.within("router"))?;
        self.validate_routing_choice()?;
        self.endpoint.validate().map_err(|e| e.within("endpoint"))?;
        if !self.memory.is_empty() {
            crate::spec::presets::hbm_preset_toml(&self.memory).map_err(|e| e.within("memory"))?;
        }
        if let Some(net) = &self.network_link {
            if self.topology.network_links().is_none() {
                return Err(Error::spec(
                    "network_link",
                    "the topology has no link between two routers (a point-to-point link, or a star of one switch per plane); leave network_link out",
                ));
            }
            self.validate_network_link(net)
                .map_err(|e| e.within("network_link"))?;
        }
        if let Some(flits) = self.router.buffer_flits {
            let k = self.link.credit_coalesce_flits;
            ensure(
                flits >= k,
                "router.buffer_flits",
                &format!(">= link.credit_coalesce_flits ({k}): a router input returns credits {k} at a time, so a smaller buffer never frees enough of them and the link stalls for good"),
                flits,
            )?;
        }
        if self.router.switching == Switching::VirtualCutThrough {
            if self.link.packing == crate::spec::Packing::Packed {
                return Err(Error::spec(
                    "router.switching",
                    "virtual_cut_through needs link.packing = \"padded\": a packed flit can carry the end of one packet and the start of the next, so packets have no flit boundary to cut through at",
                ));
            }
            let p = self.link_params()?;
            let need = p.packet_flits(p.mtu_bytes as u64);
            // (the next buffer may be a router's input or an endpoint's)
            let mut buffers = vec![("link.credits_per_vc", p.credits_per_vc)];
            if let Some(b) = self.router.buffer_flits {
                buffers.push(("router.buffer_flits", b));
            }
            for (field, flits) in buffers {
                ensure(
                    flits as u64 >= need,
                    field,
                    &format!(">= {need} with virtual_cut_through (a whole MTU packet must fit a VC's buffer)"),
                    flits,
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod router_vcs_and_buffers_tests {
    use super::*;
    use crate::spec::presets::link_preset;

    #[test]
    fn a_network_links_pace_is_its_payload_rate_in_small_enough_terms() {
        // node: 128 B packets + 32 B (80% of 128 Gb/s); NIC: a third of the rate, 4 KiB + 26 B
        let mut spec = FabricSpec::new(
            TopologySpec::Torus { dims: vec![3, 3] },
            link_preset("noc").unwrap(),
        );
        spec.link.vcs = 2;
        (spec.link.mtu_bytes, spec.link.packet_overhead_bytes) = (128, 32);
        let mut nic = spec.link.clone();
        nic.gbps_per_lane = 128.0 / 3.0;
        (nic.mtu_bytes, nic.packet_overhead_bytes) = (4096, 26);
        spec.network_link = Some(nic);
        spec.validate().unwrap();
        let (_, carried, pace) = spec.link_kinds().unwrap();
        let want = (128.0 / 3.0 * 4096.0 / 4128.0) / (128.0 * 0.8);
        assert!((pace.num as f64 / pace.den as f64 / want - 1.0).abs() < 1e-6);
        // the pacer multiplies a cycle count by `num`: 2^40 cycles must not overflow
        assert!(
            pace.num <= 1 << 24 && pace.den <= 1 << 24,
            "{} / {}",
            pace.num,
            pace.den
        );
        // it carries the node's packets: its own format sets only its pace
        assert_eq!(
            (carried.mtu_bytes, carried.packet_overhead_bytes),
            (128, 32)
        );
    }

    fn torus(router: RouterSpec) -> FabricSpec {
        let mut spec = FabricSpec::new(
            TopologySpec::Torus { dims: vec![5, 5] },
            link_preset("noc").unwrap(),
        );
        spec.link.vcs = 1;
        spec.router = router;
        spec
    }

    #[test]
    fn router_vcs_replace_the_links_everywhere_they_are_read() {
        let spec = torus(RouterSpec {
            vcs: Some(2),
            ..RouterSpec::default()
        });
        assert_eq!(spec.vcs(), 2);
        assert_eq!(spec.vcs_field(), "router.vcs");
        assert_eq!(spec.link_params().unwrap().vcs, 2);
        assert_eq!(spec.link_kinds().unwrap().1.vcs, 2);
        // the dateline torus needs two classes: with the link's one VC it could deadlock
        // (on 5x5: on a 4x4 torus no route closes a ring, see routing/dor.rs)
        assert!(
            crate::build::check_deadlock_freedom(&spec)
                .unwrap()
                .unwrap()
                .ok
        );
        let plain = torus(RouterSpec::default());
        assert_eq!((plain.vcs(), plain.vcs_field()), (1, "link.vcs"));
        assert!(
            !crate::build::check_deadlock_freedom(&plain)
                .unwrap()
                .unwrap()
                .ok
        );
    }

    #[test]
    fn router_buffers_are_checked_against_what_they_must_hold() {
        let err = |router: RouterSpec, link: fn(&mut LinkSpec)| {
            let mut spec = torus(router);
            spec.link.vcs = 2;
            link(&mut spec.link);
            spec.validate().unwrap_err().to_string()
        };
        let e = err(
            RouterSpec {
                buffer_flits: Some(0),
                ..RouterSpec::default()
            },
            |_| {},
        );
        assert!(e.starts_with("router.buffer_flits: must be 1..="), "{e}");
        let e = err(
            RouterSpec {
                buffer_flits: Some(2),
                ..RouterSpec::default()
            },
            |l| l.credit_coalesce_flits = 4,
        );
        assert!(
            e.starts_with("router.buffer_flits: must be >= link.credit_coalesce_flits (4)"),
            "{e}"
        );
        let e = err(
            RouterSpec {
                buffer_flits: Some(3),
                switching: Switching::VirtualCutThrough,
                ..RouterSpec::default()
            },
            |l| l.mtu_bytes = 64,
        );
        assert!(
            e.starts_with("router.buffer_flits: must be >= 4 with virtual_cut_through"),
            "{e}"
        );
    }
}
