//! Dimension-order routing on meshes and tori: correct dimension 0 first,
//! then 1, ...; on a torus take the shorter way round (half way round an
//! even ring: `+` from an even coordinate, `-` from an odd one, so that
//! every link of the ring carries the same share of such routes, as
//! BookSim's random pick shares them on average, while one flow keeps one
//! way and its order), and with `dateline` enter each
//! dimension in VC class 1 if its way round crosses the wrap-around link,
//! else in class 0 (BookSim's torus routing, `dim_order_torus`). No class-1
//! route reaches half way round from the wrap link on either side, and no
//! class-0 route crosses it, so neither class closes the ring's cycle of
//! channel dependencies (Dally and Seitz's argument).

use super::{Hop, RoutingFunction};
use crate::ids::EndpointId;
use crate::topology::grid::{coords, port};
use crate::topology::{Graph, RouterId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimensionOrder {
    pub dims: Vec<u32>,
    pub wrap: bool,
    pub dateline: bool,
    /// Every router's coordinates packed in one word, dimension 0 in the
    /// low bits, each in just the bits its size needs (a size-1 dimension
    /// in none): the first dimension two routers differ in holds the lowest
    /// set bit of their XOR. Found so per head flit, without a loop over
    /// the dimensions whose exit (which dimension differs) is as good as
    /// random and was mispredicted on most heads.
    packed: Vec<u64>,
    /// Per endpoint: its router, port there and the router's packed
    /// coordinates, in one load (a head's route starts from its
    /// destination, itself just loaded).
    dest: Vec<Dest>,
    /// Per bit of the packed word: the dimension it belongs to, with that
    /// dimension's place in the word and size (one load after the XOR).
    dim_at: Box<[DimAt; 64]>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Dest {
    router: RouterId,
    port: u32,
    packed: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct DimAt {
    dim: u32,
    shift: u32,
    mask: u32,
    k: u32,
}

impl DimAt {
    /// This dimension's coordinate in a packed word.
    #[inline]
    fn of(self, packed: u64) -> u32 {
        (packed >> self.shift) as u32 & self.mask
    }
}

impl DimensionOrder {
    /// Dimension-order routing on grid `g` of `dims`.
    pub fn new(g: &Graph, dims: &[u32], wrap: bool, dateline: bool) -> Self {
        let routers: u32 = dims.iter().product();
        // ceil(log2 k) bits per dimension; they add up to at most 64, since
        // ceil(log2 k) <= 2 log2 k for k >= 2 and the product of the sizes
        // (the router count) is below 2^32.
        let mut dim_at = Box::new([DimAt::default(); 64]);
        let mut shift = 0u32;
        let mut fields = Vec::with_capacity(dims.len());
        for (d, &k) in dims.iter().enumerate() {
            let bits = u32::BITS - (k.max(1) - 1).leading_zeros();
            assert!(shift + bits <= 64, "grid coordinates fit a word");
            let at = DimAt {
                dim: d as u32,
                shift,
                mask: ((1u64 << bits) - 1) as u32,
                k,
            };
            dim_at[shift as usize..(shift + bits) as usize].fill(at);
            fields.push(at);
            shift += bits;
        }
        let packed: Vec<u64> = (0..routers)
            .map(|r| {
                coords(r, dims)
                    .iter()
                    .zip(&fields)
                    .fold(0u64, |w, (&x, f)| w | (x as u64) << f.shift)
            })
            .collect();
        let dest = g
            .attach
            .iter()
            .map(|&(router, port)| Dest {
                router,
                port,
                packed: packed[router as usize],
            })
            .collect();
        Self {
            dims: dims.to_vec(),
            wrap,
            dateline,
            packed,
            dest,
            dim_at,
        }
    }

    /// The hop toward endpoint `dst` from router `r` (entered on `in_port`
    /// in VC class `class`), on the grid this was built on.
    pub fn route(&self, r: RouterId, in_port: u32, class: u8, dst: EndpointId) -> Hop {
        let to = self.dest[dst.index()];
        if to.router == r {
            return Hop {
                port: to.port,
                class,
            };
        }
        let (here, there) = (self.packed[r as usize], to.packed);
        // (the routers differ, so their words do)
        let at = self.dim_at[(here ^ there).trailing_zeros() as usize & 63];
        let (dim, k) = (at.dim as usize, at.k);
        let (here, there) = (at.of(here), at.of(there));
        let plus = if self.wrap {
            shorter_way_is_plus(here, there, k)
        } else {
            there > here
        };
        let mut class = class;
        if self.dateline {
            // in_port 0 is the endpoint (injection); port 1 + 2i / 2 + 2i are dimension i.
            let came_along = in_port != 0 && ((in_port - 1) / 2) as usize == dim;
            if !came_along {
                // entering the dimension: class 1 if this dimension's way crosses the wrap
                // (and keeps it along the dimension: a packet that wraps entered in class 1)
                class = u8::from(if plus { there < here } else { there > here });
            }
        }
        Hop {
            port: port(dim, plus),
            class,
        }
    }
}

/// Whether the shorter way round a ring of `k` from `here` to `there` is
/// `+`. Half way round either way (met only on entering the dimension: a hop
/// on makes the way shorter), the coordinate's parity decides.
#[inline]
fn shorter_way_is_plus(here: u32, there: u32, k: u32) -> bool {
    let forward = if there > here {
        there - here
    } else {
        there + k - here
    };
    let tie = 2 * forward == k && k > 2;
    forward < k - forward || forward == k - forward && (!tie || here % 2 == 0)
}

impl DimensionOrder {
    /// The ways around a failed link (`RoutingFunction::alternatives`):
    /// the dimensions in reverse order (with two or more), and on a torus
    /// each dimension's other way round (the first five), in every
    /// combination.
    pub fn alternatives(&self) -> u32 {
        let ways = if self.wrap {
            1 << self.dims.len().min(5)
        } else {
            1
        };
        self.orders() * ways
    }

    /// 2 with two or more dimensions to correct (either may go first).
    fn orders(&self) -> u32 {
        if self.dims.iter().filter(|&&k| k > 1).count() > 1 {
            2
        } else {
            1
        }
    }

    /// The hop of alternative `alt` (0: [`DimensionOrder::route`]): with
    /// two orders, its lowest bit corrects the highest differing dimension
    /// first; the next bits, `d` from the lowest, take dimension `d` the
    /// other way round (a torus; half way round, the way the tie rule did
    /// not take). A packet that arrived
    /// along the dimension it still corrects keeps its way, so a route is a
    /// function of the router, the input port and the destination, as the
    /// plain one is. Only the flow model reroutes with these; the cycle
    /// engine routes with alternative 0, whose VC classes break the rings'
    /// dependency cycles.
    pub fn route_alternative(
        &self,
        r: RouterId,
        in_port: u32,
        class: u8,
        dst: EndpointId,
        alt: u32,
    ) -> Hop {
        let to = self.dest[dst.index()];
        if alt == 0 || to.router == r {
            return self.route(r, in_port, class, dst);
        }
        let (here, there) = (self.packed[r as usize], to.packed);
        let diff = here ^ there;
        // alternative = flips x orders + order
        let (reverse, flips) = (alt % self.orders() == 1, alt / self.orders());
        let bit = if reverse {
            63 - diff.leading_zeros()
        } else {
            diff.trailing_zeros()
        };
        let at = self.dim_at[bit as usize & 63];
        let (dim, k) = (at.dim as usize, at.k);
        let (here, there) = (at.of(here), at.of(there));
        let came_along = in_port != 0 && ((in_port - 1) / 2) as usize == dim;
        let plus = if !self.wrap {
            there > here
        } else if came_along {
            // arrived moving `+` through the neighbour's `+` port, into this `-` one
            in_port == port(dim, false)
        } else {
            shorter_way_is_plus(here, there, k) != (flips >> dim & 1 == 1)
        };
        Hop {
            port: port(dim, plus),
            class,
        }
    }
}

impl RoutingFunction for DimensionOrder {
    #[inline]
    fn route(
        &self,
        _: &Graph,
        r: RouterId,
        in_port: u32,
        class: u8,
        dst: EndpointId,
        alt: u32,
    ) -> Hop {
        if alt == 0 {
            DimensionOrder::route(self, r, in_port, class, dst)
        } else {
            self.route_alternative(r, in_port, class, dst, alt)
        }
    }
    fn choices(&self) -> u32 {
        1
    }
    fn alternatives(&self) -> u32 {
        DimensionOrder::alternatives(self)
    }
    fn is_adaptive(&self) -> bool {
        false
    }
    fn adaptive_minimal(&self, _: EndpointId) -> Option<u32> {
        None
    }
    fn classes(&self) -> u8 {
        if self.dateline {
            2
        } else {
            1
        }
    }
    fn restricts_ports(&self) -> bool {
        false
    }
    fn enters_at(&self, _: &Graph, _: u32, _: RouterId, _: u32) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        if self.dateline {
            "dimension-order with dateline VC classes"
        } else {
            "dimension-order"
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
        let dor = DimensionOrder::new(&g, &dims, true, true);
        // (0,0) -> (1,2): +x first
        assert_eq!(
            dor.route(0, 0, 0, EndpointId(9)),
            Hop {
                port: port(0, true),
                class: 0
            }
        );
        // (0,0) -> (3,0): -x is one hop over the wrap link: class 1
        assert_eq!(
            dor.route(0, 0, 0, EndpointId(3)),
            Hop {
                port: port(0, false),
                class: 1
            }
        );
        // arrived at (3,0) along x in class 1, now y towards (3,1): new dimension, class 0
        assert_eq!(
            dor.route(3, port(0, true), 1, EndpointId(7)),
            Hop {
                port: port(1, true),
                class: 0
            }
        );
        // at the destination: eject on port 0
        assert_eq!(
            dor.route(5, port(1, false), 1, EndpointId(5)),
            Hop { port: 0, class: 1 }
        );
    }

    #[test]
    fn half_way_round_an_even_ring_even_coordinates_go_plus_odd_ones_minus() {
        let dims = vec![8, 4];
        let g = grid(&dims, true);
        let dor = DimensionOrder::new(&g, &dims, true, true);
        // each link of an x ring carries two of the eight routes half way round it
        let mut load = [[0; 8]; 2]; // [way][link from x]
        for x in 0..8u32 {
            let hop = dor.route(x, 0, 0, EndpointId((x + 4) % 8));
            let plus = hop.port == port(0, true);
            assert_eq!(plus, x % 2 == 0);
            // class 1 from the start iff the way crosses the wrap link (7 -> 0 or 0 -> 7)
            let crosses = if plus { x + 4 >= 8 } else { x < 4 };
            assert_eq!(hop.class, u8::from(crosses), "{x}");
            for h in 0..4 {
                let from = if plus { (x + h) % 8 } else { (x + 8 - h) % 8 };
                load[usize::from(!plus)][from as usize] += 1;
            }
        }
        assert_eq!(load, [[2; 8]; 2]);
        // y rings of 4 tie at distance 2: from (3, 1) to (3, 3) goes - (odd y)
        let hop = dor.route(8 + 3, port(0, true), 0, EndpointId(3 * 8 + 3));
        assert_eq!(hop.port, port(1, false));
    }

    /// The route of the plain definition: coordinates divided out, the
    /// first differing dimension searched for, the short way round by `%`.
    fn by_definition(d: &DimensionOrder, r: RouterId, dst: RouterId) -> (u32, bool) {
        let (here, there) = (coords(r, &d.dims), coords(dst, &d.dims));
        let dim = (0..d.dims.len()).find(|&i| here[i] != there[i]).unwrap();
        let k = d.dims[dim];
        let plus = if d.wrap {
            let forward = (there[dim] + k - here[dim]) % k;
            let tie = 2 * forward == k && k > 2;
            forward < k - forward || forward == k - forward && (!tie || here[dim] % 2 == 0)
        } else {
            there[dim] > here[dim]
        };
        // the way round this dimension crosses the wrap-around link
        let crosses = if plus {
            there[dim] < here[dim]
        } else {
            there[dim] > here[dim]
        };
        (port(dim, plus), crosses)
    }

    #[test]
    fn packed_coordinates_route_as_the_definition_says() {
        // sizes of 1 (no bits), powers of two and not, up to 5 dimensions
        for dims in [
            vec![5],
            vec![4, 4],
            vec![3, 1, 7],
            vec![2, 3, 4, 5],
            vec![1, 6, 2, 9, 3],
            vec![16, 16],
            vec![17, 2],
        ] {
            for wrap in [false, true] {
                let g = grid(&dims, wrap);
                let dor = DimensionOrder::new(&g, &dims, wrap, wrap);
                let n: u32 = dims.iter().product();
                for r in 0..n {
                    for dst in (0..n).filter(|&d| d != r) {
                        let (want, crosses) = by_definition(&dor, r, dst);
                        let hop = dor.route(r, 0, 0, EndpointId(dst));
                        assert_eq!(hop.port, want, "{dims:?} wrap {wrap}: {r} -> {dst}");
                        assert_eq!(
                            hop.class,
                            u8::from(wrap && crosses),
                            "{dims:?}: {r} -> {dst}"
                        );
                    }
                }
            }
        }
    }

    /// The routers alternative `alt` passes from router `src` to endpoint
    /// `dst`'s router (walking the graph), or None if it loops.
    fn walk(g: &Graph, dor: &DimensionOrder, src: u32, dst: u32, alt: u32) -> Option<Vec<u32>> {
        let (mut r, mut in_port, mut seen) = (src, 0, vec![src]);
        for _ in 0..4 * g.routers.len() {
            let hop = RoutingFunction::route(dor, g, r, in_port, 0, EndpointId(dst), alt);
            match g.routers[r as usize].ports[hop.port as usize] {
                crate::topology::Peer::Endpoint(e) => return (e.0 == dst).then_some(seen),
                crate::topology::Peer::Router(r2, p2) => {
                    (r, in_port) = (r2, p2);
                    seen.push(r);
                }
                crate::topology::Peer::Unconnected => return None,
            }
        }
        None
    }

    #[test]
    fn every_alternative_reaches_every_destination_and_the_first_is_the_route() {
        for (dims, wrap) in [
            (vec![4, 4], true),
            (vec![5, 3], true),
            (vec![4, 3], false),
            (vec![8], true),
            (vec![2, 2, 2], true),
        ] {
            let g = grid(&dims, wrap);
            let dor = DimensionOrder::new(&g, &dims, wrap, wrap);
            let alts = DimensionOrder::alternatives(&dor);
            let n = g.routers.len() as u32;
            let mut distinct = 0;
            for src in 0..n {
                for dst in 0..n {
                    let plain = walk(&g, &dor, src, dst, 0).expect("the route arrives");
                    let mut paths = std::collections::BTreeSet::new();
                    for alt in 0..alts {
                        let path =
                            walk(&g, &dor, src, dst, alt).expect("every alternative arrives");
                        // no router twice: a ring is never gone round more than once
                        let mut sorted = path.clone();
                        sorted.sort_unstable();
                        sorted.dedup();
                        assert_eq!(
                            sorted.len(),
                            path.len(),
                            "{dims:?} {src}->{dst} alt {alt}: {path:?}"
                        );
                        paths.insert(path);
                    }
                    assert!(paths.contains(&plain));
                    distinct += paths.len();
                }
            }
            // the alternatives are other paths (a pair in line has one on a mesh)
            assert!(distinct > (n * n) as usize, "{dims:?}");
        }
        // a torus of two dimensions: reverse order x the four ways round
        let g = grid(&[4, 4], true);
        assert_eq!(
            DimensionOrder::alternatives(&DimensionOrder::new(&g, &[4, 4], true, true)),
            8
        );
        let g = grid(&[4, 3], false);
        assert_eq!(
            DimensionOrder::alternatives(&DimensionOrder::new(&g, &[4, 3], false, false)),
            2
        );
    }
}
