//! Sender-side credit state of one link direction (Garnet's `OutVcState`).

/// Credits per VC, plus a bitmask of the VCs that have at least one, so that
/// picking a sendable VC is a mask AND and a bit scan.
#[derive(Clone, Debug)]
pub struct CreditCounters {
    credits: Vec<u32>,
    /// Bit `v` is set iff `credits[v] > 0`.
    mask: u64,
}

impl CreditCounters {
    /// `vcs` counters (at most 64) holding `initial` credits each.
    pub fn new(vcs: u32, initial: u32) -> Self {
        debug_assert!((1..=64).contains(&vcs));
        let mask = if initial > 0 { low_bits(vcs) } else { 0 };
        Self {
            credits: vec![initial; vcs as usize],
            mask,
        }
    }

    #[inline]
    pub fn mask(&self) -> u64 {
        self.mask
    }

    #[inline]
    pub fn get(&self, vc: usize) -> u32 {
        self.credits[vc]
    }

    /// Spends one credit of `vc`.
    ///
    /// Contract: `vc` has a credit (its mask bit is set).
    #[inline]
    pub fn take(&mut self, vc: usize) {
        debug_assert!(self.credits[vc] > 0);
        self.credits[vc] -= 1;
        if self.credits[vc] == 0 {
            self.mask &= !(1 << vc);
        }
    }

    /// A credit of `vc` came back.
    #[inline]
    pub fn give(&mut self, vc: usize) {
        self.credits[vc] += 1;
        self.mask |= 1 << vc;
    }
}

/// The lowest `n` bits set (`n` in 0..=64).
#[inline]
pub fn low_bits(n: u32) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// Round-robin pick: the first set bit of `mask` at or after position
/// `start`, wrapping around. `mask` must be non-zero.
#[inline]
pub fn pick_round_robin(mask: u64, start: u32) -> usize {
    debug_assert!(mask != 0);
    let rotated = mask.rotate_right(start);
    ((rotated.trailing_zeros() + start) & 63) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_tracks_nonzero_counters() {
        let mut c = CreditCounters::new(3, 1);
        assert_eq!(c.mask(), 0b111);
        c.take(1);
        assert_eq!(c.mask(), 0b101);
        c.give(1);
        c.give(1);
        assert_eq!((c.get(1), c.mask()), (2, 0b111));
    }

    #[test]
    fn round_robin_starts_at_pointer_and_wraps() {
        assert_eq!(pick_round_robin(0b1011, 0), 0);
        assert_eq!(pick_round_robin(0b1011, 1), 1);
        assert_eq!(pick_round_robin(0b1011, 2), 3);
        assert_eq!(pick_round_robin(0b0011, 2), 0);
        assert_eq!(pick_round_robin(1 << 63, 5), 63);
        assert_eq!(low_bits(64), u64::MAX);
        assert_eq!(low_bits(3), 7);
    }
}
