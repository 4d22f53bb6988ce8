//! Reads and writes of dense arrays on the per-flit path without a bounds
//! check in release builds.
//!
//! A flit-hop indexes a dozen arrays (input ports, VC rings, flit slots,
//! output credits, VC states, allocator pointers) and every wire a ring of
//! slots; their bounds checks cost a mesh about 6% of its run time (A/B of
//! release builds on 8x8 and 16x16 meshes). The indices are in range by
//! construction: port numbers are a router's `first_port` plus a port below
//! its port count, or wiring set at build; VCs are bits of masks of `vcs`
//! bits or VCs allocated below `vcs`; ring slots are masked by the ring's
//! length - 1 or stay below its capacity. What comes from outside is
//! checked once where it enters: the output port a routing function
//! returns (`Router::step`) and the VC of a flit arriving at a router input
//! (`RouterPorts::accept`). Debug builds (`cargo test`) and `make fuzz`'s
//! checked build check every index.

/// `v[i]`. Contract: `i < v.len()`.
#[inline(always)]
pub fn at<T>(v: &[T], i: usize) -> &T {
    debug_assert!(i < v.len(), "index {i} out of {}", v.len());
    // SAFETY: the caller keeps `i` below `v.len()` (see the module doc).
    unsafe { v.get_unchecked(i) }
}

/// `&mut v[i]`. Contract: `i < v.len()`.
#[inline(always)]
pub fn at_mut<T>(v: &mut [T], i: usize) -> &mut T {
    debug_assert!(i < v.len(), "index {i} out of {}", v.len());
    // SAFETY: the caller keeps `i` below `v.len()` (see the module doc).
    unsafe { v.get_unchecked_mut(i) }
}
