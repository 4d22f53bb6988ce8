//! Which of an endpoint's ports (one per switch plane) a message leaves on.
//!
//! Messages go round an endpoint's ports in the order given, except those
//! for an endpoint that hangs off one router only (a switch's reduction
//! unit): they leave on the port to that router, the only way in.

use crate::topology::Graph;

/// Marks "no router" (not pinned, or a port of a direct link).
const NONE: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub struct EndpointPorts {
    /// Per endpoint: its first port (index into the network's endpoint
    /// ports), how many it has, and how many messages went round them.
    first: Vec<u32>,
    count: Vec<u32>,
    given: Vec<u64>,
    /// Per port: the router it leads to.
    router: Vec<u32>,
    /// Per endpoint: the router every message to it must enter at.
    pinned: Vec<u32>,
}

impl EndpointPorts {
    /// `routers[e]`: the routers endpoint `e`'s ports lead to, in port
    /// order (`NONE`-free for routed fabrics; direct links pass `u32::MAX`).
    pub fn new(routers: &[Vec<u32>], graph: Option<&Graph>) -> Self {
        let mut first = Vec::with_capacity(routers.len());
        let mut total = 0;
        for r in routers {
            first.push(total);
            total += r.len() as u32;
        }
        let pinned = (0..routers.len())
            .map(|e| graph.and_then(|g| g.pinned_router(e)).unwrap_or(NONE))
            .collect();
        Self {
            first,
            count: routers.iter().map(|r| r.len() as u32).collect(),
            given: vec![0; routers.len()],
            router: routers.iter().flatten().copied().collect(),
            pinned,
        }
    }

    pub fn num_endpoints(&self) -> usize {
        self.first.len()
    }

    pub fn total(&self) -> usize {
        self.router.len()
    }

    /// The ports of endpoint `e`.
    pub fn of(&self, e: u32) -> std::ops::Range<u32> {
        let first = self.first[e as usize];
        first..first + self.count[e as usize]
    }

    /// The port a new message from `src` to `dst` leaves on.
    pub fn pick(&mut self, src: u32, dst: u32) -> u32 {
        let r = self.pinned[dst as usize];
        if r != NONE {
            if let Some(p) = self.of(src).find(|&p| self.router[p as usize] == r) {
                return p;
            }
        }
        let e = src as usize;
        let p = self.first[e] + (self.given[e] % self.count[e] as u64) as u32;
        self.given[e] += 1;
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::star::switch_star;

    #[test]
    fn messages_go_round_the_planes_except_to_a_unit() {
        // 4 endpoints on 2 planes, one reduction unit per plane (4 and 5)
        let g = switch_star(4, 2, 1);
        let routers: Vec<Vec<u32>> = (0..6)
            .map(|e| g.attachments(e).map(|(r, _)| r).collect())
            .collect();
        let mut p = EndpointPorts::new(&routers, Some(&g));
        assert_eq!(p.total(), 4 * 2 + 2);
        // endpoint 1's ports are 2 (plane 0) and 3 (plane 1)
        assert_eq!([p.pick(1, 0), p.pick(1, 2), p.pick(1, 3)], [2, 3, 2]);
        // to the unit of plane 1, always plane 1; the rotation is untouched
        assert_eq!([p.pick(1, 5), p.pick(1, 5), p.pick(1, 4)], [3, 3, 2]);
        assert_eq!(p.pick(1, 0), 3);
        // a unit has one port
        assert_eq!([p.pick(5, 0), p.pick(5, 3)], [9, 9]);
    }
}
