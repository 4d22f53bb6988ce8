//! Sets of a router's ports as bit masks, for its allocators' per-cycle
//! bookkeeping (ports holding flits, ready, asked, granted).
//!
//! Routers of up to 64 ports (every mesh, torus, fat-tree and dragonfly
//! router here) use `u64`; larger switches (an NVL72 switch tray has 72
//! ports) use `u128`. The router is generic over the width: `u128` shifts
//! and scans by a variable amount compile to branches and double-word
//! operations, which cost a mesh about 5% of its speed.

use std::fmt::Debug;
use std::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, Not};

pub trait PortSet:
    Copy
    + Eq
    + Debug
    + BitOr<Output = Self>
    + BitOrAssign
    + BitAnd<Output = Self>
    + BitAndAssign
    + Not<Output = Self>
{
    /// How many ports a set can hold.
    const BITS: usize;
    const EMPTY: Self;
    const ALL: Self;

    /// The set of port `i` alone.
    fn of(i: usize) -> Self;
    /// The set of the low ports of a 128-port mask (a router's ports fit).
    fn from_u128(mask: u128) -> Self;
    /// Ports `0..i`.
    fn below(i: usize) -> Self;
    fn has(self, i: usize) -> bool;
    fn is_empty(self) -> bool;
    /// The lowest port in a non-empty set.
    fn lowest(self) -> usize;
    /// The set without its lowest port.
    fn without_lowest(self) -> Self;
    /// The first port of a non-empty set at or after `start`, wrapping
    /// (a round-robin pick).
    fn pick_from(self, start: u32) -> usize;
}

macro_rules! port_set {
    ($t:ty) => {
        impl PortSet for $t {
            const BITS: usize = <$t>::BITS as usize;
            const EMPTY: Self = 0;
            const ALL: Self = <$t>::MAX;

            #[inline(always)]
            fn of(i: usize) -> Self {
                1 << i
            }

            #[inline(always)]
            fn from_u128(mask: u128) -> Self {
                mask as $t
            }

            #[inline(always)]
            fn below(i: usize) -> Self {
                (1 as $t).wrapping_shl(i as u32).wrapping_sub(1)
            }

            #[inline(always)]
            fn has(self, i: usize) -> bool {
                self >> i & 1 == 1
            }

            #[inline(always)]
            fn is_empty(self) -> bool {
                self == 0
            }

            #[inline(always)]
            fn lowest(self) -> usize {
                self.trailing_zeros() as usize
            }

            #[inline(always)]
            fn without_lowest(self) -> Self {
                self & (self - 1)
            }

            #[inline(always)]
            fn pick_from(self, start: u32) -> usize {
                debug_assert!(self != 0);
                ((self.rotate_right(start).trailing_zeros() + start) as usize)
                    & (<Self as PortSet>::BITS - 1)
            }
        }
    };
}

port_set!(u64);
port_set!(u128);

/// Calls `f` with each port of `set`, lowest first.
#[inline]
pub fn for_each_port<P: PortSet>(mut set: P, mut f: impl FnMut(usize)) {
    while !set.is_empty() {
        let i = set.lowest();
        set = set.without_lowest();
        f(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<P: PortSet>() {
        let s = P::of(1) | P::of(4) | P::of(P::BITS - 1);
        assert!(s.has(1) && s.has(4) && !s.has(2) && s.has(P::BITS - 1));
        assert_eq!((s.lowest(), s.without_lowest().lowest()), (1, 4));
        assert_eq!(
            (s.pick_from(0), s.pick_from(2), s.pick_from(5)),
            (1, 4, P::BITS - 1)
        );
        assert_eq!(P::of(1).pick_from(2), 1, "wraps");
        assert_eq!(P::below(3), P::of(0) | P::of(1) | P::of(2));
        assert!(P::below(0).is_empty());
        let mut seen = Vec::new();
        for_each_port(s, |i| seen.push(i));
        assert_eq!(seen, vec![1, 4, P::BITS - 1]);
        assert!((P::ALL & !s).has(0) && !(P::ALL & !s).has(4));
        assert!(P::EMPTY.is_empty());
    }

    #[test]
    fn both_widths_agree() {
        check::<u64>();
        check::<u128>();
    }
}
