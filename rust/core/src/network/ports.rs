//! Which of an endpoint's ports (one per switch plane) a message leaves on.
//!
//! Messages go round the ports that lead toward their destination
//! ([`crate::routing::Routing::enters_at`]), in the order given: all of an
//! endpoint's switch planes usually; only the port to its switch for a
//! switch's reduction unit; in a cluster, the node's planes for a GPU of
//! the same node and the NIC for any other.

#[derive(Clone, Debug)]
pub struct EndpointPorts {
    /// Per endpoint: its first port (index into the network's endpoint
    /// ports; one more entry ends the last endpoint's), and how many
    /// messages went round them.
    first: Vec<u32>,
    given: Vec<u64>,
    /// Per port: the router it leads to (`u32::MAX` on direct links).
    router: Vec<u32>,
    /// Every port leads everywhere (no need to ask the routing).
    uniform: bool,
}

impl EndpointPorts {
    /// `routers[e]`: the routers endpoint `e`'s ports lead to, in port
    /// order (direct links pass `u32::MAX`); `uniform`: any port reaches
    /// any destination.
    pub fn new(routers: &[Vec<u32>], uniform: bool) -> Self {
        let mut first = Vec::with_capacity(routers.len() + 1);
        let mut total = 0;
        for r in routers {
            first.push(total);
            total += r.len() as u32;
        }
        first.push(total);
        Self {
            first,
            given: vec![0; routers.len()],
            router: routers.iter().flatten().copied().collect(),
            uniform,
        }
    }

    pub fn num_endpoints(&self) -> usize {
        self.first.len() - 1
    }

    pub fn total(&self) -> usize {
        self.router.len()
    }

    /// The ports of endpoint `e`.
    pub fn of(&self, e: u32) -> std::ops::Range<u32> {
        self.first[e as usize]..self.first[e as usize + 1]
    }

    /// The router port `p` leads to (`u32::MAX` for a direct link).
    pub fn router_of(&self, p: u32) -> u32 {
        self.router[p as usize]
    }

    /// The port a new message from `src` leaves on: round the ports `ok`
    /// takes (the first port if it takes none: the caller's route then
    /// says why).
    pub fn pick_port_where(&mut self, src: u32, ok: impl Fn(u32) -> bool) -> u32 {
        let e = src as usize;
        let eligible = self.of(src).filter(|&p| ok(p)).count() as u64;
        if eligible == 0 {
            return self.first[e];
        }
        let k = self.given[e] % eligible;
        self.given[e] += 1;
        self.of(src)
            .filter(|&p| ok(p))
            .nth(k as usize)
            .expect("k < eligible")
    }

    /// The port a new message from `src` leaves on: round the ports whose
    /// router `may_enter` (the first port if none may: refused earlier).
    pub fn pick(&mut self, src: u32, may_enter: impl Fn(u32) -> bool) -> u32 {
        let e = src as usize;
        let (first, count) = (self.first[e], self.first[e + 1] - self.first[e]);
        if self.uniform || count == 1 {
            let p = first + (self.given[e] % count as u64) as u32;
            self.given[e] += 1;
            return p;
        }
        let router = std::mem::take(&mut self.router);
        let p = self.pick_port_where(src, |p| may_enter(router[p as usize]));
        self.router = router;
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Routing;
    use crate::topology::cluster::Cluster;
    use crate::topology::star::switch_star;

    #[test]
    fn messages_go_round_the_planes_that_lead_to_their_destination() {
        // 4 endpoints on 2 planes, one reduction unit per plane (4 and 5)
        let g = switch_star(4, 2, 1);
        let routing = Routing::Direct;
        let routers: Vec<Vec<u32>> = (0..6)
            .map(|e| g.attachments(e).map(|(r, _)| r).collect())
            .collect();
        let mut p = EndpointPorts::new(&routers, false);
        assert_eq!(p.total(), 4 * 2 + 2);
        let mut pick = |src: u32, dst: u32| p.pick(src, |r| routing.enters_at(&g, src, r, dst));
        // endpoint 1's ports are 2 (plane 0) and 3 (plane 1)
        assert_eq!([pick(1, 0), pick(1, 2), pick(1, 3)], [2, 3, 2]);
        // to the unit of plane 1, always plane 1
        assert_eq!([pick(1, 5), pick(1, 5), pick(1, 4)], [3, 3, 2]);
        // a unit has one port
        assert_eq!([pick(5, 0), pick(5, 3)], [9, 9]);
    }

    #[test]
    fn a_cluster_gpu_uses_its_planes_in_its_node_and_its_nic_beyond() {
        let c = Cluster {
            nodes: 2,
            gpus: 4,
            planes: 2,
            spines: 1,
        };
        let g = c.graph();
        let routing = Routing::Cluster(c);
        let routers: Vec<Vec<u32>> = (0..8)
            .map(|e| g.attachments(e).map(|(r, _)| r).collect())
            .collect();
        let mut p = EndpointPorts::new(&routers, false);
        let mut pick = |src: u32, dst: u32| p.pick(src, |r| routing.enters_at(&g, src, r, dst));
        // GPU 1's ports: 3 (plane 0), 4 (plane 1), 5 (NIC)
        assert_eq!([pick(1, 2), pick(1, 3), pick(1, 0)], [3, 4, 3]);
        assert_eq!([pick(1, 5), pick(1, 6), pick(1, 2)], [5, 5, 4]);
    }
}
