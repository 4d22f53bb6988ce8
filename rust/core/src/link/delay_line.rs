//! A wire: items sent at one cycle arrive at a later, fixed cycle.
//!
//! Like BookSim's `Channel`, every wire has a latency of at least one cycle,
//! and components only talk through wires. So what a component reads at
//! cycle `c` was written before `c`, and the order in which components are
//! visited within a cycle never changes a result (compute-then-commit).

use crate::dense::{at, at_mut};
use crate::time::Cycle;

/// Slots held inside the line itself: enough for a short link's flits in
/// flight (a NoC link behind a router pipeline) and its credits.
const INLINE: usize = 8;

/// A FIFO of `(arrival cycle, item)`; arrival cycles never decrease.
///
/// A ring buffer with a power-of-two capacity, indexed by mask and grown by
/// doubling when full: cheaper per push/pop than `VecDeque` (no wrap branch),
/// and no allocation once a run has warmed up. Its first `INLINE` slots are
/// inline, so a short wire's items sit next to its indices (no pointer to
/// follow per item: on a large fabric that was a cache miss per flit sent,
/// arrived and credited); it moves to the heap only when it outgrows them.
#[derive(Clone, Debug)]
#[repr(C)] // the indices first, then the inline slots: one line for an idle check
pub struct DelayLine<T> {
    /// The oldest item's arrival cycle (`Cycle::MAX` when empty), kept
    /// beside the indices: asking whether anything is due, as the cycle loop
    /// does of every wire every cycle, reads no slot.
    next: Cycle,
    len: usize,
    /// Index of the oldest item (unmasked; wraps freely).
    head: usize,
    /// The ring's length - 1 (the length is a power of two).
    mask: usize,
    inline: [(Cycle, T); INLINE],
    /// The ring once grown past `INLINE` slots (empty before).
    heap: Vec<(Cycle, T)>,
}

impl<T: Copy + Default> Default for DelayLine<T> {
    fn default() -> Self {
        Self {
            inline: [(0, T::default()); INLINE],
            heap: Vec::new(),
            mask: INLINE - 1,
            head: 0,
            len: 0,
            next: Cycle::MAX,
        }
    }
}

impl<T: Copy + Default> DelayLine<T> {
    #[inline]
    fn slot(&self, k: usize) -> usize {
        k & self.mask
    }

    #[inline]
    fn slots(&self) -> &[(Cycle, T)] {
        // (the mask, read anyway, says which: no extra load per item)
        if self.mask < INLINE {
            &self.inline
        } else {
            &self.heap
        }
    }

    #[inline]
    fn slots_mut(&mut self) -> &mut [(Cycle, T)] {
        if self.mask < INLINE {
            &mut self.inline
        } else {
            &mut self.heap
        }
    }

    /// Sends `item` to arrive at cycle `arrive`.
    ///
    /// Contract: `arrive` is not earlier than the last pushed arrival (all
    /// users send with a fixed latency in non-decreasing cycles).
    #[inline]
    pub fn push(&mut self, arrive: Cycle, item: T) {
        if self.len == self.mask + 1 {
            self.grow();
        }
        debug_assert!(
            self.len == 0 || self.slots()[self.slot(self.head + self.len - 1)].0 <= arrive
        );
        let i = self.slot(self.head + self.len);
        // (masked by the ring's length - 1)
        *at_mut(self.slots_mut(), i) = (arrive, item);
        if self.len == 0 {
            self.next = arrive;
        }
        self.len += 1;
    }

    #[cold]
    fn grow(&mut self) {
        let capacity = 2 * (self.mask + 1);
        let mut slots: Vec<(Cycle, T)> = self.iter().copied().collect();
        slots.resize(capacity, (0, T::default()));
        self.heap = slots;
        self.mask = capacity - 1;
        self.head = 0;
    }

    /// The next item that has arrived by cycle `c`, if any.
    #[inline]
    pub fn pop_due(&mut self, c: Cycle) -> Option<T> {
        if self.next > c {
            return None;
        }
        let item = at(self.slots(), self.slot(self.head)).1;
        self.head = self.head.wrapping_add(1);
        self.len -= 1;
        self.next = if self.len == 0 {
            Cycle::MAX
        } else {
            at(self.slots(), self.slot(self.head)).0
        };
        Some(item)
    }

    /// The cycle of the next arrival.
    #[inline]
    pub fn next_arrival(&self) -> Option<Cycle> {
        (self.len > 0).then_some(self.next)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Items in flight, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &(Cycle, T)> {
        let slots = self.slots();
        (0..self.len).map(move |k| &slots[self.slot(self.head.wrapping_add(k))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_arrive_in_order_at_their_cycle() {
        let mut w = DelayLine::default();
        w.push(3, 'a');
        w.push(3, 'b');
        w.push(5, 'c');
        assert_eq!(w.next_arrival(), Some(3));
        assert_eq!(w.pop_due(2), None);
        assert_eq!(w.pop_due(3), Some('a'));
        assert_eq!(w.pop_due(3), Some('b'));
        assert_eq!(w.pop_due(4), None);
        assert_eq!(w.pop_due(9), Some('c'));
        assert!(w.is_empty());
    }

    #[test]
    fn grows_past_its_capacity_keeping_order_across_the_wrap() {
        let mut w = DelayLine::default();
        for i in 0..10u64 {
            w.push(i, i);
        }
        for i in 0..10u64 {
            assert_eq!(w.pop_due(i), Some(i));
        }
        // The head is now mid-buffer: fill past capacity so growing must unwrap.
        for i in 10..100u64 {
            w.push(i, i);
        }
        assert_eq!(w.len(), 90);
        assert_eq!(
            w.iter().map(|&(_, x)| x).collect::<Vec<_>>(),
            (10..100).collect::<Vec<_>>()
        );
        for i in 10..100u64 {
            assert_eq!(w.pop_due(1000), Some(i));
        }
        assert_eq!(w.next_arrival(), None);
    }
}
