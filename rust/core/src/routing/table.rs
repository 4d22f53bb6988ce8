//! Table-driven shortest-path routing for any graph: for each destination
//! router, a breadth-first search gives every router's distance; a packet
//! takes the lowest-numbered port that gets one hop closer (deterministic).
//! Deadlock freedom is not built in: the static check proves or refutes it.

use super::Hop;
use crate::ids::EndpointId;
use crate::topology::{Graph, Peer, RouterId};
use std::collections::VecDeque;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShortestPath {
    /// `next[dst_router * n + r]`: the port of router `r` towards `dst_router`.
    next: Vec<u32>,
    n: usize,
}

impl ShortestPath {
    /// Builds the tables of a connected graph.
    pub fn new(g: &Graph) -> Self {
        let n = g.routers.len();
        let mut next = vec![u32::MAX; n * n];
        let mut dist = vec![u32::MAX; n];
        let mut queue = VecDeque::new();
        for dst in 0..n {
            dist.fill(u32::MAX);
            dist[dst] = 0;
            queue.push_back(dst);
            while let Some(r) = queue.pop_front() {
                for p in &g.routers[r].ports {
                    if let Peer::Router(m, _) = *p {
                        if dist[m as usize] == u32::MAX {
                            dist[m as usize] = dist[r] + 1;
                            queue.push_back(m as usize);
                        }
                    }
                }
            }
            for r in 0..n {
                let best = g.routers[r].ports.iter().position(|p| {
                    matches!(*p, Peer::Router(m, _) if dist[m as usize] != u32::MAX && dist[m as usize] + 1 == dist[r])
                });
                if let Some(port) = best {
                    next[dst * n + r] = port as u32;
                }
            }
        }
        Self { next, n }
    }

    pub fn route(&self, g: &Graph, r: RouterId, dst: EndpointId) -> Hop {
        let (dst_router, dst_port) = g.attach[dst.index()];
        let port = if dst_router == r {
            dst_port
        } else {
            self.next[dst_router as usize * self.n + r as usize]
        };
        Hop { port, class: 0 }
    }
}

super::plain_routing!(
    ShortestPath,
    |this, g, r, _, dst, _| ShortestPath::route(this, g, r, dst),
    |_this| "shortest-path tables (deadlock freedom not built in)",
    |_this| 1
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::user::user_graph;

    #[test]
    fn routes_follow_shortest_paths_with_the_lowest_port_on_ties() {
        // a square 0-1-2-3-0 with one endpoint per router
        let g = user_graph(4, &[(0, 1), (1, 2), (2, 3), (3, 0)], &[0, 1, 2, 3]);
        let t = ShortestPath::new(&g);
        // router 0: port 0 endpoint, port 1 -> router 1, port 2 -> router 3
        assert_eq!(t.route(&g, 0, EndpointId(1)).port, 1);
        assert_eq!(t.route(&g, 0, EndpointId(3)).port, 2);
        assert_eq!(t.route(&g, 0, EndpointId(2)).port, 1); // tie: two hops either way
        assert_eq!(t.route(&g, 0, EndpointId(0)).port, 0);
    }
}
