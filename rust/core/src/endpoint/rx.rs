//! Receive side of a network interface, for one incoming link direction.

use crate::link::credits::pick_round_robin;
use crate::link::Flit;
use crate::spec::endpoint::DrainParams;
use std::collections::VecDeque;

#[derive(Clone, Debug)]
pub struct RxPort {
    /// Per-VC buffers; each holds at most `credits_per_vc` flits when the
    /// sender honours credits (checked on every accept).
    bufs: Vec<VecDeque<Flit>>,
    capacity: u32,
    /// Bit `v` set iff `bufs[v]` is non-empty.
    nonempty: u64,
    /// Flits held across all VCs.
    occupancy: u32,
    rr: u32,
    drain: Option<DrainParams>,
    tokens: u128,
}

/// A flit arrived for a VC whose buffer was already full: the sender sent
/// without a credit. Always an engine bug or a broken credit protocol.
#[derive(Debug)]
pub struct Overflow {
    pub vc: u8,
    pub capacity: u32,
}

impl RxPort {
    pub fn new(vcs: u32, credits_per_vc: u32, drain: Option<DrainParams>) -> Self {
        Self {
            bufs: vec![VecDeque::new(); vcs as usize],
            capacity: credits_per_vc,
            nonempty: 0,
            occupancy: 0,
            rr: 0,
            // Starts empty: a receiver that drains at 0 Gb/s never drains.
            tokens: 0,
            drain,
        }
    }

    /// Buffers an arriving flit.
    #[inline]
    pub fn accept(&mut self, flit: Flit) -> Result<(), Overflow> {
        let vc = flit.vc as usize;
        if self.bufs[vc].len() as u32 >= self.capacity {
            return Err(Overflow {
                vc: flit.vc,
                capacity: self.capacity,
            });
        }
        self.bufs[vc].push_back(flit);
        self.nonempty |= 1 << vc;
        self.occupancy += 1;
        Ok(())
    }

    /// Starts a cycle's draining: the pacer earns this cycle's tokens.
    /// Then call [`RxPort::next_drained`] until it returns `None`.
    #[inline]
    pub fn refill(&mut self) {
        if let Some(d) = self.drain {
            self.tokens = (self.tokens + d.add).min(d.cap);
        }
    }

    /// The next flit this cycle's pace allows, VCs round-robin.
    #[inline]
    pub fn next_drained(&mut self) -> Option<Flit> {
        if self.nonempty == 0 {
            return None;
        }
        if let Some(d) = self.drain {
            if self.tokens < d.cost {
                return None;
            }
            self.tokens -= d.cost;
        }
        let vc = pick_round_robin(self.nonempty, self.rr);
        self.rr = if vc + 1 >= self.bufs.len() {
            0
        } else {
            vc as u32 + 1
        };
        let flit = self.bufs[vc].pop_front().expect("non-empty bit set");
        if self.bufs[vc].is_empty() {
            self.nonempty &= !(1 << vc);
        }
        self.occupancy -= 1;
        Some(flit)
    }

    /// The flit at the head of `vc`'s buffer.
    #[inline]
    pub fn front(&self, vc: usize) -> Option<&Flit> {
        self.bufs[vc].front()
    }

    /// Takes the flit at the head of `vc`'s buffer (a router forwarding it).
    #[inline]
    pub fn pop(&mut self, vc: usize) -> Option<Flit> {
        let flit = self.bufs[vc].pop_front()?;
        if self.bufs[vc].is_empty() {
            self.nonempty &= !(1 << vc);
        }
        self.occupancy -= 1;
        Some(flit)
    }

    /// Whether a later cycle will drain something without any new arrival.
    #[inline]
    pub fn will_drain(&self) -> bool {
        self.occupancy > 0 && self.drain.is_none_or(|d| d.add > 0)
    }

    /// Skips `cycles` cycles in which nothing arrives or drains: the pacing
    /// bucket fills exactly as that many calls to `drain` would fill it.
    pub fn account_idle(&mut self, cycles: u64) {
        debug_assert!(!self.will_drain());
        if let Some(d) = self.drain {
            self.tokens = (self.tokens + d.add.saturating_mul(cycles as u128)).min(d.cap);
        }
    }

    #[inline]
    pub fn occupancy(&self) -> u32 {
        self.occupancy
    }

    pub fn len(&self, vc: usize) -> usize {
        self.bufs[vc].len()
    }

    /// The flits of `vc`'s buffer, front first, as two runs.
    pub fn flits(&self, vc: usize) -> (&[Flit], &[Flit]) {
        self.bufs[vc].as_slices()
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.occupancy == 0
    }

    /// Bit `v` set iff `vc` `v` holds a flit.
    #[inline]
    pub fn nonempty(&self) -> u64 {
        self.nonempty
    }

    /// Drains as fast as flits arrive (no pacing).
    #[inline]
    pub fn is_unpaced(&self) -> bool {
        self.drain.is_none()
    }

    pub fn drains_at_all(&self) -> bool {
        self.drain.is_none_or(|d| d.add > 0)
    }
}
