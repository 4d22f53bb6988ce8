//! Items on their way between router ports over plain links (no retry,
//! pacing, error channel or fault plan), by the cycle they arrive: flits
//! from a router's output to the next router's input, and the credits they
//! free on the way back.
//!
//! On such a link the wire is a fixed delay and nothing else, so it needs
//! neither the link direction's wires nor a visit of that direction when
//! something lands: the cycle loop hands the calendars' due items to the
//! router ports first thing in the cycle (where the direction's input half
//! would have, before any router steps). On a mesh that was two
//! link-direction visits per flit-hop.

use crate::time::Cycle;

#[derive(Clone, Debug, Default)]
pub struct Calendar<T> {
    /// Per arrival cycle modulo their number (a power of two above every
    /// delay it is used with): `(arrival, item)`.
    buckets: Vec<Vec<(Cycle, T)>>,
    in_flight: usize,
    /// The earliest arrival (when `in_flight > 0`): what the cycle loop
    /// compares with to skip an empty cycle, and the engine asks for when
    /// idle, without a scan of the buckets.
    next: Cycle,
}

impl<T: Copy> Calendar<T> {
    /// A calendar for delays of at most `longest` cycles.
    pub fn new(longest: u64) -> Self {
        let n = (longest as usize + 1).next_power_of_two();
        Self {
            buckets: (0..n).map(|_| Vec::new()).collect(),
            in_flight: 0,
            next: Cycle::MAX,
        }
    }

    #[inline]
    fn bucket(&self, c: Cycle) -> usize {
        c as usize & (self.buckets.len() - 1)
    }

    /// `item` arrives at cycle `at` (no later than `longest` after the
    /// current cycle).
    #[inline]
    pub fn send(&mut self, item: T, at: Cycle) {
        let b = self.bucket(at);
        self.buckets[b].push((at, item));
        self.in_flight += 1;
        self.next = self.next.min(at);
    }

    /// Moves the items arriving at cycle `c` into `due` (emptied first; its
    /// memory and the bucket's are swapped, so nothing is allocated). Every
    /// cycle with arrivals must be visited (see [`Calendar::next_arrival`]).
    #[inline]
    pub fn take_due(&mut self, c: Cycle, due: &mut Vec<(Cycle, T)>) {
        due.clear();
        if self.in_flight == 0 || c < self.next {
            return;
        }
        debug_assert_eq!(c, self.next, "an arrival cycle was skipped");
        let b = self.bucket(c);
        std::mem::swap(&mut self.buckets[b], due);
        debug_assert!(due.iter().all(|&(at, _)| at == c));
        self.in_flight -= due.len();
        // The next arrival: the first non-empty bucket after this one (each
        // bucket holds one arrival cycle, all within a lap of `c`; over a
        // run, each is looked at about once per lap).
        self.next = Cycle::MAX;
        if self.in_flight > 0 {
            let n = self.buckets.len() as Cycle;
            let after = (1..n).map(|k| c + k).find(|&at| {
                let b = self.bucket(at);
                !self.buckets[b].is_empty()
            });
            self.next = after.expect("an item in flight is within a lap");
        }
    }

    /// Nothing is on its way.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.in_flight == 0
    }

    /// The earliest arrival still to come.
    pub fn next_arrival(&self) -> Option<Cycle> {
        (self.in_flight > 0).then_some(self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::Calendar;

    #[test]
    fn items_arrive_at_their_cycle_once() {
        let mut cal = Calendar::new(3);
        cal.send('a', 10);
        cal.send('b', 12);
        cal.send('c', 13);
        cal.send('d', 13);
        assert_eq!(cal.next_arrival(), Some(10));
        let (mut due, mut got) = (Vec::new(), Vec::new());
        for c in 10..=13 {
            cal.take_due(c, &mut due);
            got.extend(due.iter().copied());
        }
        assert_eq!(got, vec![(10, 'a'), (12, 'b'), (13, 'c'), (13, 'd')]);
        assert_eq!(cal.next_arrival(), None);
        cal.take_due(14, &mut due);
        assert!(due.is_empty());
    }
}
