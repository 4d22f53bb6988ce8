//! The messages given before a run, admitted at their cycles from one
//! stream in (cycle, message) order.
//!
//! One stream read in order, which the hardware prefetches, rather than a
//! plan per endpoint port: those were hundreds of slow streams, each of
//! whose cache lines came from memory when read (on a 16x16 mesh at 0.1,
//! 6% of the run time went to that one load).

use crate::endpoint::tx::Offer;
use crate::time::Cycle;

#[derive(Clone, Debug, Default)]
pub struct Schedule {
    /// `(endpoint port, message)`, by cycle, then by message (the order
    /// given: a stable sort).
    entries: Vec<(u32, Offer)>,
    next: usize,
    /// The next entry's cycle (`Cycle::MAX` after the last): one compare
    /// per cycle while nothing is due.
    next_at: Cycle,
}

impl Schedule {
    /// `entries` in message order.
    pub fn new(mut entries: Vec<(u32, Offer)>) -> Self {
        entries.sort_by_key(|(_, o)| o.at);
        let next_at = entries.first().map_or(Cycle::MAX, |(_, o)| o.at);
        Self {
            entries,
            next: 0,
            next_at,
        }
    }

    /// Nothing was given before the run.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cycle of the next message to admit.
    pub fn next_at(&self) -> Option<Cycle> {
        (self.next_at != Cycle::MAX).then_some(self.next_at)
    }

    /// Hands `admit` each message due by cycle `c` with its port, in
    /// order; returns how many.
    #[inline]
    pub fn admit_due(&mut self, c: Cycle, admit: impl FnMut(u32, &Offer)) -> usize {
        if self.next_at > c {
            return 0;
        }
        self.admit_from(c, admit)
    }

    #[inline(never)]
    fn admit_from(&mut self, c: Cycle, mut admit: impl FnMut(u32, &Offer)) -> usize {
        let start = self.next;
        while let Some((port, o)) = self.entries.get(self.next) {
            if o.at > c {
                break;
            }
            admit(*port, o);
            self.next += 1;
        }
        self.next_at = self
            .entries
            .get(self.next)
            .map_or(Cycle::MAX, |(_, o)| o.at);
        self.next - start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MsgId;

    fn offer(at: Cycle, msg: u32) -> Offer {
        Offer {
            at,
            msg: MsgId(msg),
            bytes: 1,
            vc: 0,
            dst: 0,
        }
    }

    #[test]
    fn admits_by_cycle_then_in_the_order_given() {
        let mut s = Schedule::new(vec![(0, offer(5, 0)), (1, offer(2, 1)), (2, offer(5, 2))]);
        assert_eq!(s.next_at(), Some(2));
        let mut seen = Vec::new();
        assert_eq!(s.admit_due(1, |p, o| seen.push((p, o.msg.0))), 0);
        assert_eq!(s.admit_due(4, |p, o| seen.push((p, o.msg.0))), 1);
        assert_eq!(s.admit_due(9, |p, o| seen.push((p, o.msg.0))), 2);
        assert_eq!(seen, [(1, 1), (0, 0), (2, 2)]);
        assert_eq!(s.next_at(), None);
    }
}
