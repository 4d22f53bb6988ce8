//! Topologies as graphs of routers with numbered ports, and endpoints
//! attached to router ports. Pure structure: the builders (one file each)
//! make graphs; routing functions (`crate::routing`) choose ports on them.
//!
//! ```text
//!   endpoint e ---- port 0 of router r ---- port p ---- port q of router r'
//! ```

pub mod cluster;
pub mod dragonfly;
pub mod fat_tree;
pub mod fat_tree3;
pub mod grid;
pub mod star;
pub mod user;

use crate::ids::EndpointId;

/// A router's id (routers are numbered 0..n separately from endpoints).
pub type RouterId = u32;

/// What is at the other end of a router port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Endpoint(EndpointId),
    /// A port of another router.
    Router(RouterId, u32),
    /// Nothing (a mesh's edge).
    Unconnected,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Router {
    pub ports: Vec<Peer>,
}

/// Routers, their ports, and where each endpoint attaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Graph {
    pub routers: Vec<Router>,
    /// `attach[e] = (router, port)` of endpoint `e` (its first port).
    pub attach: Vec<(RouterId, u32)>,
    /// Further ports of endpoints with several (switch planes):
    /// `more_attach[e]`, empty or one entry per further port; an empty
    /// vector means every endpoint has one port.
    pub more_attach: Vec<Vec<(RouterId, u32)>>,
}

impl Graph {
    pub fn num_endpoints(&self) -> usize {
        self.attach.len()
    }

    /// Every (router, port) endpoint `e` attaches to, its first port first.
    pub fn attachments(&self, e: usize) -> impl Iterator<Item = (RouterId, u32)> + '_ {
        std::iter::once(self.attach[e])
            .chain(self.more_attach.get(e).into_iter().flatten().copied())
    }

    /// Every endpoint port: (endpoint, router, port), endpoint by endpoint.
    pub fn all_attachments(&self) -> impl Iterator<Item = (usize, RouterId, u32)> + '_ {
        (0..self.num_endpoints())
            .flat_map(move |e| self.attachments(e).map(move |(r, p)| (e, r, p)))
    }

    /// Where several endpoints have several ports but `e` has one (a switch
    /// reduction unit): the router of that port. Messages to `e` must enter
    /// the network there, so a source sends them on its port to that router.
    pub fn pinned_router(&self, e: usize) -> Option<RouterId> {
        let single = self.more_attach.get(e).is_none_or(|m| m.is_empty());
        (!self.more_attach.is_empty() && single).then(|| self.attach[e].0)
    }

    /// The port of router `r` that endpoint `e` is attached to, if any.
    pub fn port_on(&self, r: RouterId, e: usize) -> Option<u32> {
        self.attachments(e).find(|&(x, _)| x == r).map(|(_, p)| p)
    }

    /// Router-to-router channels (one per direction), as `(router, port)`.
    pub fn router_channels(&self) -> impl Iterator<Item = (RouterId, u32)> + '_ {
        self.routers.iter().enumerate().flat_map(|(r, router)| {
            router
                .ports
                .iter()
                .enumerate()
                .filter(|(_, p)| matches!(p, Peer::Router(..)))
                .map(move |(p, _)| (r as RouterId, p as u32))
        })
    }

    /// Checks that every router-to-router port is matched by its peer.
    pub fn is_consistent(&self) -> bool {
        self.routers.iter().enumerate().all(|(r, router)| {
            router
                .ports
                .iter()
                .enumerate()
                .all(|(p, peer)| match *peer {
                    Peer::Router(r2, p2) => {
                        self.routers
                            .get(r2 as usize)
                            .and_then(|x| x.ports.get(p2 as usize))
                            == Some(&Peer::Router(r as RouterId, p as u32))
                    }
                    Peer::Endpoint(e) => {
                        e.index() < self.num_endpoints()
                            && self
                                .attachments(e.index())
                                .any(|a| a == (r as RouterId, p as u32))
                    }
                    Peer::Unconnected => true,
                })
        })
    }
}
