//! Direct routing for switch stars (one switch per plane) and fully
//! connected routers: eject if the destination is here, else take the one
//! link to its router.

use super::Hop;
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
