//! The build step: a validated spec's topology becomes its router graph and
//! its routing function (the topology's own, or one the router spec
//! chooses apart from it). Specs (`spec/`) describe; this module builds what
//! the engine runs, the network (`network::Network::new`) and the static
//! deadlock check (`deadlock`) alike, so both see the same routing.
//!
//! ```text
//!  TopologySpec --graph()--> Graph --routing(+ router.routing)--> Routing --> Network / deadlock::check
//! ```
//!
//! Adding a topology: its builder in `topology/`, its spec variant in
//! `spec/fabric.rs`, its arm in `graph` (and in `routing` if it needs a
//! routing function of its own). Adding a routing function: its file in
//! `routing/`, its arm in `Routing` (`routing/mod.rs`), its arm in `routing`.

use crate::deadlock::{self, DeadlockReport};
use crate::error::Result;
use crate::routing::dor::DimensionOrder;
use crate::routing::dragonfly::DragonflyRouting;
use crate::routing::table::ShortestPath;
use crate::routing::updown::UpDown;
use crate::routing::updown3::UpDown3;
use crate::routing::Routing;
use crate::spec::fabric::{
    dragonfly_shape, fat_tree3_shape, DragonflyRoutingChoice, RoutingChoice,
};
use crate::spec::{FabricSpec, TopologySpec};
use crate::topology::{fat_tree, grid, star, user, Graph};

/// The router graph, for topologies with routers.
pub fn graph(t: &TopologySpec) -> Option<Graph> {
    Some(match t {
        TopologySpec::PointToPoint => return None,
        TopologySpec::Ring { n } => grid::grid(&[*n], true),
        TopologySpec::Mesh { dims } => grid::grid(dims, false),
        TopologySpec::Torus { dims } => grid::grid(dims, true),
        TopologySpec::FullyConnected { n } => star::fully_connected(*n),
        TopologySpec::SwitchStar {
            n,
            planes,
            reduction_ports,
        } => star::switch_star(*n, *planes, *reduction_ports),
        TopologySpec::Cluster { .. } => t.cluster().expect("a cluster").graph(),
        TopologySpec::Graph {
            routers,
            edges,
            endpoints,
        } => user::user_graph(*routers, edges, endpoints),
        TopologySpec::FatTree {
            leaves, down, up, ..
        } => fat_tree::fat_tree(*leaves, *down, *up),
        TopologySpec::FatTree3 { k, down, up, .. } => fat_tree3_shape(*k, *down, *up).graph(),
        TopologySpec::Dragonfly { p, a, h, .. } => dragonfly_shape(*p, *a, *h).graph(),
    })
}

/// The routing function on this topology's graph `g`: dimension-order
/// (with dateline VC classes on rings and tori) on grids, direct on stars
/// and cliques, shortest-path tables on user graphs.
pub fn topology_routing(t: &TopologySpec, g: &Graph) -> Option<Routing> {
    let dor = |dims: &[u32], wrap: bool| {
        Routing::DimensionOrder(DimensionOrder::new(g, dims, wrap, wrap))
    };
    Some(match t {
        TopologySpec::PointToPoint => return None,
        TopologySpec::Ring { n } => dor(&[*n], true),
        TopologySpec::Mesh { dims } => dor(dims, false),
        TopologySpec::Torus { dims } => dor(dims, true),
        TopologySpec::FullyConnected { .. } | TopologySpec::SwitchStar { .. } => Routing::Direct,
        TopologySpec::Graph { .. } => Routing::ShortestPath(ShortestPath::new(g)),
        TopologySpec::Cluster { .. } => Routing::Cluster(t.cluster().expect("a cluster")),
        TopologySpec::FatTree3 { k, down, up, spine } => Routing::UpDown3(UpDown3 {
            shape: fat_tree3_shape(*k, *down, *up),
            spine: *spine,
        }),
        TopologySpec::Dragonfly { p, a, h, routing } => Routing::Dragonfly(DragonflyRouting {
            shape: dragonfly_shape(*p, *a, *h),
            valiant: *routing != DragonflyRoutingChoice::Minimal,
            adaptive: *routing == DragonflyRoutingChoice::Ugal,
        }),
        TopologySpec::FatTree {
            leaves,
            down,
            up,
            spine,
        } => Routing::UpDown(UpDown {
            leaves: *leaves,
            down: *down,
            up: *up,
            spine: *spine,
        }),
    })
}

/// The routing function the fabric's routers run on its graph `g`: the
/// topology's own (`topology_routing`), or the one its router spec chooses.
pub fn routing(spec: &FabricSpec, g: &Graph) -> Option<Routing> {
    match spec.router.routing {
        RoutingChoice::Topology => topology_routing(&spec.topology, g),
        RoutingChoice::ShortestPath => Some(Routing::ShortestPath(ShortestPath::new(g))),
    }
}

/// The VCs a packet may enter the fabric on: the first routing class's
/// share of the fabric's VCs (all of them without routers, where the
/// routing has one class, or under dimension-order routing, which sets a
/// packet's class afresh as it enters each dimension, the first included,
/// as BookSim's sources pick any VC). Sources spread fresh packets over them.
pub fn injection_vcs(spec: &FabricSpec) -> Result<u32> {
    spec.validate()?;
    let vcs = spec.vcs();
    let Some(g) = graph(&spec.topology) else {
        return Ok(vcs);
    };
    let routing = routing(spec, &g).expect("a graph has a routing function");
    if matches!(routing, Routing::DimensionOrder(_)) {
        return Ok(vcs);
    }
    let (lo, hi) = routing.vc_range(0, vcs);
    Ok((hi - lo).max(1))
}

/// The static deadlock check of the fabric's routing with its VCs (`None`
/// for topologies without routers: nothing to check).
pub fn check_deadlock_freedom(spec: &FabricSpec) -> Result<Option<DeadlockReport>> {
    spec.validate()?;
    let Some(g) = graph(&spec.topology) else {
        return Ok(None);
    };
    let routing = routing(spec, &g).expect("a topology with routers has a routing function");
    Ok(Some(deadlock::check(&g, &routing, spec.vcs())))
}
