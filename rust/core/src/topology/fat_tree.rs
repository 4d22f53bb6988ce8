//! Two-level fat-trees (leaf-spine folded Clos): `leaves` leaf switches, each
//! with `down` endpoints and `up` links, one to each of `up` spines.
//! Routers `0..leaves` are the leaves, then the spines. Leaf ports: the
//! endpoints `0..down`, then spine `s` on port `down + s`. Spine ports: leaf
//! `l` on port `l`.

use super::{Graph, Peer, Router};
use crate::ids::EndpointId;

pub fn fat_tree(leaves: u32, down: u32, up: u32) -> Graph {
    let mut routers = Vec::with_capacity((leaves + up) as usize);
    for l in 0..leaves {
        let mut ports: Vec<Peer> = (0..down)
            .map(|i| Peer::Endpoint(EndpointId(l * down + i)))
            .collect();
        ports.extend((0..up).map(|s| Peer::Router(leaves + s, l)));
        routers.push(Router { ports });
    }
    for s in 0..up {
        routers.push(Router {
            ports: (0..leaves).map(|l| Peer::Router(l, down + s)).collect(),
        });
    }
    Graph {
        routers,
        attach: (0..leaves * down).map(|e| (e / down, e % down)).collect(),
        more_attach: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_reach_every_spine_once() {
        let g = fat_tree(8, 4, 4);
        assert!(g.is_consistent());
        assert_eq!(g.num_endpoints(), 32);
        assert_eq!(g.router_channels().count(), 2 * 8 * 4);
        assert_eq!(g.attach[13], (3, 1));
    }
}
