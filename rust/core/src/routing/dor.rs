//! Dimension-order routing on meshes and tori: correct dimension 0 first,
//! then 1, ...; on a torus take the shorter way round (ties: `+`), and with
//! `dateline` switch to VC class 1 after crossing a dimension's wrap-around
//! link (back to class 0 in each new dimension), which breaks the ring's
//! cyclic dependency (Dally and Seitz).

use super::Hop;
use crate::ids::EndpointId;
use crate::topology::grid::{coords, port};
use crate::topology::{Graph, RouterId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimensionOrder {
    pub dims: Vec<u32>,
    pub wrap: bool,
    pub dateline: bool,
    /// Every router's coordinates, router by router (`dims.len()` each):
    /// looked up per head flit instead of divided out (and allocated).
    coords: Vec<u32>,
}

impl DimensionOrder {
    pub fn new(dims: &[u32], wrap: bool, dateline: bool) -> Self {
        let routers: u32 = dims.iter().product();
        Self {
            dims: dims.to_vec(),
            wrap,
            dateline,
            coords: (0..routers).flat_map(|r| coords(r, dims)).collect(),
        }
    }

    fn coords_of(&self, r: RouterId) -> &[u32] {
        let n = self.dims.len();
        &self.coords[r as usize * n..][..n]
    }

    pub fn route(&self, g: &Graph, r: RouterId, in_port: u32, class: u8, dst: EndpointId) -> Hop {
        let (dst_router, dst_port) = g.attach[dst.index()];
        if dst_router == r {
            return Hop {
                port: dst_port,
                class,
            };
        }
        let (here, there) = (self.coords_of(r), self.coords_of(dst_router));
        let dim = (0..self.dims.len())
            .find(|&i| here[i] != there[i])
            .expect("routers differ");
        let k = self.dims[dim];
        let plus = if self.wrap {
            let forward = (there[dim] + k - here[dim]) % k;
            forward <= k - forward
        } else {
            there[dim] > here[dim]
        };
        let mut class = class;
        if self.dateline {
            // in_port 0 is the endpoint (injection); port 1 + 2i / 2 + 2i are dimension i.
            let came_along = in_port != 0 && ((in_port - 1) / 2) as usize == dim;
            if !came_along {
                class = 0;
            }
            let wraps = if plus {
                here[dim] + 1 == k
            } else {
                here[dim] == 0
            };
            if wraps {
                class = 1;
            }
        }
        Hop {
            port: port(dim, plus),
            class,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::grid::grid;

    #[test]
    fn x_first_then_y_and_the_short_way_round_a_torus() {
        let dims = vec![4, 4];
        let g = grid(&dims, true);
        let dor = DimensionOrder::new(&dims, true, true);
        // (0,0) -> (1,2): +x first
        assert_eq!(
            dor.route(&g, 0, 0, 0, EndpointId(9)),
            Hop {
                port: port(0, true),
                class: 0
            }
        );
        // (0,0) -> (3,0): -x is one hop over the wrap link: class 1
        assert_eq!(
            dor.route(&g, 0, 0, 0, EndpointId(3)),
            Hop {
                port: port(0, false),
                class: 1
            }
        );
        // arrived at (3,0) along x in class 1, now y towards (3,1): new dimension, class 0
        assert_eq!(
            dor.route(&g, 3, port(0, true), 1, EndpointId(7)),
            Hop {
                port: port(1, true),
                class: 0
            }
        );
        // at the destination: eject on port 0
        assert_eq!(
            dor.route(&g, 5, port(1, false), 1, EndpointId(5)),
            Hop { port: 0, class: 1 }
        );
    }
}
