//! A cluster of nodes: inside each node, GPUs on switch planes (a switch
//! star per node); across nodes, every GPU's NIC on a two-level fat-tree
//! whose leaves are rails (leaf `i` takes GPU `i` of every node, as
//! rail-optimized AI clusters wire their NICs) joined by spines.
//!
//! ```text
//!  node a: GPU a*g+i --port k--> node switch a*planes+k    (k < planes)
//!          GPU a*g+i --NIC-----> leaf i (port a) --up--> every spine
//! ```
//!
//! Routers: node switches `0..nodes*planes`, then leaves, then spines (the
//! scale-out network starts at [`Cluster::scale_out_from`]).

use super::{Graph, Peer, Router, RouterId};
use crate::ids::EndpointId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cluster {
    pub nodes: u32,
    pub gpus: u32,
    pub planes: u32,
    pub spines: u32,
}

impl Cluster {
    pub fn endpoints(&self) -> u32 {
        self.nodes * self.gpus
    }

    /// The first router of the scale-out network (leaves, then spines).
    pub fn scale_out_from(&self) -> RouterId {
        self.nodes * self.planes
    }

    pub fn leaf(&self, rail: u32) -> RouterId {
        self.scale_out_from() + rail
    }

    pub fn spine(&self, s: u32) -> RouterId {
        self.scale_out_from() + self.gpus + s
    }

    pub fn node_of(&self, e: u32) -> u32 {
        e / self.gpus
    }

    pub fn graph(&self) -> Graph {
        let (n, g, p, s) = (self.nodes, self.gpus, self.planes, self.spines);
        let gpu = |a: u32, i: u32| Peer::Endpoint(EndpointId(a * g + i));
        let mut routers = Vec::with_capacity((n * p + g + s) as usize);
        for a in 0..n {
            for _ in 0..p {
                routers.push(Router {
                    ports: (0..g).map(|i| gpu(a, i)).collect(),
                });
            }
        }
        for i in 0..g {
            let mut ports: Vec<Peer> = (0..n).map(|a| gpu(a, i)).collect();
            ports.extend((0..s).map(|k| Peer::Router(self.spine(k), i)));
            routers.push(Router { ports });
        }
        for k in 0..s {
            routers.push(Router {
                ports: (0..g).map(|i| Peer::Router(self.leaf(i), n + k)).collect(),
            });
        }
        let e = self.endpoints();
        Graph {
            routers,
            attach: (0..e).map(|x| (self.node_of(x) * p, x % g)).collect(),
            // the other planes, then the NIC (always the last port)
            more_attach: (0..e)
                .map(|x| {
                    let a = self.node_of(x);
                    let mut m: Vec<_> = (1..p).map(|k| (a * p + k, x % g)).collect();
                    m.push((self.leaf(x % g), a));
                    m
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_rails_and_spines_are_wired_consistently() {
        let c = Cluster {
            nodes: 3,
            gpus: 4,
            planes: 2,
            spines: 2,
        };
        let g = c.graph();
        assert!(g.is_consistent());
        assert_eq!(g.num_endpoints(), 12);
        assert_eq!(g.routers.len(), 3 * 2 + 4 + 2);
        // GPU 6 = node 1, local 2: planes 2 and 3, then leaf 2 (router 8) port 1
        assert_eq!(
            g.attachments(6).collect::<Vec<_>>(),
            [(2, 2), (3, 2), (8, 1)]
        );
        assert_eq!(g.routers[c.spine(1) as usize].ports[3], Peer::Router(9, 4));
        assert_eq!(g.router_channels().count(), 2 * 4 * 2);
    }
}
