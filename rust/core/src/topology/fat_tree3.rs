//! Three-level fat-trees (k-ary folded Clos, Al-Fares et al. 2008, with the
//! edge layer allowed to be oversubscribed): `k` pods of `k/2` edge switches
//! and `up` aggregation switches; each edge has `down` endpoints and one link
//! to every aggregation switch of its pod; each aggregation switch has `k/2`
//! links up, to cores `i*k/2 .. (i+1)*k/2` for aggregation index `i`; each core
//! links to the same-index aggregation switch of every pod. `down = up = k/2`
//! is the full-bisection k-ary fat-tree.
//!
//! Routers: edges (`pod*k/2 + j`), then aggregations (`pod*up + i`), then
//! cores (`i*k/2 + c`). Edge ports: endpoints `0..down`, aggregation `i` on
//! `down + i`. Aggregation ports: edge `j` on `j`, core `c` on `k/2 + c`.
//! Core ports: pod `p` on `p`.

use super::{Graph, Peer, Router, RouterId};
use crate::ids::EndpointId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FatTree3 {
    pub k: u32,
    pub down: u32,
    pub up: u32,
}

/// What a router of a three-level fat-tree is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    Edge { pod: u32, index: u32 },
    Aggregation { pod: u32, index: u32 },
    Core { group: u32 },
}

impl FatTree3 {
    pub fn half(&self) -> u32 {
        self.k / 2
    }

    fn edges(&self) -> u32 {
        self.k * self.half()
    }

    fn aggregations(&self) -> u32 {
        self.k * self.up
    }

    pub fn endpoints(&self) -> u32 {
        self.edges() * self.down
    }

    pub fn switch(&self, r: RouterId) -> Switch {
        let (e, a) = (self.edges(), self.aggregations());
        if r < e {
            Switch::Edge {
                pod: r / self.half(),
                index: r % self.half(),
            }
        } else if r < e + a {
            Switch::Aggregation {
                pod: (r - e) / self.up,
                index: (r - e) % self.up,
            }
        } else {
            Switch::Core {
                group: (r - e - a) / self.half(),
            }
        }
    }

    /// The edge switch (global index) endpoint `dst` hangs off.
    pub fn edge_of(&self, dst: EndpointId) -> u32 {
        dst.0 / self.down
    }

    pub fn graph(&self) -> Graph {
        let (h, e, a) = (self.half(), self.edges(), self.aggregations());
        let mut routers = Vec::with_capacity((e + a + self.up * h) as usize);
        for edge in 0..e {
            let pod = edge / h;
            let mut ports: Vec<Peer> = (0..self.down)
                .map(|i| Peer::Endpoint(EndpointId(edge * self.down + i)))
                .collect();
            ports.extend((0..self.up).map(|i| Peer::Router(e + pod * self.up + i, edge % h)));
            routers.push(Router { ports });
        }
        for agg in 0..a {
            let (pod, i) = (agg / self.up, agg % self.up);
            let mut ports: Vec<Peer> = (0..h)
                .map(|j| Peer::Router(pod * h + j, self.down + i))
                .collect();
            ports.extend((0..h).map(|c| Peer::Router(e + a + i * h + c, pod)));
            routers.push(Router { ports });
        }
        for core in 0..self.up * h {
            let (i, c) = (core / h, core % h);
            routers.push(Router {
                ports: (0..self.k)
                    .map(|pod| Peer::Router(e + pod * self.up + i, h + c))
                    .collect(),
            });
        }
        Graph {
            routers,
            attach: (0..self.endpoints())
                .map(|d| (d / self.down, d % self.down))
                .collect(),
            more_attach: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_k4_fat_tree_has_the_textbook_shape() {
        let t = FatTree3 {
            k: 4,
            down: 2,
            up: 2,
        };
        let g = t.graph();
        assert!(g.is_consistent());
        assert_eq!(g.num_endpoints(), 16); // k^3 / 4
        assert_eq!(g.routers.len(), 8 + 8 + 4); // k^2/2 edges and aggregations, k^2/4 cores
        assert_eq!(g.router_channels().count(), 2 * (16 + 16));
        assert_eq!(t.switch(19), Switch::Core { group: 1 });
        assert_eq!(t.switch(9), Switch::Aggregation { pod: 0, index: 1 });
    }
}
