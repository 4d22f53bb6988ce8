//! Meshes, tori and rings: `k1 x k2 x ...` routers, one endpoint each.
//!
//! Router `r` has coordinates from `r` in mixed radix (dimension 0 fastest).
//! Port 0 is the endpoint; dimension `i` uses port `1 + 2i` towards `+1` and
//! `2 + 2i` towards `-1`. A mesh's edge ports are `Peer::Unconnected`; a
//! torus wraps them around (a ring is a 1-dimensional torus).

use super::{Graph, Peer, Router, RouterId};
use crate::ids::EndpointId;

/// The coordinates of router `r` in a grid of `dims`.
pub fn coords(r: RouterId, dims: &[u32]) -> Vec<u32> {
    let mut rest = r;
    dims.iter()
        .map(|&k| {
            let c = rest % k;
            rest /= k;
            c
        })
        .collect()
}

/// The router at `coords`.
pub fn router_at(coords: &[u32], dims: &[u32]) -> RouterId {
    coords
        .iter()
        .zip(dims)
        .rev()
        .fold(0, |acc, (&c, &k)| acc * k + c)
}

/// Port of dimension `dim` towards `+1` (`plus`) or `-1`.
pub fn port(dim: usize, plus: bool) -> u32 {
    1 + 2 * dim as u32 + u32::from(!plus)
}

/// A mesh (`wrap = false`) or torus (`wrap = true`) of `dims`.
pub fn grid(dims: &[u32], wrap: bool) -> Graph {
    let n: u32 = dims.iter().product();
    let mut routers = Vec::with_capacity(n as usize);
    for r in 0..n {
        let c = coords(r, dims);
        let mut ports = vec![Peer::Endpoint(EndpointId(r))];
        for (dim, &k) in dims.iter().enumerate() {
            for plus in [true, false] {
                let mut nc = c.clone();
                let at_edge = if plus { c[dim] + 1 == k } else { c[dim] == 0 };
                let peer = if at_edge && !wrap {
                    Peer::Unconnected
                } else {
                    nc[dim] = if plus {
                        (c[dim] + 1) % k
                    } else {
                        (c[dim] + k - 1) % k
                    };
                    Peer::Router(router_at(&nc, dims), port(dim, !plus))
                };
                ports.push(peer);
            }
        }
        routers.push(Router { ports });
    }
    Graph {
        routers,
        attach: (0..n).map(|r| (r, 0)).collect(),
        more_attach: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_round_trip() {
        let dims = [4, 3, 2];
        for r in 0..24 {
            assert_eq!(router_at(&coords(r, &dims), &dims), r);
        }
        assert_eq!(coords(5, &dims), vec![1, 1, 0]);
    }

    #[test]
    fn torus_ports_pair_up_and_mesh_edges_are_marked() {
        let t = grid(&[4, 4], true);
        assert!(t.is_consistent());
        assert_eq!(t.router_channels().count(), 16 * 4);
        // router 3 = (3, 0): +x wraps to (0, 0) arriving on its -x port
        assert_eq!(
            t.routers[3].ports[port(0, true) as usize],
            Peer::Router(0, port(0, false))
        );
        let m = grid(&[4, 4], false);
        assert!(m.is_consistent());
        assert_eq!(
            m.routers[3].ports[port(0, true) as usize],
            Peer::Unconnected
        );
        assert_eq!(m.router_channels().count(), 2 * (3 * 4 + 4 * 3));
    }
}
