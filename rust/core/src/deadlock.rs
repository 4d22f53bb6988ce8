//! Static deadlock check: builds the channel dependency graph (Dally and
//! Seitz) of a topology, a routing function and the link's VCs, and either
//! proves it acyclic (no routing deadlock is possible) or returns one cycle.
//!
//! Vertices are router-to-router channels `(router, output port, VC)`. For
//! every destination, the routes from every source are followed through the
//! states a packet can really be in (channel and VC class); each step from a
//! channel to the next one it may wait for is an edge. Only reachable states
//! contribute, so the check reports no cycle that routing cannot form.

use crate::ids::EndpointId;
use crate::routing::Routing;
use crate::topology::{Graph, Peer, RouterId};

/// A channel: the output `port` of `router`, on `vc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    pub router: u32,
    pub port: u32,
    pub vc: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadlockReport {
    /// The dependency graph is acyclic: routing cannot deadlock.
    pub ok: bool,
    /// One cycle of channels, each waiting for the next (empty when `ok`).
    pub cycle: Vec<Channel>,
    pub channels: usize,
    pub dependencies: usize,
    pub routing: &'static str,
}

/// Checks `routing` on `g` with `vcs` VCs per channel.
pub fn check(g: &Graph, routing: &Routing, vcs: u32) -> DeadlockReport {
    let classes = routing.classes() as usize;
    // Dense vertex ids: (router, port, vc).
    let mut base = Vec::with_capacity(g.routers.len() + 1);
    let mut total = 0usize;
    for r in &g.routers {
        base.push(total);
        total += r.ports.len() * vcs as usize;
    }
    let vertex =
        |r: RouterId, p: u32, vc: u32| base[r as usize] + p as usize * vcs as usize + vc as usize;
    let mut edges: Vec<(u32, u32)> = Vec::new();
    // Per (destination, choice): which (vertex, class) states were reached
    // (stamped with the pass number).
    let mut seen = vec![u64::MAX; total * classes];
    let mut stack: Vec<(RouterId, u32, u8)> = Vec::new();
    let choices = routing.choices();
    for dst in 0..g.num_endpoints() {
        let d = EndpointId(dst as u32);
        for choice in 0..choices {
            let pass = dst as u64 * choices as u64 + choice as u64;
            for (src, r0, p0) in g.all_attachments() {
                // only from the ports a source would send `dst`'s messages on
                if src != dst && routing.enters_at(g, src as u32, r0, dst as u32) {
                    let hop = routing.route(g, r0, p0, 0, d, choice);
                    stack.push((r0, hop.port, hop.class));
                }
            }
            while let Some((r, p, class)) = stack.pop() {
                let v = vertex(r, p, routing.vc_of(class, vcs));
                let state = v * classes + class as usize;
                if seen[state] == pass {
                    continue;
                }
                seen[state] = pass;
                let Peer::Router(r2, p2) = g.routers[r as usize].ports[p as usize] else {
                    continue; // ejection: the packet leaves the network
                };
                let hop = routing.route(g, r2, p2, class, d, choice);
                if let Peer::Router(..) = g.routers[r2 as usize].ports[hop.port as usize] {
                    let w = vertex(r2, hop.port, routing.vc_of(hop.class, vcs));
                    edges.push((v as u32, w as u32));
                }
                stack.push((r2, hop.port, hop.class));
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    let cycle = find_cycle(total, &edges)
        .into_iter()
        .map(|v| {
            let r = base.partition_point(|&b| b <= v) - 1;
            let local = v - base[r];
            Channel {
                router: r as u32,
                port: (local / vcs as usize) as u32,
                vc: (local % vcs as usize) as u32,
            }
        })
        .collect::<Vec<_>>();
    DeadlockReport {
        ok: cycle.is_empty(),
        cycle,
        channels: g.router_channels().count() * vcs as usize,
        dependencies: edges.len(),
        routing: routing.name(),
    }
}

/// One cycle of a directed graph given as sorted edges, or empty. Iterative
/// depth-first search (no recursion: graphs have millions of vertices).
fn find_cycle(n: usize, edges: &[(u32, u32)]) -> Vec<usize> {
    // CSR adjacency
    let mut start = vec![0usize; n + 1];
    for &(a, _) in edges {
        start[a as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    const WHITE: u8 = 0;
    const GRAY: u8 = 1;
    const BLACK: u8 = 2;
    let mut color = vec![WHITE; n];
    let mut parent = vec![usize::MAX; n];
    let mut next_edge = start.clone();
    for root in 0..n {
        if color[root] != WHITE || start[root] == start[root + 1] {
            continue;
        }
        let mut stack = vec![root];
        color[root] = GRAY;
        while let Some(&v) = stack.last() {
            if next_edge[v] < start[v + 1] {
                let w = edges[next_edge[v]].1 as usize;
                next_edge[v] += 1;
                match color[w] {
                    WHITE => {
                        color[w] = GRAY;
                        parent[w] = v;
                        stack.push(w);
                    }
                    GRAY => {
                        // back edge v -> w: the cycle is w .. v on the stack
                        let mut cycle = vec![v];
                        let mut u = v;
                        while u != w {
                            u = parent[u];
                            cycle.push(u);
                        }
                        cycle.reverse();
                        return cycle;
                    }
                    _ => {}
                }
            } else {
                color[v] = BLACK;
                stack.pop();
            }
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::dor::DimensionOrder;
    use crate::topology::grid::grid;
    use crate::topology::star::{fully_connected, switch_star};

    fn dor(dims: &[u32], wrap: bool, dateline: bool) -> Routing {
        Routing::DimensionOrder(DimensionOrder::new(&grid(dims, wrap), dims, wrap, dateline))
    }

    #[test]
    fn a_torus_with_one_vc_has_a_cycle_and_dateline_classes_remove_it() {
        let g = grid(&[8, 8], true);
        let one = check(&g, &dor(&[8, 8], true, true), 1);
        assert!(!one.ok);
        // the cycle runs around one ring: 8 channels of one dimension, VC 0
        assert_eq!(one.cycle.len(), 8);
        assert!(one.cycle.iter().all(|c| c.vc == 0));
        let dims: Vec<u32> = one.cycle.iter().map(|c| (c.port - 1) / 2).collect();
        assert!(dims.iter().all(|&d| d == dims[0]));
        let two = check(&g, &dor(&[8, 8], true, true), 2);
        assert!(two.ok, "{:?}", two.cycle);
        assert_eq!(two.channels, 8 * 8 * 4 * 2);
    }

    #[test]
    fn dimension_order_on_a_mesh_is_deadlock_free_even_with_one_vc() {
        assert!(check(&grid(&[8, 8], false), &dor(&[8, 8], false, false), 1).ok);
        assert!(check(&grid(&[4, 3, 2], false), &dor(&[4, 3, 2], false, false), 1).ok);
    }

    #[test]
    fn rings_need_the_dateline_too() {
        let g = grid(&[5], true);
        assert!(!check(&g, &dor(&[5], true, true), 1).ok);
        assert!(check(&g, &dor(&[5], true, true), 2).ok);
        // without dateline classes, any number of VCs keeps the cycle
        assert!(!check(&g, &dor(&[5], true, false), 4).ok);
    }

    #[test]
    fn direct_routing_on_stars_and_cliques_is_deadlock_free() {
        assert!(check(&switch_star(16, 1, 0), &Routing::Direct, 1).ok);
        assert!(check(&switch_star(16, 4, 0), &Routing::Direct, 1).ok);
        assert!(check(&switch_star(16, 4, 16), &Routing::Direct, 1).ok);
        assert!(check(&fully_connected(8), &Routing::Direct, 1).ok);
    }

    #[test]
    fn cycles_are_found_in_plain_graphs() {
        assert_eq!(find_cycle(3, &[(0, 1), (1, 2), (2, 0)]), vec![0, 1, 2]);
        assert!(find_cycle(3, &[(0, 1), (1, 2), (0, 2)]).is_empty());
    }
}
