//! A receive buffer's occupancy over time: a histogram of cycles spent at
//! each number of flits held, and the most ever held.
//!
//! Lazy and time-weighted: nothing is done in cycles where the occupancy
//! does not change; a change at cycle `c` records the previous value for
//! the cycles before `c`. Several changes in one cycle write once (the
//! value at the end of a cycle is the one that counts). Cycles spent empty
//! are not written as they pass: they are what the other values leave of
//! the run (a router input is empty most of the time at low load, and a
//! flit that arrives and leaves in one cycle then writes nothing).

use crate::stats::Histogram;
use crate::time::Cycle;

#[derive(Clone, Debug)]
pub struct Occupancy {
    /// The occupancy since cycle `since`.
    value: u32,
    since: Cycle,
    max: u32,
    cycles: Histogram,
}

impl Occupancy {
    /// For a buffer holding at most `capacity` flits.
    pub fn new(capacity: u64) -> Self {
        Self {
            value: 0,
            since: 0,
            max: 0,
            cycles: Histogram::covering(capacity),
        }
    }

    /// One kept in pieces elsewhere (see [`record`]): holding `value`
    /// flits since cycle `since`, at most `max`, with histogram `cycles`.
    pub fn from_parts(value: u32, since: Cycle, max: u32, cycles: Histogram) -> Self {
        Self {
            value,
            since,
            max,
            cycles,
        }
    }

    /// The buffer holds `now` flits after a change in cycle `c`.
    #[inline]
    pub fn note(&mut self, c: Cycle, now: u32) {
        if now != self.value {
            record(&mut self.cycles, self.value, &mut self.since, c);
            self.value = now;
            self.max = self.max.max(now);
        }
    }

    /// Cycles spent at each occupancy over the first `cycles` cycles (all
    /// changes happened before cycle `cycles`).
    pub fn histogram(&self, cycles: u64) -> Histogram {
        debug_assert!(self.since <= cycles);
        let mut h = self.cycles.clone();
        if self.value != 0 {
            h.add(self.value as u64, cycles.saturating_sub(self.since));
        }
        let empty = cycles.saturating_sub(h.total());
        h.add(0, empty);
        h
    }

    /// The most flits ever held.
    pub fn max(&self) -> u32 {
        self.max
    }
}

/// A buffer that held `before` flits since cycle `since` changes in cycle
/// `c`: the stretch is written (unless empty or within the cycle) and the
/// next starts at `c`. The step of [`Occupancy::note`], for a buffer whose
/// value and start are kept where its flits are counted.
#[inline]
pub fn record(cycles: &mut Histogram, before: u32, since: &mut Cycle, c: Cycle) {
    // (a flit in and one out in the same cycle: nothing held for a cycle
    // in between, and nothing to write)
    if before != 0 && c > *since {
        add_stretch(cycles, before, c - *since);
    }
    *since = c;
}

/// Out of the hot path: at light load most flits leave a router's buffer
/// in the cycle they arrived, so most changes write no stretch.
#[cold]
#[inline(never)]
fn add_stretch(cycles: &mut Histogram, value: u32, length: Cycle) {
    cycles.add(value as u64, length);
}

#[cfg(test)]
mod tests {
    use super::Occupancy;

    #[test]
    fn cycles_are_weighted_by_how_long_each_value_held() {
        let mut o = Occupancy::new(4);
        o.note(3, 2); // 0 for cycles 0..3
        o.note(5, 1); // 2 for 3..5
        o.note(5, 3); // a second change in cycle 5 writes nothing
        o.note(5, 1);
        let h = o.histogram(10); // 1 for 5..10
        assert_eq!(&h.counts[..4], &[3, 5, 2, 0]);
        assert_eq!(o.max(), 3, "the peak within a cycle counts");
    }

    #[test]
    fn empty_cycles_are_what_the_other_values_leave() {
        // a flit in and out in one cycle, empty stretches between and at the end
        let mut o = Occupancy::new(4);
        o.note(2, 1);
        o.note(2, 0);
        o.note(4, 2); // 0 for 0..4
        o.note(6, 0); // 2 for 4..6
        let h = o.histogram(9); // 0 for 6..9
        assert_eq!(&h.counts[..3], &[7, 0, 2]);
        // bucketed (16 values a bucket): bucket 0 holds 0..16, empty or not
        let mut o = Occupancy::new(1000);
        o.note(2, 5);
        o.note(4, 0); // 5 for 2..4
        o.note(7, 40); // 0 for 0..2 and 4..7
        let h = o.histogram(10); // 40 for 7..10
        assert_eq!(
            (h.width, h.counts[0], h.counts[2], h.total()),
            (16, 7, 3, 10)
        );
    }
}
