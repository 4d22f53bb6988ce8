//! Minimal routing on dragonflies: at most one local hop to the router that
//! owns the global link to the destination group, the global hop, at most one
//! local hop to the destination router. The packet moves to VC class 1 when
//! it takes the global link, so local channels of the destination group
//! never wait on those of a source group: deadlock-free with two VCs. With
//! one VC the classes merge and the static check finds the cycle through
//! three groups.

use super::Hop;
use crate::ids::EndpointId;
use crate::topology::dragonfly::Dragonfly;
use crate::topology::RouterId;

pub fn route(d: &Dragonfly, r: RouterId, class: u8, dst: EndpointId) -> Hop {
    let dst_router = dst.0 / d.p;
    let (group, i) = (r / d.a, r % d.a);
    let dst_group = dst_router / d.a;
    let port = if r == dst_router {
        dst.0 % d.p
    } else if group == dst_group {
        d.local_port(i, dst_router % d.a)
    } else {
        let (gateway, global) = d.global_port(group, d.link_to(group, dst_group));
        if gateway == r {
            global
        } else {
            d.local_port(i, gateway % d.a)
        }
    };
    let class = if port >= d.first_global() { 1 } else { class };
    Hop { port, class }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Peer;

    #[test]
    fn every_route_is_minimal_and_reaches_its_endpoint() {
        let d = Dragonfly { p: 2, a: 4, h: 2 };
        let g = d.graph();
        for dst in 0..g.num_endpoints() as u32 {
            for (src, &(r0, _)) in g.attach.iter().enumerate() {
                let (mut r, mut class, mut routers, mut globals) = (r0, 0, 0, 0);
                loop {
                    routers += 1;
                    let hop = route(&d, r, class, EndpointId(dst));
                    globals += u32::from(hop.port >= d.first_global());
                    class = hop.class;
                    match g.routers[r as usize].ports[hop.port as usize] {
                        Peer::Endpoint(e) => {
                            assert_eq!(e.0, dst);
                            break;
                        }
                        Peer::Router(r2, _) => r = r2,
                        Peer::Unconnected => panic!("unconnected port"),
                    }
                }
                let same_group = r0 / d.a == dst / d.p / d.a;
                assert!(routers <= if same_group { 2 } else { 4 }, "{src}->{dst}");
                assert_eq!(globals, u32::from(!same_group));
            }
        }
    }
}
