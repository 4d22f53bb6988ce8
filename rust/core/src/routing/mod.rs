//! Routing functions: at a router, for a packet bound to an endpoint, which
//! output port and which VC class. One file per function.

pub mod cluster;
pub mod direct;
pub mod dor;
pub mod dragonfly;
pub mod table;
pub mod updown;
pub mod updown3;

use crate::ids::EndpointId;
use crate::topology::{Graph, RouterId};

/// A routing decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop {
    pub port: u32,
    /// VC class: packets of class `k` use only the VCs of class `k`.
    pub class: u8,
}

/// The closed set of routing functions (static dispatch, no `dyn`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routing {
    DimensionOrder(dor::DimensionOrder),
    Direct,
    ShortestPath(table::ShortestPath),
    UpDown(updown::UpDown),
    UpDown3(updown3::UpDown3),
    Dragonfly(dragonfly::DragonflyRouting),
    Cluster(crate::topology::cluster::Cluster),
}

impl Routing {
    /// The hop out of router `r` for a packet that arrived on `in_port`
    /// (the endpoint's port when injected) in VC class `class`, bound to `dst`.
    /// `choice` is fixed per message (a hash of its id) and picks among the
    /// routes of oblivious randomized routing (Valiant); the deadlock check
    /// tries `0..choices()`.
    #[inline]
    pub fn route(
        &self,
        g: &Graph,
        r: RouterId,
        in_port: u32,
        class: u8,
        dst: EndpointId,
        choice: u32,
    ) -> Hop {
        match self {
            Routing::DimensionOrder(d) => d.route(r, in_port, class, dst),
            Routing::Direct => direct::route(g, r, dst),
            Routing::ShortestPath(t) => t.route(g, r, dst),
            Routing::UpDown(u) => u.route(r, in_port, dst),
            Routing::UpDown3(u) => u.route(r, in_port, dst),
            Routing::Dragonfly(d) => d.route(r, class, dst, choice),
            Routing::Cluster(c) => cluster::route(c, r, dst),
        }
    }

    /// How many distinct `choice`s the function tells apart (1: deterministic).
    pub fn choices(&self) -> u32 {
        match self {
            Routing::Dragonfly(d) if d.valiant => d.shape.groups(),
            _ => 1,
        }
    }

    /// Whether a route depends on the network's state (UGAL reads the
    /// source router's queues): then the order heads are routed in matters.
    pub fn is_adaptive(&self) -> bool {
        matches!(self, Routing::Dragonfly(d) if d.adaptive)
    }

    /// For adaptive routing (UGAL): the choice that routes `dst` minimally.
    pub fn adaptive_minimal(&self, dst: EndpointId) -> Option<u32> {
        match self {
            Routing::Dragonfly(d) if d.adaptive => Some(d.minimal_choice(dst)),
            _ => None,
        }
    }

    /// VC classes the function uses (2 with dateline classes, else 1).
    pub fn classes(&self) -> u8 {
        match self {
            Routing::DimensionOrder(d) if d.dateline => 2,
            Routing::Dragonfly(d) => d.classes(),
            _ => 1,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Routing::DimensionOrder(d) if d.dateline => "dimension-order with dateline VC classes",
            Routing::DimensionOrder(_) => "dimension-order",
            Routing::Direct => "direct",
            Routing::ShortestPath(_) => "shortest-path tables (deadlock freedom not built in)",
            Routing::UpDown(u) if u.spine == crate::spec::SpineChoice::Ecmp => {
                "minimal up/down (ECMP: spine by flow hash)"
            }
            Routing::UpDown(_) => "minimal up/down (d-mod-k spine choice)",
            Routing::UpDown3(u) if u.spine == crate::spec::SpineChoice::Ecmp => {
                "three-level up/down (ECMP: uplinks by flow hash)"
            }
            Routing::UpDown3(_) => "three-level up/down (d-mod-k uplink choice)",
            Routing::Dragonfly(d) if d.adaptive => {
                "dragonfly UGAL (minimal or Valiant per message by the source router's queues; Valiant's VC classes)"
            }
            Routing::Dragonfly(d) if d.valiant => {
                "dragonfly Valiant (VC class up by one at each global hop)"
            }
            Routing::Dragonfly(_) => "dragonfly minimal (VC class 1 after the global hop)",
            Routing::Cluster(_) => {
                "cluster: direct in nodes, up/down over rail leaves and spines (d-mod-k)"
            }
        }
    }

    /// Whether `enters_at` may refuse some of an endpoint's ports (else
    /// every port reaches every destination and nobody needs to ask).
    pub fn restricts_ports(&self) -> bool {
        matches!(self, Routing::Cluster(_) | Routing::Direct)
    }

    /// Whether a message from endpoint `src` to `dst` may enter the network
    /// at router `r` (one of `src`'s ports): where an endpoint's ports lead
    /// to different parts of the fabric, only some reach `dst`. Messages go
    /// round the ports that may; the deadlock check starts only there.
    #[inline]
    pub fn enters_at(&self, g: &Graph, src: u32, r: RouterId, dst: u32) -> bool {
        match self {
            Routing::Cluster(c) => cluster::enters_at(c, src, r, dst),
            // a switch reduction unit hangs off one switch: enter there
            Routing::Direct => g.pinned_router(dst as usize).is_none_or(|p| p == r),
            _ => true,
        }
    }

    /// The VCs `lo..hi` a packet of `class` may take: its class's share of
    /// `vcs`, or all of them when there are fewer VCs than classes.
    pub fn vc_range(&self, class: u8, vcs: u32) -> (u32, u32) {
        let classes = self.classes() as u32;
        if classes > 1 && vcs >= classes {
            let share = vcs / classes;
            (class as u32 * share, (class as u32 + 1) * share)
        } else {
            (0, vcs)
        }
    }

    /// The class of a packet on VC `vc` (the inverse of [`Routing::vc_range`]).
    pub fn class_of_vc(&self, vc: u32, vcs: u32) -> u8 {
        let classes = self.classes() as u32;
        if classes > 1 && vcs >= classes {
            (vc / (vcs / classes)).min(classes - 1) as u8
        } else {
            0
        }
    }

    /// The VC a packet of `class` occupies when the link has `vcs` VCs: the
    /// first of its class's share. With fewer VCs than classes, all classes
    /// share VC 0 (and the separation the classes were for is lost).
    pub fn vc_of(&self, class: u8, vcs: u32) -> u32 {
        let classes = self.classes() as u32;
        if vcs >= classes {
            class as u32 * (vcs / classes)
        } else {
            0
        }
    }
}
