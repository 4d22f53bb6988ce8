//! Direct routing for single-switch stars and fully connected routers: eject
//! if the destination is here, else take the one link to its router.

use super::Hop;
use crate::ids::EndpointId;
use crate::topology::star::full_port;
use crate::topology::{Graph, RouterId};

pub fn route(g: &Graph, r: RouterId, dst: EndpointId) -> Hop {
    let (dst_router, dst_port) = g.attach[dst.index()];
    let port = if dst_router == r {
        dst_port
    } else {
        full_port(r, dst_router)
    };
    Hop { port, class: 0 }
}
