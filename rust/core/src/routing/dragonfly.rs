//! Routing on dragonflies. Minimal: at most one local hop to the router that
//! owns the global link to the destination group, the global hop, at most one
//! local hop to the destination router. The packet moves to VC class 1 when
//! it takes the global link, so local channels of the destination group
//! never wait on those of a source group: deadlock-free with two VCs. With
//! one VC the classes merge and the static check finds the cycle through
//! several groups.
//!
//! Valiant (Valiant & Brebner; Kim et al. 2008 for dragonflies): minimal to
//! an intermediate group chosen per message, then minimal to the destination,
//! which spreads adversarial traffic over all global links at twice the hops.
//! Class 0 until the first global hop, 1 until the second, 2 after:
//! deadlock-free with three VCs. When the intermediate is the source or the
//! destination group the route is minimal.
//!
//! UGAL (Kim et al. 2008, UGAL-L: local queues only): Valiant's routes and
//! VC classes, but the source router picks per message between the minimal
//! route and a Valiant one, comparing the queues of their first hops
//! weighted by their global hops (1 and 2): minimal when
//! `q_min <= 2 q_valiant + threshold`. The choice travels with the message.

use super::{Hop, RoutingFunction};
use crate::ids::EndpointId;
use crate::topology::dragonfly::Dragonfly;
use crate::topology::Graph;
use crate::topology::RouterId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DragonflyRouting {
    pub shape: Dragonfly,
    /// Valiant's routes and classes (Valiant and UGAL).
    pub valiant: bool,
    /// UGAL: the source router chooses between minimal and Valiant.
    pub adaptive: bool,
}

impl DragonflyRouting {
    pub fn classes(&self) -> u8 {
        if self.valiant {
            3
        } else {
            2
        }
    }

    /// The choice that makes a Valiant route minimal for `dst`.
    pub fn minimal_choice(&self, dst: EndpointId) -> u32 {
        dst.0 / self.shape.p / self.shape.a
    }

    /// `choice` picks the Valiant intermediate group (`choice mod groups`).
    pub fn route(&self, r: RouterId, class: u8, dst: EndpointId, choice: u32) -> Hop {
        let d = &self.shape;
        let group = r / d.a;
        let dst_group = dst.0 / d.p / d.a;
        if !self.valiant {
            return toward(d, r, dst, dst_group, class, 1);
        }
        match class {
            0 => {
                let mid = choice % d.groups();
                if mid == group || mid == dst_group {
                    toward(d, r, dst, dst_group, class, 2)
                } else {
                    toward(d, r, dst, mid, class, 1)
                }
            }
            _ => toward(d, r, dst, dst_group, class, 2),
        }
    }
}

/// The minimal hop from `r` toward `target` group (then on to `dst` once
/// there), switching to class `global_class` when it takes a global link.
fn toward(
    d: &Dragonfly,
    r: RouterId,
    dst: EndpointId,
    target: u32,
    class: u8,
    global_class: u8,
) -> Hop {
    let dst_router = dst.0 / d.p;
    let (group, i) = (r / d.a, r % d.a);
    let port = if r == dst_router {
        dst.0 % d.p
    } else if group == target {
        d.local_port(i, dst_router % d.a)
    } else {
        let (gateway, global) = d.global_port(group, d.link_to(group, target));
        if gateway == r {
            global
        } else {
            d.local_port(i, gateway % d.a)
        }
    };
    let class = if port >= d.first_global() {
        global_class
    } else {
        class
    };
    Hop { port, class }
}

impl RoutingFunction for DragonflyRouting {
    #[inline]
    fn route(
        &self,
        _: &Graph,
        r: RouterId,
        _: u32,
        class: u8,
        dst: EndpointId,
        choice: u32,
    ) -> Hop {
        DragonflyRouting::route(self, r, class, dst, choice)
    }
    fn choices(&self) -> u32 {
        if self.valiant {
            self.shape.groups()
        } else {
            1
        }
    }
    fn alternatives(&self) -> u32 {
        self.choices()
    }
    fn is_adaptive(&self) -> bool {
        self.adaptive
    }
    fn adaptive_minimal(&self, dst: EndpointId) -> Option<u32> {
        self.adaptive.then(|| self.minimal_choice(dst))
    }
    fn classes(&self) -> u8 {
        DragonflyRouting::classes(self)
    }
    fn restricts_ports(&self) -> bool {
        false
    }
    fn enters_at(&self, _: &Graph, _: u32, _: RouterId, _: u32) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        if self.adaptive {
            "dragonfly UGAL (minimal or Valiant per message by the source router's queues; Valiant's VC classes)"
        } else if self.valiant {
            "dragonfly Valiant (VC class up by one at each global hop)"
        } else {
            "dragonfly minimal (VC class 1 after the global hop)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Peer;

    /// Follows the route from endpoint `src`'s router to `dst`: (routers, global hops).
    fn walk(routing: &DragonflyRouting, src: u32, dst: u32, choice: u32) -> (u32, u32) {
        let d = routing.shape;
        let g = d.graph();
        let (mut r, mut class, mut routers, mut globals) = (src / d.p, 0, 0, 0);
        loop {
            routers += 1;
            let hop = routing.route(r, class, EndpointId(dst), choice);
            globals += u32::from(hop.port >= d.first_global());
            assert!(hop.class >= class && hop.class < routing.classes());
            class = hop.class;
            match g.routers[r as usize].ports[hop.port as usize] {
                Peer::Endpoint(e) => {
                    assert_eq!(e.0, dst);
                    return (routers, globals);
                }
                Peer::Router(r2, _) => r = r2,
                Peer::Unconnected => panic!("unconnected port"),
            }
        }
    }

    #[test]
    fn valiant_routes_take_two_global_hops_through_the_intermediate_group() {
        let d = Dragonfly { p: 2, a: 4, h: 2 };
        let routing = DragonflyRouting {
            shape: d,
            valiant: true,
            adaptive: false,
        };
        for choice in 0..d.groups() {
            // endpoint 0 (group 0) to endpoint 71 (group 8)
            let (routers, globals) = walk(&routing, 0, 71, choice);
            let minimal = choice == 0 || choice == 8;
            assert_eq!(globals, if minimal { 1 } else { 2 }, "via {choice}");
            assert!(routers <= if minimal { 4 } else { 6 });
        }
    }

    #[test]
    fn every_route_is_minimal_and_reaches_its_endpoint() {
        let d = Dragonfly { p: 2, a: 4, h: 2 };
        let routing = DragonflyRouting {
            shape: d,
            valiant: false,
            adaptive: false,
        };
        let g = d.graph();
        for dst in 0..g.num_endpoints() as u32 {
            for (src, &(r0, _)) in g.attach.iter().enumerate() {
                assert_eq!(
                    walk(&routing, src as u32, dst, 0),
                    walk(&routing, src as u32, dst, 5)
                );
                let (routers, globals) = walk(&routing, src as u32, dst, 0);
                let same_group = r0 / d.a == dst / d.p / d.a;
                assert!(routers <= if same_group { 2 } else { 4 }, "{src}->{dst}");
                assert_eq!(globals, u32::from(!same_group));
            }
        }
    }
}
