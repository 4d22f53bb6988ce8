//! Minimal up/down routing on two-level fat-trees: up to a spine unless the
//! destination hangs off this leaf, then down. Packets never turn from down
//! to up, so any spine choice is deadlock-free with one VC. The spine is
//! chosen either by the destination (`dst mod spines`, "d-mod-k": the routes
//! to one endpoint form a tree) or by a hash of the flow (source, destination),
//! as ECMP does: spreads the flows to one destination, but two flows can
//! collide on one uplink while another idles.

use super::Hop;
use crate::ids::EndpointId;
use crate::rng::flow_hash;
use crate::spec::SpineChoice;
use crate::topology::RouterId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpDown {
    pub leaves: u32,
    pub down: u32,
    pub up: u32,
    pub spine: SpineChoice,
}

impl UpDown {
    /// Packets go up only at their source leaf, where `in_port` is the source
    /// endpoint's port: that, with the leaf, names the source.
    ///
    /// `alternative` (0 but when rerouting around a failed link) moves the
    /// uplink that many spines on.
    pub fn route(&self, r: RouterId, in_port: u32, dst: EndpointId, alternative: u32) -> Hop {
        let dst_leaf = dst.0 / self.down;
        let port = if r >= self.leaves {
            dst_leaf // a spine: down to the destination's leaf
        } else if r == dst_leaf {
            dst.0 % self.down // eject
        } else {
            let spine = match self.spine {
                SpineChoice::DModK => dst.0 % self.up,
                SpineChoice::Ecmp => {
                    let src = r * self.down + in_port;
                    (flow_hash(src, dst.0) % self.up as u64) as u32
                }
            };
            self.down + (spine + alternative) % self.up
        };
        Hop { port, class: 0 }
    }
}

super::plain_routing!(
    UpDown,
    |this, _, r, in_port, dst, alt| UpDown::route(this, r, in_port, dst, alt),
    |this| if this.spine == SpineChoice::Ecmp {
        "minimal up/down (ECMP: spine by flow hash)"
    } else {
        "minimal up/down (d-mod-k spine choice)"
    },
    |this| this.up
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecmp_spreads_the_flows_to_one_destination_and_d_mod_k_does_not() {
        let mut routing = UpDown {
            leaves: 8,
            down: 4,
            up: 4,
            spine: SpineChoice::DModK,
        };
        let spines = |u: &UpDown| {
            let mut used = [false; 4];
            for leaf in 1..8 {
                for p in 0..4 {
                    used[(u.route(leaf, p, EndpointId(0), 0).port - 4) as usize] = true;
                }
            }
            used.iter().filter(|&&x| x).count()
        };
        assert_eq!(spines(&routing), 1);
        routing.spine = SpineChoice::Ecmp;
        assert_eq!(spines(&routing), 4);
        // A flow keeps its path.
        assert_eq!(
            routing.route(3, 2, EndpointId(5), 0),
            routing.route(3, 2, EndpointId(5), 0)
        );
    }
}
