//! A user graph: routers joined by an edge list, endpoints attached to
//! routers. Ports: first the router's endpoints (in endpoint order), then its
//! links (in edge-list order).

use super::{Graph, Peer, Router, RouterId};
use crate::ids::EndpointId;

/// Builds the graph of `routers` routers, `edges` (each a bidirectional
/// link) and `endpoints[e]` = the router endpoint `e` attaches to. Inputs
/// must be validated (indices in range, no self loops).
pub fn user_graph(routers: u32, edges: &[(u32, u32)], endpoints: &[u32]) -> Graph {
    let mut rs: Vec<Router> = (0..routers).map(|_| Router { ports: Vec::new() }).collect();
    let mut attach = Vec::with_capacity(endpoints.len());
    for (e, &r) in endpoints.iter().enumerate() {
        let ports = &mut rs[r as usize].ports;
        attach.push((r, ports.len() as u32));
        ports.push(Peer::Endpoint(EndpointId(e as u32)));
    }
    for &(a, b) in edges {
        let pa = rs[a as usize].ports.len() as u32;
        let pb = rs[b as usize].ports.len() as u32;
        rs[a as usize].ports.push(Peer::Router(b, pb));
        rs[b as usize].ports.push(Peer::Router(a, pa));
    }
    Graph {
        routers: rs,
        attach,
        more_attach: Vec::new(),
    }
}

/// For each router, the routers it cannot reach (empty when connected).
pub fn unreachable_from(g: &Graph, from: RouterId) -> Vec<RouterId> {
    let mut seen = vec![false; g.routers.len()];
    let mut stack = vec![from];
    seen[from as usize] = true;
    while let Some(r) = stack.pop() {
        for p in &g.routers[r as usize].ports {
            if let Peer::Router(n, _) = *p {
                if !seen[n as usize] {
                    seen[n as usize] = true;
                    stack.push(n);
                }
            }
        }
    }
    (0..g.routers.len() as u32)
        .filter(|&r| !seen[r as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_endpoints_then_links() {
        let g = user_graph(3, &[(0, 1), (1, 2)], &[0, 2, 2]);
        assert!(g.is_consistent());
        assert_eq!(g.attach, vec![(0, 0), (2, 0), (2, 1)]);
        assert_eq!(
            g.routers[1].ports,
            vec![Peer::Router(0, 1), Peer::Router(2, 2)]
        );
        assert!(unreachable_from(&g, 0).is_empty());
        let split = user_graph(3, &[(0, 1)], &[0, 2]);
        assert_eq!(unreachable_from(&split, 0), vec![2]);
    }
}
