//! Direct routing for switch stars (one switch per plane) and fully
//! connected routers: eject if the destination is here, else take the one
//! link to its router.

use super::{Hop, RoutingFunction};
use crate::ids::EndpointId;
use crate::topology::star::full_port;
use crate::topology::{Graph, RouterId};

pub fn route(g: &Graph, r: RouterId, dst: EndpointId) -> Hop {
    let port = match g.port_on(r, dst.index()) {
        Some(p) => p,
        None => full_port(r, g.attach[dst.index()].0),
    };
    Hop { port, class: 0 }
}

/// Direct routing as a routing function (it needs no state of its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Direct;

impl RoutingFunction for Direct {
    #[inline]
    fn route(&self, g: &Graph, r: RouterId, _: u32, _: u8, dst: EndpointId, _: u32) -> Hop {
        route(g, r, dst)
    }
    fn choices(&self) -> u32 {
        1
    }
    fn alternatives(&self) -> u32 {
        1
    }
    fn is_adaptive(&self) -> bool {
        false
    }
    fn adaptive_minimal(&self, _: EndpointId) -> Option<u32> {
        None
    }
    fn classes(&self) -> u8 {
        1
    }
    fn restricts_ports(&self) -> bool {
        true
    }
    /// A switch reduction unit hangs off one switch: enter there.
    fn enters_at(&self, g: &Graph, _: u32, r: RouterId, dst: u32) -> bool {
        g.pinned_router(dst as usize).is_none_or(|p| p == r)
    }
    fn name(&self) -> &'static str {
        "direct"
    }
}
