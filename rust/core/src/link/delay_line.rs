//! A wire: items sent at one cycle arrive at a later, fixed cycle.
//!
//! Like BookSim's `Channel`, every wire has a latency of at least one cycle,
//! and components only talk through wires. So what a component reads at
//! cycle `c` was written before `c`, and the order in which components are
//! visited within a cycle never changes a result (compute-then-commit).

use crate::time::Cycle;
use std::collections::VecDeque;

/// A FIFO of `(arrival cycle, item)`; arrival cycles never decrease.
#[derive(Clone, Debug)]
pub struct DelayLine<T> {
    queue: VecDeque<(Cycle, T)>,
}

impl<T: Copy> Default for DelayLine<T> {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
        }
    }
}

impl<T: Copy> DelayLine<T> {
    /// Sends `item` to arrive at cycle `arrive`.
    ///
    /// Contract: `arrive` is not earlier than the last pushed arrival (all
    /// users send with a fixed latency in non-decreasing cycles).
    #[inline]
    pub fn push(&mut self, arrive: Cycle, item: T) {
        debug_assert!(self.queue.back().is_none_or(|&(a, _)| a <= arrive));
        self.queue.push_back((arrive, item));
    }

    /// The next item that has arrived by cycle `c`, if any.
    #[inline]
    pub fn pop_due(&mut self, c: Cycle) -> Option<T> {
        match self.queue.front() {
            Some(&(a, item)) if a <= c => {
                self.queue.pop_front();
                Some(item)
            }
            _ => None,
        }
    }

    /// The cycle of the next arrival.
    #[inline]
    pub fn next_arrival(&self) -> Option<Cycle> {
        self.queue.front().map(|&(a, _)| a)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Items in flight, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &(Cycle, T)> {
        self.queue.iter()
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
}
