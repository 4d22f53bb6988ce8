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

/// A routing function. Contract (every method is answered by each function
/// itself: no default, so a new function must say what it does about each):
/// - `route(g, r, in_port, class, dst, choice)`: the hop out of router `r`
///   for a packet that arrived on `in_port` (the endpoint's port when
///   injected) in VC class `class`, bound to `dst`; pure, except that an
///   adaptive function's `choice` may come from the network's state.
///   `choice` is fixed per message (a hash of its id) and picks among the
///   routes of oblivious randomized routing (Valiant); the deadlock check
///   tries `0..choices()`.
/// - `choices()`: how many distinct `choice`s it tells apart (1: deterministic).
/// - `is_adaptive()`: a route depends on the network's state (the order
///   heads are routed in matters); then `adaptive_minimal(dst)` is the
///   choice that routes `dst` minimally (`None` when not adaptive).
/// - `classes()`: the VC classes it uses (a packet of class `k` uses only
///   class `k`'s share of the VCs).
/// - `restricts_ports()`: `enters_at` may refuse some of an endpoint's
///   ports; `enters_at(g, src, r, dst)`: a message from `src` to `dst` may
///   enter at router `r`, one of `src`'s ports.
/// - `name()`: what the static check's report calls it.
pub trait RoutingFunction {
    #[allow(clippy::too_many_arguments)]
    fn route(
        &self,
        g: &Graph,
        r: RouterId,
        in_port: u32,
        class: u8,
        dst: EndpointId,
        choice: u32,
    ) -> Hop;
    fn choices(&self) -> u32;
    /// How many ways toward a destination the route offers around a failed
    /// link, asked as choices `0..alternatives()` (0: the route itself): a
    /// multipath route's choices; an up/down route's uplinks, tried in turn
    /// from its own (`flow::fabric` reroutes with them; the cycle engine
    /// asks with choice 0 or its multipath choice only).
    fn alternatives(&self) -> u32;
    fn is_adaptive(&self) -> bool;
    fn adaptive_minimal(&self, dst: EndpointId) -> Option<u32>;
    fn classes(&self) -> u8;
    fn restricts_ports(&self) -> bool;
    fn enters_at(&self, g: &Graph, src: u32, r: RouterId, dst: u32) -> bool;
    fn name(&self) -> &'static str;
}

/// Implements [`RoutingFunction`] for a *plain* function: deterministic (one
/// choice), oblivious (not adaptive), one VC class, and any of an endpoint's
/// ports may enter. The invocation is the function saying so (not a default
/// it inherits); it gives the route as `|self, graph, router, in_port, dst,
/// alternative|` (the alternative is 0 but when rerouting around a failed
/// link), the name as `|self|` and the alternatives as `|self|`.
macro_rules! plain_routing {
    ($ty:ty, |$s:ident, $g:pat, $r:ident, $in_port:pat, $dst:ident, $alt:pat_param| $route:expr, |$n:ident| $name:expr, |$a:ident| $alts:expr) => {
        impl $crate::routing::RoutingFunction for $ty {
            #[inline]
            fn route(
                &self,
                $g: &$crate::topology::Graph,
                $r: $crate::topology::RouterId,
                $in_port: u32,
                _: u8,
                $dst: $crate::ids::EndpointId,
                $alt: u32,
            ) -> $crate::routing::Hop {
                let $s = self;
                $route
            }
            fn choices(&self) -> u32 {
                1
            }
            fn alternatives(&self) -> u32 {
                let $a = self;
                $alts
            }
            fn is_adaptive(&self) -> bool {
                false
            }
            fn adaptive_minimal(&self, _: $crate::ids::EndpointId) -> Option<u32> {
                None
            }
            fn classes(&self) -> u8 {
                1
            }
            fn restricts_ports(&self) -> bool {
                false
            }
            fn enters_at(
                &self,
                _: &$crate::topology::Graph,
                _: u32,
                _: $crate::topology::RouterId,
                _: u32,
            ) -> bool {
                true
            }
            fn name(&self) -> &'static str {
                let $n = self;
                $name
            }
        }
    };
}
pub(crate) use plain_routing;

/// The closed set of routing functions (static dispatch, no `dyn`): each
/// method is the variant's [`RoutingFunction`] method.
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

/// Runs `$body` with `$f` bound to the variant's routing function.
macro_rules! dispatch {
    ($self:expr, |$f:ident| $body:expr) => {
        match $self {
            Routing::DimensionOrder($f) => $body,
            Routing::Direct => {
                let $f = &direct::Direct;
                $body
            }
            Routing::ShortestPath($f) => $body,
            Routing::UpDown($f) => $body,
            Routing::UpDown3($f) => $body,
            Routing::Dragonfly($f) => $body,
            Routing::Cluster($f) => $body,
        }
    };
}

impl Routing {
    /// See [`RoutingFunction::route`].
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
        dispatch!(self, |f| RoutingFunction::route(
            f, g, r, in_port, class, dst, choice
        ))
    }

    pub fn choices(&self) -> u32 {
        dispatch!(self, |f| f.choices())
    }

    pub fn alternatives(&self) -> u32 {
        dispatch!(self, |f| f.alternatives())
    }

    pub fn is_adaptive(&self) -> bool {
        dispatch!(self, |f| f.is_adaptive())
    }

    pub fn adaptive_minimal(&self, dst: EndpointId) -> Option<u32> {
        dispatch!(self, |f| f.adaptive_minimal(dst))
    }

    pub fn classes(&self) -> u8 {
        dispatch!(self, |f| RoutingFunction::classes(f))
    }

    pub fn name(&self) -> &'static str {
        dispatch!(self, |f| f.name())
    }

    pub fn restricts_ports(&self) -> bool {
        dispatch!(self, |f| f.restricts_ports())
    }

    #[inline]
    pub fn enters_at(&self, g: &Graph, src: u32, r: RouterId, dst: u32) -> bool {
        dispatch!(self, |f| RoutingFunction::enters_at(f, g, src, r, dst))
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
