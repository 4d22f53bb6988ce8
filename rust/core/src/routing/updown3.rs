//! Minimal up/down routing on three-level fat-trees: up only as far as the
//! lowest common level (edge, pod, core), then down. No down-to-up turn, so
//! deadlock-free with one VC. The aggregation and core choices are by
//! destination (d-mod-k) or by hash (ECMP): at the edge the hash is of
//! (source, destination); an aggregation switch sees only the edge a packet
//! came from, so it hashes (that edge, destination).

use super::Hop;
use crate::ids::EndpointId;
use crate::rng::flow_hash;
use crate::spec::SpineChoice;
use crate::topology::fat_tree3::{FatTree3, Switch};
use crate::topology::RouterId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpDown3 {
    pub shape: FatTree3,
    pub spine: SpineChoice,
}

impl UpDown3 {
    ///
    /// `alternative` (0 but when rerouting around a failed link) moves the
    /// edge's uplink `alternative mod up` on and the aggregation's
    /// `alternative / up` on.
    pub fn route(&self, r: RouterId, in_port: u32, dst: EndpointId, alternative: u32) -> Hop {
        let t = &self.shape;
        let h = t.half();
        let dst_edge = t.edge_of(dst);
        let dst_pod = dst_edge / h;
        let pick = |a: u32, n: u32, spread: u32| match self.spine {
            SpineChoice::DModK => dst.0 / spread % n,
            SpineChoice::Ecmp => (flow_hash(a, dst.0) % n as u64) as u32,
        };
        let port = match t.switch(r) {
            Switch::Edge { .. } if r == dst_edge => dst.0 % t.down,
            Switch::Edge { .. } => {
                t.down + (pick(r * t.down + in_port, t.up, 1) + alternative % t.up) % t.up
            }
            Switch::Aggregation { pod, .. } if pod == dst_pod => dst_edge % h,
            Switch::Aggregation { pod, .. } => {
                h + (pick(pod * h + in_port, h, t.up) + alternative / t.up % h) % h
            }
            Switch::Core { .. } => dst_pod,
        };
        Hop { port, class: 0 }
    }
}

super::plain_routing!(
    UpDown3,
    |this, _, r, in_port, dst, alt| UpDown3::route(this, r, in_port, dst, alt),
    |this| if this.spine == SpineChoice::Ecmp {
        "three-level up/down (ECMP: uplinks by flow hash)"
    } else {
        "three-level up/down (d-mod-k uplink choice)"
    },
    |this| this.shape.up * this.shape.half()
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Peer;

    #[test]
    fn routes_climb_only_as_high_as_needed() {
        for spine in [SpineChoice::DModK, SpineChoice::Ecmp] {
            let routing = UpDown3 {
                shape: FatTree3 {
                    k: 4,
                    down: 2,
                    up: 2,
                },
                spine,
            };
            let g = routing.shape.graph();
            for dst in 0..16 {
                for (src, &(r0, p0)) in g.attach.iter().enumerate() {
                    let (mut r, mut p, mut routers) = (r0, p0, 0);
                    loop {
                        routers += 1;
                        let hop = routing.route(r, p, EndpointId(dst), 0);
                        match g.routers[r as usize].ports[hop.port as usize] {
                            Peer::Endpoint(e) => {
                                assert_eq!(e.0, dst);
                                break;
                            }
                            Peer::Router(r2, p2) => (r, p) = (r2, p2),
                            Peer::Unconnected => panic!(),
                        }
                    }
                    let expected = if src as u32 / 2 == dst / 2 {
                        1
                    } else if src / 4 == dst as usize / 4 {
                        3
                    } else {
                        5
                    };
                    assert_eq!(routers, expected, "{src}->{dst}");
                }
            }
        }
    }
}
