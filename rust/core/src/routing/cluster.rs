//! Routing in a cluster of nodes (`topology::cluster`): a node switch ejects
//! to its GPUs; a leaf (rail) ejects to its rail's GPUs and sends the rest
//! up to spine `dst mod spines`; a spine sends down to the destination's
//! rail. Messages enter at a node switch when source and destination share
//! a node, else at the source's leaf (its NIC). Up/down: deadlock-free with
//! one VC (the static check proves it). The spine is `(node + rail) mod
//! spines` of the destination: plain `dst mod spines` sends every flow to
//! GPU 0 of some node through one spine when the GPUs per node are a
//! multiple of the spines (a ring across nodes would share one uplink).

use super::{Hop, RoutingFunction};
use crate::ids::EndpointId;
use crate::topology::cluster::Cluster;
use crate::topology::Graph;
use crate::topology::RouterId;

///
/// `alternative` (0 but when rerouting around a failed link) moves the
/// spine that many on.
pub fn route(c: &Cluster, r: RouterId, dst: EndpointId, alternative: u32) -> Hop {
    let e = dst.0;
    let (node, rail) = (c.node_of(e), e % c.gpus);
    let port = if r < c.scale_out_from() {
        rail // a node switch: the destination shares its node
    } else if r < c.spine(0) {
        if r == c.leaf(rail) {
            node
        } else {
            c.nodes + (node + rail + alternative) % c.spines
        }
    } else {
        rail
    };
    Hop { port, class: 0 }
}

/// Whether a message from `src` to `dst` enters the network at router `r`.
pub fn enters_at(c: &Cluster, src: u32, r: RouterId, dst: u32) -> bool {
    let local = c.node_of(src) == c.node_of(dst);
    local == (r < c.scale_out_from())
}

impl RoutingFunction for Cluster {
    #[inline]
    fn route(&self, _: &Graph, r: RouterId, _: u32, _: u8, dst: EndpointId, alt: u32) -> Hop {
        route(self, r, dst, alt)
    }
    fn choices(&self) -> u32 {
        1
    }
    fn alternatives(&self) -> u32 {
        self.spines.max(1)
    }
    fn is_adaptive(&self) -> bool {
        false
    }
    fn adaptive_minimal(&self, _: EndpointId) -> Option<u32> {
        None
    }
    fn classes(&self) -> u8 {
        1
    }
    fn restricts_ports(&self) -> bool {
        true
    }
    fn enters_at(&self, _: &Graph, src: u32, r: RouterId, dst: u32) -> bool {
        enters_at(self, src, r, dst)
    }
    fn name(&self) -> &'static str {
        "cluster: direct in nodes, up/down over rail leaves and spines (d-mod-k)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rails_are_one_hop_and_other_rails_go_through_a_spine() {
        let c = Cluster {
            nodes: 4,
            gpus: 8,
            planes: 4,
            spines: 4,
        };
        // GPU 3 of node 0 to GPU 3 of node 2: leaf 3 ejects on its port 2
        assert_eq!(route(&c, c.leaf(3), EndpointId(19), 0).port, 2);
        // to GPU 0 of nodes 1, 2, 3, 0: four different spines
        let ups: Vec<u32> = [8, 16, 24, 0]
            .iter()
            .map(|&e| route(&c, c.leaf(7), EndpointId(e), 0).port - c.nodes)
            .collect();
        assert_eq!(ups, [1, 2, 3, 0]);
        // rerouting around a failed uplink: the next spines, in turn
        let around: Vec<u32> = (1..4)
            .map(|alt| route(&c, c.leaf(7), EndpointId(8), alt).port - c.nodes)
            .collect();
        assert_eq!(around, [2, 3, 0]);
        // a spine sends down to the destination's rail; a node switch to the GPU
        assert_eq!(route(&c, c.spine(2), EndpointId(13), 0).port, 5);
        assert_eq!(route(&c, 5, EndpointId(13), 0).port, 5);
        assert!(enters_at(&c, 9, 5, 13) && !enters_at(&c, 9, c.leaf(1), 13));
        assert!(enters_at(&c, 9, c.leaf(1), 20) && !enters_at(&c, 9, 4, 20));
    }
}
