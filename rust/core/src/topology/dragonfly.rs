//! Dragonflies (Kim, Dally, Scott, Abts 2008), balanced-size shape: groups of
//! `a` routers, each router with `p` endpoints and `h` global links; the
//! routers of a group are fully connected, and the `g = a*h + 1` groups are
//! joined all-to-all by one global link per pair.
//!
//! Router `r` is index `r % a` in group `r / a`. Ports: endpoints `0..p`,
//! then the group's other routers in index order (`a - 1` local ports), then
//! `h` global ports. Global link `j` of a group (`0..a*h`, on router `j / h`,
//! global port `j % h`) goes to group `(group + j + 1) mod g` ("consecutive"
//! arrangement), where it is that group's link `g - 2 - j`.

use super::{Graph, Peer, Router, RouterId};
use crate::ids::EndpointId;

/// The shape of a dragonfly, with the port arithmetic shared by the builder
/// and the routing function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dragonfly {
    pub p: u32,
    pub a: u32,
    pub h: u32,
}

impl Dragonfly {
    pub fn groups(&self) -> u32 {
        self.a * self.h + 1
    }

    pub fn routers(&self) -> u32 {
        self.groups() * self.a
    }

    /// The local port of a router with index `from` leading to index `to`.
    pub fn local_port(&self, from: u32, to: u32) -> u32 {
        self.p + if to < from { to } else { to - 1 }
    }

    /// The first global port.
    pub fn first_global(&self) -> u32 {
        self.p + self.a - 1
    }

    /// The group's global link index leading from `group` to `other`.
    pub fn link_to(&self, group: u32, other: u32) -> u32 {
        let g = self.groups();
        (other + g - group - 1) % g
    }

    /// `(router, port)` of a group's global link `j`.
    pub fn global_port(&self, group: u32, j: u32) -> (RouterId, u32) {
        (
            group * self.a + j / self.h,
            self.first_global() + j % self.h,
        )
    }

    pub fn graph(&self) -> Graph {
        let (p, a, g) = (self.p, self.a, self.groups());
        let routers = (0..self.routers())
            .map(|r| {
                let (group, i) = (r / a, r % a);
                let mut ports: Vec<Peer> = (0..p)
                    .map(|e| Peer::Endpoint(EndpointId(r * p + e)))
                    .collect();
                ports.extend(
                    (0..a)
                        .filter(|&t| t != i)
                        .map(|t| Peer::Router(group * a + t, self.local_port(t, i))),
                );
                ports.extend((0..self.h).map(|k| {
                    let j = i * self.h + k;
                    let other = (group + j + 1) % g;
                    let (r2, p2) = self.global_port(other, g - 2 - j);
                    Peer::Router(r2, p2)
                }));
                Router { ports }
            })
            .collect();
        Graph {
            routers,
            attach: (0..self.routers() * p).map(|e| (e / p, e % p)).collect(),
            more_attach: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_of_groups_has_one_global_link() {
        let d = Dragonfly { p: 2, a: 4, h: 2 };
        let g = d.graph();
        assert!(g.is_consistent());
        assert_eq!(g.num_endpoints(), 9 * 4 * 2);
        let mut pairs = std::collections::BTreeSet::new();
        for (r, port) in g.router_channels() {
            if port >= d.first_global() {
                let Peer::Router(r2, _) = g.routers[r as usize].ports[port as usize] else {
                    unreachable!()
                };
                assert!(pairs.insert((r / d.a, r2 / d.a)), "two links {r}->{r2}");
            }
        }
        assert_eq!(pairs.len(), 9 * 8);
    }
}
