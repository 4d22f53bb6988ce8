//! Minimal up/down routing on two-level fat-trees: up to a spine unless the
//! destination hangs off this leaf, then down. The spine is chosen by the
//! destination (`dst mod spines`, "d-mod-k"), so the routes to one endpoint
//! form a tree: deadlock-free with one VC.

use super::Hop;
use crate::ids::EndpointId;
use crate::topology::RouterId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpDown {
    pub leaves: u32,
    pub down: u32,
    pub up: u32,
}

impl UpDown {
    pub fn route(&self, r: RouterId, dst: EndpointId) -> Hop {
        let dst_leaf = dst.0 / self.down;
        let port = if r >= self.leaves {
            dst_leaf // a spine: down to the destination's leaf
        } else if r == dst_leaf {
            dst.0 % self.down // eject
        } else {
            self.down + dst.0 % self.up // up, d-mod-k
        };
        Hop { port, class: 0 }
    }
}
