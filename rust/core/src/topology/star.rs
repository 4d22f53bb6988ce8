//! Single-switch stars (NVSwitch-like) and fully connected routers.

use super::{Graph, Peer, Router, RouterId};
use crate::ids::EndpointId;

/// `planes` switches, each with the `n` endpoints on its ports `0..n`:
/// every endpoint has one port per plane (switch `k` is plane `k`), as GPUs
/// spread their links over several NVSwitch-like switches. With `units`
/// reduction units per switch, unit `u` of switch `k` is endpoint
/// `n + k * units + u`, on port `n + u` of that switch only.
pub fn switch_star(n: u32, planes: u32, units: u32) -> Graph {
    let unit = |k: u32, u: u32| EndpointId(n + k * units + u);
    let mut more_attach: Vec<Vec<(RouterId, u32)>> = if planes > 1 {
        (0..n)
            .map(|e| (1..planes).map(|k| (k, e)).collect())
            .collect()
    } else {
        Vec::new()
    };
    if planes > 1 && units > 0 {
        more_attach.resize((n + planes * units) as usize, Vec::new());
    }
    let mut attach: Vec<(RouterId, u32)> = (0..n).map(|e| (0, e)).collect();
    attach.extend((0..planes).flat_map(|k| (0..units).map(move |u| (k, n + u))));
    Graph {
        routers: (0..planes)
            .map(|k| Router {
                ports: (0..n)
                    .map(|e| Peer::Endpoint(EndpointId(e)))
                    .chain((0..units).map(|u| Peer::Endpoint(unit(k, u))))
                    .collect(),
            })
            .collect(),
        attach,
        more_attach,
    }
}

/// `n` routers, each with one endpoint (port 0) and a direct link to every
/// other router: port `1 + j` of router `r` goes to the `j`-th other router.
pub fn fully_connected(n: u32) -> Graph {
    let routers = (0..n)
        .map(|r| {
            let mut ports = vec![Peer::Endpoint(EndpointId(r))];
            ports.extend(
                (0..n)
                    .filter(|&o| o != r)
                    .map(|o| Peer::Router(o, full_port(o, r))),
            );
            Router { ports }
        })
        .collect();
    Graph {
        routers,
        attach: (0..n).map(|r| (r, 0)).collect(),
        more_attach: Vec::new(),
    }
}

/// The port of router `from` that leads to router `to` in [`fully_connected`].
pub fn full_port(from: RouterId, to: RouterId) -> u32 {
    1 + if to < from { to } else { to - 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_cliques_are_consistent() {
        let s = switch_star(8, 1, 0);
        assert!(s.is_consistent());
        assert_eq!(s.router_channels().count(), 0);
        let planes = switch_star(8, 4, 0);
        assert!(planes.is_consistent());
        assert_eq!(
            planes.attachments(5).collect::<Vec<_>>(),
            [(0, 5), (1, 5), (2, 5), (3, 5)]
        );
        assert_eq!(planes.port_on(2, 5), Some(5));
        // reduction units: 3 per switch, each on its own switch only
        let units = switch_star(8, 4, 3);
        assert!(units.is_consistent());
        assert_eq!(units.num_endpoints(), 8 + 4 * 3);
        assert_eq!(
            units.attachments(8 + 2 * 3 + 1).collect::<Vec<_>>(),
            [(2, 9)]
        );
        assert_eq!(units.attachments(5).count(), 4);
        assert_eq!(units.routers[2].ports.len(), 11);
        let f = fully_connected(5);
        assert!(f.is_consistent());
        assert_eq!(f.router_channels().count(), 5 * 4);
        assert_eq!(
            f.routers[2].ports[full_port(2, 4) as usize],
            Peer::Router(4, full_port(4, 2))
        );
    }
}
